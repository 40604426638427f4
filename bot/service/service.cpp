#include "bot/service/service.hpp"

#include <chrono>
#include <iostream>

#include "bot/engine/render.hpp"

namespace aula {

namespace {

std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::pair<std::string, std::string> split_conversation(const std::string& conv) {
  auto colon = conv.find(':');
  if (colon == std::string::npos) return {conv, {}};
  return {conv.substr(0, colon), conv.substr(colon + 1)};
}

net::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(net::use_awaitable);
}

// Provider calls travel through the outbox as JSON (webhook nodes, follow-up calls).
nlohmann::json call_to_json(const http_call& c) {
  return {{"method", c.method}, {"url", c.url}, {"headers", c.headers}, {"body", c.body}};
}

http_call call_from_json(const nlohmann::json& j) {
  http_call call;
  call.method = j.value("method", std::string{"POST"});
  call.url = j.value("url", std::string{});
  call.body = j.value("body", std::string{});
  if (auto h = j.find("headers"); h != j.end())
    for (auto it = h->begin(); it != h->end(); ++it) call.headers[it.key()] = it.value().get<std::string>();
  return call;
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
  std::lock_guard lock(mu_);
  dirty_.insert(p);
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
    case parse_result::verdict::unauthorized: co_return answer(401, "unauthorized\n");
    case parse_result::verdict::invalid: co_return answer(400, "bad request: " + pr.reason + "\n");
    case parse_result::verdict::ignored:
      // Still acknowledge (a tap that is ignored must stop its button spinning).
      if (pr.ack.status == 200 && !pr.ack.body.empty()) co_return pr.ack;
      co_return answer(200, "ignored\n");
    case parse_result::verdict::ok: break;
  }
  try {
    for (const auto& item : pr.items) {
      counters_.inbound++;
      count(channel, "in");
      inbound_event ev = item.event;
      ev.media = item.media_kind;
      co_await deliver(channel, item.address, ev, item.provider_id, item.contact, item.follow_up);
    }
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
                                      const std::vector<http_call>& follow_up) {
  const std::string conv = channel + ":" + address;
  channel_adapter* a = adapter(channel);
  for (int attempt = 0; attempt < opts_.max_commit_attempts; ++attempt) {
    loaded_session loaded = co_await store_.load(conv);
    session s = loaded.s;
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
      s.contact.emplace(k, v);
    }
    context ctx;
    ctx.now_ms = clock_.now_ms();
    ctx.seed = mix(static_cast<std::uint64_t>(ctx.now_ms) ^ (seed_counter_.fetch_add(1) << 20));
    auto tz = s.contact.find("tz");
    ctx.tz = tz != s.contact.end() ? tz->second : opts_.default_tz;
    ctx.default_lang = opts_.default_lang;
    if (a) ctx.caps = a->caps();
    auto flows = this->flows();
    step_result r = step(*flows, s, ev, ctx);

    commit_request c;
    c.conversation = conv;
    c.expected_version = loaded.exists ? s.version : 0;
    for (const auto& call : follow_up) {
      c.outbox.push_back({{"conv", conv},
                          {"lane", "reply"},
                          {"call", call_to_json(call)}});
    }
    c.provider_id = provider_id;
    c.next = std::move(r.next);
    for (const auto& m : r.messages)
      c.outbox.push_back({{"conv", conv}, {"lane", m.unsolicited ? "bulk" : "reply"}, {"msg", to_json(m)}});
    for (const auto& w : r.webhooks) {
      c.outbox.push_back({{"conv", conv},
                          {"lane", "reply"},
                          {"webhook", call_to_json(http_call{w.method, w.url, w.headers, w.body})}});
      c.outbox.back()["webhook"]["id"] = w.id;
    }
    c.timers_set = std::move(r.timers_set);
    c.timers_cancel = std::move(r.timers_cancel);
    for (const auto& rec : r.records) {
      auto j = rec.to_json();
      j["conv"] = conv;
      c.results.push_back(std::move(j));
    }
    const bool has_outbox = !c.outbox.empty();
    commit_outcome outcome = co_await store_.commit(c);
    if (outcome == commit_outcome::ok) {
      if (has_outbox) mark_dirty(partition_of(conv, store_.partitions()));
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

net::awaitable<std::size_t> service::fire_due_timers() {
  std::size_t fired = 0;
  for (int p = 0; p < store_.partitions(); ++p) {
    auto due = co_await store_.claim_due_timers(p, clock_.now_ms(), opts_.timer_batch);
    for (const auto& t : due) {
      const auto who = split_conversation(t.conversation);
      co_await deliver(who.first, who.second, inbound_event::timer_due(t.id));
      ++fired;
      counters_.timers_fired++;
    }
  }
  co_return fired;
}

net::awaitable<std::size_t> service::drain_outbox(const http_sender& send) {
  std::size_t done = 0;
  for (int p : take_dirty()) {
    while (true) {
      auto entries = co_await store_.outbox_pending(p, 100);
      if (entries.empty()) break;
      bool blocked = false;
      for (const auto& e : entries) {
        if (!co_await send_entry(e, send)) {
          blocked = true;  // keep the order: try this partition again later
          mark_dirty(p);
          break;
        }
        co_await store_.outbox_ack(p, e.id);
        ++done;
      }
      if (blocked) break;
    }
  }
  co_return done;
}

// Delivers one outbox entry. True when it is done with (sent, or dead-lettered with the
// reason logged); false to try again later without breaking the learner's order.
net::awaitable<bool> service::send_entry(const outbox_entry& e, const http_sender& send) {
  const std::string conv = e.data.value("conv", std::string{});
  const auto who = split_conversation(conv);
  const std::string& channel = who.first;
  const std::string& address = who.second;

  if (auto w = e.data.find("webhook"); w != e.data.end()) {
    // A flow's webhook node: the host performs the request, the answer goes back in.
    const http_call call = call_from_json(*w);
    const auto answer = co_await send(call);
    co_await deliver(channel, address,
                     inbound_event::webhook_answer(w->value("id", std::string{}), answer.first, answer.second));
    co_return true;
  }

  if (auto c = e.data.find("call"); c != e.data.end()) {
    // A provider call that follows an inbound event (best effort: logged, never retried).
    const http_call call = call_from_json(*c);
    const auto answer = co_await send(call);
    if (answer.first < 200 || answer.first >= 300) {
      nlohmann::json log = {{"level", "warn"}, {"msg", "follow-up call failed"}, {"channel", channel},
                            {"status", answer.first}};
      std::cerr << log.dump() << "\n";
    }
    co_return true;
  }

  const nlohmann::json& mj = e.data.at("msg");
  if (channel == "web") {
    co_await store_.web_push(conv, mj);
    counters_.outbound++;
    count(channel, "out");
    co_return true;
  }
  channel_adapter* a = adapter(channel);
  if (!a) {
    counters_.dead_letters++;
    std::cerr << R"({"level":"error","msg":"dead letter: no adapter","channel":")" << channel << "\"}\n";
    co_return true;
  }
  const outbound_message m = outbound_from_json(mj);
  for (const auto& call : a->render(address, m)) {
    for (int attempt = 1;; ++attempt) {
      const auto answer = co_await send(call);
      send_result res = a->classify(answer.first, answer.second);
      if (res.status == send_status::ok) break;
      if (res.status == send_status::stopped) {
        co_await deliver(channel, address, inbound_event::of(inbound_event::kind::opt_out));
        co_return true;
      }
      if (res.status == send_status::rejected || attempt >= opts_.max_send_attempts) {
        counters_.dead_letters++;
        nlohmann::json log = {{"level", "error"}, {"msg", "dead letter"}, {"channel", channel}, {"error", res.error}};
        std::cerr << log.dump() << "\n";
        co_return true;
      }
      if (res.status == send_status::throttled) {
        co_await sleep_for(std::chrono::seconds(std::max(1, res.retry_after_s)));
      } else {
        co_await sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 6)));
      }
    }
  }
  counters_.outbound++;
  count(channel, "out");
  co_return true;
}

}  // namespace aula
