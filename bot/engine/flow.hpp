// The flow model: what a flow file means once read. Channel-neutral and free of YAML; the
// authoring library (bot/authoring) builds it from files and reports positions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
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

enum class node_kind { message, question, quiz, split, random, set, wait, subflow, webhook, end };
enum class question_type { choice, multi, text, number, date, scale, nps };
// What happens when a flow is started for a learner who is already in another one.
enum class start_policy { interrupt, skip, queue };
enum class end_status { completed, failed, expired, interrupted };

const char* to_string(node_kind k);
const char* to_string(question_type t);
const char* to_string(end_status s);
std::optional<question_type> question_type_from(const std::string& s);
std::optional<end_status> end_status_from(const std::string& s);
const char* to_string(start_policy p);
std::optional<start_policy> start_policy_from(const std::string& s);

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

// An image, document (PDF) or audio sent with a message, by URL; the message text is its caption.
struct media {
  std::string type;  // image | document | audio
  std::string url;
  std::string filename;  // documents: the name the learner sees
  std::int64_t size_kb = 0;  // declared size, checked against channel limits; 0 = unknown
  source_pos pos;
};

// A question's reply timeout: remind after `after_ms` (up to max_reminders times, each after
// `after_ms`), then after one more `after_ms` leave through `next` (if any).
struct reply_timeout {
  std::int64_t after_ms = 0;
  localized remind;
  int max_reminders = 0;
  std::string next;
  source_pos pos, next_pos;
};

// A condition of a split, parsed from text such as
//   answers.rol == inspector-federal and score.total >= 3
// (see condition.hpp). Kept here as its source text and parsed form.
struct condition_term {
  bool negate = false;
  std::string var;
  std::string op;  // empty: "is set"; == != < <= > >= in contains
  std::vector<std::string> values;
};
struct condition {
  std::string source;
  std::vector<std::vector<condition_term>> any;  // OR of ANDs
};

struct split_case {
  condition when;
  std::string next;
  source_pos pos, next_pos;
};

struct random_branch {
  int weight = 1;
  std::string next;
  source_pos pos, next_pos;
};

struct set_action {
  std::string target;  // contact.X or answers.X
  std::string value;   // may hold {{variables}}
  source_pos pos;
};

struct wait_spec {
  std::int64_t for_ms = 0;           // a true delay
  std::optional<int> until_minutes;  // or a local time of day (minutes after midnight) ...
  int days = 0;                      // ... this many days later (0: the next such time)
};

struct webhook_spec {
  std::string method = "POST";
  std::string url;  // may hold {{variables}}
  std::map<std::string, std::string> headers;
  std::string body;  // JSON text; {{variables}} inside are filled in, JSON-escaped
  std::int64_t timeout_ms = 10'000;
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

  // message
  std::optional<media> attachment;

  // question and quiz: reminders, then a timeout exit
  std::optional<reply_timeout> timeout;

  // split: the first case whose condition holds, else `next` (its default)
  std::vector<split_case> cases;
  // random: weighted branches (A/B), drawn with the step's seed
  std::vector<random_branch> branches;
  // set
  std::vector<set_action> sets;
  // wait
  wait_spec wait;
  // subflow: the flow to run; on return `next`, or `on_failure` if it did not complete
  std::string subflow;
  source_pos subflow_pos;
  std::string on_failure;  // subflow and webhook
  source_pos on_failure_pos;
  // webhook: the request; `next` on 2xx, `on_failure` otherwise, `on_timeout` without answer
  webhook_spec webhook;
  std::string on_timeout;
  source_pos on_timeout_pos;

  // end
  end_status status = end_status::completed;

  // Nodes that stop the step and wait for something: a reply, a timer, a webhook's answer.
  bool waits() const {
    return kind == node_kind::question || kind == node_kind::quiz || kind == node_kind::wait ||
           kind == node_kind::webhook;
  }
  bool asks() const { return kind == node_kind::question || kind == node_kind::quiz; }
};

struct flow {
  int spec = 1;
  std::string id;
  localized name;
  std::string language = "es";  // base language
  std::string start;
  std::int64_t expire_after_ms = 0;  // a run waiting this long for the learner expires; 0 = never
  std::string on_expire;             // node to go to on expiry (an `end: expired` with a message)
  source_pos on_expire_pos;
  // Warnings the author has weighed and accepted for this flow (`accept:`), e.g. "sms-unicode"
  // (emoji cost UCS-2 segments on SMS) or "late-reminders" (reminders after WhatsApp's 24 h).
  std::vector<std::string> accepted;
  std::map<std::string, node> nodes;
  std::vector<std::string> order;  // node ids in file order
  source_pos pos;
  // Publishing a new version: a learner waiting at a node this version no longer has goes to
  // migrate[old node] when listed, else to `fallback` (else to `start`). Nobody is stranded.
  std::map<std::string, std::string> migrate;
  std::map<std::string, source_pos> migrate_pos;
  std::string fallback;
  source_pos fallback_pos;

  const node* find(const std::string& node_id) const;
};

// A keyword that starts a flow (flows/triggers.yaml).
struct trigger {
  std::vector<std::string> keywords;  // matched whole, folded (case and accents ignored)
  std::vector<std::string> folded;    // keywords[i] folded, made once at load (matched per message)
  // Whether keywords[i] folded is `f` (a folded text): by `folded` as loaded, or folding it now
  // for a trigger built without it.
  bool keyword_is(std::size_t i, std::string_view f) const;
  std::string flow;
  std::string course;  // or a course (flows/course.yaml): enrols, or opens the waiting module
  start_policy policy = start_policy::interrupt;
  source_pos pos;
};

// flows/triggers.yaml: keyword triggers, what MENU lists, the help text.
struct trigger_set {
  std::vector<trigger> triggers;
  std::vector<std::string> menu;  // flow ids, in order
  localized help;
  std::string language = "es";
};

struct course_set;
struct course_def;

// Every loaded flow by id, the triggers and the courses (flows/course.yaml).
struct flow_set {
  std::map<std::string, flow> flows;
  trigger_set triggers;
  std::shared_ptr<const course_set> courses;  // never null once loaded; may be empty
  const flow* find(const std::string& id) const;
  const course_def* course(const std::string& id) const;
};

// Current format version of flow files this build reads (files with older specs migrate).
inline constexpr int current_flow_spec = 1;

}  // namespace aula
