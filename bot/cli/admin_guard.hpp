// The admin API's gate, shared by the route files of bot/cli (only .cpp files that already use
// Beast include it): the bearer token names a person (401 otherwise), their role must allow
// the route (403), a body must be a JSON object (400), and an outage of Redis or the record
// store answers 503 so the caller retries.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "bot/cli/http_util.hpp"
#include "bot/records/record_store.hpp"
#include "bot/service/access.hpp"
#include "bot/store/store.hpp"

namespace aula::cli {

enum class need { admin, staff };

// handler: (request&, const json& body, const principal&) -> awaitable<response>.
template <class Handler>
auto guard(access_control& access, need n, Handler handler) {
  return [&access, n, handler](request& req) -> net::awaitable<response> {
    std::string auth;
    if (auto it = req.find(http::field::authorization); it != req.end()) auth = std::string(it->value());
    std::optional<principal> p;
    try {
      p = co_await access.who(auth);
    } catch (const store_unavailable&) {
      co_return json_response(req, http::status::service_unavailable, {{"error", "store unavailable, retry later"}});
    }
    if (!p) co_return json_response(req, http::status::unauthorized, {{"error", "a valid bearer token is required"}});
    if (n == need::admin && !p->is_admin())
      co_return json_response(req, http::status::forbidden, {{"error", "administrators only"}});
    auto body = nlohmann::json::parse(req.body().empty() ? std::string("{}") : req.body(), nullptr, false);
    if (!body.is_object()) co_return json_response(req, http::status::bad_request, {{"error", "the body must be a JSON object"}});
    try {
      co_return co_await handler(req, body, *p);
    } catch (const store_unavailable&) {
      co_return json_response(req, http::status::service_unavailable, {{"error", "store unavailable, retry later"}});
    } catch (const records::record_store_error&) {
      co_return json_response(req, http::status::service_unavailable, {{"error", "record store unavailable, retry later"}});
    } catch (const std::invalid_argument& e) {
      co_return json_response(req, http::status::bad_request, {{"error", e.what()}});
    }
  };
}

}  // namespace aula::cli
