// The privacy consent gate (context.consent): the notice's link and "Acepto / No acepto" before
// a learner's first flow; what they asked for starts after "Acepto"; "No acepto" keeps nothing
// but the refusal.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "bot/engine/engine.hpp"
#include "tests/support/flow_fixtures.hpp"

using namespace aula;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const char* const lesson_yaml = R"y(
spec: 1
id: leccion
name: {es: "Lección", en: "Lesson"}
start: hola
nodes:
  hola: {message: {es: "Hola, {{contact.name}}.", en: "Hello, {{contact.name}}."}, next: edad}
  edad:
    question: {es: "¿Edad mínima para trabajar?", en: "Minimum working age?"}
    options:
      - {id: a, label: "14"}
      - {id: b, label: "15"}
    save_as: edad
    next: fin
  fin: {end: completed, message: {es: "Fin.", en: "The end."}}
)y";

const char* const other_yaml = R"y(
spec: 1
id: otra
name: {es: "Otra", en: "Other"}
start: q
nodes:
  q: {question: "¿Texto?", type: text, save_as: texto, next: fin}
  fin: {end: completed}
)y";

const char* const triggers_yaml = R"y(
spec: 1
language: es
menu: [leccion, otra]
triggers:
  - {keywords: [leccion, lesson], flow: leccion, policy: interrupt}
)y";

struct learner {
  flow_set flows = aula_test::load({lesson_yaml, other_yaml}, triggers_yaml);
  session s;
  context ctx;
  step_result last;
  std::vector<result_record> records;
  std::uint64_t seed = 77;

  explicit learner(int buttons = 0, std::string channel = "telegram") {
    ctx.now_ms = 1767625200000;
    ctx.caps.max_buttons = buttons;
    ctx.channel = std::move(channel);
    ctx.consent.required = true;
    ctx.consent.version = "2026-11";
    ctx.consent.url = "https://aula.example.org/privacidad";
  }
  const step_result& apply(inbound_event ev) {
    ctx.seed = ++seed;
    ctx.now_ms += 60'000;
    last = step(flows, s, ev, ctx);
    s = last.next;
    records.insert(records.end(), last.records.begin(), last.records.end());
    return last;
  }
  const step_result& say(const std::string& t) { return apply(inbound_event::message(t)); }
  std::vector<std::string> texts() const {
    std::vector<std::string> v;
    for (const auto& m : last.messages) v.push_back(m.text);
    return v;
  }
  std::vector<std::string> types() const {
    std::vector<std::string> v;
    for (const auto& r : records) v.push_back(r.type);
    return v;
  }
};

// The question: the notice's link and the two choices.
void check_question(const outbound_message& m, const std::string& url, const std::string& yes, const std::string& no) {
  CHECK_THAT(m.text, Contains(url));
  REQUIRE(m.choices.size() == 2);
  CHECK(m.choices[0].ref == consent_yes);
  CHECK(m.choices[0].label == yes);
  CHECK(m.choices[1].ref == consent_no);
  CHECK(m.choices[1].label == no);
}

}  // namespace

TEST_CASE("consent off: a start goes straight to the flow, no consent state", "[engine][consent]") {
  learner l;
  l.ctx.consent.required = false;
  l.apply(inbound_event::start("leccion"));
  REQUIRE(l.s.run.has_value());
  CHECK(l.s.consent.decision.empty());
  CHECK_FALSE(l.s.consent_asked);
  CHECK(l.texts().front() == "Hola, .");
}

TEST_CASE("consent: the first message gets the notice and the question; Acepto starts what was asked",
          "[engine][consent]") {
  learner l(3);
  l.s.contact["name"] = "Ana";
  l.say("leccion");
  REQUIRE(l.last.messages.size() == 1);
  const auto& q = l.last.messages[0];
  check_question(q, "https://aula.example.org/privacidad", "Acepto", "No acepto");
  CHECK(q.menu == menu_style::buttons);
  CHECK_FALSE(l.s.run.has_value());
  CHECK(l.s.consent_asked);
  CHECK(l.last.records.empty());  // nothing recorded before the answer, not even the text
  REQUIRE(l.s.consent_pending.size() == 1);

  // The tap: recorded with version, channel and time, then the lesson the keyword asked for.
  const auto at = l.ctx.now_ms + 60'000;
  l.apply(inbound_event::tap(consent_yes));
  REQUIRE_FALSE(l.last.records.empty());
  const auto& r = l.last.records.front();
  CHECK(r.type == "consent");
  CHECK(r.status == "accepted");
  CHECK(r.value["decision"] == "accepted");
  CHECK(r.value["notice_version"] == "2026-11");
  CHECK(r.value["channel"] == "telegram");
  CHECK(r.value["at"] == at);
  CHECK(r.at == at);
  CHECK(l.s.consent.decision == "accepted");
  CHECK(l.s.consent.version == "2026-11");
  CHECK(l.s.consent.channel == "telegram");
  CHECK(l.s.consent.at == at);
  CHECK_FALSE(l.s.consent_asked);
  CHECK(l.s.consent_pending.empty());
  REQUIRE(l.s.run.has_value());
  CHECK(l.s.run->flow == "leccion");
  const auto t = l.texts();
  REQUIRE(t.size() >= 3);
  CHECK_THAT(t[0], Contains("2026-11"));
  CHECK(t[1] == "Hola, Ana.");
  CHECK_THAT(t[2], StartsWith("¿Edad mínima"));

  // From now on the gate is gone: an answer is an answer.
  l.say("15");
  CHECK(l.s.answers.at("edad").value == "b");
}

TEST_CASE("consent: a host start (deep link, enrolment) waits for the answer; SMS answers 1 or 2",
          "[engine][consent]") {
  learner l(0, "sms");
  l.apply(inbound_event::start("otra"));
  REQUIRE(l.last.messages.size() == 1);
  CHECK(l.last.messages[0].menu == menu_style::numbered);
  CHECK_FALSE(l.s.run.has_value());
  // Something that is no answer: asked again, nothing kept.
  l.say("¿qué es esto?");
  REQUIRE(l.last.messages.size() == 1);
  CHECK_THAT(l.last.messages[0].text, Contains("/privacidad"));
  CHECK(l.last.records.empty());
  l.say("1");
  CHECK(l.s.consent.decision == "accepted");
  CHECK(l.s.consent.channel == "sms");
  REQUIRE(l.s.run.has_value());
  CHECK(l.s.run->flow == "otra");
}

TEST_CASE("consent: No acepto keeps only the refusal; later ALTA or a message asks again", "[engine][consent]") {
  learner l(3, "whatsapp");
  l.s.contact["name"] = "Eva";  // what the provider told
  l.s.contact["state"] = "Oaxaca";
  l.say("leccion");
  l.say("No acepto");
  CHECK(l.s.consent.decision == "refused");
  CHECK(l.s.consent.channel == "whatsapp");
  REQUIRE(l.last.messages.size() == 1);
  CHECK_THAT(l.last.messages[0].text, Contains("no guardaremos"));
  CHECK(l.types() == std::vector<std::string>{"consent"});
  CHECK(l.records[0].status == "refused");
  // The session keeps the decision and nothing of the learner.
  CHECK(l.s.contact.empty());
  CHECK(l.s.answers.empty());
  CHECK_FALSE(l.s.run.has_value());
  CHECK(l.s.consent_pending.empty());
  CHECK(l.s.courses.empty());
  CHECK_FALSE(l.s.opted_out);

  // Staff actions reach nobody who refused.
  inbound_event b;
  b.type = inbound_event::kind::broadcast;
  b.text = "Aviso a todo el grupo";
  l.apply(b);
  CHECK(l.last.messages.empty());
  l.apply(inbound_event::enroll_in("nada"));
  CHECK(l.last.messages.empty());
  inbound_event staff = inbound_event::start("leccion");
  staff.unsolicited = true;
  l.apply(staff);
  CHECK(l.last.messages.empty());
  CHECK_FALSE(l.s.run.has_value());

  // The provider's name comes again with the next message: it is not kept either.
  l.s.contact["name"] = "Eva";
  l.say("hola");
  CHECK(l.s.contact.empty());
  REQUIRE(l.last.messages.size() == 1);
  CHECK_THAT(l.last.messages[0].text, Contains("/privacidad"));
  CHECK(l.last.records.empty());

  // Changing their mind: ALTA asks again, and Acepto records the new decision.
  l.say("ALTA");
  REQUIRE(l.last.messages.size() == 1);
  CHECK(l.last.messages[0].choices.size() == 2);
  l.say("Acepto");
  CHECK(l.s.consent.decision == "accepted");
  REQUIRE(l.types() == std::vector<std::string>{"consent", "consent"});
  CHECK(l.records[1].status == "accepted");
  // Nothing was waiting: the menu.
  CHECK(l.s.menu_open);
}

TEST_CASE("consent: BAJA and AYUDA work at the question; BAJA after accepting revokes", "[engine][consent]") {
  learner l;
  l.say("hola");
  l.say("AYUDA");
  REQUIRE(l.last.messages.size() == 1);
  CHECK_THAT(l.last.messages[0].text, Contains("BAJA"));
  CHECK_THAT(l.last.messages[0].text, Contains("/privacidad"));
  CHECK(l.last.messages[0].choices.size() == 2);

  l.say("BAJA");
  CHECK(l.s.opted_out);
  CHECK(l.last.opted_out == std::optional<bool>(true));
  REQUIRE(l.last.messages.size() == 1);
  CHECK_THAT(l.last.messages[0].text, StartsWith("Listo"));
  CHECK_FALSE(l.s.consent_asked);
  CHECK(l.records.empty());
  // Opted out: nothing is answered, nothing kept; "1" is no consent now.
  l.say("1");
  CHECK(l.last.messages.empty());
  CHECK(l.s.consent.decision.empty());
  CHECK(l.records.empty());

  // ALTA: back, and asked.
  l.say("alta");
  CHECK_FALSE(l.s.opted_out);
  REQUIRE(l.last.messages.size() == 1);
  CHECK(l.last.messages[0].choices.size() == 2);
  l.apply(inbound_event::tap(consent_yes));
  CHECK(l.s.consent.decision == "accepted");

  // BAJA now withdraws the consent: recorded, and ALTA asks again.
  l.apply(inbound_event::start("leccion"));
  REQUIRE(l.s.run.has_value());
  l.say("BAJA");
  CHECK(l.s.opted_out);
  CHECK(l.s.consent.decision == "revoked");
  bool revoked = false;
  for (const auto& r : l.last.records) revoked = revoked || (r.type == "consent" && r.status == "revoked");
  CHECK(revoked);
  l.say("ALTA");
  REQUIRE(l.last.messages.size() == 1);
  CHECK(l.last.messages[0].choices.size() == 2);
  CHECK(l.s.consent_asked);
}

TEST_CASE("consent in English: link with lang=en, I agree / I do not agree", "[engine][consent]") {
  learner l(3);
  l.s.lang = "en";
  l.say("lesson");
  REQUIRE(l.last.messages.size() == 1);
  check_question(l.last.messages[0], "https://aula.example.org/privacidad?lang=en", "I agree", "I do not agree");
  CHECK_THAT(l.last.messages[0].text, StartsWith("Before we start"));
  l.say("i agree");
  CHECK(l.s.consent.decision == "accepted");
  REQUIRE(l.s.run.has_value());
  CHECK(l.texts()[1] == "Hello, .");

  learner m(3);
  m.s.lang = "en";
  m.say("hi");
  m.apply(inbound_event::tap(consent_no));
  CHECK(m.s.consent.decision == "refused");
  CHECK_THAT(m.texts().at(0), StartsWith("Understood"));
}

TEST_CASE("consent: an enrolment and a broadcast wait for Acepto and then go, in order", "[engine][consent]") {
  learner l(3, "whatsapp");
  inbound_event b;
  b.type = inbound_event::kind::broadcast;
  b.text = "Bienvenida del grupo";
  b.unsolicited = true;
  l.apply(b);
  REQUIRE(l.last.messages.size() == 1);
  CHECK(l.last.messages[0].choices.size() == 2);
  CHECK(l.last.messages[0].unsolicited);
  CHECK(l.last.records.empty());
  // Staff asks once: a second action waits without asking again.
  l.apply(inbound_event::start("leccion"));
  REQUIRE(l.last.messages.size() == 1);  // a host start that is not staff's (a deep link): asked again
  inbound_event again = b;
  again.text = "Segundo aviso";
  l.apply(again);
  CHECK(l.last.messages.empty());
  CHECK(l.s.consent_pending.size() == 3);
  // A reminder repeats the question.
  l.apply(inbound_event::of(inbound_event::kind::remind));
  REQUIRE(l.last.messages.size() == 1);
  CHECK(l.last.messages[0].choices.size() == 2);

  l.say("Sí");
  CHECK(l.s.consent.decision == "accepted");
  const auto t = l.texts();
  REQUIRE(t.size() >= 4);
  CHECK_THAT(t[0], Contains("aceptaste"));
  CHECK(t[1] == "Bienvenida del grupo");
  CHECK(t[2] == "Hola, .");
  CHECK(std::find(t.begin(), t.end(), "Segundo aviso") != t.end());
  REQUIRE(l.s.run.has_value());
}

TEST_CASE("consent state survives the session's JSON", "[engine][consent][session]") {
  learner l;
  l.say("leccion");
  session back = session::parse(l.s.dump());
  CHECK(back.consent_asked);
  CHECK(back.consent_pending == l.s.consent_pending);
  l.say("1");
  back = session::parse(l.s.dump());
  CHECK(back.consent == l.s.consent);
  CHECK(back.consent.decision == "accepted");
}
