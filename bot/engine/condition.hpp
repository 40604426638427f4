// Conditions of `split` nodes, written as text an administrator can read:
//
//   answers.rol == inspector-federal
//   score.total >= 3 and lang == es
//   contact.estado in [jal, nl, "Ciudad de México"] or cohort == piloto
//   not answers.temas contains marco-legal
//   answers.necesidades                     (set and not empty)
//
// Grammar: expr := conj ("or" conj)* ; conj := term ("and" term)* ;
// term := ["not"] var [op value] ; op := == != < <= > >= in contains ;
// value := number | bare-word | "quoted" | 'quoted' | [value, ...].
// Comparison: numeric when both sides are numbers, else text folded (case and accents
// ignored). A list variable (a multi answer, the learner's cohorts) matches == / in /
// contains when any of its elements does.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bot/engine/flow.hpp"

namespace aula {

struct condition_error {
  int offset = 0;  // 0-based byte offset in the source text
  std::string message;
};

// Parses `text`; on error returns nullopt and fills `err`.
std::optional<condition> parse_condition(const std::string& text, condition_error& err);

// A variable's value: a string, number, bool or array; null when unset.
using value_lookup = std::function<nlohmann::json(const std::string& var)>;

bool evaluate(const condition& c, const value_lookup& lookup);

}  // namespace aula
