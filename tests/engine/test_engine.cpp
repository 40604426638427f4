#include "bot/engine/engine.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "bot/authoring/loader.hpp"
#include "tests/support/flow_fixtures.hpp"
#include "bot/engine/render.hpp"
#include "bot/engine/json_text.hpp"

using namespace aula;
using nlohmann::json;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

using aula_test::load;

// A conversation with one learner: every step gets a fresh seed and a later clock.
struct chat {
  flow_set flows;
  session s;
  context ctx;
  step_result last;
  std::vector<result_record> records;  // all records so far
  std::uint64_t seed = 1000;

  explicit chat(flow_set f, int max_buttons = 0) : flows(std::move(f)) {
    ctx.now_ms = 1767625200000;
    ctx.caps.max_buttons = max_buttons;
  }

  const step_result& apply(const inbound_event& ev) {
    ctx.seed = ++seed;
    ctx.now_ms += 60'000;
    last = step(flows, s, ev, ctx);
    s = last.next;
    records.insert(records.end(), last.records.begin(), last.records.end());
    return last;
  }
  const step_result& start(const std::string& flow_id) { return apply(inbound_event::start(flow_id)); }
  const step_result& say(const std::string& text) { return apply(inbound_event::message(text)); }
  // Taps option i of the question being asked.
  const step_result& tap(std::size_t i) {
    REQUIRE(s.run.has_value());
    return apply(inbound_event::tap(choice_ref(s.run->id, s.run->node, i)));
  }

  std::vector<std::string> texts() const {
    std::vector<std::string> v;
    for (const auto& m : last.messages) v.push_back(m.text);
    return v;
  }
  // The records of the last step of one type.
  std::vector<result_record> of(const std::string& type) const {
    std::vector<result_record> v;
    for (const auto& r : last.records)
      if (r.type == type) v.push_back(r);
    return v;
  }
  const saved_answer& answer(const std::string& key) const {
    REQUIRE(s.answers.count(key) == 1);
    return s.answers.at(key);
  }
};

std::vector<std::string> types(const std::vector<result_record>& rs) {
  std::vector<std::string> v;
  for (const auto& r : rs) v.push_back(r.type);
  return v;
}

using strings = std::vector<std::string>;

// Whether any record belongs to a run's progress (a text with no run may still be logged).
bool has_run_record(const std::vector<result_record>& rs) {
  for (const auto& r : rs)
    if (r.type == "start" || r.type == "answer" || r.type == "invalid" || r.type == "quiz" || r.type == "end")
      return true;
  return false;
}

// ------------------------------------------------------------------ flows used below

const char* const chain_yaml = R"y(
spec: 1
id: cadena
start: uno
nodes:
  uno: {message: "Uno", next: dos}
  dos: {message: "Dos", next: nombre}
  nombre: {question: "¿Cómo te llamas?", type: text, save_as: nombre, next: gracias}
  gracias: {message: "Gracias, {{answers.nombre}}.", next: tres}
  tres: {message: "Tres", next: fin}
  fin: {end: completed, message: "Fin"}
)y";

// Labels that are numbers: where positions and labels disagree.
const char* const numbers_yaml = R"y(
spec: 1
id: numeros
start: edad
nodes:
  edad:
    question: "¿A qué edad se puede trabajar?"
    options:
      - {id: quince, label: "15"}
      - {id: dieciseis, label: "16"}
      - {id: diecisiete, label: "17"}
    save_as: edad
    next: orden
  orden:
    question: "¿Cuál?"
    options:
      - {id: x, label: "3"}
      - {id: y, label: "1"}
      - {id: z, label: "2"}
    save_as: orden
    next: fin
  fin: {end: completed}
)y";

const char* const roles_yaml = R"y(
spec: 1
id: roles
start: rol
nodes:
  rol:
    question: "¿Cuál es tu función?"
    options:
      - {id: insp-fed, label: "Inspector/a federal"}
      - {id: insp-loc, label: "Inspector/a local"}
      - {id: otro, label: "Otra función"}
    save_as: rol
    next: acuerdo
  acuerdo:
    question: "¿Estás de acuerdo?"
    options:
      - {id: afirmativo, label: "Sí"}
      - {id: negativo, label: "No"}
    save_as: acuerdo
    next: fin
  fin: {end: completed, message: "Rol: {{answers.rol}}"}
)y";

const char* const retries_yaml = R"y(
spec: 1
id: reintentos
start: color
nodes:
  color:
    question: "¿Rojo o azul?"
    options: [Rojo, Azul]
    invalid: "Elige rojo o azul, {{contact.name|colega}}."
    max_retries: 1
    on_invalid: ayuda
    save_as: color
    next: fin
  ayuda: {message: "Lo vemos luego.", next: talla}
  talla:
    question: "¿Talla?"
    options: [Chica, Grande]
    save_as: talla
    next: fin
  fin: {end: completed}
)y";

const char* const types_yaml = R"y(
spec: 1
id: tipos
start: edad
nodes:
  edad: {question: "¿Cuántos años tienes?", type: number, min: 0, max: 60, save_as: edad, next: horas}
  horas: {question: "¿Cuántas horas?", type: number, min: 1, save_as: horas, next: escala}
  escala: {question: "Del 1 al 5, ¿qué tal?", type: scale, save_as: escala, next: nps}
  nps: {question: "Del 0 al 10, ¿nos recomiendas?", type: nps, save_as: nps, next: temas}
  temas:
    question: "¿Qué temas te interesan?"
    type: multi
    options:
      - {id: salud, label: "Salud"}
      - {id: seguridad, label: "Seguridad"}
      - {id: salario, label: "Salario"}
      - {id: jornada, label: "Jornada"}
    max_choices: 2
    save_as: temas
    next: comentario
  comentario: {question: "¿Algún comentario?", type: text, save_as: comentario, next: fin}
  fin: {end: completed, message: "Dijiste: {{answers.comentario}}"}
)y";

const char* const quiz_yaml = R"y(
spec: 1
id: examen
start: edad
nodes:
  edad:
    quiz: "¿Edad mínima para trabajar?"
    options:
      - {id: a, label: "14 años", feedback: "A los 14 aún está prohibido."}
      - {id: b, label: "15 años", correct: true}
      - {id: c, label: "18 años"}
    feedback: {correct: "¡Correcto!", incorrect: "La respuesta es 15 años.", retry: "Piénsalo otra vez."}
    points: 2
    attempts: 2
    save_as: edad
    next: mina
  mina:
    quiz: "¿Se permite trabajar en una mina a los 16?"
    options:
      - {id: si, label: "Sí"}
      - {id: "no", label: "No", correct: true}
    points: 1
    max_retries: 0
    next: fin
  fin: {end: completed, message: "Puntaje: {{score.total}}/{{score.max}}"}
)y";

const char* const lang_yaml = R"y(
spec: 1
id: idiomas
language: es
start: hola
nodes:
  hola: {message: {es: "Hola {{contact.name|colega}}", en: "Hello {{contact.name|colleague}}"}, next: listo}
  listo:
    question: {es: "¿Listo?"}
    options:
      - {id: afirmativo, label: {es: "Sí", en: "Yes"}}
      - {id: negativo, label: "No"}
    save_as: listo
    next: fin
  fin: {end: failed, message: {es: "Adiós", en: "Bye"}}
)y";

const char* const short_yaml = R"y(
spec: 1
id: corto
start: p
nodes:
  p: {question: "¿Sí o no?", options: ["Sí", "No"], save_as: p, next: fin}
  fin: {end: completed}
)y";

}  // namespace

// ================================================================== start and chains

TEST_CASE("start sends a chain of messages until the first question", "[engine][start]") {
  chat c(load({chain_yaml}));
  c.start("cadena");
  CHECK(c.texts() == strings{"Uno", "Dos", "¿Cómo te llamas?"});
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "cadena");
  CHECK(c.s.run->node == "nombre");
  CHECK(c.last.messages[0].node == "uno");
  CHECK(c.last.messages[2].node == "nombre");
  CHECK(c.last.messages[2].menu == menu_style::none);
  CHECK(c.last.messages[2].choices.empty());
}

TEST_CASE("start records a start record and nothing else", "[engine][start]") {
  chat c(load({chain_yaml}));
  c.start("cadena");
  REQUIRE(c.last.records.size() == 1);
  const auto& r = c.last.records[0];
  CHECK(r.type == "start");
  CHECK(r.flow == "cadena");
  CHECK(r.run == c.s.run->id);
  CHECK(r.id == c.s.run->id + ".1");
  CHECK(r.at == c.ctx.now_ms);
  CHECK(c.s.run->started_at == c.ctx.now_ms);
}

TEST_CASE("after an answer the run goes through messages to the end", "[engine][start]") {
  chat c(load({chain_yaml}));
  c.start("cadena");
  c.say("Ana");
  CHECK(c.texts() == strings{"Gracias, Ana.", "Tres", "Fin"});
  CHECK_FALSE(c.s.run.has_value());
  CHECK(types(c.last.records) == strings{"answer", "end"});
}

TEST_CASE("starting an unknown flow changes nothing", "[engine][start]") {
  chat c(load({chain_yaml}));
  const std::string before = c.s.dump();
  c.start("no-existe");
  CHECK(c.last.messages.empty());
  CHECK(c.last.records.empty());
  CHECK(c.s.dump() == before);
}

// ================================================================== choice matching

TEST_CASE("numbered menu: a number in range is the position even when a label is that number",
          "[engine][choice]") {
  chat c(load({numbers_yaml}));  // max_buttons = 0: numbered menus
  c.start("numeros");
  REQUIRE(c.last.messages.size() == 1);
  CHECK(c.last.messages[0].menu == menu_style::numbered);
  c.say("2");
  CHECK(c.answer("edad").value == "dieciseis");
  CHECK(c.answer("edad").text == "16");
  // Labels 3, 1, 2: "1" is the first option (x, labelled 3), not the one labelled 1.
  CHECK(c.last.messages.back().menu == menu_style::numbered);
  c.say("1");
  CHECK(c.answer("orden").value == "x");
}

TEST_CASE("numbered menu: a number out of range falls back to the label", "[engine][choice]") {
  chat c(load({numbers_yaml}));
  c.start("numeros");
  c.say("15");
  CHECK(c.answer("edad").value == "quince");
  c.start("numeros");
  c.say("17");
  CHECK(c.answer("edad").value == "diecisiete");
}

TEST_CASE("button menu: a label wins over a position", "[engine][choice]") {
  chat c(load({numbers_yaml}), 3);  // up to 3 options shown as buttons
  c.start("numeros");
  REQUIRE(c.last.messages.size() == 1);
  CHECK(c.last.messages[0].menu == menu_style::buttons);
  c.say("15");
  CHECK(c.answer("edad").value == "quince");
  CHECK(c.last.messages.back().menu == menu_style::buttons);
  c.say("1");  // the option labelled "1" (y), not the first one (x, labelled "3")
  CHECK(c.answer("orden").value == "y");
}

TEST_CASE("button menu: a number that is no label is still a position", "[engine][choice]") {
  chat c(load({numbers_yaml}), 3);
  c.start("numeros");
  c.say("2");
  CHECK(c.answer("edad").value == "dieciseis");
}

TEST_CASE("a menu with more options than the channel's buttons is numbered", "[engine][choice]") {
  chat c(load({numbers_yaml}), 2);
  c.start("numeros");
  CHECK(c.last.messages[0].menu == menu_style::numbered);
  c.say("2");
  CHECK(c.answer("edad").value == "dieciseis");
}

TEST_CASE("a label matches regardless of case, accents and punctuation", "[engine][choice]") {
  for (const char* reply : {"si", "Sí", "SI", "¡SÍ!", "  sí 👍 "}) {
    DYNAMIC_SECTION("reply " << reply) {
      chat c(load({roles_yaml}));
      c.start("roles");
      c.say("3");
      c.say(reply);
      CHECK(c.answer("acuerdo").value == "afirmativo");
      CHECK(c.answer("acuerdo").text == "Sí");
    }
  }
}

TEST_CASE("a full label with different case matches its option", "[engine][choice]") {
  chat c(load({roles_yaml}));
  c.start("roles");
  c.say("INSPECTOR/A LOCAL");
  CHECK(c.answer("rol").value == "insp-loc");
}

TEST_CASE("an option id matches its option", "[engine][choice]") {
  chat c(load({roles_yaml}));
  c.start("roles");
  c.say("otro");
  CHECK(c.answer("rol").value == "otro");
  c.say("Negativo");
  CHECK(c.answer("acuerdo").value == "negativo");
}

TEST_CASE("a word found whole in exactly one label picks that option", "[engine][choice]") {
  chat c(load({roles_yaml}));
  c.start("roles");
  c.say("federal");
  CHECK(c.answer("rol").value == "insp-fed");
  CHECK(c.answer("rol").text == "Inspector/a federal");
  CHECK(c.texts().front() == "¿Estás de acuerdo?");
}

TEST_CASE("a word found in several labels is ambiguous and invalid", "[engine][choice]") {
  chat c(load({roles_yaml}));
  c.start("roles");
  c.say("inspector");
  CHECK(c.s.answers.count("rol") == 0);
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->node == "rol");
  CHECK(types(c.last.records) == strings{"invalid"});
}

TEST_CASE("part of a word does not match a label", "[engine][choice]") {
  chat c(load({roles_yaml}));
  c.start("roles");
  c.say("fede");
  CHECK(c.s.answers.count("rol") == 0);
  CHECK(types(c.last.records) == strings{"invalid"});
}

// ================================================================== invalid replies

TEST_CASE("an invalid reply sends the node's invalid text and asks again", "[engine][invalid]") {
  chat c(load({retries_yaml}));
  c.s.contact["name"] = "Ana";
  c.start("reintentos");
  c.say("verde");
  REQUIRE(c.last.messages.size() == 1);
  const auto& m = c.last.messages[0];
  CHECK_THAT(m.text, StartsWith("Elige rojo o azul, Ana."));
  CHECK_THAT(m.text, Contains("¿Rojo o azul?"));
  CHECK(m.node == "color");
  CHECK(m.menu == menu_style::numbered);
  REQUIRE(m.choices.size() == 2);
  CHECK(m.choices[0].label == "Rojo");
  CHECK(m.choices[1].label == "Azul");
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->node == "color");
  CHECK(c.s.run->retries == 1);
}

TEST_CASE("an invalid reply without invalid text gets the built-in one", "[engine][invalid]") {
  chat c(load({roles_yaml}));
  c.start("roles");
  c.say("ninguna de esas");
  REQUIRE(c.last.messages.size() == 1);
  CHECK_THAT(c.last.messages[0].text,
             StartsWith("No entendí tu respuesta. Responde con el número o el texto de una opción."));
  CHECK_THAT(c.last.messages[0].text, Contains("¿Cuál es tu función?"));
  CHECK(c.last.messages[0].choices.size() == 3);
}

TEST_CASE("built-in texts follow the learner's language", "[engine][invalid]") {
  chat c(load({roles_yaml}));
  c.s.lang = "en";
  c.start("roles");
  c.say("nothing");
  REQUIRE(c.last.messages.size() == 1);
  CHECK_THAT(c.last.messages[0].text, StartsWith("Sorry, I didn't get that."));
}

TEST_CASE("every invalid reply is recorded with exactly what the learner typed", "[engine][invalid]") {
  chat c(load({retries_yaml}));
  c.start("reintentos");
  const std::string first = "  verde 🟢 ";
  c.say(first);
  REQUIRE(c.last.records.size() == 1);
  const auto& r = c.last.records[0];
  CHECK(r.type == "invalid");
  CHECK(r.text == first);
  CHECK(r.value == first);
  CHECK(r.node == "color");
  CHECK(r.attempt == 1);
  CHECK(r.to_json().at("text") == first);
}

TEST_CASE("after max_retries+1 invalid replies the run leaves through on_invalid, answer skipped",
          "[engine][invalid]") {
  chat c(load({retries_yaml}));  // max_retries: 1, on_invalid: ayuda
  c.start("reintentos");
  c.say("verde");
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->node == "color");
  c.say("morado");
  CHECK(types(c.last.records) == strings{"invalid", "answer"});
  CHECK(c.last.records[0].text == "morado");
  CHECK(c.last.records[0].attempt == 2);
  CHECK(c.last.records[1].status == "skipped");
  CHECK(c.last.records[1].node == "color");
  CHECK(c.texts() == strings{"Lo vemos luego.", "¿Talla?"});
  CHECK(c.s.answers.count("color") == 0);
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->node == "talla");
  CHECK(c.s.run->retries == 0);
}

TEST_CASE("without on_invalid, too many invalid replies go to next", "[engine][invalid]") {
  chat c(load({retries_yaml}));
  c.start("reintentos");
  c.say("x");
  c.say("y");  // color: max_retries 1, on_invalid: ayuda
  REQUIRE(c.s.run.has_value());
  REQUIRE(c.s.run->node == "talla");
  c.say("a");  // talla: default max_retries 2, no on_invalid
  c.say("b");
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->node == "talla");
  CHECK(c.s.run->retries == 2);
  c.say("c");
  CHECK(types(c.last.records) == strings{"invalid", "answer", "end"});
  CHECK(c.last.records[1].status == "skipped");
  CHECK(c.last.records[2].status == "completed");
  CHECK_FALSE(c.s.run.has_value());
}

TEST_CASE("a valid answer after invalid ones is recorded as answered", "[engine][invalid]") {
  chat c(load({retries_yaml}));
  c.start("reintentos");
  c.say("verde");
  c.say("azul");
  REQUIRE(c.last.records.size() >= 1);
  CHECK(c.last.records[0].type == "answer");
  CHECK(c.last.records[0].status == "answered");
  CHECK(c.last.records[0].value == "azul");
  CHECK(c.last.records[0].attempt == 2);
  CHECK(c.answer("color").text == "Azul");
}

// ================================================================== question types

TEST_CASE("number questions accept numbers in range, with comma decimals", "[engine][number]") {
  chat c(load({types_yaml}));
  c.start("tipos");
  c.say("3,5");
  CHECK(c.answer("edad").value.get<double>() == 3.5);
  CHECK(c.answer("edad").text == "3.5");
  CHECK(c.last.records[0].text == "3,5");
  c.say("tengo 8 horas");
  CHECK(c.answer("horas").value.get<double>() == 8.0);
  CHECK(c.answer("horas").text == "8");
}

TEST_CASE("number questions refuse numbers out of range and non-numbers", "[engine][number]") {
  chat c(load({types_yaml}));
  c.start("tipos");
  for (const char* bad : {"61", "-1", "entre 3 y 4", "muchos"}) {
    INFO(bad);
    c.say(bad);
    CHECK(types(c.last.records) == strings{"invalid"});
    c.s.run->retries = 0;  // keep asking without hitting max_retries
  }
  CHECK_THAT(c.texts().front(), StartsWith("Responde con un número entre 0 y 60."));
  c.say("60");
  CHECK(c.answer("edad").value.get<double>() == 60.0);
  c.say("0");  // horas: min 1
  CHECK_THAT(c.texts().front(), StartsWith("Responde con un número, por favor."));
  CHECK(c.s.answers.count("horas") == 0);
}

TEST_CASE("scale questions take 1 to 5 as labels", "[engine][scale]") {
  chat c(load({types_yaml}));
  c.start("tipos");
  c.say("20");
  c.say("4");
  REQUIRE(c.s.run->node == "escala");
  const auto& m = c.last.messages.back();
  CHECK(m.menu == menu_style::inline_numbers);
  REQUIRE(m.choices.size() == 5);
  CHECK(m.choices.front().label == "1");
  CHECK(m.choices.back().label == "5");
  c.say("6");
  CHECK(types(c.last.records) == strings{"invalid"});
  CHECK_THAT(c.texts().front(), StartsWith("Responde con un número del 1 al 5."));
  c.say("0");
  CHECK(types(c.last.records) == strings{"invalid"});
  c.say("5");
  CHECK(c.answer("escala").value == 5);
  CHECK(c.answer("escala").value.is_number());
}

TEST_CASE("nps questions take 0 to 10 and 0 is a valid answer", "[engine][scale]") {
  chat c(load({types_yaml}));
  c.start("tipos");
  c.say("20");
  c.say("4");
  c.say("3");
  REQUIRE(c.s.run->node == "nps");
  const auto& m = c.last.messages.back();
  CHECK(m.menu == menu_style::inline_numbers);
  REQUIRE(m.choices.size() == 11);
  CHECK(m.choices.front().label == "0");
  CHECK(m.choices.back().label == "10");
  c.say("11");
  CHECK(types(c.last.records) == strings{"invalid"});
  CHECK_THAT(c.texts().front(), StartsWith("Responde con un número del 0 al 10."));
  c.say("0");
  CHECK(c.answer("nps").value == 0);
  CHECK(c.s.run->node == "temas");
}

TEST_CASE("nps: 10 is the label 10, not a position", "[engine][scale]") {
  chat c(load({types_yaml}));
  c.start("tipos");
  c.say("20");
  c.say("4");
  c.say("3");
  c.say("10");
  CHECK(c.answer("nps").value == 10);
  c.start("tipos");
  c.say("20");
  c.say("4");
  c.say("3");
  c.say("1");
  CHECK(c.answer("nps").value == 1);
}

namespace {
void to_multi(chat& c) {
  c.start("tipos");
  c.say("20");
  c.say("4");
  c.say("3");
  c.say("9");
  REQUIRE(c.s.run.has_value());
  REQUIRE(c.s.run->node == "temas");
}
}  // namespace

TEST_CASE("multi questions save the chosen ids as an array", "[engine][multi]") {
  chat c(load({types_yaml}));
  to_multi(c);
  const auto& m = c.last.messages.back();
  CHECK(m.menu == menu_style::numbered);
  CHECK_THAT(m.text, Contains("hasta 2"));  // the hint says how many may be chosen
  c.say("1, 3");
  CHECK(c.answer("temas").value == json::array({"salud", "salario"}));
  CHECK(c.answer("temas").text == "Salud, Salario");
  const auto& r = c.last.records.front();
  CHECK(r.type == "answer");
  CHECK(r.value == json::array({"salud", "salario"}));
}

TEST_CASE("multi questions accept labels joined by 'y' and a single choice", "[engine][multi]") {
  chat c(load({types_yaml}));
  to_multi(c);
  c.say("salud y seguridad");
  CHECK(c.answer("temas").value == json::array({"salud", "seguridad"}));
  to_multi(c);
  c.say("4");
  CHECK(c.answer("temas").value == json::array({"jornada"}));
  to_multi(c);
  c.say("2 2");
  CHECK(c.answer("temas").value == json::array({"seguridad"}));
}

TEST_CASE("multi questions refuse more than max_choices or an unknown part", "[engine][multi]") {
  chat c(load({types_yaml}));
  to_multi(c);
  c.say("1, 2, 3");
  CHECK(types(c.last.records) == strings{"invalid"});
  CHECK(c.s.answers.count("temas") == 0);
  CHECK_THAT(c.texts().front(), StartsWith("Elige entre 1 y 2 opciones"));
  c.say("1, 9");
  CHECK(types(c.last.records) == strings{"invalid"});
  CHECK(c.s.run->node == "temas");
}

TEST_CASE("text questions save the trimmed text verbatim, emoji included", "[engine][text]") {
  chat c(load({types_yaml}));
  to_multi(c);
  c.say("1");
  REQUIRE(c.s.run->node == "comentario");
  const std::string typed = "  ¡Muy útil! 👋🏽 {{contact.name}}\xC2\xA0";
  c.say(typed);
  CHECK(c.answer("comentario").value == "¡Muy útil! 👋🏽 {{contact.name}}");
  CHECK(c.answer("comentario").text == "¡Muy útil! 👋🏽 {{contact.name}}");
  const auto answers = c.of("answer");
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].text == typed);
  // The learner's "{{…}}" is shown as typed, never expanded.
  CHECK(c.texts() == strings{"Dijiste: ¡Muy útil! 👋🏽 {{contact.name}}"});
}

TEST_CASE("text questions refuse an empty or blank reply", "[engine][text]") {
  chat c(load({types_yaml}));
  to_multi(c);
  c.say("1");
  c.say(" \xC2\xA0\xE2\x80\x8B ");
  CHECK(types(c.last.records) == strings{"invalid"});
  CHECK_THAT(c.texts().front(), StartsWith("Escribe tu respuesta con texto, por favor."));
  c.say("");
  CHECK(types(c.last.records) == strings{"invalid"});
  CHECK(c.last.records[0].text.empty());
}

// ================================================================== quiz

TEST_CASE("quiz: correct on the first try adds the points and sends feedback.correct", "[engine][quiz]") {
  chat c(load({quiz_yaml}));
  c.start("examen");
  c.say("2");
  REQUIRE(c.last.records.size() == 1);
  const auto& r = c.last.records[0];
  CHECK(r.type == "quiz");
  CHECK(r.value == "b");
  CHECK(r.correct);
  CHECK(r.final);
  CHECK(r.attempt == 1);
  CHECK(r.points == 2);
  CHECK(c.texts() == strings{"¡Correcto!", "¿Se permite trabajar en una mina a los 16?"});
  CHECK(c.s.run->score == 2);
  CHECK(c.s.run->score_max == 2);
  CHECK(c.answer("edad").value == "b");
  CHECK(c.answer("edad").text == "15 años");
}

TEST_CASE("quiz: a wrong try with attempts left sends retry feedback and asks again", "[engine][quiz]") {
  chat c(load({quiz_yaml}));
  c.start("examen");
  c.say("3");
  REQUIRE(c.last.records.size() == 1);
  const auto& r = c.last.records[0];
  CHECK(r.type == "quiz");
  CHECK(r.value == "c");
  CHECK_FALSE(r.correct);
  CHECK_FALSE(r.final);
  CHECK(r.attempt == 1);
  CHECK(r.points == 0);
  REQUIRE(c.last.messages.size() == 1);
  CHECK_THAT(c.last.messages[0].text, StartsWith("Piénsalo otra vez."));
  CHECK_THAT(c.last.messages[0].text, Contains("¿Edad mínima para trabajar?"));
  CHECK(c.last.messages[0].choices.size() == 3);
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->node == "edad");
  CHECK(c.s.run->score == 0);
  CHECK(c.s.run->score_max == 0);
  CHECK(c.s.answers.count("edad") == 0);
}

TEST_CASE("quiz: right on the second attempt still earns the points", "[engine][quiz]") {
  chat c(load({quiz_yaml}));
  c.start("examen");
  c.say("3");
  c.say("15 años");
  const auto q = c.of("quiz");
  REQUIRE(q.size() == 1);
  CHECK(q[0].correct);
  CHECK(q[0].final);
  CHECK(q[0].attempt == 2);
  CHECK(q[0].points == 2);
  CHECK(c.s.run->score == 2);
  CHECK(c.s.run->score_max == 2);
}

TEST_CASE("quiz: wrong on the last attempt sends feedback.incorrect and scores 0 of the points",
          "[engine][quiz]") {
  chat c(load({quiz_yaml}));
  c.start("examen");
  c.say("3");
  c.say("3");
  const auto q = c.of("quiz");
  REQUIRE(q.size() == 1);
  CHECK_FALSE(q[0].correct);
  CHECK(q[0].final);
  CHECK(q[0].attempt == 2);
  CHECK(q[0].points == 0);
  CHECK(c.texts().front() == "La respuesta es 15 años.");
  CHECK(c.s.run->score == 0);
  CHECK(c.s.run->score_max == 2);
  CHECK(c.answer("edad").value == "c");
}

TEST_CASE("quiz: an option's own feedback replaces the general feedback", "[engine][quiz]") {
  chat c(load({quiz_yaml}));
  c.start("examen");
  c.say("1");  // a: has its own feedback; attempts are left
  REQUIRE(c.last.messages.size() == 1);
  CHECK_THAT(c.last.messages[0].text, StartsWith("A los 14 aún está prohibido."));
  CHECK_THAT(c.last.messages[0].text, !Contains("Piénsalo otra vez."));
  c.say("14 años");  // last attempt
  CHECK(c.texts().front() == "A los 14 aún está prohibido.");
  for (const auto& t : c.texts()) CHECK_THAT(t, !Contains("La respuesta es 15 años."));
}

TEST_CASE("quiz: without feedback texts a wrong try gets the built-in retry text", "[engine][quiz]") {
  const char* yaml = R"y(
spec: 1
id: sin-feedback
start: q
nodes:
  q:
    quiz: "¿2+2?"
    options: [{id: a, label: "3"}, {id: b, label: "4", correct: true}]
    attempts: 2
    next: fin
  fin: {end: completed}
)y";
  chat c(load({yaml}));
  c.start("sin-feedback");
  c.say("1");
  REQUIRE(c.last.messages.size() == 1);
  CHECK_THAT(c.last.messages[0].text, StartsWith("No es correcto. Inténtalo de nuevo."));
}

TEST_CASE("quiz: skipped through invalid replies counts its points in score_max", "[engine][quiz]") {
  chat c(load({quiz_yaml}));
  c.start("examen");
  c.say("2");
  REQUIRE(c.s.run->node == "mina");
  c.say("quizás");  // max_retries: 0
  CHECK(types(c.last.records) == strings{"invalid", "quiz", "end"});
  CHECK(c.last.records[1].status == "skipped");
  CHECK(c.last.records[1].node == "mina");
  CHECK(c.texts().back() == "Puntaje: 2/3");
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->score == 2);
  CHECK(c.s.last->score_max == 3);
}

// ================================================================== end

TEST_CASE("an end node records its status, clears the run and sets last", "[engine][end]") {
  chat c(load({quiz_yaml}));
  c.start("examen");
  const std::string run_id = c.s.run->id;
  c.say("2");
  c.say("no");
  CHECK(c.texts() == strings{"Puntaje: 3/3"});
  const auto ends = c.of("end");
  REQUIRE(ends.size() == 1);
  CHECK(ends[0].status == "completed");
  CHECK(ends[0].run == run_id);
  CHECK(ends[0].node == "fin");
  CHECK(ends[0].points == 3);
  CHECK(ends[0].value == json{{"score", 3}, {"max", 3}});
  CHECK_FALSE(c.s.run.has_value());
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->flow == "examen");
  CHECK(c.s.last->status == "completed");
  CHECK(c.s.last->score == 3);
  CHECK(c.s.last->score_max == 3);
}

TEST_CASE("end message shows score total and max with a wrong answer", "[engine][end]") {
  chat c(load({quiz_yaml}));
  c.start("examen");
  c.say("3");
  c.say("1");
  c.say("sí");
  CHECK(c.texts().back() == "Puntaje: 0/3");
}

TEST_CASE("an end node with status failed records failed", "[engine][end]") {
  chat c(load({lang_yaml}));
  c.start("idiomas");
  c.say("1");
  CHECK(c.texts() == strings{"Adiós"});
  REQUIRE(c.of("end").size() == 1);
  CHECK(c.of("end")[0].status == "failed");
  REQUIRE(c.s.last.has_value());
  CHECK(c.s.last->status == "failed");
}

// ================================================================== languages

TEST_CASE("texts are picked in the session's language", "[engine][lang]") {
  chat c(load({lang_yaml}));
  c.s.lang = "en";
  c.s.contact["name"] = "Ann";
  c.start("idiomas");
  REQUIRE(c.last.messages.size() == 2);
  CHECK(c.last.messages[0].text == "Hello Ann");
  // No English prompt: the base language is used; labels are translated where they can be.
  CHECK(c.last.messages[1].text == "¿Listo?");
  REQUIRE(c.last.messages[1].choices.size() == 2);
  CHECK(c.last.messages[1].choices[0].label == "Yes");
  CHECK(c.last.messages[1].choices[1].label == "No");
  c.say("yes");
  CHECK(c.answer("listo").value == "afirmativo");
  CHECK(c.answer("listo").text == "Yes");
  CHECK(c.texts() == strings{"Bye"});
}

TEST_CASE("a language the flow lacks falls back to the flow's base language", "[engine][lang]") {
  chat c(load({lang_yaml}));
  c.s.lang = "pt";
  c.start("idiomas");
  REQUIRE(c.last.messages.size() == 2);
  CHECK(c.last.messages[0].text == "Hola colega");
  CHECK(c.last.messages[1].choices[0].label == "Sí");
}

TEST_CASE("the host's default language applies when the session has none", "[engine][lang]") {
  chat c(load({lang_yaml}));
  c.ctx.default_lang = "en";
  c.start("idiomas");
  CHECK(c.last.messages[0].text == "Hello colleague");
  c.s.lang = "es";
  c.start("idiomas");
  CHECK(c.last.messages[0].text == "Hola colega");
}

TEST_CASE("a label in another language of the flow still matches", "[engine][lang]") {
  chat c(load({lang_yaml}));
  c.s.lang = "es";
  c.start("idiomas");
  c.say("Yes");
  CHECK(c.answer("listo").value == "afirmativo");
  CHECK(c.answer("listo").text == "Sí");
}

// ================================================================== taps

TEST_CASE("a tap on an option of the current question answers it", "[engine][tap]") {
  chat c(load({roles_yaml}), 3);
  c.start("roles");
  const auto& m = c.last.messages.back();
  REQUIRE(m.choices.size() == 3);
  CHECK(m.choices[1].ref == choice_ref(c.s.run->id, "rol", 1));
  CHECK(m.choices[1].label == "Inspector/a local");
  c.apply(inbound_event::tap(m.choices[1].ref));
  CHECK(c.answer("rol").value == "insp-loc");
  const auto a = c.of("answer");
  REQUIRE(a.size() == 1);
  CHECK(a[0].text == "Inspector/a local");
  CHECK(c.s.run->node == "acuerdo");
}

TEST_CASE("choice refs are short and differ by run, node and option", "[engine][tap]") {
  const std::string r = choice_ref("0123456789ab", "pregunta-con-un-nombre-bastante-largo", 10);
  CHECK(r.size() <= 64);
  CHECK(r != choice_ref("0123456789ac", "pregunta-con-un-nombre-bastante-largo", 10));
  CHECK(r != choice_ref("0123456789ab", "pregunta-con-un-nombre-bastante-larga", 10));
  CHECK(r != choice_ref("0123456789ab", "pregunta-con-un-nombre-bastante-largo", 1));
  CHECK(r == choice_ref("0123456789ab", "pregunta-con-un-nombre-bastante-largo", 10));
}

// The session apart from when the learner last wrote (which every message updates).
std::string state_of(session s) {
  s.last_in = 0;
  return s.dump();
}

TEST_CASE("a tap from another run is stale: no record, the question is sent again", "[engine][tap]") {
  chat c(load({roles_yaml}), 3);
  c.start("roles");
  const std::string old_ref = c.last.messages.back().choices[0].ref;
  c.start("roles");  // a new run of the same flow
  REQUIRE(c.s.run.has_value());
  const std::string before = state_of(c.s);
  c.apply(inbound_event::tap(old_ref));
  CHECK(c.last.records.empty());
  CHECK(state_of(c.s) == before);
  REQUIRE(c.last.messages.size() == 1);
  CHECK(c.last.messages[0].node == "rol");
  CHECK_THAT(c.last.messages[0].text, Contains("¿Cuál es tu función?"));
  CHECK(c.last.messages[0].choices.size() == 3);
}

TEST_CASE("a tap naming another node is stale", "[engine][tap]") {
  chat c(load({roles_yaml}), 3);
  c.start("roles");
  const std::string before = state_of(c.s);
  c.apply(inbound_event::tap(choice_ref(c.s.run->id, "acuerdo", 0)));
  CHECK(c.last.records.empty());
  CHECK(state_of(c.s) == before);
  REQUIRE(c.last.messages.size() == 1);
  CHECK_THAT(c.last.messages[0].text, Contains("¿Cuál es tu función?"));
  // An earlier question's button does not answer the current one either.
  c.say("1");
  const std::string earlier = choice_ref(c.s.run->id, "rol", 0);
  const std::string mid = state_of(c.s);
  c.apply(inbound_event::tap(earlier));
  CHECK(c.last.records.empty());
  CHECK(state_of(c.s) == mid);
  CHECK_THAT(c.last.messages.at(0).text, Contains("¿Estás de acuerdo?"));
}

TEST_CASE("a tap on an option index the question does not have is stale", "[engine][tap]") {
  chat c(load({roles_yaml}), 3);
  c.start("roles");
  c.apply(inbound_event::tap(choice_ref(c.s.run->id, "rol", 3)));
  CHECK(c.last.records.empty());
  CHECK(c.s.answers.empty());
  c.apply(inbound_event::tap("basura"));
  CHECK(c.last.records.empty());
  CHECK(c.s.run->node == "rol");
}

TEST_CASE("a tap on a quiz option answers the quiz", "[engine][tap]") {
  chat c(load({quiz_yaml}), 3);
  c.start("examen");
  c.tap(1);
  const auto q = c.of("quiz");
  REQUIRE(q.size() == 1);
  CHECK(q[0].value == "b");
  CHECK(q[0].correct);
}

// ================================================================== no run, interruptions

TEST_CASE("a text with no run in progress gets the idle text", "[engine][idle]") {
  chat c(load({roles_yaml}));
  const std::string before = state_of(c.s);
  c.say("hola");
  REQUIRE(c.last.messages.size() == 1);
  CHECK(c.last.messages[0].text == "No tienes ninguna actividad en curso.");
  CHECK_FALSE(has_run_record(c.last.records));
  CHECK(state_of(c.s) == before);
  c.s.lang = "en";
  c.say("hi");
  CHECK(c.texts() == strings{"You have no activity in progress."});
}

TEST_CASE("after a run ends, a text gets the idle text", "[engine][idle]") {
  chat c(load({short_yaml}));
  c.start("corto");
  c.say("sí");
  REQUIRE_FALSE(c.s.run.has_value());
  c.say("¿y ahora?");
  CHECK(c.texts() == strings{"No tienes ninguna actividad en curso."});
  CHECK_FALSE(has_run_record(c.last.records));
  CHECK_FALSE(c.s.run.has_value());
}

TEST_CASE("a run whose flow is no longer published ends as interrupted, recorded", "[engine][idle][migrate]") {
  chat c(load({short_yaml}));
  c.start("corto");
  REQUIRE(c.s.run.has_value());
  const std::string run = c.s.run->id;
  c.flows.flows.clear();
  c.say("sí");
  CHECK_FALSE(c.s.run.has_value());
  CHECK(c.texts() == strings{"No tienes ninguna actividad en curso."});
  REQUIRE(c.last.records.size() >= 2);
  CHECK(c.last.records[0].type == "migrated");
  CHECK(c.last.records[0].status == "flow removed");
  CHECK(c.last.records[1].type == "end");
  CHECK(c.last.records[1].status == "interrupted");
  CHECK(c.last.records[1].run == run);
}

TEST_CASE("starting a flow during a run ends the old run as interrupted", "[engine][interrupt]") {
  chat c(load({roles_yaml, short_yaml}));
  c.start("roles");
  c.say("1");
  const std::string old_run = c.s.run->id;
  c.start("corto");
  REQUIRE(c.last.records.size() == 2);
  const auto& end = c.last.records[0];
  CHECK(end.type == "end");
  CHECK(end.status == "interrupted");
  CHECK(end.flow == "roles");
  CHECK(end.run == old_run);
  CHECK(end.node == "acuerdo");
  CHECK(end.id == old_run + ".3");  // start, answer, end
  const auto& start = c.last.records[1];
  CHECK(start.type == "start");
  CHECK(start.flow == "corto");
  CHECK(start.run != old_run);
  REQUIRE(c.s.run.has_value());
  CHECK(c.s.run->flow == "corto");
  CHECK(c.s.run->node == "p");
  CHECK(c.s.run->score == 0);
  CHECK(c.texts() == strings{"¿Sí o no?"});
  CHECK(c.s.answers.at("rol").value == "insp-fed");  // answers are kept across flows
}

// ================================================================== determinism and ids

namespace {

void same_result(const step_result& a, const step_result& b) {
  CHECK(a.next.dump() == b.next.dump());
  REQUIRE(a.messages.size() == b.messages.size());
  for (std::size_t i = 0; i < a.messages.size(); ++i) {
    CHECK(a.messages[i].text == b.messages[i].text);
    CHECK(a.messages[i].node == b.messages[i].node);
    CHECK(a.messages[i].menu == b.messages[i].menu);
    REQUIRE(a.messages[i].choices.size() == b.messages[i].choices.size());
    for (std::size_t k = 0; k < a.messages[i].choices.size(); ++k) {
      CHECK(a.messages[i].choices[k].ref == b.messages[i].choices[k].ref);
      CHECK(a.messages[i].choices[k].label == b.messages[i].choices[k].label);
    }
  }
  REQUIRE(a.records.size() == b.records.size());
  for (std::size_t i = 0; i < a.records.size(); ++i) CHECK(a.records[i].to_json() == b.records[i].to_json());
}

}  // namespace

TEST_CASE("the same flows, session, event and context give the same result", "[engine][determinism]") {
  const flow_set flows = load({quiz_yaml, roles_yaml});
  context ctx;
  ctx.now_ms = 1767625200000;
  ctx.seed = 77;
  ctx.caps.max_buttons = 3;

  session s0;
  s0.contact["name"] = "Ana";
  const auto a = step(flows, s0, inbound_event::start("examen"), ctx);
  const auto b = step(flows, s0, inbound_event::start("examen"), ctx);
  same_result(a, b);

  for (const char* reply : {"3", "b", "nada"}) {
    INFO(reply);
    const auto x = step(flows, a.next, inbound_event::message(reply), ctx);
    const auto y = step(flows, session::parse(a.next.dump()), inbound_event::message(reply), ctx);
    same_result(x, y);
  }
}

TEST_CASE("the run id derives from the context's seed", "[engine][determinism]") {
  const flow_set flows = load({short_yaml});
  context ctx;
  ctx.seed = 1;
  const auto a = step(flows, {}, inbound_event::start("corto"), ctx);
  const auto a2 = step(flows, {}, inbound_event::start("corto"), ctx);
  ctx.seed = 2;
  const auto b = step(flows, {}, inbound_event::start("corto"), ctx);
  ctx.now_ms = 999;
  const auto b2 = step(flows, {}, inbound_event::start("corto"), ctx);
  REQUIRE(a.next.run.has_value());
  REQUIRE(b.next.run.has_value());
  CHECK(a.next.run->id == a2.next.run->id);
  CHECK(a.next.run->id != b.next.run->id);
  CHECK(b.next.run->id == b2.next.run->id);  // the clock does not change it
  CHECK_FALSE(a.next.run->id.empty());
  CHECK(a.next.run->id.find('.') == std::string::npos);
}

TEST_CASE("a retried step with the same seed gives the same run id and output", "[engine][determinism]") {
  chat c(load({roles_yaml, short_yaml}));
  c.start("roles");
  c.say("1");
  // The host retries the same start after a failed commit: same session, same context.
  context ctx = c.ctx;
  ctx.seed = 4242;
  const auto first = step(c.flows, c.s, inbound_event::start("corto"), ctx);
  const auto retry = step(c.flows, c.s, inbound_event::start("corto"), ctx);
  REQUIRE(first.next.run.has_value());
  CHECK(first.next.run->id == retry.next.run->id);
  same_result(first, retry);
}

TEST_CASE("record ids are <run>.<n>, numbered in order and unique", "[engine][determinism]") {
  chat c(load({quiz_yaml, roles_yaml}));
  c.start("examen");
  c.say("nada");
  c.say("3");
  c.say("2");
  c.start("roles");
  c.say("xx");
  c.say("1");
  c.say("sí");
  c.start("examen");
  std::set<std::string> ids;
  std::map<std::string, int> last_n;
  for (const auto& r : c.records) {
    INFO(r.to_json().dump());
    CHECK(ids.insert(r.id).second);
    const auto dot = r.id.rfind('.');
    REQUIRE(dot != std::string::npos);
    CHECK(r.id.substr(0, dot) == r.run);
    const int n = std::stoi(r.id.substr(dot + 1));
    CHECK(n == last_n[r.run] + 1);
    last_n[r.run] = n;
  }
  CHECK(last_n.size() == 3);
  CHECK(c.records.size() == 11);
}

// ================================================================== rendering

TEST_CASE("plain rendering numbers menus, brackets buttons and rows scales", "[engine][render]") {
  outbound_message m;
  m.text = "¿Color?";
  m.choices = {{"r.1", "Rojo"}, {"r.2", "Azul"}};
  m.menu = menu_style::numbered;
  CHECK(render_plain(m) == "¿Color?\n1. Rojo\n2. Azul");
  m.menu = menu_style::buttons;
  CHECK(render_plain(m) == "¿Color?\n[Rojo] [Azul]");
  m.menu = menu_style::inline_numbers;
  m.choices = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  CHECK(render_plain(m) == "¿Color?\n1 · 2 · 3");
  m.choices.clear();
  CHECK(render_plain(m) == "¿Color?");
}

// The commit stores each result record as text written straight from its fields
// (result_record::to_text); the record keeper, the reports and the exports read what to_json()
// says. The same bytes as writing to_json()'s document with the learner, channel and version.
TEST_CASE("result records as text: the bytes of to_json() with the learner, channel and version") {
  std::vector<result_record> recs;
  const std::vector<std::string> types{"start",  "answer", "invalid", "quiz",      "end",      "timeout",
                                       "inbound", "module", "course",  "certificate", "consent", "enrolled"};
  const std::vector<json> values{json(), json("b"), json(7), json(2.5), json(true),
                                 json{{"course", "curso-ti"}, {"module", 2}, {"max", 10}, {"nota", "¡Bien! ñ 🎉"}},
                                 json::array({"a", "c"})};
  int k = 0;
  for (const auto& type : types)
    for (const auto& value : values) {
      result_record r;
      r.id = "r" + std::to_string(k) + "." + std::to_string(k % 3);
      r.type = type;
      r.flow = k % 4 ? "leccion-muestra" : "";
      r.run = "r" + std::to_string(k);
      r.node = k % 5 ? "p" + std::to_string(k % 7) : "";
      r.value = value;
      r.text = k % 3 ? "¿Qué es? «sí» \"comillas\"\n🎉" : "";
      r.correct = k % 2;
      r.final = k % 3 != 1;
      r.points = k % 4;
      r.attempt = k % 3;
      r.status = k % 2 ? "answered" : "";
      r.free_text = k % 6 == 0;
      r.at = 1'796'000'000'000 + k;
      recs.push_back(r);
      ++k;
    }
  for (const auto& r : recs)
    for (int version : {0, 3}) {
      json doc = r.to_json();
      doc["conv"] = "telegram:700000123";
      doc["channel"] = "telegram";
      if (version > 0) doc["version"] = version;
      INFO(r.type << " " << r.value.dump() << " version " << version);
      const std::string text = r.to_text("telegram:700000123", "telegram", version);
      REQUIRE(text == json_text::write(doc));
      CHECK(json::parse(text) == doc);
    }
}
