// The engine: step(flows, session, event, ctx) -> effects. Pure and deterministic: no I/O,
// no clock, no global state. Everything that varies (time, randomness, channel abilities)
// comes in through `context`, so a retried step gives the same result.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/engine/flow.hpp"
#include "bot/engine/session.hpp"

namespace aula {

// What the channel can show; decides whether a choice menu is numbered (see choose()).
struct channel_caps {
  // Choices shown as tappable buttons when a question has at most this many options;
  // 0 = the channel shows every menu as numbered text (SMS, the terminal).
  int max_buttons = 0;
};

struct context {
  std::int64_t now_ms = 0;    // the host's clock, read once per step
  std::uint64_t seed = 0;     // randomness and new run ids; same seed on retry
  std::string default_lang;   // for a new learner with no language; empty = flow's base
  channel_caps caps;
};

struct inbound_event {
  enum class kind { start, text, choice };
  kind type = kind::text;
  std::string text;    // text: what the learner sent
  std::string flow;    // start: the flow to start
  std::string at;      // start: a node to begin at instead of the flow's start (previews, tests)
  std::string choice;  // choice: the id of the tapped button (see choice_ref)
  std::string provider_id;

  static inbound_event start(std::string flow_id, std::string at_node = {}) {
    return {kind::start, {}, std::move(flow_id), std::move(at_node), {}, {}};
  }
  static inbound_event message(std::string t) { return {kind::text, std::move(t), {}, {}, {}, {}}; }
  static inbound_event tap(std::string ref) { return {kind::choice, {}, {}, {}, std::move(ref), {}}; }
};

enum class menu_style {
  none,      // no choices
  numbered,  // "1. label" lines; a reply may be the number or the label
  buttons,   // tappable buttons; a typed label or number also works
  inline_numbers,  // scales: the labels are the numbers themselves ("1 … 5", "0 … 10")
};

struct outbound_choice {
  std::string ref;    // button / callback id: encodes run, node and option (≤ 64 bytes)
  std::string label;  // in the learner's language
};

// A channel-neutral message; adapters render it for their provider.
struct outbound_message {
  std::string text;
  std::vector<outbound_choice> choices;
  menu_style menu = menu_style::none;
  std::string node;  // the node that sent it
};

// One result record: what reports are built from. Ids are deterministic (run id + sequence).
struct result_record {
  std::string id;
  std::string type;  // start | answer | invalid | quiz | end
  std::string flow, run, node;
  nlohmann::json value;  // answer value, or the raw text of an invalid reply
  std::string text;      // what the learner sent, verbatim
  bool correct = false;  // quiz
  bool final = true;     // quiz: false for a wrong attempt with attempts left
  int points = 0;
  int attempt = 0;
  std::string status;  // end: completed|failed|...; answer: answered|skipped
  std::int64_t at = 0;

  nlohmann::json to_json() const;
};

struct step_result {
  session next;
  std::vector<outbound_message> messages;
  std::vector<result_record> records;
  std::vector<std::string> log;  // what happened, for logs and debugging
};

step_result step(const flow_set& flows, const session& s, const inbound_event& ev, const context& ctx);

// Button ids: "<run>.<node hash>.<option index>", short and unique per run and node, so a
// tap on an old question never answers the current one.
std::string choice_ref(const std::string& run_id, const std::string& node_id, std::size_t option_index);

}  // namespace aula
