// One-line JSON logs on stderr: {"ts":"2026-01-05T15:00:00.123Z","level":"info","msg":"…",…fields}
// (under systemd: "<6>{\"level\":\"info\",…}", see journal()). The minimum level changes at run
// time (set_min_level; POST /admin/log-level).
// Thread-safe (one write per line). Secrets never reach a line: values registered with
// log::add_secret are replaced by "[redacted]" wherever they appear, and fields whose name
// says token/secret/password/authorization are masked whatever their value. Phone numbers
// are masked with log::mask_phone before they are passed in (+52*******1234), and as a last
// line of defence every run of 8+ digits in a string is masked (mask_numbers). Names and
// what learners typed are never passed in.
//
//   log::info("webhook accepted", {{"channel", "whatsapp"}, {"to", log::mask_phone(addr)}});
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace aula::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

// Writes one line if `lvl` is at or above the minimum level. `fields` should be a JSON object
// (anything else is logged under "data"). Keys "ts", "level" and "msg" in `fields` are
// renamed "field_ts", … so they cannot forge the line's own.
void write(level lvl, std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());

inline void debug(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) { write(level::debug, msg, f); }
inline void info(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) { write(level::info, msg, f); }
inline void warn(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) { write(level::warn, msg, f); }
inline void error(std::string_view msg, const nlohmann::json& f = nlohmann::json::object()) { write(level::error, msg, f); }

// A field of a line written without a JSON document (hot paths: the access log): a string
// or an integer. write_flat() writes the line write() gives for the JSON object of these
// fields (in key order; of a key given twice, the first). At most 16 fields.
struct flat_field {
  std::string_view key;
  std::variant<std::string_view, std::int64_t> value;
};
void write_flat(level lvl, std::string_view msg, std::initializer_list<flat_field> fields);
// The access log's lines (one per request): as write_flat, but on stderr a line may wait, in
// order, for the next ones, so that a busy server writes many lines per system call rather
// than one per request (as nginx's `access_log … buffer=`). Held lines are written when 16 KB
// wait, before any other line, by flush(), and at exit. Returns true when this line is the
// first held: the caller has flush() called soon (the HTTP server: within 100 ms). With a sink
// (tests) nothing is held.
bool write_flat_held(level lvl, std::string_view msg, std::initializer_list<flat_field> fields);
void flush();

// The line as write() would print it (without the newline); exposed for tests.
std::string format_line(level lvl, std::string_view msg, const nlohmann::json& fields);
// The same for journald: "<6>{\"level\":\"info\",\"msg\":…}" — the syslog priority first (debug 7,
// info 6, warn 4, error 3), no "ts" (the journal stamps each line itself).
std::string format_journal_line(level lvl, std::string_view msg, const nlohmann::json& fields);
// The line write_flat() would print (without the newline).
std::string format_flat_line(level lvl, std::string_view msg, const std::vector<flat_field>& fields);

// Journal mode: on when stderr is the journal stream systemd named in JOURNAL_STREAM
// ("<device>:<inode>" of the stream; checked against stderr, so a child whose stderr was
// redirected keeps the plain format). Decided on the first line; set_journal overrides.
bool journal();
void set_journal(bool on);

void set_min_level(level lvl);
level min_level();
// "debug" | "info" | "warn" | "error"; nullopt-like: returns false for anything else.
bool parse_level(std::string_view text, level& out);
const char* level_name(level lvl);

// Where lines go (default: stderr). Tests capture lines with it; pass nullptr to restore.
using sink = std::function<void(const std::string& line)>;
void set_sink(sink s);

// Values that must never appear in a log line (tokens, app secrets, passwords). Values
// shorter than 4 characters are ignored (they would redact ordinary words).
void add_secret(const std::string& value);
void clear_secrets();  // tests only
// `text` with every registered secret replaced by "[redacted]".
std::string redact(std::string text);

// A phone number with all but its last 4 digits masked: "+5215512341234" -> "+52*********1234"
// (a leading '+' and the country code's first two digits stay when the number is long enough
// to keep 4 hidden digits in between). Non-digit separators are dropped. Short inputs (≤ 4
// digits) are fully masked. Anything that is not a phone-like string (letters) is returned
// masked as "***".
std::string mask_phone(std::string_view phone);

// Every run of 8 or more digits in `text` with all but its last 4 digits masked: a phone
// number or a Telegram chat id inside a message, a URL path or an error never reaches a log
// line whole ("/admin/learners/whatsapp:%2B5215512345678" -> "…%2B*********5678"). write()
// applies it to the message and to every string value of the fields (numbers are left as
// they are: counts, times, ports).
std::string mask_numbers(std::string_view text);

// A secret for display: "" -> "(not set)", anything else -> "(set)". Never shows characters.
std::string mask_secret(std::string_view secret);

// Whether a field name looks like it carries a secret (token, secret, password, authorization,
// api_key, signature). Such fields are logged as "***".
bool secret_field_name(std::string_view name);

}  // namespace aula::log
