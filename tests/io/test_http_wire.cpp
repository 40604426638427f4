// http_wire: a message's bytes made in one buffer must be the bytes Beast's serializer writes
// (operator<< runs the serializer), for requests and responses as the client and the server
// send them: methods, targets, Spanish and emoji in bodies, repeated and unknown fields, set
// and default reasons, HTTP/1.0 and 1.1, empty bodies.
#include "bot/io/http_wire.hpp"

#include <catch2/catch.hpp>

#include <sstream>

namespace {

using namespace aula;

template <class Message>
std::string serialized(const Message& m) {
  std::ostringstream os;
  os << m;
  return os.str();
}

}  // namespace

TEST_CASE("http_wire: a request's bytes are the serializer's") {
  const std::vector<std::pair<http::verb, std::string>> calls = {
      {http::verb::post, R"({"chat_id":700000042,"text":"¿Cuál es la edad mínima? ñ 🎓","reply_markup":{}})"},
      {http::verb::get, ""},
      {http::verb::put, "a=1&b=%C3%B1"},
      {http::verb::delete_, ""}};
  for (unsigned version : {10u, 11u}) {
    for (const auto& [verb, body] : calls) {
      http::request<http::string_body> req{verb, "/bot123:abc/sendMessage?x=%20y", version};
      req.set(http::field::host, "api.telegram.org");
      req.set(http::field::user_agent, "aula/1");
      req.set(http::field::content_type, "application/json; charset=utf-8");
      req.insert("X-Aula-Trace", "uno");
      req.insert("X-Aula-Trace", "dos ¡ñ!");
      req.body() = body;
      req.keep_alive(true);
      req.prepare_payload();
      const auto wire = http_wire(req);
      REQUIRE(wire.has_value());
      CHECK(*wire == serialized(req));
    }
  }
}

TEST_CASE("http_wire: a response's bytes are the serializer's, its reason given or the status's own") {
  for (unsigned version : {10u, 11u}) {
    for (int code : {200, 204, 400, 401, 413, 429, 503, 599}) {
      for (bool reason : {false, true}) {
        http::response<http::string_body> res{static_cast<http::status>(code), version};
        if (reason) res.reason("Hecho, ¿sí?");
        res.set(http::field::server, "aula");
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = code == 204 ? "" : "respuesta con ñ y 🎉\n";
        res.keep_alive(code != 503);
        res.prepare_payload();
        const auto wire = http_wire(res);
        REQUIRE(wire.has_value());
        CHECK(*wire == serialized(res));
      }
    }
  }
}

TEST_CASE("http_wire: a chunked message is left to the serializer") {
  http::response<http::string_body> res{http::status::ok, 11};
  res.chunked(true);
  res.body() = "trozo";
  CHECK_FALSE(http_wire(res).has_value());
  http::request<http::string_body> req{http::verb::post, "/", 11};
  req.chunked(true);
  req.body() = "trozo";
  CHECK_FALSE(http_wire(req).has_value());
}

// ---------------------------------------------------------------------------------------------
// read_http: the same bytes, cut the same way, read by Beast's http::async_read and by
// read_http_message over loopback TCP, give the same errors, messages and leftovers.

#include "bot/io/http_read.hpp"

#include <thread>

namespace {

struct read_outcome {
  std::vector<std::string> errors;  // per message read: the error's message ("" = none)
  std::vector<std::string> messages;  // per message read: method, target, fields, body
  std::size_t left = 0;             // bytes left in the buffer after the last read
  bool operator==(const read_outcome&) const = default;
};

std::string describe(const http::request<http::string_body>& m) {
  std::string out = std::string(m.method_string()) + " " + std::string(m.target()) + "\n";
  for (const auto& f : m) out += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
  return out + "\n" + m.body();
}

// Writes `chunks` (a pause after each, so each is its own read), then closes its side if `eof`;
// reads up to `messages` requests with Beast (`beast_reader`) or read_http_message.
read_outcome read_over_tcp(const std::vector<std::string>& chunks, bool eof, int messages, bool beast_reader,
                           std::size_t body_limit = 1 << 20) {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(ioc);
  client.connect(acceptor.local_endpoint());
  beast::tcp_stream server(acceptor.accept());
  read_outcome out;
  auto writer = [&]() -> net::awaitable<void> {
    net::steady_timer pause(ioc);
    for (const auto& c : chunks) {
      co_await net::async_write(client, net::buffer(c), net::use_awaitable);
      pause.expires_after(std::chrono::milliseconds(5));
      co_await pause.async_wait(net::use_awaitable);
    }
    if (eof) client.shutdown(tcp::socket::shutdown_send);
  };
  auto reader = [&]() -> net::awaitable<void> {
    beast::flat_buffer buffer;
    for (int k = 0; k < messages; ++k) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(body_limit);
      beast::error_code ec;
      server.expires_after(std::chrono::seconds(5));
      if (beast_reader)
        std::tie(ec, std::ignore) = co_await http::async_read(server, buffer, parser, net::as_tuple(net::use_awaitable));
      else
        ec = co_await read_http_message(server, buffer, parser);
      out.errors.push_back(ec ? ec.message() : "");
      out.messages.push_back(parser.is_header_done() ? describe(parser.get()) : "");
      if (ec) break;
    }
    out.left = buffer.size();
  };
  net::co_spawn(ioc, writer(), net::detached);
  net::co_spawn(ioc, reader(), net::detached);
  ioc.run();
  return out;
}

}  // namespace

TEST_CASE("read_http: reads as Beast's http::async_read does, however the bytes arrive") {
  const std::string body = R"({"update_id":1,"message":{"text":"¿Qué edad? ñ 🎓"}})";
  const std::string one = "POST /webhook/telegram HTTP/1.1\r\nHost: aula\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: aula\r\n\r\n";
  std::vector<std::string> bytes;
  for (char c : one) bytes.emplace_back(1, c);
  struct case_ {
    std::string name;
    std::vector<std::string> chunks;
    bool eof;
    int messages;
    std::size_t body_limit = 1 << 20;
  };
  const std::vector<case_> cases = {
      {"whole", {one}, false, 1},
      {"byte by byte", bytes, false, 1},
      {"header, then body", {one.substr(0, one.find("\r\n\r\n") + 4), body}, false, 1},
      {"two in one write, then a third", {one + get, one}, false, 3},
      {"the end of the stream before any byte", {}, true, 1},
      {"the end of the stream inside the header", {one.substr(0, 20)}, true, 1},
      {"the end of the stream inside the body", {one.substr(0, one.size() - 5)}, true, 1},
      {"the end of the stream after a message", {one}, true, 2},
      {"a body over the limit", {one}, false, 1, 10},
      {"a malformed request line", {"POST /x HTTP/9.9 extra\r\n\r\n"}, false, 1},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto beast_way = read_over_tcp(c.chunks, c.eof, c.messages, true, c.body_limit);
    const auto ours = read_over_tcp(c.chunks, c.eof, c.messages, false, c.body_limit);
    CHECK(ours.errors == beast_way.errors);
    CHECK(ours.messages == beast_way.messages);
    CHECK(ours.left == beast_way.left);
    CHECK(!beast_way.errors.empty());
  }
}
