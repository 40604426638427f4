// The Asio/Beast vocabulary, set once. Include only from .cpp files and from headers of
// bot/io, bot/store and bot/service (never from bot/engine or adapters).
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace aula {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
}  // namespace aula
