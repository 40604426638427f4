// aula reload: asks a running aula (POST /admin/reload) to validate the flows folder and
// publish it. On any error nothing changes and the errors are listed with file:line:col; on
// success every instance switches to the new version and the learners a removed node
// stranded are moved as the flow's `migrate` map says (counted per rule).
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/config/config.hpp"
#include "bot/io/http_client.hpp"
#include "bot/io/log.hpp"

namespace aula::cli {

namespace {

struct reload_options {
  std::string url;    // the running aula; default http://<AULA_LISTEN>
  std::string token;  // an admin token; default the first admin one of AULA_ADMIN_TOKENS
};

int run_reload(const reload_options& o) {
  app_config cfg;
  if (!load_command_config("reload", cfg)) return 2;
  std::string base = o.url.empty() ? "http://" + cfg.server.listen : o.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string token = o.token;
  for (const auto& t : cfg.admin_tokens)
    if (token.empty() && t.role == "admin") token = t.token;
  if (token.empty()) {
    std::cerr << "aula reload: no admin token: set AULA_ADMIN_TOKENS (admin:<token>) or pass --token\n";
    return 2;
  }
  net::io_context ioc;
  http_client client(ioc.get_executor(), client_options_from(cfg));
  http_call call;
  call.url = base + "/admin/reload";
  call.headers["Authorization"] = "Bearer " + token;
  call.headers["Content-Type"] = "application/json";
  call.body = "{}";
  auto fut = net::co_spawn(ioc, client.request(call), net::use_future);
  ioc.run();
  http_result r = fut.get();
  if (!r.ok() && r.status == 0) {
    std::cerr << "aula reload: cannot reach " << base << ": " << log::redact(r.error)
              << " (is aula serve running? --url names another address)\n";
    return 1;
  }
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status == 401) {
    std::cerr << "aula reload: the admin token was refused\n";
    return 2;
  }
  if (j.is_discarded() || !j.is_object()) {
    std::cerr << "aula reload: unexpected answer (HTTP " << r.status << ")\n";
    return 1;
  }
  if (!j.value("ok", false)) {
    std::cerr << "aula reload: nothing changed; the flows have errors:\n";
    for (const auto& e : j.value("errors", nlohmann::json::array())) std::cerr << "  " << e.get<std::string>() << "\n";
    return 1;
  }
  std::cout << (j.value("changed", false) ? "published version " : "no change: version ")
            << j.value("version", 0) << " (" << j.value("hash", std::string{}).substr(0, 12) << ")\n";
  const auto moved = j.value("moved", nlohmann::json::object());
  if (!moved.empty()) {
    std::cout << "learners:";
    for (auto it = moved.begin(); it != moved.end(); ++it) std::cout << " " << it.key() << "=" << it.value();
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void add_reload(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("reload", "Validate the flows folder and publish it to every running instance");
  auto o = std::make_shared<reload_options>();
  cmd->add_option("--url", o->url, "The running aula (default: http://$AULA_LISTEN)");
  cmd->add_option("--token", o->token, "An admin token (default: the first admin token of AULA_ADMIN_TOKENS)");
  cmd->callback([o, &exit_code] { exit_code = run_reload(*o); });
}

}  // namespace aula::cli
