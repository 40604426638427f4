#include "bot/io/log.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <mutex>

#include <sys/stat.h>
#include <vector>

#include "bot/engine/json_text.hpp"

namespace aula::log {
namespace {

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

struct state {
  std::mutex mu;  // guards sink and secrets; also serializes writes so lines never interleave
  sink out;
  std::vector<std::string> secrets;
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
  std::tm tm{};
  gmtime_r(&t, &tm);
  // "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", without printf's parsing of it on every line.
  char buf[32] = "0000-00-00T00:00:00.000Z";
  const auto digits = [&buf](int at, int width, long v) {
    for (int k = at + width - 1; k >= at; --k, v /= 10) buf[k] = static_cast<char>('0' + v % 10);
  };
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
nlohmann::json mask_strings(const nlohmann::json& v) {
  // Secrets first: a bot token begins with a long number, and a masked one would no longer
  // match its registered value.
  if (v.is_string()) return mask_numbers(redact(v.get<std::string>()));
  if (v.is_object() || v.is_array()) {
    nlohmann::json out = v;
    for (auto it = out.begin(); it != out.end(); ++it) *it = mask_strings(*it);
    return out;
  }
  return v;
}

std::string format_any(level lvl, std::string_view msg, const nlohmann::json& fields, bool journal_line);

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
  std::size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      out += text[i++];
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    const std::size_t n = j - i;
    if (n >= 8) {
      out += std::string(n - 4, '*');
      out += text.substr(j - 4, 4);
    } else {
      out += text.substr(i, n);
    }
    i = j;
  }
  return out;
}

bool secret_field_name(std::string_view name) {
  auto n = lower(name);
  for (const char* w : {"token", "secret", "password", "passwd", "authorization", "api_key", "apikey", "signature"})
    if (n.find(w) != std::string::npos) return true;
  return false;
}

std::string format_line(level lvl, std::string_view msg, const nlohmann::json& fields) {
  return format_any(lvl, msg, fields, false);
}

std::string format_journal_line(level lvl, std::string_view msg, const nlohmann::json& fields) {
  return format_any(lvl, msg, fields, true);
}

namespace {

std::string format_any(level lvl, std::string_view msg, const nlohmann::json& fields, bool journal_line) {
  std::string line = journal_line ? "<" + std::to_string(syslog_priority(lvl)) + ">{\"level\":\"" + level_name(lvl) + "\",\"msg\":"
                                  : "{\"ts\":\"" + timestamp() + "\",\"level\":\"" + level_name(lvl) + "\",\"msg\":";
  // Strings appended as dump() of their JSON value writes them (json_text::append_string).
  json_text::append_string(line, mask_numbers(redact(std::string(msg))));
  auto add = [&line](const std::string& key, const nlohmann::json& value) {
    std::string k = (key == "ts" || key == "level" || key == "msg") ? "field_" + key : key;
    line += ',';
    json_text::append_string(line, k);
    line += ':';
    if (secret_field_name(k) && !value.is_null() && !(value.is_string() && value.get_ref<const std::string&>().empty()))
      line += "\"***\"";
    else if (value.is_string())
      json_text::append_string(line, mask_numbers(redact(value.get<std::string>())));
    else
      line += dump(mask_strings(value));
  };
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) add(it.key(), it.value());
  } else if (!fields.is_null()) {
    add("data", fields);
  }
  line += '}';
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  return redact_locked(std::move(line), st.secrets);
}

}  // namespace

void write(level lvl, std::string_view msg, const nlohmann::json& fields) {
  if (static_cast<int>(lvl) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line = journal() ? format_journal_line(lvl, msg, fields) : format_line(lvl, msg, fields);
  auto& st = the_state();
  std::lock_guard lock(st.mu);
  if (st.out) {
    st.out(line);
  } else {
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
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
