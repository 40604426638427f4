#include "bot/engine/condition.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace aula;
using nlohmann::json;
using Catch::Matchers::Contains;

namespace {

condition parse_ok(const std::string& text) {
  condition_error err;
  auto c = parse_condition(text, err);
  INFO("'" << text << "' -> error at " << err.offset << ": " << err.message);
  REQUIRE(c.has_value());
  return *c;
}

condition_error parse_error(const std::string& text) {
  condition_error err;
  err.offset = -1;
  auto c = parse_condition(text, err);
  INFO("'" << text << "' should not parse");
  REQUIRE_FALSE(c.has_value());
  return err;
}

// Evaluates `text` with the variables in `vars` (a JSON object; a missing key is unset).
bool holds(const std::string& text, const json& vars) {
  const condition c = parse_ok(text);
  return evaluate(c, [&vars](const std::string& var) -> json {
    auto it = vars.find(var);
    return it == vars.end() ? json(nullptr) : *it;
  });
}

}  // namespace

// ------------------------------------------------------------------ parsing

TEST_CASE("condition: a comparison parses into one term with its variable, operator and value",
          "[condition][parse]") {
  const condition c = parse_ok("answers.rol == inspector-federal");
  CHECK(c.source == "answers.rol == inspector-federal");
  REQUIRE(c.any.size() == 1);
  REQUIRE(c.any[0].size() == 1);
  const auto& t = c.any[0][0];
  CHECK_FALSE(t.negate);
  CHECK(t.var == "answers.rol");
  CHECK(t.op == "==");
  CHECK(t.values == std::vector<std::string>{"inspector-federal"});
}

TEST_CASE("condition: every operator parses", "[condition][parse]") {
  for (const char* op : {"==", "!=", "<", "<=", ">", ">=", "in", "contains"}) {
    INFO(op);
    const condition c = parse_ok(std::string("score.total ") + op + " 3");
    REQUIRE(c.any.size() == 1);
    REQUIRE(c.any[0].size() == 1);
    CHECK(c.any[0][0].op == op);
    CHECK(c.any[0][0].values == std::vector<std::string>{"3"});
  }
}

TEST_CASE("condition: a list keeps bare and quoted values, spaces inside quotes included", "[condition][parse]") {
  const condition c = parse_ok("contact.estado in [jal, \"Ciudad de México\", 'Nuevo León']");
  REQUIRE(c.any.size() == 1);
  REQUIRE(c.any[0].size() == 1);
  CHECK(c.any[0][0].op == "in");
  CHECK(c.any[0][0].values == std::vector<std::string>{"jal", "Ciudad de México", "Nuevo León"});
}

TEST_CASE("condition: and binds tighter than or", "[condition][parse]") {
  const condition c = parse_ok("a == 1 or b == 2 and c == 3");
  REQUIRE(c.any.size() == 2);
  REQUIRE(c.any[0].size() == 1);
  CHECK(c.any[0][0].var == "a");
  REQUIRE(c.any[1].size() == 2);
  CHECK(c.any[1][0].var == "b");
  CHECK(c.any[1][1].var == "c");
}

TEST_CASE("condition: not negates one term and a bare variable has no operator", "[condition][parse]") {
  const condition c = parse_ok("not answers.temas contains marco-legal and answers.necesidades");
  REQUIRE(c.any.size() == 1);
  REQUIRE(c.any[0].size() == 2);
  CHECK(c.any[0][0].negate);
  CHECK(c.any[0][0].op == "contains");
  CHECK_FALSE(c.any[0][1].negate);
  CHECK(c.any[0][1].var == "answers.necesidades");
  CHECK(c.any[0][1].op.empty());
  CHECK(c.any[0][1].values.empty());
}

// ------------------------------------------------------------------ errors

TEST_CASE("condition error: a single '=' points at the '=' and suggests '=='", "[condition][error]") {
  const auto e = parse_error("answers.rol = x");
  CHECK(e.offset == 12);
  CHECK_THAT(e.message, Contains("use '=='"));
  const auto tight = parse_error("answers.rol=x");
  CHECK(tight.offset == 11);
  CHECK_THAT(tight.message, Contains("use '=='"));
}

TEST_CASE("condition error: an operator without a value says a value is expected", "[condition][error]") {
  const auto e = parse_error("score.total >= ");
  CHECK(e.offset == 15);  // the end of the text, where the value should be
  CHECK_THAT(e.message, Contains("expected a value"));
  const auto e2 = parse_error("score.total >=");
  CHECK(e2.offset == 14);
  CHECK_THAT(e2.message, Contains("expected a value"));
  const auto e3 = parse_error("answers.rol == == x");
  CHECK(e3.offset == 15);
  CHECK_THAT(e3.message, Contains("expected a value"));
}

TEST_CASE("condition error: two words without and or or point at the second", "[condition][error]") {
  const auto e = parse_error("foo bar");
  CHECK(e.offset == 4);
  CHECK_THAT(e.message, Contains("expected 'and', 'or'"));
  const auto e2 = parse_error("answers.rol == x y");
  CHECK(e2.offset == 17);
  CHECK_THAT(e2.message, Contains("expected 'and', 'or'"));
}

TEST_CASE("condition error: ordering against a word that is no number is refused", "[condition][error]") {
  const auto e = parse_error("score.total < alto");
  CHECK(e.offset == 14);
  CHECK_THAT(e.message, Contains("'<' compares numbers"));
  for (const char* op : {"<=", ">", ">="}) {
    INFO(op);
    const auto x = parse_error(std::string("score.total ") + op + " tres");
    CHECK(x.offset == 13 + static_cast<int>(std::string(op).size()));
    CHECK_THAT(x.message, Contains("compares numbers"));
  }
}

TEST_CASE("condition error: empty text and missing variables", "[condition][error]") {
  const auto empty = parse_error("   ");
  CHECK(empty.offset == 0);
  CHECK_THAT(empty.message, Contains("empty"));

  const auto trailing = parse_error("answers.rol == x and");
  CHECK(trailing.offset == 20);
  CHECK_THAT(trailing.message, Contains("expected a variable"));

  const auto upper = parse_error("Answers.rol == x");
  CHECK(upper.offset == 0);
  CHECK_THAT(upper.message, Contains("expected a variable"));

  const auto after_not = parse_error("not 5 == x");
  CHECK(after_not.offset == 4);
  CHECK_THAT(after_not.message, Contains("expected a variable"));
}

TEST_CASE("condition error: a bad list points inside the list", "[condition][error]") {
  const auto e = parse_error("answers.rol in [a, ]");
  CHECK(e.offset == 19);
  CHECK_THAT(e.message, Contains("expected a value in the list"));
  const auto e2 = parse_error("answers.rol in [a b]");
  CHECK(e2.offset == 18);
  CHECK_THAT(e2.message, Contains("expected ',' or ']'"));
  const auto e3 = parse_error("answers.rol in [a, b");
  CHECK(e3.offset == 20);
  CHECK_THAT(e3.message, Contains("expected ',' or ']'"));
}

TEST_CASE("condition error: an unclosed quote is reported as such", "[condition][error]") {
  const auto e = parse_error("answers.rol == \"inspector");
  CHECK(e.offset == 15);
  CHECK_THAT(e.message, Contains("unclosed quote"));
}

// ------------------------------------------------------------------ evaluation

TEST_CASE("condition: == and != compare folded text", "[condition][eval]") {
  const json v = {{"answers.acuerdo", "Sí"}, {"contact.estado", "Nuevo León"}};
  CHECK(holds("answers.acuerdo == si", v));
  CHECK(holds("answers.acuerdo == SÍ", v));
  CHECK_FALSE(holds("answers.acuerdo == no", v));
  CHECK(holds("answers.acuerdo != no", v));
  CHECK_FALSE(holds("answers.acuerdo != si", v));
  CHECK(holds("contact.estado == \"nuevo leon\"", v));
  CHECK(holds("contact.estado == 'NUEVO LEÓN'", v));
  CHECK_FALSE(holds("contact.estado == nuevo", v));
}

TEST_CASE("condition: numbers compare as numbers when both sides are numbers", "[condition][eval]") {
  const json v = {{"answers.horas", "10"}, {"score.total", 3}, {"answers.edad", 3.5}};
  CHECK(holds("answers.horas > 9", v));  // as text "10" < "9"
  CHECK_FALSE(holds("answers.horas < 9", v));
  CHECK(holds("answers.horas == 10.0", v));
  CHECK(holds("answers.horas >= 10", v));
  CHECK(holds("answers.horas <= 10", v));
  CHECK_FALSE(holds("answers.horas > 10", v));
  CHECK(holds("score.total >= 3", v));
  CHECK_FALSE(holds("score.total > 3", v));
  CHECK(holds("score.total == 3", v));
  CHECK(holds("score.total != 4", v));
  CHECK(holds("answers.edad < 4", v));
  CHECK(holds("answers.edad > 3", v));
  CHECK(holds("answers.edad == \"3.5\"", v));
}

TEST_CASE("condition: ordering a value that is no number is false", "[condition][eval]") {
  const json v = {{"answers.nombre", "Ana"}};
  CHECK_FALSE(holds("answers.nombre > 1", v));
  CHECK_FALSE(holds("answers.nombre < 1", v));
  CHECK_FALSE(holds("answers.nombre >= 1", v));
  CHECK_FALSE(holds("answers.nombre <= 1", v));
}

TEST_CASE("condition: in matches any listed value, folded", "[condition][eval]") {
  const json v = {{"answers.rol", "inspector-local"}, {"contact.estado", "Ciudad de México"}};
  CHECK(holds("answers.rol in [inspector-federal, inspector-local]", v));
  CHECK_FALSE(holds("answers.rol in [inspector-federal, otro]", v));
  CHECK(holds("contact.estado in [jal, \"ciudad de mexico\"]", v));
  CHECK(holds("answers.rol in inspector-local", v));
}

TEST_CASE("condition: contains finds a word in a text", "[condition][eval]") {
  const json v = {{"contact.name", "Ana María López"}};
  CHECK(holds("contact.name contains maria", v));
  CHECK_FALSE(holds("contact.name contains pedro", v));
}

TEST_CASE("condition: a list variable matches ==, in and contains when any element does", "[condition][eval]") {
  const json v = {{"answers.temas", {"salud", "seguridad"}}, {"cohort", {"piloto", "norte"}}};
  CHECK(holds("answers.temas contains seguridad", v));
  CHECK_FALSE(holds("answers.temas contains salario", v));
  CHECK(holds("answers.temas == salud", v));
  CHECK(holds("answers.temas in [salario, seguridad]", v));
  CHECK_FALSE(holds("answers.temas in [salario, marco-legal]", v));
  CHECK(holds("cohort == piloto", v));
  CHECK(holds("cohort == NORTE", v));
  CHECK_FALSE(holds("cohort == control", v));
}

TEST_CASE("condition: a list variable matches != only when no element equals", "[condition][eval]") {
  const json v = {{"answers.temas", {"salud", "seguridad"}}};
  CHECK(holds("answers.temas != salario", v));
  CHECK_FALSE(holds("answers.temas != salud", v));
  CHECK_FALSE(holds("answers.temas != seguridad", v));
}

TEST_CASE("condition: a list of numbers compares numerically", "[condition][eval]") {
  const json v = {{"answers.dias", {1, 5, 10}}};
  CHECK(holds("answers.dias == 5.0", v));
  CHECK(holds("answers.dias == \"5\"", v));
  CHECK_FALSE(holds("answers.dias == 7", v));
  CHECK(holds("answers.dias contains 10", v));
}

TEST_CASE("condition: an unset variable satisfies only !=", "[condition][eval]") {
  const json none = json::object();
  CHECK(holds("answers.rol != x", none));
  CHECK_FALSE(holds("answers.rol == x", none));
  CHECK_FALSE(holds("answers.rol in [x, y]", none));
  CHECK_FALSE(holds("answers.rol contains x", none));
  CHECK_FALSE(holds("answers.rol < 5", none));
  CHECK_FALSE(holds("answers.rol <= 5", none));
  CHECK_FALSE(holds("answers.rol > 5", none));
  CHECK_FALSE(holds("answers.rol >= 5", none));
  CHECK_FALSE(holds("answers.rol", none));
  CHECK(holds("not answers.rol == x", none));
}

TEST_CASE("condition: a bare variable is true when set and not empty", "[condition][eval]") {
  CHECK(holds("answers.nota", {{"answers.nota", "algo"}}));
  CHECK(holds("answers.nota", {{"answers.nota", 0}}));
  CHECK(holds("answers.nota", {{"answers.nota", {"a"}}}));
  CHECK_FALSE(holds("answers.nota", {{"answers.nota", ""}}));
  CHECK_FALSE(holds("answers.nota", {{"answers.nota", json::array()}}));
  CHECK_FALSE(holds("answers.nota", json::object()));
  CHECK(holds("not answers.nota", json::object()));
  CHECK_FALSE(holds("not answers.nota", {{"answers.nota", "algo"}}));
}

TEST_CASE("condition: not negates the term that follows", "[condition][eval]") {
  const json v = {{"answers.temas", {"salud"}}, {"lang", "es"}};
  CHECK(holds("not answers.temas contains marco-legal", v));
  CHECK_FALSE(holds("not answers.temas contains salud", v));
  CHECK(holds("not lang == en and lang == es", v));
  CHECK_FALSE(holds("not lang == es and lang == es", v));
}

TEST_CASE("condition: and binds tighter than or when evaluated", "[condition][eval]") {
  const json v = {{"a", "1"}, {"b", "1"}, {"c", "0"}};
  // a or (b and c): true; (a or b) and c would be false.
  CHECK(holds("a == 1 or b == 1 and c == 1", v));
  // (c and a) or b: true; c and (a or b) would be false.
  CHECK(holds("c == 1 and a == 1 or b == 1", v));
  CHECK_FALSE(holds("c == 1 or a == 1 and c == 1", v));
  CHECK_FALSE(holds("c == 1 and a == 1 or c == 1 and b == 1", v));
  CHECK(holds("a == 1 and b == 1 and c == 0", v));
}
