// The flow language through step(): split, random, set, wait, reply timeouts, expiry,
// subflows, webhooks, date questions, global keywords, triggers and start policies, and the
// simulator's clock. Flows are read from inline YAML with read_flow().
#include "bot/engine/engine.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bot/authoring/loader.hpp"
#include "tests/support/flow_fixtures.hpp"
#include "bot/authoring/simulator.hpp"
#include "bot/authoring/triggers.hpp"

using namespace aula;
using nlohmann::json;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

using strings = std::vector<std::string>;

constexpr std::int64_t minute = 60'000;
constexpr std::int64_t hour = 60 * minute;
constexpr std::int64_t day = 24 * hour;

// Days from 1970-01-01 to a Gregorian date (H. Hinnant's days_from_civil): expected instants
// are computed here, not by the code under test.
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}
std::int64_t utc(int y, int mo, int d, int h = 0, int mi = 0) {
  return days_from_civil(y, mo, d) * day + h * hour + mi * minute;
}

// 2026-01-05T15:00:00Z: 09:00 in Mexico City.
const std::int64_t T0 = utc(2026, 1, 5, 15);

using aula_test::load;

// One learner on the pure engine. The clock moves only when told; pending timers are kept
// from the step results as a store would keep them.
struct chat {
  flow_set flows;
  session s;
  context ctx;
  step_result last;
  std::map<std::string, timer_effect> timers;
  std::uint64_t seed = 5000;

  explicit chat(flow_set f, std::string tz = {}) : flows(std::move(f)) {
    ctx.now_ms = T0;
    ctx.tz = std::move(tz);
  }

  const step_result& apply(const inbound_event& ev) {
    ctx.seed = ++seed;
    last = step(flows, s, ev, ctx);
    s = last.next;
    for (const auto& id : last.timers_cancel) timers.erase(id);
    for (const auto& t : last.timers_set) timers[t.id] = t;
    return last;
  }
  const step_result& start(const std::string& flow_id, start_policy p = start_policy::interrupt) {
    return apply(inbound_event::start(flow_id, {}, p));
  }
  const step_result& say(const std::string& text) { return apply(inbound_event::message(text)); }
  void later(std::int64_t ms) { ctx.now_ms += ms; }

  std::optional<timer_effect> pending(const std::string& kind) const {
    for (const auto& [id, t] : timers)
      if (t.kind == kind) return t;
    return std::nullopt;
  }
  // Fires the pending timer of `kind` at its due time.
  const step_result& fire(const std::string& kind) {
    auto t = pending(kind);
    INFO("no pending " << kind << " timer");
    REQUIRE(t.has_value());
    timers.erase(t->id);
    ctx.now_ms = t->due_ms;
    return apply(inbound_event::timer_due(t->id));
  }

  strings texts() const {
    strings v;
    for (const auto& m : last.messages) v.push_back(m.text);
    return v;
  }
  std::vector<result_record> of(const std::string& type) const {
    std::vector<result_record> v;
    for (const auto& r : last.records)
      if (r.type == type) v.push_back(r);
    return v;
  }
  strings record_types() const {
    strings v;
    for (const auto& r : last.records) v.push_back(r.type);
    return v;
  }
};

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

const std::string waiting_es = "Recibido. Te escribiremos cuando sea momento de seguir.";
const std::string stopped_es = "Listo: ya no recibirás mensajes. Si quieres volver, escribe ALTA.";
const std::string restarted_es = "¡Qué bueno que vuelves! Escribe MENU para ver las actividades.";
const std::string queued_es = "La empezaremos cuando termines esta actividad.";

// ------------------------------------------------------------------ flows

const char* const ruta_yaml = R"y(
spec: 1
id: ruta
start: ruta
nodes:
  ruta:
    split:
      - {if: "answers.rol in [inspector-federal, inspector-local]", next: inspeccion}
      - {if: "contact.estado == 'nuevo leon'", next: norte}
      - {if: "lang == en", next: ingles}
      - {if: "cohort == piloto", next: piloto}
      - {if: "answers.temas contains salario", next: salario}
    next: general
  inspeccion: {end: completed, message: "inspeccion"}
  norte: {end: completed, message: "norte"}
  ingles: {end: completed, message: "ingles"}
  piloto: {end: completed, message: "piloto"}
  salario: {end: completed, message: "salario"}
  general: {end: completed, message: "general"}
)y";

const char* const puntaje_yaml = R"y(
spec: 1
id: puntaje
start: q
nodes:
  q:
    quiz: "¿Capital de Jalisco?"
    options:
      - {id: gdl, label: "Guadalajara", correct: true}
      - {id: mty, label: "Monterrey"}
    points: 3
    save_as: capital
    next: ruta
  ruta:
    split:
      - {if: "score.total >= 3", next: arriba}
      - {if: "score.max == 3 and answers.capital == mty", next: abajo}
    next: otro
  arriba: {end: completed, message: "arriba"}
  abajo: {end: completed, message: "abajo"}
  otro: {end: completed, message: "otro"}
)y";

const char* const ab_yaml = R"y(
spec: 1
id: ab
start: listo
nodes:
  listo: {question: "¿Listo?", options: [Sí, No], next: version}
  version:
    random:
      - {weight: 70, next: va}
      - {weight: 30, next: vb}
  va: {end: completed, message: "A"}
  vb: {end: completed, message: "B"}
)y";

const char* const ab_directo_yaml = R"y(
spec: 1
id: ab-directo
start: version
nodes:
  version:
    random:
      - {weight: 70, next: va}
      - {weight: 30, next: vb}
  va: {end: completed, message: "A"}
  vb: {end: completed, message: "B"}
)y";

const char* const marcar_yaml = R"y(
spec: 1
id: marcar
start: rol
nodes:
  rol:
    question: "¿Rol?"
    options:
      - {id: insp, label: "Inspector/a"}
      - {id: otro, label: "Otro"}
    save_as: rol
    next: marcar
  marcar:
    set: {contact.nivel: avanzado, contact.ruta: "{{answers.rol}}", answers.puntos: "42", answers.media: "3.5", answers.nota: "bien hecho", lang: en}
    next: fin
  fin: {end: completed, message: {es: "Listo, {{contact.nivel}}", en: "Done, {{contact.nivel}}: {{answers.puntos}}"}}
)y";

const char* const pausa_yaml = R"y(
spec: 1
id: pausa
start: hola
nodes:
  hola: {message: "Hola", next: espera}
  espera: {wait: {for: 2h}, next: luego}
  luego: {message: "Ya pasó la pausa", next: fin}
  fin: {end: completed}
)y";

const char* const a_las_nueve_yaml = R"y(
spec: 1
id: a-las-nueve
start: espera
nodes:
  espera: {wait: {until: "09:00", days: 0}, next: fin}
  fin: {end: completed, message: "Buenos días"}
)y";

const char* const manana_yaml = R"y(
spec: 1
id: manana
start: espera
nodes:
  espera: {wait: {until: "09:00", days: 1}, next: fin}
  fin: {end: completed, message: "Buenos días"}
)y";

const char* const recordar_yaml = R"y(
spec: 1
id: recordar
start: p
expire_after: 2d
nodes:
  p:
    question: "¿Color?"
    options: [Rojo, Azul]
    save_as: color
    timeout: {after: 1h, remind: "¿Sigues ahí?", max_reminders: 2, next: tarde}
    next: fin
  tarde: {end: failed, message: "Se acabó el tiempo."}
  fin: {end: completed, message: "Gracias"}
)y";

const char* const examen_tiempo_yaml = R"y(
spec: 1
id: examen-tiempo
start: q
nodes:
  q:
    quiz: "¿2 + 2?"
    options:
      - {id: a, label: "Cuatro", correct: true}
      - {id: b, label: "Cinco"}
    points: 2
    timeout: {after: 30m, next: fin}
    next: fin
  fin: {end: completed, message: "{{score.total}}/{{score.max}}"}
)y";

const char* const caduca_yaml = R"y(
spec: 1
id: caduca
start: p1
expire_after: 24h
nodes:
  p1: {question: "Uno", type: text, save_as: uno, next: p2}
  p2: {question: "Dos", type: text, save_as: dos, next: fin}
  fin: {end: completed}
)y";

const char* const caduca_aviso_yaml = R"y(
spec: 1
id: caduca-aviso
start: p1
expire_after: 1d
on_expire: caducado
nodes:
  p1: {question: "Uno", type: text, next: fin}
  caducado: {end: expired, message: "Se venció el plazo."}
  fin: {end: completed}
)y";

const char* const curso_yaml = R"y(
spec: 1
id: curso
start: intro
nodes:
  intro: {message: "Inicio", next: modulo}
  modulo: {subflow: examen, next: despues, on_failure: repaso}
  despues: {message: "Después: {{last.status}} {{score.total}}/{{score.max}}", next: fin}
  repaso: {message: "Repaso: {{last.status}} {{score.total}}/{{score.max}}", next: fin}
  fin: {end: completed}
)y";

const char* const examen_yaml = R"y(
spec: 1
id: examen
start: q
nodes:
  q:
    quiz: "¿2 + 2?"
    options:
      - {id: a, label: "Cuatro", correct: true}
      - {id: b, label: "Cinco"}
    points: 2
    save_as: suma
    next: check
  check:
    split:
      - {if: "score.total >= 2", next: bien}
    next: mal
  bien: {end: completed}
  mal: {end: failed}
)y";

const char* const bucle_yaml = R"y(
spec: 1
id: bucle
start: otra-vez
nodes:
  otra-vez: {subflow: bucle, next: fin, on_failure: fallo}
  fin: {end: completed}
  fallo: {end: failed}
)y";

const char* const registro_yaml = R"y(
spec: 1
id: registro
start: enviar
nodes:
  enviar:
    webhook:
      method: PUT
      url: "https://example.org/api/registro/{{contact.estado}}"
      timeout: 10s
      headers: {Content-Type: application/json}
      body: '{"nombre": "{{contact.name}}", "rol": "{{answers.rol.value}}"}'
    save_as: registro
    next: gracias
    on_failure: error
    on_timeout: lento
  gracias: {end: completed, message: "Registrado"}
  error: {end: failed, message: "Error"}
  lento: {end: failed, message: "Lento"}
)y";

const char* const fecha_yaml = R"y(
spec: 1
id: fecha
start: cuando
nodes:
  cuando: {question: "¿Cuándo empezaste?", type: date, save_as: inicio, next: fin}
  fin: {end: completed, message: "Inicio: {{answers.inicio}}"}
)y";

const char* const encuesta_yaml = R"y(
spec: 1
id: encuesta
name: "Encuesta inicial"
start: nombre
nodes:
  nombre: {question: "¿Cómo te llamas?", type: text, save_as: nombre, next: fin}
  fin: {end: completed, message: "Gracias, {{answers.nombre}}."}
)y";

const char* const leccion_yaml = R"y(
spec: 1
id: leccion
name: "Lección 1"
start: intro
nodes:
  intro: {message: "Bienvenida a la lección", next: q}
  q: {question: "¿Seguimos?", options: [Sí, No], next: fin}
  fin: {end: completed}
)y";

const char* const repaso_yaml = R"y(
spec: 1
id: repaso
name: "Repaso"
start: r
nodes:
  r: {message: "Repaso", next: fin}
  fin: {end: completed}
)y";

const char* const marea_yaml = R"y(
spec: 1
id: marea
start: nivel
nodes:
  nivel:
    question: "¿Cómo está el volumen?"
    options:
      - {id: arriba, label: "Alto"}
      - {id: abajo, label: "Baja"}
    save_as: volumen
    next: fin
  fin: {end: completed}
)y";

const char* const triggers_yaml = R"y(
spec: 1
language: es
help: "Ayuda: responde a la pregunta."
menu: [encuesta, leccion]
triggers:
  - {keywords: [encuesta, Sondeo], flow: encuesta}
  - {keywords: [leccion], flow: leccion, policy: queue}
  - {keywords: [repaso], flow: repaso, policy: skip}
)y";

flow_set keyword_flows() {
  return load({encuesta_yaml, leccion_yaml, repaso_yaml, marea_yaml, recordar_yaml, curso_yaml, examen_yaml},
              triggers_yaml);
}

}  // namespace

// ================================================================== split

TEST_CASE("split: with no case true the run goes to next", "[flow][split]") {
  chat c(load({ruta_yaml}));
  c.start("ruta");
  CHECK(c.texts() == strings{"general"});
}

TEST_CASE("split: a condition on an answer picks its case", "[flow][split]") {
  chat c(load({ruta_yaml}));
  c.s.answers["rol"] = saved_answer{"inspector-local", "Inspector/a local"};
  c.start("ruta");
  CHECK(c.texts() == strings{"inspeccion"});
}

TEST_CASE("split: the first true case wins over later true cases", "[flow][split]") {
  chat c(load({ruta_yaml}));
  c.s.answers["rol"] = saved_answer{"inspector-federal", "Inspector/a federal"};
  c.s.contact["estado"] = "Nuevo León";
  c.s.lang = "en";
  c.ctx.cohorts = {"piloto"};
  c.start("ruta");
  CHECK(c.texts() == strings{"inspeccion"});
}

TEST_CASE("split: a condition on a contact field compares folded text", "[flow][split]") {
  chat c(load({ruta_yaml}));
  c.s.contact["estado"] = "Nuevo León";
  c.start("ruta");
  CHECK(c.texts() == strings{"norte"});
}

TEST_CASE("split: lang is the session's language, else the host's default", "[flow][split]") {
  {
    chat c(load({ruta_yaml}));
    c.s.lang = "en";
    c.start("ruta");
    CHECK(c.texts() == strings{"ingles"});
  }
  {
    chat c(load({ruta_yaml}));
    c.ctx.default_lang = "en";
    c.start("ruta");
    CHECK(c.texts() == strings{"ingles"});
  }
}

TEST_CASE("split: cohort matches any of the learner's cohorts from the context", "[flow][split]") {
  chat c(load({ruta_yaml}));
  c.ctx.cohorts = {"norte", "piloto"};
  c.start("ruta");
  CHECK(c.texts() == strings{"piloto"});

  chat d(load({ruta_yaml}));
  d.ctx.cohorts = {"control"};
  d.start("ruta");
  CHECK(d.texts() == strings{"general"});
}

TEST_CASE("split: contains on a multi answer matches one of its ids", "[flow][split]") {
  chat c(load({ruta_yaml}));
  c.s.answers["temas"] = saved_answer{json::array({"salud", "salario"}), "Salud, Salario"};
  c.start("ruta");
  CHECK(c.texts() == strings{"salario"});
}

TEST_CASE("split: score.total and score.max follow the quiz points of the run", "[flow][split]") {
  {
    chat c(load({puntaje_yaml}));
    c.start("puntaje");
    c.say("Guadalajara");
    CHECK(contains(c.texts(), "arriba"));
  }
  {
    chat c(load({puntaje_yaml}));
    c.start("puntaje");
    c.say("Monterrey");
    CHECK(contains(c.texts(), "abajo"));
  }
}

// ================================================================== random

TEST_CASE("random: records a split with the chosen branch and goes there", "[flow][random]") {
  chat c(load({ab_directo_yaml}));
  c.start("ab-directo");
  const auto splits = c.of("split");
  REQUIRE(splits.size() == 1);
  CHECK(splits[0].node == "version");
  REQUIRE(splits[0].value.is_string());
  const std::string chosen = splits[0].value.get<std::string>();
  REQUIRE((chosen == "va" || chosen == "vb"));
  CHECK(c.texts() == strings{chosen == "va" ? "A" : "B"});
}

TEST_CASE("random: the same run draws the same branch whatever the step's seed", "[flow][random]") {
  const flow_set flows = load({ab_yaml});
  context ctx;
  ctx.now_ms = T0;
  ctx.seed = 11;
  const session waiting = step(flows, session{}, inbound_event::start("ab"), ctx).next;
  REQUIRE(waiting.run.has_value());

  std::optional<std::string> first;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    ctx.seed = seed * 7919;
    ctx.now_ms = T0 + static_cast<std::int64_t>(seed) * minute;
    const auto r = step(flows, waiting, inbound_event::message("Sí"), ctx);
    std::string chosen;
    for (const auto& rec : r.records)
      if (rec.type == "split") chosen = rec.value.get<std::string>();
    INFO("seed " << ctx.seed);
    REQUIRE_FALSE(chosen.empty());
    if (!first) first = chosen;
    CHECK(chosen == *first);
    REQUIRE_FALSE(r.messages.empty());
    CHECK(r.messages.back().text == (chosen == "va" ? "A" : "B"));
  }
}

TEST_CASE("random: over many runs the branches follow their weights", "[flow][random]") {
  const flow_set flows = load({ab_directo_yaml});
  context ctx;
  ctx.now_ms = T0;
  int a = 0, b = 0;
  std::set<std::string> run_ids;
  for (std::uint64_t i = 1; i <= 2000; ++i) {
    ctx.seed = i;
    const auto r = step(flows, session{}, inbound_event::start("ab-directo"), ctx);
    for (const auto& rec : r.records) {
      if (rec.type == "start") run_ids.insert(rec.run);
      if (rec.type != "split") continue;
      if (rec.value == "va") ++a;
      if (rec.value == "vb") ++b;
    }
  }
  CHECK(run_ids.size() == 2000);
  CHECK(a + b == 2000);
  INFO("va " << a << ", vb " << b);
  CHECK(a >= 1200);  // 70% of 2000 = 1400, within ±10% (±200)
  CHECK(a <= 1600);
}

// ================================================================== set

TEST_CASE("set: writes contact fields, answers and the language", "[flow][set]") {
  chat c(load({marcar_yaml}));
  c.start("marcar");
  c.say("1");
  CHECK(c.s.contact.at("nivel") == "avanzado");
  CHECK(c.s.contact.at("ruta") == "Inspector/a");  // {{answers.x}} is the label shown
  REQUIRE(c.s.answers.count("puntos") == 1);
  CHECK(c.s.answers.at("puntos").value.is_number());
  CHECK(c.s.answers.at("puntos").value.get<double>() == 42);
  CHECK(c.s.answers.at("puntos").text == "42");
  REQUIRE(c.s.answers.count("media") == 1);
  CHECK(c.s.answers.at("media").value.is_number());
  CHECK(c.s.answers.at("media").value.get<double>() == 3.5);
  REQUIRE(c.s.answers.count("nota") == 1);
  CHECK(c.s.answers.at("nota").value == "bien hecho");
  CHECK(c.s.lang == "en");
  CHECK(c.texts() == strings{"Done, avanzado: 42"});
}

// ================================================================== wait

TEST_CASE("wait for: sets a wait timer due after the delay", "[flow][wait]") {
  chat c(load({pausa_yaml}));
  c.start("pausa");
  CHECK(c.texts() == strings{"Hola"});
  REQUIRE(c.last.timers_set.size() == 1);
  const auto& t = c.last.timers_set[0];
  CHECK(t.kind == "wait");
  CHECK(t.due_ms == T0 + 2 * hour);
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->node == "espera");
  REQUIRE(c.s.run->timer.has_value());
  CHECK(c.s.run->timer->id == t.id);
}

TEST_CASE("wait: a text meanwhile gets the waiting note and is recorded, the run stays", "[flow][wait]") {
  chat c(load({pausa_yaml}));
  c.start("pausa");
  const auto timer = c.s.run->timer;
  c.later(10 * minute);
  c.say("¿Ya?");
  CHECK(c.texts() == strings{waiting_es});
  REQUIRE(c.last.records.size() == 1);
  CHECK(c.last.records[0].type == "inbound");
  CHECK(c.last.records[0].text == "¿Ya?");
  CHECK(c.last.records[0].node == "espera");
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->node == "espera");
  CHECK(c.s.run->timer->id == timer->id);
  CHECK(c.s.run->timer->due == timer->due);
  CHECK(c.last.timers_set.empty());
  CHECK(c.last.timers_cancel.empty());
}

TEST_CASE("wait: its timer moves the run on and what follows is unsolicited", "[flow][wait]") {
  chat c(load({pausa_yaml}));
  c.start("pausa");
  c.fire("wait");
  CHECK(c.ctx.now_ms == T0 + 2 * hour);
  CHECK(c.texts() == strings{"Ya pasó la pausa"});
  for (const auto& m : c.last.messages) CHECK(m.unsolicited);
  CHECK_FALSE(c.s.run.has_value());
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->status == "completed");
}

TEST_CASE("wait: a timer event with another id does nothing", "[flow][wait]") {
  chat c(load({pausa_yaml}));
  c.start("pausa");
  const session before = c.s;
  const std::string id = c.s.run->timer->id;
  c.later(2 * hour);
  for (const std::string& other : {std::string("x"), id + "x", c.s.run->id + ".espera.remind", c.s.run->id + ".expire"}) {
    INFO(other);
    const auto& r = c.apply(inbound_event::timer_due(other));
    CHECK(r.next.dump() == before.dump());
    CHECK(r.messages.empty());
    CHECK(r.records.empty());
    CHECK(r.timers_set.empty());
    CHECK(r.timers_cancel.empty());
  }
}

TEST_CASE("wait until 09:00 with days 0 is the next 09:00 in the learner's zone", "[flow][wait]") {
  // Exactly 09:00 in Mexico City counts as past: tomorrow.
  chat mx(load({a_las_nueve_yaml}), "America/Mexico_City");
  mx.start("a-las-nueve");
  REQUIRE(mx.pending("wait").has_value());
  CHECK(mx.pending("wait")->due_ms == utc(2026, 1, 6, 15));

  chat cun(load({a_las_nueve_yaml}), "America/Cancun");
  cun.start("a-las-nueve");
  REQUIRE(cun.pending("wait").has_value());
  CHECK(cun.pending("wait")->due_ms == utc(2026, 1, 6, 14));

  // At 07:00 (Mexico City) it is today.
  chat early(load({a_las_nueve_yaml}), "America/Mexico_City");
  early.ctx.now_ms = utc(2026, 1, 5, 13);
  early.start("a-las-nueve");
  CHECK(early.pending("wait")->due_ms == utc(2026, 1, 5, 15));
}

TEST_CASE("wait until 09:00 with days 1 is tomorrow even before 09:00", "[flow][wait]") {
  chat mx(load({manana_yaml}), "America/Mexico_City");
  mx.ctx.now_ms = utc(2026, 1, 5, 13);  // 07:00 local
  mx.start("manana");
  REQUIRE(mx.pending("wait").has_value());
  CHECK(mx.pending("wait")->due_ms == utc(2026, 1, 6, 15));

  chat cun(load({manana_yaml}), "America/Cancun");
  cun.ctx.now_ms = utc(2026, 1, 5, 13);  // 08:00 local
  cun.start("manana");
  REQUIRE(cun.pending("wait").has_value());
  CHECK(cun.pending("wait")->due_ms == utc(2026, 1, 6, 14));

  cun.fire("wait");
  CHECK(cun.texts() == strings{"Buenos días"});
}

TEST_CASE("wait until uses Mexico City when the context has no zone", "[flow][wait]") {
  chat c(load({manana_yaml}));
  c.start("manana");
  CHECK(c.pending("wait")->due_ms == utc(2026, 1, 6, 15));
}

// ================================================================== reply timeouts

TEST_CASE("question timeout: asking arms a reminder after `after`", "[flow][timeout]") {
  chat c(load({recordar_yaml}));
  c.start("recordar");
  const auto remind = c.pending("remind");
  REQUIRE(remind.has_value());
  CHECK(remind->due_ms == T0 + hour);
  CHECK(remind->id == c.s.run->id + ".p.remind");
}

TEST_CASE("question timeout: reminders, then the timeout exit", "[flow][timeout]") {
  chat c(load({recordar_yaml}));
  c.start("recordar");

  c.fire("remind");
  CHECK(c.texts() == strings{"¿Sigues ahí?\n\n¿Color?"});
  REQUIRE(c.last.messages.size() == 1);
  CHECK(c.last.messages[0].unsolicited);
  CHECK(c.last.messages[0].choices.size() == 2);
  REQUIRE(c.of("reminder").size() == 1);
  CHECK(c.of("reminder")[0].attempt == 1);
  CHECK(c.of("reminder")[0].at == T0 + hour);
  CHECK(c.s.run->node == "p");
  REQUIRE(c.pending("remind").has_value());
  CHECK(c.pending("remind")->due_ms == T0 + 2 * hour);

  c.fire("remind");
  CHECK(c.texts() == strings{"¿Sigues ahí?\n\n¿Color?"});
  REQUIRE(c.of("reminder").size() == 1);
  CHECK(c.of("reminder")[0].attempt == 2);
  CHECK_FALSE(c.pending("remind").has_value());  // max_reminders: 2
  REQUIRE(c.pending("timeout").has_value());
  CHECK(c.pending("timeout")->due_ms == T0 + 3 * hour);

  c.fire("timeout");
  CHECK(c.texts() == strings{"Se acabó el tiempo."});
  for (const auto& m : c.last.messages) CHECK(m.unsolicited);
  REQUIRE(c.of("timeout").size() == 1);
  CHECK(c.of("timeout")[0].node == "p");
  REQUIRE(c.of("end").size() == 1);
  CHECK(c.of("end")[0].node == "tarde");
  CHECK(c.of("end")[0].status == "failed");
  CHECK_FALSE(c.s.run.has_value());
  CHECK(c.s.answers.count("color") == 0);
  CHECK(c.timers.empty());
}

TEST_CASE("question timeout: answering cancels the pending reminder", "[flow][timeout]") {
  chat c(load({recordar_yaml}));
  c.start("recordar");
  const std::string id = c.pending("remind")->id;
  c.later(10 * minute);
  c.say("Azul");
  CHECK(contains(c.last.timers_cancel, id));
  CHECK(c.s.answers.at("color").value == "azul");
  CHECK(c.timers.empty());
}

TEST_CASE("question timeout: answering after a reminder cancels the timeout timer", "[flow][timeout]") {
  chat c(load({recordar_yaml}));
  c.start("recordar");
  c.fire("remind");
  c.fire("remind");
  const std::string id = c.pending("timeout")->id;
  c.later(minute);
  c.say("Rojo");
  CHECK(contains(c.last.timers_cancel, id));
  CHECK(c.texts() == strings{"Gracias"});
  CHECK(c.timers.empty());
}

TEST_CASE("quiz timeout: the unanswered quiz counts its points in score.max", "[flow][timeout]") {
  chat c(load({examen_tiempo_yaml}));
  c.start("examen-tiempo");
  REQUIRE(c.pending("timeout").has_value());
  CHECK(c.pending("timeout")->due_ms == T0 + 30 * minute);
  c.fire("timeout");
  CHECK(c.texts() == strings{"0/2"});
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->score == 0);
  CHECK(c.s.last->score_max == 2);
}

// ================================================================== expire_after

TEST_CASE("expire_after: the expire timer is set on start", "[flow][expire]") {
  chat c(load({caduca_yaml}));
  c.start("caduca");
  const auto ex = c.pending("expire");
  REQUIRE(ex.has_value());
  CHECK(ex->due_ms == T0 + 24 * hour);
  REQUIRE(c.s.run->expire.has_value());
  CHECK(c.s.run->expire->id == ex->id);
}

TEST_CASE("expire_after: each reply moves the expire timer", "[flow][expire]") {
  chat c(load({caduca_yaml}));
  c.start("caduca");
  const std::string id = c.pending("expire")->id;
  c.later(3 * hour);
  c.say("uno");
  bool moved = false;
  for (const auto& t : c.last.timers_set)
    if (t.id == id) {
      moved = true;
      CHECK(t.due_ms == T0 + 3 * hour + 24 * hour);
    }
  CHECK(moved);
  CHECK(c.pending("expire")->due_ms == T0 + 27 * hour);
}

TEST_CASE("expire_after: firing it ends the run expired", "[flow][expire]") {
  chat c(load({caduca_yaml}));
  c.start("caduca");
  c.say("uno");
  c.fire("expire");
  CHECK_FALSE(c.s.run.has_value());
  REQUIRE(c.of("end").size() == 1);
  CHECK(c.of("end")[0].status == "expired");
  CHECK(c.of("end")[0].node == "p2");
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->status == "expired");
  CHECK(c.last.messages.empty());
}

TEST_CASE("expire_after: with on_expire the run goes there when it expires", "[flow][expire]") {
  chat c(load({caduca_aviso_yaml}));
  c.start("caduca-aviso");
  REQUIRE(c.pending("expire").has_value());
  CHECK(c.pending("expire")->due_ms == T0 + day);
  c.fire("expire");
  CHECK(c.texts() == strings{"Se venció el plazo."});
  for (const auto& m : c.last.messages) CHECK(m.unsolicited);
  REQUIRE(c.of("end").size() == 1);
  CHECK(c.of("end")[0].node == "caducado");
  CHECK(c.of("end")[0].status == "expired");
  CHECK_FALSE(c.s.run.has_value());
  CHECK(c.timers.empty());
}

// ================================================================== subflow

TEST_CASE("subflow: the caller waits on the stack while the child runs", "[flow][subflow]") {
  chat c(load({curso_yaml, examen_yaml}));
  c.start("curso");
  CHECK(c.texts() == strings{"Inicio", "¿2 + 2?"});
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "examen");
  CHECK(c.s.run->node == "q");
  REQUIRE(c.s.stack.size() == 1);
  CHECK(c.s.stack[0].flow == "curso");
  CHECK(c.s.stack[0].node == "modulo");
  CHECK(c.s.stack[0].id != c.s.run->id);
  CHECK(c.of("start").size() == 2);
}

TEST_CASE("subflow: a completed child returns to next with its points added", "[flow][subflow]") {
  chat c(load({curso_yaml, examen_yaml}));
  c.start("curso");
  c.say("Cuatro");
  CHECK(contains(c.texts(), "Después: completed 2/2"));
  CHECK(c.s.stack.empty());
  CHECK_FALSE(c.s.run.has_value());
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->flow == "curso");
  CHECK(c.s.last->status == "completed");
  CHECK(c.s.last->score == 2);
  CHECK(c.s.last->score_max == 2);
  CHECK(c.s.answers.at("suma").value == "a");  // the child's answers are the learner's
  const auto ends = c.of("end");
  REQUIRE(ends.size() == 2);
  CHECK(ends[0].flow == "examen");
  CHECK(ends[0].status == "completed");
  CHECK(ends[1].flow == "curso");
}

TEST_CASE("subflow: a child that does not complete returns to on_failure", "[flow][subflow]") {
  chat c(load({curso_yaml, examen_yaml}));
  c.start("curso");
  c.say("Cinco");
  CHECK(contains(c.texts(), "Repaso: failed 0/2"));
  CHECK_FALSE(contains(c.texts(), "Después: failed 0/2"));
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->flow == "curso");
  CHECK(c.s.last->score == 0);
  CHECK(c.s.last->score_max == 2);
}

TEST_CASE("subflow: last.status shows the child's status while the caller goes on", "[flow][subflow]") {
  const char* const caller = R"y(
spec: 1
id: llamador
start: modulo
nodes:
  modulo: {subflow: examen, next: ver}
  ver: {question: "{{last.flow}} {{last.status}}", type: text, next: fin}
  fin: {end: completed}
)y";
  chat c(load({caller, examen_yaml}));
  c.start("llamador");
  c.say("Cinco");  // without on_failure a failed child goes to next
  CHECK(c.texts() == strings{"examen failed"});
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "llamador");
  CHECK(c.s.run->node == "ver");
  CHECK(c.s.run->score_max == 2);
}

TEST_CASE("subflow: nesting stops at the depth limit and the runs fail", "[flow][subflow]") {
  chat c(load({bucle_yaml}));
  c.start("bucle");
  // The outermost run and 8 nested ones; the ninth cannot call again and fails.
  CHECK(c.of("start").size() == 9);
  const auto ends = c.of("end");
  CHECK(ends.size() == 9);
  for (const auto& e : ends) CHECK(e.status == "failed");
  CHECK_FALSE(c.s.run.has_value());
  CHECK(c.s.stack.empty());
}

TEST_CASE("subflow: a flow that is not loaded fails the run", "[flow][subflow]") {
  flow_set flows = load({curso_yaml, examen_yaml});
  flows.flows.erase("examen");
  chat c(std::move(flows));
  c.start("curso");
  // The caller's own subflow node fails: its run ends failed.
  CHECK_FALSE(c.s.run.has_value());
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->status == "failed");
}

// ================================================================== webhook

namespace {

chat webhook_chat() {
  chat c(load({registro_yaml}));
  c.s.contact["name"] = "Ana \"La Jefa\" Pérez \\ 2";
  c.s.contact["estado"] = "jal";
  c.s.answers["rol"] = saved_answer{"inspector", "Inspector/a"};
  c.start("registro");
  return c;
}

}  // namespace

TEST_CASE("webhook: asks the host for a request with filled url and JSON-escaped body", "[flow][webhook]") {
  chat c = webhook_chat();
  REQUIRE(c.last.webhooks.size() == 1);
  const auto& w = c.last.webhooks[0];
  CHECK(w.method == "PUT");
  CHECK(w.url == "https://example.org/api/registro/jal");
  CHECK(w.headers.at("Content-Type") == "application/json");
  CHECK(w.timeout_ms == 10'000);
  const json body = json::parse(w.body, nullptr, false);
  REQUIRE_FALSE(body.is_discarded());
  CHECK(body["nombre"] == "Ana \"La Jefa\" Pérez \\ 2");
  CHECK(body["rol"] == "inspector");
  CHECK(c.texts().empty());
  // Its timeout is a timer with the request's id.
  REQUIRE(c.s.run->timer.has_value());
  CHECK(c.s.run->timer->id == w.id);
  const auto t = c.pending("webhook");
  REQUIRE(t.has_value());
  CHECK(t->id == w.id);
  CHECK(t->due_ms == T0 + 10'000);
}

TEST_CASE("webhook: a 2xx answer goes to next and saves the body parsed as JSON", "[flow][webhook]") {
  chat c = webhook_chat();
  const std::string id = c.last.webhooks.at(0).id;
  c.apply(inbound_event::webhook_answer(id, 201, R"({"folio": 123, "ok": true})"));
  CHECK(c.texts() == strings{"Registrado"});
  REQUIRE(c.s.answers.count("registro") == 1);
  CHECK(c.s.answers.at("registro").value == json{{"folio", 123}, {"ok", true}});
  CHECK(c.s.answers.at("registro").text == R"({"folio": 123, "ok": true})");
  CHECK(contains(c.last.timers_cancel, id));
  REQUIRE(c.of("webhook").size() == 1);
  CHECK(c.of("webhook")[0].status == "ok");
  CHECK(c.s.last->status == "completed");
}

TEST_CASE("webhook: a body that is not JSON is saved as text", "[flow][webhook]") {
  chat c = webhook_chat();
  c.apply(inbound_event::webhook_answer(c.last.webhooks.at(0).id, 200, "OK"));
  CHECK(c.s.answers.at("registro").value == "OK");
}

TEST_CASE("webhook: a failed answer goes to on_failure and saves nothing", "[flow][webhook]") {
  for (int status : {500, 404, 0}) {
    INFO(status);
    chat c = webhook_chat();
    c.apply(inbound_event::webhook_answer(c.last.webhooks.at(0).id, status, "{\"error\": 1}"));
    CHECK(c.texts() == strings{"Error"});
    CHECK(c.s.answers.count("registro") == 0);
    REQUIRE(c.of("webhook").size() == 1);
    CHECK(c.of("webhook")[0].status == "failed");
  }
}

TEST_CASE("webhook: no answer within the timeout goes to on_timeout", "[flow][webhook]") {
  chat c = webhook_chat();
  c.fire("webhook");
  CHECK(c.texts() == strings{"Lento"});
  REQUIRE(c.of("webhook").size() == 1);
  CHECK(c.of("webhook")[0].status == "timeout");
  CHECK(c.s.answers.count("registro") == 0);
}

TEST_CASE("webhook: an answer with another id is ignored", "[flow][webhook]") {
  chat c = webhook_chat();
  const session before = c.s;
  const std::string id = c.last.webhooks.at(0).id;
  for (const std::string& other : {std::string("x"), id + "0", c.s.run->id + ".enviar.webhook"}) {
    INFO(other);
    const auto& r = c.apply(inbound_event::webhook_answer(other, 200, "{}"));
    CHECK(r.next.dump() == before.dump());
    CHECK(r.messages.empty());
    CHECK(r.records.empty());
  }
  // The right one still works afterwards.
  c.apply(inbound_event::webhook_answer(id, 200, "{}"));
  CHECK(c.texts() == strings{"Registrado"});
}

TEST_CASE("webhook: a text while waiting for the answer gets the waiting note", "[flow][webhook]") {
  chat c = webhook_chat();
  c.say("¿Hola?");
  CHECK(c.texts() == strings{waiting_es});
  CHECK(c.s.run->node == "enviar");
}

// ================================================================== date questions

TEST_CASE("date question: saves the date typed as YYYY-MM-DD", "[flow][date]") {
  for (const char* typed : {"15/03/2026", "15 de marzo de 2026", "2026-03-15", "March 15, 2026"}) {
    INFO(typed);
    chat c(load({fecha_yaml}));
    c.start("fecha");
    c.say(typed);
    CHECK(c.s.answers.at("inicio").value == "2026-03-15");
    CHECK(c.texts() == strings{"Inicio: 2026-03-15"});
  }
}

TEST_CASE("date question: relative words use the learner's local date", "[flow][date]") {
  chat c(load({fecha_yaml}), "America/Mexico_City");
  c.ctx.now_ms = utc(2026, 1, 6, 3);  // 2026-01-05 21:00 in Mexico City
  c.start("fecha");
  c.say("mañana");
  CHECK(c.s.answers.at("inicio").value == "2026-01-06");

  chat u(load({fecha_yaml}), "UTC");
  u.ctx.now_ms = utc(2026, 1, 6, 3);
  u.start("fecha");
  u.say("ayer");
  CHECK(u.s.answers.at("inicio").value == "2026-01-05");
}

TEST_CASE("date question: an impossible date is invalid and asked again", "[flow][date]") {
  chat c(load({fecha_yaml}));
  c.start("fecha");
  c.say("31/02/2026");
  REQUIRE(c.texts().size() == 1);
  CHECK_THAT(c.texts()[0], StartsWith("Escribe una fecha"));
  CHECK_THAT(c.texts()[0], Contains("¿Cuándo empezaste?"));
  REQUIRE(c.of("invalid").size() == 1);
  CHECK(c.of("invalid")[0].text == "31/02/2026");
  CHECK(c.s.answers.count("inicio") == 0);
  CHECK(c.s.run->node == "cuando");
}

// ================================================================== opt-out keywords

TEST_CASE("STOP, BAJA and ALTO opt out whatever their case and accents", "[flow][keywords]") {
  for (const char* word : {"STOP", "stop", "Baja", "BAJA", "alto", "ÁLTO", " Stop! "}) {
    INFO(word);
    chat c(keyword_flows());
    c.start("encuesta");
    const std::string run = c.s.run->id;
    c.say(word);
    CHECK(c.texts() == strings{stopped_es});
    CHECK(c.last.opted_out == std::optional<bool>(true));
    CHECK(c.s.opted_out);
    CHECK_FALSE(c.s.run.has_value());
    const auto ends = c.of("end");
    REQUIRE(ends.size() == 1);
    CHECK(ends[0].status == "interrupted");
    CHECK(ends[0].run == run);
    CHECK(c.s.answers.count("nombre") == 0);
  }
}

TEST_CASE("opting out twice confirms only once", "[flow][keywords]") {
  chat c(keyword_flows());
  c.start("encuesta");
  c.say("STOP");
  REQUIRE(c.texts().size() == 1);
  c.say("BAJA");
  CHECK(c.last.messages.empty());
  CHECK(c.s.opted_out);
  CHECK(c.last.opted_out != std::optional<bool>(false));
}

TEST_CASE("after opting out texts get no reply but are recorded", "[flow][keywords]") {
  chat c(keyword_flows());
  c.say("baja");
  CHECK(c.s.opted_out);
  for (const char* text : {"hola", "MENU", "ayuda", "encuesta", "1"}) {
    INFO(text);
    c.say(text);
    CHECK(c.last.messages.empty());
    REQUIRE(c.last.records.size() == 1);
    CHECK(c.last.records[0].type == "inbound");
    CHECK(c.last.records[0].text == text);
    CHECK_FALSE(c.s.run.has_value());
  }
}

TEST_CASE("after opting out a start from the host is refused", "[flow][keywords]") {
  chat c(keyword_flows());
  c.say("STOP");
  c.start("encuesta");
  CHECK(c.last.messages.empty());
  CHECK(c.last.records.empty());
  CHECK_FALSE(c.s.run.has_value());
  CHECK(c.s.opted_out);
}

TEST_CASE("START and ALTA opt back in with one confirmation", "[flow][keywords]") {
  for (const char* word : {"START", "alta", "Alta"}) {
    INFO(word);
    chat c(keyword_flows());
    c.say("STOP");
    c.say(word);
    CHECK(c.texts() == strings{restarted_es});
    CHECK(c.last.opted_out == std::optional<bool>(false));
    CHECK_FALSE(c.s.opted_out);
    c.start("encuesta");
    REQUIRE(c.s.run.has_value());
    CHECK(c.texts() == strings{"¿Cómo te llamas?"});
  }
}

TEST_CASE("a keyword that is an option of the question is an answer", "[flow][keywords]") {
  {
    chat c(keyword_flows());
    c.start("marea");
    c.say("Alto");
    CHECK_FALSE(c.s.opted_out);
    CHECK_FALSE(c.last.opted_out.has_value());
    CHECK(c.s.answers.at("volumen").value == "arriba");
  }
  {
    chat c(keyword_flows());
    c.start("marea");
    c.say("baja");
    CHECK_FALSE(c.s.opted_out);
    CHECK(c.s.answers.at("volumen").value == "abajo");
  }
  {
    // STOP is no option there: it still opts out.
    chat c(keyword_flows());
    c.start("marea");
    c.say("stop");
    CHECK(c.s.opted_out);
    CHECK(c.s.answers.count("volumen") == 0);
  }
}

TEST_CASE("a keyword inside a longer message is just text", "[flow][keywords]") {
  for (const char* text : {"no paro", "stop por favor", "me doy de baja"}) {
    INFO(text);
    chat c(keyword_flows());
    c.start("encuesta");
    c.say(text);
    CHECK_FALSE(c.s.opted_out);
    CHECK_FALSE(c.last.opted_out.has_value());
    CHECK(c.s.answers.at("nombre").value == text);
  }
}

// ================================================================== help and menu

TEST_CASE("AYUDA and HELP send the help text and ask the current question again", "[flow][keywords]") {
  for (const char* word : {"AYUDA", "ayuda", "Help"}) {
    INFO(word);
    chat c(keyword_flows());
    c.start("encuesta");
    c.say(word);
    CHECK(c.texts() == strings{"Ayuda: responde a la pregunta.\n\n¿Cómo te llamas?"});
    CHECK(c.s.answers.count("nombre") == 0);
    REQUIRE(c.s.run.has_value());
    CHECK(c.s.run->node == "nombre");
  }
}

TEST_CASE("MENU lists the menu flows and a number picks one", "[flow][keywords]") {
  chat c(keyword_flows());
  c.say("Menú");
  REQUIRE(c.last.messages.size() == 1);
  const auto& m = c.last.messages[0];
  CHECK(m.text == "Elige una actividad:");
  CHECK(m.menu == menu_style::numbered);
  REQUIRE(m.choices.size() == 2);
  CHECK(m.choices[0].label == "Encuesta inicial");
  CHECK(m.choices[1].label == "Lección 1");
  CHECK(c.s.menu_open);

  c.say("2");
  CHECK_FALSE(c.s.menu_open);
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "leccion");
  CHECK(c.texts() == strings{"Bienvenida a la lección", "¿Seguimos?"});
}

TEST_CASE("a tap on a menu entry picks it", "[flow][keywords]") {
  chat c(keyword_flows());
  c.say("MENU");
  REQUIRE(c.last.messages.size() == 1);
  const std::string ref = c.last.messages[0].choices.at(0).ref;
  c.apply(inbound_event::tap(ref));
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "encuesta");
  CHECK_FALSE(c.s.menu_open);
}

TEST_CASE("MENU during a run and a pick starts the picked flow", "[flow][keywords]") {
  chat c(keyword_flows());
  c.start("leccion");
  const std::string old_run = c.s.run->id;
  c.say("menu");
  CHECK(c.s.menu_open);
  c.say("1");
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "encuesta");
  const auto ends = c.of("end");
  REQUIRE(ends.size() == 1);
  CHECK(ends[0].run == old_run);
  CHECK(ends[0].status == "interrupted");
}

// ================================================================== triggers and policies

TEST_CASE("a trigger keyword starts its flow, folded", "[flow][triggers]") {
  for (const char* word : {"encuesta", "ENCUESTA", "Sondeo", "sondeo!"}) {
    INFO(word);
    chat c(keyword_flows());
    c.say(word);
    REQUIRE(c.s.run.has_value());
    CHECK(c.s.run->flow == "encuesta");
    CHECK(c.texts() == strings{"¿Cómo te llamas?"});
  }
}

TEST_CASE("policy interrupt: the old run ends interrupted and the new one starts", "[flow][triggers]") {
  chat c(keyword_flows());
  c.start("leccion");
  const std::string old_run = c.s.run->id;
  c.say("encuesta");
  const auto ends = c.of("end");
  REQUIRE(ends.size() == 1);
  CHECK(ends[0].run == old_run);
  CHECK(ends[0].flow == "leccion");
  CHECK(ends[0].status == "interrupted");
  REQUIRE(c.of("start").size() == 1);
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "encuesta");
  CHECK(c.s.run->id != old_run);
  CHECK(c.texts() == strings{"¿Cómo te llamas?"});
}

TEST_CASE("policy skip: a host start while busy does nothing", "[flow][triggers]") {
  chat c(keyword_flows());
  c.start("encuesta");
  const session before = c.s;
  c.start("repaso", start_policy::skip);
  CHECK(c.s.dump() == before.dump());
  CHECK(c.last.messages.empty());
  CHECK(c.last.records.empty());
}

TEST_CASE("policy skip: a host start when idle starts the flow", "[flow][triggers]") {
  chat c(keyword_flows());
  c.start("repaso", start_policy::skip);
  CHECK(c.texts() == strings{"Repaso"});
}

TEST_CASE("policy skip: a keyword typed while busy is an answer to the question", "[flow][triggers]") {
  chat c(keyword_flows());
  c.start("encuesta");
  c.say("repaso");
  CHECK(c.s.answers.at("nombre").value == "repaso");
  CHECK(c.texts() == strings{"Gracias, repaso."});
  CHECK(c.of("start").empty());
}

TEST_CASE("policy skip: a keyword typed when idle starts its flow", "[flow][triggers]") {
  chat c(keyword_flows());
  c.say("Repaso");
  CHECK(c.texts() == strings{"Repaso"});
  CHECK(c.of("start").size() == 1);
}

TEST_CASE("policy queue: a host start while busy starts when the current run ends", "[flow][triggers]") {
  chat c(keyword_flows());
  c.start("encuesta");
  c.start("leccion", start_policy::queue);
  CHECK(c.last.messages.empty());
  CHECK(c.s.queue == strings{"leccion"});
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "encuesta");

  c.say("Ana");
  CHECK(c.texts() == strings{"Gracias, Ana.", "Bienvenida a la lección", "¿Seguimos?"});
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "leccion");
  CHECK(c.s.queue.empty());
  CHECK(c.record_types() == strings{"answer", "end", "start"});
}

TEST_CASE("policy queue: a keyword typed while busy gets the queued note and the question again",
          "[flow][triggers]") {
  chat c(keyword_flows());
  c.start("encuesta");
  c.say("leccion");
  CHECK(c.texts() == strings{queued_es + "\n\n¿Cómo te llamas?"});
  CHECK(c.s.queue == strings{"leccion"});
  CHECK(c.s.answers.count("nombre") == 0);
  CHECK(c.s.run->flow == "encuesta");
}

TEST_CASE("policy queue: a flow is queued once", "[flow][triggers]") {
  chat c(keyword_flows());
  c.start("encuesta");
  c.start("leccion", start_policy::queue);
  c.start("leccion", start_policy::queue);
  CHECK(c.s.queue == strings{"leccion"});
}

// ================================================================== reset, opt-out event, timers

TEST_CASE("reset clears run, stack, queue and answers but keeps contact", "[flow][reset]") {
  chat c(keyword_flows());
  c.s.contact["name"] = "Ana";
  c.s.answers["previa"] = saved_answer{"x", "x"};
  c.start("curso");
  c.start("leccion", start_policy::queue);
  REQUIRE(c.s.stack.size() == 1);
  REQUIRE(c.s.queue.size() == 1);
  c.apply(inbound_event::of(inbound_event::kind::reset));
  CHECK_FALSE(c.s.run.has_value());
  CHECK(c.s.stack.empty());
  CHECK(c.s.queue.empty());
  CHECK(c.s.answers.empty());
  CHECK(c.s.contact.at("name") == "Ana");
  CHECK(c.last.messages.empty());
  CHECK(c.of("end").size() == 2);
}

TEST_CASE("reset keeps an opt-out", "[flow][reset]") {
  chat c(keyword_flows());
  c.say("STOP");
  c.apply(inbound_event::of(inbound_event::kind::reset));
  CHECK(c.s.opted_out);
  c.start("encuesta");
  CHECK_FALSE(c.s.run.has_value());
}

TEST_CASE("reset cancels the timers of the runs it ends", "[flow][reset]") {
  chat c(keyword_flows());
  c.start("recordar");
  REQUIRE(c.timers.size() == 2);
  c.apply(inbound_event::of(inbound_event::kind::reset));
  CHECK(c.last.timers_cancel.size() == 2);
  CHECK(c.timers.empty());
}

TEST_CASE("an opt_out event from the provider ends the runs without a message", "[flow][optout]") {
  chat c(keyword_flows());
  c.start("curso");
  c.apply(inbound_event::of(inbound_event::kind::opt_out));
  CHECK(c.last.messages.empty());
  CHECK(c.s.opted_out);
  CHECK(c.last.opted_out == std::optional<bool>(true));
  CHECK_FALSE(c.s.run.has_value());
  CHECK(c.s.stack.empty());
  const auto ends = c.of("end");
  REQUIRE(ends.size() == 2);
  for (const auto& e : ends) CHECK(e.status == "interrupted");
}

TEST_CASE("an opt_in event clears the opt-out without a message", "[flow][optout]") {
  chat c(keyword_flows());
  c.apply(inbound_event::of(inbound_event::kind::opt_out));
  c.apply(inbound_event::of(inbound_event::kind::opt_in));
  CHECK(c.last.messages.empty());
  CHECK_FALSE(c.s.opted_out);
  CHECK(c.last.opted_out == std::optional<bool>(false));
}

TEST_CASE("the timers of a run that is interrupted are cancelled", "[flow][timers]") {
  chat c(keyword_flows());
  c.start("recordar");
  const std::string run = c.s.run->id;
  REQUIRE(c.pending("remind").has_value());
  REQUIRE(c.pending("expire").has_value());
  c.say("encuesta");
  CHECK(contains(c.last.timers_cancel, run + ".p.remind"));
  CHECK(contains(c.last.timers_cancel, run + ".expire"));
  CHECK(c.timers.empty());
}

TEST_CASE("the timers of a run stopped by STOP are cancelled", "[flow][timers]") {
  chat c(keyword_flows());
  c.start("recordar");
  c.say("STOP");
  CHECK(c.last.timers_cancel.size() == 2);
  CHECK(c.last.timers_set.empty());
  CHECK(c.timers.empty());
}

TEST_CASE("the timers of a run that completes are cancelled", "[flow][timers]") {
  chat c(keyword_flows());
  c.start("recordar");
  c.say("Rojo");
  CHECK(c.last.timers_cancel.size() == 2);
  CHECK(c.timers.empty());
}

// ================================================================== simulator

namespace {

const char* const dos_pausas_yaml = R"y(
spec: 1
id: dos-pausas
start: p1
nodes:
  p1: {wait: {for: 1h}, next: m1}
  m1: {message: "Primera", next: p2}
  p2: {wait: {for: 90m}, next: m2}
  m2: {message: "Segunda", next: fin}
  fin: {end: completed}
)y";

const char* const orden_yaml = R"y(
spec: 1
id: orden
start: p
expire_after: 150m
on_expire: tarde
nodes:
  p: {question: "¿Listo?", type: text, timeout: {after: 1h, remind: "Recuerda"}, next: fin}
  tarde: {end: expired, message: "Caducó"}
  fin: {end: completed}
)y";

struct output {
  sim_output::kind type;
  std::string text;
  bool operator==(const output& o) const { return type == o.type && text == o.text; }
};
std::ostream& operator<<(std::ostream& os, const output& o) {
  return os << (o.type == sim_output::kind::at ? "at " : o.type == sim_output::kind::request ? "request " : "") << o.text;
}

std::vector<output> outputs(const std::vector<sim_output>& v) {
  std::vector<output> r;
  for (const auto& o : v) r.push_back({o.type, o.text});
  return r;
}

context sim_ctx() {
  context ctx;
  ctx.now_ms = T0;
  ctx.tz = "America/Mexico_City";
  return ctx;
}

}  // namespace

TEST_CASE("simulator: advance fires each timer at its due time, with its local time", "[flow][simulator]") {
  const flow_set flows = load({dos_pausas_yaml});
  simulator sim(flows, sim_ctx());
  CHECK(sim.send(inbound_event::start("dos-pausas")).empty());
  const auto out = outputs(sim.advance(5 * hour));
  const std::vector<output> want = {{sim_output::kind::at, "2026-01-05 10:00"},
                                    {sim_output::kind::message, "Primera"},
                                    {sim_output::kind::at, "2026-01-05 11:30"},
                                    {sim_output::kind::message, "Segunda"}};
  CHECK(out == want);
  CHECK(sim.now() == T0 + 5 * hour);
  CHECK(sim.timers().empty());
  REQUIRE_FALSE(sim.records.empty());
  const auto& end = sim.records.back();
  CHECK(end["type"] == "end");
  CHECK(end["at"] == T0 + hour + 90 * minute);
}

TEST_CASE("simulator: timers fire in due order, not in id order", "[flow][simulator]") {
  const flow_set flows = load({orden_yaml});
  simulator sim(flows, sim_ctx());
  sim.send(inbound_event::start("orden"));
  REQUIRE(sim.timers().size() == 2);
  const auto out = outputs(sim.advance(3 * hour));
  const std::vector<output> want = {{sim_output::kind::at, "2026-01-05 10:00"},
                                    {sim_output::kind::message, "Recuerda\n\n¿Listo?"},
                                    {sim_output::kind::at, "2026-01-05 11:30"},
                                    {sim_output::kind::message, "Caducó"}};
  CHECK(out == want);
  CHECK(sim.now() == T0 + 3 * hour);
  std::vector<std::pair<std::string, std::int64_t>> seen;
  for (const auto& r : sim.records) seen.emplace_back(r["type"].get<std::string>(), r["at"].get<std::int64_t>());
  const std::vector<std::pair<std::string, std::int64_t>> expected = {
      {"start", T0}, {"reminder", T0 + hour}, {"end", T0 + 150 * minute}};
  CHECK(seen == expected);
  CHECK(sim.records.back()["status"] == "expired");
  CHECK(sim.timers().empty());
}

TEST_CASE("simulator: advance short of any due time only moves the clock", "[flow][simulator]") {
  const flow_set flows = load({orden_yaml});
  simulator sim(flows, sim_ctx());
  sim.send(inbound_event::start("orden"));
  CHECK(sim.advance(59 * minute).empty());
  CHECK(sim.now() == T0 + 59 * minute);
  CHECK(sim.timers().size() == 2);
  // Due exactly at the target: fires.
  const auto out = outputs(sim.advance(minute));
  REQUIRE(out.size() == 2);
  CHECK(out[0] == output{sim_output::kind::at, "2026-01-05 10:00"});
  CHECK(sim.now() == T0 + hour);
}

TEST_CASE("simulator: a webhook request is an output and its answer moves on", "[flow][simulator]") {
  const flow_set flows = load({registro_yaml});
  simulator sim(flows, sim_ctx());
  sim.state().contact["estado"] = "jal";
  sim.state().contact["name"] = "Ana";
  const auto out = sim.send(inbound_event::start("registro"));
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == sim_output::kind::request);
  CHECK_THAT(out[0].text, StartsWith("PUT https://example.org/api/registro/jal {"));
  const auto id = sim.pending_webhook();
  REQUIRE(id.has_value());
  const auto answer = outputs(sim.send(inbound_event::webhook_answer(*id, 200, "{}")));
  CHECK(answer == std::vector<output>{{sim_output::kind::message, "Registrado"}});
  CHECK_FALSE(sim.pending_webhook().has_value());
}

// ================================================================== pause after a dead letter

TEST_CASE("a dead letter pauses the course: timers cancelled, reason recorded", "[flow][pause]") {
  chat c(keyword_flows());
  c.start("recordar");
  REQUIRE(c.timers.size() == 2);  // the reminder and the expiry
  c.apply(inbound_event::delivery_failure("telegram: Bad Request: chat not found"));
  CHECK(c.s.paused == "telegram: Bad Request: chat not found");
  CHECK(c.s.paused_at == c.ctx.now_ms);
  CHECK(c.timers.empty());
  CHECK(c.last.messages.empty());
  REQUIRE(c.of("paused").size() == 1);
  CHECK(c.of("paused")[0].value == "telegram: Bad Request: chat not found");
  CHECK(c.s.run->node == "p");  // still where it was

  SECTION("the session keeps the pause across a round trip") {
    auto back = session::parse(c.s.dump());
    CHECK(back.paused == c.s.paused);
    CHECK(back.paused_at == c.s.paused_at);
  }
  SECTION("a second failure changes nothing") {
    c.apply(inbound_event::delivery_failure("again"));
    CHECK(c.s.paused == "telegram: Bad Request: chat not found");
    CHECK(c.last.records.empty());
  }
  SECTION("a broadcast start is queued, not sent") {
    c.start("encuesta");
    CHECK(c.last.messages.empty());
    CHECK(c.s.queue == strings{"encuesta"});
    CHECK(c.s.run->flow == "recordar");
  }
  SECTION("the learner writes: resumed, the question asked again with its timers") {
    c.later(3600 * 1000);
    c.say("hola");
    CHECK(c.s.paused.empty());
    REQUIRE(c.last.messages.size() == 2);
    CHECK(c.last.messages[0].text == "Seguimos donde nos quedamos.");
    CHECK(c.last.messages[1].text.find("¿Color?") != std::string::npos);
    CHECK(c.timers.size() == 2);
    CHECK(c.of("resumed").size() == 1);
    CHECK_FALSE(c.s.answers.count("color"));  // "hola" was not taken as the answer
    c.say("Azul");
    CHECK(c.s.answers.at("color").text == "Azul");
  }
  SECTION("STOP while paused opts out") {
    c.say("STOP");
    CHECK(c.s.opted_out);
    CHECK_FALSE(c.s.run.has_value());
  }
}

TEST_CASE("a paused learner with no run gets the menu on return", "[flow][pause]") {
  chat c(keyword_flows());
  c.apply(inbound_event::delivery_failure("dead letter"));
  CHECK(c.s.paused == "dead letter");
  c.say("hola");
  CHECK(c.s.paused.empty());
  REQUIRE_FALSE(c.last.messages.empty());
  CHECK(c.last.messages[0].text == "Seguimos donde nos quedamos.");
}

// ================================================================== channel details

TEST_CASE("the learner's last message time is kept for the WhatsApp window", "[flow][window]") {
  chat c(keyword_flows());
  c.start("recordar");
  CHECK(c.s.last_in == 0);  // a start by the host is not the learner writing
  c.fire("remind");
  CHECK(c.s.last_in == 0);  // nor is a timer
  c.later(5000);
  c.say("Rojo");
  CHECK(c.s.last_in == c.ctx.now_ms);
  CHECK(session::parse(c.s.dump()).last_in == c.ctx.now_ms);
}

TEST_CASE("the re-engagement quick reply is recorded and answers nothing", "[flow][window]") {
  chat c(keyword_flows());
  c.start("recordar");
  c.apply(inbound_event::tap(continue_choice));
  CHECK(c.last.messages.empty());
  CHECK(c.s.run->node == "p");
  REQUIRE(c.of("inbound").size() == 1);
  CHECK(c.s.last_in == c.ctx.now_ms);
}

TEST_CASE("a channel may add stop and start words (SMS: STOPALL, QUIT…)", "[flow][keywords]") {
  chat c(keyword_flows());
  c.ctx.caps.stop_words = {"stopall", "quit"};
  c.ctx.caps.start_words = {"unstop"};
  c.start("recordar");
  c.say("QUIT");
  CHECK(c.s.opted_out);
  c.say("unstop");
  CHECK_FALSE(c.s.opted_out);
  chat other(keyword_flows());  // without the channel's words "quit" is just text
  other.start("recordar");
  other.say("QUIT");
  CHECK_FALSE(other.s.opted_out);
}
