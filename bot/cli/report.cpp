// aula report progress|funnel|items|survey|diagnosis|delivery|answers: a client of the admin
// API's reports (/admin/reports/…, bot/cli/admin_reports.cpp). `--format table` (the default)
// prints a readable summary of each report; `csv` writes the CSV the API makes (UTF-8, --bom
// for spreadsheets, formula-like cells neutralized); `json` the API's JSON. --output writes to
// a file instead of standard output. A facilitator's token gets their cohorts only.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/config/config.hpp"
#include "bot/io/http_client.hpp"
#include "bot/io/log.hpp"
#include "bot/io/url.hpp"

namespace aula::cli {

namespace {

using json = nlohmann::json;

struct report_options {
  std::string kind, cohort, state, flow, course, layout, format = "table", lang = "es", output, url, token;
  bool bom = false, no_free_text = false;
};

const std::vector<std::string> kinds = {"progress", "funnel", "items", "survey", "diagnosis", "delivery", "answers"};


std::string path_of(const report_options& o) {
  std::vector<std::pair<std::string, std::string>> q;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) q.emplace_back(k, v);
  };
  add("cohort", o.cohort);
  add("state", o.state);
  add("flow", o.flow.empty() && o.kind == "diagnosis" ? "diagnostico" : o.flow);
  add("course", o.course);
  if (o.kind == "answers") add("layout", o.layout.empty() ? "long" : o.layout);
  if (o.kind == "answers" && o.no_free_text) add("free_text", "0");
  add("lang", o.lang);
  if (o.format == "csv") {
    add("format", "csv");
    if (o.bom) add("bom", "1");
  }
  std::string path = "/admin/reports/" + o.kind;
  for (std::size_t k = 0; k < q.size(); ++k) path += (k ? "&" : "?") + q[k].first + "=" + percent_encode(q[k].second);
  return path;
}

struct raw_answer {
  int status = 0;
  std::string body, error;
};

// admin_call, but the body as it came (CSV is no JSON), a large limit and a patient timeout:
// a report over a big cohort is megabytes and takes the database a while.
raw_answer fetch(const app_config& cfg, const admin_target& t, const std::string& path) {
  net::io_context ioc;
  client_options co = client_options_from(cfg);
  co.body_limit = std::size_t{1} << 30;
  co.request_timeout = std::max<std::chrono::milliseconds>(co.request_timeout, std::chrono::minutes(5));
  http_client client(ioc.get_executor(), co);
  http_call call;
  call.method = "GET";
  call.url = t.url + path;
  call.headers["Authorization"] = "Bearer " + t.token;
  auto fut = net::co_spawn(ioc, client.request(call), net::use_future);
  ioc.run();
  const http_result r = fut.get();
  raw_answer a;
  a.status = r.status;
  a.body = r.body;
  if (r.status == 0) {
    a.error = "cannot reach " + t.url + ": " + log::redact(r.error) + " (is aula serve running? --url names another address)";
  } else if (r.status == 401) {
    a.error = "the token was refused";
  } else if (r.status != 200) {
    const json j = json::parse(r.body, nullptr, false);
    a.error = j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                             : "HTTP " + std::to_string(r.status);
  }
  return a;
}

// -- Tables ----------------------------------------------------------------------------------

// Columns as a terminal shows them: code points, not bytes (accents take one column).
std::size_t width_of(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// At most `n` columns, cut at a code point with "…".
std::string clip(const std::string& s, std::size_t n) {
  if (width_of(s) <= n) return s;
  std::string out;
  std::size_t w = 0;
  for (std::size_t k = 0; k < s.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    if ((c & 0xC0) != 0x80 && ++w > n - 1) break;
    out += s[k];
  }
  return out + "…";
}

std::string str(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 1e15) return std::to_string(static_cast<long long>(x));
    std::ostringstream o;
    o << std::fixed << std::setprecision(2) << x;
    return o.str();
  }
  return v.dump();
}

std::string field(const json& j, const char* key) { return j.is_object() && j.contains(key) ? str(j[key]) : ""; }

std::string percent(double share) { return std::to_string(static_cast<long long>(std::llround(share * 100))) + " %"; }

std::string fixed2(double x) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(2) << x;
  return o.str();
}

// Columns padded to their widest cell; columns in `right` aligned right (numbers).
void print_table(std::ostream& out, const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows,
                 const std::set<std::size_t>& right = {}) {
  std::vector<std::size_t> w(head.size(), 0);
  for (std::size_t k = 0; k < head.size(); ++k) w[k] = width_of(head[k]);
  for (const auto& r : rows)
    for (std::size_t k = 0; k < r.size() && k < w.size(); ++k) w[k] = std::max(w[k], width_of(r[k]));
  auto line = [&](const std::vector<std::string>& r) {
    std::string s = " ";
    for (std::size_t k = 0; k < w.size(); ++k) {
      const std::string cell = k < r.size() ? r[k] : "";
      const std::string pad(w[k] - width_of(cell), ' ');
      s += " " + (right.count(k) ? pad + cell : cell + (k + 1 < w.size() ? pad : ""));
      if (k + 1 < w.size()) s += " ";
    }
    out << s << "\n";
  };
  line(head);
  for (const auto& r : rows) line(r);
}

std::string learner_of(const json& r) {
  const std::string name = field(r, "name");
  return name.empty() ? field(r, "conv") : name;
}

void progress_table(std::ostream& out, const json& rep, const report_options& o) {
  auto breakdown = [&](const char* title, const char* key) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : rep.value(key, json::array())) {
      if (!o.course.empty() && field(r, "course") != o.course) continue;
      const std::string group = field(r, key == std::string("by_cohort") ? "cohort" : "state");
      rows.push_back({group.empty() ? "(none)" : group, field(r, "course"), field(r, "learners"), field(r, "completed"),
                      percent(r.value("share", 0.0))});
    }
    out << title << "\n";
    if (rows.empty()) out << "  (nothing yet)\n";
    else print_table(out, {key == std::string("by_cohort") ? "cohort" : "state", "course", "learners", "completed", "share"}, rows, {2, 3, 4});
  };
  breakdown("Progress by cohort", "by_cohort");
  out << "\n";
  breakdown("Progress by state", "by_state");
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : rep.value("learners", json::array())) {
    std::string cohorts;
    for (const auto& c : l.value("cohorts", json::array())) cohorts += (cohorts.empty() ? "" : ", ") + str(c);
    for (const auto& c : l.value("courses", json::array())) {
      if (!o.course.empty() && field(c, "course") != o.course) continue;
      const std::string score = c["score"].is_null() ? "" : field(c, "score") + "/" + field(c, "max");
      rows.push_back({learner_of(l), field(l, "state"), cohorts, field(c, "course"),
                      field(c, "modules_completed") + "/" + field(c, "modules_total"), field(c, "status"), score});
    }
  }
  out << "\nLearners\n";
  if (rows.empty()) out << "  (nothing yet)\n";
  else print_table(out, {"learner", "state", "cohorts", "course", "modules", "status", "score"}, rows);
}

void funnel_table(std::ostream& out, const json& rep) {
  out << "Course " << field(rep, "course") << ": " << field(rep, "enrolled") << " enrolled\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : rep.value("steps", json::array()))
    rows.push_back({field(s, "module"), clip(field(s, "name"), 50), field(s, "enrolled"), field(s, "started"),
                    field(s, "completed")});
  print_table(out, {"module", "name", "enrolled", "started", "completed"}, rows, {0, 2, 3, 4});
  out << "\nWhere learners stop (started, not completed; at the node of their latest record)\n";
  bool any = false;
  for (const auto& s : rep.value("steps", json::array())) {
    std::string drops;
    int shown = 0;
    for (const auto& d : s.value("drop_off", json::array())) {
      if (++shown > 5) break;
      const std::string node = field(d, "node");
      drops += (drops.empty() ? "" : ", ") + (node.empty() ? "(before the first question)" : node) + " " +
               field(d, "learners");
    }
    if (drops.empty()) continue;
    any = true;
    out << "  " << field(s, "flow") << ": " << drops << "\n";
  }
  if (!any) out << "  (nobody)\n";
}

std::string option_words(const json& a) {
  const std::string label = field(a, "label");
  return field(a, "value") + (label.empty() || label == field(a, "value") ? "" : " \"" + label + "\"");
}

void items_table(std::ostream& out, const json& rep) {
  out << "Quiz items of " << field(rep, "flow") << " (right at the first attempt; the wrong answer chosen most)\n";
  if (rep.value("nodes", json::array()).empty()) out << "  (no answers yet)\n";
  for (const auto& n : rep.value("nodes", json::array())) {
    out << "\n" << field(n, "node") << ": " << field(n, "question") << "\n";
    out << "  learners " << field(n, "learners") << " · right at the first attempt " << field(n, "first_correct") << "/"
        << field(n, "learners") << " (" << percent(n.value("first_correct_share", 0.0)) << ")"
        << " · right at any attempt " << field(n, "correct_any");
    if (n.value("skipped", 0) > 0) out << " · skipped " << field(n, "skipped");
    out << "\n";
    const json& wrong = n.contains("most_chosen_wrong") ? n["most_chosen_wrong"] : json();
    if (wrong.is_object())
      out << "  most chosen wrong: " << option_words(wrong) << " (" << field(wrong, "count") << "×)\n";
    std::string all;
    for (const auto& a : n.value("answers", json::array()))
      all += (all.empty() ? "" : ", ") + option_words(a) + " " + field(a, "count") + (a.value("correct", false) ? " ✓" : "");
    if (!all.empty()) out << "  every attempt: " << all << "\n";
  }
}

void survey_table(std::ostream& out, const json& rep) {
  out << "Survey answers of " << field(rep, "flow") << " (each learner's latest)\n";
  std::map<std::string, json> nps;
  for (const auto& x : rep.value("nps", json::array())) nps[field(x, "node")] = x;
  if (rep.value("nodes", json::array()).empty()) out << "  (no answers yet)\n";
  for (const auto& n : rep.value("nodes", json::array())) {
    out << "\n" << field(n, "node") << ": " << field(n, "question") << "\n";
    out << "  responses " << field(n, "responses");
    const json& num = n.contains("numeric") ? n["numeric"] : json();
    if (num.is_object())
      out << " · mean " << fixed2(num.value("mean", 0.0)) << " (min " << field(num, "min") << ", max "
          << field(num, "max") << ")";
    out << "\n";
    if (auto it = nps.find(field(n, "node")); it != nps.end())
      out << "  NPS " << std::llround(it->second.value("nps", 0.0)) << " (promoters " << field(it->second, "promoters")
          << ", passives " << field(it->second, "passives") << ", detractors " << field(it->second, "detractors")
          << ")\n";
    const bool typed = field(n, "type") == "text";
    const auto values = n.value("values", json::array());
    std::size_t shown = 0;
    for (const auto& v : values) {
      if (++shown > 10) {
        out << "    … and " << values.size() - 10 << " more\n";
        break;
      }
      if (typed) out << "    «" << field(v, "value") << "» " << field(v, "count") << "\n";
      else out << "    " << option_words(v) << ": " << field(v, "count") << "\n";
    }
  }
}

void diagnosis_table(std::ostream& out, const json& rep) {
  out << "Needs diagnosis (" << field(rep, "flow") << "): topics by need, the least known first\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : rep.value("topics", json::array()))
    rows.push_back({fixed2(t.value("mean", 0.0)), field(t, "responses"), clip(field(t, "question"), 70)});
  if (rows.empty()) out << "  (no answers yet)\n";
  else print_table(out, {"mean", "responses", "topic"}, rows, {0, 1});
  rows.clear();
  for (const auto& t : rep.value("chosen_topics", json::array()))
    rows.push_back({field(t, "count"), field(t, "label").empty() ? field(t, "value") : field(t, "label")});
  out << "\nTopics learners asked for\n";
  if (rows.empty()) out << "  (none)\n";
  else print_table(out, {"learners", "topic"}, rows, {0});
  out << "\nBy state: the three least known topics\n";
  for (const auto& s : rep.value("by_state", json::array())) {
    std::string list;
    int k = 0;
    for (const auto& t : s.value("topics", json::array())) {
      if (++k > 3) break;
      list += (list.empty() ? "" : "; ") + clip(field(t, "question"), 40) + " " + fixed2(t.value("mean", 0.0));
    }
    const std::string state = field(s, "state");
    out << "  " << (state.empty() ? "(none)" : state) << ": " << list << "\n";
  }
}

void delivery_table(std::ostream& out, const json& rep) {
  const std::vector<std::string> keys = {"sent", "segments", "delivered", "read", "failed", "dead_letters", "reengagements"};
  std::vector<std::vector<std::string>> rows;
  auto row = [&](const std::string& name, const json& c) {
    std::vector<std::string> r = {name};
    for (const auto& k : keys) r.push_back(field(c, k.c_str()));
    rows.push_back(std::move(r));
  };
  for (const auto& c : rep.value("channels", json::array())) row(field(c, "channel"), c);
  if (rows.empty()) {
    out << "No messages sent through a provider yet.\n";
    return;
  }
  if (rep.contains("totals")) row("total", rep["totals"]);
  print_table(out, {"channel", "sent", "segments", "delivered", "read", "failed", "dead letters", "re-engagements"}, rows,
              {1, 2, 3, 4, 5, 6, 7});
}

void answers_table(std::ostream& out, const json& rep) {
  if (field(rep, "layout") == "wide") {
    for (const auto& l : rep.value("rows", json::array())) {
      out << learner_of(l) << " (" << field(l, "conv") << ")\n";
      for (const auto& c : rep.value("columns", json::array())) {
        const std::string id = field(c, "node");
        if (l["answers"].contains(id))
          out << "  " << clip(field(c, "header"), 60) << ": " << str(l["answers"][id]) << "\n";
      }
    }
    if (rep.value("rows", json::array()).empty()) out << "(no answers yet)\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : rep.value("rows", json::array())) {
    std::string mark;
    if (r.contains("correct") && r["correct"].is_boolean()) mark = r["correct"].get<bool>() ? "✓" : "✗";
    rows.push_back({field(r, "time"), clip(learner_of(r), 24), field(r, "node"), clip(field(r, "question"), 40),
                    clip(field(r, "answer"), 40), mark});
  }
  if (rows.empty()) out << "(no answers yet)\n";
  else print_table(out, {"time (UTC)", "learner", "node", "question", "answer", ""}, rows);
}

int run_report(const report_options& o) {
  auto usage = [](const std::string& why) {
    std::cerr << "aula report: " << why << "\n";
    return 2;
  };
  if ((o.kind == "items" || o.kind == "survey" || o.kind == "answers") && o.flow.empty())
    return usage(o.kind + " needs --flow (a flow id, e.g. leccion-muestra)");
  if (o.kind == "funnel" && o.course.empty()) return usage("funnel needs --course (a course id, e.g. curso-muestra)");
  if (!o.layout.empty() && o.kind != "answers") return usage("--layout is for answers");
  app_config cfg;
  if (!load_command_config("report", cfg)) return 2;
  admin_target t;
  if (!admin_target_from(cfg, o.url, o.token, "report", t)) return 2;

  raw_answer a;
  try {
    a = fetch(cfg, t, path_of(o));
  } catch (const std::exception& e) {
    std::cerr << "aula report: " << e.what() << "\n";
    return 1;
  }
  if (!a.error.empty()) {
    std::cerr << "aula report: " << a.error << "\n";
    return a.status == 400 || a.status == 401 || a.status == 403 ? 2 : 1;
  }

  std::ofstream file;
  if (!o.output.empty()) {
    file.open(o.output, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "aula report: cannot write " << o.output << "\n";
      return 1;
    }
  }
  std::ostream& out = o.output.empty() ? std::cout : file;
  if (o.format == "csv") {
    out << a.body;
  } else {
    const json rep = json::parse(a.body, nullptr, false);
    if (rep.is_discarded() || !rep.is_object()) {
      std::cerr << "aula report: unexpected answer (not JSON)\n";
      return 1;
    }
    if (o.format == "json") out << rep.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    else if (o.kind == "progress") progress_table(out, rep, o);
    else if (o.kind == "funnel") funnel_table(out, rep);
    else if (o.kind == "items") items_table(out, rep);
    else if (o.kind == "survey") survey_table(out, rep);
    else if (o.kind == "diagnosis") diagnosis_table(out, rep);
    else if (o.kind == "delivery") delivery_table(out, rep);
    else answers_table(out, rep);
  }
  out.flush();
  if (!out) {
    std::cerr << "aula report: writing " << (o.output.empty() ? "the report" : o.output) << " failed\n";
    return 1;
  }
  if (!o.output.empty()) std::cerr << "aula report: wrote " << o.output << "\n";
  return 0;
}

}  // namespace

void add_report(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<report_options>();
  auto* cmd = app.add_subcommand("report", "Print or export a report of a running aula (progress, funnel, quiz items, "
                                           "surveys, diagnosis, delivery, answers)");
  cmd->add_option("report", o->kind, "progress | funnel | items | survey | diagnosis | delivery | answers")
      ->required()
      ->check(CLI::IsMember(kinds));
  cmd->add_option("--cohort", o->cohort, "Only this cohort's learners");
  cmd->add_option("--state", o->state, "Only this state's learners (commission)");
  cmd->add_option("--flow", o->flow, "The flow (items, survey, answers; diagnosis: default diagnostico)");
  cmd->add_option("--course", o->course, "The course (funnel; the progress table: only this course)");
  cmd->add_option("--layout", o->layout, "answers: one row per answer (long, default) or per learner (wide)")
      ->check(CLI::IsMember({"long", "wide"}));
  cmd->add_flag("--no-free-text", o->no_free_text, "answers: leave out what learners wrote in their own words");
  cmd->add_option("--format", o->format, "table (default), csv or json")->check(CLI::IsMember({"table", "csv", "json"}));
  cmd->add_flag("--bom", o->bom, "csv: start with a UTF-8 byte order mark (for spreadsheets)");
  cmd->add_option("--lang", o->lang, "Language of question texts and labels: es (default) or en")
      ->check(CLI::IsMember({"es", "en"}));
  cmd->add_option("--output,-o", o->output, "Write to this file instead of standard output");
  cmd->add_option("--url", o->url, "The running aula (default: http://$AULA_LISTEN)");
  cmd->add_option("--token", o->token, "A token (default: the first admin token of AULA_ADMIN_TOKENS)");
  cmd->callback([o, &exit_code] { exit_code = run_report(*o); });
}

}  // namespace aula::cli
