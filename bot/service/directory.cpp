#include "bot/service/directory.hpp"

#include "bot/io/random.hpp"

namespace aula {

namespace {


nlohmann::json record_of(const roster_row& row, const std::string& cohort, std::int64_t now_ms) {
  nlohmann::json r;
  r["name"] = row.name;
  r["channel"] = row.channel;
  r["address"] = row.address;
  r["language"] = row.language.empty() ? "es" : row.language;
  r["state"] = row.state;
  r["role"] = row.role;
  r["tz"] = row.tz;
  r["consent"] = row.consent;
  r["cohorts"] = nlohmann::json::array({cohort});
  r["status"] = "active";
  r["enrolled_at"] = now_ms;
  r["extra"] = row.extra;
  return r;
}

// What the session's contact carries of a record (fills gaps; never overwrites).
std::map<std::string, std::string> contact_of(const nlohmann::json& r, const std::string& cohort) {
  std::map<std::string, std::string> c;
  for (const char* k : {"name", "state", "role", "tz"})
    if (r.contains(k) && r[k].is_string() && !r[k].get<std::string>().empty()) c[k] = r[k].get<std::string>();
  if (r.contains("language") && r["language"].is_string()) c["lang"] = r["language"].get<std::string>();
  if (!cohort.empty()) c["cohort"] = cohort;
  if (r.contains("extra") && r["extra"].is_object())
    for (auto it = r["extra"].begin(); it != r["extra"].end(); ++it)
      if (it.value().is_string()) c.emplace(it.key(), it.value().get<std::string>());
  return c;
}

}  // namespace

std::string learner_key(const std::string& conversation) { return "learner:" + conversation; }

nlohmann::json import_report::to_json() const {
  nlohmann::json p = nlohmann::json::array();
  for (const auto& x : problems) p.push_back({{"line", x.line}, {"column", x.column}, {"message", x.message}});
  return {{"imported", imported}, {"updated", updated}, {"problems", p}, {"invites", invites}};
}

directory::directory(service& svc) : svc_(svc) {}

net::awaitable<std::optional<nlohmann::json>> directory::learner(const std::string& conversation) {
  auto v = co_await svc_.backing_store().dir_get(learner_key(conversation));
  if (!v) co_return std::nullopt;
  auto j = nlohmann::json::parse(*v, nullptr, false);
  if (!j.is_object()) co_return std::nullopt;
  co_return j;
}

net::awaitable<std::vector<std::string>> directory::cohort_members(const std::string& cohort) {
  co_return co_await svc_.backing_store().dir_set_members("cohort:" + cohort);
}

net::awaitable<import_report> directory::import(const roster& r, const import_request& req,
                                                std::function<void(int, int)> progress) {
  import_report rep;
  auto& st = svc_.backing_store();
  const int offset = req.first_line - 1;
  for (auto p : r.problems) {
    p.line += offset;
    rep.problems.push_back(std::move(p));
  }
  const int total = static_cast<int>(r.rows.size());
  int done = 0;
  const auto ttl = std::chrono::hours(6);
  for (const auto& row : r.rows) {
    const int line = row.line + offset;
    const std::int64_t now = svc_.clock().now_ms();
    if (row.channel == "telegram" && row.address.empty()) {
      // No chat id: an invite to hand out; the record is made when the learner opens it.
      if (req.telegram_bot.empty()) {
        rep.problems.push_back({line, "", "a Telegram learner without a chat id needs an invite link: set "
                                          "telegram.bot_username in the configuration"});
      } else {
        const std::string token = std::string(invite_prefix) + random_hex(12);
        nlohmann::json inv = {{"record", record_of(row, req.cohort, now)}, {"cohort", req.cohort},
                              {"course", req.course}, {"by", req.by}, {"at", now}};
        co_await st.dir_set("invite:" + token, inv.dump(), std::chrono::milliseconds(0));
        rep.invites.push_back({{"line", line}, {"name", row.name},
                               {"link", "https://t.me/" + req.telegram_bot + "?start=" + token}});
      }
      if (progress) progress(++done, total);
      continue;
    }
    const std::string conv = row.conversation();
    if (!req.import_id.empty()) {
      // The same learner in an earlier part of this file.
      const std::string seen_key = "import:" + req.import_id + ":" + conv;
      if (auto seen = co_await st.dir_get(seen_key)) {
        rep.problems.push_back({line, "", "duplicate of line " + *seen + " (the same learner); fix or remove one"});
        if (progress) progress(++done, total);
        continue;
      }
      co_await st.dir_set(seen_key, std::to_string(line), ttl);
    }
    nlohmann::json rec = record_of(row, req.cohort, now);
    bool known = false;
    if (auto old = co_await learner(conv)) {
      known = true;
      // Keep what the learner's history says; add the cohort; refresh what the file gives.
      nlohmann::json merged = *old;
      for (auto it = rec.begin(); it != rec.end(); ++it)
        if (it.key() != "cohorts" && it.key() != "enrolled_at" && it.key() != "status") merged[it.key()] = it.value();
      nlohmann::json cohorts = merged.value("cohorts", nlohmann::json::array());
      if (std::find(cohorts.begin(), cohorts.end(), req.cohort) == cohorts.end()) cohorts.push_back(req.cohort);
      merged["cohorts"] = cohorts;
      rec = std::move(merged);
    }
    if (!req.course.empty()) {
      nlohmann::json courses = rec.value("courses", nlohmann::json::array());
      if (std::find(courses.begin(), courses.end(), req.course) == courses.end()) courses.push_back(req.course);
      rec["courses"] = courses;
    }
    co_await st.dir_set(learner_key(conv), rec.dump(), std::chrono::milliseconds(0));
    const bool added = co_await st.dir_set_add("cohort:" + req.cohort, conv);
    // The record store's copy of the learner (reports by cohort and state) follows: the drain
    // reads the directory record again when it meets this.
    const std::vector<nlohmann::json> profile{{{"id", "profile." + std::to_string(now) + "." + random_hex(4)},
                                               {"type", "profile"},
                                               {"conv", conv},
                                               {"status", known ? "updated" : "imported"},
                                               {"text", req.cohort},
                                               {"at", now}}};
    co_await st.results_append(partition_of(conv, st.partitions()), profile);
    if (!req.course.empty()) {
      const auto colon = conv.find(':');
      inbound_event ev = inbound_event::enroll_in(req.course);
      const auto contact = contact_of(rec, req.cohort);
      co_await svc_.deliver(conv.substr(0, colon), conv.substr(colon + 1), ev, {}, contact);
    }
    if (known || !added) ++rep.updated;
    else ++rep.imported;
    if (progress) progress(++done, total);
  }
  co_return rep;
}

net::awaitable<std::optional<inbound_event>> directory::redeem(const std::string& token, const std::string& conversation,
                                                               std::map<std::string, std::string>& contact) {
  auto& st = svc_.backing_store();
  auto v = co_await st.dir_get("invite:" + token);
  if (!v) co_return std::nullopt;
  auto inv = nlohmann::json::parse(*v, nullptr, false);
  if (!inv.is_object()) co_return std::nullopt;
  const std::string used = inv.value("used_by", std::string{});
  if (!used.empty() && used != conversation) co_return std::nullopt;  // someone else's link
  const std::string cohort = inv.value("cohort", std::string{});
  nlohmann::json rec = inv.value("record", nlohmann::json::object());
  rec["address"] = conversation.substr(conversation.find(':') + 1);
  if (auto old = co_await learner(conversation)) {
    nlohmann::json cohorts = old->value("cohorts", nlohmann::json::array());
    if (std::find(cohorts.begin(), cohorts.end(), cohort) == cohorts.end()) cohorts.push_back(cohort);
    rec["cohorts"] = cohorts;
  }
  const std::string course = inv.value("course", std::string{});
  if (!course.empty()) rec["courses"] = nlohmann::json::array({course});
  co_await st.dir_set(learner_key(conversation), rec.dump(), std::chrono::milliseconds(0));
  co_await st.dir_set_add("cohort:" + cohort, conversation);
  inv["used_by"] = conversation;
  co_await st.dir_set("invite:" + token, inv.dump(), std::chrono::milliseconds(0));
  for (const auto& [k, val] : contact_of(rec, cohort)) contact[k] = val;
  if (course.empty()) co_return inbound_event::of(inbound_event::kind::migrate);  // nothing to start
  co_return inbound_event::enroll_in(course);
}

}  // namespace aula
