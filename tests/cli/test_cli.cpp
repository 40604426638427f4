// End-to-end checks of the `aula` command line on the shipped flows and broken copies.
// Expected positions are computed from the files themselves (the line that holds the broken
// text), never copied from aula's output.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "tests/support/cli_harness.hpp"

namespace fs = std::filesystem;

namespace {

using aula_test::run;
using aula_test::slurp;
using aula_test::source;
using aula_test::write;

struct temp_dir : aula_test::temp_dir {
  temp_dir() : aula_test::temp_dir("aula-cli-") {}
};

// 1-based line and column where `needle` first occurs in `text`.
std::pair<int, int> position_of(const std::string& text, const std::string& needle) {
  auto at = text.find(needle);
  REQUIRE(at != std::string::npos);
  int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
  auto bol = text.rfind('\n', at);
  int col = static_cast<int>(at - (bol == std::string::npos ? 0 : bol + 1)) + 1;
  return {line, col};
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("aula validate accepts the shipped flows") {
  auto r = run("validate " + source("flows"));
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find("0 error(s)") != std::string::npos);
}

TEST_CASE("aula validate reports each core error class at file:line:col") {
  const std::string original = slurp(source("flows/diagnostico.yaml"));
  struct broken {
    const char* label;
    std::string from, to;
    std::string locate;   // text whose position the error must point at (in the broken file)
    int col_offset;       // columns from the start of `locate` to the reported column
    const char* message;  // part of the message
  };
  std::vector<broken> cases = {
      {"dangling next", "    next: institucion\n", "    next: institucionn\n", "institucionn", 0,
       "'institucionn' is not a node of this flow"},
      {"unknown key", "    save_as: rol\n", "    save_ass: rol\n", "save_ass", 0, "unknown key 'save_ass'"},
      {"unknown kind", "  anios:\n    question:", "  anios:\n    pregunta:", "anios:", 0, "has no kind"},
      {"unknown question type", "    type: number\n", "    type: numero\n", "numero", 0, "unknown question type 'numero'"},
      {"missing start", "start: bienvenida\n", "", "spec: 1", 0, "missing start"},
      {"start to nowhere", "start: bienvenida\n", "start: bienvenido\n", "bienvenido", 0,
       "start 'bienvenido' is not a node"},
      {"duplicate node id", "  horario:\n", "  temas:\n", "  temas:\n    question: {es: \"¿A qué hora", 2,
       "duplicate node id 'temas'"},
      {"duplicate option id", "{id: antigua,", "{id: reciente,", "{id: reciente, label: {es: \"Sí, hace", 0,
       "duplicate option id 'reciente'"},
      {"missing spec", "spec: 1\n", "", "id: diagnostico", 0, "missing spec"},
      {"bad end status", "end: completed", "end: terminado", "terminado", 0, "unknown end status"},
      {"yaml syntax", "    save_as: horario\n", "    save_as: [horario\n", "", 0, "not valid YAML"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.label) {
      temp_dir dir;
      const std::string text = replace_once(original, c.from, c.to);
      const fs::path file = dir.path / "diagnostico.yaml";
      write(file, text);
      auto r = run("validate " + file.string());
      INFO(r.out);
      CHECK(r.status == 1);
      CHECK(r.out.find(c.message) != std::string::npos);
      if (!c.locate.empty()) {
        // Errors point at the broken key or value; file-level ones at the first key.
        auto [line, col] = position_of(text, c.locate);
        col += c.col_offset;
        const std::string where = file.string() + ":" + std::to_string(line) + ":" + std::to_string(col) + ":";
        CHECK(r.out.find(where) != std::string::npos);
      }
    }
  }
}

TEST_CASE("aula validate: a quiz without a correct option, and flow ids used twice") {
  temp_dir dir;
  std::string lesson = slurp(source("flows/leccion-muestra.yaml"));
  std::string no_correct = replace_once(lesson, "label: {es: \"15 años\", en: \"15 years\"}, correct: true}",
                                        "label: {es: \"15 años\", en: \"15 years\"}}");
  write(dir.path / "a.yaml", no_correct);
  write(dir.path / "b.yaml", lesson);
  auto r = run("validate " + dir.path.string());
  INFO(r.out);
  CHECK(r.status == 1);
  auto [line, col] = position_of(no_correct, "  edad:");
  CHECK(r.out.find((dir.path / "a.yaml").string() + ":" + std::to_string(line) + ":" + std::to_string(col + 2) +
                   ": error: quiz 'edad' has no correct option") != std::string::npos);
  // a.yaml is rejected, so b.yaml's id is not a duplicate; two good copies are.
  write(dir.path / "a.yaml", lesson);
  r = run("validate " + dir.path.string());
  CHECK(r.status == 1);
  CHECK(r.out.find("flow id 'leccion-muestra' is also used by") != std::string::npos);
}

TEST_CASE("aula validate reads JSON flow files") {
  temp_dir dir;
  write(dir.path / "corto.json", R"({
  "spec": 1, "id": "corto", "language": "es", "start": "hola",
  "nodes": {
    "hola": {"message": {"es": "¡Hola! ¿Listo? 🎉", "en": "Hi!"}, "next": "fin"},
    "fin": {"end": "completed"}
  }
})");
  auto r = run("validate " + (dir.path / "corto.json").string());
  INFO(r.out);
  CHECK(r.status == 0);
  write(dir.path / "script.txt", "");
  r = run("chat --flows " + dir.path.string() + " --flow corto --script " + (dir.path / "script.txt").string());
  CHECK(r.out.find("¡Hola! ¿Listo? 🎉") != std::string::npos);
}

TEST_CASE("aula test passes on the shipped transcripts and diffs a wrong one") {
  auto r = run("test --flows " + source("flows"));
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find(" 0 failed") != std::string::npos);
  CHECK(r.out.find("FAIL") == std::string::npos);

  temp_dir dir;
  std::string t = slurp(source("flows/tests/leccion-muestra.yaml"));
  std::string wrong = replace_once(t, "\"¡Correcto! ✅ La edad mínima es 15 años.\"", "\"¡Correcto! La edad es 16.\"");
  write(dir.path / "wrong.yaml", wrong);
  r = run("test --flows " + source("flows") + " " + (dir.path / "wrong.yaml").string());
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(r.out.find("FAIL") != std::string::npos);
  CHECK(r.out.find("- aula:    ¡Correcto! La edad es 16.") != std::string::npos);
  CHECK(r.out.find("+ aula:    ¡Correcto! ✅ La edad mínima es 15 años.") != std::string::npos);
}

TEST_CASE("aula chat --consent asks the privacy question first, then runs the flow") {
  temp_dir dir;
  write(dir.path / "corto.yaml", "spec: 1\nid: corto\nlanguage: es\nstart: hola\nnodes:\n"
                                 "  hola: {message: \"¡Hola! ¿Listo? 🎉\", next: fin}\n  fin: {end: completed}\n");
  write(dir.path / "acepta.txt", "1\n");
  auto r = run("chat --flows " + dir.path.string() + " --flow corto --consent 2026-11 --script " +
               (dir.path / "acepta.txt").string());
  INFO(r.out);
  CHECK(r.status == 0);
  const auto notice = r.out.find("/privacidad");
  const auto hello = r.out.find("¡Hola! ¿Listo? 🎉");
  REQUIRE(notice != std::string::npos);
  REQUIRE(hello != std::string::npos);
  CHECK(notice < hello);
  CHECK(r.out.find("1. Acepto") != std::string::npos);
  CHECK(r.out.find("2026-11") != std::string::npos);

  write(dir.path / "rechaza.txt", "2\n");
  r = run("chat --flows " + dir.path.string() + " --flow corto --consent 2026-11 --script " +
          (dir.path / "rechaza.txt").string());
  INFO(r.out);
  CHECK(r.out.find("/privacidad") != std::string::npos);
  CHECK(r.out.find("¡Hola! ¿Listo?") == std::string::npos);
}

TEST_CASE("aula chat --script prints the whole diagnosis conversation") {
  // The learner's lines; the expected texts come from the flow file itself.
  temp_dir dir;
  write(dir.path / "guion.txt",
        "# rol\n1\nSTPS, oficina en Zapopan — ¿sí? ¡claro! 🎉\nJalisco\n7 años\n2\n4\n3\n2\n5\n1\n3\n1, 4 y 7\n"
        "mañana\nDetectar trabajo infantil en el campo 🌽 y canalizar casos\n");
  auto r = run("chat --flows " + source("flows") + " --flow diagnostico --name \"José Ñúñez\" --script " +
               (dir.path / "guion.txt").string());
  INFO(r.out);
  CHECK(r.status == 0);
  YAML::Node flow = YAML::LoadFile(source("flows/diagnostico.yaml"));
  int questions = 0;
  for (auto it = flow["nodes"].begin(); it != flow["nodes"].end(); ++it) {
    const YAML::Node n = it->second;
    for (const char* kind : {"question", "message"}) {
      if (!n[kind]) continue;
      std::string es = n[kind].IsMap() ? n[kind]["es"].as<std::string>() : n[kind].as<std::string>();
      auto brace = es.find("{{");  // compare the part before any variable
      es = es.substr(0, brace);
      CHECK(r.out.find(es) != std::string::npos);
      questions += std::string(kind) == "question";
    }
  }
  CHECK(questions >= 12);
  CHECK(r.out.find("¡Gracias, José Ñúñez! 🙌") != std::string::npos);
  CHECK(r.out.find("STPS, oficina en Zapopan — ¿sí? ¡claro! 🎉") != std::string::npos);
  CHECK(r.out.find("— diagnostico: completed —") != std::string::npos);
}

TEST_CASE("aula chat --course takes the sample course over two days to its certificate") {
  temp_dir dir;
  // 2 days: the next module opens at 09:00 local the day after, whatever the hour now.
  write(dir.path / "guion.txt", "2\n1\n2\n10\n/avanzar 2d\n1\n2\n");
  auto r = run("chat --flows " + source("flows") + " --course curso-muestra --name \"Ana Núñez\" --script " +
               (dir.path / "guion.txt").string());
  INFO(r.out);
  CHECK(r.status == 0);
  YAML::Node courses = YAML::LoadFile(source("flows/course.yaml"));
  const YAML::Node course = courses["courses"][0];
  REQUIRE(course["id"].as<std::string>() == "curso-muestra");
  auto before_var = [](std::string t) { return t.substr(0, t.find("{{")); };
  CHECK(r.out.find(before_var(course["welcome"]["es"].as<std::string>())) != std::string::npos);
  CHECK(r.out.find(before_var(course["unlocked"]["es"].as<std::string>())) != std::string::npos);
  CHECK(r.out.find(before_var(course["certificate"]["text"]["es"].as<std::string>()) + "Ana Núñez") !=
        std::string::npos);
  CHECK(r.out.find("— curso-muestra: completed, folio ") != std::string::npos);
  CHECK(run("chat --flows " + source("flows") + " --course nada").status == 1);
}

TEST_CASE("aula chat keeps the learner's text as data, never as a template") {
  temp_dir dir;
  write(dir.path / "guion.txt", "1\n{{contact.name}} {{score.total}}\n/state\n");
  auto r = run("chat --flows " + source("flows") + " --flow diagnostico --name Ana --script " +
               (dir.path / "guion.txt").string());
  INFO(r.out);
  // The saved answer is exactly what was typed, placeholders and all.
  CHECK(r.out.find("\"t\": \"{{contact.name}} {{score.total}}\"") != std::string::npos);
}

TEST_CASE("aula chat asks which flow when none is given, and speaks English") {
  temp_dir dir;
  write(dir.path / "guion.txt", "leccion-muestra\n2\n");
  auto r = run("chat --flows " + source("flows") + " --lang en --script " + (dir.path / "guion.txt").string());
  INFO(r.out);
  CHECK(r.out.find("Which flow?") != std::string::npos);
  CHECK(r.out.find("What is the minimum working age in Mexico?") != std::string::npos);
  CHECK(r.out.find("Correct! ✅ The minimum age is 15.") != std::string::npos);
}

TEST_CASE("aula test exits 1 when the flows do not validate") {
  temp_dir dir;
  fs::create_directories(dir.path / "tests");
  write(dir.path / "roto.yaml", "spec: 1\nid: roto\nstart: a\nnodes:\n  a: {message: hola, next: b}\n");
  auto r = run("test --flows " + dir.path.string());
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(r.out.find("roto.yaml:5:") != std::string::npos);
}

TEST_CASE("aula chat /avanzar fires waits in the learner's time zone") {
  temp_dir dir;
  write(dir.path / "guion.txt", "hola\n/avanzar 10m\n/estado\n/avanzar 2d\n");
  auto r = run("chat --flows " + source("tests/flows") + " --flow goteo --tz America/Cancun --script " +
               (dir.path / "guion.txt").string());
  INFO(r.out);
  const auto part1 = r.out.find("Parte 1: hoy empezamos.");
  const auto waiting = r.out.find("Recibido. Te escribiremos cuando sea momento de seguir.");
  const auto part2 = r.out.find("☀️ Parte 2");
  const auto part3 = r.out.find("Parte 3, dos horas después.");
  REQUIRE(part1 != std::string::npos);
  REQUIRE(waiting != std::string::npos);
  REQUIRE(part2 != std::string::npos);
  REQUIRE(part3 != std::string::npos);
  CHECK(part1 < waiting);
  CHECK(waiting < part2);
  CHECK(part2 < part3);
  // Ten minutes is not enough: the state printed after it still waits at the wait node.
  const auto state = r.out.find("\"node\": \"manana\"");
  CHECK(state != std::string::npos);
  CHECK(state < part2);
  // Part 2 arrives at 09:00 local time in Cancún.
  CHECK(r.out.find(" 09:00\n", waiting) != std::string::npos);
  CHECK(r.out.find("— goteo: completed —") != std::string::npos);
}
