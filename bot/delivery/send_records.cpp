#include "bot/delivery/send_records.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>

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

bool mergeable(const nlohmann::json& r) {
  return r.is_object() && str(r, "type") == "sent" && !str(r, "conv").empty() && !r.contains("parts") &&
         !r.contains("messages");
}

// One message's part: what identifies it at the provider and where it came from.
nlohmann::json part_of(const nlohmann::json& r) {
  nlohmann::json p = nlohmann::json::object();
  for (const char* k : {"external_id", "node", "segments", "at"})
    if (auto it = r.find(k); it != r.end()) p[k] = *it;
  return p;
}

}  // namespace

std::vector<nlohmann::json> merge_send_records(std::vector<nlohmann::json> records, std::size_t max_parts) {
  if (max_parts < 2 || records.size() < 2) return records;
  // Each mergeable record's group, named by its first member; a group full at max_parts
  // closes and the next record of its key opens another.
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  std::vector<std::size_t> leader(records.size(), none);
  std::unordered_map<std::size_t, std::vector<std::size_t>> members;  // leader → members, in order
  std::unordered_map<std::string, std::size_t> open;                  // key → leader of its open group
  for (std::size_t k = 0; k < records.size(); ++k) {
    if (!mergeable(records[k])) continue;
    std::string key = str(records[k], "conv") + '\n' + str(records[k], "channel") + '\n' + str(records[k], "lane");
    auto it = open.find(key);
    if (it == open.end() || members[it->second].size() >= max_parts) it = open.insert_or_assign(std::move(key), k).first;
    leader[k] = it->second;
    members[it->second].push_back(k);
  }
  std::vector<nlohmann::json> out;
  out.reserve(records.size());
  for (std::size_t k = 0; k < records.size(); ++k) {
    if (leader[k] == none) {
      out.push_back(std::move(records[k]));
      continue;
    }
    if (leader[k] != k) continue;  // in its leader's record
    const auto& group = members[k];
    if (group.size() == 1) {
      out.push_back(std::move(records[k]));
      continue;
    }
    nlohmann::json r = std::move(records[k]);
    std::string text = str(r, "text");
    std::int64_t segments = num(r, "segments");
    nlohmann::json parts = nlohmann::json::array();
    parts.push_back(part_of(r));
    for (std::size_t j = 1; j < group.size(); ++j) {
      const nlohmann::json& o = records[group[j]];
      parts.push_back(part_of(o));
      if (const std::string t = str(o, "text"); !t.empty()) text += (text.empty() ? "" : "\n\n") + t;
      segments += num(o, "segments");
    }
    r.erase("external_id");
    if (!text.empty()) r["text"] = std::move(text);
    if (segments > 0) r["segments"] = segments;
    r["messages"] = group.size();
    r["parts"] = std::move(parts);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace aula::delivery_detail
