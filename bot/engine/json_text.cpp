#include "bot/engine/json_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace aula::json_text {

using nlohmann::json;

namespace detail {

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (lead byte >= 0x80), 0 when it is not one
// (the sequences nlohmann accepts: no overlongs, surrogates or code points above U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    const unsigned x = at(k);
    return i + k < s.size() && x >= lo && x <= hi;
  };
  const unsigned c = at(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

bool hex4(std::string_view s, std::size_t at, std::uint32_t& v) {
  if (at + 4 > s.size()) return false;
  v = 0;
  for (std::size_t k = at; k < at + 4; ++k) {
    const char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
    else return false;
  }
  return true;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The \\u escape at s[i] (four hex digits; a surrogate pair as one character) appended to out
// as UTF-8; the bytes it took, 0 when it is not one nlohmann accepts (a lone surrogate).
std::size_t unicode_escape(std::string_view s, std::size_t i, std::string& out) {
  std::uint32_t cp = 0, low = 0;
  if (i + 1 >= s.size() || s[i] != '\\' || s[i + 1] != 'u' || !hex4(s, i + 2, cp)) return 0;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return 0;  // a low surrogate alone
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (i + 7 >= s.size() || s[i + 6] != '\\' || s[i + 7] != 'u' || !hex4(s, i + 8, low) || low < 0xDC00 ||
        low > 0xDFFF)
      return 0;
    append_utf8(out, 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00));
    return 12;
  }
  append_utf8(out, cp);
  return 6;
}

// Bytes a JSON string takes as they are (printable ASCII but " and \\).
constexpr auto plain_bytes = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

// The first index from i on whose byte a JSON string does not take as it is — a quote, a
// backslash, a control character — or where a sequence that is not well-formed UTF-8 starts;
// s.size() when there is none. Sixteen bytes a step where SSE2 is there (every x86-64): a
// signed compare below 0x20 finds a control character and a byte of 0x80 or more at once, and
// a well-formed sequence found that way is stepped over here, the scan going on from the byte
// after it. (Returning at every such byte for the caller to check it cost Spanish text a call
// and a return per accented letter: ~3 % of the server's instructions went to this scan.)
std::size_t plain_run_end(std::string_view s, std::size_t i) {
  for (;;) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    bool stopped = false;
    while (i + 16 <= s.size()) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      const __m128i stop =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)), _mm_cmplt_epi8(x, space));
      if (const int m = _mm_movemask_epi8(stop)) {
        i += static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(m)));
        stopped = true;
        break;
      }
      i += 16;
    }
    if (!stopped)
#endif
      while (i < s.size() && plain_bytes[static_cast<unsigned char>(s[i])]) ++i;
    if (i == s.size() || static_cast<unsigned char>(s[i]) < 0x80) return i;
    const std::size_t n = utf8_length(s, i);
    if (n == 0) return i;
    i += n;
  }
}

}  // namespace

bool put_string(std::string& out, std::string_view s) {
  // The bytes before the first that needs an escape, checked as UTF-8.
  std::size_t i = plain_run_end(s, 0);
  if (i < s.size() && static_cast<unsigned char>(s[i]) >= 0x80) return false;  // not UTF-8
  const std::size_t was = out.size();
  if (i == s.size()) {  // none (most strings): copied at once into room made once
    out.resize(was + s.size() + 2);
    char* p = out.data() + was;
    *p++ = '"';
    p = std::copy_n(s.data(), s.size(), p);
    *p = '"';
    return true;
  }
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet copied
  while (i < s.size()) {
    i = plain_run_end(s, i);
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {  // not UTF-8
      out.resize(was);
      return false;
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default: {
        static constexpr char hex[] = "0123456789abcdef";
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
  return true;
}

namespace {

// read_string's checks without keeping the text (a value the picker passes over).
struct no_text {
  void clear() {}
  void append(const char*, std::size_t) {}
  void operator+=(char) {}
};

template <class Out>
std::size_t scan_string(std::string_view s, std::size_t i, Out& out) {
  out.clear();
  std::size_t run = ++i;  // start of the bytes not yet copied
  while (i < s.size()) {
    i = plain_run_end(s, i);
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      out.append(s.data() + run, i - run);
      return i + 1;
    }
    if (c < 0x20 || c >= 0x80) return 0;  // a control character, or not UTF-8
    out.append(s.data() + run, i - run);  // at a backslash
    if (i + 1 >= s.size()) return 0;
    char e = 0;
    switch (s[i + 1]) {
      case '"': e = '"'; break;
      case '\\': e = '\\'; break;
      case '/': e = '/'; break;
      case 'b': e = '\b'; break;
      case 'f': e = '\f'; break;
      case 'n': e = '\n'; break;
      case 'r': e = '\r'; break;
      case 't': e = '\t'; break;
      case 'u': {
        std::size_t n = 0;
        if constexpr (std::is_same_v<Out, std::string>) {
          n = unicode_escape(s, i, out);
        } else {
          std::string decoded;
          n = unicode_escape(s, i, decoded);
        }
        if (n == 0) return 0;
        i += n;
        run = i;
        continue;
      }
      default: return 0;
    }
    out += e;
    i += 2;
    run = i;
  }
  return 0;
}

}  // namespace

std::size_t read_string(std::string_view s, std::size_t i, std::string& out) { return scan_string(s, i, out); }

std::size_t skip_string(std::string_view s, std::size_t i) {
  no_text none;
  return scan_string(s, i, none);
}

}  // namespace detail

namespace {

// j appended to out as dump() writes it; false at a string that is not UTF-8 (or a kind of
// value the server never holds: binary, discarded).
bool put(std::string& out, const json& j) {
  char num[24];
  switch (j.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : j.get_ref<const json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        if (!detail::put_string(out, k)) return false;
        out += ':';
        if (!put(out, v)) return false;
      }
      out += '}';
      return true;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& v : j.get_ref<const json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        if (!put(out, v)) return false;
      }
      out += ']';
      return true;
    }
    case json::value_t::string: return detail::put_string(out, j.get_ref<const std::string&>());
    case json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; return true;
    case json::value_t::null: out += "null"; return true;
    case json::value_t::number_integer:
      out.append(num, std::to_chars(num, num + sizeof num, j.get<std::int64_t>()).ptr);
      return true;
    case json::value_t::number_unsigned:
      out.append(num, std::to_chars(num, num + sizeof num, j.get<std::uint64_t>()).ptr);
      return true;
    case json::value_t::number_float: out += j.dump(); return true;  // nlohmann's shortest form
    default: return false;
  }
}

class reader {
 public:
  explicit reader(std::string_view s) : s_(s) {}

  bool document(json& out) {
    if (!value(out, 0)) return false;
    ws();
    return i_ == s_.size();
  }

 protected:
  static constexpr int max_depth = 64;

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  // At an opening bracket: consumes it, and its closing one when nothing is between.
  bool opened_empty(char close) {
    ++i_;
    ws();
    if (i_ < s_.size() && s_[i_] == close) {
      ++i_;
      return true;
    }
    return false;
  }

  // After a member or an item: 1 at a ',' (more follow), 0 at `close` (consumed), -1 otherwise.
  int next(char close) {
    ws();
    if (i_ >= s_.size()) return -1;
    if (s_[i_] == ',') {
      ++i_;
      return 1;
    }
    if (s_[i_] != close) return -1;
    ++i_;
    return 0;
  }

  // At a member's name: the name into `key` (nullptr: only checked), and past the ':' after it.
  bool name(std::string* key) {
    ws();
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    if (key ? !string(*key) : !skip_string()) return false;
    ws();
    if (i_ >= s_.size() || s_[i_] != ':') return false;
    ++i_;
    return true;
  }
  bool name(std::string& key) { return name(&key); }

  // At the opening quote: the string checked, not kept.
  bool skip_string() {
    const std::size_t end = detail::skip_string(s_, i_);
    if (end == 0) return false;
    i_ = end;
    return true;
  }

  // The end of the integer at i_ and the number of its digits; 0 when the text there is not
  // one in the subset (no digit, a leading zero, a fraction or an exponent).
  std::size_t integer_end(std::size_t& digits) const {
    std::size_t d = s_[i_] == '-' ? i_ + 1 : i_;
    if (d >= s_.size() || s_[d] < '0' || s_[d] > '9') return 0;
    if (s_[d] == '0' && d + 1 < s_.size() && s_[d + 1] >= '0' && s_[d + 1] <= '9') return 0;
    std::size_t end = d;
    while (end < s_.size() && s_[end] >= '0' && s_[end] <= '9') ++end;
    if (end < s_.size() && (s_[end] == '.' || s_[end] == 'e' || s_[end] == 'E')) return 0;
    digits = end - d;
    return end;
  }

  // number()'s checks without its value (from_chars only where 64 bits might not hold it).
  bool skip_number() {
    std::size_t digits = 0;
    const std::size_t end = integer_end(digits);
    if (end == 0) return false;
    if (digits > 18) {
      json v;
      return number(v);
    }
    i_ = end;
    return true;
  }

  bool value(json& out, int depth) {
    ws();
    if (i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{': return object(out, depth + 1);
      case '[': return array(out, depth + 1);
      case '"': {
        std::string v;
        if (!string(v)) return false;
        out = std::move(v);
        return true;
      }
      case 't': return literal("true") && (out = true, true);
      case 'f': return literal("false") && (out = false, true);
      case 'n': return literal("null") && (out = nullptr, true);
      default: return number(out);
    }
  }

  bool object(json& out, int depth) {
    if (depth > max_depth) return false;
    out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    if (opened_empty('}')) return true;
    std::string key;
    for (;;) {
      if (!name(key)) return false;
      json v;
      if (!value(v, depth)) return false;
      members[key] = std::move(v);  // a repeated member: the last one counts, as nlohmann's
      if (const int more = next('}'); more <= 0) return more == 0;
    }
  }

  bool array(json& out, int depth) {
    if (depth > max_depth) return false;
    out = json::array();
    auto& items = out.get_ref<json::array_t&>();
    if (opened_empty(']')) return true;
    for (;;) {
      items.emplace_back();
      if (!value(items.back(), depth)) return false;
      if (const int more = next(']'); more <= 0) return more == 0;
    }
  }

  // At the opening quote.
  bool string(std::string& out) {
    const std::size_t end = detail::read_string(s_, i_, out);
    if (end == 0) return false;
    i_ = end;
    return true;
  }

  // An integer: unsigned when not negative, signed when negative (as nlohmann stores them);
  // anything with a fraction or an exponent, or beyond 64 bits, is left to nlohmann.
  bool number(json& out) {
    const std::size_t start = i_;
    const bool negative = s_[i_] == '-';
    std::size_t digits = 0;
    const std::size_t end = integer_end(digits);
    if (end == 0) return false;
    const char* first = s_.data() + start;
    const char* last = s_.data() + end;
    if (negative) {
      std::int64_t v = 0;
      const auto r = std::from_chars(first, last, v);
      if (r.ec != std::errc{} || r.ptr != last) return false;
      out = v;
    } else {
      std::uint64_t v = 0;
      const auto r = std::from_chars(first, last, v);
      if (r.ec != std::errc{} || r.ptr != last) return false;
      out = v;
    }
    i_ = end;
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// The reader's grammar without a document: values at the wanted paths are kept, everything
// else is only checked. Gives up (nullopt: the caller reads the document instead) where the
// document could say otherwise: a member the paths go through given twice in one object, or
// anything the reader leaves to nlohmann.
class picker : reader {
 public:
  picker(std::string_view s, const path_set& paths) : reader(s), paths_(paths) {
    found_.reserve(16);
    seen_.reserve(64);
  }

  std::optional<std::vector<std::pair<std::string_view, json>>> run() {
    ws();
    if (i_ >= s_.size() || s_[i_] != '{') return std::nullopt;
    const path_set::node& root = paths_.root();
    if (!members(1, root.children.empty() ? nullptr : &root)) return std::nullopt;
    ws();
    if (i_ != s_.size()) return std::nullopt;
    return std::move(found_);
  }

 private:
  using node = path_set::node;

  // The value at i_, whose place in the paths is `at` (nullptr: no path goes there).
  bool pick(int depth, const node* at) {
    ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    const bool container = c == '{' || c == '[';
    if (at && !at->paths.empty()) {
      // A container is read whole only where the set keeps them so and no path goes inside.
      if (container && !(at->children.empty() && paths_.kept() == path_set::containers::whole)) {
        for (const auto p : at->paths) found_.emplace_back(p, c == '{' ? json::object() : json::array());
      } else {
        json v;
        if (!value(v, depth)) return false;
        for (std::size_t k = 1; k < at->paths.size(); ++k) found_.emplace_back(at->paths[k], v);
        found_.emplace_back(at->paths.front(), std::move(v));
        return true;
      }
    }
    const node* inside = at && !at->children.empty() ? at : nullptr;
    if (c == '{') return members(depth + 1, inside);
    if (c == '[') return items(depth + 1, inside);
    if (c == '"') return skip_string();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return skip_number();
  }

  bool members(int depth, const node* at) {
    if (depth > max_depth) return false;
    if (opened_empty('}')) return true;
    // Which of at's members were met (a repeat gives up), on a stack shared with the objects
    // inside this one.
    const std::size_t seen_from = seen_.size();
    if (at) seen_.resize(seen_from + at->children.size(), 0);
    for (;;) {
      if (!name(at ? &scratch_ : nullptr)) return false;
      const node* child = nullptr;
      if (at)
        for (std::size_t k = 0; k < at->children.size(); ++k) {
          const node& c = at->children[k];
          if (c.position != path_set::no_position || c.name != scratch_) continue;
          if (seen_[seen_from + k]) return false;
          seen_[seen_from + k] = 1;
          child = &c;
          break;
        }
      if (!pick(depth, child)) return false;
      if (const int more = next('}'); more <= 0) {
        seen_.resize(seen_from);
        return more == 0;
      }
    }
  }

  bool items(int depth, const node* at) {
    if (depth > max_depth) return false;
    if (opened_empty(']')) return true;
    for (std::size_t k = 0;; ++k) {
      const node* child = nullptr;
      if (at)
        for (const node& c : at->children)
          if (c.position == k) child = &c;
      if (!pick(depth, child)) return false;
      if (const int more = next(']'); more <= 0) return more == 0;
    }
  }

  const path_set& paths_;
  std::vector<std::pair<std::string_view, json>> found_;
  std::vector<char> seen_;
  std::string scratch_;
};

}  // namespace

const json* at_path(const json& doc, std::string_view path) {
  const json* at = &doc;
  std::string name;
  std::size_t i = 0;
  for (;;) {
    name.clear();
    bool position = i < path.size() && path[i] == '#';
    if (position) ++i;
    while (i < path.size() && path[i] != '/') {
      if (path[i] == '\\' && i + 1 < path.size()) ++i;
      name += path[i++];
    }
    if (position) {
      std::size_t k = 0;
      const auto r = std::from_chars(name.data(), name.data() + name.size(), k);
      if (name.empty() || r.ec != std::errc{} || r.ptr != name.data() + name.size() || !at->is_array() ||
          k >= at->size())
        return nullptr;
      at = &(*at)[k];
    } else {
      if (!at->is_object()) return nullptr;
      const auto it = at->find(name);
      if (it == at->end()) return nullptr;
      at = &*it;
    }
    if (i == path.size()) return at;
    ++i;  // the '/'
  }
}

path_set::path_set(const std::vector<std::string_view>& paths, containers kept) : paths_(paths), kept_(kept) {
  for (const auto path : paths) {
    // Read as at_path() reads it: a path with a position that is not a number leads nowhere.
    node* at = &root_;
    std::string name;
    std::size_t i = 0;
    bool somewhere = true;
    for (;;) {
      name.clear();
      const bool position = i < path.size() && path[i] == '#';
      if (position) ++i;
      while (i < path.size() && path[i] != '/') {
        if (path[i] == '\\' && i + 1 < path.size()) ++i;
        name += path[i++];
      }
      std::size_t k = no_position;
      if (position) {
        const auto r = std::from_chars(name.data(), name.data() + name.size(), k);
        if (name.empty() || r.ec != std::errc{} || r.ptr != name.data() + name.size() || k == no_position) {
          somewhere = false;
          break;
        }
        name.clear();
      }
      auto child = std::find_if(at->children.begin(), at->children.end(),
                                [&](const node& c) { return c.position == k && c.name == name; });
      if (child == at->children.end()) {
        at->children.push_back(node{name, k, {}, {}});
        child = at->children.end() - 1;
      }
      at = &*child;
      if (i == path.size()) break;
      ++i;  // the '/'
    }
    if (somewhere && std::find(at->paths.begin(), at->paths.end(), path) == at->paths.end()) at->paths.push_back(path);
  }
}

std::optional<std::vector<std::pair<std::string_view, json>>> pick(std::string_view text, const path_set& paths) {
  return picker(text, paths).run();
}

std::optional<std::vector<std::pair<std::string_view, json>>> pick(std::string_view text,
                                                                   const std::vector<std::string_view>& paths) {
  return pick(text, path_set(paths));
}

values::values(std::string_view text, const path_set& paths) : text_(text), picked_(pick(text, paths)) {
  if (!picked_) doc_ = parse_or_discarded(text);
}

const json* values::at(std::string_view path) const {
  if (doc_) return at_path(*doc_, path);
  for (const auto& [p, v] : *picked_)
    if (p == path) return &v;
  return nullptr;
}

void values::read_document() {
  if (doc_) return;
  doc_ = parse_or_discarded(text_);
  picked_.reset();
}

std::optional<json> read_plain(std::string_view text) {
  json out;
  reader r(text);
  if (!r.document(out)) return std::nullopt;
  return out;
}

json parse(std::string_view text) {
  if (auto j = read_plain(text)) return std::move(*j);
  return json::parse(text);
}

json parse_or_discarded(std::string_view text) {
  if (auto j = read_plain(text)) return std::move(*j);
  return json::parse(text, nullptr, false);
}

std::vector<json> parse_each(const std::vector<std::string>& texts) {
  std::vector<json> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(parse(t));
  return out;
}

bool identical(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
      if (ia.key() != ib.key() || !identical(ia.value(), ib.value())) return false;
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k)
      if (!identical(a[k], b[k])) return false;
    return true;
  }
  return a == b;
}

void append_string(std::string& out, std::string_view s) {
  if (!detail::put_string(out, s)) out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// Room in s for `more` bytes: past the small buffer at once to `first`, then doubling (a body's
// members would otherwise move it 15 → 30 → 60 → 120 → 240 bytes, one allocation each).
void room(std::string& s, std::size_t more, std::size_t first) {
  if (s.size() + more > s.capacity()) s.reserve(std::max({first, 2 * s.capacity(), s.size() + more}));
}

}  // namespace

object& object::add(std::string_view key, std::size_t value_from) {
  room(keys_, key.size(), 96);
  const std::string_view keys(keys_);
  if (!members_.empty()) {
    const int order = keys.substr(members_.back().key, members_.back().key_size).compare(key);
    if (order > 0) in_order_ = false;
    // While the keys come in key order, each is above all before it: only the last can equal it.
    const bool twice = order == 0 || (!in_order_ && std::any_of(members_.begin(), members_.end(), [&](const member& m) {
                                        return keys.substr(m.key, m.key_size) == key;
                                      }));
    if (twice) throw std::logic_error("json_text::object: the key '" + std::string(key) + "' added twice");
  }
  const bool plain = std::all_of(key.begin(), key.end(), [](char c) { return detail::plain_bytes[static_cast<unsigned char>(c)]; });
  members_.push_back({keys_.size(), key.size(), value_from, values_.size() - value_from, plain});
  keys_.append(key);
  return *this;
}

object& object::string(std::string_view key, std::string_view value) {
  room(values_, value.size() + 2, 256);
  const std::size_t from = values_.size();
  append_string(values_, value);
  return add(key, from);
}

object& object::integer(std::string_view key, std::int64_t value) {
  const std::size_t from = values_.size();
  char num[24];
  values_.append(num, std::to_chars(num, num + sizeof num, value).ptr);
  return add(key, from);
}

object& object::boolean(std::string_view key, bool value) {
  const std::size_t from = values_.size();
  values_ += value ? "true" : "false";
  return add(key, from);
}

object& object::raw(std::string_view key, std::string_view json_value) {
  room(values_, json_value.size(), 256);
  const std::size_t from = values_.size();
  values_.append(json_value);
  return add(key, from);
}

std::string object::text() const {
  std::string out;
  out.reserve(keys_.size() + values_.size() + 4 * members_.size() + 2);
  append_text(out);
  return out;
}

void object::append_text(std::string& out) const {
  const std::string_view keys(keys_);
  boost::container::small_vector<const member*, 8> order;  // in key order, when added out of it
  if (!in_order_) {
    for (const member& m : members_) order.push_back(&m);
    std::sort(order.begin(), order.end(), [&keys](const member* a, const member* b) {
      return keys.substr(a->key, a->key_size) < keys.substr(b->key, b->key_size);
    });
  }
  const auto each = [&](const auto& put) {
    if (in_order_)
      for (const member& m : members_) put(m);
    else
      for (const member* m : order) put(*m);
  };
  // Keys whose bytes go as they are (most objects): the text's length is known, so it is
  // written through a pointer into room made once (a call per character otherwise).
  std::size_t length = 2 + (members_.empty() ? 0 : members_.size() - 1);
  bool plain = true;
  for (const member& m : members_) {
    length += m.key_size + 3 + m.value_size;
    plain = plain && m.plain_key;
  }
  if (plain) {
    const std::size_t at = out.size();
    out.resize(at + length);
    char* const first = out.data() + at + 1;
    char* p = first;
    first[-1] = '{';
    each([&](const member& m) {
      if (p != first) *p++ = ',';
      *p++ = '"';
      p = std::copy_n(keys_.data() + m.key, m.key_size, p);
      *p++ = '"';
      *p++ = ':';
      p = std::copy_n(values_.data() + m.value, m.value_size, p);
    });
    *p = '}';
    return;
  }
  bool first = true;
  out += '{';
  each([&](const member& m) {
    if (!first) out += ',';
    first = false;
    if (m.plain_key) {
      out += '"';
      out.append(keys_, m.key, m.key_size);
      out += "\":";
    } else {
      append_string(out, keys.substr(m.key, m.key_size));
      out += ':';
    }
    out.append(values_, m.value, m.value_size);
  });
  out += '}';
}

std::string array(const std::vector<std::string>& items) {
  std::size_t n = 2;
  for (const auto& i : items) n += i.size() + 1;
  std::string out;
  out.reserve(n);
  out += '[';
  for (std::size_t k = 0; k < items.size(); ++k) {
    if (k) out += ',';
    out += items[k];
  }
  out += ']';
  return out;
}

std::string write(const json& j, json::error_handler_t handler) {
  std::string out;
  out.reserve(256);
  if (!put(out, j)) return j.dump(-1, ' ', false, handler);
  return out;
}

}  // namespace aula::json_text
