// Transcripts: hand-written conversations that a flow must reproduce (flows/tests/*.yaml).
// They are the oracle for flows: `aula test` runs them on the pure engine with a fixed clock
// and seed and prints a diff for each mismatch.
//
//   flow: leccion-muestra
//   cases:
//     - name: todo correcto
//       lang: es                 # optional; default: the flow's base language
//       contact: {name: Ana}     # optional contact fields
//       buttons: 3               # optional: the channel shows ≤3 choices as buttons
//       start_at: temas          # optional: begin at this node instead of the flow's start
//       conversation:
//         - aula: "Hola Ana."    # one message aula must send, exactly (menus rendered as text)
//         - learner: "2"         # what the learner types
//         - tap: b               # or: the learner taps the button of option b
//       expect:                  # optional checks after the conversation
//         status: completed      # completed | failed | … | active (still running)
//         score: 2
//         score_max: 3
//         answers: {edad_minima: b}
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
  enum class who { aula, learner, tap };
  who speaker = who::aula;
  std::string text;
  source_pos pos;
};

struct transcript_case {
  std::string name;
  std::string flow;
  std::string lang;
  std::map<std::string, std::string> contact;
  int buttons = 0;
  std::string start_at;
  std::vector<transcript_turn> turns;
  std::optional<std::string> status;
  std::optional<int> score, score_max;
  std::map<std::string, nlohmann::json> answers;
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

}  // namespace aula
