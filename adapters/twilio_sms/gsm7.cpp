#include "adapters/twilio_sms/gsm7.hpp"

#include <array>
#include <string_view>

#include "adapters/util.hpp"
#include "bot/engine/text.hpp"

namespace aula {

namespace {

// GSM 03.38 basic table as Unicode (0x1B, the escape to the extension table, is not a
// character of its own and is left out).
constexpr std::u32string_view basic_table =
    U"@\u00A3$\u00A5\u00E8\u00E9\u00F9\u00EC\u00F2\u00C7\n\u00D8\u00F8\r\u00C5\u00E5"       // 0x00-0x0F
    U"\u0394_\u03A6\u0393\u039B\u03A9\u03A0\u03A8\u03A3\u0398\u039E\u00C6\u00E6\u00DF\u00C9"  // 0x10-0x1F
    U" !\"#\u00A4%&'()*+,-./0123456789:;<=>?"                                                 // 0x20-0x3F
    U"\u00A1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00C4\u00D6\u00D1\u00DC\u00A7"                         // 0x40-0x5F
    U"\u00BFabcdefghijklmnopqrstuvwxyz\u00E4\u00F6\u00F1\u00FC\u00E0";                        // 0x60-0x7F
// The extension table: form feed ^ { } \ [ ~ ] | € (ESC + one septet each).
constexpr std::u32string_view extension_table = U"\f^{}\\[~]|\u20AC";

constexpr std::size_t gsm_single = 160, gsm_multi = 153;
constexpr std::size_t ucs_single = 70, ucs_multi = 67;

// Latin-1 Supplement U+00C0–U+00FF: "" = GSM-7 already (kept), else the replacement.
constexpr std::array<const char*, 64> latin1_letters = {
    "A", "A", "A", "A", "",  "",  "",  "",  "E", "",  "E", "E", "I", "I", "I", "I",   // C0-CF
    "D", "",  "O", "O", "O", "O", "",  "x", "",  "U", "U", "U", "",  "Y", "Th", "",   // D0-DF
    "",  "a", "a", "a", "",  "",  "",  "c", "",  "",  "e", "e", "",  "i", "i", "i",   // E0-EF
    "d", "",  "",  "o", "o", "o", "",  "/", "",  "",  "u", "u", "",  "y", "th", "y",  // F0-FF
};

// Latin Extended-A U+0100–U+017F: each letter's base letter(s).
constexpr std::array<const char*, 128> latin_ext_a = {
    "A", "a", "A", "a", "A", "a", "C", "c", "C", "c", "C", "c", "C", "c", "D", "d",      // 100-10F
    "D", "d", "E", "e", "E", "e", "E", "e", "E", "e", "E", "e", "G", "g", "G", "g",      // 110-11F
    "G", "g", "G", "g", "H", "h", "H", "h", "I", "i", "I", "i", "I", "i", "I", "i",      // 120-12F
    "I", "i", "IJ", "ij", "J", "j", "K", "k", "k", "L", "l", "L", "l", "L", "l", "L",    // 130-13F
    "l", "L", "l", "N", "n", "N", "n", "N", "n", "'n", "N", "n", "O", "o", "O", "o",     // 140-14F
    "O", "o", "OE", "oe", "R", "r", "R", "r", "R", "r", "S", "s", "S", "s", "S", "s",    // 150-15F
    "S", "s", "T", "t", "T", "t", "T", "t", "U", "u", "U", "u", "U", "u", "U", "u",      // 160-16F
    "U", "u", "U", "u", "W", "w", "Y", "y", "Y", "Z", "z", "Z", "z", "Z", "z", "s",      // 170-17F
};

// Other characters with a GSM-7 equivalent ("" = none: dropped).
const char* replacement(char32_t c) {
  if (c >= 0xC0 && c <= 0xFF) return latin1_letters[c - 0xC0];
  if (c >= 0x100 && c <= 0x17F) return latin_ext_a[c - 0x100];
  switch (c) {
    case U'\t': return " ";
    case U'`': return "'";
    case 0xA0: return " ";     // no-break space
    case 0xA6: return "|";     // ¦
    case 0xA9: return "(c)";   // ©
    case 0xAA: return "a";     // ª (1ª)
    case 0xAB: return "\"";    // «
    case 0xAC: return "-";     // ¬
    case 0xAE: return "(R)";   // ®
    case 0xB1: return "+/-";   // ±
    case 0xB2: return "2";     // ²
    case 0xB3: return "3";     // ³
    case 0xB4: return "'";     // ´
    case 0xB7: return "-";     // ·
    case 0xB9: return "1";     // ¹
    case 0xBA: return "o";     // º (1º)
    case 0xBB: return "\"";    // »
    case 0xBC: return "1/4";
    case 0xBD: return "1/2";
    case 0xBE: return "3/4";
    case 0x2028: return "\n";  // line separator
    case 0x2029: return "\n";  // paragraph separator
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: case 0x2039: case 0x203A: return "'";
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033: return "\"";
    case 0x2022: case 0x2023: case 0x2043: case 0x2212: case 0x25AA: case 0x25CF: case 0x25E6: return "-";
    case 0x2026: return "...";
    case 0x2122: return "TM";
    default: break;
  }
  if (c >= 0x2010 && c <= 0x2015) return "-";  // hyphens and dashes
  if ((c >= 0x2000 && c <= 0x200A) || c == 0x202F || c == 0x205F || c == 0x3000) return " ";  // spaces
  return "";
}

// Invisible characters: dropped without leaving a gap to close (combining marks that did not
// compose, joiners, variation selectors, soft hyphen, tags, skin-tone modifiers).
bool invisible(char32_t c) {
  return (c >= 0x300 && c <= 0x36F) || (c >= 0x200B && c <= 0x200F) || (c >= 0x2060 && c <= 0x2064) ||
         (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF || c == 0xAD || (c >= 0xE0000 && c <= 0xE007F) ||
         (c >= 0x1F3FB && c <= 0x1F3FF);
}

// A letter followed by a combining mark (decomposed text, as some keyboards and copy-pastes
// produce) → the precomposed letter, so "e" + U+0301 stays "é" rather than losing its accent.
char32_t compose(char32_t base, char32_t mark) {
  struct entry {
    char32_t mark;
    std::u32string_view from, to;
  };
  static constexpr entry table[] = {
      {0x301, U"aeiouynAEIOUYN", U"\u00E1\u00E9\u00ED\u00F3\u00FA\u00FD\u0144\u00C1\u00C9\u00CD\u00D3\u00DA\u00DD\u0143"},
      {0x300, U"aeiouAEIOU", U"\u00E0\u00E8\u00EC\u00F2\u00F9\u00C0\u00C8\u00CC\u00D2\u00D9"},
      {0x303, U"naoNAO", U"\u00F1\u00E3\u00F5\u00D1\u00C3\u00D5"},
      {0x308, U"aeiouyAEIOUY", U"\u00E4\u00EB\u00EF\u00F6\u00FC\u00FF\u00C4\u00CB\u00CF\u00D6\u00DC\u0178"},
      {0x302, U"aeiouAEIOU", U"\u00E2\u00EA\u00EE\u00F4\u00FB\u00C2\u00CA\u00CE\u00D4\u00DB"},
      {0x327, U"cC", U"\u00E7\u00C7"},
  };
  for (const auto& e : table)
    if (e.mark == mark)
      if (auto p = e.from.find(base); p != std::u32string_view::npos) return e.to[p];
  return 0;
}

std::size_t utf16_units(char32_t c) { return c > 0xFFFF ? 2 : 1; }

// Segments for a text of per-character costs, packing `multi` units per segment without
// splitting a character.
template <class Cost>
int pack(const std::u32string& cps, std::size_t total, std::size_t single, std::size_t multi, Cost cost) {
  if (total == 0) return 0;
  if (total <= single) return 1;
  int segments = 1;
  std::size_t used = 0;
  for (char32_t c : cps) {
    const std::size_t k = cost(c);
    if (used + k > multi) {
      ++segments;
      used = 0;
    }
    used += k;
  }
  return segments;
}

}  // namespace

bool gsm7_basic(char32_t c) { return c != 0 && basic_table.find(c) != std::u32string_view::npos; }
bool gsm7_extension(char32_t c) { return c != 0 && extension_table.find(c) != std::u32string_view::npos; }

sms_count sms_segments(std::string_view text) {
  const std::u32string cps = utf8_decode(text);
  sms_count r;
  bool gsm = true;
  std::size_t septets = 0, units = 0;
  for (char32_t c : cps) {
    if (gsm7_basic(c))
      septets += 1;
    else if (gsm7_extension(c))
      septets += 2;
    else
      gsm = false;
    units += utf16_units(c);
  }
  if (gsm) {
    r.encoding = sms_encoding::gsm7;
    r.units = septets;
    r.segments = pack(cps, septets, gsm_single, gsm_multi, [](char32_t c) -> std::size_t {
      return gsm7_extension(c) ? 2 : 1;
    });
  } else {
    r.encoding = sms_encoding::ucs2;
    r.units = units;
    r.segments = pack(cps, units, ucs_single, ucs_multi, utf16_units);
  }
  return r;
}

std::string sms_transliterate(std::string_view text) {
  std::u32string cps = utf8_decode(text);
  // Compose letter + combining mark first.
  std::u32string composed;
  composed.reserve(cps.size());
  for (char32_t c : cps) {
    if (c >= 0x300 && c <= 0x36F && !composed.empty())
      if (char32_t p = compose(composed.back(), c)) {
        composed.back() = p;
        continue;
      }
    composed.push_back(c);
  }

  std::string out;
  out.reserve(text.size());
  bool dropped = false;  // something visible was dropped since the last character written
  auto put = [&](std::string_view s) {
    for (char ch : s) {
      if (ch == ' ') {
        // A space after a drop, where it would be doubled or start a line, goes too.
        if (dropped && (out.empty() || out.back() == ' ' || out.back() == '\n')) continue;
        out.push_back(ch);
        continue;
      }
      if (dropped && !out.empty() && out.back() == ' ' &&
          std::string_view("\r\n.,;:!?)").find(ch) != std::string_view::npos)
        out.pop_back();  // "Hola 👋!" → "Hola!", "Hola 👋\n" → "Hola\n"
      out.push_back(ch);
      dropped = false;
    }
  };
  for (char32_t c : composed) {
    if (gsm7_basic(c) || gsm7_extension(c)) {
      std::string s;
      utf8_append(s, c);
      put(s);
    } else if (const char* r = replacement(c); *r) {
      put(r);
    } else if (!invisible(c)) {
      dropped = true;
    }
  }
  if (dropped && !out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::size_t sms_length(std::string_view text) {
  std::size_t n = 0;
  for (char32_t c : utf8_decode(text)) n += utf16_units(c);
  return n;
}

std::string sms_valid_utf8(std::string_view text) {
  if (utf8_valid(text)) return std::string(text);  // nearly always: no decoding
  std::string out;
  out.reserve(text.size());
  for (char32_t c : utf8_decode(text)) utf8_append(out, c);
  return out;
}

std::vector<std::string> sms_split(std::string_view input, std::size_t limit) {
  // Valid UTF-8 first, so every cut falls between two whole code points; whitespace at the end
  // of a piece bills too, so it goes.
  return adapter_util::utf16_split(sms_valid_utf8(input), limit, /*trim_end=*/true);
}

}  // namespace aula
