#include "bot/io/periodic.hpp"

#include "bot/io/log.hpp"

namespace aula {

std::shared_ptr<bool> run_every(net::any_io_executor ex, std::chrono::milliseconds period,
                                std::function<net::awaitable<void>()> body, std::string what) {
  auto running = std::make_shared<bool>(true);
  net::co_spawn(
      ex,
      [ex, period, body = std::move(body), what = std::move(what), running]() -> net::awaitable<void> {
        net::steady_timer t(ex);
        while (*running) {
          t.expires_after(period);
          co_await t.async_wait(net::use_awaitable);
          if (!*running) break;
          try {
            co_await body();
          } catch (const std::exception& e) {
            log::warn(what, {{"error", e.what()}});
          }
        }
      },
      net::detached);
  return running;
}

}  // namespace aula
