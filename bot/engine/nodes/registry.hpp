// Inside the engine: how each node kind behaves when the run enters it and when the learner
// answers it. One file per kind (message.cpp, question.cpp, quiz.cpp, end.cpp); the table in
// registry.cpp maps a kind to its behaviour. Not part of the public API.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "bot/engine/engine.hpp"

namespace aula::detail {

// What one step is working on; nodes act through it.
class run_ctx {
 public:
  run_ctx(const flow_set& flows, const flow& fl, const context& ctx, step_result& out)
      : flows_(flows), flow_(fl), ctx_(ctx), out_(out) {}

  const flow& current_flow() const { return flow_; }
  const context& ctx() const { return ctx_; }
  session& s() { return out_.next; }
  run_state& run() { return *out_.next.run; }
  step_result& out() { return out_; }

  // The learner's language: session, else the host's default, else the flow's base.
  const std::string& lang() const;
  // A flow text in the learner's language with {{variables}} filled in.
  std::string text(const localized& t) const;
  // A built-in text of the engine (invalid answers, hints) in the learner's language.
  std::string builtin(std::string_view key) const;

  void say(outbound_message m) { out_.messages.push_back(std::move(m)); }
  void say(const std::string& text, const node& n);
  result_record& record(const std::string& type, const node& n);
  void log(std::string line) { out_.log.push_back(std::move(line)); }

 private:
  std::optional<std::string> variable(std::string_view name) const;

  const flow_set& flows_;
  const flow& flow_;
  const context& ctx_;
  step_result& out_;
};

enum class next_kind { go, wait, finish };

struct transition {
  next_kind kind = next_kind::wait;
  std::string target;  // go: the node to enter
  static transition go(std::string t) { return {next_kind::go, std::move(t)}; }
  static transition wait() { return {next_kind::wait, {}}; }
  static transition finish() { return {next_kind::finish, {}}; }
};

// A learner's reply to the waiting node: typed text, or a tapped option of this node.
struct reply {
  std::string text;                   // verbatim
  std::optional<std::size_t> tapped;  // option index from a button of this very node
};

struct node_behaviour {
  transition (*enter)(run_ctx&, const node&);
  transition (*answer)(run_ctx&, const node&, const reply&);  // null for kinds that never wait
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

// Ends the run with a status: records it, remembers it in session.last, clears session.run.
void finish_run(run_ctx& rc, const node* at, end_status status);

}  // namespace aula::detail
