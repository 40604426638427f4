#include "bot/io/http_client.hpp"

#include "bot/io/egress.hpp"
#include "bot/io/http_read.hpp"
#include "bot/io/http_wire.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bot/config/config.hpp"
#include "bot/io/url.hpp"

namespace aula {
namespace {

namespace ssl = net::ssl;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

struct connection {
  std::string key;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  steady::time_point idle_since;

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool idempotent(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::put || v == http::verb::delete_ ||
         v == http::verb::options;
}

std::string describe_error(const beast::error_code& ec, std::chrono::milliseconds budget) {
  if (ec == beast::error::timeout) return "timed out (deadline " + std::to_string(budget.count()) + "ms)";
  return ec.message();
}

// A connection idle for less than this is reused without asking the kernel whether the server
// closed it: servers close idle connections after seconds (their keep-alive timeout), and one
// closing after its last answer says so in it (Connection: close, never kept). Under load every
// provider call reused a connection idle for a few ms, and the one-byte peek was ~2.7 system
// calls per webhook (strace, 64 connections; ~1.3 µs each on this kind of host).
constexpr auto fresh_idle = std::chrono::milliseconds(100);

// Whether an idle kept-alive connection still looks usable: nothing to read and not closed.
bool still_open(connection& c, steady::time_point now) {
  if (c.buffer.size() > 0) return false;  // leftover bytes: the connection is out of step
  auto& sock = c.lowest().socket();
  if (!sock.is_open()) return false;
  if (now - c.idle_since < fresh_idle) return true;
  char b;
  ssize_t n = ::recv(sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;                                       // the server closed it
  if (n > 0) return false;                                        // unexpected bytes (or a TLS alert)
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;  // nothing pending: alive
}

struct exchange_outcome {
  beast::error_code ec;
  std::string step;             // "write" | "read"
  std::size_t written = 0;      // request bytes accepted by the stream before a failure
  bool got_response_bytes = false;
  http::response<http::string_body> res;
  bool keep_alive = false;
};

// `wire`: the request's bytes (http_wire), else Beast's serializer writes it.
template <class Stream>
net::awaitable<exchange_outcome> exchange(Stream& s, connection& c, http::request<http::string_body>& req,
                                          const std::optional<std::string>& wire, steady::time_point deadline,
                                          std::size_t body_limit) {
  exchange_outcome out;
  c.lowest().expires_at(deadline);
  auto [wec, wn] = co_await write_http(s, req, wire);
  out.written = wn;
  if (wec) {
    out.ec = wec;
    out.step = "write";
    co_return out;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  if (req.method() == http::verb::head) parser.skip(true);
  const beast::error_code rec = co_await read_http_message(s, c.buffer, parser);
  out.got_response_bytes = parser.got_some();
  if (rec) {
    out.ec = rec;
    out.step = "read";
    co_return out;
  }
  out.res = parser.release();
  out.keep_alive = out.res.keep_alive() && !out.res.need_eof();
  co_return out;
}

}  // namespace

struct http_client::impl {
  impl(net::any_io_executor ex, client_options o) : ex(std::move(ex)), opts(std::move(o)), tls(ssl::context::tls_client) {
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_compression);
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    tls.set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (opts.use_system_ca) {
      tls.set_default_verify_paths(ec);
      if (ec) throw std::runtime_error("cannot load the system CA store: " + ec.message());
    }
    if (!opts.ca_file.empty()) {
      tls.load_verify_file(opts.ca_file, ec);
      if (ec) throw std::runtime_error("cannot load the CA file '" + opts.ca_file + "': " + ec.message());
    }
    if (!opts.https_proxy.empty()) {
      std::string err;
      auto p = parse_url(opts.https_proxy, &err);
      if (!p) throw std::runtime_error("HTTPS_PROXY is not a URL: " + err);
      if (p->scheme != "http") throw std::runtime_error("HTTPS_PROXY: only http:// proxies (CONNECT) are supported");
      if (!p->has_port && p->port == 0) p->port = 80;
      proxy = *p;
    }
  }

  net::any_io_executor ex;
  client_options opts;
  ssl::context tls;
  std::optional<parsed_url> proxy;

  mutable std::mutex mu;  // guards idle
  std::map<std::string, std::vector<std::unique_ptr<connection>>> idle;

  // The providers' few URLs, parsed once (a send parsed its URL each time: ~1 % of the CPU
  // per message under load), with the pool's key and the Host header made once too; shared, so
  // a send copies none of its strings. Bounded: cleared when a caller uses many distinct URLs.
  struct known_url {
    parsed_url url;
    std::string key;          // the pool's: "scheme://authority"
    std::string host_header;  // url.host_header()
  };
  std::mutex urls_mu;
  std::unordered_map<std::string, std::shared_ptr<const known_url>> urls;

  std::shared_ptr<const known_url> parsed(const std::string& url, std::string* error) {
    {
      std::lock_guard lock(urls_mu);
      if (auto it = urls.find(url); it != urls.end()) return it->second;
    }
    auto u = parse_url(url, error);
    if (!u) return nullptr;
    auto k = std::make_shared<known_url>();
    k->key = u->scheme + "://" + u->authority();
    k->host_header = u->host_header();
    k->url = std::move(*u);
    std::lock_guard lock(urls_mu);
    if (urls.size() >= 256) urls.clear();
    urls.emplace(url, k);
    return k;
  }

  std::unique_ptr<connection> take_idle(const std::string& key) {
    for (;;) {
      std::unique_ptr<connection> c;
      {
        std::lock_guard lock(mu);
        auto it = idle.find(key);
        if (it == idle.end() || it->second.empty()) return nullptr;
        c = std::move(it->second.back());
        it->second.pop_back();
      }
      const auto now = steady::now();
      if (now - c->idle_since <= opts.max_idle_time && still_open(*c, now)) return c;
      // stale: dropped (closed by its destructor), try the next one
    }
  }

  void put_idle(std::unique_ptr<connection> c) {
    if (opts.max_idle_per_host == 0) return;
    c->idle_since = steady::now();
    std::lock_guard lock(mu);
    auto& list = idle[c->key];
    if (list.size() >= opts.max_idle_per_host) list.erase(list.begin());  // the oldest goes
    list.push_back(std::move(c));
  }

  // Resolves `host`, bounded by `until`. An IP literal skips the resolver.
  net::awaitable<std::pair<beast::error_code, tcp::resolver::results_type>> resolve(const std::string& host,
                                                                                    unsigned short port,
                                                                                    steady::time_point until) {
    using namespace net::experimental::awaitable_operators;
    auto strand = make_io_lane(ex);
    tcp::resolver resolver(strand);
    beast::error_code ec;
    net::ip::make_address(host, ec);
    auto flags = ec ? tcp::resolver::flags() : tcp::resolver::numeric_host;
    net::steady_timer timer(strand, until);
    const std::string service = std::to_string(port);
    auto r = co_await (resolver.async_resolve(host, service, flags, tuple_awaitable) ||
                       timer.async_wait(tuple_awaitable));
    if (r.index() == 1) co_return std::pair{beast::error_code(beast::error::timeout), tcp::resolver::results_type{}};
    auto [rec, results] = std::get<0>(std::move(r));
    co_return std::pair{rec, std::move(results)};
  }

  // A new connection to the URL's host (through the proxy for https when one is set), with
  // TLS when the scheme is https. Returns nullptr and sets `error` on failure.
  net::awaitable<std::unique_ptr<connection>> connect(const parsed_url& u, const std::string& key,
                                                      steady::time_point deadline, std::string& error,
                                                      net::any_io_executor strand) {
    bool https = u.scheme == "https";
    bool via_proxy = https && proxy.has_value();
    const parsed_url& hop = via_proxy ? *proxy : u;
    std::string where = via_proxy ? "proxy " + hop.authority() : hop.authority();
    auto connect_deadline = std::min(deadline, steady::now() + opts.connect_timeout);

    if (opts.allow_hosts && via_proxy && !egress_listed(*opts.allow_hosts, lower(u.host), u.port)) {
      // Through a proxy the proxy resolves the host; judge the addresses it resolves to here.
      auto [tec, target] = co_await resolve(u.host, u.port, connect_deadline);
      std::vector<std::string> addresses;
      if (!tec)
        for (const auto& e : target) addresses.push_back(e.endpoint().address().to_string());
      if (auto why = egress_refusal(*opts.allow_hosts, lower(u.host), u.port, addresses); !why.empty()) {
        error = "refused: " + why;
        co_return nullptr;
      }
    }
    auto [rec, endpoints] = co_await resolve(hop.host, hop.port, connect_deadline);
    if (rec) {
      error = "resolve " + hop.host + ": " + describe_error(rec, opts.connect_timeout);
      co_return nullptr;
    }
    if (opts.allow_hosts && !via_proxy) {
      // Judged on the addresses actually connected to: a name that resolves to a private
      // address is refused whatever it is called.
      std::vector<std::string> addresses;
      for (const auto& e : endpoints) addresses.push_back(e.endpoint().address().to_string());
      if (auto why = egress_refusal(*opts.allow_hosts, lower(hop.host), hop.port, addresses); !why.empty()) {
        error = "refused: " + why;
        co_return nullptr;
      }
    }
    auto c = std::make_unique<connection>();
    c->key = key;
    c->plain.emplace(strand);
    c->plain->expires_at(connect_deadline);
    auto [cec, ep] = co_await c->plain->async_connect(endpoints, tuple_awaitable);
    (void)ep;
    if (cec) {
      error = "connect " + where + ": " + describe_error(cec, opts.connect_timeout);
      co_return nullptr;
    }
    c->plain->socket().set_option(tcp::no_delay(true), cec);

    if (via_proxy) {
      http::request<http::empty_body> req{http::verb::connect, u.authority(), 11};
      req.set(http::field::host, u.authority());
      req.set(http::field::user_agent, opts.user_agent);
      if (!hop.user.empty() || !hop.password.empty())
        req.set(http::field::proxy_authorization, "Basic " + base64(hop.user + ":" + hop.password));
      auto [wec, wn] = co_await http::async_write(*c->plain, req, tuple_awaitable);
      (void)wn;
      beast::flat_buffer buf;
      http::response_parser<http::empty_body> parser;
      parser.skip(true);  // a CONNECT answer has no body: the tunnel starts after the header
      beast::error_code pec = wec;
      if (!pec) std::tie(pec, wn) = co_await http::async_read(*c->plain, buf, parser, tuple_awaitable);
      if (pec) {
        error = "proxy CONNECT via " + where + ": " + describe_error(pec, opts.connect_timeout);
        co_return nullptr;
      }
      auto status = parser.get().result_int();
      if (status < 200 || status > 299) {
        error = "proxy " + where + " refused CONNECT to " + u.authority() + ": HTTP " + std::to_string(status);
        co_return nullptr;
      }
      if (buf.size() > 0) {
        error = "proxy " + where + " sent bytes after its CONNECT answer";
        co_return nullptr;
      }
    }

    if (!https) co_return c;

    // TLS: chain and host name verified; SNI for names (not for IP addresses).
    c->secure.emplace(std::move(*c->plain), tls);
    c->plain.reset();
    auto& s = *c->secure;
    beast::error_code ec;
    net::ip::make_address(u.host, ec);
    bool is_ip = !ec;
    if (!is_ip && !SSL_set_tlsext_host_name(s.native_handle(), u.host.c_str())) {
      error = "TLS " + u.authority() + ": cannot set SNI";
      co_return nullptr;
    }
    auto host_mismatch = std::make_shared<bool>(false);
    s.set_verify_mode(ssl::verify_peer);
    s.set_verify_callback([check = ssl::host_name_verification(u.host), host_mismatch](bool preverified,
                                                                                         ssl::verify_context& ctx) {
      bool ok = check(preverified, ctx);
      if (preverified && !ok) *host_mismatch = true;
      return ok;
    });
    beast::get_lowest_layer(s).expires_at(deadline);
    auto [hec] = co_await s.async_handshake(ssl::stream_base::client, tuple_awaitable);
    if (hec) {
      long verify = SSL_get_verify_result(s.native_handle());
      if (*host_mismatch) {
        error = "TLS " + u.authority() + ": the certificate does not match the host name '" + u.host + "'";
      } else if (verify != X509_V_OK) {
        error = "TLS " + u.authority() + ": certificate verify failed: " + X509_verify_cert_error_string(verify);
      } else {
        error = "TLS handshake with " + u.authority() + ": " + describe_error(hec, opts.request_timeout);
      }
      co_return nullptr;
    }
    co_return c;
  }

  net::awaitable<http_result> run(const http_call& call, bool keep_headers = true) {
    http_result result;
    auto started = steady::now();
    auto deadline = started + opts.request_timeout;
    std::string err;
    const std::shared_ptr<const known_url> known = parsed(call.url, &err);
    if (!known) {
      result.error = "bad URL: " + err;
      co_return result;
    }
    const parsed_url* u = &known->url;
    if (u->scheme != "http" && u->scheme != "https") {
      result.error = "unsupported URL scheme '" + u->scheme + "'";
      co_return result;
    }
    if (u->host.empty()) {
      result.error = "URL without a host";
      co_return result;
    }
    auto verb = http::string_to_verb(call.method);
    if (verb == http::verb::unknown) {
      result.error = "unknown HTTP method '" + call.method + "'";
      co_return result;
    }
    const std::string& key = known->key;

    http::request<http::string_body> req{verb, u->target, 11};
    req.set(http::field::host, known->host_header);
    req.set(http::field::user_agent, opts.user_agent);
    for (const auto& [name, value] : call.headers) req.set(name, value);
    req.body() = call.body;
    req.keep_alive(true);
    req.prepare_payload();
    const std::optional<std::string> wire = http_wire(req);

    bool fresh_only = false;
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<connection> c = fresh_only ? nullptr : take_idle(key);
      bool reused = c != nullptr;
      result.reused_connection = reused;
      if (!c) {
        // Each connection lives on its own lane (a strand, or the io_context when one thread
        // runs it), and its operations run there: Beast's timeouts rely on the stream's
        // handlers being serialized.
        net::any_io_executor strand = make_io_lane(ex);
        c = co_await net::co_spawn(strand, connect(*u, key, deadline, err, strand), net::use_awaitable);
        if (!c) {
          result.error = err;
          result.maybe_sent = false;
          result.refused = err.starts_with("refused: ");
          result.timed_out = err.find("timed out") != std::string::npos;
          co_return result;
        }
      }
      exchange_outcome out;
      auto conn_ex = c->lowest().get_executor();
      auto exchanged = c->secure ? exchange(*c->secure, *c, req, wire, deadline, opts.body_limit)
                                 : exchange(*c->plain, *c, req, wire, deadline, opts.body_limit);
      // On the connection's lane. When that is the io_context one thread runs (net.hpp) and
      // this coroutine runs on it too, it is there already: no hop.
      if (one_thread_runs(conn_ex) && &net::query(co_await net::this_coro::executor, net::execution::context) ==
                                          &net::query(conn_ex, net::execution::context))
        out = co_await std::move(exchanged);
      else
        out = co_await net::co_spawn(conn_ex, std::move(exchanged), net::use_awaitable);
      if (!out.ec) {
        result.status = out.res.result_int();
        result.body = std::move(out.res.body());
        if (keep_headers)
          for (const auto& f : out.res) {
            auto name = lower(std::string(f.name_string()));
            auto [it, inserted] = result.headers.emplace(name, std::string(f.value()));
            if (!inserted) it->second += ", " + std::string(f.value());
          }
        result.error.clear();
        result.maybe_sent = true;
        if (out.keep_alive) put_idle(std::move(c));
        co_return result;
      }
      result.maybe_sent = out.written > 0;
      result.timed_out = out.ec == beast::error::timeout;
      result.error = out.step + " " + u->authority() + ": " +
                     describe_error(out.ec, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - started)) +
                     (reused ? " (on a reused connection)" : "");
      // The only retries: a reused connection that provably never got the request, or an
      // idempotent request that got no answer at all. Never after the deadline.
      bool provably_unsent = out.written == 0;
      bool safe = provably_unsent || (idempotent(verb) && !out.got_response_bytes);
      if (!reused || !safe || out.ec == beast::error::timeout || steady::now() >= deadline) co_return result;
      fresh_only = true;
    }
    co_return result;
  }
};

client_options client_options_from(const app_config& c) {
  client_options o;
  o.connect_timeout = c.http_client.connect_timeout;
  o.request_timeout = c.http_client.request_timeout;
  o.max_idle_per_host = c.http_client.max_idle_per_host;
  o.ca_file = c.ca_file;
  o.https_proxy = c.https_proxy;
  return o;
}

http_client::http_client(net::any_io_executor ex, client_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(opts))) {}

http_client::~http_client() = default;

net::awaitable<http_result> http_client::request(http_call call) {
  auto self = impl_;  // the client may be destroyed while a request is in flight
  co_return co_await self->run(call);
}

net::awaitable<http_result> http_client::send(const http_call& call, bool headers) {
  auto self = impl_;
  co_return co_await self->run(call, headers);
}

std::size_t http_client::idle_connections() const {
  std::lock_guard lock(impl_->mu);
  std::size_t n = 0;
  for (const auto& [k, v] : impl_->idle) n += v.size();
  return n;
}

void http_client::close_idle() {
  std::map<std::string, std::vector<std::unique_ptr<connection>>> drop;
  std::lock_guard lock(impl_->mu);
  drop.swap(impl_->idle);
}

}  // namespace aula
