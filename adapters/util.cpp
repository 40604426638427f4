#include "adapters/util.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bot/engine/json_text.hpp"
#include "bot/engine/render.hpp"

namespace aula::adapter_util {

using nlohmann::json;

// ---------------------------------------------------------------------------- text

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

std::string lower(std::string s) {
  for (auto& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

void replace_all(std::string& s, const std::string& needle, const std::string& with) {
  if (needle.empty()) return;
  for (auto pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + with.size()))
    s.replace(pos, needle.size(), with);
}

std::string without_trailing_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string redact(std::string s, std::vector<std::string> secrets) {
  const std::string mask = "<redacted>";
  std::sort(secrets.begin(), secrets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& x : secrets) replace_all(s, x, mask);
  return s;
}

// ---------------------------------------------------------------------------- security, encodings

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Time depends on the length of `a` (what was given) only: every byte of it is compared,
  // against `b` (the secret) repeated; a length mismatch is one more difference. (It hashed
  // both with SHA-256 before: 1 % of the server's CPU per webhook for the same guarantee.)
  if (b.empty()) return a.empty();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i % b.size()]);
  return diff == 0;
}

namespace {

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), mac, &len))
    return {};
  return std::string(reinterpret_cast<const char*>(mac), len);
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) { return hmac(EVP_sha256(), key, data); }
std::string hmac_sha1(std::string_view key, std::string_view data) { return hmac(EVP_sha1(), key, data); }

std::string base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out, bad_escape on_bad_escape) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else if (c == '%' && on_bad_escape == bad_escape::fail) {
      return false;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------- HTTP and JSON

const std::string* find_header(const std::map<std::string, std::string>& headers, std::string_view lower_name) {
  const std::string* found = nullptr;
  for (const auto& [k, v] : headers)
    if (lower(k) == lower_name) found = &v;
  return found;
}

parse_result finish(parse_result& r, parse_result::verdict v, std::string why) {
  r.outcome = v;
  r.reason = std::move(why);
  if (v != parse_result::verdict::ok) r.items.clear();
  return r;
}

namespace {

// The length of a well-formed UTF-8 sequence at s[i] (not overlong, not a surrogate, at most
// U+10FFFF); 0 when the bytes there are not one.
std::size_t strict_utf8_len(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  char32_t cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of a "\uXXXX" escape starting at s[i] (the backslash); -1 when it is not one.
long escape_unit(std::string_view s, std::size_t i) {
  if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return -1;
  long v = 0;
  for (std::size_t k = 2; k < 6; ++k) {
    const int h = hex_value(s[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

}  // namespace

std::string repair_json_text(std::string_view s) {
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(s.size());
  std::size_t run = 0;  // start of the bytes kept as they are, not yet copied
  std::size_t i = 0;
  // Replaces the n bytes at i by `by`.
  const auto replace = [&](std::size_t n, std::string_view by) {
    out.append(s.data() + run, i - run);
    out += by;
    i += n;
    run = i;
  };
  while (i < s.size()) {
#if defined(__SSE2__)
    // Sixteen bytes a step past those kept as they are without a look (no backslash, no byte
    // of 0x80 or more: most of a body). The compare sets a backslash's high bit; movemask
    // takes each byte's high bit.
    const __m128i backslash = _mm_set1_epi8('\\');
    while (i + 16 <= s.size()) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      if (const int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, backslash), x))) {
        i += static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(m)));
        break;
      }
      i += 16;
    }
    if (i >= s.size()) break;
#endif
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      const long unit = escape_unit(s, i);
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        const long low = escape_unit(s, i + 6);
        if (low >= 0xDC00 && low <= 0xDFFF)  // a proper pair: kept
          i += 12;
        else
          replace(6, "\\ufffd");
        continue;
      }
      if (unit >= 0xDC00 && unit <= 0xDFFF) {  // a low surrogate alone
        replace(6, "\\ufffd");
        continue;
      }
      i += 2;  // any other escape, "\\" included: both characters as they are
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = strict_utf8_len(s, i);
    if (n == 0)
      replace(1, replacement);
    else
      i += n;
  }
  out.append(s.data() + run, s.size() - run);
  return out;
}

std::string dump(const json& j) { return json_text::write(j, json::error_handler_t::replace); }

const json* member(const json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

const json* object_member(const json& o, const char* key) {
  const json* v = member(o, key);
  return v && v->is_object() ? v : nullptr;
}

const json* array_member(const json& o, const char* key) {
  const json* v = member(o, key);
  return v && v->is_array() ? v : nullptr;
}

std::string string_member(const json& o, const char* key) {
  const json* v = member(o, key);
  return v && v->is_string() ? v->get<std::string>() : std::string{};
}

std::optional<std::string> int64_text(const json* v) {
  if (!v || !v->is_number_integer()) return std::nullopt;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return std::to_string(u);
  }
  return std::to_string(v->get<std::int64_t>());
}

// ---------------------------------------------------------------------------- picked values

const json* picked_values::find(std::string_view path) const {
  // Each path is there once at most (json_text::pick gives up on a repeated member).
  for (auto it = values.rbegin(); it != values.rend(); ++it)
    if (it->first == path) return &it->second;
  return nullptr;
}

std::optional<picked_values> pick_values(std::string_view body, const json_text::path_set& paths) {
  // Without a document where json_text can (the values in document order); else
  // json_text's document, cheaper than nlohmann's SAX events with a path built per value.
  if (auto found = json_text::pick(body, paths)) return picked_values{std::move(*found)};
  const json doc = json_text::parse_or_discarded(body);
  if (!doc.is_object()) return std::nullopt;
  picked_values out;
  for (const auto path : paths.paths()) {
    const json* v = json_text::at_path(doc, path);
    if (!v || out.find(path)) continue;
    out.values.emplace_back(path, v->is_object() ? json::object() : v->is_array() ? json::array() : *v);
  }
  return out;
}

std::optional<picked_values> pick_values(std::string_view body, const std::vector<std::string_view>& paths) {
  return pick_values(body, json_text::path_set(paths));
}

// ---------------------------------------------------------------------------- UTF-16 lengths

namespace {

std::size_t units_of(std::size_t seq_len) { return seq_len == 4 ? 2 : 1; }

}  // namespace

std::size_t utf8_seq_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  return n;
}

std::size_t utf16_length(std::string_view s) {
  std::size_t units = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_seq_len(s, i);
    units += units_of(n);
    i += n;
  }
  return units;
}

std::size_t utf16_fit_end(std::string_view s, std::size_t from, std::size_t limit) {
  // A code point never takes more UTF-16 units than bytes (a byte that is not UTF-8 counts one).
  if (from <= s.size() && s.size() - from <= limit) return s.size();
  std::size_t end = from, units = 0;
  while (end < s.size()) {
    const std::size_t n = utf8_seq_len(s, end);
    if (units + units_of(n) > limit) break;
    units += units_of(n);
    end += n;
  }
  return end;
}

std::size_t utf16_fit_start(std::string_view s, std::size_t limit) {
  std::size_t total = 0;
  std::vector<std::size_t> starts;  // code point starts
  for (std::size_t i = 0; i < s.size();) {
    starts.push_back(i);
    const std::size_t n = utf8_seq_len(s, i);
    total += units_of(n);
    i += n;
  }
  std::size_t before = 0;  // units before starts[k]
  for (std::size_t k = 0; k < starts.size(); ++k) {
    if (total - before <= limit) return starts[k];
    before += units_of(utf8_seq_len(s, starts[k]));
  }
  return s.size();
}

std::vector<std::string> utf16_split(std::string_view text, std::size_t limit, bool trim_end) {
  std::vector<std::string> out;
  auto keep = [&out, trim_end](std::string_view piece) {
    if (blank(piece)) return;
    if (trim_end) piece.remove_suffix(piece.size() - (piece.find_last_not_of(" \t\r\n") + 1));
    out.emplace_back(piece);
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    // The longest prefix from `pos` that fits, ending on a code point boundary.
    std::size_t end = utf16_fit_end(text, pos, limit);
    if (end == text.size()) {
      keep(text.substr(pos));
      break;
    }
    if (end == pos) end = pos + utf8_seq_len(text, pos);  // a limit below one code point still advances
    // A break at `end` itself is fine (it is dropped), so look in [pos, end].
    const std::string_view w = text.substr(pos, end - pos + 1);
    const std::size_t half = w.size() / 2;
    std::size_t cut = 0, skip = 0;
    if (auto p = w.rfind("\n\n"); p != std::string_view::npos && p >= half && p > 0) {
      cut = p, skip = 2;
    } else if (p = w.rfind('\n'); p != std::string_view::npos && p >= half) {
      cut = p, skip = 1;
    } else if (p = w.find_last_of(" \t"); p != std::string_view::npos && p >= half) {
      cut = p, skip = 1;
    } else if (p = w.find_last_of("\n \t"); p != std::string_view::npos && p > 0) {
      cut = p, skip = 1;
    } else {
      cut = end - pos, skip = 0;  // one long word: cut between code points
    }
    keep(w.substr(0, cut));
    pos += cut + skip;
  }
  return out;
}

// ---------------------------------------------------------------------------- messages

std::string media_link(const media& a) {
  const std::string icon = a.type == "image" ? "🖼" : a.type == "audio" ? "🔊" : "📄";
  return icon + " " + a.url + (a.filename.empty() ? "" : " (" + a.filename + ")");
}

std::string text_with_menu(const outbound_message& m, bool as_buttons) {
  if (as_buttons || m.choices.empty() || m.menu == menu_style::none) return m.text;
  outbound_message plain = m;
  plain.attachment.reset();
  if (plain.menu == menu_style::buttons) plain.menu = menu_style::numbered;
  return render_plain(plain);
}

}  // namespace aula::adapter_util
