// The admin API's client side, shared by the commands that are thin clients of it (aula
// reload, aula enroll): where the running aula is, which token to use, one JSON call.
#include <iostream>

#include "bot/cli/commands.hpp"
#include "bot/io/http_client.hpp"
#include "bot/io/log.hpp"
#include "bot/store/store.hpp"

namespace aula::cli {

redis_store_options store_options_from(const app_config& cfg) {
  redis_store_options ro;
  ro.url = cfg.redis.url;
  ro.partitions = cfg.redis.partitions;
  ro.command_timeout = cfg.redis.command_timeout;
  ro.wait_replicas = cfg.redis.wait_replicas;
  ro.wait_timeout = cfg.redis.wait_timeout;
  return ro;
}

bool admin_target_from(const app_config& cfg, const std::string& url, const std::string& token,
                       const std::string& command, admin_target& out) {
  out.url = url.empty() ? "http://" + cfg.server.listen : url;
  while (!out.url.empty() && out.url.back() == '/') out.url.pop_back();
  out.token = token;
  for (const auto& t : cfg.admin_tokens)
    if (out.token.empty() && t.role == "admin") out.token = t.token;
  if (out.token.empty()) {
    std::cerr << "aula " << command << ": no admin token: set AULA_ADMIN_TOKENS (admin:<token>) or pass --token\n";
    return false;
  }
  return true;
}

admin_answer admin_call(const app_config& cfg, const admin_target& t, const std::string& method,
                        const std::string& path, const nlohmann::json& body) {
  net::io_context ioc;
  // Staff calls may cover a whole cohort (a dry run or an import of 100,000 learners): a
  // patient timeout and room for an answer of megabytes.
  client_options co = client_options_from(cfg);
  co.body_limit = std::max<std::size_t>(co.body_limit, std::size_t{256} << 20);
  co.request_timeout = std::max<std::chrono::milliseconds>(co.request_timeout, std::chrono::minutes(5));
  http_client client(ioc.get_executor(), co);
  http_call call;
  call.method = method;
  call.url = t.url + path;
  call.headers["Authorization"] = "Bearer " + t.token;
  call.headers["Content-Type"] = "application/json";
  if (method != "GET") call.body = body.dump();
  auto fut = net::co_spawn(ioc, client.request(call), net::use_future);
  ioc.run();
  http_result r = fut.get();
  admin_answer a;
  a.status = r.status;
  if (r.status == 0) {
    a.error = "cannot reach " + t.url + ": " + log::redact(r.error) + " (is aula serve running? --url names another address)";
    return a;
  }
  a.body = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status == 401) a.error = "the token was refused";
  else if (r.status == 403) a.error = a.body.is_object() ? a.body.value("error", std::string("forbidden")) : "forbidden";
  else if (a.body.is_discarded()) a.error = "unexpected answer (HTTP " + std::to_string(r.status) + ")";
  return a;
}

}  // namespace aula::cli
