// Text helpers for matching what learners type: UTF-8 decoding, case and accent folding,
// number parsing. Pure functions; invalid UTF-8 never throws (it decodes to U+FFFD).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aula {

// Decodes UTF-8 into code points; malformed sequences become U+FFFD.
std::u32string utf8_decode(std::string_view s);
// Whether s is well-formed UTF-8 (what utf8_decode decodes without a U+FFFD of its own).
bool utf8_valid(std::string_view s);
void utf8_append(std::string& out, char32_t cp);

// Folds text for comparison: letters lower-cased with accents removed ("Sí" -> "si",
// "Ñandú" -> "nandu"), digits kept, every other character (punctuation, ¿ ¡, emoji,
// control characters) treated as a space; runs of spaces collapsed; trimmed.
std::string fold(std::string_view s);

// Trims ASCII and Unicode whitespace at both ends.
std::string trim(std::string_view s);

// Parses a number as learners write it: "5", "-2", "3.5", "3,5", "5 años" (a single number
// with words around it). Two numbers ("entre 3 y 4") or none give nullopt.
std::optional<double> parse_number(std::string_view s);

// Parses a whole non-negative integer ("2", " 10 "); anything else gives nullopt.
std::optional<long> parse_index(std::string_view s);

// Splits a multi-choice reply: "1, 4 y 7", "1 4 7", "a; c" -> parts.
std::vector<std::string> split_multi(std::string_view s);

// Edit distance on folded text, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

// Formats a double without a trailing ".0" ("5", "3.5").
std::string format_number(double v);

}  // namespace aula
