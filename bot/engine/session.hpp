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
};

// How the previous run ended, for templates and for the course layer.
struct last_run {
  std::string flow;
  std::string status;
  int score = 0;
  int score_max = 0;
};

struct session {
  static constexpr int format = 1;

  std::int64_t version = 0;  // bumped by the store on each commit (optimistic concurrency)
  std::string lang;          // learner's language; empty = the flow's base language
  std::map<std::string, std::string> contact;  // name, state, role, ...
  std::map<std::string, saved_answer> answers;  // by save_as name, across flows
  std::optional<run_state> run;
  std::optional<last_run> last;

  nlohmann::json to_json() const;
  std::string dump() const { return to_json().dump(); }
  // Reads a session; throws std::runtime_error on a format it does not know.
  static session from_json(const nlohmann::json& j);
  static session parse(const std::string& s) { return from_json(nlohmann::json::parse(s)); }
};

}  // namespace aula
