// Transcripts: hand-written conversations that a flow must reproduce (flows/tests/*.yaml).
// They are the oracle for flows: `aula test` runs them on the pure engine with a fixed clock
// and seed and prints a diff for each mismatch.
//
//   flow: leccion-muestra        # or course: <id> (flows/course.yaml): the learner is enrolled
//   cases:
//     - name: todo correcto
//       lang: es                 # optional; default: the flow's base language
//       contact: {name: Ana}     # optional contact fields
//       cohorts: [piloto]        # optional: the learner's cohorts (for splits)
//       tz: America/Cancun       # optional: the learner's time zone (default America/Mexico_City)
//       now: "2026-01-05 09:00"  # optional: the clock at the start, local time in tz
//       buttons: 3               # optional: the channel shows ≤3 choices as buttons
//       start_at: edad           # optional: begin at this node instead of the flow's start
//       conversation:
//         - aula: "Hola Ana."    # a message aula must send, exactly (menus rendered as text)
//         - learner: "2"         # what the learner types
//         - tap: b               # the learner taps the button of option b
//         - advance: 25h         # the clock moves; due timers fire in order
//         - at: "2026-01-06 09:00"   # aula spoke then, because a timer fired (local time)
//         - request: "POST https://… {…}"   # aula asked the host to call a webhook
//         - webhook: {status: 200, body: '{"ok": true}'}   # the webhook's answer
//         - event: reset         # reset | opt_out | opt_in (from an admin or the provider)
//         - start: {flow: diagnostico, policy: queue}   # the host starts a flow
//         - retry: last          # replay the last step (same session, event, seed): must match
//       expect:                  # optional checks after the conversation
//         status: completed      # completed | failed | … | active (still running) | none
//         course: completed      # a course's status: active | completed | not_met | failed
//         score: 2
//         score_max: 3
//         answers: {edad_minima: b}
//         contact: {nivel: avanzado}
//         opted_out: false
//         timers: 0              # how many timers are pending
//         records:               # each must appear, in this order, with these fields
//           - {type: quiz, node: edad, correct: true, attempt: 1}
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/authoring/diagnostics.hpp"
#include "bot/engine/flow.hpp"

namespace aula {

struct transcript_turn {
  enum class who { aula, at, request, learner, tap, advance, webhook, event, start, retry };
  who speaker = who::aula;
  std::string text;  // webhook: the body; start: the flow id; advance: the duration
  int status = 0;    // webhook
  std::string policy;  // start
  source_pos pos;

  // Turns aula produces (compared), as opposed to what the test does.
  bool is_output() const { return speaker == who::aula || speaker == who::at || speaker == who::request; }
};

struct transcript_case {
  std::string name;
  std::string flow;
  std::string course;  // a course's case: the learner is enrolled instead of a flow started
  std::string lang;
  std::map<std::string, std::string> contact;
  std::vector<std::string> cohorts;
  std::string tz;
  std::string now;
  int buttons = 0;
  std::string start_at;
  // consent: "2026-11": the privacy consent question comes first (as `aula serve` asks it with
  // privacy.consent on), for this notice version; tap: consent.yes / consent.no answer it.
  std::string consent;
  std::vector<transcript_turn> turns;
  std::optional<std::string> status;
  std::optional<std::string> course_status;  // expect: course: completed | active | …
  std::optional<int> score, score_max, timers;
  std::optional<bool> opted_out;
  std::map<std::string, nlohmann::json> answers;
  std::map<std::string, std::string> contact_after;
  std::vector<nlohmann::json> records;
  source_pos pos;
};

struct transcript_file {
  std::string path;
  std::vector<transcript_case> cases;
};

struct case_outcome {
  bool passed = false;
  std::string report;  // the diff and failed expectations, empty when passed
};

// Reads a transcript file; problems go to `diags` with positions.
bool read_transcripts(const std::string& path, transcript_file& out, diagnostics& diags);

// Runs one case against the flows.
case_outcome run_case(const flow_set& flows, const transcript_case& c);

// Line diff of two texts (longest common subsequence), lines prefixed "  ", "- ", "+ ".
std::string line_diff(const std::vector<std::string>& expected, const std::vector<std::string>& actual);

// The fixed clock transcripts start at unless they say `now`: 2026-01-05 09:00 in Mexico City.
inline constexpr std::int64_t transcript_epoch_ms = 1767625200000;

}  // namespace aula
