#include "bot/delivery/delivery.hpp"
#include "bot/delivery/held_entry.hpp"
#include "bot/delivery/send_records.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>

#include "bot/engine/render.hpp"
#include "bot/engine/timing.hpp"
#include "bot/io/fan_out.hpp"
#include "bot/io/log.hpp"
#include "bot/store/store_detail.hpp"

namespace aula {

namespace {

using clock_type = std::chrono::steady_clock;
using delivery_detail::held_entry;
using delivery_detail::hold;
using ms = std::chrono::milliseconds;

std::pair<std::string, std::string> split_conversation(const std::string& conv) {
  auto colon = conv.find(':');
  if (colon == std::string::npos) return {conv, {}};
  return {conv.substr(0, colon), conv.substr(colon + 1)};
}

// For tests and tools that give no owner: unique per process.
std::string default_owner() {
  std::random_device rd;
  char tail[17];
  std::snprintf(tail, sizeof tail, "%08x", rd());
  return lease_owner(std::to_string(getpid()) + ":" + tail);
}

// Provider calls travel through the outbox as JSON (webhook nodes, follow-up calls).
http_call call_of(const nlohmann::json& j) {
  http_call call;
  call.method = j.value("method", std::string{"POST"});
  call.url = j.value("url", std::string{});
  call.body = j.value("body", std::string{});
  if (auto h = j.find("headers"); h != j.end() && h->is_object())
    for (auto it = h->begin(); it != h->end(); ++it)
      if (it.value().is_string()) call.headers[it.key()] = it.value().get<std::string>();
  return call;
}

}  // namespace

std::string lease_owner(const std::string& instance) {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "aula");
  std::string out = std::string(host) + "/" + instance;
  std::replace(out.begin(), out.end(), '|', '_');
  return out;
}

channel_pacing default_pacing(const std::string& channel) {
  channel_pacing p;
  if (channel == "telegram") return p;  // ≈1 msg/s per chat, ≈30 msg/s overall (Bot FAQ)
  if (channel == "whatsapp") {
    p.per_second = 80;  // Cloud API default throughput per number
    p.chat_burst = 5;
    p.chat_interval = ms(6000);  // the pair rate limit (131056)
    return p;
  }
  if (channel == "sms") {
    p.per_second = 10;
    return p;
  }
  p.per_second = 1000;  // web: our own mailbox
  p.chat_burst = 1000;
  p.chat_interval = ms(1);
  return p;
}

struct delivery::impl : std::enable_shared_from_this<delivery::impl> {
  struct item {
    // Shared: the worker takes a copy of its queue's front (the queue may change while it
    // sends), and the entry's JSON need not be copied with it.
    std::shared_ptr<const held_entry> e;
    std::string lane;
    std::int64_t v = 0;
    std::int64_t i = 0;
    std::uint64_t epoch = 0;
    bool in_flight = false;
  };
  // An entry sent, with its send records, waiting to be acknowledged.
  struct delivered {
    std::string id;
    delivery_detail::send_record_list records;
  };
  struct conv_state {
    int p = 0;
    std::deque<item> q;  // ordered by (v, i)
    std::set<std::string> ids;  // entry ids queued or in flight
    bool running = false;
    double tokens = -1;  // per-learner pacing; < 0 = not started (full burst)
    clock_type::time_point refilled{};
    clock_type::time_point last_used{};
    std::int64_t skip_below = 0;  // entries of older commits are skipped (after a pause/stop)
    std::string skip_reason;
    std::size_t calls_done = 0;  // calls of the front entry already accepted (a split message)
    std::shared_ptr<net::steady_timer> hold_timer;  // set while held for the window
    ms hold_wait{1000};
    bool tier_held = false;  // held for the daily tier (counted and logged once per hold)
    // The learner-silence (their last_in) whose re-engagement template this instance already
    // handled: looking again while held takes no second place in the daily tier.
    std::optional<std::int64_t> reengaged_for;
    // The provider said the window is closed (131047) although the learner's last message,
    // at this time, says open: closed until they write again.
    std::int64_t closed_at_last_in = -1;
  };
  // A learner's entries sent while more of their messages followed: acknowledged with the last
  // of them (release_acks), so a step's replies go in one batch and their sends as one record.
  // Kept beside conv_state, not in it: a state lives for every learner seen, a stash only while
  // their messages go out (measured: in conv_state, +4-5 MB of RSS at 64 connections).
  struct stash {
    clock_type::time_point since = clock_type::now();  // of the first: none waits much longer than a second
    std::vector<std::string> ids;
    delivery_detail::send_record_list records;  // merged as they come
  };
  std::unordered_map<std::string, stash> stashes;  // by conversation
  struct part_state {
    fence f;
    bool held = false;
    std::uint64_t epoch = 0;
    clock_type::time_point valid_until{};
    std::string cursor_reply, cursor_bulk;
    std::set<std::string> done;  // acked since the current read started
    // Accepted by the provider, but the acknowledgement failed because the lease lapsed (a
    // renewal starved under load, Redis slow): if this instance takes the partition again,
    // these are acknowledged before the outbox is read, instead of being sent a second time.
    std::set<std::string> sent_unacked;
    // Delivered, waiting to be acknowledged (with their send records) in the next batch: one
    // round trip acknowledges every entry of the partition delivered meanwhile.
    std::vector<delivered> to_ack;
    std::set<std::string> acking;  // ids in to_ack or in the batch being written
    bool flushing = false;
    std::size_t queued = 0;
    std::size_t queued_replies = 0;  // of `queued`, those in the reply lane
    bool reading = false;
    std::set<std::string> held_convs;  // learners held for the window: woken by a commit
  };
  struct bucket {
    double tokens = 0;
    double rate = 30;
    double burst = 30;
    clock_type::time_point refilled = clock_type::now();
    int reply_waiting = 0;
    // When the sends of the last second went: with the bucket's burst, a sliding second could
    // hold burst + rate sends; this keeps every sliding second at or under per_second. The
    // window is a little longer than a second: requests paced apart bunch up on their way
    // (a 200/s broadcast showed 203 in one second at the provider with an exact window).
    std::deque<clock_type::time_point> last_second;
  };

  io_lane strand;  // make_io_lane: a strand, or the io_context itself when one thread runs it
  service& svc;
  store& st;
  http_sender send;
  delivery_options opts;
  delivery_counters counters;
  std::vector<part_state> parts;
  std::unordered_map<std::string, conv_state> convs;
  std::map<std::string, bucket> buckets;
  std::size_t in_flight = 0;
  std::atomic<std::size_t> held_gauge{0}, queued_gauge{0}, replies_gauge{0};
  std::function<void()> progressed;  // set before start(): the backlog may be lower
  // Per partition, written from any thread: replies committed by this instance's webhooks and
  // not yet read (unread; an estimate: zeroed whenever a read reaches the end of the reply
  // lane, never below 0), and whether this instance holds the partition (only those count).
  std::unique_ptr<std::atomic<std::int64_t>[]> unread;
  std::unique_ptr<std::atomic<bool>[]> held_now;

  std::size_t backlog() const {
    std::int64_t n = static_cast<std::int64_t>(replies_gauge.load());
    for (std::size_t p = 0; p < parts.size(); ++p)
      if (held_now[p].load(std::memory_order_relaxed)) n += std::max<std::int64_t>(0, unread[p].load(std::memory_order_relaxed));
    return static_cast<std::size_t>(n);
  }

  static bool is_reply(const item& x) { return x.lane == "reply"; }

  // Credentials or a template refused: counted for alerts and logged as an error (each one
  // stops sends until an operator acts).
  void note_alert(const std::string& channel, int http_status, const send_result& res) {
    std::string kind = res.alert;
    if (kind.empty() && http_status == 401) kind = "auth";
    if (kind.empty()) return;
    counters.provider_alert(channel, kind);
    log::error(kind == "auth" ? "provider refused our credentials (renew the token)" : "provider rejected a template",
               {{"channel", channel}, {"http_status", http_status}, {"error", res.error}});
  }

  // One less in a total (written on the sender's lane only), never below 0.
  static void drop_one(std::atomic<std::size_t>& gauge) {
    if (const auto v = gauge.load(std::memory_order_relaxed); v > 0) gauge.store(v - 1, std::memory_order_relaxed);
  }

  void update_gauges() {
    std::size_t h = 0, q = 0, r = 0;
    for (std::size_t k = 0; k < parts.size(); ++k) {
      const auto& p = parts[k];
      h += p.held ? 1 : 0;
      q += p.queued;
      r += p.queued_replies;
      if (held_now[k].load(std::memory_order_relaxed) != p.held) {
        unread[k] = 0;  // what was counted before belongs to another holder's reads
        held_now[k] = p.held;
      }
    }
    held_gauge = h;
    queued_gauge = q;
    replies_gauge = r;
    if (progressed) progressed();
  }
  std::size_t running_workers = 0;
  std::size_t flushers = 0;
  bool stopping = false;
  bool started = false;
  std::mt19937_64 rng{std::random_device{}()};
  std::shared_ptr<net::steady_timer> wake;

  impl(net::any_io_executor ex, service& s, http_sender sender, delivery_options o)
      : strand(make_io_lane(ex)), svc(s), st(s.backing_store()), send(std::move(sender)), opts(std::move(o)) {
    if (opts.owner.empty()) opts.owner = default_owner();
    parts.resize(static_cast<std::size_t>(st.partitions()));
    unread = std::make_unique<std::atomic<std::int64_t>[]>(parts.size());
    held_now = std::make_unique<std::atomic<bool>[]>(parts.size());
    wake = std::make_shared<net::steady_timer>(strand);
    if (opts.max_attempts < 1) opts.max_attempts = 1;
    if (opts.learner_queue < 1) opts.learner_queue = 1;
    if (opts.concurrency < 1) opts.concurrency = 1;
    if (opts.read_batch < 1) opts.read_batch = 1;
  }

  // One line per kind of trouble every few seconds: an outage must not flood the log with a
  // line per partition per poll.
  std::map<std::string, clock_type::time_point> last_logged;
  bool worth_logging(const std::string& what) {
    auto& last = last_logged[what];
    const auto now = clock_type::now();
    if (now - last < std::chrono::seconds(5)) return false;
    last = now;
    return true;
  }

  channel_pacing pacing_of(const std::string& channel) const {
    auto it = opts.channels.find(channel);
    return it != opts.channels.end() ? it->second : default_pacing(channel);
  }

  net::awaitable<void> sleep(ms d) {
    net::steady_timer t(strand);
    t.expires_after(d);
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  }

  // The wait before attempt `attempt` + 1: retry_base doubling up to retry_max, ±50% jitter.
  ms backoff(int attempt) {
    const ms base = std::min(opts.retry_max, opts.retry_base * (1 << std::min(attempt - 1, 16)));
    std::uniform_real_distribution<double> d(0.5, 1.5);
    return ms(std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(base.count()) * d(rng))));
  }

  // Forgets a learner's queued entries (not sent, not acknowledged): whoever holds the
  // partition's lease reads them again.
  void drop_queue(conv_state& c) {
    auto& part = parts[static_cast<std::size_t>(c.p)];
    for (auto& x : c.q) c.ids.erase(x.e->id);
    part.queued -= std::min(part.queued, c.q.size());
    const auto replies = static_cast<std::size_t>(std::count_if(c.q.begin(), c.q.end(), is_reply));
    part.queued_replies -= std::min(part.queued_replies, replies);
    c.q.clear();
  }

  // ---------------------------------------------------------------- leases

  // Forgets what was read from partition p (the lease changed): what is in flight finishes,
  // the rest is read again by whoever holds the lease now.
  void reset_partition(int p) {
    auto& part = parts[static_cast<std::size_t>(p)];
    part.epoch++;
    part.cursor_reply.clear();
    part.cursor_bulk.clear();
    part.done.clear();
    part.queued = 0;
    part.queued_replies = 0;
    for (auto& [conv, c] : convs) {
      if (c.p != p) continue;
      std::deque<item> keep;
      for (auto& it : c.q)
        if (it.in_flight) keep.push_back(std::move(it));
        else c.ids.erase(it.e->id);
      c.q = std::move(keep);
      part.queued += c.q.size();
      part.queued_replies += static_cast<std::size_t>(std::count_if(c.q.begin(), c.q.end(), is_reply));
    }
  }

  net::awaitable<void> keep_leases() {
    auto self = shared_from_this();
    const ms renew_every = std::max(ms(50), opts.lease_ttl / 3);
    while (!stopping) {
      // Every partition asked at once (the requests share the connection's round trips): a
      // busy instance renews all its leases in one turn, not one partition per turn of a
      // loaded strand (the leases lapsed that way under load, and messages went twice).
      const std::size_t n = parts.size();
      std::vector<std::optional<fence>> answers(n);
      std::vector<std::string> errors(n);
      const auto asked = clock_type::now();
      const std::function<net::awaitable<void>(std::size_t)> renew = [&](std::size_t k) -> net::awaitable<void> {
        try {
          answers[k] = co_await st.lease_acquire(static_cast<int>(k), opts.owner, opts.lease_ttl);
        } catch (const std::exception& e) {
          errors[k] = e.what();
        }
      };
      co_await for_each_concurrently(n, n, renew);
      for (int p = 0; p < static_cast<int>(parts.size()) && !stopping; ++p) {
        auto& part = parts[static_cast<std::size_t>(p)];
        try {
          if (!answers[static_cast<std::size_t>(p)]) throw std::runtime_error(errors[static_cast<std::size_t>(p)]);
          fence f = *answers[static_cast<std::size_t>(p)];
          if (!f.held()) {
            if (part.held) {
              counters.leases_lost++;
              log::warn("lease lost", {{"partition", p}});
              part.held = false;
              reset_partition(p);
            }
            continue;
          }
          if (!part.held || part.f.token != f.token) {
            if (part.held) counters.leases_lost++;
            counters.leases_taken++;
            part.held = true;
            part.f = f;
            reset_partition(p);
          }
          part.valid_until = asked + opts.lease_ttl;
        } catch (const std::exception& e) {
          // Redis unreachable: past its expiry the lease is gone whatever Redis says later.
          if (part.held && clock_type::now() >= part.valid_until) {
            counters.leases_lost++;
            part.held = false;
            reset_partition(p);
          }
          if (worth_logging("lease renewal failed")) log::warn("lease renewal failed", {{"error", e.what()}});
        }
      }
      update_gauges();
      co_await sleep(renew_every);
    }
  }

  bool holds(int p, std::uint64_t epoch) const {
    const auto& part = parts[static_cast<std::size_t>(p)];
    return part.held && part.epoch == epoch && clock_type::now() < part.valid_until;
  }

  // ---------------------------------------------------------------- reading the outbox

  static std::string stream_id(const std::string& entry_id) {
    auto colon = entry_id.find(':');
    return colon == std::string::npos ? entry_id : entry_id.substr(colon + 1);
  }

  // Reads new entries of a held partition into the learners' queues. Both lanes are read at
  // one instant, so a learner's earlier messages are in memory before a later one is sent,
  // whichever lane they travel in, with one exception that is the point of the lanes: while
  // the bulk lane has a backlog (more than one batch), replies do not wait for it.
  net::awaitable<void> read_partition(int p) {
    auto& part = parts[static_cast<std::size_t>(p)];
    if (!part.held || part.reading || stopping) co_return;
    part.reading = true;
    const std::uint64_t epoch = part.epoch;
    part.done.clear();
    try {
      // What this instance sent under an earlier lease and could not acknowledge then.
      for (auto it = part.sent_unacked.begin(); it != part.sent_unacked.end() && holds(p, epoch);) {
        co_await st.outbox_ack(p, *it, part.f);
        part.done.insert(*it);
        counters.resends_avoided++;
        it = part.sent_unacked.erase(it);
      }
      outbox_batch batch;
      if (opts.before_read) co_await opts.before_read(p);
      if (part.queued < opts.partition_queue)
        batch = co_await st.outbox_read(p, part.cursor_reply, part.cursor_bulk, opts.read_batch);
      if (holds(p, epoch)) {
        // Replies first. Where the reply lane stops (a full queue, or the end of the batch),
        // bulk entries committed after that point wait for the next pass.
        std::optional<std::pair<std::uint64_t, std::uint64_t>> bulk_cut;
        std::size_t taken = co_await take(p, epoch, "reply", batch.reply, part.cursor_reply, std::nullopt);
        // The reply lane read to its end: nothing committed before this read is unread now.
        if (taken == batch.reply.size() && batch.reply.size() < opts.read_batch) unread[static_cast<std::size_t>(p)] = 0;
        if (taken < batch.reply.size())
          bulk_cut = store_detail::parse_stream_id(stream_id(batch.reply[taken].id));
        else if (batch.reply.size() >= opts.read_batch)
          bulk_cut = store_detail::parse_stream_id(stream_id(batch.reply.back().id));
        if (holds(p, epoch)) co_await take(p, epoch, "bulk", batch.bulk, part.cursor_bulk, bulk_cut);
      }
    } catch (const lease_lost&) {
      counters.fenced++;
    } catch (const std::exception& e) {
      if (worth_logging("outbox read failed")) log::warn("outbox read failed", {{"partition", p}, {"error", e.what()}});
    }
    part.reading = false;
    update_gauges();  // a webhook arriving now sees what was read (backpressure)
  }

  // Queues the entries of one lane in order until one cannot be taken (a full queue, or past
  // `cut`); returns how many were consumed. The cursor advances over what was consumed.
  net::awaitable<std::size_t> take(int p, std::uint64_t epoch, const std::string& lane,
                                   std::vector<raw_entry>& entries, std::string& cursor,
                                   std::optional<std::pair<std::uint64_t, std::uint64_t>> cut) {
    auto& part = parts[static_cast<std::size_t>(p)];
    std::size_t n = 0;
    for (; n < entries.size(); ++n) {
      const std::string sid = stream_id(entries[n].id);
      if (cut && store_detail::parse_stream_id(sid) > *cut) break;
      if (part.queued >= opts.partition_queue) break;
      auto e = std::make_shared<const held_entry>(hold(entries[n]));
      const std::string conv = e->conv;
      if (conv.empty()) {
        // Not an entry anyone can deliver: kept as a dead letter.
        const nlohmann::json entry = e->document();
        nlohmann::json rec = {{"conv", conv}, {"entry", entry.is_discarded() ? nlohmann::json() : entry},
                              {"reason", "unreadable outbox entry"}, {"kind", "invalid"},
                              {"at", svc.clock().now_ms()}};
        co_await st.outbox_dead(p, e->id, rec, part.f);
        cursor = sid;
        continue;
      }
      auto& c = convs[conv];
      c.p = p;
      if (c.ids.count(e->id) || part.done.count(e->id) || part.acking.count(e->id)) {  // in flight, or sent
        cursor = sid;
        continue;
      }
      if (c.q.size() >= opts.learner_queue) break;  // this learner's queue is full: later
      cursor = sid;
      item it;
      it.lane = lane;
      it.v = e->v;
      it.i = e->i;
      it.epoch = epoch;
      it.e = std::move(e);
      c.ids.insert(it.e->id);
      // In (v, i) order, never before an entry already in flight.
      auto first = std::find_if(c.q.begin(), c.q.end(), [](const item& x) { return !x.in_flight; });
      auto pos = std::upper_bound(first, c.q.end(), it, [](const item& a, const item& b) {
        return std::pair(a.v, a.i) < std::pair(b.v, b.i);
      });
      if (is_reply(it)) {
        part.queued_replies++;
        if (unread[static_cast<std::size_t>(p)].fetch_sub(1) <= 0) unread[static_cast<std::size_t>(p)] = 0;
      }
      c.q.insert(pos, std::move(it));
      part.queued++;
      if (!c.running) {
        // Started after the whole read (posted, not run inline): the other lane may still
        // hold an earlier message of this learner.
        c.running = true;
        running_workers++;
        net::post(strand, [self = shared_from_this(), conv] { net::co_spawn(self->strand, self->work(conv), net::detached); });
      }
    }
    co_return n;
  }

  // ---------------------------------------------------------------- pacing

  net::awaitable<void> pace_learner(conv_state& c, const channel_pacing& pc) {
    for (;;) {
      const auto now = clock_type::now();
      const double burst = std::max(1, pc.chat_burst);
      if (c.tokens < 0) {
        c.tokens = burst;
        c.refilled = now;
      }
      const double interval = std::max<double>(1, static_cast<double>(pc.chat_interval.count()));
      c.tokens = std::min(burst, c.tokens + std::chrono::duration<double, std::milli>(now - c.refilled).count() / interval);
      c.refilled = now;
      if (c.tokens >= 1) {
        c.tokens -= 1;
        co_return;
      }
      co_await sleep(ms(static_cast<std::int64_t>((1 - c.tokens) * interval) + 1));
    }
  }

  static constexpr auto pace_window = std::chrono::milliseconds(1050);

  net::awaitable<void> pace_channel(const std::string& channel, bool reply) {
    auto& b = buckets[channel];
    const auto pc = pacing_of(channel);
    b.rate = std::max(0.1, pc.per_second);
    b.burst = std::max(1.0, pc.per_second);
    const std::size_t per_window = static_cast<std::size_t>(std::max(1.0, pc.per_second));
    bool counted = false;
    for (;;) {
      const auto now = clock_type::now();
      b.tokens = std::min(b.burst, b.tokens + std::chrono::duration<double>(now - b.refilled).count() * b.rate);
      b.refilled = now;
      while (!b.last_second.empty() && now - b.last_second.front() >= pace_window) b.last_second.pop_front();
      const bool window_ok = b.last_second.size() < per_window;
      // Replies always go first: bulk waits while any reply waits.
      if (b.tokens >= 1 && window_ok && (reply || b.reply_waiting == 0)) {
        b.tokens -= 1;
        b.last_second.push_back(now);
        if (counted) b.reply_waiting--;
        co_return;
      }
      if (reply && !counted) {
        b.reply_waiting++;
        counted = true;
      }
      double wait_s = b.tokens >= 1 ? 0.002 : (1 - b.tokens) / b.rate;
      if (!window_ok)
        wait_s = std::max(wait_s, std::chrono::duration<double>(b.last_second.front() + pace_window - now).count());
      co_await sleep(ms(static_cast<std::int64_t>(wait_s * 1000) + 1));
    }
  }

  net::awaitable<std::pair<int, std::string>> call(const http_call& c, bool webhook_node = false) {
    while (in_flight >= opts.concurrency) co_await sleep(ms(2));
    in_flight++;
    std::pair<int, std::string> r{0, {}};
    try {
      if (webhook_node && opts.webhook_send) {
        r = co_await opts.webhook_send(c);
      } else {
        r = co_await send(c);
      }
    } catch (const std::exception& e) {
      r = {0, e.what()};
    }
    in_flight--;
    co_return r;
  }

  // ---------------------------------------------------------------- the per-learner worker

  enum class outcome { done, dead, skipped, abandon, held };

  struct verdict {
    outcome what = outcome::done;
    std::string reason;
    int attempts = 0;
    std::string kind;  // dead letter kind: failed | rejected | stopped | skipped
    std::int64_t wait_ms = 0;  // held: look again after this long (0: the window's backoff)
    std::vector<delivery_detail::sent_call> records;  // done: the sends, recorded with the acknowledgement

    verdict() = default;
    verdict(outcome w, std::string why = {}, int n = 0, std::string k = {})
        : what(w), reason(std::move(why)), attempts(n), kind(std::move(k)) {}
  };

  // How long until quiet hours end for a learner in zone `tz` at `now_ms`; 0 outside them.
  std::int64_t quiet_wait(std::int64_t now_ms, const std::string& tz) const {
    if (opts.quiet_start == opts.quiet_end) return 0;
    const std::string local = format_local(now_ms, tz);  // "YYYY-MM-DD HH:MM"
    if (local.size() < 16) return 0;
    const int m = std::atoi(local.substr(11, 2).c_str()) * 60 + std::atoi(local.substr(14, 2).c_str());
    const bool inside = opts.quiet_start < opts.quiet_end ? (m >= opts.quiet_start && m < opts.quiet_end)
                                                          : (m >= opts.quiet_start || m < opts.quiet_end);
    if (!inside) return 0;
    return std::max<std::int64_t>(1000, next_local_time(now_ms, tz, opts.quiet_end, 0) - now_ms);
  }

  // Retries a store operation while the store is down; false when the lease is gone.
  template <class F>
  net::awaitable<bool> with_store(int p, std::uint64_t epoch, F f) {
    for (int attempt = 0;; ++attempt) {
      try {
        co_await f();
        co_return true;
      } catch (const lease_lost&) {
        counters.fenced++;
        co_return false;
      } catch (const store_unavailable& e) {
        if (!holds(p, epoch) && parts[static_cast<std::size_t>(p)].held == false) co_return false;
        if (worth_logging("store unavailable in the sender"))
          log::warn("store unavailable in the sender", {{"error", e.what()}});
      }
      if (stopping && attempt > 3) co_return false;
      co_await sleep(std::min(ms(2000), ms(50) * (1 << std::min(attempt, 5))));
    }
  }

  // The learner's session, read while partition p's lease holds (nullopt: it went meanwhile).
  net::awaitable<std::optional<loaded_session>> session_of(const std::string& conv, int p, std::uint64_t epoch) {
    loaded_session l;
    auto op = [&]() -> net::awaitable<void> { l = co_await st.load(conv); };
    if (!co_await with_store(p, epoch, op)) co_return std::nullopt;
    co_return l;
  }

  net::awaitable<verdict> deliver_message(const std::string& conv, conv_state& c, const item& it) {
    const auto who = split_conversation(conv);
    const std::string& channel = who.first;
    const std::string& address = who.second;
    const held_entry& entry = *it.e;

    if (entry.webhook) {
      const nlohmann::json data = entry.document();
      const auto w = data.find("webhook");
      // A flow's webhook node: the host performs the request, the answer goes back in.
      const auto answer = co_await call(call_of(*w), true);
      const std::string id = w->value("id", std::string{});
      const auto ev = inbound_event::webhook_answer(id, answer.first, answer.second);
      auto op = [&]() -> net::awaitable<void> { co_await svc.deliver(channel, address, ev); };
      bool ok = co_await with_store(c.p, it.epoch, op);
      co_return verdict{ok ? outcome::done : outcome::abandon};
    }
    if (entry.call) {
      const nlohmann::json data = entry.document();
      const auto f = data.find("call");
      // A provider call that follows an inbound event (best effort: logged, never retried).
      const auto answer = co_await call(call_of(*f));
      if (answer.first < 200 || answer.first >= 300)
        log::warn("follow-up call failed", {{"channel", channel}, {"status", answer.first}});
      co_return verdict{outcome::done};
    }
    if (!entry.msg) co_return verdict{outcome::dead, "outbox entry without a message", 0, "invalid"};
    if (channel == "web") {
      const nlohmann::json msg = entry.document().at("msg");  // as the flow wrote it
      auto op = [&]() -> net::awaitable<void> { co_await st.web_push(conv, msg); };
      bool ok = co_await with_store(c.p, it.epoch, op);
      if (ok) {
        counters.sent++;
        svc.count_out(channel);
      }
      co_return verdict{ok ? outcome::done : outcome::abandon};
    }
    channel_adapter* a = svc.adapter(channel);
    if (!a || !a->enabled()) co_return verdict{outcome::dead, "channel '" + channel + "' is not enabled", 0, "rejected"};
    const outbound_message& m = *entry.msg;
    const auto pc = pacing_of(channel);
    if (it.lane == "bulk" && opts.quiet_start != opts.quiet_end) {
      // Quiet hours: unsolicited messages wait (a learner who just wrote is awake).
      const auto l = co_await session_of(conv, c.p, it.epoch);
      if (!l) co_return verdict{outcome::abandon};
      const std::int64_t now = svc.clock().now_ms();
      const bool awake = l->s.last_in > 0 && now - l->s.last_in < opts.awake.count();
      auto tz = l->s.contact.find("tz");
      const std::string zone = tz != l->s.contact.end() && known_time_zone(tz->second) ? tz->second : opts.default_tz;
      if (const std::int64_t wait = awake ? 0 : quiet_wait(now, zone); wait > 0) {
        verdict v{outcome::held, "quiet hours"};
        v.wait_ms = wait;
        co_return v;
      }
    }
    // A channel with a customer-service window (WhatsApp): decided now, at send time.
    std::int64_t last_in = 0;
    bool from_session = false;  // last_in read from the session now (else: as of the commit)
    if (a->window_ms() > 0) {
      // The learner's last message as of the commit: a window open by it is open now (the
      // session's can only be later), so the session is loaded only when that says closed.
      last_in = entry.in;
      const std::int64_t now = svc.clock().now_ms();
      const auto closed = [&](std::int64_t t) { return t == 0 || now - t >= a->window_ms() || t == c.closed_at_last_in; };
      if (closed(last_in)) {
        const auto l = co_await session_of(conv, c.p, it.epoch);
        if (!l) co_return verdict{outcome::abandon};
        last_in = l->s.last_in;
        from_session = true;
        if (closed(last_in)) co_return co_await reengage(conv, c, it, a, last_in, m.template_name);
      }
    }
    const std::vector<http_call> calls = a->render(address, m);
    std::vector<delivery_detail::sent_call> records;
    int attempts = 0, throttles = 0;
    for (std::size_t k = c.calls_done; k < calls.size(); ++k) {
      const http_call& req = calls[k];
      for (;;) {
        if (!holds(c.p, it.epoch) && !parts[static_cast<std::size_t>(c.p)].held) co_return verdict{outcome::abandon};
        co_await pace_learner(c, pc);
        co_await pace_channel(channel, it.lane != "bulk");
        ++attempts;
        const auto answer = co_await call(req);
        const send_result res = a->classify(answer.first, answer.second);
        note_alert(channel, answer.first, res);
        if (res.status == send_status::ok) {
          c.calls_done = k + 1;
          counters.segments += req.segments;
          delivery_detail::sent_call rec;
          rec.id = "out." + std::to_string(c.p) + "." + it.e->id + "." + std::to_string(k);
          rec.conv = conv;
          rec.channel = channel;
          rec.external_id = res.external_id;
          rec.lane = it.lane;
          rec.at = svc.clock().now_ms();
          rec.node = m.node;
          if (k == 0) rec.text = m.text;  // the learner's timeline shows what they got
          rec.segments = req.segments;
          records.push_back(std::move(rec));
          break;
        }
        std::string why = channel + ": " + (res.error.empty() ? "HTTP " + std::to_string(answer.first) : res.error);
        if (res.status == send_status::window_closed) {
          // The provider says the window is closed (131047): never retried as is.
          {
            delivery_detail::send_record_list sent;  // each call its own record, as sent so far
            for (auto& r : records) sent.add(std::move(r), 1);
            const std::vector<nlohmann::json> docs = sent.documents();
            co_await append_records(c.p, it.epoch, docs);
          }
          if (!from_session) {
            // Decided on the commit's word: the session's may be later (the re-engagement
            // and the hold key on it).
            const auto l = co_await session_of(conv, c.p, it.epoch);
            if (!l) co_return verdict{outcome::abandon};
            last_in = l->s.last_in;
          }
          c.closed_at_last_in = last_in;
          log::warn("window closed (the provider refused free text)", {{"channel", channel}});
          co_return co_await reengage(conv, c, it, a, last_in, m.template_name);
        }
        if (res.status == send_status::stopped) co_return verdict{outcome::skipped, why, attempts, "stopped"};
        if (res.status == send_status::rejected) co_return verdict{outcome::dead, why, attempts, "rejected"};
        if (res.status == send_status::throttled) {
          --attempts;  // a 429 is not a failed attempt; it has its own, larger bound
          counters.throttled++;
          if (++throttles >= opts.max_throttled)
            co_return verdict{outcome::dead, why + " (throttled " + std::to_string(throttles) + " times)", attempts,
                              "failed"};
          co_await sleep(std::max(ms(1000), ms(1000) * res.retry_after_s));
          continue;
        }
        if (attempts >= opts.max_attempts)
          co_return verdict{outcome::dead, why + " (after " + std::to_string(attempts) + " attempts)", attempts,
                            "failed"};
        counters.retries++;
        co_await sleep(backoff(attempts));
      }
    }
    counters.sent++;
    svc.count_out(channel);
    verdict done{outcome::done};
    done.records = std::move(records);
    co_return done;
  }

  net::awaitable<void> append_records(int p, std::uint64_t epoch, const std::vector<nlohmann::json>& records) {
    if (records.empty()) co_return;
    auto op = [&]() -> net::awaitable<void> { co_await st.results_append(p, records); };
    co_await with_store(p, epoch, op);
  }

  // Outside the window: the re-engagement template once (per time the learner last wrote),
  // then the learner's queue waits until they answer.
  net::awaitable<verdict> reengage(const std::string& conv, conv_state& c, const item& it, channel_adapter* a,
                                   std::int64_t last_in, const std::string& template_name) {
    const auto who = split_conversation(conv);
    if (c.reengaged_for == last_in) co_return verdict{outcome::held, "outside the customer-service window"};
    // The account's daily tier: a template opens a new conversation; beyond the cap it waits
    // (held, with the reason) until a place frees. Each learner-silence takes one place.
    if (auto cap = opts.daily_conversation_cap.find(who.first); cap != opts.daily_conversation_cap.end() && cap->second > 0) {
      std::int64_t wait = 0;
      const std::string member = conv + ":" + std::to_string(last_in);
      const int limit = cap->second;
      auto take = [&]() -> net::awaitable<void> {
        wait = co_await st.quota_take("tier:" + who.first, member, svc.clock().now_ms(), ms(24LL * 3600 * 1000), limit);
      };
      if (!co_await with_store(c.p, it.epoch, take)) co_return verdict{outcome::abandon};
      if (wait > 0) {
        verdict v{outcome::held, "daily messaging tier reached (" + std::to_string(limit) + " new conversations per 24 h)"};
        v.kind = "tier";
        v.wait_ms = wait;
        co_return v;
      }
    }
    bool first = false;
    const std::string key = "reengage:" + conv + ":" + std::to_string(last_in);
    auto op = [&]() -> net::awaitable<void> { first = co_await st.once(c.p, key, ms(30LL * 24 * 3600 * 1000)); };
    if (!co_await with_store(c.p, it.epoch, op)) co_return verdict{outcome::abandon};
    c.reengaged_for = last_in;
    if (first) {
      const auto pc = pacing_of(who.first);
      std::vector<nlohmann::json> records;
      for (const auto& req : a->render_reengagement(who.second, template_name)) {
        for (int attempt = 1;; ++attempt) {
          co_await pace_learner(c, pc);
          co_await pace_channel(who.first, true);
          const auto answer = co_await call(req);
          const send_result res = a->classify(answer.first, answer.second);
          note_alert(who.first, answer.first, res);
          if (res.status == send_status::ok) {
            records.push_back({{"id", "out." + std::to_string(c.p) + "." + it.e->id + ".reengage"},
                               {"type", "reengagement"}, {"conv", conv}, {"channel", who.first},
                               {"external_id", res.external_id}, {"at", svc.clock().now_ms()}});
            counters.reengaged++;
            break;
          }
          if (res.status != send_status::connection_failed && res.status != send_status::throttled) {
            log::warn("re-engagement template not sent", {{"channel", who.first}, {"error", res.error}});
            break;
          }
          if (attempt >= opts.max_attempts) break;
          co_await sleep(backoff(attempt));
        }
      }
      co_await append_records(c.p, it.epoch, records);
    }
    co_return verdict{outcome::held, "outside the customer-service window"};
  }

  // Pauses the learner's course (dead letter) or marks them opted out (blocked), then skips
  // what was committed for them before that.
  net::awaitable<void> stop_learner(const std::string& conv, conv_state& c, const item& it, const verdict& v) {
    const auto who = split_conversation(conv);
    const auto ev = v.kind == "stopped" ? inbound_event::of(inbound_event::kind::opt_out)
                                        : inbound_event::delivery_failure(v.reason);
    loaded_session after;
    auto op = [&]() -> net::awaitable<void> {
      co_await svc.deliver(who.first, who.second, ev);
      after = co_await st.load(conv);
    };
    co_await with_store(c.p, it.epoch, op);
    c.skip_below = std::max(c.skip_below, after.s.version);
    c.skip_reason = v.kind == "stopped" ? "not sent: the learner blocked us or opted out"
                                        : "not sent: an earlier message was a dead letter (" + v.reason + ")";
  }

  net::awaitable<void> work(std::string conv) {
    auto self = shared_from_this();
    auto& c = convs[conv];
    while (!c.q.empty() && !stopping) {
      item& front = c.q.front();
      const int p = c.p;
      auto& part = parts[static_cast<std::size_t>(p)];
      if (!holds(p, front.epoch) && !front.in_flight) {
        drop_queue(c);  // the lease moved on: whoever holds it now sends these
        break;
      }
      front.in_flight = true;
      const item it = front;
      verdict v;
      if (it.v > 0 && it.v < c.skip_below && !it.e->webhook) {
        v = verdict{outcome::skipped, c.skip_reason, 0, "skipped"};
      } else {
        v = co_await deliver_message(conv, c, it);
      }
      if (v.what == outcome::held) {
        // Outside the window: wait for the learner (a commit of theirs wakes us), then look again.
        if (v.kind == "tier") {
          if (!c.tier_held) {
            c.tier_held = true;
            counters.tier++;
            log::warn("held: " + v.reason, {{"channel", split_conversation(conv).first}, {"wait_ms", v.wait_ms}});
          }
        } else if (v.wait_ms > 0) {
          counters.quiet++;
        } else if (c.hold_wait == ms(1000)) {
          counters.held++;
        }
        part.held_convs.insert(conv);
        release_acks(conv, c);
        flush_acks_now(p);
        c.hold_timer = std::make_shared<net::steady_timer>(strand);
        // Quiet hours: until they end (looked at again at least every 10 minutes; the learner
        // writing, or the test clock, wakes it sooner).
        c.hold_timer->expires_after(v.wait_ms > 0 ? std::min<ms>(ms(v.wait_ms), ms(600000)) : c.hold_wait);
        co_await c.hold_timer->async_wait(net::as_tuple(net::use_awaitable));
        c.hold_timer.reset();
        part.held_convs.erase(conv);
        if (v.wait_ms == 0) c.hold_wait = std::min(ms(30000), c.hold_wait * 2);
        if (!holds(p, it.epoch)) {
          drop_queue(c);
          break;
        }
        continue;
      }
      c.hold_wait = ms(1000);
      c.tier_held = false;
      c.calls_done = 0;
      bool finished = false;
      if (v.what == outcome::done) {
        // Acknowledged in the partition's next batch (with the send's records): the learner's
        // next message need not wait for it.
        // While more of this learner's messages follow at once, their acknowledgements wait to
        // go together (one round trip for a step's replies, not one each, and one send record
        // for them: send_records.hpp); the last one, a hold or the end of the queue sends them.
        stash_ack(conv, c, it.e->id, std::move(v.records), c.q.size() > 1);
        finished = true;
      } else if (v.what == outcome::dead || v.what == outcome::skipped) {
        nlohmann::json rec = {{"conv", conv},     {"entry", it.e->document()}, {"reason", v.reason},
                              {"kind", v.kind},   {"attempts", v.attempts}, {"lane", it.lane},
                              {"at", svc.clock().now_ms()}, {"owner", opts.owner}};
        auto op = [&]() -> net::awaitable<void> {
          co_await st.outbox_dead(p, it.e->id, rec, parts[static_cast<std::size_t>(p)].f);
        };
        finished = co_await with_store(p, it.epoch, op);
        if (finished) {
          if (v.kind == "skipped") {
            counters.skipped++;
          } else if (v.kind == "stopped") {
            counters.stopped++;
          } else {
            counters.dead_letters++;
            svc.counters().dead_letters++;
          }
          log::warn(v.kind == "skipped" ? "message skipped" : "dead letter",
                    {{"channel", split_conversation(conv).first}, {"kind", v.kind}, {"reason", v.reason}});
          if (v.kind != "skipped") {
            // For the reports (delivery: dead letters per channel) and the learner's timeline.
            std::vector<nlohmann::json> dl{{{"id", "dl." + std::to_string(p) + "." + it.e->id},
                                             {"type", "dead_letter"},
                                             {"conv", conv},
                                             {"channel", split_conversation(conv).first},
                                             {"status", v.kind},
                                             {"text", v.reason},
                                             {"attempts", v.attempts},
                                             {"at", svc.clock().now_ms()}}};
            co_await append_records(p, it.epoch, dl);
            co_await stop_learner(conv, c, it, v);
          }
        }
      }
      // The front may have been dropped by a lease change meanwhile; find it by id.
      auto pos = std::find_if(c.q.begin(), c.q.end(), [&](const item& x) { return x.e->id == it.e->id; });
      if (pos != c.q.end()) {
        const bool reply = is_reply(*pos) && part.queued_replies > 0, queued = part.queued > 0;
        if (reply) part.queued_replies--;
        c.q.erase(pos);
        if (queued) part.queued--;
        // Webhooks waiting for the sender (backpressure) may go on. The totals go down by what
        // this partition's counts did, not by update_gauges' scan of every partition (once per
        // message sent it was ~0.7 % of the server's instructions). A read still being taken
        // has not added its entries to the totals yet: never below 0 meanwhile.
        if (reply) drop_one(replies_gauge);
        if (queued) drop_one(queued_gauge);
        if (progressed) progressed();
      }
      c.ids.erase(it.e->id);
      if (finished) {
        part.done.insert(it.e->id);
      } else {
        // Sent but not acknowledged (the lease lapsed): acknowledged if this instance holds
        // the partition again, else the holder resends it (at-least-once).
        if (v.what == outcome::done) part.sent_unacked.insert(it.e->id);
        drop_queue(c);  // not acknowledged (lease lost or stopping): the holder resends it
      }
    }
    release_acks(conv, c);
    flush_acks_now(c.p);
    c.running = false;
    c.last_used = clock_type::now();
    running_workers--;
  }

  // ---------------------------------------------------------------- acknowledgements

  // `more`: more of the learner's messages follow at once; up to `per_learner` wait for them,
  // for a second at most (a learner's pace can space their messages out: what was sent is
  // acknowledged, not sent again after a restart).
  void stash_ack(const std::string& conv, conv_state& c, std::string id,
                 std::vector<delivery_detail::sent_call> records, bool more) {
    constexpr std::size_t per_learner = 32;
    constexpr auto linger = std::chrono::milliseconds(1000);
    parts[static_cast<std::size_t>(c.p)].acking.insert(id);
    auto& held = stashes[conv];
    held.ids.push_back(std::move(id));
    for (auto& r : records) held.records.add(std::move(r));
    if (more && held.ids.size() < per_learner && clock_type::now() - held.since < linger) return;
    release_acks(conv, c);
  }

  // The learner's entries sent and not yet acknowledged go to the partition's next batch.
  void release_acks(const std::string& conv, conv_state& c) {
    auto held = stashes.find(conv);
    if (held == stashes.end()) return;
    auto& part = parts[static_cast<std::size_t>(c.p)];
    for (auto& id : held->second.ids) part.to_ack.push_back({std::move(id), {}});
    if (!held->second.ids.empty()) part.to_ack.back().records = std::move(held->second.records);  // with the last
    stashes.erase(held);
    flush_acks_now(c.p);
  }

  // Starts writing the partition's delivered entries unless that is under way (it takes what
  // waits when it gets there) or none wait.
  void flush_acks_now(int p) {
    if (p < 0 || p >= static_cast<int>(parts.size())) return;
    auto& part = parts[static_cast<std::size_t>(p)];
    if (part.flushing || part.to_ack.empty()) return;
    part.flushing = true;
    flushers++;
    net::co_spawn(strand, flush_acks(p), net::detached);
  }

  // Writes the partition's delivered entries while there are any: every batch is one
  // outbox_done (records appended; entries removed under the lease). Entries the lease no
  // longer covers wait in sent_unacked for this instance to hold the partition again (else
  // the holder resends them: at-least-once). Redis unreachable: retried with backoff.
  net::awaitable<void> flush_acks(int p) {
    auto self = shared_from_this();
    auto& part = parts[static_cast<std::size_t>(p)];
    while (!part.to_ack.empty()) {
      std::vector<delivered> batch;
      batch.swap(part.to_ack);
      std::vector<std::string> ids;
      std::vector<std::string> records;  // their texts
      ids.reserve(batch.size());
      for (auto& d : batch) {
        ids.push_back(d.id);
        d.records.append_texts(records);
      }
      // The same batch again while Redis cannot be reached (what is delivered meanwhile waits
      // for the next batch); given up when stopping or after 8 tries: then as if fenced.
      bool acked = false;
      for (int attempt = 0;; ++attempt) {
        try {
          acked = co_await st.outbox_done(p, ids, records, part.f);
          counters.ack_writes++;
          break;
        } catch (const std::exception& e) {
          if (worth_logging("acknowledgement failed"))
            log::warn("acknowledgement failed", {{"partition", p}, {"error", e.what()}});
        }
        if (stopping || attempt >= 8) break;
        co_await sleep(std::min(ms(2000), ms(50) * (1 << std::min(attempt, 5))));
      }
      for (const auto& id : ids) {
        part.acking.erase(id);
        if (!acked) part.sent_unacked.insert(id);
      }
      if (!acked) counters.fenced++;
    }
    part.flushing = false;
    flushers--;
  }

  // ---------------------------------------------------------------- the scheduler

  // Every learner held (quiet hours, the window) looks again now (on the strand).
  net::awaitable<void> wake_held() {
    for (auto& part : parts)
      for (const auto& conv : part.held_convs) {
        auto it = convs.find(conv);
        if (it != convs.end() && it->second.hold_timer) it->second.hold_timer->cancel();
      }
    co_return;
  }

  // The partitions held now and their fences (on the strand).
  net::awaitable<std::vector<std::pair<int, fence>>> held_leases() {
    std::vector<std::pair<int, fence>> out;
    const auto now = clock_type::now();
    for (std::size_t p = 0; p < parts.size(); ++p)
      if (parts[p].held && parts[p].valid_until > now) out.emplace_back(static_cast<int>(p), parts[p].f);
    co_return out;
  }

  // Claims partition p's due timers (nullopt: fenced, or the store failed; logged).
  net::awaitable<std::optional<std::vector<due_timer>>> claim_timers(int p, std::int64_t now) {
    auto& part = parts[static_cast<std::size_t>(p)];
    try {
      co_return co_await st.claim_due_timers(p, now, opts.timer_batch, part.f, opts.timer_hold);
    } catch (const lease_lost&) {
      counters.fenced++;
    } catch (const std::exception& e) {
      if (worth_logging("timer claim failed")) log::warn("timer claim failed", {{"partition", p}, {"error", e.what()}});
    }
    co_return std::nullopt;
  }

  net::awaitable<std::size_t> fire_timers() {
    std::size_t fired = 0;
    const std::int64_t now = svc.clock().now_ms();  // one clock per tick
    // The first claim of every held partition at once: one round trip for all of them (each
    // on its own, an idle instance made a round trip per partition per tick).
    std::vector<int> held;
    std::vector<std::uint64_t> epochs;
    for (int p = 0; p < static_cast<int>(parts.size()); ++p)
      if (parts[static_cast<std::size_t>(p)].held) {
        held.push_back(p);
        epochs.push_back(parts[static_cast<std::size_t>(p)].epoch);
      }
    std::vector<std::optional<std::vector<due_timer>>> first(held.size());
    const std::function<net::awaitable<void>(std::size_t)> claim_first = [&](std::size_t k) -> net::awaitable<void> {
      if (!stopping && holds(held[k], epochs[k])) first[k] = co_await claim_timers(held[k], now);
    };
    co_await for_each_concurrently(held.size(), held.size(), claim_first);
    // Then each partition's timers are handed to the engine in turn (and claimed again while a
    // claim came back full).
    for (std::size_t k = 0; k < held.size() && !stopping; ++k) {
      const int p = held[k];
      std::optional<std::vector<due_timer>> due = std::move(first[k]);
      for (int round = 0; round < 20 && due; ++round) {
        counters.timers_claimed += static_cast<long>(due->size());
        for (const auto& t : *due) {
          const auto who = split_conversation(t.conversation);
          const auto ev = inbound_event::timer_due(t.id);
          try {
            co_await svc.deliver(who.first, who.second, ev);
            co_await st.timer_done(p, t);
            ++fired;
            svc.counters().timers_fired++;
          } catch (const std::exception& e) {
            // Left claimed: it comes back after timer_hold.
            if (worth_logging("timer not fired")) log::warn("timer not fired", {{"partition", p}, {"error", e.what()}});
          }
        }
        if (due->size() < opts.timer_batch || stopping || !holds(p, epochs[k])) break;
        due = co_await claim_timers(p, now);
      }
    }
    co_return fired;
  }

  net::awaitable<void> shutdown(std::chrono::milliseconds grace);

  // ---------------------------------------------------------------- the loops

  net::awaitable<void> read_loop() {
    auto self = shared_from_this();
    auto last_full = clock_type::now() - opts.poll;
    std::uint64_t connections = st.connections_made();
    while (!stopping) {
      bool full = clock_type::now() - last_full >= opts.poll;
      if (const auto now_made = st.connections_made(); now_made != connections) {
        // The store reconnected, maybe to another node (a failover): what this instance
        // acknowledged on the old one may be back in the new one's outbox. Read every held
        // partition from the start, so such an entry goes out again before anything newer
        // of its learner (a copy, in order), not after it once the lease next changes.
        connections = now_made;
        for (int p = 0; p < static_cast<int>(parts.size()); ++p)
          if (parts[static_cast<std::size_t>(p)].held) reset_partition(p);
        counters.rereads++;
        full = true;
      }
      std::set<int> dirty = svc.take_dirty();
      if (full) last_full = clock_type::now();
      for (int p : dirty) {
        // A learner held for the window may have written: look at once.
        if (p < 0 || p >= static_cast<int>(parts.size())) continue;
        for (const auto& conv : parts[static_cast<std::size_t>(p)].held_convs) {
          auto it = convs.find(conv);
          if (it != convs.end() && it->second.hold_timer) {
            it->second.hold_wait = ms(1000);
            it->second.hold_timer->cancel();
          }
        }
      }
      std::vector<int> to_read;
      for (int p = 0; p < static_cast<int>(parts.size()); ++p)
        if (full || dirty.count(p)) to_read.push_back(p);
      if (dirty.empty()) {
        // A poll with no commit to look at (an idle instance; another instance's commits): every
        // partition at once, their reads sharing round trips (one after the other, an idle
        // instance made a round trip per partition per poll).
        const std::function<net::awaitable<void>(std::size_t)> read_one = [&](std::size_t k) -> net::awaitable<void> {
          if (!stopping) co_await read_partition(to_read[k]);
        };
        co_await for_each_concurrently(to_read.size(), to_read.size(), read_one);
      } else {
        // Commits to look at: one partition after the other. The time that takes gathers each
        // partition's next entries into one read (read all at once, a loaded instance read far
        // more often, in small batches: at 64 connections +68 % Redis requests and commands
        // per webhook, acknowledged in smaller batches, +3-5 MB RSS).
        for (std::size_t k = 0; k < to_read.size() && !stopping; ++k) co_await read_partition(to_read[k]);
      }
      // Forget idle learners whose pacing has recovered.
      if (full && convs.size() > 1000) {
        const auto now = clock_type::now();
        for (auto it = convs.begin(); it != convs.end();) {
          auto& c = it->second;
          if (!c.running && c.q.empty() && c.skip_below == 0 && now - c.last_used > ms(60000))
            it = convs.erase(it);
          else
            ++it;
        }
      }
      update_gauges();
      // A commit told while this pass read found no sleep to end: look again at once (asleep
      // here, its learner's replies waited for the next commit, or for wake_cap). One told
      // from now on cancels the wait below.
      if (svc.has_dirty()) continue;
      wake->expires_after(std::min(opts.poll, opts.wake_cap));
      co_await wake->async_wait(net::as_tuple(net::use_awaitable));
    }
  }

  net::awaitable<void> timer_loop() {
    auto self = shared_from_this();
    while (!stopping) {
      co_await fire_timers();
      co_await sleep(opts.poll);
    }
  }
};

delivery::delivery(net::any_io_executor ex, service& svc, http_sender send, delivery_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), svc, std::move(send), std::move(opts))) {
  auto weak = std::weak_ptr<impl>(impl_);
  svc.on_dirty([weak] {
    if (auto i = weak.lock()) net::post(i->strand, [i] { i->wake->cancel(); });
  });
}

delivery::~delivery() { impl_->svc.on_dirty({}); }

void delivery::start() {
  auto i = impl_;
  net::post(i->strand, [i] {
    if (i->started) return;
    i->started = true;
    net::co_spawn(i->strand, i->keep_leases(), net::detached);
    net::co_spawn(i->strand, i->read_loop(), net::detached);
    net::co_spawn(i->strand, i->timer_loop(), net::detached);
  });
}

net::awaitable<void> delivery::stop(std::chrono::milliseconds grace) {
  auto i = impl_;
  co_await net::co_spawn(i->strand, i->shutdown(grace), net::use_awaitable);
}

net::awaitable<void> delivery::impl::shutdown(std::chrono::milliseconds grace) {
  auto i = shared_from_this();
  i->stopping = true;
  i->wake->cancel();
  const auto until = clock_type::now() + grace;
  while ((i->running_workers > 0 || i->flushers > 0) && clock_type::now() < until) co_await i->sleep(ms(10));
  for (int p = 0; p < static_cast<int>(i->parts.size()); ++p) {
    auto& part = i->parts[static_cast<std::size_t>(p)];
    if (!part.held) continue;
    try {
      co_await i->st.lease_release(p, part.f);
    } catch (const std::exception&) {
      // It lapses by itself.
    }
    part.held = false;
  }
}

net::awaitable<std::size_t> delivery::fire_timers_now() {
  auto i = impl_;
  const std::size_t fired = co_await net::co_spawn(i->strand, i->fire_timers(), net::use_awaitable);
  // The clock moved: held learners (quiet hours) look again now.
  co_await net::co_spawn(i->strand, i->wake_held(), net::use_awaitable);
  co_return fired;
}

net::awaitable<std::vector<std::pair<int, fence>>> delivery::leases() {
  auto i = impl_;
  co_return co_await net::co_spawn(i->strand, i->held_leases(), net::use_awaitable);
}

const std::string& delivery::owner() const { return impl_->opts.owner; }

std::size_t delivery::leases_held() const { return impl_->held_gauge.load(); }

std::size_t delivery::queued() const { return impl_->queued_gauge.load(); }

std::size_t delivery::replies_queued() const { return impl_->backlog(); }

void delivery::replies_committed(int partition, std::size_t n) {
  if (partition < 0 || static_cast<std::size_t>(partition) >= impl_->parts.size()) return;
  if (impl_->held_now[static_cast<std::size_t>(partition)].load(std::memory_order_relaxed))
    impl_->unread[static_cast<std::size_t>(partition)] += static_cast<std::int64_t>(n);
}

void delivery::on_progress(std::function<void()> f) { impl_->progressed = std::move(f); }

delivery_counters& delivery::counters() { return impl_->counters; }

}  // namespace aula
