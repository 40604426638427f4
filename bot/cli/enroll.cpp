// aula enroll --cohort piloto [--course ID] learners.csv: a client of POST
// /admin/learners/import. The file goes in parts of a few hundred rows (a progress bar on
// stderr for long files); each part's problems come back by line number of the whole file;
// good rows are imported, bad ones listed; a learner twice in the file is reported even
// across parts. Exit 0 when every row went in, 1 when some were reported, 2 on usage errors.
#include <fstream>
#include <iostream>
#include <sstream>


#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/io/random.hpp"

namespace aula::cli {

namespace {

struct enroll_options {
  std::string cohort, course, file, url, token, channel = "whatsapp";
  int part = 250;  // rows per request
};

// The file's records (rows), each with its first line number: a newline inside a quoted cell
// does not end a record.
std::vector<std::pair<int, std::string>> records_of(const std::string& text) {
  std::vector<std::pair<int, std::string>> out;
  std::string cur;
  bool quoted = false;
  int line = 1, start = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') quoted = !quoted;
    if ((c == '\n' || c == '\r') && !quoted) {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out.emplace_back(start, cur);
      cur.clear();
      start = ++line;
      continue;
    }
    if (c == '\n') ++line;
    cur.push_back(c);
  }
  if (!cur.empty()) out.emplace_back(start, cur);
  return out;
}

void bar(int done, int total) {
  if (total <= 0) return;
  const int width = 30, fill = done * width / total;
  std::cerr << "\r[" << std::string(static_cast<std::size_t>(fill), '#') << std::string(static_cast<std::size_t>(width - fill), ' ')
            << "] " << done << "/" << total << " rows" << std::flush;
}

int run_enroll(const enroll_options& o) {
  app_config cfg;
  if (!load_command_config("enroll", cfg)) return 2;
  admin_target t;
  if (!admin_target_from(cfg, o.url, o.token, "enroll", t)) return 2;
  std::ifstream in(o.file, std::ios::binary);
  if (!in) {
    std::cerr << "aula enroll: cannot read " << o.file << "\n";
    return 2;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto records = records_of(buf.str());
  if (records.empty()) {
    std::cerr << "aula enroll: " << o.file << " is empty\n";
    return 2;
  }
  const std::string import_id = random_hex(8);
  const std::string header = records.front().second;
  const int rows = static_cast<int>(records.size()) - 1;
  const bool show_bar = rows > o.part;
  int imported = 0, updated = 0, done = 0;
  nlohmann::json problems = nlohmann::json::array(), invites = nlohmann::json::array();
  for (std::size_t i = 1; i < records.size() || (rows == 0 && i == 1); i += static_cast<std::size_t>(o.part)) {
    const std::size_t end = std::min(records.size(), i + static_cast<std::size_t>(o.part));
    // Each part: the header, then its rows at their own line numbers (blank lines keep the
    // numbering: the server counts lines from first_line).
    const int first = i < records.size() ? records[i].first : 2;
    std::string part = header + "\n";
    int line = 2;
    for (std::size_t k = i; k < end; ++k) {
      while (line < records[k].first - first + 2) {
        part += "\n";
        ++line;
      }
      part += records[k].second + "\n";
      line += static_cast<int>(std::count(records[k].second.begin(), records[k].second.end(), '\n')) + 1;
    }
    nlohmann::json body = {{"cohort", o.cohort}, {"course", o.course}, {"csv", part},
                           {"first_line", first - 1}, {"import_id", import_id}, {"default_channel", o.channel}};
    const admin_answer a = admin_call(cfg, t, "POST", "/admin/learners/import", body);
    if (show_bar) std::cerr << "\n";
    if (!a.error.empty() || a.status != 200) {
      std::cerr << "aula enroll: " << (a.error.empty() ? a.body.value("error", std::string("failed")) : a.error) << "\n";
      if (done > 0) std::cerr << "aula enroll: " << done << " rows were done before; run it again: they are not enrolled twice\n";
      return a.status == 401 || a.status == 403 || a.status == 404 ? 2 : 1;
    }
    imported += a.body.value("imported", 0);
    updated += a.body.value("updated", 0);
    for (const auto& p : a.body.value("problems", nlohmann::json::array())) {
      // A header problem is reported by every part: once is enough.
      if (p.value("line", 0) == first - 1 && i > 1) continue;
      problems.push_back(p);
    }
    for (const auto& v : a.body.value("invites", nlohmann::json::array())) invites.push_back(v);
    done = static_cast<int>(end) - 1;
    if (show_bar) bar(done, rows);
    if (rows == 0) break;
  }
  if (show_bar) std::cerr << "\n";
  std::cout << o.file << ": " << imported << " enrolled in " << o.cohort << ", " << updated << " already known (updated), "
            << problems.size() << " problem(s)\n";
  for (const auto& p : problems) {
    std::cout << "  line " << p.value("line", 0);
    if (!p.value("column", std::string{}).empty()) std::cout << " (" << p.value("column", std::string{}) << ")";
    std::cout << ": " << p.value("message", std::string{}) << "\n";
  }
  if (!invites.empty()) {
    std::cout << "Telegram invite links to hand out:\n";
    for (const auto& v : invites)
      std::cout << "  line " << v.value("line", 0) << "  " << v.value("name", std::string{}) << "  "
                << v.value("link", std::string{}) << "\n";
  }
  return problems.empty() ? 0 : 1;
}

}  // namespace

void add_enroll(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("enroll", "Enrol the learners of a CSV file in a cohort (and a course)");
  auto o = std::make_shared<enroll_options>();
  cmd->add_option("file", o->file, "CSV: nombre, telefono (or chat_id), canal, idioma, estado, rol, consentimiento, …")
      ->required();
  cmd->add_option("--cohort", o->cohort, "The cohort (e.g. piloto)")->required();
  cmd->add_option("--course", o->course, "Enrol them in this course of course.yaml");
  cmd->add_option("--channel", o->channel, "Channel of rows without one (default whatsapp)");
  cmd->add_option("--url", o->url, "The running aula (default: http://$AULA_LISTEN)");
  cmd->add_option("--token", o->token, "A token (default: the first admin token of AULA_ADMIN_TOKENS)");
  cmd->add_option("--part", o->part, "Rows per request (default 250)")->check(CLI::Range(1, 5000));
  cmd->callback([o, &exit_code] { exit_code = run_enroll(*o); });
}

}  // namespace aula::cli
