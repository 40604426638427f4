// aula validate [paths]: checks flow files; file:line:col for each problem; exit 1 on errors.
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/authoring/loader.hpp"
#include "bot/cli/commands.hpp"
#include "bot/io/log.hpp"

namespace aula::cli {

std::string default_flows_dir() {
  const char* env = std::getenv("AULA_FLOWS");
  return env && *env ? env : "flows";
}

bool load_command_config(const std::string& command, app_config& out) {
  try {
    auto env = current_environment();
    out = load_config(env.count("AULA_CONFIG") ? env["AULA_CONFIG"] : default_config_path, env);
  } catch (const config_error& e) {
    std::cerr << "aula " << command << ": " << e.what() << "\n";
    return false;
  }
  for (const auto& secret : secrets_of(out)) log::add_secret(secret);
  return true;
}

void add_validate(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("validate", "Check flow files; errors as file:line:col, exit 1 on errors");
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("paths", *paths, "Flow files or folders (default: $AULA_FLOWS or flows/)");
  cmd->callback([paths, &exit_code] {
    if (paths->empty()) paths->push_back(default_flows_dir());
    auto res = load_flows(*paths);
    for (const auto& d : res.diags.items()) std::cerr << format(d) << "\n";
    std::cout << res.files << " file(s), " << res.flows.flows.size() << " valid flow(s): " << res.diags.errors()
              << " error(s), " << res.diags.warnings() << " warning(s)\n";
    exit_code = res.ok() ? 0 : 1;
  });
}

}  // namespace aula::cli
