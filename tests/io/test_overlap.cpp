// each_overlapped (bot/io/overlap.hpp): the next item is fetched and the last finished while
// one is handled, on a real io_context with real timers standing in for a Redis read, a record
// store's job and an acknowledgement.
#include <boost/asio.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bot/io/overlap.hpp"

using namespace aula;
using namespace std::chrono_literals;

namespace {
struct trace {
  std::vector<std::string> events;  // in the order they happened
  int fetched = 0;
  int items = 3;
  int fail_at = 0;         // handle() of this item throws (0: none)
  int finish_fail_at = 0;  // finish() of this item throws (0: none)

  std::size_t at(const std::string& e) const {
    for (std::size_t k = 0; k < events.size(); ++k)
      if (events[k] == e) return k;
    FAIL("no event " << e);
    return 0;
  }
};

net::awaitable<void> wait(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(net::use_awaitable);
}

net::awaitable<std::optional<int>> fetch(trace& t) {
  const int n = ++t.fetched;
  t.events.push_back("fetch " + std::to_string(n));
  co_await wait(10ms);
  t.events.push_back("fetched " + std::to_string(n));
  if (n > t.items) co_return std::nullopt;
  co_return n;
}

net::awaitable<std::size_t> handle(trace& t, std::optional<int> item) {
  t.events.push_back("handle " + std::to_string(*item));
  co_await wait(40ms);
  if (*item == t.fail_at) throw std::runtime_error("el almacén se negó ¡ay!");
  t.events.push_back("handled " + std::to_string(*item));
  co_return static_cast<std::size_t>(*item * 10);
}

net::awaitable<void> finish(trace& t, std::optional<int> item) {
  t.events.push_back("finish " + std::to_string(*item));
  co_await wait(20ms);
  if (*item == t.finish_fail_at) throw std::runtime_error("no se pudo recortar");
  t.events.push_back("finished " + std::to_string(*item));
}

std::size_t run(trace& t) {
  net::io_context ioc;
  std::function<net::awaitable<std::optional<int>>()> next = [&t] { return fetch(t); };
  std::function<net::awaitable<std::size_t>(std::optional<int>)> h = [&t](std::optional<int> i) {
    return handle(t, i);
  };
  std::function<net::awaitable<void>(std::optional<int>)> fin = [&t](std::optional<int> i) { return finish(t, i); };
  auto f = net::co_spawn(ioc, each_overlapped(std::move(next), std::move(h), std::move(fin)), net::use_future);
  ioc.run();
  return f.get();
}
}  // namespace

TEST_CASE("overlap: the next item is fetched and the last finished while one is handled, each once, in order") {
  trace t;
  CHECK(run(t) == 10 + 20 + 30);
  CHECK(t.fetched == 4);  // three items, then the empty one
  // Fetching item 2 started and ended while item 1 was handled (in turn it would start after).
  CHECK(t.at("fetch 2") < t.at("handled 1"));
  CHECK(t.at("fetched 2") < t.at("handled 1"));
  CHECK(t.at("fetch 3") < t.at("handled 2"));
  CHECK(t.at("fetch 4") < t.at("handled 3"));
  // Item 1 was finished while item 2 was handled, item 2 while item 3 was.
  CHECK(t.at("finish 1") < t.at("handled 2"));
  CHECK(t.at("finished 1") < t.at("handled 2"));
  CHECK(t.at("finish 2") < t.at("handled 3"));
  // Handled in order, each after it was fetched; finished in order, each after it was handled.
  CHECK(t.at("handled 1") < t.at("handle 2"));
  CHECK(t.at("handled 2") < t.at("handle 3"));
  CHECK(t.at("fetched 3") < t.at("handle 3"));
  CHECK(t.at("handled 1") < t.at("finish 1"));
  CHECK(t.at("finished 1") < t.at("finish 2"));
  CHECK(t.at("finished 2") < t.at("finish 3"));
  CHECK(t.at("handled 3") < t.at("finish 3"));
  CHECK(t.events.back() == "finished 3");
}

TEST_CASE("overlap: nothing to fetch, nothing handled") {
  trace t;
  t.items = 0;
  CHECK(run(t) == 0);
  CHECK(t.fetched == 1);
  CHECK(t.events == std::vector<std::string>{"fetch 1", "fetched 1"});
}

TEST_CASE("overlap: a failure to handle ends the loop once the stages beside it are done, and is rethrown") {
  trace t;
  t.fail_at = 2;
  CHECK_THROWS_WITH(run(t), "el almacén se negó ¡ay!");
  CHECK(t.at("handled 1") < t.at("handle 2"));
  CHECK(t.fetched == 3);  // item 3 was fetched beside item 2, and never handled
  for (const auto& e : t.events) {
    CHECK(e != "handle 3");
    CHECK(e != "finish 2");
  }
}

TEST_CASE("overlap: a failure to finish cancels the stages beside it, ends the loop and is rethrown") {
  trace t;
  t.finish_fail_at = 1;
  CHECK_THROWS_WITH(run(t), "no se pudo recortar");
  CHECK(t.at("handle 2") < t.events.size());  // item 2 was being handled beside it
  for (const auto& e : t.events) {
    CHECK(e != "handled 2");  // cancelled (its timer), not completed
    CHECK(e != "handle 3");
    CHECK(e != "finish 2");
  }
}
