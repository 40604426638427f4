// Time for flows: durations ("24h", "1h30m"), local times of day in a learner's IANA time zone,
// and dates as learners type them. Pure: "now" always comes from the caller. The time zone
// rules come from the system's tz database (read-only reference data, loaded once).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aula {

inline constexpr const char* default_time_zone = "America/Mexico_City";

// "45s", "15m", "24h", "3d", "1w" and sums of them ("1h30m", "1d 12h") -> milliseconds.
std::optional<std::int64_t> parse_duration(std::string_view s);
// The reverse, in the largest whole units: 90000000 -> "1d1h".
std::string format_duration(std::int64_t ms);

// "09:00", "9:30", "21:05" -> minutes after midnight.
std::optional<int> parse_clock(std::string_view s);

// Whether the tz database knows `tz` ("America/Cancun").
bool known_time_zone(const std::string& tz);

// The instant (ms since epoch) that is `minutes` after local midnight, `days` days after the
// local date of `now_ms` in zone `tz`. With days == 0 the next such time: today if it is still
// ahead, else tomorrow. A local time that does not exist or repeats (DST) takes the earliest
// valid instant. An unknown zone falls back to America/Mexico_City.
std::int64_t next_local_time(std::int64_t now_ms, const std::string& tz, int minutes, int days);

// "YYYY-MM-DD HH:MM" of an instant in zone `tz`.
std::string format_local(std::int64_t ms, const std::string& tz);

// Parses "YYYY-MM-DD HH:MM" (local time in `tz`) or an ISO instant with a zone
// ("2026-01-05T15:00:00Z", "…-06:00") into ms since epoch.
std::optional<std::int64_t> parse_instant(std::string_view s, const std::string& tz);

// Local calendar date "YYYY-MM-DD" of an instant in zone `tz`.
std::string local_date(std::int64_t now_ms, const std::string& tz);

// A date as learners write it, day first as in Mexico: "15/03/2026", "15-3-26", "2026-03-15",
// "15 de marzo de 2026", "15 marzo", "March 15, 2026", "hoy", "ayer", "mañana" (relative words
// and a missing year use `now_ms` in zone `tz`). Returns "YYYY-MM-DD" or nullopt.
std::optional<std::string> parse_date(std::string_view text, std::int64_t now_ms, const std::string& tz);

}  // namespace aula
