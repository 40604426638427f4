#include "bot/delivery/send_records.hpp"

#include <cstdint>
#include <string>

#include "bot/engine/json_text.hpp"

namespace aula::delivery_detail {

void send_record_list::add(sent_call c, std::size_t max_parts) {
  if (!recs_.empty() && max_parts >= 2 && !c.conv.empty()) {
    record& last = recs_.back();
    const std::size_t messages = last.parts.empty() ? 1 : last.parts.size();
    if (last.first.conv == c.conv && last.first.channel == c.channel && last.first.lane == c.lane &&
        messages < max_parts) {
      if (last.parts.empty())
        last.parts.push_back({last.first.external_id, last.first.node, last.first.at, last.first.segments});
      last.parts.push_back({std::move(c.external_id), std::move(c.node), c.at, c.segments});
      if (!c.text.empty()) {
        if (last.first.text.empty()) last.first.text = std::move(c.text);
        else last.first.text.append("\n\n").append(c.text);
      }
      if (c.segments > 0) last.first.segments += c.segments;
      return;
    }
  }
  // A record of its own (one without a learner never merges).
  recs_.push_back({std::move(c), {}});
}

namespace {

// A call's or a part's members (json_text::object puts them in key order).
void put_part(json_text::object& o, const std::string& external_id, const std::string& node, std::int64_t at,
              std::int64_t segments) {
  o.integer("at", at).string("external_id", external_id);
  if (!node.empty()) o.string("node", node);
  if (segments > 0) o.integer("segments", segments);
}

}  // namespace

void send_record_list::append_texts(std::vector<std::string>& out) const {
  for (const record& r : recs_) {
    const sent_call& c = r.first;
    // Members added in key order (the object then writes them as they are, unsorted).
    json_text::object o;
    const bool merged = !r.parts.empty();
    o.integer("at", c.at).string("channel", c.channel).string("conv", c.conv);
    if (!merged) o.string("external_id", c.external_id);
    o.string("id", c.id).string("lane", c.lane);
    if (merged) o.integer("messages", static_cast<std::int64_t>(r.parts.size()));
    if (!c.node.empty()) o.string("node", c.node);
    if (merged) {
      std::vector<std::string> parts;
      parts.reserve(r.parts.size());
      for (const part& p : r.parts) {
        json_text::object po;
        put_part(po, p.external_id, p.node, p.at, p.segments);
        parts.push_back(po.text());
      }
      o.raw("parts", json_text::array(parts));
    }
    if (c.segments > 0) o.integer("segments", c.segments);
    if (!c.text.empty()) o.string("text", c.text);
    o.string("type", "sent");
    out.push_back(o.text());
  }
}

std::vector<std::string> send_record_list::texts() const {
  std::vector<std::string> out;
  out.reserve(recs_.size());
  append_texts(out);
  return out;
}

std::vector<nlohmann::json> send_record_list::documents() const { return json_text::parse_each(texts()); }

}  // namespace aula::delivery_detail
