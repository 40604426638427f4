#include "bot/service/privacy.hpp"

#include <algorithm>

#include "bot/io/log.hpp"
#include "bot/io/periodic.hpp"
#include "bot/io/random.hpp"
#include "bot/records/record_store.hpp"
#include "bot/service/access.hpp"
#include "bot/service/directory.hpp"
#include "bot/service/records.hpp"
#include "bot/service/service.hpp"

namespace aula {

std::string new_anonymous_id() { return "anon:" + random_hex(10); }

std::string erasure_key(const std::string& conversation) { return sha256_hex(conversation); }

std::int64_t last_activity(const session& s) {
  std::int64_t last = std::max(s.last_in, s.paused_at);
  auto run = [&](const run_state& r) {
    last = std::max(last, r.started_at);
    if (r.timer) last = std::max(last, r.timer->due);
    if (r.expire) last = std::max(last, r.expire->due);
  };
  if (s.run) run(*s.run);
  for (const auto& r : s.stack) run(r);
  for (const auto& c : s.courses) {
    last = std::max({last, c.enrolled_at, c.ended_at});
    if (c.timer) last = std::max(last, c.timer->due);
    for (const auto& m : c.modules) last = std::max({last, m.opened_at, m.ended_at});
  }
  return last;
}

net::awaitable<nlohmann::json> erase_learner(service& svc, record_keeper& records, const std::string& conv) {
  auto& st = svc.backing_store();
  directory people(svc);
  loaded_session l = co_await st.load(conv);
  auto rec = co_await people.learner(conv);
  const int p = partition_of(conv, st.partitions());
  auto dead = co_await st.dead_letters(p, 1, conv);
  const record_keeper::job any_records = [conv](records::record_store& db) {
    return nlohmann::json(!db.timeline(conv, 1).empty());
  };
  const bool stored = (co_await records.run(any_records)).get<bool>();
  if (!l.exists && !rec && dead.empty() && !stored) co_return nlohmann::json{{"found", false}};

  // The directory: the record, cohort memberships, invites bound to the chat, import markers.
  int directory_keys = 0;
  if (rec) {
    const nlohmann::json cohorts = rec->value("cohorts", nlohmann::json::array());
    for (const auto& c : cohorts)
      if (c.is_string()) co_await st.dir_set_remove("cohort:" + c.get<std::string>(), conv);
    co_await st.dir_del(learner_key(conv));
    ++directory_keys;
  }
  const std::vector<std::string> invites = co_await st.dir_keys("invite:");
  for (const auto& key : invites) {
    auto v = co_await st.dir_get(key);
    if (!v) continue;
    auto inv = nlohmann::json::parse(*v, nullptr, false);
    if (inv.is_object() && inv.value("used_by", std::string{}) == conv) {
      co_await st.dir_del(key);
      ++directory_keys;
    }
  }
  const std::vector<std::string> imports = co_await st.dir_keys("import:");
  for (const auto& key : imports)
    if (key.ends_with(":" + conv)) {
      co_await st.dir_del(key);
      ++directory_keys;
    }

  // The partition, atomically; then the record store (with what was still in Redis).
  std::vector<std::string> codes;
  for (const auto& c : l.s.courses)
    if (!c.certificate.empty()) codes.push_back(c.certificate);
  const std::string anon = new_anonymous_id();
  const std::int64_t at = svc.clock().now_ms();
  const nlohmann::json tombstone{{"anon", anon}, {"at", at}};
  erasure e = co_await st.erase_conversation(conv, codes, erasure_key(conv), tombstone, erasure_tombstone_ttl);
  auto pending = std::make_shared<std::vector<nlohmann::json>>();
  for (const auto& r : e.results)
    if (r.is_object() && r.contains("id") && r.contains("type") && r.contains("at") && r["at"].is_number_integer())
      pending->push_back(records::anonymized_record(r, anon));
  const record_keeper::job erase_stored = [conv, anon, pending](records::record_store& db) {
    nlohmann::json n = db.erase_learner(conv, anon);
    n["from_redis"] = db.insert(*pending);
    return n;
  };
  nlohmann::json in_records = co_await records.run(erase_stored);
  const std::size_t audit = co_await st.audit_retarget(conv, anon);
  co_return nlohmann::json{
      {"found", true},
      {"anon", anon},
      {"redis",
       {{"sessions", e.sessions}, {"timers", e.timers}, {"outbox", e.outbox}, {"dead_letters", e.dead_letters},
        {"web", e.web}, {"certificates", e.certificates}, {"results", e.results.size()},
        {"directory", directory_keys}}},
      {"records", std::move(in_records)},
      {"audit", audit}};
}

struct retention_keeper::impl : std::enable_shared_from_this<impl> {
  net::any_io_executor ex;
  service& svc;
  record_keeper& records;
  retention_config cfg;
  std::shared_ptr<bool> running;

  impl(net::any_io_executor e, service& s, record_keeper& r, retention_config c)
      : ex(std::move(e)), svc(s), records(r), cfg(c) {}

  bool enabled() const {
    return cfg.sessions.count() > 0 || cfg.free_text.count() > 0 || cfg.delivery.count() > 0 || cfg.audit.count() > 0;
  }

  net::awaitable<nlohmann::json> run_once() {
    auto& st = svc.backing_store();
    const std::int64_t now = svc.clock().now_ms();
    std::size_t sessions = 0;
    if (cfg.sessions.count() > 0) {
      const std::int64_t before = now - cfg.sessions.count();
      for (int p = 0; p < st.partitions(); ++p) {
        const std::vector<std::string> convs = co_await st.conversations(p);
        for (const auto& conv : convs) {
          loaded_session l = co_await st.load(conv);
          if (!l.exists || last_activity(l.s) >= before) continue;
          if (co_await st.drop_session(conv, l.s.version)) ++sessions;
        }
      }
    }
    records::retention_cutoffs cut;
    if (cfg.free_text.count() > 0) cut.free_text = now - cfg.free_text.count();
    if (cfg.delivery.count() > 0) cut.delivery = now - cfg.delivery.count();
    if (cfg.audit.count() > 0) cut.audit = now - cfg.audit.count();
    nlohmann::json out = nlohmann::json{{"free_text", 0}, {"delivery", 0}, {"audit", 0}};
    if (cut.free_text || cut.delivery || cut.audit) {
      const record_keeper::job apply = [cut](records::record_store& db) { return db.apply_retention(cut); };
      out = co_await records.run(apply);
    }
    out["staff"] = out["audit"];  // staff action records in the record store
    std::size_t audit = 0;
    if (cfg.audit.count() > 0) audit = co_await st.audit_trim(now - cfg.audit.count());
    out["audit"] = audit;
    out["sessions"] = sessions;
    if (sessions + out["free_text"].get<std::size_t>() + out["delivery"].get<std::size_t>() +
            out["audit"].get<std::size_t>() + out["staff"].get<std::size_t>() >
        0)
      log::info("retention: expired data removed", out);
    co_return out;
  }

  net::awaitable<void> tick() {
    // One instance at a time: the first to take this period's lock runs it.
    const auto hold = std::max(std::chrono::milliseconds(50), cfg.every * 9 / 10);
    if (!co_await svc.backing_store().once(0, "retention", hold)) co_return;
    co_await run_once();
  }
};

retention_keeper::retention_keeper(net::any_io_executor ex, service& svc, record_keeper& records, retention_config cfg)
    : impl_(std::make_shared<impl>(std::move(ex), svc, records, cfg)) {}

retention_keeper::~retention_keeper() { stop(); }

bool retention_keeper::enabled() const { return impl_->enabled(); }

void retention_keeper::start() {
  if (!impl_->enabled()) return;
  auto i = impl_;
  i->running = run_every(i->ex, i->cfg.every, [i]() { return i->tick(); }, "retention: cannot run now");
}

void retention_keeper::stop() {
  if (impl_->running) *impl_->running = false;
}

net::awaitable<nlohmann::json> retention_keeper::run_once() {
  auto i = impl_;
  co_return co_await i->run_once();
}

}  // namespace aula
