// aula broadcast / aula remind: clients of POST /admin/broadcasts. --dry-run lists who would
// receive what (and who not, and why); otherwise the job is created (--at schedules it) and,
// with --wait, followed to the end with a progress bar and an ETA.
#include <chrono>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"

namespace aula::cli {

namespace {

struct job_options {
  std::string kind, cohort, text, template_name, start_flow, policy = "queue", inactive, module, at, url, token;
  bool dry_run = false, wait = false;
};

int run_job(const job_options& o) {
  app_config cfg;
  if (!load_command_config(o.kind, cfg)) return 2;
  admin_target t;
  if (!admin_target_from(cfg, o.url, o.token, o.kind, t)) return 2;
  nlohmann::json body = {{"kind", o.kind == "remind" ? "remind" : "broadcast"}, {"cohort", o.cohort}, {"dry_run", o.dry_run}};
  if (!o.text.empty()) body["text"] = o.text;
  if (!o.template_name.empty()) body["template"] = o.template_name;
  if (!o.start_flow.empty()) {
    body["start_flow"] = o.start_flow;
    body["policy"] = o.policy;
  }
  if (!o.inactive.empty()) body["inactive"] = o.inactive;
  if (!o.module.empty()) body["module"] = o.module;
  if (!o.at.empty()) body["at"] = o.at;
  const admin_answer a = admin_call(cfg, t, "POST", "/admin/broadcasts", body);
  if (!a.error.empty() || (a.status != 200 && a.status != 201)) {
    std::cerr << "aula " << o.kind << ": "
              << (a.error.empty() ? a.body.value("error", "HTTP " + std::to_string(a.status)) : a.error) << "\n";
    return a.status == 401 || a.status == 403 || a.status == 400 ? 2 : 1;
  }
  if (o.dry_run) {
    const auto to = a.body.value("recipients", nlohmann::json::array());
    const auto skipped = a.body.value("skipped", nlohmann::json::array());
    std::cout << to.size() << " would receive it, " << skipped.size() << " would not\n";
    for (const auto& r : to) std::cout << "  " << r.value("learner", std::string{}) << ": " << r.value("would", std::string{}) << "\n";
    for (const auto& r : skipped) std::cout << "  (not " << r.value("learner", std::string{}) << ": " << r.value("why", std::string{}) << ")\n";
    return 0;
  }
  const std::string id = a.body.value("id", std::string{});
  std::cout << o.kind << " job " << id << " " << a.body.value("status", std::string{}) << "\n";
  if (!o.wait) return 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const admin_answer g = admin_call(cfg, t, "GET", "/admin/broadcasts/" + id);
    if (!g.error.empty() || g.status != 200) {
      std::cerr << "\naula " << o.kind << ": " << (g.error.empty() ? "HTTP " + std::to_string(g.status) : g.error) << "\n";
      return 1;
    }
    const auto total = g.body.value("total", 0), done = g.body.value("done", 0);
    const auto status = g.body.value("status", std::string{});
    const int width = 30, fill = total > 0 ? done * width / total : 0;
    std::cerr << "\r[" << std::string(static_cast<std::size_t>(fill), '#') << std::string(static_cast<std::size_t>(width - fill), ' ')
              << "] " << done << "/" << total << "  sent " << g.body.value("sent", 0) << ", skipped "
              << g.body.value("skipped", 0) << ", ETA " << g.body.value("eta_ms", std::int64_t{0}) / 1000 << " s   " << std::flush;
    if (status == "done" || status == "cancelled") {
      std::cerr << "\n";
      std::cout << o.kind << " job " << id << " " << status << "\n";
      return status == "done" ? 0 : 1;
    }
  }
}

void common(CLI::App* cmd, const std::shared_ptr<job_options>& o) {
  cmd->add_option("--cohort", o->cohort, "The cohort")->required();
  cmd->add_option("--at", o->at, "Start then (\"2026-12-01 09:00\", the server's default time zone), not now");
  cmd->add_flag("--dry-run", o->dry_run, "Show who would receive what; send nothing");
  cmd->add_flag("--wait", o->wait, "Follow the job to its end with a progress bar");
  cmd->add_option("--url", o->url, "The running aula (default: http://$AULA_LISTEN)");
  cmd->add_option("--token", o->token, "A token (default: the first admin token of AULA_ADMIN_TOKENS)");
}

}  // namespace

void add_broadcast(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<job_options>();
  o->kind = "broadcast";
  auto* cmd = app.add_subcommand("broadcast", "Send a message (or start a flow) to a cohort, in the bulk lane");
  common(cmd, o);
  cmd->add_option("--text", o->text, "The message");
  cmd->add_option("--template", o->template_name, "WhatsApp: the approved template when the 24-hour window is closed");
  cmd->add_option("--start-flow", o->start_flow, "Start this flow instead of a message");
  cmd->add_option("--policy", o->policy, "For --start-flow: interrupt, skip or queue (default)")
      ->check(CLI::IsMember({"interrupt", "skip", "queue"}));
  cmd->callback([o, &exit_code] { exit_code = run_job(*o); });

  auto r = std::make_shared<job_options>();
  r->kind = "remind";
  auto* rem = app.add_subcommand("remind", "Remind a cohort's learners of the question waiting for them");
  common(rem, r);
  rem->add_option("--inactive", r->inactive, "Only learners silent this long (e.g. 48h)");
  rem->add_option("--module", r->module, "Only learners in this module (flow id)");
  rem->callback([r, &exit_code] { exit_code = run_job(*r); });
}

}  // namespace aula::cli
