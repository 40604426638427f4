// aula test [files]: runs transcripts (default: every flows/tests/*.yaml) and prints a diff
// for each mismatch. Exit 0 only when all pass.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/authoring/loader.hpp"
#include "bot/authoring/transcript.hpp"
#include "bot/cli/commands.hpp"

namespace aula::cli {

namespace fs = std::filesystem;

void add_test(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("test", "Run flow transcripts (default: flows/tests/*.yaml)");
  struct options {
    std::vector<std::string> files;
    std::string flows;
  };
  auto o = std::make_shared<options>();
  cmd->add_option("files", o->files, "Transcript files or folders");
  cmd->add_option("--flows", o->flows, "Folder of flow files (default: $AULA_FLOWS or flows/)");
  cmd->callback([o, &exit_code] {
    if (o->flows.empty()) o->flows = default_flows_dir();
    if (o->files.empty()) o->files.push_back((fs::path(o->flows) / "tests").string());
    auto loaded = load_flows({o->flows});
    for (const auto& d : loaded.diags.items())
    if (d.severity == diagnostic::level::error) std::cerr << format(d) << "\n";
    if (!loaded.ok()) {
      std::cerr << "aula test: the flows have errors; fix them first (aula validate)\n";
      exit_code = 1;
      return;
    }
    std::vector<std::string> files;
    for (const auto& f : o->files) {
      if (fs::is_directory(f)) {
        for (const auto& e : fs::directory_iterator(f))
          if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") files.push_back(e.path().string());
      } else {
        files.push_back(f);
      }
    }
    std::sort(files.begin(), files.end());
    int passed = 0, failed = 0;
    for (const auto& file : files) {
      transcript_file tf;
      diagnostics diags;
      if (!read_transcripts(file, tf, diags)) {
        for (const auto& d : diags.items()) std::cerr << format(d) << "\n";
        ++failed;
        continue;
      }
      for (const auto& c : tf.cases) {
        auto r = run_case(loaded.flows, c);
        std::cout << (r.passed ? "PASS " : "FAIL ") << file << ":" << c.pos.line << " " << c.name << "\n";
        if (!r.passed) std::cout << r.report;
        (r.passed ? passed : failed) += 1;
      }
    }
    if (files.empty()) std::cout << "no transcripts found\n";
    std::cout << passed << " passed, " << failed << " failed\n";
    exit_code = failed == 0 && passed > 0 ? 0 : 1;
  });
}

}  // namespace aula::cli
