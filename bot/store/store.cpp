#include "bot/store/store.hpp"

#include <charconv>

#include "bot/store/store_detail.hpp"

namespace aula {

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

int partition_of(const std::string& conversation, int partitions) {
  if (partitions < 1) throw std::invalid_argument("partition count must be at least 1");
  return static_cast<int>(fnv1a64(conversation) % static_cast<std::uint64_t>(partitions));
}

namespace store_detail {

std::string lane_of(const nlohmann::json& e) {
  if (e.is_object()) {
    auto it = e.find("lane");
    if (it != e.end() && it->is_string() && it->get<std::string>() == "bulk") return "bulk";
  }
  return "reply";
}

std::string clean_provider_id(const std::string& id) {
  std::string out = id;
  for (auto& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

std::pair<std::uint64_t, std::uint64_t> parse_stream_id(const std::string& id) {
  auto bad = [&] { return std::invalid_argument("not a stream id: '" + id + "'"); };
  auto num = [&](std::string_view s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) throw bad();
    return v;
  };
  auto dash = id.find('-');
  if (dash == std::string::npos) return {num(id), 0};
  return {num(std::string_view(id).substr(0, dash)), num(std::string_view(id).substr(dash + 1))};
}

std::pair<std::string, std::string> split_timer_member(const std::string& member) {
  auto bar = member.rfind('|');
  if (bar == std::string::npos) return {member, ""};
  return {member.substr(0, bar), member.substr(bar + 1)};
}

std::pair<std::string, std::string> split_outbox_id(const std::string& entry_id) {
  auto colon = entry_id.find(':');
  if (colon != std::string::npos) {
    auto lane = entry_id.substr(0, colon);
    auto id = entry_id.substr(colon + 1);
    if (lane == "reply" || lane == "bulk") {
      parse_stream_id(id);
      return {lane, id};
    }
  }
  throw std::invalid_argument("not an outbox entry id: '" + entry_id + "'");
}

}  // namespace store_detail
}  // namespace aula
