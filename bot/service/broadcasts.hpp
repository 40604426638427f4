// Reminders and broadcasts to a cohort: jobs in the directory ("job:<id>"; the open ones'
// ids also in the set "jobs:open", which the broadcaster reads every second), worked by any
// instance in slices under a short lease, each learner's message committed as one step with
// the provider id "bc:<job id>" — so a job resumed after a restart (or by two instances at
// once) never sends anyone the same broadcast twice. Every message goes in the bulk lane, so
// replies to learners who write meanwhile are not delayed behind it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/io/net.hpp"
#include "bot/service/directory.hpp"
#include "bot/service/service.hpp"

namespace aula {

struct broadcast_spec {
  std::string kind = "broadcast";  // broadcast | remind
  std::string cohort;
  std::string text;           // broadcast: the message
  std::string template_name;  // broadcast: WhatsApp's approved template for a closed window
  std::string start_flow;     // broadcast: start this flow instead of a message
  std::string policy = "queue";   // start_flow: interrupt | skip | queue
  std::int64_t inactive_ms = 0;   // remind: only learners silent at least this long
  std::string module;             // remind: only learners whose course waits in this module (flow id)
  std::int64_t at_ms = 0;         // when to start (0 = now)
  // Only learners of these states (official names): a facilitator scoped to commissions
  // reaches their learners of the cohort, not the whole cohort. Empty: everyone.
  std::vector<std::string> states;

  static broadcast_spec from_json(const nlohmann::json& j);  // throws std::invalid_argument
  nlohmann::json to_json() const;
};

class broadcaster {
 public:
  broadcaster(net::any_io_executor ex, service& svc, directory& people);

  // A new job (status scheduled); returns its record.
  net::awaitable<nlohmann::json> create(const broadcast_spec& spec, const std::string& by);
  // Who would receive what now, and who not and why; nothing is sent.
  net::awaitable<nlohmann::json> dry_run(const broadcast_spec& spec);
  net::awaitable<std::optional<nlohmann::json>> get(const std::string& id);
  net::awaitable<std::vector<nlohmann::json>> list();
  // Stops a job between two learners; false when unknown or already finished.
  net::awaitable<bool> cancel(const std::string& id);

  void start();  // works due jobs until stop()
  void stop();

 private:
  net::awaitable<void> tick();
  net::awaitable<void> work(nlohmann::json job);
  // nullopt: the learner receives it; else why not.
  // `keep`: where the loaded session goes (the step then starts from it: one load, not two).
  net::awaitable<std::optional<std::string>> excluded(const broadcast_spec& spec, const std::string& conversation,
                                                      loaded_session* keep = nullptr);
  net::awaitable<void> save(const nlohmann::json& job);

  net::any_io_executor ex_;
  service& svc_;
  directory& people_;
  std::shared_ptr<bool> running_;
  std::optional<std::chrono::steady_clock::time_point> last_check_;  // the last tick that listed every job
};

}  // namespace aula
