// aula's clock: the system clock, plus an offset that tests can move forward
// (AULA_TEST_CLOCK=1 enables POST /admin/test/clock). Read once per step; the engine never
// reads a clock itself.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace aula {

class service_clock {
 public:
  std::int64_t now_ms() const {
    auto real = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    return real + offset_ms_.load(std::memory_order_relaxed);
  }
  // Moves the clock forward (never back); returns the new offset.
  std::int64_t advance(std::int64_t ms) {
    if (ms < 0) ms = 0;
    return offset_ms_.fetch_add(ms, std::memory_order_relaxed) + ms;
  }
  std::int64_t offset_ms() const { return offset_ms_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> offset_ms_{0};
};

}  // namespace aula
