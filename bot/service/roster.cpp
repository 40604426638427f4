#include "bot/service/roster.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>

#include "adapters/phone.hpp"
#include "bot/engine/text.hpp"
#include "bot/engine/timing.hpp"

namespace aula {

std::string roster_row::conversation() const { return address.empty() ? std::string() : channel + ":" + address; }

namespace {

// ---------------------------------------------------------------------------------------------
// Mexico's states and their time zones
//
// Current rules (Mexico ended daylight saving time in October 2022, except along the US border,
// where the municipalities follow the US dates under their own zones: America/Tijuana for all of
// Baja California, America/Ciudad_Juarez and America/Ojinaga in Chihuahua, America/Matamoros in
// parts of Coahuila, Nuevo León and Tamaulipas). One zone per state, the one of most of its
// people, as tzdb's zone1970.tab describes them:
//
//   America/Mexico_City  UTC-6      Aguascalientes, Chiapas, Ciudad de México, Colima,
//                                   Estado de México, Guanajuato, Guerrero, Hidalgo, Jalisco,
//                                   Michoacán, Morelos, Oaxaca, Puebla, Querétaro, San Luis
//                                   Potosí, Tabasco, Tlaxcala, Veracruz, Zacatecas
//   America/Monterrey    UTC-6      Coahuila, Nuevo León, Tamaulipas (their border strip:
//                                   America/Matamoros, with US DST), and Durango (tzdb puts
//                                   Durango in Monterrey; today the same time as Mexico_City)
//   America/Merida       UTC-6      Campeche, Yucatán
//   America/Chihuahua    UTC-6      Chihuahua (since 2022; Ciudad Juárez and Ojinaga: own zones)
//   America/Cancun       UTC-5      Quintana Roo
//   America/Mazatlan     UTC-7      Baja California Sur, Nayarit, Sinaloa (Nayarit's Bahía de
//                                   Banderas is America/Bahia_Banderas, UTC-6: a learner there
//                                   needs the tz column)
//   America/Hermosillo   UTC-7      Sonora (never had DST since 1999)
//   America/Tijuana      UTC-8/-7   Baja California (US DST dates)
//
// Names are matched on fold() with spaces removed, so accents, case and punctuation do not
// matter: "Q. Roo" -> "qroo", "B.C.S." -> "bcs", "Edo. Méx." -> "edomex". The short forms are
// the usual ones (INEGI / postal abbreviations and everyday names).
struct state_entry {
  const char* name;  // official short name, as shown in hints
  const char* zone;
  std::array<const char*, 6> aliases;  // folded, without spaces; unused slots nullptr
};

const std::array<state_entry, 32>& states() {
  static const std::array<state_entry, 32> table{{
      {"Aguascalientes", "America/Mexico_City", {"ags"}},
      {"Baja California", "America/Tijuana", {"bc", "bajacalifornianorte", "bcn"}},
      {"Baja California Sur", "America/Mazatlan", {"bcs"}},
      {"Campeche", "America/Merida", {"camp", "cam"}},
      {"Chiapas", "America/Mexico_City", {"chis", "chps"}},
      {"Chihuahua", "America/Chihuahua", {"chih"}},
      {"Ciudad de México",
       "America/Mexico_City",
       {"cdmx", "df", "distritofederal", "mexicodf", "cddemexico", "mexicocity"}},
      {"Coahuila", "America/Monterrey", {"coahuiladezaragoza", "coah"}},
      {"Colima", "America/Mexico_City", {"col"}},
      {"Durango", "America/Monterrey", {"dgo"}},
      {"Guanajuato", "America/Mexico_City", {"gto"}},
      {"Guerrero", "America/Mexico_City", {"gro"}},
      {"Hidalgo", "America/Mexico_City", {"hgo"}},
      {"Jalisco", "America/Mexico_City", {"jal"}},
      {"Estado de México",
       "America/Mexico_City",
       {"edomex", "edodemexico", "edomexico", "mexico", "mex", "stateofmexico"}},
      {"Michoacán", "America/Mexico_City", {"michoacandeocampo", "mich"}},
      {"Morelos", "America/Mexico_City", {"mor"}},
      {"Nayarit", "America/Mazatlan", {"nay"}},
      {"Nuevo León", "America/Monterrey", {"nl"}},
      {"Oaxaca", "America/Mexico_City", {"oax"}},
      {"Puebla", "America/Mexico_City", {"pue"}},
      {"Querétaro", "America/Mexico_City", {"queretarodearteaga", "qro"}},
      {"Quintana Roo", "America/Cancun", {"qroo", "qr"}},
      {"San Luis Potosí", "America/Mexico_City", {"slp"}},
      {"Sinaloa", "America/Mazatlan", {"sin"}},
      {"Sonora", "America/Hermosillo", {"son"}},
      {"Tabasco", "America/Mexico_City", {"tab"}},
      {"Tamaulipas", "America/Monterrey", {"tamps", "tamp"}},
      {"Tlaxcala", "America/Mexico_City", {"tlax"}},
      {"Veracruz", "America/Mexico_City", {"veracruzdeignaciodelallave", "ver"}},
      {"Yucatán", "America/Merida", {"yuc"}},
      {"Zacatecas", "America/Mexico_City", {"zac"}},
  }};
  return table;
}

std::string compact_key(std::string_view s) {
  std::string k = fold(s);
  k.erase(std::remove(k.begin(), k.end(), ' '), k.end());
  return k;
}

const state_entry* find_state_key(const std::string& key) {
  if (key.empty()) return nullptr;
  for (const auto& st : states()) {
    if (compact_key(st.name) == key) return &st;
    for (const char* a : st.aliases)
      if (a != nullptr && key == a) return &st;
  }
  return nullptr;
}

const state_entry* find_state(std::string_view s) {
  const std::string key = compact_key(s);
  if (const auto* st = find_state_key(key)) return st;
  // "Estado de Jalisco", "Edo. de Puebla", "Estado Sonora" (but "Estado de México" matched above).
  for (std::string_view prefix : {"estadode", "edode", "estado", "edo"})
    if (key.size() > prefix.size() && std::string_view(key).starts_with(prefix))
      if (const auto* st = find_state_key(key.substr(prefix.size()))) return st;
  return nullptr;
}

// The state whose name is closest to `s`, when close enough to be a typo ("Jaliso").
const state_entry* nearest_state(std::string_view s) {
  const std::string key = compact_key(s);
  if (key.size() < 4) return nullptr;
  const state_entry* best = nullptr;
  std::size_t best_d = 0;
  for (const auto& st : states()) {
    const std::size_t d = edit_distance(key, compact_key(st.name));
    if (best == nullptr || d < best_d) {
      best = &st;
      best_d = d;
    }
  }
  const std::size_t allowed = key.size() >= 10 ? 3 : 2;
  return best_d <= allowed ? best : nullptr;
}

// ---------------------------------------------------------------------------------------------
// Text

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t extra = 0;
    char32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated at the end
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

// Lower case for a header kept as written: ASCII and the Latin-1 capitals (Á É Í Ó Ú Ñ Ü …).
std::string lower_header(std::string_view s) {
  std::string out;
  for (char32_t cp : utf8_decode(s)) {
    if (cp >= 'A' && cp <= 'Z')
      cp += 32;
    else if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
      cp += 32;
    utf8_append(out, cp);
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string single_quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// ---------------------------------------------------------------------------------------------
// Columns and values

enum field { f_name, f_channel, f_address, f_language, f_state, f_role, f_consent, f_tz, f_count };

constexpr std::array<const char*, f_count> field_names{"name",  "channel", "address", "language",
                                                       "state", "role",    "consent", "tz"};

// A header, folded with its spaces as '_' ("Zona horaria" -> "zona_horaria", "Opt-in" ->
// "opt_in"), to its field; f_count for any other column.
field field_of_header(std::string_view header) {
  std::string key = fold(header);
  std::replace(key.begin(), key.end(), ' ', '_');
  static const std::pair<std::string_view, field> aliases[] = {
      {"nombre", f_name},
      {"name", f_name},
      {"canal", f_channel},
      {"channel", f_channel},
      {"telefono", f_address},
      {"phone", f_address},
      {"celular", f_address},
      {"whatsapp", f_address},
      {"direccion", f_address},
      {"address", f_address},
      {"chat_id", f_address},
      {"chatid", f_address},
      {"telegram", f_address},
      {"idioma", f_language},
      {"language", f_language},
      {"lang", f_language},
      {"estado", f_state},
      {"state", f_state},
      {"entidad", f_state},
      {"entidad_federativa", f_state},
      {"rol", f_role},
      {"role", f_role},
      {"cargo", f_role},
      {"consentimiento", f_consent},
      {"consent", f_consent},
      {"opt_in", f_consent},
      {"optin", f_consent},
      {"zona", f_tz},
      {"tz", f_tz},
      {"time_zone", f_tz},
      {"timezone", f_tz},
      {"zona_horaria", f_tz},
  };
  for (const auto& [alias, f] : aliases)
    if (key == alias) return f;
  return f_count;
}

// "WhatsApp", "mensaje", "Telegram", … -> the channel; "" when unknown.
std::string channel_of(std::string_view s) {
  const std::string k = fold(s);
  if (k == "whatsapp" || k == "whats app" || k == "wa") return "whatsapp";
  if (k == "sms" || k == "mensaje" || k == "mensajes" || k == "mensaje de texto") return "sms";
  if (k == "telegram") return "telegram";
  if (k == "web" || k == "chat web" || k == "web chat") return "web";
  return {};
}

std::string language_of(std::string_view s) {
  const std::string k = fold(s);
  if (k.empty() || k == "es" || k == "espanol" || k == "spanish" || k == "castellano") return "es";
  if (k == "en" || k == "english" || k == "ingles") return "en";
  return {};
}

// An explicit refusal written in the consent column.
bool declined(std::string_view s) {
  const std::string k = fold(s);
  return k == "no" || k == "n" || k == "false" || k == "falso" || k == "0" || k == "no acepta" || k == "no acepto" ||
         k == "rechazado" || k == "rechazo" || k == "sin consentimiento";
}

const char* const expected_columns =
    "the first line must name the columns: a name column (nombre or name) and an address column "
    "(telefono, phone, celular, whatsapp, direccion, address, chat_id or telegram); optional: canal/channel, "
    "idioma/language, estado/state, rol/role, consentimiento/consent, zona_horaria/tz; any other column is "
    "kept as a contact field. Example: nombre;telefono;estado;consentimiento";

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180, leniently: a quote inside an unquoted cell and text after a closing quote are
// kept as written; spaces before an opening quote are allowed)

struct record {
  int line = 0;
  std::vector<std::string> cells;
  bool unterminated = false;  // a quoted cell ran to the end of the file
};

// The delimiter of the header line (the first line with text): the most frequent of ',', ';'
// and tab outside quotes; ',' when none.
char detect_delimiter(std::string_view s) {
  std::size_t comma = 0, semicolon = 0, tab = 0;
  bool in_quotes = false, content = false;
  for (char c : s) {
    if (in_quotes) {
      if (c == '"') in_quotes = false;  // "" inside quotes toggles twice
      continue;
    }
    if (c == '"') {
      in_quotes = true;
      content = true;
    } else if (c == '\n' || c == '\r') {
      if (content) break;
    } else if (c == ',') {
      ++comma;
      content = true;
    } else if (c == ';') {
      ++semicolon;
      content = true;
    } else if (c == '\t') {
      ++tab;
    } else if (c != ' ') {
      content = true;
    }
  }
  if (semicolon > comma && semicolon >= tab) return ';';
  if (tab > comma && tab > semicolon) return '\t';
  return ',';
}

std::vector<record> read_records(std::string_view s, char delim) {
  std::vector<record> out;
  const std::size_t n = s.size();
  std::size_t i = 0;
  int line = 1;
  auto at_cell_end = [&](std::size_t k) { return k >= n || s[k] == delim || s[k] == '\r' || s[k] == '\n'; };
  while (i < n) {
    record r;
    r.line = line;
    while (true) {
      std::string cell;
      std::size_t j = i;
      while (j < n && (s[j] == ' ' || (s[j] == '\t' && delim != '\t'))) ++j;
      if (j < n && s[j] == '"') {
        i = j + 1;
        bool closed = false;
        while (i < n) {
          const char c = s[i];
          if (c == '"') {
            if (i + 1 < n && s[i + 1] == '"') {
              cell.push_back('"');
              i += 2;
              continue;
            }
            closed = true;
            ++i;
            break;
          }
          if (c == '\r' || c == '\n') {  // a line break inside quotes: kept as "\n"
            cell.push_back('\n');
            ++line;
            i += (c == '\r' && i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
            continue;
          }
          cell.push_back(c);
          ++i;
        }
        if (!closed) r.unterminated = true;
      }
      while (!at_cell_end(i)) cell.push_back(s[i++]);
      r.cells.push_back(std::move(cell));
      if (i < n && s[i] == delim) {
        ++i;
        continue;
      }
      if (i < n && s[i] == '\r') {
        ++i;
        if (i < n && s[i] == '\n') ++i;
        ++line;
      } else if (i < n && s[i] == '\n') {
        ++i;
        ++line;
      }
      break;
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool blank(const record& r) {
  return !r.unterminated &&
         std::all_of(r.cells.begin(), r.cells.end(), [](const std::string& c) { return trim(c).empty(); });
}

std::string utf8_problem(std::string_view cell) {
  if (!valid_utf8(cell))
    return "not UTF-8 text (the file was probably saved as ANSI/Latin-1): save it as 'CSV UTF-8' and import it again";
  if (cell.find('\0') != std::string_view::npos) return "contains a NUL character: remove it and import again";
  return {};
}

// ---------------------------------------------------------------------------------------------
// One row

struct header_info {
  std::vector<std::string> headers;  // as written, trimmed
  std::vector<field> fields;         // per column
  std::array<int, f_count> index{};  // field -> column, -1 when absent
};

// The address of `channel` from `raw` (trimmed), or "" with `problem` set. Telegram's may be
// "" without a problem (the learner gets a deep link).
std::string check_address(const std::string& channel, const std::string& raw, std::string& problem) {
  if (channel == "whatsapp" || channel == "sms") {
    const std::string how = "; write it with the country code, e.g. +52 55 1234 5678";
    if (raw.empty()) {
      problem = "no phone number: a " + channel + " learner needs one" + how;
      return {};
    }
    std::string e164 = normalize_phone(raw);
    // normalize_phone returns "" for garbage; it already asks 8-15 digits, checked again here
    // because the roster promises E.164.
    const bool ok =
        e164.size() >= 9 && e164.size() <= 16 && e164[0] == '+' && all_digits(std::string_view(e164).substr(1));
    if (!ok) {
      problem = "not a phone number: " + single_quoted(raw) + how;
      if (raw.find("E+") != std::string::npos || raw.find("e+") != std::string::npos)
        problem += " (the spreadsheet turned it into a number in scientific notation: format the column as text)";
      return {};
    }
    return e164;
  }
  if (channel == "telegram") {
    if (raw.empty()) return {};
    if (raw[0] == '-' && all_digits(std::string_view(raw).substr(1))) {
      problem =
          "negative Telegram chat ids are groups: " + single_quoted(raw) +
          "; aula talks to one learner at a time: use the learner's own chat id, or leave it empty to send a deep link";
      return {};
    }
    if (raw[0] == '@') {
      problem = "a bot cannot message a Telegram @username (" + single_quoted(raw) +
                "): write the learner's numeric chat id, or leave it empty to send a deep link";
      return {};
    }
    // Telegram's ids have at most 52 significant bits: up to 16 digits.
    if (!all_digits(raw) || raw.size() > 16 || raw.find_first_not_of('0') == std::string::npos) {
      problem = "not a Telegram chat id: " + single_quoted(raw) +
                "; it is digits only (the learner's chat with the bot), or leave it empty to send a deep link";
      return {};
    }
    return raw;
  }
  // web
  const bool ok = raw.size() == 32 && std::all_of(raw.begin(), raw.end(), [](char c) {
                    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                  });
  if (!ok) {
    problem = (raw.empty() ? std::string("no web chat id") : "not a web chat id: " + single_quoted(raw)) +
              "; it is the 32 lower-case hex characters the web chat made for the learner";
    return {};
  }
  return raw;
}

}  // namespace

std::string time_zone_of_state(std::string_view state) {
  const auto* st = find_state(state);
  return st != nullptr ? st->zone : "";
}

std::string state_name(std::string_view state) {
  const auto* st = find_state(state);
  return st != nullptr ? st->name : "";
}

roster parse_roster(std::string_view csv, const std::string& default_channel) {
  roster out;
  if (csv.starts_with("\xEF\xBB\xBF")) csv.remove_prefix(3);
  const char delim = detect_delimiter(csv);
  std::vector<record> records = read_records(csv, delim);
  std::erase_if(records, blank);

  if (records.empty()) {
    out.problems.push_back({1, "", std::string("the file is empty: ") + expected_columns});
    return out;
  }

  // The header.
  const record& head = records.front();
  auto file_problem = [&](std::string column, std::string message) {
    out.problems.push_back({head.line, std::move(column), std::move(message)});
  };
  const std::string default_ch = channel_of(default_channel);
  if (default_ch.empty())
    file_problem("",
                 "unknown default channel " + single_quoted(default_channel) + ": use whatsapp, sms, telegram or web");
  if (head.unterminated) {  // the open quote swallowed the whole file
    file_problem("", "a quoted cell of the header is never closed (a '\"' is missing): close the quote");
    return out;
  }
  header_info h;
  h.index.fill(-1);
  for (std::size_t k = 0; k < head.cells.size(); ++k) {
    if (const std::string why = utf8_problem(head.cells[k]); !why.empty()) {
      file_problem("", "header: " + why);
      h.headers.clear();
      break;
    }
    const std::string name = trim(head.cells[k]);
    const field f = name.empty() ? f_count : field_of_header(name);
    const std::string normalised = f == f_count ? lower_header(name) : field_names[f];
    h.headers.push_back(name);
    h.fields.push_back(f);
    out.columns.push_back(normalised);
    if (normalised.empty()) continue;
    // The same column twice ("telefono" and "celular" are both the address): ambiguous.
    for (std::size_t p = 0; p < k; ++p) {
      if (out.columns[p] == normalised) {
        file_problem(name, "column " + single_quoted(name) + " repeats column " + single_quoted(h.headers[p]) +
                               (f == f_count ? std::string() : " (both are the " + normalised + ")") +
                               ": keep one of them");
        break;
      }
    }
    if (f != f_count && h.index[f] < 0) h.index[f] = static_cast<int>(k);
  }
  if (!h.headers.empty()) {
    // A first line that holds a phone number is a learner, not a header.
    const bool looks_like_data = std::any_of(h.headers.begin(), h.headers.end(),
                                             [](const std::string& c) { return !normalize_phone(c).empty(); });
    const std::string hint =
        looks_like_data ? " (the first line looks like a learner: add a header line above it)" : "";
    const bool no_name = h.index[f_name] < 0, no_address = h.index[f_address] < 0 && default_ch != "telegram";
    if (no_name || no_address)
      file_problem(
          "",
          std::string(no_name ? "no name column" : "") + (no_name && no_address ? " and " : "") +
              (no_address ? "no address column" : "") + ": " + expected_columns +
              (no_address ? " (only a Telegram roster may leave the address out: its learners get a deep link)" : "") +
              hint);
  }
  if (!out.problems.empty()) return out;

  // The rows.
  std::map<std::string, int> first_line;  // conversation -> line where it first appeared
  for (std::size_t ri = 1; ri < records.size(); ++ri) {
    const record& r = records[ri];
    std::vector<roster_problem> problems;
    auto add = [&](int column, std::string message) {
      problems.push_back({r.line, column >= 0 ? h.headers[static_cast<std::size_t>(column)] : "", std::move(message)});
    };

    if (r.unterminated) {  // its cells are whatever the open quote swallowed: nothing else to check
      out.problems.push_back({r.line, "",
                              "a quoted cell is never closed (a '\"' is missing): the rest of the file was read into "
                              "it; close the quote"});
      continue;
    }

    std::vector<bool> bad(r.cells.size(), false);
    for (std::size_t k = 0; k < r.cells.size(); ++k) {
      const std::string why = utf8_problem(r.cells[k]);
      const int column = k < h.headers.size() ? static_cast<int>(k) : -1;
      if (!why.empty()) {
        bad[k] = true;
        add(column, why);
      } else if (!trim(r.cells[k]).empty() && (column < 0 || h.headers[k].empty())) {
        add(-1, column < 0 ? "the row has " + std::to_string(r.cells.size()) + " cells but the header has " +
                                 std::to_string(h.headers.size()) + ": quote any cell that contains the delimiter '" +
                                 std::string(delim == '\t' ? "tab" : std::string(1, delim)) + "'"
                           : "a value under column " + std::to_string(k + 1) +
                                 ", which has no header: name the column or clear it");
      }
    }

    // The trimmed cell of a field: "" when the column is absent or the cell missing; nullopt
    // when the cell is not valid text (already reported; not checked further, never echoed).
    auto get = [&](field f) -> std::optional<std::string> {
      const int k = h.index[f];
      if (k < 0 || static_cast<std::size_t>(k) >= r.cells.size()) return std::string();
      if (bad[static_cast<std::size_t>(k)]) return std::nullopt;
      return trim(r.cells[static_cast<std::size_t>(k)]);
    };

    // Cells are kept as written, including those starting with = + - @: the importer stores
    // them as text and never evaluates them. (A roster exported back to a spreadsheet must
    // escape them against formula injection.)
    roster_row row;
    row.line = r.line;

    if (auto name = get(f_name)) {
      if (name->empty())
        add(h.index[f_name], "the name is empty: every learner needs a name (the messages use it)");
      else if (const std::size_t len = code_points(*name); len > 200)
        add(h.index[f_name], "the name is too long (" + std::to_string(len) + " characters; at most 200): shorten it");
      row.name = *name;
    }

    if (auto ch = get(f_channel)) {
      row.channel = ch->empty() ? default_ch : channel_of(*ch);
      if (row.channel.empty())
        add(h.index[f_channel], "unknown channel " + single_quoted(*ch) + ": use whatsapp, sms, telegram or web");
    }

    if (auto addr = get(f_address); addr && !row.channel.empty()) {
      std::string problem;
      row.address = check_address(row.channel, *addr, problem);
      if (!problem.empty()) {
        if (h.index[f_address] < 0) problem += " (the file has no address column: add one)";
        add(h.index[f_address], problem);
      }
    }

    if (auto lang = get(f_language)) {
      row.language = language_of(*lang);
      if (row.language.empty())
        add(h.index[f_language], "unknown language " + single_quoted(*lang) +
                                     ": use es (español) or en (English), or leave it empty for es");
    }

    row.tz = default_time_zone;
    if (auto state = get(f_state)) {
      row.state = *state;
      if (!state->empty()) {
        if (const auto* st = find_state(*state)) {
          row.tz = st->zone;
        } else {
          std::string message = "unknown state " + single_quoted(*state);
          if (const auto* near = nearest_state(*state)) message += " (did you mean " + single_quoted(near->name) + "?)";
          add(h.index[f_state],
              message + ": write one of Mexico's 32 states, e.g. 'Jalisco', 'CDMX' or 'Edomex', or leave it empty");
        }
      }
    }
    if (auto tz = get(f_tz); tz && !tz->empty()) {
      if (known_time_zone(*tz))
        row.tz = *tz;
      else
        add(h.index[f_tz],
            "unknown time zone " + single_quoted(*tz) +
                ": write an IANA name such as America/Mexico_City, or leave it empty to use the state's");
    }

    if (auto role = get(f_role)) row.role = *role;

    if (auto consent = get(f_consent)) {
      row.consent = *consent;
      if (declined(*consent))
        add(h.index[f_consent],
            "the learner declined (" + single_quoted(*consent) + "): remove the row, or write how they opted in");
      else if (consent->empty() && row.channel == "whatsapp")
        add(h.index[f_consent],
            std::string("WhatsApp needs the learner's opt-in: say how it was obtained (e.g. 'formulario 2026-11-20')") +
                (h.index[f_consent] < 0 ? " in a consentimiento column" : ""));
    }

    for (std::size_t k = 0; k < h.headers.size() && k < r.cells.size(); ++k) {
      if (h.fields[k] != f_count || h.headers[k].empty() || bad[k]) continue;
      std::string value = trim(r.cells[k]);
      if (!value.empty()) row.extra[out.columns[k]] = std::move(value);
    }

    // The same learner twice: the first row stays, whatever its other problems.
    if (const std::string conv = row.conversation(); !conv.empty()) {
      const auto [it, inserted] = first_line.emplace(conv, r.line);
      if (!inserted)
        add(h.index[f_address], "duplicate of line " + std::to_string(it->second) + ": " + conv +
                                    " is already there; remove one of the two rows");
    }

    if (problems.empty())
      out.rows.push_back(std::move(row));
    else
      out.problems.insert(out.problems.end(), std::make_move_iterator(problems.begin()),
                          std::make_move_iterator(problems.end()));
  }
  return out;
}

}  // namespace aula
