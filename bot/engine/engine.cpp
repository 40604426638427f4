#include "bot/engine/engine.hpp"

#include <cstdio>

#include "bot/engine/nodes/registry.hpp"
#include "bot/engine/template.hpp"
#include "bot/engine/text.hpp"

namespace aula {

namespace {

std::uint32_t fnv1a32(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string hex(std::uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return std::string(buf + 16 - digits);
}

// Texts the engine itself says, in the languages it knows; others fall back to Spanish.
struct builtin_entry {
  const char* key;
  const char* es;
  const char* en;
};

constexpr builtin_entry builtins[] = {
    {"invalid_choice", "No entendí tu respuesta. Responde con el número o el texto de una opción.",
     "Sorry, I didn't get that. Reply with the number or the text of an option."},
    {"invalid_multi", "Elige entre {min} y {max} opciones: escribe sus números separados por comas (por ejemplo: 1, 3).",
     "Choose between {min} and {max} options: type their numbers separated by commas (for example: 1, 3)."},
    {"invalid_text", "Escribe tu respuesta con texto, por favor.", "Please type your answer as text."},
    {"invalid_number", "Responde con un número, por favor.", "Please reply with a number."},
    {"invalid_number_range", "Responde con un número entre {min} y {max}.",
     "Please reply with a number between {min} and {max}."},
    {"invalid_scale", "Responde con un número del 1 al 5.", "Please reply with a number from 1 to 5."},
    {"invalid_nps", "Responde con un número del 0 al 10.", "Please reply with a number from 0 to 10."},
    {"multi_hint", "(Puedes elegir hasta {max}: escribe los números separados por comas.)",
     "(You can choose up to {max}: type the numbers separated by commas.)"},
    {"multi_hint_one", "(Elige una opción.)", "(Choose one option.)"},
    {"quiz_retry", "No es correcto. Inténtalo de nuevo.", "Not quite. Try again."},
    {"idle", "No tienes ninguna actividad en curso.", "You have no activity in progress."},
    {"stale_choice", "Esa opción es de una pregunta anterior. Responde a esta:",
     "That option belongs to an earlier question. Please answer this one:"},
};

}  // namespace

std::string choice_ref(const std::string& run_id, const std::string& node_id, std::size_t option_index) {
  return run_id + "." + hex(fnv1a32(node_id), 8) + "." + std::to_string(option_index);
}

nlohmann::json result_record::to_json() const {
  nlohmann::json j = {{"id", id}, {"type", type}, {"flow", flow}, {"run", run}, {"node", node}, {"at", at}};
  if (!value.is_null()) j["value"] = value;
  if (!text.empty()) j["text"] = text;
  if (!status.empty()) j["status"] = status;
  if (type == "quiz") {
    j["correct"] = correct;
    j["final"] = final;
    j["points"] = points;
  }
  if (type == "end") j["points"] = points;
  if (attempt) j["attempt"] = attempt;
  return j;
}

namespace detail {

const std::string& run_ctx::lang() const {
  if (!out_.next.lang.empty()) return out_.next.lang;
  if (!ctx_.default_lang.empty()) return ctx_.default_lang;
  return flow_.language;
}

std::optional<std::string> run_ctx::variable(std::string_view name) const {
  const session& s = out_.next;
  auto after = [&](std::string_view prefix) -> std::optional<std::string_view> {
    if (name.starts_with(prefix)) return name.substr(prefix.size());
    return std::nullopt;
  };
  if (auto k = after("contact.")) {
    if (auto it = s.contact.find(std::string(*k)); it != s.contact.end()) return it->second;
    return std::nullopt;
  }
  if (auto k = after("answers.")) {
    std::string key(*k);
    bool raw = false;
    if (key.ends_with(".value")) {
      key.resize(key.size() - 6);
      raw = true;
    }
    auto it = s.answers.find(key);
    if (it == s.answers.end()) return std::nullopt;
    if (!raw) return it->second.text;
    const auto& v = it->second.value;
    return v.is_string() ? v.get<std::string>() : v.dump();
  }
  if (auto k = after("score.")) {
    int total = s.run ? s.run->score : (s.last ? s.last->score : 0);
    int max = s.run ? s.run->score_max : (s.last ? s.last->score_max : 0);
    if (*k == "total") return std::to_string(total);
    if (*k == "max") return std::to_string(max);
    if (*k == "percent") return std::to_string(max ? (100 * total + max / 2) / max : 0);
    return std::nullopt;
  }
  if (name == "flow.name") return flow_.name.get(lang(), flow_.language);
  return std::nullopt;
}

std::string run_ctx::text(const localized& t) const {
  return expand(t.get(lang(), flow_.language), [this](std::string_view n) { return variable(n); });
}

std::string run_ctx::builtin(std::string_view key) const {
  for (const auto& b : builtins) {
    if (key == b.key) return lang() == "en" ? b.en : b.es;
  }
  return std::string(key);
}

void run_ctx::say(const std::string& text, const node& n) {
  outbound_message m;
  m.text = text;
  m.node = n.id;
  out_.messages.push_back(std::move(m));
}

result_record& run_ctx::record(const std::string& type, const node& n) {
  auto& run = *out_.next.run;
  result_record r;
  r.id = run.id + "." + std::to_string(++run.seq);
  r.type = type;
  r.flow = run.flow;
  r.run = run.id;
  r.node = n.id;
  r.at = ctx_.now_ms;
  out_.records.push_back(std::move(r));
  return out_.records.back();
}

}  // namespace detail

namespace {

using detail::next_kind;
using detail::run_ctx;
using detail::transition;

// Enters nodes until one waits for the learner or the run ends. A flow whose messages loop
// without ever waiting is stopped after a bound and the run fails (the validator warns).
void drive(run_ctx& rc, transition t) {
  constexpr int max_nodes_per_step = 200;
  for (int entered = 0; t.kind == next_kind::go; ++entered) {
    const node* n = rc.current_flow().find(t.target);
    if (!n || entered >= max_nodes_per_step) {
      rc.log(n ? "too many nodes in one step; stopping the run" : "missing node '" + t.target + "'");
      detail::finish_run(rc, n, end_status::failed);
      return;
    }
    auto& run = rc.run();
    run.node = n->id;
    run.retries = 0;
    run.attempts = 0;
    t = detail::behaviour(n->kind).enter(rc, *n);
  }
}

void start_run(const flow_set& flows, const flow& fl, const std::string& at, const context& ctx, step_result& out) {
  run_state rs;
  rs.flow = fl.id;
  rs.id = hex(splitmix64(ctx.seed), 12);
  rs.node = fl.start;
  rs.started_at = ctx.now_ms;
  out.next.run = rs;
  out.next.last.reset();
  run_ctx rc(flows, fl, ctx, out);
  static const node none{};
  rc.record("start", none);
  rc.log("run " + rs.id + " started: " + fl.id);
  drive(rc, transition::go(at.empty() ? fl.start : at));
}

}  // namespace

step_result step(const flow_set& flows, const session& s, const inbound_event& ev, const context& ctx) {
  step_result out;
  out.next = s;

  // A run whose flow is no longer published cannot go on; say so and forget it.
  const flow* current = s.run ? flows.find(s.run->flow) : nullptr;
  if (s.run && !current) {
    out.log.push_back("flow '" + s.run->flow + "' of the current run is gone; run dropped");
    out.next.run.reset();
  }

  if (ev.type == inbound_event::kind::start) {
    const flow* fl = flows.find(ev.flow);
    if (!fl) {
      out.log.push_back("start: unknown flow '" + ev.flow + "'");
      return out;
    }
    if (out.next.run && current) {
      run_ctx old(flows, *current, ctx, out);
      detail::finish_run(old, current->find(out.next.run->node), end_status::interrupted);
    }
    if (!ev.at.empty() && !fl->find(ev.at)) {
      out.log.push_back("start: flow '" + ev.flow + "' has no node '" + ev.at + "'");
      return out;
    }
    start_run(flows, *fl, ev.at, ctx, out);
    return out;
  }

  if (!out.next.run) {
    static const flow no_flow{};
    run_ctx rc(flows, no_flow, ctx, out);
    outbound_message m;
    m.text = rc.builtin("idle");
    out.messages.push_back(std::move(m));
    return out;
  }

  run_ctx rc(flows, *current, ctx, out);
  const node* n = current->find(out.next.run->node);
  if (!n || !n->waits()) {
    out.log.push_back("run is at '" + out.next.run->node + "', which waits for nothing; run failed");
    detail::finish_run(rc, n, end_status::failed);
    return out;
  }

  detail::reply r;
  if (ev.type == inbound_event::kind::choice) {
    // A tap counts only if its id names this run, this node and an option of it.
    bool ok = false;
    for (std::size_t i = 0; i < n->options.size() && !ok; ++i) {
      if (ev.choice == choice_ref(out.next.run->id, n->id, i)) {
        r.tapped = i;
        r.text = detail::option_label(rc, *n, i);
        ok = true;
      }
    }
    if (!ok) {
      out.log.push_back("stale choice '" + ev.choice + "' ignored");
      rc.say(detail::prompt(rc, *n, rc.builtin("stale_choice") + "\n\n"));
      return out;
    }
  } else {
    r.text = ev.text;
  }
  drive(rc, detail::behaviour(n->kind).answer(rc, *n, r));
  return out;
}

}  // namespace aula
