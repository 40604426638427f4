#include "bot/delivery/send_records.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "bot/engine/json_text.hpp"

namespace aula::delivery_detail {

namespace {

// A string field, or nullptr when absent or not a string.
const std::string* str(const nlohmann::json& r, const char* key) {
  auto it = r.find(key);
  return it != r.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

bool is(const nlohmann::json& r, const char* key, std::string_view value) {
  const std::string* s = str(r, key);
  return s && *s == value;
}

// Both name the same string (or neither has one).
bool same(const nlohmann::json& a, const nlohmann::json& b, const char* key) {
  const std::string *x = str(a, key), *y = str(b, key);
  return x && y ? *x == *y : x == y;
}

std::int64_t num(const nlohmann::json& r, const char* key) {
  auto it = r.find(key);
  return it != r.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

bool single_send(const nlohmann::json& r) {
  const std::string* conv = r.is_object() ? str(r, "conv") : nullptr;
  return conv && !conv->empty() && is(r, "type", "sent") && !r.contains("parts") && !r.contains("messages");
}

bool same_learner_and_lane(const nlohmann::json& a, const nlohmann::json& b) {
  return same(a, b, "conv") && same(a, b, "channel") && same(a, b, "lane");
}

// One message's part: what identifies it at the provider and where it came from.
nlohmann::json part_of(const nlohmann::json& r) {
  nlohmann::json p = nlohmann::json::object();
  for (const char* k : {"external_id", "node", "segments", "at"})
    if (auto it = r.find(k); it != r.end()) p[k] = *it;
  return p;
}

}  // namespace

void add_send_record(std::vector<nlohmann::json>& records, nlohmann::json record, std::size_t max_parts) {
  if (records.empty() || max_parts < 2 || !single_send(record)) {
    records.push_back(std::move(record));
    return;
  }
  nlohmann::json& last = records.back();
  const bool merged = last.is_object() && last.contains("parts");
  if (!(merged || single_send(last)) || !is(last, "type", "sent") || !same_learner_and_lane(last, record) ||
      (merged && (!last["parts"].is_array() || last["parts"].size() >= max_parts))) {
    records.push_back(std::move(record));
    return;
  }
  if (!merged) {
    // The first message becomes the first part; the record keeps its id, time and node.
    last["parts"] = nlohmann::json::array({part_of(last)});
    last.erase("external_id");
  }
  last["parts"].push_back(part_of(record));
  last["messages"] = last["parts"].size();
  if (const std::string* t = str(record, "text"); t && !t->empty()) {
    auto before = last.find("text");  // appended to in place: a lesson's texts are long
    if (before != last.end() && before->is_string() && !before->get_ref<const std::string&>().empty())
      before->get_ref<std::string&>().append("\n\n").append(*t);
    else
      last["text"] = *t;
  }
  if (const std::int64_t n = num(record, "segments"); n > 0) last["segments"] = num(last, "segments") + n;
}

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
  // A record of its own (one without a learner, as add_send_record, never merges).
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
    json_text::object o;
    o.string("id", c.id).string("type", "sent").string("conv", c.conv).string("channel", c.channel).string("lane", c.lane);
    if (r.parts.empty()) {
      put_part(o, c.external_id, c.node, c.at, c.segments);
    } else {
      o.integer("at", c.at).integer("messages", static_cast<std::int64_t>(r.parts.size()));
      if (!c.node.empty()) o.string("node", c.node);
      if (c.segments > 0) o.integer("segments", c.segments);
      std::vector<std::string> parts;
      parts.reserve(r.parts.size());
      for (const part& p : r.parts) {
        json_text::object po;
        put_part(po, p.external_id, p.node, p.at, p.segments);
        parts.push_back(po.text());
      }
      o.raw("parts", json_text::array(parts));
    }
    if (!c.text.empty()) o.string("text", c.text);
    out.push_back(o.text());
  }
}

std::vector<std::string> send_record_list::texts() const {
  std::vector<std::string> out;
  out.reserve(recs_.size());
  append_texts(out);
  return out;
}

std::vector<nlohmann::json> send_record_list::documents() const {
  std::vector<nlohmann::json> out;
  for (const auto& t : texts()) out.push_back(nlohmann::json::parse(t));
  return out;
}

}  // namespace aula::delivery_detail
