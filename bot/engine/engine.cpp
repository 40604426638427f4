#include "bot/engine/engine.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

#include "bot/engine/course.hpp"
#include "bot/engine/json_text.hpp"
#include "bot/engine/nodes/registry.hpp"
#include "bot/engine/timing.hpp"
#include "bot/engine/template.hpp"
#include "bot/engine/text.hpp"

namespace aula {

namespace detail {

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

}  // namespace detail

namespace {

using detail::hex;

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
    {"invalid_date", "Escribe una fecha, por ejemplo 15/03/2026.", "Please type a date, for example 15/03/2026."},
    {"invalid_scale", "Responde con un número del 1 al 5.", "Please reply with a number from 1 to 5."},
    {"invalid_nps", "Responde con un número del 0 al 10.", "Please reply with a number from 0 to 10."},
    {"multi_hint", "(Puedes elegir hasta {max}: escribe los números separados por comas.)",
     "(You can choose up to {max}: type the numbers separated by commas.)"},
    {"multi_hint_one", "(Elige una opción.)", "(Choose one option.)"},
    {"quiz_retry", "No es correcto. Inténtalo de nuevo.", "Not quite. Try again."},
    {"idle", "No tienes ninguna actividad en curso.", "You have no activity in progress."},
    {"stale_choice", "Esa opción es de una pregunta anterior. Responde a esta:",
     "That option belongs to an earlier question. Please answer this one:"},
    {"remind", "¿Seguimos? Te espera esta pregunta:", "Shall we go on? This question is waiting for you:"},
    {"waiting", "Recibido. Te escribiremos cuando sea momento de seguir.",
     "Got it. We will write to you when it is time to go on."},
    {"stopped", "Listo: ya no recibirás mensajes. Si quieres volver, escribe ALTA.",
     "Done: you will not get any more messages. To come back, send START."},
    {"restarted", "¡Qué bueno que vuelves! Escribe MENU para ver las actividades.",
     "Welcome back! Send MENU to see the activities."},
    {"help", "Responde con el número o el texto de una opción. Escribe MENU para ver las actividades y BAJA para dejar de recibir mensajes.",
     "Reply with the number or the text of an option. Send MENU to see the activities and STOP to stop getting messages."},
    {"menu", "Elige una actividad:", "Choose an activity:"},
    {"menu_empty", "Por ahora no hay actividades disponibles.", "There are no activities available for now."},
    {"queued", "La empezaremos cuando termines esta actividad.", "We will start it when you finish this activity."},
    {"resumed", "Seguimos donde nos quedamos.", "Let's pick up where we left off."},
    {"course_next", "Tu siguiente módulo se abre el {when}. Te escribiremos entonces.",
     "Your next module opens on {when}. We will write to you then."},
    {"course_done", "Ya terminaste este curso.", "You have already finished this course."},
    {"only_text", "Por ahora solo puedo leer texto. Responde con un mensaje escrito, por favor.",
     "For now I can only read text. Please reply with a written message."},
    {"consent_ask",
     "Antes de empezar: para darte el curso necesitamos tratar tus datos personales (tus respuestas y tu avance). "
     "Lee el aviso de privacidad: {url}\n\n¿Aceptas el tratamiento de tus datos como se describe en el aviso?",
     "Before we start: to give you the course we need to process your personal data (your answers and your "
     "progress). Read the privacy notice: {url}\n\nDo you agree to the processing of your data as described in the "
     "notice?"},
    {"consent_yes", "Acepto", "I agree"},
    {"consent_no", "No acepto", "I do not agree"},
    {"consent_again", "Para seguir necesitamos tu respuesta.", "To go on we need your answer."},
    {"consent_thanks",
     "Gracias. Registramos que aceptaste el aviso de privacidad (versión {version}). Puedes retirar tu "
     "consentimiento cuando quieras escribiendo BAJA.",
     "Thank you. We recorded that you accepted the privacy notice (version {version}). You can withdraw your "
     "consent at any time by sending STOP."},
    {"consent_refused",
     "Entendido: no guardaremos tus respuestas ni tus datos y no te enviaremos el curso. Si cambias de opinión, "
     "escribe ALTA.",
     "Understood: we will not keep your answers or your data and we will not send you the course. If you change "
     "your mind, send START."},
};

// Global keywords: commands only when they are the whole message (folded) and not an option
// of the question being asked.
const std::set<std::string> stop_words = {"stop", "baja", "alto", "cancelar", "unsubscribe"};
const std::set<std::string> start_words = {"start", "alta", "unstop"};
const std::set<std::string> help_words = {"ayuda", "help"};
const std::set<std::string> menu_words = {"menu"};

}  // namespace

const std::vector<std::string>& global_keywords() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v;
    for (const auto* set : {&stop_words, &start_words, &help_words, &menu_words}) v.insert(v.end(), set->begin(), set->end());
    return v;
  }();
  return all;
}

std::string choice_ref(const std::string& run_id, const std::string& node_id, std::size_t option_index) {
  return run_id + "." + hex(detail::fnv1a32(node_id), 8) + "." + std::to_string(option_index);
}

nlohmann::json result_record::to_json() const {
  nlohmann::json j = {{"id", id}, {"type", type}, {"flow", flow}, {"run", run}, {"node", node}, {"at", at}};
  if (!value.is_null()) j["value"] = value;
  if (!text.empty()) j["text"] = text;
  if (!status.empty()) j["status"] = status;
  if (free_text) j["free_text"] = true;  // retention and erasure blank these (bot/records)
  if (type == "quiz") {
    j["correct"] = correct;
    j["final"] = final;
    j["points"] = points;
  }
  if (type == "end" || type == "module" || type == "course" || type == "certificate") j["points"] = points;
  if (attempt) j["attempt"] = attempt;
  return j;
}

std::string result_record::to_text(std::string_view conv, std::string_view channel, int version) const {
  // Members added in key order, as nlohmann's map keeps them (the object then writes them unsorted).
  json_text::object o;
  const bool quiz = type == "quiz";
  o.integer("at", at);
  if (attempt) o.integer("attempt", attempt);
  o.string("channel", channel).string("conv", conv);
  if (quiz) o.boolean("correct", correct).boolean("final", final);
  o.string("flow", flow);
  if (free_text) o.boolean("free_text", true);
  o.string("id", id).string("node", node);
  if (quiz || type == "end" || type == "module" || type == "course" || type == "certificate") o.integer("points", points);
  o.string("run", run);
  if (!status.empty()) o.string("status", status);
  if (!text.empty()) o.string("text", text);
  o.string("type", type);
  if (!value.is_null()) o.raw("value", json_text::write(value, nlohmann::json::error_handler_t::replace));
  if (version > 0) o.integer("version", version);
  return o.text();
}

namespace detail {

run_ctx::run_ctx(const flow_set& flows, const context& ctx, step_result& out) : flows_(flows), ctx_(ctx), out_(out) {}

const flow* run_ctx::current_flow() const {
  return out_.next.run ? flows_.find(out_.next.run->flow) : nullptr;
}

const std::string& run_ctx::lang() const {
  static const std::string es = "es";
  if (!out_.next.lang.empty()) return out_.next.lang;
  if (!ctx_.default_lang.empty()) return ctx_.default_lang;
  if (const flow* f = current_flow()) return f->language;
  return flows_.triggers.language.empty() ? es : flows_.triggers.language;
}

std::optional<std::string> run_ctx::variable(std::string_view name) const {
  const session& s = out_.next;
  if (auto v = vars.find(std::string(name)); v != vars.end()) return v->second;
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
    if (it == s.answers.end()) {
      // answers.registro.folio: a field of a saved JSON object (a webhook's answer).
      auto dot = key.find('.');
      if (dot == std::string::npos) return std::nullopt;
      auto base = s.answers.find(key.substr(0, dot));
      if (base == s.answers.end() || !base->second.value.is_object()) return std::nullopt;
      const nlohmann::json* v = &base->second.value;
      std::string path = key.substr(dot + 1) + (raw ? ".value" : "");
      for (std::size_t start = 0; start <= path.size();) {
        auto end = path.find('.', start);
        std::string part = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!v->is_object() || !v->contains(part)) return std::nullopt;
        v = &(*v)[part];
        if (end == std::string::npos) break;
        start = end + 1;
      }
      if (v->is_string()) return v->get<std::string>();
      if (v->is_number()) return format_number(v->get<double>());
      return v->dump();
    }
    if (!raw) return it->second.text;
    const auto& v = it->second.value;
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number()) return format_number(v.get<double>());
    return v.dump();
  }
  if (auto k = after("score.")) {
    int total = s.run ? s.run->score : (s.last ? s.last->score : 0);
    int max = s.run ? s.run->score_max : (s.last ? s.last->score_max : 0);
    if (*k == "total") return std::to_string(total);
    if (*k == "max") return std::to_string(max);
    if (*k == "percent") return std::to_string(max ? (100 * total + max / 2) / max : 0);
    return std::nullopt;
  }
  if (auto k = after("last.")) {
    if (!s.last) return std::nullopt;
    if (*k == "status") return s.last->status;
    if (*k == "flow") return s.last->flow;
    if (*k == "score") return std::to_string(s.last->score);
    if (*k == "score_max") return std::to_string(s.last->score_max);
    return std::nullopt;
  }
  if (name == "flow.name") {
    if (const flow* f = current_flow()) return f->name.get(lang(), f->language);
    return std::nullopt;
  }
  if (name == "flow.id") return s.run ? std::optional<std::string>(s.run->flow) : std::nullopt;
  if (name == "lang") return lang();
  return std::nullopt;
}

nlohmann::json run_ctx::value_of(const std::string& var) const {
  const session& s = out_.next;
  if (var.starts_with("answers.")) {
    std::string key = var.substr(8);
    bool text = false;
    if (key.ends_with(".value")) key.resize(key.size() - 6);
    if (key.ends_with(".text")) {
      key.resize(key.size() - 5);
      text = true;
    }
    auto it = s.answers.find(key);
    if (it == s.answers.end()) return nullptr;
    return text ? nlohmann::json(it->second.text) : it->second.value;
  }
  if (var == "cohort" || var == "cohorts") return ctx_.cohorts;
  if (var.starts_with("score.") || var == "last.score" || var == "last.score_max") {
    auto v = variable(var);
    return v ? nlohmann::json(std::stoi(*v)) : nlohmann::json(nullptr);
  }
  auto v = variable(var);
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string run_ctx::fill(const std::string& tmpl, bool json_escape) const {
  return expand(tmpl, [this, json_escape](std::string_view n) -> std::optional<std::string> {
    auto v = variable(n);
    if (!v || !json_escape) return v;
    std::string quoted = nlohmann::json(*v).dump();
    return quoted.substr(1, quoted.size() - 2);
  });
}

std::string run_ctx::fill_url(const std::string& tmpl) const {
  return expand(tmpl, [this](std::string_view n) -> std::optional<std::string> {
    auto v = variable(n);
    if (!v) return v;
    // Percent-encode everything but the unreserved characters (RFC 3986).
    std::string out;
    for (unsigned char c : *v) {
      if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
    return out;
  });
}

std::string run_ctx::text(const localized& t) const {
  const flow* f = current_flow();
  return fill(t.get(lang(), f ? f->language : flows_.triggers.language));
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

std::uint64_t run_ctx::fresh() { return splitmix64(ctx_.seed * 0x9E3779B97F4A7C15ull + ++fresh_count_); }

result_record& run_ctx::record(const std::string& type, const node* n) {
  result_record r;
  r.type = type;
  r.at = ctx_.now_ms;
  if (n) r.node = n->id;
  if (out_.next.run) {
    auto& run = *out_.next.run;
    r.id = run.id + "." + std::to_string(++run.seq);
    r.flow = run.flow;
    r.run = run.id;
  } else {
    r.id = "m" + hex(splitmix64(ctx_.seed), 12) + "." + std::to_string(++free_records_);
  }
  out_.records.push_back(std::move(r));
  return out_.records.back();
}

void run_ctx::set_timer(const node& n, const std::string& kind, std::int64_t due, int count) {
  auto& run = *out_.next.run;
  run.timer = timer_slot{run.id + "." + n.id + "." + kind, due, kind, count};
}

transition run_ctx::begin_run(const flow& fl, const std::string& at) {
  run_state rs;
  rs.flow = fl.id;
  rs.id = hex(fresh(), 12);
  rs.node = at.empty() ? fl.start : at;
  rs.started_at = ctx_.now_ms;
  if (fl.expire_after_ms > 0) rs.expire = timer_slot{rs.id + ".expire", ctx_.now_ms + fl.expire_after_ms, "expire", 0};
  out_.next.run = rs;
  record("start", nullptr);
  log("run " + rs.id + " started: " + fl.id);
  return transition::go(rs.node);
}

// Records the end of the current run, remembers it in session.last, and clears session.run.
// Returns the run's score and maximum, for a caller that takes them over.
std::pair<int, int> run_ctx::close_run(end_status status, const node* at) {
  session& s = out_.next;
  const run_state& run = *s.run;
  auto& r = record("end", at);
  r.status = to_string(status);
  r.points = run.score;
  r.value = {{"score", run.score}, {"max", run.score_max}};
  s.last = last_run{run.flow, r.status, run.score, run.score_max};
  log("run " + run.id + " ended: " + r.status);
  const std::pair<int, int> score{run.score, run.score_max};
  s.run.reset();
  return score;
}

transition run_ctx::end_run(end_status status, const node* at) {
  session& s = out_.next;
  const std::string course = s.run->course, flow_id = s.run->flow;
  const auto [score, score_max] = close_run(status, at);

  if (!s.stack.empty()) {
    // Back to the caller, at its subflow node.
    s.run = std::move(s.stack.back());
    s.stack.pop_back();
    s.run->score += score;
    s.run->score_max += score_max;
    const flow* f = current_flow();
    if (f && f->expire_after_ms > 0)
      s.run->expire = timer_slot{s.run->id + ".expire", ctx_.now_ms + f->expire_after_ms, "expire", 0};
    const node* caller = f ? f->find(s.run->node) : nullptr;
    if (!caller) return end_run(end_status::failed, nullptr);
    if (status != end_status::completed && !caller->on_failure.empty()) return transition::go(caller->on_failure);
    return transition::go(caller->next);
  }
  if (!course.empty()) {
    // A module of a course ended: the course decides what comes next (the next module now,
    // a drip timer, a review, the certificate).
    if (auto t = course_module_ended(*this, course, flow_id, status, score, score_max, true)) return *t;
  }
  while (!s.queue.empty() && status != end_status::interrupted) {
    std::string next_flow = s.queue.front();
    s.queue.erase(s.queue.begin());
    if (next_flow.starts_with(course_queue_prefix)) {
      if (auto t = course_dequeue(*this, next_flow.substr(course_queue_prefix.size()))) return *t;
      continue;
    }
    if (const flow* f = flows_.find(next_flow)) return begin_run(*f, {});
  }
  return transition::finish();
}

void run_ctx::end_all(end_status status) {
  session& s = out_.next;
  while (s.run) {
    const flow* f = current_flow();
    const std::string course = s.run->course, flow_id = s.run->flow;
    const auto [score, score_max] = close_run(status, f ? f->find(s.run->node) : nullptr);
    if (!course.empty()) course_module_ended(*this, course, flow_id, status, score, score_max, true);
    if (!s.stack.empty()) {
      s.run = std::move(s.stack.back());
      s.stack.pop_back();
    }
  }
}

// Enters nodes until one waits for something or the runs end. A flow whose nodes loop
// without ever waiting is stopped after a bound and the run fails (the validator warns).
void run_ctx::drive(transition t) {
  constexpr int max_nodes_per_step = 500;
  for (int entered = 0; t.kind == next_kind::go; ++entered) {
    const flow* f = current_flow();
    const node* n = f ? f->find(t.target) : nullptr;
    if (!n || entered >= max_nodes_per_step) {
      log(n ? "too many nodes in one step; stopping the run" : "missing node '" + t.target + "'");
      t = end_run(end_status::failed, n);
      continue;
    }
    auto& run = *out_.next.run;
    run.node = n->id;
    run.retries = 0;
    run.attempts = 0;
    run.timer.reset();
    t = behaviour(n->kind).enter(*this, *n);
  }
}

}  // namespace detail

namespace {

using detail::next_kind;
using detail::run_ctx;
using detail::transition;

bool is_option_of(const node* n, const std::string& folded) {
  if (!n || !n->asks()) return false;
  for (const auto& o : n->options) {
    if (fold(o.id) == folded) return true;
    for (const auto& [lang, label] : o.label.by_lang)
      if (fold(label) == folded) return true;
  }
  return false;
}

class stepper {
 public:
  stepper(const flow_set& flows, const context& ctx, step_result& out) : flows_(flows), rc_(flows, ctx, out), out_(out) {}

  void handle(const inbound_event& ev) {
    const std::size_t before = out_.messages.size();
    if (!consent_gate(ev)) dispatch(ev);
    // A learner who refused consent keeps nothing but the refusal (and what delivery needs).
    if (rc_.ctx().consent.required && out_.next.consent.decision == "refused") forget_learner();
    if (ev.unsolicited)
      for (std::size_t i = before; i < out_.messages.size(); ++i) out_.messages[i].unsolicited = true;
    // Every active course keeps a way forward (its module, a drip, a nudge).
    detail::course_reconcile(rc_, ev.type == inbound_event::kind::text || ev.type == inbound_event::kind::choice);
  }

 private:
  // A new version of the flows was published since this learner's last step: a run whose
  // node is gone goes where the flow's `migrate` map says, else to its fallback, else to its
  // start; a run whose flow is gone ends (interrupted). Returns true when the learner was
  // moved (their message, if any, answered a question that no longer exists).
  bool migrate() {
    session& s = out_.next;
    bool moved = false;
    // Callers on the stack first: they only need a node to return to.
    for (auto& frame : s.stack) {
      const flow* f = flows_.find(frame.flow);
      if (!f || f->find(frame.node)) continue;
      const auto [to, rule] = migration_target(*f, frame.node);
      migrated_record(frame.flow, frame.node, to, rule);
      frame.node = to;
    }
    while (s.run && !flows_.find(s.run->flow)) {
      const std::string gone = s.run->flow, at = s.run->node;
      rc_.log("flow '" + gone + "' of the current run is no longer published; run ended");
      migrated_record(gone, at, {}, "flow removed");
      rc_.drive(rc_.end_run(end_status::interrupted, nullptr));
      // What takes over (a caller, a queued flow, a course's module) has just spoken.
      moved = s.run.has_value();
    }
    if (!s.run) return moved;
    const flow* f = rc_.current_flow();
    const node* n = f->find(s.run->node);
    if (n && (n->waits() || s.run->node.empty())) return moved;
    if (n) {
      // Still there but no longer waits (a question became a message): enter it again.
      migrated_record(f->id, n->id, n->id, "reentered");
      rc_.drive(transition::go(n->id));
      return true;
    }
    const auto [to, rule] = migration_target(*f, s.run->node);
    migrated_record(f->id, s.run->node, to, rule);
    rc_.drive(transition::go(to));
    return true;
  }

  std::pair<std::string, std::string> migration_target(const flow& f, const std::string& from) const {
    if (auto it = f.migrate.find(from); it != f.migrate.end() && f.find(it->second)) return {it->second, "migrate"};
    if (!f.fallback.empty() && f.find(f.fallback)) return {f.fallback, "fallback"};
    return {f.start, "start"};
  }

  void migrated_record(const std::string& flow_id, const std::string& from, const std::string& to,
                       const std::string& rule) {
    auto& r = rc_.record("migrated", nullptr);
    r.flow = flow_id;
    r.node = from;
    r.status = rule;
    r.value = {{"from", from}, {"to", to}, {"rule", rule}};
    rc_.log("migrated " + flow_id + ": " + from + " -> " + (to.empty() ? "(ended)" : to) + " (" + rule + ")");
  }

  void dispatch(const inbound_event& ev) {
    session& s = out_.next;
    if (migrate()) {
      // The learner's message answered a question of the old version: keep it, they now see
      // the new one.
      if (ev.type == inbound_event::kind::text) keep(ev.text);
      if (ev.type == inbound_event::kind::text || ev.type == inbound_event::kind::choice) {
        s.last_in = rc_.ctx().now_ms;
        return;
      }
    }
    if (ev.type == inbound_event::kind::migrate) return;
    if (ev.type == inbound_event::kind::text || ev.type == inbound_event::kind::choice) s.last_in = rc_.ctx().now_ms;
    if (ev.type == inbound_event::kind::choice && ev.choice == continue_choice) {
      keep("[" + std::string(continue_choice) + "]");
      rc_.log("the learner answered the re-engagement template");
      if (s.paused.empty()) return;
    }
    if (!s.paused.empty()) {
      switch (ev.type) {
        case inbound_event::kind::text:
          if ((stop_words.count(fold(ev.text)) ||
               std::find(rc_.ctx().caps.stop_words.begin(), rc_.ctx().caps.stop_words.end(), fold(ev.text)) !=
                   rc_.ctx().caps.stop_words.end()) &&
              !is_option_of(waiting_node(), fold(ev.text))) {
            s.paused.clear();  // STOP/BAJA: opting out ends the runs anyway
            break;
          }
          [[fallthrough]];
        case inbound_event::kind::choice:
          // The learner is back: they may not have seen what failed, so ask again.
          if (!s.opted_out) return resume(ev.type == inbound_event::kind::text ? ev.text : std::string{});
          break;
        case inbound_event::kind::start:
          // Held: it would go out to a learner we cannot reach; it starts after the pause.
          if (s.run && !s.opted_out) {
            if (std::find(s.queue.begin(), s.queue.end(), ev.flow) == s.queue.end()) s.queue.push_back(ev.flow);
            rc_.log("start: course paused (" + s.paused + "); queued " + ev.flow);
            return;
          }
          s.paused.clear();  // nothing to resume: a fresh start
          break;
        case inbound_event::kind::timer:
          // A module that opens meanwhile is queued for after the pause; the rest waits.
          if (detail::course_timer(rc_, ev.timer)) return;
          rc_.log("timer " + ev.timer + ": course paused; ignored");
          return;
        case inbound_event::kind::delivery_failed:
          rc_.log("already paused: " + ev.text);
          return;
        case inbound_event::kind::broadcast:
        case inbound_event::kind::remind:
        case inbound_event::kind::migrate:
        case inbound_event::kind::enroll:
          break;  // staff actions do not make the learner reachable again
        default:
          s.paused.clear();
          break;
      }
    }
    switch (ev.type) {
      case inbound_event::kind::delivery_failed: return pause(ev.text);
      case inbound_event::kind::start: return start(ev.flow, ev.at, ev.policy, false);
      case inbound_event::kind::text:
        if (!ev.media.empty() && trim(ev.text).empty()) return media(ev.media);
        return text(ev.text);
      case inbound_event::kind::choice: return choice(ev.choice);
      case inbound_event::kind::timer: return timer(ev.timer);
      case inbound_event::kind::webhook_result: return webhook(ev);
      case inbound_event::kind::opt_out: return opt_out(false);
      case inbound_event::kind::opt_in:
        if (s.opted_out) {
          s.opted_out = false;
          out_.opted_out = false;
        }
        return;
      case inbound_event::kind::enroll: {
        const course_def* c = flows_.course(ev.course);
        if (!c) {
          rc_.log("enroll: no course '" + ev.course + "'");
          return;
        }
        if (s.opted_out) {
          rc_.log("enroll: learner opted out; not enrolling in " + ev.course);
          return;
        }
        if (auto t = detail::course_enroll(rc_, *c, false)) rc_.drive(*t);
        return;
      }
      case inbound_event::kind::migrate: return;
      case inbound_event::kind::broadcast: {
        if (s.opted_out || !s.paused.empty()) {
          auto& r = rc_.record("broadcast", nullptr);
          r.status = s.opted_out ? "skipped: opted out" : "skipped: unreachable";
          return;
        }
        outbound_message m;
        m.text = ev.text;
        m.template_name = ev.template_name;
        m.unsolicited = true;
        rc_.say(std::move(m));
        rc_.record("broadcast", waiting_node()).status = "sent";
        return;
      }
      case inbound_event::kind::remind: {
        const node* n = waiting_node();
        if (s.opted_out || !s.paused.empty() || !n || !n->asks()) {
          rc_.record("reminder", n).status = "skipped: nothing to answer";
          return;
        }
        rc_.record("reminder", n).status = "sent";
        reprompt(rc_.builtin("remind"));
        for (auto& m : out_.messages) m.unsolicited = true;
        return;
      }
      case inbound_event::kind::reset: {
        rc_.end_all(end_status::interrupted);
        s.queue.clear();
        s.answers.clear();
        s.last.reset();
        s.menu_open = false;
        s.paused.clear();
        auto& r = rc_.record("reset", nullptr);
        r.status = "reset";
        if (!ev.course.empty()) r.value = {{"course", ev.course}};
        rc_.log("reset by an administrator");
        if (ev.course.empty()) return;
        const course_def* c = flows_.course(ev.course);
        if (!c || !s.course(ev.course)) return rc_.log("reset: not enrolled in course '" + ev.course + "'");
        if (auto t = detail::course_restart(rc_, *c)) rc_.drive(*t);
        return;
      }
      case inbound_event::kind::move: {
        if (ev.course.empty()) {
          const flow* fl = flows_.find(ev.flow);
          if (!fl || (!ev.at.empty() && !fl->find(ev.at)))
            return rc_.log("move: no flow '" + ev.flow + "'" + (ev.at.empty() ? "" : " with node '" + ev.at + "'"));
          s.paused.clear();
          auto& r = rc_.record("moved", nullptr);
          r.status = "moved";
          r.value = {{"flow", ev.flow}, {"node", ev.at}};
          return start(ev.flow, ev.at, start_policy::interrupt, false);
        }
        const course_def* c = flows_.course(ev.course);
        if (!c || !s.course(ev.course)) return rc_.log("move: not enrolled in course '" + ev.course + "'");
        if (c->index_of(ev.flow) < 0) return rc_.log("move: course '" + ev.course + "' has no module '" + ev.flow + "'");
        rc_.end_all(end_status::interrupted);
        s.paused.clear();
        auto& r = rc_.record("moved", nullptr);
        r.status = "moved";
        r.value = {{"course", ev.course}, {"flow", ev.flow}};
        if (auto t = detail::course_move(rc_, *c, ev.flow)) rc_.drive(*t);
        return;
      }
    }
  }

  // ---- Privacy consent (context.consent.required) -------------------------------------------

  bool consent_required() const {
    return rc_.ctx().consent.required && out_.next.consent.decision != "accepted";
  }

  // The consent question: the notice's link and two choices (buttons where the channel has
  // them, else a numbered menu: "1" / "2" answer it on SMS).
  void ask_consent(const std::string& prefix) {
    session& s = out_.next;
    std::string url = rc_.ctx().consent.url;
    if (rc_.lang() == "en") url += (url.find('?') == std::string::npos ? "?" : "&") + std::string("lang=en");
    std::string text = rc_.builtin("consent_ask");
    if (auto p = text.find("{url}"); p != std::string::npos) text.replace(p, 5, url);
    outbound_message m;
    m.text = (prefix.empty() ? "" : prefix + "\n\n") + text;
    m.node = "consent";
    m.menu = rc_.ctx().caps.max_buttons >= 2 ? menu_style::buttons : menu_style::numbered;
    m.choices.push_back({consent_yes, rc_.builtin("consent_yes")});
    m.choices.push_back({consent_no, rc_.builtin("consent_no")});
    rc_.say(std::move(m));
    s.consent_asked = true;
    rc_.log("consent asked (notice " + rc_.ctx().consent.version + ")");
  }

  // The learner's answer to the consent question: true = accepts, false = refuses.
  std::optional<bool> consent_answer(const inbound_event& ev) const {
    if (ev.type == inbound_event::kind::choice) {
      if (ev.choice == consent_yes) return true;
      if (ev.choice == consent_no) return false;
      return std::nullopt;
    }
    if (auto i = parse_index(ev.text); i && (*i == 1 || *i == 2)) return *i == 1;
    const std::string f = fold(ev.text);
    if (f.empty()) return std::nullopt;
    for (const auto& b : builtins) {
      const std::string_view k = b.key;
      if (k != "consent_yes" && k != "consent_no") continue;
      if (fold(b.es) == f || fold(b.en) == f) return k == "consent_yes";
    }
    static const std::set<std::string> yes = {"si", "yes", "acepto", "aceptar", "de acuerdo", "ok", "i agree", "agree"};
    static const std::set<std::string> no = {"no", "no acepto", "no aceptar", "i do not agree", "i dont agree",
                                             "i don t agree", "disagree"};
    if (yes.count(f)) return true;
    if (no.count(f)) return false;
    return std::nullopt;
  }

  void remember(nlohmann::json e) {
    auto& p = out_.next.consent_pending;
    if (std::find(p.begin(), p.end(), e) != p.end()) return;
    if (p.size() >= 8) p.erase(p.begin());
    p.push_back(std::move(e));
  }

  void record_consent(const std::string& decision) {
    session& s = out_.next;
    const auto& cs = rc_.ctx().consent;
    s.consent = consent_decision{decision, cs.version, rc_.ctx().channel, rc_.ctx().now_ms};
    // Not part of a run's records (a refusal keeps no run).
    std::optional<run_state> run = std::move(s.run);
    s.run.reset();
    auto& r = rc_.record("consent", nullptr);
    s.run = std::move(run);
    r.node = "consent";
    r.status = decision;
    r.value = {{"decision", decision}, {"notice_version", cs.version}, {"channel", rc_.ctx().channel}, {"at", rc_.ctx().now_ms}};
    rc_.log("consent " + decision + " (notice " + cs.version + ")");
  }

  void accept_consent() {
    session& s = out_.next;
    s.consent_asked = false;
    record_consent("accepted");
    std::string thanks = rc_.builtin("consent_thanks");
    if (auto p = thanks.find("{version}"); p != std::string::npos) thanks.replace(p, 9, rc_.ctx().consent.version);
    say(thanks);
    std::vector<nlohmann::json> pending = std::move(s.consent_pending);
    s.consent_pending.clear();
    bool started = false;
    for (const auto& e : pending) {
      const std::string k = e.value("k", std::string{});
      inbound_event ev;
      if (k == "start") {
        ev = inbound_event::start(e.value("flow", std::string{}), e.value("at", std::string{}),
                                  static_cast<start_policy>(e.value("policy", 0)));
      } else if (k == "text") {
        ev = inbound_event::message(e.value("text", std::string{}));
      } else if (k == "enroll") {
        ev = inbound_event::enroll_in(e.value("course", std::string{}));
      } else if (k == "move") {
        ev = inbound_event::move_to(e.value("flow", std::string{}), e.value("at", std::string{}),
                                    e.value("course", std::string{}));
      } else if (k == "broadcast") {
        ev.type = inbound_event::kind::broadcast;
        ev.text = e.value("text", std::string{});
        ev.template_name = e.value("template", std::string{});
      } else {
        continue;
      }
      rc_.log("consent given: replaying " + k);
      dispatch(ev);
      started = started || k != "broadcast";
    }
    if (!started && !s.run) show_menu({});
  }

  void refuse_consent() {
    record_consent("refused");
    say(rc_.builtin("consent_refused"));
    out_.next.consent_asked = false;
    out_.next.consent_pending.clear();
    forget_learner();
  }

  // After a refusal: nothing of the learner stays but the decision, their language (to speak
  // to them if they write again), an opt-out, the last time they wrote (the channel's window)
  // and, once they are asked again, what they asked to start. No runs, answers, contact
  // fields or courses.
  void forget_learner() {
    session& s = out_.next;
    s.contact.clear();
    s.answers.clear();
    s.run.reset();
    s.stack.clear();
    s.queue.clear();
    s.last.reset();
    s.courses.clear();
    s.menu_open = false;
    s.paused.clear();
    s.paused_at = 0;
  }

  // Returns true when the consent gate handled the event (the learner has not accepted the
  // privacy notice); false: go on as usual.
  bool consent_gate(const inbound_event& ev) {
    if (!consent_required()) return false;
    session& s = out_.next;
    const bool refused = s.consent.decision == "refused";
    using k = inbound_event::kind;
    switch (ev.type) {
      case k::timer:
      case k::webhook_result:
      case k::opt_out:
      case k::opt_in:
      case k::delivery_failed:
      case k::migrate:
      case k::reset:
        return false;  // the host's bookkeeping; nothing new reaches the learner
      case k::text:
      case k::choice: break;
      case k::start:
      case k::enroll:
      case k::move:
      case k::broadcast: {
        if (s.opted_out) return false;  // the usual path refuses it and says why
        const bool by_staff = ev.unsolicited || ev.type == k::enroll || ev.type == k::move || ev.type == k::broadcast;
        if (refused && by_staff) {
          rc_.log("no consent: the learner refused the privacy notice; nothing sent");
          return true;
        }
        nlohmann::json e;
        switch (ev.type) {
          case k::start: e = {{"k", "start"}, {"flow", ev.flow}, {"at", ev.at}, {"policy", static_cast<int>(ev.policy)}}; break;
          case k::enroll: e = {{"k", "enroll"}, {"course", ev.course}}; break;
          case k::move: e = {{"k", "move"}, {"flow", ev.flow}, {"at", ev.at}, {"course", ev.course}}; break;
          default: e = {{"k", "broadcast"}, {"text", ev.text}, {"template", ev.template_name}}; break;
        }
        remember(std::move(e));
        // Staff actions ask once; a learner's own start (a deep link) asks again.
        if (!s.consent_asked || !by_staff) ask_consent({});
        else rc_.log("consent already asked; the learner's answer starts what waits");
        return true;
      }
      case k::remind:
        if (s.opted_out || refused || !s.consent_asked) {
          rc_.log("no consent: reminder skipped");
          return true;
        }
        ask_consent(rc_.builtin("remind"));
        for (auto& m : out_.messages) m.unsolicited = true;
        return true;
    }
    // The learner wrote or tapped.
    s.last_in = rc_.ctx().now_ms;
    // WhatsApp's re-engagement template answered: the question it held now goes; say nothing more.
    if (ev.type == k::choice && ev.choice == continue_choice) return true;
    if (s.consent_asked && !s.opted_out) {
      if (auto yes = consent_answer(ev)) {
        if (*yes) accept_consent();
        else refuse_consent();
        return true;
      }
    }
    if (ev.type == k::choice) {
      if (s.opted_out) return true;
      ask_consent(s.consent_asked ? rc_.builtin("consent_again") : std::string{});
      return true;
    }
    const std::string f = fold(ev.text);
    const auto& caps = rc_.ctx().caps;
    const bool stop = stop_words.count(f) ||
                      std::find(caps.stop_words.begin(), caps.stop_words.end(), f) != caps.stop_words.end();
    const bool start = start_words.count(f) ||
                       (s.opted_out && std::find(caps.start_words.begin(), caps.start_words.end(), f) != caps.start_words.end());
    if (stop) {
      opt_out(true);
      s.consent_asked = false;
      s.consent_pending.clear();
      if (!s.run && s.courses.empty()) s.contact.clear();  // a stranger who said no: keep nothing of them
      return true;
    }
    if (start) {
      if (s.opted_out) {
        s.opted_out = false;
        out_.opted_out = false;
      }
      ask_consent({});
      return true;
    }
    if (s.opted_out) return true;  // nothing is kept of what they wrote
    if (help_words.count(f)) {
      ask_consent(flows_.triggers.help.empty() ? rc_.builtin("help") : rc_.text(flows_.triggers.help));
      return true;
    }
    // A trigger keyword (never free text) waits for the answer.
    if (ev.media.empty() && !f.empty()) {
      const std::string* keyword = nullptr;
      for (const auto& t : flows_.triggers.triggers)
        for (std::size_t i = 0; i < t.keywords.size(); ++i)
          if (!keyword && t.keyword_is(i, f)) keyword = &t.keywords[i];
      if (keyword) remember({{"k", "text"}, {"text", *keyword}});
    }
    ask_consent(s.consent_asked ? rc_.builtin("consent_again") : std::string{});
    return true;
  }

  const node* waiting_node() {
    const flow* f = rc_.current_flow();
    return f && out_.next.run ? f->find(out_.next.run->node) : nullptr;
  }

  // `by_learner`: the learner typed a trigger keyword (else the host started it).
  void start(const std::string& flow_id, const std::string& at, start_policy policy, bool by_learner) {
    session& s = out_.next;
    const flow* fl = flows_.find(flow_id);
    if (!fl || (!at.empty() && !fl->find(at))) {
      rc_.log("start: no flow '" + flow_id + "'" + (at.empty() ? "" : " with node '" + at + "'"));
      return;
    }
    if (s.opted_out) {
      rc_.log("start: learner opted out; not starting " + flow_id);
      return;
    }
    if (s.run) {
      if (policy == start_policy::skip) {
        rc_.log("start: busy in " + s.run->flow + "; skipping " + flow_id);
        return;
      }
      if (policy == start_policy::queue) {
        if (std::find(s.queue.begin(), s.queue.end(), flow_id) == s.queue.end()) s.queue.push_back(flow_id);
        rc_.log("start: busy in " + s.run->flow + "; queued " + flow_id);
        if (by_learner) reprompt(rc_.builtin("queued"));
        return;
      }
      rc_.end_all(end_status::interrupted);
    }
    s.menu_open = false;
    rc_.drive(rc_.begin_run(*fl, at));
  }

  // A course's keyword: enrol, or open the module that waits (the learner asks for it).
  void request_course(const std::string& course_id, start_policy policy) {
    session& s = out_.next;
    const course_def* c = flows_.course(course_id);
    if (!c) return rc_.log("trigger: no course '" + course_id + "'");
    if (s.run && s.run->course != course_id) {
      if (policy == start_policy::queue) {
        const course_progress* p = s.course(course_id);
        if (!p || p->status != "active") {
          // Enrolled now; its first module waits for the current activity.
          if (auto t = detail::course_enroll(rc_, *c, false)) rc_.drive(*t);
        } else if (auto t = detail::course_requested(rc_, *c)) {
          rc_.drive(*t);
        }
        return reprompt(rc_.builtin("queued"));
      }
      rc_.end_all(end_status::interrupted);
    }
    if (s.run && s.run->course == course_id) return reprompt({});
    if (auto t = detail::course_requested(rc_, *c)) return rc_.drive(*t);
    // Nothing opens now (the next module waits for its day): say when.
    const course_progress* p = s.course(course_id);
    if (p && p->timer && p->timer->kind == "drip") {
      std::string msg = rc_.builtin("course_next");
      auto pos = msg.find("{when}");
      if (pos != std::string::npos) msg.replace(pos, 6, format_local(p->timer->due, rc_.ctx().tz.empty() ? default_time_zone : rc_.ctx().tz));
      return say(msg);
    }
    if (p && p->status != "active") return say(rc_.builtin("course_done"));
  }

  // Sends the waiting question again after `prefix` (help, queued, stale tap).
  void reprompt(const std::string& prefix) {
    const node* n = waiting_node();
    if (n && n->asks()) {
      rc_.say(detail::prompt(rc_, *n, prefix + "\n\n"));
    } else {
      say(prefix);
    }
  }

  void say(const std::string& text) {
    outbound_message m;
    m.text = text;
    rc_.say(std::move(m));
  }

  void show_menu(const std::string& prefix) {
    session& s = out_.next;
    std::vector<const flow*> items;
    for (const auto& id : flows_.triggers.menu)
      if (const flow* f = flows_.find(id)) items.push_back(f);
    if (items.empty()) {
      say(prefix.empty() ? rc_.builtin("menu_empty") : prefix);
      return;
    }
    outbound_message m;
    m.text = (prefix.empty() ? "" : prefix + "\n\n") + rc_.builtin("menu");
    m.menu = menu_style::numbered;
    for (std::size_t i = 0; i < items.size(); ++i)
      m.choices.push_back({"menu." + std::to_string(i), items[i]->name.get(rc_.lang(), items[i]->language)});
    rc_.say(std::move(m));
    s.menu_open = true;
  }

  // A pick from the menu: its number, a tap, or a flow's name. Starts it; false if no pick.
  bool menu_pick(const std::string& text, std::optional<std::size_t> tapped) {
    std::vector<std::string> ids;
    for (const auto& id : flows_.triggers.menu)
      if (flows_.find(id)) ids.push_back(id);
    std::optional<std::size_t> pick = tapped;
    if (!pick) {
      if (auto i = parse_index(text); i && *i >= 1 && static_cast<std::size_t>(*i) <= ids.size()) pick = *i - 1;
    }
    if (!pick) {
      const std::string f = fold(text);
      for (std::size_t i = 0; i < ids.size() && !pick; ++i) {
        const flow* fl = flows_.find(ids[i]);
        if (fold(fl->id) == f) pick = i;
        for (const auto& [lang, name] : fl->name.by_lang)
          if (fold(name) == f) pick = i;
      }
    }
    if (!pick || *pick >= ids.size()) return false;
    out_.next.menu_open = false;
    start_policy policy = start_policy::interrupt;
    for (const auto& t : flows_.triggers.triggers)
      if (t.flow == ids[*pick]) policy = t.policy;
    start(ids[*pick], {}, policy == start_policy::skip ? start_policy::interrupt : policy, true);
    return true;
  }

  // The course the learner is taking now: the latest enrolment still active.
  const course_def* active_course() const {
    const session& s = out_.next;
    if (!flows_.courses) return nullptr;
    for (auto it = s.courses.rbegin(); it != s.courses.rend(); ++it)
      if (it->status == "active") return flows_.courses->find(it->course);
    return nullptr;
  }

  void opt_out(bool by_learner) {
    session& s = out_.next;
    const course_def* course = active_course();  // before the runs end
    // BAJA after accepting the privacy notice withdraws the consent: a return (ALTA) asks again.
    if (by_learner && rc_.ctx().consent.required && s.consent.decision == "accepted") record_consent("revoked");
    rc_.end_all(end_status::interrupted);
    s.queue.clear();
    s.menu_open = false;
    if (!s.opted_out && by_learner) {
      say(course && !course->stopped.empty() ? rc_.text(course->stopped) : rc_.builtin("stopped"));
    }
    if (!s.opted_out) out_.opted_out = true;
    s.opted_out = true;
  }

  // A message could not be delivered: stop the course where it is (timers cancelled) rather
  // than go on sending what the learner cannot follow.
  void pause(const std::string& why) {
    session& s = out_.next;
    s.paused = why.empty() ? "delivery failed" : why;
    s.paused_at = rc_.ctx().now_ms;
    s.menu_open = false;
    if (s.run) {
      s.run->timer.reset();
      s.run->expire.reset();
    }
    for (auto& r : s.stack) {
      r.timer.reset();
      r.expire.reset();
    }
    auto& r = rc_.record("paused", waiting_node());
    r.status = "paused";
    r.value = s.paused;
    rc_.log("course paused: " + s.paused);
  }

  // The learner wrote while paused: say so and enter the waiting node again (its prompt,
  // reminders and expiry start afresh). What they wrote is kept, not taken as an answer.
  void resume(const std::string& raw) {
    session& s = out_.next;
    const node* n = waiting_node();
    if (!raw.empty()) keep(raw);
    auto& r = rc_.record("resumed", n);
    r.status = "resumed";
    r.value = s.paused;
    s.paused.clear();
    s.paused_at = 0;
    if (!s.run || !n) {
      say(rc_.builtin("resumed"));
      return show_menu({});
    }
    if (const flow* f = rc_.current_flow(); f && f->expire_after_ms > 0)
      s.run->expire = timer_slot{s.run->id + ".expire", rc_.ctx().now_ms + f->expire_after_ms, "expire", 0};
    say(rc_.builtin("resumed"));
    rc_.drive(transition::go(n->id));
  }

  // A photo, voice note or sticker where aula reads only text: keep it, say so, ask again.
  void media(const std::string& kind) {
    keep("[" + kind + "]");
    if (out_.next.opted_out) return;
    reprompt(rc_.builtin("only_text"));
  }

  void keep(const std::string& text) {
    auto& r = rc_.record("inbound", waiting_node());
    r.text = text;
  }

  void text(const std::string& raw) {
    session& s = out_.next;
    const std::string f = fold(raw);
    const node* n = waiting_node();
    // Keywords are commands only when they are the whole message and not an answer.
    if (!is_option_of(n, f) && !f.empty()) {
      const auto& caps = rc_.ctx().caps;
      const bool channel_stop = std::find(caps.stop_words.begin(), caps.stop_words.end(), f) != caps.stop_words.end();
      const bool channel_start =
          std::find(caps.start_words.begin(), caps.start_words.end(), f) != caps.start_words.end();
      if (stop_words.count(f) || channel_stop) return opt_out(true);
      // A channel's own start words (SMS: YES) only bring an opted-out learner back.
      if (start_words.count(f) || (channel_start && s.opted_out)) {
        if (s.opted_out) {
          s.opted_out = false;
          out_.opted_out = false;
          say(rc_.builtin("restarted"));
        } else {
          show_menu({});
        }
        return;
      }
      if (s.opted_out) return keep(raw);
      if (help_words.count(f)) {
        const course_def* c = active_course();
        std::string help = c && !c->help.empty()          ? rc_.text(c->help)
                           : flows_.triggers.help.empty() ? rc_.builtin("help")
                                                          : rc_.text(flows_.triggers.help);
        if (n && n->asks()) return reprompt(help);
        return show_menu(help);
      }
      if (menu_words.count(f)) return show_menu({});
      for (const auto& t : flows_.triggers.triggers) {
        for (std::size_t i = 0; i < t.keywords.size(); ++i) {
          if (!t.keyword_is(i, f)) continue;
          if (s.run && t.policy == start_policy::skip) break;  // busy: the text is an answer
          keep(raw);
          if (!t.course.empty()) return request_course(t.course, t.policy);
          return start(t.flow, {}, t.policy, true);
        }
      }
    }
    if (s.opted_out) return keep(raw);
    if (s.menu_open) {
      s.menu_open = false;
      if (menu_pick(raw, std::nullopt)) return;
    }
    if (!s.run) {
      keep(raw);
      return show_menu(rc_.builtin("idle"));
    }
    if (!n || !n->asks()) {
      // Waiting for a timer or a webhook: keep what was said, tell the learner.
      keep(raw);
      return say(rc_.builtin("waiting"));
    }
    answer(*n, detail::reply{raw, std::nullopt});
  }

  void choice(const std::string& ref) {
    session& s = out_.next;
    if (ref.starts_with("menu.") && s.menu_open) {
      auto i = parse_index(ref.substr(5));
      if (i && menu_pick({}, static_cast<std::size_t>(*i))) return;
    }
    if (s.opted_out) return;
    const node* n = waiting_node();
    if (!n || !n->asks()) {
      rc_.log("tap '" + ref + "' with no question waiting; ignored");
      if (!s.run) show_menu(rc_.builtin("idle"));
      return;
    }
    // A tap counts only if its id names this run, this node and an option of it.
    for (std::size_t i = 0; i < n->options.size(); ++i) {
      if (ref == choice_ref(s.run->id, n->id, i)) {
        return answer(*n, detail::reply{detail::option_label(rc_, *n, i), i});
      }
    }
    rc_.log("stale choice '" + ref + "' ignored");
    reprompt(rc_.builtin("stale_choice"));
  }

  void answer(const node& n, const detail::reply& r) {
    session& s = out_.next;
    s.menu_open = false;
    if (s.run->expire) {
      const flow* f = rc_.current_flow();
      s.run->expire->due = rc_.ctx().now_ms + f->expire_after_ms;
    }
    rc_.drive(detail::behaviour(n.kind).answer(rc_, n, r));
  }

  void timer(const std::string& id) {
    session& s = out_.next;
    {
      const std::size_t before = out_.messages.size();
      if (auto t = detail::course_timer(rc_, id)) {
        if (t->kind == next_kind::go) rc_.drive(*t);
        for (std::size_t i = before; i < out_.messages.size(); ++i) out_.messages[i].unsolicited = true;
        return;
      }
    }
    if (!s.run) {
      rc_.log("timer " + id + ": no run; ignored");
      return;
    }
    const std::size_t before = out_.messages.size();
    const node* n = waiting_node();
    if (s.run->expire && s.run->expire->id == id) {
      const flow* f = rc_.current_flow();
      rc_.log("run " + s.run->id + " expired");
      s.run->expire.reset();
      if (!f->on_expire.empty()) {
        rc_.drive(transition::go(f->on_expire));
      } else {
        rc_.drive(rc_.end_run(end_status::expired, n));
      }
    } else if (s.run->timer && s.run->timer->id == id && n) {
      timer_slot t = *s.run->timer;
      s.run->timer.reset();
      if (t.kind == "remind" || t.kind == "timeout") {
        rc_.drive(detail::reply_timer(rc_, *n, t));
      } else if (t.kind == "wait") {
        rc_.drive(transition::go(n->next));
      } else if (t.kind == "webhook") {
        rc_.drive(detail::webhook_answered(rc_, *n, -1, {}));
      }
    } else {
      rc_.log("stale timer " + id + "; ignored");
    }
    // What a timer sends was not asked for: quiet hours and the bulk lane apply.
    for (std::size_t i = before; i < out_.messages.size(); ++i) out_.messages[i].unsolicited = true;
  }

  void webhook(const inbound_event& ev) {
    session& s = out_.next;
    const node* n = waiting_node();
    if (!s.run || !s.run->timer || s.run->timer->id != ev.timer || !n || n->kind != node_kind::webhook) {
      rc_.log("webhook answer " + ev.timer + " matches no waiting request; ignored");
      return;
    }
    s.run->timer.reset();
    rc_.drive(detail::webhook_answered(rc_, *n, ev.status, ev.text));
  }

  const flow_set& flows_;
  run_ctx rc_;
  step_result& out_;
};

void collect_timers(const session& s, std::map<std::string, timer_effect>& out) {
  auto add = [&](const run_state& r) {
    for (const auto* t : {&r.timer, &r.expire})
      if (*t) out[(*t)->id] = timer_effect{(*t)->id, (*t)->due, (*t)->kind};
  };
  if (s.run) add(*s.run);
  for (const auto& r : s.stack) add(r);
  for (const auto& c : s.courses)
    if (c.timer) out[c.timer->id] = timer_effect{c.timer->id, c.timer->due, c.timer->kind};
}

}  // namespace

step_result step(const flow_set& flows, const session& s, const inbound_event& ev, const context& ctx) {
  return step(flows, session(s), ev, ctx);
}

step_result step(const flow_set& flows, session&& s, const inbound_event& ev, const context& ctx) {
  // Timer effects follow from the session: what it no longer holds is cancelled, what is
  // new or moved is set.
  std::map<std::string, timer_effect> before, after;
  collect_timers(s, before);
  step_result out;
  out.next = std::move(s);
  stepper(flows, ctx, out).handle(ev);
  collect_timers(out.next, after);
  for (const auto& [id, t] : before)
    if (!after.count(id)) out.timers_cancel.push_back(id);
  for (const auto& [id, t] : after) {
    auto it = before.find(id);
    if (it == before.end() || it->second.due_ms != t.due_ms) out.timers_set.push_back(t);
  }
  return out;
}

}  // namespace aula
