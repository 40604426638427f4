#include "bot/delivery/send_records.hpp"

#include <cstdint>
#include <string>

namespace aula::delivery_detail {

namespace {

std::string str(const nlohmann::json& r, const char* key) {
  auto it = r.find(key);
  return it != r.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::int64_t num(const nlohmann::json& r, const char* key) {
  auto it = r.find(key);
  return it != r.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

bool single_send(const nlohmann::json& r) {
  return r.is_object() && str(r, "type") == "sent" && !str(r, "conv").empty() && !r.contains("parts") &&
         !r.contains("messages");
}

bool same_learner_and_lane(const nlohmann::json& a, const nlohmann::json& b) {
  return str(a, "conv") == str(b, "conv") && str(a, "channel") == str(b, "channel") && str(a, "lane") == str(b, "lane");
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
  if (!(merged || single_send(last)) || str(last, "type") != "sent" || !same_learner_and_lane(last, record) ||
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
  if (const std::string t = str(record, "text"); !t.empty()) {
    const std::string before = str(last, "text");
    last["text"] = before.empty() ? t : before + "\n\n" + t;
  }
  if (const std::int64_t n = num(record, "segments"); n > 0) last["segments"] = num(last, "segments") + n;
}

}  // namespace aula::delivery_detail
