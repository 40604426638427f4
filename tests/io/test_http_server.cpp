#include "bot/io/http_server.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "bot/io/log.hpp"
#include "bot/io/metrics.hpp"
#include "http_test_support.hpp"

using namespace aula;
using namespace aula::test;
using namespace std::chrono_literals;
using response = http_server::response;
using request = http_server::request;

namespace {

server_options test_options() {
  server_options o;
  o.address = "127.0.0.1";
  o.port = 0;
  o.read_timeout = 2s;
  o.write_timeout = 2s;
  o.idle_timeout = 5s;
  o.access_log = false;
  return o;
}

http_server::handler text(std::string body) {
  return [body](request& req) -> net::awaitable<response> { co_return make_response(req, http::status::ok, body); };
}

http_server::handler echo() {
  return [](request& req) -> net::awaitable<response> {
    co_return make_response(req, http::status::ok, "got:" + req.body());
  };
}

// Captures log lines for the duration of a test.
struct log_capture {
  log_capture() {
    log::set_sink([this](const std::string& line) {
      std::lock_guard lock(mu);
      lines.push_back(line);
    });
  }
  ~log_capture() { log::set_sink(nullptr); }
  std::size_t count(const std::string& needle) {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& l : lines)
      if (l.find(needle) != std::string::npos) ++n;
    return n;
  }
  std::mutex mu;
  std::vector<std::string> lines;
};

}  // namespace

TEST_CASE("server routes requests by method and path") {
  io_runner io;
  http_server srv(io.ioc, test_options());
  srv.add_route(http::verb::get, "/healthz", text("ok"));
  srv.add_route(http::verb::post, "/echo", echo());
  srv.add_route(http::verb::get, "/admin/", text("admin area"), true);
  srv.add_route(http::verb::get, "/admin/exact", text("exact wins"));
  srv.start();
  REQUIRE(srv.port() != 0);

  raw_client c;
  REQUIRE(c.connect(srv.port()));

  SECTION("exact GET") {
    c.send(get_request("/healthz?probe=1"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
    CHECK(r->header("server: aula"));
  }
  SECTION("POST with a body") {
    c.send(post_request("/echo", "hola"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "got:hola");
  }
  SECTION("prefix route, and an exact route beats it") {
    c.send(get_request("/admin/learners/42"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->body == "admin area");
    c.send(get_request("/admin/exact"));
    r = c.read_response();
    REQUIRE(r);
    CHECK(r->body == "exact wins");
  }
  SECTION("unknown path is 404") {
    c.send(get_request("/nothing"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 404);
  }
  SECTION("known path with another method is 405 with Allow") {
    c.send(post_request("/healthz", "x"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->header("allow: GET"));
    // The connection stays usable after a 404/405.
    c.send(get_request("/healthz"));
    r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  run_sync(io, srv.shutdown(2s));
}

TEST_CASE("server answers 413 to a body over the limit and closes") {
  io_runner io;
  auto opts = test_options();
  opts.body_limit = 1024;
  http_server srv(io.ioc, opts);
  srv.add_route(http::verb::post, "/echo", echo());
  srv.start();

  SECTION("declared Content-Length over the limit") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(2000, 'a'));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(r->header("connection: close"));
    CHECK(c.wait_closed());
  }
  SECTION("chunked body growing over the limit") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    std::string chunk(800, 'b');
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk + "\r\n320\r\n" + chunk +
           "\r\n0\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 413);
  }
  SECTION("a body at the limit passes") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    c.send(post_request("/echo", std::string(1024, 'c')));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.size() == 4 + 1024);
  }
  run_sync(io, srv.shutdown(2s));
}

TEST_CASE("server answers 400 to garbage and 431 to huge headers, then closes") {
  io_runner io;
  auto opts = test_options();
  opts.header_limit = 2048;
  http_server srv(io.ioc, opts);
  srv.add_route(http::verb::get, "/healthz", text("ok"));
  srv.start();

  SECTION("garbage bytes") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    const char garbage[] = "\x16\x03\x01\x02\x00 this is not http\r\n\r\n";
    c.send(std::string(garbage, sizeof garbage - 1));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(c.wait_closed());
  }
  SECTION("a bad request line") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    c.send("GET /healthz HTTP/9.Z\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  SECTION("headers over header_limit") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'h') + "\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 431);
  }
  run_sync(io, srv.shutdown(2s));
}

TEST_CASE("server cuts a slow client at the read deadline") {
  io_runner io;
  auto opts = test_options();
  opts.read_timeout = 300ms;
  http_server srv(io.ioc, opts);
  srv.add_route(http::verb::post, "/echo", echo());
  srv.start();

  SECTION("headers that never end") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    auto t0 = std::chrono::steady_clock::now();
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\n");
    // Trickle a header byte now and then: the deadline is for the whole request, not per read.
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(100ms);
      c.send("X");
    }
    CHECK(c.wait_closed());
    auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(elapsed >= 250ms);
    CHECK(elapsed < 3s);
  }
  SECTION("a body that stops halfway") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part");
    auto t0 = std::chrono::steady_clock::now();
    CHECK(c.wait_closed());
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  }
  SECTION("a connection that never sends a byte") {
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    CHECK(c.wait_closed());
  }
  run_sync(io, srv.shutdown(2s));
  CHECK(srv.active_connections() == 0);
}

TEST_CASE("server keeps a connection alive across requests") {
  io_runner io;
  auto opts = test_options();
  opts.idle_timeout = 300ms;
  http_server srv(io.ioc, opts);
  std::atomic<int> calls{0};
  srv.add_route(http::verb::get, "/n", [&calls](request& req) -> net::awaitable<response> {
    co_return make_response(req, http::status::ok, std::to_string(++calls));
  });
  srv.start();

  raw_client c;
  REQUIRE(c.connect(srv.port()));
  c.send(get_request("/n"));
  auto r1 = c.read_response();
  c.send(get_request("/n"));
  auto r2 = c.read_response();
  REQUIRE(r1);
  REQUIRE(r2);
  CHECK(r1->body == "1");
  CHECK(r2->body == "2");
  CHECK_FALSE(r2->header("connection: close"));

  SECTION("two pipelined requests in one write") {
    c.send(get_request("/n") + get_request("/n"));
    auto a = c.read_response();
    auto b = c.read_response();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->body == "3");
    CHECK(b->body == "4");
  }
  SECTION("Connection: close is honoured") {
    c.send(get_request("/n", false));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->header("connection: close"));
    CHECK(c.wait_closed());
  }
  SECTION("an idle connection is closed after idle_timeout") {
    auto t0 = std::chrono::steady_clock::now();
    CHECK(c.wait_closed());
    CHECK(std::chrono::steady_clock::now() - t0 >= 200ms);
  }
  SECTION("Expect: 100-continue gets a 100 first") {
    c.send("GET /n HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    std::string got;
    REQUIRE(c.recv_some(got) > 0);
    CHECK(got.rfind("HTTP/1.1 100", 0) == 0);
    c.send("ab");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  run_sync(io, srv.shutdown(2s));
}

TEST_CASE("server turns a handler exception into a 500 logged once") {
  log_capture logs;
  io_runner io;
  http_server srv(io.ioc, test_options());
  srv.add_route(http::verb::get, "/boom", [](request&) -> net::awaitable<response> {
    throw std::runtime_error("kaboom");
    co_return response{};
  });
  srv.add_route(http::verb::get, "/sync-boom", [](request&) -> net::awaitable<response> {
    throw std::logic_error("thrown before the first suspension");
  });
  srv.start();
  raw_client c;
  REQUIRE(c.connect(srv.port()));
  c.send(get_request("/boom"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK(r->body.find("kaboom") == std::string::npos);  // no internals to the client
  c.send(get_request("/sync-boom"));
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 500);
  run_sync(io, srv.shutdown(2s));
  CHECK(logs.count("kaboom") == 1);
  CHECK(logs.count("thrown before the first suspension") == 1);
  CHECK(logs.count("\"route\":\"/boom\"") == 1);
}

TEST_CASE("graceful shutdown waits for a request in flight and refuses new connections") {
  io_runner io(3);
  http_server srv(io.ioc, test_options());
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  srv.add_route(http::verb::post, "/slow", [&](request& req) -> net::awaitable<response> {
    entered = true;
    net::steady_timer t(co_await net::this_coro::executor, 600ms);
    co_await t.async_wait(net::use_awaitable);
    finished = true;
    co_return make_response(req, http::status::ok, "done");
  });
  srv.add_route(http::verb::get, "/healthz", text("ok"));
  srv.start();
  auto port = srv.port();

  raw_client idle;  // a keep-alive connection between requests: closed at shutdown
  REQUIRE(idle.connect(port));
  idle.send(get_request("/healthz"));
  REQUIRE(idle.read_response());

  raw_client busy;
  REQUIRE(busy.connect(port));
  busy.send(post_request("/slow", "x"));
  for (int i = 0; i < 200 && !entered; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(entered);

  auto t0 = std::chrono::steady_clock::now();
  auto done = net::co_spawn(io.ioc, srv.shutdown(5s), net::use_future);
  std::this_thread::sleep_for(100ms);

  raw_client late;
  CHECK_FALSE(late.connect(port));  // no longer accepting
  CHECK(idle.wait_closed());        // idle keep-alive connection closed promptly
  CHECK_FALSE(finished);
  CHECK(done.wait_for(0ms) == std::future_status::timeout);  // still waiting for /slow

  auto r = busy.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "done");
  CHECK(r->header("connection: close"));
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  done.get();
  CHECK(finished);
  CHECK(std::chrono::steady_clock::now() - t0 >= 400ms);
  CHECK(srv.active_connections() == 0);
}

TEST_CASE("graceful shutdown gives up after the grace period") {
  io_runner io(3);
  http_server srv(io.ioc, test_options());
  srv.add_route(http::verb::get, "/stuck", [](request& req) -> net::awaitable<response> {
    net::steady_timer t(co_await net::this_coro::executor, 800ms);
    co_await t.async_wait(net::use_awaitable);
    co_return make_response(req, http::status::ok, "late");
  });
  srv.start();
  raw_client c;
  REQUIRE(c.connect(srv.port()));
  c.send(get_request("/stuck"));
  std::this_thread::sleep_for(50ms);
  auto t0 = std::chrono::steady_clock::now();
  run_sync(io, srv.shutdown(200ms));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed >= 150ms);
  CHECK(elapsed < 3s);
}

TEST_CASE("server closes connections over max_connections at once") {
  io_runner io;
  auto opts = test_options();
  opts.max_connections = 2;
  metrics_registry metrics;
  opts.metrics = &metrics;
  http_server srv(io.ioc, opts);
  srv.add_route(http::verb::get, "/healthz", text("ok"));
  srv.start();

  raw_client a, b;
  REQUIRE(a.connect(srv.port()));
  REQUIRE(b.connect(srv.port()));
  a.send(get_request("/healthz"));
  b.send(get_request("/healthz"));
  REQUIRE(a.read_response());
  REQUIRE(b.read_response());
  CHECK(srv.active_connections() == 2);

  raw_client extra;
  REQUIRE(extra.connect(srv.port()));  // the kernel accepts; the server closes it
  extra.send(get_request("/healthz"));
  CHECK_FALSE(extra.read_response());
  CHECK(metrics.counter("aula_http_connections_rejected_total", "").value() == 1);

  a.close();
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    std::this_thread::sleep_for(20ms);
    if (srv.active_connections() >= 2) continue;
    raw_client again;
    REQUIRE(again.connect(srv.port()));
    again.send(get_request("/healthz"));
    served = again.read_response().has_value();
  }
  CHECK(served);
  run_sync(io, srv.shutdown(2s));
}

TEST_CASE("server counts requests in metrics by route pattern") {
  io_runner io;
  auto opts = test_options();
  metrics_registry metrics;
  opts.metrics = &metrics;
  http_server srv(io.ioc, opts);
  srv.add_route(http::verb::get, "/verify/", text("ok"), true);
  srv.start();
  raw_client c;
  REQUIRE(c.connect(srv.port()));
  c.send(get_request("/verify/ABC123"));
  REQUIRE(c.read_response());
  c.send(get_request("/missing"));
  REQUIRE(c.read_response());
  run_sync(io, srv.shutdown(2s));
  auto& req = metrics.counter("aula_http_requests_total", "");
  CHECK(req.value({{"method", "GET"}, {"route", "/verify/*"}, {"status", "200"}}) == 1);
  CHECK(req.value({{"method", "GET"}, {"route", "unmatched"}, {"status", "404"}}) == 1);
  auto text = metrics.render();
  CHECK(text.find("aula_http_request_duration_seconds_count{route=\"/verify/*\"} 1") != std::string::npos);
  CHECK(text.find("ABC123") == std::string::npos);
}

TEST_CASE("server start fails clearly when the address is in use") {
  io_runner io;
  http_server first(io.ioc, test_options());
  first.start();
  auto opts = test_options();
  opts.port = first.port();
  http_server second(io.ioc, opts);
  try {
    second.start();
    FAIL("start() should have thrown");
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    CHECK(what.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())) != std::string::npos);
    CHECK(what.find("in use") != std::string::npos);
  }
  run_sync(io, first.shutdown(1s));
}

TEST_CASE("server helpers convert to and from the adapters' types") {
  request req{http::verb::post, "/webhooks/telegram?x=1", 11};
  req.set("X-Telegram-Bot-Api-Secret-Token", "s3cret");
  req.insert("X-Multi", "a");
  req.insert("X-Multi", "b");
  req.body() = "{}";
  auto in = to_http_in(req);
  CHECK(in.method == "POST");
  CHECK(in.target == "/webhooks/telegram?x=1");
  CHECK(in.headers.at("x-telegram-bot-api-secret-token") == "s3cret");
  CHECK(in.headers.at("x-multi") == "a, b");
  CHECK(in.body == "{}");
  CHECK(request_path(req) == "/webhooks/telegram");
  auto res = to_response(req, http_out{403, "application/json", "{\"ok\":false}"});
  CHECK(res.result_int() == 403);
  CHECK(res[http::field::content_type] == "application/json");
  CHECK(res.body() == "{\"ok\":false}");
  CHECK(res[http::field::content_length] == "12");
}

TEST_CASE("slowloris: connections trickling a header byte at a time neither block others nor stay open") {
  io_runner io;
  auto opts = test_options();
  opts.read_timeout = 1s;
  http_server srv(io.ioc, opts);
  srv.add_route(http::verb::get, "/healthz", text("ok"));
  srv.add_route(http::verb::post, "/echo", echo());
  srv.start();

  std::vector<std::unique_ptr<raw_client>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<raw_client>());
    REQUIRE(slow.back()->connect(srv.port()));
    slow.back()->send("POST /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::chrono::milliseconds> served;  // how long an ordinary request took, each round
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(150ms);
    for (auto& c : slow) c->send("x");
    raw_client other;
    REQUIRE(other.connect(srv.port()));
    const auto s0 = std::chrono::steady_clock::now();
    other.send(get_request("/healthz", false));
    auto r = other.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    served.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - s0));
  }
  for (auto ms : served) CHECK(ms < 500ms);
  // The read deadline is for the whole request: every trickler is cut about a second after
  // its first byte, however often it sends one.
  for (auto& c : slow) CHECK(c->wait_closed());
  CHECK(std::chrono::steady_clock::now() - t0 < 4s);
  for (int i = 0; i < 100 && srv.active_connections() > 0; ++i) std::this_thread::sleep_for(20ms);
  CHECK(srv.active_connections() == 0);
  run_sync(io, srv.shutdown(2s));
}

TEST_CASE("malformed framing is refused with 400 and the connection closed") {
  io_runner io;
  http_server srv(io.ioc, test_options());
  srv.add_route(http::verb::post, "/echo", echo());
  srv.start();
  static const char with_nul[] = "POST /echo HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n";
  for (const std::string& bad : {
           std::string("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
           std::string("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello"),
           std::string("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
           std::string("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
           std::string("POST /echo HTTP/1.1\r\nHost x without a colon\r\n\r\n"),
           std::string(with_nul, sizeof with_nul - 1),
           std::string("POST /echo HTTP/1.1\r\nHo st: x\r\n\r\n"),
           std::string("GET\r\n\r\n"),
       }) {
    INFO(bad);
    raw_client c;
    REQUIRE(c.connect(srv.port()));
    c.send(bad);
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(c.wait_closed());
  }
  // The server is still fine.
  raw_client ok;
  REQUIRE(ok.connect(srv.port()));
  ok.send(post_request("/echo", "hola"));
  auto r = ok.read_response();
  REQUIRE(r);
  CHECK(r->body == "got:hola");
  run_sync(io, srv.shutdown(2s));
}
