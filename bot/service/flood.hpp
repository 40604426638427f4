// Flood control for one learner: how many messages (texts and taps) they may send per minute.
// Pure: it reads and updates the learner's session (the counter travels in the session, so it
// costs no extra round trip to Redis and counts only messages that were committed: a provider
// retry of the same update is a duplicate and not counted twice).
//
//   flood_verdict v = count_message(s, now_ms, 30);
//   if (v.drop) … record `rate_limited`, don't step; if (v.tell) send flood_notice(lang) once.
//
// The window is fixed: it starts at the first message after the previous one ended and lasts
// a minute. Within it the first `per_minute` messages pass; the rest are dropped, and the
// first dropped one tells the learner to wait (once per window).
#pragma once

#include <cstdint>
#include <string>

#include "bot/engine/session.hpp"

namespace aula {

inline constexpr std::int64_t flood_window_ms = 60 * 1000;

struct flood_verdict {
  bool drop = false;  // over the limit: record and drop, do not run the flow
  bool tell = false;  // the first message dropped in this window: tell the learner
  int count = 0;      // messages in the window, this one included
};

// Counts one learner message at `now_ms` against `per_minute` (0 = no limit: nothing counted).
inline flood_verdict count_message(session& s, std::int64_t now_ms, int per_minute) {
  flood_verdict v;
  if (per_minute <= 0) return v;
  if (s.flood_count == 0 || now_ms - s.flood_window >= flood_window_ms || now_ms < s.flood_window) {
    s.flood_window = now_ms;
    s.flood_count = 0;
    s.flood_told = false;
  }
  s.flood_count++;
  v.count = s.flood_count;
  if (s.flood_count > per_minute) {
    v.drop = true;
    v.tell = !s.flood_told;
    s.flood_told = true;
  }
  return v;
}

// What the learner is told (Spanish unless their language is English).
inline std::string flood_notice(const std::string& lang) {
  if (lang == "en") return "We received many messages in a row; please wait a moment before writing again.";
  return "Recibimos muchos mensajes seguidos; espera un momento antes de volver a escribir.";
}

}  // namespace aula
