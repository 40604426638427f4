// The subcommands of `aula`. Each adds itself to the CLI and returns its exit code through
// the shared `exit_code`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "bot/config/config.hpp"

namespace CLI {
class App;
}

namespace aula {
struct redis_store_options;
}

namespace aula::cli {

// The version `aula --version` prints and backups record.
inline constexpr const char* aula_version = "0.1.0";

// AULA_FLOWS, else "flows".
std::string default_flows_dir();

// The configuration from AULA_CONFIG (else config/aula.yaml) and the environment, with its
// secrets registered for redaction. On an error prints "aula <command>: …" and returns false.
bool load_command_config(const std::string& command, app_config& out);

// The admin API of a running aula: its base URL and a bearer token (default: http://<AULA_LISTEN>
// and the first admin token of AULA_ADMIN_TOKENS). On a problem prints it and returns false.
struct admin_target {
  std::string url, token;
};
bool admin_target_from(const app_config& cfg, const std::string& url, const std::string& token,
                       const std::string& command, admin_target& out);
struct admin_answer {
  int status = 0;        // HTTP status; 0 = no answer
  nlohmann::json body;   // parsed (discarded when not JSON)
  std::string error;     // set for no answer, 401, 403 and non-JSON answers
};
admin_answer admin_call(const app_config& cfg, const admin_target& t, const std::string& method,
                        const std::string& path, const nlohmann::json& body = nlohmann::json::object());

// The Redis store's options from the configuration (URL, partitions, timeouts).
redis_store_options store_options_from(const app_config& cfg);

void add_validate(CLI::App& app, int& exit_code);
void add_chat(CLI::App& app, int& exit_code);
void add_test(CLI::App& app, int& exit_code);
void add_graph(CLI::App& app, int& exit_code);  // graph.cpp
void add_i18n(CLI::App& app, int& exit_code);   // i18n.cpp
void add_serve(CLI::App& app, int& exit_code);  // serve.cpp
void add_telegram(CLI::App& app, int& exit_code);  // telegram.cpp
void add_learner(CLI::App& app, int& exit_code);   // learner.cpp
void add_reload(CLI::App& app, int& exit_code);    // reload.cpp
void add_enroll(CLI::App& app, int& exit_code);    // enroll.cpp
void add_admin(CLI::App& app, int& exit_code);     // admin.cpp
void add_broadcast(CLI::App& app, int& exit_code);  // broadcast.cpp: broadcast and remind
void add_report(CLI::App& app, int& exit_code);     // report.cpp
void add_backup(CLI::App& app, int& exit_code);     // backup.cpp: backup and restore

}  // namespace aula::cli
