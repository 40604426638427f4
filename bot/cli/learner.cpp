// aula learner show <conversation>: what an operator needs to see about one learner — where
// they are in the course, whether it is paused (and why) or they opted out, what is waiting to
// be sent, and the dead letters with their reasons. Reads Redis (AULA_REDIS_URL); changes
// nothing.
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/config/config.hpp"
#include "bot/engine/timing.hpp"
#include "bot/io/log.hpp"
#include "bot/store/store.hpp"

namespace aula::cli {

namespace {

struct learner_options {
  std::string who;
  bool json = false;
  std::size_t dead_max = 20;
};

const char* const channels[] = {"telegram", "whatsapp", "sms", "web"};

std::string when(std::int64_t ms) { return ms > 0 ? format_local(ms, "UTC") + " UTC" : "-"; }

nlohmann::json describe_learner(store& st, const std::string& conv, const loaded_session& l,
                                const std::vector<outbox_entry>& pending, const std::vector<outbox_entry>& dead) {
  nlohmann::json j = {{"conversation", conv}, {"partition", partition_of(conv, st.partitions())}};
  const session& s = l.s;
  j["version"] = s.version;
  j["language"] = s.lang;
  j["status"] = s.opted_out ? "opted_out" : !s.paused.empty() ? "paused" : "active";
  if (!s.paused.empty()) j["paused"] = {{"reason", s.paused}, {"at", s.paused_at}};
  if (s.run) j["run"] = {{"flow", s.run->flow}, {"node", s.run->node}, {"id", s.run->id}};
  if (!s.stack.empty()) j["callers"] = s.stack.size();
  if (!s.queue.empty()) j["queued_flows"] = s.queue;
  if (s.last) j["last"] = {{"flow", s.last->flow}, {"status", s.last->status}, {"score", s.last->score},
                           {"score_max", s.last->score_max}};
  j["answers"] = s.answers.size();
  nlohmann::json courses = nlohmann::json::array();
  for (const auto& c : s.courses) {
    nlohmann::json mods = nlohmann::json::array();
    for (const auto& m : c.modules)
      mods.push_back({{"flow", m.flow}, {"status", m.status}, {"score", m.score}, {"score_max", m.score_max},
                      {"attempts", m.attempts}, {"opened_at", m.opened_at}, {"ended_at", m.ended_at}});
    nlohmann::json cj = {{"course", c.course}, {"status", c.status}, {"module", c.current + 1},
                         {"modules", std::move(mods)}, {"enrolled_at", c.enrolled_at}};
    if (c.timer) cj["next"] = {{"kind", c.timer->kind}, {"at", c.timer->due}};
    if (!c.certificate.empty()) cj["certificate"] = {{"code", c.certificate}, {"folio", c.folio}};
    courses.push_back(std::move(cj));
  }
  j["courses"] = std::move(courses);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : pending) {
    if (!e.data.is_object() || e.data.value("conv", std::string{}) != conv) continue;
    nlohmann::json entry = e.data;
    // Provider calls waiting in the outbox carry credentials (headers, tokens in URLs): show
    // what they are, not how they authenticate.
    for (const char* k : {"call", "webhook"})
      if (entry.contains(k) && entry[k].is_object()) {
        entry[k].erase("headers");
        entry[k].erase("body");
      }
    out.push_back({{"id", e.id}, {"entry", std::move(entry)}});
  }
  j["pending"] = out;
  nlohmann::json dl = nlohmann::json::array();
  for (const auto& e : dead) dl.push_back(e.data);
  j["dead_letters"] = dl;
  return j;
}

void print_human(const nlohmann::json& j) {
  std::cout << j["conversation"].get<std::string>() << "  (partition " << j["partition"] << ", session version "
            << j["version"] << ")\n";
  std::cout << "  status: " << j["status"].get<std::string>();
  if (j.contains("paused"))
    std::cout << " since " << when(j["paused"]["at"].get<std::int64_t>()) << ": "
              << j["paused"]["reason"].get<std::string>() << "\n  (the course goes on when the learner writes again)";
  std::cout << "\n";
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
  net::io_context ioc;
  const redis_store_options ro = store_options_from(cfg);
  int status = 0;
  auto fut = net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto st = co_await make_redis_store(co_await net::this_coro::executor, ro);
        nlohmann::json found = nlohmann::json::array();
        for (const auto& conv : convs) {
          auto l = co_await st->load(conv);
          const int p = partition_of(conv, st->partitions());
          auto dead = co_await st->dead_letters(p, o.dead_max, conv);
          if (!l.exists && dead.empty()) continue;
          auto pending = co_await st->outbox_pending(p, 5000);
          found.push_back(describe_learner(*st, conv, l, pending, dead));
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

}  // namespace

void add_learner(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("learner", "Look at one learner: progress, pause, pending messages, dead letters");
  cmd->require_subcommand(1);
  auto o = std::make_shared<learner_options>();
  auto* show = cmd->add_subcommand("show", "Show a learner (read-only)");
  show->add_option("learner", o->who, "<channel>:<address> (e.g. telegram:123456789), or an address on any channel")
      ->required();
  show->add_flag("--json", o->json, "Print JSON");
  show->add_option("--dead-letters", o->dead_max, "How many recent dead letters to show (default 20)");
  show->callback([o, &exit_code] { exit_code = run_show(*o); });
}

}  // namespace aula::cli
