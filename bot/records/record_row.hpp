// A result record's fields read from its text in one pass, for the record keeper's inserts.
//
// The commit writes every record as a flat JSON object (engine.cpp result_record::to_text, the
// sender's send_records.cpp): strings, integers, booleans. Reading those members straight from
// the text is a few thousand instructions; json_text::values (the general picker) builds a
// document value per member. read_row takes the flat shape only and gives up on anything else
// (a byte that is not UTF-8, an escape JSON does not have or a lone surrogate, a float, an
// array or object among the members it reads — but a value object in a JSON writer's form —,
// a member of its own given twice, an integer
// outside 64 bits, text after the object, nesting deeper than 64); members it does not read
// (a merged sent record's "parts") are checked as JSON and skipped. The caller then
// picks the record as before, so what is stored never depends on which reader read it
// (tests/records: both readers' rows compared on random and mutated records).
//
// Internal to bot/records.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace aula::records::detail {

// object: the value member only, a flat object in the form a JSON writer gives it (record_row::
// value_object).
enum class row_kind : std::uint8_t { absent, null, string, integer, boolean, object };

struct row_value {
  row_kind kind = row_kind::absent;
  bool flag = false;         // boolean
  std::int64_t integer = 0;  // integer
  std::string_view text;     // string: its characters (in the record's text, or in
                             // record_row::decoded when it had escapes)
};

struct record_row {
  // The members the record store reads (record_paths()).
  enum slot : std::uint8_t {
    conv, id, type, channel, flow, version, run, node, value, text, status, correct, final_, points, attempt,
    segments, messages, at, count
  };
  std::array<row_value, count> v;
  std::array<std::string, count> decoded;  // the strings that had escapes, decoded
  // A value that is an object (a course record's {"course", "module", "max"}, a consent's
  // decision): read in one pass only when its text is what a JSON writer gives for it (compact,
  // members in key order, strings without escapes, integers, booleans, null), which is then
  // its text in the store; its members the store reads.
  std::string_view value_text;
  row_value course, module, max;
  const row_value& operator[](slot s) const { return v[s]; }
  // The slot of a member's name, -1 for a member the store does not read.
  static int slot_of(std::string_view key);
};

// Fills `row` from `text` when the text is a flat JSON object as described above; false when
// it is not (`row` is then unspecified).
bool read_row(std::string_view text, record_row& row);

}  // namespace aula::records::detail
