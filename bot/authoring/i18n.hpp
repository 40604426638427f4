// Translation round trip through a spreadsheet (`aula i18n export|import`).
//
// Export lists every text of a flow file with a stable id (its path in the file), the text in
// the flow's base language and its translation in one language, as CSV that Excel and
// LibreOffice open as they are: RFC 4180, UTF-8 with a BOM, CRLF line ends, and cells that a
// spreadsheet would run as a formula (= + - @ tab CR first) behind an apostrophe.
//
// Import writes the translations back into the flow file's own text. It never re-emits the
// YAML: each change is a small patch at the place yaml-cpp marks for the text (line:col),
// so comments, key order, quoting and layout elsewhere stay as they were:
//   - a translation that exists is replaced in place:   en: "old"  ->  en: "new"
//   - a map without the language gets one more entry:   {es: "Hola"} -> {es: "Hola", en: "Hi"}
//     (in a block map, a new line `en: "Hi"` under the last entry)
//   - a plain text becomes a map:     message: Hola  ->  message: {es: "Hola", en: "Hi"}
//     (an option written as a bare label becomes {label: {es: …, en: …}}; its id does not change)
// Patched texts are written double-quoted (JSON-style escapes, so JSON flow files stay JSON).
// The result is then checked against what it must be: the file is parsed again and must be
// the old document with exactly those translations changed and nothing else, and must load
// with no errors; otherwise nothing is written.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bot/authoring/diagnostics.hpp"

namespace aula {

// One translatable text of a flow file.
struct i18n_text {
  // name, description, nodes.<node>.message|question|quiz|invalid, nodes.<node>.timeout.remind,
  // nodes.<node>.options.<option id>.label|feedback, nodes.<node>.feedback.correct|incorrect|retry
  std::string id;
  std::string source;                      // in the flow's base language ("" if the file has none)
  std::optional<std::string> translation;  // in the target language, when the file has it
};

// The texts of a flow file (YAML or JSON text) in file order, with their translations in
// `lang`. False (and the reasons in `diags`) when the file does not read as a flow.
bool list_texts(const std::string& file_text, const std::string& file, const std::string& lang,
                std::vector<i18n_text>& out, std::string& base_lang, diagnostics& diags);

// --- CSV (RFC 4180) ---

// A spreadsheet runs a cell that starts with = + - @ (or tab / CR) as a formula. Such a cell
// gets a leading apostrophe; so does one that already starts with apostrophes before such a
// character, which makes the round trip exact. restore_formula() undoes it.
std::string neutralize_formula(const std::string& cell);
std::string restore_formula(const std::string& cell);

// One field, quoted when it holds a comma, quote, CR or LF or starts/ends with a space.
std::string csv_field(const std::string& value);

struct csv_record {
  std::vector<std::string> cells;
  int line = 0;  // 1-based line where the record starts
};
// Parses CSV: quoted fields with "" for a quote and line breaks inside, CRLF / LF / CR line
// ends, a leading BOM. `delimiter` 0 means: guess from the first line (',' ';' or tab, as
// spreadsheets in some locales save). False with a message on bad input (unclosed quote,
// text that is not UTF-8).
bool csv_parse(const std::string& text, std::vector<csv_record>& out, std::string& error, char delimiter = 0);

// The export file: BOM, header "id,source,translation", one row per text, CRLF.
std::string export_csv(const std::vector<i18n_text>& texts);

// --- import ---

struct i18n_row {
  std::string id, source, translation;  // formulas restored, CRLF in cells read as LF
  int line = 0;
};
// Reads an export file back (columns found by their header: id, source, and translation or
// the language code; other columns are ignored).
bool read_translation_csv(const std::string& text, const std::string& lang, std::vector<i18n_row>& out,
                          std::string& error);

struct i18n_import {
  struct stale_row {
    std::string id;
    int line = 0;
    std::string csv_source, flow_source;
  };
  struct missing_text {
    std::string id;
    bool has_translation = false;  // the flow keeps the translation it has
  };
  std::vector<std::string> applied;    // ids whose translation changes
  std::vector<std::string> unchanged;  // ids whose translation is already that
  std::vector<missing_text> missing;   // texts with no row or an empty translation
  std::vector<stale_row> stale;        // source changed since the export: not applied
  std::vector<std::pair<std::string, int>> unknown;     // ids the flow does not have (row line)
  std::vector<std::pair<std::string, int>> duplicates;  // ids given again (row line; first wins)
  std::vector<std::string> warnings;   // e.g. {{variables}} that differ from the source
  std::string new_text;                // the file after the changes (== old when none)

  // Problems that stop the import unless forced.
  bool blocked() const { return !stale.empty() || !unknown.empty() || !duplicates.empty(); }
};

// Plans an import into a flow file: classifies the rows and produces the patched file text,
// checked as described at the top (parsed again, compared, read as a flow with no errors).
// False with `error` when the file cannot be patched safely.
bool plan_import(const std::string& file_text, const std::string& file, const std::string& lang,
                 const std::vector<i18n_row>& rows, i18n_import& out, std::string& error);

// Loads the flows of `flows_dir` with `file` replaced by `new_text` (through a temporary
// copy) and returns the errors that concern that file, positions given in `file`.
diagnostics check_in_context(const std::string& flows_dir, const std::string& file, const std::string& new_text);

// Replaces `file` with `text` atomically (a temporary file in the same folder, then rename),
// keeping its permissions. False with `error` on failure.
bool replace_file(const std::string& file, const std::string& text, std::string& error);

}  // namespace aula
