#include "bot/delivery/send_records.hpp"

#include <cstdint>
#include <string>
#include <string_view>

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

}  // namespace aula::delivery_detail
