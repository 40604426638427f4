#include "bot/io/http_client.hpp"
#include "bot/io/url.hpp"
#include "bot/io/egress.hpp"
#include "bot/io/fan_out.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <catch2/catch.hpp>
#include <openssl/ssl.h>

#include "http_test_support.hpp"

using namespace aula;
using namespace aula::test;
using namespace std::chrono_literals;
namespace ssl = net::ssl;

namespace {

constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// ---- a test CA and server certificates, made with the openssl command at test time -----------

struct test_pki {
  ~test_pki() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
  std::string dir;
  std::string ca;          // trusted by the client under test (AULA_CA_FILE)
  std::string good_cert;   // localhost + 127.0.0.1, signed by ca
  std::string good_key;
  std::string wrong_cert;  // wrong.example only, signed by ca
  std::string wrong_key;
  std::string rogue_cert;  // localhost + 127.0.0.1, signed by a CA nobody trusts
  std::string rogue_key;
};

void sh(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("command failed: " + cmd);
}

const test_pki& pki() {
  static const test_pki p = [] {
    char tmpl[] = "/tmp/aula-pki-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    test_pki k;
    k.dir = tmpl;
    const std::string d = k.dir + "/";
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto ca = [&](const std::string& name) {
      sh("openssl req -x509 " + ec + " -keyout " + d + name + ".key -out " + d + name + ".crt -days 2 -subj '/CN=" +
         name + "' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
    };
    auto leaf = [&](const std::string& name, const std::string& issuer, const std::string& san) {
      std::ofstream(d + name + ".ext") << "subjectAltName=" << san
                                       << "\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                                          "extendedKeyUsage=serverAuth\n";
      sh("openssl req " + ec + " -keyout " + d + name + ".key -out " + d + name + ".csr -subj '/CN=" + name + "'");
      sh("openssl x509 -req -in " + d + name + ".csr -CA " + d + issuer + ".crt -CAkey " + d + issuer +
         ".key -CAcreateserial -out " + d + name + ".crt -days 2 -extfile " + d + name + ".ext");
    };
    ca("aula-test-ca");
    ca("rogue-ca");
    leaf("good", "aula-test-ca", "DNS:localhost,IP:127.0.0.1");
    leaf("wrong", "aula-test-ca", "DNS:wrong.example");
    leaf("rogue", "rogue-ca", "DNS:localhost,IP:127.0.0.1");
    k.ca = d + "aula-test-ca.crt";
    k.good_cert = d + "good.crt";
    k.good_key = d + "good.key";
    k.wrong_cert = d + "wrong.crt";
    k.wrong_key = d + "wrong.key";
    k.rogue_cert = d + "rogue.crt";
    k.rogue_key = d + "rogue.key";
    return k;
  }();
  return p;
}

// ---- a scriptable provider mock (plain or TLS) --------------------------------------------------

enum class action {
  respond,                  // answer (keep-alive unless the response says otherwise)
  respond_then_drop_soon,   // answer with keep-alive, then close the idle connection 50 ms later
  drop_without_answer,      // read the request, count it, close
  never_answer,             // read the request, count it, hang
  respond_late,             // answer after 50 ms (calls overlap)
};

struct test_server {
  using request = http::request<http::string_body>;
  using response = http::response<http::string_body>;
  // nth: 1 for the first request on its connection.
  std::function<action(const request&, int nth, response&)> script = [](const request& req, int, response& res) {
    res.body() = "echo:" + req.body();
    return action::respond;
  };

  explicit test_server(io_runner& io) : io_(io), acceptor_(net::make_strand(io.ioc)) {}
  // Its coroutines use this object: the threads stop before it goes.
  ~test_server() { io_.stop(); }

  void use_tls(const std::string& cert, const std::string& key) {
    tls_.emplace(ssl::context::tls_server);
    tls_->use_certificate_chain_file(cert);
    tls_->use_private_key_file(key, ssl::context::pem);
  }

  unsigned short start() {
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    net::co_spawn(acceptor_.get_executor(), accept_loop(), net::detached);
    return acceptor_.local_endpoint().port();
  }

  void stop() {
    net::post(acceptor_.get_executor(), [this] { acceptor_.close(); });
  }

  std::atomic<int> receipts{0};
  std::atomic<int> connections{0};
  std::mutex mu;
  std::vector<std::string> sni;      // server name of each TLS handshake ("" = none)
  std::vector<request> requests;     // every request received

 private:
  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(net::make_strand(io_.ioc), nothrow);
      if (ec) co_return;
      ++connections;
      net::co_spawn(sock.get_executor(), session(std::move(sock)), net::detached);
    }
  }

  net::awaitable<void> session(tcp::socket sock) {
    beast::tcp_stream plain(std::move(sock));
    if (!tls_) {
      co_await serve(plain, plain);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> s(std::move(plain), *tls_);
    beast::get_lowest_layer(s).expires_after(5s);
    auto [ec] = co_await s.async_handshake(ssl::stream_base::server, nothrow);
    if (ec) co_return;
    const char* name = SSL_get_servername(s.native_handle(), TLSEXT_NAMETYPE_host_name);
    {
      std::lock_guard lock(mu);
      sni.push_back(name ? name : "");
    }
    co_await serve(s, beast::get_lowest_layer(s));
  }

  template <class Stream>
  net::awaitable<void> serve(Stream& s, beast::tcp_stream& lowest) {
    beast::flat_buffer buf;
    for (int nth = 1;; ++nth) {
      request req;
      lowest.expires_never();
      auto [ec, n] = co_await http::async_read(s, buf, req, nothrow);
      if (ec) co_return;
      ++receipts;
      response res{http::status::ok, req.version()};
      res.keep_alive(req.keep_alive());
      action a = script(req, nth, res);
      {
        std::lock_guard lock(mu);
        requests.push_back(req);
      }
      if (a == action::drop_without_answer) {
        lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
        lowest.close();
        co_return;
      }
      if (a == action::never_answer) {
        net::steady_timer t(co_await net::this_coro::executor, 5s);
        co_await t.async_wait(nothrow);
        co_return;
      }
      if (a == action::respond_late) {
        net::steady_timer t(co_await net::this_coro::executor, 50ms);
        co_await t.async_wait(nothrow);
      }
      res.prepare_payload();
      lowest.expires_after(5s);
      auto [wec, wn] = co_await http::async_write(s, res, nothrow);
      if (wec || !res.keep_alive()) co_return;
      if (a == action::respond_then_drop_soon) {
        net::steady_timer t(co_await net::this_coro::executor, 50ms);
        co_await t.async_wait(nothrow);
        lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
        lowest.close();
        co_return;
      }
    }
  }

  io_runner& io_;
  tcp::acceptor acceptor_;
  std::optional<ssl::context> tls_;
};

// ---- a CONNECT proxy -----------------------------------------------------------------------

struct test_proxy {
  explicit test_proxy(io_runner& io) : io_(io), acceptor_(net::make_strand(io.ioc)) {}
  ~test_proxy() { io_.stop(); }

  unsigned short start() {
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    net::co_spawn(acceptor_.get_executor(), accept_loop(), net::detached);
    return acceptor_.local_endpoint().port();
  }
  void stop() {
    net::post(acceptor_.get_executor(), [this] { acceptor_.close(); });
  }

  std::atomic<int> tunnels{0};
  std::mutex mu;
  std::vector<std::string> targets;  // CONNECT targets
  std::vector<std::string> auth;     // Proxy-Authorization values

 private:
  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(net::make_strand(io_.ioc), nothrow);
      if (ec) co_return;
      net::co_spawn(sock.get_executor(), tunnel(std::make_shared<tcp::socket>(std::move(sock))), net::detached);
    }
  }

  static net::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
    std::array<char, 16384> buf{};
    for (;;) {
      auto [ec, n] = co_await from->async_read_some(net::buffer(buf), nothrow);
      if (ec) break;
      auto [wec, wn] = co_await net::async_write(*to, net::buffer(buf.data(), n), nothrow);
      if (wec) break;
    }
    beast::error_code ignored;
    to->shutdown(tcp::socket::shutdown_send, ignored);
  }

  net::awaitable<void> tunnel(std::shared_ptr<tcp::socket> client) {
    beast::flat_buffer buf;
    http::request_parser<http::empty_body> parser;
    auto [ec, n] = co_await http::async_read(*client, buf, parser, nothrow);
    if (ec) co_return;
    auto& req = parser.get();
    std::string target(req.target());
    {
      std::lock_guard lock(mu);
      targets.push_back(target);
      auth.push_back(std::string(req[http::field::proxy_authorization]));
    }
    auto colon = target.rfind(':');
    auto upstream = std::make_shared<tcp::socket>(client->get_executor());
    tcp::endpoint ep(net::ip::make_address(target.substr(0, colon)),
                     static_cast<unsigned short>(std::stoi(target.substr(colon + 1))));
    auto [cec] = co_await upstream->async_connect(ep, nothrow);
    std::string answer = cec ? "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
                             : "HTTP/1.1 200 Connection established\r\n\r\n";
    auto [wec, wn] = co_await net::async_write(*client, net::buffer(answer), nothrow);
    if (cec || wec) co_return;
    ++tunnels;
    net::co_spawn(client->get_executor(), pump(client, upstream), net::detached);
    co_await pump(upstream, client);
  }

  io_runner& io_;
  tcp::acceptor acceptor_;
};

client_options fast_options() {
  client_options o;
  o.connect_timeout = 2s;
  o.request_timeout = 3s;
  o.use_system_ca = false;
  return o;
}

http_call call(const std::string& method, const std::string& url, const std::string& body = {}) {
  http_call c;
  c.method = method;
  c.url = url;
  c.body = body;
  if (!body.empty()) c.headers["Content-Type"] = "application/json";
  return c;
}

std::string base(unsigned short port, const std::string& scheme = "http", const std::string& host = "127.0.0.1") {
  return scheme + "://" + host + ":" + std::to_string(port);
}

}  // namespace

TEST_CASE("a lane is a strand unless one thread runs the io_context") {
  net::io_context shared, alone;
  mark_one_thread(alone);
  mark_one_thread(alone);  // twice: still one mark
  CHECK_FALSE(one_thread_runs(shared.get_executor()));
  CHECK(one_thread_runs(alone.get_executor()));
  // Threads share `shared`: each lane is a strand of its own, also when made from a strand.
  const io_lane a = make_io_lane(shared.get_executor()), b = make_io_lane(shared.get_executor());
  REQUIRE(a.target<io_strand>());
  REQUIRE(b.target<io_strand>());
  CHECK(*a.target<io_strand>() != *b.target<io_strand>());
  const io_lane c = make_io_lane(a);
  REQUIRE(c.target<io_strand>());
  CHECK(*c.target<io_strand>() != *a.target<io_strand>());
  // One thread runs `alone`: a lane is its own executor, also when made from a strand of it.
  const io_lane d = make_io_lane(alone.get_executor());
  REQUIRE(d.target<net::io_context::executor_type>());
  CHECK(*d.target<net::io_context::executor_type>() == alone.get_executor());
  const io_lane e = make_io_lane(net::any_io_executor(net::make_strand(alone.get_executor())));
  REQUIRE(e.target<net::io_context::executor_type>());
  CHECK(*e.target<net::io_context::executor_type>() == alone.get_executor());
}

TEST_CASE("fan-out jobs run inside the caller's strand, on two threads too") {
  // The sender fans out on its strand: a lane of the fan-out's own beside it would run the jobs
  // alongside the sender's other handlers.
  io_runner io(2);
  const io_strand caller = make_io_strand(io.ioc.get_executor());
  std::atomic<int> outside{0}, ran{0};
  const std::function<net::awaitable<void>(std::size_t)> job = [&](std::size_t) -> net::awaitable<void> {
    if (!caller.running_in_this_thread()) ++outside;
    net::steady_timer pause(co_await net::this_coro::executor, std::chrono::milliseconds(1));
    co_await pause.async_wait(net::use_awaitable);
    if (!caller.running_in_this_thread()) ++outside;
    ++ran;
  };
  auto fut = net::co_spawn(caller, for_each_concurrently(16, 4, job), net::use_future);
  REQUIRE(fut.wait_for(20s) == std::future_status::ready);
  fut.get();
  CHECK(ran == 16);
  CHECK(outside == 0);
}

TEST_CASE("client sends GET and POST over plain HTTP") {
  // Two threads (the client's connections on strands) and one (on the io_context itself).
  const int threads = GENERATE(2, 1);
  INFO("threads " << threads);
  io_runner io(threads);
  test_server srv(io);
  srv.script = [](const test_server::request& req, int, test_server::response& res) {
    res.set("X-Reply", "yes");
    res.set(http::field::content_type, "application/json");
    res.body() = std::string(req.method_string()) + " " + std::string(req.target()) + " " + req.body();
    return action::respond;
  };
  auto port = srv.start();
  http_client client(io.ioc.get_executor(), fast_options());

  auto r = run_sync(io, client.request(call("POST", base(port) + "/bot123/sendMessage?x=1", "{\"a\":1}")));
  CHECK(r.ok());
  CHECK(r.status == 200);
  CHECK(r.body == "POST /bot123/sendMessage?x=1 {\"a\":1}");
  CHECK(r.headers["x-reply"] == "yes");
  CHECK_FALSE(r.reused_connection);
  {
    std::lock_guard lock(srv.mu);
    REQUIRE(srv.requests.size() == 1);
    CHECK(srv.requests[0][http::field::host] == "127.0.0.1:" + std::to_string(port));
    CHECK(srv.requests[0][http::field::content_type] == "application/json");
    CHECK(srv.requests[0][http::field::content_length] == "7");
  }
  auto g = run_sync(io, client.request(call("GET", base(port))));
  CHECK(g.status == 200);
  CHECK(g.body == "GET / ");
  // By reference (the sender's calls), to a URL seen before: its pool key and Host header,
  // made once, find the kept connection and name the host again.
  const http_call again = call("POST", base(port) + "/bot123/sendMessage?x=1", "{\"b\":\"ñ 🦉\"}");
  auto s = run_sync(io, client.send(again));
  CHECK(s.status == 200);
  CHECK(s.body == "POST /bot123/sendMessage?x=1 {\"b\":\"ñ 🦉\"}");
  CHECK(s.reused_connection);
  CHECK(s.headers["x-reply"] == "yes");
  // The sender's way: the answer's headers not kept, the rest as before.
  auto bare = run_sync(io, client.send(again, false));
  CHECK(bare.status == 200);
  CHECK(bare.body == s.body);
  CHECK(bare.headers.empty());
  CHECK(bare.reused_connection);
  {
    std::lock_guard lock(srv.mu);
    REQUIRE(srv.requests.size() == 4);
    CHECK(srv.requests[2][http::field::host] == "127.0.0.1:" + std::to_string(port));
  }
  auto bad = run_sync(io, client.send(call("POST", "http://[::1", "{}")));
  CHECK_FALSE(bad.ok());
  CHECK(bad.error.starts_with("bad URL"));
  srv.stop();
}

TEST_CASE("client reports non-2xx statuses as responses, not errors") {
  io_runner io;
  test_server srv(io);
  srv.script = [](const test_server::request&, int, test_server::response& res) {
    res.result(http::status::too_many_requests);
    res.set(http::field::retry_after, "7");
    res.body() = R"({"ok":false,"parameters":{"retry_after":7}})";
    return action::respond;
  };
  auto port = srv.start();
  http_client client(io.ioc.get_executor(), fast_options());
  auto r = run_sync(io, client.request(call("POST", base(port) + "/x", "{}")));
  CHECK(r.ok());
  CHECK(r.status == 429);
  CHECK(r.headers["retry-after"] == "7");
  srv.stop();
}

TEST_CASE("client reuses a kept-alive connection") {
  io_runner io;
  test_server srv(io);
  auto port = srv.start();
  http_client client(io.ioc.get_executor(), fast_options());

  auto a = run_sync(io, client.request(call("POST", base(port) + "/a", "1")));
  CHECK(client.idle_connections() == 1);
  auto b = run_sync(io, client.request(call("POST", base(port) + "/b", "2")));
  auto c = run_sync(io, client.request(call("POST", base(port) + "/c", "3")));
  CHECK(a.ok());
  CHECK(b.ok());
  CHECK(c.ok());
  CHECK_FALSE(a.reused_connection);
  CHECK(b.reused_connection);
  CHECK(c.reused_connection);
  CHECK(srv.connections == 1);
  CHECK(srv.receipts == 3);

  SECTION("a response with Connection: close is not kept") {
    srv.script = [](const test_server::request&, int, test_server::response& res) {
      res.keep_alive(false);
      return action::respond;
    };
    auto d = run_sync(io, client.request(call("POST", base(port) + "/d", "4")));
    CHECK(d.ok());
    CHECK(d.reused_connection);
    CHECK(client.idle_connections() == 0);
    auto e = run_sync(io, client.request(call("POST", base(port) + "/e", "5")));
    CHECK(e.ok());
    CHECK_FALSE(e.reused_connection);
  }
  SECTION("close_idle drops the pool") {
    client.close_idle();
    CHECK(client.idle_connections() == 0);
    auto d = run_sync(io, client.request(call("POST", base(port) + "/d", "4")));
    CHECK_FALSE(d.reused_connection);
  }
  srv.stop();
}

TEST_CASE("client keeps a connection for each call that was in flight (the sender's burst)") {
  io_runner io;
  test_server srv(io);
  srv.script = [](const test_server::request&, int, test_server::response&) { return action::respond_late; };
  auto port = srv.start();
  http_client client(io.ioc.get_executor(), fast_options());  // the default pool size
  constexpr int burst = 16;
  auto wave = [&] {
    std::vector<std::future<http_result>> calls;
    for (int k = 0; k < burst; ++k)
      calls.push_back(net::co_spawn(io.ioc, client.request(call("POST", base(port) + "/send", "{}")), net::use_future));
    int ok = 0, reused = 0;
    for (auto& f : calls) {
      REQUIRE(f.wait_for(10s) == std::future_status::ready);
      auto r = f.get();
      ok += r.ok() ? 1 : 0;
      reused += r.reused_connection ? 1 : 0;
    }
    CHECK(ok == burst);
    return reused;
  };
  CHECK(wave() == 0);
  const int opened = srv.connections;
  CHECK(opened == burst);  // the calls overlapped: one connection each
  CHECK(client.idle_connections() == static_cast<std::size_t>(opened));  // all kept, none closed
  CHECK(wave() == burst);  // the next burst opens none
  CHECK(srv.connections == opened);
  srv.stop();
}

TEST_CASE("client does not reuse a connection the server closed while idle") {
  io_runner io;
  test_server srv(io);
  srv.script = [](const test_server::request&, int, test_server::response&) { return action::respond_then_drop_soon; };
  auto port = srv.start();
  http_client client(io.ioc.get_executor(), fast_options());

  auto a = run_sync(io, client.request(call("POST", base(port) + "/a", "1")));
  REQUIRE(a.ok());
  // Idle for longer than the client reuses a connection unchecked (100 ms, http_client.cpp).
  std::this_thread::sleep_for(200ms);  // the server has closed the idle connection by now
  auto b = run_sync(io, client.request(call("POST", base(port) + "/b", "2")));
  CHECK(b.ok());
  CHECK(b.status == 200);
  CHECK_FALSE(b.reused_connection);  // the closed one was noticed and dropped before writing
  CHECK(srv.receipts == 2);
  CHECK(srv.connections == 2);
  srv.stop();
}

TEST_CASE("client never retries a POST on a reused connection the server dropped mid-request") {
  io_runner io;
  test_server srv(io);
  // The second request on a connection is received, then the connection drops unanswered.
  srv.script = [](const test_server::request&, int nth, test_server::response& res) {
    res.body() = "ok";
    return nth == 2 ? action::drop_without_answer : action::respond;
  };
  auto port = srv.start();
  http_client client(io.ioc.get_executor(), fast_options());

  auto first = run_sync(io, client.request(call("POST", base(port) + "/sendMessage", "{\"n\":1}")));
  REQUIRE(first.ok());
  auto second = run_sync(io, client.request(call("POST", base(port) + "/sendMessage", "{\"n\":2}")));
  CHECK_FALSE(second.ok());
  CHECK(second.status == 0);
  CHECK(second.reused_connection);
  CHECK(second.maybe_sent);  // the caller must treat it as possibly delivered
  CHECK(second.error.find("read") != std::string::npos);
  std::this_thread::sleep_for(200ms);
  CHECK(srv.receipts == 2);  // received twice in all: no silent resend of the POST
  CHECK(srv.connections == 1);
  srv.stop();
}

TEST_CASE("client retries an idempotent GET once on a fresh connection") {
  io_runner io;
  test_server srv(io);
  srv.script = [](const test_server::request&, int nth, test_server::response& res) {
    res.body() = "ok";
    return nth == 2 ? action::drop_without_answer : action::respond;
  };
  auto port = srv.start();
  http_client client(io.ioc.get_executor(), fast_options());
  REQUIRE(run_sync(io, client.request(call("GET", base(port) + "/file"))).ok());
  auto again = run_sync(io, client.request(call("GET", base(port) + "/file")));
  CHECK(again.ok());
  CHECK(again.body == "ok");
  CHECK_FALSE(again.reused_connection);  // the answer came on the fresh connection
  CHECK(srv.receipts == 3);
  CHECK(srv.connections == 2);
  srv.stop();
}

TEST_CASE("client request deadline") {
  io_runner io;
  test_server srv(io);
  srv.script = [](const test_server::request&, int, test_server::response&) { return action::never_answer; };
  auto port = srv.start();
  auto opts = fast_options();
  opts.request_timeout = 300ms;
  http_client client(io.ioc.get_executor(), opts);
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_sync(io, client.request(call("POST", base(port) + "/slow", "{}")));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK_FALSE(r.ok());
  INFO(r.error);
  CHECK(r.error.find("timed out") != std::string::npos);
  CHECK(r.maybe_sent);
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 2s);
  CHECK(srv.receipts == 1);
  srv.stop();
}

TEST_CASE("client transport errors") {
  io_runner io;
  http_client client(io.ioc.get_executor(), fast_options());

  SECTION("connection refused") {
    // A port that was just free: bind, read the port, close.
    tcp::acceptor a(io.ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    auto port = a.local_endpoint().port();
    a.close();
    auto r = run_sync(io, client.request(call("POST", base(port) + "/x", "{}")));
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("connect 127.0.0.1:" + std::to_string(port)) != std::string::npos);
    CHECK_FALSE(r.maybe_sent);
  }
  SECTION("bad URLs and methods") {
    CHECK(run_sync(io, client.request(call("GET", "not a url"))).error.find("bad URL") != std::string::npos);
    CHECK(run_sync(io, client.request(call("GET", "ftp://example.com/x"))).error.find("scheme") != std::string::npos);
    CHECK(run_sync(io, client.request(call("FETCH", "http://127.0.0.1:1/"))).error.find("method") != std::string::npos);
  }
  SECTION("errors never show the URL path (it may carry a bot token)") {
    tcp::acceptor a(io.ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    auto port = a.local_endpoint().port();
    a.close();
    auto r = run_sync(io, client.request(call("POST", base(port) + "/bot123456:SECRET/sendMessage", "{}")));
    CHECK(r.error.find("SECRET") == std::string::npos);
  }
}

TEST_CASE("client verifies TLS certificates and host names") {
  const auto& k = pki();
  io_runner io;
  test_server srv(io);
  auto opts = fast_options();
  opts.ca_file = k.ca;

  SECTION("a certificate from the extra CA, by IP address") {
    srv.use_tls(k.good_cert, k.good_key);
    auto port = srv.start();
    http_client client(io.ioc.get_executor(), opts);
    auto r = run_sync(io, client.request(call("POST", base(port, "https") + "/x", "{\"tls\":1}")));
    INFO(r.error);
    CHECK(r.ok());
    CHECK(r.status == 200);
    CHECK(r.body == "echo:{\"tls\":1}");
    auto again = run_sync(io, client.request(call("POST", base(port, "https") + "/x", "2")));
    CHECK(again.ok());
    CHECK(again.reused_connection);
    std::lock_guard lock(srv.mu);
    REQUIRE(srv.sni.size() == 1);
    CHECK(srv.sni[0].empty());  // no SNI for an IP address
    srv.stop();
  }
  SECTION("by host name, with SNI") {
    srv.use_tls(k.good_cert, k.good_key);
    auto port = srv.start();
    http_client client(io.ioc.get_executor(), opts);
    auto r = run_sync(io, client.request(call("GET", base(port, "https", "localhost") + "/x")));
    INFO(r.error);
    CHECK(r.ok());
    std::lock_guard lock(srv.mu);
    REQUIRE(srv.sni.size() == 1);
    CHECK(srv.sni[0] == "localhost");
    CHECK(srv.requests.at(0)[http::field::host] == "localhost:" + std::to_string(port));
    srv.stop();
  }
  SECTION("a certificate for another host name fails") {
    srv.use_tls(k.wrong_cert, k.wrong_key);
    auto port = srv.start();
    http_client client(io.ioc.get_executor(), opts);
    auto r = run_sync(io, client.request(call("POST", base(port, "https") + "/x", "{}")));
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("does not match the host name '127.0.0.1'") != std::string::npos);
    CHECK_FALSE(r.maybe_sent);
    CHECK(srv.receipts == 0);
    srv.stop();
  }
  SECTION("a certificate from an untrusted CA fails") {
    srv.use_tls(k.rogue_cert, k.rogue_key);
    auto port = srv.start();
    http_client client(io.ioc.get_executor(), opts);
    auto r = run_sync(io, client.request(call("POST", base(port, "https") + "/x", "{}")));
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("certificate verify failed") != std::string::npos);
    CHECK(srv.receipts == 0);
    srv.stop();
  }
  SECTION("without the extra CA the test certificate is not trusted") {
    srv.use_tls(k.good_cert, k.good_key);
    auto port = srv.start();
    auto plain_opts = fast_options();
    plain_opts.use_system_ca = true;  // the system store does not know the test CA
    http_client client(io.ioc.get_executor(), plain_opts);
    auto r = run_sync(io, client.request(call("GET", base(port, "https") + "/x")));
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("certificate verify failed") != std::string::npos);
    srv.stop();
  }
  SECTION("a CA file that cannot be read is a start-up error") {
    auto bad = fast_options();
    bad.ca_file = k.dir + "/missing.crt";
    CHECK_THROWS_WITH(http_client(io.ioc.get_executor(), bad), Catch::Contains("missing.crt"));
  }
}

TEST_CASE("client tunnels HTTPS through an HTTPS_PROXY with CONNECT") {
  const auto& k = pki();
  io_runner io;
  test_server srv(io);
  srv.use_tls(k.good_cert, k.good_key);
  auto port = srv.start();
  test_proxy proxy(io);
  auto proxy_port = proxy.start();

  auto opts = fast_options();
  opts.ca_file = k.ca;
  opts.https_proxy = "http://aula:pa%3Ass@127.0.0.1:" + std::to_string(proxy_port);
  http_client client(io.ioc.get_executor(), opts);
  auto r = run_sync(io, client.request(call("POST", base(port, "https") + "/x", "via proxy")));
  INFO(r.error);
  CHECK(r.ok());
  CHECK(r.body == "echo:via proxy");
  auto again = run_sync(io, client.request(call("POST", base(port, "https") + "/x", "again")));
  CHECK(again.reused_connection);
  CHECK(proxy.tunnels == 1);
  {
    std::lock_guard lock(proxy.mu);
    REQUIRE(proxy.targets.size() == 1);
    CHECK(proxy.targets[0] == "127.0.0.1:" + std::to_string(port));
    CHECK(proxy.auth[0] == "Basic YXVsYTpwYTpzcw==");  // base64("aula:pa:ss")
  }
  SECTION("plain http:// goes direct") {
    test_server direct(io);
    auto dport = direct.start();
    auto d = run_sync(io, client.request(call("GET", base(dport) + "/x")));
    CHECK(d.ok());
    CHECK(proxy.tunnels == 1);
    direct.stop();
  }
  proxy.stop();
  srv.stop();
}

TEST_CASE("percent_encode and percent_decode: paths, query values, UTF-8, malformed escapes") {
  CHECK(percent_encode("whatsapp:+5215512345678", ":") == "whatsapp:%2B5215512345678");
  CHECK(percent_encode("whatsapp:+52") == "whatsapp%3A%2B52");
  CHECK(percent_encode("Michoacán tarde ñ") == "Michoac%C3%A1n%20tarde%20%C3%B1");
  CHECK(percent_decode("Michoac%C3%A1n%20tarde%20%c3%b1") == "Michoacán tarde ñ");
  CHECK(percent_decode("a+b") == "a+b");
  CHECK(percent_decode("a+b", true) == "a b");
  CHECK(percent_decode("100%") == "100%");    // a malformed escape stays as written
  CHECK(percent_decode("%zz%4") == "%zz%4");
  const std::string all = "¿Qué? ¡Sí! 🙂 = + & / : ? # %";
  CHECK(percent_decode(percent_encode(all)) == all);
}

// ---- the egress policy of webhook nodes (webhooks.allow_hosts) ----------------------------------

TEST_CASE("public_address: private, loopback, link-local and reserved ranges are not public") {
  for (const char* ip : {"127.0.0.1", "127.8.9.10", "10.0.0.5", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                         "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::",
                         "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "::ffff:127.0.0.1",
                         "::ffff:10.1.2.3", "64:ff9b::a00:1", "ff02::1", "2001:db8::1", "not an address", ""}) {
    INFO(ip);
    CHECK_FALSE(public_address(ip));
  }
  for (const char* ip : {"8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "100.128.0.1", "11.0.0.1",
                         "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    INFO(ip);
    CHECK(public_address(ip));
  }
}

TEST_CASE("egress_refusal: listed hosts pass, '*' admits only public addresses") {
  const std::vector<std::string> allow{"api.example.org", "127.0.0.1:9000", "[::1]:8080", "*.gob.mx"};
  CHECK(egress_refusal(allow, "api.example.org", 443, {"10.0.0.1"}).empty());  // listed by name: any address
  CHECK(egress_refusal(allow, "API.Example.org", 80, {"93.184.216.34"}).empty());
  CHECK(egress_refusal(allow, "127.0.0.1", 9000, {"127.0.0.1"}).empty());
  CHECK_FALSE(egress_refusal(allow, "127.0.0.1", 9001, {"127.0.0.1"}).empty());  // another port
  CHECK(egress_refusal(allow, "::1", 8080, {"::1"}).empty());
  CHECK(egress_refusal(allow, "registro.stps.gob.mx", 443, {"10.2.2.2"}).empty());
  CHECK_FALSE(egress_refusal(allow, "gob.mx", 443, {"8.8.8.8"}).empty());  // *.gob.mx: subdomains only
  CHECK_THAT(egress_refusal(allow, "other.example.org", 443, {"8.8.8.8"}),
             Catch::Contains("not in webhooks.allow_hosts"));
  const std::vector<std::string> any{"*"};
  CHECK(egress_refusal(any, "other.example.org", 443, {"8.8.8.8", "2606:4700::1111"}).empty());
  CHECK_THAT(egress_refusal(any, "localhost", 80, {"127.0.0.1"}), Catch::Contains("resolves to 127.0.0.1"));
  // One private address among public ones is enough to refuse (DNS answers can mix them).
  CHECK_FALSE(egress_refusal(any, "mixed.example.org", 443, {"8.8.8.8", "192.168.0.10"}).empty());
  CHECK_FALSE(egress_refusal(any, "169.254.169.254", 80, {"169.254.169.254"}).empty());
  CHECK_FALSE(egress_refusal({}, "api.example.org", 443, {"8.8.8.8"}).empty());  // an empty list: nothing
}

TEST_CASE("client with allow_hosts: refuses unlisted private destinations before connecting") {
  io_runner io;
  test_server srv(io);
  srv.script = [](const test_server::request&, int, test_server::response& res) {
    res.body() = "hello";
    return action::respond;
  };
  auto port = srv.start();

  SECTION("'*' only: loopback is refused, nothing reaches the server") {
    auto opts = fast_options();
    opts.allow_hosts = std::vector<std::string>{"*"};
    http_client client(io.ioc.get_executor(), opts);
    auto r = run_sync(io, client.request(call("POST", base(port) + "/hook", "{}")));
    CHECK_FALSE(r.ok());
    CHECK(r.refused);
    CHECK_FALSE(r.maybe_sent);
    CHECK_THAT(r.error, Catch::StartsWith("refused: ") && Catch::Contains("127.0.0.1"));
    // By name too: localhost resolves to loopback.
    auto n = run_sync(io, client.request(call("GET", "http://localhost:" + std::to_string(port) + "/hook")));
    CHECK(n.refused);
    CHECK(srv.receipts == 0);
  }
  SECTION("listed with its port: reached") {
    auto opts = fast_options();
    opts.allow_hosts = std::vector<std::string>{"127.0.0.1:" + std::to_string(port)};
    http_client client(io.ioc.get_executor(), opts);
    auto r = run_sync(io, client.request(call("GET", base(port) + "/hook")));
    CHECK(r.ok());
    CHECK(r.body == "hello");
    CHECK(srv.receipts == 1);
  }
  SECTION("an answer over body_limit is an error") {
    srv.script = [](const test_server::request&, int, test_server::response& res) {
      res.body() = std::string(70 * 1024, 'x');
      return action::respond;
    };
    auto opts = fast_options();
    opts.allow_hosts = std::vector<std::string>{"127.0.0.1"};
    opts.body_limit = 64 * 1024;
    http_client client(io.ioc.get_executor(), opts);
    auto r = run_sync(io, client.request(call("GET", base(port) + "/big")));
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.refused);
  }
  SECTION("a slow answer times out") {
    srv.script = [](const test_server::request&, int, test_server::response&) { return action::never_answer; };
    auto opts = fast_options();
    opts.allow_hosts = std::vector<std::string>{"127.0.0.1"};
    opts.request_timeout = 300ms;
    http_client client(io.ioc.get_executor(), opts);
    auto r = run_sync(io, client.request(call("POST", base(port) + "/slow", "{}")));
    CHECK_FALSE(r.ok());
    CHECK(r.timed_out);
  }
  srv.stop();
}
