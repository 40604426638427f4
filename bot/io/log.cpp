#include "bot/io/log.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include <sys/stat.h>
#include <vector>

#include "bot/engine/json_text.hpp"

namespace aula::log {
namespace {

// Digit runs this long or longer are masked in every string written (mask_numbers).
constexpr std::size_t masked_run = 8;

std::atomic<int> g_min_level{static_cast<int>(level::info)};
std::atomic<int> g_journal{-1};  // -1: not decided yet

// JOURNAL_STREAM=<dev>:<ino> names the stream systemd connected; it is ours when stderr is it.
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js || !*js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

int syslog_priority(level l) {
  switch (l) {
    case level::debug: return 7;
    case level::info: return 6;
    case level::warn: return 4;
    case level::error: return 3;
  }
  return 6;
}

void write_stderr(const std::string& bytes) {
  std::fwrite(bytes.data(), 1, bytes.size(), stderr);
  std::fflush(stderr);
}

constexpr std::size_t held_max = 16 * 1024;

struct state {
  std::mutex mu;  // guards sink and secrets; also serializes writes so lines never interleave
  sink out;
  std::vector<std::string> secrets;
  std::string held;  // access-log lines waiting to be written to stderr (write_flat_held)
  ~state() {
    // At exit: what waits is written (static destruction runs before stdio closes stderr).
    std::lock_guard lock(mu);
    if (!held.empty()) write_stderr(held);
  }
};

state& the_state() {
  static state s;
  return s;
}

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t t = system_clock::to_time_t(now);
  // "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", without printf's parsing of it on every line; the
  // date and time of the last second this thread wrote are kept (a line per request).
  thread_local std::time_t last_t = -1;
  thread_local char buf[32] = "0000-00-00T00:00:00.000Z";
  const auto digits = [](int at, int width, long v) {
    for (int k = at + width - 1; k >= at; --k, v /= 10) buf[k] = static_cast<char>('0' + v % 10);
  };
  if (t == last_t && ms >= 0) {
    digits(20, 3, ms);
    return std::string(buf, 24);
  }
  std::tm tm{};
  gmtime_r(&t, &tm);
  const int year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) {
    char wide[96];
    std::snprintf(wide, sizeof wide, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return wide;
  }
  digits(0, 4, year);
  digits(5, 2, tm.tm_mon + 1);
  digits(8, 2, tm.tm_mday);
  digits(11, 2, tm.tm_hour);
  digits(14, 2, tm.tm_min);
  digits(17, 2, tm.tm_sec);
  digits(20, 3, ms);
  last_t = t;
  return std::string(buf, 24);
}

std::string dump(const nlohmann::json& j) {
  // Invalid UTF-8 (a learner's bytes, a provider's garbage) must not throw inside a log call.
  return json_text::write(j, nlohmann::json::error_handler_t::replace);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string redact_locked(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    for (std::size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos)) {
      text.replace(pos, s.size(), "[redacted]");
      pos += 10;
    }
  }
  return text;
}

// String values (recursively) with long digit runs masked.
nlohmann::json mask_strings(const nlohmann::json& v, const std::vector<std::string>& secrets) {
  // Secrets first: a bot token begins with a long number, and a masked one would no longer
  // match its registered value.
  if (v.is_string()) return mask_numbers(redact_locked(v.get<std::string>(), secrets));
  if (v.is_object() || v.is_array()) {
    nlohmann::json out = v;
    for (auto it = out.begin(); it != out.end(); ++it) *it = mask_strings(*it, secrets);
    return out;
  }
  return v;
}

// The parts of a line, written with the log's lock held (`secrets` is the registered list).
struct line_writer {
  std::string line;
  const std::vector<std::string>& secrets;

  line_writer(level lvl, std::string_view msg, bool journal_line, const std::vector<std::string>& s) : secrets(s) {
    if (journal_line) {
      line = "<" + std::to_string(syslog_priority(lvl)) + ">{\"level\":\"";
    } else {
      line = "{\"ts\":\"";
      line += timestamp();
      line += "\",\"level\":\"";
    }
    line += level_name(lvl);
    line += "\",\"msg\":";
    // Strings appended as dump() of their JSON value writes them (json_text::append_string).
    clean(msg);
  }
  // A string value, its secrets redacted and its long digit runs masked: copied only when
  // either changes it (most values: neither).
  void clean(std::string_view v) {
    if (needs_cleaning(v))
      json_text::append_string(line, mask_numbers(redact_locked(std::string(v), secrets)));
    else
      json_text::append_string(line, v);
  }
  bool needs_cleaning(std::string_view v) const {
    for (const auto& s : secrets)
      if (v.find(s) != std::string_view::npos) return true;
    std::size_t run = 0;  // digits in a row (mask_numbers masks the longer runs)
    for (const char c : v)
      if (c < '0' || c > '9')
        run = 0;
      else if (++run == masked_run)
        return true;
    return false;
  }
  // The field's key (renamed when it would forge the line's own) and whether its value is
  // masked whole.
  bool key(std::string_view key) {
    line += ',';
    const bool own = key == "ts" || key == "level" || key == "msg";
    if (own) {
      json_text::append_string(line, "field_" + std::string(key));
      line += ':';
      return false;
    }
    json_text::append_string(line, key);
    line += ':';
    return secret_field_name(key);
  }
  void string(std::string_view key_name, std::string_view value) {
    if (key(key_name) && !value.empty())
      line += "\"***\"";
    else
      clean(value);
  }
  void integer(std::string_view key_name, std::int64_t value) {
    if (key(key_name))
      line += "\"***\"";
    else
      line += std::to_string(value);
  }
  void value(const std::string& key_name, const nlohmann::json& value) {
    if (value.is_string()) return string(key_name, value.get_ref<const std::string&>());
    if (key(key_name) && !value.is_null())
      line += "\"***\"";
    else
      line += dump(mask_strings(value, secrets));
  }
  std::string finish() {
    line += '}';
    return redact_locked(std::move(line), secrets);
  }
};

std::string format_any(level lvl, std::string_view msg, const nlohmann::json& fields, bool journal_line,
                       const std::vector<std::string>& secrets);
std::string format_flat(level lvl, std::string_view msg, const flat_field* first, const flat_field* last,
                        bool journal_line, const std::vector<std::string>& secrets);

void flush_held(state& st) {
  if (st.held.empty()) return;
  write_stderr(st.held);
  st.held.clear();
}

// Out with the log's lock held; held lines first, so the order stays the order of the calls.
void emit(state& st, std::string& line) {
  if (st.out) {
    flush_held(st);
    st.out(line);
  } else if (st.held.empty()) {
    line += '\n';
    write_stderr(line);
  } else {
    st.held += line;
    st.held += '\n';
    flush_held(st);
  }
}

}  // namespace

const char* level_name(level l) {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

bool journal() {
  int j = g_journal.load(std::memory_order_relaxed);
  if (j < 0) {
    j = stderr_is_journal() ? 1 : 0;
    g_journal.store(j, std::memory_order_relaxed);
  }
  return j == 1;
}

void set_journal(bool on) { g_journal.store(on ? 1 : 0, std::memory_order_relaxed); }


std::string mask_numbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;  // text before it is in out
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] < '0' || text[i] > '9') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j - i >= masked_run) {
      out.append(text, copied, i - copied);
      out.append(j - i - 4, '*');
      copied = j - 4;
    }
    i = j;
  }
  out.append(text, copied, text.size() - copied);
  return out;
}

bool secret_field_name(std::string_view name) {
  // ASCII case folding inline (std::tolower is a call into the C library per character, and
  // every field of every log line is checked: the access log writes one per request).
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; };
  for (const std::string_view w : {"token", "secret", "password", "passwd", "authorization", "api_key", "apikey", "signature"})
    for (std::size_t at = 0; at + w.size() <= name.size(); ++at) {
      std::size_t k = 0;
      while (k < w.size() && lower(name[at + k]) == w[k]) ++k;
      if (k == w.size()) return true;
    }
  return false;
}

std::string format_line(level lvl, std::string_view msg, const nlohmann::json& fields) {
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  return format_any(lvl, msg, fields, false, st.secrets);
}

std::string format_journal_line(level lvl, std::string_view msg, const nlohmann::json& fields) {
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  return format_any(lvl, msg, fields, true, st.secrets);
}

std::string format_flat_line(level lvl, std::string_view msg, const std::vector<flat_field>& fields) {
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  return format_flat(lvl, msg, fields.data(), fields.data() + fields.size(), false, st.secrets);
}

namespace {

std::string format_any(level lvl, std::string_view msg, const nlohmann::json& fields, bool journal_line,
                       const std::vector<std::string>& secrets) {
  line_writer w(lvl, msg, journal_line, secrets);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) w.value(it.key(), it.value());
  } else if (!fields.is_null()) {
    w.value("data", fields);
  }
  return w.finish();
}

std::string format_flat(level lvl, std::string_view msg, const flat_field* first, const flat_field* last,
                        bool journal_line, const std::vector<std::string>& secrets) {
  // In key order, the first of a repeated key, as a JSON object of these fields keeps them.
  std::array<const flat_field*, 16> order{};
  std::size_t n = 0;
  for (const flat_field* it = first; it != last; ++it) {
    const flat_field& f = *it;
    if (n == order.size()) throw std::logic_error("log: more than 16 flat fields");
    const auto at = std::lower_bound(order.begin(), order.begin() + n, f.key,
                                     [](const flat_field* a, std::string_view k) { return a->key < k; });
    if (at != order.begin() + n && (*at)->key == f.key) continue;
    std::copy_backward(at, order.begin() + n, order.begin() + n + 1);
    *at = &f;
    ++n;
  }
  line_writer w(lvl, msg, journal_line, secrets);
  for (std::size_t k = 0; k < n; ++k) {
    const flat_field& f = *order[k];
    if (const auto* text = std::get_if<std::string_view>(&f.value)) w.string(f.key, *text);
    else w.integer(f.key, std::get<std::int64_t>(f.value));
  }
  return w.finish();
}

}  // namespace

void write(level lvl, std::string_view msg, const nlohmann::json& fields) {
  if (static_cast<int>(lvl) < g_min_level.load(std::memory_order_relaxed)) return;
  const bool journal_line = journal();
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  std::string line = format_any(lvl, msg, fields, journal_line, st.secrets);
  emit(st, line);
}

namespace {

// write_flat's line, written at once or (`hold`, on stderr) held; true when it is the first held.
bool put_flat(level lvl, std::string_view msg, std::initializer_list<flat_field> fields, bool hold) {
  if (static_cast<int>(lvl) < g_min_level.load(std::memory_order_relaxed)) return false;
  const bool journal_line = journal();
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  std::string line = format_flat(lvl, msg, fields.begin(), fields.end(), journal_line, st.secrets);
  if (!hold || st.out) {
    emit(st, line);
    return false;
  }
  const bool first = st.held.empty();
  st.held += line;
  st.held += '\n';
  if (st.held.size() < held_max) return first;
  flush_held(st);
  return false;
}

}  // namespace

void write_flat(level lvl, std::string_view msg, std::initializer_list<flat_field> fields) {
  put_flat(lvl, msg, fields, false);
}

bool write_flat_held(level lvl, std::string_view msg, std::initializer_list<flat_field> fields) {
  return put_flat(lvl, msg, fields, true);
}

void flush() {
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  flush_held(st);
}

void set_min_level(level lvl) { g_min_level.store(static_cast<int>(lvl), std::memory_order_relaxed); }
level min_level() { return static_cast<level>(g_min_level.load(std::memory_order_relaxed)); }

bool parse_level(std::string_view text, level& out) {
  auto t = lower(text);
  if (t == "debug") out = level::debug;
  else if (t == "info") out = level::info;
  else if (t == "warn" || t == "warning") out = level::warn;
  else if (t == "error") out = level::error;
  else return false;
  return true;
}

void set_sink(sink s) {
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  st.out = std::move(s);
}

void add_secret(const std::string& value) {
  if (value.size() < 4) return;
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  if (std::find(st.secrets.begin(), st.secrets.end(), value) == st.secrets.end()) {
    st.secrets.push_back(value);
    // Longest first, so a secret that contains another is redacted whole.
    std::sort(st.secrets.begin(), st.secrets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  }
}

void clear_secrets() {
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  st.secrets.clear();
}

std::string redact(std::string text) {
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  return redact_locked(std::move(text), st.secrets);
}

std::string mask_phone(std::string_view phone) {
  std::string digits;
  bool plus = false;
  for (char c : phone) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits += c;
    } else if (c == '+' && digits.empty()) {
      plus = true;
    } else if (c == ' ' || c == '-' || c == '(' || c == ')' || c == '.') {
      continue;
    } else {
      return "***";
    }
  }
  if (digits.empty()) return phone.empty() ? std::string{} : "***";
  if (digits.size() <= 4) return std::string(digits.size(), '*');
  std::string out = plus ? "+" : "";
  std::size_t keep_front = digits.size() >= 10 ? 2 : 0;
  out += digits.substr(0, keep_front);
  out += std::string(digits.size() - keep_front - 4, '*');
  out += digits.substr(digits.size() - 4);
  return out;
}

std::string mask_secret(std::string_view secret) { return secret.empty() ? "(not set)" : "(set)"; }

}  // namespace aula::log
