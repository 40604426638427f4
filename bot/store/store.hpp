// Where conversations live: sessions, the outbox, timers and result records, split into
// partitions (DESIGN.md, "Redis keys"). One commit writes everything a step produced,
// atomically, with an optimistic version check and provider-id dedupe. redis_store is the
// real one; memory_store serves `aula serve --store memory` (development) and unit tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bot/engine/engine.hpp"
#include "bot/io/net.hpp"

namespace aula {

// fnv1a64(conversation id) % partitions, where a conversation id is "<channel>:<address>".
int partition_of(const std::string& conversation, int partitions);
std::uint64_t fnv1a64(std::string_view s);

struct loaded_session {
  bool exists = false;
  session s;  // version 0 and empty when it does not exist
};

struct commit_request {
  std::string conversation;        // "<channel>:<address>"
  std::int64_t expected_version = 0;  // the version that was loaded (0: none existed)
  std::string provider_id;         // "" = no dedupe
  session next;                    // written with version expected_version + 1
  std::vector<nlohmann::json> outbox;   // entries: {"conv", "lane": "reply"|"bulk", "msg": {…}}
  std::vector<timer_effect> timers_set;
  std::vector<std::string> timers_cancel;
  std::vector<nlohmann::json> results;  // result records (result_record::to_json + conv)
};

enum class commit_outcome {
  ok,         // written
  conflict,   // the session changed since it was loaded: load and step again
  duplicate,  // provider_id was already committed for this conversation: nothing written
};

struct outbox_entry {
  std::string id;  // the stream entry id
  nlohmann::json data;
};

struct due_timer {
  std::string conversation;
  std::string id;  // the timer id the engine gave
  std::int64_t due_ms = 0;
};

// Failures to reach the store (Redis down, deadline passed) are thrown as store_unavailable;
// the webhook answers 503 so the provider retries.
struct store_unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class store {
 public:
  virtual ~store() = default;
  virtual int partitions() const = 0;
  virtual net::awaitable<loaded_session> load(const std::string& conversation) = 0;
  virtual net::awaitable<commit_outcome> commit(const commit_request& c) = 0;
  // Pending outbox entries of partition p, oldest first ("reply" lane before "bulk").
  virtual net::awaitable<std::vector<outbox_entry>> outbox_pending(int p, std::size_t max) = 0;
  virtual net::awaitable<void> outbox_ack(int p, const std::string& entry_id) = 0;
  // Removes and returns up to `max` timers of partition p due at or before now_ms.
  virtual net::awaitable<std::vector<due_timer>> claim_due_timers(int p, std::int64_t now_ms, std::size_t max) = 0;
  // The web chat's mailbox: messages for a browser learner, read by polling.
  virtual net::awaitable<void> web_push(const std::string& conversation, const nlohmann::json& msg) = 0;
  virtual net::awaitable<std::vector<outbox_entry>> web_read(const std::string& conversation, const std::string& after,
                                                             std::size_t max) = 0;
  // Result records waiting to be drained into the record store (the records issue).
  virtual net::awaitable<std::vector<outbox_entry>> results_pending(int p, std::size_t max) = 0;
  virtual net::awaitable<bool> ping() = 0;
};

std::unique_ptr<store> make_memory_store(int partitions = 64);

// Redis at `url` ("redis://host:port/db" or "unix:///path"). Connects, checks the stored
// partition count (refuses another), loads the scripts. Throws std::runtime_error with a
// clear message when it cannot start.
struct redis_store_options {
  std::string url = "redis://127.0.0.1:6379/0";
  int partitions = 64;
  std::chrono::milliseconds command_timeout{2000};
};
net::awaitable<std::unique_ptr<store>> make_redis_store(net::any_io_executor ex, redis_store_options opts);

}  // namespace aula
