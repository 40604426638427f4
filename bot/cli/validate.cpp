// aula validate [paths]: checks flow files; file:line:col for each problem; exit 1 on errors.
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/authoring/loader.hpp"
#include "bot/cli/commands.hpp"

namespace aula::cli {

std::string default_flows_dir() {
  const char* env = std::getenv("AULA_FLOWS");
  return env && *env ? env : "flows";
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
