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
