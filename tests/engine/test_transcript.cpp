#include "bot/authoring/transcript.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bot/authoring/loader.hpp"

using namespace aula;
using Catch::Matchers::Contains;

namespace fs = std::filesystem;

namespace {

using strings = std::vector<std::string>;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

bool has_line(const std::string& report, const std::string& prefix, const std::string& needle) {
  for (const auto& l : lines_of(report))
    if (l.rfind(prefix, 0) == 0 && l.find(needle) != std::string::npos) return true;
  return false;
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("aula-transcript-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    fs::path p = path / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

const char* const mini_flow = R"y(spec: 1
id: mini
start: hola
nodes:
  hola: {message: "Hola {{contact.name|colega}}.", next: capital}
  capital:
    quiz: "¿Capital de México?"
    options:
      - {id: a, label: "CDMX", correct: true}
      - {id: b, label: "Monterrey"}
    feedback: {correct: "¡Bien!", incorrect: "Es CDMX."}
    points: 1
    save_as: capital
    next: edad
  edad:
    question: "¿A qué edad empezaste?"
    options:
      - {id: "15", label: "15"}
      - {id: "16", label: "16"}
    save_as: edad
    next: fin
  fin: {end: completed, message: "Puntaje: {{score.total}}/{{score.max}}"}
)y";

// The conversation every case below shares, written out by hand from the flow above.
const char* const good_conversation = R"y(
    conversation:
      - aula: "Hola Ana."
      - aula: |
          ¿Capital de México?
          1. CDMX
          2. Monterrey
      - learner: "1"
      - aula: "¡Bien!"
      - aula: |
          ¿A qué edad empezaste?
          1. 15
          2. 16
      - learner: "2"
      - aula: "Puntaje: 1/1"
)y";

struct fixture {
  temp_dir dir;
  flow_set flows;
  transcript_file file;

  explicit fixture(const std::string& transcript) {
    const std::string flow_path = dir.write("mini.yaml", mini_flow);
    auto res = load_flows({flow_path});
    std::string all;
    for (const auto& x : res.diags.items()) all += format(x) + "\n";
    INFO(all);
    REQUIRE(res.ok());
    flows = std::move(res.flows);
    diagnostics d;
    const std::string path = dir.write("mini-test.yaml", transcript);
    const bool ok = read_transcripts(path, file, d);
    all.clear();
    for (const auto& x : d.items()) all += format(x) + "\n";
    INFO(all);
    REQUIRE(ok);
    REQUIRE(d.errors() == 0);
  }

  case_outcome run(const std::string& name) const {
    for (const auto& c : file.cases)
      if (c.name == name) return run_case(flows, c);
    FAIL("no case named " << name);
    return {};
  }
};

std::string one_case(const std::string& name, const std::string& conversation, const std::string& extra = {}) {
  return "flow: mini\ncases:\n  - name: " + name + "\n    contact: {name: Ana}" + conversation + extra;
}

}  // namespace

// ================================================================== line_diff

TEST_CASE("line_diff keeps common lines and marks removed and added ones", "[transcript][diff]") {
  const std::string d = line_diff({"a", "b", "c"}, {"a", "x", "c"});
  const auto lines = lines_of(d);
  REQUIRE(lines.size() == 4);
  CHECK(lines.front() == "  a");
  CHECK(lines.back() == "  c");
  CHECK(std::count(lines.begin(), lines.end(), "- b") == 1);
  CHECK(std::count(lines.begin(), lines.end(), "+ x") == 1);
}

TEST_CASE("line_diff of equal texts has no marks", "[transcript][diff]") {
  CHECK(line_diff({"uno", "dos"}, {"uno", "dos"}) == "  uno\n  dos\n");
  CHECK(line_diff({}, {}) == "");
}

TEST_CASE("line_diff shows only additions or only removals", "[transcript][diff]") {
  CHECK(line_diff({}, {"a", "b"}) == "+ a\n+ b\n");
  CHECK(line_diff({"a", "b"}, {}) == "- a\n- b\n");
  CHECK(line_diff({"a", "c"}, {"a", "b", "c"}) == "  a\n+ b\n  c\n");
  CHECK(line_diff({"a", "b", "c"}, {"a", "c"}) == "  a\n- b\n  c\n");
}

TEST_CASE("line_diff keeps the longest common part", "[transcript][diff]") {
  const auto lines = lines_of(line_diff({"1", "2", "3", "4", "5"}, {"0", "1", "3", "4", "6"}));
  int kept = 0, removed = 0, added = 0;
  for (const auto& l : lines) {
    if (l.rfind("  ", 0) == 0) ++kept;
    if (l.rfind("- ", 0) == 0) ++removed;
    if (l.rfind("+ ", 0) == 0) ++added;
  }
  CHECK(kept == 3);     // 1, 3, 4
  CHECK(removed == 2);  // 2, 5
  CHECK(added == 2);    // 0, 6
}

// ================================================================== reading transcripts

TEST_CASE("read_transcripts reads cases, turns and expectations", "[transcript][read]") {
  fixture fx(one_case("todo bien", good_conversation, R"y(
    buttons: 2
    lang: es
    expect:
      status: completed
      score: 1
      score_max: 1
      answers: {capital: a}
      records:
        - {type: quiz, node: capital, correct: true}
)y"));
  REQUIRE(fx.file.cases.size() == 1);
  const auto& c = fx.file.cases[0];
  CHECK(c.name == "todo bien");
  CHECK(c.flow == "mini");
  CHECK(c.lang == "es");
  CHECK(c.buttons == 2);
  CHECK(c.contact.at("name") == "Ana");
  REQUIRE(c.turns.size() == 7);
  CHECK(c.turns[0].speaker == transcript_turn::who::aula);
  CHECK(c.turns[0].text == "Hola Ana.");
  CHECK(c.turns[2].speaker == transcript_turn::who::learner);
  CHECK(c.turns[2].text == "1");
  CHECK(c.status == "completed");
  CHECK(c.score == 1);
  CHECK(c.score_max == 1);
  CHECK(c.answers.at("capital") == "a");
  REQUIRE(c.records.size() == 1);
  CHECK(c.records[0]["correct"] == true);
}

TEST_CASE("read_transcripts reports unknown keys and lines with positions", "[transcript][read]") {
  temp_dir dir;
  const std::string path = dir.write("t.yaml", R"y(flow: mini
cases:
  - name: uno
    conversaton:
      - aula: "Hola"
  - name: dos
    conversation:
      - bot: "Hola"
)y");
  transcript_file f;
  diagnostics d;
  CHECK_FALSE(read_transcripts(path, f, d));
  bool key = false, line = false;
  for (const auto& x : d.items()) {
    if (x.message.find("unknown key 'conversaton'") != std::string::npos) {
      key = true;
      CHECK(x.pos.line == 4);
      CHECK(x.pos.col == 5);
      CHECK_THAT(x.hint, Contains("conversation"));
    }
    if (x.message.find("unknown conversation line 'bot'") != std::string::npos) {
      line = true;
      CHECK(x.pos.file == path);
      CHECK(x.pos.line == 8);
    }
  }
  CHECK(key);
  CHECK(line);
}

TEST_CASE("read_transcripts reports a bad number as a diagnostic, not an exception", "[transcript][read]") {
  temp_dir dir;
  const std::string path = dir.write("t.yaml", R"y(flow: mini
cases:
  - name: uno
    buttons: muchos
    conversation:
      - learner: "1"
    expect:
      score: alto
)y");
  transcript_file f;
  diagnostics d;
  bool ok = true;
  REQUIRE_NOTHROW(ok = read_transcripts(path, f, d));
  CHECK_FALSE(ok);
  std::vector<int> lines;
  for (const auto& x : d.items()) lines.push_back(x.pos.line);
  CHECK(std::count(lines.begin(), lines.end(), 4) == 1);
  CHECK(std::count(lines.begin(), lines.end(), 8) == 1);
}

TEST_CASE("read_transcripts reports a file that does not exist", "[transcript][read]") {
  transcript_file f;
  diagnostics d;
  CHECK_FALSE(read_transcripts("/nonexistent/aula/t.yaml", f, d));
  CHECK(d.errors() == 1);
}

// ================================================================== running cases

TEST_CASE("a correct hand-written case passes", "[transcript][run]") {
  fixture fx(one_case("todo bien", good_conversation, R"y(
    expect:
      status: completed
      score: 1
      score_max: 1
      answers: {capital: a, edad: "16"}
      records:
        - {type: start}
        - {type: quiz, node: capital, value: a, correct: true, attempt: 1, points: 1, final: true}
        - {type: answer, node: edad, value: "16", status: answered}
        - {type: end, status: completed, points: 1}
)y"));
  const auto out = fx.run("todo bien");
  INFO(out.report);
  CHECK(out.passed);
  CHECK(out.report.empty());
}

TEST_CASE("a case with taps on buttons passes", "[transcript][run]") {
  fixture fx(R"y(flow: mini
cases:
  - name: botones
    buttons: 3
    conversation:
      - aula: "Hola colega."
      - aula: |
          ¿Capital de México?
          [CDMX] [Monterrey]
      - tap: b
      - aula: "Es CDMX."
      - aula: |
          ¿A qué edad empezaste?
          [15] [16]
      - tap: "15"
      - aula: "Puntaje: 0/1"
    expect:
      status: completed
      score: 0
      score_max: 1
      answers: {capital: b, edad: "15"}
)y");
  const auto out = fx.run("botones");
  INFO(out.report);
  CHECK(out.passed);
}

TEST_CASE("a case that stops mid-flow expects status active", "[transcript][run]") {
  fixture fx(R"y(flow: mini
cases:
  - name: a medias
    conversation:
      - aula: "Hola colega."
      - aula: |
          ¿Capital de México?
          1. CDMX
          2. Monterrey
    expect:
      status: active
      score: 0
      score_max: 0
)y");
  const auto out = fx.run("a medias");
  INFO(out.report);
  CHECK(out.passed);
}

TEST_CASE("a wrong expected line fails with a diff of the conversation", "[transcript][run]") {
  const std::string conv = R"y(
    conversation:
      - aula: "Hola Beto."
      - aula: |
          ¿Capital de México?
          1. CDMX
          2. Monterrey
      - learner: "1"
      - aula: "¡Bien!"
      - aula: |
          ¿A qué edad empezaste?
          1. 15
          2. 16
      - learner: "2"
      - aula: "Puntaje: 1/1"
)y";
  fixture fx(one_case("saludo mal", conv));
  const auto out = fx.run("saludo mal");
  INFO(out.report);
  CHECK_FALSE(out.passed);
  CHECK(has_line(out.report, "- ", "Hola Beto."));
  CHECK(has_line(out.report, "+ ", "Hola Ana."));
  CHECK(has_line(out.report, "  ", "¡Bien!"));  // unchanged lines give context
  CHECK_FALSE(has_line(out.report, "- ", "¡Bien!"));
  CHECK_FALSE(has_line(out.report, "+ ", "¡Bien!"));
}

TEST_CASE("a missing aula line fails the case", "[transcript][run]") {
  const std::string conv = R"y(
    conversation:
      - aula: "Hola Ana."
      - learner: "1"
)y";
  fixture fx(one_case("falta", conv));
  const auto out = fx.run("falta");
  CHECK_FALSE(out.passed);
  CHECK(has_line(out.report, "+ ", "¿Capital de México?"));
}

TEST_CASE("a wrong status expectation is reported", "[transcript][run]") {
  fixture fx(one_case("estado", good_conversation, "\n    expect: {status: failed}\n"));
  const auto out = fx.run("estado");
  CHECK_FALSE(out.passed);
  CHECK_THAT(out.report, Contains("expected status failed, got completed"));
}

TEST_CASE("wrong score and score_max expectations are reported", "[transcript][run]") {
  fixture fx(one_case("puntaje", good_conversation, "\n    expect: {score: 5, score_max: 7}\n"));
  const auto out = fx.run("puntaje");
  CHECK_FALSE(out.passed);
  CHECK_THAT(out.report, Contains("expected score 5, got 1"));
  CHECK_THAT(out.report, Contains("expected score_max 7, got 1"));
}

TEST_CASE("a wrong or unsaved answer expectation is reported", "[transcript][run]") {
  fixture fx(one_case("respuestas", good_conversation, "\n    expect: {answers: {capital: b, nada: x}}\n"));
  const auto out = fx.run("respuestas");
  CHECK_FALSE(out.passed);
  CHECK_THAT(out.report, Contains("expected answer capital"));
  CHECK_THAT(out.report, Contains("\"a\""));
  CHECK_THAT(out.report, Contains("expected answer nada"));
  CHECK_THAT(out.report, Contains("not saved"));
}

TEST_CASE("an answer written as a bare number matches an option id of digits", "[transcript][run]") {
  fixture fx(one_case("numero", good_conversation, "\n    expect: {answers: {edad: 16}, records: [{type: answer, value: 16}]}\n"));
  const auto out = fx.run("numero");
  INFO(out.report);
  CHECK(out.passed);
}

TEST_CASE("a record expectation that no record meets is reported", "[transcript][run]") {
  fixture fx(one_case("registros", good_conversation, R"y(
    expect:
      records:
        - {type: quiz, node: capital, correct: false}
)y"));
  const auto out = fx.run("registros");
  CHECK_FALSE(out.passed);
  CHECK_THAT(out.report, Contains("expected a record"));
  CHECK_THAT(out.report, Contains("capital"));
}

TEST_CASE("record expectations must appear in order", "[transcript][run]") {
  fixture fx(one_case("orden", good_conversation, R"y(
    expect:
      records:
        - {type: end}
        - {type: start}
)y"));
  const auto out = fx.run("orden");
  CHECK_FALSE(out.passed);
  CHECK_THAT(out.report, Contains("expected a record"));
}

TEST_CASE("a case naming a flow that is not loaded fails", "[transcript][run]") {
  fixture fx(R"y(flow: otro
cases:
  - name: sin flujo
    conversation:
      - learner: "hola"
)y");
  const auto out = fx.run("sin flujo");
  CHECK_FALSE(out.passed);
  CHECK_THAT(out.report, Contains("otro"));
}
