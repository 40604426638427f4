// The record store beside Redis (DESIGN.md §6): the drain moves each partition's result
// records from Redis into SQLite or PostgreSQL — only for the partitions whose lease this
// instance holds, idempotently by (conversation, record id), then trims them from Redis — and
// the reports read it. The record store's calls block, so they run on a thread of their own;
// coroutines await them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/io/net.hpp"
#include "bot/records/record_store.hpp"

namespace aula {

class delivery;
class service;

class record_keeper {
 public:
  // Opens (and migrates) the record store at `url`; throws std::invalid_argument for a bad URL
  // and records::record_store_error when it cannot be opened.
  record_keeper(net::any_io_executor ex, service& svc, delivery& sender, const std::string& url);
  ~record_keeper();

  void start();  // drains every second until stop()
  void stop();

  // Runs `fn` on the record store's thread; its result (or exception) comes back here. `fn`
  // is copied before the first suspension; the caller names it (g++ 12 destroys temporaries
  // of a co_await expression twice when they are coroutine arguments).
  using job = std::function<nlohmann::json(records::record_store&)>;
  net::awaitable<nlohmann::json> run(const job& fn);

  // One pass over the partitions held now; returns how many records were stored.
  net::awaitable<std::size_t> drain_once();

  const char* backend() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace aula
