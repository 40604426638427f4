#include "adapters/web/web.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "adapters/util.hpp"
#include "bot/engine/json_text.hpp"

namespace aula {

bool valid_web_learner(const std::string& id) {
  // A browser's own id (32 hex), or a draft preview's ("preview-" + 32 hex, made by an admin).
  const std::string_view hex = std::string_view(id).starts_with("preview-") ? std::string_view(id).substr(8)
                                                                             : std::string_view(id);
  return hex.size() == 32 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

parse_result web_adapter::parse(const http_in& req) const {
  parse_result r;
  auto j = json_text::parse_or_discarded(adapter_util::repair_json_text(req.body));
  if (j.is_discarded() || !j.is_object()) {
    r.outcome = parse_result::verdict::invalid;
    r.reason = "body is not a JSON object";
    return r;
  }
  const std::string learner = j.value("learner", std::string{});
  if (!valid_web_learner(learner)) {
    r.outcome = parse_result::verdict::invalid;
    r.reason = "learner must be 32 hex characters";
    return r;
  }
  inbound_item item;
  item.address = learner;
  auto str = [&](const char* k) -> std::string {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
  };
  if (j.contains("text")) {
    if (!j["text"].is_string()) {
      r.outcome = parse_result::verdict::invalid;
      r.reason = "text must be a string";
      return r;
    }
    item.event = inbound_event::message(j["text"].get<std::string>());
  } else if (j.contains("choice")) {
    item.event = inbound_event::tap(str("choice"));
  } else if (j.contains("start")) {
    item.event = inbound_event::start(str("start"));
  } else {
    r.outcome = parse_result::verdict::invalid;
    r.reason = "say text, choice or start";
    return r;
  }
  // The browser may send the same request twice (a retry after a lost answer): "id" dedupes.
  item.provider_id = str("id");
  if (auto lang = str("lang"); !lang.empty()) item.contact["lang!"] = lang;
  if (auto name = str("name"); !name.empty()) item.contact["name"] = name;
  r.items.push_back(std::move(item));
  r.ack.status = 200;
  r.ack.content_type = "application/json";
  r.ack.body = R"({"ok":true})";
  return r;
}

}  // namespace aula
