// The course layer and the migration of learners on the pure engine: what transcripts do not
// show (state, records, codes, queued modules, opt-out), and progress rebuilt from records.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>
#include <string>
#include <vector>

#include "bot/authoring/loader.hpp"
#include "bot/authoring/simulator.hpp"
#include "bot/engine/course.hpp"
#include "bot/engine/engine.hpp"
#include "bot/engine/timing.hpp"
#include "tests/support/flow_fixtures.hpp"

using namespace aula;
using nlohmann::json;

namespace {

const char* const m1_yaml = R"(
spec: 1
id: m1
name: "Módulo uno"
start: q1
nodes:
  q1:
    quiz: "¿Uno?"
    options:
      - {id: a, label: "Sí", correct: true}
      - {id: b, label: "No"}
    points: 2
    next: fin
  fin:
    end: completed
)";

const char* const m2_yaml = R"(
spec: 1
id: m2
name: "Módulo dos"
start: q2
nodes:
  q2:
    quiz: "¿Dos?"
    options:
      - {id: a, label: "Sí", correct: true}
      - {id: b, label: "No"}
    next: fin
  fin:
    end: completed
)";

const char* const survey_yaml = R"(
spec: 1
id: encuesta
name: "Encuesta"
start: p
nodes:
  p:
    question: "¿Cómo vas? ñ"
    type: text
    next: fin
  fin:
    end: completed
)";

// Writes the flows and a course.yaml into a fresh folder and loads them as aula would.
struct course_fixture {
  std::string dir;
  flow_set flows;
  explicit course_fixture(const std::string& course_yaml) {
    dir = (std::filesystem::temp_directory_path() / ("aula-course-test-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(counter()++)))
              .string();
    std::filesystem::create_directories(dir);
    write("m1.yaml", m1_yaml);
    write("m2.yaml", m2_yaml);
    write("encuesta.yaml", survey_yaml);
    write("course.yaml", course_yaml);
    auto r = load_flows({dir});
    for (const auto& d : r.diags.items()) INFO(format(d));
    REQUIRE(r.ok());
    flows = std::move(r.flows);
  }
  ~course_fixture() { std::filesystem::remove_all(dir); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(std::filesystem::path(dir) / name) << text;
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

const char* const basic_course = R"(
spec: 1
courses:
  - id: c
    name: "Curso"
    hours: 3
    drip: {days: 1, at: "09:00"}
    modules: [m1, {flow: m2, min_score: 100}]
    nudges: {after: 24h, max: 1, text: "¿Sigues ahí?"}
    review: {text: "Repaso: {{module.score}} de {{module.min_score}}", max_attempts: 2}
    certificate: {text: "Constancia {{certificate.folio}}: {{certificate.url}}"}
)";

context ctx_at(const std::string& local, const std::string& tz = "America/Mexico_City") {
  context c;
  c.tz = tz;
  c.now_ms = *parse_instant(local, tz);
  return c;
}

std::vector<std::string> texts(const std::vector<sim_output>& out) {
  std::vector<std::string> v;
  for (const auto& o : out)
    if (o.type == sim_output::kind::message) v.push_back(o.text);
  return v;
}

bool has_text(const std::vector<sim_output>& out, const std::string& prefix) {
  for (const auto& t : texts(out))
    if (t.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("course: progress rebuilt from the result records equals the session's", "[course]") {
  course_fixture fx(basic_course);
  simulator sim(fx.flows, ctx_at("2026-03-02 17:00"));
  sim.send(inbound_event::enroll_in("c"));
  sim.send(inbound_event::message("2"));  // m1 wrong: 0 % < 100 %: review
  REQUIRE(sim.state().courses.at(0).modules.at(0).status == "review");
  sim.advance(parse_duration("16h").value());  // retake at 09:00
  sim.send(inbound_event::message("1"));       // m1 right: m2 tomorrow
  sim.advance(parse_duration("1d").value());
  sim.send(inbound_event::message("1"));  // m2 right: completed, certificate
  const auto& live = sim.state().courses;
  REQUIRE(live.size() == 1);
  CHECK(live[0].status == "completed");
  const auto rebuilt = progress_from_records(sim.records);
  REQUIRE(rebuilt.size() == 1);
  CHECK(rebuilt[0].course == "c");
  CHECK(rebuilt[0].status == live[0].status);
  CHECK(rebuilt[0].enrolled_at == live[0].enrolled_at);
  CHECK(rebuilt[0].ended_at == live[0].ended_at);
  CHECK(rebuilt[0].certificate == live[0].certificate);
  CHECK(rebuilt[0].folio == live[0].folio);
  REQUIRE(rebuilt[0].modules.size() == live[0].modules.size());
  for (std::size_t i = 0; i < live[0].modules.size(); ++i) {
    INFO("module " << i);
    CHECK(rebuilt[0].modules[i].flow == live[0].modules[i].flow);
    CHECK(rebuilt[0].modules[i].status == live[0].modules[i].status);
    CHECK(rebuilt[0].modules[i].score == live[0].modules[i].score);
    CHECK(rebuilt[0].modules[i].score_max == live[0].modules[i].score_max);
    CHECK(rebuilt[0].modules[i].attempts == live[0].modules[i].attempts);
    CHECK(rebuilt[0].modules[i].ended_at == live[0].modules[i].ended_at);
  }
  CHECK(live[0].modules[0].attempts == 2);
  CHECK(live[0].modules[0].score == 2);
}

TEST_CASE("course: certificate codes come from the host's entropy and name the partition", "[course]") {
  course_fixture fx(R"(
spec: 1
courses:
  - id: c
    name: "Curso"
    hours: 2.5
    drip: {days: 0, at: now}
    modules: [m1]
    certificate: {text: "{{certificate.code}} {{certificate.url}} {{certificate.hours}} {{certificate.name}}"}
)");
  auto finish = [&](const std::string& entropy) {
    context c = ctx_at("2026-03-02 10:00");
    c.code_prefix = "1Z";
    c.entropy = entropy;
    c.public_url = "https://aula.example.mx/";
    session s;
    s.contact["name"] = "Ana María Núñez";
    auto r1 = step(fx.flows, s, inbound_event::enroll_in("c"), c);
    auto r2 = step(fx.flows, r1.next, inbound_event::message("1"), c);
    return r2;
  };
  const auto a = finish(std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16));
  const auto b = finish(std::string("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0", 16));
  REQUIRE(a.certificates.size() == 1);
  REQUIRE(b.certificates.size() == 1);
  const std::string code = a.certificates[0].first;
  CHECK(code.size() == 18);
  CHECK(code.substr(0, 2) == "1Z");
  CHECK(code.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos);
  CHECK(code != b.certificates[0].first);
  // 80 bits of the entropy, 5 bits per character: 0x0102030405... -> 00G20G...
  CHECK(code.substr(2, 4) == "0410");
  const json& cert = a.certificates[0].second;
  CHECK(cert["name"] == "Ana María Núñez");
  CHECK(cert["hours"] == 2.5);
  CHECK(cert["score"] == 100);
  CHECK(cert["course"] == "c");
  CHECK(cert["date"] == "2026-03-02");
  REQUIRE_FALSE(a.messages.empty());
  CHECK(a.messages.back().text == code + " https://aula.example.mx/verify/" + code + " 2.5 Ana María Núñez");
}

TEST_CASE("course: a module that falls due while the learner is busy starts when that ends", "[course]") {
  course_fixture fx(basic_course);
  simulator sim(fx.flows, ctx_at("2026-03-02 17:00"));
  sim.send(inbound_event::enroll_in("c"));
  sim.send(inbound_event::message("1"));  // m1 passed: m2 tomorrow at 09:00
  sim.send(inbound_event::start("encuesta"));
  const auto at9 = sim.advance(parse_duration("16h").value());
  CHECK_FALSE(has_text(at9, "¿Dos?"));  // the survey's question is still open
  REQUIRE(sim.state().run.has_value());
  CHECK(sim.state().run->flow == "encuesta");
  CHECK(sim.state().queue == std::vector<std::string>{"course:c"});
  const auto done = sim.send(inbound_event::message("Bien, gracias ñ"));
  CHECK(has_text(done, "¿Dos?"));
  REQUIRE(sim.state().run.has_value());
  CHECK(sim.state().run->course == "c");
}

TEST_CASE("course: nudges stop at max, restart when the learner answers, and not while opted out", "[course]") {
  course_fixture fx(basic_course);
  simulator sim(fx.flows, ctx_at("2026-03-02 17:00"));
  sim.send(inbound_event::enroll_in("c"));
  auto first = sim.advance(parse_duration("25h").value());
  CHECK(has_text(first, "¿Sigues ahí?"));
  CHECK(has_text(first, "¿Uno?"));
  auto more = sim.advance(parse_duration("3d").value());
  CHECK(texts(more).empty());  // max 1
  // STOP: the module run ends, nothing more is sent, no course timer stays.
  sim.send(inbound_event::message("BAJA"));
  CHECK(sim.state().opted_out);
  CHECK_FALSE(sim.state().courses.at(0).timer.has_value());
  CHECK(texts(sim.advance(parse_duration("5d").value())).empty());
  // START: the course comes back at the next drip hour.
  sim.send(inbound_event::message("ALTA"));
  REQUIRE(sim.state().courses.at(0).timer.has_value());
  CHECK(sim.state().courses.at(0).timer->kind == "drip");
  auto back = sim.advance(parse_duration("1d").value());
  CHECK(has_text(back, "¿Uno?"));
}

TEST_CASE("course: enrolling an opted-out learner does nothing; enrolling twice does not restart", "[course]") {
  course_fixture fx(basic_course);
  simulator sim(fx.flows, ctx_at("2026-03-02 17:00"));
  sim.state().opted_out = true;
  CHECK(texts(sim.send(inbound_event::enroll_in("c"))).empty());
  CHECK(sim.state().courses.empty());
  sim.state().opted_out = false;
  sim.send(inbound_event::enroll_in("c"));
  const auto run = sim.state().run->id;
  CHECK(texts(sim.send(inbound_event::enroll_in("c"))).empty());
  CHECK(sim.state().run->id == run);
  CHECK(sim.state().courses.size() == 1);
}

TEST_CASE("course: too many attempts below the score ends the course as failed", "[course]") {
  course_fixture fx(basic_course);
  simulator sim(fx.flows, ctx_at("2026-03-02 17:00"));
  sim.send(inbound_event::enroll_in("c"));
  auto r1 = sim.send(inbound_event::message("2"));
  CHECK(has_text(r1, "Repaso: 0 de 100"));
  sim.advance(parse_duration("16h").value());
  sim.send(inbound_event::message("2"));
  CHECK(sim.state().courses.at(0).status == "failed");
  CHECK(sim.state().courses.at(0).modules.at(0).attempts == 2);
  CHECK(sim.timers().empty());
}

// ---------------------------------------------------------------- migration

namespace {

const char* const v1_yaml = R"(
spec: 1
id: f
name: "F"
start: a
nodes:
  a:
    question: "A"
    type: text
    next: b
  b:
    question: "B"
    type: text
    next: c
  c:
    question: "C"
    type: text
    next: fin
  fin:
    end: completed
)";

// b and c are gone; b is mapped to d; c falls back.
const char* const v2_yaml = R"(
spec: 1
id: f
name: "F"
start: a
migrate: {b: d}
fallback: e
nodes:
  a:
    question: "A"
    type: text
    next: d
  d:
    question: "D, la nueva"
    type: text
    next: e
  e:
    question: "E"
    type: text
    next: fin
  fin:
    end: completed
)";

const char* const v3_yaml = R"(
spec: 1
id: f
name: "F"
start: a
nodes:
  a:
    question: "A"
    type: text
    next: fin
  fin:
    end: completed
)";

session waiting_at(const flow_set& flows, const std::string& node_id) {
  context c;
  c.now_ms = 1767625200000;
  auto r = step(flows, session{}, inbound_event::start("f", node_id), c);
  REQUIRE(r.next.run.has_value());
  return r.next;
}

}  // namespace

TEST_CASE("migration: a removed node goes to migrate, else fallback, else start; others continue", "[migrate]") {
  const flow_set v1 = aula_test::load({v1_yaml});
  const flow_set v2 = aula_test::load({v2_yaml});
  const flow_set v3 = aula_test::load({v3_yaml});
  context c;
  c.now_ms = 1767625300000;
  struct row {
    const flow_set* to;
    std::string at, want_node, rule, want_text;
  };
  for (const auto& r : std::vector<row>{{&v2, "b", "d", "migrate", "D, la nueva"},
                                        {&v2, "c", "e", "fallback", "E"},
                                        {&v3, "c", "a", "start", "A"},
                                        {&v2, "a", "a", "", ""}}) {
    INFO("at " << r.at << " -> " << r.want_node);
    const session s = waiting_at(v1, r.at);
    auto out = step(*r.to, s, inbound_event::of(inbound_event::kind::migrate), c);
    REQUIRE(out.next.run.has_value());
    CHECK(out.next.run->node == r.want_node);
    CHECK(out.next.run->id == s.run->id);  // the same run goes on
    if (r.rule.empty()) {
      CHECK(out.messages.empty());
      CHECK(out.records.empty());
      continue;
    }
    REQUIRE(out.messages.size() == 1);
    CHECK(out.messages[0].text == r.want_text);
    REQUIRE_FALSE(out.records.empty());
    CHECK(out.records[0].type == "migrated");
    CHECK(out.records[0].status == r.rule);
    CHECK(out.records[0].value["from"] == r.at);
    CHECK(out.records[0].value["to"] == r.want_node);
  }
}

TEST_CASE("migration: the learner's message to a removed question is kept, not taken as an answer", "[migrate]") {
  const flow_set v1 = aula_test::load({v1_yaml});
  const flow_set v2 = aula_test::load({v2_yaml});
  context c;
  c.now_ms = 1767625300000;
  const session s = waiting_at(v1, "b");
  auto out = step(v2, s, inbound_event::message("mi respuesta ¿sí? 🙂"), c);
  REQUIRE(out.next.run.has_value());
  CHECK(out.next.run->node == "d");
  CHECK(out.next.answers.empty());
  bool kept = false;
  for (const auto& r : out.records) kept = kept || (r.type == "inbound" && r.text == "mi respuesta ¿sí? 🙂");
  CHECK(kept);
  REQUIRE(out.messages.size() == 1);
  CHECK(out.messages[0].text == "D, la nueva");
  // The next message answers the new question.
  auto next = step(v2, out.next, inbound_event::message("respuesta a D"), c);
  CHECK(next.next.run->node == "e");
}

TEST_CASE("course: a start date holds early enrolments; late joiners start now or at the next drip", "[course]") {
  const std::string course = R"(
spec: 1
courses:
  - id: c
    name: "Curso"
    start_date: "2026-03-10"
    drip: {days: 1, at: "09:00"}
    late_joiners: LATE
    modules: [m1]
)";
  auto with = [&](const std::string& late) {
    std::string text = course;
    text.replace(text.find("LATE"), 4, late);
    return text;
  };
  {
    course_fixture fx(with("now"));
    simulator early(fx.flows, ctx_at("2026-03-02 17:00", "America/Tijuana"));
    CHECK(texts(early.send(inbound_event::enroll_in("c"))).empty());
    REQUIRE(early.state().courses.at(0).timer.has_value());
    CHECK(format_local(early.state().courses.at(0).timer->due, "America/Tijuana") == "2026-03-10 09:00");
    simulator late(fx.flows, ctx_at("2026-03-12 17:00"));
    CHECK(has_text(late.send(inbound_event::enroll_in("c")), "¿Uno?"));
  }
  {
    course_fixture fx(with("next_drip"));
    simulator late(fx.flows, ctx_at("2026-03-12 17:00"));
    CHECK(texts(late.send(inbound_event::enroll_in("c"))).empty());
    REQUIRE(late.state().courses.at(0).timer.has_value());
    CHECK(format_local(late.state().courses.at(0).timer->due, "America/Mexico_City") == "2026-03-13 09:00");
  }
}

TEST_CASE("course: a learner in two courses that share a module takes it once for both", "[course]") {
  course_fixture fx(R"(
spec: 1
courses:
  - id: inspectores
    name: "Inspectores"
    drip: {days: 1, at: "09:00"}
    modules: [m1, m2]
  - id: comisiones
    name: "Comisiones"
    drip: {days: 1, at: "09:00"}
    modules: [m1]
)");
  simulator sim(fx.flows, ctx_at("2026-03-02 17:00"));
  CHECK(has_text(sim.send(inbound_event::enroll_in("inspectores")), "¿Uno?"));
  CHECK_FALSE(has_text(sim.send(inbound_event::enroll_in("comisiones")), "¿Uno?"));  // busy: queued
  CHECK(sim.state().queue == std::vector<std::string>{"course:comisiones"});
  const auto out = sim.send(inbound_event::message("1"));
  CHECK_FALSE(has_text(out, "¿Uno?"));  // not asked again for the second course
  CHECK(sim.state().queue.empty());
  REQUIRE(sim.state().courses.size() == 2);
  CHECK(sim.state().courses[0].modules.at(0).status == "completed");
  CHECK(sim.state().courses[1].status == "completed");
  CHECK(sim.state().courses[1].modules.at(0).score == 2);
  CHECK(sim.state().courses[0].status == "active");  // m2 tomorrow
}

TEST_CASE("staff fixes: reset unpauses and can restart a course; move goes to a module or a node", "[course]") {
  course_fixture fx(basic_course);
  simulator sim(fx.flows, ctx_at("2026-03-02 17:00"));
  sim.send(inbound_event::enroll_in("c"));
  sim.send(inbound_event::message("1"));  // m1 passed: m2 tomorrow at 09:00
  REQUIRE(sim.state().courses.at(0).current == 1);

  // Move to m1 again (an operator lets a learner redo the first module now).
  auto moved = sim.send(inbound_event::move_to("m1", {}, "c"));
  CHECK(has_text(moved, "¿Uno?"));
  REQUIRE(sim.state().run.has_value());
  CHECK(sim.state().run->flow == "m1");
  CHECK(sim.state().run->course == "c");
  CHECK(sim.state().courses.at(0).current == 0);
  CHECK(sim.records.back().value("type", "") == "start");
  CHECK(sim.state().courses.at(0).modules.at(0).attempts == 2);
  bool recorded = false;
  for (const auto& r : sim.records)
    if (r.value("type", "") == "moved" && r["value"].value("flow", "") == "m1" && r["value"].value("course", "") == "c")
      recorded = true;
  CHECK(recorded);

  // A module the course does not have, or a course the learner is not in: nothing changes.
  const auto before = sim.state().run->id;
  CHECK(texts(sim.send(inbound_event::move_to("encuesta", {}, "c"))).empty());
  CHECK(texts(sim.send(inbound_event::move_to("m1", {}, "otro"))).empty());
  CHECK(sim.state().run->id == before);

  // Outside a course: a flow at a node.
  auto node = sim.send(inbound_event::move_to("m2", "q2"));
  CHECK(has_text(node, "¿Dos?"));
  CHECK(sim.state().run->flow == "m2");

  // A dead letter paused the learner; a reset lifts the pause and clears the conversation.
  sim.send(inbound_event::delivery_failure("rejected"));
  REQUIRE_FALSE(sim.state().paused.empty());
  sim.send(inbound_event::reset_by_staff());
  CHECK(sim.state().paused.empty());
  CHECK(sim.records.back().value("type", "") == "reset");

  // Reset with the course: it starts over at module 1 (attempts counted afresh).
  sim.send(inbound_event::move_to("m2", {}, "c"));
  REQUIRE(sim.state().courses.at(0).current == 1);
  auto again = sim.send(inbound_event::reset_by_staff("c"));
  CHECK(has_text(again, "¿Uno?"));
  REQUIRE(sim.state().courses.size() == 1);
  CHECK(sim.state().courses[0].current == 0);
  CHECK(sim.state().courses[0].status == "active");
  CHECK(sim.state().courses[0].modules.at(0).attempts == 1);
}
