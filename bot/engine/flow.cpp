#include "bot/engine/flow.hpp"

#include "bot/engine/text.hpp"

namespace aula {

const std::string& localized::get(const std::string& lang, const std::string& base) const {
  static const std::string none;
  if (auto it = by_lang.find(lang); it != by_lang.end()) return it->second;
  if (auto it = by_lang.find(base); it != by_lang.end()) return it->second;
  if (!by_lang.empty()) return by_lang.begin()->second;
  return none;
}

const char* to_string(node_kind k) {
  switch (k) {
    case node_kind::message: return "message";
    case node_kind::question: return "question";
    case node_kind::quiz: return "quiz";
    case node_kind::split: return "split";
    case node_kind::random: return "random";
    case node_kind::set: return "set";
    case node_kind::wait: return "wait";
    case node_kind::subflow: return "subflow";
    case node_kind::webhook: return "webhook";
    case node_kind::end: return "end";
  }
  return "?";
}

const char* to_string(question_type t) {
  switch (t) {
    case question_type::choice: return "choice";
    case question_type::multi: return "multi";
    case question_type::text: return "text";
    case question_type::number: return "number";
    case question_type::date: return "date";
    case question_type::scale: return "scale";
    case question_type::nps: return "nps";
  }
  return "?";
}

const char* to_string(end_status s) {
  switch (s) {
    case end_status::completed: return "completed";
    case end_status::failed: return "failed";
    case end_status::expired: return "expired";
    case end_status::interrupted: return "interrupted";
  }
  return "?";
}

std::optional<question_type> question_type_from(const std::string& s) {
  for (auto t : {question_type::choice, question_type::multi, question_type::text, question_type::number,
                 question_type::date, question_type::scale, question_type::nps})
    if (s == to_string(t)) return t;
  return std::nullopt;
}

std::optional<end_status> end_status_from(const std::string& s) {
  for (auto t : {end_status::completed, end_status::failed, end_status::expired, end_status::interrupted})
    if (s == to_string(t)) return t;
  return std::nullopt;
}

const char* to_string(start_policy p) {
  switch (p) {
    case start_policy::interrupt: return "interrupt";
    case start_policy::skip: return "skip";
    case start_policy::queue: return "queue";
  }
  return "?";
}

std::optional<start_policy> start_policy_from(const std::string& s) {
  for (auto p : {start_policy::interrupt, start_policy::skip, start_policy::queue})
    if (s == to_string(p)) return p;
  return std::nullopt;
}

const node* flow::find(const std::string& node_id) const {
  auto it = nodes.find(node_id);
  return it == nodes.end() ? nullptr : &it->second;
}

bool trigger::keyword_is(std::size_t i, std::string_view f) const {
  if (folded.size() == keywords.size()) return folded[i] == f;
  return fold(keywords[i]) == f;
}

const flow* flow_set::find(const std::string& id) const {
  auto it = flows.find(id);
  return it == flows.end() ? nullptr : &it->second;
}

}  // namespace aula
