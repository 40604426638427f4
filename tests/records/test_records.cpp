// The record store: URLs, schema migrations, idempotent inserts, UTF-8, the learner dimension,
// the timeline and each report, against a small scripted scenario whose numbers are counted by
// hand in the comments below (not by running the same queries another way). The CSV writer.
//
// Every store test runs on SQLite (a temp file) and, when AULA_TEST_POSTGRES_URL is set
// (scripts/test starts a throwaway PostgreSQL when one is installed), on PostgreSQL too, in a
// database of its own that is dropped afterwards; without it the PostgreSQL variant is skipped
// with a warning.
#include "bot/engine/json_text.hpp"
#include "bot/records/record_store.hpp"

#include <catch2/catch.hpp>

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <random>
#include <sstream>

#include "bot/records/backup.hpp"
#include "bot/records/csv.hpp"
#include "bot/records/sql.hpp"

namespace {

using namespace aula::records;
using json = nlohmann::json;
namespace fs = std::filesystem;

std::string random_hex() {
  std::random_device rd;
  std::ostringstream o;
  o << std::hex << rd() << rd();
  return o.str();
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    const char* root = std::getenv("AULA_TEST_TMP");
    if (!root || !*root) root = std::getenv("TMPDIR");
    path = fs::path(root && *root ? root : "/tmp") / ("aula-records-" + random_hex());
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// One database per test on the shared test server, so tests run in parallel and start empty.
class pg_database {
 public:
  explicit pg_database(const std::string& server_url) : server_(server_url) {
    name_ = "aula_records_" + std::to_string(getpid()) + "_" + random_hex();
    admin("CREATE DATABASE " + name_ + " TEMPLATE template0 ENCODING 'UTF8'");
    // The same URL with our database in place of the server's.
    const auto host = server_.find("://");
    const auto slash = server_.find('/', host + 3);
    const auto query = server_.find('?', host + 3);
    const std::string tail = query == std::string::npos ? "" : server_.substr(query);
    url_ = server_.substr(0, std::min(slash, query)) + "/" + name_ + tail;
  }
  ~pg_database() {
    try {
      admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
    }
  }
  const std::string& url() const { return url_; }

 private:
  void admin(const std::string& sql) {
    PGconn* c = PQconnectdb(server_.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::string why = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("cannot reach the test PostgreSQL (" + server_ + "): " + why);
    }
    PGresult* r = PQexec(c, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string why = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    if (!ok) throw std::runtime_error(sql + ": " + why);
  }

  std::string server_, name_, url_;
};

// Runs `body(url)` on a fresh SQLite file and, when configured, a fresh PostgreSQL database.
template <class F>
void on_each_backend(F&& body) {
  SECTION("SQLite") {
    temp_dir dir;
    body("sqlite://" + (dir.path / "records.db").string());
  }
  SECTION("PostgreSQL") {
    const char* server = std::getenv("AULA_TEST_POSTGRES_URL");
    if (!server || !*server) {
      WARN("AULA_TEST_POSTGRES_URL is not set: the PostgreSQL variant is skipped "
           "(scripts/test starts a throwaway PostgreSQL when initdb is installed)");
      return;
    }
    pg_database db(server);
    body(db.url());
  }
}

// ---------------------------------------------------------------------------------------------
// The scenario: records shaped as the engine, the sender and the webhook handler write them.

const std::string A = "telegram:101";             // Ana, Jalisco, cohort piloto
const std::string B = "whatsapp:+5215512345678";  // Beto, Jalisco, cohorts piloto and tarde
const std::string C = "whatsapp:+5213311112222";  // Carla, Oaxaca, cohort tarde
const std::string D = "sms:+5219998887777";       // Dora, Oaxaca, cohort tarde
const std::string E = "telegram:555";             // not in the learner table, no cohort

struct scenario_builder {
  std::vector<json> out;
  std::map<std::string, int> seq;  // per conversation and run: ids as the engine makes them

  json& add(const std::string& conv, const std::string& run, json r) {
    r["id"] = run + "." + std::to_string(++seq[conv + "/" + run]);
    r["conv"] = conv;
    out.push_back(std::move(r));
    return out.back();
  }
  // A record of a run (result_record::to_json).
  json& in_run(const std::string& conv, const std::string& type, const std::string& flow, const std::string& run,
               const std::string& node, std::int64_t at) {
    return add(conv, run, {{"type", type}, {"flow", flow}, {"run", run}, {"node", node}, {"at", at}});
  }
  void start(const std::string& conv, const std::string& flow, const std::string& run, std::int64_t at) {
    in_run(conv, "start", flow, run, "", at);
  }
  void quiz(const std::string& conv, const std::string& flow, const std::string& run, const std::string& node,
            const std::string& value, bool correct, bool final, int attempt, std::int64_t at) {
    auto& r = in_run(conv, "quiz", flow, run, node, at);
    r.update({{"value", value}, {"text", value}, {"status", "answered"}, {"correct", correct}, {"final", final},
              {"points", correct ? 1 : 0}, {"attempt", attempt}});
  }
  void answer(const std::string& conv, const std::string& flow, const std::string& run, const std::string& node,
              json value, const std::string& text, std::int64_t at) {
    auto& r = in_run(conv, "answer", flow, run, node, at);
    r.update({{"value", std::move(value)}, {"text", text}, {"status", "answered"}, {"attempt", 1}});
  }
  void end(const std::string& conv, const std::string& flow, const std::string& run, const std::string& status,
           int score, int max, std::int64_t at) {
    auto& r = in_run(conv, "end", flow, run, "fin", at);
    r.update({{"status", status}, {"points", score}, {"value", {{"score", score}, {"max", max}}}});
  }
  // Course records (course_steps.cpp): outside a run here, so the "free" id form.
  void enrolled(const std::string& conv, std::int64_t at) {
    add(conv, "m" + conv.substr(conv.size() - 3),
        {{"type", "enrolled"},
         {"flow", ""},
         {"run", ""},
         {"node", ""},
         {"status", "enrolled"},
         {"value", {{"course", "ti"}}},
         {"at", at}});
  }
  void module(const std::string& conv, const std::string& flow, int module, const std::string& status, int score,
              int max, std::int64_t at) {
    json value = {{"course", "ti"}, {"module", module}};
    if (status != "started") value.update({{"score", score}, {"max", max}, {"percent", max ? 100 * score / max : 100}});
    add(conv, "m" + conv.substr(conv.size() - 3),
        {{"type", "module"}, {"flow", flow}, {"run", ""}, {"node", ""}, {"status", status}, {"value", value},
         {"points", status == "started" ? 0 : score}, {"attempt", 1}, {"at", at}});
  }
  void course(const std::string& conv, const std::string& status, int score, int max, std::int64_t at) {
    add(conv, "m" + conv.substr(conv.size() - 3),
        {{"type", "course"}, {"flow", ""}, {"run", ""}, {"node", ""}, {"status", status},
         {"value", {{"course", "ti"}, {"score", score}, {"max", max}}}, {"points", score}, {"at", at}});
  }
  // The sender's and the webhook handler's records (delivery.cpp, service.cpp).
  void sent(const std::string& conv, const std::string& channel, int n, std::int64_t at, int segments = 0) {
    json r = {{"type", "sent"}, {"channel", channel}, {"external_id", "x" + std::to_string(at)}, {"lane", "reply"},
              {"at", at}};
    if (segments) r["segments"] = segments;
    add(conv, "out.7.e" + std::to_string(at), r)["id"] = "out.7.e" + std::to_string(at) + "." + std::to_string(n);
  }
  void report(const std::string& conv, const std::string& channel, const std::string& ext, const std::string& state,
              std::int64_t at) {
    json& r = add(conv, "dr", {{"type", "delivery"}, {"channel", channel}, {"external_id", ext}, {"status", state},
                               {"at", at}});
    r["id"] = "dr." + ext + "." + state;
    if (state == "failed") r["error"] = "131026: message undeliverable";
  }
};

// The course "ti" has two modules: modulo-1 (quiz nodes edad: options a b c, right b, two
// attempts; jornada: x y, right y, one attempt) and modulo-2 (a question "listo"). The survey
// "diagnostico" asks tema_inspeccion and tema_riesgos (scale 1-5), recomienda (NPS 0-10),
// comentario (free text) and temas (multi choice).
std::vector<json> scenario() {
  scenario_builder s;
  // Ana: both modules, the course completed; edad right at the second attempt.
  s.enrolled(A, 1000);
  s.module(A, "modulo-1", 1, "started", 0, 0, 1000);
  s.start(A, "modulo-1", "a1", 1000);
  s.quiz(A, "modulo-1", "a1", "edad", "a", false, false, 1, 1100);
  s.quiz(A, "modulo-1", "a1", "edad", "b", true, true, 2, 1200);
  s.quiz(A, "modulo-1", "a1", "jornada", "y", true, true, 1, 1300);
  s.end(A, "modulo-1", "a1", "completed", 2, 2, 1300);
  s.module(A, "modulo-1", 1, "completed", 2, 2, 1300);
  s.module(A, "modulo-2", 2, "started", 0, 0, 2000);
  s.start(A, "modulo-2", "a2", 2000);
  s.answer(A, "modulo-2", "a2", "listo", "si", "Sí", 2100);
  s.end(A, "modulo-2", "a2", "completed", 0, 0, 2200);
  s.module(A, "modulo-2", 2, "completed", 0, 0, 2200);
  s.course(A, "completed", 2, 2, 2200);
  s.start(A, "diagnostico", "a3", 3000);
  s.answer(A, "diagnostico", "a3", "tema_inspeccion", 5, "5", 3100);
  s.answer(A, "diagnostico", "a3", "tema_riesgos", 3, "3", 3200);
  s.answer(A, "diagnostico", "a3", "recomienda", 10, "10", 3300);
  s.answer(A, "diagnostico", "a3", "comentario", "Más ejemplos ¿por favor? ¡gracias! 🙏",
           "Más ejemplos ¿por favor? ¡gracias! 🙏", 3400);
  s.answer(A, "diagnostico", "a3", "temas", json::array({"leyes", "casos"}), "leyes y casos", 3500);
  s.end(A, "diagnostico", "a3", "completed", 0, 0, 3500);

  // Beto: modulo-1 all wrong (completed, score 0 of 2), stuck at "listo" in modulo-2.
  s.enrolled(B, 1000);
  s.module(B, "modulo-1", 1, "started", 0, 0, 1000);
  s.start(B, "modulo-1", "b1", 1000);
  s.quiz(B, "modulo-1", "b1", "edad", "c", false, false, 1, 1100);
  s.quiz(B, "modulo-1", "b1", "edad", "a", false, true, 2, 1200);
  s.quiz(B, "modulo-1", "b1", "jornada", "x", false, true, 1, 1300);
  s.end(B, "modulo-1", "b1", "completed", 0, 2, 1300);
  s.module(B, "modulo-1", 1, "completed", 0, 2, 1300);
  s.module(B, "modulo-2", 2, "started", 0, 0, 2000);
  s.start(B, "modulo-2", "b2", 2000);
  auto& inv = s.in_run(B, "invalid", "modulo-2", "b2", "listo", 2100);
  inv.update({{"value", "quizá"}, {"text", "quizá"}, {"attempt", 1}});
  s.start(B, "diagnostico", "b3", 3000);
  s.answer(B, "diagnostico", "b3", "tema_inspeccion", 4, "4", 3100);
  s.answer(B, "diagnostico", "b3", "tema_riesgos", 2, "2", 3200);
  s.answer(B, "diagnostico", "b3", "recomienda", 7, "7", 3300);
  s.answer(B, "diagnostico", "b3", "comentario", "más casos prácticos", "más casos prácticos", 3400);
  s.answer(B, "diagnostico", "b3", "temas", json::array({"casos"}), "casos", 3500);
  s.end(B, "diagnostico", "b3", "completed", 0, 0, 3500);

  // Carla: edad right at once, then jornada skipped after an invalid reply; she left the
  // module there. The survey twice: the first run abandoned after one answer (1), the second
  // complete (2), comentario skipped.
  s.enrolled(C, 1000);
  s.module(C, "modulo-1", 1, "started", 0, 0, 1000);
  s.start(C, "modulo-1", "c1", 1000);
  s.quiz(C, "modulo-1", "c1", "edad", "b", true, true, 1, 1100);
  s.in_run(C, "invalid", "modulo-1", "c1", "jornada", 1150).update({{"value", "no sé"}, {"text", "no sé"}});
  s.in_run(C, "quiz", "modulo-1", "c1", "jornada", 1200).update({{"status", "skipped"}, {"correct", false},
                                                                   {"final", true}, {"points", 0}});
  s.start(C, "diagnostico", "c3", 2500);
  s.answer(C, "diagnostico", "c3", "tema_inspeccion", 1, "1", 2600);
  s.start(C, "diagnostico", "c4", 3000);
  s.answer(C, "diagnostico", "c4", "tema_inspeccion", 2, "2", 3100);
  s.answer(C, "diagnostico", "c4", "tema_riesgos", 5, "5", 3200);
  s.answer(C, "diagnostico", "c4", "recomienda", 9, "9", 3300);
  s.in_run(C, "answer", "diagnostico", "c4", "comentario", 3400).update({{"status", "skipped"}});
  s.answer(C, "diagnostico", "c4", "temas", json::array({"leyes", "salud"}), "1 3", 3500);
  s.end(C, "diagnostico", "c4", "completed", 0, 0, 3500);

  // Dora: enrolled, nothing opened yet (the drip).
  s.enrolled(D, 1000);

  // E: took modulo-1 outside the course, and the survey.
  s.start(E, "modulo-1", "e1", 1500);
  s.quiz(E, "modulo-1", "e1", "edad", "a", false, false, 1, 1600);
  s.quiz(E, "modulo-1", "e1", "edad", "b", true, true, 2, 1700);
  s.quiz(E, "modulo-1", "e1", "jornada", "y", true, true, 1, 1800);
  s.end(E, "modulo-1", "e1", "completed", 2, 2, 1800);
  s.start(E, "diagnostico", "e2", 3000);
  s.answer(E, "diagnostico", "e2", "tema_inspeccion", 3, "3", 3100);
  s.answer(E, "diagnostico", "e2", "recomienda", 0, "0", 3300);
  s.answer(E, "diagnostico", "e2", "comentario", "Más ejemplos ¿por favor? ¡gracias! 🙏",
           "Más ejemplos ¿por favor? ¡gracias! 🙏", 3400);
  s.end(E, "diagnostico", "e2", "completed", 0, 0, 3500);

  // A type this store has never heard of: kept whole.
  s.add(A, "x", {{"type", "custom_thing"}, {"at", 4000}, {"extra", {{"k", {1, 2}}, {"ñ", "¿sí?"}}}});

  // Sending and delivery.
  s.sent(A, "telegram", 0, 5000);
  s.sent(A, "telegram", 0, 5001);
  s.sent(A, "telegram", 0, 5002);
  s.sent(B, "whatsapp", 0, 5010);
  s.sent(B, "whatsapp", 0, 5011);
  s.report(B, "whatsapp", "wamid1", "delivered", 5020);
  s.report(B, "whatsapp", "wamid2", "delivered", 5021);
  s.report(B, "whatsapp", "wamid1", "read", 5030);
  s.add(B, "re", {{"type", "reengagement"}, {"channel", "whatsapp"}, {"external_id", "wamid3"}, {"at", 5040}});
  s.sent(C, "whatsapp", 0, 5050);
  s.report(C, "whatsapp", "wamid4", "failed", 5060);
  s.add(C, "dl", {{"type", "dead_letter"}, {"error", "whatsapp: rejected"}, {"at", 5070}});  // channel from conv
  s.sent(D, "sms", 0, 5080, 2);
  s.sent(D, "sms", 1, 5081, 3);
  s.report(D, "sms", "SM1", "delivered", 5090);
  s.add(D, "dl", {{"type", "dead_letter"}, {"error", "sms: 21610 unsubscribed"}, {"at", 5095}});
  return s.out;
}

void add_learners(record_store& st) {
  st.upsert_learner(A, {{"name", "Ana Pérez"}, {"state", "Jalisco"}, {"role", "inspectora"}, {"language", "es"},
                        {"status", "active"}, {"enrolled_at", 900}, {"cohorts", {"piloto"}}});
  st.upsert_learner(B, {{"name", "Beto Núñez 🦉"}, {"state", "Jalisco"}, {"status", "active"}});
  st.set_cohorts(B, {"tarde", "piloto"});
  st.upsert_learner(C, {{"name", "Carla"}, {"state", "Oaxaca"}, {"cohorts", {"tarde"}}});
  st.upsert_learner(D, {{"name", "Dora"}, {"state", "Oaxaca"}, {"cohorts", {"tarde"}}});
}

std::unique_ptr<record_store> scenario_store(const std::string& url) {
  auto st = open_record_store(url);
  add_learners(*st);
  const auto records = scenario();
  REQUIRE(st->insert(records) == records.size());
  return st;
}

// Report filters, by name.
report_filter in_cohort(const std::string& c) {
  report_filter f;
  f.cohorts = {c};
  return f;
}
report_filter in_state(const std::string& st) {
  report_filter f;
  f.states = {st};
  return f;
}
report_filter in_cohort_and_state(const std::string& c, const std::string& st) {
  report_filter f = in_cohort(c);
  f.states = {st};
  return f;
}
report_filter before(std::int64_t ms) {
  report_filter f;
  f.to_ms = ms;
  return f;
}
report_filter between(std::int64_t from, std::int64_t to) {
  report_filter f;
  f.from_ms = from;
  f.to_ms = to;
  return f;
}

const json* find_by(const json& list, const std::string& key, const json& value) {
  for (const auto& x : list)
    if (x.value(key, json()) == value) return &x;
  return nullptr;
}

// A row of a breakdown: the object of `list` whose fields match all of `keys`.
const json& row_of(const json& list, const json& keys) {
  for (const auto& x : list) {
    bool all = true;
    for (auto it = keys.begin(); it != keys.end(); ++it) all = all && x.value(it.key(), json()) == it.value();
    if (all) return x;
  }
  FAIL("no row " << keys.dump() << " in " << list.dump());
  static const json none;
  return none;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Opening: URLs and migrations

TEST_CASE("records: a bad URL says what is accepted, and a missing directory is not created") {
  CHECK_THROWS_WITH(open_record_store("mysql://x/y"), Catch::Contains("sqlite:///absolute/path.db") &&
                                                          Catch::Contains("postgresql://"));
  CHECK_THROWS_AS(open_record_store("sqlite://"), std::invalid_argument);
  temp_dir dir;
  const fs::path missing = dir.path / "no-such-dir" / "records.db";
  CHECK_THROWS_WITH(open_record_store("sqlite://" + missing.string()),
                    Catch::Contains("does not exist") && Catch::Contains((dir.path / "no-such-dir").string()));
  CHECK_FALSE(fs::exists(dir.path / "no-such-dir"));
  CHECK_THROWS_WITH(open_record_store("sqlite://" + dir.path.string()), Catch::Contains("directory"));
}

TEST_CASE("records: a PostgreSQL password never appears in messages") {
  CHECK(redact_url("postgresql://aula:s3cret@db.internal:5432/aula") == "postgresql://aula:***@db.internal:5432/aula");
  CHECK(redact_url("postgresql://aula@db.internal/aula") == "postgresql://aula@db.internal/aula");
  try {
    open_record_store("postgresql://aula:s3cret@127.0.0.1:1/aula?connect_timeout=2");
    FAIL("connected to port 1");
  } catch (const record_store_error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("cannot connect") && Catch::Contains("aula:***@127.0.0.1:1"));
    CHECK_THAT(what, !Catch::Contains("s3cret"));
  }
}

TEST_CASE("records: migrations create the schema once, and reopening changes nothing") {
  on_each_backend([](const std::string& url) {
    const int latest = static_cast<int>(migrations().size());
    REQUIRE(latest >= 2);
    {
      auto st = open_record_store(url);
      CHECK(st->schema_version() == latest);
      CHECK(st->insert({{{"id", "r.1"}, {"type", "start"}, {"conv", A}, {"flow", "f"}, {"at", 1}}}) == 1);
    }
    auto again = open_record_store(url);
    CHECK(again->schema_version() == latest);
    CHECK(again->timeline(A).size() == 1);
  });
}

TEST_CASE("records: queries by flow and by course use the indexes over the records that name one") {
  // Migration 4 made both indexes partial (WHERE flow / course IS NOT NULL), so records that
  // name neither skip two index inserts; a query's "flow = ?" must still find its index.
  temp_dir dir;
  const fs::path file = dir.path / "records.db";
  {
    auto st = open_record_store("sqlite://" + file.string());
    CHECK(st->insert({{{"id", "out.1"}, {"type", "sent"}, {"conv", A}, {"at", 1}},
                      {{"id", "r.2"}, {"type", "answer"}, {"conv", A}, {"flow", "f"}, {"node", "q1"}, {"at", 2}},
                      {{"id", "r.3"}, {"type", "enrolled"}, {"conv", A}, {"value", {{"course", "c"}}}, {"at", 3}}}) == 3);
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  const auto plan = [db](const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr) != SQLITE_OK) return out;
    while (sqlite3_step(st) == SQLITE_ROW) out += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 3))) + "\n";
    sqlite3_finalize(st);
    return out;
  };
  const std::string by_flow = plan("SELECT COUNT(DISTINCT r.conv) FROM records r WHERE r.flow = ? AND r.node IS NOT NULL");
  INFO(by_flow);
  CHECK_THAT(by_flow, Catch::Contains("records_flow"));
  const std::string by_course = plan("SELECT COUNT(DISTINCT r.conv) FROM records r WHERE r.type = 'enrolled' AND r.course = ?");
  INFO(by_course);
  CHECK_THAT(by_course, Catch::Contains("records_course"));
  // The indexes hold only the records that name a flow, or a course.
  const auto count = [db](const char* sql) {
    sqlite3_stmt* st = nullptr;
    std::int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
  };
  CHECK(count("SELECT COUNT(*) FROM records") == 3);
  CHECK(count("SELECT COUNT(*) FROM records INDEXED BY records_flow WHERE flow IS NOT NULL") == 1);
  CHECK(count("SELECT COUNT(*) FROM records INDEXED BY records_course WHERE course IS NOT NULL") == 1);
  CHECK(count("SELECT COUNT(*) FROM pragma_index_list('records') WHERE name IN ('records_flow', 'records_course') "
              "AND partial = 1") == 2);
  sqlite3_close(db);
}

TEST_CASE("records: an older database is upgraded, a newer one refused") {
  on_each_backend([](const std::string& url) {
    const auto& all = migrations();
    SECTION("older") {
      {
        auto st = open_record_store(url, {all.front()});
        CHECK(st->schema_version() == 1);
        CHECK(st->insert({{{"id", "r.1"}, {"type", "start"}, {"conv", A}, {"flow", "f"}, {"at", 1}}}) == 1);
        CHECK_THROWS_AS(st->upsert_learner(A, {{"name", "Ana"}}), record_store_error);  // no learner table yet
      }
      auto st = open_record_store(url);
      CHECK(st->schema_version() == static_cast<int>(all.size()));
      CHECK(st->timeline(A).size() == 1);
      st->upsert_learner(A, {{"name", "Ana"}, {"state", "Jalisco"}});
      CHECK(st->progress()["learners"][0]["name"] == "Ana");
    }
    SECTION("newer") {
      auto future = all;
      future.push_back({static_cast<int>(all.size()) + 1, "from a later aula", "CREATE TABLE later_thing (x INTEGER)"});
      CHECK(open_record_store(url, future)->schema_version() == static_cast<int>(future.size()));
      CHECK_THROWS_WITH(open_record_store(url),
                        Catch::Contains("schema version " + std::to_string(future.size())) &&
                            Catch::Contains("newer than this aula knows (" + std::to_string(all.size()) + ")"));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Inserting

TEST_CASE("records: inserting is idempotent by (conv, id)") {
  on_each_backend([](const std::string& url) {
    auto st = open_record_store(url);
    const auto records = scenario();
    // The caller hears of each record before it is written (the record keeper's thread gives
    // the core back there); with SQLite also before each of the file writes and syncs of the
    // commit (a checkpoint's too), which would otherwise run in one go.
    std::size_t heard = 0;
    st->on_each_record([&heard] { ++heard; });
    CHECK(st->insert(records) == records.size());
    const bool sqlite = st->backend() == std::string("sqlite");
    if (sqlite) CHECK(heard > records.size());
    else CHECK(heard == records.size());
    const std::size_t first = heard;
    CHECK(st->insert(records) == 0);  // the drain ran twice
    if (sqlite) CHECK(heard >= first + records.size());
    else CHECK(heard == 2 * records.size());
    // Only inserts: reading the store does not call it.
    heard = 0;
    CHECK(!st->timeline(A, 1000).empty());
    CHECK(st->progress().is_object());
    CHECK(heard == 0);
    st->on_each_record({});
    const auto a_count = st->timeline(A, 1000).size();

    // Two new, one old; a record twice in one batch counts once.
    const json n1 = {{"id", "z.1"}, {"type", "nudge"}, {"conv", A}, {"at", 7000}};
    const json n2 = {{"id", "z.2"}, {"type", "nudge"}, {"conv", A}, {"at", 7001}};
    CHECK(st->insert({records.front(), n1, n2, n2}) == 2);
    CHECK(st->timeline(A, 1000).size() == a_count + 2);
    // The same id in another conversation is another record.
    json other = n1;
    other["conv"] = E;
    CHECK(st->insert({other}) == 1);

    // A record without its key refuses the batch before anything is written.
    const json n3 = {{"id", "z.3"}, {"type", "nudge"}, {"conv", A}, {"at", 7002}};
    const json keyless = {{"type", "nudge"}, {"conv", A}, {"at", 7003}};
    CHECK_THROWS_WITH(st->insert({n3, keyless}), Catch::Contains("record 1") && Catch::Contains("\"id\""));
    CHECK_THROWS_AS(st->insert({{{"id", "z.4"}, {"type", "x"}, {"conv", "nochannel"}, {"at", 1}}}),
                    std::invalid_argument);
    CHECK_THROWS_AS(st->insert({{{"id", "z.5"}, {"type", "x"}, {"conv", A}, {"at", "yesterday"}}}),
                    std::invalid_argument);
    CHECK(st->timeline(A, 1000).size() == a_count + 2);
  });
}

// SQLite writes a WAL frame as two calls (its header, then its page); the record store's VFS
// holds a transaction's frames and writes them together. What another connection reads (the
// reports of `aula report`, a backup) must be exactly what was committed, at every commit.
TEST_CASE("records: the WAL's frames are written together, and every commit is whole to other readers") {
  temp_dir dir;
  const fs::path file = dir.path / "records.db";
  auto st = open_record_store("sqlite://" + file.string());
  sqlite3* reader = nullptr;  // the default VFS, as another process would read
  REQUIRE(sqlite3_open_v2(file.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  const auto count_rows = [&reader] {
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(reader, "SELECT count(*), count(DISTINCT conv) FROM records", -1, &q, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(q) == SQLITE_ROW);
    const auto out = std::make_pair(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1));
    sqlite3_finalize(q);
    return out;
  };
  const auto before = aula::records::detail::sqlite_wal_writes();
  std::int64_t total = 0;
  std::mt19937 rng(7);
  for (int batch = 0; batch < 12; ++batch) {
    // Learners at random, as the keeper's batches are: a frame per changed leaf of every index.
    std::vector<json> recs;
    const int n = 50 + 40 * batch;
    for (int i = 0; i < n; ++i) {
      const std::string conv = "telegram:" + std::to_string(rng() % 3000);
      recs.push_back({{"id", "b" + std::to_string(batch) + "." + std::to_string(i)},
                      {"type", "answer"},
                      {"conv", conv},
                      {"at", 1000 + batch},
                      {"flow", "diagnostico"},
                      {"node", "q" + std::to_string(i % 7)},
                      {"text", "¿Qué acción tomaría? — ñandú 🙂 " + std::string(200, 'x')}});
    }
    REQUIRE(st->insert(recs) == recs.size());
    total += n;
    // At once, with the store's connection still open: the whole commit, nothing more or less.
    CHECK(count_rows().first == total);
  }
  const auto after = aula::records::detail::sqlite_wal_writes();
  const auto asked = after.asked - before.asked, made = after.made - before.made;
  INFO("WAL writes asked " << asked << ", made " << made);
  CHECK(asked > 1000);        // two per frame: the batches changed hundreds of pages
  CHECK(made * 10 < asked);  // written together: at most one per 128 KB or per commit
  // The text comes back byte for byte through the held writes.
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(reader, "SELECT data FROM records WHERE id = 'b11.5'", -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  const std::string data(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)));
  sqlite3_finalize(q);
  CHECK(json::parse(data).at("text") == "¿Qué acción tomaría? — ñandú 🙂 " + std::string(200, 'x'));
  sqlite3_close(reader);
  // Closed and opened again (a checkpoint on close): every record, the file intact.
  st.reset();
  REQUIRE(sqlite3_open_v2(file.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  CHECK(count_rows().first == total);
  REQUIRE(sqlite3_prepare_v2(reader, "PRAGMA integrity_check", -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 0))) == "ok");
  sqlite3_finalize(q);
  sqlite3_close(reader);
}

TEST_CASE("records: a record's text as read is stored as its data") {
  on_each_backend([](const std::string& url) {
    auto st = open_record_store(url);
    // The record keeper passes the text each record was parsed from: it is the data, as it
    // is (here with a member the parsed record lacks, to tell the two apart).
    const std::vector<json> recs = {
        {{"id", "t.1"}, {"type", "answer"}, {"conv", A}, {"flow", "f"}, {"value", "sí"}, {"at", 5}},
        {{"id", "t.2"}, {"type", "nudge"}, {"conv", A}, {"at", 6}}};
    std::vector<std::string> texts;
    for (const auto& r : recs) {
      json t = r;
      t["src"] = "texto ¿leído? 🦉";
      texts.push_back(t.dump());
    }
    const std::vector<std::string_view> views(texts.begin(), texts.end());
    REQUIRE(st->insert(std::span(recs), std::span(views)) == 2);
    const json tl = st->timeline(A, 1000);
    REQUIRE(tl.size() == 2);
    for (std::size_t k = 0; k < 2; ++k) CHECK(tl[k] == json::parse(texts[k]));
    // One text per record, or none.
    CHECK_THROWS_AS(st->insert(std::span(recs), std::span(views).first(1)), std::logic_error);
  });
}

namespace {

// Every row of `sql` in a SQLite file, each cell as "type:text|".
std::vector<std::string> sqlite_rows(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const auto* v = sqlite3_column_text(st, c);
      row += std::to_string(sqlite3_column_type(st, c)) + ":" + (v ? reinterpret_cast<const char*>(v) : "") + "|";
    }
    out.push_back(row);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("records: records given as texts are stored in the rows their documents give") {
  // The record keeper stores texts (insert_texts reads their fields without documents where it
  // can); insert() stores documents. Both databases must hold the same rows and items.
  temp_dir dir;
  const fs::path from_docs = dir.path / "docs.db", from_texts = dir.path / "texts.db",
                 from_values = dir.path / "values.db";
  std::vector<json> recs = scenario();
  // Odd shapes too: numbers where texts go, floats, booleans, values of every kind.
  recs.push_back({{"id", "o.1"}, {"type", "answer"}, {"conv", A}, {"version", 3}, {"flow", "f"}, {"at", 9001},
                  {"value", {"a", "c", 7, nullptr, {{"x", 1}}}}, {"points", 2.6}, {"correct", true}});
  recs.push_back({{"id", "o.2"}, {"type", "enrolled"}, {"conv", E}, {"at", 9002},
                  {"value", {{"course", "curso"}, {"module", 2.0}, {"max", "9"}}}, {"text", ""}});
  recs.push_back({{"id", "o.3"}, {"type", "sent"}, {"conv", A}, {"channel", "telegram"}, {"at", 9003},
                  {"text", "¿Listo? ñ 😀 \"comillas\""}, {"segments", 2}, {"node", {"q", 1}}, {"final", "yes"}});
  recs.push_back({{"id", "o.4"}, {"type", "answer"}, {"conv", A}, {"at", 9004}, {"value", 4.5}, {"attempt", -1}});
  recs.push_back({{"id", "o.5"}, {"type", "answer"}, {"conv", A}, {"at", 9005}, {"value", nullptr}, {"status", 5}});
  std::vector<std::string> texts;
  for (const auto& r : recs) texts.push_back(r.dump());
  // A record given twice with a member repeated (pick gives up: its document is read).
  texts.push_back(R"({"id":"o.6","type":"nudge","type":"answer","conv":")" + A + R"(","at":9006,"value":"b"})");
  recs.push_back(json::parse(texts.back()));
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  {
    auto a = open_record_store("sqlite://" + from_docs.string());
    auto b = open_record_store("sqlite://" + from_texts.string());
    REQUIRE(a->insert(std::span(recs), std::span(views)) == recs.size());
    std::size_t heard = 0;
    b->on_each_record([&heard] { ++heard; });
    REQUIRE(b->insert_texts(std::span(views)) == recs.size());
    CHECK(heard > recs.size());  // each record, then the commit's writes
    CHECK(b->insert_texts(std::span(views)) == 0);  // the drain ran twice
    // A text without its key refuses the batch, naming the record, before anything is written.
    const std::vector<std::string_view> bad{R"({"id":"o.7","type":"x","conv":"telegram:1","at":1})",
                                            R"({"type":"x","conv":"telegram:1","at":1})"};
    CHECK_THROWS_WITH(b->insert_texts(std::span(bad)), Catch::Contains("record 1") && Catch::Contains("\"id\""));
    const std::vector<std::string_view> not_json{"<html>"};
    CHECK_THROWS_WITH(b->insert_texts(std::span(not_json)), Catch::Contains("not a JSON object"));
    // Picked beforehand (as the record keeper picks them to check a batch), then stored.
    auto c = open_record_store("sqlite://" + from_values.string());
    std::vector<aula::json_text::values> picked;
    for (const auto v : views) picked.emplace_back(v, record_paths());
    REQUIRE(c->insert_values(std::span(views), std::span(picked)) == recs.size());
    CHECK_THROWS_AS(c->insert_values(std::span(views).first(2), std::span(picked).first(1)), std::logic_error);
  }
  const std::string records_sql =
      "SELECT conv, id, type, channel, flow, version, run, node, course, module, value, num, text, status, correct, "
      "final, points, max_points, attempt, segments, at, data FROM records ORDER BY seq";
  const std::string items_sql = "SELECT conv, id, pos, item, num FROM record_items ORDER BY conv, id, pos";
  const auto want = sqlite_rows(from_docs, records_sql);
  CHECK(want.size() == recs.size());
  CHECK(sqlite_rows(from_texts, records_sql) == want);
  CHECK(sqlite_rows(from_texts, items_sql) == sqlite_rows(from_docs, items_sql));
  CHECK(sqlite_rows(from_values, records_sql) == want);
  CHECK(sqlite_rows(from_values, items_sql) == sqlite_rows(from_docs, items_sql));
  CHECK(sqlite_rows(from_docs, items_sql).size() > 10);
}

namespace {

// A random record text: mostly the flat shape the commit writes, often not (escapes, floats,
// containers, big integers, spaces, members twice, members missing, text cut short or added).
std::string random_record_text(std::mt19937& rng, int n) {
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
  static const std::vector<std::string> words = {"", "a", "opción_b", "¿Listo? ñ 😀", "x:y", "tab\there",
                                                 "comillas \"así\"", "barra \\ invertida", "línea\nnueva",
                                                 "\x7f", "ok", "telegram", "answered", "q1"};
  // Half the records as the commit writes them: strings without escapes, small integers,
  // booleans, no containers, nothing added.
  const bool flat = pick(2) == 0;
  static const std::vector<std::string> plain = {"", "a", "opción_b", "¿Listo? ñ 😀", "x:y", "\x7f", "ok", "q1"};
  auto scalar = [&]() -> json {
    if (flat) {
      switch (pick(6)) {
        case 0: return nullptr;
        case 1: return pick(2) == 0;
        case 2: return pick(1000) - 500;
        default: return plain[static_cast<std::size_t>(pick(static_cast<int>(plain.size())))];
      }
    }
    switch (pick(12)) {
      case 0: return nullptr;
      case 1: return pick(2) == 0;
      case 2: return pick(1000) - 500;
      case 3: return std::numeric_limits<std::int64_t>::max() - pick(2);
      case 4: return std::numeric_limits<std::int64_t>::min() + pick(2);
      case 5: return std::numeric_limits<std::uint64_t>::max() - static_cast<std::uint64_t>(pick(2));
      case 6: return pick(100) / 4.0;
      default: return words[static_cast<std::size_t>(pick(static_cast<int>(words.size())))];
    }
  };
  auto value = [&]() -> json {
    if (flat && pick(4) == 0)  // a course record's or a consent's value object
      return {{"course", scalar()}, {"module", scalar()}, {"max", scalar()}, {"decision", "accepted"}};
    switch (flat ? 9 : pick(10)) {
      case 0: return json::array({scalar(), scalar()});
      case 1: return {{"course", "curso"}, {"module", pick(4)}, {"max", 10}};
      default: return scalar();
    }
  };
  json r = json::object();
  r["conv"] = pick(20) == 0 ? scalar() : json("telegram:" + std::to_string(pick(50)));
  r["id"] = pick(20) == 0 ? scalar() : json("r." + std::to_string(n));
  r["type"] = pick(20) == 0 ? scalar() : json(std::vector<std::string>{"answer", "quiz", "sent", "in", "end"}[pick(5)]);
  r["at"] = pick(20) == 0 ? scalar() : json(1700000000000 + n);
  for (const char* k : {"channel", "flow", "version", "run", "node", "text", "status", "correct", "final", "points",
                        "attempt", "segments", "messages", "free_text", "otro"})
    if (pick(2) == 0) r[k] = pick(8) == 0 && !flat ? value() : scalar();
  if (pick(2) == 0) r["value"] = value();
  // A merged sent record's parts: a member the store does not read, of any shape.
  if (pick(3) == 0)
    r["parts"] = json::array({{{"at", n}, {"external_id", std::to_string(n)}, {"node", scalar()}},
                              {{"at", 1.5e-3}, {"ok", true}, {"x", nullptr}, {"y", json::array()}, {"z", json::object()}}});
  for (const char* k : {"conv", "id", "type", "at"})
    if (pick(30) == 0) r.erase(k);
  std::string text = pick(6) == 0 ? r.dump(1) : r.dump(-1, ' ', false, json::error_handler_t::replace);
  switch (flat ? 99 : pick(20)) {
    case 0: text.insert(1, R"("type":"nudge",)"); break;                // a member of its own twice
    case 1: text.insert(1, R"("otro":1,"otro":[1,{"a":2}],)"); break;  // another member twice
    case 2: text += pick(2) == 0 ? " " : " x"; break;
    case 3: text.resize(text.size() / 2); break;
    case 4: text.insert(1, "\"k\":\"\xff\","); break;                    // not UTF-8
    case 5: text.insert(1, R"("points":-0,)"); break;
    case 6: text.insert(1, R"("segments":01,)"); break;
    case 7: text.insert(1, R"("attempt":1e2,)"); break;
    case 8: text.insert(1, R"("segments":18446744073709551616,)"); break;
    case 9: text.insert(1, R"("text":"\ud83d\ude00 \u00e9 \/ \b\f\r \u0000",)"); break;  // escapes of every kind
    case 10: text.insert(1, pick(2) == 0 ? R"("text":"\ud83d x",)" : R"("node":"\udc00",)"); break;  // lone surrogates
    case 11: text.insert(1, pick(2) == 0 ? R"("run":"\x",)" : R"("flow":"\u12",)"); break;  // not JSON escapes
    case 12: text.insert(1, R"("t\u0065xt":"clave escapada",)"); break;
    case 13: text.insert(1, "\"hondo\":" + std::string(70, '[') + std::string(70, ']') + ","); break;  // too deep to skip
    case 14: text.insert(1, pick(2) == 0 ? R"("parts":[1,2,],)" : R"("parts":{"a" 1},)"); break;  // not JSON
    case 15: text.insert(1, R"("value":{"module":1,"course":"c"},)"); break;  // not in key order
    case 16: text.insert(1, pick(2) == 0 ? R"("value":{"course":"c","module":1.0},)" : R"("value":{"a":1,"a":2},)"); break;
    default: break;
  }
  return text;
}

}  // namespace

TEST_CASE("records: a sent record's text is kept in its data only, a typed one in its column too") {
  // Both ways in (documents, texts read in one pass); the timeline gives the text back whole.
  temp_dir dir;
  const std::string sent_text = "¿Listo? ñ 😀\n\n«Curso» \"comillas\" á é í ó ú";
  const std::vector<json> recs = {
      {{"id", "s.1"}, {"type", "sent"}, {"conv", A}, {"channel", "telegram"}, {"node", "bienvenida"},
       {"text", sent_text}, {"segments", 1}, {"at", 100}},
      {{"id", "s.2"}, {"type", "sent"}, {"conv", A}, {"channel", "telegram"}, {"text", sent_text}, {"messages", 2},
       {"parts", json::array({{{"external_id", "7"}}, {{"external_id", "8"}}})}, {"at", 101}},
      {{"id", "s.3"}, {"type", "inbound"}, {"conv", A}, {"text", "sí, ñandú 🦉"}, {"at", 102}},
      {{"id", "s.4"}, {"type", "answer"}, {"conv", A}, {"flow", "f"}, {"node", "q"}, {"value", "otra"},
       {"text", "otra cosa"}, {"at", 103}}};
  std::vector<std::string> texts;
  for (const auto& r : recs) texts.push_back(r.dump());
  const fs::path docs = dir.path / "docs.db", read = dir.path / "read.db";
  {
    auto a = open_record_store("sqlite://" + docs.string());
    auto b = open_record_store("sqlite://" + read.string());
    REQUIRE(a->insert(recs) == recs.size());
    std::vector<record_text> fast;
    for (const auto& t : texts) {
      fast.emplace_back(t);
      CHECK(fast.back().in_one_pass());  // the record keeper's way
    }
    REQUIRE(b->insert_read(std::span(fast)) == recs.size());
    for (auto* st : {a.get(), b.get()}) {
      const json tl = st->timeline(A, 10);
      REQUIRE(tl.size() == recs.size());
      for (std::size_t k = 0; k < recs.size(); ++k) CHECK(tl[k] == recs[k]);
    }
  }
  for (const auto& file : {docs, read}) {
    // Column type 5 is SQLITE_NULL, 3 SQLITE_TEXT.
    const auto rows = sqlite_rows(file, "SELECT id, text FROM records ORDER BY seq");
    CHECK(rows == std::vector<std::string>{"3:s.1|5:|", "3:s.2|5:|", "3:s.3|3:sí, ñandú 🦉|", "3:s.4|3:otra cosa|"});
    const auto data = sqlite_rows(file, "SELECT data FROM records WHERE type = 'sent' ORDER BY seq");
    REQUIRE(data.size() == 2);
    for (const auto& d : data) CHECK(json::parse(d.substr(2, d.size() - 3))["text"] == sent_text);
  }
}

TEST_CASE("records: a record read in one pass is stored as the picked record is") {
  // record_text reads the commit's flat records in one pass and picks the rest; a record
  // stored from either reading gives the same row and items, and is refused alike.
  temp_dir dir;
  const fs::path one_pass = dir.path / "one_pass.db", picked_db = dir.path / "picked.db";
  auto a = open_record_store("sqlite://" + one_pass.string());
  auto b = open_record_store("sqlite://" + picked_db.string());
  std::mt19937 rng(20261203);
  std::size_t read_fast = 0, read_picked = 0, refused = 0, stored = 0;
  for (int n = 0; n < 1500; ++n) {
    const std::string text = random_record_text(rng, n);
    const std::vector<std::string_view> one{text};
    std::vector<record_text> fast;
    fast.emplace_back(text);
    (fast.front().in_one_pass() ? read_fast : read_picked)++;
    std::vector<aula::json_text::values> picked;
    picked.emplace_back(text, record_paths());
    std::string why_a, why_b;
    std::size_t got_a = 0, got_b = 0;
    try {
      got_a = a->insert_read(std::span(fast));
    } catch (const std::invalid_argument& e) {
      why_a = e.what();
    }
    try {
      got_b = b->insert_values(std::span(one), std::span(picked));
    } catch (const std::invalid_argument& e) {
      why_b = e.what();
    }
    INFO(text);
    REQUIRE(why_a == why_b);
    REQUIRE(got_a == got_b);
    (why_a.empty() ? stored : refused)++;
  }
  const std::string records_sql =
      "SELECT conv, id, type, channel, flow, version, run, node, course, module, value, num, text, status, correct, "
      "final, points, max_points, attempt, segments, at, data, messages FROM records ORDER BY seq";
  const std::string items_sql = "SELECT conv, id, pos, item, num FROM record_items ORDER BY conv, id, pos";
  a.reset();
  b.reset();
  const auto want = sqlite_rows(picked_db, records_sql);
  CHECK(sqlite_rows(one_pass, records_sql) == want);
  CHECK(sqlite_rows(one_pass, items_sql) == sqlite_rows(picked_db, items_sql));
  // Both readings, both outcomes, and rows of every kind were exercised.
  CHECK(read_fast > 300);
  CHECK(read_picked > 300);
  CHECK(refused > 50);
  CHECK(want.size() > 500);
  CHECK(sqlite_rows(picked_db, items_sql).size() > 300);
  // The record keeper's questions have the same answers from either reading.
  for (const std::string text : {R"({"conv":"telegram:1","id":"x","type":"admin","text":"whatsapp:52","at":3})",
                                 R"({"conv":"telegram:1","id":"x","type":"admin","text":"whatsapp:52","at":3.5})",
                                 R"({"conv":"telegram:1","id":"x","type":"admin","text":"wh\u0061tsapp:52","at":3})"}) {
    const record_text r(text);
    const aula::json_text::values v(text, record_paths());
    for (const char* k : {"conv", "id", "type", "text", "at", "value"}) {
      CHECK(r.has(k) == (v.at(k) != nullptr));
      CHECK(r.is_integer(k) == (v.at(k) && v.at(k)->is_number_integer()));
      CHECK(r.string(k).has_value() == (v.at(k) && v.at(k)->is_string()));
      if (r.string(k)) CHECK(*r.string(k) == v.at(k)->get<std::string>());
    }
  }
  CHECK(record_text(R"({"conv":"telegram:1","id":"x","type":"in","at":3})").in_one_pass());
  CHECK_FALSE(record_text(R"({"conv":"telegram:1","id":"x","type":"in","at":3.0})").in_one_pass());
  const record_text escaped(R"({"conv":"telegram:1","id":"x","type":"in","text":"l\u00ednea\n\"dos\" \ud83e\udd89","at":3})");
  CHECK(escaped.in_one_pass());
  // A value object in a JSON writer's form is read in one pass; out of key order it is picked.
  CHECK(record_text(R"({"at":3,"conv":"telegram:1","id":"x","type":"module","value":{"course":"c","module":2}})").in_one_pass());
  CHECK_FALSE(record_text(R"({"at":3,"conv":"telegram:1","id":"x","type":"module","value":{"module":2,"course":"c"}})").in_one_pass());
  CHECK(escaped.string("text") == "línea\n\"dos\" 🦉");
}

TEST_CASE("records: UTF-8 text comes back byte for byte") {
  on_each_backend([](const std::string& url) {
    auto st = open_record_store(url);
    const std::string text = "¿Qué tal? ¡Sí! ñandú á é í ó ú ü Ñ 🦉👩🏽‍🏫";
    const json rec = {{"id", "u.1"},  {"type", "answer"}, {"conv", B},      {"flow", "diagnostico"},
                      {"run", "u"},   {"node", "comentario"}, {"value", text}, {"text", text},
                      {"status", "answered"}, {"at", 10}};
    REQUIRE(st->insert({rec}) == 1);
    st->upsert_learner(B, {{"name", "Beto Núñez 🦉"}, {"state", "Michoacán"}, {"cohorts", {"tarde ñ"}}});
    CHECK(st->timeline(B) == json::array({rec}));
    const json p = st->progress();
    CHECK(p["learners"][0]["name"] == "Beto Núñez 🦉");
    CHECK(p["learners"][0]["state"] == "Michoacán");
    CHECK(p["learners"][0]["cohorts"] == json::array({"tarde ñ"}));
    const json s = st->survey("diagnostico", in_cohort_and_state("tarde ñ", "Michoacán"));
    REQUIRE(s["nodes"].size() == 1);
    CHECK(s["nodes"][0]["values"][0]["value"] == text);
    CHECK(s["nodes"][0]["texts"][0]["text"] == text);
  });
}

TEST_CASE("records: the timeline is a learner's latest records, oldest first, whole") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store(url);
    // Ana: 14 course records (enrolled; modulo-1: module, start, 3 quiz, end, module; modulo-2:
    // module, start, answer, end, module; course), 7 of the survey, the custom one, 3 sent: 25.
    const json t = st->timeline(A, 1000);
    REQUIRE(t.size() == 25);
    // Records of one step share `at`: they keep the order they were written in.
    CHECK(t[0]["type"] == "enrolled");
    CHECK(t[1]["type"] == "module");
    CHECK(t[2]["type"] == "start");
    const json* custom = find_by(t, "type", "custom_thing");
    REQUIRE(custom);
    CHECK((*custom)["extra"] == json({{"k", {1, 2}}, {"ñ", "¿sí?"}}));
    const json last = st->timeline(A, 2);
    REQUIRE(last.size() == 2);
    CHECK(last[0]["at"] == 5001);
    CHECK(last[1]["at"] == 5002);
    CHECK(st->timeline("telegram:999").empty());
  });
}

TEST_CASE("records: learners and cohorts are replaced, not accumulated") {
  on_each_backend([](const std::string& url) {
    auto st = open_record_store(url);
    st->upsert_learner(A, {{"name", "Ana"}, {"state", "Jalisco"}, {"cohorts", {"piloto", "tarde"}}});
    st->upsert_learner(A, {{"name", "Ana P."}, {"state", "Colima"}});  // no "cohorts": kept
    json l = st->progress()["learners"];
    REQUIRE(l.size() == 1);
    CHECK(l[0]["name"] == "Ana P.");
    CHECK(l[0]["state"] == "Colima");
    CHECK(l[0]["cohorts"] == json::array({"piloto", "tarde"}));
    st->set_cohorts(A, {"noche"});
    CHECK(st->progress()["learners"][0]["cohorts"] == json::array({"noche"}));
    CHECK(st->progress(in_cohort("piloto"))["learners"].empty());
    CHECK_THROWS_AS(st->set_cohorts("nochannel", {"x"}), std::invalid_argument);
  });
}

// ---------------------------------------------------------------------------------------------
// Reports on the scenario

TEST_CASE("records report: progress per learner, course and module, per cohort and per state") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store(url);
    const json p = st->progress();
    // The four of the learner table and E, who has end records; in conv order.
    REQUIRE(p["learners"].size() == 5);
    std::vector<std::string> convs;
    for (const auto& l : p["learners"]) convs.push_back(l["conv"]);
    CHECK(convs == std::vector<std::string>{D, A, E, C, B});

    const json& ana = *find_by(p["learners"], "conv", A);
    CHECK(ana["name"] == "Ana Pérez");
    CHECK(ana["state"] == "Jalisco");
    CHECK(ana["cohorts"] == json::array({"piloto"}));
    REQUIRE(ana["courses"].size() == 1);
    const json& ac = ana["courses"][0];
    CHECK(ac["course"] == "ti");
    CHECK(ac["status"] == "completed");
    CHECK(ac["enrolled_at"] == 1000);
    CHECK(ac["ended_at"] == 2200);
    CHECK(ac["score"] == 2);
    CHECK(ac["max"] == 2);
    CHECK(ac["modules_completed"] == 2);
    CHECK(ac["modules_total"] == 2);
    CHECK(ac["completion"].get<double>() == Approx(1.0));
    REQUIRE(ac["modules"].size() == 2);
    CHECK(ac["modules"][0] == json({{"module", 1}, {"flow", "modulo-1"}, {"status", "completed"}, {"score", 2},
                                    {"max", 2}, {"percent", 100}, {"attempt", 1}, {"at", 1300}}));
    CHECK(ac["modules"][1]["flow"] == "modulo-2");
    CHECK(ac["modules"][1]["percent"] == 100);  // 0 of 0, as the engine counts it
    // Ana's latest end per flow: diagnostico, modulo-1 (2 of 2), modulo-2.
    REQUIRE(ana["flows"].size() == 3);
    CHECK(ana["flows"][1] == json({{"flow", "modulo-1"}, {"status", "completed"}, {"score", 2}, {"max", 2},
                                   {"at", 1300}}));

    const json& beto = *find_by(p["learners"], "conv", B);
    CHECK(beto["cohorts"] == json::array({"piloto", "tarde"}));
    const json& bc = beto["courses"][0];
    CHECK(bc["status"] == "active");
    CHECK(bc["score"].is_null());
    CHECK(bc["ended_at"].is_null());
    CHECK(bc["modules_completed"] == 1);
    CHECK(bc["completion"].get<double>() == Approx(0.5));
    REQUIRE(bc["modules"].size() == 2);
    CHECK(bc["modules"][0]["score"] == 0);
    CHECK(bc["modules"][0]["percent"] == 0);
    CHECK(bc["modules"][1] == json({{"module", 2}, {"flow", "modulo-2"}, {"status", "started"}, {"score", nullptr},
                                    {"max", nullptr}, {"percent", nullptr}, {"attempt", 1}, {"at", 2000}}));

    const json& carla = *find_by(p["learners"], "conv", C);
    CHECK(carla["courses"][0]["modules"].size() == 1);
    CHECK(carla["courses"][0]["modules"][0]["status"] == "started");
    CHECK(carla["courses"][0]["completion"].get<double>() == Approx(0.0));
    CHECK(carla["flows"].size() == 1);  // diagnostico (run c4); modulo-1 never ended

    const json& dora = *find_by(p["learners"], "conv", D);
    CHECK(dora["courses"][0]["status"] == "active");
    CHECK(dora["courses"][0]["modules"].empty());
    CHECK(dora["courses"][0]["modules_total"] == 2);
    CHECK(dora["flows"].empty());

    const json& e = *find_by(p["learners"], "conv", E);
    CHECK(e["name"].is_null());
    CHECK(e["courses"].empty());
    CHECK(e["flows"].size() == 2);

    // Course ti: piloto = Ana (completed), Beto; tarde = Beto, Carla, Dora (none completed).
    CHECK(p["by_cohort"].size() == 2);
    CHECK(row_of(p["by_cohort"], {{"cohort", "piloto"}, {"course", "ti"}})["learners"] == 2);
    CHECK(row_of(p["by_cohort"], {{"cohort", "piloto"}})["completed"] == 1);
    CHECK(row_of(p["by_cohort"], {{"cohort", "piloto"}})["share"].get<double>() == Approx(0.5));
    CHECK(row_of(p["by_cohort"], {{"cohort", "tarde"}})["learners"] == 3);
    CHECK(row_of(p["by_cohort"], {{"cohort", "tarde"}})["completed"] == 0);
    // Jalisco = Ana, Beto; Oaxaca = Carla, Dora.
    CHECK(p["by_state"] == json::array({{{"state", "Jalisco"}, {"course", "ti"}, {"learners", 2}, {"completed", 1},
                                         {"share", 0.5}},
                                        {{"state", "Oaxaca"}, {"course", "ti"}, {"learners", 2}, {"completed", 0},
                                         {"share", 0.0}}}));

    // Cohort tarde only: Beto, Carla, Dora; Beto's piloto is not a row of its own.
    const json t = st->progress(in_cohort("tarde"));
    CHECK(t["learners"].size() == 3);
    CHECK(t["by_cohort"].size() == 1);
    CHECK(row_of(t["by_cohort"], {{"cohort", "tarde"}})["learners"] == 3);
    CHECK(row_of(t["by_state"], {{"state", "Jalisco"}})["learners"] == 1);
    CHECK(row_of(t["by_state"], {{"state", "Oaxaca"}})["learners"] == 2);
    // Jalisco only: Ana, Beto, in piloto (2, 1 completed) and tarde (Beto).
    const json j = st->progress(in_state("Jalisco"));
    CHECK(j["learners"].size() == 2);
    CHECK(row_of(j["by_cohort"], {{"cohort", "piloto"}})["completed"] == 1);
    CHECK(row_of(j["by_cohort"], {{"cohort", "tarde"}})["learners"] == 1);
    // Before 1250: Ana has not completed anything yet.
    const json early = st->progress(before(1250));
    CHECK(find_by(early["learners"], "conv", A)->at("courses")[0]["modules"][0]["status"] == "started");
    CHECK(row_of(early["by_cohort"], {{"cohort", "piloto"}})["completed"] == 0);

    // Ana enrols again: the earlier modules are a previous attempt.
    REQUIRE(st->insert({{{"id", "m101.99"}, {"type", "enrolled"}, {"conv", A}, {"status", "enrolled"},
                         {"value", {{"course", "ti"}}}, {"at", 6000}}}) == 1);
    const json again = st->progress(in_cohort("piloto"));
    const json& ac2 = find_by(again["learners"], "conv", A)->at("courses")[0];
    CHECK(ac2["status"] == "active");
    CHECK(ac2["enrolled_at"] == 6000);
    CHECK(ac2["modules"].empty());
    CHECK(ac2["modules_completed"] == 0);
    CHECK(row_of(again["by_cohort"], {{"cohort", "piloto"}})["completed"] == 0);
  });
}

TEST_CASE("records report: the funnel from enrolled to completed, with drop-off by node") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store(url);
    // Course ti: enrolled Ana, Beto, Carla, Dora. modulo-1 started by Ana, Beto, Carla (E is
    // not enrolled), completed by Ana and Beto; Carla's latest record there: jornada (skipped).
    // modulo-2: started by Ana and Beto, completed by Ana; Beto's latest: listo (invalid).
    const json f = st->funnel("ti", {});
    CHECK(f["course"] == "ti");
    CHECK(f["enrolled"] == 4);
    REQUIRE(f["steps"].size() == 2);
    CHECK(f["steps"][0] == json({{"flow", "modulo-1"}, {"module", 1}, {"enrolled", 4}, {"started", 3},
                                 {"completed", 2}, {"drop_off", {{{"node", "jornada"}, {"learners", 1}}}}}));
    CHECK(f["steps"][1] == json({{"flow", "modulo-2"}, {"module", 2}, {"enrolled", 4}, {"started", 2},
                                 {"completed", 1}, {"drop_off", {{{"node", "listo"}, {"learners", 1}}}}}));

    // The flow alone: E counts too (started 4, completed 3).
    const json m1 = st->funnel("", {"modulo-1"});
    CHECK(m1["enrolled"].is_null());
    REQUIRE(m1["steps"].size() == 1);
    CHECK(m1["steps"][0]["module"].is_null());
    CHECK(m1["steps"][0]["started"] == 4);
    CHECK(m1["steps"][0]["completed"] == 3);
    CHECK(m1["steps"][0]["drop_off"] == json::array({{{"node", "jornada"}, {"learners", 1}}}));

    // Cohort piloto: Ana and Beto.
    const json pil = st->funnel("ti", {}, in_cohort("piloto"));
    CHECK(pil["enrolled"] == 2);
    CHECK(pil["steps"][0]["started"] == 2);
    CHECK(pil["steps"][0]["completed"] == 2);
    CHECK(pil["steps"][0]["drop_off"].empty());
    CHECK(pil["steps"][1]["drop_off"] == json::array({{{"node", "listo"}, {"learners", 1}}}));

    // Before 1150: all three are at edad, nobody has completed.
    const json early = st->funnel("ti", {}, before(1150));
    CHECK(early["steps"][0]["completed"] == 0);
    CHECK(early["steps"][0]["drop_off"] == json::array({{{"node", "edad"}, {"learners", 3}}}));
    CHECK(early["steps"][1]["started"] == 0);

    // A learner who started and never answered: node "".
    REQUIRE(st->insert({{{"id", "d1.1"}, {"type", "start"}, {"conv", D}, {"flow", "modulo-1"}, {"run", "d1"},
                         {"at", 6000}}}) == 1);
    CHECK(st->funnel("ti", {"modulo-1"})["steps"][0]["drop_off"] ==
          json::array({{{"node", ""}, {"learners", 1}}, {{"node", "jornada"}, {"learners", 1}}}));
  });
}

TEST_CASE("records report: quiz items, first attempts and the wrong answer chosen most") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store(url);
    const json r = st->items("modulo-1");
    CHECK(r["flow"] == "modulo-1");
    REQUIRE(r["nodes"].size() == 2);
    // edad: Ana a,b; Beto c,a; Carla b; E a,b. First attempts: a (Ana, E), c (Beto), b (Carla).
    const json& edad = r["nodes"][0];
    CHECK(edad["node"] == "edad");
    CHECK(edad["learners"] == 4);
    CHECK(edad["first_correct"] == 1);
    CHECK(edad["first_correct_share"].get<double>() == Approx(0.25));
    CHECK(edad["correct_any"] == 3);
    CHECK(edad["skipped"] == 0);
    CHECK(edad["answers"] == json::array({{{"value", "a"}, {"count", 3}, {"correct", false}},
                                          {{"value", "b"}, {"count", 3}, {"correct", true}},
                                          {{"value", "c"}, {"count", 1}, {"correct", false}}}));
    CHECK(edad["first_answers"] == json::array({{{"value", "a"}, {"count", 2}, {"correct", false}},
                                                {{"value", "b"}, {"count", 1}, {"correct", true}},
                                                {{"value", "c"}, {"count", 1}, {"correct", false}}}));
    CHECK(edad["most_chosen_wrong"] == json({{"value", "a"}, {"count", 3}}));
    // jornada: Ana y, Beto x, E y; Carla skipped it.
    const json& jornada = r["nodes"][1];
    CHECK(jornada["node"] == "jornada");
    CHECK(jornada["learners"] == 3);
    CHECK(jornada["first_correct"] == 2);
    CHECK(jornada["first_correct_share"].get<double>() == Approx(2.0 / 3.0));
    CHECK(jornada["skipped"] == 1);
    CHECK(jornada["answers"] == json::array({{{"value", "y"}, {"count", 2}, {"correct", true}},
                                             {{"value", "x"}, {"count", 1}, {"correct", false}}}));
    CHECK(jornada["most_chosen_wrong"] == json({{"value", "x"}, {"count", 1}}));

    // Cohort tarde: Beto (c then a) and Carla (b). a and c are wrong once each: a by value.
    const json t = st->items("modulo-1", in_cohort("tarde"));
    const json& te = t["nodes"][0];
    CHECK(te["learners"] == 2);
    CHECK(te["first_correct"] == 1);
    CHECK(te["answers"].size() == 3);
    CHECK(te["first_answers"] == json::array({{{"value", "b"}, {"count", 1}, {"correct", true}},
                                              {{"value", "c"}, {"count", 1}, {"correct", false}}}));
    CHECK(te["most_chosen_wrong"] == json({{"value", "a"}, {"count", 1}}));
    CHECK(t["nodes"][1]["learners"] == 1);
    CHECK(t["nodes"][1]["skipped"] == 1);

    CHECK(st->items("no-such-flow")["nodes"].empty());
  });
}

TEST_CASE("records report: survey tallies, means, NPS, free text, per state and cohort") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store(url);
    const json s = st->survey("diagnostico", {}, {"recomienda"});
    REQUIRE(s["nodes"].size() == 5);
    const json& comentario = *find_by(s["nodes"], "node", "comentario");
    const json& recomienda = *find_by(s["nodes"], "node", "recomienda");
    const json& inspeccion = *find_by(s["nodes"], "node", "tema_inspeccion");
    const json& riesgos = *find_by(s["nodes"], "node", "tema_riesgos");
    const json& temas = *find_by(s["nodes"], "node", "temas");

    // Latest per learner: Ana 5, Beto 4, Carla 2 (her first run said 1), E 3.
    CHECK(inspeccion["responses"] == 4);
    CHECK(inspeccion["values"] == json::array({{{"value", 2}, {"count", 1}},
                                               {{"value", 3}, {"count", 1}},
                                               {{"value", 4}, {"count", 1}},
                                               {{"value", 5}, {"count", 1}}}));
    CHECK(inspeccion["numeric"]["count"] == 4);
    CHECK(inspeccion["numeric"]["mean"].get<double>() == Approx(3.5));
    CHECK(inspeccion["numeric"]["min"] == 2);
    CHECK(inspeccion["numeric"]["max"] == 5);
    CHECK(riesgos["responses"] == 3);  // Ana 3, Beto 2, Carla 5
    CHECK(riesgos["numeric"]["mean"].get<double>() == Approx(10.0 / 3.0));
    CHECK(recomienda["numeric"]["mean"].get<double>() == Approx(6.5));  // (10 + 7 + 9 + 0) / 4
    // Free text: Ana and E wrote the same; Carla skipped.
    CHECK(comentario["responses"] == 3);
    CHECK(comentario["numeric"].is_null());
    CHECK(comentario["values"] == json::array({{{"value", "Más ejemplos ¿por favor? ¡gracias! 🙏"}, {"count", 2}},
                                               {{"value", "más casos prácticos"}, {"count", 1}}}));
    CHECK(comentario["texts"][0] == json({{"text", "Más ejemplos ¿por favor? ¡gracias! 🙏"}, {"count", 2}}));
    // Multi choice: each option chosen counts. leyes: Ana, Carla; casos: Ana, Beto; salud: Carla.
    CHECK(temas["responses"] == 3);
    CHECK(temas["values"] == json::array({{{"value", "casos"}, {"count", 2}},
                                          {{"value", "leyes"}, {"count", 2}},
                                          {{"value", "salud"}, {"count", 1}}}));
    CHECK(temas["texts"].size() == 3);

    // NPS: promoters Ana (10) and Carla (9), passive Beto (7), detractor E (0): (2 - 1) / 4.
    CHECK(s["nps"] == json::array({{{"node", "recomienda"}, {"responses", 4}, {"promoters", 2}, {"passives", 1},
                                    {"detractors", 1}, {"nps", 25.0}}}));

    // Means per state: "" (E), Jalisco (Ana, Beto), Oaxaca (Carla).
    REQUIRE(s["by_state"].size() == 8);
    CHECK(row_of(s["by_state"], {{"state", ""}, {"node", "recomienda"}})["mean"].get<double>() == Approx(0.0));
    CHECK(row_of(s["by_state"], {{"state", "Jalisco"}, {"node", "tema_inspeccion"}})["mean"].get<double>() ==
          Approx(4.5));
    CHECK(row_of(s["by_state"], {{"state", "Jalisco"}, {"node", "tema_riesgos"}})["count"] == 2);
    CHECK(row_of(s["by_state"], {{"state", "Jalisco"}, {"node", "tema_riesgos"}})["mean"].get<double>() ==
          Approx(2.5));
    CHECK(row_of(s["by_state"], {{"state", "Oaxaca"}, {"node", "recomienda"}})["mean"].get<double>() == Approx(9.0));
    CHECK(s["by_state"][0]["state"] == "");  // sorted by state, then node
    CHECK(s["by_state"][0]["node"] == "recomienda");
    // Per cohort: tarde = Beto, Carla.
    REQUIRE(s["by_cohort"].size() == 8);
    CHECK(row_of(s["by_cohort"], {{"cohort", "tarde"}, {"node", "tema_inspeccion"}})["mean"].get<double>() ==
          Approx(3.0));
    CHECK(row_of(s["by_cohort"], {{"cohort", "tarde"}, {"node", "tema_riesgos"}})["mean"].get<double>() ==
          Approx(3.5));
    CHECK(row_of(s["by_cohort"], {{"cohort", "piloto"}, {"node", "recomienda"}})["mean"].get<double>() ==
          Approx(8.5));

    // Oaxaca: Carla only, a promoter.
    const json o = st->survey("diagnostico", in_state("Oaxaca"), {"recomienda"});
    CHECK(find_by(o["nodes"], "node", "tema_inspeccion")->at("values") ==
          json::array({{{"value", 2}, {"count", 1}}}));
    CHECK(o["nps"][0]["nps"].get<double>() == Approx(100.0));
    CHECK(find_by(o["nodes"], "node", "comentario") == nullptr);
    // Before 3000: only Carla's first, abandoned run (1).
    const json early = st->survey("diagnostico", before(3000));
    REQUIRE(early["nodes"].size() == 1);
    CHECK(early["nodes"][0]["values"] == json::array({{{"value", 1}, {"count", 1}}}));
  });
}

TEST_CASE("records report: every answer of a flow with its learner, for exports") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store(url);
    // modulo-1, oldest first (a tie in `at` keeps the order the records were written: Ana's,
    // then Beto's, then Carla's): every quiz attempt; Carla's invalid reply and her skipped
    // jornada are no answers. 10 rows.
    const json m = st->answers("modulo-1");
    CHECK(m["flow"] == "modulo-1");
    const json& rows = m["rows"];
    REQUIRE(rows.size() == 10);
    CHECK(rows[0] == json({{"conv", A}, {"name", "Ana Pérez"}, {"state", "Jalisco"}, {"cohorts", {"piloto"}},
                           {"node", "edad"}, {"type", "quiz"}, {"value", "a"}, {"text", "a"}, {"correct", false},
                           {"attempt", 1}, {"at", 1100}}));
    struct expected {
      std::string conv, node, value;
      bool correct;
      int attempt, at;
    };
    const std::vector<expected> want{{A, "edad", "a", false, 1, 1100},   {B, "edad", "c", false, 1, 1100},
                                     {C, "edad", "b", true, 1, 1100},    {A, "edad", "b", true, 2, 1200},
                                     {B, "edad", "a", false, 2, 1200},   {A, "jornada", "y", true, 1, 1300},
                                     {B, "jornada", "x", false, 1, 1300}, {E, "edad", "a", false, 1, 1600},
                                     {E, "edad", "b", true, 2, 1700},    {E, "jornada", "y", true, 1, 1800}};
    for (std::size_t k = 0; k < want.size(); ++k) {
      INFO("row " << k << ": " << rows[k].dump());
      CHECK(rows[k]["conv"] == want[k].conv);
      CHECK(rows[k]["node"] == want[k].node);
      CHECK(rows[k]["value"] == want[k].value);
      CHECK(rows[k]["correct"] == want[k].correct);
      CHECK(rows[k]["attempt"] == want[k].attempt);
      CHECK(rows[k]["at"] == want[k].at);
    }
    // Beto is in two cohorts (sorted); E is not in the learner table.
    CHECK(rows[1]["name"] == "Beto Núñez 🦉");
    CHECK(rows[1]["cohorts"] == json::array({"piloto", "tarde"}));
    CHECK(rows[7]["name"].is_null());
    CHECK(rows[7]["state"].is_null());
    CHECK(rows[7]["cohorts"] == json::array());

    // The survey: Ana 5, Beto 5, Carla 5 (one from her abandoned run, her skipped comentario
    // left out), E 3: 18 answers. Numbers stay numbers, a multi answer an array; no "correct".
    const json d = st->answers("diagnostico");
    REQUIRE(d["rows"].size() == 18);
    CHECK(d["rows"][0] == json({{"conv", C}, {"name", "Carla"}, {"state", "Oaxaca"}, {"cohorts", {"tarde"}},
                                {"node", "tema_inspeccion"}, {"type", "answer"}, {"value", 1}, {"text", "1"},
                                {"correct", nullptr}, {"attempt", nullptr}, {"at", 2600}}));
    CHECK(d["rows"][1]["conv"] == A);  // 3100: Ana, Beto, Carla, E
    CHECK(d["rows"][4]["conv"] == E);
    CHECK(d["rows"][1]["value"].is_number_integer());
    const json* temas = find_by(d["rows"], "node", "temas");
    REQUIRE(temas);
    CHECK((*temas)["conv"] == A);
    CHECK((*temas)["value"] == json::array({"leyes", "casos"}));
    CHECK((*temas)["text"] == "leyes y casos");
    const json* comentario = find_by(d["rows"], "node", "comentario");
    REQUIRE(comentario);
    CHECK((*comentario)["value"] == "Más ejemplos ¿por favor? ¡gracias! 🙏");
    int carla = 0, comentarios = 0;
    for (const auto& r : d["rows"]) {
      carla += r["conv"] == C;
      comentarios += r["node"] == "comentario";
    }
    CHECK(carla == 5);
    CHECK(comentarios == 3);  // Ana, Beto, E

    // modulo-2: Ana's "listo"; Beto's invalid reply is no answer.
    const json m2 = st->answers("modulo-2");
    REQUIRE(m2["rows"].size() == 1);
    CHECK(m2["rows"][0]["value"] == "si");
    CHECK(m2["rows"][0]["text"] == "Sí");

    // Filters: cohort tarde (Beto, Carla): Beto c, Carla b, Beto a, Beto x.
    const json t = st->answers("modulo-1", in_cohort("tarde"));
    REQUIRE(t["rows"].size() == 4);
    CHECK(t["rows"][0]["value"] == "c");
    CHECK(t["rows"][1]["conv"] == C);
    CHECK(t["rows"][2]["value"] == "a");
    CHECK(t["rows"][3]["node"] == "jornada");
    CHECK(st->answers("diagnostico", in_state("Oaxaca"))["rows"].size() == 5);
    CHECK(st->answers("diagnostico", in_cohort_and_state("piloto", "Jalisco"))["rows"].size() == 10);
    const json early = st->answers("diagnostico", before(3000));
    REQUIRE(early["rows"].size() == 1);
    CHECK(early["rows"][0]["value"] == 1);
    CHECK(st->answers("diagnostico", between(3300, 3400))["rows"].size() == 4);  // recomienda: A, B, C, E
    CHECK(st->answers("no-such-flow")["rows"].empty());
  });
}

TEST_CASE("records report: delivery per channel: sent, segments, statuses, dead letters") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store(url);
    const json d = st->delivery();
    REQUIRE(d["channels"].size() == 3);
    // sms (Dora): 2 sent, 2 + 3 segments, 1 delivered, 1 dead letter.
    CHECK(d["channels"][0] == json({{"channel", "sms"}, {"sent", 2}, {"segments", 5}, {"delivered", 1}, {"read", 0},
                                    {"failed", 0}, {"dead_letters", 1}, {"reengagements", 0},
                                    {"statuses", {{"delivered", 1}}}}));
    CHECK(d["channels"][1] == json({{"channel", "telegram"}, {"sent", 3}, {"segments", 0}, {"delivered", 0},
                                    {"read", 0}, {"failed", 0}, {"dead_letters", 0}, {"reengagements", 0},
                                    {"statuses", json::object()}}));
    // whatsapp: Beto 2 sent, 2 delivered, 1 read, re-engaged once; Carla 1 sent, failed, dead.
    CHECK(d["channels"][2] == json({{"channel", "whatsapp"}, {"sent", 3}, {"segments", 0}, {"delivered", 2},
                                    {"read", 1}, {"failed", 1}, {"dead_letters", 1}, {"reengagements", 1},
                                    {"statuses", {{"delivered", 2}, {"read", 1}, {"failed", 1}}}}));
    CHECK(d["totals"] == json({{"sent", 8}, {"segments", 5}, {"delivered", 3}, {"read", 1}, {"failed", 1},
                               {"dead_letters", 2}, {"reengagements", 1},
                               {"statuses", {{"delivered", 3}, {"read", 1}, {"failed", 1}}}}));

    // piloto: Ana and Beto.
    const json p = st->delivery(in_cohort("piloto"));
    REQUIRE(p["channels"].size() == 2);
    CHECK(p["totals"]["sent"] == 5);
    CHECK(p["totals"]["dead_letters"] == 0);
    CHECK(p["channels"][1]["reengagements"] == 1);
    // [5050, 5090): Carla's send, failure and dead letter; Dora's two sends, not her receipt.
    const json w = st->delivery(between(5050, 5090));
    CHECK(w["totals"]["sent"] == 3);
    CHECK(w["totals"]["segments"] == 5);
    CHECK(w["totals"]["delivered"] == 0);
    CHECK(w["totals"]["failed"] == 1);
    CHECK(w["totals"]["dead_letters"] == 1);
  });
}

// The sender merges a learner's sends acknowledged together into one "sent" record with its
// "messages" and "parts" (bot/delivery/send_records.hpp): the report counts messages, not rows,
// and an erasure keeps the count without the provider ids.
TEST_CASE("records report: a merged sent record counts as the messages it stands for") {
  on_each_backend([](const std::string& url) {
    auto st = open_record_store(url);
    const json merged = {{"id", "out.3.e1.0"},
                         {"type", "sent"},
                         {"conv", A},
                         {"channel", "telegram"},
                         {"lane", "reply"},
                         {"at", 100},
                         {"text", "¿Listo? ñ\n\n¡Bien! 🎉"},
                         {"messages", 3},
                         {"parts", {{{"external_id", "tg-901"}, {"at", 100}},
                                    {{"external_id", "tg-902"}, {"at", 101}},
                                    {{"external_id", "tg-903"}, {"at", 102}}}}};
    const json single = {{"id", "out.3.e4.0"}, {"type", "sent"},         {"conv", A},
                         {"channel", "telegram"}, {"external_id", "tg-904"}, {"at", 200}};
    const json sms = {{"id", "out.5.e1.0"}, {"type", "sent"}, {"conv", D}, {"channel", "sms"}, {"at", 300},
                      {"segments", 5}, {"messages", 2},
                      {"parts", {{{"external_id", "SM1"}, {"segments", 2}}, {{"external_id", "SM2"}, {"segments", 3}}}}};
    const json seen = {{"id", "dr.tg-902.read"}, {"type", "delivery"}, {"conv", A}, {"channel", "telegram"},
                       {"external_id", "tg-902"}, {"status", "read"}, {"at", 400}};
    REQUIRE(st->insert({merged, single, sms, seen}) == 4);
    const json d = st->delivery();
    CHECK(d["totals"]["sent"] == 3 + 1 + 2);
    CHECK(d["totals"]["segments"] == 5);
    CHECK(d["totals"]["read"] == 1);
    REQUIRE(d["channels"].size() == 2);
    CHECK(d["channels"][0]["channel"] == "sms");
    CHECK(d["channels"][0]["sent"] == 2);
    CHECK(d["channels"][1]["sent"] == 4);
    CHECK(st->timeline(A, 10)[0] == merged);  // whole, texts and parts as written

    const std::string anon = "anon:5e17";
    CHECK(st->erase_learner(A, anon)["records"] == 3);
    CHECK(st->delivery()["totals"] == d["totals"]);
    const json kept = st->timeline(anon, 10);
    REQUIRE(kept.size() == 3);
    CHECK(kept[0]["messages"] == 3);
    CHECK(kept[0]["parts"].size() == 3);
    CHECK(kept[0]["parts"][1] == json({{"at", 101}}));
    // (A delivery record's id names the provider's message; its fields no longer do.)
    const std::string all = kept[0].dump() + kept[1].dump();
    CHECK(!kept[2].contains("external_id"));
    for (const char* gone : {"tg-90", "Listo", "Bien"}) {
      INFO(gone << " in " << all);
      CHECK(all.find(gone) == std::string::npos);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// CSV

// ---------------------------------------------------------------------------------------------
// Backups (aula backup / aula restore): a copy of either backend restores into either backend
// with the same reports, replacing what the target held, and later inserts go on after it.

void restore_and_compare(const std::string& target, const fs::path& dir, const json& part, const json& progress,
                         const json& delivery, const json& timeline_a) {
  const json done = restore_record_store(target, dir, part);
  CHECK(done["schema_version"] == static_cast<int>(migrations().size()));
  CHECK(done["rows"]["records"] == part["rows"]["records"]);
  CHECK(done["rows"]["learners"] == 4);
  auto st = open_record_store(target);
  CHECK(st->progress() == progress);
  CHECK(st->delivery() == delivery);
  CHECK(st->timeline(A, 1000) == timeline_a);
  // The insertion order goes on after the restored records (PostgreSQL: the identity follows).
  const json n1 = {{"id", "after.1"}, {"type", "nudge"}, {"conv", A}, {"at", 999999}};
  const json n2 = {{"id", "after.2"}, {"type", "nudge"}, {"conv", A}, {"at", 999999}};
  REQUIRE(st->insert({n1, n2}) == 2);
  const json t = st->timeline(A, 1000);
  REQUIRE(t.size() == timeline_a.size() + 2);
  CHECK(t[t.size() - 2]["id"] == "after.1");
  CHECK(t[t.size() - 1]["id"] == "after.2");
}

TEST_CASE("records backup: a copy restores into SQLite and PostgreSQL with the same reports") {
  on_each_backend([](const std::string& source) {
    temp_dir dir;
    json part, progress, delivery, timeline_a, timeline_e;
    {
      auto st = scenario_store(source);
      timeline_e = st->timeline(E, 1000);
      progress = st->progress();
      delivery = st->delivery();
      timeline_a = st->timeline(A, 1000);
      part = backup_record_store(source, dir.path);
    }
    CHECK(part["backend"] == (source.starts_with("sqlite") ? "sqlite" : "postgresql"));
    CHECK(fs::exists(dir.path / part["file"].get<std::string>()));
    CHECK(part["schema_version"] == static_cast<int>(migrations().size()));
    CHECK(part["rows"]["records"] == scenario().size());
    CHECK(part["rows"]["learners"] == 4);
    CHECK(record_store_rows(source) > scenario().size());

    SECTION("into a new SQLite file") {
      temp_dir other;
      const std::string target = "sqlite://" + (other.path / "sub" / "records.db").string();
      CHECK(record_store_rows(target) == 0);
      CHECK_FALSE(fs::exists(other.path / "sub" / "records.db"));  // counting creates nothing
      restore_and_compare(target, dir.path, part, progress, delivery, timeline_a);
    }
    SECTION("over the source, replacing what was added since") {
      open_record_store(source)->insert({{{"id", "later.1"}, {"type", "nudge"}, {"conv", E}, {"at", 1}}});
      restore_and_compare(source, dir.path, part, progress, delivery, timeline_a);
      CHECK(open_record_store(source)->timeline(E, 1000) == timeline_e);
    }
    SECTION("into PostgreSQL") {
      const char* server = std::getenv("AULA_TEST_POSTGRES_URL");
      if (!server || !*server) {
        WARN("AULA_TEST_POSTGRES_URL is not set: restoring into PostgreSQL is skipped");
        return;
      }
      pg_database db(server);
      CHECK(record_store_rows(db.url()) == 0);
      restore_and_compare(db.url(), dir.path, part, progress, delivery, timeline_a);
    }
  });
}

TEST_CASE("records backup: a backup of an older schema is restored and upgraded") {
  on_each_backend([](const std::string& source) {
    temp_dir dir;
    json part;
    {
      auto st = open_record_store(source, {migrations().front()});
      REQUIRE(st->insert({{{"id", "r.1"}, {"type", "start"}, {"conv", A}, {"flow", "f"}, {"at", 1}}}) == 1);
      part = backup_record_store(source, dir.path);
    }
    CHECK(part["schema_version"] == 1);
    CHECK_FALSE(part["rows"].contains("learners"));
    temp_dir other;
    const std::string target = "sqlite://" + (other.path / "records.db").string();
    const json done = restore_record_store(target, dir.path, part);
    CHECK(done["schema_version"] == static_cast<int>(migrations().size()));
    auto st = open_record_store(target);
    CHECK(st->timeline(A).size() == 1);
    st->upsert_learner(A, {{"name", "Ana"}});  // the newer tables exist
    // A backup newer than this build is refused before the target is touched.
    json future = part;
    future["schema_version"] = static_cast<int>(migrations().size()) + 1;
    future["backend"] = "postgresql";
    future["file"] = "records.jsonl";
    std::ofstream(dir.path / "records.jsonl") << "";
    CHECK_THROWS_WITH(restore_record_store(target, dir.path, future), Catch::Contains("schema version"));
    CHECK(open_record_store(target)->timeline(A).size() == 1);
  });
}

TEST_CASE("csv: RFC 4180 quoting") {
  CHECK(csv_cell("plain") == "plain");
  CHECK(csv_cell("") == "");
  CHECK(csv_cell("a,b") == "\"a,b\"");
  CHECK(csv_cell("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_cell("two\nlines") == "\"two\nlines\"");
  CHECK(csv_cell("cr\r") == "\"cr\r\"");
  CHECK(csv_cell("ñandú ¿sí? 🦉") == "ñandú ¿sí? 🦉");
  const csv_options semicolon{false, ';', true};
  CHECK(csv_cell("a,b", semicolon) == "a,b");
  CHECK(csv_cell("a;b", semicolon) == "\"a;b\"");
}

TEST_CASE("csv: formula-like cells are neutralized with an apostrophe") {
  CHECK(csv_cell("=HYPERLINK(\"http://x\")") == "\"'=HYPERLINK(\"\"http://x\"\")\"");
  CHECK(csv_cell("=1+1") == "'=1+1");
  CHECK(csv_cell("+52 55") == "'+52 55");
  CHECK(csv_cell("-3") == "'-3");
  CHECK(csv_cell("@SUM(A1)") == "'@SUM(A1)");
  CHECK(csv_cell("\t=1") == "'\t=1");
  CHECK(csv_cell("\r=1") == "\"'\r=1\"");
  CHECK(csv_cell("=a,b") == "\"'=a,b\"");
  CHECK(csv_cell("a=b") == "a=b");  // only the first character matters
  CHECK(csv_cell("=1+1", {false, ',', false}) == "=1+1");
}

TEST_CASE("csv: the writer puts a BOM once and ends rows with CRLF") {
  std::ostringstream out;
  csv_writer w(out, {true, ',', true});
  w.row({"node", "value"});
  w.row({"comentario", "Más ejemplos, ¿por favor?"});
  w.row({"x", "=1"});
  CHECK(out.str() == "\xEF\xBB\xBFnode,value\r\ncomentario,\"Más ejemplos, ¿por favor?\"\r\nx,'=1\r\n");
  std::ostringstream plain;
  csv_writer{plain}.row({"a"});
  CHECK(plain.str() == "a\r\n");
}

TEST_CASE("csv: a JSON array of flat objects, in the given columns") {
  const json rows = json::array({{{"node", "edad"}, {"count", 3}, {"share", 0.25}, {"value", "-1"}, {"neg", -3},
                                  {"list", {"a", "b"}}, {"ok", true}, {"none", nullptr}},
                                 {{"node", "jornada"}}});
  const std::string csv =
      json_to_csv(rows, {"node", "count", "share", "value", "neg", "list", "ok", "none", "missing"});
  CHECK(csv ==
        "node,count,share,value,neg,list,ok,none,missing\r\n"
        "edad,3,0.25,'-1,-3,\"[\"\"a\"\",\"\"b\"\"]\",true,,\r\n"
        "jornada,,,,,,,,\r\n");
  CHECK(json_to_csv(json::array(), {"a"}, {true, ',', true}) == "\xEF\xBB\xBF" "a\r\n");
  CHECK_THROWS_AS(json_to_csv(json::object(), {"a"}), std::invalid_argument);
  CHECK_THROWS_AS(json_to_csv(json::array({1}), {"a"}), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Data rights and retention

namespace {

// The scenario as the engine writes it now: answers to the text question "comentario" say so.
std::unique_ptr<record_store> scenario_store_with_free_text(const std::string& url) {
  auto st = open_record_store(url);
  add_learners(*st);
  auto records = scenario();
  for (auto& r : records)
    if (r.value("node", std::string{}) == "comentario" && r.value("status", std::string{}) == "answered")
      r["free_text"] = true;
  // What staff did to Beto (access.cpp writes these under staff:<name>).
  records.push_back({{"id", "admin.1"}, {"type", "admin"}, {"conv", "staff:Laura"}, {"channel", "staff"},
                     {"status", "enroll"}, {"text", B}, {"target", B}, {"at", 100}});
  records.push_back({{"id", "admin.2"}, {"type", "admin"}, {"conv", "staff:Laura"}, {"channel", "staff"},
                     {"status", "reload"}, {"text", "flows"}, {"target", "flows"}, {"at", 9000}});
  REQUIRE(st->insert(records) == records.size());
  return st;
}

// Every number of a survey report, without the typed words.
json survey_numbers(const json& s) {
  json out = json::array();
  for (const auto& n : s["nodes"]) {
    json values = json::array();
    for (const auto& v : n["values"])
      if (!v["value"].is_string() || n["node"] != "comentario") values.push_back(v);
    out.push_back({{"node", n["node"]}, {"responses", n["responses"]}, {"numeric", n["numeric"]}, {"values", values}});
  }
  return {{"nodes", out}, {"nps", s["nps"]}, {"by_state", s["by_state"]}, {"by_cohort", s["by_cohort"]}};
}

// The progress report without names and conversation ids (they are what erasure changes).
json progress_numbers(json p) {
  for (auto& l : p["learners"]) {
    l.erase("conv");
    l.erase("name");
  }
  std::sort(p["learners"].begin(), p["learners"].end(),
            [](const json& a, const json& b) { return a.dump() < b.dump(); });
  return p;
}

}  // namespace

TEST_CASE("records privacy: erasing a learner keeps every report's numbers and nothing that names them") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store_with_free_text(url);
    const std::size_t beto_records = st->timeline(B, 1000).size();
    REQUIRE(beto_records == 24);  // 18 of the course and survey, 6 of sending
    const json progress = st->progress(), items = st->items("modulo-1"), funnel = st->funnel("ti", {});
    const json survey = st->survey("diagnostico", {}, {"recomienda"}), delivery = st->delivery();
    const json piloto = st->progress(in_cohort("piloto")), jalisco = st->survey("diagnostico", in_state("Jalisco"));

    const std::string anon = "anon:0b1e";
    const json n = st->erase_learner(B, anon);
    CHECK(n == json({{"records", beto_records}, {"learners", 1}, {"cohorts", 2}, {"staff", 1}}));

    // Nothing is left under Beto's number; his records are the anonymous id's.
    CHECK(st->timeline(B, 1000).empty());
    const json kept = st->timeline(anon, 1000);
    REQUIRE(kept.size() == beto_records);
    const std::string all = kept.dump() + st->progress().dump() + st->answers("diagnostico").dump() +
                            st->answers("modulo-2").dump() + st->survey("diagnostico").dump() +
                            st->timeline("staff:Laura").dump();
    for (const char* gone : {"+5215512345678", "5215512345678", "Beto", "más casos prácticos", "quizá"}) {
      INFO(gone << " in " << all);
      CHECK(all.find(gone) == std::string::npos);
    }
    for (const auto& r : kept) {
      CHECK(r["conv"] == anon);
      CHECK(!r.contains("text"));
    }
    // Choices, numbers and scores stay: Beto's wrong "c" at edad is still his first attempt.
    CHECK(st->items("modulo-1") == items);
    CHECK(st->funnel("ti", {}) == funnel);
    CHECK(st->delivery() == delivery);
    CHECK(progress_numbers(st->progress()) == progress_numbers(progress));
    CHECK(progress_numbers(st->progress(in_cohort("piloto"))) == progress_numbers(piloto));
    CHECK(survey_numbers(st->survey("diagnostico", {}, {"recomienda"})) == survey_numbers(survey));
    CHECK(survey_numbers(st->survey("diagnostico", in_state("Jalisco"))) == survey_numbers(jalisco));
    // His typed comment is gone from the tallies; the others' stay.
    const json comentario = *find_by(st->survey("diagnostico")["nodes"], "node", "comentario");
    CHECK(comentario["responses"] == 3);
    CHECK(comentario["values"] == json::array({{{"value", "Más ejemplos ¿por favor? ¡gracias! 🙏"}, {"count", 2}}}));
    // The learner row: no name, the state and cohorts kept.
    const json after = st->progress();
    const json* row = find_by(after["learners"], "conv", anon);
    REQUIRE(row != nullptr);
    CHECK((*row)["name"].is_null());
    CHECK((*row)["state"] == "Jalisco");
    CHECK((*row)["cohorts"] == json::array({"piloto", "tarde"}));
    // Staff records name the anonymous id.
    CHECK(st->timeline("staff:Laura")[0]["target"] == anon);

    // Again: nothing more to do.
    CHECK(st->erase_learner(B, anon)["records"] == 0);

    // A record that drained in the middle of the erasure is fixed up to the erasure's time; a
    // later one (the same number writing again: a new learner) is not.
    REQUIRE(st->insert({{{"id", "late"}, {"type", "answer"}, {"conv", B}, {"value", "si"}, {"text", "Sí, Beto"},
                         {"at", 5500}},
                        {{"id", "b2.2"}, {"type", "start"}, {"conv", B}, {"at", 5600}},
                        {{"id", "new"}, {"type", "start"}, {"conv", B}, {"at", 9000}}}) == 3);
    const json fix = st->erase_learner(B, anon, 6000);
    CHECK(fix["records"] == 2);
    CHECK(fix["learners"] == 0);
    REQUIRE(st->timeline(B).size() == 1);
    CHECK(st->timeline(B)[0]["id"] == "new");
    CHECK(st->timeline(anon, 1000).size() == beto_records + 1);  // "b2.2" was his already
  });
}

TEST_CASE("records privacy: retention blanks typed words and deletes delivery and staff records past their age") {
  on_each_backend([](const std::string& url) {
    auto st = scenario_store_with_free_text(url);
    const json items = st->items("modulo-1");
    retention_cutoffs cut;
    cut.free_text = 3450;  // the comments (3400) and invalid replies, not "temas" (3500)
    cut.delivery = 5050;   // Ana's and Beto's sends and receipts, not Carla's or Dora's
    cut.audit = 5000;      // the enrolment by staff (100), not the reload (9000)
    const json n = st->apply_retention(cut);
    // Typed: quiz texts (A 3, B 3, C 1, E 3), listo "Sí", diagnostics A 5 + B 5 + C 5 + E 3 before
    // 3450 (temas at 3500 excluded: A, B, C), invalid B 1 + C 1.
    CHECK(n == json({{"free_text", 10 + 1 + (4 + 4 + 4 + 3) + 2}, {"delivery", 9}, {"audit", 1}}));
    const json s = st->survey("diagnostico");
    const json& comentario = *find_by(s["nodes"], "node", "comentario");
    CHECK(comentario["responses"] == 3);  // answered, still counted
    CHECK(comentario["values"].empty());
    CHECK(comentario["texts"].empty());
    CHECK(find_by(s["nodes"], "node", "temas")->at("texts").size() == 3);  // younger than the cut
    CHECK(find_by(s["nodes"], "node", "tema_inspeccion")->at("numeric")["count"] == 4);
    CHECK(st->items("modulo-1") == items);  // choices are not typed words
    const json d = st->delivery();
    CHECK(d["totals"]["sent"] == 3);
    CHECK(d["totals"]["dead_letters"] == 2);
    CHECK(st->timeline("staff:Laura").size() == 1);
    // Once done, nothing more.
    CHECK(st->apply_retention(cut) == json({{"free_text", 0}, {"delivery", 0}, {"audit", 0}}));
  });
}
