// Small helpers shared by the HTTP routes of aula serve (bot/cli only; Beast stays out of
// headers outside the I/O layer).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bot/io/html.hpp"
#include "bot/io/http_server.hpp"
#include "bot/io/url.hpp"

namespace aula::cli {

using request = http_server::request;
using response = http_server::response;

inline response json_response(const request& req, http::status st, const nlohmann::json& j) {
  return make_response(req, st, j.dump() + "\n", "application/json");
}

// A query parameter's value, percent-decoded ('+' is a space): the dashboard sends
// encodeURIComponent(cohort), and cohorts and states have spaces and accents.
inline std::string query_param(std::string_view target, const std::string& name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    if (kv.substr(0, eq) == name) return eq == std::string_view::npos ? std::string{} : percent_decode(kv.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

using aula::html_escape;  // bot/io/html.hpp

}  // namespace aula::cli
