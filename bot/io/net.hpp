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
}  // namespace aula
