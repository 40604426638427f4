// Data rights and retention (issue 11).
//
// Erasure (aula learner delete, POST /admin/learners/<learner>/delete): everything that names a
// learner goes — the session, timers, outbox entries, dead letters and web mailbox in their
// partition, the directory record, cohort memberships, invites — and what they did stays in
// the record store under a random anonymous id ("anon:<20 hex>") without names, typed words or
// provider ids, so every report still adds up. Records of theirs still waiting in Redis are
// stored anonymized at once; one the drain had already read when the erasure ran is caught
// by the partition's tombstone (store::erasures: a sha256 of the conversation -> the anonymous
// id and time, for an hour) and anonymized right after it lands. The same number writing
// later starts afresh as a new learner.
//
// Retention (the `retention:` section of config/aula.yaml): a job on aula's clock removes
// idle sessions from Redis, blanks typed answers and deletes delivery and staff records in the
// record store, and trims the audit log, each past its configured age (0 keeps).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "bot/config/config.hpp"
#include "bot/io/net.hpp"

namespace aula {

class record_keeper;
class service;
struct session;

// "anon:" + 20 random hex digits.
std::string new_anonymous_id();
// The tombstone field of a conversation (sha256 hex): the erased hash never holds the number.
std::string erasure_key(const std::string& conversation);
// How long a tombstone is kept (the drain runs every second; an hour is ample).
inline constexpr std::chrono::milliseconds erasure_tombstone_ttl{3600 * 1000};

// Erases `conversation` ("<channel>:<address>"). Returns {"anon", "redis": {...counts},
// "records": {...counts}, "audit": n}; nullopt-like {"found": false} when aula holds nothing
// of it. Throws store_unavailable / records::record_store_error (nothing half-done that a
// second call would not finish: every step is idempotent).
net::awaitable<nlohmann::json> erase_learner(service& svc, record_keeper& records, const std::string& conversation);

// The last moment a session shows activity or has something scheduled (a timer ahead counts:
// a learner waiting for tomorrow's lesson is not idle).
std::int64_t last_activity(const session& s);

class retention_keeper {
 public:
  retention_keeper(net::any_io_executor ex, service& svc, record_keeper& records, retention_config cfg);
  ~retention_keeper();
  void start();  // every cfg.every, on one instance at a time (a Redis lock), until stop()
  void stop();
  // One pass now, whatever the lock: {"sessions", "free_text", "delivery", "audit", "staff"}.
  net::awaitable<nlohmann::json> run_once();
  bool enabled() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace aula
