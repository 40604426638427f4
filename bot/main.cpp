// aula: a course-over-chat engine. One binary; the subcommands are in bot/cli/.
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"aula: short courses over chat (WhatsApp, Telegram, SMS, web)"};
  app.set_version_flag("--version", std::string("aula ") + aula::cli::aula_version);
  app.require_subcommand(1);
  int exit_code = 0;
  aula::cli::add_validate(app, exit_code);
  aula::cli::add_chat(app, exit_code);
  aula::cli::add_test(app, exit_code);
  aula::cli::add_graph(app, exit_code);
  aula::cli::add_i18n(app, exit_code);
  aula::cli::add_serve(app, exit_code);
  aula::cli::add_telegram(app, exit_code);
  aula::cli::add_learner(app, exit_code);
  aula::cli::add_reload(app, exit_code);
  aula::cli::add_enroll(app, exit_code);
  aula::cli::add_admin(app, exit_code);
  aula::cli::add_broadcast(app, exit_code);
  aula::cli::add_report(app, exit_code);
  aula::cli::add_backup(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "aula: " << e.what() << "\n";
    return 2;
  }
  return exit_code;
}
