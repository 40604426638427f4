// The validator's checks beyond reading a file (bot/authoring/checks.cpp) and the JSON Schema
// that is the single source of truth for the keys of a flow file (flows/schema.json).
// Expected positions are computed from the YAML written here (where the offending text is),
// never copied from the program's output.
#include "bot/authoring/checks.hpp"
#include "bot/authoring/loader.hpp"
#include "bot/authoring/schema.hpp"
#include "bot/authoring/yaml_json.hpp"
#include "bot/engine/engine.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

using namespace aula;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("aula-validator-" + std::to_string(rd()) + std::to_string(rd()));
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
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

std::string all_of(const diagnostics& d) {
  std::string s;
  for (const auto& x : d.items()) s += format(x) + "\n";
  return s;
}

// Flows loaded from files in a fresh folder; `file(name)` is the path diagnostics name.
struct loaded {
  temp_dir dir;
  load_result res;
  std::map<std::string, std::string> paths;

  explicit loaded(const std::map<std::string, std::string>& files) {
    for (const auto& [name, text] : files) paths[name] = dir.write(name, text);
    res = load_flows({dir.path.string()});
  }
  const std::string& file(const std::string& name) const { return paths.at(name); }
  std::string all() const { return all_of(res.diags); }

  std::vector<const diagnostic*> matching(diagnostic::level level, const std::string& needle) const {
    std::vector<const diagnostic*> out;
    for (const auto& x : res.diags.items())
      if (x.severity == level && x.message.find(needle) != std::string::npos) out.push_back(&x);
    return out;
  }
  // The one diagnostic of `level` whose message has `needle`; fails the test otherwise.
  const diagnostic& one(diagnostic::level level, const std::string& needle) const {
    auto m = matching(level, needle);
    INFO(all());
    REQUIRE(m.size() == 1);
    return *m.front();
  }
  const diagnostic& error(const std::string& needle) const { return one(diagnostic::level::error, needle); }
  const diagnostic& warning(const std::string& needle) const { return one(diagnostic::level::warning, needle); }
  // No diagnostic of either level mentions `needle`.
  void none(const std::string& needle) const {
    INFO(all());
    for (const auto& x : res.diags.items()) CHECK(x.message.find(needle) == std::string::npos);
  }
};

loaded one_flow(const std::string& text) { return loaded({{"flujo.yaml", text}}); }

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

// The diagnostic is at `needle` in `text` (plus `col_offset` columns), in `file`.
void check_at(const diagnostic& d, const std::string& file, const std::string& text, const std::string& needle,
              int col_offset = 0) {
  auto [line, col] = position_of(text, needle);
  INFO(format(d));
  CHECK(d.pos.file == file);
  CHECK(d.pos.line == line);
  CHECK(d.pos.col == col + col_offset);
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// ================================================================== 1. unreachable nodes

TEST_CASE("validator: a node no link reaches is a warning at the node", "[validator][reach]") {
  const std::string text = R"y(spec: 1
id: islas
start: hola
nodes:
  hola: {message: "Hola", next: fin}
  perdido: {message: "Nadie llega", next: fin}
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK(l.res.ok());
  const auto& w = l.warning("never reached");
  check_at(w, l.file("flujo.yaml"), text, "perdido:", 0);
  CHECK_THAT(w.message, Contains("'perdido'"));
  CHECK(w.hint == "remove it or link to it");
}

TEST_CASE("validator: nodes reached only through exits other than next are reachable", "[validator][reach]") {
  const std::string text = R"y(spec: 1
id: salidas
start: q
expire_after: 3d
on_expire: vencido
nodes:
  q:
    question: "¿Nombre?"
    save_as: nombre
    max_retries: 1
    on_invalid: invalido
    timeout: {after: 2h, next: tarde}
    next: reparto
  invalido: {message: "No entendí", next: fin}
  tarde: {message: "Seguimos luego", next: fin}
  reparto:
    split:
      - {if: "answers.nombre == ana", next: caso}
    next: azar
  caso: {message: "Hola Ana", next: fin}
  azar:
    random:
      - {weight: 1, next: rama-a}
      - {weight: 1, next: rama-b}
  rama-a: {message: "A", next: llamada}
  rama-b: {message: "B", next: llamada}
  llamada:
    webhook: {url: "https://example.org/x"}
    next: sub
    on_failure: fallo
    on_timeout: sin-respuesta
  fallo: {message: "Falló", next: fin}
  sin-respuesta: {message: "Sin respuesta", next: fin}
  sub: {subflow: otro, next: fin, on_failure: sub-fallo}
  sub-fallo: {message: "El otro falló", next: fin}
  vencido: {end: expired, message: "Se acabó el tiempo"}
  fin: {end: completed}
)y";
  const std::string other = "spec: 1\nid: otro\nstart: p\nnodes:\n  p: {question: \"¿Y?\", next: fin}\n  fin: {end: completed}\n";
  loaded l({{"flujo.yaml", text}, {"otro.yaml", other}});
  INFO(l.all());
  CHECK(l.res.ok());
  l.none("never reached");
}

// ================================================================== 2. choice labels

TEST_CASE("validator: a button label over 20 characters is a warning at the option", "[validator][labels]") {
  // 22 code points, 25 bytes: the count is in characters, not bytes.
  const std::string text = R"y(spec: 1
id: botones
start: q
nodes:
  q:
    question: "¿Capacitación?"
    options:
      - {id: corta, label: "Sí, en el último año"}
      - {id: larga, label: "Sí, hace más de un año"}
      - {id: "no", label: "No"}
    next: fin
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK(l.res.ok());
  const auto& w = l.warning("label of option 'larga'");
  check_at(w, l.file("flujo.yaml"), text, "{id: larga");
  CHECK_THAT(w.message, Contains("22 characters"));
  CHECK_THAT(w.message, Contains("reply button"));
  CHECK_THAT(w.hint, Contains("20"));
  // "Sí, en el último año" is exactly 20 characters (22 bytes): no warning.
  l.none("option 'corta'");
}

TEST_CASE("validator: list row labels over 24 characters warn per language", "[validator][labels]") {
  const std::string text = R"y(spec: 1
id: lista
start: q
nodes:
  q:
    quiz: "¿Quién inspecciona?"
    options:
      - {id: a, label: {es: "Inspección federal", en: "Federal labour inspectorate"}, correct: true}
      - {id: b, label: {es: "Comisión local", en: "Local commission"}}
      - {id: c, label: {es: "Veinticuatro caracteres", en: "Exactly twenty-four char"}}
      - {id: d, label: {es: "Otra", en: "Other"}}
    next: fin
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK(l.res.ok());
  const auto& w = l.warning("label of option 'a'");
  check_at(w, l.file("flujo.yaml"), text, "{id: a,");
  CHECK_THAT(w.message, Contains("the en label"));
  CHECK_THAT(w.message, Contains("27 characters"));
  CHECK_THAT(w.message, Contains("list row"));
  CHECK(l.matching(diagnostic::level::warning, "label of option").size() == 1);
}

TEST_CASE("validator: long labels in a menu of more than ten options are not button titles", "[validator][labels]") {
  std::string text = "spec: 1\nid: largo\nstart: q\nnodes:\n  q:\n    question: \"¿Estado?\"\n    options:\n";
  for (int i = 1; i <= 11; ++i) text += "      - \"Opción número " + std::to_string(i) + " con un nombre muy largo\"\n";
  text += "    next: fin\n  fin: {end: completed}\n";
  auto l = one_flow(text);
  CHECK(l.res.ok());
  l.none("label of option");
}

TEST_CASE("validator: Telegram button data stays within 64 bytes", "[validator][labels]") {
  const std::string long_id = repeat("nodo-muy-largo-", 8);
  const std::string text = "spec: 1\nid: tg\nstart: " + long_id + "\nnodes:\n  " + long_id +
                           ":\n    question: \"¿Sí?\"\n    options: [\"Sí\", \"No\"]\n    next: fin\n  fin: {end: completed}\n";
  auto l = one_flow(text);
  INFO(l.all());
  CHECK(l.res.ok());
  l.none("button data");
  for (std::size_t i = 0; i < 12; ++i) CHECK(choice_ref("000000000000", long_id, i).size() <= 64);
}

// ================================================================== 3. translations

TEST_CASE("validator: a text without one of the flow's languages is a warning at the node", "[validator][i18n]") {
  const std::string text = R"y(spec: 1
id: idiomas
name: {es: "Idiomas", en: "Languages"}
start: hola
nodes:
  hola: {message: {es: "Hola", en: "Hi"}, next: q}
  q:
    question: {es: "¿Listo?", en: "Ready?"}
    options:
      - {id: si, label: {es: "Sí", en: "Yes"}}
      - {id: "no", label: "No"}
      - {id: "2014", label: "2014"}
    invalid: "Elige una opción."
    next: fin
  fin: {end: completed, message: {es: "Adiós", en: "Bye"}}
)y";
  auto l = one_flow(text);
  CHECK(l.res.ok());
  const auto& w = l.warning("missing translations");
  CHECK_THAT(w.message, !Contains("2014"));  // no letters: the same in every language
  check_at(w, l.file("flujo.yaml"), text, "q:\n", 0);
  CHECK_THAT(w.message, Contains("en for"));
  CHECK_THAT(w.message, Contains("option 'no' label"));
  CHECK_THAT(w.message, Contains("invalid"));
  CHECK_THAT(w.hint, Contains("es"));
}

TEST_CASE("validator: a fully translated flow and a one-language flow miss no translation", "[validator][i18n]") {
  const std::string both = R"y(spec: 1
id: completo
name: {es: "Completo", en: "Complete"}
start: hola
nodes:
  hola: {message: {es: "Hola", en: "Hi"}, next: fin}
  fin: {end: completed, message: {es: "Adiós", en: "Bye"}}
)y";
  const std::string single = R"y(spec: 1
id: solo
start: hola
nodes:
  hola: {message: "Hola", next: q}
  q: {question: "¿Qué tal?", type: scale, next: fin}
  fin: {end: completed}
)y";
  loaded l({{"a.yaml", both}, {"b.yaml", single}});
  CHECK(l.res.ok());
  l.none("translation");
}

// ================================================================== 4. variables

TEST_CASE("validator: an answer no flow saves is a warning, one saved by another flow is not", "[validator][variables]") {
  const std::string text = R"y(spec: 1
id: variables
start: hola
nodes:
  hola:
    message: "Hola {{contact.name|colega}}, eres {{answers.rol}} ({{answers.rol.value}}); {{score.total}}/{{score.max}}, {{flow.name}}"
    next: resumen
  resumen:
    message: "Dijiste {{ answers.nunca_guardada }}"
    next: fin
  fin: {end: completed}
)y";
  const std::string other = R"y(spec: 1
id: registro
start: rol
nodes:
  rol: {question: "¿Rol?", options: [Inspector, Otro], save_as: rol, next: fin}
  fin: {end: completed}
)y";
  loaded l({{"flujo.yaml", text}, {"registro.yaml", other}});
  CHECK(l.res.ok());
  const auto& w = l.warning("never saved");
  check_at(w, l.file("flujo.yaml"), text, "resumen:\n");
  CHECK_THAT(w.message, Contains("answers.nunca_guardada"));
  CHECK(l.matching(diagnostic::level::warning, "answers.rol").empty());
}

TEST_CASE("validator: an unknown variable namespace is an error listing the valid ones", "[validator][variables]") {
  const std::string text = R"y(spec: 1
id: desconocida
start: hola
nodes:
  hola: {message: "Hola {{usuario.nombre}}", next: fijar}
  fijar:
    set: {contact.nivel: "{{score.totl}}"}
    next: fin
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK_FALSE(l.res.ok());
  const auto& e = l.error("'usuario.nombre'");
  check_at(e, l.file("flujo.yaml"), text, "hola:");
  CHECK_THAT(e.message, Contains("unknown variable"));
  CHECK_THAT(e.hint, Contains("contact.<field>"));
  CHECK_THAT(e.hint, Contains("score.total"));
  const auto& e2 = l.error("'score.totl'");
  check_at(e2, l.file("flujo.yaml"), text, "contact.nivel");
}

TEST_CASE("validator: variables in split conditions are checked, cohort is valid there", "[validator][variables]") {
  const std::string text = R"y(spec: 1
id: condiciones
start: q
nodes:
  q: {question: "¿Rol?", save_as: rol, next: s}
  s:
    split:
      - {if: "cohort == piloto and answers.rol.text == ana", next: fin}
      - {if: "last.status == completed", next: fin}
      - {if: "grupo == piloto", next: fin}
    next: fin
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK_FALSE(l.res.ok());
  const auto& e = l.error("'grupo'");
  check_at(e, l.file("flujo.yaml"), text, "{if: \"grupo");
  CHECK_THAT(e.hint, Contains("cohort"));
  CHECK(l.res.diags.errors() == 1);
  l.none("cohort");
  l.none("answers.rol");
}

// ================================================================== 5. split without a default

TEST_CASE("validator: a split without next is an error saying next is its default", "[validator][split]") {
  const std::string text = R"y(spec: 1
id: sin-defecto
start: s
nodes:
  s:
    split:
      - {if: "cohort == piloto", next: fin}
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK_FALSE(l.res.ok());
  const auto& e = l.error("has no next");
  check_at(e, l.file("flujo.yaml"), text, "s:\n    split");
  CHECK_THAT(e.message, Contains("default"));
  CHECK_THAT(e.hint, Contains("next:"));

  auto ok = one_flow(R"y(spec: 1
id: con-defecto
start: s
nodes:
  s:
    split:
      - {if: "cohort == piloto", next: fin}
    next: fin
  fin: {end: completed}
)y");
  CHECK(ok.res.ok());
  ok.none("has no next");
}

// ================================================================== 6. SMS encoding

TEST_CASE("validator: gsm7_encodable follows the GSM 03.38 table", "[validator][sms]") {
  CHECK(gsm7_encodable("Hola, ¿qué tal? Niño, Ñandu no; ¡Ü! @ £ $ ¥ è é ù ì ò Ç Ø ø Å å Δ _ Φ Γ Λ Ω Π Ψ Σ Θ Ξ Æ æ ß É"));
  CHECK_FALSE(gsm7_encodable("Ñandú"));  // ú is not in the table
  CHECK(gsm7_encodable("¤ § ¿ ä ö ñ ü à Ä Ö Ñ Ü ¡ # % & ' ( ) * + , - . / : ; < = > ? \" !\n\r"));
  CHECK(gsm7_encodable("[x] {y} ~ | € ^ \\ \f"));  // the extension table
  for (const char* s : {"á", "í", "ó", "ú", "Á", "Í", "Ó", "Ú", "ç", "`", "\t", "👋", "✅", "·", "“", "…"}) {
    INFO(s);
    CHECK_FALSE(gsm7_encodable(s));
  }
  CHECK(gsm7_offending("¿Cómo estás? 👋 ó") == U"óá\U0001F44B");
  CHECK(gsm7_offending("Hola").empty());
}

TEST_CASE("validator: a text that needs UCS-2 on SMS is one warning per node", "[validator][sms]") {
  const std::string text = R"y(spec: 1
id: sms
start: hola
nodes:
  hola: {message: "Hola 👋", next: q}
  q:
    quiz: "¿Cuántos?"
    options:
      - {id: a, label: "Uno", correct: true, feedback: "¡Sí! ✅"}
      - {id: b, label: "Dos"}
    feedback: {incorrect: "No 🙁"}
    next: fin
  fin: {end: completed, message: "Hasta pronto, niño. ¿Qué tal? ¡Ñ!"}
)y";
  auto l = one_flow(text);
  CHECK(l.res.ok());
  const auto& w = l.warning("node 'hola' needs UCS-2");
  check_at(w, l.file("flujo.yaml"), text, "hola:");
  CHECK_THAT(w.message, Contains("70 characters per segment instead of 160"));
  CHECK_THAT(w.message, Contains("👋"));
  CHECK_THAT(w.hint, StartsWith("fine for WhatsApp/Telegram; on SMS it costs more segments"));
  const auto& q = l.warning("node 'q' needs UCS-2");  // one, for three texts
  // Accents are transliterated on SMS (opt-in), so only what cannot be is listed.
  CHECK_THAT(q.message, !Contains("á"));
  CHECK_THAT(q.message, Contains("✅"));
  CHECK_THAT(q.message, Contains("🙁"));
  l.none("node 'fin' needs UCS-2");
}

// ================================================================== 7. reminders after 24 h

TEST_CASE("validator: a reminder due 24 h or more after the question warns about the WhatsApp window", "[validator][reminders]") {
  const std::string text = R"y(spec: 1
id: recordatorios
start: q1
nodes:
  q1:
    question: "¿Seguimos?"
    timeout: {after: 12h, remind: "¿Sigues ahí?", max_reminders: 2, next: fin}
    next: q2
  q2:
    question: "¿Y ahora?"
    timeout: {after: 11h, max_reminders: 2, next: fin}
    next: q3
  q3:
    question: "¿Última?"
    timeout: {after: 30h, next: fin}
    next: fin
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK(l.res.ok());
  const auto& w = l.warning("24-hour window");
  check_at(w, l.file("flujo.yaml"), text, "{after: 12h");
  CHECK_THAT(w.message, Contains("WhatsApp only delivers this with an approved template outside the 24-hour window"));
  CHECK_THAT(w.message, Contains("node 'q1'"));
  CHECK_THAT(w.message, Contains("1d"));
}

TEST_CASE("validator: a flow's accept list silences the warnings its author weighed, and only those", "[validator][sms][reminders]") {
  const std::string base = R"y(spec: 1
id: aceptados
ACCEPT
start: q1
nodes:
  q1:
    question: "¿Seguimos? 👋"
    timeout: {after: 30h, remind: "¿Sigues ahí? 🙂", next: fin}
    next: fin
  fin: {end: completed}
)y";
  auto with = [&](const std::string& accept) {
    std::string t = base;
    t.replace(t.find("ACCEPT"), 6, accept);
    return t;
  };
  {
    auto l = one_flow(with("language: es"));  // nothing accepted: both warnings
    l.warning("node 'q1' needs UCS-2");
    l.warning("24-hour window");
  }
  {
    auto l = one_flow(with("accept: [sms-unicode]"));
    CHECK(l.res.ok());
    l.none("needs UCS-2");
    l.warning("24-hour window");
  }
  {
    auto l = one_flow(with("accept: [sms-unicode, late-reminders]"));
    CHECK(l.res.ok());
    l.none("needs UCS-2");
    l.none("24-hour window");
  }
  {
    const std::string text = with("accept: [sms-unicod]");
    auto l = one_flow(text);
    CHECK(!l.res.ok());
    const auto& e = l.error("'sms-unicod' is not a warning a flow can accept");
    check_at(e, l.file("flujo.yaml"), text, "sms-unicod]");
    CHECK_THAT(e.hint, Contains("sms-unicode"));
  }
}

// ================================================================== 8. media

TEST_CASE("validator: media of the wrong file type or not over https is an error at the media", "[validator][media]") {
  const std::string text = R"y(spec: 1
id: medios
start: gif
nodes:
  gif:
    message: "Mira"
    media: {type: image, url: "https://example.org/a.gif"}
    next: pdf
  pdf:
    message: "Guía"
    media: {type: document, url: "https://example.org/Guia.PDF?v=2", filename: "guia.pdf"}
    next: png-doc
  png-doc:
    message: "Otra guía"
    media: {type: document, url: "https://example.org/guia.png"}
    next: inseguro
  inseguro:
    message: "Escucha"
    media: {type: audio, url: "http://example.org/a.ogg"}
    next: fin
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK_FALSE(l.res.ok());
  const auto& gif = l.error("node 'gif' is an image");
  check_at(gif, l.file("flujo.yaml"), text, "{type: image, url: \"https://example.org/a.gif");
  CHECK_THAT(gif.message, Contains(".gif"));
  CHECK_THAT(gif.message, Contains(".jpg"));
  CHECK_FALSE(gif.hint.empty());
  const auto& doc = l.error("node 'png-doc' is a document");
  check_at(doc, l.file("flujo.yaml"), text, "{type: document, url: \"https://example.org/guia.png");
  CHECK_THAT(doc.hint, Contains("type: image"));
  const auto& http = l.error("https://");
  check_at(http, l.file("flujo.yaml"), text, "{type: audio");
  CHECK_THAT(http.message, Contains("node 'inseguro'"));
  CHECK(l.res.diags.errors() == 3);  // the PDF with ?query and upper case is fine
}

TEST_CASE("validator: media over a channel's size limit warns naming the channel", "[validator][media]") {
  const std::string text = R"y(spec: 1
id: tamanos
start: foto
nodes:
  foto:
    message: "Foto"
    media: {type: image, url: "https://example.org/a.jpg", size_kb: 6000}
    next: libro
  libro:
    message: "Libro"
    media: {type: document, url: "https://example.org/b.pdf", size_kb: 30000}
    next: audio
  audio:
    message: "Audio"
    media: {type: audio, url: "https://example.org/c.mp3", size_kb: 5120}
    next: foto-limite
  foto-limite:
    message: "Foto al límite"
    media: {type: image, url: "https://example.org/d.jpeg", size_kb: 5120}
    next: fin
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK(l.res.ok());
  const auto& foto = l.warning("image of node 'foto'");
  check_at(foto, l.file("flujo.yaml"), text, "{type: image, url: \"https://example.org/a.jpg");
  CHECK_THAT(foto.message, Contains("WhatsApp"));
  CHECK_THAT(foto.message, Contains("Telegram"));
  const auto& libro = l.warning("document of node 'libro'");
  CHECK_THAT(libro.message, Contains("Telegram"));
  CHECK_THAT(libro.message, !Contains("WhatsApp"));
  CHECK(l.matching(diagnostic::level::warning, "too big").size() == 2);
}

TEST_CASE("validator: a caption over 1024 characters with media is an error", "[validator][media]") {
  const std::string caption = repeat("a", 1025);
  const std::string text = "spec: 1\nid: pie\nstart: largo\nnodes:\n  largo:\n    message: \"" + caption +
                           "\"\n    media: {type: image, url: \"https://example.org/a.png\"}\n    next: justo\n"
                           "  justo:\n    message: \"" + repeat("b", 1024) +
                           "\"\n    media: {type: image, url: \"https://example.org/b.png\"}\n    next: fin\n"
                           "  fin: {end: completed}\n";
  auto l = one_flow(text);
  CHECK_FALSE(l.res.ok());
  const auto& e = l.error("caption");
  check_at(e, l.file("flujo.yaml"), text, "largo:");
  CHECK_THAT(e.message, Contains("1025"));
  CHECK(l.res.diags.errors() == 1);
}

// ================================================================== 9. long texts

TEST_CASE("validator: a text over 4096 characters is an error, 4096 is fine", "[validator][length]") {
  const std::string text = "spec: 1\nid: largo\nstart: uno\nnodes:\n  uno:\n    message: \"" + repeat("ñ", 4097) +
                           "\"\n    next: dos\n  dos:\n    message: \"" + repeat("ñ", 4096) +
                           "\"\n    next: q\n  q:\n    question: \"" + repeat("x", 4090) +
                           "\"\n    options: [\"Sí\", \"No\"]\n    next: fin\n  fin: {end: completed}\n";
  auto l = one_flow(text);
  CHECK_FALSE(l.res.ok());
  const auto& e = l.error("node 'uno' has 4097 characters");
  check_at(e, l.file("flujo.yaml"), text, "uno:");
  CHECK_THAT(e.message, Contains("4096"));
  // The question is sent with its numbered options: 4090 + "\n1. Sí" + "\n2. No" = 4102.
  const auto& q = l.error("node 'q' has 4102 characters");
  CHECK_THAT(q.message, Contains("numbered options"));
  CHECK(l.res.diags.errors() == 2);
}

// ================================================================== 10. loops that never wait

TEST_CASE("validator: a loop of nodes that never waits is an error at one of its nodes", "[validator][loops]") {
  const std::string text = R"y(spec: 1
id: bucle
start: hola
nodes:
  hola: {message: "Hola", next: a}
  a: {message: "A", next: b}
  b:
    split:
      - {if: "cohort == piloto", next: a}
    next: a
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  CHECK_FALSE(l.res.ok());
  const auto& e = l.error("loop forever without waiting for the learner");
  check_at(e, l.file("flujo.yaml"), text, "  a: {message", 2);
  CHECK_THAT(e.message, Contains("a -> b -> a"));
}

TEST_CASE("validator: a loop through a question waits, one that sets and can leave may end", "[validator][loops]") {
  const std::string text = R"y(spec: 1
id: bucles
start: q
nodes:
  q: {question: "¿Otra vez?", options: [Si, "No"], save_as: otra, next: s}
  s:
    split:
      - {if: "answers.otra == si", next: q}
    next: contar
  contar: {set: {answers.vueltas: "{{answers.vueltas}}x"}, next: ver}
  ver:
    split:
      - {if: "answers.vueltas == xxx", next: fin}
    next: contar
  fin: {end: completed}
)y";
  auto l = one_flow(text);
  INFO(l.all());
  CHECK(l.res.ok());
  const auto& w = l.warning("may loop without waiting");
  check_at(w, l.file("flujo.yaml"), text, "contar: {set");
  CHECK_THAT(w.message, Contains("contar -> ver -> contar"));
  l.none("'q'");
}

// ================================================================== 11. random weights

TEST_CASE("validator: a random node whose weights add up to 0 is an error", "[validator][random]") {
  auto make = [](int w1, int w2) {
    load_result res;
    flow f;
    f.id = "azar";
    f.start = "r";
    node r;
    r.id = "r";
    r.kind = node_kind::random;
    r.pos = {"azar.yaml", 5, 3};
    r.branches = {random_branch{w1, "fin", {}, {}}, random_branch{w2, "fin", {}, {}}};
    node fin;
    fin.id = "fin";
    fin.kind = node_kind::end;
    f.nodes = {{"r", r}, {"fin", fin}};
    f.order = {"r", "fin"};
    res.flows.flows.emplace("azar", f);
    check_flows(res);
    return res;
  };
  auto bad = make(0, 0);
  INFO(all_of(bad.diags));
  REQUIRE(bad.diags.errors() == 1);
  const auto& e = *std::find_if(bad.diags.items().begin(), bad.diags.items().end(),
                                [](const diagnostic& x) { return x.severity == diagnostic::level::error; });
  CHECK_THAT(e.message, Contains("add up to 0"));
  CHECK(e.pos.file == "azar.yaml");
  CHECK(e.pos.line == 5);
  CHECK(e.pos.col == 3);
  auto good = make(1, 3);
  INFO(all_of(good.diags));
  CHECK(good.diags.errors() == 0);
}

// ================================================================== the shipped flows

TEST_CASE("validator: the shipped flows have no errors", "[validator][shipped]") {
  auto res = load_flows({std::string(AULA_SOURCE_DIR) + "/flows"});
  INFO(all_of(res.diags));
  CHECK(res.diags.errors() == 0);
  CHECK(res.flows.flows.size() >= 2);
}

// ================================================================== the schema

namespace {

using ojson = nlohmann::ordered_json;

// Just enough of JSON Schema 2020-12 to check flows against flows/schema.json. The keywords
// it knows; the schema may use no others (checked below), so nothing is silently skipped.
const std::set<std::string> known_keywords = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "type", "properties", "required",
    "additionalProperties", "propertyNames", "minProperties", "items", "minItems", "contains", "enum", "const",
    "pattern", "minimum", "maximum", "oneOf", "anyOf", "allOf", "not", "if", "then", "else", "dependentRequired"};

class mini_validator {
 public:
  explicit mini_validator(const ojson& root) : root_(root) {}

  bool valid(const ojson& v) const { return check(root_, v); }

 private:
  bool check(const ojson& s, const ojson& v) const {
    if (s.is_boolean()) return s.get<bool>();
    if (auto r = s.find("$ref"); r != s.end()) {
      if (!check(root_.at(ojson::json_pointer(r->get<std::string>().substr(1))), v)) return false;
    }
    if (auto t = s.find("type"); t != s.end()) {
      bool any = false;
      for (const auto& ty : t->is_array() ? *t : ojson::array({*t})) any = any || has_type(ty.get<std::string>(), v);
      if (!any) return false;
    }
    if (auto e = s.find("enum"); e != s.end() && std::find(e->begin(), e->end(), v) == e->end()) return false;
    if (auto c = s.find("const"); c != s.end() && *c != v) return false;
    if (v.is_string()) {
      if (auto p = s.find("pattern"); p != s.end() && !std::regex_search(v.get<std::string>(), std::regex(p->get<std::string>())))
        return false;
    }
    if (v.is_number()) {
      if (auto m = s.find("minimum"); m != s.end() && v.get<double>() < m->get<double>()) return false;
      if (auto m = s.find("maximum"); m != s.end() && v.get<double>() > m->get<double>()) return false;
    }
    if (v.is_object()) {
      if (auto m = s.find("minProperties"); m != s.end() && v.size() < m->get<std::size_t>()) return false;
      if (auto r = s.find("required"); r != s.end())
        for (const auto& k : *r)
          if (!v.contains(k.get<std::string>())) return false;
      if (auto d = s.find("dependentRequired"); d != s.end())
        for (auto it = d->begin(); it != d->end(); ++it)
          if (v.contains(it.key()))
            for (const auto& k : it.value())
              if (!v.contains(k.get<std::string>())) return false;
      const ojson* props = s.contains("properties") ? &s["properties"] : nullptr;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (auto pn = s.find("propertyNames"); pn != s.end() && !check(*pn, ojson(it.key()))) return false;
        if (props && props->contains(it.key())) {
          if (!check((*props)[it.key()], it.value())) return false;
        } else if (auto ap = s.find("additionalProperties"); ap != s.end() && !check(*ap, it.value())) {
          return false;
        }
      }
    }
    if (v.is_array()) {
      if (auto m = s.find("minItems"); m != s.end() && v.size() < m->get<std::size_t>()) return false;
      if (auto i = s.find("items"); i != s.end())
        for (const auto& x : v)
          if (!check(*i, x)) return false;
      if (auto c = s.find("contains"); c != s.end() && std::none_of(v.begin(), v.end(), [&](const ojson& x) { return check(*c, x); }))
        return false;
    }
    if (auto a = s.find("allOf"); a != s.end())
      for (const auto& x : *a)
        if (!check(x, v)) return false;
    if (auto a = s.find("anyOf"); a != s.end() && std::none_of(a->begin(), a->end(), [&](const ojson& x) { return check(x, v); }))
      return false;
    if (auto a = s.find("oneOf"); a != s.end() && std::count_if(a->begin(), a->end(), [&](const ojson& x) { return check(x, v); }) != 1)
      return false;
    if (auto n = s.find("not"); n != s.end() && check(*n, v)) return false;
    if (auto i = s.find("if"); i != s.end()) {
      if (check(*i, v)) {
        if (auto t = s.find("then"); t != s.end() && !check(*t, v)) return false;
      } else {
        if (auto e = s.find("else"); e != s.end() && !check(*e, v)) return false;
      }
    }
    return true;
  }

  static bool has_type(const std::string& t, const ojson& v) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>())));
    if (t == "number") return v.is_number();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    throw std::logic_error("unknown type " + t);
  }

  const ojson& root_;
};

ojson shipped_schema() {
  return ojson::parse(slurp(std::string(AULA_SOURCE_DIR) + "/flows/schema.json"));
}

ojson yaml_flow(const std::string& text) { return ojson::parse(yaml_to_json(YAML::Load(text)).dump()); }

// Every subschema, with a path for messages.
void walk(const ojson& s, const std::string& path, const std::function<void(const ojson&, const std::string&)>& f) {
  if (!s.is_object()) return;
  f(s, path);
  for (const char* k : {"properties", "$defs"})
    if (auto m = s.find(k); m != s.end())
      for (auto it = m->begin(); it != m->end(); ++it) walk(it.value(), path + "/" + k + "/" + it.key(), f);
  for (const char* k : {"items", "contains", "not", "if", "then", "else", "propertyNames", "additionalProperties"})
    if (auto m = s.find(k); m != s.end()) walk(*m, path + "/" + k, f);
  for (const char* k : {"oneOf", "anyOf", "allOf"})
    if (auto m = s.find(k); m != s.end())
      for (std::size_t i = 0; i < m->size(); ++i) walk((*m)[i], path + "/" + k + "/" + std::to_string(i), f);
}

}  // namespace

TEST_CASE("schema: flows/schema.json is valid JSON Schema 2020-12 with fixed keys everywhere", "[validator][schema]") {
  const std::string text = slurp(std::string(AULA_SOURCE_DIR) + "/flows/schema.json");
  const ojson s = ojson::parse(text, nullptr, false);
  REQUIRE_FALSE(s.is_discarded());
  CHECK(s["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  CHECK(s["type"] == "object");
  CHECK(s["required"] == ojson::array({"spec", "id", "start", "nodes"}));
  for (const char* def : {"node", "localized", "message_node", "question_node", "quiz_node", "split_node", "random_node",
                          "set_node", "wait_node", "subflow_node", "webhook_node", "end_node", "question_option",
                          "quiz_option", "feedback", "timeout", "media", "split_case", "random_branch", "wait", "webhook"})
    CHECK(s["$defs"].contains(def));
  walk(s, "#", [&](const ojson& sub, const std::string& path) {
    INFO(path);
    for (auto it = sub.begin(); it != sub.end(); ++it) {
      INFO("keyword " << it.key());
      CHECK(known_keywords.count(it.key()));
    }
    // Every map with fixed keys refuses others.
    if (sub.contains("properties") && path.find("/if") == std::string::npos && path.find("/then") == std::string::npos &&
        path.find("/else") == std::string::npos && path.find("/contains") == std::string::npos)
      CHECK(sub.value("additionalProperties", ojson(true)) == ojson(false));
    // Every $ref points at a definition.
    if (auto r = sub.find("$ref"); r != sub.end()) {
      INFO(r->dump());
      CHECK(s.contains(ojson::json_pointer(r->get<std::string>().substr(1))));
    }
    if (auto p = sub.find("pattern"); p != sub.end()) CHECK_NOTHROW(std::regex(p->get<std::string>()));
  });
  // Each node kind requires its own key, so a node matches exactly one kind.
  for (const auto& alt : s["$defs"]["node"]["oneOf"]) {
    const std::string def = alt["$ref"].get<std::string>().substr(std::string("#/$defs/").size());
    INFO(def);
    const std::string kind = def.substr(0, def.size() - std::string("_node").size());
    const auto& req = s["$defs"][def]["required"];
    CHECK(std::find(req.begin(), req.end(), ojson(kind)) != req.end());
  }
}

TEST_CASE("schema: the binary embeds flows/schema.json as it is in the tree", "[validator][schema]") {
  CHECK(std::string(flow_schema_text()) == slurp(std::string(AULA_SOURCE_DIR) + "/flows/schema.json"));
}

TEST_CASE("schema: the loader's key lists are the schema's properties", "[validator][schema]") {
  const ojson s = shipped_schema();
  auto keys = [&](const ojson& props) {
    std::vector<std::string> v;
    for (auto it = props.begin(); it != props.end(); ++it) v.push_back(it.key());
    return v;
  };
  const auto& k = flow_schema();
  CHECK(k.flow == keys(s["properties"]));
  CHECK(k.flow == std::vector<std::string>{"spec", "id", "name", "description", "language", "start", "expire_after",
                                           "on_expire", "migrate", "fallback", "accept", "nodes"});
  for (const auto& [kind, list] : k.node) {
    INFO(to_string(kind));
    CHECK(list == keys(s["$defs"][std::string(to_string(kind)) + "_node"]["properties"]));
    CHECK(list.front() == to_string(kind));
  }
  CHECK(k.node.size() == 10);
  CHECK(k.media == keys(s["$defs"]["media"]["properties"]));
  CHECK(k.timeout == keys(s["$defs"]["timeout"]["properties"]));
  CHECK(k.split_case == keys(s["$defs"]["split_case"]["properties"]));
  CHECK(k.random_branch == keys(s["$defs"]["random_branch"]["properties"]));
  CHECK(k.wait == keys(s["$defs"]["wait"]["properties"]));
  CHECK(k.webhook == keys(s["$defs"]["webhook"]["properties"]));
  CHECK(k.feedback == keys(s["$defs"]["feedback"]["properties"]));
  CHECK(k.question_option == std::vector<std::string>{"id", "label"});
  CHECK(k.quiz_option == std::vector<std::string>{"id", "label", "correct", "feedback"});

  // A schema without a part the loader needs is refused with a message naming it.
  ojson broken = s;
  broken["$defs"].erase("media");
  CHECK_THROWS_WITH(flow_schema_keys_from(broken.dump()), Contains("media"));
  CHECK_THROWS(flow_schema_keys_from("not json"));
  // Another schema gives other keys: the lists come from the text.
  ojson more = s;
  more["$defs"]["media"]["properties"]["alt"] = {{"type", "string"}};
  CHECK(flow_schema_keys_from(more.dump()).media.back() == "alt");
}

TEST_CASE("schema: a node key the schema does not list is rejected by the loader", "[validator][schema]") {
  // Minimal nodes of each kind, to which one more key is added.
  const std::map<node_kind, std::string> minimal = {
      {node_kind::message, "message: hola, next: fin"},
      {node_kind::question, "question: hola, next: fin"},
      {node_kind::quiz, "quiz: hola, options: [{label: a, correct: true}], next: fin"},
      {node_kind::split, "split: [{if: cohort == a, next: fin}], next: fin"},
      {node_kind::random, "random: [{next: fin}, {next: fin}]"},
      {node_kind::set, "set: {contact.a: b}, next: fin"},
      {node_kind::wait, "wait: {for: 1h}, next: fin"},
      {node_kind::subflow, "subflow: otro, next: fin"},
      {node_kind::webhook, "webhook: {url: \"https://example.org\"}, next: fin"},
      {node_kind::end, "end: completed"},
  };
  const auto& schema = flow_schema();
  std::set<std::string> every_key = {"color", "nxet"};
  for (const auto& [kind, keys] : schema.node) every_key.insert(keys.begin(), keys.end());
  const std::set<std::string> kinds = {"message", "question", "quiz", "split", "random",
                                       "set", "wait", "subflow", "webhook", "end"};
  for (const auto& [kind, body] : minimal) {
    const auto& allowed = schema.node.at(kind);
    for (const auto& key : every_key) {
      // Keys the minimal node has already.
      if (body.starts_with(key + ":") || body.find(", " + key + ":") != std::string::npos) continue;
      // Another kind's name makes a node of two kinds (an error of its own), except the
      // message of an end node.
      if (kinds.count(key) && !(kind == node_kind::end && key == "message")) continue;
      const bool listed = std::find(allowed.begin(), allowed.end(), key) != allowed.end();
      const std::string text = "spec: 1\nid: x\nstart: n\nnodes:\n  n: {" + body + ", " + key + ": v}\n  fin: {end: completed}\n";
      flow f;
      diagnostics d;
      read_flow(text, "x.yaml", f, d);
      bool unknown = false;
      for (const auto& x : d.items()) unknown = unknown || x.message.find("unknown key '" + key + "'") != std::string::npos;
      INFO(to_string(kind) << " + " << key << "\n" << all_of(d));
      CHECK(unknown == !listed);
      if (!listed) {
        const auto [line, col] = position_of(text, key + ": v");
        bool at = false;
        for (const auto& x : d.items())
          at = at || (x.message.find("unknown key '" + key + "'") != std::string::npos && x.pos.line == line && x.pos.col == col);
        CHECK(at);
      }
    }
  }
}

TEST_CASE("schema: the shipped flows match the schema, broken ones do not", "[validator][schema]") {
  const ojson s = shipped_schema();
  mini_validator v(s);
  // The shipped flows, and the test flows that use every kind of node.
  int checked = 0;
  for (const char* dir : {"/flows", "/tests/flows"}) {
    for (const auto& file : flow_files_in(std::string(AULA_SOURCE_DIR) + dir)) {
      INFO(file);
      CHECK(v.valid(yaml_flow(slurp(file))));
      ++checked;
    }
  }
  CHECK(checked >= 2);

  const std::string good = R"y(spec: 1
id: todo
name: {es: "Todo", en: "All"}
language: es
start: hola
expire_after: 1d 12h
on_expire: fin
nodes:
  hola:
    message: "Hola"
    media: {type: document, url: "https://example.org/a.pdf", filename: a.pdf, size_kb: 10}
    next: q
  q:
    question: "¿Cuántos?"
    type: number
    min: 0
    max: 10
    invalid: "Un número"
    max_retries: 1
    on_invalid: fin
    save_as: cuantos
    timeout: {after: 2h, remind: "¿Sigues?", max_reminders: 1, next: fin}
    next: m
  m: {question: "¿Cuáles?", type: multi, options: [a, b, c], min_choices: 1, max_choices: 2, next: z}
  z:
    quiz: "¿Sí?"
    options:
      - {id: s, label: {es: "Sí", en: "Yes"}, correct: true, feedback: "Bien"}
      - "No"
    feedback: {correct: "Bien", incorrect: "Mal", retry: "Otra"}
    points: 2
    attempts: 2
    next: s
  s:
    split:
      - {if: "answers.cuantos > 3", next: r}
    next: r
  r:
    random:
      - {weight: 2, next: f}
      - {next: f}
  f: {set: {contact.nivel: alto, answers.x: "{{answers.cuantos}}", lang: en}, next: w}
  w: {wait: {until: "09:00", days: 1}, next: w2}
  w2: {wait: {for: 90s}, next: sub}
  sub: {subflow: otro, next: hook, on_failure: fin}
  hook:
    webhook: {method: POST, url: "https://example.org/api", headers: {X-A: b}, body: {a: 1}, timeout: 10s}
    save_as: respuesta
    next: fin
    on_failure: fin
    on_timeout: fin
  fin: {end: completed, message: {es: "Fin", en: "End"}}
)y";
  CHECK(v.valid(yaml_flow(good)));
  // The loader agrees that it is a well-formed file (the subflow is not loaded here).
  {
    flow f;
    diagnostics d;
    const bool ok = read_flow(good, "todo.yaml", f, d);
    INFO(all_of(d));
    CHECK(ok);
  }

  const std::vector<std::pair<std::string, std::string>> broken = {
      {"an unknown node key", "    save_as: cuantos\n"},
      {"a quiz option key on a question's option", "options: [a, b, c]"},
      {"a quiz without a correct option", "correct: true, "},
      {"a zero duration", "after: 2h"},
      {"an unknown media type", "type: document"},
      {"wait with for and until", "{until: \"09:00\", days: 1}"},
      {"days without until", "{for: 90s}"},
      {"min on a multi question", "min_choices: 1"},
      {"a bad language code", "en: \"All\""},
      {"a set target of no namespace", "lang: en}"},
      {"an end without status", "end: completed, "},
      {"a split without a default", "      - {if: \"answers.cuantos > 3\", next: r}\n    next: r\n"},
  };
  const std::vector<std::string> replacements = {
      "    save_ass: cuantos\n",
      "options: [{label: a, correct: true}, b, c]",
      "",
      "after: 0h",
      "type: video",
      "{until: \"09:00\", days: 1, for: 1h}",
      "{for: 90s, days: 1}",
      "min: 1",
      "EN: \"All\"",
      "idioma: en}",
      "",
      "      - {if: \"answers.cuantos > 3\", next: r}\n",
  };
  for (std::size_t i = 0; i < broken.size(); ++i) {
    INFO(broken[i].first);
    std::string text = good;
    auto at = text.find(broken[i].second);
    REQUIRE(at != std::string::npos);
    text.replace(at, broken[i].second.size(), replacements[i]);
    CHECK_FALSE(v.valid(yaml_flow(text)));
    // The loader refuses it too.
    flow f;
    diagnostics d;
    CHECK_FALSE(read_flow(text, "roto.yaml", f, d));
  }
}
