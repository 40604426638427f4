// aula i18n export FLOW --lang en [--out FILE] [--flows DIR]
// aula i18n import FILE --lang en [--flows DIR] [--flow FLOW] [--dry-run] [--force]
// A flow's texts to a spreadsheet (CSV) for translators and reviewers, and their translations
// back into the flow file, edited in place (see bot/authoring/i18n.hpp).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include <CLI/CLI.hpp>

#include "bot/authoring/i18n.hpp"
#include "bot/authoring/loader.hpp"
#include "bot/authoring/transcript.hpp"
#include "bot/cli/commands.hpp"
#include "bot/engine/text.hpp"

namespace aula::cli {

namespace fs = std::filesystem;

namespace {

bool slurp(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

bool language_code(const std::string& lang) {
  return std::regex_match(lang, std::regex("[a-z]{2,3}([_-][A-Za-z]{2,4})?"));
}

// One line of a text for a report: line breaks shown as ⏎, cut at 60 characters.
std::string shown(const std::string& s) {
  std::u32string cps = utf8_decode(s);
  std::string out;
  for (std::size_t i = 0; i < cps.size() && i < 60; ++i) utf8_append(out, cps[i] == U'\n' ? U'⏎' : cps[i]);
  return "\"" + out + (cps.size() > 60 ? "…\"" : "\"");
}

// The loaded flow files of a folder; prints why when `id` is not among them.
const flow* find_flow(const load_result& loaded, const std::string& id, const std::string& dir, const char* cmd) {
  if (const flow* f = loaded.flows.find(id)) return f;
  for (const auto& d : loaded.diags.items()) std::cerr << format(d) << "\n";
  std::string ids;
  for (const auto& [fid, _] : loaded.flows.flows) ids += (ids.empty() ? "" : ", ") + fid;
  std::cerr << "aula i18n " << cmd << ": no flow '" << id << "' in " << dir
            << (ids.empty() ? " (no valid flow there)" : "; flows: " + ids) << "\n";
  return nullptr;
}

struct export_options {
  std::string flow, lang, out, flows;
};

int run_export(const export_options& o) {
  if (!language_code(o.lang)) {
    std::cerr << "aula i18n export: '" << o.lang << "' is not a language code (es, en, es_MX, …)\n";
    return 1;
  }
  auto loaded = load_flows({o.flows});
  const flow* f = find_flow(loaded, o.flow, o.flows, "export");
  if (!f) return 1;
  if (o.lang == f->language) {
    std::cerr << "aula i18n export: '" << o.lang << "' is the base language of " << o.flow
              << "; name the language to translate into\n";
    return 1;
  }
  const std::string file = f->pos.file;
  std::string text;
  if (!slurp(file, text)) {
    std::cerr << "aula i18n export: cannot read " << file << "\n";
    return 1;
  }
  std::vector<i18n_text> texts;
  std::string base;
  diagnostics diags;
  if (!list_texts(text, file, o.lang, texts, base, diags)) {
    for (const auto& d : diags.items()) std::cerr << format(d) << "\n";
    return 1;
  }
  const std::string csv = export_csv(texts);
  std::size_t translated = 0;
  for (const auto& t : texts) translated += t.translation && !t.translation->empty();
  if (o.out.empty()) {
    std::cout << csv;
  } else {
    std::ofstream out(o.out, std::ios::binary | std::ios::trunc);
    out << csv;
    out.flush();
    if (!out) {
      std::cerr << "aula i18n export: cannot write " << o.out << "\n";
      return 1;
    }
  }
  std::cerr << o.flow << ": " << texts.size() << " text(s) in " << base << ", " << translated << " already in "
            << o.lang << ", " << texts.size() - translated << " to translate"
            << (o.out.empty() ? "" : " -> " + o.out) << "\n";
  return 0;
}

struct import_options {
  std::string file, lang, flows, flow;
  bool dry_run = false, force = false;
};

// Which flow a CSV is for: --flow, else the file name (leccion-muestra.en.csv), else the
// flow whose name matches the `name` row's source.
std::string guess_flow(const import_options& o, const load_result& loaded, const std::vector<i18n_row>& rows) {
  if (!o.flow.empty()) return o.flow;
  std::string stem = fs::path(o.file).filename().string();
  for (auto dot = stem.find('.'); dot != std::string::npos; dot = stem.find('.', dot + 1))
    if (loaded.flows.find(stem.substr(0, dot))) return stem.substr(0, dot);
  for (const auto& r : rows) {
    if (r.id != "name") continue;
    std::string found;
    for (const auto& [id, f] : loaded.flows.flows) {
      auto it = f.name.by_lang.find(f.language);
      if (it != f.name.by_lang.end() && it->second == r.source) {
        if (!found.empty()) return {};
        found = id;
      }
    }
    return found;
  }
  return {};
}

int run_import(const import_options& o) {
  const char* me = "aula i18n import: ";
  if (!language_code(o.lang)) {
    std::cerr << me << "'" << o.lang << "' is not a language code (es, en, es_MX, …)\n";
    return 1;
  }
  std::string csv;
  if (!slurp(o.file, csv)) {
    std::cerr << me << "cannot read " << o.file << "\n";
    return 1;
  }
  std::vector<i18n_row> rows;
  std::string error;
  if (!read_translation_csv(csv, o.lang, rows, error)) {
    std::cerr << me << o.file << ": " << error << "\n";
    return 1;
  }
  auto loaded = load_flows({o.flows});
  const std::string flow_id = guess_flow(o, loaded, rows);
  if (flow_id.empty()) {
    std::cerr << me << "cannot tell which flow " << o.file << " is for; say it with --flow\n";
    return 1;
  }
  const flow* f = find_flow(loaded, flow_id, o.flows, "import");
  if (!f) return 1;
  const std::string file = f->pos.file;
  for (const auto& d : loaded.diags.items()) {
    if (d.pos.file == file && d.severity == diagnostic::level::error) {
      std::cerr << format(d) << "\n" << me << file << " has errors; fix them first (aula validate)\n";
      return 1;
    }
  }
  std::string text;
  if (!slurp(file, text)) {
    std::cerr << me << "cannot read " << file << "\n";
    return 1;
  }
  i18n_import plan;
  if (!plan_import(text, file, o.lang, rows, plan, error)) {
    std::cerr << me << file << ": " << error << "\n";
    return 1;
  }

  std::cout << "import " << o.file << " -> " << file << " (" << flow_id << ", " << o.lang << ")\n";
  std::cout << "  applied: " << plan.applied.size() << "\n";
  for (const auto& id : plan.applied) std::cout << "    " << id << "\n";
  std::cout << "  unchanged: " << plan.unchanged.size() << "\n";
  std::size_t untranslated = 0;
  for (const auto& m : plan.missing) untranslated += !m.has_translation;
  std::cout << "  missing: " << plan.missing.size() << " (no row or an empty translation; " << untranslated
            << " with no " << o.lang << " text at all, shown in " << f->language << ")\n";
  for (const auto& m : plan.missing)
    std::cout << "    " << m.id << (m.has_translation ? " (keeps its current translation)" : "") << "\n";
  std::cout << "  stale: " << plan.stale.size() << " (the source changed since the export; not applied)\n";
  for (const auto& s : plan.stale)
    std::cout << "    " << s.id << " (line " << s.line << "): the sheet has " << shown(s.csv_source) << ", the flow has "
              << shown(s.flow_source) << "\n";
  std::cout << "  unknown ids: " << plan.unknown.size() << "\n";
  for (const auto& [id, line] : plan.unknown) std::cout << "    " << id << " (line " << line << ")\n";
  if (plan.unknown.size() > plan.applied.size() + plan.unchanged.size() + plan.stale.size())
    std::cout << "  (most ids are not texts of " << flow_id << ": is the sheet for another flow? say which with --flow)\n";
  if (!plan.duplicates.empty()) {
    std::cout << "  duplicate ids: " << plan.duplicates.size() << " (the first row counts)\n";
    for (const auto& [id, line] : plan.duplicates) std::cout << "    " << id << " (line " << line << ")\n";
  }
  for (const auto& w : plan.warnings) std::cout << "  warning: " << w << "\n";

  if (plan.blocked() && !o.force) {
    std::cout << "nothing written: fix the stale, unknown or duplicate rows (export again for the current "
                 "sources), or apply the rest with --force\n";
    return 1;
  }
  if (plan.new_text == text) {
    std::cout << "nothing to write: the flow already has these translations\n";
    return 0;
  }
  diagnostics context = check_in_context(o.flows, file, plan.new_text);
  if (context.errors() > 0) {
    for (const auto& d : context.items()) std::cerr << format(d) << "\n";
    std::cerr << me << "the flows would not load after the import; nothing written\n";
    return 1;
  }
  if (o.dry_run) {
    std::vector<std::string> before, after;
    std::istringstream a(text), b(plan.new_text);
    for (std::string l; std::getline(a, l);) before.push_back(l);
    for (std::string l; std::getline(b, l);) after.push_back(l);
    std::istringstream diff(line_diff(before, after));
    std::cout << "dry run: nothing written; the changes would be:\n";
    for (std::string l; std::getline(diff, l);)
      if (l.starts_with("- ") || l.starts_with("+ ")) std::cout << "  " << l << "\n";
    return 0;
  }
  if (!replace_file(file, plan.new_text, error)) {
    std::cerr << me << error << "\n";
    return 1;
  }
  std::cout << "wrote " << file << "\n";
  return 0;
}

}  // namespace

void add_i18n(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("i18n", "Translations through a spreadsheet: export a flow's texts to CSV, import them back");
  cmd->require_subcommand(1);

  auto* ex = cmd->add_subcommand("export", "Write a flow's texts and their translations as CSV (UTF-8, for Excel)");
  auto eo = std::make_shared<export_options>();
  ex->add_option("flow", eo->flow, "Flow id")->required();
  ex->add_option("--lang", eo->lang, "Language of the translation column, e.g. en")->required();
  ex->add_option("--out", eo->out, "CSV file to write (default: standard output)");
  ex->add_option("--flows", eo->flows, "Folder of flow files (default: $AULA_FLOWS or flows/)");
  ex->callback([eo, &exit_code] {
    if (eo->flows.empty()) eo->flows = default_flows_dir();
    exit_code = run_export(*eo);
  });

  auto* im = cmd->add_subcommand("import", "Write the translations of a CSV back into the flow file");
  auto io = std::make_shared<import_options>();
  im->add_option("file", io->file, "CSV file (as written by aula i18n export)")->required();
  im->add_option("--lang", io->lang, "Language of the translation column, e.g. en")->required();
  im->add_option("--flows", io->flows, "Folder of flow files (default: $AULA_FLOWS or flows/)");
  im->add_option("--flow", io->flow, "Flow id (default: from the file name, else from the name row)");
  im->add_flag("--dry-run", io->dry_run, "Report and show the changes; write nothing");
  im->add_flag("--force", io->force, "Apply the good rows even when some are stale, unknown or duplicated");
  im->callback([io, &exit_code] {
    if (io->flows.empty()) io->flows = default_flows_dir();
    exit_code = run_import(*io);
  });
}

}  // namespace aula::cli
