// The service: what `aula serve` does with a webhook, a due timer and the outbox. Stateless
// between requests: everything a conversation needs is loaded from the store, stepped by the
// pure engine and committed back in one atomic write; the provider gets its 200 only after
// that commit.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "adapters/adapter.hpp"
#include "bot/engine/engine.hpp"
#include "bot/engine/flow.hpp"
#include "bot/io/net.hpp"
#include "bot/service/clock.hpp"
#include "bot/store/store.hpp"

namespace aula {

// Sends one provider API call; returns {http status (0: no answer), body}.
using http_sender = std::function<net::awaitable<std::pair<int, std::string>>(const http_call&)>;

struct service_options {
  std::string public_url = "http://127.0.0.1:8080";  // certificate links start with it
  std::string default_tz = "America/Mexico_City";
  std::string default_lang = "es";
  int max_commit_attempts = 5;     // version conflicts before giving up (503)
  // Messages (texts and taps) one learner may send per minute; the excess is recorded as
  // `rate_limited` and dropped before the flow runs (bot/service/flood.hpp). 0 = no limit.
  int learner_messages_per_minute = 0;
  // Privacy consent before a learner's first flow (config privacy:); never for draft previews.
  consent_settings consent;
};

// A web chat learner previewing draft flows ("web:preview-…"): their results are never
// recorded.
bool is_preview_conversation(const std::string& conversation);

struct service_counters {
  std::atomic<long> inbound{0}, outbound{0}, conflicts{0}, duplicates{0}, dead_letters{0}, store_errors{0},
      timers_fired{0}, reports{0}, rate_limited{0},
      backpressure_waits{0};  // webhooks that waited for the sender to catch up
};

class service {
 public:
  service(store& st, service_options opts);

  // Flows are swapped whole (publishing); steps in flight keep the version they started with.
  void publish(std::shared_ptr<const flow_set> flows);
  std::shared_ptr<const flow_set> flows() const;
  // Which flows a learner's step runs on (a pinned cohort's version, a draft preview);
  // unset: always flows().
  using flow_resolver =
      std::function<net::awaitable<std::shared_ptr<const flow_set>>(const std::string& conversation, const session&)>;
  void set_resolver(flow_resolver r);
  // The published version a flow set is (publishing names each it loads); result records of
  // steps run on it carry "version".
  void name_version(const flow_set* flows, int version);
  // Looks at each learner event before it is stepped (a Telegram invite link becomes an
  // enrolment); returns a replacement event, or nullopt to keep it. May add contact fields.
  using event_hook = std::function<net::awaitable<std::optional<inbound_event>>(
      const std::string& conversation, const inbound_event&, std::map<std::string, std::string>& contact)>;
  void set_event_hook(event_hook h);
  // Backpressure: while `backlog()` (the sender's replies read and not yet sent) is above
  // `limit`, a webhook with learner events waits (up to 2 s) before it is stepped, so the
  // provider's next request comes later. Webhooks wait in turn: the first to wait goes first,
  // and one that arrives while others wait waits behind them. Set before serving; limit 0 = off.
  void set_backpressure(std::size_t limit, std::function<std::size_t()> backlog);
  // The sender's word that its backlog may be lower (a reply went out): the longest-waiting
  // webhook goes on if the backlog is at or under the limit. Any thread.
  void backlog_progressed();
  // Told after each commit with replies in the outbox (partition, how many): the sender counts
  // them in its backlog before it has read them. Set before serving.
  void on_replies_committed(std::function<void(int partition, std::size_t replies)> f);

  void add_adapter(std::shared_ptr<channel_adapter> a);
  channel_adapter* adapter(const std::string& name) const;

  service_clock& clock() { return clock_; }
  service_counters& counters() { return counters_; }
  store& backing_store() { return store_; }

  // A webhook for `channel`: verify, parse, step and commit every item, then answer.
  // Store outages answer 503 so the provider retries; bad signatures 401; bad bodies 400.
  net::awaitable<http_out> handle_webhook(const std::string& channel, const http_in& req);

  // One event for one conversation ("<channel>:<address>"): load, step, commit (retrying on
  // version conflicts). Returns false for a duplicate provider id. Throws store_unavailable.
  // `preloaded`: the session as the caller just loaded it, used (and moved from) instead of the
  // first load; a conflict loads it again.
  net::awaitable<bool> deliver(const std::string& channel, const std::string& address, const inbound_event& ev,
                               const std::string& provider_id = {},
                               const std::map<std::string, std::string>& contact = {},
                               const std::vector<http_call>& follow_up = {},
                               std::vector<nlohmann::json>* committed_records = nullptr,
                               loaded_session* preloaded = nullptr);

  // Wakes the sender: a commit put messages in partition p's outbox.
  void mark_dirty(int p);
  // Called (from any thread) whenever a partition becomes dirty; {} to stop.
  void on_dirty(std::function<void()> f);
  // The sender delivered one message to a learner on `channel`.
  void count_out(const std::string& channel);
  // Messages in (learner → aula) and out (aula → learner) per channel, since start.
  std::map<std::pair<std::string, std::string>, long> message_counts() const;
  // Called by the sender loop to wait for work (or a tick).
  std::set<int> take_dirty();
  // Whether take_dirty() would return any partition now.
  bool has_dirty() const;

 private:
  void count(const std::string& channel, const char* direction);

  store& store_;
  service_options opts_;
  service_clock clock_;
  service_counters counters_;
  mutable std::mutex mu_;
  std::shared_ptr<const flow_set> flows_;
  flow_resolver resolver_;
  std::map<const flow_set*, int> versions_;
  event_hook event_hook_;
  std::map<std::string, std::shared_ptr<channel_adapter>> adapters_;
  std::set<int> dirty_;
  std::map<std::pair<std::string, std::string>, long> messages_;  // (channel, in|out) -> count
  bool all_dirty_ = true;  // at start, look at every partition once
  std::function<void()> on_dirty_;
  std::atomic<std::uint64_t> seed_counter_{0};
  std::size_t backlog_limit_ = 0;
  std::function<std::size_t()> backlog_;
  std::function<void(int, std::size_t)> replies_committed_;
  void count_replies(int partition, const commit_request& c) const;
  struct backlog_waiter;
  std::mutex backlog_mu_;                                     // guards backlog_waiters_
  std::deque<std::shared_ptr<backlog_waiter>> backlog_waiters_;  // in arrival order
  net::awaitable<void> wait_for_sender();
};

}  // namespace aula
