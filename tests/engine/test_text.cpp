#include "bot/engine/text.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace aula;

namespace {

using strings = std::vector<std::string>;

// True when `s` decodes without any U+FFFD, i.e. it is valid UTF-8 (for inputs we know hold
// no literal U+FFFD).
bool valid_utf8(const std::string& s) {
  for (char32_t cp : utf8_decode(s))
    if (cp == 0xFFFD) return false;
  return true;
}

}  // namespace

// ---------------------------------------------------------------- fold

TEST_CASE("fold lower-cases and removes Spanish accents", "[text][fold]") {
  CHECK(fold("Sí") == "si");
  CHECK(fold("SÍ") == "si");
  CHECK(fold("Ñandú") == "nandu");
  CHECK(fold("ÁÉÍÓÚÜ áéíóúü") == "aeiouu aeiouu");
  CHECK(fold("Niño") == "nino");
  CHECK(fold("abc XYZ 123") == "abc xyz 123");
}

TEST_CASE("fold turns Spanish punctuation and emoji into spaces, collapsed and trimmed", "[text][fold]") {
  CHECK(fold("¡SÍ!") == "si");
  CHECK(fold("¿Cómo estás?") == "como estas");
  CHECK(fold("👋 hola 👋") == "hola");
  CHECK(fold("hola👋mundo") == "hola mundo");
  CHECK(fold("  a  ,,  b  ") == "a b");
  CHECK(fold("Inspector/a federal") == "inspector a federal");
  CHECK(fold("6 HORAS") == "6 horas");
  CHECK(fold("\t\nhola\r\n") == "hola");
  CHECK(fold("") == "");
  CHECK(fold("¡¿!?👋🎉 ...") == "");
}

TEST_CASE("fold maps every letter of Latin Extended-A to its own base letter", "[text][fold]") {
  // U+0130..U+013F: İ ı Ĳ ĳ Ĵ ĵ Ķ ķ ĸ Ĺ ĺ Ļ ļ Ľ ľ Ŀ
  CHECK(fold("Ĵĵ") == "jj");
  CHECK(fold("Ķķĸ") == "kkk");
  CHECK(fold("ĹĺĻļĽľĿŀŁł") == "llllllllll");
  CHECK(fold("Łódź") == "lodz");
  CHECK(fold("Čeština") == "cestina");
  CHECK(fold("Ţara") == "tara");
  CHECK(fold("Ǆ").empty());  // outside the folded ranges: not a letter we know
}

TEST_CASE("fold drops combining accents of decomposed text (NFD)", "[text][fold]") {
  // "Sí" and "Ñandú" typed with combining marks (U+0301 acute, U+0303 tilde).
  CHECK(fold("Si\xCC\x81") == "si");
  CHECK(fold("N\xCC\x83""andu\xCC\x81") == "nandu");
  CHECK(fold("Mari\xCC\x81""a Jose\xCC\x81") == "maria jose");
}

TEST_CASE("fold keeps non-Latin letters and digits", "[text][fold]") {
  CHECK(fold("Привет, мир") == "Привет мир");
  CHECK(fold("日本 3") == "日本 3");
}

TEST_CASE("fold of any bytes is UTF-8, no longer than them, and folds to itself", "[text][fold]") {
  // Malformed bytes are separators (U+FFFD); what a letter folds to never takes more bytes.
  CHECK(fold("a\xFF" "b") == "a b");
  CHECK(fold("\xE3\x81").empty());
  CHECK(fold("\xC3") == "");
  CHECK(fold("Ωmega\xF0\x9F") == "Ωmega");
  const std::vector<std::string> pieces = {"a", "Z", "9", " ", ",", "\xC3\xB1", "\xC3\x91", "\xC4\xB0", "\xCC\x81",
                                           "\xD0\x96", "\xE6\x97\xA5", "\xF0\x9F\x91\x8B", "\xFF", "\xC3",
                                           "\xE6\x97", "\xED\xA0\x80", "\xC0\xAF", "\xC2\xA0"};
  std::uint32_t x = 2463534242u;  // xorshift: the same strings every run
  for (int k = 0; k < 3000; ++k) {
    std::string s;
    for (int n = static_cast<int>(x % 12); n > 0; --n) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      s += pieces[x % pieces.size()];
    }
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const std::string f = fold(s);
    INFO(k);
    CHECK(f.size() <= s.size());
    CHECK(valid_utf8(f));
    CHECK(fold(f) == f);
  }
}

TEST_CASE("fold never crashes on invalid UTF-8 and treats bad bytes as non-letters", "[text][fold][utf8]") {
  CHECK(fold("a\xFF" "b") == "a b");
  CHECK(fold("\xC3") == "");                 // truncated two-byte sequence
  CHECK(fold("s\xC3" "i") == "s i");          // lead byte followed by ASCII
  CHECK(fold("\xE2\x82") == "");              // truncated three-byte sequence
  CHECK(fold("\xC0\xAF" "x") == "x");         // overlong '/'
  CHECK(fold("\xED\xA0\x80" "ok") == "ok");   // UTF-16 surrogate
  CHECK(fold("\xF4\x90\x80\x80" "z") == "z"); // beyond U+10FFFF
  CHECK(fold("\x80\x80\x80") == "");          // lone continuation bytes
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  std::string f;
  REQUIRE_NOTHROW(f = fold(every_byte));
  CHECK(valid_utf8(f));
  CHECK(f.find("abcdefghijklmnopqrstuvwxyz") != std::string::npos);
}

// ---------------------------------------------------------------- utf8

TEST_CASE("fold of a text is its code points' folds, one by one, joined by single spaces", "[text][fold]") {
  // The reference decodes first (utf8_decode) and folds each code point alone: a letter gives
  // its base, anything else a separator; combining accents give nothing.
  const auto reference = [](const std::string& s) {
    std::string out;
    bool pending = false;
    for (char32_t cp : utf8_decode(s)) {
      if (cp >= 0x300 && cp <= 0x36F) continue;
      std::string one;
      utf8_append(one, cp);
      const std::string f = fold(one);
      if (f.empty()) {
        pending = !out.empty();
        continue;
      }
      if (pending) out += ' ';
      pending = false;
      out += f;
    }
    return out;
  };
  const std::vector<std::string> pieces = {"a", "Z", "9", " ", "!", "\xC3\xB1", "\xC3\x91", "\xC3\xA9", "\xC4\x80", "\xC5\xBF",
                                           "e\xCC\x81", "\xF0\x9F\x91\x8B", "\xD0\x96", "\xE3\x81\x82", "\xFF", "\xC3", "\xE2\x82",
                                           "\xED\xA0\x80", "\xC3\x97", "\xC2\xBF", "\t", "\x7F", "\x80"};
  std::uint32_t x = 12345;
  int checked = 0;
  for (int k = 0; k < 3000; ++k) {
    std::string s;
    x = x * 1103515245u + 12345u;
    for (std::uint32_t n = (x >> 16) % 12; n > 0; --n) {
      x = x * 1103515245u + 12345u;
      s += pieces[(x >> 16) % pieces.size()];
    }
    INFO(s);
    CHECK(fold(s) == reference(s));
    ++checked;
  }
  CHECK(checked == 3000);
}

TEST_CASE("utf8_decode decodes 1- to 4-byte sequences", "[text][utf8]") {
  CHECK(utf8_decode("a") == std::u32string{U'a'});
  CHECK(utf8_decode("á") == std::u32string{0xE1});
  CHECK(utf8_decode("ñ¿¡") == std::u32string{0xF1, 0xBF, 0xA1});
  CHECK(utf8_decode("€") == std::u32string{0x20AC});
  CHECK(utf8_decode("👋") == std::u32string{0x1F44B});
  CHECK(utf8_decode("").empty());
}

TEST_CASE("utf8_decode replaces each malformed byte with U+FFFD and resynchronises", "[text][utf8]") {
  CHECK(utf8_decode("\xFF") == std::u32string{0xFFFD});
  CHECK(utf8_decode("a\xC3") == std::u32string{U'a', 0xFFFD});
  CHECK(utf8_decode("\xC3(") == std::u32string{0xFFFD, U'('});
  CHECK(utf8_decode("\xE2\x82" "a") == std::u32string{0xFFFD, 0xFFFD, U'a'});
  CHECK(utf8_decode("\xC1\xBF") == std::u32string{0xFFFD, 0xFFFD});  // overlong
  CHECK(utf8_decode("\xED\xA0\x80").front() == 0xFFFD);                // surrogate
  CHECK(utf8_decode("\xF4\x90\x80\x80").front() == 0xFFFD);            // > U+10FFFF
  CHECK(utf8_decode("\xF0\x9F\x91\x8B\xFF") == std::u32string{0x1F44B, 0xFFFD});
}

TEST_CASE("utf8_valid says whether utf8_decode would give the text back unchanged", "[text][utf8]") {
  // The reference: decoding and encoding again gives the same bytes exactly when the text is
  // well-formed (each malformed byte becomes U+FFFD, three bytes of its own).
  const auto round_trip = [](std::string_view s) {
    std::string out;
    for (char32_t c : utf8_decode(s)) utf8_append(out, c);
    return out;
  };
  CHECK(utf8_valid(""));
  CHECK(utf8_valid("¿Qué tal? ¡Sí! ñandú 👩🏽‍🏫 €"));
  CHECK_FALSE(utf8_valid("a\xC3"));
  CHECK_FALSE(utf8_valid("\xC1\xBF"));
  CHECK_FALSE(utf8_valid("\xED\xA0\x80"));
  CHECK_FALSE(utf8_valid("\xF4\x90\x80\x80"));
  CHECK_FALSE(utf8_valid("\xEF\xBF\xBD\xFF"));  // U+FFFD itself is fine; the 0xFF is not
  // Generated texts: pieces of valid text, cut anywhere, with stray bytes.
  const std::vector<std::string> pieces = {"a", "á", "ñ", "¿", "€", "👋", "\xC3", "\x80", "\xF0\x9F", "\xFF", "\xED\xA0\x80",
                                           "\xE0\x80\x80", " ", "\xF4\x8F\xBF\xBF"};
  std::uint32_t seed = 12345;
  const auto next = [&seed] { return seed = seed * 1664525u + 1013904223u; };
  int valid = 0, invalid = 0;
  for (int n = 0; n < 3000; ++n) {
    std::string s;
    const int parts = static_cast<int>(next() % 6);
    for (int k = 0; k < parts; ++k) s += pieces[next() % pieces.size()];
    if (!s.empty() && next() % 4 == 0) s.resize(next() % s.size());  // cut inside a sequence too
    const bool want = round_trip(s) == s;
    CHECK(utf8_valid(s) == want);
    (want ? valid : invalid)++;
  }
  CHECK(valid > 300);  // both kinds were tried
  CHECK(invalid > 300);
}

TEST_CASE("utf8_append encodes code points and round-trips with utf8_decode", "[text][utf8]") {
  std::string s;
  utf8_append(s, U'a');
  utf8_append(s, 0xE1);     // á
  utf8_append(s, 0xF1);     // ñ
  utf8_append(s, 0xBF);     // ¿
  utf8_append(s, 0xA1);     // ¡
  utf8_append(s, 0x20AC);   // €
  utf8_append(s, 0x1F44B);  // 👋
  CHECK(s == "aáñ¿¡€👋");
  CHECK(s.size() == 1 + 2 * 4 + 3 + 4);

  const std::u32string cps = {U'¿', U'Q', U'u', U'é', U'?', U' ', U'¡', U'ñ', 0x1F389, 0x10FFFF, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000};
  std::string enc;
  for (char32_t cp : cps) utf8_append(enc, cp);
  CHECK(utf8_decode(enc) == cps);

  const std::string text = "¿Qué tal? ¡Ñandú! 🎉👋🏽";
  std::string back;
  for (char32_t cp : utf8_decode(text)) utf8_append(back, cp);
  CHECK(back == text);
}

// ---------------------------------------------------------------- trim

TEST_CASE("trim removes ASCII whitespace at both ends only", "[text][trim]") {
  CHECK(trim("  hola  ") == "hola");
  CHECK(trim("\t\r\n hola mundo \n") == "hola mundo");
  CHECK(trim("") == "");
  CHECK(trim(" \t\n ") == "");
  CHECK(trim("a  b") == "a  b");
  CHECK(trim("\v\fhola\f\v") == "hola");
  CHECK(trim("\x08hola\x0E") == "\x08hola\x0E");  // the bytes either side of tab … carriage return are kept
}

TEST_CASE("trim removes NBSP, zero-width space, BOM and other Unicode spaces", "[text][trim]") {
  CHECK(trim("\xC2\xA0hola\xC2\xA0") == "hola");               // NBSP
  CHECK(trim("\xE2\x80\x8Bhola\xE2\x80\x8B") == "hola");       // zero-width space
  CHECK(trim("\xEF\xBB\xBFhola") == "hola");                   // BOM
  CHECK(trim("\xE2\x80\xAF" "5\xE3\x80\x80") == "5");          // narrow NBSP, ideographic space
  CHECK(trim("\xE2\x80\x80" "a" "\xE2\x80\x8A") == "a");         // U+2000 … U+200A
  CHECK(trim("\xE2\x80\x8C" "a") == "\xE2\x80\x8C" "a");         // U+200C (a joiner) is kept
  CHECK(trim("\xE2\x80\x83 \xC2\xA0\xEF\xBB\xBF x \xE2\x80\x8B\t") == "x");  // mixed runs
  CHECK(trim("a\xC2\xA0" "b") == "a\xC2\xA0" "b");             // inner NBSP kept
}

TEST_CASE("trim returns the kept bytes unchanged", "[text][trim]") {
  CHECK(trim("  Ñandú 👋 ") == "Ñandú 👋");
  CHECK(trim(" ¿Sí? ") == "¿Sí?");
  CHECK(trim("👋") == "👋");
  CHECK(trim(" \xFF\xFE ") == "\xFF\xFE");  // invalid bytes are not touched
  CHECK(trim("\xC2") == "\xC2");            // a lone NBSP lead byte is not a space
  const std::string s = trim(" é ");
  CHECK(s.size() == 2);
  CHECK(valid_utf8(s));
}

// ---------------------------------------------------------------- numbers

TEST_CASE("parse_number reads numbers the way learners write them", "[text][number]") {
  CHECK(parse_number("5") == Approx(5.0));
  CHECK(parse_number("-2") == Approx(-2.0));
  CHECK(parse_number("3.5") == Approx(3.5));
  CHECK(parse_number("3,5") == Approx(3.5));
  CHECK(parse_number("5 años") == Approx(5.0));
  CHECK(parse_number("tengo 42") == Approx(42.0));
  CHECK(parse_number(" 0 ") == Approx(0.0));
  CHECK(parse_number("+7") == Approx(7.0));
  REQUIRE(parse_number("5").has_value());
  CHECK(*parse_number("5") == 5.0);
}

TEST_CASE("parse_number refuses no number or several numbers", "[text][number]") {
  CHECK_FALSE(parse_number("").has_value());
  CHECK_FALSE(parse_number("   ").has_value());
  CHECK_FALSE(parse_number("cinco").has_value());
  CHECK_FALSE(parse_number("entre 3 y 4").has_value());
  CHECK_FALSE(parse_number("1 2").has_value());
  CHECK_FALSE(parse_number("\xFF\xFE").has_value());
}

TEST_CASE("parse_number does not take a hyphen inside a word as a minus sign", "[text][number]") {
  auto v = parse_number("covid-19");
  REQUIRE(v.has_value());
  CHECK(*v == 19.0);
}

TEST_CASE("parse_index accepts a whole non-negative number, optionally with '.' or ')'", "[text][index]") {
  CHECK(parse_index("2") == 2L);
  CHECK(parse_index(" 10 ") == 10L);
  CHECK(parse_index("2.") == 2L);
  CHECK(parse_index("2)") == 2L);
  CHECK(parse_index("0") == 0L);
  CHECK(parse_index("\xC2\xA0" "3\xE2\x80\x8B") == 3L);
}

TEST_CASE("parse_index refuses anything that is not just an index", "[text][index]") {
  CHECK_FALSE(parse_index("2a").has_value());
  CHECK_FALSE(parse_index("-1").has_value());
  CHECK_FALSE(parse_index("").has_value());
  CHECK_FALSE(parse_index("  ").has_value());
  CHECK_FALSE(parse_index(".").has_value());
  CHECK_FALSE(parse_index("3.5").has_value());
  CHECK_FALSE(parse_index("1 2").has_value());
  CHECK_FALSE(parse_index("dos").has_value());
  CHECK_FALSE(parse_index("99999999999999999999").has_value());  // no overflow crash
}

// ---------------------------------------------------------------- split_multi

TEST_CASE("split_multi splits numbers on commas, spaces and 'y'", "[text][multi]") {
  CHECK(split_multi("1, 4 y 7") == strings{"1", "4", "7"});
  CHECK(split_multi("1 4 7") == strings{"1", "4", "7"});
  CHECK(split_multi("1,4,7") == strings{"1", "4", "7"});
  CHECK(split_multi("2 and 3") == strings{"2", "3"});
  CHECK(split_multi("1;2\n3") == strings{"1", "2", "3"});
}

TEST_CASE("split_multi splits words on separators and conjunctions, keeping phrases", "[text][multi]") {
  CHECK(split_multi("a; c") == strings{"a", "c"});
  CHECK(split_multi("salud y seguridad") == strings{"salud", "seguridad"});
  CHECK(split_multi("salud Y seguridad, trabajo peligroso") == strings{"salud", "seguridad", "trabajo peligroso"});
  CHECK(split_multi("inspector federal") == strings{"inspector federal"});
  CHECK(split_multi("") == strings{});
  CHECK(split_multi(" , ; ") == strings{});
}

// ---------------------------------------------------------------- edit distance, format

TEST_CASE("edit_distance is the Levenshtein distance", "[text][distance]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("next", "next") == 0);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("nxt", "next") == 1);
  CHECK(edit_distance("next", "nxt") == 1);
  CHECK(edit_distance("strat", "start") == 2);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("choise", "choice") == 1);
}

TEST_CASE("format_number drops a trailing .0 and keeps decimals", "[text][format]") {
  CHECK(format_number(5.0) == "5");
  CHECK(format_number(3.5) == "3.5");
  CHECK(format_number(-2.0) == "-2");
  CHECK(format_number(0.0) == "0");
  CHECK(format_number(60.0) == "60");
  CHECK(format_number(-0.25) == "-0.25");
  CHECK(format_number(1234567.0) == "1234567");
}
