#include "bot/engine/render.hpp"

#include <nlohmann/json.hpp>

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

namespace {

const char* menu_name(menu_style m) {
  switch (m) {
    case menu_style::none: return "none";
    case menu_style::numbered: return "numbered";
    case menu_style::buttons: return "buttons";
    case menu_style::inline_numbers: return "inline";
  }
  return "none";
}

}  // namespace

nlohmann::json to_json(const outbound_message& m) {
  nlohmann::json j = {{"text", m.text}};
  if (!m.node.empty()) j["node"] = m.node;
  if (m.menu != menu_style::none) j["menu"] = menu_name(m.menu);
  for (const auto& c : m.choices) j["choices"].push_back({{"ref", c.ref}, {"label", c.label}});
  if (m.attachment) {
    j["media"] = {{"type", m.attachment->type}, {"url", m.attachment->url}};
    if (!m.attachment->filename.empty()) j["media"]["filename"] = m.attachment->filename;
  }
  if (m.unsolicited) j["bulk"] = true;
  if (!m.template_name.empty()) j["template"] = m.template_name;
  return j;
}

outbound_message outbound_from_json(const nlohmann::json& j) {
  outbound_message m;
  m.text = j.value("text", std::string{});
  m.node = j.value("node", std::string{});
  const std::string menu = j.value("menu", std::string{"none"});
  for (auto s : {menu_style::none, menu_style::numbered, menu_style::buttons, menu_style::inline_numbers})
    if (menu == menu_name(s)) m.menu = s;
  if (auto it = j.find("choices"); it != j.end())
    for (const auto& c : *it) m.choices.push_back({c.value("ref", std::string{}), c.value("label", std::string{})});
  if (auto it = j.find("media"); it != j.end()) {
    media md;
    md.type = it->value("type", std::string{});
    md.url = it->value("url", std::string{});
    md.filename = it->value("filename", std::string{});
    m.attachment = md;
  }
  m.unsolicited = j.value("bulk", false);
  m.template_name = j.value("template", std::string{});
  return m;
}

}  // namespace aula
