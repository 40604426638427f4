// aula's HTTP server: Boost.Beast with C++20 coroutines. One coroutine per connection, each on
// its own strand; the caller runs the io_context on N threads. Every read and write has a
// deadline, every request a size limit; a slow client is cut when its deadline passes.
//
//   http_server srv(ioc, {.address = "127.0.0.1", .port = 8080});
//   srv.add_route(http::verb::get, "/healthz", [](auto& req) -> net::awaitable<http_server::response> {
//     co_return make_response(req, http::status::ok, "ok\n");
//   });
//   srv.start();                        // throws if it cannot listen
//   … co_await srv.shutdown(10s);       // on SIGTERM: stop accepting, let requests finish
//
// What the server answers by itself:
//   404  no route for the path           405  a route for the path, not for the method (Allow: …)
//   413  body over body_limit, then close 431  headers over header_limit, then close
//   400  malformed request, then close    500  the handler threw (logged once, with the route)
// Connection limit: a connection accepted while max_connections are open is closed at once,
// before anything is read (counted in aula_http_connections_rejected_total, logged at most
// once a second). A 503 would need the request read first, which is what an overload must not
// spend on; providers retry a refused delivery either way.
// Routes are registered before start() and not changed afterwards.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "adapters/adapter.hpp"
#include "bot/io/net.hpp"

namespace aula {

class metrics_registry;
struct server_config;

struct server_options {
  std::string address = "127.0.0.1";  // an IP address ("0.0.0.0", "::") or a host name to resolve
  unsigned short port = 8080;         // 0: the system picks one (see http_server::port())
  // A whole request (headers and body) must arrive within read_timeout of its first byte; the
  // first byte of a connection's first request within read_timeout of the accept.
  std::chrono::milliseconds read_timeout{15000};
  std::chrono::milliseconds write_timeout{15000};  // to write a whole response
  std::chrono::milliseconds idle_timeout{60000};   // keep-alive: the wait for the next request
  std::size_t body_limit = 256 * 1024;
  std::size_t header_limit = 16 * 1024;
  std::size_t max_connections = 1024;
  metrics_registry* metrics = nullptr;  // when set: request counts, latencies, connections
  bool access_log = true;               // one info line per request (method, path, status, ms)
};

// The server's options from the configuration's `server` section.
server_options server_options_from(const server_config& c);

class http_server {
 public:
  using request = http::request<http::string_body>;
  using response = http::response<http::string_body>;
  using handler = std::function<net::awaitable<response>(request&)>;

  http_server(net::io_context& ioc, server_options opts);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // `path` is matched against the request target without its query. An exact route wins over
  // a prefix route; among prefix routes the longest wins. HEAD is not implied by GET.
  void add_route(http::verb method, std::string path, handler h, bool prefix = false);

  // Binds and listens, then accepts in the background. Throws std::runtime_error with the
  // address and the reason ("cannot listen on 127.0.0.1:8080: Address already in use").
  void start();
  // The bound port (the picked one when options.port was 0). Valid after start().
  unsigned short port() const;
  // Connections open now (excluding those rejected by the limit).
  std::size_t active_connections() const;

  // Stops accepting (new connections are refused), closes idle keep-alive connections, lets
  // requests in flight finish (their responses carry Connection: close) for up to `grace`,
  // then closes whatever is left. Safe to call from any executor; a second call is a no-op wait.
  net::awaitable<void> shutdown(std::chrono::milliseconds grace);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

// A response to `req` (same HTTP version and keep-alive) with `body` and a content type.
http_server::response make_response(const http_server::request& req, http::status status, std::string body,
                                    std::string content_type = "text/plain; charset=utf-8");

// The target's path, without "?query".
std::string_view request_path(const http_server::request& req);

// To and from the adapters' plain types (header names lower-cased, repeated headers joined
// with ", ").
http_in to_http_in(const http_server::request& req);
http_server::response to_response(const http_server::request& req, const http_out& out);

}  // namespace aula
