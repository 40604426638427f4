#include "bot/engine/template.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using namespace aula;

namespace {

// A lookup over a fixed map that also remembers what was asked.
struct vars {
  std::map<std::string, std::string> values;
  std::vector<std::string> asked;

  variable_lookup lookup() {
    return [this](std::string_view name) -> std::optional<std::string> {
      asked.emplace_back(name);
      if (auto it = values.find(std::string(name)); it != values.end()) return it->second;
      return std::nullopt;
    };
  }
};

}  // namespace

TEST_CASE("expand replaces a variable, with or without spaces inside the braces", "[template]") {
  vars v{{{"contact.name", "Ana"}}, {}};
  CHECK(expand("Hola {{contact.name}}.", v.lookup()) == "Hola Ana.");
  CHECK(expand("Hola {{ contact.name }}.", v.lookup()) == "Hola Ana.");
  CHECK(expand("Hola {{   contact.name\t}}!", v.lookup()) == "Hola Ana!");
  CHECK(expand("{{contact.name}}{{contact.name}}", v.lookup()) == "AnaAna");
  CHECK(v.asked.front() == "contact.name");
}

TEST_CASE("expand leaves text without variables as it is", "[template]") {
  vars v;
  CHECK(expand("", v.lookup()) == "");
  CHECK(expand("¡Hola! 👋 {sin llaves dobles}", v.lookup()) == "¡Hola! 👋 {sin llaves dobles}");
  CHECK(v.asked.empty());
}

TEST_CASE("expand uses the fallback when the variable is unset or empty", "[template]") {
  vars unset;
  CHECK(expand("¡Hola, {{contact.name|colega}}!", unset.lookup()) == "¡Hola, colega!");
  CHECK(expand("¡Hola, {{ contact.name | colega }}!", unset.lookup()) == "¡Hola, colega!");
  CHECK(unset.asked == std::vector<std::string>{"contact.name", "contact.name"});

  vars empty{{{"contact.name", ""}}, {}};
  CHECK(expand("¡Hola, {{contact.name|colega}}!", empty.lookup()) == "¡Hola, colega!");

  vars set{{{"contact.name", "Ana"}}, {}};
  CHECK(expand("¡Hola, {{contact.name|colega}}!", set.lookup()) == "¡Hola, Ana!");
}

TEST_CASE("expand turns an unset variable without fallback into nothing", "[template]") {
  vars v;
  CHECK(expand("Hola {{contact.name}}.", v.lookup()) == "Hola .");
  CHECK(expand("{{answers.rol}}", v.lookup()) == "");
  vars empty{{{"x", ""}}, {}};
  CHECK(expand("[{{x}}]", empty.lookup()) == "[]");
}

TEST_CASE("expand leaves an unclosed {{ alone", "[template]") {
  vars v{{{"contact.name", "Ana"}}, {}};
  CHECK(expand("Hola {{contact.name", v.lookup()) == "Hola {{contact.name");
  CHECK(expand("{{contact.name}} y {{ otro", v.lookup()) == "Ana y {{ otro");
  CHECK(expand("{{", v.lookup()) == "{{");
  CHECK(expand("a }} b", v.lookup()) == "a }} b");
}

TEST_CASE("expand inserts values verbatim and never expands them again", "[template]") {
  // Learner text is data: a name that looks like a variable stays plain text.
  vars v{{{"contact.name", "{{contact.name}}"}, {"answers.x", "{{score.total|99}} 👋"}, {"score.total", "7"}}, {}};
  CHECK(expand("Hola {{contact.name}}.", v.lookup()) == "Hola {{contact.name}}.");
  CHECK(expand("Dijiste: {{answers.x}}", v.lookup()) == "Dijiste: {{score.total|99}} 👋");
  // Each placeholder of the author's text is looked up once; nothing inside values is.
  CHECK(std::count(v.asked.begin(), v.asked.end(), "score.total") == 0);
}

TEST_CASE("expand keeps UTF-8 around and inside values", "[template]") {
  vars v{{{"contact.name", "José Ñúñez 🎉"}}, {}};
  CHECK(expand("¡Gracias, {{contact.name}}! ✅", v.lookup()) == "¡Gracias, José Ñúñez 🎉! ✅");
}

TEST_CASE("variables_in lists the names a text uses, in order", "[template]") {
  CHECK(variables_in("Puntaje: {{score.total}}/{{ score.max }}") == std::vector<std::string>{"score.total", "score.max"});
  CHECK(variables_in("¡Hola, {{contact.name|colega}}!") == std::vector<std::string>{"contact.name"});
  CHECK(variables_in("{{a}}{{a}}") == std::vector<std::string>{"a", "a"});
  CHECK(variables_in("sin variables").empty());
  CHECK(variables_in("roto {{contact.name").empty());
}
