// placeholder: being written
#include <CLI/CLI.hpp>
#include "bot/cli/commands.hpp"
namespace aula::cli {
void add_graph(CLI::App&, int&) {}
}  // namespace aula::cli
