// The template renderer and the text renderers around it. Input: the author's text, then
// optionally "\0" and a value a variable holds (a learner's answer, say).
// Invariants:
// - expand is one pass: each {{…}} variables_in finds is looked up exactly once, a value is put
//   in verbatim and never expanded again (a learner's "{{x}}" stays text), a text without "{{"
//   comes back unchanged, unset variables give their fallback or nothing;
// - the diagram escapes leave nothing that ends a quoted label: no '"' or line break in a
//   Mermaid label, no unescaped '"' or raw line break in a DOT string, and DOT unescaping gives
//   the text back (entities decoded);
// - text_excerpt is one line of valid UTF-8 of at most the asked number of code points;
// - an outbound message survives its JSON round trip and render_plain shows every label.
#include <nlohmann/json.hpp>

#include "bot/authoring/graph.hpp"
#include "bot/engine/render.hpp"
#include "bot/engine/template.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace aula;

namespace {
std::size_t count(std::string_view s, std::string_view needle) {
  std::size_t n = 0;
  for (auto p = s.find(needle); p != std::string_view::npos; p = s.find(needle, p + needle.size())) ++n;
  return n;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string dot_unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out.push_back(s[i + 1] == 'n' ? '\n' : s[i + 1]);
      ++i;
    } else if (s.compare(i, 5, "&amp;") == 0) {
      out.push_back('&');
      i += 4;
    } else if (s.compare(i, 4, "&lt;") == 0) {
      out.push_back('<');
      i += 3;
    } else if (s.compare(i, 4, "&gt;") == 0) {
      out.push_back('>');
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void check_expand(const std::string& text, const std::string& value) {
  const auto names = variables_in(text);
  std::size_t lookups = 0;
  // Every variable holds `value`: the output is the text with each placeholder replaced by
  // it (or by its fallback when it is empty).
  const std::string out = expand(text, [&](std::string_view) -> std::optional<std::string> {
    ++lookups;
    return value;
  });
  FUZZ_CHECK(lookups == names.size());
  if (text.find("{{") == std::string::npos) FUZZ_CHECK(out == text && names.empty());

  // With a marker byte the text lacks as the value: one marker per placeholder, and the
  // marker text expanded again changes nothing more (values are never expanded).
  if (text.find('\x01') == std::string::npos) {
    const std::string marked = expand(text, [](std::string_view) -> std::optional<std::string> { return "\x01"; });
    FUZZ_CHECK(count(marked, "\x01") == names.size());
    std::size_t again = 0;
    (void)expand(value, [&](std::string_view) -> std::optional<std::string> {
      ++again;
      return std::nullopt;
    });
    // A value full of "{{…}}" given to every variable: no lookup beyond the text's own.
    std::size_t second = 0;
    (void)expand(text, [&](std::string_view) -> std::optional<std::string> {
      ++second;
      return "{{contact.name}}";
    });
    FUZZ_CHECK(second == names.size());
  }
  // Unset everywhere: nothing is looked up twice, and the output never grows beyond the
  // text (fallbacks are part of it).
  const std::string unset = expand(text, [](std::string_view) -> std::optional<std::string> { return std::nullopt; });
  FUZZ_CHECK(unset.size() <= text.size());
}

void check_escapes(const std::string& text) {
  const std::string m = mermaid_escape(text);
  FUZZ_CHECK(m.find('"') == std::string::npos && m.find('\n') == std::string::npos &&
             m.find('\r') == std::string::npos);
  for (char c : std::string("<>[]{}()|`")) FUZZ_CHECK(m.find(c) == std::string::npos);

  const std::string d = dot_escape(text);
  FUZZ_CHECK(d.find('\n') == std::string::npos && d.find('\r') == std::string::npos);
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d[i] == '\\') {
      ++i;  // an escape pair
      continue;
    }
    FUZZ_CHECK(d[i] != '"' && d[i] != '<' && d[i] != '>');
  }
  std::string without_cr;
  for (char c : text)
    if (c != '\r') without_cr.push_back(c);
  FUZZ_CHECK(dot_unescape(d) == without_cr);

  if (fuzz::valid_utf8(text)) {
    for (std::size_t max : {1u, 5u, 40u}) {
      const std::string e = text_excerpt(text, max);
      FUZZ_CHECK(fuzz::valid_utf8(e));
      FUZZ_CHECK(e.find('\n') == std::string::npos);
      FUZZ_CHECK(code_points(e) <= max);
    }
  }
}

void check_outbound(const std::string& text, const std::string& value) {
  if (!fuzz::valid_utf8(text) || !fuzz::valid_utf8(value)) return;  // JSON strings are UTF-8
  outbound_message m;
  m.text = text;
  m.node = value;
  m.menu = value.size() % 2 ? menu_style::numbered : menu_style::buttons;
  m.choices = {{"r1", value}, {"r2", text.substr(0, text.find('\n'))}};
  const outbound_message back = outbound_from_json(nlohmann::json::parse(to_json(m).dump()));
  FUZZ_CHECK(back.text == m.text && back.node == m.node && back.menu == m.menu);
  FUZZ_CHECK(back.choices.size() == 2 && back.choices[0].label == value && back.choices[1].ref == "r2");
  const std::string plain = render_plain(m);
  for (const auto& c : m.choices)
    if (c.label.find_first_not_of(" \t\r\n") != std::string::npos && c.label.find('\n') == std::string::npos)
      FUZZ_CHECK(plain.find(c.label.substr(0, c.label.find_last_not_of(" \t\r") + 1)) != std::string::npos);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = fuzz::as_string(data, size);
  const auto nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  const std::string value = nul == std::string::npos ? "Ana" : input.substr(nul + 1);
  check_expand(text, value);
  check_escapes(text);
  check_outbound(text, value);
  return 0;
}
