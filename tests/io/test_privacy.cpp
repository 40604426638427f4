// The privacy notice page (GET /privacidad) and the privacy: section of the configuration.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "bot/config/config.hpp"
#include "bot/service/privacy_notice.hpp"

using namespace aula;
using Catch::Matchers::Contains;

namespace {

struct temp_file {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("aula-privacy-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  temp_file() { std::filesystem::create_directories(dir); }
  ~temp_file() { std::filesystem::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  }
};

}  // namespace

TEST_CASE("privacy notice: headings, lists, paragraphs, escaped text, notes left out", "[privacy]") {
  const std::string text =
      "# Aviso de privacidad\n"
      "<!--\nnota para quien llena el aviso: <b>no se muestra</b>\n-->\n"
      "Versión 2026-11. ¿Dudas? Escribe a <privacidad@ejemplo.mx> & \"nosotros\".\n"
      "\n"
      "## ¿Qué datos tratamos?\n"
      "- Tu número de teléfono\n"
      "- Tus respuestas, **no** datos sensibles\n"
      "\n"
      "Más en https://ejemplo.mx/aviso.\n";
  const std::string page = privacy_notice_page(text, "es");
  CHECK_THAT(page, Contains("<html lang=es>"));
  CHECK_THAT(page, Contains("<meta charset=utf-8>"));
  CHECK_THAT(page, Contains("<title>Aviso de privacidad</title>"));
  CHECK_THAT(page, Contains("<h1>Aviso de privacidad</h1>"));
  CHECK_THAT(page, Contains("<h2>¿Qué datos tratamos?</h2>"));
  CHECK_THAT(page, Contains("<ul>\n<li>Tu número de teléfono</li>\n<li>Tus respuestas, <strong>no</strong> datos sensibles</li>\n</ul>"));
  CHECK_THAT(page, Contains("<p>Versión 2026-11. ¿Dudas? Escribe a &lt;privacidad@ejemplo.mx&gt; &amp; &quot;nosotros&quot;.</p>"));
  CHECK_THAT(page, Contains("<a href=\"https://ejemplo.mx/aviso\">https://ejemplo.mx/aviso</a>."));
  CHECK(page.find("no se muestra") == std::string::npos);
  CHECK(page.find("<b>") == std::string::npos);
  CHECK_THAT(page, Contains("href=\"?lang=en\""));
  CHECK_THAT(privacy_notice_page("# Privacy notice\n", "en"), Contains("<html lang=en>"));
}

TEST_CASE("privacy notice: the shipped files read, in both languages, with the laws cited", "[privacy]") {
  const std::string base = std::string(AULA_SOURCE_DIR) + "/config/aviso-de-privacidad";
  for (const char* lang : {"es", "en"}) {
    auto t = read_privacy_notice(base, lang);
    REQUIRE(t);
    CHECK_THAT(*t, Contains("Ley General de Protección de Datos Personales en Posesión de Sujetos Obligados"));
    CHECK_THAT(*t, Contains("Ley Federal de Protección de Datos Personales en Posesión de los Particulares"));
    CHECK_THAT(*t, Contains("ARCO"));
    CHECK_THAT(*t, Contains("2026-11"));
  }
  CHECK_FALSE(read_privacy_notice(base, "fr"));
}

TEST_CASE("config privacy: defaults, the file's keys, bad values", "[privacy][config]") {
  const privacy_config def;
  CHECK(def.consent);
  CHECK(def.notice_version == "2026-11");
  CHECK(def.notice_url.empty());
  temp_file d;
  auto c = load_config(d.write("a.yaml", "privacy:\n  consent: false\n  notice_version: \"2027-01\"\n"
                                         "  notice_url: https://ejemplo.gob.mx/aviso\n  notice_file: /etc/aula/aviso\n"),
                       {});
  CHECK_FALSE(c.privacy.consent);
  CHECK(c.privacy.notice_version == "2027-01");
  CHECK(c.privacy.notice_url == "https://ejemplo.gob.mx/aviso");
  CHECK(c.privacy.notice_file == "/etc/aula/aviso");
  CHECK_THROWS_WITH(load_config(d.write("b.yaml", "privacy:\n  consent: quizas\n"), {}),
                    Contains("privacy.consent: expected true or false"));
  CHECK_THROWS_WITH(load_config(d.write("c.yaml", "privacy:\n  notice_url: ftp://x\n"), {}), Contains("privacy.notice_url"));
  CHECK_THROWS_WITH(load_config(d.write("d.yaml", "privacy:\n  notice_versoin: x\n"), {}), Contains("did you mean"));
}
