// The reports of the admin API (/admin/reports/…), read from the record store and given the
// texts of the flows (questions, option labels, module names) in the asker's language; and the
// lists the dashboard builds its menus from (/admin/whoami, /admin/cohorts, /admin/courses).
// A facilitator's reports cover their cohorts (or their commissions' learners) only.
// `format=csv` answers CSV (UTF-8; `bom=1` for spreadsheets; formula-like cells neutralized).
// /admin/reports/answers exports every answer of a flow with its question text, one row per
// answer (layout=long) or per learner (layout=wide; free_text=0 leaves out typed answers).
#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include "bot/cli/admin_api.hpp"
#include "bot/cli/admin_guard.hpp"
#include "bot/engine/course.hpp"
#include "bot/engine/flow.hpp"
#include "bot/records/csv.hpp"
#include "bot/service/records.hpp"
#include "bot/service/roster.hpp"
#include "bot/service/service.hpp"

namespace aula::cli {

namespace {

std::string lang_of(const request& req) {
  const std::string l = query_param(req.target(), "lang");
  return l == "en" ? "en" : "es";
}

std::string text_in(const localized& t, const std::string& lang, const flow& f) { return t.get(lang, f.language); }

std::string flow_kind(const flow& f) {
  bool questions = false;
  for (const auto& kv : f.nodes) {
    if (kv.second.kind == node_kind::quiz) return "quiz";
    if (kv.second.kind == node_kind::question) questions = true;
  }
  return questions ? "survey" : "lesson";
}

// The label of option `value` at node `n` ("" when the value is no option: free text).
std::string label_of(const node& n, const std::string& value, const std::string& lang, const flow& f) {
  for (const auto& o : n.options)
    if (o.id == value) return text_in(o.label, lang, f);
  return {};
}

std::string value_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Adds "question" to each node of a report and "label" to each value it lists.
void add_texts(nlohmann::json& report, const flow* f, const std::string& lang) {
  if (!f || !report.contains("nodes")) return;
  for (auto& n : report["nodes"]) {
    const node* def = f->find(n.value("node", std::string{}));
    if (!def) continue;
    n["question"] = text_in(def->text, lang, *f);
    n["type"] = def->kind == node_kind::quiz ? "quiz" : to_string(def->type);
    for (const char* list : {"answers", "first_answers", "values"}) {
      if (!n.contains(list)) continue;
      for (auto& a : n[list]) a["label"] = label_of(*def, value_text(a.value("value", nlohmann::json())), lang, *f);
    }
    if (n.contains("most_chosen_wrong") && n["most_chosen_wrong"].is_object())
      n["most_chosen_wrong"]["label"] =
          label_of(*def, value_text(n["most_chosen_wrong"].value("value", nlohmann::json())), lang, *f);
    // Options nobody chose still belong in the chart.
    if (n.contains("answers") && def->kind == node_kind::quiz) {
      for (const auto& o : def->options) {
        bool seen = false;
        for (const auto& a : n["answers"]) seen = seen || value_text(a.value("value", nlohmann::json())) == o.id;
        if (!seen) n["answers"].push_back({{"value", o.id}, {"label", text_in(o.label, lang, *f)}, {"count", 0}, {"correct", o.correct}});
      }
    }
  }
  // Nodes in the order the flow asks them.
  std::vector<std::string> order;
  for (const auto& kv : f->nodes) order.push_back(kv.first);
  auto pos = [&](const std::string& id) {
    const node* d = f->find(id);
    return d ? std::make_pair(d->pos.line, id) : std::make_pair(1 << 30, id);
  };
  std::stable_sort(report["nodes"].begin(), report["nodes"].end(), [&](const nlohmann::json& a, const nlohmann::json& b) {
    return pos(a.value("node", std::string{})) < pos(b.value("node", std::string{}));
  });
}

response csv_answer(const request& req, const std::string& name, const nlohmann::json& rows,
                    const std::vector<std::string>& columns) {
  records::csv_options o;
  o.bom = query_param(req.target(), "bom") == "1";
  auto res = make_response(req, http::status::ok, records::json_to_csv(rows, columns, o), "text/csv; charset=utf-8");
  res.set(http::field::content_disposition, "attachment; filename=\"" + name + ".csv\"");
  return res;
}

bool wants_csv(const request& req) { return query_param(req.target(), "format") == "csv"; }

// -- The answers export (/admin/reports/answers) ----------------------------------------------

bool asks(const node& n) { return n.kind == node_kind::question || n.kind == node_kind::quiz; }

// What kind of answer a row is: "quiz", the question's type, or the record's type when the
// node is no longer in the flow (answered under an older version).
std::string answer_type(const node* def, const nlohmann::json& row) {
  if (def && asks(*def)) return def->kind == node_kind::quiz ? "quiz" : to_string(def->type);
  return row.value("type", std::string{});
}

// Text the learner wrote in their own words (free_text=0 leaves it out). At a node the flow no
// longer has, any non-quiz answer given as a string counts as free text: the safe guess.
bool free_text_answer(const node* def, const nlohmann::json& row) {
  if (def && asks(*def)) return def->kind == node_kind::question && def->type == question_type::text;
  return row.value("type", std::string{}) == "answer" && row.contains("value") && row["value"].is_string();
}

// The answer in words: an option's label (a multi answer: the labels joined by "; "), else the
// value as given (a number, a text).
std::string answer_words(const node* def, const nlohmann::json& value, const std::string& lang, const flow& f) {
  auto one = [&](const nlohmann::json& v) {
    const std::string raw = value_text(v);
    if (def) {
      std::string label = label_of(*def, raw, lang, f);
      if (!label.empty()) return label;
    }
    return raw;
  };
  if (value.is_null()) return {};
  if (!value.is_array()) return one(value);
  std::string out;
  for (const auto& v : value) out += (out.empty() ? "" : "; ") + one(v);
  return out;
}

// 1767225600000 -> "2026-01-01T00:00:00Z".
std::string iso_utc(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// 12.0 -> 12: number answers are stored as doubles, and most are whole (years, counts).
nlohmann::json whole_numbers(nlohmann::json v) {
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 9007199254740992.0) return static_cast<std::int64_t>(x);
  } else if (v.is_array()) {
    for (auto& e : v) e = whole_numbers(e);
  }
  return v;
}

std::string joined_cohorts(const nlohmann::json& cohorts) {
  std::string out;
  if (cohorts.is_array())
    for (const auto& c : cohorts) out += (out.empty() ? "" : ";") + value_text(c);
  return out;
}

// One row per answer, oldest first, with the question and the answer in words.
nlohmann::json long_answers(const nlohmann::json& rep, const flow& f, const std::string& lang, bool free_text) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : rep["rows"]) {
    const std::string id = r.value("node", std::string{});
    const node* def = f.find(id);
    if (!free_text && free_text_answer(def, r)) continue;
    const nlohmann::json value = whole_numbers(r.value("value", nlohmann::json()));
    rows.push_back({{"conv", r["conv"]},
                    {"name", r.value("name", nlohmann::json())},
                    {"state", r.value("state", nlohmann::json())},
                    {"cohorts", r.value("cohorts", nlohmann::json::array())},
                    {"node", id},
                    {"question", def ? text_in(def->text, lang, f) : std::string{}},
                    {"type", answer_type(def, r)},
                    {"answer", answer_words(def, value, lang, f)},
                    {"value", value},
                    {"text", r.value("text", nlohmann::json())},
                    {"correct", r.value("correct", nlohmann::json())},
                    {"attempt", r.value("attempt", nlohmann::json())},
                    {"at", r.value("at", std::int64_t{0})},
                    {"time", iso_utc(r.value("at", std::int64_t{0}))}});
  }
  return {{"flow", rep.value("flow", std::string{})}, {"layout", "long"}, {"rows", std::move(rows)}};
}

// One row per learner, one column per question of the flow in the order the file asks them
// (then any answered node the flow no longer has): each learner's latest answer, in words
// (numbers stay numbers). Learners by name, then conversation.
nlohmann::json wide_answers(const nlohmann::json& rep, const flow& f, const std::string& lang, bool free_text) {
  nlohmann::json columns = nlohmann::json::array();
  std::set<std::string> headers = {"conv", "name", "state", "cohorts"}, listed;
  auto add_column = [&](const std::string& id, const node* def) {
    std::string header = def ? text_in(def->text, lang, f) : id;
    if (header.empty() || headers.count(header)) header += " [" + id + "]";
    headers.insert(header);
    listed.insert(id);
    columns.push_back({{"node", id},
                       {"question", def ? text_in(def->text, lang, f) : std::string{}},
                       {"type", def ? answer_type(def, nlohmann::json::object()) : std::string{}},
                       {"header", header}});
  };
  for (const auto& id : f.order) {
    const node* def = f.find(id);
    if (!def || !asks(*def)) continue;
    if (!free_text && def->kind == node_kind::question && def->type == question_type::text) continue;
    add_column(id, def);
  }
  std::map<std::string, nlohmann::json> learners;
  for (const auto& r : rep["rows"]) {
    const std::string id = r.value("node", std::string{});
    const node* def = f.find(id);
    if (!free_text && free_text_answer(def, r)) continue;
    if (!listed.count(id)) add_column(id, def && asks(*def) ? def : nullptr);
    const std::string conv = r.value("conv", std::string{});
    nlohmann::json& l = learners[conv];
    if (l.is_null())
      l = {{"conv", conv},
           {"name", r.value("name", nlohmann::json())},
           {"state", r.value("state", nlohmann::json())},
           {"cohorts", r.value("cohorts", nlohmann::json::array())},
           {"answers", nlohmann::json::object()}};
    const nlohmann::json value = whole_numbers(r.value("value", nlohmann::json()));
    l["answers"][id] = value.is_number() ? value : nlohmann::json(answer_words(def, value, lang, f));  // latest wins
  }
  std::vector<nlohmann::json> list;
  for (auto& kv : learners) list.push_back(std::move(kv.second));
  auto name = [](const nlohmann::json& l) { return l["name"].is_string() ? l["name"].get<std::string>() : std::string{}; };
  std::stable_sort(list.begin(), list.end(), [&](const nlohmann::json& a, const nlohmann::json& b) {
    return std::make_pair(name(a), a["conv"].get<std::string>()) < std::make_pair(name(b), b["conv"].get<std::string>());
  });
  return {{"flow", rep.value("flow", std::string{})}, {"layout", "wide"}, {"columns", std::move(columns)},
          {"rows", list}};
}

}  // namespace

// Exports are in the audit log: who took which data out, and when.
net::awaitable<void> admin_api::audit_export(std::string path, std::string target, const principal& p) {
  nlohmann::json details;
  details["query"] = target;
  co_await access_.audit(p, "export", path, details, now());
}

void admin_api::add_report_routes(http_server& server) {
  auto guarded = [this](need n, auto handler) { return guard(access_, n, std::move(handler)); };

  // What a report may show this person: their cohorts, or their commissions' learners.
  // nullopt: the named cohort or state is not theirs (403).
  auto scope = [](const request& req, const principal& p) -> std::optional<records::report_filter> {
    records::report_filter f;
    const std::string cohort = query_param(req.target(), "cohort");
    const std::string state = state_name(query_param(req.target(), "state"));
    if (!cohort.empty()) {
      if (!p.reaches(cohort)) return std::nullopt;
      f.cohorts = {cohort};
      if (!p.covers(cohort)) f.states = p.commissions;
    } else if (!p.is_admin()) {
      if (!p.cohorts.empty()) f.cohorts = p.cohorts;
      else f.states = p.commissions;
    }
    if (!state.empty()) {
      if (!f.states.empty() && std::find(f.states.begin(), f.states.end(), state) == f.states.end()) return std::nullopt;
      f.states = {state};
    }
    return f;
  };
  auto forbidden = [](const request& req) {
    return json_response(req, http::status::forbidden, {{"error", "that cohort or state is not yours"}});
  };

  server.add_route(http::verb::get, "/admin/whoami",
                   guarded(need::staff, [](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     co_return json_response(req, http::status::ok,
                                             {{"name", p.name}, {"role", p.role}, {"cohorts", p.cohorts},
                                              {"commissions", p.commissions}});
                   }));
  server.add_route(http::verb::get, "/admin/cohorts",
                   guarded(need::staff, [this](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto keys = co_await svc_.backing_store().dir_keys("cohort:");
                     nlohmann::json list = nlohmann::json::array();
                     std::sort(keys.begin(), keys.end());
                     for (const auto& k : keys) {
                       const std::string name = k.substr(7);
                       if (!p.reaches(name)) continue;
                       auto members = co_await svc_.backing_store().dir_set_members(k);
                       list.push_back({{"name", name}, {"learners", members.size()}, {"whole", p.covers(name)}});
                     }
                     co_return json_response(req, http::status::ok, {{"cohorts", list}});
                   }));
  server.add_route(http::verb::get, "/admin/courses",
                   guarded(need::staff, [this](request& req, const nlohmann::json&, const principal&) -> net::awaitable<response> {
                     const std::string lang = lang_of(req);
                     auto flows = svc_.flows();
                     nlohmann::json courses = nlohmann::json::array(), list = nlohmann::json::array(),
                                    drafts = nlohmann::json::array();
                     if (flows->courses)
                       for (const auto& c : flows->courses->courses) {
                         nlohmann::json mods = nlohmann::json::array();
                         for (const auto& m : c.modules) {
                           const flow* f = flows->find(m.flow);
                           std::string name = f ? text_in(m.title.empty() ? f->name : m.title, lang, *f) : m.flow;
                           mods.push_back({{"flow", m.flow}, {"name", name}});
                         }
                         courses.push_back({{"id", c.id}, {"name", c.name.get(lang, "es")}, {"modules", mods}});
                       }
                     for (const auto& kv : flows->flows)
                       list.push_back({{"id", kv.first}, {"name", text_in(kv.second.name, lang, kv.second)},
                                       {"kind", flow_kind(kv.second)}});
                     std::error_code ec;
                     for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(cfg_.flows) / "drafts", ec)) {
                       const auto ext = e.path().extension().string();
                       if (ext == ".yaml" || ext == ".yml" || ext == ".json")
                         drafts.push_back({{"id", e.path().stem().string()}, {"file", e.path().filename().string()}});
                     }
                     std::sort(drafts.begin(), drafts.end());
                     co_return json_response(req, http::status::ok, {{"courses", courses}, {"flows", list}, {"drafts", drafts}});
                   }));

  server.add_route(http::verb::get, "/admin/reports/progress",
                   guarded(need::staff, [this, scope, forbidden](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto f = scope(req, p);
                     if (!f) co_return forbidden(req);
                     const record_keeper::job query = [f = *f](records::record_store& db) { return db.progress(f); };
                     nlohmann::json rep = co_await records_.run(query);
                     // The record store knows only the modules somebody opened; the course file
                     // says how many there are.
                     auto flows = svc_.flows();
                     for (auto& l : rep["learners"])
                       for (auto& c : l["courses"])
                         if (const course_def* def = flows->course(c.value("course", std::string{}))) {
                           const int total = static_cast<int>(def->modules.size());
                           c["modules_total"] = total;
                           c["completion"] = total > 0 ? static_cast<double>(c.value("modules_completed", 0)) / total : 0.0;
                         }
                     if (!wants_csv(req)) co_return json_response(req, http::status::ok, rep);
                     nlohmann::json rows = nlohmann::json::array();
                     for (const auto& l : rep["learners"])
                       for (const auto& c : l.value("courses", nlohmann::json::array())) {
                         std::string cohorts;
                         for (const auto& x : l.value("cohorts", nlohmann::json::array())) cohorts += (cohorts.empty() ? "" : ";") + value_text(x);
                         rows.push_back({{"learner", l["conv"]}, {"name", l.value("name", nlohmann::json())}, {"state", l.value("state", nlohmann::json())},
                                         {"cohorts", cohorts}, {"course", c["course"]}, {"status", c["status"]},
                                         {"modules_completed", c["modules_completed"]}, {"modules_total", c["modules_total"]},
                                         {"score", c["score"]}, {"max", c["max"]}});
                       }
                     const std::string exported = std::string(request_path(req)), asked = std::string(req.target());
                     co_await audit_export(exported, asked, p);
                     co_return csv_answer(req, "progreso", rows,
                                          {"learner", "name", "state", "cohorts", "course", "status", "modules_completed",
                                           "modules_total", "score", "max"});
                   }));
  server.add_route(http::verb::get, "/admin/reports/funnel",
                   guarded(need::staff, [this, scope, forbidden](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto f = scope(req, p);
                     if (!f) co_return forbidden(req);
                     const std::string course = query_param(req.target(), "course");
                     auto flows = svc_.flows();
                     const course_def* c = flows->course(course);
                     if (!c) co_return json_response(req, http::status::not_found, {{"error", "no course '" + course + "'"}});
                     std::vector<std::string> mods;
                     for (const auto& m : c->modules) mods.push_back(m.flow);
                     const record_keeper::job query = [f = *f, course, mods](records::record_store& db) { return db.funnel(course, mods, f); };
                     nlohmann::json rep = co_await records_.run(query);
                     const std::string lang = lang_of(req);
                     for (auto& s : rep["steps"]) {
                       const flow* fl = flows->find(s.value("flow", std::string{}));
                       s["name"] = fl ? text_in(fl->name, lang, *fl) : s.value("flow", std::string{});
                     }
                     if (!wants_csv(req)) co_return json_response(req, http::status::ok, rep);
                     const std::string exported = std::string(request_path(req)), asked = std::string(req.target());
                     co_await audit_export(exported, asked, p);
                     co_return csv_answer(req, "embudo", rep["steps"], {"module", "flow", "name", "enrolled", "started", "completed"});
                   }));
  server.add_route(http::verb::get, "/admin/reports/items",
                   guarded(need::staff, [this, scope, forbidden](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto f = scope(req, p);
                     if (!f) co_return forbidden(req);
                     const std::string flow_id = query_param(req.target(), "flow");
                     auto flows = svc_.flows();
                     const flow* fl = flows->find(flow_id);
                     if (!fl) co_return json_response(req, http::status::not_found, {{"error", "no flow '" + flow_id + "'"}});
                     const record_keeper::job query = [f = *f, flow_id](records::record_store& db) { return db.items(flow_id, f); };
                     nlohmann::json rep = co_await records_.run(query);
                     add_texts(rep, fl, lang_of(req));
                     if (!wants_csv(req)) co_return json_response(req, http::status::ok, rep);
                     nlohmann::json rows = nlohmann::json::array();
                     for (const auto& n : rep["nodes"])
                       for (const auto& a : n["answers"])
                         rows.push_back({{"node", n["node"]}, {"question", n.value("question", std::string{})},
                                         {"first_correct_share", n["first_correct_share"]}, {"option", a["value"]},
                                         {"label", a.value("label", std::string{})}, {"correct", a["correct"]}, {"count", a["count"]}});
                     const std::string exported = std::string(request_path(req)), asked = std::string(req.target());
                     co_await audit_export(exported, asked, p);
                     co_return csv_answer(req, "reactivos-" + flow_id, rows,
                                          {"node", "question", "first_correct_share", "option", "label", "correct", "count"});
                   }));
  auto survey_of = [this](const std::string& flow_id, const records::report_filter& f, const std::string& lang)
      -> net::awaitable<nlohmann::json> {
    auto flows = svc_.flows();
    const flow* fl = flows->find(flow_id);
    if (!fl) throw std::invalid_argument("no flow '" + flow_id + "'");
    std::vector<std::string> nps;
    for (const auto& kv : fl->nodes)
      if (kv.second.kind == node_kind::question && kv.second.type == question_type::nps) nps.push_back(kv.first);
    const record_keeper::job query = [f, flow_id, nps](records::record_store& db) { return db.survey(flow_id, f, nps); };
    nlohmann::json rep = co_await records_.run(query);
    add_texts(rep, fl, lang);
    for (const char* k : {"by_state", "by_cohort", "nps"})
      for (auto& row : rep[k])
        if (const node* d = fl->find(row.value("node", std::string{}))) row["question"] = text_in(d->text, lang, *fl);
    co_return rep;
  };
  server.add_route(http::verb::get, "/admin/reports/survey",
                   guarded(need::staff, [this, scope, forbidden, survey_of](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto f = scope(req, p);
                     if (!f) co_return forbidden(req);
                     const std::string flow_id = query_param(req.target(), "flow");
                     const std::string lang = lang_of(req);
                     nlohmann::json rep = co_await survey_of(flow_id, *f, lang);
                     if (!wants_csv(req)) co_return json_response(req, http::status::ok, rep);
                     nlohmann::json rows = nlohmann::json::array();
                     for (const auto& n : rep["nodes"]) {
                       for (const auto& v : n["values"])
                         rows.push_back({{"node", n["node"]}, {"question", n.value("question", std::string{})},
                                         {"answer", v.value("label", std::string{}).empty() ? value_text(v["value"]) : v["label"].get<std::string>()},
                                         {"count", v["count"]}});
                     }
                     const std::string exported = std::string(request_path(req)), asked = std::string(req.target());
                     co_await audit_export(exported, asked, p);
                     co_return csv_answer(req, "encuesta-" + flow_id, rows, {"node", "question", "answer", "count"});
                   }));
  // The needs diagnosis (step A): topics ranked by need — the lowest self-rated knowledge
  // (scale questions) first — and the topics learners chose, overall and by state.
  server.add_route(http::verb::get, "/admin/reports/diagnosis",
                   guarded(need::staff, [this, scope, forbidden, survey_of](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto f = scope(req, p);
                     if (!f) co_return forbidden(req);
                     std::string flow_id = query_param(req.target(), "flow");
                     if (flow_id.empty()) flow_id = "diagnostico";
                     const std::string lang = lang_of(req);
                     nlohmann::json rep = co_await survey_of(flow_id, *f, lang);
                     auto flows = svc_.flows();
                     const flow* fl = flows->find(flow_id);
                     auto is_scale = [&](const std::string& id) {
                       const node* d = fl->find(id);
                       return d && d->kind == node_kind::question && d->type == question_type::scale;
                     };
                     nlohmann::json topics = nlohmann::json::array(), chosen = nlohmann::json::array();
                     for (const auto& n : rep["nodes"]) {
                       const std::string id = n.value("node", std::string{});
                       if (is_scale(id) && n["numeric"].is_object())
                         topics.push_back({{"node", id}, {"question", n.value("question", std::string{})},
                                           {"mean", n["numeric"]["mean"]}, {"responses", n["responses"]}});
                       const node* d = fl->find(id);
                       if (d && d->kind == node_kind::question && d->type == question_type::multi)
                         for (const auto& v : n["values"])
                           chosen.push_back({{"node", id}, {"value", v["value"]}, {"label", v.value("label", std::string{})}, {"count", v["count"]}});
                     }
                     auto by_mean = [](const nlohmann::json& a, const nlohmann::json& b) {
                       return a.value("mean", 0.0) < b.value("mean", 0.0);
                     };
                     std::stable_sort(topics.begin(), topics.end(), by_mean);
                     std::stable_sort(chosen.begin(), chosen.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
                       return a.value("count", 0) > b.value("count", 0);
                     });
                     std::map<std::string, nlohmann::json> states;
                     for (const auto& row : rep["by_state"]) {
                       const std::string id = row.value("node", std::string{});
                       if (!is_scale(id)) continue;
                       auto& st = states[row.value("state", std::string{})];
                       if (st.is_null()) st = nlohmann::json::array();
                       st.push_back({{"node", id}, {"question", row.value("question", std::string{})}, {"mean", row["mean"]},
                                     {"responses", row["count"]}});
                     }
                     nlohmann::json by_state = nlohmann::json::array();
                     for (auto& kv : states) {
                       std::stable_sort(kv.second.begin(), kv.second.end(), by_mean);
                       by_state.push_back({{"state", kv.first}, {"topics", kv.second}});
                     }
                     nlohmann::json out = {{"flow", flow_id}, {"topics", topics}, {"chosen_topics", chosen}, {"by_state", by_state}};
                     if (!wants_csv(req)) co_return json_response(req, http::status::ok, out);
                     nlohmann::json rows = nlohmann::json::array();
                     for (const auto& t : topics) rows.push_back({{"state", "(todos)"}, {"node", t["node"]}, {"question", t["question"]}, {"mean", t["mean"]}, {"responses", t["responses"]}});
                     for (const auto& s : by_state)
                       for (const auto& t : s["topics"]) rows.push_back({{"state", s["state"]}, {"node", t["node"]}, {"question", t["question"]}, {"mean", t["mean"]}, {"responses", t["responses"]}});
                     const std::string exported = std::string(request_path(req)), asked = std::string(req.target());
                     co_await audit_export(exported, asked, p);
                     co_return csv_answer(req, "diagnostico", rows, {"state", "node", "question", "mean", "responses"});
                   }));
  // Every answer of a flow for a spreadsheet: one row per answer (layout=long, the default) or
  // per learner (layout=wide); free_text=0 leaves out what learners wrote in their own words.
  server.add_route(http::verb::get, "/admin/reports/answers",
                   guarded(need::staff, [this, scope, forbidden](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto f = scope(req, p);
                     if (!f) co_return forbidden(req);
                     const std::string flow_id = query_param(req.target(), "flow");
                     std::string layout = query_param(req.target(), "layout");
                     if (layout.empty()) layout = "long";
                     if (layout != "long" && layout != "wide")
                       co_return json_response(req, http::status::bad_request, {{"error", "layout is long or wide, not '" + layout + "'"}});
                     auto flows = svc_.flows();
                     const flow* fl = flows->find(flow_id);
                     if (!fl) co_return json_response(req, http::status::not_found, {{"error", "no flow '" + flow_id + "'"}});
                     const bool free_text = query_param(req.target(), "free_text") != "0";
                     const record_keeper::job query = [f = *f, flow_id](records::record_store& db) { return db.answers(flow_id, f); };
                     nlohmann::json rep = co_await records_.run(query);
                     const std::string lang = lang_of(req);
                     const bool wide = layout == "wide";
                     nlohmann::json out;
                     if (wide) out = wide_answers(rep, *fl, lang, free_text);
                     else out = long_answers(rep, *fl, lang, free_text);
                     if (!wants_csv(req)) co_return json_response(req, http::status::ok, out);
                     nlohmann::json rows = nlohmann::json::array();
                     std::vector<std::string> columns;
                     if (wide) {
                       columns = {"conv", "name", "state", "cohorts"};
                       for (const auto& c : out["columns"]) columns.push_back(c["header"].get<std::string>());
                       for (const auto& l : out["rows"]) {
                         nlohmann::json row = {{"conv", l["conv"]}, {"name", l["name"]}, {"state", l["state"]},
                                               {"cohorts", joined_cohorts(l["cohorts"])}};
                         for (const auto& c : out["columns"]) {
                           const std::string id = c["node"].get<std::string>();
                           if (l["answers"].contains(id)) row[c["header"].get<std::string>()] = l["answers"][id];
                         }
                         rows.push_back(std::move(row));
                       }
                     } else {
                       columns = {"conv", "name", "state", "cohorts", "node", "question", "type", "answer", "value", "text",
                                  "correct", "attempt", "time"};
                       for (const auto& r : out["rows"]) {
                         nlohmann::json row = r;
                         row["cohorts"] = joined_cohorts(r["cohorts"]);
                         rows.push_back(std::move(row));
                       }
                     }
                     const std::string exported = std::string(request_path(req)), asked = std::string(req.target());
                     co_await audit_export(exported, asked, p);
                     co_return csv_answer(req, "respuestas-" + flow_id + (wide ? "-por-persona" : ""), rows, columns);
                   }));
  server.add_route(http::verb::get, "/admin/reports/delivery",
                   guarded(need::staff, [this, scope, forbidden](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto f = scope(req, p);
                     if (!f) co_return forbidden(req);
                     const record_keeper::job query = [f = *f](records::record_store& db) { return db.delivery(f); };
                     nlohmann::json rep = co_await records_.run(query);
                     if (!wants_csv(req)) co_return json_response(req, http::status::ok, rep);
                     const std::string exported = std::string(request_path(req)), asked = std::string(req.target());
                     co_await audit_export(exported, asked, p);
                     co_return csv_answer(req, "entrega", rep["channels"],
                                          {"channel", "sent", "segments", "delivered", "read", "failed", "dead_letters", "reengagements"});
                   }));
}

}  // namespace aula::cli
