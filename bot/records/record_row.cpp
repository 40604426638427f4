#include "bot/records/record_row.hpp"

#include <limits>

#include "bot/engine/json_text.hpp"

namespace aula::records::detail {

int record_row::slot_of(std::string_view key) {
  switch (key.size()) {
    case 2:
      if (key == "id") return id;
      if (key == "at") return at;
      break;
    case 3:
      if (key == "run") return run;
      break;
    case 4:
      if (key == "conv") return conv;
      if (key == "type") return type;
      if (key == "flow") return flow;
      if (key == "node") return node;
      if (key == "text") return text;
      break;
    case 5:
      if (key == "value") return value;
      if (key == "final") return final_;
      break;
    case 6:
      if (key == "status") return status;
      if (key == "points") return points;
      break;
    case 7:
      if (key == "channel") return channel;
      if (key == "version") return version;
      if (key == "correct") return correct;
      if (key == "attempt") return attempt;
      break;
    case 8:
      if (key == "segments") return segments;
      if (key == "messages") return messages;
      break;
    default:
      break;
  }
  return -1;
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct reader {
  std::string_view t;
  std::size_t p = 0;
  std::string scratch;   // the last string value with escapes, decoded
  bool escaped = false;  // the last string value had escapes

  void space() {
    while (p < t.size() && is_space(t[p])) ++p;
  }

  // A string's characters, checked and decoded as json_text reads a string (escapes, surrogate
  // pairs, UTF-8): a view into the text, or when it has escapes, decoded into `scratch`
  // (escaped = true).
  bool string(std::string_view& out, std::string& scratch, bool& escaped) {
    escaped = false;
    if (p >= t.size() || t[p] != '"') return false;
    const std::size_t end = json_text::detail::skip_string(t, p);
    if (end == 0) return false;
    const std::string_view raw = t.substr(p + 1, end - p - 2);
    if (raw.find('\\') == std::string_view::npos) {
      out = raw;
    } else {
      json_text::detail::read_string(t, p, scratch);
      out = scratch;
      escaped = true;
    }
    p = end;
    return true;
  }

  // An integer as JSON writes it (no leading zeros, no "-0"), within 64 bits; a fraction or an
  // exponent gives up.
  bool integer(std::int64_t& out) {
    const bool negative = t[p] == '-';
    if (negative) ++p;
    const std::size_t from = p;
    // Accumulated as a negative number: its range holds the least int64 too.
    std::int64_t acc = 0;
    constexpr std::int64_t least = std::numeric_limits<std::int64_t>::min();
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') {
      const int d = t[p] - '0';
      if (acc < (least + d) / 10) return false;
      acc = acc * 10 - d;
      ++p;
    }
    const std::size_t digits = p - from;
    if (digits == 0 || (digits > 1 && t[from] == '0') || (negative && acc == 0)) return false;
    if (p < t.size() && (t[p] == '.' || t[p] == 'e' || t[p] == 'E')) return false;
    if (!negative) {
      if (acc == least) return false;
      acc = -acc;
    }
    out = acc;
    return true;
  }

  bool literal(std::string_view word) {
    if (t.substr(p, word.size()) != word) return false;
    p += word.size();
    return true;
  }

  bool value(row_value& v) {
    if (p >= t.size()) return false;
    const char c = t[p];
    if (c == '"') {
      v.kind = row_kind::string;
      return string(v.text, scratch, escaped);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = row_kind::integer;
      return integer(v.integer);
    }
    if (c == 't' || c == 'f') {
      v.kind = row_kind::boolean;
      v.flag = c == 't';
      return literal(v.flag ? "true" : "false");
    }
    if (c == 'n') {
      v.kind = row_kind::null;
      return literal("null");
    }
    return false;  // an array or an object: skipped where the store does not read it, else picked
  }

  // The value member's object when it is flat and as a JSON writer gives it: no spaces, keys
  // in increasing byte order (no key twice), strings without escapes, integers as written,
  // booleans, null. Its course, module and max are kept.
  bool value_object(record_row& row) {
    const std::size_t from = p;
    ++p;  // '{'
    std::string_view last;
    bool first = true;
    while (p < t.size() && t[p] != '}') {
      if (!first) {
        if (t[p] != ',') return false;
        ++p;
      }
      std::string_view key;
      if (!string(key, scratch, escaped) || escaped) return false;
      if (!first && !(last < key)) return false;
      first = false;
      last = key;
      if (p >= t.size() || t[p] != ':') return false;
      ++p;
      row_value v;
      if (p >= t.size() || t[p] == '{' || t[p] == '[' || !value(v)) return false;
      if (v.kind == row_kind::string && escaped) return false;
      if (key == "course") row.course = v;
      else if (key == "module") row.module = v;
      else if (key == "max") row.max = v;
    }
    if (p >= t.size()) return false;
    ++p;
    row.value_text = t.substr(from, p - from);
    return true;
  }

  // A JSON number of any form (a member the store does not read).
  bool any_number() {
    if (p < t.size() && t[p] == '-') ++p;
    const auto digits = [&] {
      const std::size_t from = p;
      while (p < t.size() && t[p] >= '0' && t[p] <= '9') ++p;
      return p - from;
    };
    const std::size_t from = p;
    const std::size_t n = digits();
    if (n == 0 || (n > 1 && t[from] == '0')) return false;
    if (p < t.size() && t[p] == '.') {
      ++p;
      if (digits() == 0) return false;
    }
    if (p < t.size() && (t[p] == 'e' || t[p] == 'E')) {
      ++p;
      if (p < t.size() && (t[p] == '+' || t[p] == '-')) ++p;
      if (digits() == 0) return false;
    }
    return true;
  }

  // Any JSON value, checked as a JSON reader checks it and not kept: the members the store does
  // not read (a merged sent record's "parts"). Deeper than 64: picked.
  bool skip(int depth) {
    if (depth > 64 || p >= t.size()) return false;
    const char c = t[p];
    if (c == '"') {
      const std::size_t end = json_text::detail::skip_string(t, p);
      p = end;
      return end != 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return any_number();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    if (c != '[' && c != '{') return false;
    const char close = c == '[' ? ']' : '}';
    ++p;
    space();
    if (p < t.size() && t[p] == close) {
      ++p;
      return true;
    }
    for (;;) {
      if (close == '}') {
        std::string_view key;
        if (!string(key, scratch, escaped)) return false;
        space();
        if (p >= t.size() || t[p] != ':') return false;
        ++p;
        space();
      }
      if (!skip(depth + 1)) return false;
      space();
      if (p >= t.size()) return false;
      if (t[p] == ',') {
        ++p;
        space();
        continue;
      }
      if (t[p] != close) return false;
      ++p;
      return true;
    }
  }
};

}  // namespace

bool read_row(std::string_view text, record_row& row) {
  row.v.fill(row_value{});
  row.value_text = {};
  row.course = row.module = row.max = row_value{};
  for (auto& d : row.decoded) d.clear();
  reader r{text, 0, {}, false};
  r.space();
  if (r.p >= text.size() || text[r.p] != '{') return false;
  ++r.p;
  r.space();
  if (r.p < text.size() && text[r.p] == '}') {
    ++r.p;
  } else {
    for (;;) {
      std::string_view key;
      std::string key_scratch;
      bool key_escaped = false;
      if (!r.string(key, key_scratch, key_escaped)) return false;
      r.space();
      if (r.p >= text.size() || text[r.p] != ':') return false;
      ++r.p;
      r.space();
      const int s = record_row::slot_of(key);
      if (s < 0) {  // a member the store does not read
        if (!r.skip(0)) return false;
      } else {
        row_value v;
        if (s == record_row::value && r.p < text.size() && text[r.p] == '{') {
          if (!r.value_object(row)) return false;
          v.kind = row_kind::object;
        } else if (!r.value(v)) {
          return false;
        }
        const auto slot = static_cast<std::size_t>(s);
        if (row.v[slot].kind != row_kind::absent) return false;  // given twice
        row.v[slot] = v;
        if (v.kind == row_kind::string && r.escaped) {
          row.decoded[slot] = std::move(r.scratch);
          row.v[slot].text = row.decoded[slot];
        }
      }
      r.space();
      if (r.p >= text.size()) return false;
      if (text[r.p] == ',') {
        ++r.p;
        r.space();
        continue;
      }
      if (text[r.p] != '}') return false;
      ++r.p;
      break;
    }
  }
  r.space();
  return r.p == text.size();
}

}  // namespace aula::records::detail
