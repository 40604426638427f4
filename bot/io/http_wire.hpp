// A whole HTTP message as one buffer, written with one call.
//
// Beast's http::async_write runs its serializer as a composed operation over a view of the
// start line, the fields and the body, step by step; a webhook's answer and a provider call
// are small messages with a Content-Length, so their bytes are made here once (the same bytes
// the serializer writes, tested against it) and handed to the socket in one write.
#pragma once

#include <optional>
#include <string>
#include <tuple>

#include "bot/io/net.hpp"

namespace aula {

// The bytes of the message as Beast's serializer writes them: the start line, the fields in
// their order, the blank line and the body. nullopt for a chunked message (write it with
// http::async_write).
std::optional<std::string> http_wire(const http::request<http::string_body>& m);
std::optional<std::string> http_wire(const http::response<http::string_body>& m);

// Writes `m`: its bytes `wire` (http_wire(m)) in one write, or through Beast's serializer when
// there are none. The error and the bytes written, as http::async_write gives them.
template <class Stream, class Message>
net::awaitable<std::tuple<beast::error_code, std::size_t>> write_http(Stream& s, Message& m,
                                                                      const std::optional<std::string>& wire) {
  if (wire) co_return co_await net::async_write(s, net::buffer(*wire), net::as_tuple(net::use_awaitable));
  co_return co_await http::async_write(s, m, net::as_tuple(net::use_awaitable));
}

}  // namespace aula
