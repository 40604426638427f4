// Handling a stream of items while the next one is fetched: `next()` gives items until it gives
// an empty one (false when tested); `handle(item)` runs while `next()` fetches the item after it.
// Returns the sum of what `handle` returned. The first exception of either ends the loop once
// both have finished, and is rethrown. Used by the record keeper's drain (records.cpp): read in
// turn, its thread waited for each read, queued on the I/O thread behind webhooks.
#pragma once

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cstddef>
#include <functional>
#include <tuple>
#include <utility>

#include "bot/io/net.hpp"

namespace aula {

template <class Item>
net::awaitable<std::size_t> each_overlapped(std::function<net::awaitable<Item>()> next,
                                            std::function<net::awaitable<std::size_t>(Item)> handle) {
  using namespace net::experimental::awaitable_operators;
  std::size_t total = 0;
  Item item = co_await next();
  while (item) {
    auto both = handle(std::move(item)) && next();  // named: g++ 12 and temporaries in co_await
    auto r = co_await std::move(both);
    total += std::get<0>(r);
    item = std::move(std::get<1>(r));
  }
  co_return total;
}

}  // namespace aula
