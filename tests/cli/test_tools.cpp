// End-to-end checks of `aula graph` and `aula i18n` on the real binary. What the output must
// hold is computed from the flow files themselves (read here with yaml-cpp) and CSV is read
// back with a parser of this file's own, never taken from aula's output.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "tests/support/cli_harness.hpp"

namespace fs = std::filesystem;

namespace {

using aula_test::run;
using aula_test::run_result;
using aula_test::slurp;
using aula_test::source;
using aula_test::write;

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

struct temp_dir : aula_test::temp_dir {
  temp_dir() : aula_test::temp_dir("aula-tools-") {}
};

// A folder with copies of the shipped flows (and nothing else).
void copy_flows(const fs::path& to) {
  for (const auto& e : fs::directory_iterator(source("flows")))
    if (e.is_regular_file()) fs::copy_file(e.path(), to / e.path().filename());
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Graphs: the expected edges and labels, from the YAML.

struct edge {
  std::string from, to, label;
  bool dashed = false;
};

std::string percent(int w, int total) {
  double p = std::round(1000.0 * w / total) / 10;
  char buf[32];
  std::snprintf(buf, sizeof buf, p == std::floor(p) ? "%.0f%%" : "%.1f%%", p);
  return buf;
}

std::vector<edge> expected_edges(const YAML::Node& root) {
  std::vector<edge> out = {{"[start]", root["start"].as<std::string>(), "start", false}};
  if (root["on_expire"]) out.push_back({"[start]", root["on_expire"].as<std::string>(), "expired", true});
  for (auto it = root["nodes"].begin(); it != root["nodes"].end(); ++it) {
    const std::string id = it->first.as<std::string>();
    const YAML::Node n = it->second;
    if (n["split"]) {
      for (const auto& c : n["split"]) out.push_back({id, c["next"].as<std::string>(), c["if"].as<std::string>(), false});
      if (n["next"]) out.push_back({id, n["next"].as<std::string>(), "else", false});
    } else if (n["random"]) {
      int total = 0;
      for (const auto& b : n["random"]) total += b["weight"] ? b["weight"].as<int>() : 1;
      for (const auto& b : n["random"])
        out.push_back({id, b["next"].as<std::string>(), percent(b["weight"] ? b["weight"].as<int>() : 1, total), false});
    } else if (n["next"]) {
      out.push_back({id, n["next"].as<std::string>(), "next", false});
    }
    if (n["on_invalid"]) out.push_back({id, n["on_invalid"].as<std::string>(), "invalid", true});
    if (n["timeout"] && n["timeout"]["next"]) out.push_back({id, n["timeout"]["next"].as<std::string>(), "timeout", true});
    if (n["on_failure"]) out.push_back({id, n["on_failure"].as<std::string>(), "failure", true});
    if (n["on_timeout"]) out.push_back({id, n["on_timeout"].as<std::string>(), "timeout", true});
  }
  return out;
}

// Mermaid ids as documented in graph.hpp: n_ + id, '_' -> "__", '-' -> "_h".
std::string mermaid_id(const std::string& id) {
  if (id == "[start]") return "flow_start";
  std::string out = "n_";
  for (char c : id) out += c == '_' ? std::string("__") : c == '-' ? std::string("_h") : std::string(1, c);
  return out;
}

std::string mermaid_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "#quot;"; break;
      case '<': out += "#lt;"; break;
      case '>': out += "#gt;"; break;
      case '&': out += "#amp;"; break;
      case '#': out += "#35;"; break;
      case '[': out += "#91;"; break;
      case ']': out += "#93;"; break;
      case '{': out += "#123;"; break;
      case '}': out += "#125;"; break;
      case '(': out += "#40;"; break;
      case ')': out += "#41;"; break;
      case '|': out += "#124;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string dot_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// The first `n` code points of a UTF-8 text.
std::string first_chars(const std::string& s, std::size_t n) {
  std::size_t cps = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (cps == n) break;
      ++cps;
    }
  }
  return s.substr(0, i);
}

std::string text_of(const YAML::Node& n, const std::string& lang) {
  if (n.IsScalar()) return n.as<std::string>();
  return n[lang] ? n[lang].as<std::string>() : n["es"].as<std::string>();
}

// Checks every node and edge of `file` in aula's Mermaid and DOT output.
void check_graph(const fs::path& flows, const fs::path& file, const std::string& lang) {
  YAML::Node root = YAML::LoadFile(file.string());
  const std::string id = root["id"].as<std::string>();
  const auto edges = expected_edges(root);
  auto m = run("graph " + id + " --flows " + q(flows) + " --lang " + lang, false);
  auto d = run("graph " + id + " --flows " + q(flows) + " --lang " + lang + " --format dot", false);
  INFO(m.out);
  INFO(d.out);
  REQUIRE(m.status == 0);
  REQUIRE(d.status == 0);
  CHECK(contains(m.out, "flowchart TD\n"));
  CHECK(d.out.starts_with("digraph \"" + id + "\" {"));
  for (auto it = root["nodes"].begin(); it != root["nodes"].end(); ++it) {
    const std::string nid = it->first.as<std::string>();
    const YAML::Node n = it->second;
    CHECK(contains(m.out, "\n  " + mermaid_id(nid)));
    CHECK(contains(d.out, "\n  \"" + nid + "\" [label=\"" + nid + "\\n"));
    // The text excerpt, in the language asked for.
    for (const char* k : {"message", "question", "quiz"}) {
      if (!n[k]) continue;
      const std::string text = text_of(n[k], lang);
      if (text.find('\n') != std::string::npos) continue;
      const std::string shown = first_chars(text, 30);
      CHECK(contains(m.out, mermaid_text(shown)));
      CHECK(contains(d.out, dot_text(shown)));
    }
    if (n["end"]) {
      CHECK(contains(m.out, "  class " + mermaid_id(nid) + " end"));
      CHECK(contains(d.out, "\"" + nid + "\" [label=\"" + nid + "\\nend · " + n["end"].as<std::string>()));
    }
    if (n["subflow"]) CHECK(contains(m.out, "subflow → " + n["subflow"].as<std::string>()));
  }
  for (const auto& e : edges) {
    CHECK(contains(m.out, "\n  " + mermaid_id(e.from) + (e.dashed ? " -.->|\"" : " -->|\"") + mermaid_text(e.label) +
                              "\"| " + mermaid_id(e.to) + "\n"));
    CHECK(contains(d.out, "\n  \"" + e.from + "\" -> \"" + e.to + "\" [label=\"" + dot_text(e.label) + "\"" +
                              (e.dashed ? ", style=dashed]" : "]")));
  }
  // No edge beyond those.
  CHECK(count_of(m.out, " -->|") + count_of(m.out, " -.->|") == edges.size());
  CHECK(count_of(d.out, "\" -> \"") == edges.size());
}

// ---------------------------------------------------------------------------------------------
// CSV, read here independently of aula (RFC 4180).

std::vector<std::vector<std::string>> parse_csv(std::string text, char sep = ',') {
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, started = false, bare_lf = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    started = true;
    if (c == '"') {
      quoted = true;
    } else if (c == sep) {
      row.push_back(field);
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      ++i;
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
      started = false;
    } else {
      bare_lf = bare_lf || c == '\n';  // records end in CRLF; a bare LF only inside quotes
      field += c;
    }
  }
  REQUIRE_FALSE(quoted);
  CHECK_FALSE(bare_lf);
  if (started) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string to_csv(const std::vector<std::vector<std::string>>& rows) {
  std::string out = "\xEF\xBB\xBF";
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + csv_cell(r[i]);
    out += "\r\n";
  }
  return out;
}

// Rows by id (header checked).
std::map<std::string, std::vector<std::string>> by_id(const std::vector<std::vector<std::string>>& rows) {
  REQUIRE(!rows.empty());
  REQUIRE(rows[0] == std::vector<std::string>{"id", "source", "translation"});
  std::map<std::string, std::vector<std::string>> out;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    REQUIRE(rows[i].size() == 3);
    out[rows[i][0]] = rows[i];
  }
  return out;
}

void set_translation(std::vector<std::vector<std::string>>& rows, const std::string& id, const std::string& text) {
  for (auto& r : rows)
    if (r[0] == id) {
      r[2] = text;
      return;
    }
  FAIL("no row " << id);
}

// The texts a flow file has, by the ids the export must use, from the YAML itself.
std::map<std::string, YAML::Node> texts_of(const YAML::Node& root) {
  std::map<std::string, YAML::Node> out;
  for (const char* k : {"name", "description"})
    if (root[k]) out[k] = root[k];
  for (auto it = root["nodes"].begin(); it != root["nodes"].end(); ++it) {
    const std::string at = "nodes." + it->first.as<std::string>() + ".";
    const YAML::Node n = it->second;
    for (const char* k : {"message", "question", "quiz", "invalid"})
      if (n[k]) out[at + k] = n[k];
    if (n["timeout"] && n["timeout"]["remind"]) out[at + "timeout.remind"] = n["timeout"]["remind"];
    if (n["feedback"])
      for (const char* k : {"correct", "incorrect", "retry"})
        if (n["feedback"][k]) out[at + "feedback." + k] = n["feedback"][k];
    if (n["options"])
      for (const auto& o : n["options"]) {
        REQUIRE(o.IsMap());  // the shipped flows give every option an id
        const std::string oat = at + "options." + o["id"].as<std::string>() + ".";
        out[oat + "label"] = o["label"];
        if (o["feedback"]) out[oat + "feedback"] = o["feedback"];
      }
  }
  return out;
}

const char* flow_with_tricky_texts = R"(# Un flujo con textos difíciles para una hoja de cálculo.
spec: 1
id: dificil
name: "Prueba: acentos, emoji 🎉 y comillas"
language: es
start: hola
nodes:
  hola:
    message: "¡Hola, \"colega\"! 👋\nSegunda línea, con coma."   # saludo
    next: rol
  rol:
    question:
      es: ¿Cuál es tu función?
    options:
      - {id: fed, label: "Inspector/a federal"}
      - Otra
    invalid: "=Elige 1 o 2"
    save_as: rol
    next: fin
  fin:
    end: completed
    message: {es: "+52 55 1234 5678, llámanos", en: "+52 55 1234 5678, call us"}
)";

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("aula graph draws every node and edge of the sample lesson, in Mermaid and DOT") {
  check_graph(source("flows"), source("flows/leccion-muestra.yaml"), "es");
  check_graph(source("flows"), source("flows/leccion-muestra.yaml"), "en");
  check_graph(source("flows"), source("flows/diagnostico.yaml"), "es");
}

TEST_CASE("aula graph labels splits, random shares, timeouts, failures and subflows") {
  temp_dir dir;
  write(dir.path / "otro.yaml", "spec: 1\nid: otro\nstart: a\nnodes:\n  a: {message: x, next: b}\n  b: {end: completed}\n");
  write(dir.path / "ramas.yaml", R"(spec: 1
id: ramas
start: rol
expire_after: 3d
on_expire: caduco
nodes:
  rol:
    question: "¿Rol?"
    options: [inspector, otro]
    on_invalid: mal
    timeout: {after: 24h, remind: "¿Sigues?", next: caduco}
    save_as: rol
    next: elegir
  elegir:
    split:
      - {if: "answers.rol == inspector and score.total >= 3", next: ab}
      - {if: "answers.rol != inspector", next: sub}
    next: fin
  ab:
    random:
      - {weight: 1, next: sub}
      - {weight: 2, next: fin}
  sub:
    subflow: otro
    on_failure: mal
    next: hook
  hook:
    webhook: {url: "https://example.org/x?a=1&b=2"}
    on_failure: mal
    on_timeout: caduco
    next: fin
  fin: {end: completed}
  mal: {end: failed, message: "Lo siento"}
  caduco: {end: expired}
)");
  auto v = run("validate " + q(dir.path));
  INFO(v.out);
  REQUIRE(v.status == 0);
  check_graph(dir.path, dir.path / "ramas.yaml", "es");
  auto m = run("graph ramas --flows " + q(dir.path));
  CHECK(contains(m.out, "-->|\"33.3%\"| n_sub"));
  CHECK(contains(m.out, "-->|\"66.7%\"| n_fin"));
  CHECK(contains(m.out, "score.total #gt;= 3"));
  CHECK(contains(m.out, "class n_mal endOther"));
  CHECK(contains(m.out, "class n_fin endNode"));
}

TEST_CASE("aula graph escapes quotes, brackets, angle brackets and ampersands in labels") {
  temp_dir dir;
  write(dir.path / "esc.yaml", R"(spec: 1
id: esc
start: a
nodes:
  a:
    message: 'Di "sí" [x] <b> & {y} | #z'
    next: fin_de-todo
  fin_de-todo: {end: completed}
)");
  auto m = run("graph esc --flows " + q(dir.path));
  auto d = run("graph esc --flows " + q(dir.path) + " --format dot");
  INFO(m.out);
  INFO(d.out);
  REQUIRE(m.status == 0);
  REQUIRE(d.status == 0);
  CHECK(contains(m.out, "n_a[\"a<br/>message<br/>Di #quot;sí#quot; #91;x#93; #lt;b#gt; #amp; #123;y#125; #124; #35;z\"]"));
  CHECK_FALSE(contains(m.out, "\"sí\""));
  CHECK_FALSE(contains(m.out, "<b>"));
  CHECK(contains(m.out, "n_a -->|\"next\"| n_fin__de_htodo\n"));
  CHECK(contains(d.out, "\"a\" [label=\"a\\nmessage\\nDi \\\"sí\\\" [x] &lt;b&gt; &amp; {y} | #z\""));
  CHECK(contains(d.out, "\"a\" -> \"fin_de-todo\" [label=\"next\"]"));
}

TEST_CASE("aula graph cuts long texts to 40 characters without splitting a character") {
  temp_dir dir;
  // 38 characters, then a heart with its variation selector (U+FE0F) across the cut at 39.
  std::string n38;
  for (int i = 0; i < 38; ++i) n38 += "ñ";
  const std::string text = n38 + "❤️ y más texto";
  write(dir.path / "largo.yaml", "spec: 1\nid: largo\nstart: a\nnodes:\n  a: {message: \"" + text +
                                      "\", next: b}\n  b: {end: completed}\n");
  auto d = run("graph largo --flows " + q(dir.path) + " --format dot");
  INFO(d.out);
  REQUIRE(d.status == 0);
  auto at = d.out.find("message\\n");
  REQUIRE(at != std::string::npos);
  std::string shown = d.out.substr(at + 9, d.out.find('"', at) - at - 9);
  CHECK(shown == n38 + "…");  // not the heart without its selector
}

TEST_CASE("aula graph exits 1 on an unknown flow and names the known ones") {
  auto r = run("graph no-existe --flows " + q(source("flows")));
  CHECK(r.status == 1);
  CHECK(contains(r.out, "no flow 'no-existe'"));
  CHECK(contains(r.out, "leccion-muestra"));
  r = run("graph leccion-muestra --flows " + q(source("flows")) + " --format svg");
  CHECK(r.status != 0);
}

TEST_CASE("aula i18n export writes every text of the sample lesson as RFC 4180 CSV for Excel") {
  temp_dir dir;
  auto r = run("i18n export leccion-muestra --lang en --flows " + q(source("flows")) + " --out " + q(dir.path / "l.csv"));
  INFO(r.out);
  REQUIRE(r.status == 0);
  const std::string csv = slurp(dir.path / "l.csv");
  CHECK(csv.starts_with("\xEF\xBB\xBFid,source,translation\r\n"));
  CHECK(csv.ends_with("\r\n"));
  auto rows = by_id(parse_csv(csv));
  YAML::Node root = YAML::LoadFile(source("flows/leccion-muestra.yaml"));
  auto texts = texts_of(root);
  CHECK(rows.size() == texts.size());
  for (const auto& [id, node] : texts) {
    INFO(id);
    REQUIRE(rows.count(id));
    CHECK(rows[id][1] == text_of(node, "es"));
    CHECK(rows[id][2] == (node.IsMap() && node["en"] ? node["en"].as<std::string>() : ""));
  }
  CHECK(rows.count("nodes.edad.options.b.label"));
  CHECK(rows.count("nodes.jornada.feedback.retry"));
  CHECK(rows.count("nodes.fin.message"));
  // To standard output by default, the same bytes.
  auto out = run("i18n export leccion-muestra --lang en --flows " + q(source("flows")), false);
  CHECK(out.out == csv);
}

TEST_CASE("aula i18n round trip keeps accents, emoji, commas, quotes and newlines") {
  temp_dir dir;
  write(dir.path / "dificil.yaml", flow_with_tricky_texts);
  REQUIRE(run("validate " + q(dir.path)).status == 0);
  auto r = run("i18n export dificil --lang en --flows " + q(dir.path) + " --out " + q(dir.path / "d.csv"));
  INFO(r.out);
  REQUIRE(r.status == 0);
  auto rows = parse_csv(slurp(dir.path / "d.csv"));
  auto ids = by_id(rows);
  CHECK(ids["nodes.hola.message"][1] == "¡Hola, \"colega\"! 👋\nSegunda línea, con coma.");
  CHECK(ids["name"][1] == "Prueba: acentos, emoji 🎉 y comillas");
  CHECK(ids["nodes.rol.options.otra.label"][1] == "Otra");

  const std::string hello = "Hi, \"colleague\"! 👋\nSecond line, with a comma — ñ.";
  set_translation(rows, "nodes.hola.message", hello);
  set_translation(rows, "name", "Test: accents, emoji 🎉 and \"quotes\"");
  set_translation(rows, "nodes.rol.question", "What is your role?");
  set_translation(rows, "nodes.rol.options.fed.label", "Federal inspector");
  set_translation(rows, "nodes.rol.options.otra.label", "Other, please say");
  write(dir.path / "d.csv", to_csv(rows));
  r = run("i18n import " + q(dir.path / "d.csv") + " --lang en --flows " + q(dir.path));
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "applied: 5"));

  // The file: still a flow, comments kept, and the texts exactly as written.
  const std::string text = slurp(dir.path / "dificil.yaml");
  CHECK(text.starts_with("# Un flujo con textos difíciles para una hoja de cálculo.\n"));
  CHECK(contains(text, "   # saludo\n"));
  CHECK(run("validate " + q(dir.path)).status == 0);
  YAML::Node root = YAML::LoadFile((dir.path / "dificil.yaml").string());
  CHECK(root["nodes"]["hola"]["message"]["en"].as<std::string>() == hello);
  CHECK(root["nodes"]["hola"]["message"]["es"].as<std::string>() == "¡Hola, \"colega\"! 👋\nSegunda línea, con coma.");
  CHECK(root["nodes"]["rol"]["options"][1]["label"]["en"].as<std::string>() == "Other, please say");
  CHECK(root["nodes"]["rol"]["options"][1]["label"]["es"].as<std::string>() == "Otra");

  // Exported again, the cells come back the same.
  r = run("i18n export dificil --lang en --flows " + q(dir.path) + " --out " + q(dir.path / "again.csv"));
  auto again = by_id(parse_csv(slurp(dir.path / "again.csv")));
  CHECK(again["nodes.hola.message"][2] == hello);
  CHECK(again["name"][2] == "Test: accents, emoji 🎉 and \"quotes\"");
  CHECK(again["nodes.rol.options.otra.label"][2] == "Other, please say");

  // And the learner sees them; the option keeps its id (picked by its English label).
  write(dir.path / "guion.txt", "Other, please say\n");
  r = run("chat --flows " + q(dir.path) + " --flow dificil --lang en --script " + q(dir.path / "guion.txt"));
  INFO(r.out);
  CHECK(contains(r.out, "Hi, \"colleague\"! 👋"));
  CHECK(contains(r.out, "Second line, with a comma — ñ."));
  CHECK(contains(r.out, "2. Other, please say"));
  CHECK(contains(r.out, "+52 55 1234 5678, call us"));
}

TEST_CASE("aula i18n import into a copy of the sample lesson: it loads and aula chat --lang en shows it") {
  temp_dir dir;
  copy_flows(dir.path);
  const std::string before = slurp(dir.path / "leccion-muestra.yaml");
  REQUIRE(run("i18n export leccion-muestra --lang en --flows " + q(dir.path) + " --out " + q(dir.path / "leccion-muestra.en.csv")).status == 0);
  auto rows = parse_csv(slurp(dir.path / "leccion-muestra.en.csv"));
  set_translation(rows, "nodes.bienvenida.message", "Hello, {{contact.name|colleague}}! A new welcome, reviewed by legal.");
  set_translation(rows, "nodes.edad.quiz", "What is the minimum age to work in Mexico (reviewed)?");
  write(dir.path / "leccion-muestra.en.csv", to_csv(rows));
  // No --flow: the file name says which flow.
  auto r = run("i18n import " + q(dir.path / "leccion-muestra.en.csv") + " --lang en --flows " + q(dir.path));
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "applied: 2"));
  CHECK(contains(r.out, "missing: 0"));
  CHECK(contains(r.out, "stale: 0"));
  auto v = run("validate " + q(dir.path));
  INFO(v.out);
  CHECK(v.status == 0);
  // Only the two lines of those texts changed.
  const std::string after = slurp(dir.path / "leccion-muestra.yaml");
  std::vector<std::string> a, b;
  std::istringstream ia(before), ib(after);
  for (std::string l; std::getline(ia, l);) a.push_back(l);
  for (std::string l; std::getline(ib, l);) b.push_back(l);
  REQUIRE(a.size() == b.size());
  int changed = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    ++changed;
    CHECK((contains(b[i], "A new welcome, reviewed by legal.") || contains(b[i], "(reviewed)?")));
  }
  CHECK(changed == 2);
  write(dir.path / "guion.txt", "");
  r = run("chat --flows " + q(dir.path) + " --flow leccion-muestra --lang en --name Ann --script " + q(dir.path / "guion.txt"));
  INFO(r.out);
  CHECK(contains(r.out, "Hello, Ann! A new welcome, reviewed by legal."));
  CHECK(contains(r.out, "What is the minimum age to work in Mexico (reviewed)?"));
  r = run("chat --flows " + q(dir.path) + " --flow leccion-muestra --lang es --name Ana --script " + q(dir.path / "guion.txt"));
  CHECK(contains(r.out, "¡Hola, Ana! 👋 Esta es una lección corta"));
}

TEST_CASE("aula i18n import reports stale, missing and unknown entries and writes nothing without --force") {
  temp_dir dir;
  copy_flows(dir.path);
  const fs::path flow_file = dir.path / "leccion-muestra.yaml";
  REQUIRE(run("i18n export leccion-muestra --lang en --flows " + q(dir.path) + " --out " + q(dir.path / "x.csv")).status == 0);
  auto rows = parse_csv(slurp(dir.path / "x.csv"));
  set_translation(rows, "nodes.leccion-1.message", "A revised first lesson.");
  set_translation(rows, "nodes.leccion-2.message", "A revised second lesson.");
  // The flow's Spanish changes after the export: that row is stale.
  const std::string original = slurp(flow_file);
  const std::string edited = replace_once(original, "⚠️ El Convenio 182 de la OIT pide", "⚠️ El Convenio núm. 182 de la OIT pide");
  write(flow_file, edited);
  // A row taken out (missing), an empty translation (missing), an id that does not exist.
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](const auto& r) { return r[0] == "nodes.jornada.feedback.retry"; }),
             rows.end());
  set_translation(rows, "nodes.peligroso.quiz", "");
  rows.push_back({"nodes.no-existe.quiz", "¿Qué?", "What?"});
  write(dir.path / "x.csv", to_csv(rows));

  auto r = run("i18n import " + q(dir.path / "x.csv") + " --lang en --flow leccion-muestra --flows " + q(dir.path));
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(contains(r.out, "stale: 1"));
  CHECK(contains(r.out, "    nodes.leccion-2.message (line "));
  CHECK(contains(r.out, "missing: 2"));
  CHECK(contains(r.out, "    nodes.jornada.feedback.retry (keeps its current translation)"));
  CHECK(contains(r.out, "    nodes.peligroso.quiz (keeps its current translation)"));
  CHECK(contains(r.out, "unknown ids: 1"));
  CHECK(contains(r.out, "    nodes.no-existe.quiz (line "));
  CHECK(contains(r.out, "nothing written"));
  CHECK(slurp(flow_file) == edited);

  // --force applies the good row only.
  r = run("i18n import " + q(dir.path / "x.csv") + " --lang en --flow leccion-muestra --force --flows " + q(dir.path));
  INFO(r.out);
  CHECK(r.status == 0);
  YAML::Node root = YAML::LoadFile(flow_file.string());
  CHECK(root["nodes"]["leccion-1"]["message"]["en"].as<std::string>() == "A revised first lesson.");
  CHECK(root["nodes"]["leccion-2"]["message"]["en"].as<std::string>() != "A revised second lesson.");
  CHECK(root["nodes"]["peligroso"]["quiz"]["en"].as<std::string>() == "A 16-year-old girl works in a mine. Is it allowed?");
}

TEST_CASE("aula i18n neutralizes spreadsheet formulas on export and restores them on import") {
  temp_dir dir;
  write(dir.path / "dificil.yaml", flow_with_tricky_texts);
  REQUIRE(run("i18n export dificil --lang en --flows " + q(dir.path) + " --out " + q(dir.path / "f.csv")).status == 0);
  const std::string csv = slurp(dir.path / "f.csv");
  // In the file's bytes: no cell begins with a formula character.
  CHECK(contains(csv, "\r\nnodes.rol.invalid,'=Elige 1 o 2,\r\n"));
  CHECK(contains(csv, "\r\nnodes.fin.message,\"'+52 55 1234 5678, llámanos\",\"'+52 55 1234 5678, call us\"\r\n"));
  for (const auto& row : parse_csv(csv))
    for (const auto& cell : row) CHECK_FALSE((!cell.empty() && std::string("=+-@\t\r").find(cell[0]) != std::string::npos));

  // Translations typed with (or without) the apostrophe arrive without it.
  auto rows = parse_csv(csv);
  set_translation(rows, "nodes.rol.invalid", "'=Choose 1 or 2");
  set_translation(rows, "nodes.rol.question", "-Your role?");
  set_translation(rows, "nodes.hola.message", "'@hello, it's me");
  write(dir.path / "f.csv", to_csv(rows));
  auto r = run("i18n import " + q(dir.path / "f.csv") + " --lang en --flows " + q(dir.path));
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "stale: 0"));  // the sources compare equal once restored
  YAML::Node root = YAML::LoadFile((dir.path / "dificil.yaml").string());
  CHECK(root["nodes"]["rol"]["invalid"]["en"].as<std::string>() == "=Choose 1 or 2");
  CHECK(root["nodes"]["rol"]["invalid"]["es"].as<std::string>() == "=Elige 1 o 2");
  CHECK(root["nodes"]["rol"]["question"]["en"].as<std::string>() == "-Your role?");
  CHECK(root["nodes"]["hola"]["message"]["en"].as<std::string>() == "@hello, it's me");
  CHECK(root["nodes"]["fin"]["message"]["en"].as<std::string>() == "+52 55 1234 5678, call us");
}

TEST_CASE("aula i18n import --dry-run reports and changes nothing") {
  temp_dir dir;
  copy_flows(dir.path);
  REQUIRE(run("i18n export diagnostico --lang en --flows " + q(dir.path) + " --out " + q(dir.path / "d.csv")).status == 0);
  auto rows = parse_csv(slurp(dir.path / "d.csv"));
  set_translation(rows, "nodes.estado.options.cdmx.label", "Mexico City (CDMX)");
  write(dir.path / "d.csv", to_csv(rows));
  const std::string before = slurp(dir.path / "diagnostico.yaml");
  auto r = run("i18n import " + q(dir.path / "d.csv") + " --lang en --flow diagnostico --dry-run --flows " + q(dir.path));
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(contains(r.out, "applied: 1"));
  CHECK(contains(r.out, "dry run"));
  CHECK(contains(r.out, "+       - {id: cdmx, label: {es: \"Ciudad de México\", en: \"Mexico City (CDMX)\"}}"));
  CHECK(slurp(dir.path / "diagnostico.yaml") == before);
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.path)) files.insert(e.path().filename().string());
  CHECK(files.count("diagnostico.yaml") == 1);
  CHECK(std::none_of(files.begin(), files.end(), [](const std::string& f) { return f.starts_with("."); }));
  // Without --dry-run it is written, and the new label answers the question.
  r = run("i18n import " + q(dir.path / "d.csv") + " --lang en --flow diagnostico --flows " + q(dir.path));
  CHECK(r.status == 0);
  CHECK(slurp(dir.path / "diagnostico.yaml") != before);
  CHECK(run("validate " + q(dir.path)).status == 0);
}

TEST_CASE("aula i18n import reads a semicolon CSV as a Spanish-locale Excel saves it") {
  temp_dir dir;
  copy_flows(dir.path);
  std::string csv = "\xEF\xBB\xBFid;source;translation\r\n"
                    "nodes.estado.options.mex.label;Estado de México;Mexico State\r\n"
                    "nodes.anios.question;\"¿Cuántos años llevas en esta función? (Escribe un número; 0 si es menos de un año.)\";"
                    "\"How many years in this role? (A number; 0 if under a year.)\"\r\n";
  write(dir.path / "diagnostico.en.csv", csv);
  auto r = run("i18n import " + q(dir.path / "diagnostico.en.csv") + " --lang en --flows " + q(dir.path));
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "applied: 2"));
  YAML::Node root = YAML::LoadFile((dir.path / "diagnostico.yaml").string());
  CHECK(root["nodes"]["anios"]["question"]["en"].as<std::string>() == "How many years in this role? (A number; 0 if under a year.)");
  CHECK(root["nodes"]["estado"]["options"][14]["label"]["en"].as<std::string>() == "Mexico State");
}

TEST_CASE("aula i18n refuses a CSV that is not UTF-8 and an unknown flow") {
  temp_dir dir;
  copy_flows(dir.path);
  // "México" in Windows-1252, as Excel's plain "CSV" format writes it.
  write(dir.path / "latin1.csv", "id,source,translation\r\nnodes.estado.options.mex.label,Estado de M\xE9xico,State\r\n");
  const std::string before = slurp(dir.path / "diagnostico.yaml");
  auto r = run("i18n import " + q(dir.path / "latin1.csv") + " --lang en --flow diagnostico --flows " + q(dir.path));
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(contains(r.out, "not UTF-8"));
  CHECK(slurp(dir.path / "diagnostico.yaml") == before);
  r = run("i18n export nada --lang en --flows " + q(dir.path));
  CHECK(r.status == 1);
  CHECK(contains(r.out, "no flow 'nada'"));
}
