#include "bot/engine/timing.hpp"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "bot/engine/text.hpp"

namespace aula {

namespace {

using namespace std::chrono;

const date::time_zone* zone(const std::string& tz) {
  try {
    return date::locate_zone(tz.empty() ? default_time_zone : tz);
  } catch (const std::exception&) {
    return date::locate_zone(default_time_zone);
  }
}

date::local_days local_day_of(std::int64_t now_ms, const date::time_zone* z) {
  auto local = z->to_local(date::sys_time<milliseconds>{milliseconds{now_ms}});
  return date::floor<date::days>(local);
}

std::int64_t to_ms(date::local_time<minutes> lt, const date::time_zone* z) {
  auto sys = z->to_sys(lt, date::choose::earliest);
  return duration_cast<milliseconds>(sys.time_since_epoch()).count();
}

std::string ymd_string(date::year_month_day d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
  return buf;
}

}  // namespace

std::optional<std::int64_t> parse_duration(std::string_view s) {
  std::int64_t total = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    std::int64_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      n = n * 10 + (s[i++] - '0');
      if (n > 100'000'000) return std::nullopt;
    }
    if (i >= s.size()) return std::nullopt;  // a unit is required
    std::int64_t unit = 0;
    switch (s[i++]) {
      case 's': unit = 1000; break;
      case 'm': unit = 60'000; break;
      case 'h': unit = 3'600'000; break;
      case 'd': unit = 86'400'000; break;
      case 'w': unit = 7 * 86'400'000LL; break;
      default: return std::nullopt;
    }
    total += n * unit;
    any = true;
  }
  if (!any) return std::nullopt;
  return total;
}

std::string format_duration(std::int64_t ms) {
  if (ms <= 0) return "0s";
  std::string out;
  const std::pair<std::int64_t, char> units[] = {{86'400'000, 'd'}, {3'600'000, 'h'}, {60'000, 'm'}, {1000, 's'}};
  for (auto [u, c] : units) {
    if (ms >= u) {
      out += std::to_string(ms / u) + c;
      ms %= u;
    }
  }
  return out.empty() ? "0s" : out;
}

std::optional<int> parse_clock(std::string_view s) {
  std::string t = trim(s);
  auto colon = t.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 2 || t.size() != colon + 3) return std::nullopt;
  for (std::size_t i = 0; i < t.size(); ++i)
    if (i != colon && !std::isdigit(static_cast<unsigned char>(t[i]))) return std::nullopt;
  int h = std::stoi(t.substr(0, colon)), m = std::stoi(t.substr(colon + 1));
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

bool known_time_zone(const std::string& tz) {
  try {
    date::locate_zone(tz);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::int64_t next_local_time(std::int64_t now_ms, const std::string& tz, int minutes_of_day, int days) {
  const auto* z = zone(tz);
  auto day = local_day_of(now_ms, z) + date::days{days};
  auto at = to_ms(day + minutes{minutes_of_day}, z);
  if (days == 0 && at <= now_ms) at = to_ms(day + date::days{1} + minutes{minutes_of_day}, z);
  return at;
}

std::string format_local(std::int64_t ms, const std::string& tz) {
  const auto* z = zone(tz);
  auto local = date::floor<minutes>(z->to_local(date::sys_time<milliseconds>{milliseconds{ms}}));
  auto day = date::floor<date::days>(local);
  date::hh_mm_ss<minutes> hm{local - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s %02d:%02d", ymd_string(date::year_month_day{day}).c_str(),
                static_cast<int>(hm.hours().count()), static_cast<int>(hm.minutes().count()));
  return buf;
}

std::optional<std::int64_t> parse_instant(std::string_view text, const std::string& tz) {
  std::string s = trim(text);
  int y, mo, d, h = 0, mi = 0, sec = 0;
  char sep = 0;
  int used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &used) < 6 || (sep != ' ' && sep != 'T'))
    return std::nullopt;
  std::string rest = s.substr(static_cast<std::size_t>(used));
  if (rest.size() >= 3 && rest[0] == ':') {
    sec = std::atoi(rest.substr(1, 2).c_str());
    rest = rest.substr(3);
  }
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)}, date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;
  auto tod = hours{h} + minutes{mi} + seconds{sec};
  if (rest.empty()) {
    auto lt = date::local_days{ymd} + tod;
    auto sys = zone(tz)->to_sys(lt, date::choose::earliest);
    return duration_cast<milliseconds>(sys.time_since_epoch()).count();
  }
  int offset_min = 0;
  if (rest == "Z") {
    offset_min = 0;
  } else if ((rest[0] == '+' || rest[0] == '-') && rest.size() == 6 && rest[3] == ':') {
    offset_min = std::atoi(rest.substr(1, 2).c_str()) * 60 + std::atoi(rest.substr(4, 2).c_str());
    if (rest[0] == '-') offset_min = -offset_min;
  } else {
    return std::nullopt;
  }
  auto sys = date::sys_days{ymd} + tod - minutes{offset_min};
  return duration_cast<milliseconds>(sys.time_since_epoch()).count();
}

std::string local_date(std::int64_t now_ms, const std::string& tz) {
  return ymd_string(date::year_month_day{local_day_of(now_ms, zone(tz))});
}

std::optional<std::string> parse_date(std::string_view text, std::int64_t now_ms, const std::string& tz) {
  const std::string f = fold(text);
  const auto today = local_day_of(now_ms, zone(tz));
  if (f == "hoy" || f == "today") return ymd_string(date::year_month_day{today});
  if (f == "ayer" || f == "yesterday") return ymd_string(date::year_month_day{today - date::days{1}});
  if (f == "manana" || f == "tomorrow") return ymd_string(date::year_month_day{today + date::days{1}});

  static const char* months[][3] = {
      {"enero", "january", "jan"},       {"febrero", "february", "feb"}, {"marzo", "march", "mar"},
      {"abril", "april", "apr"},         {"mayo", "may", "may"},         {"junio", "june", "jun"},
      {"julio", "july", "jul"},          {"agosto", "august", "aug"},    {"septiembre", "september", "sep"},
      {"octubre", "october", "oct"},     {"noviembre", "november", "nov"}, {"diciembre", "december", "dec"}};
  // Tokens: numbers and month names; "de", "del" and punctuation are ignored.
  std::vector<int> nums;
  std::vector<bool> wide;  // a number written with 3+ digits (a year)
  int month = 0;
  bool month_first = false;
  std::string word;
  std::string src = f + " ";
  for (char c : src) {
    if (c != ' ') {
      word.push_back(c);
      continue;
    }
    if (word.empty()) continue;
    if (std::isdigit(static_cast<unsigned char>(word[0]))) {
      if (word.size() > 4) return std::nullopt;
      for (char d : word)
        if (!std::isdigit(static_cast<unsigned char>(d))) return std::nullopt;
      nums.push_back(std::stoi(word));
      wide.push_back(word.size() >= 3);
    } else if (word != "de" && word != "del" && word != "of" && word != "setiembre") {
      int found = 0;
      for (int m = 0; m < 12 && !found; ++m)
        for (const char* name : months[m])
          if (word == name || (word.size() >= 3 && std::string(months[m][0]).rfind(word, 0) == 0)) found = m + 1;
      if (!found) return std::nullopt;
      if (month) return std::nullopt;
      month = found;
      month_first = nums.empty();
    } else if (word == "setiembre") {
      month = 9;
    }
    word.clear();
  }
  int y = 0, m = 0, d = 0;
  const int this_year = static_cast<int>(date::year_month_day{today}.year());
  if (month) {
    m = month;
    if (nums.empty() || nums.size() > 2) return std::nullopt;
    d = nums[0];
    y = nums.size() == 2 ? nums[1] : this_year;
    (void)month_first;  // "15 de marzo" and "March 15" read the same
  } else if (nums.size() == 3) {
    if (wide[0]) {  // 2026-03-15
      y = nums[0], m = nums[1], d = nums[2];
    } else {  // 15/03/2026, day first
      d = nums[0], m = nums[1], y = nums[2];
    }
  } else if (nums.size() == 2 && !wide[0] && !wide[1]) {  // 15/03: this year
    d = nums[0], m = nums[1], y = this_year;
  } else {
    return std::nullopt;
  }
  if (y < 100) y += 2000;
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)}, date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || y < 1900 || y > 2200) return std::nullopt;
  return ymd_string(ymd);
}

}  // namespace aula
