// The sender (bot/delivery): order per learner across lanes, retries with backoff, 429
// retry_after, dead letters that pause the learner, blocked learners, pacing, replies before
// bulk, and two instances sharing partitions through leases (real Redis).
//
// The provider here is an in-process fake speaking Telegram's answers (the only fake allowed:
// a provider's remote API); the adapter renders and classifies for real. The chaos tests
// (tests/chaos) run the same sender in `aula serve` against the mock Bot API over HTTP(S).
#include "bot/delivery/delivery.hpp"
#include "bot/service/records.hpp"
#include "bot/engine/timing.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "adapters/telegram/telegram.hpp"
#include "bot/store/redis_client.hpp"
#include "bot/store/redis_sent.hpp"
#include "tests/io/redis_test_support.hpp"

namespace {

using namespace aula;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A Telegram Bot API that answers what `rule` says for each attempt (200 by default).
struct fake_telegram {
  struct call_rec {
    std::string chat, text;
    steady::time_point at;
    int status = 200;
  };
  std::mutex mu;
  std::vector<call_rec> calls;  // every attempt, in order
  // (chat id, attempt number for that chat starting at 1) -> HTTP status to answer.
  std::function<int(const std::string&, int)> rule = [](const std::string&, int) { return 200; };
  std::map<std::string, int> attempts;
  // Runs before the answer of each call (chat, attempt), e.g. to take a lease away mid-send.
  std::function<net::awaitable<void>(const std::string&, int)> before_answer;

  http_sender sender() {
    return [this](const http_call& c) -> net::awaitable<std::pair<int, std::string>> {
      auto body = nlohmann::json::parse(c.body, nullptr, false);
      std::string chat = body.is_object() && body.contains("chat_id") ? body["chat_id"].dump() : "?";
      if (!chat.empty() && chat.front() == '"') chat = body["chat_id"].get<std::string>();
      std::string text = body.is_object() ? body.value("text", std::string{}) : std::string{};
      int status = 200;
      std::size_t message_id = 0;  // the call's number: each message its own id
      {
        std::lock_guard lock(mu);
        status = rule(chat, ++attempts[chat]);
        calls.push_back({chat, text, steady::now(), status});
        message_id = calls.size();
      }
      if (before_answer) {
        int attempt = 0;
        {
          std::lock_guard lock(mu);
          attempt = attempts[chat];
        }
        co_await before_answer(chat, attempt);
      }
      switch (status) {
        case 200:
          co_return std::pair<int, std::string>{
              200, R"({"ok":true,"result":{"message_id":)" + std::to_string(message_id) + "}}"};
        case 429:
          co_return std::pair<int, std::string>{
              429, R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}})"};
        case 403:
          co_return std::pair<int, std::string>{
              403, R"({"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"})"};
        case 400:
          co_return std::pair<int, std::string>{
              400, R"({"ok":false,"error_code":400,"description":"Bad Request: chat not found"})"};
        default:
          co_return std::pair<int, std::string>{status, R"({"ok":false,"error_code":500,"description":"Internal Server Error"})"};
      }
    };
  }
  // Texts accepted (status 200) per chat, in order.
  std::map<std::string, std::vector<std::string>> delivered() {
    std::lock_guard lock(mu);
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& c : calls)
      if (c.status == 200) out[c.chat].push_back(c.text);
    return out;
  }
  std::vector<call_rec> snapshot() {
    std::lock_guard lock(mu);
    return calls;
  }
  std::size_t accepted() {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& c : calls) n += c.status == 200;
    return n;
  }
};

delivery_options fast_options() {
  delivery_options o;
  o.lease_ttl = 2000ms;
  o.poll = 20ms;
  o.retry_base = 20ms;
  o.retry_max = 200ms;
  o.max_attempts = 3;
  channel_pacing fast;
  fast.per_second = 10000;
  fast.chat_burst = 1000;
  fast.chat_interval = 1ms;
  o.channels["telegram"] = fast;
  return o;
}

std::string test_redis_url() {
  const char* url = std::getenv("AULA_TEST_REDIS_URL");
  if (!url || !*url) FAIL("AULA_TEST_REDIS_URL is not set: run scripts/test");
  return url;
}

// An io_context on two threads, a store, a service with the Telegram adapter, and senders.
struct rig {
  net::io_context ioc;
  std::unique_ptr<store> st;
  std::unique_ptr<service> svc;
  fake_telegram provider;
  std::vector<std::unique_ptr<delivery>> senders;
  std::vector<std::thread> threads;
  std::string prefix;  // the Redis store's key prefix
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(ioc);

  explicit rig(bool redis = false, int partitions = 8, const std::string& redis_url = "") {
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { ioc.run(); });
    if (redis) {
      redis_store_options ro;
      ro.url = redis_url.empty() ? test_redis_url() : redis_url;
      ro.partitions = partitions;
      ro.key_prefix = "aulatest-" + aula_test::random_hex();
      prefix = ro.key_prefix;
      st = net::co_spawn(ioc, make_redis_store(ioc.get_executor(), ro), net::use_future).get();
    } else {
      st = make_memory_store(partitions);
    }
    svc = std::make_unique<service>(*st, service_options{});
    svc->publish(std::make_shared<const flow_set>());
    svc->add_adapter(std::make_shared<telegram_adapter>(telegram_options{"123:abc", "secret", "http://provider.test"}));
  }
  ~rig() {
    for (auto& s : senders) net::co_spawn(ioc, s->stop(200ms), net::use_future).get();
    senders.clear();
    work.reset();
    ioc.stop();
    for (auto& t : threads) t.join();
  }
  // backlog > 0: webhooks wait while more replies than that are queued (as aula serve wires it).
  delivery& add_sender(delivery_options o, std::size_t backlog = 0) {
    senders.push_back(std::make_unique<delivery>(ioc.get_executor(), *svc, provider.sender(), std::move(o)));
    auto& d = *senders.back();
    if (backlog > 0) {
      svc->set_backpressure(backlog, [&d] { return d.replies_queued(); });
      d.on_progress([this] { svc->backlog_progressed(); });
      svc->on_replies_committed([&d](int p, std::size_t n) { d.replies_committed(p, n); });
    }
    d.start();
    return d;
  }
  // A webhook as aula serve handles it: on a strand of its own (a connection's).
  std::future<http_out> webhook(http_in req) {
    auto held = std::make_shared<const http_in>(std::move(req));  // lives as long as the coroutine
    auto handle = [this, held]() -> net::awaitable<http_out> { co_return co_await svc->handle_webhook("telegram", *held); };
    return net::co_spawn(net::make_strand(ioc), handle, net::use_future);
  }
  // One commit for `conv` holding `texts` in `lane`, in the learner's order after what is
  // there; the sender finds it by polling.
  void commit(const std::string& conv, const std::vector<std::string>& texts, const std::string& lane = "reply") {
    update(
        conv,
        [&](commit_request& c) {
          for (std::size_t i = 0; i < texts.size(); ++i)
            c.outbox.push_back(make_outbox_write(conv, lane, "msg", nlohmann::json{{"text", texts[i]}}.dump(),
                                                 c.expected_version + 1, static_cast<std::int64_t>(i)));
        },
        false);
  }
  // One commit for `conv` that `f` makes of its session as it is (retried on a conflict),
  // then (`tell`) the sender is told.
  void update(const std::string& conv, const std::function<void(commit_request&)>& f, bool tell = true) {
    net::co_spawn(ioc, [&]() -> net::awaitable<void> {
      for (;;) {
        auto loaded = co_await st->load(conv);
        commit_request c;
        c.conversation = conv;
        c.expected_version = loaded.exists ? loaded.s.version : 0;
        c.next = loaded.s;
        f(c);
        if (co_await st->commit(c) == commit_outcome::ok) break;
      }
      if (tell) svc->mark_dirty(partition_of(conv, st->partitions()));
    }, net::use_future).get();
  }
  loaded_session load(const std::string& conv) {
    return net::co_spawn(ioc, st->load(conv), net::use_future).get();
  }
  std::vector<outbox_entry> dead(const std::string& conv) {
    return net::co_spawn(ioc, st->dead_letters(partition_of(conv, st->partitions()), 100, conv), net::use_future).get();
  }
  std::size_t pending() {
    std::size_t n = 0;
    for (int p = 0; p < st->partitions(); ++p)
      n += net::co_spawn(ioc, st->outbox_pending(p, 1000), net::use_future).get().size();
    return n;
  }
};

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  const auto until = steady::now() + limit;
  while (steady::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

}  // namespace

TEST_CASE("sender: every message delivered once, in order per learner") {
  rig r;
  r.add_sender(fast_options());
  std::map<std::string, std::vector<std::string>> want;
  for (int k = 0; k < 4; ++k)
    for (int learner = 0; learner < 12; ++learner) {
      const std::string chat = std::to_string(1000 + learner);
      std::vector<std::string> texts{"m" + std::to_string(k) + "a ¿ñ? 👋", "m" + std::to_string(k) + "b"};
      r.commit("telegram:" + chat, texts, k % 2 ? "bulk" : "reply");
      want[chat].insert(want[chat].end(), texts.begin(), texts.end());
    }
  REQUIRE(eventually([&] { return r.provider.accepted() >= 96; }));
  std::this_thread::sleep_for(100ms);  // nothing more arrives
  CHECK(r.provider.delivered() == want);
  CHECK(eventually([&] { return r.pending() == 0; }));
  CHECK(r.senders[0]->counters().sent == 96);
  CHECK(r.senders[0]->leases_held() == 8);
}

TEST_CASE("sender: a learner's messages that go one after the other are acknowledged together") {
  rig r;
  auto& d = r.add_sender(fast_options());
  const std::vector<std::string> lesson{"Hola 👋", "¿Qué es el trabajo infantil?", "Lección 1 — ñandú", "á é í ó ú",
                                        "Pregunta 1", "¡Responde!"};
  r.commit("telegram:501", lesson);
  REQUIRE(eventually([&] { return r.provider.accepted() >= 6; }));
  REQUIRE(eventually([&] { return r.pending() == 0; }));
  CHECK(r.provider.delivered()["501"] == lesson);
  // One write for the six (each alone was one write per message); a second learner's two
  // messages, committed after, add one.
  CHECK(d.counters().ack_writes == 1);
  r.commit("telegram:502", {"uno", "dos"});
  REQUIRE(eventually([&] { return r.pending() == 0 && r.provider.accepted() >= 8; }));
  CHECK(d.counters().ack_writes == 2);
  CHECK(d.counters().sent == 8);
  // And their send records: one per learner, each message a part, the texts in order.
  auto sends = [&](const std::string& conv) {
    std::vector<nlohmann::json> out;
    const int p = partition_of(conv, r.st->partitions());
    for (const auto& e : net::co_spawn(r.ioc, r.st->results_pending(p, 100), net::use_future).get())
      if (e.data.value("conv", "") == conv && e.data.value("type", "") == "sent") out.push_back(e.data);
    return out;
  };
  const auto first = sends("telegram:501");
  REQUIRE(first.size() == 1);
  CHECK(first[0]["messages"] == 6);
  REQUIRE(first[0]["parts"].size() == 6);
  std::string joined;
  for (const auto& t : lesson) joined += (joined.empty() ? "" : "\n\n") + t;
  CHECK(first[0]["text"] == joined);
  std::set<std::string> ids;
  for (const auto& part : first[0]["parts"]) ids.insert(part.value("external_id", ""));
  CHECK(ids.size() == 6);
  CHECK(!ids.count(""));
  const auto second = sends("telegram:502");
  REQUIRE(second.size() == 1);
  CHECK(second[0]["messages"] == 2);
  CHECK(second[0]["text"] == "uno\n\ndos");
}

TEST_CASE("sender: a message sent while the lease lapsed is acknowledged when the lease comes back, not sent twice") {
  rig r;
  auto o = fast_options();
  o.owner = "solo";
  auto& d = r.add_sender(o);
  REQUIRE(eventually([&] { return d.leases_held() == 8; }));
  const std::string conv = "telegram:4242";
  const int p = partition_of(conv, r.st->partitions());
  bool taken = false;
  // The first send's answer comes after the lease is gone (as when a renewal starved under
  // load): its acknowledgement fails, and the sender takes the partition again.
  r.provider.before_answer = [&](const std::string& chat, int attempt) -> net::awaitable<void> {
    if (chat != "4242" || attempt != 1 || taken) co_return;
    taken = true;
    fence f = co_await r.st->lease_acquire(p, "solo", o.lease_ttl);  // held: the same fence
    co_await r.st->lease_release(p, f);
  };
  r.commit(conv, {"uno ¿ñ?", "dos"});
  REQUIRE(eventually([&] { return r.provider.accepted() >= 2; }));
  REQUIRE(eventually([&] { return r.pending() == 0; }));
  std::this_thread::sleep_for(300ms);  // a resend would have come by now
  CHECK(taken);
  CHECK(r.provider.delivered()["4242"] == std::vector<std::string>{"uno ¿ñ?", "dos"});
  CHECK(d.counters().leases_taken >= 9);  // the partition was taken again
}

TEST_CASE("sender: after the store reconnects, an entry acknowledged on the old node is sent again before newer ones") {
  // A failover: the promoted replica did not get the acknowledgement of "uno" (sent and
  // acknowledged on the old master), so its outbox still holds it. Played here on one Redis:
  // the outbox stream is copied (DUMP) while "uno" is being sent, put back (RESTORE) after
  // its acknowledgement, and the store's connection is killed so that it reconnects. The
  // sender must read the outbox again from the start: "uno" goes again, then "dos" — not
  // "dos" alone with "uno" stuck until the lease next changes.
  aula_test::private_redis server;  // its clients are killed below: none of other tests
  rig r(true, 8, server.url());
  auto o = fast_options();
  o.lease_ttl = 60000ms;  // no lease change during the test: only the reconnect can explain a reread
  auto& d = r.add_sender(o);
  REQUIRE(eventually([&] { return d.leases_held() == 8; }));
  const std::string conv = "telegram:5151";
  const int p = partition_of(conv, r.st->partitions());
  store_keys names;
  names.prefix = r.prefix;
  const std::string key = names.outbox(p, "reply");
  redis_client_options rc;
  rc.url = server.url();
  redis_client raw(r.ioc.get_executor(), rc);
  raw.start();
  REQUIRE(net::co_spawn(r.ioc, raw.wait_connected(2000ms), net::use_future).get());
  std::string copy;
  r.provider.before_answer = [&](const std::string& chat, int attempt) -> net::awaitable<void> {
    if (chat != "5151" || attempt != 1 || !copy.empty()) co_return;
    auto dump = co_await raw.exec(redis_cmd("DUMP", key));
    copy = dump.str;
  };
  r.commit(conv, {"uno ¿ñ? 🎓"});
  REQUIRE(eventually([&] { return r.provider.accepted() >= 1 && r.pending() == 0; }));
  REQUIRE(!copy.empty());
  const auto before = r.st->connections_made();
  auto put_back = [&]() -> net::awaitable<void> {
    auto restored = co_await raw.exec(redis_cmd("RESTORE", key, "0", copy, "REPLACE"));
    CHECK(restored.str == "OK");
    auto killed = co_await raw.exec(redis_cmd("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"));
    CHECK(killed.integer >= 1);
  };
  net::co_spawn(r.ioc, put_back(), net::use_future).get();
  REQUIRE(eventually([&] { return r.st->connections_made() > before; }));
  REQUIRE(eventually([&] { return r.provider.accepted() >= 2; }));
  r.commit(conv, {"dos"});
  REQUIRE(eventually([&] { return r.provider.accepted() >= 3 && r.pending() == 0; }));
  std::this_thread::sleep_for(200ms);  // nothing more arrives
  CHECK(r.provider.delivered()["5151"] == std::vector<std::string>{"uno ¿ñ? 🎓", "uno ¿ñ? 🎓", "dos"});
  CHECK(d.counters().rereads >= 1);
  raw.stop();
}

TEST_CASE("sender: an idle sender looks at all its partitions in a few round trips per poll, not one each") {
  rig r(true, 64);
  auto o = fast_options();
  o.poll = 100ms;  // every partition's outbox read and its due timers claimed, ten times a second
  auto& d = r.add_sender(o);
  REQUIRE(eventually([&] { return d.leases_held() == 64; }));
  std::this_thread::sleep_for(300ms);
  const redis_sent before = redis_sent_totals();
  std::this_thread::sleep_for(1000ms);
  const redis_sent after = redis_sent_totals();
  // Ten polls of 64 partitions: 640 outbox reads and 640 timer claims (and lease renewals).
  // Asked one partition after the other, each was a write and a wait for Redis of its own.
  CHECK(after.requests - before.requests >= 1000);
  CHECK(after.writes - before.writes < 200);
  // Still looking: a message committed now goes out at the next poll.
  r.commit("telegram:4100", {"¿sigues ahí? ñ"});
  REQUIRE(eventually([&] { return r.provider.delivered()["4100"].size() == 1; }));
}

TEST_CASE("sender: a commit told while the outbox is being read is read right after that read, not at the next poll") {
  // The reader's wake-up is a timer it sleeps on between passes; a commit told while a pass is
  // reading finds no sleep to end. Here no poll and no cap can hide that: only a wake-up
  // starts a pass. The second learner's commit is told while the first one's partition is
  // being read; its message must go without another commit's help.
  rig r(true, 8);
  auto o = fast_options();
  o.poll = 60s;
  o.wake_cap = 60s;
  const std::string first = "telegram:6101";
  const int p_first = partition_of(first, r.st->partitions());
  std::string second;
  for (int k = 6102; second.empty(); ++k)
    if (partition_of("telegram:" + std::to_string(k), r.st->partitions()) != p_first) second = "telegram:" + std::to_string(k);
  const std::string second_chat = second.substr(std::string("telegram:").size());
  std::atomic<bool> armed{false};
  std::atomic<int> told_during_read{0};
  o.before_read = [&](int p) -> net::awaitable<void> {
    if (p != p_first || !armed.exchange(false)) co_return;
    auto loaded = co_await r.st->load(second);
    commit_request c;
    c.conversation = second;
    c.expected_version = loaded.exists ? loaded.s.version : 0;
    c.next = loaded.s;
    c.outbox.push_back(make_outbox_write(second, "reply", "msg", nlohmann::json{{"text", "¿y ahora? ñ 🎓"}}.dump(),
                                         c.expected_version + 1, 0));
    if (co_await r.st->commit(c) == commit_outcome::ok) {
      r.svc->mark_dirty(partition_of(second, r.st->partitions()));
      told_during_read++;
    }
  };
  auto& d = r.add_sender(o);
  REQUIRE(eventually([&] { return d.leases_held() == 8; }));
  std::this_thread::sleep_for(300ms);  // the first pass (every partition) is over
  armed = true;
  r.update(first, [&](commit_request& c) {
    c.outbox.push_back(make_outbox_write(first, "reply", "msg", nlohmann::json{{"text", "primero ¡sí!"}}.dump(),
                                         c.expected_version + 1, 0));
  });
  REQUIRE(eventually([&] { return r.provider.delivered()["6101"].size() == 1; }));
  REQUIRE(told_during_read == 1);
  CHECK(eventually([&] { return r.provider.delivered()[second_chat].size() == 1; }, 5s));
  CHECK(r.provider.delivered()[second_chat] == std::vector<std::string>{"¿y ahora? ñ 🎓"});
}

TEST_CASE("sender: a learner's bulk and reply messages go in commit order") {
  rig r;
  r.commit("telegram:7", {"recordatorio 1"}, "bulk");
  r.commit("telegram:7", {"respuesta 1", "respuesta 2"}, "reply");
  r.commit("telegram:7", {"recordatorio 2"}, "bulk");
  r.add_sender(fast_options());
  REQUIRE(eventually([&] { return r.provider.accepted() == 4; }));
  CHECK(r.provider.delivered()["7"] ==
        std::vector<std::string>{"recordatorio 1", "respuesta 1", "respuesta 2", "recordatorio 2"});
}

TEST_CASE("sender: 5xx is retried with growing delays, then delivered") {
  rig r;
  r.provider.rule = [](const std::string& chat, int n) { return chat == "5" && n <= 2 ? 500 : 200; };
  auto o = fast_options();
  o.retry_base = 40ms;
  r.add_sender(o);
  r.commit("telegram:5", {"uno", "dos"});
  REQUIRE(eventually([&] { return r.provider.accepted() == 2; }));
  auto calls = r.provider.snapshot();
  REQUIRE(calls.size() == 4);
  CHECK(calls[0].status == 500);
  CHECK(calls[1].status == 500);
  CHECK(calls[2].text == "uno");
  CHECK(calls[3].text == "dos");
  // Backoff with ±50% jitter: at least half of 40 ms, then half of 80 ms.
  CHECK(calls[1].at - calls[0].at >= 20ms);
  CHECK(calls[2].at - calls[1].at >= 40ms);
  CHECK(r.senders[0]->counters().retries == 2);
  CHECK(r.dead("telegram:5").empty());
}

TEST_CASE("sender: 429 waits retry_after and does not count as a failed attempt") {
  rig r;
  r.provider.rule = [](const std::string&, int n) { return n == 1 ? 429 : 200; };
  auto o = fast_options();
  o.max_attempts = 1;  // a 429 alone must not dead-letter
  r.add_sender(o);
  r.commit("telegram:9", {"hola"});
  REQUIRE(eventually([&] { return r.provider.accepted() == 1; }));
  auto calls = r.provider.snapshot();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].at - calls[0].at >= 1000ms);  // retry_after: 1
  CHECK(r.senders[0]->counters().throttled == 1);
  CHECK(r.senders[0]->counters().dead_letters == 0);
}

TEST_CASE("sender: a dead letter keeps its reason, pauses the learner and holds what followed") {
  rig r;
  r.provider.rule = [](const std::string& chat, int) { return chat == "66" ? 500 : 200; };
  r.commit("telegram:66", {"lección 1"});
  r.commit("telegram:66", {"pregunta 1"});
  r.commit("telegram:67", {"otro alumno"});
  auto& d = r.add_sender(fast_options());
  REQUIRE(eventually([&] { return r.dead("telegram:66").size() == 2; }));
  auto dead = r.dead("telegram:66");
  CHECK(dead[0].data["kind"] == "failed");
  CHECK(dead[0].data["entry"]["msg"]["text"] == "lección 1");
  CHECK(dead[0].data["attempts"] == 3);
  CHECK(dead[0].data["reason"].get<std::string>().find("Internal Server Error") != std::string::npos);
  CHECK(dead[1].data["kind"] == "skipped");
  CHECK(dead[1].data["entry"]["msg"]["text"] == "pregunta 1");
  auto s = r.load("telegram:66");
  CHECK(s.s.paused.find("Internal Server Error") != std::string::npos);
  CHECK(r.provider.delivered()["67"] == std::vector<std::string>{"otro alumno"});
  CHECK(r.provider.delivered().count("66") == 0);
  CHECK(d.counters().dead_letters == 1);
  CHECK(d.counters().skipped == 1);
  CHECK(r.svc->counters().dead_letters == 1);
  CHECK(r.pending() == 0);
}

TEST_CASE("sender: a provider refusing our credentials is counted for alerts, by channel") {
  rig r;
  r.provider.rule = [](const std::string& chat, int) { return chat == "68" ? 401 : 200; };
  r.commit("telegram:68", {"hola"});
  r.commit("telegram:69", {"hola"});
  auto& d = r.add_sender(fast_options());
  REQUIRE(eventually([&] { return r.dead("telegram:68").size() == 1; }));
  REQUIRE(eventually([&] { return r.provider.accepted() == 1; }));
  const auto alerts = d.counters().provider_alerts();
  REQUIRE(alerts.size() == 1);
  CHECK(alerts.begin()->first == std::make_pair(std::string("telegram"), std::string("auth")));
  CHECK(alerts.begin()->second == 1);  // a 401 is not retried: one refusal, one count
  CHECK(d.counters().dead_letters == 1);
}

TEST_CASE("sender: a learner who blocked the bot is opted out and nothing more is sent") {
  rig r;
  r.provider.rule = [](const std::string& chat, int) { return chat == "13" ? 403 : 200; };
  r.commit("telegram:13", {"uno", "dos"});
  auto& d = r.add_sender(fast_options());
  REQUIRE(eventually([&] { return r.dead("telegram:13").size() == 2; }));
  CHECK(r.load("telegram:13").s.opted_out);
  auto dead = r.dead("telegram:13");
  CHECK(dead[0].data["kind"] == "stopped");
  CHECK(dead[1].data["kind"] == "skipped");
  CHECK(r.provider.snapshot().size() == 1);  // one attempt, never retried
  CHECK(d.counters().stopped == 1);
}

TEST_CASE("sender: a learner is paced: a burst, then one per interval") {
  rig r;
  auto o = fast_options();
  o.channels["telegram"].chat_burst = 2;
  o.channels["telegram"].chat_interval = 300ms;
  r.add_sender(o);
  r.commit("telegram:3", {"1", "2", "3", "4"});
  REQUIRE(eventually([&] { return r.provider.accepted() == 4; }));
  auto calls = r.provider.snapshot();
  REQUIRE(calls.size() == 4);
  CHECK(calls[1].at - calls[0].at < 250ms);  // the burst
  CHECK(calls[2].at - calls[0].at >= 250ms);
  CHECK(calls[3].at - calls[2].at >= 250ms);
}

TEST_CASE("sender: a paced learner's messages are acknowledged within about a second of being sent") {
  rig r;
  auto o = fast_options();
  o.channels["telegram"].chat_burst = 1;
  o.channels["telegram"].chat_interval = 600ms;
  auto& d = r.add_sender(o);
  r.commit("telegram:4", {"1", "2", "3", "4"});  // sent at about 0, 0.6, 1.2 and 1.8 s
  REQUIRE(eventually([&] { return r.provider.accepted() == 3; }));
  // The first three went in one batch at the third (the first had waited a second), with
  // their send record, before the fourth (without the bound: all four at the fourth, 4 → 0).
  CHECK(eventually([&] { return r.pending() == 1; }, 450ms));
  REQUIRE(eventually([&] { return r.provider.accepted() == 4 && r.pending() == 0; }));
  CHECK(d.counters().ack_writes == 2);
}

TEST_CASE("sender: replies go before bulk traffic on a busy channel") {
  rig r;
  auto o = fast_options();
  o.channels["telegram"].per_second = 20;
  for (int i = 0; i < 60; ++i) r.commit("telegram:" + std::to_string(500 + i), {"difusión"}, "bulk");
  r.add_sender(o);
  REQUIRE(eventually([&] { return r.provider.accepted() >= 5; }));
  r.commit("telegram:42", {"respuesta"}, "reply");
  REQUIRE(eventually([&] { return r.provider.delivered().count("42") == 1; }));
  auto calls = r.provider.snapshot();
  std::size_t at = 0;
  while (at < calls.size() && calls[at].chat != "42") ++at;
  INFO("the reply went out as call " << at);
  CHECK(at < 40);  // without priority it would wait behind all 60
  REQUIRE(eventually([&] { return r.provider.accepted() == 61; }, 15s));
}

TEST_CASE("sender: a channel's pace holds in every sliding second, the first one included") {
  rig r;
  auto o = fast_options();
  o.channels["telegram"].per_second = 20;
  // The bucket has been idle (full) before a broadcast of 70 arrives at once.
  r.add_sender(o);
  std::this_thread::sleep_for(1200ms);
  for (int i = 0; i < 70; ++i) r.commit("telegram:" + std::to_string(800 + i), {"aviso ¡ñ!"}, "bulk");
  REQUIRE(eventually([&] { return r.provider.accepted() == 70; }, 15s));
  auto calls = r.provider.snapshot();
  std::size_t most = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    std::size_t in_window = 0;
    for (std::size_t j = i; j < calls.size() && calls[j].at - calls[i].at < 1s; ++j) ++in_window;
    most = std::max(most, in_window);
  }
  INFO("most sends in one sliding second: " << most);
  CHECK(most <= 20);
  CHECK(most >= 15);  // and the pace is used, not wasted
}

TEST_CASE("sender: two instances on one Redis share the partitions; each message goes once") {
  rig r(true, 16);
  auto o = fast_options();
  o.lease_ttl = 600ms;
  auto a = o, b = o;
  a.owner = "instance-a";
  b.owner = "instance-b";
  auto& da = r.add_sender(a);
  auto& db = r.add_sender(b);
  REQUIRE(eventually([&] { return da.leases_held() + db.leases_held() == 16; }));
  std::map<std::string, std::vector<std::string>> want;
  for (int k = 0; k < 3; ++k)
    for (int learner = 0; learner < 20; ++learner) {
      const std::string chat = std::to_string(2000 + learner);
      const std::string text = "k" + std::to_string(k);
      r.commit("telegram:" + chat, {text});
      want[chat].push_back(text);
    }
  REQUIRE(eventually([&] { return r.provider.accepted() >= 60; }));
  std::this_thread::sleep_for(200ms);
  CHECK(r.provider.delivered() == want);

  // One stops (releasing its leases): the other takes every partition and goes on.
  net::co_spawn(r.ioc, da.stop(200ms), net::use_future).get();
  REQUIRE(eventually([&] { return db.leases_held() == 16; }, 5s));
  for (int learner = 0; learner < 20; ++learner) {
    const std::string chat = std::to_string(2000 + learner);
    r.commit("telegram:" + chat, {"después"});
    want[chat].push_back("después");
  }
  REQUIRE(eventually([&] { return r.provider.accepted() >= 80; }));
  std::this_thread::sleep_for(200ms);
  CHECK(r.provider.delivered() == want);
  CHECK(r.pending() == 0);
}

namespace {

// A channel with a customer-service window of one second (WhatsApp has 24 hours): its
// provider is the same fake; the re-engagement template is the text "PLANTILLA".
struct window_adapter : channel_adapter {
  std::string name() const override { return "wa"; }
  bool enabled() const override { return true; }
  channel_caps caps() const override { return {}; }
  parse_result parse(const http_in&) const override { return {}; }
  std::vector<http_call> render(const std::string& address, const outbound_message& m) const override {
    return {http_call{"POST", "http://wa.test/messages", {}, nlohmann::json{{"chat_id", address}, {"text", m.text}}.dump()}};
  }
  send_result classify(int status, const std::string&) const override {
    send_result r;
    if (status == 200) return r;
    r.status = status == 409 ? send_status::window_closed : send_status::rejected;
    return r;
  }
  std::int64_t window_ms() const override { return 1000; }
  std::vector<http_call> render_reengagement(const std::string& address,
                                             const std::string& template_name) const override {
    const std::string name = template_name.empty() ? "PLANTILLA" : template_name;
    return {http_call{"POST", "http://wa.test/messages", {}, nlohmann::json{{"chat_id", address}, {"text", name}}.dump()}};
  }
};

}  // namespace

TEST_CASE("sender: outside the window a template goes once and the learner's queue waits for them") {
  rig r;
  r.svc->add_adapter(std::make_shared<window_adapter>());
  auto learner_writes = [&](const std::string& conv) {
    r.update(conv, [&](commit_request& c) { c.next.last_in = r.svc->clock().now_ms(); });
  };
  r.add_sender(fast_options());
  r.commit("wa:+5255", {"lección 2", "pregunta"}, "bulk");  // the learner never wrote: window closed
  REQUIRE(eventually([&] { return r.provider.accepted() == 1; }));
  std::this_thread::sleep_for(300ms);
  CHECK(r.provider.delivered()["+5255"] == std::vector<std::string>{"PLANTILLA"});  // once, the rest held
  CHECK(r.senders[0]->counters().reengaged == 1);

  learner_writes("wa:+5255");  // "Continuar"
  REQUIRE(eventually([&] { return r.provider.accepted() == 3; }, 3s));
  CHECK(r.provider.delivered()["+5255"] == std::vector<std::string>{"PLANTILLA", "lección 2", "pregunta"});

  // The provider itself may say the window closed (409 here, 131047 on WhatsApp): not retried
  // as is; the template goes (the learner's last message is older now) and the queue waits.
  r.provider.rule = [](const std::string&, int n) { return n == 4 ? 409 : 200; };
  r.commit("wa:+5255", {"tarde"});
  REQUIRE(eventually([&] { return r.provider.accepted() == 4; }, 3s));
  std::this_thread::sleep_for(2500ms);  // longer than the first hold: still nothing until they write
  CHECK(r.provider.delivered()["+5255"].back() == "PLANTILLA");
  CHECK(r.provider.snapshot().size() == 5);
  learner_writes("wa:+5255");
  REQUIRE(eventually([&] { return r.provider.delivered()["+5255"].back() == "tarde"; }, 3s));
  CHECK(r.dead("wa:+5255").empty());
}

TEST_CASE("sender: on a channel with a window, the commit's word that it is open is taken; else the session's") {
  rig r;
  r.svc->add_adapter(std::make_shared<window_adapter>());
  // An entry as the service writes it: with the learner's last message as of the commit.
  auto commit_with_in = [&](const std::string& conv, const std::string& text, std::int64_t in) {
    r.update(conv, [&](commit_request& c) {
      c.outbox.push_back(
          make_outbox_write(conv, "reply", "msg", nlohmann::json{{"text", text}}.dump(), c.expected_version + 1, 0, in));
    });
  };
  r.add_sender(fast_options());
  // The session has no last message, the entry says "just now": the entry is believed (the
  // session is not read), free text goes.
  commit_with_in("wa:+5201", "¡Hola! ¿Seguimos?", r.svc->clock().now_ms());
  REQUIRE(eventually([&] { return r.provider.accepted() == 1; }));
  CHECK(r.provider.delivered()["+5201"] == std::vector<std::string>{"¡Hola! ¿Seguimos?"});
  // The entry's word is old (the window closed by it), but the learner wrote since: the
  // session says open, free text goes.
  r.update("wa:+5202", [&](commit_request& c) { c.next.last_in = r.svc->clock().now_ms(); });
  commit_with_in("wa:+5202", "Lección 3 📘", r.svc->clock().now_ms() - 5000);
  REQUIRE(eventually([&] { return r.provider.accepted() == 2; }));
  CHECK(r.provider.delivered()["+5202"] == std::vector<std::string>{"Lección 3 📘"});
  // Old by both: the template.
  commit_with_in("wa:+5203", "tarde", r.svc->clock().now_ms() - 5000);
  REQUIRE(eventually([&] { return r.provider.accepted() == 3; }));
  CHECK(r.provider.delivered()["+5203"] == std::vector<std::string>{"PLANTILLA"});
}

TEST_CASE("sender: quiet hours hold bulk messages until they end, never replies, and not a learner who just wrote") {
  rig r;
  // Quiet hours around now in Mexico City (the learners' default zone): an hour each side.
  const std::int64_t now = r.svc->clock().now_ms();
  const std::string local = format_local(now, "America/Mexico_City");
  const int m = std::stoi(local.substr(11, 2)) * 60 + std::stoi(local.substr(14, 2));
  delivery_options o = fast_options();
  o.quiet_start = (m + 1440 - 60) % 1440;
  o.quiet_end = (m + 60) % 1440;
  o.default_tz = "America/Mexico_City";
  r.add_sender(o);
  auto set_session = [&](const std::string& conv, const std::function<void(session&)>& f) {
    r.update(conv, [&](commit_request& c) { f(c.next); });
  };
  // A learner in Tokyo is outside the hours (fifteen hours ahead): theirs goes.
  set_session("telegram:30", [](session& s) { s.contact["tz"] = "Asia/Tokyo"; });
  r.commit("telegram:10", {"aviso nocturno"}, "bulk");
  r.commit("telegram:20", {"respuesta ¡ya!"}, "reply");
  r.commit("telegram:30", {"aviso a Tokio"}, "bulk");
  REQUIRE(eventually([&] { return r.provider.delivered()["20"].size() == 1; }));
  REQUIRE(eventually([&] { return r.provider.delivered()["30"].size() == 1; }));
  std::this_thread::sleep_for(300ms);
  CHECK(r.provider.delivered()["10"].empty());
  CHECK(r.senders[0]->counters().quiet >= 1);
  // The learner writes: awake, what waited goes now.
  set_session("telegram:10", [&](session& s) { s.last_in = r.svc->clock().now_ms(); });
  REQUIRE(eventually([&] { return r.provider.delivered()["10"] == std::vector<std::string>{"aviso nocturno"}; }));
  // Another waits until the quiet hours end: the clock moves past them.
  r.commit("telegram:40", {"aviso 2"}, "bulk");
  std::this_thread::sleep_for(300ms);
  CHECK(r.provider.delivered()["40"].empty());
  r.svc->clock().advance(2LL * 3600 * 1000);
  net::co_spawn(r.ioc, r.senders[0]->fire_timers_now(), net::use_future).get();
  REQUIRE(eventually([&] { return r.provider.delivered()["40"] == std::vector<std::string>{"aviso 2"}; }));
}

TEST_CASE("sender: backpressure holds a webhook while the sender is behind, and lets it through once it caught up") {
  rig r;
  auto o = fast_options();
  o.concurrency = 1;  // one provider call at a time, each slow: the sender falls behind
  const std::size_t limit = 5;
  auto& d = r.add_sender(o, limit);
  REQUIRE(eventually([&] { return d.leases_held() == 8; }));
  r.provider.before_answer = [&](const std::string&, int) -> net::awaitable<void> {
    net::steady_timer t(co_await net::this_coro::executor);
    t.expires_after(15ms);
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  };
  for (int learner = 0; learner < 30; ++learner)
    r.commit("telegram:" + std::to_string(5000 + learner), {"pendiente ¿ñ? " + std::to_string(learner)});
  REQUIRE(eventually([&] { return d.queued() > limit; }));
  // A learner writes now: the webhook waits for the sender, then is handled as usual.
  const std::string update =
      R"({"update_id": 77001, "message": {"message_id": 9, "date": 1700000000, "text": "hola ¡ñ!",
          "chat": {"id": 6001, "type": "private"}, "from": {"id": 6001, "is_bot": false, "first_name": "Ana"}}})";
  http_in req{"POST", "/webhooks/telegram", {{"x-telegram-bot-api-secret-token", "secret"}}, update};
  auto answer = r.webhook(req).get();
  const std::size_t queued_when_answered = d.queued();
  const std::size_t sent_when_answered = r.provider.accepted();
  CHECK(answer.status == 200);
  CHECK(r.svc->counters().backpressure_waits == 1);
  CHECK(queued_when_answered <= limit + 1);
  CHECK(sent_when_answered >= 30 - limit - 1);  // held until the sender had caught up
  CHECK(r.load("telegram:6001").exists);         // and then stepped: nothing lost
  REQUIRE(eventually([&] { return r.pending() == 0; }));
  // Every send took its entry off the totals: none is counted as queued any more.
  REQUIRE(eventually([&] { return d.queued() == 0 && d.replies_queued() == 0; }));
  // Below the limit nothing waits.
  http_in again = req;
  again.body = R"({"update_id": 77002, "message": {"message_id": 10, "date": 1700000001, "text": "otra",
                  "chat": {"id": 6002, "type": "private"}, "from": {"id": 6002, "is_bot": false}}})";
  auto second = r.webhook(again).get();
  CHECK(second.status == 200);
  CHECK(r.svc->counters().backpressure_waits == 1);
}

namespace {
http_in telegram_text(long chat, long update_id, const std::string& text) {
  const nlohmann::json u = {{"update_id", update_id},
                            {"message",
                             {{"message_id", update_id},
                              {"date", 1700000000},
                              {"text", text},
                              {"chat", {{"id", chat}, {"type", "private"}}},
                              {"from", {{"id", chat}, {"is_bot", false}, {"first_name", "Ana"}}}}}};
  return {"POST", "/webhooks/telegram", {{"x-telegram-bot-api-secret-token", "secret"}}, u.dump()};
}
bool answered(std::future<http_out>& f, std::chrono::milliseconds within) {
  return f.wait_for(within) == std::future_status::ready;
}
}  // namespace

TEST_CASE("backpressure: waiting webhooks go in turn, each when a reply left, and a newcomer waits behind them") {
  rig r;
  std::atomic<std::size_t> backlog{10};
  const std::size_t limit = 5;
  r.svc->set_backpressure(limit, [&backlog] { return backlog.load(); });
  const auto& waits = r.svc->counters().backpressure_waits;
  std::vector<std::future<http_out>> hooks;
  // Three learners write while the sender is behind: each waits, in the order they came.
  for (int k = 0; k < 3; ++k) {
    hooks.push_back(r.webhook(telegram_text(7100 + k, 91000 + k, "¿sigo? ñ " + std::to_string(k))));
    REQUIRE(eventually([&] { return waits == k + 1; }));
  }
  // Still behind: word from the sender lets nobody through.
  r.svc->backlog_progressed();
  CHECK_FALSE(answered(hooks[0], 100ms));
  // Caught up: one word, one webhook — the first to wait.
  backlog = limit;
  r.svc->backlog_progressed();
  REQUIRE(answered(hooks[0], 2000ms));
  CHECK(hooks[0].get().status == 200);
  CHECK_FALSE(answered(hooks[1], 100ms));
  CHECK_FALSE(answered(hooks[2], 0ms));
  // A learner writing now, with room below the limit, still waits behind those waiting.
  hooks.push_back(r.webhook(telegram_text(7103, 91003, "recién llegado ¡hola!")));
  REQUIRE(eventually([&] { return waits == 4; }));
  CHECK_FALSE(answered(hooks[3], 100ms));
  for (std::size_t k = 1; k < hooks.size(); ++k) {
    r.svc->backlog_progressed();
    REQUIRE(answered(hooks[k], 2000ms));
    CHECK(hooks[k].get().status == 200);
    for (std::size_t later = k + 1; later < hooks.size(); ++later) CHECK_FALSE(answered(hooks[later], 50ms));
  }
  // Nobody waits and there is room: straight through, no wait counted.
  auto now = r.webhook(telegram_text(7104, 91004, "sin esperar"));
  REQUIRE(answered(now, 2000ms));
  CHECK(waits == 4);
  // Every learner was stepped: nothing lost while waiting.
  for (long chat = 7100; chat <= 7104; ++chat) CHECK(r.load("telegram:" + std::to_string(chat)).exists);
}

TEST_CASE("sender: replies committed and not yet read count in its backlog until a read reaches them") {
  rig r;
  auto o = fast_options();
  o.poll = 60000ms;  // reads only when told of a commit
  auto& d = r.add_sender(o);
  REQUIRE(eventually([&] { return d.leases_held() == 8; }));
  CHECK(d.replies_queued() == 0);
  std::string conv;
  for (int k = 0; conv.empty(); ++k)
    if (partition_of("telegram:" + std::to_string(8000 + k), r.st->partitions()) == 3) conv = "telegram:" + std::to_string(8000 + k);
  d.replies_committed(3, 4);
  CHECK(d.replies_queued() == 4);
  d.replies_committed(8, 5);   // no such partition
  d.replies_committed(-1, 5);
  CHECK(d.replies_queued() == 4);
  // The commit the sender is told of: read to the end of the lane, nothing is unread any more.
  r.update(conv, [&](commit_request& c) {
    for (int i = 0; i < 2; ++i)
      c.outbox.push_back(make_outbox_write(conv, "reply", "msg", nlohmann::json{{"text", "¿leíste? " + std::to_string(i)}}.dump(),
                                           c.expected_version + 1, i));
  });
  REQUIRE(eventually([&] { return r.provider.delivered()[conv.substr(9)].size() == 2; }));
  REQUIRE(eventually([&] { return d.replies_queued() == 0; }));
}

TEST_CASE("backpressure: a webhook waits 2 s at most, then is stepped") {
  rig r;
  r.svc->set_backpressure(1, [] { return std::size_t{50}; });  // the sender never catches up
  const auto started = std::chrono::steady_clock::now();
  auto hook = r.webhook(telegram_text(7200, 92000, "¿me esperas?"));
  CHECK_FALSE(answered(hook, 1500ms));
  REQUIRE(answered(hook, 3000ms));
  CHECK(hook.get().status == 200);
  CHECK(std::chrono::steady_clock::now() - started >= 1900ms);
  CHECK(r.svc->counters().backpressure_waits == 1);
  CHECK(r.load("telegram:7200").exists);
}

TEST_CASE("backpressure: reminders and broadcasts queued for their pace do not hold webhooks back") {
  rig r;
  auto o = fast_options();
  o.channels["telegram"].per_second = 5;  // a paced broadcast: most of it waits in the queue
  const std::size_t limit = 5;
  auto& d = r.add_sender(o, limit);
  REQUIRE(eventually([&] { return d.leases_held() == 8; }));
  for (int learner = 0; learner < 40; ++learner)
    r.commit("telegram:" + std::to_string(7300 + learner), {"aviso del curso ¡mañana! " + std::to_string(learner)},
             "bulk");
  REQUIRE(eventually([&] { return d.queued() > 3 * limit; }));
  CHECK(d.replies_queued() == 0);
  auto hook = r.webhook(telegram_text(7400, 93000, "¿y mi respuesta?"));
  REQUIRE(answered(hook, 1000ms));
  CHECK(hook.get().status == 200);
  CHECK(r.svc->counters().backpressure_waits == 0);
  // Replies count: more queued than the limit, and the next webhook waits for them.
  for (int learner = 0; learner < 8; ++learner)
    r.commit("telegram:" + std::to_string(7500 + learner), {"respuesta " + std::to_string(learner)});
  REQUIRE(eventually([&] { return d.replies_queued() > limit; }));
  auto held = r.webhook(telegram_text(7401, 93001, "¿ahora?"));
  REQUIRE(eventually([&] { return r.svc->counters().backpressure_waits == 1; }));
  REQUIRE(answered(held, 3000ms));
  CHECK(held.get().status == 200);
}

TEST_CASE("record keeper: a backlog longer than one read goes into the record store in one drain, each record once") {
  rig r;
  auto& sender = r.add_sender(fast_options());
  REQUIRE(eventually([&] { return net::co_spawn(r.ioc, sender.leases(), net::use_future).get().size() == 8; }));
  const std::string conv = "telegram:4242";
  const int p = partition_of(conv, r.st->partitions());
  // 1,200 records (a read takes 500), then one the store would refuse: dropped, not blocking.
  std::vector<nlohmann::json> recs;
  for (int i = 0; i < 1200; ++i)
    recs.push_back({{"conv", conv}, {"id", "a" + std::to_string(i)}, {"type", "answer"},
                    {"at", 1'700'000'000'000 + i}, {"text", "Sí, ñandú 🦤 ¿" + std::to_string(i) + "?"}});
  recs.push_back({{"conv", conv}, {"type", "answer"}, {"text", "sin id ni hora"}});
  net::co_spawn(r.ioc, r.st->results_append(p, recs), net::use_future).get();

  char dir[] = "/tmp/aula-keeper-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string db = std::string(dir) + "/records.db";
  {
    record_keeper keeper(r.ioc.get_executor(), *r.svc, sender, "sqlite://" + db);
    CHECK(net::co_spawn(r.ioc, keeper.drain_once(), net::use_future).get() == 1200);
    CHECK(net::co_spawn(r.ioc, r.st->results_pending(p, 10), net::use_future).get().empty());
    const record_keeper::job read = [conv](records::record_store& st) { return st.timeline(conv, 5000); };
    const nlohmann::json tl = net::co_spawn(r.ioc, keeper.run(read), net::use_future).get();
    REQUIRE(tl.size() == 1200);
    std::set<std::string> ids, texts;
    for (const auto& e : tl) {
      ids.insert(e.value("id", std::string{}));
      texts.insert(e.value("text", std::string{}));
    }
    CHECK(ids.size() == 1200);
    CHECK(texts.count("Sí, ñandú 🦤 ¿1199?") == 1);
    // Nothing left: a second drain stores nothing.
    CHECK(net::co_spawn(r.ioc, keeper.drain_once(), net::use_future).get() == 0);
  }
  std::filesystem::remove_all(dir);
}
