// aula chat: a conversation in the terminal on the pure engine and an in-memory session.
// Choices show as a numbered menu. --script FILE reads the learner's lines from a file and
// prints the whole conversation, so a demo is also a test. Commands: /advance 25h (move the
// clock; due reminders and waits fire), /state, /restart, /webhook 200 {…}, /quit.
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/authoring/loader.hpp"
#include "bot/authoring/simulator.hpp"
#include "bot/engine/course.hpp"
#include "bot/engine/timing.hpp"
#include "bot/cli/commands.hpp"
#include "bot/engine/engine.hpp"
#include "bot/engine/text.hpp"

namespace aula::cli {

namespace {

struct chat_options {
  std::string flow, course, lang, script, name, flows, tz;
  int buttons = 0;
  std::string consent;  // --consent VERSION: the privacy consent question first
};

constexpr const char* bot_prefix = "aula › ";
constexpr const char* you_prefix = "tú   › ";

void print_text(std::ostream& out, const std::string& text) {
  std::size_t start = 0;
  bool first = true;
  while (true) {
    auto nl = text.find('\n', start);
    out << (first ? bot_prefix : "       ") << text.substr(start, nl - start) << "\n";
    first = false;
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

// Reads the learner's next line: from the script (echoed) or the terminal.
bool next_line(std::istream& in, bool echo, std::string& line) {
  while (true) {
    if (!echo) std::cout << you_prefix << std::flush;
    if (!std::getline(in, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (echo && line.starts_with("#")) continue;  // comments in scripts
    if (echo) std::cout << you_prefix << line << "\n";
    return true;
  }
}

int run_chat(const chat_options& o) {
  auto loaded = load_flows({o.flows});
  for (const auto& d : loaded.diags.items())
    if (d.severity == diagnostic::level::error) std::cerr << format(d) << "\n";
  if (loaded.flows.flows.empty()) {
    std::cerr << "aula chat: no valid flow in " << o.flows << "\n";
    return 1;
  }
  std::ifstream script;
  if (!o.script.empty()) {
    script.open(o.script);
    if (!script) {
      std::cerr << "aula chat: cannot open script " << o.script << "\n";
      return 1;
    }
  }
  std::istream& in = o.script.empty() ? std::cin : script;
  const bool echo = !o.script.empty();
  std::string lang = o.lang;

  std::string flow_id = o.flow;
  if (!o.course.empty() && !loaded.flows.course(o.course)) {
    std::cerr << "aula chat: no course '" << o.course << "' in course.yaml\n";
    return 1;
  }
  if (!o.course.empty()) {
    // A course: the learner is enrolled; /advance moves through its days.
  } else if (flow_id.empty()) {
    if (loaded.flows.flows.size() == 1) {
      flow_id = loaded.flows.flows.begin()->first;
    } else {
      std::vector<std::string> ids;
      std::cout << bot_prefix << (lang == "en" ? "Which flow?" : "¿Qué flujo quieres probar?") << "\n";
      for (const auto& [id, f] : loaded.flows.flows) {
        ids.push_back(id);
        std::cout << "       " << ids.size() << ". " << f.name.get(lang, f.language) << " (" << id << ")\n";
      }
      std::string line;
      while (flow_id.empty()) {
        if (!next_line(in, echo, line)) return 0;
        auto i = parse_index(line);
        if (i && *i >= 1 && static_cast<std::size_t>(*i) <= ids.size()) flow_id = ids[*i - 1];
        else if (loaded.flows.find(trim(line))) flow_id = trim(line);
        else std::cout << bot_prefix << (lang == "en" ? "Type a number from the list." : "Escribe un número de la lista.") << "\n";
      }
    }
  }
  if (o.course.empty() && !loaded.flows.find(flow_id)) {
    std::cerr << "aula chat: no flow '" << flow_id << "'\n";
    return 1;
  }

  context ctx;
  ctx.caps.max_buttons = o.buttons;
  ctx.tz = o.tz.empty() ? default_time_zone : o.tz;
  ctx.channel = "terminal";
  if (!o.consent.empty()) {
    // The privacy consent question first, as `aula serve` asks it (privacy.consent).
    ctx.consent.required = true;
    ctx.consent.version = o.consent;
    ctx.consent.url = "http://127.0.0.1:8080/privacidad";
  }
  std::int64_t offset = 0;  // /advance moves aula's clock ahead of the real one
  auto real_now = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  ctx.now_ms = real_now();
  simulator sim(loaded.flows, ctx);
  sim.state().lang = lang;
  if (!o.name.empty()) sim.state().contact["name"] = o.name;
  auto show = [](const std::vector<sim_output>& outs) {
    for (const auto& out : outs) {
      if (out.type == sim_output::kind::at) std::cout << "       ⏰ " << out.text << "\n";
      else if (out.type == sim_output::kind::request) std::cout << "       ↗ " << out.text << "\n";
      else print_text(std::cout, out.text);
    }
  };
  auto tick = [&] { sim.set_now(std::max(sim.now(), real_now() + offset)); };

  auto begin = [&] {
    return o.course.empty() ? inbound_event::start(flow_id) : inbound_event::enroll_in(o.course);
  };
  auto in_course = [&] {
    const course_progress* c = o.course.empty() ? nullptr : sim.state().course(o.course);
    return c && c->status == "active";
  };
  tick();
  show(sim.send(begin()));
  std::string line;
  while (sim.state().run || sim.state().menu_open || sim.state().consent_asked || in_course()) {
    if (!next_line(in, echo, line)) {
      if (echo && sim.state().run) std::cout << "(fin del guion; el flujo sigue esperando en '" << sim.state().run->node << "')\n";
      return 0;
    }
    if (line == "/quit" || line == "/salir") return 0;
    if (line == "/state" || line == "/estado") {
      std::cout << sim.state().to_json().dump(2) << "\n";
      continue;
    }
    if (line == "/restart" || line == "/reiniciar") {
      tick();
      show(sim.send(begin()));
      continue;
    }
    if (line.starts_with("/advance ") || line.starts_with("/avanzar ")) {
      auto d = parse_duration(trim(line.substr(line.find(' ') + 1)));
      if (!d) {
        std::cout << "       (" << (lang == "en" ? "a duration, e.g. /advance 25h" : "una duración, p. ej. /avanzar 25h") << ")\n";
        continue;
      }
      tick();
      offset += *d;
      show(sim.advance(*d));
      continue;
    }
    if (line.starts_with("/webhook ")) {
      // /webhook 200 {"ok": true}: answers the pending webhook request.
      std::string rest = trim(line.substr(9));
      auto sp = rest.find(' ');
      int status = std::atoi(rest.substr(0, sp).c_str());
      auto id = sim.pending_webhook();
      tick();
      show(sim.send(inbound_event::webhook_answer(id ? *id : "none", status, sp == std::string::npos ? "" : rest.substr(sp + 1))));
      continue;
    }
    tick();
    show(sim.send(inbound_event::message(line)));
  }
  const session& s = sim.state();
  for (const auto& c : s.courses)
    std::cout << "— " << c.course << ": " << c.status << (c.folio.empty() ? "" : ", folio " + c.folio) << " —\n";
  if (s.last) {
    std::cout << "— " << s.last->flow << ": " << s.last->status;
    if (s.last->score_max > 0) std::cout << " (" << s.last->score << "/" << s.last->score_max << ")";
    std::cout << " —\n";
  }
  return 0;
}

}  // namespace

void add_chat(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("chat", "Talk to a flow in the terminal (the pure engine, nothing stored)");
  auto o = std::make_shared<chat_options>();
  cmd->add_option("--flow", o->flow, "Flow id to start (default: ask)");
  cmd->add_option("--course", o->course, "Enrol in this course of course.yaml instead (use /advance 1d between modules)");
  cmd->add_option("--lang", o->lang, "Learner language, e.g. es or en (default: the flow's)");
  cmd->add_option("--script", o->script, "Read the learner's lines from FILE and print the conversation");
  cmd->add_option("--name", o->name, "Learner name, for {{contact.name}}");
  cmd->add_option("--flows", o->flows, "Folder of flow files (default: $AULA_FLOWS or flows/)");
  cmd->add_option("--tz", o->tz, "Learner time zone (default America/Mexico_City)");
  cmd->add_option("--consent", o->consent, "Ask the privacy consent question first, for this notice version (as aula serve does)");
  cmd->add_option("--buttons", o->buttons, "Show menus of up to N choices as buttons, like a chat app (default 0: numbered)");
  cmd->callback([o, &exit_code] {
    if (o->flows.empty()) o->flows = default_flows_dir();
    exit_code = run_chat(*o);
  });
}

}  // namespace aula::cli
