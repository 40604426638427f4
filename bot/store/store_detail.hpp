// Helpers shared by memory_store and redis_store, so both read and write the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace aula {
struct commit_request;
}

namespace aula::store_detail {

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

// A commit's certificates as they are written: (normalized code, JSON text). Throws
// std::invalid_argument (before anything is written) for a malformed code, or one whose prefix
// names another partition than the conversation's `p` (it could never be found there).
std::vector<std::pair<std::string, std::string>> certificate_writes(const commit_request& c, int p);

// `s` with the glob characters of Redis's MATCH (* ? [ ] \) escaped.
std::string glob_escape(const std::string& s);

// The current publication "<version>|<hash>" -> (version, hash); nullopt when malformed.
std::optional<std::pair<int, std::string>> split_current(const std::string& value);

// A decimal integer that fits `int`, the whole string; nullopt otherwise.
std::optional<int> parse_int(const std::string& s);

}  // namespace aula::store_detail
