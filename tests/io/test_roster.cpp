// The learner roster of `aula enroll`: CSV reading (delimiters, BOM, CRLF, quoted cells), the
// header's Spanish and English names, each row rule with its line, column and message, the
// duplicates, and Mexico's states and their time zones.
#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "bot/engine/timing.hpp"
#include "bot/service/roster.hpp"

namespace {

using namespace aula;

std::string describe(const roster& r) {
  std::ostringstream o;
  o << r.rows.size() << " rows; problems:";
  for (const auto& p : r.problems) o << "\n  line " << p.line << " [" << p.column << "] " << p.message;
  return o.str();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const std::string rules_header = "nombre,canal,telefono,idioma,estado,consentimiento,zona_horaria,rol\n";

}  // namespace

TEST_CASE("roster: a good file with Spanish headers, semicolons, a BOM, CRLF and quoted cells") {
  const std::string csv =
      "\xEF\xBB\xBF"
      "Nombre;Teléfono;Estado;Consentimiento;Rol;Municipio\r\n"
      "\"Pérez; Ana, \"\"La Inspectora\"\" 🦉\";+52 1 55 1234 5678;Ciudad de México;formulario 2026-11-20;"
      "Inspectora federal;Coyoacán\r\n"
      "\"Ñandú\r\nGómez\";55 8765 4321;Quintana Roo;llamada ¿sí? ¡sí!;;\r\n"
      "\r\n"
      "José Ávila;+52 (81) 1111-2222;  nuevo leon ;formulario;=SUMA(A1);\r\n";
  const roster r = parse_roster(csv);
  INFO(describe(r));
  REQUIRE(r.problems.empty());
  CHECK(r.columns == std::vector<std::string>{"name", "address", "state", "consent", "role", "municipio"});
  REQUIRE(r.rows.size() == 3);

  const auto& ana = r.rows[0];
  CHECK(ana.line == 2);
  CHECK(ana.name == "Pérez; Ana, \"La Inspectora\" 🦉");
  CHECK(ana.channel == "whatsapp");
  CHECK(ana.address == "+525512345678");
  CHECK(ana.conversation() == "whatsapp:+525512345678");
  CHECK(ana.language == "es");
  CHECK(ana.state == "Ciudad de México");
  CHECK(ana.tz == "America/Mexico_City");
  CHECK(ana.consent == "formulario 2026-11-20");
  CHECK(ana.role == "Inspectora federal");
  CHECK(ana.extra == std::map<std::string, std::string>{{"municipio", "Coyoacán"}});

  const auto& nandu = r.rows[1];
  CHECK(nandu.line == 3);
  CHECK(nandu.name == "Ñandú\nGómez");  // the line break inside quotes, CRLF kept as "\n"
  CHECK(nandu.address == "+525587654321");
  CHECK(nandu.tz == "America/Cancun");
  CHECK(nandu.consent == "llamada ¿sí? ¡sí!");
  CHECK(nandu.role.empty());
  CHECK(nandu.extra.empty());  // an empty cell is not a contact field

  const auto& jose = r.rows[2];
  CHECK(jose.line == 6);  // the quoted line break and the blank line count
  CHECK(jose.name == "José Ávila");
  CHECK(jose.address == "+528111112222");
  CHECK(jose.state == "nuevo leon");  // as written, trimmed
  CHECK(jose.tz == "America/Monterrey");
  CHECK(jose.role == "=SUMA(A1)");  // kept as text, never evaluated
}

TEST_CASE("roster: the delimiter comes from the header: comma, semicolon or tab") {
  struct example {
    std::string csv;
    std::string name;
  };
  const std::vector<example> examples{
      {"nombre,telefono,consentimiento\n\"Ruiz; Eva\",5512345678,sí\n", "Ruiz; Eva"},
      {"nombre;telefono;consentimiento\nRuiz, Eva;5512345678;sí\n", "Ruiz, Eva"},
      {"nombre\ttelefono\tconsentimiento\nRuiz, Eva; R.\t5512345678\tsí\n", "Ruiz, Eva; R."},
      // A header cell with a comma inside quotes does not make ',' the delimiter.
      {"nombre;\"notas, comentarios\";telefono;consentimiento\nEva;a, b;5512345678;sí", "Eva"},
  };
  for (const auto& e : examples) {
    const roster r = parse_roster(e.csv);
    INFO(e.csv << "\n" << describe(r));
    REQUIRE(r.problems.empty());
    REQUIRE(r.rows.size() == 1);
    CHECK(r.rows[0].name == e.name);
    CHECK(r.rows[0].address == "+525512345678");
  }
  const roster notes = parse_roster(examples[3].csv);
  REQUIRE(notes.rows.size() == 1);
  CHECK(notes.rows[0].extra.at("notas, comentarios") == "a, b");
}

TEST_CASE("roster: English headers, any case and accents, and the extra columns") {
  const std::string csv =
      "NAME\tPhone\tLang\tSTATE\tOpt-in\tTime Zone\tCargo\tChannel\tGénero\tE-mail\n"
      "Ann Lee\t+1 415 555 0100\tEnglish\tSonora\tweb form\tAmerica/Mexico_City\tsupervisor\tSMS\tF\tann@example.org\n";
  const roster r = parse_roster(csv);
  INFO(describe(r));
  REQUIRE(r.problems.empty());
  CHECK(r.columns == std::vector<std::string>{"name", "address", "language", "state", "consent", "tz", "role",
                                              "channel", "género", "e-mail"});
  REQUIRE(r.rows.size() == 1);
  const auto& ann = r.rows[0];
  CHECK(ann.channel == "sms");
  CHECK(ann.address == "+14155550100");
  CHECK(ann.language == "en");
  CHECK(ann.tz == "America/Mexico_City");  // the tz column overrides Sonora's America/Hermosillo
  CHECK(ann.role == "supervisor");
  CHECK(ann.extra == std::map<std::string, std::string>{{"género", "F"}, {"e-mail", "ann@example.org"}});
}

TEST_CASE("roster: each row rule reports its line, column and what to do") {
  struct rule {
    std::string row;  // under rules_header, so on line 2
    std::string column;
    std::string message;
  };
  const std::string long_name(201, 'a');
  const std::vector<rule> rules{
      {",whatsapp,5512345678,es,Jalisco,formulario,,", "nombre", "the name is empty"},
      {"   ,whatsapp,5512345678,es,Jalisco,formulario,,", "nombre", "the name is empty"},
      {long_name + ",whatsapp,5512345678,es,Jalisco,formulario,,", "nombre",
       "the name is too long (201 characters; at most 200)"},
      {"Ana,fax,5512345678,es,Jalisco,formulario,,", "canal",
       "unknown channel 'fax': use whatsapp, sms, telegram or web"},
      {"Ana,whatsapp,hola,es,Jalisco,formulario,,", "telefono",
       "not a phone number: 'hola'; write it with the country code, e.g. +52 55 1234 5678"},
      {"Ana,sms,123,es,Jalisco,,,", "telefono", "not a phone number: '123'"},
      {"Ana,sms,+52 55 1234 5678 9012 345,es,Jalisco,,,", "telefono", "not a phone number"},
      {"Ana,whatsapp,5.21551E+12,es,Jalisco,formulario,,", "telefono", "scientific notation"},
      {"Ana,whatsapp,,es,Jalisco,formulario,,", "telefono", "no phone number: a whatsapp learner needs one"},
      {"Ana,telegram,-1001234567,es,Jalisco,,,", "telefono", "negative Telegram chat ids are groups"},
      {"Ana,telegram,@ana_mx,es,Jalisco,,,", "telefono", "a bot cannot message a Telegram @username"},
      {"Ana,telegram,12ab,es,Jalisco,,,", "telefono", "not a Telegram chat id: '12ab'"},
      {"Ana,web,abc,es,Jalisco,,,", "telefono", "not a web chat id: 'abc'; it is the 32 lower-case hex characters"},
      {"Ana,web,0123456789ABCDEF0123456789ABCDEF,es,Jalisco,,,", "telefono", "not a web chat id"},
      {"Ana,web,,es,Jalisco,,,", "telefono", "no web chat id"},
      {"Ana,whatsapp,5512345678,fr,Jalisco,formulario,,", "idioma", "unknown language 'fr': use es (español) or en"},
      {"Ana,whatsapp,5512345678,es,Jaliso,formulario,,", "estado", "unknown state 'Jaliso' (did you mean 'Jalisco'?)"},
      {"Ana,whatsapp,5512345678,es,Michoacam,formulario,,", "estado", "(did you mean 'Michoacán'?)"},
      {"Ana,whatsapp,5512345678,es,Atlantis,formulario,,", "estado",
       "unknown state 'Atlantis': write one of Mexico's 32 states"},
      {"Ana,whatsapp,5512345678,es,Jalisco,formulario,Mars/Olympus,", "zona_horaria",
       "unknown time zone 'Mars/Olympus': write an IANA name such as America/Mexico_City"},
      {"Ana,whatsapp,5512345678,es,Jalisco,,,", "consentimiento",
       "WhatsApp needs the learner's opt-in: say how it was obtained (e.g. 'formulario 2026-11-20')"},
      {"Ana,,5512345678,es,Jalisco,,,", "consentimiento", "WhatsApp needs the learner's opt-in"},  // default channel
      {"Ana,sms,5512345678,es,Jalisco,No,,", "consentimiento", "the learner declined ('No')"},
      {"Ana,whatsapp,5512345678,es,Jalisco,formulario,,,sobra", "", "the row has 9 cells but the header has 8"},
      {"\"Ana,whatsapp,5512345678,es,Jalisco,formulario,,", "", "a quoted cell is never closed"},
      {"Jos\xE9,whatsapp,5512345678,es,Jalisco,formulario,,", "nombre", "not UTF-8 text"},
      {"Ana,whatsapp,5512345678,es,Quer\xE9taro,formulario,,", "estado", "save it as 'CSV UTF-8'"},
  };
  for (const auto& rule : rules) {
    const roster r = parse_roster(rules_header + rule.row + "\n");
    INFO(rule.row << "\n" << describe(r));
    CHECK(r.rows.empty());
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].line == 2);
    CHECK(r.problems[0].column == rule.column);
    CHECK(contains(r.problems[0].message, rule.message));
    // Invalid bytes are never passed on, not even in a message.
    CHECK(r.problems[0].message.find('\xE9') == std::string::npos);
  }
}

TEST_CASE("roster: a row with several problems reports them all") {
  const roster r = parse_roster(rules_header +
                                "Eva,whatsapp,5512345678,es,Jalisco,formulario,,\n"
                                ",fax,5512345678,xx,Texas,,Nowhere/City,\n");
  INFO(describe(r));
  REQUIRE(r.rows.size() == 1);
  CHECK(r.rows[0].line == 2);
  REQUIRE(r.problems.size() == 5);
  std::vector<std::string> columns;
  for (const auto& p : r.problems) {
    CHECK(p.line == 3);
    columns.push_back(p.column);
  }
  // An unknown channel leaves the address unchecked (and the consent rule needs the channel).
  CHECK(columns == std::vector<std::string>{"nombre", "canal", "idioma", "estado", "zona_horaria"});
}

TEST_CASE("roster: the accepted forms of each value") {
  struct good {
    std::string row;
    std::string channel, address, language, tz, conversation;
  };
  const std::string e200 = [] {
    std::string s;
    for (int i = 0; i < 200; ++i) s += "é";
    return s;
  }();
  const std::string web_id = "0123456789abcdef0123456789abcdef";
  const std::vector<good> goods{
      {"Ana,mensaje,55 1234 5678,,,,,", "sms", "+525512345678", "es", "America/Mexico_City", "sms:+525512345678"},
      {"Ana,SMS,0052 55 1234 5678,es,,,,", "sms", "+525512345678", "es", "America/Mexico_City", "sms:+525512345678"},
      {"Ana,WhatsApp,521 55 1234 5678,Español,Yucatán,sí,,", "whatsapp", "+525512345678", "es", "America/Merida",
       "whatsapp:+525512345678"},
      {"Ana,whatsapp,+1 (415) 555-0100,english,BCS,sí,,", "whatsapp", "+14155550100", "en", "America/Mazatlan",
       "whatsapp:+14155550100"},
      {"Ana,Telegram,123456789,EN,Sonora,,,", "telegram", "123456789", "en", "America/Hermosillo",
       "telegram:123456789"},
      {"Ana,telegram,,,,,,", "telegram", "", "es", "America/Mexico_City", ""},
      {"Ana,web," + web_id + ",,Edomex,,America/Bahia_Banderas,", "web", web_id, "es", "America/Bahia_Banderas",
       "web:" + web_id},
      {e200 + ",sms,5512345678,,,,,", "sms", "+525512345678", "es", "America/Mexico_City", "sms:+525512345678"},
      {"+Ana,sms,5512345678,,,,,@rol", "sms", "+525512345678", "es", "America/Mexico_City", "sms:+525512345678"},
  };
  for (const auto& g : goods) {
    const roster r = parse_roster(rules_header + g.row + "\n");
    INFO(g.row << "\n" << describe(r));
    REQUIRE(r.problems.empty());
    REQUIRE(r.rows.size() == 1);
    CHECK(r.rows[0].line == 2);
    CHECK(r.rows[0].channel == g.channel);
    CHECK(r.rows[0].address == g.address);
    CHECK(r.rows[0].language == g.language);
    CHECK(r.rows[0].tz == g.tz);
    CHECK(r.rows[0].conversation() == g.conversation);
  }
  // Cells starting with + and @ are kept as written.
  const roster r = parse_roster(rules_header + goods.back().row + "\n");
  REQUIRE(r.rows.size() == 1);
  CHECK(r.rows[0].name == "+Ana");
  CHECK(r.rows[0].role == "@rol");
}

TEST_CASE("roster: the default channel applies to a file without a channel column") {
  const roster sms = parse_roster("nombre,telefono\nAna,5512345678\n", "sms");
  INFO(describe(sms));
  REQUIRE(sms.rows.size() == 1);
  CHECK(sms.rows[0].conversation() == "sms:+525512345678");

  // WhatsApp by default: consent is required, and without the column the message says where.
  const roster wa = parse_roster("nombre,telefono\nAna,5512345678\n");
  REQUIRE(wa.problems.size() == 1);
  CHECK(wa.problems[0].line == 2);
  CHECK(wa.problems[0].column == "");
  CHECK(contains(wa.problems[0].message, "WhatsApp needs the learner's opt-in"));
  CHECK(contains(wa.problems[0].message, "consentimiento column"));

  // Telegram: no address column at all; every learner gets a deep link.
  const roster tg = parse_roster("nombre;estado\nAna;Chihuahua\nLuis;Nayarit\n", "telegram");
  INFO(describe(tg));
  REQUIRE(tg.problems.empty());
  REQUIRE(tg.rows.size() == 2);
  CHECK(tg.rows[0].channel == "telegram");
  CHECK(tg.rows[0].address.empty());
  CHECK(tg.rows[0].conversation().empty());
  CHECK(tg.rows[0].tz == "America/Chihuahua");
  CHECK(tg.rows[1].tz == "America/Mazatlan");

  // …but a row that says whatsapp in such a file needs a number.
  const roster mixed = parse_roster("nombre;canal;consentimiento\nAna;whatsapp;sí\n", "telegram");
  REQUIRE(mixed.problems.size() == 1);
  CHECK(contains(mixed.problems[0].message, "no phone number"));
  CHECK(contains(mixed.problems[0].message, "the file has no address column"));
}

TEST_CASE("roster: the same learner twice is a problem on the later line") {
  const std::string csv =
      "nombre;canal;telefono;consentimiento\n"
      "Ana;whatsapp;+52 1 55 1234 5678;formulario\n"     // line 2
      "Ana (SMS);sms;5512345678;\n"                      // line 3: another channel, another conversation
      "Luis;telegram;;\n"                                // line 4: deep links are never duplicates
      "Luisa;telegram;;\n"                               // line 5
      "Ana otra vez;whatsapp;55 1234 5678;formulario\n"  // line 6: the number of line 2, written otherwise
      "Eva;whatsapp;5587654321;\n"                       // line 7: invalid (no consent)…
      "Eva;whatsapp;5587654321;formulario\n";            // line 8: …but still the first of this number
  const roster r = parse_roster(csv);
  INFO(describe(r));
  std::vector<int> lines;
  for (const auto& row : r.rows) lines.push_back(row.line);
  CHECK(lines == std::vector<int>{2, 3, 4, 5});
  REQUIRE(r.problems.size() == 3);
  CHECK(r.problems[0].line == 6);
  CHECK(r.problems[0].column == "telefono");
  CHECK(contains(r.problems[0].message, "duplicate of line 2"));
  CHECK(contains(r.problems[0].message, "whatsapp:+525512345678"));
  CHECK(r.problems[1].line == 7);
  CHECK(r.problems[1].column == "consentimiento");
  CHECK(r.problems[2].line == 8);
  CHECK(contains(r.problems[2].message, "duplicate of line 7"));
}

TEST_CASE("roster: blank lines, empty spreadsheet rows and line numbers") {
  const std::string csv =
      "\n\n"
      "nombre;telefono;consentimiento\n"  // line 3
      ";;\n"
      "   \n"
      "\"Ana\nMaría\";5512345678;\"dijo \"\"sí\"\"\"\n"  // lines 6-7
      "Luis;5587654321;sí";                              // line 8, no final newline
  const roster r = parse_roster(csv);
  INFO(describe(r));
  REQUIRE(r.problems.empty());
  REQUIRE(r.rows.size() == 2);
  CHECK(r.rows[0].line == 6);
  CHECK(r.rows[0].name == "Ana\nMaría");
  CHECK(r.rows[0].consent == "dijo \"sí\"");
  CHECK(r.rows[1].line == 8);
  CHECK(r.rows[1].name == "Luis");
}

TEST_CASE("roster: a value under an unnamed column is a problem, an empty unnamed column is not") {
  const roster r = parse_roster("nombre;telefono;consentimiento;;\nAna;5512345678;sí;;\nLuis;5587654321;sí;x;\n");
  INFO(describe(r));
  CHECK(r.columns == std::vector<std::string>{"name", "address", "consent", "", ""});
  REQUIRE(r.rows.size() == 1);
  CHECK(r.rows[0].extra.empty());
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].line == 3);
  CHECK(contains(r.problems[0].message, "a value under column 4, which has no header"));
}

TEST_CASE("roster: header problems are reported at line 1 and no row is read") {
  struct header_case {
    std::string csv;
    std::string default_channel;
    std::string column;
    std::vector<std::string> message_parts;
  };
  const std::vector<header_case> cases{
      {"telefono,estado\n5512345678,Jalisco\n", "whatsapp", "", {"no name column", "nombre", "telefono", "chat_id"}},
      {"nombre,estado\nAna,Jalisco\n",
       "whatsapp",
       "",
       {"no address column", "only a Telegram roster may leave the address out"}},
      {"nombre,estado\nAna,Jalisco\n", "sms", "", {"no address column"}},
      {"Ana López,+52 55 1234 5678,Jalisco\nLuis,5587654321,Puebla\n",
       "whatsapp",
       "",
       {"no name column and no address column", "the first line looks like a learner"}},
      {"", "whatsapp", "", {"the file is empty", "nombre"}},
      {"\xEF\xBB\xBF\r\n\r\n", "whatsapp", "", {"the file is empty"}},
      {"nombre,telefono,Celular\nAna,5512345678,5587654321\n",
       "whatsapp",
       "Celular",
       {"column 'Celular' repeats column 'telefono' (both are the address): keep one"}},
      {"nombre,telefono,notas,Notas\nAna,5512345678,a,b\n", "whatsapp", "Notas", {"repeats column 'notas'"}},
      {"nombre,tel\xE9"
       "fono\nAna,5512345678\n",
       "whatsapp",
       "",
       {"header: not UTF-8 text", "CSV UTF-8"}},
      {"nombre,telefono\nAna,5512345678\n", "fax", "", {"unknown default channel 'fax'"}},
      {"nombre,\"telefono\nAna,5512345678\n", "whatsapp", "", {"never closed"}},
  };
  for (const auto& c : cases) {
    const roster r = parse_roster(c.csv, c.default_channel);
    INFO(c.csv << "\n" << describe(r));
    CHECK(r.rows.empty());
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].line == 1);
    CHECK(r.problems[0].column == c.column);
    for (const auto& part : c.message_parts) {
      INFO(part);
      CHECK(contains(r.problems[0].message, part));
    }
  }
  // Leading blank lines: the header's own line.
  const roster late = parse_roster("\n\nnombre\nAna\n");
  REQUIRE(late.problems.size() == 1);
  CHECK(late.problems[0].line == 3);
  CHECK(contains(late.problems[0].message, "no address column"));
}

TEST_CASE("roster: every one of Mexico's 32 states has a time zone the tz database knows") {
  const std::vector<std::string> states{"Aguascalientes",   "Baja California", "Baja California Sur",
                                        "Campeche",         "Chiapas",         "Chihuahua",
                                        "Ciudad de México", "Coahuila",        "Colima",
                                        "Durango",          "Guanajuato",      "Guerrero",
                                        "Hidalgo",          "Jalisco",         "Estado de México",
                                        "Michoacán",        "Morelos",         "Nayarit",
                                        "Nuevo León",       "Oaxaca",          "Puebla",
                                        "Querétaro",        "Quintana Roo",    "San Luis Potosí",
                                        "Sinaloa",          "Sonora",          "Tabasco",
                                        "Tamaulipas",       "Tlaxcala",        "Veracruz",
                                        "Yucatán",          "Zacatecas"};
  REQUIRE(std::set<std::string>(states.begin(), states.end()).size() == 32);
  std::set<std::string> names;
  for (const auto& s : states) {
    INFO(s);
    const std::string tz = time_zone_of_state(s);
    CHECK(tz.starts_with("America/"));
    CHECK(known_time_zone(tz));
    CHECK(state_name(s) == s);
    names.insert(state_name(s));
  }
  CHECK(names.size() == 32);  // no two states collapse into one

  struct spot {
    std::string state, tz;
  };
  const std::vector<spot> spots{
      {"CDMX", "America/Mexico_City"},
      {"ciudad de mexico", "America/Mexico_City"},
      {"D.F.", "America/Mexico_City"},
      {"Edomex", "America/Mexico_City"},
      {"Edo. Méx.", "America/Mexico_City"},
      {"ESTADO DE MÉXICO", "America/Mexico_City"},
      {"Jalisco", "America/Mexico_City"},
      {"Estado de Jalisco", "America/Mexico_City"},
      {"Quintana Roo", "America/Cancun"},
      {"Q. Roo", "America/Cancun"},
      {"Baja California", "America/Tijuana"},
      {"B.C.", "America/Tijuana"},
      {"Baja California Sur", "America/Mazatlan"},
      {"B.C.S.", "America/Mazatlan"},
      {"Sinaloa", "America/Mazatlan"},
      {"NAYARIT", "America/Mazatlan"},
      {"Sonora", "America/Hermosillo"},
      {"Chihuahua", "America/Chihuahua"},
      {"Yucatán", "America/Merida"},
      {"yucatan", "America/Merida"},
      {"Campeche", "America/Merida"},
      {"Nuevo León", "America/Monterrey"},
      {"N.L.", "America/Monterrey"},
      {"Coahuila de Zaragoza", "America/Monterrey"},
      {"Tamaulipas", "America/Monterrey"},
      {"Durango", "America/Monterrey"},
      {"  Michoacán de Ocampo ", "America/Mexico_City"},
      {"Veracruz de Ignacio de la Llave", "America/Mexico_City"},
      {"SLP", "America/Mexico_City"},
      {"Querétaro de Arteaga", "America/Mexico_City"},
  };
  for (const auto& s : spots) {
    INFO(s.state);
    CHECK(time_zone_of_state(s.state) == s.tz);
  }
  CHECK(state_name("cdmx") == "Ciudad de México");
  CHECK(state_name("Edomex") == "Estado de México");
  CHECK(time_zone_of_state("Texas").empty());
  CHECK(time_zone_of_state("Baja").empty());
  CHECK(time_zone_of_state("").empty());
  CHECK(time_zone_of_state("   ").empty());
}
