// The store: partitions, the commit contract, timers, the outbox lanes, the web mailbox, and
// the Redis client underneath (deadlines, pipelining, reconnects, lost script caches).
//
// Every behavioural test runs twice, against memory_store and against redis_store. The Redis
// tests need a real redis-server: scripts/test starts one and exports AULA_TEST_REDIS_URL;
// without it they fail. Each test uses its own key prefix, so tests can share that server and
// run in parallel. Tests that stop or freeze Redis start their own redis-server on a free port.
#include "bot/store/store.hpp"
#include "bot/engine/json_text.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "bot/io/fan_out.hpp"
#include "bot/store/redis_client.hpp"
#include "bot/store/redis_sent.hpp"
#include "tests/io/redis_test_support.hpp"

namespace {

using namespace aula;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using aula_test::free_port;
using aula_test::private_redis;
using aula_test::random_hex;
using aula_test::sh;

// ---------------------------------------------------------------------------------------------
// Harness
//
// Two g++ 12 coroutine bugs shape this file:
//  * Catch's CHECK/REQUIRE repeat their expression in a never-evaluated `(false) && (expr)`;
//    g++ 12 evaluates a co_await in there anyway, so every check awaits first:
//    `{ auto aw = co_await x; CHECK(aw == y); }`.
//  * A braced list of strings as an argument inside a co_await expression does not compile
//    ("array used as initializer"): commands are built with redis_cmd(...) or named variables.

// Runs `body` on a fresh io_context (with `threads` threads) until nothing is left to do. One
// thread: the io_context is marked as run by one thread, as `aula serve` marks its own with
// server.threads: 1 (the clients' lanes are then the io_context itself, not strands).
void run_io(const std::function<net::awaitable<void>(net::any_io_executor)>& body, int threads = 1) {
  net::io_context ioc;
  if (threads == 1) mark_one_thread(ioc);
  std::exception_ptr error;
  std::atomic<bool> done{false};
  net::co_spawn(ioc, body(ioc.get_executor()), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  std::vector<std::thread> extra;
  for (int i = 1; i < threads; ++i) extra.emplace_back([&] { ioc.run_for(120s); });
  ioc.run_for(120s);
  for (auto& t : extra) t.join();
  if (error) std::rethrow_exception(error);
  REQUIRE(done);
}

net::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(net::use_awaitable);
}

std::string test_redis_url() {
  const char* url = std::getenv("AULA_TEST_REDIS_URL");
  if (!url || !*url)
    FAIL("AULA_TEST_REDIS_URL is not set: run scripts/test, or start redis-server and export "
         "AULA_TEST_REDIS_URL=redis://127.0.0.1:PORT/0");
  return url;
}

redis_store_options test_options() {
  redis_store_options o;
  o.url = test_redis_url();
  o.key_prefix = "aulatest-" + random_hex();
  o.command_timeout = 2000ms;
  return o;
}

// A plain Redis client on the test's server, connected (for looking at keys and writing them
// as another release would have).
net::awaitable<std::unique_ptr<redis_client>> connected_client(net::any_io_executor ex, const std::string& url) {
  redis_client_options rc;
  rc.url = url;
  auto raw = std::make_unique<redis_client>(ex, rc);
  raw->start();
  { auto aw = co_await raw->wait_connected(2000ms); REQUIRE(aw); }
  co_return raw;
}

using store_body = net::awaitable<void> (*)(store&);

void with_memory(store_body body, int threads = 1) {
  run_io(
      [&](net::any_io_executor) -> net::awaitable<void> {
        auto s = make_memory_store(64);
        co_await body(*s);
      },
      threads);
}

void with_redis(store_body body, int threads = 1, int connections = 1) {
  auto opts = test_options();
  opts.connections = connections;
  run_io(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        auto s = co_await make_redis_store(ex, opts);
        co_await body(*s);
      },
      threads);
}

// The same behaviour, checked against both stores.
// The fenced operations, under a lease the test takes (or renews) for the partition.
const std::string test_owner = "store-tests";

net::awaitable<fence> lease_of(store& s, int p) { co_return co_await s.lease_acquire(p, test_owner, 600s); }

net::awaitable<void> ack(store& s, int p, const std::string& id) {
  auto f = co_await lease_of(s, p);
  co_await s.outbox_ack(p, id, f);
}

net::awaitable<std::vector<due_timer>> claim(store& s, int p, std::int64_t now_ms, std::size_t max) {
  auto f = co_await lease_of(s, p);
  co_return co_await s.claim_due_timers(p, now_ms, max, f, 600s);
}

net::awaitable<void> results_done(store& s, int p, const std::vector<std::string>& ids) {
  auto f = co_await lease_of(s, p);
  co_await s.results_ack(p, ids, f);
}

#define STORE_TEST(name, body)                             \
  TEST_CASE("memory store: " name) { with_memory(body); } \
  TEST_CASE("redis store: " name) { with_redis(body); }

// ---------------------------------------------------------------------------------------------
// Test data

session sample_session() {
  session s;
  s.lang = "es";
  s.contact["name"] = "José Ñúñez 🎓";
  s.contact["state"] = "Michoacán";
  s.answers["edad_minima"] = saved_answer{"b", "15 años ✅"};
  return s;
}

outbox_write outbox_msg(const std::string& conv, const std::string& lane, const std::string& text) {
  return {lane, nlohmann::json{{"conv", conv}, {"lane", lane}, {"msg", {{"text", text}}}}.dump()};
}

commit_request first_commit(const std::string& conv) {
  commit_request c;
  c.conversation = conv;
  c.expected_version = 0;
  c.next = sample_session();
  return c;
}

// ---------------------------------------------------------------------------------------------
// Partitions

TEST_CASE("store keys: the Redis layout of DESIGN.md, every key of a partition in its hash tag") {
  const store_keys k{"aula"};
  CHECK(k.session(7, "telegram:12345") == "aula:{p7}:s:telegram:12345");
  CHECK(k.outbox(7, "reply") == "aula:{p7}:outbox:reply");
  CHECK(k.outbox(7, "bulk") == "aula:{p7}:outbox:bulk");
  CHECK(k.timers(7) == "aula:{p7}:timers");
  CHECK(k.results(7) == "aula:{p7}:results");
  CHECK(k.lease(7) == "aula:{p7}:lease");
  CHECK(k.fence(0) == "aula:{p0}:fence");
  CHECK(k.dead(123) == "aula:{p123}:dead");
  CHECK(k.cert(2, "ABC") == "aula:{p2}:cert:ABC");
  CHECK(k.web(2, "web:x") == "aula:{p2}:w:web:x");
  const store_keys other{"otro:ñ"};
  CHECK(other.session(-1, "whatsapp:+52") == "otro:ñ:{p-1}:s:whatsapp:+52");
  for (int p : {0, 9, 10, 255, 1000000}) {
    // Each key built from its parts is the partition's tag between the prefix and the rest.
    const std::string tag = store_keys::tag(p);
    CHECK(k.erased(p) == "aula:" + tag + ":erased");
    CHECK(k.once(p, "k") == "aula:" + tag + ":once:k");
    CHECK(k.waited(p) == "aula:" + tag + ":waited");
  }
}

TEST_CASE("fnv1a64 matches the FNV-1a 64 test vectors") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ull);
}

TEST_CASE("partition_of is stable and in range") {
  std::set<int> seen;
  for (int i = 0; i < 5000; ++i) {
    auto conv = "whatsapp:52155" + std::to_string(10000000 + i * 7919);
    int p = partition_of(conv, 64);
    CHECK(p >= 0);
    CHECK(p < 64);
    CHECK(partition_of(conv, 64) == p);
    CHECK(p == static_cast<int>(fnv1a64(conv) % 64));
    seen.insert(p);
    CHECK(partition_of(conv, 1) == 0);
  }
  CHECK(seen.size() == 64);  // 5000 learners reach every partition
  CHECK(partition_of("telegram:12345", 64) == static_cast<int>(fnv1a64("telegram:12345") % 64));
  CHECK_THROWS_AS(partition_of("x", 0), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Behaviour (both stores)

net::awaitable<void> commit_and_load(store& s) {
  const std::string conv = "web:ana-" + random_hex();
  const int p = partition_of(conv, s.partitions());

  auto none = co_await s.load(conv);
  CHECK_FALSE(none.exists);
  CHECK(none.s.version == 0);

  auto c = first_commit(conv);
  c.provider_id = "wamid.HBgM1";
  c.outbox.push_back(outbox_msg(conv, "reply", "¡Hola, José! 👋 ¿Seguimos?"));
  c.outbox.push_back(outbox_msg(conv, "bulk", "Recordatorio 🔔"));
  c.timers_set.push_back(timer_effect{"r1.edad.remind", 1'700'000'000'000, "remind"});
  result_record rec;
  rec.id = "r1.1";
  rec.type = "answer";
  rec.flow = "modulo-1";
  rec.run = "r1";
  rec.node = "edad";
  rec.value = "b";
  rec.text = "Sí, 15 años 👍";
  auto rj = rec.to_json();
  rj["conv"] = conv;
  c.results.push_back(json_text::write(rj));
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }

  auto l = co_await s.load(conv);
  REQUIRE(l.exists);
  CHECK(l.s.version == 1);
  auto expected = sample_session();
  expected.version = 1;
  CHECK(l.s.to_json() == expected.to_json());
  CHECK(l.s.contact["name"] == "José Ñúñez 🎓");
  CHECK(l.s.answers["edad_minima"].text == "15 años ✅");
  { auto aw = co_await s.provider_ids(conv); CHECK(aw == std::vector<std::string>{"wamid.HBgM1"}); }

  auto out = co_await s.outbox_pending(p, 10);
  REQUIRE(out.size() == 2);
  CHECK(out[0].id.rfind("reply:", 0) == 0);
  CHECK(out[0].data == nlohmann::json::parse(c.outbox[0].text));
  CHECK(out[0].data["msg"]["text"] == "¡Hola, José! 👋 ¿Seguimos?");
  CHECK(out[1].id.rfind("bulk:", 0) == 0);
  CHECK(out[1].data == nlohmann::json::parse(c.outbox[1].text));

  auto results = co_await s.results_pending(p, 10);
  REQUIRE(results.size() == 1);
  CHECK(results[0].data == rj);
  CHECK(results[0].data["text"] == "Sí, 15 años 👍");
  // The same entries as stored, for the record keeper to parse on its own thread.
  auto raw = co_await s.results_read(p, "", 10);
  REQUIRE(raw.size() == 1);
  { auto aw = co_await s.results_read(p, raw[0].id, 10); CHECK(aw.empty()); }  // after it: nothing
  CHECK(raw[0].id == results[0].id);
  CHECK(nlohmann::json::parse(raw[0].text) == rj);
  CHECK(raw[0].text.find("Sí, 15 años 👍") != std::string::npos);
  const std::vector<std::string> drained{results[0].id};
  co_await results_done(s, p, drained);
  { auto aw = co_await s.results_pending(p, 10); CHECK(aw.empty()); }

  auto due = co_await claim(s, p, 1'700'000'000'000, 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].conversation == conv);
  CHECK(due[0].id == "r1.edad.remind");
  CHECK(due[0].due_ms == 1'700'000'000'000);

  // The next step writes version 2 over version 1.
  commit_request c2;
  c2.conversation = conv;
  c2.expected_version = 1;
  c2.next = l.s;
  c2.next.lang = "en";
  { auto aw = co_await s.commit(c2); REQUIRE(aw == commit_outcome::ok); }
  auto l2 = co_await s.load(conv);
  CHECK(l2.s.version == 2);
  CHECK(l2.s.lang == "en");
  { auto aw = co_await s.provider_ids(conv); CHECK(aw == std::vector<std::string>{"wamid.HBgM1"}); }  // "" is no provider id
}
STORE_TEST("commit writes session outbox timers and results and load reads them back", commit_and_load)

net::awaitable<void> version_conflict(store& s) {
  const std::string conv = "telegram:" + random_hex();
  const int p = partition_of(conv, s.partitions());
  { auto aw = co_await s.commit(first_commit(conv)); REQUIRE(aw == commit_outcome::ok); }

  // Two steps loaded version 1; the first commit wins, the second conflicts.
  commit_request a;
  a.conversation = conv;
  a.expected_version = 1;
  a.next = sample_session();
  a.next.lang = "en";
  commit_request b = a;
  b.next.lang = "pt";
  b.provider_id = "upd-2";
  b.outbox.push_back(outbox_msg(conv, "reply", "from the losing step"));
  b.timers_set.push_back(timer_effect{"x.n.remind", 5, "remind"});
  b.timers_cancel.push_back("nothing");
  b.results.push_back(json_text::write({{"id", "x.1"}, {"conv", conv}}));
  { auto aw = co_await s.commit(a); REQUIRE(aw == commit_outcome::ok); }
  { auto aw = co_await s.commit(b); REQUIRE(aw == commit_outcome::conflict); }

  auto l = co_await s.load(conv);
  CHECK(l.s.version == 2);
  CHECK(l.s.lang == "en");
  { auto aw = co_await s.provider_ids(conv); CHECK(aw.empty()); }  // the conflicting commit recorded no id
  { auto aw = co_await s.outbox_pending(p, 10); CHECK(aw.empty()); }
  { auto aw = co_await claim(s, p, 1'000'000, 10); CHECK(aw.empty()); }
  { auto aw = co_await s.results_pending(p, 10); CHECK(aw.empty()); }

  // A first commit for a conversation that already exists conflicts too.
  { auto aw = co_await s.commit(first_commit(conv)); REQUIRE(aw == commit_outcome::conflict); }
  // ... and a commit expecting a version that does not exist yet.
  auto ahead = first_commit("telegram:" + random_hex());
  ahead.expected_version = 3;
  { auto aw = co_await s.commit(ahead); REQUIRE(aw == commit_outcome::conflict); }
  { auto aw = co_await s.load(ahead.conversation); CHECK_FALSE(aw.exists); }
}
STORE_TEST("a version conflict writes nothing", version_conflict)

net::awaitable<void> duplicate_provider_id(store& s) {
  const std::string conv = "whatsapp:5215512345678-" + random_hex();
  const int p = partition_of(conv, s.partitions());
  auto c = first_commit(conv);
  c.provider_id = "wamid.ABC";
  c.outbox.push_back(outbox_msg(conv, "reply", "uno"));
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  co_await ack(s, p, (co_await s.outbox_pending(p, 10)).at(0).id);

  // Meta redelivers the webhook: the step ran again on version 1 and commits the same id.
  commit_request again;
  again.conversation = conv;
  again.expected_version = 1;
  again.provider_id = "wamid.ABC";
  again.next = sample_session();
  again.next.lang = "en";
  again.outbox.push_back(outbox_msg(conv, "reply", "dos"));
  again.timers_set.push_back(timer_effect{"r.n.remind", 5, "remind"});
  again.results.push_back(json_text::write({{"id", "r.2"}}));
  { auto aw = co_await s.commit(again); REQUIRE(aw == commit_outcome::duplicate); }
  // Even with a stale version, a redelivery is a duplicate, not a conflict.
  again.expected_version = 0;
  { auto aw = co_await s.commit(again); REQUIRE(aw == commit_outcome::duplicate); }

  auto l = co_await s.load(conv);
  CHECK(l.s.version == 1);
  CHECK(l.s.lang == "es");
  { auto aw = co_await s.outbox_pending(p, 10); CHECK(aw.empty()); }
  { auto aw = co_await claim(s, p, 1'000'000, 10); CHECK(aw.empty()); }
  { auto aw = co_await s.results_pending(p, 10); CHECK(aw.empty()); }

  // Another id goes through; ids are per conversation.
  again.expected_version = 1;
  again.provider_id = "wamid.DEF";
  { auto aw = co_await s.commit(again); REQUIRE(aw == commit_outcome::ok); }
  auto other = first_commit(conv + "-other");
  other.provider_id = "wamid.ABC";
  { auto aw = co_await s.commit(other); REQUIRE(aw == commit_outcome::ok); }
}
STORE_TEST("a duplicate provider id writes nothing", duplicate_provider_id)

net::awaitable<void> last_64_ids(store& s) {
  const std::string conv = "sms:+52155" + random_hex();
  std::int64_t v = 0;
  auto commit_id = [&](std::string id) -> net::awaitable<commit_outcome> {
    commit_request c;
    c.conversation = conv;
    c.expected_version = v;
    c.provider_id = id;
    c.next = sample_session();
    auto r = co_await s.commit(c);
    if (r == commit_outcome::ok) ++v;
    co_return r;
  };
  for (int i = 1; i <= 65; ++i) {
    auto aw = co_await commit_id("SM" + std::to_string(i));
    REQUIRE(aw == commit_outcome::ok);
  }
  auto l = co_await s.provider_ids(conv);
  REQUIRE(l.size() == provider_ids_kept);
  CHECK(l.front() == "SM2");
  CHECK(l.back() == "SM65");
  { auto aw = co_await commit_id("SM65"); CHECK(aw == commit_outcome::duplicate); }
  { auto aw = co_await commit_id("SM2"); CHECK(aw == commit_outcome::duplicate); }
  // The 65th-newest id was forgotten: a redelivery that late is accepted again.
  { auto aw = co_await commit_id("SM1"); CHECK(aw == commit_outcome::ok); }
  { auto aw = co_await commit_id("SM2"); CHECK(aw == commit_outcome::ok); }  // pushed out by SM1
  { auto aw = co_await commit_id("SM3"); CHECK(aw == commit_outcome::ok); }  // ... and this by SM2
  { auto aw = co_await commit_id("SM5"); CHECK(aw == commit_outcome::duplicate); }
  { auto aw = co_await commit_id("SM1"); CHECK(aw == commit_outcome::duplicate); }
  // Line breaks cannot split one id into two.
  { auto aw = co_await commit_id("SM5\nSM6"); CHECK(aw == commit_outcome::ok); }
  { auto aw = co_await commit_id("SM5\nSM6"); CHECK(aw == commit_outcome::duplicate); }
  { auto aw = co_await s.provider_ids(conv); CHECK(aw.size() == provider_ids_kept); }
}
STORE_TEST("only the last 64 provider ids are kept", last_64_ids)

net::awaitable<void> timers(store& s) {
  // A conversation id may hold '|': members split at the last one (timer ids never hold it).
  const std::string conv = "web:a|b-" + random_hex();
  const int p = partition_of(conv, s.partitions());
  auto c = first_commit(conv);
  c.timers_set = {timer_effect{"r1.q.remind", 1000, "remind"}, timer_effect{"r1.q.timeout", 2000, "timeout"},
                  timer_effect{"r1.expire", 3000, "expire"}};
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }

  commit_request c2;
  c2.conversation = conv;
  c2.expected_version = 1;
  c2.next = sample_session();
  c2.timers_cancel = {"r1.q.timeout", "never.set"};
  c2.timers_set = {timer_effect{"r1.expire", 1500, "expire"}};  // moved earlier
  { auto aw = co_await s.commit(c2); REQUIRE(aw == commit_outcome::ok); }

  { auto aw = co_await claim(s, p, 999, 10); CHECK(aw.empty()); }
  auto first = co_await claim(s, p, 1200, 10);
  REQUIRE(first.size() == 1);
  CHECK(first[0].conversation == conv);
  CHECK(first[0].id == "r1.q.remind");
  CHECK(first[0].due_ms == 1000);
  { auto aw = co_await claim(s, p, 1200, 10); CHECK(aw.empty()); }  // claimed once
  auto rest = co_await claim(s, p, 10'000, 10);
  REQUIRE(rest.size() == 1);  // the cancelled timeout never fires
  CHECK(rest[0].id == "r1.expire");
  CHECK(rest[0].due_ms == 1500);

  // Batches: oldest first, at most `max` per claim.
  auto c3 = first_commit(conv + "-batch");
  const int p3 = partition_of(c3.conversation, s.partitions());
  for (int i = 0; i < 5; ++i)
    c3.timers_set.push_back(timer_effect{"t" + std::to_string(i), 100 - i, "wait"});  // t4 is due first
  { auto aw = co_await s.commit(c3); REQUIRE(aw == commit_outcome::ok); }
  auto b1 = co_await claim(s, p3, 1000, 2);
  REQUIRE(b1.size() == 2);
  CHECK(b1[0].id == "t4");
  CHECK(b1[1].id == "t3");
  { auto aw = co_await claim(s, p3, 1000, 0); CHECK(aw.empty()); }
  { auto aw = co_await claim(s, p3, 1000, 10); CHECK(aw.size() == 3); }
}
STORE_TEST("timers are set moved cancelled and claimed when due", timers)

// Two claimers race over the same partitions: every due timer is claimed exactly once.
net::awaitable<void> concurrent_claims(store& s) {
  const std::string tag = random_hex();
  std::set<std::string> want;
  std::set<int> parts;
  for (int i = 0; i < 40; ++i) {
    auto c = first_commit("web:claim-" + tag + "-" + std::to_string(i));
    for (int k = 0; k < 8; ++k) {
      auto id = "run" + std::to_string(i) + ".n" + std::to_string(k) + ".wait";
      c.timers_set.push_back(timer_effect{id, 1000 + k, "wait"});
      want.insert(c.conversation + "|" + id);
    }
    c.timers_set.push_back(timer_effect{"run.later.wait", 9'999'999, "wait"});  // not due
    parts.insert(partition_of(c.conversation, s.partitions()));
    { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  }
  auto claimer = [&s, &parts](std::vector<std::string>& got) -> net::awaitable<void> {
    for (int p : parts)
      for (;;) {
        auto batch = co_await claim(s, p, 5000, 3);
        if (batch.empty()) break;
        for (auto& t : batch) got.push_back(t.conversation + "|" + t.id);
      }
  };
  std::vector<std::string> a, b;
  co_await (claimer(a) && claimer(b));
  std::multiset<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  CHECK(all.size() == want.size());
  CHECK(std::set<std::string>(all.begin(), all.end()) == want);
  for (int p : parts) { auto aw = co_await claim(s, p, 5000, 100); CHECK(aw.empty()); }
}
TEST_CASE("memory store: two concurrent claimers get each due timer exactly once") {
  with_memory(concurrent_claims, 2);
}
TEST_CASE("redis store: two concurrent claimers get each due timer exactly once") {
  with_redis(concurrent_claims, 2, 2);  // two threads, two connections
}

net::awaitable<void> outbox_lanes(store& s) {
  const std::string conv = "telegram:" + random_hex();
  const int p = partition_of(conv, s.partitions());
  auto c = first_commit(conv);
  c.outbox = {outbox_msg(conv, "bulk", "b1"), outbox_msg(conv, "reply", "r1")};
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  commit_request c2;
  c2.conversation = conv;
  c2.expected_version = 1;
  c2.next = sample_session();
  c2.outbox = {outbox_msg(conv, "bulk", "b2"), outbox_msg(conv, "reply", "r2"),
               outbox_write{"", nlohmann::json{{"conv", conv}, {"msg", {{"text", "r3"}}}}.dump()}};  // no lane: a reply
  { auto aw = co_await s.commit(c2); REQUIRE(aw == commit_outcome::ok); }

  auto texts = [](const std::vector<outbox_entry>& es) {
    std::vector<std::string> t;
    for (const auto& e : es) t.push_back(e.data["msg"]["text"]);
    return t;
  };
  auto all = co_await s.outbox_pending(p, 10);
  CHECK(texts(all) == std::vector<std::string>{"r1", "r2", "r3", "b1", "b2"});
  const std::vector<std::string> first4{"r1", "r2", "r3", "b1"}, first2{"r1", "r2"}, rest{"r2", "r3", "b2"};
  { auto aw = co_await s.outbox_pending(p, 4); CHECK(texts(aw) == first4); }
  { auto aw = co_await s.outbox_pending(p, 2); CHECK(texts(aw) == first2); }
  { auto aw = co_await s.outbox_pending(p, 0); CHECK(aw.empty()); }

  co_await ack(s, p, all[0].id);  // r1
  co_await ack(s, p, all[3].id);  // b1
  co_await ack(s, p, all[3].id);  // again: nothing happens
  { auto aw = co_await s.outbox_pending(p, 10); CHECK(texts(aw) == rest); }
  for (const auto& id : {all[1].id, all[2].id, all[4].id}) co_await ack(s, p, id);
  { auto aw = co_await s.outbox_pending(p, 10); CHECK(aw.empty()); }

  bool threw = false;
  try {
    co_await ack(s, p, "1-0");
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  // Other partitions hold nothing of this conversation.
  { auto aw = co_await s.outbox_pending((p + 1) % s.partitions(), 10); CHECK(aw.empty()); }
}
STORE_TEST("the outbox gives replies before bulk and ack removes", outbox_lanes)

// Leases: one holder at a time, renewed by its owner, a new token when it changes hands, and
// every fenced operation refused under a lease that lapsed or moved on.
net::awaitable<void> leases_and_fencing(store& s) {
  const std::string conv = "telegram:" + random_hex();
  const int p = partition_of(conv, s.partitions());
  const std::string a = "a-" + random_hex(), b = "b-" + random_hex();
  auto fa = co_await s.lease_acquire(p, a, 300ms);
  REQUIRE(fa.held());
  CHECK(fa.owner == a);
  { auto aw = co_await s.lease_acquire(p, b, 300ms); CHECK_FALSE(aw.held()); }  // a holds it
  { auto aw = co_await s.lease_acquire(p, a, 300ms); CHECK(aw == fa); }         // renewed, same token

  auto c = first_commit(conv);
  c.outbox = {outbox_msg(conv, "reply", "uno"), outbox_msg(conv, "reply", "dos")};
  c.timers_set = {timer_effect{"r.n.wait", 10, "wait"}};
  c.results.push_back(json_text::write(nlohmann::json{{"id", "r.1"}, {"type", "start"}, {"conv", conv}}));
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  auto pending = (co_await s.outbox_read(p, "", "", 10)).reply;
  REQUIRE(pending.size() == 2);

  // b cannot ack, dead-letter, claim or drain under a made-up fence.
  const fence forged{b, fa.token};
  int refused = 0;
  try { co_await s.outbox_ack(p, pending[0].id, forged); } catch (const lease_lost&) { ++refused; }
  const nlohmann::json reason_x{{"reason", "x"}};
  try { co_await s.outbox_dead(p, pending[0].id, reason_x, forged); } catch (const lease_lost&) { ++refused; }
  try { co_await s.claim_due_timers(p, 1000, 10, forged, 1s); } catch (const lease_lost&) { ++refused; }
  auto results = co_await s.results_pending(p, 10);
  REQUIRE(results.size() == 1);
  const std::vector<std::string> rid{results[0].id};
  try { co_await s.results_ack(p, rid, forged); } catch (const lease_lost&) { ++refused; }
  try { co_await s.results_trim(p, rid[0], forged); } catch (const lease_lost&) { ++refused; }
  CHECK(refused == 5);
  { auto aw = co_await s.outbox_read(p, "", "", 10); CHECK(aw.reply.size() == 2); }  // nothing removed
  { auto aw = co_await s.results_pending(p, 10); CHECK(aw.size() == 1); }

  // The holder acks.
  co_await s.outbox_ack(p, pending[0].id, fa);
  { auto aw = co_await s.outbox_read(p, "", "", 10); CHECK(aw.reply.size() == 1); }

  // a stops renewing: the lease lapses, b takes it with a larger token, a is fenced out.
  co_await sleep_for(450ms);
  auto fb = co_await s.lease_acquire(p, b, 5s);
  REQUIRE(fb.held());
  CHECK(fb.token > fa.token);
  bool fenced = false;
  try { co_await s.outbox_ack(p, pending[1].id, fa); } catch (const lease_lost&) { fenced = true; }
  CHECK(fenced);
  { auto aw = co_await s.lease_acquire(p, a, 300ms); CHECK_FALSE(aw.held()); }
  co_await s.outbox_ack(p, pending[1].id, fb);
  { auto aw = co_await s.outbox_read(p, "", "", 10); CHECK(aw.reply.empty()); }

  // Released: another owner may take it at once, with a new token.
  co_await s.lease_release(p, fb);
  auto fa2 = co_await s.lease_acquire(p, a, 5s);
  REQUIRE(fa2.held());
  CHECK(fa2.token > fb.token);
  co_await s.lease_release(p, fb);  // a stale release changes nothing
  { auto aw = co_await s.lease_acquire(p, b, 5s); CHECK_FALSE(aw.held()); }
  co_await s.lease_release(p, fa2);
}
STORE_TEST("leases have one holder and fence out the others", leases_and_fencing)

// A drain that stored every record it read from the start trims up to the last one: what
// came after stays, in order, with its text.
net::awaitable<void> results_trimmed(store& s) {
  const std::string conv = "telegram:" + random_hex();
  const int p = partition_of(conv, s.partitions());
  const std::size_t before = (co_await s.results_pending(p, 1000)).size();
  std::vector<nlohmann::json> recs;
  for (int i = 0; i < 5; ++i)
    recs.push_back({{"id", "t." + std::to_string(i)}, {"type", "answer"}, {"conv", conv}, {"text", "¿Sí? ñ " + std::to_string(i)}});
  co_await s.results_append(p, recs);
  auto all = co_await s.results_read(p, "", 1000);
  REQUIRE(all.size() == before + 5);
  auto f = co_await lease_of(s, p);
  co_await s.results_trim(p, all[before + 2].id, f);  // the others' records and t.0 to t.2
  auto left = co_await s.results_pending(p, 1000);
  REQUIRE(left.size() == 2);
  CHECK(left[0].data["text"] == "¿Sí? ñ 3");
  CHECK(left[1].data["id"] == "t.4");
  co_await s.results_trim(p, left[1].id, f);
  { auto aw = co_await s.results_read(p, "", 10); CHECK(aw.empty()); }
  co_await s.results_trim(p, left[1].id, f);  // again: nothing to do
}
STORE_TEST("result records are trimmed up to an id, under the lease", results_trimmed)

// Delivered entries acknowledged in a batch with their send records: the records always go
// in (the sends happened), the entries leave both lanes only under the lease.
net::awaitable<void> done_in_batches(store& s) {
  const std::string conv = "telegram:" + random_hex();
  const int p = partition_of(conv, s.partitions());
  auto c = first_commit(conv);
  c.outbox = {outbox_msg(conv, "reply", "r1"), outbox_msg(conv, "bulk", "b1"), outbox_msg(conv, "reply", "r2")};
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  auto both = co_await s.outbox_read(p, "", "", 10);
  REQUIRE(both.reply.size() == 2);
  REQUIRE(both.bulk.size() == 1);
  const std::size_t results_before = (co_await s.results_pending(p, 100)).size();
  const std::string other = "o-" + random_hex();
  { auto mine = co_await lease_of(s, p); co_await s.lease_release(p, mine); }  // other tests' leases
  auto theirs = co_await s.lease_acquire(p, other, 300ms);
  REQUIRE(theirs.held());
  // Under a fence that is not the holder's: nothing removed, the records kept.
  const fence stale{test_owner, theirs.token};
  const std::vector<std::string> first{both.reply[0].id, both.bulk[0].id};
  const std::vector<std::string> recs{json_text::write({{"id", "out.1"}, {"type", "sent"}, {"conv", conv}, {"text", "¿Listo? ñ 🎉"}})};
  { bool aw = co_await s.outbox_done(p, first, recs, stale); CHECK_FALSE(aw); }
  { auto aw = co_await s.outbox_read(p, "", "", 10); CHECK(aw.reply.size() == 2); CHECK(aw.bulk.size() == 1); }
  auto pending = co_await s.results_pending(p, 100);
  REQUIRE(pending.size() == results_before + 1);
  CHECK(pending.back().data["text"] == "¿Listo? ñ 🎉");
  // The holder: both lanes at once, and two records.
  co_await s.lease_release(p, theirs);
  auto f = co_await lease_of(s, p);
  const std::vector<std::string> two{json_text::write({{"id", "out.2"}, {"type", "sent"}, {"conv", conv}}),
                                     json_text::write({{"id", "out.3"}, {"type", "sent"}, {"conv", conv}})};
  { bool aw = co_await s.outbox_done(p, first, two, f); CHECK(aw); }
  auto left = co_await s.outbox_read(p, "", "", 10);
  REQUIRE(left.reply.size() == 1);
  CHECK(nlohmann::json::parse(left.reply[0].text)["msg"]["text"] == "r2");
  CHECK(left.bulk.empty());
  { auto aw = co_await s.results_pending(p, 100); CHECK(aw.size() == results_before + 3); }
  co_await s.lease_release(p, f);
}
STORE_TEST("delivered entries are acknowledged in batches with their send records", done_in_batches)

net::awaitable<void> dead_letters_and_cursors(store& s) {
  const std::string conv = "telegram:" + random_hex();
  const int p = partition_of(conv, s.partitions());
  auto f = co_await lease_of(s, p);
  auto c = first_commit(conv);
  c.outbox = {outbox_msg(conv, "reply", "r1"), outbox_msg(conv, "bulk", "b1"), outbox_msg(conv, "reply", "r2")};
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  auto both_lanes = co_await s.outbox_read(p, "", "", 10);
  auto r = both_lanes.reply;
  REQUIRE(r.size() == 2);
  CHECK(nlohmann::json::parse(r[0].text)["msg"]["text"] == "r1");
  // Reading after a cursor gives only what follows it; lanes are separate.
  const std::string cursor = r[0].id.substr(6);  // "reply:<id>"
  auto after = (co_await s.outbox_read(p, cursor, "", 10)).reply;
  REQUIRE(after.size() == 1);
  CHECK(nlohmann::json::parse(after[0].text)["msg"]["text"] == "r2");
  auto bulk = both_lanes.bulk;
  REQUIRE(bulk.size() == 1);
  CHECK(bulk[0].id.rfind("bulk:", 0) == 0);
  { auto aw = co_await s.outbox_read(p, "", bulk[0].id.substr(5), 10); CHECK(aw.bulk.empty()); CHECK(aw.reply.size() == 2); }
  { auto aw = co_await s.outbox_read(p, "", "", 1); CHECK(aw.bulk.size() == 1); CHECK(aw.reply.size() == 1); }

  const nlohmann::json why{{"conv", conv}, {"reason", "telegram: Bad Request: chat not found"}, {"attempts", 1}};
  co_await s.outbox_dead(p, r[0].id, why, f);
  { auto aw = co_await s.outbox_read(p, "", "", 10); CHECK(aw.reply.size() == 1); }  // moved out of the outbox
  auto dead = co_await s.dead_letters(p, 10, conv);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].data["reason"] == "telegram: Bad Request: chat not found");
  { auto aw = co_await s.dead_letters(p, 10, conv + "-otra"); CHECK(aw.empty()); }
  const nlohmann::json second{{"conv", conv}, {"reason", "segunda ñ"}};
  co_await s.outbox_dead(p, bulk[0].id, second, f);
  auto both = co_await s.dead_letters(p, 10, conv);
  REQUIRE(both.size() == 2);
  CHECK(both[1].data["reason"] == "segunda ñ");  // oldest first
  { auto aw = co_await s.dead_letters(p, 1, conv); REQUIRE(aw.size() == 1); CHECK(aw[0].data["reason"] == "segunda ñ"); }
  bool bad_cursor = false;
  try { co_await s.outbox_read(p, "no-es-un-id", "", 10); } catch (const std::invalid_argument&) { bad_cursor = true; }
  CHECK(bad_cursor);
}
STORE_TEST("dead letters keep the reason and lanes are read after a cursor", dead_letters_and_cursors)

// A claimed timer is held, not removed: it comes back when its claimer died before handing it
// over, and timer_done removes it unless a commit set it again meanwhile.
net::awaitable<void> timer_hold(store& s) {
  const std::string conv = "telegram:" + random_hex();
  const int p = partition_of(conv, s.partitions());
  auto f = co_await lease_of(s, p);
  auto c = first_commit(conv);
  c.timers_set = {timer_effect{"r.a.wait", 100, "wait"}, timer_effect{"r.b.remind", 100, "remind"}};
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  auto first = co_await s.claim_due_timers(p, 1000, 10, f, 5000ms);
  REQUIRE(first.size() == 2);
  CHECK(first[0].held_until_ms == 6000);
  { auto aw = co_await s.claim_due_timers(p, 5999, 10, f, 5000ms); CHECK(aw.empty()); }  // held
  // a: handed over. b: its step set it again (a new due time) before the claimer finished.
  co_await s.timer_done(p, first[0]);
  commit_request c2;
  c2.conversation = conv;
  c2.expected_version = 1;
  c2.next = sample_session();
  const std::string kind = first[1].id.ends_with("wait") ? "wait" : "remind";
  c2.timers_set = {timer_effect{first[1].id, 50'000, kind}};
  { auto aw = co_await s.commit(c2); REQUIRE(aw == commit_outcome::ok); }
  co_await s.timer_done(p, first[1]);  // does not remove the new one
  auto later = co_await s.claim_due_timers(p, 60'000, 10, f, 5000ms);
  REQUIRE(later.size() == 1);
  CHECK(later[0].id == first[1].id);
  CHECK(later[0].due_ms == 50'000);
  // Not handed over: back after the hold.
  auto again = co_await s.claim_due_timers(p, 65'000, 10, f, 5000ms);
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == first[1].id);
}
STORE_TEST("claimed timers are held until handed over", timer_hold)

net::awaitable<void> web_mailbox(store& s) {
  const std::string conv = "web:" + random_hex();
  { auto aw = co_await s.web_read(conv, "", 10); CHECK(aw.empty()); }
  const nlohmann::json m1{{"text", "Hola 👋"}}, m2{{"text", "¿Qué edad mínima…?"}, {"choices", {"14", "15"}}},
      m3{{"text", "¡Correcto! 🎉"}};
  co_await s.web_push(conv, m1);
  co_await s.web_push(conv, m2);
  co_await s.web_push(conv, m3);
  auto all = co_await s.web_read(conv, "", 10);
  REQUIRE(all.size() == 3);
  CHECK(all[0].data["text"] == "Hola 👋");
  CHECK(all[1].data["choices"][1] == "15");
  CHECK(all[2].data["text"] == "¡Correcto! 🎉");
  auto after1 = co_await s.web_read(conv, all[0].id, 10);
  REQUIRE(after1.size() == 2);
  CHECK(after1[0].id == all[1].id);
  { auto aw = co_await s.web_read(conv, all[2].id, 10); CHECK(aw.empty()); }
  { auto aw = co_await s.web_read(conv, "", 2); CHECK(aw.size() == 2); }
  { auto aw = co_await s.web_read(conv + "x", "", 10); CHECK(aw.empty()); }
  bool threw = false;
  try {
    co_await s.web_read(conv, "not-an-id", 10);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);

  // The mailbox is capped (Redis trims approximately: between 200 and 300 remain).
  for (int i = 0; i < 450; ++i) {
    const nlohmann::json m{{"n", i}};
    co_await s.web_push(conv, m);
  }
  auto capped = co_await s.web_read(conv, "", 1000);
  CHECK(capped.size() >= 200);
  CHECK(capped.size() <= 300);
  CHECK(capped.back().data["n"] == 449);
}
STORE_TEST("the web mailbox reads what was pushed after a given id", web_mailbox)

// ---------------------------------------------------------------------------------------------
// Certificates, publications, pins and directory values

// A well-formed code naming partition p: its prefix, then 16 random characters of the
// alphabet, the first two "0" and "1" (so a code typed with O, I or L can be checked).
std::string random_code(int p) {
  static std::mt19937_64 g(std::random_device{}());
  std::string code = code_prefix(p) + "01";
  while (code.size() < 18) code.push_back(code_alphabet[g() % 32]);
  return code;
}

// As a person might type it from paper: lower case, dashes and a space, O for 0 and l for 1.
std::string as_typed(const std::string& code) {
  std::string out;
  for (std::size_t i = 0; i < code.size(); ++i) {
    if (i == 6 || i == 12) out += i == 6 ? "-" : " - ";
    char c = code[i];
    if (i == 2) c = 'o';  // the "0" after the prefix
    else if (i == 3) c = 'l';  // the "1"
    else if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out.push_back(c);
  }
  return out;
}

TEST_CASE("certificate codes: the prefix names the partition and round-trips") {
  CHECK(code_prefix(0) == "00");
  CHECK(code_prefix(10) == "0A");
  CHECK(code_prefix(31) == "0Z");
  CHECK(code_prefix(32) == "10");
  CHECK(code_prefix(63) == "1Z");
  CHECK(code_prefix(64) == "20");
  CHECK(code_prefix(1023) == "ZZ");
  CHECK_THROWS_AS(code_prefix(-1), std::out_of_range);
  CHECK_THROWS_AS(code_prefix(1024), std::out_of_range);
  std::set<std::string> prefixes;
  for (int p = 0; p < 1024; ++p) {
    auto prefix = code_prefix(p);
    REQUIRE(prefix.size() == 2);
    prefixes.insert(prefix);
    auto code = random_code(p);
    INFO(code);
    CHECK(code_partition(code) == p);
    CHECK(code_partition(as_typed(code)) == p);
    CHECK(normalize_code(as_typed(code)) == code);
  }
  CHECK(prefixes.size() == 1024);
  // No letter the alphabet leaves out.
  for (char c : std::string(code_alphabet)) CHECK(std::string("ILOU").find(c) == std::string::npos);
  CHECK(std::string(code_alphabet).size() == 32);
}

TEST_CASE("certificate codes: normalize_code and malformed codes") {
  CHECK(normalize_code("ab12-cd34 ef56") == "AB12CD34EF56");
  CHECK(normalize_code("o0-iIlL") == "001111");
  CHECK(normalize_code("  zz - 9x  ") == "ZZ9X");
  CHECK(normalize_code("") == "");
  CHECK(normalize_code("AB*C").empty());
  CHECK(normalize_code("ABUC").empty());  // U is not in the alphabet
  CHECK(normalize_code("ÁB").empty());
  CHECK(normalize_code("AB_C").empty());
  CHECK(normalize_code("AB\nC").empty());

  const std::string good = "1Z" + std::string("0123456789ABCDEF");
  CHECK(code_partition(good) == 63);
  CHECK(code_partition("1z-0123-4567-89ab-cdef") == 63);
  CHECK(code_partition("oo" + std::string("0123456789ABCDEF")) == 0);   // O read as 0
  CHECK(code_partition("Il" + std::string("0123456789ABCDEF")) == 33);  // I, L read as 1
  CHECK_FALSE(code_partition(""));
  CHECK_FALSE(code_partition(good.substr(0, 17)));  // too short
  CHECK_FALSE(code_partition(good + "0"));          // too long
  CHECK_FALSE(code_partition("1Z0123456789ABCDEU"));  // U
  CHECK_FALSE(code_partition("1Z0123456789ABCDE!"));
  CHECK_FALSE(code_partition("---"));
}

net::awaitable<void> certificates_in_commits(store& s) {
  const std::string conv = "whatsapp:52155" + random_hex();
  const int p = partition_of(conv, s.partitions());
  const auto code = random_code(p);
  const nlohmann::json cert{{"code", code},     {"name", "José Ñúñez 🎓"},
                            {"course", "Trabajo infantil: conceptos ¿qué es?"}, {"hours", 4}};
  { auto aw = co_await s.certificate(code); CHECK_FALSE(aw); }

  auto c = first_commit(conv);
  c.provider_id = "wamid.CERT1";
  c.certificates.emplace_back(code, cert);
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  { auto aw = co_await s.certificate(code); REQUIRE(aw); CHECK(*aw == cert); }
  {
    auto aw = co_await s.certificate(as_typed(code));  // lower case, dashes, O and l
    REQUIRE(aw);
    CHECK((*aw)["name"] == "José Ñúñez 🎓");
  }
  // Unknown, malformed, or naming a partition the store does not have: none.
  { auto aw = co_await s.certificate(random_code(p)); CHECK_FALSE(aw); }
  { auto aw = co_await s.certificate(code.substr(0, 17)); CHECK_FALSE(aw); }
  { auto aw = co_await s.certificate("no es un código"); CHECK_FALSE(aw); }
  { auto aw = co_await s.certificate("ZZ" + code.substr(2)); CHECK_FALSE(aw); }  // partition 1023 of 64
  { auto aw = co_await s.certificate(""); CHECK_FALSE(aw); }

  // Never overwritten: a later commit issuing the same code keeps the first certificate, and
  // writes the new one beside it.
  commit_request c2;
  c2.conversation = conv;
  c2.expected_version = 1;
  c2.next = sample_session();
  const auto code2 = random_code(p);
  const nlohmann::json second{{"name", "otra persona"}}, third{{"name", "tercera"}};
  c2.certificates = {{as_typed(code), second}, {code2, third}};
  { auto aw = co_await s.commit(c2); REQUIRE(aw == commit_outcome::ok); }
  { auto aw = co_await s.certificate(code); REQUIRE(aw); CHECK(*aw == cert); }
  { auto aw = co_await s.certificate(code2); REQUIRE(aw); CHECK(*aw == third); }

  // A commit that conflicts, or repeats a provider id, writes no certificate.
  const auto lost = random_code(p), dup = random_code(p);
  commit_request stale;
  stale.conversation = conv;
  stale.expected_version = 1;  // the session is at 2
  stale.next = sample_session();
  stale.certificates = {{lost, nlohmann::json{{"name", "perdido"}}}};
  { auto aw = co_await s.commit(stale); REQUIRE(aw == commit_outcome::conflict); }
  { auto aw = co_await s.certificate(lost); CHECK_FALSE(aw); }
  commit_request again;
  again.conversation = conv;
  again.expected_version = 2;
  again.provider_id = "wamid.CERT1";
  again.next = sample_session();
  again.certificates = {{dup, nlohmann::json{{"name", "duplicado"}}}};
  { auto aw = co_await s.commit(again); REQUIRE(aw == commit_outcome::duplicate); }
  { auto aw = co_await s.certificate(dup); CHECK_FALSE(aw); }

  // A malformed code, or one naming another partition, is refused before anything is written.
  commit_request bad;
  bad.conversation = conv;
  bad.expected_version = 2;
  bad.next = sample_session();
  bad.outbox.push_back(outbox_msg(conv, "reply", "no"));
  for (const auto& wrong : {std::string("ABC"), random_code((p + 1) % s.partitions()), std::string("U") + code.substr(1)}) {
    bad.certificates = {{code2, third}, {wrong, nlohmann::json{{"name", "x"}}}};
    bool refused = false;
    try {
      co_await s.commit(bad);
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    INFO(wrong);
    CHECK(refused);
  }
  { auto aw = co_await s.load(conv); CHECK(aw.s.version == 2); }
  { auto aw = co_await s.outbox_pending(p, 10); CHECK(aw.empty()); }
}
STORE_TEST("certificates are written by the commit, never overwritten, and found by code", certificates_in_commits)

net::awaitable<void> conversations_of_partitions(store& s) {
  const std::string tag = random_hex();
  std::map<int, std::set<std::string>> want;
  // Ids with glob characters, "s:" and '|' inside: listed as they are.
  std::vector<std::string> convs{"web:a*b?[c]\\-" + tag, "web:s:x-" + tag, "telegram:1|2-" + tag};
  for (int i = 0; i < 30; ++i) convs.push_back("whatsapp:52155" + std::to_string(1000 + i) + "-" + tag);
  for (const auto& conv : convs) {
    auto c = first_commit(conv);
    c.outbox.push_back(outbox_msg(conv, "reply", "hola"));
    { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
    want[partition_of(conv, s.partitions())].insert(conv);
  }
  // Keys of the same partitions that are not sessions are not conversations.
  for (const auto& [p, _] : want) {
    const nlohmann::json m{{"text", "x"}};
    co_await s.web_push("web:mailbox-only-" + tag, m);
    co_await s.once(p, "s:not-a-session", 60s);
  }
  for (int p = 0; p < s.partitions(); ++p) {
    auto got = co_await s.conversations(p);
    INFO("partition " << p);
    std::set<std::string> mine;
    for (const auto& conv : got)
      if (conv.find(tag) != std::string::npos) mine.insert(conv);
    CHECK(mine.size() == got.size());  // this store holds only this test's keys
    CHECK(got.size() == mine.size());
    CHECK(std::set<std::string>(got.begin(), got.end()).size() == got.size());  // each once
    if (auto it = want.find(p); it != want.end())
      CHECK(mine == it->second);
    else
      CHECK(mine.empty());
  }
  bool threw = false;
  try {
    co_await s.conversations(s.partitions());
  } catch (const std::out_of_range&) {
    threw = true;
  }
  CHECK(threw);
}
STORE_TEST("conversations lists exactly the sessions of a partition", conversations_of_partitions)

net::awaitable<void> publishing(store& s) {
  {
    auto aw = co_await s.current_publication();
    CHECK(aw.version == 0);
    CHECK(aw.hash.empty());
  }
  { auto aw = co_await s.publications(10); CHECK(aw.empty()); }
  { auto aw = co_await s.publication_bundle(1); CHECK_FALSE(aw); }

  const nlohmann::json files1{{"modulo-1.yaml", "message: \"¿Qué es el trabajo infantil? á ñ 😀\"\n"},
                              {"course.yaml", "name: {es: \"Inspección\"}\n"}};
  const std::string bundle1 = files1.dump(), bundle2 = nlohmann::json{{"modulo-1.yaml", "v2 ¿ñ? 😀"}}.dump();
  const std::string h1 = "a1b2", h2 = "c3d4", h3 = "e5f6";
  auto v1 = co_await s.publish(h1, bundle1, "start", 1000);
  CHECK(v1.version == 1);
  CHECK(v1.created);
  CHECK(v1.hash == h1);
  CHECK(v1.at_ms == 1000);
  CHECK(v1.note == "start");

  // The same hash again: the current version as it was published.
  auto same = co_await s.publish(h1, bundle2, "SIGHUP", 2000);
  CHECK(same.version == 1);
  CHECK_FALSE(same.created);
  CHECK(same.hash == h1);
  CHECK(same.at_ms == 1000);
  CHECK(same.note == "start");
  { auto aw = co_await s.publication_bundle(1); REQUIRE(aw); CHECK(*aw == bundle1); }

  {
    auto cur = co_await s.current_publication();
    CHECK(cur.version == 1);
    CHECK(cur.hash == h1);
    CHECK(cur.at_ms == 1000);
    CHECK(cur.note == "start");
  }

  auto v2 = co_await s.publish(h2, bundle2, "admin API: ana ñ", 3000);
  CHECK(v2.version == 2);
  CHECK(v2.created);
  {
    auto cur = co_await s.current_publication();
    CHECK(cur.version == 2);
    CHECK(cur.hash == h2);
    CHECK(cur.at_ms == 3000);
    CHECK(cur.note == "admin API: ana ñ");
  }
  // Going back to an earlier bundle is a new version: only the current one is compared.
  auto v3 = co_await s.publish(h1, bundle1, "rollback", 4000);
  CHECK(v3.version == 3);
  CHECK(v3.created);
  { auto aw = co_await s.current_publication(); CHECK(aw.version == 3); CHECK(aw.hash == h1); }

  auto all = co_await s.publications(10);
  REQUIRE(all.size() == 3);
  CHECK(all[0].version == 3);
  CHECK(all[0].hash == h1);
  CHECK(all[0].note == "rollback");
  CHECK(all[1].version == 2);
  CHECK(all[1].hash == h2);
  CHECK(all[1].at_ms == 3000);
  CHECK(all[2].version == 1);
  CHECK(all[2].note == "start");
  { auto aw = co_await s.publications(2); REQUIRE(aw.size() == 2); CHECK(aw[0].version == 3); CHECK(aw[1].version == 2); }
  { auto aw = co_await s.publications(0); CHECK(aw.empty()); }

  // Bundles come back byte for byte (UTF-8 and all).
  {
    auto b = co_await s.publication_bundle(1);
    REQUIRE(b);
    CHECK(*b == bundle1);
    auto j = nlohmann::json::parse(*b);
    CHECK(j["modulo-1.yaml"] == "message: \"¿Qué es el trabajo infantil? á ñ 😀\"\n");
  }
  { auto aw = co_await s.publication_bundle(2); REQUIRE(aw); CHECK(*aw == bundle2); }
  { auto aw = co_await s.publication_bundle(4); CHECK_FALSE(aw); }
  { auto aw = co_await s.publication_bundle(0); CHECK_FALSE(aw); }
  { auto aw = co_await s.publication_bundle(-1); CHECK_FALSE(aw); }

  // Two instances publishing the same new bundle at once make one version.
  const std::string note_a = "instance a", note_b = "instance b";
  auto [a, b] = co_await (s.publish(h3, bundle2, note_a, 5000) && s.publish(h3, bundle2, note_b, 5001));
  CHECK(a.version == 4);
  CHECK(b.version == 4);
  CHECK(a.created != b.created);
  CHECK(a.at_ms == b.at_ms);
  { auto aw = co_await s.publications(10); CHECK(aw.size() == 4); }

  bool threw = false;
  try {
    co_await s.publish("", bundle1, "x", 1);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  { auto aw = co_await s.current_publication(); CHECK(aw.version == 4); }
}
STORE_TEST("publish makes a new version only for a new hash and lists them newest first", publishing)

net::awaitable<void> pins(store& s) {
  { auto aw = co_await s.pins(); CHECK(aw.empty()); }
  co_await s.pin("cohorte-2025-a", 2);
  co_await s.pin("comisión-michoacán", 1);
  {
    auto aw = co_await s.pins();
    CHECK(aw == std::map<std::string, int>{{"cohorte-2025-a", 2}, {"comisión-michoacán", 1}});
  }
  co_await s.pin("cohorte-2025-a", 3);  // moved
  co_await s.pin("comisión-michoacán", 0);  // unpinned
  co_await s.pin("nunca-fijada", 0);  // nothing to unpin
  { auto aw = co_await s.pins(); CHECK(aw == std::map<std::string, int>{{"cohorte-2025-a", 3}}); }
  bool threw = false;
  try {
    co_await s.pin("x", -1);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  { auto aw = co_await s.pins(); CHECK(aw.size() == 1); }
}
STORE_TEST("cohorts are pinned and unpinned", pins)

net::awaitable<void> directory_values(store& s) {
  const std::string key = "preview:" + random_hex(), other = "preview:" + random_hex();
  { auto aw = co_await s.dir_get(key); CHECK_FALSE(aw); }
  co_await s.dir_set(key, "borrador á ñ ¿ 😀", 0ms);
  { auto aw = co_await s.dir_get(key); REQUIRE(aw); CHECK(*aw == "borrador á ñ ¿ 😀"); }
  co_await s.dir_set(key, "", 0ms);  // an empty value is a value
  { auto aw = co_await s.dir_get(key); REQUIRE(aw); CHECK(aw->empty()); }
  { auto aw = co_await s.dir_get(other); CHECK_FALSE(aw); }

  // With a ttl the value expires; set again without one, it stays.
  co_await s.dir_set(key, "efímero", 250ms);
  co_await s.dir_set(other, "efímero", 250ms);
  co_await s.dir_set(other, "permanente", 0ms);
  { auto aw = co_await s.dir_get(key); REQUIRE(aw); CHECK(*aw == "efímero"); }
  co_await sleep_for(500ms);
  { auto aw = co_await s.dir_get(key); CHECK_FALSE(aw); }
  { auto aw = co_await s.dir_get(other); REQUIRE(aw); CHECK(*aw == "permanente"); }
}
STORE_TEST("directory values are set, read and expire", directory_values)

net::awaitable<void> directory_values_many(store& s) {
  // More keys than one Redis round trip takes (256), every third one missing, in order.
  const std::string tag = random_hex();
  std::vector<std::string> keys;
  for (int i = 0; i < 600; ++i) {
    keys.push_back("learner:" + tag + ":" + std::to_string(i));
    if (i % 3 != 0) co_await s.dir_set(keys.back(), "{\"name\":\"Águeda ñ ¿ 😀 " + std::to_string(i) + "\"}", 0ms);
  }
  const auto got = co_await s.dir_get_many(keys);
  REQUIRE(got.size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto one = co_await s.dir_get(keys[i]);
    CHECK(got[i] == one);
    CHECK(got[i].has_value() == (i % 3 != 0));
  }
  { auto aw = co_await s.dir_get_many({}); CHECK(aw.empty()); }
}
STORE_TEST("directory values are read many at a time, in order", directory_values_many)

net::awaitable<void> directory_sets_keys_and_audit(store& s) {
  const std::string tag = random_hex();
  const std::string cohort = "cohort:" + tag;
  { auto aw = co_await s.dir_set_members(cohort); CHECK(aw.empty()); }
  { auto aw = co_await s.dir_set_add(cohort, "whatsapp:+525512345678"); CHECK(aw); }
  { auto aw = co_await s.dir_set_add(cohort, "telegram:42"); CHECK(aw); }
  { auto aw = co_await s.dir_set_add(cohort, "telegram:42"); CHECK_FALSE(aw); }  // already there
  {
    auto aw = co_await s.dir_set_members(cohort);
    CHECK(aw == std::vector<std::string>{"telegram:42", "whatsapp:+525512345678"});
  }
  co_await s.dir_set_remove(cohort, "telegram:42");
  { auto aw = co_await s.dir_set_members(cohort); CHECK(aw == std::vector<std::string>{"whatsapp:+525512345678"}); }
  // Keys by prefix: values and sets, not other prefixes; a key with glob characters is literal.
  co_await s.dir_set("learner:" + tag + ":a", "{}", 0ms);
  co_await s.dir_set("learner:" + tag + ":b*?", "{}", 0ms);
  co_await s.dir_set("learners:" + tag, "{}", 0ms);
  {
    auto aw = co_await s.dir_keys("learner:" + tag + ":");
    CHECK(aw == std::vector<std::string>{"learner:" + tag + ":a", "learner:" + tag + ":b*?"});
  }
  { auto aw = co_await s.dir_keys(cohort); CHECK(aw == std::vector<std::string>{cohort}); }
  co_await s.dir_del("learner:" + tag + ":a");
  { auto aw = co_await s.dir_get("learner:" + tag + ":a"); CHECK_FALSE(aw); }
  { auto aw = co_await s.dir_keys("learner:" + tag + ":"); CHECK(aw.size() == 1); }
  // The audit log: appended in order, read newest `max`, oldest first; UTF-8 kept.
  for (int i = 0; i < 5; ++i) {
    nlohmann::json entry;
    entry["i"] = i;
    entry["who"] = "Ana Núñez " + tag;
    co_await s.audit_append(entry);
  }
  auto last3 = co_await s.audit_read(3);
  REQUIRE(last3.size() == 3);
  CHECK(last3[0]["i"] == 2);
  CHECK(last3[2]["i"] == 4);
  CHECK(last3[2]["who"] == "Ana Núñez " + tag);
}
STORE_TEST("directory sets, keys by prefix and the audit log", directory_sets_keys_and_audit)

TEST_CASE("memory store: ping answers") {
  with_memory([](store& s) -> net::awaitable<void> { { auto aw = co_await s.ping(); CHECK(aw); } });
}

// ---------------------------------------------------------------------------------------------
// Redis only

TEST_CASE("redis store: keys carry the partition hash tag") {
  auto opts = test_options();
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto s = co_await make_redis_store(ex, opts);
    { auto aw = co_await s->ping(); CHECK(aw); }
    std::vector<std::string> convs;
    for (int i = 0; i < 6; ++i) {
      auto conv = "whatsapp:52155" + std::to_string(1000 + i);
      convs.push_back(conv);
      auto c = first_commit(conv);
      c.outbox = {outbox_msg(conv, "reply", "r"), outbox_msg(conv, "bulk", "b")};
      c.timers_set = {timer_effect{"r.n.remind", 5, "remind"}};
      c.results = {json_text::write(nlohmann::json{{"id", "r.1"}, {"conv", conv}})};
      { auto aw = co_await s->commit(c); REQUIRE(aw == commit_outcome::ok); }
      const nlohmann::json hola{{"text", "hola"}};
      co_await s->web_push(conv, hola);
    }

    auto raw = co_await connected_client(ex, opts.url);
    std::set<std::string> keys;
    std::string cursor = "0";
    do {
      auto r = co_await raw->exec(redis_cmd("SCAN", cursor, "MATCH", opts.key_prefix + ":*", "COUNT", "1000"));
      REQUIRE(r.is_array());
      cursor = r.elements[0].str;
      for (const auto& k : r.elements[1].elements) keys.insert(k.str);
    } while (cursor != "0");

    store_keys names{opts.key_prefix};
    const std::regex tagged("^" + opts.key_prefix +
                            R"(:\{p(\d+)\}:(s:.+|outbox:reply|outbox:bulk|timers|results|w:.+)$)");
    std::set<std::string> kinds;
    for (const auto& k : keys) {
      if (k == names.partitions()) continue;
      std::smatch m;
      INFO(k);
      REQUIRE(std::regex_match(k, m, tagged));
      auto kind = m[2].str();
      if (kind.rfind("s:", 0) == 0 || kind.rfind("w:", 0) == 0) kind = kind.substr(0, 1);
      kinds.insert(kind);
    }
    CHECK(kinds == std::set<std::string>{"s", "outbox:reply", "outbox:bulk", "timers", "results", "w"});
    for (const auto& conv : convs) {
      int p = partition_of(conv, 64);
      CHECK(keys.count(names.session(p, conv)));
      CHECK(keys.count(names.web(p, conv)));
      CHECK(keys.count(names.outbox(p, "reply")));
      CHECK(keys.count(names.outbox(p, "bulk")));
      CHECK(keys.count(names.timers(p)));
      CHECK(keys.count(names.results(p)));
      CHECK(names.session(p, conv) == opts.key_prefix + ":{p" + std::to_string(p) + "}:s:" + conv);
      { auto aw = co_await raw->exec(redis_cmd("TYPE", names.session(p, conv))); CHECK(aw.str == "hash"); }
      { auto aw = co_await raw->exec(redis_cmd("TYPE", names.outbox(p, "reply"))); CHECK(aw.str == "stream"); }
      { auto aw = co_await raw->exec(redis_cmd("TYPE", names.timers(p))); CHECK(aw.str == "zset"); }
      { auto aw = co_await raw->exec(redis_cmd("TYPE", names.results(p))); CHECK(aw.str == "stream"); }
      { auto aw = co_await raw->exec(redis_cmd("ZSCORE", names.timers(p), conv + "|r.n.remind")); CHECK(aw.str == "5"); }
      auto ttl = co_await raw->exec(redis_cmd("PTTL", names.web(p, conv)));
      CHECK(ttl.integer > 0);
      auto fields = co_await raw->exec(redis_cmd("HMGET", names.session(p, conv), "v", "ids"));
      CHECK(fields.elements.at(0).str == "1");
    }
    { auto aw = co_await raw->exec(redis_cmd("GET", names.partitions())); CHECK(aw.str == "64"); }
    CHECK(store_keys{}.session(7, "telegram:42") == "aula:{p7}:s:telegram:42");
    CHECK(store_keys{}.outbox(7, "reply") == "aula:{p7}:outbox:reply");
    CHECK(store_keys{}.timers(7) == "aula:{p7}:timers");
    CHECK(store_keys{}.results(7) == "aula:{p7}:results");
    CHECK(store_keys{}.web(7, "web:x") == "aula:{p7}:w:web:x");
    CHECK(store_keys{}.partitions() == "aula:meta:partitions");
  });
}

TEST_CASE("redis store: certificates, publications, pins and directory values keep the documented keys") {
  auto opts = test_options();
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto s = co_await make_redis_store(ex, opts);
    auto raw = co_await connected_client(ex, opts.url);
    store_keys names{opts.key_prefix};

    const std::string conv = "telegram:" + random_hex();
    const int p = partition_of(conv, 64);
    const auto code = random_code(p);
    auto c = first_commit(conv);
    const nlohmann::json cert{{"name", "Ana"}};
    c.certificates = {{as_typed(code), cert}};
    { auto aw = co_await s->commit(c); REQUIRE(aw == commit_outcome::ok); }
    CHECK(names.cert(p, code) == opts.key_prefix + ":{p" + std::to_string(p) + "}:cert:" + code);
    { auto aw = co_await raw->exec(redis_cmd("GET", names.cert(p, code))); CHECK(nlohmann::json::parse(aw.str) == cert); }
    { auto aw = co_await raw->exec(redis_cmd("PTTL", names.cert(p, code))); CHECK(aw.integer == -1); }  // kept

    const std::string h1 = "h1", h2 = "h2", h3 = "h3", b = "{}", n = "n";
    co_await s->publish(h1, b, n, 10);
    co_await s->publish(h2, b, n, 20);
    co_await s->publish(h3, b, n, 30);
    CHECK(names.pub("current") == opts.key_prefix + ":{pub}:current");
    { auto aw = co_await raw->exec(redis_cmd("GET", names.pub("current"))); CHECK(aw.str == "3|h3"); }
    { auto aw = co_await raw->exec(redis_cmd("GET", names.pub("seq"))); CHECK(aw.str == "3"); }
    { auto aw = co_await raw->exec(redis_cmd("TYPE", names.pub("v:2"))); CHECK(aw.str == "hash"); }
    { auto aw = co_await raw->exec(redis_cmd("HGET", names.pub("v:2"), "hash")); CHECK(aw.str == "h2"); }
    { auto aw = co_await raw->exec(redis_cmd("HGET", names.pub("v:2"), "at")); CHECK(aw.str == "20"); }
    // Every key of a publication hashes to one slot.
    auto slot = [&](const std::string& k) -> net::awaitable<std::int64_t> {
      co_return (co_await raw->exec(redis_cmd("CLUSTER", "KEYSLOT", k))).integer;
    };
    {
      auto a = co_await slot(names.pub("current"));
      auto b2 = co_await slot(names.pub("seq"));
      auto c2 = co_await slot(names.pub("v:3"));
      CHECK(a == b2);
      CHECK(a == c2);
    }
    // A version that was removed is skipped when listing.
    co_await raw->exec(redis_cmd("DEL", names.pub("v:2")));
    {
      auto aw = co_await s->publications(10);
      REQUIRE(aw.size() == 2);
      CHECK(aw[0].version == 3);
      CHECK(aw[1].version == 1);
    }
    { auto aw = co_await s->publications(1); REQUIRE(aw.size() == 1); CHECK(aw[0].version == 3); }

    co_await s->pin("cohorte", 2);
    { auto aw = co_await raw->exec(redis_cmd("HGET", names.pub("pins"), "cohorte")); CHECK(aw.str == "2"); }

    co_await s->dir_set("preview:ana", "x", 60s);
    CHECK(names.dir("preview:ana") == opts.key_prefix + ":dir:preview:ana");
    {
      auto aw = co_await raw->exec(redis_cmd("PTTL", names.dir("preview:ana")));
      CHECK(aw.integer > 50'000);
      CHECK(aw.integer <= 60'000);
    }
    co_await s->dir_set("preview:ana", "y", 0ms);
    { auto aw = co_await raw->exec(redis_cmd("PTTL", names.dir("preview:ana"))); CHECK(aw.integer == -1); }
  });
}

TEST_CASE("redis store: conversations are found under a key prefix holding glob characters") {
  // Unescaped, the first prefix's MATCH pattern would also match the second prefix's keys.
  const auto hex = random_hex();
  auto globby = test_options();
  globby.key_prefix = "aulatest?[" + hex + "]*\\";
  auto plain = test_options();
  plain.key_prefix = "aulatestQ" + hex.substr(0, 1) + "-x\\";
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto a = co_await make_redis_store(ex, globby);
    auto b = co_await make_redis_store(ex, plain);
    const std::string mine = "web:mine-" + hex;
    const int p = partition_of(mine, 64);
    { auto aw = co_await a->commit(first_commit(mine)); REQUIRE(aw == commit_outcome::ok); }
    // The other store: conversations of the same partition.
    std::set<std::string> theirs;
    for (int i = 0; theirs.size() < 3; ++i) {
      auto conv = "web:theirs-" + std::to_string(i) + "-" + hex;
      if (partition_of(conv, 64) != p) continue;
      { auto aw = co_await b->commit(first_commit(conv)); REQUIRE(aw == commit_outcome::ok); }
      theirs.insert(conv);
    }
    { auto aw = co_await a->conversations(p); CHECK(aw == std::vector<std::string>{mine}); }
    {
      auto aw = co_await b->conversations(p);
      CHECK(std::set<std::string>(aw.begin(), aw.end()) == theirs);
    }
    // Its certificates and publications work as well.
    const auto code = random_code(p);
    auto c = first_commit(mine);
    c.expected_version = 1;
    c.certificates = {{code, nlohmann::json{{"ok", true}}}};
    { auto aw = co_await a->commit(c); REQUIRE(aw == commit_outcome::ok); }
    { auto aw = co_await a->certificate(code); REQUIRE(aw); CHECK((*aw)["ok"] == true); }
    { auto aw = co_await b->certificate(code); CHECK_FALSE(aw); }
  });
}

// What `op` was refused with (store_unavailable's message), or "" when it went through.
net::awaitable<std::string> refusal_of(const std::function<net::awaitable<void>()>& op) {
  std::string why;
  try {
    co_await op();
  } catch (const store_unavailable& e) {
    why = e.what();
  }
  co_return why;
}

// Checks that `op` was refused with a message containing `what`.
net::awaitable<void> check_refused(const std::function<net::awaitable<void>()>& op, const std::string& what) {
  const std::string why = co_await refusal_of(op);
  INFO("refused with: " << why << "; expected: " << what);
  CHECK(why.find(what) != std::string::npos);
}

TEST_CASE("redis store: with wait_replicas and no replica, a commit is refused and its outbox entries are not given to send") {
  // The test Redis has no replica: WAIT 1 answers 0. The commit is written on the master but
  // answered store_unavailable (the webhook's 503); its entries stay in the outbox, and the
  // sender's read must not hand them out (a failover could lose them and the provider's retry
  // would make them again: sent twice). Once WAIT is off, the same read finds them.
  auto opts = test_options();
  opts.wait_replicas = 1;
  opts.wait_timeout = 50ms;
  auto plain = opts;
  plain.wait_replicas = 0;
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto s = co_await make_redis_store(ex, opts);
    const std::string conv = "telegram:4242";
    const int p = partition_of(conv, opts.partitions);
    // An empty outbox is read without waiting (nothing to send, nothing to confirm).
    { auto aw = co_await s->outbox_read(p, "", "", 10); CHECK(aw.reply.empty()); }
    auto c = first_commit(conv);
    c.provider_id = "u-4242-1";  // the provider's update id: its retry is a duplicate
    c.outbox = {outbox_msg(conv, "reply", "¿Listo? ¡Empecemos! 🎓")};
    // Each refused with store_unavailable (the webhook's 503, the sender's "try again"):
    const std::function<net::awaitable<void>()> commit_it = [&]() -> net::awaitable<void> {
      co_await s->commit(c);
    };
    const std::function<net::awaitable<void>()> read_it = [&]() -> net::awaitable<void> {
      co_await s->outbox_read(p, "", "", 10);
    };
    co_await check_refused(commit_it, "commit written on the master but acknowledged by 0 of 1");
    // The provider's retry finds the step on the master (a duplicate): still not confirmed
    // anywhere else, so still refused — a 200 now could be lost with the master.
    co_await check_refused(commit_it, "retried step found on the master but acknowledged by 0 of 1");
    co_await check_refused(read_it, "outbox entries read on the master but acknowledged by 0 of 1");
    auto t = co_await make_redis_store(ex, plain);
    auto batch = co_await t->outbox_read(p, "", "", 10);
    REQUIRE(batch.reply.size() == 1);
    CHECK(nlohmann::json::parse(batch.reply[0].text)["msg"]["text"] == "¿Listo? ¡Empecemos! 🎓");
  });
}

TEST_CASE("redis store: with wait_replicas, a step another instance wrote is confirmed only once a replica has it") {
  // Two instances (two stores, their own connections) on a master with one replica. WAIT counts
  // what replicas acknowledged of the writes before the waiting connection's last write; the
  // instance that reads the step's outbox entries, or finds the step (the provider's retry, a
  // duplicate), may have written nothing since, so its WAIT would confirm at once a step only
  // the master has. It writes a mark first. (Redis 7.0 also counts the duplicate check's
  // read-only script as a write for WAIT; the documentation promises that for writes only.)
  private_redis master;
  private_redis replica(false, master.port);
  for (int i = 0; i < 200 && !replica.replication_has("master_link_status:up"); ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(replica.replication_has("master_link_status:up"));
  REQUIRE(master.replication_has("connected_slaves:1"));
  auto opts = test_options();
  opts.url = master.url();
  opts.wait_replicas = 1;
  opts.wait_timeout = 100ms;
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto a = co_await make_redis_store(ex, opts);
    auto b = co_await make_redis_store(ex, opts);
    const std::string conv = "whatsapp:5215512345678";
    const int p = partition_of(conv, opts.partitions);
    auto c = first_commit(conv);
    c.provider_id = "wamid.ÁÉÍ-1";
    c.outbox = {outbox_msg(conv, "reply", "¿Qué edad mínima fija la ley? 👷")};
    const std::function<net::awaitable<void>()> a_commits = [&]() -> net::awaitable<void> { co_await a->commit(c); };
    const std::function<net::awaitable<void>()> b_commits = [&]() -> net::awaitable<void> { co_await b->commit(c); };
    const std::function<net::awaitable<void>()> b_reads = [&]() -> net::awaitable<void> {
      co_await b->outbox_read(p, "", "", 10);
    };
    // The replica stops acknowledging (frozen: still connected, so WAIT counts it when it is
    // behind nothing the waiting connection wrote), once it has all the stores wrote so far.
    for (int i = 0; i < 100 && !master.replica_caught_up(); ++i) std::this_thread::sleep_for(50ms);
    REQUIRE(master.replica_caught_up());
    REQUIRE(sh("kill -STOP " + replica.pid()) == 0);
    co_await check_refused(a_commits, "commit written on the master but acknowledged by 0 of 1");
    // The other instance's sender finds the entry (its connections wrote nothing since it
    // started), then the provider's retry reaches it: the step is on the master only.
    co_await check_refused(b_reads, "outbox entries read on the master but acknowledged by 0 of 1");
    co_await check_refused(b_commits, "retried step found on the master but acknowledged by 0 of 1");
    // Once the replica catches up, the retry is answered (a duplicate) and the entry handed out.
    REQUIRE(sh("kill -CONT " + replica.pid()) == 0);
    const auto again = co_await b->commit(c);
    CHECK(again == commit_outcome::duplicate);
    auto batch = co_await b->outbox_read(p, "", "", 10);
    REQUIRE(batch.reply.size() == 1);
    CHECK(nlohmann::json::parse(batch.reply[0].text)["msg"]["text"] == "¿Qué edad mínima fija la ley? 👷");
  });
}

TEST_CASE("redis store: another partition count is refused") {
  auto opts = test_options();
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    { auto first = co_await make_redis_store(ex, opts); }
    auto other = opts;
    other.partitions = 32;
    std::string message;
    try {
      auto s = co_await make_redis_store(ex, other);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    INFO(message);
    CHECK(message.find("64 partitions") != std::string::npos);
    CHECK(message.find("32") != std::string::npos);
    auto again = co_await make_redis_store(ex, opts);  // the stored count is fine
    CHECK(again->partitions() == 64);
  });
}

TEST_CASE("redis store: startup fails clearly when Redis cannot be reached or the URL is bad") {
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    redis_store_options o;
    o.url = "redis://127.0.0.1:" + std::to_string(free_port()) + "/0";
    o.connect_timeout = 300ms;
    auto t0 = std::chrono::steady_clock::now();
    std::string message;
    try {
      auto s = co_await make_redis_store(ex, o);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    INFO(message);
    CHECK(message.find("cannot connect to Redis at redis://127.0.0.1:") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);

    o.url = "http://127.0.0.1:6379";
    message.clear();
    try {
      auto s = co_await make_redis_store(ex, o);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    CHECK(message.find("redis://") != std::string::npos);
  });
}

TEST_CASE("redis store: a session written before the id count keeps its last 64 ids") {
  auto opts = test_options();
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto s = co_await make_redis_store(ex, opts);
    auto raw = co_await connected_client(ex, opts.url);
    const std::string conv = "telegram:" + random_hex();
    store_keys names{opts.key_prefix};
    const auto key = names.session(partition_of(conv, 64), conv);
    // As an earlier release left it: 'ids' alone, 64 of them, no 'idn'.
    std::string ids;
    for (int i = 1; i <= 64; ++i) ids += (i > 1 ? "\n" : "") + std::string("u") + std::to_string(i);
    { auto aw = co_await raw->exec(redis_cmd("HSET", key, "v", "3", "d", sample_session().dump(), "ids", ids)); CHECK(aw.integer == 3); }
    auto commit_id = [&](std::int64_t v, std::string id) -> net::awaitable<commit_outcome> {
      commit_request c;
      c.conversation = conv;
      c.expected_version = v;
      c.provider_id = std::move(id);
      c.next = sample_session();
      co_return co_await s->commit(c);
    };
    { auto aw = co_await commit_id(3, "u64"); CHECK(aw == commit_outcome::duplicate); }
    { auto aw = co_await commit_id(3, "u1"); CHECK(aw == commit_outcome::duplicate); }
    { auto aw = co_await commit_id(3, "u65"); REQUIRE(aw == commit_outcome::ok); }
    auto l = co_await s->provider_ids(conv);
    REQUIRE(l.size() == provider_ids_kept);
    CHECK(l.front() == "u2");
    CHECK(l.back() == "u65");
    { auto aw = co_await raw->exec(redis_cmd("HGET", key, "idn")); CHECK(aw.str == "64"); }
    { auto aw = co_await commit_id(4, "u1"); CHECK(aw == commit_outcome::ok); }   // forgotten: accepted again
    { auto aw = co_await commit_id(5, "u2"); CHECK(aw == commit_outcome::ok); }   // pushed out by u1
    { auto aw = co_await commit_id(6, "u3"); CHECK(aw == commit_outcome::ok); }
    { auto aw = co_await commit_id(7, "u5"); CHECK(aw == commit_outcome::duplicate); }
    // A step without a provider id (a timer's) keeps the ids as they are.
    { auto aw = co_await commit_id(7, ""); CHECK(aw == commit_outcome::ok); }
    l = co_await s->provider_ids(conv);
    REQUIRE(l.size() == provider_ids_kept);
    CHECK(l.front() == "u5");
    CHECK(l.back() == "u3");
    { auto aw = co_await raw->exec(redis_cmd("HGET", key, "idn")); CHECK(aw.str == "64"); }
    // An id that is a part of a kept one is not a duplicate of it.
    { auto aw = co_await commit_id(8, "u6"); CHECK(aw == commit_outcome::duplicate); }
    { auto aw = co_await commit_id(8, "u"); CHECK(aw == commit_outcome::ok); }
    { auto aw = co_await commit_id(9, "6"); CHECK(aw == commit_outcome::ok); }
  });
}

TEST_CASE("redis store: a lost script cache is handled transparently") {
  auto opts = test_options();
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto s = co_await make_redis_store(ex, opts);
    auto raw = co_await connected_client(ex, opts.url);
    // What a Redis restart does to the script cache. EVALSHA answers NOSCRIPT; the store
    // must not turn that into an error.
    { auto aw = co_await raw->exec(redis_cmd("SCRIPT", "FLUSH")); CHECK(aw.str == "OK"); }
    const std::string conv = "web:" + random_hex();
    auto c = first_commit(conv);
    c.timers_set = {timer_effect{"r.n.wait", 10, "wait"}};
    { auto aw = co_await s->commit(c); REQUIRE(aw == commit_outcome::ok); }
    { auto aw = co_await raw->exec(redis_cmd("SCRIPT", "FLUSH")); CHECK(aw.str == "OK"); }
    auto due = co_await claim(*s, partition_of(conv, 64), 100, 10);
    REQUIRE(due.size() == 1);
    CHECK(due[0].id == "r.n.wait");
    c.expected_version = 1;
    { auto aw = co_await s->commit(c); CHECK(aw == commit_outcome::ok); }
  });
}

TEST_CASE("redis store: unavailable while Redis is down or frozen, and back by itself") {
  private_redis server;
  redis_store_options opts;
  opts.url = server.url();
  opts.key_prefix = "aula";
  opts.command_timeout = 500ms;
  opts.connect_timeout = 500ms;
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto s = co_await make_redis_store(ex, opts);
    const std::string conv = "telegram:777";
    { auto aw = co_await s->commit(first_commit(conv)); REQUIRE(aw == commit_outcome::ok); }

    // A command pending when the connection breaks fails at once.
    redis_client_options rc;
    rc.url = server.url();
    rc.command_timeout = 20s;
    redis_client raw(ex, rc);
    raw.start();
    { auto aw = co_await raw.wait_connected(2000ms); REQUIRE(aw); }
    // Shared with the detached coroutine, which may outlive this frame if a check fails.
    auto blpop_result = std::make_shared<std::optional<boost::system::error_code>>();
    auto blpop = raw.exec(redis_cmd("BLPOP", "nothing", "15"));
    net::co_spawn(
        ex,
        [blpop_result, blpop = std::move(blpop)]() mutable -> net::awaitable<void> {
          try {
            co_await std::move(blpop);
          } catch (const boost::system::system_error& e) {
            *blpop_result = e.code();
          }
        },
        net::detached);
    auto& blpop_error = *blpop_result;
    co_await sleep_for(100ms);
    auto t_down = std::chrono::steady_clock::now();
    server.stop();
    while (!blpop_error && std::chrono::steady_clock::now() - t_down < 5s) co_await sleep_for(10ms);
    REQUIRE(blpop_error);
    CHECK(*blpop_error == redis_errc::disconnected);

    // Redis down: store_unavailable, well within the deadline.
    co_await sleep_for(50ms);
    auto t0 = std::chrono::steady_clock::now();
    bool unavailable = false;
    try {
      co_await s->load(conv);
    } catch (const store_unavailable&) {
      unavailable = true;
    }
    CHECK(unavailable);
    CHECK(std::chrono::steady_clock::now() - t0 < 600ms);
    { auto aw = co_await s->ping(); CHECK_FALSE(aw); }

    // Back (empty, and without scripts): the store reconnects and reloads its scripts.
    server.start();
    auto t1 = std::chrono::steady_clock::now();
    while (!(co_await s->ping()) && std::chrono::steady_clock::now() - t1 < 10s) co_await sleep_for(20ms);
    { auto aw = co_await s->ping(); REQUIRE(aw); }
    { auto aw = co_await raw.wait_connected(5000ms); REQUIRE(aw); }
    auto info = co_await raw.exec(redis_cmd("INFO", "memory"));
    CHECK(info.str.find("number_of_cached_scripts:15") != std::string::npos);  // every script of the store (its 15 R"lua( texts)
    CHECK(raw.connects() == 2);
    { auto aw = co_await s->commit(first_commit(conv)); REQUIRE(aw == commit_outcome::ok); }  // the new server is empty

    // Frozen Redis (SIGSTOP): the deadline holds, then the late reply is dropped.
    REQUIRE(sh("kill -STOP " + server.pid()) == 0);
    auto t2 = std::chrono::steady_clock::now();
    unavailable = false;
    try {
      co_await s->load(conv);
    } catch (const store_unavailable&) {
      unavailable = true;
    }
    auto waited = std::chrono::steady_clock::now() - t2;
    REQUIRE(sh("kill -CONT " + server.pid()) == 0);
    CHECK(unavailable);
    CHECK(waited >= 450ms);
    CHECK(waited < 1500ms);
    auto l = co_await s->load(conv);
    CHECK(l.exists);
    CHECK(l.s.version == 1);
  });
}

// ---------------------------------------------------------------------------------------------
// The Redis client

TEST_CASE("redis client: pipelined commands are binary-safe and keep their order") {
  const auto url = test_redis_url();
  const auto key = "aulatest-" + random_hex();
  run_io(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        redis_client_options rc;
        rc.url = url;
        redis_client c(ex, rc);
        c.start();
        { auto aw = co_await c.wait_connected(2000ms); REQUIRE(aw); }
        const std::string binary("a\0b\r\n$3\r\n🎓", 14);
        { auto aw = co_await c.exec(redis_cmd("SET", key + ":bin", binary, "PX", "60000")); CHECK(aw.str == "OK"); }
        auto got = co_await c.exec(redis_cmd("GET", key + ":bin"));
        CHECK(got.type == redis_reply::kind::string);
        CHECK(got.str == binary);
        { auto aw = co_await c.exec(redis_cmd("GET", key + ":missing")); CHECK(aw.is_nil()); }
        auto err = co_await c.exec(redis_cmd("INCR", key + ":bin"));
        CHECK(err.is_error());
        CHECK(err.str.rfind("ERR", 0) == 0);

        std::vector<std::vector<std::string>> cmds{redis_cmd("RPUSH", key + ":l", "x", "y"),
                                                   redis_cmd("LRANGE", key + ":l", "0", "-1"),
                                                   redis_cmd("PEXPIRE", key + ":l", "60000"), redis_cmd("PING")};
        auto rs = co_await c.exec_pipeline(std::move(cmds));
        REQUIRE(rs.size() == 4);
        CHECK(rs[0].integer == 2);
        REQUIRE(rs[1].elements.size() == 2);
        CHECK(rs[1].elements[1].str == "y");
        CHECK(rs[3].str == "PONG");
        CHECK(rs[3].type == redis_reply::kind::status);

        // Replies nested in replies, each kind at each depth (the reader builds them in place).
        auto nested = co_await c.exec(redis_cmd(
            "EVAL", "return {7, {'ñ', {}, {redis.status_reply('LISTO'), false}}, false, redis.error_reply('MAL uno'), 'b'}",
            "0"));
        REQUIRE(nested.type == redis_reply::kind::array);
        REQUIRE(nested.elements.size() == 5);
        CHECK(nested.elements[0].type == redis_reply::kind::integer);
        CHECK(nested.elements[0].integer == 7);
        const redis_reply& inner = nested.elements[1];
        REQUIRE(inner.elements.size() == 3);
        CHECK(inner.elements[0].str == "ñ");
        CHECK(inner.elements[0].type == redis_reply::kind::string);
        CHECK(inner.elements[1].type == redis_reply::kind::array);
        CHECK(inner.elements[1].elements.empty());
        REQUIRE(inner.elements[2].elements.size() == 2);
        CHECK(inner.elements[2].elements[0].type == redis_reply::kind::status);
        CHECK(inner.elements[2].elements[0].str == "LISTO");
        CHECK(inner.elements[2].elements[1].is_nil());
        CHECK(nested.elements[2].is_nil());
        CHECK(nested.elements[3].is_error());
        CHECK(nested.elements[3].str == "MAL uno");
        CHECK(nested.elements[4].str == "b");
        auto top_error = co_await c.exec(redis_cmd("EVAL", "return redis.error_reply('MAL dos')", "0"));
        CHECK(top_error.is_error());
        CHECK(top_error.str == "MAL dos");
        auto top_int = co_await c.exec(redis_cmd("EVAL", "return -3", "0"));
        CHECK(top_int.type == redis_reply::kind::integer);
        CHECK(top_int.integer == -3);

        // Many coroutines at once on one connection, from two threads.
        std::atomic<int> ok{0};
        auto incr = [&]() -> net::awaitable<void> {
          for (int i = 0; i < 50; ++i) {
            auto r = co_await c.exec(redis_cmd("INCR", key + ":n"));
            if (r.type == redis_reply::kind::integer) ++ok;
          }
        };
        co_await (incr() && incr() && incr() && incr());
        CHECK(ok == 200);
        { auto aw = co_await c.exec(redis_cmd("GET", key + ":n")); CHECK(aw.str == "200"); }
        co_await c.exec(redis_cmd("DEL", key + ":n"));
      },
      2);
}

TEST_CASE("redis client: the deadline holds and a late reply is dropped") {
  const auto url = test_redis_url();
  const auto key = "aulatest-" + random_hex();
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    redis_client_options rc;
    rc.url = url;
    redis_client c(ex, rc);
    c.start();
    { auto aw = co_await c.wait_connected(2000ms); REQUIRE(aw); }
    // BLPOP blocks this connection for 1 s and then answers nil; we give up after 200 ms.
    auto t0 = std::chrono::steady_clock::now();
    std::optional<boost::system::error_code> code;
    try {
      co_await c.exec(redis_cmd("BLPOP", key, "1"), 200ms);
    } catch (const boost::system::system_error& e) {
      code = e.code();
    }
    auto waited = std::chrono::steady_clock::now() - t0;
    REQUIRE(code);
    CHECK(*code == redis_errc::timeout);
    CHECK(waited >= 190ms);
    CHECK(waited < 900ms);
    // The next command waits behind the blocked one; it must get its own reply, not BLPOP's nil.
    auto r = co_await c.exec(redis_cmd("ECHO", "mine"));
    CHECK(r.str == "mine");
    CHECK(c.connected());
    CHECK(c.connects() == 1);
  });
}

TEST_CASE("redis client: requests made at once share socket writes, one after the other each its own") {
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    redis_client_options rc;
    rc.url = test_redis_url();
    redis_client c(ex, rc);
    c.start();
    { auto aw = co_await c.wait_connected(2000ms); REQUIRE(aw); }
    const redis_sent before = redis_sent_totals();
    for (int i = 0; i < 10; ++i) {
      auto r = co_await c.exec(redis_cmd("ECHO", "uno ñ " + std::to_string(i)));
      CHECK(r.str == "uno ñ " + std::to_string(i));
    }
    const redis_sent one_by_one = redis_sent_totals();
    CHECK(one_by_one.requests - before.requests == 10);
    CHECK(one_by_one.writes - before.writes == 10);
    std::vector<std::string> got(64);
    const std::function<net::awaitable<void>(std::size_t)> echo = [&](std::size_t k) -> net::awaitable<void> {
      got[k] = (co_await c.exec(redis_cmd("ECHO", "¿a la vez? " + std::to_string(k)))).str;
    };
    co_await for_each_concurrently(got.size(), got.size(), echo);
    const redis_sent at_once = redis_sent_totals();
    for (std::size_t k = 0; k < got.size(); ++k) CHECK(got[k] == "¿a la vez? " + std::to_string(k));
    CHECK(at_once.requests - one_by_one.requests == 64);
    CHECK(at_once.writes - one_by_one.writes >= 1);
    CHECK(at_once.writes - one_by_one.writes <= 8);
  });
}

TEST_CASE("redis client: selects the database of the URL") {
  auto url = test_redis_url();
  auto slash = url.rfind('/');
  REQUIRE(slash > 8);
  url = url.substr(0, slash) + "/3";
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    redis_client_options rc;
    rc.url = url;
    redis_client c(ex, rc);
    c.start();
    { auto aw = co_await c.wait_connected(2000ms); REQUIRE(aw); }
    auto info = co_await c.exec(redis_cmd("CLIENT", "INFO"));
    CHECK(info.str.find(" db=3 ") != std::string::npos);

    rc.url = url.substr(0, slash) + "/99999";  // no such database: never ready, says why
    redis_client bad(ex, rc);
    bad.start();
    { auto aw = co_await bad.wait_connected(500ms); CHECK_FALSE(aw); }
    CHECK(bad.last_error().find("SELECT") != std::string::npos);
    bool threw = false;
    try {
      co_await bad.exec(redis_cmd("PING"));
    } catch (const boost::system::system_error& e) {
      threw = e.code() == redis_errc::not_connected;
    }
    CHECK(threw);
  });
}

TEST_CASE("redis client: parses redis and unix URLs and never shows a password") {
  auto a = redis_url::parse("redis://127.0.0.1:6380/2");
  CHECK_FALSE(a.unix_socket);
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 6380);
  CHECK(a.db == 2);
  auto b = redis_url::parse("redis://localhost");
  CHECK(b.port == 6379);
  CHECK(b.db == 0);
  auto c = redis_url::parse("redis://app:s%40cret@redis.internal:7000/1");
  CHECK(c.user == "app");
  CHECK(c.password == "s@cret");
  CHECK(c.host == "redis.internal");
  CHECK(c.display() == "redis://app:***@redis.internal:7000/1");
  auto d = redis_url::parse("redis://:pw@[::1]:6379/0");
  CHECK(d.host == "::1");
  CHECK(d.password == "pw");
  CHECK(d.display().find("pw") == std::string::npos);
  auto u = redis_url::parse("unix:///run/redis/redis.sock?db=4");
  CHECK(u.unix_socket);
  CHECK(u.path == "/run/redis/redis.sock");
  CHECK(u.db == 4);
  for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h/x", "unix://relative",
                          "unix:///s?foo=1"})
    CHECK_THROWS_AS(redis_url::parse(bad), std::invalid_argument);
  try {
    redis_url::parse("redis://u:topsecret@h:bad/0");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("topsecret") == std::string::npos);
  }
  CHECK(redis_script("return 1").sha == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST_CASE("redis client: connects over a unix socket") {
  private_redis server(true);
  const auto sock = server.socket();
  run_io([&](net::any_io_executor ex) -> net::awaitable<void> {
    redis_client_options rc;
    rc.url = "unix://" + sock + "?db=1";
    redis_client c(ex, rc);
    c.start();
    { auto aw = co_await c.wait_connected(2000ms); REQUIRE(aw); }
    { auto aw = co_await c.exec(redis_cmd("ECHO", "über")); CHECK(aw.str == "über"); }
    { auto aw = co_await c.exec(redis_cmd("CLIENT", "INFO")); CHECK(aw.str.find(" db=1 ") != std::string::npos); }
  });
}

}  // namespace

// The daily tier: a rolling quota of distinct members; a member keeps its place; the wait
// until the oldest place frees; places free as the window moves on.
net::awaitable<void> rolling_quota(store& s) {
  const std::string q = "tier:test-" + std::to_string(::getpid());
  const std::int64_t t0 = 1'800'000'000'000;
  const auto day = std::chrono::milliseconds(24LL * 3600 * 1000);
  CHECK(co_await s.quota_take(q, "whatsapp:+521:0", t0, day, 2) == 0);
  CHECK(co_await s.quota_take(q, "whatsapp:+521:0", t0 + 1000, day, 2) == 0);  // the same member: no second place
  CHECK(co_await s.quota_take(q, "whatsapp:+522:0", t0 + 2000, day, 2) == 0);
  // Full: the third waits until the oldest place (t0) leaves the window.
  CHECK(co_await s.quota_take(q, "whatsapp:+523:0", t0 + 5000, day, 2) == day.count() - 5000);
  CHECK(co_await s.quota_take(q, "whatsapp:+521:0", t0 + 6000, day, 2) == 0);  // still holding its place
  // A day after t0 the first place is free again; the second is still taken.
  CHECK(co_await s.quota_take(q, "whatsapp:+523:0", t0 + day.count(), day, 2) == 0);
  CHECK(co_await s.quota_take(q, "whatsapp:+524:0", t0 + day.count(), day, 2) == 2000);
}
STORE_TEST("a rolling quota gives each member one place and says how long until the next", rolling_quota)

// ---------------------------------------------------------------------------------------------
// Data rights and retention

namespace {

// Another conversation in the same partition as `conv`.
std::string neighbour_of(store& s, const std::string& conv) {
  const int p = partition_of(conv, s.partitions());
  for (;;) {
    std::string other = "whatsapp:+52155" + random_hex().substr(0, 8);
    if (partition_of(other, s.partitions()) == p) return other;
  }
}

net::awaitable<void> erase_conversation(store& s) {
  const std::string conv = "whatsapp:+5215512345678-" + random_hex().substr(0, 6);
  const std::string other = neighbour_of(s, conv);
  const int p = partition_of(conv, s.partitions());
  auto f = co_await lease_of(s, p);
  const std::string code = random_code(p);
  for (const auto& who : {conv, other}) {
    auto c = first_commit(who);
    c.outbox = {outbox_msg(who, "reply", "Hola José"), outbox_msg(who, "bulk", "Recordatorio")};
    c.timers_set = {timer_effect{"r.a.wait", 100, "wait"}};
    c.results = {json_text::write({{"conv", who}, {"id", "r.1"}, {"type", "answer"}, {"text", "mi respuesta"}, {"at", 1}})};
    if (who == conv) c.certificates.emplace_back(code, nlohmann::json{{"name", "José Ñúñez"}, {"course_name", "TI"}});
    { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
    const nlohmann::json hola{{"text", "Hola"}};
    co_await s.web_push(who, hola);
  }
  // One dead letter each.
  auto pending = co_await s.outbox_pending(p, 100);
  int moved = 0;
  for (const auto& e : pending)
    if (e.id.starts_with("bulk:")) {
      const nlohmann::json why{{"conv", e.data["conv"]}, {"entry", e.data}, {"reason", "HTTP 400"}, {"attempts", 1}};
      co_await s.outbox_dead(p, e.id, why, f);
      ++moved;
    }
  REQUIRE(moved == 2);
  const nlohmann::json a1{{"at", 10}, {"who", "Laura"}, {"action", "enroll"}, {"target", conv}};
  const nlohmann::json a2{{"at", 20}, {"who", "Laura"}, {"action", "enroll"}, {"target", other}};
  const nlohmann::json a3{{"at", 30}, {"who", "Laura"}, {"action", "export"}, {"target", conv}};
  co_await s.audit_append(a1);
  co_await s.audit_append(a2);
  co_await s.audit_append(a3);
  const std::string anon = "anon:x1", h1 = "h1";

  const nlohmann::json tomb{{"anon", "anon:x1"}, {"at", 99}};
  const std::vector<std::string> codes{code};
  const std::chrono::milliseconds ttl = 60s;
  erasure e = co_await s.erase_conversation(conv, codes, h1, tomb, ttl);
  CHECK(e.sessions == 1);
  CHECK(e.timers == 1);
  CHECK(e.outbox == 1);
  CHECK(e.dead_letters == 1);
  CHECK(e.web == 1);
  CHECK(e.certificates == 1);
  REQUIRE(e.results.size() == 1);
  CHECK(e.results[0]["text"] == "mi respuesta");
  // Nothing of it is left; the neighbour keeps everything.
  { auto aw = co_await s.load(conv); CHECK(!aw.exists); }
  { auto aw = co_await s.load(other); CHECK(aw.exists); }
  { auto aw = co_await s.dead_letters(p, 100, conv); CHECK(aw.empty()); }
  { auto aw = co_await s.dead_letters(p, 100, other); CHECK(aw.size() == 1); }
  { auto aw = co_await s.web_read(conv, "", 10); CHECK(aw.empty()); }
  { auto aw = co_await s.web_read(other, "", 10); CHECK(aw.size() == 1); }
  auto left = co_await s.outbox_pending(p, 100);
  for (const auto& x : left) CHECK(x.data.value("conv", std::string{}) != conv);
  CHECK(left.size() == 1);
  auto results = co_await s.results_pending(p, 100);
  for (const auto& x : results) CHECK(x.data.value("conv", std::string{}) != conv);
  const std::chrono::milliseconds hold = 1000ms;
  auto timers = co_await s.claim_due_timers(p, 1000, 100, f, hold);
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].conversation == other);
  // The certificate still verifies, without the name.
  auto cert = co_await s.certificate(code);
  REQUIRE(cert.has_value());
  CHECK((*cert)["name"] == "");
  CHECK((*cert)["course_name"] == "TI");
  // The tombstone.
  auto tombs = co_await s.erasures(p);
  REQUIRE(tombs.count("h1") == 1);
  CHECK(tombs["h1"] == tomb);
  // The audit log names the anonymous id, in the same order.
  { auto aw = co_await s.audit_retarget(conv, anon); CHECK(aw == 2); }
  auto audit = co_await s.audit_read(10);
  REQUIRE(audit.size() == 3);
  CHECK(audit[0]["target"] == "anon:x1");
  CHECK(audit[1]["target"] == other);
  CHECK(audit[2]["target"] == "anon:x1");
  CHECK(audit[2]["action"] == "export");
  { auto aw = co_await s.audit_retarget(conv, anon); CHECK(aw == 0); }
  // Retention: the audit log's entries before 25 go.
  { auto aw = co_await s.audit_trim(25); CHECK(aw == 2); }
  audit = co_await s.audit_read(10);
  REQUIRE(audit.size() == 1);
  CHECK(audit[0]["at"] == 30);
}
STORE_TEST("erasing a conversation removes all of it from its partition, and nothing else", erase_conversation)

net::awaitable<void> drop_idle_session(store& s) {
  const std::string conv = "telegram:" + random_hex();
  const int p = partition_of(conv, s.partitions());
  auto c = first_commit(conv);
  c.timers_set = {timer_effect{"r.a.wait", 100, "wait"}};
  { auto aw = co_await s.commit(c); REQUIRE(aw == commit_outcome::ok); }
  { auto aw = co_await s.drop_session(conv, 2); CHECK(!aw); }  // the learner wrote meanwhile
  { auto aw = co_await s.load(conv); CHECK(aw.exists); }
  { auto aw = co_await s.drop_session(conv, 1); CHECK(aw); }
  { auto aw = co_await s.load(conv); CHECK(!aw.exists); }
  auto f = co_await lease_of(s, p);
  const std::chrono::milliseconds hold = 1000ms;
  auto timers = co_await s.claim_due_timers(p, 1000, 100, f, hold);
  for (const auto& t : timers) CHECK(t.conversation != conv);
}
STORE_TEST("retention drops an idle session only at the version it read", drop_idle_session)

}  // namespace
