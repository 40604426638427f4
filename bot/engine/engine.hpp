// The engine: step(flows, session, event, ctx) -> effects. Pure and deterministic: no I/O,
// no clock, no global state. Everything that varies (time, randomness, channel abilities)
// comes in through `context`, so a retried step gives the same result.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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
  // Words that also mean STOP / START on this channel (SMS carriers: STOPALL, END, QUIT…),
  // folded; the whole-message and option-label rules apply as to the global keywords.
  std::vector<std::string> stop_words, start_words;
};

// The id of the re-engagement template's quick reply (WhatsApp, outside the 24-hour window):
// the learner is back; the sender releases what it held. The engine records it, says nothing.
inline constexpr const char* continue_choice = "aula:continue";

// Privacy consent (config privacy:): when required, a learner who has not accepted the
// privacy notice gets its link and the question "Acepto / No acepto" before anything else;
// what they asked for waits in the session and starts after "Acepto". Off by default, so
// transcripts and tests that do not ask for it run as before.
struct consent_settings {
  bool required = false;
  std::string version;  // the notice's version, recorded with the decision ("2026-11")
  std::string url;      // where the notice is read; "?lang=en" is added for English
};

// The choice ids of the consent question (buttons, callbacks).
inline constexpr const char* consent_yes = "consent.yes";
inline constexpr const char* consent_no = "consent.no";

struct context {
  std::int64_t now_ms = 0;    // the host's clock, read once per step
  std::uint64_t seed = 0;     // randomness and new run ids; same seed on retry
  std::string default_lang;   // for a new learner with no language; empty = flow's base
  std::string tz;             // the learner's IANA time zone; empty = America/Mexico_City
  std::vector<std::string> cohorts;  // the learner's cohorts (directory data), for splits
  channel_caps caps;
  // Certificates: the code's first characters (the store's partition prefix), random bytes
  // from the host's CSPRNG for the rest (empty: derived from the seed, for transcripts), and
  // the public base URL the verification link starts with.
  std::string code_prefix;
  std::string entropy;
  std::string public_url;
  std::string channel;  // telegram | whatsapp | sms | web | … (recorded with a consent decision)
  consent_settings consent;
};

struct inbound_event {
  enum class kind {
    start,           // start `flow` (at node `at`) under `policy`: enrolment, broadcast, trigger
    text,            // the learner wrote `text`
    choice,          // the learner tapped the button whose id is `choice` (see choice_ref)
    timer,           // the timer `timer` fell due (a stale id does nothing)
    webhook_result,  // the host's answer to webhook request `timer`: `status`, `text` = body
    opt_out,         // the provider says the learner blocked us or opted out
    opt_in,          // ... or came back
    reset,           // an administrator reset the learner's conversation (`course`: that course starts over)
    move,            // an administrator moved the learner: to `flow` (at node `at`), or, with
                     // `course`, to that course's module `flow`
    delivery_failed,  // a message to the learner was dead-lettered (`text`: why): pause the course
    enroll,          // enrol the learner in `course` (its first module opens by the course's rules)
    broadcast,       // a facilitator's message `text` (WhatsApp outside the window: `template_name`)
    remind,          // a facilitator's reminder: the waiting question again, if any
    migrate,         // nothing happened: only move a learner stranded by a new flow version
  };
  kind type = kind::text;
  std::string text;    // text: what the learner sent; webhook_result: the response body
  std::string flow;    // start: the flow to start
  std::string course;  // enroll: the course
  std::string template_name;  // broadcast: the approved WhatsApp template for a closed window
  bool unsolicited = false;   // sent by staff, not asked for: every message goes in the bulk lane
  std::string at;      // start: a node to begin at instead of the flow's start (previews, tests)
  std::string choice;  // choice: the id of the tapped button
  std::string provider_id;
  std::string media;   // text: the learner sent a photo, voice note, … ("photo"); text is its caption
  std::string timer;   // timer and webhook_result: the id
  int status = 0;      // webhook_result: HTTP status; 0 = no answer (connection failed)
  start_policy policy = start_policy::interrupt;

  static inbound_event start(std::string flow_id, std::string at_node = {},
                             start_policy p = start_policy::interrupt) {
    inbound_event e;
    e.type = kind::start;
    e.flow = std::move(flow_id);
    e.at = std::move(at_node);
    e.policy = p;
    return e;
  }
  static inbound_event message(std::string t) {
    inbound_event e;
    e.text = std::move(t);
    return e;
  }
  static inbound_event tap(std::string ref) {
    inbound_event e;
    e.type = kind::choice;
    e.choice = std::move(ref);
    return e;
  }
  static inbound_event timer_due(std::string id) {
    inbound_event e;
    e.type = kind::timer;
    e.timer = std::move(id);
    return e;
  }
  static inbound_event webhook_answer(std::string id, int http_status, std::string body) {
    inbound_event e;
    e.type = kind::webhook_result;
    e.timer = std::move(id);
    e.status = http_status;
    e.text = std::move(body);
    return e;
  }
  static inbound_event enroll_in(std::string course_id) {
    inbound_event e;
    e.type = kind::enroll;
    e.course = std::move(course_id);
    return e;
  }
  static inbound_event reset_by_staff(std::string course_id = {}) {
    inbound_event e;
    e.type = kind::reset;
    e.course = std::move(course_id);
    return e;
  }
  static inbound_event move_to(std::string flow_id, std::string at_node = {}, std::string course_id = {}) {
    inbound_event e;
    e.type = kind::move;
    e.flow = std::move(flow_id);
    e.at = std::move(at_node);
    e.course = std::move(course_id);
    return e;
  }
  static inbound_event delivery_failure(std::string reason) {
    inbound_event e;
    e.type = kind::delivery_failed;
    e.text = std::move(reason);
    return e;
  }
  static inbound_event of(kind k) {
    inbound_event e;
    e.type = k;
    return e;
  }
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
  std::string text;  // the caption when there is media
  std::vector<outbound_choice> choices;
  menu_style menu = menu_style::none;
  std::string node;  // the node that sent it
  std::optional<media> attachment;
  bool unsolicited = false;  // reminders, drips, expiry: held in quiet hours, sent in the bulk lane
  // Channels with a window (WhatsApp): the approved template to send instead when the window
  // is closed (a course's nudge); empty = the channel's re-engagement template.
  std::string template_name;
};

// A timer to set (or move: same id) in the store; it comes back as a `timer` event.
struct timer_effect {
  std::string id;
  std::int64_t due_ms = 0;
  std::string kind;
};

// A request the host performs for a `webhook` node; its answer comes back as a
// webhook_result event with the same id.
struct webhook_call {
  std::string id;
  std::string method, url;
  std::map<std::string, std::string> headers;
  std::string body;
  std::int64_t timeout_ms = 0;
};

// One result record: what reports are built from. Ids are deterministic (run id + sequence).
struct result_record {
  std::string id;
  // start | answer | invalid | quiz | end | timeout | split | webhook | inbound | paused |
  // resumed | migrated | enrolled | module | course | nudge | certificate | consent
  std::string type;
  std::string flow, run, node;
  nlohmann::json value;  // answer value, or the raw text of an invalid reply
  std::string text;      // what the learner sent, verbatim
  bool correct = false;  // quiz
  bool final = true;     // quiz: false for a wrong attempt with attempts left
  int points = 0;
  int attempt = 0;
  std::string status;  // end: completed|failed|...; answer: answered|skipped
  bool free_text = false;  // answer: to a text question (value and text are what the learner typed)
  std::int64_t at = 0;

  nlohmann::json to_json() const;
  // As the commit stores it: to_json()'s members with the learner's `conv`, the `channel` and,
  // when above 0, the flows' `version`, written as JSON text (the bytes json_text::write gives
  // for that document) without building it.
  std::string to_text(std::string_view conv, std::string_view channel, int version = 0) const;
};

struct step_result {
  session next;
  std::vector<outbound_message> messages;
  std::vector<result_record> records;
  std::vector<timer_effect> timers_set;      // derived from the session's timers before and after
  std::vector<std::string> timers_cancel;
  std::vector<webhook_call> webhooks;
  std::optional<bool> opted_out;             // the learner opted out (true) or back in (false)
  // Certificates issued by this step: code -> what /verify/<code> shows.
  std::vector<std::pair<std::string, nlohmann::json>> certificates;
  std::vector<std::string> log;  // what happened, for logs and debugging
};

step_result step(const flow_set& flows, const session& s, const inbound_event& ev, const context& ctx);
// The same, taking the session over (no copy of it: the server's hot path).
step_result step(const flow_set& flows, session&& s, const inbound_event& ev, const context& ctx);

// The global keywords (STOP/BAJA/ALTO…, START/ALTA, AYUDA/HELP, MENU), folded. They are commands
// only when they are a whole message and not an option of the question being asked.
const std::vector<std::string>& global_keywords();

// Button ids: "<run>.<node hash>.<option index>", short and unique per run and node, so a
// tap on an old question never answers the current one.
std::string choice_ref(const std::string& run_id, const std::string& node_id, std::size_t option_index);

}  // namespace aula
