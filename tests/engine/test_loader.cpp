#include "bot/authoring/loader.hpp"
#include "bot/engine/course.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

using namespace aula;
using Catch::Matchers::Contains;

namespace fs = std::filesystem;

namespace {

struct loaded {
  bool ok = false;
  flow f;
  diagnostics d;

  std::string all() const {
    std::string s;
    for (const auto& x : d.items()) s += format(x) + "\n";
    return s;
  }
  // The first error whose message contains `needle`; fails the test when there is none.
  const diagnostic& error(const std::string& needle) const {
    for (const auto& x : d.items())
      if (x.severity == diagnostic::level::error && x.message.find(needle) != std::string::npos) return x;
    FAIL("no error mentioning '" << needle << "' among:\n" << all());
    throw std::logic_error("unreachable");
  }
};

loaded read(const std::string& text, const std::string& file = "flujo.yaml") {
  loaded r;
  r.ok = read_flow(text, file, r.f, r.d);
  return r;
}

// 1-based column of `needle` on 1-based line `line` of `text`.
int col_of(const std::string& text, int line, const std::string& needle) {
  std::istringstream in(text);
  std::string l;
  for (int i = 1; std::getline(in, l); ++i) {
    if (i == line) {
      auto p = l.find(needle);
      REQUIRE(p != std::string::npos);
      return static_cast<int>(p) + 1;
    }
  }
  FAIL("text has no line " << line);
  return 0;
}

void check_at(const source_pos& p, const std::string& file, int line, int col) {
  INFO(p.file << ":" << p.line << ":" << p.col);
  CHECK(p.file == file);
  CHECK(p.line == line);
  CHECK(p.col == col);
}

void check_at(const diagnostic& d, const std::string& file, int line, int col) {
  INFO(format(d));
  check_at(d.pos, file, line, col);
}

// A folder in the system's temp dir, removed at the end of the test.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("aula-loader-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    fs::path p = path / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

const std::string valid_flow = R"y(spec: 1
id: valido
start: hola
nodes:
  hola: {message: "Hola", next: fin}
  fin: {end: completed}
)y";

}  // namespace

// ================================================================== a valid flow

TEST_CASE("a valid flow reads into the model with positions", "[loader]") {
  const std::string text = R"y(spec: 1
id: muestra
name: {es: "Muestra", en: "Sample"}
language: es
start: hola
nodes:
  hola:
    message: {es: "Hola {{contact.name|colega}}", en: "Hi"}
    next: rol
  rol:
    question: "¿Función?"
    options:
      - {id: insp, label: {es: "Inspector/a", en: "Inspector"}}
      - Otra función
    invalid: "Elige una."
    max_retries: 1
    on_invalid: fin
    save_as: rol
    next: edad
  edad:
    quiz: "¿Edad mínima?"
    options:
      - {id: a, label: "14", feedback: "No."}
      - {id: b, label: "15", correct: true}
    feedback: {correct: "¡Sí!", incorrect: "Es 15.", retry: "Otra vez."}
    points: 3
    attempts: 2
    next: fin
  fin:
    end: failed
    message: "Adiós"
)y";
  auto r = read(text);
  INFO(r.all());
  REQUIRE(r.ok);
  CHECK(r.d.items().empty());
  const flow& f = r.f;
  CHECK(f.spec == 1);
  CHECK(f.id == "muestra");
  CHECK(f.name.get("en", "es") == "Sample");
  CHECK(f.language == "es");
  CHECK(f.start == "hola");
  CHECK(f.order == std::vector<std::string>{"hola", "rol", "edad", "fin"});

  const node* hola = f.find("hola");
  REQUIRE(hola);
  CHECK(hola->kind == node_kind::message);
  CHECK(hola->text.get("en", "es") == "Hi");
  CHECK(hola->next == "rol");
  check_at(hola->pos, "flujo.yaml", 7, 3);
  check_at(hola->next_pos, "flujo.yaml", 9, 11);

  const node* rol = f.find("rol");
  REQUIRE(rol);
  CHECK(rol->kind == node_kind::question);
  CHECK(rol->type == question_type::choice);
  REQUIRE(rol->options.size() == 2);
  CHECK(rol->options[0].id == "insp");
  CHECK(rol->options[0].label.get("en", "es") == "Inspector");
  CHECK(rol->options[1].id == "otra-funcion");  // a plain option's id comes from its label
  CHECK(rol->options[1].label.get("es", "es") == "Otra función");
  CHECK(rol->invalid.get("es", "es") == "Elige una.");
  CHECK(rol->max_retries == 1);
  CHECK(rol->on_invalid == "fin");
  CHECK(rol->save_as == "rol");

  const node* edad = f.find("edad");
  REQUIRE(edad);
  CHECK(edad->kind == node_kind::quiz);
  CHECK(edad->points == 3);
  CHECK(edad->attempts == 2);
  CHECK_FALSE(edad->options[0].correct);
  CHECK(edad->options[0].feedback.get("es", "es") == "No.");
  CHECK(edad->options[1].correct);
  CHECK(edad->feedback.correct.get("es", "es") == "¡Sí!");
  CHECK(edad->feedback.incorrect.get("es", "es") == "Es 15.");
  CHECK(edad->feedback.retry.get("es", "es") == "Otra vez.");

  const node* fin = f.find("fin");
  REQUIRE(fin);
  CHECK(fin->kind == node_kind::end);
  CHECK(fin->status == end_status::failed);
  CHECK(fin->text.get("es", "es") == "Adiós");
}

TEST_CASE("scale and nps questions get their numbers as options", "[loader]") {
  auto r = read(R"y(spec: 1
id: escalas
start: s
nodes:
  s: {question: "¿Qué tal?", type: scale, next: n}
  n: {question: "¿Recomiendas?", type: nps, next: fin}
  fin: {end: completed}
)y");
  INFO(r.all());
  REQUIRE(r.ok);
  const node* s = r.f.find("s");
  const node* n = r.f.find("n");
  REQUIRE(s->options.size() == 5);
  CHECK(s->options.front().id == "1");
  CHECK(s->options.back().id == "5");
  REQUIRE(n->options.size() == 11);
  CHECK(n->options.front().id == "0");
  CHECK(n->options.back().label.get("es", "es") == "10");
}

// ================================================================== errors with positions

TEST_CASE("a YAML syntax error is reported where it happens", "[loader][errors]") {
  SECTION("a key indented by mistake") {
    auto r = read("spec: 1\nid: roto\n start: a\n");
    CHECK_FALSE(r.ok);
    const auto& e = r.error("not valid YAML");
    CHECK(e.pos.file == "flujo.yaml");
    CHECK(e.pos.line == 3);
  }
  SECTION("a node key less indented than its siblings") {
    auto r = read("spec: 1\nid: x\nstart: a\nnodes:\n  a:\n    message: hola\n   next: b\n");
    CHECK_FALSE(r.ok);
    const auto& e = r.error("not valid YAML");
    CHECK(e.pos.line == 7);
    CHECK(e.pos.col >= 1);
  }
}

TEST_CASE("a file that is not UTF-8 is an error where the first bad byte is", "[loader][errors]") {
  // Found by fuzz_flow: a Latin-1 label loaded, and the session saving the answer could not be
  // written as JSON, so every later step of that learner failed.
  const std::string ok_part = "spec: 1\nid: riesgo\nstart: p\nnodes:\n  p:\n    question: \"\xC2\xBFNivel?\"\n";
  for (const std::string& bad : {std::string("\xF3"), std::string("\xC3"), std::string("\xC0\xAF"),
                                std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80")}) {
    INFO("bad bytes: " << bad.size());
    auto r = read(ok_part + "    options: [Alt" + bad + "o, Bajo]\n    save_as: nivel\n");
    CHECK_FALSE(r.ok);
    check_at(r.error("not valid UTF-8"), "flujo.yaml", 7, 18);
  }
  auto good = read(ok_part + "    options: [Alto, Medio, Bajo, \xF0\x9F\x91\x8D]\n    save_as: nivel\n");
  CHECK(good.all().find("UTF-8") == std::string::npos);
}

TEST_CASE("an empty file is an error", "[loader][errors]") {
  auto r = read("");
  CHECK_FALSE(r.ok);
  check_at(r.error("empty"), "flujo.yaml", 1, 1);
}

TEST_CASE("a missing spec is an error at the top of the file", "[loader][errors]") {
  auto r = read("id: sin-spec\nstart: fin\nnodes:\n  fin: {end: completed}\n");
  CHECK_FALSE(r.ok);
  const auto& e = r.error("missing spec");
  check_at(e, "flujo.yaml", 1, 1);
  CHECK_THAT(e.hint, Contains("spec: 1"));
}

TEST_CASE("a spec newer than this build reads is an error at the spec value", "[loader][errors]") {
  const std::string text = "id: futuro\nspec: 2\nstart: fin\nnodes:\n  fin: {end: completed}\n";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("newer");
  CHECK_THAT(e.message, Contains("spec 2"));
  check_at(e, "flujo.yaml", 2, col_of(text, 2, "2"));
}

TEST_CASE("a missing id is an error", "[loader][errors]") {
  auto r = read("spec: 1\nstart: fin\nnodes:\n  fin: {end: completed}\n", "flows/modulo-uno.yaml");
  CHECK_FALSE(r.ok);
  const auto& e = r.error("missing id");
  check_at(e, "flows/modulo-uno.yaml", 1, 1);
  CHECK_THAT(e.hint, Contains("modulo-uno"));
}

TEST_CASE("an unknown top-level key is an error with a did-you-mean hint", "[loader][errors]") {
  const std::string text = "spec: 1\nid: x\nstrat: fin\nnodes:\n  fin: {end: completed}\n";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("unknown key 'strat'");
  check_at(e, "flujo.yaml", 3, 1);
  CHECK_THAT(e.hint, Contains("did you mean 'start'"));
  r.error("missing start");
}

TEST_CASE("an unknown key in a node is an error with a hint", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    message: hola
    nxt: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("unknown key 'nxt'");
  check_at(e, "flujo.yaml", 7, 5);
  CHECK_THAT(e.hint, Contains("'next'"));
}

TEST_CASE("a key of another node kind is explained", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    message: hola
    options: [a, b]
    next: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("unknown key 'options'");
  check_at(e, "flujo.yaml", 7, 5);
  CHECK_THAT(e.hint, Contains("not used by a message node"));
}

TEST_CASE("a node with no kind is an error at the node", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    contenido: hola
    siguiente: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("has no kind");
  check_at(e, "flujo.yaml", 5, 3);
  CHECK_THAT(e.message, Contains("'a'"));
}

TEST_CASE("a valid node key such as next is not taken for a misspelled kind", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    next: fin
    mesage: hola
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("has no kind");
  check_at(e, "flujo.yaml", 7, 5);
  CHECK_THAT(e.hint, Contains("'message'"));
}

TEST_CASE("a misspelled kind is pointed at with a hint", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    mesage: hola
    next: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("has no kind");
  check_at(e, "flujo.yaml", 6, 5);
  CHECK_THAT(e.hint, Contains("'message'"));
}

TEST_CASE("a node with two kinds is an error", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    message: hola
    question: "¿Qué?"
    next: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("several kinds");
  check_at(e, "flujo.yaml", 5, 3);
  CHECK_THAT(e.message, Contains("message"));
  CHECK_THAT(e.message, Contains("question"));
}

TEST_CASE("an end node may carry a message without having two kinds", "[loader]") {
  auto r = read("spec: 1\nid: x\nstart: fin\nnodes:\n  fin: {end: completed, message: \"Adiós\"}\n");
  INFO(r.all());
  CHECK(r.ok);
}

TEST_CASE("an unknown question type is an error at the type with a hint", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    question: "¿Color?"
    type: choise
    options: [Rojo, Azul]
    next: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("unknown question type 'choise'");
  check_at(e, "flujo.yaml", 7, col_of(text, 7, "choise"));
  CHECK_THAT(e.hint, Contains("'choice'"));
}

TEST_CASE("a next naming no node is an error at the next value", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    message: hola
    next: fn
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("'fn' is not a node");
  check_at(e, "flujo.yaml", 7, col_of(text, 7, "fn"));
  CHECK_THAT(e.message, Contains("next"));
  CHECK_THAT(e.hint, Contains("'fin'"));
}

TEST_CASE("a next naming no node in a flow-style node points at the value", "[loader][errors]") {
  const std::string text = "spec: 1\nid: x\nstart: a\nnodes:\n  a: {message: hola, next: nada}\n  fin: {end: completed}\n";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  check_at(r.error("'nada' is not a node"), "flujo.yaml", 5, col_of(text, 5, "nada"));
}

TEST_CASE("an on_invalid naming no node is an error at its value", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    question: "¿Edad?"
    type: number
    on_invalid: ayudaa
    next: fin
  ayuda: {message: "Te ayudo", next: fin}
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("'ayudaa' is not a node");
  check_at(e, "flujo.yaml", 8, col_of(text, 8, "ayudaa"));
  CHECK_THAT(e.message, Contains("on_invalid"));
  CHECK_THAT(e.hint, Contains("'ayuda'"));
}

TEST_CASE("a missing start is an error", "[loader][errors]") {
  auto r = read("spec: 1\nid: x\nnodes:\n  fin: {end: completed}\n");
  CHECK_FALSE(r.ok);
  const auto& e = r.error("missing start");
  check_at(e, "flujo.yaml", 1, 1);
  CHECK_THAT(e.hint, Contains("fin"));
}

TEST_CASE("a start naming no node is an error at the start value", "[loader][errors]") {
  const std::string text = "spec: 1\nid: x\nstart: inicio\nnodes:\n  fin: {end: completed}\n";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("'inicio' is not a node");
  check_at(e, "flujo.yaml", 3, 8);
  CHECK_THAT(e.message, Contains("start"));
}

TEST_CASE("a node without next is an error", "[loader][errors]") {
  auto r = read("spec: 1\nid: x\nstart: a\nnodes:\n  a: {message: hola}\n  fin: {end: completed}\n");
  CHECK_FALSE(r.ok);
  check_at(r.error("has no next"), "flujo.yaml", 5, 3);
}

TEST_CASE("a duplicate node id is an error at the second one", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a: {message: uno, next: fin}
  a: {message: dos, next: fin}
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("duplicate node id 'a'");
  check_at(e, "flujo.yaml", 6, 3);
  CHECK_THAT(e.hint, Contains("line 5"));
}

TEST_CASE("a duplicate option id is an error at the second option", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    question: "¿Cuál?"
    options:
      - {id: x, label: Uno}
      - {id: x, label: Dos}
    next: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("duplicate option id 'x'");
  check_at(e, "flujo.yaml", 9, col_of(text, 9, "{"));
  CHECK_THAT(e.hint, Contains("line 8"));
}

TEST_CASE("two plain options with the same label clash on their derived id", "[loader][errors]") {
  auto r = read("spec: 1\nid: x\nstart: a\nnodes:\n  a: {question: q, options: [Sí, si], next: fin}\n  fin: {end: completed}\n");
  CHECK_FALSE(r.ok);
  r.error("duplicate option id 'si'");
}

TEST_CASE("a quiz without a correct option is an error", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: q
nodes:
  q:
    quiz: "¿2+2?"
    options:
      - {id: a, label: "3"}
      - {id: b, label: "5"}
    next: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("no correct option");
  check_at(e, "flujo.yaml", 5, 3);
  CHECK_THAT(e.hint, Contains("correct: true"));
}

TEST_CASE("options on a text question are an error at the options", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    question: "¿Nombre?"
    type: text
    options: [Ana, Beto]
    next: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("takes no options");
  CHECK_THAT(e.message, Contains("text question"));
  check_at(e, "flujo.yaml", 8, col_of(text, 8, "["));
}

TEST_CASE("correct: on an option of a plain question is an error with an explanation", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a:
    question: "¿Cuál?"
    options:
      - {id: x, label: Uno, correct: true}
      - {id: y, label: Dos}
    next: fin
  fin: {end: completed}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  const auto& e = r.error("unknown key 'correct'");
  check_at(e, "flujo.yaml", 8, col_of(text, 8, "correct"));
  CHECK_THAT(e.hint, Contains("quiz"));
}

TEST_CASE("non-integer points are an error at the value", "[loader][errors]") {
  for (const char* bad : {"1.5", "muchos", "[1]"}) {
    DYNAMIC_SECTION("points: " << bad) {
      const std::string text = std::string(R"y(spec: 1
id: x
start: q
nodes:
  q:
    quiz: "¿2+2?"
    options: [{id: a, label: "4", correct: true}]
    points: )y") + bad + R"y(
    next: fin
  fin: {end: completed}
)y";
      auto r = read(text);
      CHECK_FALSE(r.ok);
      const auto& e = r.error("points must be a whole number");
      check_at(e, "flujo.yaml", 8, col_of(text, 8, bad));
    }
  }
}

TEST_CASE("negative points are an error", "[loader][errors]") {
  auto r = read(R"y(spec: 1
id: x
start: q
nodes:
  q: {quiz: "¿2+2?", options: [{id: a, label: "4", correct: true}], points: -1, next: fin}
  fin: {end: completed}
)y");
  CHECK_FALSE(r.ok);
  r.error("points must be at least 0");
}

TEST_CASE("an unknown end status is an error", "[loader][errors]") {
  auto r = read("spec: 1\nid: x\nstart: fin\nnodes:\n  fin: {end: terminado}\n");
  CHECK_FALSE(r.ok);
  r.error("unknown end status 'terminado'");
}

TEST_CASE("several problems are all reported in one pass", "[loader][errors]") {
  const std::string text = R"y(spec: 1
id: x
start: a
nodes:
  a: {message: hola, next: b}
  b: {question: "¿?", type: texto, next: c}
  c: {quiz: "¿?", options: [Uno], next: nada}
)y";
  auto r = read(text);
  CHECK_FALSE(r.ok);
  r.error("unknown question type 'texto'");
  r.error("no correct option");
  r.error("'nada' is not a node");
  CHECK(r.d.errors() >= 3);
}

// ================================================================== diagnostics

TEST_CASE("a diagnostic formats as file:line:col, level, message and hint", "[loader][diagnostics]") {
  diagnostics d;
  d.error({"a.yaml", 3, 7}, "something is wrong", "fix it");
  d.warning({"b.yaml", 1, 1}, "careful");
  REQUIRE(d.items().size() == 2);
  CHECK(d.errors() == 1);
  CHECK(d.warnings() == 1);
  CHECK(format(d.items()[0]) == "a.yaml:3:7: error: something is wrong; fix it");
  CHECK(format(d.items()[1]) == "b.yaml:1:1: warning: careful");
}

TEST_CASE("did_you_mean suggests a close word only", "[loader][diagnostics]") {
  const std::vector<std::string> keys = {"spec", "id", "start", "nodes"};
  CHECK(did_you_mean("strat", keys) == "did you mean 'start'?");
  CHECK(did_you_mean("node", keys) == "did you mean 'nodes'?");
  CHECK(did_you_mean("banana", keys).empty());
  CHECK(did_you_mean("x", {"id"}).empty());
}

// ================================================================== JSON and folders

TEST_CASE("a JSON flow file loads to the same flow as its YAML twin", "[loader][json]") {
  temp_dir dir;
  const std::string yaml = R"y(spec: 1
id: gemelo
name: {es: "Gemelo", en: "Twin"}
start: hola
nodes:
  hola: {message: {es: "Hola", en: "Hi"}, next: edad}
  edad:
    question: "¿Edad?"
    type: number
    min: 0
    max: 99.5
    save_as: edad
    next: q
  q:
    quiz: "¿Sí?"
    options:
      - {id: s, label: "Sí", correct: true}
      - {id: n, label: "No", feedback: "No."}
    feedback: {correct: "Bien", incorrect: "Mal"}
    points: 2
    attempts: 2
    next: fin
  fin: {end: completed, message: "Fin"}
)y";
  const std::string json = R"j({
  "spec": 1,
  "id": "gemelo-json",
  "name": {"es": "Gemelo", "en": "Twin"},
  "start": "hola",
  "nodes": {
    "hola": {"message": {"es": "Hola", "en": "Hi"}, "next": "edad"},
    "edad": {"question": "¿Edad?", "type": "number", "min": 0, "max": 99.5, "save_as": "edad", "next": "q"},
    "q": {
      "quiz": "¿Sí?",
      "options": [
        {"id": "s", "label": "Sí", "correct": true},
        {"id": "n", "label": "No", "feedback": "No."}
      ],
      "feedback": {"correct": "Bien", "incorrect": "Mal"},
      "points": 2,
      "attempts": 2,
      "next": "fin"
    },
    "fin": {"end": "completed", "message": "Fin"}
  }
}
)j";
  const std::string yaml_path = dir.write("gemelo.yaml", yaml);
  const std::string json_path = dir.write("gemelo.json", json);
  auto res = load_flows({yaml_path, json_path});
  std::string all;
  for (const auto& x : res.diags.items()) all += format(x) + "\n";
  INFO(all);
  REQUIRE(res.ok());
  CHECK(res.files == 2);
  const flow* y = res.flows.find("gemelo");
  const flow* j = res.flows.find("gemelo-json");
  REQUIRE(y);
  REQUIRE(j);
  CHECK(j->pos.file == json_path);
  CHECK(j->spec == y->spec);
  CHECK(j->name.by_lang == y->name.by_lang);
  CHECK(j->language == y->language);
  CHECK(j->start == y->start);
  CHECK(j->order == y->order);
  REQUIRE(j->nodes.size() == y->nodes.size());
  for (const auto& [id, yn] : y->nodes) {
    INFO("node " << id);
    const node* jn = j->find(id);
    REQUIRE(jn);
    CHECK(jn->kind == yn.kind);
    CHECK(jn->text.by_lang == yn.text.by_lang);
    CHECK(jn->next == yn.next);
    CHECK(jn->type == yn.type);
    CHECK(jn->min == yn.min);
    CHECK(jn->max == yn.max);
    CHECK(jn->save_as == yn.save_as);
    CHECK(jn->points == yn.points);
    CHECK(jn->attempts == yn.attempts);
    CHECK(jn->status == yn.status);
    CHECK(jn->feedback.correct.by_lang == yn.feedback.correct.by_lang);
    CHECK(jn->feedback.incorrect.by_lang == yn.feedback.incorrect.by_lang);
    REQUIRE(jn->options.size() == yn.options.size());
    for (std::size_t i = 0; i < yn.options.size(); ++i) {
      CHECK(jn->options[i].id == yn.options[i].id);
      CHECK(jn->options[i].label.by_lang == yn.options[i].label.by_lang);
      CHECK(jn->options[i].correct == yn.options[i].correct);
      CHECK(jn->options[i].feedback.by_lang == yn.options[i].feedback.by_lang);
    }
  }
  CHECK(y->find("edad")->max == 99.5);
  CHECK(y->find("q")->options[0].correct);
}

TEST_CASE("errors in a JSON flow carry JSON positions", "[loader][json]") {
  const std::string json = "{\n  \"spec\": 1,\n  \"id\": \"j\",\n  \"start\": \"nada\",\n  \"nodes\": {\"fin\": {\"end\": \"completed\"}}\n}\n";
  auto r = read(json, "j.json");
  CHECK_FALSE(r.ok);
  check_at(r.error("'nada' is not a node"), "j.json", 4, col_of(json, 4, "\"nada\""));
}

TEST_CASE("load_flows on a folder reads only flow files", "[loader][folder]") {
  temp_dir dir;
  dir.write("a.yaml", valid_flow);
  dir.write("b.yml", "spec: 1\nid: otro\nstart: fin\nnodes:\n  fin: {end: completed}\n");
  // Read as courses (modules are flow ids), never as a flow.
  const std::string course =
      dir.write("course.yaml", "spec: 1\ncourses:\n  - {id: curso, name: Curso, modules: [valido, otro]}\n");
  dir.write("triggers.yaml", "spec: 1\ntriggers:\n  - {keywords: [hola], flow: valido}\n");
  const std::string schema = dir.write("schema.json", "{\"$schema\": \"http://json-schema.org/draft-07/schema#\"}\n");
  const std::string notes = dir.write("notas.txt", "no es un flujo\n");
  const std::string sub1 = dir.write("tests/a.yaml", "flow: valido\ncases: []\n");
  const std::string sub2 = dir.write("sub/roto.yaml", "esto: [no es un flujo\n");

  const auto files = flow_files_in(dir.path.string());
  REQUIRE(files.size() == 2);
  CHECK(fs::path(files[0]).filename() == "a.yaml");
  CHECK(fs::path(files[1]).filename() == "b.yml");

  auto res = load_flows({dir.path.string()});
  std::string all;
  for (const auto& x : res.diags.items()) all += format(x) + "\n";
  INFO(all);
  CHECK(res.ok());
  for (const auto& x : res.diags.items())
    for (const auto& skipped : {course, schema, notes, sub1, sub2}) CHECK(x.pos.file != skipped);
  CHECK(res.files >= 2);
  CHECK(res.flows.flows.size() == 2);
  CHECK(res.flows.find("valido"));
  CHECK(res.flows.find("otro"));
  REQUIRE(res.flows.courses);
  REQUIRE(res.flows.course("curso"));
  CHECK(res.flows.course("curso")->modules.size() == 2);
}

TEST_CASE("the same flow id in two files is an error at the second file's id", "[loader][folder]") {
  temp_dir dir;
  const std::string first = dir.write("a.yaml", valid_flow);
  const std::string second_text = "spec: 1\nid: valido\nstart: fin\nnodes:\n  fin: {end: completed}\n";
  const std::string second = dir.write("b.yaml", second_text);
  auto res = load_flows({dir.path.string()});
  CHECK_FALSE(res.ok());
  CHECK(res.diags.errors() == 1);
  REQUIRE(res.diags.items().size() == 1);
  const auto& e = res.diags.items()[0];
  CHECK_THAT(e.message, Contains("flow id 'valido'"));
  CHECK_THAT(e.message, Contains(first));
  check_at(e, second, 2, 5);
  // The first one stays loaded.
  REQUIRE(res.flows.find("valido"));
  CHECK(res.flows.find("valido")->pos.file == first);
}

TEST_CASE("flows with errors are left out and the others load", "[loader][folder]") {
  temp_dir dir;
  dir.write("bueno.yaml", valid_flow);
  const std::string bad = dir.write("malo.yaml", "spec: 1\nid: malo\nstart: a\nnodes:\n  a: {message: x, next: b}\n");
  auto res = load_flows({dir.path.string()});
  CHECK_FALSE(res.ok());
  CHECK(res.files == 2);
  CHECK(res.flows.find("valido"));
  CHECK_FALSE(res.flows.find("malo"));
  REQUIRE(res.diags.errors() >= 1);
  CHECK(res.diags.items()[0].pos.file == bad);
}

TEST_CASE("load_flows reports a path that does not exist", "[loader][folder]") {
  temp_dir dir;
  const std::string missing = (dir.path / "no-existe.yaml").string();
  auto res = load_flows({missing});
  CHECK_FALSE(res.ok());
  CHECK(res.files == 0);
  REQUIRE(res.diags.items().size() == 1);
  CHECK(res.diags.items()[0].pos.file == missing);
}

TEST_CASE("the shipped flows folder loads without errors", "[loader][shipped]") {
  const std::string dir = std::string(AULA_SOURCE_DIR) + "/flows";
  auto res = load_flows({dir});
  std::string all;
  for (const auto& x : res.diags.items()) all += format(x) + "\n";
  INFO(all);
  CHECK(res.diags.errors() == 0);
  CHECK(res.files >= 1);
  CHECK(res.flows.flows.size() >= 1);
  CHECK(res.flows.find("leccion-muestra"));
}
