// The sender and the scheduler (DESIGN.md §4–5): what takes committed messages out of the
// outbox to the providers, and due timers back into the engine.
//
// Each partition has one consumer at a time: the instance holding its lease (store.hpp). The
// holder reads the partition's outbox (the bulk lane, then the reply lane, so a learner's
// earlier messages are always read first), queues each entry behind the learner's earlier
// ones, ordered by (session version, index), and sends one message per learner at a time:
// the next only after the provider accepted the previous. Sends are paced per learner
// (a small burst, then one per interval) and per channel (a token bucket in which replies
// always go before bulk traffic). Failures are retried with exponential backoff and jitter;
// a 429 waits its retry_after; a blocked learner is marked opted out; after max_attempts a
// message is a dead letter: kept with its reason, and the learner's course paused. Every ack,
// dead letter and timer claim is fenced by the lease, so an instance that lost its lease
// changes nothing. On takeover the new holder resends what was not acknowledged
// (at-least-once: a message accepted by the provider just before a crash goes out twice).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bot/service/service.hpp"

namespace aula {

// Pacing for one channel.
struct channel_pacing {
  double per_second = 30;   // the channel's token bucket: sustained sends per second (and burst)
  int chat_burst = 3;       // messages one learner may get at once
  std::chrono::milliseconds chat_interval{1000};  // then one per interval
  bool operator==(const channel_pacing&) const = default;
};

struct delivery_options {
  std::string owner;  // this instance's id in leases ("" = host:pid:random)
  std::chrono::milliseconds lease_ttl{10000};  // a lease lapses this long after its last renewal
  std::chrono::milliseconds poll{250};         // look for work this often (commits also wake it)
  // The outbox reader sleeps at most this long between passes (a commit's wake-up ends the
  // sleep at once; one told while a pass is under way starts the next pass without sleeping).
  std::chrono::milliseconds wake_cap{50};
  int max_attempts = 6;                        // sends of one message before it is a dead letter
  int max_throttled = 30;                      // 429 answers of one message before a dead letter
  std::chrono::milliseconds retry_base{1000};  // first retry delay; doubles, with jitter ±50%
  std::chrono::milliseconds retry_max{300000};
  std::size_t learner_queue = 100;   // entries held in memory per learner (the rest wait in Redis)
  std::size_t partition_queue = 2000;  // entries held in memory per partition
  std::size_t read_batch = 200;      // entries read per lane per partition per pass
  std::size_t concurrency = 64;      // provider calls in flight
  std::size_t timer_batch = 500;     // timers claimed per partition per tick
  std::chrono::milliseconds timer_hold{30000};  // a claimed timer comes back after this if not handed over
  std::map<std::string, channel_pacing> channels;  // by channel name; others get channel_pacing{}
  // Quiet hours (minutes after local midnight; start == end: none): bulk-lane messages
  // (reminders, drips, broadcasts) to a learner inside them wait until they end, unless the
  // learner wrote within `awake`. Replies are never held. The learner's zone is their
  // session's `tz` contact field, else default_tz.
  int quiet_start = 0, quiet_end = 0;
  // New conversations (re-engagement templates outside the window) per rolling 24 h, by
  // channel ("whatsapp"); absent or 0: no cap.
  std::map<std::string, int> daily_conversation_cap;
  std::chrono::milliseconds awake{30 * 60 * 1000};
  std::string default_tz = "America/Mexico_City";
  // Performs the calls of flows' webhook nodes (egress allow-list, answer size and time
  // limits); a status of -1 means the call timed out. Unset: `send` does them.
  http_sender webhook_send;
  // Tests: awaited on the sender's strand before each read of a partition's outbox.
  std::function<net::awaitable<void>(int partition)> before_read;
};

struct delivery_counters {
  std::atomic<long> sent{0}, retries{0}, throttled{0}, dead_letters{0}, skipped{0}, stopped{0}, leases_taken{0},
      leases_lost{0}, fenced{0}, timers_claimed{0}, segments{0}, reengaged{0}, held{0}, quiet{0}, tier{0},
      resends_avoided{0},  // sent under a lapsed lease, acknowledged once this instance held it again
      rereads{0},          // the outbox read again from the start: the store reconnected (maybe elsewhere)
      ack_writes{0};       // acknowledgement writes: one round trip each, for one or more delivered entries

  // Provider refusals an operator must act on, by (channel, kind): "auth" (credentials refused:
  // WhatsApp's Graph error 190, any HTTP 401) and "template" (a WhatsApp template refused).
  void provider_alert(const std::string& channel, const std::string& kind) {
    std::lock_guard lock(alerts_mu_);
    ++alerts_[{channel, kind}];
  }
  std::map<std::pair<std::string, std::string>, long> provider_alerts() const {
    std::lock_guard lock(alerts_mu_);
    return alerts_;
  }

 private:
  mutable std::mutex alerts_mu_;
  std::map<std::pair<std::string, std::string>, long> alerts_;
};

class delivery {
 public:
  // `send` performs one provider call. Runs on its own strand of `ex`.
  delivery(net::any_io_executor ex, service& svc, http_sender send, delivery_options opts);
  ~delivery();

  // Runs the lease keeper, the outbox reader and the scheduler until stop().
  void start();
  // Stops reading and claiming, waits up to `grace` for sends in flight, releases the leases.
  net::awaitable<void> stop(std::chrono::milliseconds grace);

  // Fires the due timers of the partitions held now (the test clock route); returns how many.
  net::awaitable<std::size_t> fire_timers_now();

  // The partitions whose lease this instance holds now, with their fences (for the work
  // only a lease holder may do: draining result records).
  net::awaitable<std::vector<std::pair<int, fence>>> leases();

  const std::string& owner() const;
  // Partitions whose lease this instance holds.
  std::size_t leases_held() const;
  // Entries read and not yet delivered (all partitions held).
  std::size_t queued() const;
  // Replies not yet sent (the reply lane: what webhooks' steps send; reminders and broadcasts
  // travel in the bulk lane, paced, and must not hold webhooks back): those read, and those
  // this instance's webhooks committed and the sender has not read yet (replies_committed).
  std::size_t replies_queued() const;
  // A webhook committed `n` replies in `partition` (any thread): counted in replies_queued()
  // until read, if this instance holds the partition.
  void replies_committed(int partition, std::size_t n);
  // Called on the sender's strand when what is queued changed (a message sent, a read):
  // backpressure's waiting webhooks (service::backlog_progressed). Set before start().
  void on_progress(std::function<void()> f);
  delivery_counters& counters();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// "telegram" -> 1 msg/s per chat after a burst of 3, 30/s overall; "whatsapp" -> 80/s, pair
// limit ≈ 1 per 6 s after a burst; "sms" (Twilio) -> 10/s; others (web) unpaced.
channel_pacing default_pacing(const std::string& channel);

// A lease owner id: "<host name>/<instance>" ('|' replaced). aula serve names its instance by
// its listen address, so a restarted instance takes its own partitions back at once.
std::string lease_owner(const std::string& instance);

}  // namespace aula
