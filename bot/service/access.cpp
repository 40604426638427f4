#include "bot/service/access.hpp"

#include "bot/service/roster.hpp"

#include <algorithm>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "bot/io/random.hpp"

namespace aula {

namespace {

constexpr const char* token_key = "token:";


bool valid_name(const std::string& s) {
  return !s.empty() && s.size() <= 100 && s.find_first_of("\r\n\t") == std::string::npos;
}

}  // namespace

std::string sha256_hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(md, len);
}

bool principal::covers(const std::string& cohort) const {
  if (is_admin()) return true;
  if (role != "facilitator" || cohort.empty()) return false;
  return std::find(cohorts.begin(), cohorts.end(), cohort) != cohorts.end();
}

bool principal::covers_state(const std::string& state) const {
  if (is_admin()) return true;
  if (role != "facilitator" || state.empty()) return false;
  const std::string official = state_name(state);
  return !official.empty() && std::find(commissions.begin(), commissions.end(), official) != commissions.end();
}

bool principal::covers_learner(const nlohmann::json& record) const {
  if (is_admin()) return true;
  if (!record.is_object()) return false;
  if (record.contains("cohorts") && record["cohorts"].is_array())
    for (const auto& c : record["cohorts"])
      if (c.is_string() && covers(c.get<std::string>())) return true;
  return covers_state(record.value("state", std::string{}));
}

access_control::access_control(store& st, std::vector<admin_token> bootstrap) : st_(st) {
  for (const auto& t : bootstrap)
    if (!t.token.empty()) bootstrap_.emplace_back(t.role, sha256_hex(t.token));
}

net::awaitable<std::optional<principal>> access_control::who(const std::string& authorization) {
  if (!authorization.starts_with("Bearer ")) co_return std::nullopt;
  const std::string token = authorization.substr(7);
  if (token.empty() || token.size() > 512) co_return std::nullopt;
  const std::string h = sha256_hex(token);
  // Bootstrap tokens: every one compared, in constant time, whatever matches.
  std::optional<principal> found;
  for (const auto& [role, hash] : bootstrap_) {
    if (CRYPTO_memcmp(hash.data(), h.data(), h.size()) == 0 && !found)
      found = principal{"bootstrap " + role, role, {}, {}};
  }
  if (found) co_return found;
  auto stored = co_await st_.dir_get(token_key + h);
  if (!stored) co_return std::nullopt;
  auto j = nlohmann::json::parse(*stored, nullptr, false);
  if (!j.is_object()) co_return std::nullopt;
  principal p;
  p.name = j.value("name", std::string{});
  p.role = j.value("role", std::string{});
  if (j.contains("cohorts") && j["cohorts"].is_array())
    for (const auto& c : j["cohorts"])
      if (c.is_string()) p.cohorts.push_back(c.get<std::string>());
  if (j.contains("commissions") && j["commissions"].is_array())
    for (const auto& c : j["commissions"])
      if (c.is_string()) p.commissions.push_back(c.get<std::string>());
  if (p.role != "admin" && p.role != "facilitator") co_return std::nullopt;
  co_return p;
}

net::awaitable<std::string> access_control::create_token(const std::string& name, const std::string& role,
                                                         const std::vector<std::string>& cohorts,
                                                         const std::string& by, std::int64_t now_ms,
                                                         const std::vector<std::string>& commissions) {
  if (!valid_name(name)) throw std::invalid_argument("a token needs the name of the person who holds it");
  if (role != "admin" && role != "facilitator")
    throw std::invalid_argument("role must be admin or facilitator, not '" + role + "'");
  std::vector<std::string> states;
  for (const auto& c : commissions) {
    const std::string official = state_name(c);
    if (official.empty())
      throw std::invalid_argument("'" + c + "' is none of Mexico's 32 states (write e.g. Jalisco, CDMX, Estado de México)");
    if (std::find(states.begin(), states.end(), official) == states.end()) states.push_back(official);
  }
  if (role == "facilitator" && cohorts.empty() && states.empty())
    throw std::invalid_argument(
        "a facilitator's token names their cohorts (--cohorts piloto,lanzamiento) or commissions (--commissions Jalisco)");
  auto existing = co_await tokens();
  for (const auto& j : existing)
    if (j.value("name", std::string{}) == name)
      throw std::invalid_argument("'" + name + "' already has a token; revoke it first");
  const std::string token = "aula_" + random_hex(24);
  nlohmann::json rec = {{"name", name},         {"role", role},     {"cohorts", cohorts},
                        {"commissions", states}, {"created_at", now_ms}, {"created_by", by}};
  co_await st_.dir_set(token_key + sha256_hex(token), rec.dump(), std::chrono::milliseconds(0));
  co_return token;
}

net::awaitable<std::vector<nlohmann::json>> access_control::tokens() {
  std::vector<nlohmann::json> out;
  auto awaited_1 = co_await st_.dir_keys(token_key);
  for (const auto& key : awaited_1) {
    auto v = co_await st_.dir_get(key);
    if (!v) continue;
    auto j = nlohmann::json::parse(*v, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  std::sort(out.begin(), out.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a.value("name", std::string{}) < b.value("name", std::string{});
  });
  co_return out;
}

net::awaitable<bool> access_control::revoke(const std::string& name) {
  bool any = false;
  auto awaited_2 = co_await st_.dir_keys(token_key);
  for (const auto& key : awaited_2) {
    auto v = co_await st_.dir_get(key);
    if (!v) continue;
    auto j = nlohmann::json::parse(*v, nullptr, false);
    if (j.is_object() && j.value("name", std::string{}) == name) {
      co_await st_.dir_del(key);
      any = true;
    }
  }
  co_return any;
}

net::awaitable<void> access_control::audit(const principal& p, const std::string& action, const std::string& target,
                                           const nlohmann::json& details, std::int64_t now_ms) {
  nlohmann::json entry;
  entry["at"] = now_ms;
  entry["who"] = p.name;
  entry["role"] = p.role;
  entry["action"] = action;
  entry["target"] = target;
  if (!details.is_null()) entry["details"] = details;
  co_await st_.audit_append(entry);
  // Also a result record (the evaluation data keeps what staff did, beside what learners did),
  // under the person's own pseudo-conversation "staff:<name>".
  nlohmann::json rec = entry;
  rec["type"] = "admin";
  rec["conv"] = "staff:" + p.name;
  rec["channel"] = "staff";
  rec["id"] = "admin." + std::to_string(now_ms) + "." + random_hex(4);
  rec["status"] = action;
  rec["text"] = target;
  const std::vector<nlohmann::json> one{rec};
  co_await st_.results_append(partition_of(rec["conv"].get<std::string>(), st_.partitions()), one);
}

}  // namespace aula
