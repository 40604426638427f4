// aula chat: a conversation in the terminal on the pure engine and an in-memory session.
// Choices show as a numbered menu. --script FILE reads the learner's lines from a file and
// prints the whole conversation, so a demo is also a test.
#include <fstream>
#include <iostream>
#include <random>

#include <CLI/CLI.hpp>

#include "bot/authoring/loader.hpp"
#include "bot/cli/commands.hpp"
#include "bot/engine/engine.hpp"
#include "bot/engine/render.hpp"
#include "bot/engine/text.hpp"

namespace aula::cli {

namespace {

struct chat_options {
  std::string flow, lang, script, name, flows;
  int buttons = 0;
};

constexpr const char* bot_prefix = "aula › ";
constexpr const char* you_prefix = "tú   › ";

void print_message(std::ostream& out, const outbound_message& m) {
  std::string text = render_plain(m);
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
  for (const auto& d : loaded.diags.items()) std::cerr << format(d) << "\n";
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
  if (flow_id.empty()) {
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
  if (!loaded.flows.find(flow_id)) {
    std::cerr << "aula chat: no flow '" << flow_id << "'\n";
    return 1;
  }

  session s;
  s.lang = lang;
  if (!o.name.empty()) s.contact["name"] = o.name;
  context ctx;
  ctx.caps.max_buttons = o.buttons;
  std::mt19937_64 rng(std::random_device{}());
  auto apply = [&](const inbound_event& ev) {
    ctx.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
    ctx.seed = rng();
    auto r = step(loaded.flows, s, ev, ctx);
    s = std::move(r.next);
    for (const auto& m : r.messages) print_message(std::cout, m);
  };

  apply(inbound_event::start(flow_id));
  std::string line;
  while (s.run) {
    if (!next_line(in, echo, line)) {
      if (echo) std::cout << "(fin del guion; el flujo sigue esperando en '" << s.run->node << "')\n";
      return 0;
    }
    if (line == "/quit" || line == "/salir") return 0;
    if (line == "/state" || line == "/estado") {
      std::cout << s.to_json().dump(2) << "\n";
      continue;
    }
    if (line == "/restart" || line == "/reiniciar") {
      apply(inbound_event::start(flow_id));
      continue;
    }
    apply(inbound_event::message(line));
  }
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
  cmd->add_option("--lang", o->lang, "Learner language, e.g. es or en (default: the flow's)");
  cmd->add_option("--script", o->script, "Read the learner's lines from FILE and print the conversation");
  cmd->add_option("--name", o->name, "Learner name, for {{contact.name}}");
  cmd->add_option("--flows", o->flows, "Folder of flow files (default: $AULA_FLOWS or flows/)");
  cmd->add_option("--buttons", o->buttons, "Show menus of up to N choices as buttons, like a chat app (default 0: numbered)");
  cmd->callback([o, &exit_code] {
    if (o->flows.empty()) o->flows = default_flows_dir();
    exit_code = run_chat(*o);
  });
}

}  // namespace aula::cli
