#include "bot/engine/render.hpp"

#include "bot/engine/json_text.hpp"

#include <vector>

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

std::string to_json_text(const outbound_message& m) {
  json_text::object j;  // members added in key order (written as they are, unsorted)
  if (m.unsolicited) j.boolean("bulk", true);
  if (!m.choices.empty()) {
    std::string choices = "[";
    for (const auto& c : m.choices) {
      if (choices.size() > 1) choices += ',';
      json_text::object().string("label", c.label).string("ref", c.ref).append_text(choices);
    }
    choices += ']';
    j.raw("choices", choices);
  }
  if (m.attachment) {
    json_text::object md;
    if (!m.attachment->filename.empty()) md.string("filename", m.attachment->filename);
    md.string("type", m.attachment->type).string("url", m.attachment->url);
    j.raw("media", md.text());
  }
  if (m.menu != menu_style::none) j.string("menu", menu_name(m.menu));
  if (!m.node.empty()) j.string("node", m.node);
  if (!m.template_name.empty()) j.string("template", m.template_name);
  j.string("text", m.text);
  return j.text();
}

menu_style menu_style_named(std::string_view name) {
  for (auto s : {menu_style::numbered, menu_style::buttons, menu_style::inline_numbers})
    if (name == menu_name(s)) return s;
  return menu_style::none;
}

outbound_message outbound_from_values(const value_at& at) {
  const auto text = [&at](std::string_view path) {
    const nlohmann::json* v = at(path);
    return v && v->is_string() ? v->get<std::string>() : std::string{};
  };
  outbound_message m;
  m.text = text("text");
  m.node = text("node");
  m.menu = menu_style_named(text("menu"));
  if (const nlohmann::json* c = at("choices"); c && c->is_array()) {
    std::string path;
    for (std::size_t k = 0;; ++k) {
      path = "choices/#" + std::to_string(k);
      const nlohmann::json* choice = at(path);
      if (!choice) break;
      if (choice->is_object()) m.choices.push_back({text(path + "/ref"), text(path + "/label")});
    }
  }
  if (const nlohmann::json* md = at("media"); md && md->is_object()) {
    media a;
    a.type = text("media/type");
    a.url = text("media/url");
    a.filename = text("media/filename");
    m.attachment = a;
  }
  const nlohmann::json* bulk = at("bulk");
  m.unsolicited = bulk && bulk->is_boolean() && bulk->get<bool>();
  m.template_name = text("template");
  return m;
}

outbound_message outbound_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return {};
  return outbound_from_values([&j](std::string_view path) { return json_text::at_path(j, path); });
}

}  // namespace aula
