// The flow model: what a flow file means once read. Channel-neutral and free of YAML; the
// authoring library (bot/authoring) builds it from files and reports positions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aula {

// Where something came from in a flow file (1-based line and column; 0 when unknown).
struct source_pos {
  std::string file;
  int line = 0;
  int col = 0;
};

// A text in several languages: {es: "...", en: "..."}; a plain string is the base language.
struct localized {
  std::map<std::string, std::string> by_lang;

  bool empty() const { return by_lang.empty(); }
  // The text in `lang`, else in `base`, else any; empty when there is none.
  const std::string& get(const std::string& lang, const std::string& base) const;
};

enum class node_kind { message, question, quiz, end };
enum class question_type { choice, multi, text, number, scale, nps };
enum class end_status { completed, failed, expired, interrupted };

const char* to_string(node_kind k);
const char* to_string(question_type t);
const char* to_string(end_status s);
std::optional<question_type> question_type_from(const std::string& s);
std::optional<end_status> end_status_from(const std::string& s);

struct option {
  std::string id;
  localized label;
  bool correct = false;  // quiz
  localized feedback;    // quiz: sent when this option is chosen
  source_pos pos;
};

struct quiz_feedback {
  localized correct;    // chosen option is correct
  localized incorrect;  // wrong, no attempts left
  localized retry;      // wrong, attempts left
};

struct node {
  std::string id;
  node_kind kind = node_kind::message;
  source_pos pos;

  localized text;  // message text, question or quiz prompt, end message

  std::string next;  // empty for end nodes
  source_pos next_pos;

  // question and quiz
  question_type type = question_type::choice;
  std::vector<option> options;
  std::optional<double> min, max;  // number questions
  int min_choices = 1, max_choices = 1;  // multi
  localized invalid;                     // sent before asking again
  int max_retries = 2;                   // invalid answers tolerated before on_invalid
  std::string on_invalid;                // where to go after too many; empty = next
  source_pos on_invalid_pos;
  std::string save_as;

  // quiz
  quiz_feedback feedback;
  int points = 1;
  int attempts = 1;

  // end
  end_status status = end_status::completed;

  bool waits() const { return kind == node_kind::question || kind == node_kind::quiz; }
};

struct flow {
  int spec = 1;
  std::string id;
  localized name;
  std::string language = "es";  // base language
  std::string start;
  std::map<std::string, node> nodes;
  std::vector<std::string> order;  // node ids in file order
  source_pos pos;

  const node* find(const std::string& node_id) const;
};

// Every loaded flow by id.
struct flow_set {
  std::map<std::string, flow> flows;
  const flow* find(const std::string& id) const;
};

// Current format version of flow files this build reads (files with older specs migrate).
inline constexpr int current_flow_spec = 1;

}  // namespace aula
