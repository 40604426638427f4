// aula reload: asks a running aula (POST /admin/reload) to validate the flows folder and
// publish it. On any error nothing changes and the errors are listed with file:line:col; on
// success every instance switches to the new version and the learners a removed node
// stranded are moved as the flow's `migrate` map says (counted per rule).
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/config/config.hpp"

namespace aula::cli {

namespace {

struct reload_options {
  std::string url;    // the running aula; default http://<AULA_LISTEN>
  std::string token;  // an admin token; default the first admin one of AULA_ADMIN_TOKENS
};

int run_reload(const reload_options& o) {
  app_config cfg;
  if (!load_command_config("reload", cfg)) return 2;
  admin_target t;
  if (!admin_target_from(cfg, o.url, o.token, "reload", t)) return 2;
  const admin_answer a = admin_call(cfg, t, "POST", "/admin/reload");
  if (!a.error.empty()) {
    std::cerr << "aula reload: " << a.error << "\n";
    return a.status == 401 || a.status == 403 ? 2 : 1;
  }
  const nlohmann::json& j = a.body;
  if (!j.is_object() || !j.value("ok", false)) {
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
