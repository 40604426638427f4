#include "bot/engine/session.hpp"
#include "bot/service/flood.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using namespace aula;
using nlohmann::json;

namespace {

session full_session() {
  session s;
  s.version = 1234567890123;
  s.lang = "en";
  s.contact = {{"name", "José Ñúñez 👋"}, {"state", "Nuevo León"}, {"role", "inspector"}};
  s.answers["rol"] = saved_answer{"inspector", "Inspector/a federal"};
  s.answers["edad"] = saved_answer{3.5, "3.5"};
  s.answers["temas"] = saved_answer{json::array({"salud", "seguridad"}), "Salud, Seguridad"};
  s.answers["comentario"] = saved_answer{"¡Muy útil! 🎉\nGracias", "¡Muy útil! 🎉\nGracias"};
  s.answers["nps"] = saved_answer{10, "10"};
  run_state r;
  r.flow = "leccion-muestra";
  r.id = "0123456789ab";
  r.node = "jornada";
  r.retries = 1;
  r.attempts = 2;
  r.seq = 7;
  r.score = 3;
  r.score_max = 4;
  r.started_at = 1767625200000;
  s.run = r;
  s.last = last_run{"encuesta", "interrupted", 1, 2};
  return s;
}

}  // namespace

TEST_CASE("session round-trips every field through JSON", "[session]") {
  const session s = full_session();
  const session b = session::from_json(s.to_json());

  CHECK(b.version == 1234567890123);
  CHECK(b.lang == "en");
  CHECK(b.contact == s.contact);
  CHECK(b.contact.at("name") == "José Ñúñez 👋");
  REQUIRE(b.answers.size() == 5);
  for (const auto& [k, a] : s.answers) {
    INFO("answer " << k);
    REQUIRE(b.answers.count(k) == 1);
    CHECK(b.answers.at(k).value == a.value);
    CHECK(b.answers.at(k).text == a.text);
  }
  CHECK(b.answers.at("edad").value.get<double>() == 3.5);
  CHECK(b.answers.at("temas").value == json::array({"salud", "seguridad"}));
  CHECK(b.answers.at("comentario").text == "¡Muy útil! 🎉\nGracias");

  REQUIRE(b.run.has_value());
  CHECK(b.run->flow == "leccion-muestra");
  CHECK(b.run->id == "0123456789ab");
  CHECK(b.run->node == "jornada");
  CHECK(b.run->retries == 1);
  CHECK(b.run->attempts == 2);
  CHECK(b.run->seq == 7);
  CHECK(b.run->score == 3);
  CHECK(b.run->score_max == 4);
  CHECK(b.run->started_at == 1767625200000);

  REQUIRE(b.last.has_value());
  CHECK(b.last->flow == "encuesta");
  CHECK(b.last->status == "interrupted");
  CHECK(b.last->score == 1);
  CHECK(b.last->score_max == 2);

  CHECK(b.dump() == s.dump());
}

TEST_CASE("session round-trips through its dumped string", "[session]") {
  const session s = full_session();
  const std::string text = s.dump();
  const session b = session::parse(text);
  CHECK(b.dump() == text);
  CHECK(b.contact.at("name") == "José Ñúñez 👋");
  CHECK(b.answers.at("comentario").value == "¡Muy útil! 🎉\nGracias");
}

TEST_CASE("a session dumped with another version is the dump of a copy with that version", "[session]") {
  // What a commit stores: the session with the version it is committed as, without a copy.
  for (const session& s : {full_session(), session{}}) {
    for (std::int64_t v : {std::int64_t{0}, std::int64_t{1}, std::int64_t{41}, std::int64_t{9007199254740993}}) {
      session copy = s;
      copy.version = v;
      CHECK(s.dump(v) == copy.dump());
      CHECK(session::parse(s.dump(v)).version == v);
    }
  }
}

TEST_CASE("an empty session round-trips without run or last", "[session]") {
  const session s;
  const session b = session::parse(s.dump());
  CHECK(b.version == 0);
  CHECK(b.lang.empty());
  CHECK(b.contact.empty());
  CHECK(b.answers.empty());
  CHECK_FALSE(b.run.has_value());
  CHECK_FALSE(b.last.has_value());
}

TEST_CASE("a session with last but no run keeps them apart", "[session]") {
  session s;
  s.last = last_run{"leccion-muestra", "completed", 4, 4};
  const session b = session::parse(s.dump());
  CHECK_FALSE(b.run.has_value());
  REQUIRE(b.last.has_value());
  CHECK(b.last->status == "completed");
  CHECK(b.last->score == 4);
}

TEST_CASE("session JSON carries its format version", "[session]") {
  const json j = full_session().to_json();
  REQUIRE(j.contains("v"));
  CHECK(j["v"] == session::format);
}

TEST_CASE("from_json refuses an unknown format version", "[session]") {
  json j = full_session().to_json();
  j["v"] = session::format + 1;
  CHECK_THROWS_AS(session::from_json(j), std::runtime_error);
  j["v"] = 0;
  CHECK_THROWS_AS(session::from_json(j), std::runtime_error);
  j.erase("v");
  CHECK_THROWS_AS(session::from_json(j), std::runtime_error);
  CHECK_THROWS_AS(session::from_json(json::array()), std::runtime_error);
  CHECK_THROWS_AS(session::parse("\"text\""), std::runtime_error);
}

TEST_CASE("session dump is compact: one line, no indentation", "[session]") {
  const std::string d = full_session().dump();
  CHECK(d.find('\n') == std::string::npos);  // newlines inside texts are escaped
  CHECK(d.find("\\n") != std::string::npos);
  CHECK(d.find("\": ") == std::string::npos);    // no space after a key
  CHECK(d.find("\", \"") == std::string::npos);  // nor between items
  CHECK(d.front() == '{');
  CHECK(d.back() == '}');
}

namespace {

run_state caller_run(const std::string& flow, const std::string& id, const std::string& node, int score) {
  run_state r;
  r.flow = flow;
  r.id = id;
  r.node = node;
  r.seq = 3;
  r.score = score;
  r.score_max = score + 1;
  r.started_at = 1767600000000;
  return r;
}

}  // namespace

TEST_CASE("session round-trips the subflow stack, queue, opt-out, open menu and run timers", "[session]") {
  session s = full_session();
  s.run->timer = timer_slot{"0123456789ab.jornada.remind", 1767628800000, "remind", 2};
  s.run->expire = timer_slot{"0123456789ab.expire", 1767711600000, "expire", 0};
  s.stack.push_back(caller_run("curso", "aaaaaaaaaaaa", "modulo-1", 2));
  s.stack.push_back(caller_run("modulo-1", "bbbbbbbbbbbb", "leccion", 5));
  s.stack.back().expire = timer_slot{"bbbbbbbbbbbb.expire", 1767800000000, "expire", 0};
  s.queue = {"encuesta", "leccion-2"};
  s.opted_out = true;
  s.menu_open = true;

  const session b = session::parse(s.dump());

  REQUIRE(b.run.has_value());
  REQUIRE(b.run->timer.has_value());
  CHECK(b.run->timer->id == "0123456789ab.jornada.remind");
  CHECK(b.run->timer->due == 1767628800000);
  CHECK(b.run->timer->kind == "remind");
  CHECK(b.run->timer->count == 2);
  REQUIRE(b.run->expire.has_value());
  CHECK(b.run->expire->id == "0123456789ab.expire");
  CHECK(b.run->expire->due == 1767711600000);
  CHECK(b.run->expire->kind == "expire");
  CHECK(b.run->expire->count == 0);

  REQUIRE(b.stack.size() == 2);
  CHECK(b.stack[0].flow == "curso");  // outermost first
  CHECK(b.stack[0].id == "aaaaaaaaaaaa");
  CHECK(b.stack[0].node == "modulo-1");
  CHECK(b.stack[0].seq == 3);
  CHECK(b.stack[0].score == 2);
  CHECK(b.stack[0].score_max == 3);
  CHECK(b.stack[0].started_at == 1767600000000);
  CHECK_FALSE(b.stack[0].timer.has_value());
  CHECK_FALSE(b.stack[0].expire.has_value());
  CHECK(b.stack[1].flow == "modulo-1");
  CHECK(b.stack[1].score == 5);
  REQUIRE(b.stack[1].expire.has_value());
  CHECK(b.stack[1].expire->due == 1767800000000);

  CHECK(b.queue == std::vector<std::string>{"encuesta", "leccion-2"});
  CHECK(b.opted_out);
  CHECK(b.menu_open);
  CHECK(b.dump() == s.dump());
}

TEST_CASE("a session without stack, queue, flags or timers reads them back empty", "[session]") {
  const session b = session::parse(full_session().dump());
  REQUIRE(b.run.has_value());
  CHECK_FALSE(b.run->timer.has_value());
  CHECK_FALSE(b.run->expire.has_value());
  CHECK(b.stack.empty());
  CHECK(b.queue.empty());
  CHECK_FALSE(b.opted_out);
  CHECK_FALSE(b.menu_open);
}

TEST_CASE("an opted-out session with no run keeps its opt-out", "[session]") {
  session s;
  s.opted_out = true;
  s.contact["name"] = "Ana";
  const session b = session::parse(s.dump());
  CHECK(b.opted_out);
  CHECK_FALSE(b.menu_open);
  CHECK_FALSE(b.run.has_value());
  CHECK(b.contact.at("name") == "Ana");
}

TEST_CASE("session round-trips the flood counter (and leaves it out when unused)", "[session]") {
  session s;
  CHECK_FALSE(s.to_json().contains("flood"));
  s.flood_window = 1767625200000;
  s.flood_count = 31;
  s.flood_told = true;
  const session back = session::parse(s.dump());
  CHECK(back.flood_window == 1767625200000);
  CHECK(back.flood_count == 31);
  CHECK(back.flood_told);
}

TEST_CASE("count_message: the first per_minute pass, the next one tells, the rest drop; a new minute resets",
          "[session]") {
  session s;
  const std::int64_t t0 = 1767625200000;
  for (int i = 1; i <= 3; ++i) {
    auto v = count_message(s, t0 + i * 100, 3);
    CHECK_FALSE(v.drop);
    CHECK(v.count == i);
  }
  auto fourth = count_message(s, t0 + 500, 3);
  CHECK(fourth.drop);
  CHECK(fourth.tell);
  auto fifth = count_message(s, t0 + 600, 3);
  CHECK(fifth.drop);
  CHECK_FALSE(fifth.tell);
  CHECK(fifth.count == 5);
  // The window started at the first message: 59.9 s later it still counts, 60 s later not.
  CHECK(count_message(s, t0 + 100 + 59899, 3).drop);
  auto fresh = count_message(s, t0 + 100 + 60000, 3);
  CHECK_FALSE(fresh.drop);
  CHECK(fresh.count == 1);
  CHECK_FALSE(s.flood_told);
  // A clock that went back starts a new window instead of counting against an old one.
  CHECK(count_message(s, t0, 3).count == 1);
  // 0: no limit, nothing counted.
  session free;
  for (int i = 0; i < 100; ++i) CHECK_FALSE(count_message(free, t0 + i, 0).drop);
  CHECK(free.flood_count == 0);
}
