#include "bot/records/csv.hpp"

#include <sstream>
#include <stdexcept>

namespace aula::records {

namespace {

std::string quote_cell(std::string_view text, char delimiter) {
  const bool needs = text.find_first_of(std::string{delimiter, '"', '\r', '\n'}) != std::string_view::npos;
  if (!needs) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

bool formula_like(std::string_view text) {
  return !text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos;
}

std::string cell_of(const nlohmann::json& v, const csv_options& o) {
  if (v.is_null()) return {};
  if (v.is_string()) return csv_cell(v.get_ref<const std::string&>(), o);
  // Numbers and booleans cannot be formulas; arrays and objects start with [ or {.
  return quote_cell(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), o.delimiter);
}

void write_row(std::ostream& out, const std::vector<std::string>& cells, char delimiter) {
  for (std::size_t k = 0; k < cells.size(); ++k) {
    if (k) out << delimiter;
    out << cells[k];
  }
  out << "\r\n";
}

}  // namespace

std::string csv_cell(std::string_view text, const csv_options& o) {
  if (o.neutralize && formula_like(text)) return quote_cell("'" + std::string(text), o.delimiter);
  return quote_cell(text, o.delimiter);
}

csv_writer::csv_writer(std::ostream& out, csv_options options) : out_(out), options_(options) {}

void csv_writer::row(const std::vector<std::string>& cells) {
  if (!started_ && options_.bom) out_ << "\xEF\xBB\xBF";
  started_ = true;
  std::vector<std::string> line;
  line.reserve(cells.size());
  for (const auto& c : cells) line.push_back(csv_cell(c, options_));
  write_row(out_, line, options_.delimiter);
}

std::string json_to_csv(const nlohmann::json& rows, const std::vector<std::string>& columns, const csv_options& o) {
  if (!rows.is_array()) throw std::invalid_argument("json_to_csv: the rows are not a JSON array");
  std::ostringstream out;
  if (o.bom) out << "\xEF\xBB\xBF";
  std::vector<std::string> line;
  for (const auto& c : columns) line.push_back(csv_cell(c, o));
  write_row(out, line, o.delimiter);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.is_object()) throw std::invalid_argument("json_to_csv: row " + std::to_string(i) + " is not a JSON object");
    line.clear();
    for (const auto& c : columns) {
      auto it = r.find(c);
      line.push_back(it == r.end() ? std::string() : cell_of(*it, o));
    }
    write_row(out, line, o.delimiter);
  }
  return out.str();
}

}  // namespace aula::records
