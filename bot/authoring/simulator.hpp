// A learner's conversation on the pure engine with an in-memory store of its own: the
// session, the pending timers and a clock that only moves when told. `aula chat` and
// `aula test` both run on it, so what a transcript shows is what the chat shows.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/engine/engine.hpp"

namespace aula {

struct sim_output {
  enum class kind { message, at, request };
  kind type = kind::message;
  std::string text;  // message: rendered as plain text; at: local time; request: "METHOD url body"
};

class simulator {
 public:
  simulator(const flow_set& flows, context ctx);

  session& state() { return session_; }
  const context& ctx() const { return ctx_; }
  std::int64_t now() const { return ctx_.now_ms; }
  void set_now(std::int64_t ms) { ctx_.now_ms = ms; }

  // One event; returns what aula sent.
  std::vector<sim_output> send(const inbound_event& ev);
  // Moves the clock, firing each due timer at its time, in order. Each firing that says
  // something is introduced by an `at` output with the local time.
  std::vector<sim_output> advance(std::int64_t ms);
  // Runs the last step again from the same session, event and seed, as the server does after
  // a version conflict; returns what differs from the first run (empty: identical).
  std::string retry_last() const;
  // The id of the last webhook request still waiting for its answer, if any.
  std::optional<std::string> pending_webhook() const;
  const std::map<std::string, timer_effect>& timers() const { return timers_; }

  std::vector<nlohmann::json> records;
  std::vector<std::string> log;

 private:
  void apply(const inbound_event& ev, std::vector<sim_output>& out);

  const flow_set& flows_;
  context ctx_;
  session session_;
  std::map<std::string, timer_effect> timers_;
  std::vector<std::string> webhooks_;
  std::uint64_t seed_ = 0;
  // The last step, to replay it.
  std::optional<session> last_before_;
  inbound_event last_event_;
  context last_ctx_;
  std::string last_signature_;
};

}  // namespace aula
