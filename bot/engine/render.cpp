#include "bot/engine/render.hpp"

namespace aula {

std::string render_plain(const outbound_message& m) {
  std::string out = m.text;
  if (m.attachment) {
    const auto& a = *m.attachment;
    std::string what = a.type == "image" ? "🖼" : a.type == "audio" ? "🔊" : "📄";
    out = what + " " + a.url + (a.filename.empty() ? "" : " (" + a.filename + ")") + (out.empty() ? "" : "\n" + out);
  }
  if (m.choices.empty()) return out;
  switch (m.menu) {
    case menu_style::none: break;
    case menu_style::numbered:
      for (std::size_t i = 0; i < m.choices.size(); ++i)
        out += "\n" + std::to_string(i + 1) + ". " + m.choices[i].label;
      break;
    case menu_style::buttons: {
      out += "\n";
      for (std::size_t i = 0; i < m.choices.size(); ++i) out += (i ? " [" : "[") + m.choices[i].label + "]";
      break;
    }
    case menu_style::inline_numbers: {
      out += "\n";
      for (std::size_t i = 0; i < m.choices.size(); ++i) out += (i ? " · " : "") + m.choices[i].label;
      break;
    }
  }
  return out;
}

}  // namespace aula
