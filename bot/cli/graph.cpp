// aula graph FLOW [--format mermaid|dot] [--flows DIR] [--lang es]: prints a flow as a Mermaid
// flowchart (default) or Graphviz DOT, for reviewing a course's paths at a glance.
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/authoring/graph.hpp"
#include "bot/authoring/loader.hpp"
#include "bot/cli/commands.hpp"

namespace aula::cli {

void add_graph(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("graph", "Print a flow as a Mermaid flowchart or Graphviz DOT");
  struct options {
    std::string flow, format = "mermaid", flows, lang;
  };
  auto o = std::make_shared<options>();
  cmd->add_option("flow", o->flow, "Flow id")->required();
  cmd->add_option("--format", o->format, "mermaid (default) or dot")
      ->check(CLI::IsMember({"mermaid", "dot"}));
  cmd->add_option("--flows", o->flows, "Folder of flow files (default: $AULA_FLOWS or flows/)");
  cmd->add_option("--lang", o->lang, "Language of the texts shown (default: the flow's)");
  cmd->callback([o, &exit_code] {
    if (o->flows.empty()) o->flows = default_flows_dir();
    auto loaded = load_flows({o->flows});
    const flow* f = loaded.flows.find(o->flow);
    if (!f) {
      // The flow may exist but not load: show why.
      for (const auto& d : loaded.diags.items()) std::cerr << format(d) << "\n";
      std::cerr << "aula graph: no flow '" << o->flow << "' in " << o->flows;
      if (loaded.flows.flows.empty()) {
        std::cerr << " (no valid flow there)\n";
      } else {
        std::string ids;
        for (const auto& [id, _] : loaded.flows.flows) ids += (ids.empty() ? "" : ", ") + id;
        std::cerr << "; flows: " << ids << "\n";
      }
      exit_code = 1;
      return;
    }
    std::cout << (o->format == "dot" ? to_dot(*f, o->lang) : to_mermaid(*f, o->lang));
    exit_code = 0;
  });
}

}  // namespace aula::cli
