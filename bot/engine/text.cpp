#include "bot/engine/text.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstdio>

namespace aula {

namespace {

// The code point of the well-formed UTF-8 sequence at s[i] in cp; the bytes it takes, 0 when
// it is truncated, overlong, a surrogate, above U+10FFFF or not a lead byte.
std::size_t decode_at(std::string_view s, std::size_t i, char32_t& cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t extra = 0;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    cp = c & 0x1F;
    extra = 1;
  } else if ((c & 0xF0) == 0xE0) {
    cp = c & 0x0F;
    extra = 2;
  } else if ((c & 0xF8) == 0xF0) {
    cp = c & 0x07;
    extra = 3;
  } else {
    return 0;
  }
  if (i + extra >= s.size()) return 0;
  for (std::size_t k = 1; k <= extra; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return extra + 1;
}

}  // namespace

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    const std::size_t n = decode_at(s, i, cp);
    out.push_back(n ? cp : 0xFFFD);
    i += n ? n : 1;
  }
  return out;
}

bool utf8_valid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t n = decode_at(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Base letter (lower case) of a Latin letter with diacritics, or 0 when cp is not a letter
// we fold. Covers Latin-1 Supplement and Latin Extended-A, which hold every letter used in
// Spanish, Portuguese, French, Catalan and the other languages of learners here.
char32_t fold_latin(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) return cp;
  if (cp >= 0xC0 && cp <= 0xFF) {
    static const char* map =
        "aaaaaaaceeeeiiii"   // C0-CF
        "dnooooo*ouuuuyts"   // D0-DF (D7 multiplication sign, DF sharp s)
        "aaaaaaaceeeeiiii"   // E0-EF
        "dnooooo/ouuuuyty";  // F0-FF (F7 division sign)
    char c = map[cp - 0xC0];
    return (c == '*' || c == '/') ? 0 : static_cast<char32_t>(c);
  }
  if (cp >= 0x100 && cp <= 0x17F) {
    static const char* map =
        "aaaaaaccccccccdd"   // 100-10F
        "ddeeeeeeeeeegggg"   // 110-11F
        "gggghhhhiiiiiiii"   // 120-12F
        "iiiijjkkklllllll"   // 130-13F
        "lllnnnnnnnnnoooo"   // 140-14F
        "oooorrrrrrssssss"   // 150-15F
        "ssttttttuuuuuuuu"   // 160-16F
        "uuuuwwyyyzzzzzzs";  // 170-17F
    return static_cast<char32_t>(map[cp - 0x100]);
  }
  // Other scripts: keep letters as they are (no case folding beyond Latin).
  if (cp >= 0x370 && cp <= 0x1FFF) return cp;
  if (cp >= 0x3040 && cp <= 0x9FFF) return cp;
  return 0;
}

}  // namespace

std::string fold(std::string_view s) {
  // Decoded in place (no code point string of its own): learners' answers and the flows'
  // options are folded on every message, and most of their bytes are ASCII. Written through a
  // pointer into room made once: a folded code point takes no more bytes than the one it
  // stands for (an ASCII letter, or a letter of another script as it is), and a space stands
  // for at least one byte that gave nothing, so the result is never longer than s.
  std::string out(s.size(), '\0');
  char* const first = out.data();
  char* p = first;
  bool pending_space = false;
  const auto put = [&](char32_t f) {
    if (f == 0) {
      pending_space = p != first;
      return;
    }
    if (pending_space) {
      *p++ = ' ';
      pending_space = false;
    }
    if (f < 0x80) {
      *p++ = static_cast<char>(f);
    } else if (f < 0x800) {
      *p++ = static_cast<char>(0xC0 | (f >> 6));
      *p++ = static_cast<char>(0x80 | (f & 0x3F));
    } else {  // fold_latin keeps nothing above U+9FFF
      *p++ = static_cast<char>(0xE0 | (f >> 12));
      *p++ = static_cast<char>(0x80 | ((f >> 6) & 0x3F));
      *p++ = static_cast<char>(0x80 | (f & 0x3F));
    }
  };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      put(fold_latin(c));
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t n = decode_at(s, i, cp);
    i += n ? n : 1;
    if (!n) cp = 0xFFFD;                       // a malformed byte: as utf8_decode gives it
    if (cp >= 0x300 && cp <= 0x36F) continue;  // combining accents (decomposed text): dropped
    put(fold_latin(cp));
  }
  out.resize(static_cast<std::size_t>(p - first));
  return out;
}

namespace {

// The spaces trim takes off beyond ASCII's, as UTF-8 bytes (so the kept part is returned byte
// for byte): no-break, zero-width, narrow no-break, ideographic, BOM, and U+2000..U+200A.
constexpr std::string_view wide_spaces[] = {
    "\xC2\xA0",     "\xE2\x80\x8B", "\xE2\x80\xAF", "\xE3\x80\x80", "\xEF\xBB\xBF", "\xE2\x80\x80",
    "\xE2\x80\x81", "\xE2\x80\x82", "\xE2\x80\x83", "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86",
    "\xE2\x80\x87", "\xE2\x80\x88", "\xE2\x80\x89", "\xE2\x80\x8A"};

// The bytes of the space `c` is (an ASCII byte: space, tab, newline, vertical tab, form feed,
// carriage return), or of the wide one `s` starts (`front`) or ends with; 0 when none. An
// ASCII byte that is no space answers at once (placeholders and answers are trimmed often).
std::size_t space_at(std::string_view s, bool front) {
  if (s.empty()) return 0;
  const auto c = static_cast<unsigned char>(front ? s.front() : s.back());
  if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r') ? 1 : 0;
  for (const auto sp : wide_spaces)
    if (front ? s.starts_with(sp) : s.ends_with(sp)) return sp.size();
  return 0;
}

}  // namespace

std::string trim(std::string_view s) {
  while (const std::size_t n = space_at(s, true)) s.remove_prefix(n);
  while (const std::size_t n = space_at(s, false)) s.remove_suffix(n);
  return std::string(s);
}

namespace {

// Finds numbers in s; a number is [+-]?digits([.,]digits)?. Returns all of them.
std::vector<double> find_numbers(std::string_view s) {
  std::vector<double> out;
  std::size_t i = 0;
  while (i < s.size()) {
    bool neg = false;
    std::size_t start = i;
    if ((s[i] == '-' || s[i] == '+') && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
        (i == 0 || !std::isalnum(static_cast<unsigned char>(s[i - 1])))) {
      neg = s[i] == '-';
      ++i;
    }
    if (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      std::string digits;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) digits.push_back(s[i++]);
      if (i + 1 < s.size() && (s[i] == '.' || s[i] == ',') && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
        digits.push_back('.');
        ++i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) digits.push_back(s[i++]);
      }
      double v = std::strtod(digits.c_str(), nullptr);
      out.push_back(neg ? -v : v);
      continue;
    }
    i = start + 1;
  }
  return out;
}

}  // namespace

std::optional<double> parse_number(std::string_view s) {
  auto nums = find_numbers(s);
  if (nums.size() != 1 || !std::isfinite(nums[0])) return std::nullopt;
  return nums[0];
}

std::optional<long> parse_index(std::string_view s) {
  std::string t = trim(s);
  if (t.empty() || t.size() > 6) return std::nullopt;
  // Accept a trailing "." or ")" as people type "2." or "2)".
  if (t.back() == '.' || t.back() == ')') t.pop_back();
  if (t.empty() || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stol(t);
}

std::vector<std::string> split_multi(std::string_view s) {
  std::vector<std::string> parts;
  std::string cur;
  auto flush = [&] {
    std::string t = trim(cur);
    if (!t.empty()) parts.push_back(t);
    cur.clear();
  };
  for (char c : s) {
    if (c == ',' || c == ';' || c == '/' || c == '\n') {
      flush();
    } else {
      cur.push_back(c);
    }
  }
  flush();
  // Split further on the words "y"/"and"/"e" and on spaces between bare numbers ("1 4 7").
  std::vector<std::string> out;
  for (auto& p : parts) {
    std::vector<std::string> words;
    std::string w;
    for (char c : p + " ") {
      if (c == ' ') {
        if (!w.empty()) words.push_back(w);
        w.clear();
      } else {
        w.push_back(c);
      }
    }
    bool all_numbers = !words.empty();
    for (auto& x : words) {
      std::string f = fold(x);
      if (f != "y" && f != "e" && f != "and" && !parse_index(x)) all_numbers = false;
    }
    if (all_numbers) {
      for (auto& x : words) {
        std::string f = fold(x);
        if (f != "y" && f != "e" && f != "and") out.push_back(x);
      }
      continue;
    }
    // "a y c": split on the conjunction only.
    std::string piece;
    for (auto& x : words) {
      std::string f = fold(x);
      if (f == "y" || f == "and") {
        if (!piece.empty()) out.push_back(piece);
        piece.clear();
      } else {
        piece += piece.empty() ? x : " " + x;
      }
    }
    if (!piece.empty()) out.push_back(piece);
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string format_number(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace aula
