// aula learner show|reset|move|export|delete <learner>: what an operator needs to see about one learner —
// their record, where they are in the course, whether it is paused (and why) or they opted
// out, what waits to be sent, the dead letters with their reasons and the timeline of what
// happened — and the fixes: reset (the conversation, or a course from its first module) and
// move (to a course's module, or a flow's node). `show` reads Redis (AULA_REDIS_URL) through
// the same library the admin API uses; reset and move are clients of the admin API (audited).
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/config/config.hpp"
#include "bot/engine/timing.hpp"
#include "bot/io/log.hpp"
#include "bot/io/url.hpp"
#include "bot/records/record_store.hpp"
#include "bot/service/learner_view.hpp"
#include "bot/store/store.hpp"

namespace aula::cli {

namespace {

struct learner_options {
  std::string who;
  bool json = false;
  bool no_free_text = false;
  bool yes = false;
  std::size_t dead_max = 20;
  std::size_t timeline = 30;
  std::string course, flow, node, url, token, output;
};

const char* const channels[] = {"telegram", "whatsapp", "sms", "web"};

std::string when(std::int64_t ms) { return ms > 0 ? format_local(ms, "UTC") + " UTC" : "-"; }

void print_human(const nlohmann::json& j) {
  std::cout << j["conversation"].get<std::string>() << "  (partition " << j["partition"] << ", session version "
            << j["version"] << ")\n";
  std::cout << "  status: " << j["status"].get<std::string>();
  if (j.contains("paused"))
    std::cout << " since " << when(j["paused"]["at"].get<std::int64_t>()) << ": "
              << j["paused"]["reason"].get<std::string>() << "\n  (the course goes on when the learner writes again)";
  std::cout << "\n";
  if (j.contains("record")) {
    const auto& r = j["record"];
    auto field = [&](const char* k) { return r.contains(k) && r[k].is_string() ? r[k].get<std::string>() : std::string{}; };
    std::cout << "  " << field("name");
    if (!field("state").empty()) std::cout << ", " << field("state");
    if (!field("role").empty()) std::cout << ", " << field("role");
    if (r.contains("cohorts")) std::cout << "; cohorts " << r["cohorts"].dump();
    if (!field("consent").empty()) std::cout << "; consent: " << field("consent");
    std::cout << "\n";
  }
  if (j.contains("consent")) {
    const auto& c = j["consent"];
    std::cout << "  privacy consent: " << c.value("decision", std::string{});
    if (c.contains("notice_version"))
      std::cout << " (notice " << c.value("notice_version", std::string{}) << ", " << c.value("channel", std::string{})
                << ", " << when(c.value("at", std::int64_t{0})) << ")";
    std::cout << "\n";
  }
  if (j.contains("run"))
    std::cout << "  in flow " << j["run"]["flow"].get<std::string>() << ", at node " << j["run"]["node"].get<std::string>()
              << "\n";
  else
    std::cout << "  no flow in progress\n";
  if (j.contains("last"))
    std::cout << "  last finished: " << j["last"]["flow"].get<std::string>() << " ("
              << j["last"]["status"].get<std::string>() << ", " << j["last"]["score"] << "/" << j["last"]["score_max"]
              << ")\n";
  std::cout << "  saved answers: " << j["answers"] << "\n";
  for (const auto& c : j["courses"]) {
    std::cout << "  course " << c["course"].get<std::string>() << ": " << c["status"].get<std::string>() << ", module "
              << c["module"] << "\n";
    for (const auto& m : c["modules"])
      std::cout << "    " << m["flow"].get<std::string>() << ": " << m["status"].get<std::string>() << " ("
                << m["score"] << "/" << m["score_max"] << ", attempts " << m["attempts"] << ")\n";
    if (c.contains("next"))
      std::cout << "    next: " << c["next"]["kind"].get<std::string>() << " at "
                << when(c["next"]["at"].get<std::int64_t>()) << "\n";
    if (c.contains("certificate"))
      std::cout << "    certificate: folio " << c["certificate"]["folio"].get<std::string>() << "\n";
  }
  std::cout << "  waiting to be sent: " << j["pending"].size() << "\n";
  for (const auto& p : j["pending"]) {
    const auto& e = p["entry"];
    std::string text = e.contains("msg") ? e["msg"].value("text", std::string{}) : e.contains("webhook") ? "(webhook)" : "(call)";
    std::cout << "    " << e.value("lane", std::string{"reply"}) << ": " << text.substr(0, 80) << "\n";
  }
  std::cout << "  dead letters: " << j["dead_letters"].size() << "\n";
  for (const auto& d : j["dead_letters"]) {
    std::string text;
    if (d.contains("entry") && d["entry"].is_object() && d["entry"].contains("msg"))
      text = d["entry"]["msg"].value("text", std::string{});
    std::cout << "    " << when(d.value("at", std::int64_t{0})) << "  " << d.value("kind", std::string{"failed"}) << " ("
              << d.value("attempts", 0) << " attempts): " << d.value("reason", std::string{}) << "\n";
    if (!text.empty()) std::cout << "      message: " << text.substr(0, 80) << "\n";
  }
  if (j.contains("timeline")) {
    std::cout << "  timeline (newest " << j["timeline"].size() << "):\n";
    for (const auto& r : j["timeline"]) {
      std::cout << "    " << when(r.value("at", std::int64_t{0})) << "  " << r.value("type", std::string{});
      for (const char* k : {"flow", "node", "status"})
        if (r.contains(k) && r[k].is_string() && !r[k].get<std::string>().empty()) std::cout << " " << r[k].get<std::string>();
      if (r.contains("text") && r["text"].is_string()) std::cout << ": " << r["text"].get<std::string>().substr(0, 60);
      else if (r.contains("value") && !r["value"].is_null()) std::cout << ": " << r["value"].dump().substr(0, 60);
      std::cout << "\n";
    }
  }
}

int run_show(const learner_options& o) {
  app_config cfg;
  if (!load_command_config("learner", cfg)) return 2;
  std::vector<std::string> convs;
  if (o.who.find(':') != std::string::npos) {
    convs.push_back(o.who);
  } else {
    for (const char* ch : channels) convs.push_back(std::string(ch) + ":" + o.who);
  }
  // The timeline's older part is in the record store (drained from Redis); without it only
  // what Redis still holds shows.
  std::unique_ptr<records::record_store> db;
  try {
    db = records::open_record_store(cfg.records_url);
  } catch (const std::exception& e) {
    std::cerr << "aula learner: the record store is not available (" << log::redact(e.what())
              << "): the timeline shows only recent records\n";
  }
  net::io_context ioc;
  const redis_store_options ro = store_options_from(cfg);
  int status = 0;
  auto fut = net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto st = co_await make_redis_store(co_await net::this_coro::executor, ro);
        nlohmann::json found = nlohmann::json::array();
        for (const auto& conv : convs) {
          learner_view_options vo;
          vo.dead_letters = o.dead_max;
          vo.timeline = o.timeline;
          auto j = co_await describe_learner(*st, conv, vo);
          if (!j) continue;
          if (db && o.timeline > 0) merge_timeline(*j, db->timeline(conv, o.timeline), o.timeline);
          found.push_back(std::move(*j));
        }
        if (found.empty()) {
          std::cerr << "aula learner: no learner '" << o.who << "'"
                    << (o.who.find(':') == std::string::npos ? " on any channel" : "")
                    << " (give <channel>:<address>, e.g. telegram:123456789)\n";
          status = 1;
        } else if (o.json) {
          std::cout << log::redact((found.size() == 1 ? found[0] : found).dump(2)) << "\n";
        } else {
          for (const auto& j : found) print_human(j);
        }
      },
      net::use_future);
  ioc.run();
  try {
    fut.get();
  } catch (const std::exception& e) {
    std::cerr << "aula learner: " << e.what() << "\n";
    return 1;
  }
  return status;
}

// export: GET /admin/learners/<learner>/export, the JSON written to --output or printed.
int run_export(const learner_options& o) {
  app_config cfg;
  if (!load_command_config("learner", cfg)) return 2;
  admin_target t;
  if (!admin_target_from(cfg, o.url, o.token, "learner export", t)) return 2;
  const admin_answer a = admin_call(cfg, t, "GET",
                                    "/admin/learners/" + percent_encode(o.who, ":") + "/export" +
                                        (o.no_free_text ? "?free_text=0" : ""));
  if (!a.error.empty() || a.status != 200) {
    std::cerr << "aula learner export: "
              << (a.error.empty() ? a.body.value("error", "HTTP " + std::to_string(a.status)) : a.error) << "\n";
    return a.status == 401 || a.status == 403 || a.status == 400 ? 2 : 1;
  }
  const std::string text = a.body.dump(2) + "\n";
  if (o.output.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream f(o.output, std::ios::binary);
  f << text;
  if (!f) {
    std::cerr << "aula learner export: cannot write " << o.output << "\n";
    return 1;
  }
  std::cerr << "wrote " << o.output << " (" << a.body.value("records", nlohmann::json::array()).size() << " records)\n";
  return 0;
}

// delete: POST /admin/learners/<learner>/delete, after a confirmation (or --yes).
int run_delete(const learner_options& o) {
  app_config cfg;
  if (!load_command_config("learner", cfg)) return 2;
  admin_target t;
  if (!admin_target_from(cfg, o.url, o.token, "learner delete", t)) return 2;
  if (!o.yes) {
    std::cerr << "aula learner delete: this erases " << o.who
              << " for good: their session, record, cohorts and messages waiting; their results stay, anonymized.\n"
              << "Type the learner again to confirm: ";
    std::string typed;
    if (!std::getline(std::cin, typed) || typed != o.who) {
      std::cerr << "aula learner delete: not confirmed; nothing was erased (--yes skips this question)\n";
      return 2;
    }
  }
  const admin_answer a =
      admin_call(cfg, t, "POST", "/admin/learners/" + percent_encode(o.who, ":") + "/delete", nlohmann::json::object());
  if (!a.error.empty() || a.status != 200) {
    std::cerr << "aula learner delete: "
              << (a.error.empty() ? a.body.value("error", "HTTP " + std::to_string(a.status)) : a.error) << "\n";
    return a.status == 401 || a.status == 403 || a.status == 400 ? 2 : 1;
  }
  const auto& r = a.body.value("redis", nlohmann::json::object());
  const auto& db = a.body.value("records", nlohmann::json::object());
  std::cout << "erased " << o.who << ": now " << a.body.value("anon", std::string{}) << " in the records\n"
            << "  Redis: session " << r.value("sessions", 0) << ", timers " << r.value("timers", 0) << ", messages waiting "
            << r.value("outbox", 0) << ", dead letters " << r.value("dead_letters", 0) << ", directory keys "
            << r.value("directory", 0) << "\n"
            << "  record store: " << db.value("records", 0) + db.value("from_redis", 0)
            << " records anonymized, learner rows " << db.value("learners", 0) << ", staff records "
            << db.value("staff", 0) << "; audit entries " << a.body.value("audit", 0) << "\n";
  return 0;
}

// reset / move: POST /admin/learners/<learner>/reset|move, then the learner as they are now.
int run_fix(const learner_options& o, const std::string& action) {
  app_config cfg;
  if (!load_command_config("learner", cfg)) return 2;
  admin_target t;
  if (!admin_target_from(cfg, o.url, o.token, "learner " + action, t)) return 2;
  nlohmann::json body = nlohmann::json::object();
  if (!o.course.empty()) body["course"] = o.course;
  if (!o.flow.empty()) body["flow"] = o.flow;
  if (!o.node.empty()) body["node"] = o.node;
  const admin_answer a = admin_call(cfg, t, "POST", "/admin/learners/" + percent_encode(o.who, ":") + "/" + action, body);
  if (!a.error.empty() || a.status != 200) {
    std::cerr << "aula learner " << action << ": "
              << (a.error.empty() ? a.body.value("error", "HTTP " + std::to_string(a.status)) : a.error) << "\n";
    return a.status == 401 || a.status == 403 || a.status == 400 ? 2 : 1;
  }
  std::cout << action << ": " << a.body.value("summary", std::string{}) << "\n";
  if (a.body.contains("learner") && a.body["learner"].is_object()) {
    nlohmann::json j = a.body["learner"];
    j.erase("timeline");
    print_human(j);
  }
  return 0;
}

}  // namespace

void add_learner(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("learner", "One learner: show (progress, timeline, dead letters), reset, move, export, delete");
  cmd->require_subcommand(1);
  auto o = std::make_shared<learner_options>();
  auto* show = cmd->add_subcommand("show", "Show a learner (read-only): record, progress, pending, dead letters, timeline");
  show->add_option("learner", o->who, "<channel>:<address> (e.g. telegram:123456789), or an address on any channel")
      ->required();
  show->add_flag("--json", o->json, "Print JSON");
  show->add_option("--dead-letters", o->dead_max, "How many recent dead letters to show (default 20)");
  show->add_option("--timeline", o->timeline, "How many recent timeline entries to show (default 30; 0: none)");
  show->callback([o, &exit_code] { exit_code = run_show(*o); });

  auto* reset = cmd->add_subcommand("reset", "End what the learner is doing, lift a pause; --course starts that course over");
  reset->add_option("learner", o->who, "<channel>:<address>")->required();
  reset->add_option("--course", o->course, "Start this course over from its first module (records are kept)");
  auto* move = cmd->add_subcommand("move", "Send the learner to a course's module (--course C --flow M) or a flow's node");
  move->add_option("learner", o->who, "<channel>:<address>")->required();
  move->add_option("--course", o->course, "The course whose module --flow is");
  move->add_option("--flow", o->flow, "The module (with --course) or the flow to start")->required();
  move->add_option("--node", o->node, "Start at this node of --flow (without --course)");
  auto* exp = cmd->add_subcommand("export", "Everything aula holds about a learner, as JSON (a data-rights request; audited)");
  exp->add_option("learner", o->who, "<channel>:<address>")->required();
  exp->add_option("-o,--output", o->output, "Write the JSON to this file");
  exp->add_flag("--no-free-text", o->no_free_text, "Leave out what the learner typed (as reports' free_text=0)");
  exp->callback([o, &exit_code] { exit_code = run_export(*o); });
  auto* del = cmd->add_subcommand(
      "delete", "Erase a learner (a data-rights request; administrators only; audited): results stay, anonymized");
  del->add_option("learner", o->who, "<channel>:<address>")->required();
  del->add_flag("-y,--yes", o->yes, "Do not ask for confirmation");
  del->callback([o, &exit_code] { exit_code = run_delete(*o); });
  for (auto* sub : {reset, move, exp, del}) {
    sub->add_option("--url", o->url, "The admin API (default http://<AULA_LISTEN>)");
    sub->add_option("--token", o->token, "Bearer token (default: the admin token of AULA_ADMIN_TOKENS)");
  }
  reset->callback([o, &exit_code] { exit_code = run_fix(*o, "reset"); });
  move->callback([o, &exit_code] { exit_code = run_fix(*o, "move"); });
}

}  // namespace aula::cli
