// Inside the engine: how each node kind behaves when the run enters it and when the learner
// answers it. One file per kind (message.cpp, question.cpp, quiz.cpp, split.cpp, set.cpp,
// wait.cpp, subflow.cpp, webhook.cpp, end.cpp); the table in registry.cpp maps a kind to its
// behaviour. Not part of the public API.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "bot/engine/engine.hpp"

namespace aula::detail {

enum class next_kind { go, wait, finish };

struct transition {
  next_kind kind = next_kind::wait;
  std::string target;  // go: the node to enter (in the current run's flow)
  static transition go(std::string t) { return {next_kind::go, std::move(t)}; }
  static transition wait() { return {next_kind::wait, {}}; }
  static transition finish() { return {next_kind::finish, {}}; }
};

// A learner's reply to the waiting node: typed text, or a tapped option of this node.
struct reply {
  std::string text;                   // verbatim
  std::optional<std::size_t> tapped;  // option index from a button of this very node
};

// What one step is working on. Nodes act through it; it owns the run stack operations.
class run_ctx {
 public:
  run_ctx(const flow_set& flows, const context& ctx, step_result& out);

  // The flow of the current run (null when no run).
  const flow* current_flow() const;
  const flow_set& flows() const { return flows_; }
  const context& ctx() const { return ctx_; }
  session& s() { return out_.next; }
  run_state& run() { return *out_.next.run; }
  step_result& out() { return out_; }

  // The learner's language: session, else the host's default, else the flow's base.
  const std::string& lang() const;
  // A flow text in the learner's language with {{variables}} filled in.
  std::string text(const localized& t) const;
  // A template with variables filled in (values JSON-escaped when `json_escape`).
  std::string fill(const std::string& tmpl, bool json_escape = false) const;
  // A URL template: values percent-encoded.
  std::string fill_url(const std::string& tmpl) const;
  // A built-in text of the engine (invalid answers, hints) in the learner's language.
  std::string builtin(std::string_view key) const;
  // A variable's value for conditions (answers give their value, not their text).
  nlohmann::json value_of(const std::string& var) const;

  // Extra template variables for the texts being rendered (course.*, module.*, certificate.*).
  std::map<std::string, std::string> vars;

  void say(outbound_message m) { out_.messages.push_back(std::move(m)); }
  void say(const std::string& text, const node& n);
  // A result record of the current run (or of no run: type inbound, for stray texts).
  result_record& record(const std::string& type, const node* n);
  void log(std::string line) { out_.log.push_back(std::move(line)); }

  // A deterministic 64-bit number for this step (new run ids).
  std::uint64_t fresh();

  // Starts a run of `fl` (at `at`, else its start) on top of the stack; returns where to go.
  transition begin_run(const flow& fl, const std::string& at);
  // Ends the current run with `status` at node `at`. Returns to the caller of a subflow (its
  // `next`, or `on_failure` when it did not complete), else starts a queued flow, else
  // finishes.
  transition end_run(end_status status, const node* at);
  // Ends every run on the stack (opt-out, interrupt, reset) with `status`.
  void end_all(end_status status);
  // Enters nodes until one waits or the runs end.
  void drive(transition t);
  // Sets the current node's timer to fire after `delay_ms` (or at `due`).
  void set_timer(const node& n, const std::string& kind, std::int64_t due, int count = 0);

 private:
  std::optional<std::string> variable(std::string_view name) const;
  std::pair<int, int> close_run(end_status status, const node* at);

  const flow_set& flows_;
  const context& ctx_;
  step_result& out_;
  std::uint64_t fresh_count_ = 0;
  int free_records_ = 0;
};

struct node_behaviour {
  transition (*enter)(run_ctx&, const node&);
  transition (*answer)(run_ctx&, const node&, const reply&);  // null for kinds that never ask
};

const node_behaviour& behaviour(node_kind k);

// Shared by question and quiz: the prompt with its menu, how a menu is shown, matching a
// typed reply to an option, and what to do when retries run out.
menu_style menu_for(const node& n, const channel_caps& caps);
outbound_message prompt(run_ctx& rc, const node& n, const std::string& prefix = {});
std::optional<std::size_t> match_choice(run_ctx& rc, const node& n, const std::string& text, menu_style menu);
std::string option_label(run_ctx& rc, const node& n, std::size_t i);
// Records the invalid reply; asks again or, past max_retries, leaves through on_invalid/next.
transition invalid_reply(run_ctx& rc, const node& n, const reply& r, const std::string& why);
// Arms the reminder/timeout timer of an asking node (when it has a `timeout`).
void arm_reply_timeout(run_ctx& rc, const node& n);
// A reminder or the timeout fell due at an asking node.
transition reply_timer(run_ctx& rc, const node& n, timer_slot t);
// A webhook's answer (or its timeout: status -1).
transition webhook_answered(run_ctx& rc, const node& n, int status, const std::string& body);

std::string hex(std::uint64_t v, int digits);
std::uint64_t splitmix64(std::uint64_t x);
std::uint32_t fnv1a32(std::string_view s);

}  // namespace aula::detail

namespace aula {
struct course_def;
}

namespace aula::detail {

// The course layer (course_steps.cpp): enrolment, modules opened by drip timers, unlock by
// score, nudges, completion and certificates. A function that starts a module's run returns
// the transition to drive; it never starts one while another run is in progress (the module
// is queued as "course:<id>" in session.queue instead).
inline constexpr std::string_view course_queue_prefix = "course:";

std::optional<transition> course_enroll(run_ctx& rc, const course_def& c, bool by_learner);
// The learner asked for the course (a trigger keyword): enrol, or open the waiting module now.
std::optional<transition> course_requested(run_ctx& rc, const course_def& c);
// A module's run ended (`may_continue`: false when every run is being ended: opt-out, reset).
std::optional<transition> course_module_ended(run_ctx& rc, const std::string& course, const std::string& flow,
                                              end_status status, int score, int score_max, bool may_continue);
// An administrator's fixes: the course starts over from its first module (progress kept in
// the records, not in the session), or the learner goes to module `flow` of the course now.
std::optional<transition> course_restart(run_ctx& rc, const course_def& c);
std::optional<transition> course_move(run_ctx& rc, const course_def& c, const std::string& flow);
// A queued "course:<id>" entry came up: start the course's open module if it still waits.
std::optional<transition> course_dequeue(run_ctx& rc, const std::string& course);
// A timer fell due: a course's drip or nudge. nullopt when `id` is no course timer; else
// the transition to drive (wait when there is nothing to drive).
std::optional<transition> course_timer(run_ctx& rc, const std::string& id);
// After every step: each active course has exactly what it needs pending (its module in
// progress or queued, a drip timer, or a nudge while the learner owes an answer), so nobody
// is left without a way forward.
void course_reconcile(run_ctx& rc, bool learner_input);

}  // namespace aula::detail
