// The Asio/Beast vocabulary, set once. Include only from .cpp files and from headers of
// bot/io, bot/store and bot/service (never from bot/engine or adapters).
#pragma once

#include <stdexcept>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace aula {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// A strand over the io_context behind `ex` (every executor aula runs its I/O on comes from
// one). A strand of the io_context's own executor type fits in any_io_executor's small
// buffer; a strand of any_io_executor does not, and was allocated anew each time an
// operation wrapped it for work tracking (tens of times per message).
using io_strand = net::strand<net::io_context::executor_type>;

inline io_strand make_io_strand(const net::any_io_executor& ex) {
  if (const auto* direct = ex.target<net::io_context::executor_type>()) return net::make_strand(*direct);
  if (const auto* strand = ex.target<io_strand>()) return net::make_strand(strand->get_inner_executor());
  throw std::invalid_argument("aula: an io_context's executor (or a strand of one) is needed here");
}

// make_io_strand where `ex` allows it, else a strand of `ex` itself.
inline net::any_io_executor make_strand_of(const net::any_io_executor& ex) {
  if (ex.target<net::io_context::executor_type>() || ex.target<io_strand>()) return make_io_strand(ex);
  return net::make_strand(ex);
}

// The mark of an io_context that one thread runs (`aula serve` with server.threads: 1): added
// with mark_one_thread(ioc) before that thread starts, and never removed. Its handlers already
// run one at a time, so a strand over it only adds a queue, a lock and a hop per handler (5 %
// of the server's instructions per webhook, tests/bench/NOTES.md, session 30).
class one_thread_mark final : public net::execution_context::service {
 public:
  using key_type = one_thread_mark;
  static inline net::execution_context::id id;
  explicit one_thread_mark(net::execution_context& c) : service(c) {}

 private:
  void shutdown() override {}
};

inline void mark_one_thread(net::io_context& ioc) {
  if (!net::has_service<one_thread_mark>(ioc)) net::make_service<one_thread_mark>(ioc);
}

// Whether the io_context behind `ex` is marked as run by one thread.
inline bool one_thread_runs(const net::any_io_executor& ex) {
  return net::has_service<one_thread_mark>(net::query(ex, net::execution::context));
}

// Where a component's handlers run one at a time (its "lane"): a strand of the io_context
// behind `ex` (make_strand_of), or that io_context's own executor when one thread runs it.
using io_lane = net::any_io_executor;

inline io_lane make_io_lane(const net::any_io_executor& ex) {
  if (!one_thread_runs(ex)) return make_strand_of(ex);
  if (const auto* direct = ex.target<net::io_context::executor_type>()) return *direct;
  if (const auto* strand = ex.target<io_strand>()) return strand->get_inner_executor();
  return ex;
}

}  // namespace aula
