#include "bot/delivery/held_entry.hpp"

#include <string_view>
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

}  // namespace

nlohmann::json held_entry::document() const { return json_text::parse_or_discarded(text); }

held_entry hold(raw_entry& e) {
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
