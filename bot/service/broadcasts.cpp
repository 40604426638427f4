#include "bot/service/broadcasts.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>


#include "bot/engine/timing.hpp"
#include "bot/io/fan_out.hpp"
#include "bot/io/log.hpp"
#include "bot/io/periodic.hpp"
#include "bot/io/random.hpp"
#include "bot/service/roster.hpp"

namespace aula {

namespace {

using namespace std::chrono_literals;

constexpr auto lease_ttl = 10s;      // one instance works a job at a time ...
constexpr auto slice = 8s;           // ... for this long, then lets the lease lapse
constexpr std::size_t chunk = 100;   // learners between two progress saves

constexpr auto recheck_every = 10min;  // the open jobs' index checked against every job stored

std::string job_key(const std::string& id) { return "job:" + id; }
std::string members_key(const std::string& id) { return "jobm:" + id; }
// The ids of the jobs scheduled or running: what a tick looks at. Listing "job:*" instead
// meant a SCAN of the whole keyspace every second (every session included): Redis busy for
// ~0.6 ms per 1,000 keys, each time delaying whatever step waited behind it.
const std::string open_jobs = "jobs:open";

bool is_open(const nlohmann::json& job) {
  const std::string st = job.value("status", std::string{});
  return st == "scheduled" || st == "running";
}


}  // namespace

broadcast_spec broadcast_spec::from_json(const nlohmann::json& j) {
  broadcast_spec s;
  s.kind = j.value("kind", std::string("broadcast"));
  s.cohort = j.value("cohort", std::string{});
  s.text = j.value("text", std::string{});
  s.template_name = j.value("template", std::string{});
  s.start_flow = j.value("start_flow", std::string{});
  s.policy = j.value("policy", std::string("queue"));
  s.module = j.value("module", std::string{});
  s.at_ms = j.value("at_ms", std::int64_t{0});
  if (j.contains("states") && j["states"].is_array())
    for (const auto& st : j["states"])
      if (st.is_string()) s.states.push_back(st.get<std::string>());
  if (j.contains("inactive") && j["inactive"].is_string()) {
    auto d = parse_duration(j["inactive"].get<std::string>());
    if (!d) throw std::invalid_argument("inactive: '" + j["inactive"].get<std::string>() + "' is not a duration (48h)");
    s.inactive_ms = *d;
  }
  if (s.kind != "broadcast" && s.kind != "remind") throw std::invalid_argument("kind must be broadcast or remind");
  if (s.cohort.empty()) throw std::invalid_argument("name the cohort");
  if (s.kind == "broadcast" && s.text.empty() && s.start_flow.empty())
    throw std::invalid_argument("a broadcast needs text (and optionally template) or start_flow");
  if (!start_policy_from(s.policy)) throw std::invalid_argument("policy must be interrupt, skip or queue");
  return s;
}

nlohmann::json broadcast_spec::to_json() const {
  nlohmann::json j = {{"kind", kind}, {"cohort", cohort}, {"at_ms", at_ms}};
  if (!text.empty()) j["text"] = text;
  if (!template_name.empty()) j["template"] = template_name;
  if (!start_flow.empty()) {
    j["start_flow"] = start_flow;
    j["policy"] = policy;
  }
  if (inactive_ms) j["inactive"] = format_duration(inactive_ms);
  if (!module.empty()) j["module"] = module;
  if (!states.empty()) j["states"] = states;
  return j;
}

broadcaster::broadcaster(net::any_io_executor ex, service& svc, directory& people)
    : ex_(std::move(ex)), svc_(svc), people_(people) {}

net::awaitable<void> broadcaster::save(const nlohmann::json& job) {
  auto& st = svc_.backing_store();
  const std::string id = job.value("id", std::string{});
  // Indexed before it is stored, unindexed after: a tick may find an id whose job is not
  // there yet (skipped), never an open job missing from the index.
  if (is_open(job)) co_await st.dir_set_add(open_jobs, id);
  co_await st.dir_set(job_key(id), job.dump(), std::chrono::milliseconds(0));
  if (!is_open(job)) co_await st.dir_set_remove(open_jobs, id);
}

net::awaitable<nlohmann::json> broadcaster::create(const broadcast_spec& spec, const std::string& by) {
  if (!spec.start_flow.empty() && !svc_.flows()->find(spec.start_flow))
    throw std::invalid_argument("no flow '" + spec.start_flow + "'");
  const std::int64_t now = svc_.clock().now_ms();
  nlohmann::json job = {{"id", random_hex(8)}, {"spec", spec.to_json()}, {"status", "scheduled"},
                        {"created_by", by}, {"created_at", now}, {"total", 0},
                        {"done", 0}, {"sent", 0}, {"skipped", 0}};
  co_await save(job);
  co_return job;
}

net::awaitable<std::optional<nlohmann::json>> broadcaster::get(const std::string& id) {
  auto v = co_await svc_.backing_store().dir_get(job_key(id));
  if (!v) co_return std::nullopt;
  auto j = nlohmann::json::parse(*v, nullptr, false);
  if (!j.is_object()) co_return std::nullopt;
  co_return j;
}

net::awaitable<std::vector<nlohmann::json>> broadcaster::list() {
  std::vector<nlohmann::json> out;
  auto keys = co_await svc_.backing_store().dir_keys("job:");
  for (const auto& k : keys) {
    auto v = co_await svc_.backing_store().dir_get(k);
    if (!v) continue;
    auto j = nlohmann::json::parse(*v, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  co_return out;
}

net::awaitable<bool> broadcaster::cancel(const std::string& id) {
  auto job = co_await get(id);
  if (!job) co_return false;
  const std::string st = job->value("status", std::string{});
  if (st == "done" || st == "cancelled") co_return false;
  (*job)["status"] = "cancelled";
  (*job)["finished_at"] = svc_.clock().now_ms();
  co_await save(*job);
  co_return true;
}

net::awaitable<std::optional<std::string>> broadcaster::excluded(const broadcast_spec& spec,
                                                                 const std::string& conversation,
                                                                 loaded_session* keep) {
  loaded_session l = co_await svc_.backing_store().load(conversation);
  const session& s = keep ? (*keep = std::move(l)).s : l.s;
  if (!spec.states.empty()) {
    auto st = s.contact.find("state");
    const std::string state = st == s.contact.end() ? std::string{} : state_name(st->second);
    if (std::find(spec.states.begin(), spec.states.end(), state) == spec.states.end())
      co_return std::string("outside the commissions of this job");
  }
  if (s.opted_out) co_return std::string("opted out");
  // The learner refused the privacy notice: nothing is sent to them (they may write again).
  if (s.consent.decision == "refused") co_return std::string("no_consent");
  if (!s.paused.empty()) co_return std::string("unreachable: " + s.paused);
  if (spec.kind == "remind") {
    const std::int64_t now = svc_.clock().now_ms();
    if (spec.inactive_ms > 0 && s.last_in > 0 && now - s.last_in < spec.inactive_ms)
      co_return std::string("active recently");
    if (!spec.module.empty() && !(s.run && s.run->flow == spec.module)) co_return std::string("not in module " + spec.module);
    if (!s.run) co_return std::string("nothing to answer");
  }
  co_return std::nullopt;
}

net::awaitable<nlohmann::json> broadcaster::dry_run(const broadcast_spec& spec) {
  auto members = co_await people_.cohort_members(spec.cohort);
  // Looked up 64 at a time: the sessions' loads overlap on the Redis connection (a dry run over
  // 100,000 learners takes seconds, not minutes).
  std::vector<std::optional<std::string>> whys(members.size());
  const std::function<net::awaitable<void>(std::size_t)> look = [&](std::size_t i) -> net::awaitable<void> {
    whys[i] = co_await excluded(spec, members[i]);
  };
  co_await for_each_concurrently(members.size(), 64, look);
  nlohmann::json to = nlohmann::json::array(), skipped = nlohmann::json::array();
  for (std::size_t i = 0; i < members.size(); ++i) {
    const std::string& conv = members[i];
    const std::optional<std::string>& why = whys[i];
    if (why) {
      skipped.push_back({{"learner", conv}, {"why", *why}});
      continue;
    }
    nlohmann::json item = {{"learner", conv}};
    if (spec.kind == "remind") item["would"] = "the waiting question again, after a reminder";
    else if (!spec.start_flow.empty()) item["would"] = "start flow " + spec.start_flow + " (" + spec.policy + ")";
    else item["would"] = spec.text;
    to.push_back(std::move(item));
  }
  co_return nlohmann::json{{"recipients", to}, {"skipped", skipped}, {"spec", spec.to_json()}};
}

void broadcaster::start() {
  running_ = run_every(ex_, std::chrono::milliseconds(1000), [this]() { return tick(); },
                       "broadcasts: cannot work the jobs now");
}

void broadcaster::stop() {
  if (running_) *running_ = false;
}

net::awaitable<void> broadcaster::tick() {
  auto& store = svc_.backing_store();
  const auto checked = std::chrono::steady_clock::now();
  if (!last_check_ || checked - *last_check_ >= recheck_every) {
    // Jobs stored before the index existed, or an index entry lost between two writers (a
    // cancel and a slice saving the same job at once): the whole list, rarely.
    const auto all = co_await list();
    for (const auto& job : all)
      if (is_open(job)) co_await store.dir_set_add(open_jobs, job.value("id", std::string{}));
    last_check_ = checked;
  }
  std::vector<nlohmann::json> jobs;
  const auto ids = co_await store.dir_set_members(open_jobs);
  for (const auto& id : ids) {
    auto job = co_await get(id);
    if (!job) continue;  // being created (indexed first), or gone
    if (!is_open(*job)) {
      co_await store.dir_set_remove(open_jobs, id);
      continue;
    }
    jobs.push_back(std::move(*job));
  }
  const std::int64_t now = svc_.clock().now_ms();
  for (auto& job : jobs) {
    if (job["spec"].value("at_ms", std::int64_t{0}) > now) continue;
    // One instance at a time works a job, for a slice; then the lease lapses and any takes it.
    const std::string id = job.value("id", std::string{});
    const auto slot = std::to_string(now / std::chrono::milliseconds(lease_ttl).count());
    const bool mine = co_await svc_.backing_store().once(0, "joblease:" + id + ":" + slot, lease_ttl);
    if (!mine) continue;
    co_await work(std::move(job));
  }
}

net::awaitable<void> broadcaster::work(nlohmann::json job) {
  auto& st = svc_.backing_store();
  const std::string id = job.value("id", std::string{});
  const broadcast_spec spec = broadcast_spec::from_json(job["spec"]);
  // The recipients are fixed when the job starts, in a stable order: a resumed job goes on
  // where it was.
  std::vector<std::string> members;
  if (auto m = co_await st.dir_get(members_key(id))) {
    members = nlohmann::json::parse(*m).get<std::vector<std::string>>();
  } else {
    members = co_await people_.cohort_members(spec.cohort);
    co_await st.dir_set(members_key(id), nlohmann::json(members).dump(), std::chrono::milliseconds(0));
    job["total"] = members.size();
    job["started_at"] = svc_.clock().now_ms();
  }
  job["status"] = "running";
  co_await save(job);
  const auto until = std::chrono::steady_clock::now() + slice;
  std::size_t done = job.value("done", std::size_t{0});
  long sent = job.value("sent", 0L), skipped = job.value("skipped", 0L);
  const std::int64_t started = job.value("started_at", svc_.clock().now_ms());
  while (done < members.size() && std::chrono::steady_clock::now() < until) {
    // Cancelled meanwhile (by an admin, through any instance)?
    std::optional<nlohmann::json> now_job = co_await get(id);
    if (now_job && now_job->value("status", std::string{}) == "cancelled") co_return;
    const std::size_t end = std::min(members.size(), done + chunk);
    for (; done < end; ++done) {
      const std::string& conv = members[done];
      loaded_session loaded;
      std::optional<std::string> why = co_await excluded(spec, conv, &loaded);
      if (why) {
        ++skipped;
        continue;
      }
      inbound_event ev;
      if (spec.kind == "remind") {
        ev = inbound_event::of(inbound_event::kind::remind);
      } else if (!spec.start_flow.empty()) {
        ev = inbound_event::start(spec.start_flow, {}, start_policy_from(spec.policy).value_or(start_policy::queue));
      } else {
        ev = inbound_event::of(inbound_event::kind::broadcast);
        ev.text = spec.text;
        ev.template_name = spec.template_name;
      }
      ev.unsolicited = true;
      const auto colon = conv.find(':');
      // The provider id makes the step once-only per learner and job (a resumed job skips
      // those already done).
      const std::string channel = conv.substr(0, colon), address = conv.substr(colon + 1), provider_id = "bc:" + id;
      const std::map<std::string, std::string> no_contact;
      const std::vector<http_call> no_calls;
      const bool fresh =
          co_await svc_.deliver(channel, address, ev, provider_id, no_contact, no_calls, nullptr, &loaded);
      if (fresh) ++sent;
    }
    job["done"] = done;
    job["sent"] = sent;
    job["skipped"] = skipped;
    const std::int64_t elapsed = std::max<std::int64_t>(1, svc_.clock().now_ms() - started);
    job["eta_ms"] = static_cast<std::int64_t>((members.size() - done) * static_cast<double>(elapsed) /
                                              static_cast<double>(std::max<std::size_t>(1, done)));
    std::optional<nlohmann::json> after = co_await get(id);
    if (after && after->value("status", std::string{}) == "cancelled") co_return;
    co_await save(job);
  }
  if (done >= members.size()) {
    job["status"] = "done";
    job["finished_at"] = svc_.clock().now_ms();
    job["eta_ms"] = 0;
    co_await save(job);
    log::info("broadcast done", {{"job", id}, {"sent", sent}, {"skipped", skipped}});
  }
}

}  // namespace aula
