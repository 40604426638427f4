// A background loop on an executor: `body` every `period` until the flag turns false; an
// exception is logged (as `what`) and the loop goes on.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "bot/io/net.hpp"

namespace aula {

// Starts the loop; returns the flag that stops it (set *flag = false).
std::shared_ptr<bool> run_every(net::any_io_executor ex, std::chrono::milliseconds period,
                                std::function<net::awaitable<void>()> body, std::string what);

}  // namespace aula
