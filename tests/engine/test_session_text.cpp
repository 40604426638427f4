// The session's text read and written without a JSON document (bot/engine/session_text.hpp):
// compared with the document's writing and reading, over generated sessions and over texts
// mutated every way a byte can be.
#include "bot/engine/session_text.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <typeinfo>
#include <string>
#include <vector>

using namespace aula;
using nlohmann::json;

namespace {

// Strings with what JSON escapes, Spanish, emoji, and plain text.
std::string any_text(std::mt19937& rng, bool may_be_empty = true) {
  static const std::vector<std::string> parts = {"a",  "Zz", "ñ",  "¿",   "¡",  "á",  "🦉",   "👩🏽‍🏫", "\"", "\\",
                                                 "\n", "\t", "\r", "\b",  "\f", "\x01", "\x1f", "/",  "\x7f", " ",
                                                 "0",  "{",  "}",  "[\"", ":",  ",",  "\\u00e1"};
  std::uniform_int_distribution<int> len(may_be_empty ? 0 : 1, 6), pick(0, static_cast<int>(parts.size()) - 1);
  std::string s;
  for (int k = len(rng); k > 0; --k) s += parts[pick(rng)];
  return s;
}

json any_value(std::mt19937& rng, int depth = 0) {
  switch (std::uniform_int_distribution<int>(0, depth > 1 ? 4 : 6)(rng)) {
    case 0: return any_text(rng);
    case 1: return std::uniform_int_distribution<std::int64_t>(-1000000, 10000000000)(rng);
    case 2: return std::uniform_real_distribution<double>(-100, 100)(rng);
    case 3: return std::bernoulli_distribution(0.5)(rng);
    case 4: return nullptr;
    case 5: {
      json a = json::array();
      for (int k = std::uniform_int_distribution<int>(0, 3)(rng); k > 0; --k) a.push_back(any_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int k = std::uniform_int_distribution<int>(0, 3)(rng); k > 0; --k) o[any_text(rng)] = any_value(rng, depth + 1);
      return o;
    }
  }
}

std::int64_t any_int(std::mt19937& rng) {
  switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
    case 0: return 0;
    case 1: return std::uniform_int_distribution<int>(-5, 50)(rng);
    case 2: return std::uniform_int_distribution<std::int64_t>(1700000000000, 1900000000000)(rng);
    default: return std::uniform_int_distribution<int>(std::numeric_limits<int>::min(), std::numeric_limits<int>::max())(rng);
  }
}
int small(std::mt19937& rng) { return static_cast<int>(std::uniform_int_distribution<int>(-3, 40)(rng)); }
bool coin(std::mt19937& rng) { return std::bernoulli_distribution(0.5)(rng); }

timer_slot any_timer(std::mt19937& rng) { return {any_text(rng), any_int(rng), any_text(rng), small(rng)}; }

run_state any_run(std::mt19937& rng) {
  run_state r;
  r.flow = any_text(rng);
  r.id = any_text(rng);
  r.node = any_text(rng);
  r.retries = small(rng);
  r.attempts = small(rng);
  r.seq = small(rng);
  r.score = small(rng);
  r.score_max = small(rng);
  r.started_at = any_int(rng);
  if (coin(rng)) r.course = any_text(rng, false);
  if (coin(rng)) r.timer = any_timer(rng);
  if (coin(rng)) r.expire = any_timer(rng);
  return r;
}

session any_session(std::mt19937& rng) {
  session s;
  s.version = any_int(rng);
  if (coin(rng)) s.lang = any_text(rng, false);
  for (int k = small(rng) % 4; k > 0; --k) s.contact[any_text(rng)] = any_text(rng);
  for (int k = small(rng) % 4; k > 0; --k) s.answers[any_text(rng)] = saved_answer{any_value(rng), any_text(rng)};
  if (coin(rng)) s.run = any_run(rng);
  for (int k = small(rng) % 3; k > 0; --k) s.stack.push_back(any_run(rng));
  for (int k = small(rng) % 3; k > 0; --k) s.queue.push_back(any_text(rng));
  if (coin(rng)) s.last = last_run{any_text(rng), any_text(rng), small(rng), small(rng)};
  for (int k = small(rng) % 3; k > 0; --k) {
    course_progress c;
    c.course = any_text(rng);
    if (coin(rng)) c.status = any_text(rng);
    c.current = small(rng);
    for (int m = small(rng) % 4; m > 0; --m)
      c.modules.push_back({any_text(rng), any_text(rng), small(rng), small(rng), small(rng), any_int(rng), any_int(rng)});
    if (coin(rng)) c.timer = any_timer(rng);
    c.nudges = small(rng);
    c.enrolled_at = any_int(rng);
    c.ended_at = any_int(rng);
    if (coin(rng)) {
      c.certificate = any_text(rng, false);
      c.folio = any_text(rng);
    }
    s.courses.push_back(std::move(c));
  }
  s.opted_out = coin(rng);
  s.menu_open = coin(rng);
  if (coin(rng)) {
    s.paused = any_text(rng, false);
    s.paused_at = any_int(rng);
  }
  if (coin(rng)) s.last_in = any_int(rng);
  if (coin(rng)) {
    s.flood_count = small(rng);
    s.flood_window = any_int(rng);
    s.flood_told = coin(rng);
  }
  if (coin(rng)) s.consent = {any_text(rng, false), any_text(rng), any_text(rng), any_int(rng)};
  s.consent_asked = coin(rng);
  for (int k = small(rng) % 3; k > 0; --k) s.consent_pending.push_back(any_value(rng));
  return s;
}

// What reading through a document gives: the session (as its document), or the error's kind.
std::string through_document(const std::string& text) {
  try {
    return session::from_json(json::parse(text)).to_json().dump();
  } catch (const std::exception& e) {
    return std::string("error: ") + typeid(e).name();
  }
}

std::string through_parse(const std::string& text) {
  try {
    return session::parse(text).to_json().dump();
  } catch (const std::exception& e) {
    return std::string("error: ") + typeid(e).name();
  }
}

}  // namespace

TEST_CASE("session text: written exactly as the JSON document writes it", "[session]") {
  std::mt19937 rng(20261129);
  CHECK(session_text::write(session{}) == session{}.to_json().dump());
  for (int k = 0; k < 2000; ++k) {
    const session s = any_session(rng);
    const std::string want = s.to_json().dump();
    INFO(want);
    REQUIRE(session_text::write(s) == want);
    REQUIRE(s.dump() == want);
  }
}

TEST_CASE("session text: read exactly as the JSON document reads it", "[session]") {
  std::mt19937 rng(7);
  for (int k = 0; k < 2000; ++k) {
    const session s = any_session(rng);
    const std::string text = s.dump();
    INFO(text);
    const auto got = session_text::read(text);
    // The writer's texts are read without a document.
    REQUIRE(got.has_value());
    const std::string want = session::from_json(json::parse(text)).to_json().dump();
    REQUIRE(got->to_json().dump() == want);
    REQUIRE(session::parse(text).to_json().dump() == want);
    // The same text indented, or with its members in reverse order, reads the same.
    const std::string indented = json::parse(text).dump(2);
    const auto again = session_text::read(indented);
    REQUIRE(again.has_value());
    CHECK(again->to_json().dump() == want);
    std::string reversed;
    const json doc = json::parse(text);
    for (auto it = doc.rbegin(); it != doc.rend(); ++it)
      reversed += (reversed.empty() ? "{" : ",") + json(it.key()).dump() + ":" + it.value().dump();
    const auto back = session_text::read(reversed + "}");
    REQUIRE(back.has_value());
    CHECK(back->to_json().dump() == want);
  }
}

TEST_CASE("session text: any text reads as the JSON document reads it, or through it", "[session]") {
  // Every text derived from a valid one (cut short, a byte changed, a value swapped for another
  // kind) reads as the document reads it: the same session, or an error from the document.
  std::mt19937 rng(99);
  static const std::vector<std::string> swaps = {"null", "1.5", "1e3", "-0", "01", "\"x\"", "true", "[]", "{}",
                                                 "99999999999999999999", "2147483648", "-2147483649", "\"\\u0041\"", "\"\\ud83e\\udd89\"", "\"\\ud83e\"", "\"\\udd89\"", "\"\\u00e1\\u0000\"",
                                                 "\"\xC3\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\""};
  int texts = 0, fast = 0, errors = 0;
  for (int k = 0; k < 300; ++k) {
    const std::string text = any_session(rng).dump();
    std::vector<std::string> variants;
    for (std::size_t cut = 0; cut < text.size(); cut += 1 + text.size() / 40) variants.push_back(text.substr(0, cut));
    for (int m = 0; m < 30; ++m) {
      std::string t = text;
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, t.size() - 1)(rng);
      switch (m % 3) {
        case 0: t[at] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)); break;
        case 1: t.insert(at, 1, "{}[],:\" \\0a-.e"[std::uniform_int_distribution<int>(0, 14)(rng)]); break;
        default: t.erase(at, 1);
      }
      variants.push_back(std::move(t));
    }
    // A value after a colon swapped for another kind of value.
    for (int m = 0; m < 20; ++m) {
      std::string t = text;
      std::size_t colon = t.find(':', std::uniform_int_distribution<std::size_t>(0, t.size() - 1)(rng));
      if (colon == std::string::npos) continue;
      std::size_t end = colon + 1;
      while (end < t.size() && t[end] != ',' && t[end] != '}' && t[end] != '{' && t[end] != '[') ++end;
      t.replace(colon + 1, end - colon - 1, swaps[static_cast<std::size_t>(m) % swaps.size()]);
      variants.push_back(std::move(t));
    }
    variants.push_back(text + " ");
    variants.push_back(text + "x");
    variants.push_back(text + "{}");
    for (const auto& t : variants) {
      ++texts;
      const std::string want = through_document(t);
      INFO(t);
      REQUIRE(through_parse(t) == want);
      if (const auto got = session_text::read(t)) {
        ++fast;
        REQUIRE(got->to_json().dump() == want);
      } else if (want.rfind("error: ", 0) == 0) {
        ++errors;
      }
    }
  }
  // Both kinds were met: texts read without a document, and texts the document refused.
  CHECK(fast > texts / 20);
  CHECK(errors > texts / 5);
}

TEST_CASE("session text: a string that is not UTF-8 fails as the document's writing fails", "[session]") {
  session s;
  s.contact["name"] = "Jos\xC3";
  CHECK_THROWS_AS(s.to_json().dump(), json::type_error);
  CHECK_THROWS_AS(session_text::write(s), json::type_error);
  s.contact["name"] = "José";
  s.answers["x"] = saved_answer{"\xFF", "ok"};
  CHECK_THROWS_AS(session_text::write(s), json::type_error);
}
