// A three-stage pipeline over a stream of items: while item n is handled, item n + 1 is fetched
// and item n - 1 finished. `next()` gives items until it gives an empty one (false when
// tested); `handle(item)` returns a count (summed and returned); `finish(item)` runs once its
// item was handled. Items are handled in order, and finished in order, each after its handling.
// The first exception of any stage cancels the stages beside it (those that can be cancelled),
// ends the loop once they are done, and is rethrown (an item handled but not finished then
// stays unfinished).
// Used by the record keeper's drain (records.cpp): read, store, acknowledge. In turn, the
// keeper's thread waited for each read and acknowledgement, queued on the I/O thread behind
// webhooks, and fell behind at 64 connections even flat out.
#pragma once

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <exception>
#include <cstddef>
#include <functional>
#include <tuple>
#include <utility>

#include "bot/io/net.hpp"

namespace aula {

template <class Item>
net::awaitable<std::size_t> each_overlapped(std::function<net::awaitable<Item>()> next,
                                            std::function<net::awaitable<std::size_t>(Item)> handle,
                                            std::function<net::awaitable<void>(Item)> finish) {
  const auto nothing_to_handle = []() -> net::awaitable<std::size_t> { co_return 0; };
  const auto nothing_to_fetch = []() -> net::awaitable<Item> { co_return Item{}; };
  const auto nothing_to_finish = []() -> net::awaitable<void> { co_return; };
  const auto ex = co_await net::this_coro::executor;
  std::size_t total = 0;
  Item item = co_await next();
  Item handled{};  // handled, not finished yet
  while (item || handled) {
    // Named, not temporaries of the co_await expression (g++ 12).
    auto f = handled ? finish(std::move(handled)) : nothing_to_finish();
    auto h = item ? handle(item) : nothing_to_handle();
    auto n = item ? next() : nothing_to_fetch();
    auto group = net::experimental::make_parallel_group(net::co_spawn(ex, std::move(f), net::deferred),
                                                        net::co_spawn(ex, std::move(h), net::deferred),
                                                        net::co_spawn(ex, std::move(n), net::deferred));
    auto [order, fe, he, count, ne, fetched] =
        co_await group.async_wait(net::experimental::wait_for_one_error(), net::deferred);
    // The first to fail, by when it completed (the others may have failed for being cancelled).
    const std::array<std::exception_ptr, 3> failures{fe, he, ne};
    for (const std::size_t k : order)
      if (failures[k]) std::rethrow_exception(failures[k]);
    total += count;
    handled = std::move(item);
    item = std::move(fetched);
  }
  co_return total;
}

}  // namespace aula
