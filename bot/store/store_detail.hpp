// Helpers shared by memory_store and redis_store, so both read and write the same way.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace aula::store_detail {

// "reply" unless the entry says "bulk".
std::string lane_of(const nlohmann::json& outbox_entry);

// Provider ids are kept "\n"-separated: line breaks in an id become spaces.
std::string clean_provider_id(const std::string& id);

// A stream id "ms-seq" (or "ms", seq 0). Throws std::invalid_argument otherwise.
std::pair<std::uint64_t, std::uint64_t> parse_stream_id(const std::string& id);

// Timer members: "<conversation>|<timer id>"; timer ids never hold '|' (run.node.kind).
inline std::string timer_member(const std::string& conversation, const std::string& id) {
  return conversation + "|" + id;
}
std::pair<std::string, std::string> split_timer_member(const std::string& member);

// Outbox entry ids: "<lane>:<stream id>". Throws std::invalid_argument on anything else.
std::pair<std::string, std::string> split_outbox_id(const std::string& entry_id);

}  // namespace aula::store_detail
