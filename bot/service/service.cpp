#include "bot/service/service.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "bot/engine/json_text.hpp"
#include "bot/engine/render.hpp"
#include "bot/io/random.hpp"
#include "bot/service/flood.hpp"

namespace aula {

namespace {

std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}



// Provider calls travel through the outbox as JSON (webhook nodes, follow-up calls).
nlohmann::json call_to_json(const http_call& c) {
  return {{"method", c.method}, {"url", c.url}, {"headers", c.headers}, {"body", c.body}};
}


// Appends an outbox entry; its place in the learner's order is (the version this commit
// writes, its index), whichever lane it travels in.
void add_outbox(commit_request& c, std::string_view lane, std::string_view kind, const std::string& payload,
                std::int64_t in = 0) {
  c.outbox.push_back(make_outbox_write(c.conversation, lane, kind, payload, c.expected_version + 1,
                                       static_cast<std::int64_t>(c.outbox.size()), in));
}

// A commit of one learner event: what every path writes (the provider's id, the follow-up
// calls first in the outbox).
commit_request commit_for(const std::string& conv, std::int64_t expected_version, const std::string& provider_id,
                          const std::vector<http_call>& follow_up) {
  commit_request c;
  c.conversation = conv;
  c.expected_version = expected_version;
  c.provider_id = provider_id;
  for (const auto& call : follow_up) add_outbox(c, "reply", "call", json_text::write(call_to_json(call)));
  return c;
}

http_out answer(int status, std::string body) {
  http_out o;
  o.status = status;
  o.body = std::move(body);
  return o;
}

}  // namespace

service::service(store& st, service_options opts) : store_(st), opts_(std::move(opts)) {}

void service::publish(std::shared_ptr<const flow_set> flows) {
  std::lock_guard lock(mu_);
  flows_ = std::move(flows);
}

std::shared_ptr<const flow_set> service::flows() const {
  std::lock_guard lock(mu_);
  return flows_;
}

void service::name_version(const flow_set* flows, int version) {
  std::lock_guard lock(mu_);
  versions_[flows] = version;
}

void service::set_resolver(flow_resolver r) {
  std::lock_guard lock(mu_);
  resolver_ = std::move(r);
}

void service::set_event_hook(event_hook h) {
  std::lock_guard lock(mu_);
  event_hook_ = std::move(h);
}

bool is_preview_conversation(const std::string& conversation) { return conversation.starts_with("web:preview-"); }

void service::set_backpressure(std::size_t limit, std::function<std::size_t()> backlog) {
  backlog_limit_ = limit;
  backlog_ = std::move(backlog);
}

// A webhook waiting for the sender: woken by backlog_progressed() (released) or by its
// timer (the longest wait). The timer is touched only on the waiting coroutine's executor.
struct service::backlog_waiter {
  explicit backlog_waiter(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
  bool released = false;  // under backlog_mu_
};

net::awaitable<void> service::wait_for_sender() {
  if (backlog_limit_ == 0 || !backlog_) co_return;
  // Polled instead, a waiting webhook lost its turn to each one arriving when there was room
  // (a few waited 2 s while most went at once): p99 of ~500 ms at 64 connections.
  const auto ex = co_await net::this_coro::executor;
  std::shared_ptr<backlog_waiter> w;
  {
    std::lock_guard lock(backlog_mu_);
    if (backlog_waiters_.empty() && backlog_() <= backlog_limit_) co_return;
    w = std::make_shared<backlog_waiter>(ex);
    w->timer.expires_after(std::chrono::seconds(2));
    backlog_waiters_.push_back(w);
  }
  counters_.backpressure_waits++;
  co_await w->timer.async_wait(net::as_tuple(net::use_awaitable));
  bool timed_out = false;
  {
    std::lock_guard lock(backlog_mu_);
    if (!w->released) {
      timed_out = true;
      std::erase(backlog_waiters_, w);
    }
  }
  // Gone at its longest wait: the next one's turn may have come too.
  if (timed_out) backlog_progressed();
}

void service::on_replies_committed(std::function<void(int, std::size_t)> f) { replies_committed_ = std::move(f); }

void service::count_replies(int partition, const commit_request& c) const {
  if (!replies_committed_) return;
  const auto n = static_cast<std::size_t>(
      std::count_if(c.outbox.begin(), c.outbox.end(), [](const outbox_write& w) { return w.lane == "reply"; }));
  if (n > 0) replies_committed_(partition, n);
}

void service::backlog_progressed() {
  std::shared_ptr<backlog_waiter> w;
  {
    std::lock_guard lock(backlog_mu_);
    if (backlog_waiters_.empty() || !backlog_ || backlog_() > backlog_limit_) return;
    w = std::move(backlog_waiters_.front());
    backlog_waiters_.pop_front();
    w->released = true;
  }
  // Expired rather than cancelled: a wait not yet started completes at once too.
  net::post(w->timer.get_executor(), [w] { w->timer.expires_at(net::steady_timer::time_point::min()); });
}

void service::add_adapter(std::shared_ptr<channel_adapter> a) {
  std::lock_guard lock(mu_);
  adapters_[a->name()] = std::move(a);
}

channel_adapter* service::adapter(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = adapters_.find(name);
  return it == adapters_.end() ? nullptr : it->second.get();
}

void service::count(const std::string& channel, const char* direction) {
  std::lock_guard lock(mu_);
  messages_[{channel, direction}] += 1;
}

std::map<std::pair<std::string, std::string>, long> service::message_counts() const {
  std::lock_guard lock(mu_);
  return messages_;
}

void service::mark_dirty(int p) {
  std::function<void()> f;
  {
    std::lock_guard lock(mu_);
    dirty_.insert(p);
    f = on_dirty_;
  }
  if (f) f();
}

void service::on_dirty(std::function<void()> f) {
  std::lock_guard lock(mu_);
  on_dirty_ = std::move(f);
}

void service::count_out(const std::string& channel) {
  counters_.outbound++;
  count(channel, "out");
}

bool service::has_dirty() const {
  std::lock_guard lock(mu_);
  return all_dirty_ || !dirty_.empty();
}

std::set<int> service::take_dirty() {
  std::lock_guard lock(mu_);
  std::set<int> out;
  if (all_dirty_) {
    for (int p = 0; p < store_.partitions(); ++p) out.insert(p);
    all_dirty_ = false;
  }
  out.insert(dirty_.begin(), dirty_.end());
  dirty_.clear();
  return out;
}

net::awaitable<http_out> service::handle_webhook(const std::string& channel, const http_in& req) {
  channel_adapter* a = adapter(channel);
  if (!a || !a->enabled()) co_return answer(404, "not found\n");
  parse_result pr = a->parse(req);
  switch (pr.outcome) {
    case parse_result::verdict::unauthorized:
      // WhatsApp's verification GET answers 403 when the verify token is wrong.
      if (pr.ack.status == 403) co_return pr.ack;
      co_return answer(401, "unauthorized\n");
    case parse_result::verdict::invalid: co_return answer(400, "bad request: " + pr.reason + "\n");
    case parse_result::verdict::ignored:
      // Still acknowledge (a tap that is ignored must stop its button spinning).
      if (pr.ack.status == 200 && !pr.ack.body.empty()) co_return pr.ack;
      co_return answer(200, "ignored\n");
    case parse_result::verdict::ok: break;
  }
  try {
    std::map<int, std::vector<nlohmann::json>> reports;
    bool waited = false;
    for (const auto& item : pr.items) {
      if (!item.report && !waited) {
        co_await wait_for_sender();
        waited = true;
      }
      if (item.report) {
        // A provider's word on a message we sent: a result record, not a learner event.
        const auto& r = *item.report;
        const std::string conv = channel + ":" + item.address;
        nlohmann::json rec = {{"id", "dr." + r.external_id + "." + r.state},
                              {"type", "delivery"},
                              {"conv", conv},
                              {"channel", channel},
                              {"external_id", r.external_id},
                              {"status", r.state},
                              {"at", r.at_ms ? r.at_ms : clock_.now_ms()}};
        if (!r.error.empty()) rec["error"] = r.error;
        reports[partition_of(conv, store_.partitions())].push_back(std::move(rec));
        counters_.reports++;
        continue;
      }
      counters_.inbound++;
      count(channel, "in");
      inbound_event ev = item.event;
      ev.media = item.media_kind;
      std::map<std::string, std::string> contact = item.contact;
      event_hook hook;
      {
        std::lock_guard lock(mu_);
        hook = event_hook_;
      }
      if (hook && ev.type == inbound_event::kind::start) {
        const std::string conv = channel + ":" + item.address;
        std::optional<inbound_event> other = co_await hook(conv, ev, contact);
        if (other) ev = *other;
      }
      co_await deliver(channel, item.address, ev, item.provider_id, contact, item.follow_up);
    }
    for (auto it = reports.begin(); it != reports.end(); ++it) co_await store_.results_append(it->first, it->second);
  } catch (const store_unavailable& e) {
    counters_.store_errors++;
    co_return answer(503, "store unavailable, retry later\n");
  }
  http_out ok = pr.ack;
  if (ok.status == 0) ok.status = 200;
  co_return ok;
}

net::awaitable<bool> service::deliver(const std::string& channel, const std::string& address, const inbound_event& ev,
                                      const std::string& provider_id,
                                      const std::map<std::string, std::string>& contact,
                                      const std::vector<http_call>& follow_up,
                                      std::vector<nlohmann::json>* committed_records,
                                      loaded_session* preloaded) {
  const std::string conv = channel + ":" + address;
  channel_adapter* a = adapter(channel);
  const int partition = partition_of(conv, store_.partitions());
  flow_resolver resolver;
  {
    std::lock_guard lock(mu_);
    resolver = resolver_;
  }
  for (int attempt = 0; attempt < opts_.max_commit_attempts; ++attempt) {
    loaded_session loaded;
    if (attempt == 0 && preloaded) {
      loaded = std::move(*preloaded);
    } else {
      loaded = co_await store_.load(conv);
    }
    session s = std::move(loaded.s);  // (loaded.exists is all that is read of it after)
    // What the provider tells about a learner fills the gaps, never overwrites.
    // (No structured bindings in coroutines: g++ 12 miscompiles some of them.)
    for (auto kv = contact.begin(); kv != contact.end(); ++kv) {
      const std::string& k = kv->first;
      const std::string& v = kv->second;
      if (v.empty()) continue;
      if (k == "lang" || k == "lang!") {
        // "lang": the language of the learner's app, until they choose one; "lang!": the
        // learner chose it (the web chat's ES/EN buttons).
        if ((s.lang.empty() || k == "lang!") && (v == "es" || v == "en")) s.lang = v;
        continue;
      }
      if (k == "language" && s.lang.empty()) {
        // The app's language as the provider tells it (Telegram's language_code, "en-US"…):
        // the learner's language until they choose one.
        const std::string primary = v.substr(0, v.find('-'));
        if (primary == "es" || primary == "en") s.lang = primary;
      }
      s.contact.emplace(k, v);
    }
    context ctx;
    ctx.now_ms = clock_.now_ms();
    ctx.seed = mix(static_cast<std::uint64_t>(ctx.now_ms) ^ (seed_counter_.fetch_add(1) << 20));
    auto tz = s.contact.find("tz");
    ctx.tz = tz != s.contact.end() ? tz->second : opts_.default_tz;
    ctx.default_lang = opts_.default_lang;
    if (a) ctx.caps = a->caps();
    if (auto co = s.contact.find("cohort"); co != s.contact.end() && !co->second.empty())
      ctx.cohorts.push_back(co->second);
    ctx.code_prefix = code_prefix(partition);
    ctx.public_url = opts_.public_url;
    ctx.channel = channel;
    if (!is_preview_conversation(conv)) ctx.consent = opts_.consent;
    ctx.entropy = random_bytes(16);
    // (No co_await inside ?: — g++ 12 destroys the temporary too early.)
    std::shared_ptr<const flow_set> flows;
    if (resolver) {
      flows = co_await resolver(conv, s);
    } else {
      flows = this->flows();
    }
    if (!flows) throw store_unavailable("no flows for " + channel + ":…");
    // Flood control: a learner's message over the per-minute limit is recorded and dropped
    // here, before the flow runs; the first one dropped in a window tells the learner to wait.
    if (ev.type == inbound_event::kind::text || ev.type == inbound_event::kind::choice) {
      const flood_verdict fv = count_message(s, ctx.now_ms, opts_.learner_messages_per_minute);
      if (fv.drop) {
        commit_request c = commit_for(conv, loaded.exists ? s.version : 0, provider_id, follow_up);
        if (fv.tell) {
          outbound_message notice;
          notice.text = flood_notice(s.lang.empty() ? opts_.default_lang : s.lang);
          notice.node = "rate_limited";
          add_outbox(c, "reply", "msg", to_json_text(notice));
        }
        if (!is_preview_conversation(conv)) {
          result_record rec;
          rec.id = "rl." + conv + "." + std::to_string(ctx.now_ms) + "." + std::to_string(s.flood_window) + "." +
                   std::to_string(fv.count);
          rec.type = "rate_limited";
          rec.text = ev.type == inbound_event::kind::text ? ev.text : ev.choice;
          rec.attempt = fv.count;
          rec.status = fv.tell ? "told" : "dropped";
          rec.at = ctx.now_ms;
          c.results.push_back(rec.to_text(conv, channel));
        }
        c.next = s;
        const bool has_outbox = !c.outbox.empty();
        commit_outcome outcome = co_await store_.commit(c);
        if (outcome == commit_outcome::ok) {
          counters_.rate_limited++;
          if (committed_records) *committed_records = json_text::parse_each(c.results);
          count_replies(partition, c);
          if (has_outbox) mark_dirty(partition);
          co_return true;
        }
        if (outcome == commit_outcome::duplicate) {
          counters_.duplicates++;
          co_return false;
        }
        counters_.conflicts++;
        continue;
      }
    }
    int flow_version = 0;
    {
      std::lock_guard lock(mu_);
      if (auto v = versions_.find(flows.get()); v != versions_.end()) flow_version = v->second;
    }
    const std::int64_t version = s.version;
    step_result r = step(*flows, std::move(s), ev, ctx);

    commit_request c = commit_for(conv, loaded.exists ? version : 0, provider_id, follow_up);
    c.next = std::move(r.next);
    for (const auto& m : r.messages) {
      // With the learner's last message as of this step: a sender on a channel with a window
      // (WhatsApp) need not load the session when that alone says the window is open.
      add_outbox(c, m.unsolicited ? "bulk" : "reply", "msg", to_json_text(m), c.next.last_in);
    }
    for (const auto& w : r.webhooks) {
      nlohmann::json call = call_to_json(http_call{w.method, w.url, w.headers, w.body});
      call["id"] = w.id;
      add_outbox(c, "reply", "webhook", json_text::write(call));
    }
    c.timers_set = std::move(r.timers_set);
    c.timers_cancel = std::move(r.timers_cancel);
    // A draft preview is never part of the evaluation data.
    if (!is_preview_conversation(conv)) {
      for (const auto& rec : r.records) c.results.push_back(rec.to_text(conv, channel, flow_version));
      c.certificates = std::move(r.certificates);
    }
    const bool has_outbox = !c.outbox.empty();
    commit_outcome outcome = co_await store_.commit(c);
    if (outcome == commit_outcome::ok) {
      if (committed_records) *committed_records = json_text::parse_each(c.results);
      count_replies(partition, c);
      // Channels with a window also wake the sender when the learner merely wrote: a queue
      // held for the window may go now.
      if (has_outbox || (a && a->window_ms() > 0 && (ev.type == inbound_event::kind::text ||
                                                     ev.type == inbound_event::kind::choice)))
        mark_dirty(partition);
      co_return true;
    }
    if (outcome == commit_outcome::duplicate) {
      counters_.duplicates++;
      co_return false;
    }
    counters_.conflicts++;
  }
  throw store_unavailable("too many version conflicts for " + channel + ":…");
}

}  // namespace aula
