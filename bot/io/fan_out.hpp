// Many awaitable jobs at once, on one strand: their I/O overlaps (Redis pipelines the
// requests) instead of each waiting for the one before.
#pragma once

#include <cstddef>
#include <functional>

#include "bot/io/net.hpp"

namespace aula {

// Runs job(0) … job(count - 1), at most `width` at a time, on a strand of the caller's
// executor; returns when all have finished. The first exception a job throws stops the jobs
// not yet started and is rethrown here. Pass `job` as a named std::function (g++ 12 and
// temporaries in co_await expressions).
net::awaitable<void> for_each_concurrently(std::size_t count, std::size_t width,
                                           const std::function<net::awaitable<void>(std::size_t)>& job);

}  // namespace aula
