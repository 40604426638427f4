// flows/course.yaml (bot/authoring/course_reader.cpp), course triggers in triggers.yaml, and the
// migrate / fallback keys of flow files. Expected positions are computed from the YAML written
// here (where the offending text is), never copied from the program's output.
#include "bot/authoring/course_reader.hpp"
#include "bot/authoring/loader.hpp"
#include "bot/authoring/triggers.hpp"
#include "bot/engine/course.hpp"
#include "bot/engine/text.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace aula;
using Catch::Matchers::Contains;

namespace fs = std::filesystem;

namespace {

std::string all_of(const diagnostics& d) {
  std::string s;
  for (const auto& x : d.items()) s += format(x) + "\n";
  return s;
}

// 1-based line and column where `needle` first occurs in `text`.
std::pair<int, int> position_of(const std::string& text, const std::string& needle) {
  auto at = text.find(needle);
  INFO("looking for: " << needle);
  REQUIRE(at != std::string::npos);
  int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
  auto bol = text.rfind('\n', at);
  int col = static_cast<int>(at - (bol == std::string::npos ? 0 : bol + 1)) + 1;
  return {line, col};
}

void check_at(const source_pos& p, const std::string& file, const std::string& text, const std::string& needle) {
  auto [line, col] = position_of(text, needle);
  INFO("at " << p.file << ":" << p.line << ":" << p.col << ", expected at '" << needle << "'");
  CHECK(p.file == file);
  CHECK(p.line == line);
  CHECK(p.col == col);
}

// The diagnostics of `level` whose message contains `needle`.
std::vector<const diagnostic*> matching(const diagnostics& d, diagnostic::level level, const std::string& needle) {
  std::vector<const diagnostic*> out;
  for (const auto& x : d.items())
    if (x.severity == level && x.message.find(needle) != std::string::npos) out.push_back(&x);
  return out;
}

// Flows named modulo-1, modulo-2 and modulo-3, as course modules need loaded flows.
flow_set three_modules() {
  flow_set fs;
  for (const char* id : {"modulo-1", "modulo-2", "modulo-3"}) {
    flow f;
    f.id = id;
    f.start = "fin";
    fs.flows.emplace(id, std::move(f));
  }
  return fs;
}

struct read_result {
  bool ok = false;
  flow_set flows;
  diagnostics d;
};

read_result read(const std::string& text, const std::string& file = "course.yaml") {
  read_result r;
  r.flows = three_modules();
  r.ok = read_courses(text, file, r.flows, r.d);
  return r;
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("aula-course-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string write(const std::string& name, const std::string& text) const {
    fs::path p = path / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

std::string module_flow(const std::string& id) {
  return "spec: 1\nid: " + id + "\nstart: hola\nnodes:\n  hola: {message: \"Hola\", next: fin}\n  fin: {end: completed}\n";
}

}  // namespace

// ================================================================== a good course file

TEST_CASE("course.yaml: a good file reads into the model with its values and positions", "[course]") {
  const std::string text = R"y(spec: 1
language: es
courses:
  - id: inspectores
    name: {es: "Trabajo infantil para inspectores", en: "Child labour for inspectors"}
    hours: 10.5
    start_date: "2026-12-01"
    late_joiners: next_drip
    drip: {days: 2, at: "08:30"}
    welcome: "Hola {{contact.name}}, bienvenida a {{course.name}}"
    unlocked: {es: "Se abrió {{module.name}}", en: "{{module.name}} is open"}
    modules:
      - modulo-1
      - {flow: modulo-2, min_score: 60, title: {es: "Dos", en: "Two"}, drip: {days: 3, at: "10:00"}}
      - {flow: modulo-3, min_score: 80, drip: {days: 0}}
    nudges: {after: 48h, max: 2, text: {es: "¿Seguimos, {{contact.name}}?"}, template: recordatorio_curso}
    review: {text: "Obtuviste {{module.score}}; se pide {{module.min_score}} ({{answers.rol}})", max_attempts: 3}
    completion: {min_score: 70, message: {es: "¡Felicidades! {{score.percent}}%"}, not_met: "Casi: {{score.total}}/{{score.max}}"}
    certificate:
      text: {es: "Constancia {{certificate.folio}} ({{certificate.code}}, {{certificate.hours}} h, {{certificate.date}}) de {{certificate.name}}: {{certificate.url}}", en: "Certificate: {{ certificate.url }}"}
      name: "{{contact.nombre_completo|contact.name}}"
  - id: breve
    name: Breve
    drip: {days: 0, at: now}
    modules: [modulo-3]
  - {id: minimo, name: Mínimo, modules: [modulo-1, modulo-2]}
)y";
  auto r = read(text);
  INFO(all_of(r.d));
  REQUIRE(r.ok);
  CHECK(r.d.items().empty());
  REQUIRE(r.flows.courses);
  REQUIRE(r.flows.courses->courses.size() == 3);

  const course_def* c = r.flows.course("inspectores");
  REQUIRE(c);
  check_at(c->pos, "course.yaml", text, "inspectores");
  CHECK(c->name.get("en", "es") == "Child labour for inspectors");
  CHECK(c->name.get("es", "es") == "Trabajo infantil para inspectores");
  CHECK(c->language == "es");
  CHECK(c->hours == 10.5);
  CHECK(c->start_date == "2026-12-01");
  CHECK_FALSE(c->late_start_now);
  CHECK(c->drip.days == 2);
  CHECK(c->drip.at_minutes == std::optional<int>(8 * 60 + 30));
  CHECK(c->welcome.get("es", "es") == "Hola {{contact.name}}, bienvenida a {{course.name}}");
  CHECK(c->unlocked.get("en", "es") == "{{module.name}} is open");

  REQUIRE(c->modules.size() == 3);
  CHECK(c->modules[0].flow == "modulo-1");
  CHECK(c->modules[0].min_score == 0);
  CHECK(c->modules[0].title.empty());
  CHECK_FALSE(c->modules[0].days);
  CHECK_FALSE(c->modules[0].at_minutes);
  check_at(c->modules[0].pos, "course.yaml", text, "modulo-1\n");
  CHECK(c->modules[1].flow == "modulo-2");
  CHECK(c->modules[1].min_score == 60);
  CHECK(c->modules[1].title.get("en", "es") == "Two");
  CHECK(c->modules[1].days == std::optional<int>(3));
  CHECK(c->modules[1].at_minutes == std::optional<int>(10 * 60));
  check_at(c->modules[1].pos, "course.yaml", text, "{flow: modulo-2");
  CHECK(c->modules[2].flow == "modulo-3");
  CHECK(c->modules[2].min_score == 80);
  CHECK(c->modules[2].days == std::optional<int>(0));
  CHECK_FALSE(c->modules[2].at_minutes);  // the course's
  CHECK(c->module("modulo-2") == &c->modules[1]);
  CHECK(c->index_of("modulo-3") == 2);

  CHECK(c->nudges.after_ms == 48LL * 3'600'000);
  CHECK(c->nudges.max == 2);
  CHECK(c->nudges.text.get("es", "es") == "¿Seguimos, {{contact.name}}?");
  CHECK(c->nudges.template_name == "recordatorio_curso");
  check_at(c->nudges.pos, "course.yaml", text, "{after: 48h");
  CHECK(c->review.max_attempts == 3);
  CHECK_THAT(c->review.text.get("es", "es"), Contains("{{module.min_score}}"));
  CHECK(c->completion.min_score == 70);
  CHECK(c->completion.message.get("es", "es") == "¡Felicidades! {{score.percent}}%");
  CHECK(c->completion.not_met.get("es", "es") == "Casi: {{score.total}}/{{score.max}}");
  CHECK(c->certificate.enabled);
  CHECK_THAT(c->certificate.text.get("en", "es"), Contains("{{ certificate.url }}"));
  CHECK(c->certificate.name == "{{contact.nombre_completo|contact.name}}");

  const course_def* b = r.flows.course("breve");
  REQUIRE(b);
  CHECK(b->drip.days == 0);
  CHECK_FALSE(b->drip.at_minutes);  // at: now
  CHECK(b->name.get("es", "es") == "Breve");
  REQUIRE(b->modules.size() == 1);
  CHECK(b->modules[0].flow == "modulo-3");

  // Defaults.
  const course_def* m = r.flows.course("minimo");
  REQUIRE(m);
  CHECK(m->hours == 0);
  CHECK(m->start_date.empty());
  CHECK(m->late_start_now);
  CHECK(m->drip.days == 1);
  CHECK(m->drip.at_minutes == std::optional<int>(9 * 60));
  CHECK(m->nudges.after_ms == 0);
  CHECK(m->nudges.max == 0);
  CHECK(m->review.max_attempts == 0);
  CHECK(m->completion.min_score == 0);
  CHECK_FALSE(m->certificate.enabled);
  CHECK(m->certificate.name == "{{contact.name}}");
  CHECK(m->modules.size() == 2);
  CHECK(m->name.get("es", "es") == "Mínimo");
  CHECK_FALSE(r.flows.course("otro"));
}

TEST_CASE("course.yaml: the base language names plain strings; nudges default to one", "[course]") {
  auto r = read(R"y(spec: 1
language: en
courses:
  - id: curso
    name: Course
    welcome: Welcome
    modules: [modulo-1]
    nudges: {after: 1d, text: "Still there?"}
    certificate: {}
)y");
  INFO(all_of(r.d));
  REQUIRE(r.ok);
  const course_def* c = r.flows.course("curso");
  REQUIRE(c);
  CHECK(c->language == "en");
  CHECK(c->name.by_lang.count("en"));
  CHECK_FALSE(c->name.by_lang.count("es"));
  CHECK(c->welcome.get("en", "en") == "Welcome");
  CHECK(c->nudges.after_ms == 24LL * 3'600'000);
  CHECK(c->nudges.max == 1);
  CHECK(c->certificate.enabled);
  CHECK(r.d.items().empty());
}

// ================================================================== errors and warnings

namespace {

// A valid file that each case changes in one place.
const std::string base = R"y(spec: 1
courses:
  - id: curso
    name: Curso
    modules:
      - modulo-1
      - {flow: modulo-2, min_score: 60}
)y";

struct problem {
  const char* what;
  std::string from, to;       // `from` in base becomes `to`
  diagnostic::level level;
  std::string message;        // part of the message
  std::string at;             // where in the changed text (first occurrence)
  std::string hint = {};      // part of the hint
};

constexpr auto E = diagnostic::level::error;
constexpr auto W = diagnostic::level::warning;

}  // namespace

TEST_CASE("course.yaml: each problem is reported once, at its place, with a hint", "[course][errors]") {
  const std::vector<problem> problems = {
      {"an unknown top-level key", "spec: 1\n", "spec: 1\ncurses: []\n", E, "unknown key 'curses'", "curses",
       "did you mean 'courses'?"},
      {"an unknown course key", "    name: Curso\n", "    name: Curso\n    welcom: hola\n", E, "unknown key 'welcom'",
       "welcom", "did you mean 'welcome'?"},
      {"an unknown module key", "min_score: 60}", "min_scor: 60}", E, "unknown key 'min_scor'", "min_scor",
       "did you mean 'min_score'?"},
      {"an unknown drip key", "    name: Curso\n", "    name: Curso\n    drip: {dias: 2}\n", E, "unknown key 'dias'",
       "dias", "did you mean 'days'?"},
      {"an unknown nudges key", "    name: Curso\n", "    name: Curso\n    nudges: {after: 1h, text: a, maxx: 1}\n", E,
       "unknown key 'maxx'", "maxx", "did you mean 'max'?"},
      {"an unknown certificate key", "    name: Curso\n", "    name: Curso\n    certificate: {txt: \"{{certificate.url}}\"}\n",
       E, "unknown key 'txt'", "txt", "did you mean 'text'?"},
      {"an unknown completion key", "    name: Curso\n", "    name: Curso\n    completion: {min_scre: 70}\n", E,
       "unknown key 'min_scre'", "min_scre", "did you mean 'min_score'?"},
      {"an unknown review key", "    name: Curso\n", "    name: Curso\n    review: {max_attempt: 2}\n", E,
       "unknown key 'max_attempt'", "max_attempt", "did you mean 'max_attempts'?"},
      {"a key far from any", "    name: Curso\n", "    name: Curso\n    color: rojo\n", E, "unknown key 'color'", "color",
       "allowed here:"},
      {"a missing spec", "spec: 1\n", "", E, "missing spec", "courses:", "spec: 1"},
      {"a spec newer than this build", "spec: 1", "spec: 2", E, "spec 2 is newer", "2\n", "spec: 1"},
      {"missing courses", "courses:\n", "curso:\n", E, "missing courses", "spec: 1", "courses:"},
      {"courses that are no list", "courses:\n  - id: curso", "courses:\n    id: curso", E, "courses must be a list",
       "id: curso", ""},
      {"a course without id", "  - id: curso\n    name: Curso", "  - name: Curso", E, "course without id", "name: Curso",
       "add id:"},
      {"a bad course id", "id: curso", "id: Curso", E, "course id 'Curso' may use only", "Curso\n", ""},
      {"a course id used twice", "      - {flow: modulo-2, min_score: 60}\n",
       "      - {flow: modulo-2, min_score: 60}\n  - {id: curso, name: Otro, modules: [modulo-3]}\n", E,
       "course id 'curso' is used twice", "curso, name: Otro", "first at line 3"},
      {"a course without name", "    name: Curso\n", "", E, "course 'curso' has no name", "id: curso", "add name:"},
      {"a course without modules", "    modules:\n      - modulo-1\n      - {flow: modulo-2, min_score: 60}\n", "", E,
       "course 'curso' has no modules", "id: curso", "add modules:"},
      {"an empty module list", "    modules:\n      - modulo-1\n      - {flow: modulo-2, min_score: 60}\n",
       "    modules: []\n", E, "must be a list of flow ids", "[]", ""},
      {"a module that is not a loaded flow", "- modulo-1", "- moduo-1", E, "module 'moduo-1' of course 'curso' is not a loaded flow",
       "moduo-1", "did you mean 'modulo-1'?"},
      {"a module map without flow", "{flow: modulo-2, min_score: 60}", "{min_score: 60}", E, "has no flow",
       "{min_score", "add flow:"},
      {"a flow listed twice", "      - {flow: modulo-2, min_score: 60}\n",
       "      - {flow: modulo-2, min_score: 60}\n      - {flow: modulo-1}\n", E, "flow 'modulo-1' is listed twice",
       "modulo-1}", "first at line 6"},
      {"min_score over 100", "min_score: 60", "min_score: 101", E, "min_score must be from 0 to 100", "101", "percent"},
      {"a negative min_score", "min_score: 60", "min_score: -5", E, "min_score must be from 0 to 100", "-5", ""},
      {"a min_score that is no number", "min_score: 60", "min_score: mucho", E, "min_score must be a whole number",
       "mucho", ""},
      {"completion min_score over 100", "    name: Curso\n", "    name: Curso\n    completion: {min_score: 170}\n", E,
       "completion.min_score must be from 0 to 100", "170", ""},
      {"min_score on the first module", "      - modulo-1\n", "      - {flow: modulo-1, min_score: 50}\n", W,
       "min_score of the first module is ignored", "50", "completion"},
      {"a bad nudge duration", "    name: Curso\n", "    name: Curso\n    nudges: {after: 2 days, text: hola}\n", E,
       "'2 days' is not a duration for nudges.after", "2 days", "24h"},
      {"a zero nudge duration", "    name: Curso\n", "    name: Curso\n    nudges: {after: 0h, text: hola}\n", E,
       "'0h' is not a duration", "0h", ""},
      {"nudges without after", "    name: Curso\n", "    name: Curso\n    nudges: {text: hola}\n", E, "have no after",
       "{text: hola}", "add after:"},
      {"nudges without text", "    name: Curso\n", "    name: Curso\n    nudges: {after: 48h}\n", W, "have no text",
       "{after: 48h}", "add text:"},
      {"a negative nudges max", "    name: Curso\n", "    name: Curso\n    nudges: {after: 48h, text: a, max: -1}\n", E,
       "nudges.max must be 0 or more", "-1", ""},
      {"a template name WhatsApp refuses", "    name: Curso\n",
       "    name: Curso\n    nudges: {after: 48h, text: a, template: Recordatorio Curso}\n", E,
       "'Recordatorio Curso' is not a WhatsApp template name", "Recordatorio Curso", "a-z, 0-9"},
      {"a bad clock", "    name: Curso\n", "    name: Curso\n    drip: {at: \"25:00\"}\n", E,
       "'25:00' is not a time of day for drip.at", "\"25:00\"", "HH:MM"},
      {"a negative drip days", "    name: Curso\n", "    name: Curso\n    drip: {days: -1}\n", E,
       "drip.days must be 0 or more", "-1", ""},
      {"a bad module clock", "min_score: 60}", "min_score: 60, drip: {at: \"9h\"}}", E, "'9h' is not a time of day",
       "\"9h\"", "HH:MM"},
      {"a negative module drip days", "min_score: 60}", "min_score: 60, drip: {days: -2}}", E,
       "drip.days of module 2 must be 0 or more", "-2}", ""},
      {"at: now on one module", "min_score: 60}", "min_score: 60, drip: {at: now}}", E, "drip.at of module 2 cannot be now",
       "now}", "course's drip"},
      {"a date that is not on the calendar", "    name: Curso\n", "    name: Curso\n    start_date: \"2026-02-30\"\n", E,
       "'2026-02-30' is not a date for start_date", "\"2026-02-30\"", "YYYY-MM-DD"},
      {"a date in another format", "    name: Curso\n", "    name: Curso\n    start_date: 01/12/2026\n", E,
       "'01/12/2026' is not a date", "01/12/2026", "YYYY-MM-DD"},
      {"an unknown late_joiners", "    name: Curso\n", "    name: Curso\n    late_joiners: next_drp\n", E,
       "unknown late_joiners 'next_drp'", "next_drp", "did you mean 'next_drip'?"},
      {"a late_joiners far from any", "    name: Curso\n", "    name: Curso\n    late_joiners: luego\n", E,
       "unknown late_joiners 'luego'", "luego", "now"},
      {"negative hours", "    name: Curso\n", "    name: Curso\n    hours: -2\n", E, "hours must be 0 or more", "-2", ""},
      {"a negative review max_attempts", "    name: Curso\n", "    name: Curso\n    review: {text: a, max_attempts: -3}\n",
       E, "review.max_attempts must be 0 or more", "-3", ""},
      {"a certificate text without the link", "    name: Curso\n",
       "    name: Curso\n    certificate: {text: {es: \"Tu constancia {{certificate.url}}\", en: \"Your certificate\"}}\n", W,
       "has no {{certificate.url}} (en)", "{es: \"Tu constancia", "the learner needs the link to show the certificate"},
      {"an unknown variable namespace", "    name: Curso\n", "    name: Curso\n    welcome: \"Hola {{usuario.nombre}}\"\n", W,
       "unknown variable 'usuario.nombre' in the welcome of course 'curso'", "\"Hola", "certificate.url"},
      {"an unknown course variable", "    name: Curso\n", "    name: Curso\n    review: {text: \"{{module.nota}}\"}\n", W,
       "unknown variable 'module.nota'", "\"{{module.nota}}\"", "module.score"},
      {"an unknown variable in the certificate name", "    name: Curso\n",
       "    name: Curso\n    certificate: {text: \"{{certificate.url}}\", name: \"{{flow.name}}\"}\n", W,
       "unknown variable 'flow.name' in the certificate name", "\"{{flow.name}}\"", ""},
      {"a text that is no text", "    name: Curso\n", "    name: Curso\n    welcome: [hola]\n", E,
       "the welcome of course 'curso' must be a text or a map of languages", "[hola]", ""},
      {"a bad language code", "spec: 1\n", "spec: 1\nlanguage: Español\n", E, "'Español' is not a language code",
       "Español", ""},
  };
  for (const auto& p : problems) {
    INFO(p.what);
    std::string text = base;
    auto at = text.find(p.from);
    REQUIRE(at != std::string::npos);
    text.replace(at, p.from.size(), p.to);
    INFO(text);
    auto r = read(text, "cursos.yaml");
    INFO(all_of(r.d));
    const auto found = matching(r.d, p.level, p.message);
    REQUIRE(found.size() == 1);
    const diagnostic& d = *found.front();
    check_at(d.pos, "cursos.yaml", text, p.at);
    if (!p.hint.empty()) CHECK_THAT(d.hint, Contains(p.hint));
    CHECK_FALSE(d.hint.empty());
    REQUIRE(r.flows.courses);  // never null, even after errors
    if (p.level == E) {
      CHECK_FALSE(r.ok);
      // A course with errors is left out, as a flow with errors is (a second course with the
      // id of the first is the one left out).
      // A problem with the file itself (its keys, spec or language) leaves out all of its courses.
      if (p.message.find("used twice") != std::string::npos) CHECK(r.flows.courses->courses.size() == 1);
      else CHECK_FALSE(r.flows.course("curso"));
    } else {
      CHECK(r.ok);
      CHECK(r.d.errors() == 0);
      CHECK(r.flows.course("curso"));
    }
  }
}

TEST_CASE("course.yaml: min_score on the first module is dropped, the others stay", "[course][errors]") {
  auto r = read("spec: 1\ncourses:\n  - {id: c, name: C, modules: [{flow: modulo-1, min_score: 40}, {flow: modulo-2, min_score: 50}]}\n");
  REQUIRE(r.ok);
  const course_def* c = r.flows.course("c");
  REQUIRE(c);
  REQUIRE(c->modules.size() == 2);
  CHECK(c->modules[0].min_score == 0);
  CHECK(c->modules[1].min_score == 50);
  CHECK(r.d.warnings() == 1);
}

TEST_CASE("course.yaml: several problems are reported in one pass; good courses stay", "[course][errors]") {
  const std::string text = R"y(spec: 1
courses:
  - id: mala
    name: Mala
    hours: -1
    modules: [modulo-9, {flow: modulo-1, min_score: 200}]
  - id: buena
    name: Buena
    modules: [modulo-2]
)y";
  auto r = read(text);
  INFO(all_of(r.d));
  CHECK_FALSE(r.ok);
  CHECK(r.d.errors() == 3);
  CHECK_FALSE(r.flows.course("mala"));
  CHECK(r.flows.course("buena"));
}

TEST_CASE("course.yaml: YAML errors, an empty file and a non-map are errors with a place", "[course][errors]") {
  {
    auto r = read("spec: 1\ncourses: [\n");
    CHECK_FALSE(r.ok);
    REQUIRE(r.d.errors() == 1);
    CHECK_THAT(r.d.items()[0].message, Contains("not valid YAML"));
    CHECK(r.d.items()[0].pos.file == "course.yaml");
    CHECK(r.d.items()[0].pos.line >= 2);
    REQUIRE(r.flows.courses);
    CHECK(r.flows.courses->courses.empty());
  }
  {
    auto r = read("");
    CHECK_FALSE(r.ok);
    REQUIRE(r.d.errors() == 1);
    CHECK_THAT(r.d.items()[0].message, Contains("empty"));
  }
  {
    auto r = read("- a\n- b\n");
    CHECK_FALSE(r.ok);
    REQUIRE(r.d.errors() == 1);
    CHECK_THAT(r.d.items()[0].message, Contains("must be a map"));
  }
}

TEST_CASE("course_variable_known: the variables course texts may use", "[course]") {
  for (const char* v : {"contact.name", "answers.rol", "course.name", "course.id", "module.number", "modules.total",
                        "module.name", "module.score", "module.min_score",
                        "score.total", "score.max", "score.percent", "certificate.url", "certificate.code",
                        "certificate.folio", "certificate.name", "certificate.hours", "certificate.date"}) {
    INFO(v);
    CHECK(course_variable_known(v));
  }
  for (const char* v : {"contact.", "answers.", "course.hours", "module.flow", "flow.name", "certificate", "usuario.nombre", "lang"}) {
    INFO(v);
    CHECK_FALSE(course_variable_known(v));
  }
}

// ================================================================== load_flows and triggers

TEST_CASE("load_flows reads course.yaml after the flows and before triggers.yaml", "[course][loader]") {
  temp_dir dir;
  dir.write("modulo-1.yaml", module_flow("modulo-1"));
  dir.write("modulo-2.yaml", module_flow("modulo-2"));
  const std::string course = dir.write("course.yaml", R"y(spec: 1
courses:
  - id: inspectores
    name: Inspectores
    modules: [modulo-1, {flow: modulo-2, min_score: 60}]
)y");
  dir.write("triggers.yaml", R"y(spec: 1
triggers:
  - {keywords: [curso], course: inspectores}
  - {keywords: [uno], flow: modulo-1}
)y");
  auto res = load_flows({dir.path.string()});
  INFO(all_of(res.diags));
  CHECK(res.ok());
  CHECK(res.diags.items().empty());
  CHECK(res.files == 4);
  REQUIRE(res.flows.courses);
  const course_def* c = res.flows.course("inspectores");
  REQUIRE(c);
  CHECK(c->pos.file == course);
  REQUIRE(c->modules.size() == 2);
  CHECK(c->modules[1].min_score == 60);
  REQUIRE(res.flows.triggers.triggers.size() == 2);
  CHECK(res.flows.triggers.triggers[0].course == "inspectores");
  CHECK(res.flows.triggers.triggers[0].flow.empty());
  CHECK(res.flows.triggers.triggers[1].flow == "modulo-1");
  CHECK(res.flows.triggers.triggers[1].course.empty());
}

TEST_CASE("load_flows without course.yaml gives an empty course set; a module whose flow failed is named",
          "[course][loader]") {
  {
    temp_dir dir;
    dir.write("modulo-1.yaml", module_flow("modulo-1"));
    auto res = load_flows({dir.path.string()});
    CHECK(res.ok());
    REQUIRE(res.flows.courses);
    CHECK(res.flows.courses->courses.empty());
    CHECK_FALSE(res.flows.course("x"));
  }
  {
    temp_dir dir;
    auto res = load_flows({dir.write("modulo-1.yaml", module_flow("modulo-1"))});  // a file, not a folder
    CHECK(res.ok());
    REQUIRE(res.flows.courses);
    CHECK(res.flows.courses->courses.empty());
  }
  {
    temp_dir dir;
    dir.write("modulo-1.yaml", "spec: 1\nid: modulo-1\nstart: a\nnodes:\n  a: {message: x, next: b}\n");
    const std::string text = "spec: 1\ncourses:\n  - {id: c, name: C, modules: [modulo-1]}\n";
    const std::string course = dir.write("course.yaml", text);
    auto res = load_flows({dir.path.string()});
    CHECK_FALSE(res.ok());
    const auto found = matching(res.diags, diagnostic::level::error, "module 'modulo-1' of course 'c' is not a loaded flow");
    INFO(all_of(res.diags));
    REQUIRE(found.size() == 1);
    check_at(found[0]->pos, course, text, "modulo-1]");
    CHECK_THAT(found[0]->hint, Contains("left out"));
  }
}

TEST_CASE("course.yaml in two folders: the courses add up, an id used in both is an error", "[course][loader]") {
  temp_dir a, b;
  a.write("modulo-1.yaml", module_flow("modulo-1"));
  b.write("modulo-2.yaml", module_flow("modulo-2"));
  const std::string first = a.write("course.yaml", "spec: 1\ncourses:\n  - {id: uno, name: Uno, modules: [modulo-1]}\n");
  const std::string text = "spec: 1\ncourses:\n  - {id: dos, name: Dos, modules: [modulo-2]}\n  - {id: uno, name: Otro, modules: [modulo-2]}\n";
  const std::string second = b.write("course.yaml", text);
  auto res = load_flows({a.path.string(), b.path.string()});
  INFO(all_of(res.diags));
  REQUIRE(res.flows.courses);
  CHECK(res.flows.courses->courses.size() == 2);
  CHECK(res.flows.course("dos"));
  REQUIRE(res.flows.course("uno"));
  CHECK(res.flows.course("uno")->name.get("es", "es") == "Uno");
  const auto found = matching(res.diags, diagnostic::level::error, "course id 'uno' is used twice");
  REQUIRE(found.size() == 1);
  check_at(found[0]->pos, second, text, "uno, name: Otro");
  CHECK_THAT(found[0]->hint, Contains(first));
}

namespace {

// Triggers read against modulo-1..3 and the course "curso".
read_result triggers(const std::string& text) {
  read_result r;
  r.flows = three_modules();
  diagnostics cd;
  REQUIRE(read_courses("spec: 1\ncourses:\n  - {id: curso, name: Curso, modules: [modulo-1]}\n", "course.yaml", r.flows, cd));
  r.ok = read_triggers(text, "triggers.yaml", r.flows, r.d);
  return r;
}

}  // namespace

TEST_CASE("triggers.yaml: a trigger names a course or a flow, exactly one", "[course][triggers]") {
  {
    auto r = triggers("spec: 1\ntriggers:\n  - {keywords: [curso, inscribirme], course: curso, policy: queue}\n");
    INFO(all_of(r.d));
    REQUIRE(r.ok);
    REQUIRE(r.flows.triggers.triggers.size() == 1);
    const trigger& t = r.flows.triggers.triggers[0];
    CHECK(t.course == "curso");
    CHECK(t.flow.empty());
    CHECK(t.policy == start_policy::queue);
    CHECK(t.keywords == std::vector<std::string>{"curso", "inscribirme"});
  }
  {
    // Each keyword is kept as written and folded once, for the match made on every message.
    auto r = triggers("spec: 1\ntriggers:\n  - {keywords: [Inscripción, ÑANDÚ], course: curso}\n");
    INFO(all_of(r.d));
    REQUIRE(r.ok);
    const trigger& t = r.flows.triggers.triggers.at(0);
    CHECK(t.keywords == std::vector<std::string>{"Inscripción", "ÑANDÚ"});
    REQUIRE(t.folded.size() == t.keywords.size());
    for (std::size_t i = 0; i < t.keywords.size(); ++i) {
      CHECK(t.folded[i] == fold(t.keywords[i]));
      CHECK(t.keyword_is(i, fold(t.keywords[i])));
      CHECK_FALSE(t.keyword_is(i, t.keywords[i]));  // the text as written is not folded
    }
    // A trigger made without the folded forms folds its keywords when matched.
    trigger made;
    made.keywords = {"Inscripción"};
    CHECK(made.keyword_is(0, fold("INSCRIPCION")));
    CHECK_FALSE(made.keyword_is(0, fold("inscrito")));
  }
  struct bad {
    const char* what;
    std::string text, message, at, hint;
  };
  const std::vector<bad> cases = {
      {"an unknown course", "spec: 1\ntriggers:\n  - {keywords: [a], course: crso}\n", "no course 'crso'", "crso",
       "did you mean 'curso'?"},
      {"an unknown course far from any", "spec: 1\ntriggers:\n  - {keywords: [a], course: diplomado}\n",
       "no course 'diplomado'", "diplomado", "course.yaml"},
      {"both a flow and a course", "spec: 1\ntriggers:\n  - {keywords: [a], flow: modulo-1, course: curso}\n",
       "either a flow or a course", "curso}", "keep flow:"},
      {"neither", "spec: 1\ntriggers:\n  - {keywords: [a], policy: queue}\n", "trigger without flow or course", "{keywords",
       "course: <course id>"},
      {"a misspelled course key", "spec: 1\ntriggers:\n  - {keywords: [a], flow: modulo-1, curse: curso}\n",
       "unknown key 'curse'", "curse", "did you mean 'course'?"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto r = triggers(c.text);
    INFO(all_of(r.d));
    CHECK_FALSE(r.ok);
    const auto found = matching(r.d, diagnostic::level::error, c.message);
    REQUIRE(found.size() == 1);
    check_at(found[0]->pos, "triggers.yaml", c.text, c.at);
    CHECK_THAT(found[0]->hint, Contains(c.hint));
  }
}

TEST_CASE("triggers.yaml: a course trigger without any course.yaml is an error", "[course][triggers]") {
  flow_set fs = three_modules();  // courses never loaded: null
  diagnostics d;
  CHECK_FALSE(read_triggers("spec: 1\ntriggers:\n  - {keywords: [a], course: curso}\n", "t.yaml", fs, d));
  CHECK(matching(d, diagnostic::level::error, "no course 'curso'").size() == 1);
}

// ================================================================== migrate and fallback

namespace {

const std::string migrating = R"y(spec: 1
id: m
start: hola
migrate: {vieja: fin, "otra-vieja": pregunta}
fallback: hola
nodes:
  hola: {message: "Hola", next: pregunta}
  pregunta: {question: "¿Sí?", options: [Sí, "No"], next: fin}
  fin: {end: completed}
)y";

}  // namespace

TEST_CASE("migrate and fallback read into the flow with positions", "[course][migrate]") {
  flow f;
  diagnostics d;
  REQUIRE(read_flow(migrating, "m.yaml", f, d));
  INFO(all_of(d));
  CHECK(d.items().empty());
  CHECK(f.migrate == std::map<std::string, std::string>{{"vieja", "fin"}, {"otra-vieja", "pregunta"}});
  REQUIRE(f.migrate_pos.count("vieja"));
  check_at(f.migrate_pos.at("vieja"), "m.yaml", migrating, "fin,");
  check_at(f.migrate_pos.at("otra-vieja"), "m.yaml", migrating, "pregunta}");
  CHECK(f.fallback == "hola");
  check_at(f.fallback_pos, "m.yaml", migrating, "hola\nnodes");
}

TEST_CASE("a flow without migrate or fallback leaves them empty", "[course][migrate]") {
  flow f;
  diagnostics d;
  REQUIRE(read_flow(module_flow("x"), "x.yaml", f, d));
  CHECK(f.migrate.empty());
  CHECK(f.migrate_pos.empty());
  CHECK(f.fallback.empty());
}

TEST_CASE("migrate and fallback: targets must be nodes; a key that is still a node warns", "[course][migrate]") {
  struct bad {
    const char* what;
    std::string from, to;
    diagnostic::level level;
    std::string message, at, hint;
  };
  const std::vector<bad> cases = {
      {"a migrate target that is no node", "vieja: fin", "vieja: fni", E, "migrate of 'vieja': 'fni' is not a node of this flow",
       "fni", "did you mean 'fin'?"},
      {"a migrate target far from any node", "vieja: fin", "vieja: zzz", E, "migrate of 'vieja': 'zzz' is not a node",
       "zzz", "existing nodes: hola, pregunta, fin"},
      {"a fallback that is no node", "fallback: hola", "fallback: hloa", E, "fallback 'hloa' is not a node of this flow",
       "hloa", "did you mean 'hola'?"},
      {"a migrate key that is still a node", "vieja: fin", "hola: fin", W, "migrate: node 'hola' still exists; learners there stay",
       "hola: fin", "remove the entry"},
      {"migrate that is no map", "migrate: {vieja: fin, \"otra-vieja\": pregunta}", "migrate: [vieja]", E,
       "migrate must be a map", "[vieja]", "migrate: {"},
      {"a migrate key that is no node id", "vieja: fin", "Vieja Uno: fin", E, "migrate key 'Vieja Uno' is no node id",
       "Vieja Uno", ""},
      {"a misspelled top-level key", "fallback: hola", "fallbak: hola", E, "unknown key 'fallbak'", "fallbak",
       "did you mean 'fallback'?"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    std::string text = migrating;
    auto at = text.find(c.from);
    REQUIRE(at != std::string::npos);
    text.replace(at, c.from.size(), c.to);
    flow f;
    diagnostics d;
    const bool ok = read_flow(text, "m.yaml", f, d);
    INFO(text << all_of(d));
    const auto found = matching(d, c.level, c.message);
    REQUIRE(found.size() == 1);
    check_at(found[0]->pos, "m.yaml", text, c.at);
    if (!c.hint.empty()) CHECK_THAT(found[0]->hint, Contains(c.hint));
    CHECK(ok == (c.level == W));
  }
}

TEST_CASE("nodes reached only through migrate or fallback are not unreachable", "[course][migrate]") {
  temp_dir dir;
  const std::string text = R"y(spec: 1
id: m
start: hola
migrate: {vieja: repaso}
fallback: otro
nodes:
  hola: {end: completed}
  repaso: {message: "Repaso", next: despues}
  despues: {end: completed}
  otro: {end: completed}
  suelto: {end: completed}
)y";
  const std::string file = dir.write("m.yaml", text);
  auto res = load_flows({dir.path.string()});
  INFO(all_of(res.diags));
  CHECK(res.ok());
  const auto unreachable = matching(res.diags, diagnostic::level::warning, "never reached");
  REQUIRE(unreachable.size() == 1);
  CHECK_THAT(unreachable[0]->message, Contains("'suelto'"));
  check_at(unreachable[0]->pos, file, text, "suelto:");
}
