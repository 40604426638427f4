#include "bot/io/http_server.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "bot/config/config.hpp"
#include "bot/io/http_read.hpp"
#include "bot/io/http_wire.hpp"
#include "bot/io/log.hpp"
#include "bot/io/metrics.hpp"

namespace aula {
namespace {

using request = http_server::request;
using response = http_server::response;
using namespace std::chrono_literals;

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

struct route {
  http::verb method;
  std::string path;
  bool prefix = false;
  http_server::handler h;
};

// One accepted connection. `busy` is touched only on the connection's lane (net.hpp).
struct connection {
  explicit connection(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool busy = false;
};

response plain(unsigned version, http::status status, std::string body, bool keep_alive) {
  response res{status, version};
  res.set(http::field::server, "aula");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

bool client_went_away(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted || ec == beast::error::timeout ||
         ec == net::error::broken_pipe || ec == net::error::bad_descriptor || ec == net::error::not_connected;
}

}  // namespace

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  impl(net::io_context& ioc, server_options o) : ioc(ioc), opts(std::move(o)), acceptor(make_io_lane(ioc.get_executor())) {
    if (opts.metrics) {
      requests = &opts.metrics->counter("aula_http_requests_total", "HTTP requests answered, by route pattern and status.");
      latency = &opts.metrics->histogram("aula_http_request_duration_seconds",
                                         "Time from the end of a request to its response, by route pattern.");
      open_connections = &opts.metrics->gauge("aula_http_connections", "HTTP connections open now.");
      rejected = &opts.metrics->counter("aula_http_connections_rejected_total",
                                        "Connections closed at accept because max_connections were open.");
      open_connections->set({}, 0);
      rejected->inc({}, 0);
    }
  }

  net::io_context& ioc;
  server_options opts;
  tcp::acceptor acceptor;
  std::vector<route> routes;
  unsigned short bound_port = 0;
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> accept_done{false};
  std::atomic<std::size_t> active{0};
  std::atomic<std::int64_t> last_reject_log_ms{0};

  std::mutex mu;  // guards conns
  std::unordered_map<connection*, std::shared_ptr<connection>> conns;

  counter_family* requests = nullptr;
  histogram_family* latency = nullptr;
  gauge_family* open_connections = nullptr;
  counter_family* rejected = nullptr;

  // Route lookup: the handler, or the status to answer (404/405) with the Allow list.
  struct match {
    const route* r = nullptr;
    http::status status = http::status::ok;
    std::string allow;
    std::string pattern = "unmatched";
  };
  match find(http::verb method, std::string_view path) const {
    std::vector<const route*> group;
    for (const auto& r : routes)
      if (!r.prefix && r.path == path) group.push_back(&r);
    if (group.empty()) {
      std::size_t best = 0;
      for (const auto& r : routes) {
        if (r.prefix && path.substr(0, r.path.size()) == r.path && r.path.size() >= best) {
          if (r.path.size() > best) group.clear();
          best = r.path.size();
          group.push_back(&r);
        }
      }
    }
    match m;
    if (group.empty()) {
      m.status = http::status::not_found;
      return m;
    }
    m.pattern = group.front()->path + (group.front()->prefix ? "*" : "");
    for (const auto* r : group) {
      if (r->method == method) {
        m.r = r;
        return m;
      }
    }
    m.status = http::status::method_not_allowed;
    for (const auto* r : group) {
      std::string v(http::to_string(r->method));
      if (m.allow.find(v) == std::string::npos) m.allow += (m.allow.empty() ? "" : ", ") + v;
    }
    return m;
  }

  // The series a request counts in, looked up by "method route status" (and the route) once:
  // a request does not build label maps.
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex series_mu;
  std::unordered_map<std::string, counter_family::series, text_hash, std::equal_to<>> request_series;
  std::unordered_map<std::string, histogram_family::handle, text_hash, std::equal_to<>> latency_series;

  void count(std::string_view method, std::string_view pattern, unsigned status, double seconds) {
    char digits[12];
    const auto end = std::to_chars(digits, digits + sizeof digits, status).ptr;
    const std::string_view code(digits, static_cast<std::size_t>(end - digits));
    thread_local std::string key;  // its buffer kept between requests
    key.clear();
    key.append(method).append(1, ' ').append(code).append(1, ' ').append(pattern);
    std::lock_guard lock(series_mu);
    auto c = request_series.find(key);
    if (c == request_series.end())
      c = request_series
              .emplace(key, requests->at({{"method", std::string(method)},
                                          {"route", std::string(pattern)},
                                          {"status", std::string(code)}}))
              .first;
    c->second.inc();
    auto l = latency_series.find(pattern);
    if (l == latency_series.end())
      l = latency_series.emplace(std::string(pattern), latency->at({{"route", std::string(pattern)}})).first;
    l->second.observe(seconds);
  }

  void record(const request& req, std::string_view pattern, unsigned status, std::chrono::steady_clock::time_point t0) {
    auto elapsed = std::chrono::steady_clock::now() - t0;
    if (requests) count(req.method_string(), pattern, status, std::chrono::duration<double>(elapsed).count());
    if (opts.access_log) {
      const std::string_view path = request_path(req).substr(0, 200);  // never the query: it may carry a verify token
      const bool first_held = log::write_flat_held(log::level::info, "http request",
                      {{"method", std::string_view(req.method_string())},
                       {"path", path},
                       {"status", static_cast<std::int64_t>(status)},
                       {"ms", static_cast<std::int64_t>(
                                  std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count())}});
      if (first_held) {
        // Written within 100 ms, or sooner by the next line that is not held.
        auto t = std::make_shared<net::steady_timer>(acceptor.get_executor(), std::chrono::milliseconds(100));
        t->async_wait([t](const boost::system::error_code&) { log::flush(); });
      }
    }
  }

  // Runs the route's handler: an exception it throws is logged (once) and turned into a 500.
  net::awaitable<response> handle(request& req) {
    auto t0 = std::chrono::steady_clock::now();
    auto m = find(req.method(), request_path(req));
    response res;
    if (!m.r) {
      if (m.status == http::status::not_found) {
        res = plain(req.version(), http::status::not_found, "not found\n", req.keep_alive());
      } else {
        res = plain(req.version(), http::status::method_not_allowed, "method not allowed\n", req.keep_alive());
        res.set(http::field::allow, m.allow);
      }
    } else {
      // The handler's exception ends here (logged once, answered 500); awaited directly (a
      // co_spawn per request cost a coroutine launch and a post for the same isolation).
      std::exception_ptr ep;
      response out;
      try {
        out = co_await m.r->h(req);
      } catch (...) {
        ep = std::current_exception();
      }
      if (ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        log::error("handler failed", {{"route", m.pattern}, {"method", std::string(req.method_string())}, {"error", what}});
        res = plain(req.version(), http::status::internal_server_error, "internal error\n", req.keep_alive());
      } else {
        res = std::move(out);
      }
    }
    record(req, m.pattern, res.result_int(), t0);
    co_return res;
  }

  // Writes a response the server made up (413, 400, …) and closes, reading what the client
  // still sends for a moment so it gets to read the answer instead of a reset.
  static net::awaitable<void> answer_and_close(connection& c, response res, std::chrono::milliseconds write_timeout) {
    res.keep_alive(false);
    res.prepare_payload();
    c.stream.expires_after(write_timeout);
    auto [ec, n] = co_await http::async_write(c.stream, res, tuple_awaitable);
    (void)n;
    if (ec) co_return;
    beast::error_code ignored;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    c.stream.expires_after(500ms);
    std::array<char, 4096> sink{};
    std::size_t drained = 0;
    while (drained < 1024 * 1024) {
      auto [rec, got] = co_await c.stream.async_read_some(net::buffer(sink), tuple_awaitable);
      if (rec) break;
      drained += got;
    }
  }

  net::awaitable<void> serve(std::shared_ptr<connection> c) {
    auto& stream = c->stream;
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
      // Wait for the first byte of the next request (keep-alive idle time).
      if (buffer.size() == 0) {
        c->busy = false;
        if (stopping) break;
        stream.expires_after(first ? opts.read_timeout : opts.idle_timeout);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), tuple_awaitable);
        if (ec) break;  // closed, idle timeout, or shutdown
        buffer.commit(n);
      }
      c->busy = true;
      first = false;

      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opts.header_limit, UINT32_MAX)));
      parser.body_limit(opts.body_limit);
      stream.expires_after(opts.read_timeout);
      beast::error_code ec = co_await read_http_header(stream, buffer, parser);
      if (!ec && !parser.is_done()) {
        auto expect = parser.get()[http::field::expect];
        if (beast::iequals(expect, "100-continue")) {
          http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
          stream.expires_after(opts.write_timeout);
          auto [wec, wn] = co_await http::async_write(stream, cont, tuple_awaitable);
          (void)wn;
          if (wec) break;
          stream.expires_after(opts.read_timeout);
        }
        ec = co_await read_http_message(stream, buffer, parser);
      }
      if (ec) {
        unsigned version = parser.is_header_done() ? parser.get().version() : 11;
        if (ec == http::error::body_limit) {
          response answer = plain(version, http::status::payload_too_large, "request body too large\n", false);
          co_await answer_and_close(*c, std::move(answer), opts.write_timeout);
          if (requests) requests->inc({{"method", "-"}, {"route", "-"}, {"status", "413"}});
        } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
          response answer =
              plain(version, http::status::request_header_fields_too_large, "request headers too large\n", false);
          co_await answer_and_close(*c, std::move(answer), opts.write_timeout);
          if (requests) requests->inc({{"method", "-"}, {"route", "-"}, {"status", "431"}});
        } else if (!client_went_away(ec) && ec.category() == http::make_error_code(http::error::bad_target).category()) {
          response answer = plain(version, http::status::bad_request, "malformed request\n", false);
          co_await answer_and_close(*c, std::move(answer), opts.write_timeout);
          if (requests) requests->inc({{"method", "-"}, {"route", "-"}, {"status", "400"}});
        }
        break;  // timeouts and resets: nothing to answer
      }

      request req = parser.release();
      response res = co_await handle(req);
      bool keep = req.keep_alive() && res.keep_alive() && !stopping;
      res.version(req.version());
      res.keep_alive(keep);
      if (res[http::field::server].empty()) res.set(http::field::server, "aula");
      res.prepare_payload();
      stream.expires_after(opts.write_timeout);
      const auto wire = http_wire(res);
      auto [wec, wn] = co_await write_http(stream, res, wire);
      (void)wn;
      if (wec || !keep) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
  }

  void track(const std::shared_ptr<connection>& c) {
    std::lock_guard lock(mu);
    conns.emplace(c.get(), c);
  }
  void untrack(connection* c) {
    {
      std::lock_guard lock(mu);
      conns.erase(c);
    }
    active.fetch_sub(1);
    if (open_connections) open_connections->add({}, -1);
  }

  void log_reject() {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    auto last = last_reject_log_ms.load();
    if (now - last >= 1000 && last_reject_log_ms.compare_exchange_strong(last, now))
      log::warn("connection limit reached: closing new connections", {{"max_connections", opts.max_connections}});
  }

  net::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(make_io_lane(ioc.get_executor()), tuple_awaitable);
      if (ec) {
        if (stopping || !acceptor.is_open() || ec == net::error::operation_aborted) break;
        log::warn("accept failed", {{"error", ec.message()}});
        if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space || ec == net::error::no_memory) {
          net::steady_timer t(co_await net::this_coro::executor, 100ms);  // out of fds: back off
          co_await t.async_wait(tuple_awaitable);
        }
        continue;
      }
      if (active.load() >= opts.max_connections) {
        if (rejected) rejected->inc();
        beast::error_code ignored;
        sock.close(ignored);
        log_reject();
        continue;
      }
      active.fetch_add(1);
      if (open_connections) open_connections->add({}, 1);
      auto c = std::make_shared<connection>(std::move(sock));
      track(c);
      auto ex = c->stream.get_executor();
      net::co_spawn(ex, serve(c), [self, raw = c.get()](std::exception_ptr ep) {
        if (ep) {
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            log::error("connection failed", {{"error", e.what()}});
          } catch (...) {
            log::error("connection failed", {{"error", "unknown exception"}});
          }
        }
        self->untrack(raw);
      });
    }
    accept_done = true;
  }

  std::vector<std::shared_ptr<connection>> snapshot() {
    std::lock_guard lock(mu);
    std::vector<std::shared_ptr<connection>> out;
    for (const auto& [raw, c] : conns) out.push_back(c);
    return out;
  }
};

server_options server_options_from(const server_config& c) {
  server_options o;
  auto l = parse_listen(c.listen);
  o.address = l.host;
  o.port = l.port;
  o.read_timeout = c.read_timeout;
  o.write_timeout = c.write_timeout;
  o.idle_timeout = c.idle_timeout;
  o.body_limit = c.body_limit;
  o.header_limit = c.header_limit;
  o.max_connections = c.max_connections;
  return o;
}

http_server::http_server(net::io_context& ioc, server_options opts)
    : impl_(std::make_shared<impl>(ioc, std::move(opts))) {}

http_server::~http_server() {
  // Without a shutdown(): stop accepting (on the acceptor's strand); connections finish alone.
  impl_->stopping = true;
  if (impl_->started) {
    auto i = impl_;
    net::post(i->acceptor.get_executor(), [i] {
      beast::error_code ignored;
      i->acceptor.close(ignored);
    });
  }
}

void http_server::add_route(http::verb method, std::string path, handler h, bool prefix) {
  if (impl_->started) throw std::logic_error("http_server: add_route after start()");
  impl_->routes.push_back(route{method, std::move(path), prefix, std::move(h)});
}

void http_server::start() {
  auto& i = *impl_;
  if (i.started) throw std::logic_error("http_server: start() called twice");
  std::string where = i.opts.address + ":" + std::to_string(i.opts.port);
  beast::error_code ec;
  tcp::endpoint ep;
  auto addr = net::ip::make_address(i.opts.address, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, i.opts.port);
  } else {
    tcp::resolver resolver(i.ioc);
    auto results = resolver.resolve(i.opts.address, std::to_string(i.opts.port), tcp::resolver::passive, ec);
    if (ec || results.empty())
      throw std::runtime_error("cannot listen on " + where + ": cannot resolve '" + i.opts.address +
                               "': " + (ec ? ec.message() : std::string("no address")));
    ep = results.begin()->endpoint();
  }
  auto fail = [&](const char* step) {
    beast::error_code ignored;
    i.acceptor.close(ignored);
    throw std::runtime_error("cannot listen on " + where + ": " + ec.message() + " (" + step + ")");
  };
  i.acceptor.open(ep.protocol(), ec);
  if (ec) fail("open");
  i.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) fail("setsockopt");
  i.acceptor.bind(ep, ec);
  if (ec) fail("bind");
  i.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail("listen");
  i.bound_port = i.acceptor.local_endpoint(ec).port();
  i.started = true;
  auto self = impl_;
  net::co_spawn(i.acceptor.get_executor(), self->accept_loop(), [self](std::exception_ptr ep) {
    self->accept_done = true;
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        log::error("accept loop failed", {{"error", e.what()}});
      } catch (...) {
        log::error("accept loop failed", {{"error", "unknown exception"}});
      }
    }
  });
}

unsigned short http_server::port() const { return impl_->bound_port; }

std::size_t http_server::active_connections() const { return impl_->active.load(); }

net::awaitable<void> http_server::shutdown(std::chrono::milliseconds grace) {
  auto self = impl_;
  self->stopping = true;
  if (!self->started) co_return;
  // Stop accepting, on the acceptor's strand (the accept loop runs there).
  // (A named lambda: g++ 12 destroys a temporary lambda with captures in a co_await
  // expression twice, which here would drop a reference to the server.)
  impl* raw = self.get();
  auto close_acceptor = [raw]() -> net::awaitable<void> {
    beast::error_code ignored;
    raw->acceptor.close(ignored);
    co_return;
  };
  co_await net::co_spawn(self->acceptor.get_executor(), close_acceptor, net::use_awaitable);
  // Idle keep-alive connections end now; busy ones end after their response.
  for (auto& c : self->snapshot()) {
    net::post(c->stream.get_executor(), [c] {
      if (!c->busy) c->stream.cancel();
    });
  }
  auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while ((self->active.load() > 0 || !self->accept_done) && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(10ms);
    co_await timer.async_wait(tuple_awaitable);
  }
  if (self->active.load() > 0) {
    log::warn("shutdown grace over: closing connections still open", {{"connections", self->active.load()}});
    for (auto& c : self->snapshot()) {
      net::post(c->stream.get_executor(), [c] {
        c->stream.cancel();
        beast::error_code ignored;
        c->stream.socket().close(ignored);
      });
    }
    // A handler still running keeps its connection until it returns; wait a little for them.
    auto last = std::chrono::steady_clock::now() + 1s;
    while (self->active.load() > 0 && std::chrono::steady_clock::now() < last) {
      timer.expires_after(10ms);
      co_await timer.async_wait(tuple_awaitable);
    }
  }
}

http_server::response make_response(const http_server::request& req, http::status status, std::string body,
                                    std::string content_type) {
  http_server::response res{status, req.version()};
  res.set(http::field::server, "aula");
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string_view request_path(const http_server::request& req) {
  std::string_view t(req.target().data(), req.target().size());
  auto q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

http_in to_http_in(const http_server::request& req) {
  http_in in;
  in.method = std::string(req.method_string());
  in.target = std::string(req.target());
  for (const auto& f : req) {
    std::string name(f.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto [it, inserted] = in.headers.emplace(name, std::string(f.value()));
    if (!inserted) it->second += ", " + std::string(f.value());
  }
  in.body = req.body();
  return in;
}

http_server::response to_response(const http_server::request& req, const http_out& out) {
  return make_response(req, static_cast<http::status>(out.status), out.body, out.content_type);
}

}  // namespace aula
