#include "bot/io/fan_out.hpp"

#include <algorithm>
#include <exception>

namespace aula {

net::awaitable<void> for_each_concurrently(std::size_t count, std::size_t width,
                                           const std::function<net::awaitable<void>(std::size_t)>& job) {
  if (count == 0 || width == 0) co_return;
  // The workers and their coordinator share `next`, `active` and `error`, and the jobs share
  // the caller's state: they run where the caller runs when that runs one handler at a time
  // already (a strand, or the io_context one thread runs: net.hpp), else on a strand nested in
  // the caller's executor. Never on a strand of its own beside the caller's: its handlers would
  // run alongside the caller's other ones (the sender's state, on two threads).
  const net::any_io_executor caller = co_await net::this_coro::executor;
  const net::any_io_executor lane =
      caller.target<io_strand>() || one_thread_runs(caller) ? caller : net::any_io_executor(net::make_strand(caller));
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
