// A learner's conversation state. Serializes to compact JSON with a format version; the
// store keeps it as one value per learner (DESIGN.md, Redis keys).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aula {

// A saved answer: `value` is what reports group by (an option id, a number, the text itself);
// `text` is what a template shows ({{answers.x}}): the option label in the learner's
// language, the number as typed, the learner's text unchanged.
struct saved_answer {
  nlohmann::json value;
  std::string text;
};

// A pending timer of a run. Ids are deterministic (run + node + kind), so setting the same
// timer again replaces it, and a timer whose id the session no longer holds does nothing.
struct timer_slot {
  std::string id;
  std::int64_t due = 0;  // ms since epoch
  std::string kind;      // remind | timeout | wait | webhook | expire
  int count = 0;         // reminders sent so far
};

// The run of one flow in progress.
struct run_state {
  std::string flow;
  std::string id;          // run id, unique per start (from the context's seed)
  std::string node;        // node waiting for a reply
  int retries = 0;         // invalid replies to the current node
  int attempts = 0;        // quiz attempts on the current node
  int seq = 0;             // result records emitted in this run (record ids are run.seq)
  int score = 0;           // quiz points earned in this run
  int score_max = 0;       // points of the quizzes asked in this run
  std::int64_t started_at = 0;  // ms since epoch
  std::string course;      // the course that started this run as one of its modules, if any
  std::optional<timer_slot> timer;   // of the node it waits at (reminder, wait, webhook)
  std::optional<timer_slot> expire;  // the flow's expire_after, reset by each reply
};

// How the previous run ended, for templates and for the course layer.
struct last_run {
  std::string flow;
  std::string status;
  int score = 0;
  int score_max = 0;
};

// A learner's progress in one module of a course.
struct module_progress {
  std::string flow;
  // open (dripped, not started: the learner was busy or paused) | started | completed |
  // review (completed below the next module's min_score: to be retaken) | failed
  std::string status;
  int score = 0, score_max = 0;  // of the last attempt
  int attempts = 0;              // runs started
  std::int64_t opened_at = 0, ended_at = 0;
};

// A learner's place in one course (a learner may be in several).
struct course_progress {
  std::string course;
  std::string status = "active";  // active | completed | not_met | failed | left
  int current = 0;                // index of the module now open, or next to open
  std::vector<module_progress> modules;  // one per module reached, in course order
  // One course timer at a time: "drip" (the next module opens) or "nudge" (the learner
  // stalled inside a module).
  std::optional<timer_slot> timer;
  int nudges = 0;  // nudges sent since the learner last answered
  std::int64_t enrolled_at = 0, ended_at = 0;
  std::string certificate;  // code, once issued
  std::string folio;

  module_progress* module(const std::string& flow);
};

// The learner's answer to the privacy notice (config privacy.consent): what they decided,
// on which version of the notice, when and on which channel.
struct consent_decision {
  std::string decision;  // accepted | refused | revoked (BAJA after accepting); empty = none yet
  std::string version;   // the notice version shown
  std::string channel;   // where they answered
  std::int64_t at = 0;   // ms since epoch
  bool operator==(const consent_decision&) const = default;
};

struct session {
  static constexpr int format = 1;

  std::int64_t version = 0;  // bumped by the store on each commit (optimistic concurrency)
  std::string lang;          // learner's language; empty = the flow's base language
  std::map<std::string, std::string> contact;  // name, state, role, ...
  std::map<std::string, saved_answer> answers;  // by save_as name, across flows
  std::optional<run_state> run;      // the run in progress (the innermost, in a subflow)
  std::vector<run_state> stack;      // callers of the current run, outermost first
  std::vector<std::string> queue;    // flows to start when the current run ends
  std::optional<last_run> last;
  std::vector<course_progress> courses;  // enrolments, in enrolment order
  bool opted_out = false;            // STOP/BAJA: nothing is sent until START/ALTA
  bool menu_open = false;            // MENU was shown; the next reply may pick from it
  // A message could not be delivered (dead letter): the course waits, its timers cancelled,
  // until the learner writes again. Empty = not paused.
  std::string paused;
  std::int64_t paused_at = 0;
  // When the learner last wrote or tapped (ms since epoch; 0 = never): channels with a
  // customer-service window (WhatsApp, 24 h) decide at send time whether free text may go.
  std::int64_t last_in = 0;
  // Flood control (the service's, bot/service/flood.hpp): the learner's messages counted in
  // the one-minute window that started at flood_window, and whether they were told to wait.
  std::int64_t flood_window = 0;
  int flood_count = 0;
  bool flood_told = false;
  // Privacy consent (only when the host requires it): the decision, whether the question is
  // waiting for an answer, and what the learner (or staff) asked to start before answering
  // it — replayed after "Acepto" (inbound events as JSON: a trigger keyword, a deep link, an
  // enrolment; never free text the learner wrote).
  consent_decision consent;
  bool consent_asked = false;
  std::vector<nlohmann::json> consent_pending;

  course_progress* course(const std::string& id);
  const course_progress* course(const std::string& id) const;

  nlohmann::json to_json() const;
  // to_json().dump(), written without the document (session_text.hpp).
  std::string dump() const;
  // dump() of this session with `version` as its version.
  std::string dump(std::int64_t version) const;
  // Reads a session; throws std::runtime_error on a format it does not know.
  static session from_json(const nlohmann::json& j);
  // from_json(nlohmann::json::parse(s)), read without the document when s is in dump()'s form.
  static session parse(const std::string& s);
};

}  // namespace aula
