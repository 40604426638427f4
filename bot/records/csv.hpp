// CSV for reports opened in spreadsheets: RFC 4180 (quoted when a cell holds the delimiter,
// a quote or a line break; quotes doubled; CRLF between rows), UTF-8 as given, optionally
// behind a byte order mark (Excel reads UTF-8 without mojibake only with one).
//
// Formula injection: a spreadsheet runs a cell that begins with = + - @ (and, in some, a tab or
// carriage return before one), so a learner who types "=HYPERLINK(…)" would put a live formula
// in a facilitator's sheet. Such text cells get a leading apostrophe, which shows the text as
// typed. JSON numbers are not text: -3 stays a number.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace aula::records {

struct csv_options {
  bool bom = false;        // start with EF BB BF
  char delimiter = ',';    // ';' for spreadsheets in Spanish locales
  bool neutralize = true;  // the leading apostrophe on formula-like text
};

// One cell as it goes in the file (quoted when needed, neutralized when text).
std::string csv_cell(std::string_view text, const csv_options& options = {});

class csv_writer {
 public:
  explicit csv_writer(std::ostream& out, csv_options options = {});
  void row(const std::vector<std::string>& cells);

 private:
  std::ostream& out_;
  csv_options options_;
  bool started_ = false;
};

// A header row of `columns`, then one row per object of `rows` (a JSON array of flat objects):
// a missing or null field is an empty cell, strings as they are, numbers and booleans as JSON
// writes them, arrays and objects as their JSON text.
std::string json_to_csv(const nlohmann::json& rows, const std::vector<std::string>& columns,
                        const csv_options& options = {});

}  // namespace aula::records
