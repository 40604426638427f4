#include "bot/io/fan_out.hpp"

#include <algorithm>
#include <exception>

namespace aula {

net::awaitable<void> for_each_concurrently(std::size_t count, std::size_t width,
                                           const std::function<net::awaitable<void>(std::size_t)>& job) {
  if (count == 0 || width == 0) co_return;
  // The workers and their coordinator share `next`, `active` and `error` on one lane (net.hpp).
  const io_lane lane = make_io_lane(co_await net::this_coro::executor);
  std::exception_ptr error;
  std::size_t next = 0;
  auto coordinate = [&]() -> net::awaitable<void> {
    net::steady_timer all_done(lane);
    all_done.expires_at(net::steady_timer::time_point::max());
    std::size_t active = std::min(width, count);
    const std::size_t n = active;
    for (std::size_t k = 0; k < n; ++k)
      net::co_spawn(
          lane,
          [&]() -> net::awaitable<void> {
            try {
              while (next < count && !error) {
                const std::size_t i = next++;
                co_await job(i);
              }
            } catch (...) {
              if (!error) error = std::current_exception();
            }
            if (--active == 0) all_done.cancel();
          },
          net::detached);
    // (A worker that finished inline has already counted itself.)
    if (active > 0) co_await all_done.async_wait(net::as_tuple(net::use_awaitable));
  };
  co_await net::co_spawn(lane, coordinate, net::use_awaitable);
  if (error) std::rethrow_exception(error);
}

}  // namespace aula
