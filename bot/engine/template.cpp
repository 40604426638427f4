#include "bot/engine/template.hpp"

#include "bot/engine/text.hpp"

namespace aula {

namespace {

struct placeholder {
  std::size_t begin, end;  // [begin, end) covers "{{ ... }}"
  std::string name;
  std::optional<std::string> fallback;
};

std::optional<placeholder> next_placeholder(std::string_view text, std::size_t from) {
  auto open = text.find("{{", from);
  if (open == std::string_view::npos) return std::nullopt;
  auto close = text.find("}}", open + 2);
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view inner = text.substr(open + 2, close - open - 2);
  placeholder p{open, close + 2, {}, std::nullopt};
  if (auto bar = inner.find('|'); bar != std::string_view::npos) {
    p.name = trim(inner.substr(0, bar));
    p.fallback = trim(inner.substr(bar + 1));
  } else {
    p.name = trim(inner);
  }
  return p;
}

}  // namespace

std::string expand(std::string_view text, const variable_lookup& lookup) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (auto p = next_placeholder(text, pos)) {
    out.append(text.substr(pos, p->begin - pos));
    auto v = lookup(p->name);
    if (v && !v->empty()) {
      out += *v;
    } else if (p->fallback) {
      out += *p->fallback;
    }
    pos = p->end;
  }
  out.append(text.substr(pos));
  return out;
}

std::vector<std::string> variables_in(std::string_view text) {
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (auto p = next_placeholder(text, pos)) {
    names.push_back(p->name);
    pos = p->end;
  }
  return names;
}

}  // namespace aula
