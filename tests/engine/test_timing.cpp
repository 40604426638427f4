#include "bot/engine/timing.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>

using namespace aula;

namespace {

constexpr std::int64_t second = 1000;
constexpr std::int64_t minute = 60 * second;
constexpr std::int64_t hour = 60 * minute;
constexpr std::int64_t day = 24 * hour;

// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil), so the
// expected instants below do not come from the code under test.
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

// A UTC instant in ms since the epoch.
std::int64_t utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return days_from_civil(y, mo, d) * day + h * hour + mi * minute + s * second;
}

const std::string mexico = "America/Mexico_City";  // UTC-6 all year (no DST since 2022)
const std::string cancun = "America/Cancun";       // UTC-5 all year
const std::string tijuana = "America/Tijuana";     // UTC-8, UTC-7 from 2026-03-08 02:00

}  // namespace

TEST_CASE("timing: the test's own calendar arithmetic agrees with a hand-computed instant", "[timing]") {
  // 2026-01-05T15:00:00Z: 20458 days after the epoch, plus 15 h.
  CHECK(utc(2026, 1, 5, 15) == 1767625200000);
  CHECK(utc(1970, 1, 1) == 0);
  CHECK(utc(2024, 3, 1) - utc(2024, 2, 28) == 2 * day);  // a leap year
}

// ------------------------------------------------------------------ durations

TEST_CASE("parse_duration reads single units", "[timing][duration]") {
  CHECK(parse_duration("45s") == 45 * second);
  CHECK(parse_duration("15m") == 15 * minute);
  CHECK(parse_duration("24h") == 24 * hour);
  CHECK(parse_duration("3d") == 3 * day);
  CHECK(parse_duration("1w") == 7 * day);
}

TEST_CASE("parse_duration adds up sums of units, with or without spaces", "[timing][duration]") {
  CHECK(parse_duration("1h30m") == hour + 30 * minute);
  CHECK(parse_duration("1d 12h") == day + 12 * hour);
  CHECK(parse_duration("1w2d3h4m5s") == 9 * day + 3 * hour + 4 * minute + 5 * second);
}

TEST_CASE("parse_duration refuses empty text, missing units, unknown units and signs", "[timing][duration]") {
  for (const char* bad : {"", "5", "h", "5x", "-1h", " ", "1h 5", "1.5h", "+1h", "h5"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("format_duration writes the largest whole units", "[timing][duration]") {
  CHECK(format_duration(90'000'000) == "1d1h");
  CHECK(format_duration(hour + 30 * minute) == "1h30m");
  CHECK(format_duration(45 * second) == "45s");
  CHECK(format_duration(3 * day) == "3d");
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(day + 5 * second) == "1d5s");
}

TEST_CASE("format_duration and parse_duration round-trip", "[timing][duration]") {
  for (std::int64_t ms : {45 * second, 15 * minute, 2 * hour, 3 * day, day + 12 * hour, 9 * day + 3 * hour + 4 * minute}) {
    INFO(ms);
    CHECK(parse_duration(format_duration(ms)) == ms);
  }
}

// ------------------------------------------------------------------ clock times and zones

TEST_CASE("parse_clock reads 24-hour times", "[timing][clock]") {
  CHECK(parse_clock("09:00") == 9 * 60);
  CHECK(parse_clock("9:30") == 9 * 60 + 30);
  CHECK(parse_clock("23:59") == 23 * 60 + 59);
  CHECK(parse_clock("00:00") == 0);
  CHECK(parse_clock("21:05") == 21 * 60 + 5);
}

TEST_CASE("parse_clock refuses out-of-range and malformed times", "[timing][clock]") {
  for (const char* bad : {"24:00", "9", "09:60", "ab:cd", "", ":30", "9:5", "123:00", "09-00", "9:30pm"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_clock(bad).has_value());
  }
}

TEST_CASE("known_time_zone knows IANA zones and nothing else", "[timing][zone]") {
  CHECK(known_time_zone(mexico));
  CHECK(known_time_zone(cancun));
  CHECK(known_time_zone(tijuana));
  CHECK(known_time_zone("UTC"));
  CHECK_FALSE(known_time_zone("Mars/Olympus_Mons"));
  CHECK_FALSE(known_time_zone(""));
}

// ------------------------------------------------------------------ next_local_time

TEST_CASE("next_local_time: 09:00 today is past when it is exactly now, so tomorrow", "[timing][local]") {
  const auto now = utc(2026, 1, 5, 15);  // 09:00 in Mexico City, 10:00 in Cancún
  CHECK(next_local_time(now, mexico, 9 * 60, 0) == utc(2026, 1, 6, 15));
  CHECK(next_local_time(now, cancun, 9 * 60, 0) == utc(2026, 1, 6, 14));
}

TEST_CASE("next_local_time: a time still ahead today is today", "[timing][local]") {
  const auto now = utc(2026, 1, 5, 13);  // 07:00 in Mexico City, 08:00 in Cancún
  CHECK(next_local_time(now, mexico, 9 * 60, 0) == utc(2026, 1, 5, 15));
  CHECK(next_local_time(now, cancun, 9 * 60, 0) == utc(2026, 1, 5, 14));
  CHECK(next_local_time(now, mexico, 7 * 60 + 1, 0) == utc(2026, 1, 5, 13, 1));
}

TEST_CASE("next_local_time: days 1 is tomorrow even when today's time is still ahead", "[timing][local]") {
  const auto now = utc(2026, 1, 5, 13);  // 07:00 local
  CHECK(next_local_time(now, mexico, 9 * 60, 1) == utc(2026, 1, 6, 15));
  CHECK(next_local_time(now, cancun, 9 * 60, 1) == utc(2026, 1, 6, 14));
  CHECK(next_local_time(now, mexico, 9 * 60, 3) == utc(2026, 1, 8, 15));
}

TEST_CASE("next_local_time: days count from the learner's local date, not the UTC date", "[timing][local]") {
  // 2026-01-06T03:00Z is still 2026-01-05 21:00 in Mexico City.
  const auto now = utc(2026, 1, 6, 3);
  CHECK(next_local_time(now, mexico, 9 * 60, 1) == utc(2026, 1, 6, 15));
  CHECK(next_local_time(now, mexico, 9 * 60, 0) == utc(2026, 1, 6, 15));
  CHECK(next_local_time(now, mexico, 22 * 60, 0) == utc(2026, 1, 6, 4));
}

TEST_CASE("next_local_time follows daylight saving time in Tijuana", "[timing][local]") {
  const auto now = utc(2026, 3, 7, 12);  // 04:00 PST on 2026-03-07
  CHECK(next_local_time(now, tijuana, 9 * 60, 0) == utc(2026, 3, 7, 17));  // PST, UTC-8
  CHECK(next_local_time(now, tijuana, 9 * 60, 2) == utc(2026, 3, 9, 16));  // PDT, UTC-7
  // Mexico City has no DST: still UTC-6 on both days.
  CHECK(next_local_time(now, mexico, 9 * 60, 2) == utc(2026, 3, 9, 15));
}

TEST_CASE("next_local_time falls back to Mexico City for an unknown or empty zone", "[timing][local]") {
  const auto now = utc(2026, 1, 5, 13);
  CHECK(next_local_time(now, "Mars/Olympus_Mons", 9 * 60, 0) == utc(2026, 1, 5, 15));
  CHECK(next_local_time(now, "", 9 * 60, 1) == utc(2026, 1, 6, 15));
}

// ------------------------------------------------------------------ instants

TEST_CASE("format_local writes an instant as local date and time", "[timing][instant]") {
  CHECK(format_local(utc(2026, 1, 5, 15), mexico) == "2026-01-05 09:00");
  CHECK(format_local(utc(2026, 1, 5, 15), cancun) == "2026-01-05 10:00");
  CHECK(format_local(utc(2026, 1, 6, 3, 30), mexico) == "2026-01-05 21:30");
  CHECK(format_local(utc(2026, 3, 9, 16), tijuana) == "2026-03-09 09:00");
  CHECK(format_local(utc(2026, 3, 7, 17), tijuana) == "2026-03-07 09:00");
}

TEST_CASE("parse_instant reads local times in the zone and ISO instants with offsets", "[timing][instant]") {
  const auto want = utc(2026, 1, 5, 15);
  CHECK(parse_instant("2026-01-05 09:00", mexico) == want);
  CHECK(parse_instant("2026-01-05 10:00", cancun) == want);
  CHECK(parse_instant("2026-01-05T15:00:00Z", mexico) == want);
  CHECK(parse_instant("2026-01-05T15:00:00Z", cancun) == want);  // the zone does not matter
  CHECK(parse_instant("2026-01-05T09:00:00-06:00", cancun) == want);
  CHECK(parse_instant("2026-01-05T20:30:00+05:30", mexico) == want);
  CHECK(parse_instant("2026-01-05T15:00Z", mexico) == want);
  CHECK(parse_instant("2026-01-05T15:00:07Z", mexico) == want + 7 * second);
}

TEST_CASE("parse_instant refuses malformed text", "[timing][instant]") {
  for (const char* bad : {"", "mañana", "2026-01-05", "2026-02-30 09:00", "2026-01-05 25:00", "2026-01-05T15:00:00+6",
                          "2026-01-05T15:00:00 UTC"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_instant(bad, mexico).has_value());
  }
}

TEST_CASE("format_local and parse_instant round-trip in several zones", "[timing][instant]") {
  for (const auto& tz : {mexico, cancun, tijuana}) {
    for (std::int64_t t : {utc(2026, 1, 5, 15), utc(2026, 3, 9, 16, 45), utc(2026, 12, 31, 23, 59)}) {
      INFO(tz << " " << t);
      CHECK(parse_instant(format_local(t, tz), tz) == t);
    }
  }
}

TEST_CASE("local_date gives the learner's calendar date", "[timing][instant]") {
  CHECK(local_date(utc(2026, 1, 6, 3), mexico) == "2026-01-05");
  CHECK(local_date(utc(2026, 1, 6, 3), "UTC") == "2026-01-06");
  CHECK(local_date(utc(2026, 1, 6, 5, 30), cancun) == "2026-01-06");
}

// ------------------------------------------------------------------ dates as learners write them

TEST_CASE("parse_date reads numeric dates, day first", "[timing][date]") {
  const auto now = utc(2026, 1, 5, 15);
  CHECK(parse_date("15/03/2026", now, mexico) == "2026-03-15");
  CHECK(parse_date("15-3-26", now, mexico) == "2026-03-15");
  CHECK(parse_date("2026-03-15", now, mexico) == "2026-03-15");
  CHECK(parse_date("1/2/2027", now, mexico) == "2027-02-01");
  CHECK(parse_date(" 15/03/2026 ", now, mexico) == "2026-03-15");
}

TEST_CASE("parse_date reads month names in Spanish and English", "[timing][date]") {
  const auto now = utc(2026, 1, 5, 15);
  CHECK(parse_date("15 de marzo de 2026", now, mexico) == "2026-03-15");
  CHECK(parse_date("15 de Marzo del 2027", now, mexico) == "2027-03-15");
  CHECK(parse_date("March 15, 2026", now, mexico) == "2026-03-15");
  CHECK(parse_date("1 enero 2026", now, mexico) == "2026-01-01");
  CHECK(parse_date("15 marzo", now, mexico) == "2026-03-15");
}

TEST_CASE("parse_date takes a missing year from the learner's local date", "[timing][date]") {
  // 2026-01-01T03:00Z is still 2025-12-31 in Mexico City.
  const auto now = utc(2026, 1, 1, 3);
  CHECK(parse_date("15 marzo", now, mexico) == "2025-03-15");
  CHECK(parse_date("15 marzo", now, "UTC") == "2026-03-15");
  CHECK(parse_date("15/03", now, mexico) == "2025-03-15");
}

TEST_CASE("parse_date reads hoy, ayer and mañana on the learner's local date", "[timing][date]") {
  // Near midnight UTC: 2026-01-06T03:00Z is 2026-01-05 21:00 in Mexico City.
  const auto now = utc(2026, 1, 6, 3);
  CHECK(parse_date("hoy", now, mexico) == "2026-01-05");
  CHECK(parse_date("ayer", now, mexico) == "2026-01-04");
  CHECK(parse_date("mañana", now, mexico) == "2026-01-06");
  CHECK(parse_date("manana", now, mexico) == "2026-01-06");
  CHECK(parse_date("Mañana", now, mexico) == "2026-01-06");
  CHECK(parse_date("HOY", now, mexico) == "2026-01-05");
  // In UTC the same instant is already the 6th.
  CHECK(parse_date("hoy", now, "UTC") == "2026-01-06");
  CHECK(parse_date("mañana", now, "UTC") == "2026-01-07");
}

TEST_CASE("parse_date crosses month and year ends for relative words", "[timing][date]") {
  const auto now = utc(2026, 1, 1, 12);  // 06:00 on 2026-01-01 in Mexico City
  CHECK(parse_date("ayer", now, mexico) == "2025-12-31");
  CHECK(parse_date("mañana", utc(2026, 3, 1, 5), mexico) == "2026-03-01");  // 23:00 on Feb 28
}

TEST_CASE("parse_date refuses impossible dates and other text", "[timing][date]") {
  const auto now = utc(2026, 1, 5, 15);
  for (const char* bad : {"31/02/2026", "32/01/2026", "abc", "", "15/13/2026", "15 de marzo y 16 de abril",
                          "el martes", "15/03/2026/1"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_date(bad, now, mexico).has_value());
  }
}

TEST_CASE("next_local_time: a local time skipped by DST takes the transition instant", "[timing][local]") {
  // 2026-03-08 02:30 does not exist in Tijuana: clocks jump from 02:00 PST (10:00Z) to 03:00 PDT.
  CHECK(next_local_time(utc(2026, 3, 7, 12), tijuana, 2 * 60 + 30, 1) == utc(2026, 3, 8, 10));
}

TEST_CASE("next_local_time: a local time repeated by DST takes the earlier instant", "[timing][local]") {
  // 2026-11-01 01:30 happens twice in Tijuana: 08:30Z (PDT) and 09:30Z (PST).
  CHECK(next_local_time(utc(2026, 10, 31, 12), tijuana, 60 + 30, 1) == utc(2026, 11, 1, 8, 30));
  CHECK(parse_instant("2026-11-01 01:30", tijuana) == utc(2026, 11, 1, 8, 30));
}
