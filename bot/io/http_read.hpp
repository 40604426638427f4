// Reading an HTTP message into a Beast parser as one coroutine loop.
//
// http::async_read and async_read_header are composed operations (a read op around a read-some
// op around the stream's own); a message already in the buffer still completes through a post.
// For the small messages the server and the client read on every webhook and provider call,
// this loop does what they do — parse what is buffered, read more while the parser needs it —
// with their errors: the parser's own (header_limit, body_limit, bad_…), end_of_stream at a
// clean end before any byte, buffer_overflow when the buffer cannot grow, the stream's
// (timeouts, resets). Include from .cpp files of bot/io only.
#pragma once

#include <stdexcept>

#include "bot/io/net.hpp"

namespace aula {

// Reads into `p` until `done(p)` (see read_http_message / read_http_header).
template <class Stream, bool isRequest, class Done>
net::awaitable<beast::error_code> read_http(Stream& s, beast::flat_buffer& b, http::basic_parser<isRequest>& p,
                                            Done done) {
  for (;;) {
    if (done(p)) co_return beast::error_code{};
    if (b.size() > 0) {
      beast::error_code ec;
      const std::size_t used = p.put(b.data(), ec);
      b.consume(used);
      if (ec && ec != http::error::need_more) co_return ec;
      if (!ec && (used > 0 || done(p))) continue;  // progress: look again (the top sees a finished parser)
    }
    const std::size_t size = beast::read_size(b, 65536);
    if (size == 0) co_return beast::error_code(http::error::buffer_overflow);
    beast::flat_buffer::mutable_buffers_type room;
    try {
      room = b.prepare(size);
    } catch (const std::length_error&) {
      co_return beast::error_code(http::error::buffer_overflow);
    }
    auto [ec, n] = co_await s.async_read_some(room, net::as_tuple(net::use_awaitable));
    b.commit(n);
    if (ec == net::error::eof) {
      if (!p.got_some()) co_return beast::error_code(http::error::end_of_stream);
      beast::error_code eof_ec;
      p.put_eof(eof_ec);  // a message that ends at the end of the stream, or a partial one
      co_return eof_ec;
    }
    if (ec) co_return ec;
  }
}

// The whole message (http::async_read).
template <class Stream, bool isRequest>
net::awaitable<beast::error_code> read_http_message(Stream& s, beast::flat_buffer& b, http::basic_parser<isRequest>& p) {
  co_return co_await read_http(s, b, p, [](const http::basic_parser<isRequest>& x) { return x.is_done(); });
}

// Its header (http::async_read_header).
template <class Stream, bool isRequest>
net::awaitable<beast::error_code> read_http_header(Stream& s, beast::flat_buffer& b, http::basic_parser<isRequest>& p) {
  co_return co_await read_http(s, b, p, [](const http::basic_parser<isRequest>& x) { return x.is_header_done(); });
}

}  // namespace aula
