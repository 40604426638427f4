// placeholder: being written
#include <CLI/CLI.hpp>
#include "bot/cli/commands.hpp"
namespace aula::cli {
void add_i18n(CLI::App&, int&) {}
}  // namespace aula::cli
