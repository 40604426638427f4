#include "bot/service/learner_view.hpp"

#include <algorithm>
#include <set>

#include "bot/engine/timing.hpp"
#include "bot/service/directory.hpp"

namespace aula {

std::string learner_status(const session& s) {
  if (s.opted_out) return "stopped";
  if (!s.paused.empty()) return "unreachable";
  return "active";
}

namespace {

nlohmann::json session_part(const session& s) {
  nlohmann::json j;
  j["version"] = s.version;
  j["language"] = s.lang;
  j["status"] = learner_status(s);
  if (!s.paused.empty()) j["paused"] = {{"reason", s.paused}, {"at", s.paused_at}};
  if (s.last_in > 0) j["last_in"] = s.last_in;
  if (!s.consent.decision.empty())
    j["consent"] = {{"decision", s.consent.decision}, {"notice_version", s.consent.version},
                    {"channel", s.consent.channel}, {"at", s.consent.at}};
  else if (s.consent_asked)
    j["consent"] = {{"decision", "asked"}};
  if (s.run) j["run"] = {{"flow", s.run->flow}, {"node", s.run->node}, {"id", s.run->id}};
  if (!s.stack.empty()) j["callers"] = s.stack.size();
  if (!s.queue.empty()) j["queued_flows"] = s.queue;
  if (s.last) j["last"] = {{"flow", s.last->flow}, {"status", s.last->status}, {"score", s.last->score},
                           {"score_max", s.last->score_max}};
  j["answers"] = s.answers.size();
  nlohmann::json courses = nlohmann::json::array();
  for (const auto& c : s.courses) {
    nlohmann::json mods = nlohmann::json::array();
    for (const auto& m : c.modules)
      mods.push_back({{"flow", m.flow}, {"status", m.status}, {"score", m.score}, {"score_max", m.score_max},
                      {"attempts", m.attempts}, {"opened_at", m.opened_at}, {"ended_at", m.ended_at}});
    nlohmann::json cj = {{"course", c.course}, {"status", c.status}, {"module", c.current + 1},
                         {"modules", std::move(mods)}, {"enrolled_at", c.enrolled_at}};
    if (c.timer) cj["next"] = {{"kind", c.timer->kind}, {"at", c.timer->due}};
    if (!c.certificate.empty()) cj["certificate"] = {{"code", c.certificate}, {"folio", c.folio}};
    courses.push_back(std::move(cj));
  }
  j["courses"] = std::move(courses);
  return j;
}

// Provider calls waiting in the outbox carry credentials (headers, tokens in URLs): show what
// they are, not how they authenticate.
nlohmann::json pending_part(const std::vector<outbox_entry>& pending, const std::string& conv) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : pending) {
    if (!e.data.is_object() || e.data.value("conv", std::string{}) != conv) continue;
    nlohmann::json entry = e.data;
    for (const char* k : {"call", "webhook"})
      if (entry.contains(k) && entry[k].is_object()) {
        entry[k].erase("headers");
        entry[k].erase("body");
      }
    out.push_back({{"id", e.id}, {"entry", std::move(entry)}});
  }
  return out;
}

}  // namespace

net::awaitable<std::optional<nlohmann::json>> describe_learner(store& st, const std::string& conv,
                                                               const learner_view_options& o) {
  const int p = partition_of(conv, st.partitions());
  loaded_session l = co_await st.load(conv);
  auto dead = co_await st.dead_letters(p, o.dead_letters, conv);
  auto rec = co_await st.dir_get(learner_key(conv));
  if (!l.exists && dead.empty() && !rec) co_return std::nullopt;
  nlohmann::json j = session_part(l.s);
  j["conversation"] = conv;
  j["partition"] = p;
  if (o.whole_session) j["session"] = l.exists ? l.s.to_json() : nlohmann::json();
  if (rec) {
    auto r = nlohmann::json::parse(*rec, nullptr, false);
    if (r.is_object()) {
      // The stored status is what enrolment wrote; the session knows whether they opted out
      // or a dead letter made them unreachable since.
      if (l.exists) r["status"] = j["status"];
      // Likewise the privacy consent: the learner's own decision (notice version, time,
      // channel) replaces what enrolment wrote, which stays as consent_source.
      if (l.exists && !l.s.consent.decision.empty()) {
        const std::string before = r.value("consent", std::string{});
        if (!before.empty()) r["consent_source"] = before;
        r["consent"] = l.s.consent.decision + " (notice " + l.s.consent.version + ", " + l.s.consent.channel + ", " +
                       format_local(l.s.consent.at, "UTC") + " UTC)";
      }
      j["record"] = std::move(r);
    }
  }
  auto pending = co_await st.outbox_pending(p, 5000);
  j["pending"] = pending_part(pending, conv);
  nlohmann::json dl = nlohmann::json::array();
  for (const auto& e : dead) dl.push_back(e.data);
  j["dead_letters"] = std::move(dl);
  if (o.timeline > 0) {
    // Records not yet drained to the record store (the drain keeps Redis short).
    auto results = co_await st.results_pending(p, o.scan);
    nlohmann::json tl = nlohmann::json::array();
    for (auto& e : results)
      if (e.data.is_object() && e.data.value("conv", std::string{}) == conv) tl.push_back(e.data);
    std::stable_sort(tl.begin(), tl.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
      return a.value("at", std::int64_t{0}) < b.value("at", std::int64_t{0});
    });
    if (tl.size() > o.timeline) tl.erase(tl.begin(), tl.end() - static_cast<std::ptrdiff_t>(o.timeline));
    j["timeline"] = std::move(tl);
  }
  co_return j;
}

void merge_timeline(nlohmann::json& view, const nlohmann::json& stored, std::size_t max) {
  if (!stored.is_array()) return;
  nlohmann::json all = nlohmann::json::array();
  std::set<std::string> ids;
  for (const auto& r : stored)
    if (ids.insert(r.value("id", std::string{})).second) all.push_back(r);
  for (const auto& r : view.value("timeline", nlohmann::json::array()))
    if (ids.insert(r.value("id", std::string{})).second) all.push_back(r);
  std::stable_sort(all.begin(), all.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a.value("at", std::int64_t{0}) < b.value("at", std::int64_t{0});
  });
  if (all.size() > max) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(max));
  view["timeline"] = std::move(all);
}

}  // namespace aula
