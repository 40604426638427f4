#include "bot/delivery/held_entry.hpp"

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "bot/engine/json_text.hpp"
#include "bot/engine/render.hpp"

namespace aula::delivery_detail {

namespace {

const json_text::path_set& entry_paths() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> t{"conv",        "v",         "i",         "in",
                               "webhook",     "call",      "msg",       "msg/text",
                               "msg/node",    "msg/menu",  "msg/choices", "msg/media",
                               "msg/media/type", "msg/media/url", "msg/media/filename", "msg/bulk",
                               "msg/template"};
    for (std::size_t k = 0; k <= max_picked_choices; ++k) {
      const std::string c = "msg/choices/#" + std::to_string(k);
      t.push_back(c);
      if (k < max_picked_choices) {
        t.push_back(c + "/ref");
        t.push_back(c + "/label");
      }
    }
    return t;
  }();
  static const json_text::path_set set(std::vector<std::string_view>(texts.begin(), texts.end()));
  return set;
}

// One pass over an entry's text, json_text's grammar (its plain subset) with the entry's
// members read into their fields as they come and every other value only checked. Every
// method answers false where read_entry gives up.
class entry_reader {
 public:
  explicit entry_reader(std::string_view s) : s_(s) {}

  bool entry(held_entry& h) {
    unsigned seen = 0;
    const bool ok = object(1, [&](std::string_view key) {
      static constexpr std::string_view names[] = {"conv", "v", "i", "in", "webhook", "call", "msg"};
      const int k = member(names, key, seen);
      switch (k) {
        case 0: return text(h.conv);
        case 1: return integer(h.v);
        case 2: return integer(h.i);
        case 3: return integer(h.in);
        case 4: h.webhook = true; return skip(1);
        case 5: h.call = true; return skip(1);
        case 6: return message(h.msg);
        case -1: return skip(1);
        default: return false;  // given twice
      }
    });
    ws();
    return ok && i_ == s_.size();
  }

 private:
  static constexpr int max_depth = 64;

  // key's index in names (a bit in seen), -1 when none, -2 when already seen.
  template <std::size_t N>
  static int member(const std::string_view (&names)[N], std::string_view key, unsigned& seen) {
    for (std::size_t k = 0; k < N; ++k)
      if (key == names[k]) {
        if (seen & (1u << k)) return -2;
        seen |= 1u << k;
        return static_cast<int>(k);
      }
    return -1;
  }

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  char peek() {
    ws();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  // At '{' (or false): each member's decoded name to on_member, which reads its value.
  template <class F>
  bool object(int depth, F&& on_member) {
    if (depth > max_depth || peek() != '{') return false;
    ++i_;
    if (peek() == '}') return ++i_, true;
    for (;;) {
      if (peek() != '"') return false;
      const std::size_t end = json_text::detail::read_string(s_, i_, key_);
      if (end == 0) return false;
      i_ = end;
      if (peek() != ':') return false;
      ++i_;
      if (!on_member(std::string_view(key_))) return false;
      const char c = peek();
      ++i_;
      if (c == '}') return true;
      if (c != ',') return false;
    }
  }

  // At '[' (or false): on_item reads each item.
  template <class F>
  bool array(int depth, F&& on_item) {
    if (depth > max_depth || peek() != '[') return false;
    ++i_;
    if (peek() == ']') return ++i_, true;
    for (;;) {
      if (!on_item()) return false;
      const char c = peek();
      ++i_;
      if (c == ']') return true;
      if (c != ',') return false;
    }
  }

  // Any value, checked and passed over; depth is that of the container it is in.
  bool skip(int depth) {
    switch (peek()) {
      case '{': return object(depth + 1, [&](std::string_view) { return skip(depth + 1); });
      case '[': return array(depth + 1, [&] { return skip(depth + 1); });
      case '"': {
        const std::size_t end = json_text::detail::skip_string(s_, i_);
        return end != 0 && (i_ = end, true);
      }
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: {
        std::int64_t ignored = 0;
        return number(ignored);
      }
    }
  }

  // An integer of at most 18 digits (no fraction, no exponent, no leading zero), as the
  // document's get<std::int64_t>() gives it.
  bool number(std::int64_t& out) {
    const std::size_t start = i_;
    std::size_t d = s_[i_] == '-' ? i_ + 1 : i_;
    if (d >= s_.size() || s_[d] < '0' || s_[d] > '9') return false;
    if (s_[d] == '0' && d + 1 < s_.size() && s_[d + 1] >= '0' && s_[d + 1] <= '9') return false;
    std::uint64_t v = 0;  // wraps past 19 digits, but those are not taken
    const std::size_t first = d;
    while (d < s_.size() && s_[d] >= '0' && s_[d] <= '9') v = v * 10 + static_cast<unsigned>(s_[d++] - '0');
    if (d - first > 18) return false;
    if (d < s_.size() && (s_[d] == '.' || s_[d] == 'e' || s_[d] == 'E')) return false;
    out = s_[start] == '-' ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
    i_ = d;
    return true;
  }

  // A string member: its text, "" when it is of another type.
  bool text(std::string& out) {
    if (peek() != '"') {
      out.clear();
      return skip(1);
    }
    const std::size_t end = json_text::detail::read_string(s_, i_, out);
    return end != 0 && (i_ = end, true);
  }

  // An integer member: its value, 0 when it is of another type.
  bool integer(std::int64_t& out) {
    const char c = peek();
    if (c == '-' || (c >= '0' && c <= '9')) return number(out);
    out = 0;
    return skip(1);
  }

  // "msg": outbound_from_values' reading of it; absent when it is not an object.
  bool message(std::optional<outbound_message>& out) {
    if (peek() != '{') {
      out.reset();
      return skip(1);
    }
    outbound_message m;
    unsigned seen = 0;
    const bool ok = object(2, [&](std::string_view key) {
      static constexpr std::string_view names[] = {"text", "node", "menu", "choices", "media", "bulk", "template"};
      switch (member(names, key, seen)) {
        case 0: return text(m.text);
        case 1: return text(m.node);
        case 2: {
          std::string menu;
          if (!text(menu)) return false;
          m.menu = menu_style_named(menu);
          return true;
        }
        case 3: return choices(m.choices);
        case 4: return attachment(m.attachment);
        case 5:
          if (peek() == 't') return m.unsolicited = true, literal("true");
          m.unsolicited = false;
          return skip(2);
        case 6: return text(m.template_name);
        case -1: return skip(2);
        default: return false;
      }
    });
    if (!ok) return false;
    out = std::move(m);
    return true;
  }

  bool choices(std::vector<outbound_choice>& out) {
    out.clear();
    if (peek() != '[') return skip(2);
    return array(3, [&] {
      if (peek() != '{') return skip(3);  // not a choice: skipped
      outbound_choice c;
      unsigned seen = 0;
      if (!object(4, [&](std::string_view key) {
            static constexpr std::string_view names[] = {"ref", "label"};
            switch (member(names, key, seen)) {
              case 0: return text(c.ref);
              case 1: return text(c.label);
              case -1: return skip(4);
              default: return false;
            }
          }))
        return false;
      out.push_back(std::move(c));
      return true;
    });
  }

  bool attachment(std::optional<media>& out) {
    if (peek() != '{') {
      out.reset();
      return skip(2);
    }
    media a;
    unsigned seen = 0;
    if (!object(3, [&](std::string_view key) {
          static constexpr std::string_view names[] = {"type", "url", "filename"};
          switch (member(names, key, seen)) {
            case 0: return text(a.type);
            case 1: return text(a.url);
            case 2: return text(a.filename);
            case -1: return skip(3);
            default: return false;
          }
        }))
      return false;
    out = std::move(a);
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string key_;
};

}  // namespace

nlohmann::json held_entry::document() const { return json_text::parse_or_discarded(text); }

bool read_entry(std::string_view text, held_entry& h) { return entry_reader(text).entry(h); }

held_entry hold(raw_entry& e) {
  held_entry h;
  if (read_entry(e.text, h)) {
    h.id = e.id;
    h.text = std::move(e.text);
    return h;
  }
  return hold_by_paths(e);
}

held_entry hold_by_paths(raw_entry& e) {
  held_entry h;
  h.id = e.id;
  h.text = std::move(e.text);
  json_text::values fields(h.text, entry_paths());
  if (!fields.is_object()) return h;  // no conv: a dead letter
  const auto at = [&fields](std::string_view path) { return fields.at(path); };
  const auto integer = [&](std::string_view path) -> std::int64_t {
    const nlohmann::json* v = at(path);
    return v && v->is_number_integer() ? v->get<std::int64_t>() : 0;
  };
  if (const nlohmann::json* c = at("conv"); c && c->is_string()) h.conv = c->get<std::string>();
  h.v = integer("v");
  h.i = integer("i");
  h.in = integer("in");
  h.webhook = at("webhook") != nullptr;
  h.call = at("call") != nullptr;
  if (const nlohmann::json* m = at("msg"); m && m->is_object()) {
    if (fields.picked() && at("msg/choices/#" + std::to_string(max_picked_choices))) fields.read_document();  // more choices
    std::string full = "msg/";
    h.msg = outbound_from_values([&](std::string_view path) {
      full.resize(4);
      full += path;
      return at(full);
    });
  }
  return h;
}

}  // namespace aula::delivery_detail
