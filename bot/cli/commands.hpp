// The subcommands of `aula`. Each adds itself to the CLI and returns its exit code through
// the shared `exit_code`.
#pragma once

#include <string>

#include "bot/config/config.hpp"

namespace CLI {
class App;
}

namespace aula::cli {

// AULA_FLOWS, else "flows".
std::string default_flows_dir();

// The configuration from AULA_CONFIG (else config/aula.yaml) and the environment, with its
// secrets registered for redaction. On an error prints "aula <command>: …" and returns false.
bool load_command_config(const std::string& command, app_config& out);

void add_validate(CLI::App& app, int& exit_code);
void add_chat(CLI::App& app, int& exit_code);
void add_test(CLI::App& app, int& exit_code);
void add_graph(CLI::App& app, int& exit_code);  // graph.cpp
void add_i18n(CLI::App& app, int& exit_code);   // i18n.cpp
void add_serve(CLI::App& app, int& exit_code);  // serve.cpp
void add_telegram(CLI::App& app, int& exit_code);  // telegram.cpp
void add_learner(CLI::App& app, int& exit_code);   // learner.cpp
void add_reload(CLI::App& app, int& exit_code);    // reload.cpp

}  // namespace aula::cli
