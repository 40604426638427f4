#include "bot/authoring/i18n.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "bot/authoring/loader.hpp"
#include "bot/engine/text.hpp"

namespace aula {

namespace fs = std::filesystem;

namespace {

constexpr const char* bom = "\xEF\xBB\xBF";

// ---------------------------------------------------------------------------------------------
// The flow file's text, as yaml-cpp sees it: marks are byte columns on lines counted after a BOM.

struct source_text {
  std::string bom_prefix;
  std::string body;
  std::vector<std::size_t> line_start;
  std::string eol = "\n";
  bool json = false;

  explicit source_text(const std::string& text) {
    body = text;
    if (body.starts_with(bom)) {
      bom_prefix = bom;
      body.erase(0, 3);
    }
    line_start.push_back(0);
    for (std::size_t i = 0; i < body.size(); ++i)
      if (body[i] == '\n') line_start.push_back(i + 1);
    auto nl = body.find('\n');
    if (nl != std::string::npos && nl > 0 && body[nl - 1] == '\r') eol = "\r\n";
    auto first = body.find_first_not_of(" \t\r\n");
    json = first != std::string::npos && body[first] == '{';
  }

  std::size_t offset(const YAML::Mark& m) const {
    if (m.line < 0 || static_cast<std::size_t>(m.line) >= line_start.size()) return std::string::npos;
    std::size_t off = line_start[m.line] + static_cast<std::size_t>(m.column);
    return off <= body.size() ? off : std::string::npos;
  }
  std::size_t line_of(std::size_t off) const {
    return static_cast<std::size_t>(std::upper_bound(line_start.begin(), line_start.end(), off) - line_start.begin()) - 1;
  }
  std::size_t column_of(std::size_t off) const { return off - line_start[line_of(off)]; }
  // End of line `l`'s content: before its '\n' (and a '\r' before that).
  std::size_t line_end(std::size_t l) const {
    std::size_t e = l + 1 < line_start.size() ? line_start[l + 1] - 1 : body.size();
    if (e > line_start[l] && e <= body.size() && e > 0 && body[e - 1] == '\r') --e;
    return e;
  }
  bool blank_line(std::size_t l) const {
    for (std::size_t i = line_start[l]; i < line_end(l); ++i)
      if (body[i] != ' ' && body[i] != '\t') return false;
    return true;
  }
  std::size_t indent(std::size_t l) const {
    std::size_t i = line_start[l];
    while (i < line_end(l) && body[i] == ' ') ++i;
    return i - line_start[l];
  }
  char at(std::size_t off) const { return off < body.size() ? body[off] : '\0'; }

  // Skips an anchor (&a) or tag (!!str) in front of a node.
  std::size_t skip_properties(std::size_t off) const {
    while (off < body.size() && (body[off] == '&' || body[off] == '!')) {
      while (off < body.size() && body[off] != ' ' && body[off] != '\t' && body[off] != '\n' && body[off] != '\r') ++off;
      while (off < body.size() && (body[off] == ' ' || body[off] == '\t')) ++off;
    }
    return off;
  }

  // Where the scalar starting at `off` ends (one past its last character). `in_flow`: inside
  // {…} or […]; `parent_col`: the column of the key (or '-') it belongs to, which lines of a
  // multi-line block value are indented past. npos when it cannot tell.
  std::size_t scalar_end(std::size_t off, bool in_flow, std::size_t parent_col) const {
    const std::size_t n = body.size();
    const char c = at(off);
    if (c == '"') {
      for (std::size_t i = off + 1; i < n; ++i) {
        if (body[i] == '\\') ++i;
        else if (body[i] == '"') return i + 1;
      }
      return std::string::npos;
    }
    if (c == '\'') {
      for (std::size_t i = off + 1; i < n; ++i) {
        if (body[i] != '\'') continue;
        if (i + 1 < n && body[i + 1] == '\'') ++i;
        else return i + 1;
      }
      return std::string::npos;
    }
    const std::size_t first_line = line_of(off);
    if ((c == '|' || c == '>') && !in_flow) {
      std::size_t last = line_end(first_line);
      for (std::size_t l = first_line + 1; l < line_start.size(); ++l) {
        if (blank_line(l)) continue;
        if (indent(l) <= parent_col) break;
        last = line_end(l);
      }
      return last;
    }
    auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
    if (in_flow) {
      std::size_t last = off;
      for (std::size_t i = off; i < n; ++i) {
        const char ch = body[i];
        if (ch == ',' || ch == '}' || ch == ']') break;
        if (ch == '#' && i > off && space(body[i - 1])) break;
        if (ch == ':' && (i + 1 >= n || space(body[i + 1]) || body[i + 1] == ',' || body[i + 1] == '}' || body[i + 1] == ']')) break;
        if (!space(ch)) last = i + 1;
      }
      return last;
    }
    // A plain scalar in block context: to the end of its line (or a comment), then any
    // continuation lines indented past the parent.
    auto content_end = [&](std::size_t from, std::size_t to) {
      std::size_t last = from;
      for (std::size_t i = from; i < to; ++i) {
        if (body[i] == '#' && i > from && space(body[i - 1])) break;
        if (!space(body[i])) last = i + 1;
      }
      return last;
    };
    std::size_t last = content_end(off, line_end(first_line));
    for (std::size_t l = first_line + 1; l < line_start.size(); ++l) {
      if (blank_line(l)) continue;
      if (indent(l) <= parent_col) break;
      const std::size_t from = line_start[l] + indent(l);
      if (body[from] == '#') break;
      last = content_end(from, line_end(l));
    }
    return last;
  }
};

// A YAML string that is also a JSON string: double-quoted, with JSON escapes only.
std::string dq(const std::string& s) {
  std::string out = "\"";
  const auto hex = [](unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\u%04x", v);
    return std::string(buf);
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7F) out += hex(c);
    else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
             static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out += hex(static_cast<unsigned char>(s[i + 1]));  // C1 controls, NEL among them
      ++i;
    } else if (c == 0xE2 && i + 2 < s.size() && s[i + 1] == '\x80' && (s[i + 2] == '\xA8' || s[i + 2] == '\xA9')) {
      out += s[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else if (c == 0xEF && i + 2 < s.size() && s[i + 1] == '\xBB' && s[i + 2] == '\xBF') {
      out += "\\ufeff";
      i += 2;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

// The document as JSON with every scalar as its text: what the comparison after a patch uses.
nlohmann::json plain_json(const YAML::Node& n) {
  if (n.IsMap()) {
    auto o = nlohmann::json::object();
    for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = plain_json(it->second);
    return o;
  }
  if (n.IsSequence()) {
    auto a = nlohmann::json::array();
    for (const auto& x : n) a.push_back(plain_json(x));
    return a;
  }
  if (n.IsScalar()) return n.Scalar();
  return nullptr;
}

// A text slot: where a localized text sits in the document.
struct slot {
  i18n_text text;
  YAML::Node value;          // a scalar (base text) or a map of languages
  bool parent_flow = false;  // the value sits in a {…} / […] collection
  std::size_t parent_col = 0;
  bool option_scalar = false;  // an option written as a bare label
  nlohmann::json::json_pointer pointer;
};

bool is_flow_collection(const source_text& src, const YAML::Node& n) {
  const std::size_t off = src.offset(n.Mark());
  if (off == std::string::npos) return false;
  const char c = src.at(src.skip_properties(off));
  return c == '{' || c == '[';
}

// The entry `key` of a map: its key node and value. Null nodes when absent.
std::pair<YAML::Node, YAML::Node> entry(const YAML::Node& map, const std::string& key) {
  if (map.IsMap())
    for (auto it = map.begin(); it != map.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return {it->first, it->second};
  return {YAML::Node(YAML::NodeType::Undefined), YAML::Node(YAML::NodeType::Undefined)};
}

class inventory {
 public:
  inventory(const source_text& src, std::string base, std::string lang)
      : src_(src), base_(std::move(base)), lang_(std::move(lang)) {}

  // A localized text at map[key].
  void add(const std::string& id, const YAML::Node& map, const std::string& key, const nlohmann::json::json_pointer& ptr) {
    auto [k, v] = entry(map, key);
    if (!v.IsDefined() || v.IsNull()) return;
    slot s;
    s.value = v;
    s.parent_flow = is_flow_collection(src_, map);
    s.parent_col = static_cast<std::size_t>(std::max(0, k.Mark().column));
    s.pointer = ptr / key;
    fill(s, id);
  }
  // An option written as a bare label (item `index` of the sequence `seq`).
  void add_option_scalar(const std::string& id, const YAML::Node& seq, const YAML::Node& item,
                         const nlohmann::json::json_pointer& ptr) {
    slot s;
    s.value = item;
    s.option_scalar = true;
    s.parent_flow = is_flow_collection(src_, seq);
    // The column of the '-' in front of it.
    std::size_t off = src_.offset(item.Mark());
    std::size_t dash = off;
    while (dash > 0 && (src_.at(dash - 1) == ' ' || src_.at(dash - 1) == '\t')) --dash;
    s.parent_col = dash > 0 && src_.at(dash - 1) == '-' ? src_.column_of(dash - 1) : src_.column_of(off);
    s.pointer = ptr;
    fill(s, id);
  }

  std::vector<slot> slots;

 private:
  void fill(slot& s, const std::string& id) {
    s.text.id = id;
    if (s.value.IsScalar()) {
      s.text.source = s.value.Scalar();
    } else if (s.value.IsMap()) {
      auto [bk, bv] = entry(s.value, base_);
      if (bv.IsDefined() && bv.IsScalar()) s.text.source = bv.Scalar();
      auto [lk, lv] = entry(s.value, lang_);
      if (lang_ != base_ && lv.IsDefined() && lv.IsScalar()) s.text.translation = lv.Scalar();
    }
    slots.push_back(std::move(s));
  }

  const source_text& src_;
  std::string base_, lang_;
};

// Every text slot of a flow document, in file order. `f` is the file read as a flow (for the
// option ids, which may come from the labels).
std::vector<slot> collect(const source_text& src, const YAML::Node& root, const flow& f, const std::string& lang) {
  using ptr = nlohmann::json::json_pointer;
  inventory inv(src, f.language, lang);
  inv.add("name", root, "name", ptr());
  inv.add("description", root, "description", ptr());
  const YAML::Node nodes = root["nodes"];
  for (const auto& id : f.order) {
    const node* n = f.find(id);
    auto [nk, y] = entry(nodes, id);
    if (!n || !y.IsMap()) continue;
    const std::string at = "nodes." + id + ".";
    const ptr p = ptr("/nodes") / id;
    switch (n->kind) {
      case node_kind::message:
      case node_kind::end: inv.add(at + "message", y, "message", p); break;
      case node_kind::question: inv.add(at + "question", y, "question", p); break;
      case node_kind::quiz: inv.add(at + "quiz", y, "quiz", p); break;
      default: break;
    }
    if (auto [ok, opts] = entry(y, "options"); opts.IsDefined() && opts.IsSequence()) {
      std::size_t i = 0;
      for (const auto& o : opts) {
        if (i >= n->options.size()) break;
        const std::string oat = at + "options." + n->options[i].id + ".";
        const ptr op = p / "options" / i;
        if (o.IsScalar()) {
          inv.add_option_scalar(oat + "label", opts, o, op);
        } else {
          inv.add(oat + "label", o, "label", op);
          if (n->kind == node_kind::quiz) inv.add(oat + "feedback", o, "feedback", op);
        }
        ++i;
      }
    }
    if (auto [fk, fb] = entry(y, "feedback"); fb.IsDefined() && fb.IsMap())
      for (const char* k : {"correct", "incorrect", "retry"}) inv.add(at + "feedback." + k, fb, k, p / "feedback");
    inv.add(at + "invalid", y, "invalid", p);
    if (auto [tk, to] = entry(y, "timeout"); to.IsDefined() && to.IsMap()) inv.add(at + "timeout.remind", to, "remind", p / "timeout");
  }
  return std::move(inv.slots);
}

// Reads a flow file's text: the document, the flow and its slots.
struct parsed_flow {
  YAML::Node root;
  flow model;
  std::vector<slot> slots;
};

bool parse_flow_file(const source_text& src, const std::string& text, const std::string& file, const std::string& lang,
                     parsed_flow& out, diagnostics& diags) {
  if (!read_flow(text, file, out.model, diags)) return false;
  try {
    out.root = YAML::Load(src.body);
  } catch (const YAML::Exception& e) {
    diags.error({file, 1, 1}, std::string("cannot read: ") + e.what());
    return false;
  }
  out.slots = collect(src, out.root, out.model, lang);
  return true;
}

// The {{variables}} of a text (the part before any |fallback), sorted.
std::multiset<std::string> variables(const std::string& s) {
  std::multiset<std::string> out;
  std::size_t at = 0;
  while ((at = s.find("{{", at)) != std::string::npos) {
    auto close = s.find("}}", at + 2);
    if (close == std::string::npos) break;
    std::string inner = s.substr(at + 2, close - at - 2);
    inner = inner.substr(0, inner.find('|'));
    out.insert(trim(inner));
    at = close + 2;
  }
  return out;
}

std::string normalize_newlines(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool valid_utf8(const std::string& s, std::size_t& bad_at) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size() || (len == 2 && c < 0xC2)) {
      bad_at = i;
      return false;
    }
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        bad_at = i;
        return false;
      }
    i += len;
  }
  return true;
}

bool formula_start(char c) { return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r'; }

}  // namespace

// ---------------------------------------------------------------------------------------------

bool list_texts(const std::string& file_text, const std::string& file, const std::string& lang,
                std::vector<i18n_text>& out, std::string& base_lang, diagnostics& diags) {
  source_text src(file_text);
  parsed_flow pf;
  if (!parse_flow_file(src, file_text, file, lang, pf, diags)) return false;
  base_lang = pf.model.language;
  out.clear();
  for (const auto& s : pf.slots) out.push_back(s.text);
  return true;
}

std::string neutralize_formula(const std::string& cell) {
  std::size_t i = 0;
  while (i < cell.size() && cell[i] == '\'') ++i;
  if (i < cell.size() && formula_start(cell[i])) return "'" + cell;
  return cell;
}

std::string restore_formula(const std::string& cell) {
  std::size_t i = 0;
  while (i < cell.size() && cell[i] == '\'') ++i;
  if (i > 0 && i < cell.size() && formula_start(cell[i])) return cell.substr(1);
  return cell;
}

std::string csv_field(const std::string& value) {
  const bool quote = value.find_first_of(",\"\r\n") != std::string::npos ||
                     (!value.empty() && (value.front() == ' ' || value.back() == ' '));
  if (!quote) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += "\"\"";
    else out.push_back(c);
  }
  return out + "\"";
}

bool csv_parse(const std::string& input, std::vector<csv_record>& out, std::string& error, char delimiter) {
  std::string text = input.starts_with(bom) ? input.substr(3) : input;
  std::size_t bad = 0;
  if (!valid_utf8(text, bad)) {
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(bad), '\n'));
    error = "line " + std::to_string(line) +
            ": the file is not UTF-8; in Excel save it as \"CSV UTF-8 (comma delimited)\", in LibreOffice choose "
            "the character set Unicode (UTF-8)";
    return false;
  }
  if (delimiter == 0) {
    // The first line's most frequent separator outside quotes.
    std::map<char, int> count;
    bool quoted = false;
    for (char c : text) {
      if (c == '"') quoted = !quoted;
      else if (!quoted && (c == '\n' || c == '\r')) break;
      else if (!quoted && (c == ',' || c == ';' || c == '\t')) ++count[c];
    }
    delimiter = ',';
    int best = 0;
    for (char c : {',', ';', '\t'})
      if (count[c] > best) best = count[c], delimiter = c;
  }
  out.clear();
  csv_record rec;
  std::string field;
  int line = 1;
  rec.line = 1;
  bool quoted = false, was_quoted = false, any = false;
  int quote_line = 0;
  auto end_field = [&] {
    rec.cells.push_back(std::move(field));
    field.clear();
    was_quoted = false;
  };
  auto end_record = [&] {
    end_field();
    out.push_back(std::move(rec));
    rec = csv_record{};
    any = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (!any) {
      rec.line = line;
      any = true;
    }
    if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
      quote_line = line;
    } else if (c == delimiter) {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      end_record();
    } else {
      field.push_back(c);  // a quote inside an unquoted field is kept as it is
    }
  }
  if (quoted) {
    error = "line " + std::to_string(quote_line) + ": a quoted field is never closed";
    return false;
  }
  if (any || !field.empty() || !rec.cells.empty()) end_record();
  return true;
}

std::string export_csv(const std::vector<i18n_text>& texts) {
  std::string out = bom;
  out += "id,source,translation\r\n";
  for (const auto& t : texts) {
    out += csv_field(t.id) + "," + csv_field(neutralize_formula(t.source)) + "," +
           csv_field(neutralize_formula(t.translation.value_or(""))) + "\r\n";
  }
  return out;
}

bool read_translation_csv(const std::string& text, const std::string& lang, std::vector<i18n_row>& out,
                          std::string& error) {
  std::vector<csv_record> records;
  if (!csv_parse(text, records, error)) return false;
  auto blank = [](const csv_record& r) {
    return std::all_of(r.cells.begin(), r.cells.end(), [](const std::string& c) { return trim(c).empty(); });
  };
  std::size_t h = 0;
  while (h < records.size() && blank(records[h])) ++h;
  if (h == records.size()) {
    error = "the file is empty";
    return false;
  }
  int id_col = -1, source_col = -1, tr_col = -1;
  for (std::size_t i = 0; i < records[h].cells.size(); ++i) {
    std::string name;
    for (char c : trim(records[h].cells[i])) name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (name == "id" && id_col < 0) id_col = static_cast<int>(i);
    else if (name == "source" && source_col < 0) source_col = static_cast<int>(i);
    else if ((name == "translation" || name == lang) && tr_col < 0) tr_col = static_cast<int>(i);
  }
  if (id_col < 0 || source_col < 0 || tr_col < 0) {
    error = "line " + std::to_string(records[h].line) +
            ": the first row must name the columns id, source and translation (as `aula i18n export` writes them)";
    return false;
  }
  out.clear();
  for (std::size_t r = h + 1; r < records.size(); ++r) {
    const auto& rec = records[r];
    if (blank(rec)) continue;
    auto cell = [&](int col) {
      return col < static_cast<int>(rec.cells.size()) ? rec.cells[static_cast<std::size_t>(col)] : std::string{};
    };
    i18n_row row;
    row.line = rec.line;
    row.id = trim(cell(id_col));
    row.source = normalize_newlines(restore_formula(cell(source_col)));
    row.translation = normalize_newlines(restore_formula(cell(tr_col)));
    out.push_back(std::move(row));
  }
  return true;
}

bool plan_import(const std::string& file_text, const std::string& file, const std::string& lang,
                 const std::vector<i18n_row>& rows, i18n_import& out, std::string& error) {
  out = i18n_import{};
  out.new_text = file_text;
  source_text src(file_text);
  parsed_flow pf;
  diagnostics diags;
  if (!parse_flow_file(src, file_text, file, lang, pf, diags)) {
    error = "the flow file has errors; fix them first (aula validate)";
    for (const auto& d : diags.items()) error += "\n" + format(d);
    return false;
  }
  const std::string& base = pf.model.language;
  if (lang == base) {
    error = "'" + lang + "' is the flow's base language; import a translation into another language";
    return false;
  }
  std::map<std::string, const slot*> by_id;
  for (const auto& s : pf.slots) by_id[s.text.id] = &s;

  // Classify the rows.
  std::map<std::string, const i18n_row*> taken;  // id -> the row that gives its translation
  std::set<std::string> seen;
  for (const auto& row : rows) {
    if (!seen.insert(row.id).second) {
      out.duplicates.emplace_back(row.id, row.line);
      continue;
    }
    auto it = by_id.find(row.id);
    if (it == by_id.end()) {
      out.unknown.emplace_back(row.id.empty() ? "(empty id)" : row.id, row.line);
      continue;
    }
    const slot& s = *it->second;
    if (row.source != s.text.source) {
      out.stale.push_back({row.id, row.line, row.source, s.text.source});
      continue;
    }
    if (row.translation.empty()) continue;  // missing, below
    if (s.text.translation && *s.text.translation == row.translation) {
      out.unchanged.push_back(row.id);
    } else {
      out.applied.push_back(row.id);
      taken[row.id] = &row;
    }
    if (variables(row.translation) != variables(s.text.source))
      out.warnings.push_back(row.id + ": the translation's {{variables}} differ from the source's (line " +
                             std::to_string(row.line) + ")");
  }
  std::set<std::string> stale_ids;
  for (const auto& st : out.stale) stale_ids.insert(st.id);
  for (const auto& s : pf.slots) {
    const std::string& id = s.text.id;
    if (taken.count(id) || stale_ids.count(id) ||
        std::find(out.unchanged.begin(), out.unchanged.end(), id) != out.unchanged.end())
      continue;
    out.missing.push_back({id, s.text.translation.has_value()});
  }
  if (taken.empty()) return true;

  // The patches, and what the document must be after them.
  struct patch {
    std::size_t from, to;
    std::string with;
  };
  std::vector<patch> patches;
  nlohmann::json expected = plain_json(pf.root);
  try {
  auto key = [&](const std::string& k) { return src.json ? dq(k) : k; };
  for (const auto& s : pf.slots) {
    auto t = taken.find(s.text.id);
    if (t == taken.end()) continue;
    const std::string& tr = t->second->translation;
    auto where = [&](const YAML::Node& n) {
      std::size_t off = src.offset(n.Mark());
      if (off == std::string::npos) throw std::runtime_error("no position for " + s.text.id);
      return src.skip_properties(off);
    };
    if (s.value.IsScalar()) {
      const std::size_t from = where(s.value);
      const std::size_t to = src.scalar_end(from, s.parent_flow, s.parent_col);
      if (to == std::string::npos || to <= from) throw std::runtime_error("cannot find the end of " + s.text.id);
      std::string map = "{" + key(base) + ": " + dq(s.text.source) + ", " + key(lang) + ": " + dq(tr) + "}";
      nlohmann::json m = {{base, s.text.source}, {lang, tr}};
      if (s.option_scalar) {
        map = "{" + key("label") + ": " + map + "}";
        m = {{"label", m}};
      }
      patches.push_back({from, to, map});
      expected[s.pointer] = m;
    } else {
      const bool flow_map = is_flow_collection(src, s.value);
      auto [lk, lv] = entry(s.value, lang);
      if (lv.IsDefined()) {
        const std::size_t from = where(lv);
        const std::size_t to = src.scalar_end(from, flow_map, static_cast<std::size_t>(lk.Mark().column));
        if (to == std::string::npos || to <= from) throw std::runtime_error("cannot find the end of " + s.text.id);
        patches.push_back({from, to, dq(tr)});
      } else {
        // After the last entry of the map.
        YAML::Node last_key, last_value;
        for (auto it = s.value.begin(); it != s.value.end(); ++it) last_key = it->first, last_value = it->second;
        const std::size_t from = where(last_value);
        const std::size_t end = src.scalar_end(from, flow_map, static_cast<std::size_t>(last_key.Mark().column));
        if (end == std::string::npos || end <= from) throw std::runtime_error("cannot find the end of " + s.text.id);
        if (flow_map) {
          patches.push_back({end, end, ", " + key(lang) + ": " + dq(tr)});
        } else {
          const std::string line = std::string(static_cast<std::size_t>(last_key.Mark().column), ' ') + key(lang) + ": " + dq(tr);
          const std::size_t l = src.line_of(end);
          if (l + 1 < src.line_start.size()) patches.push_back({src.line_start[l + 1], src.line_start[l + 1], line + src.eol});
          else patches.push_back({src.body.size(), src.body.size(), src.eol + line});
        }
      }
      expected[s.pointer][lang] = tr;
    }
  }
  } catch (const std::exception& e) {
    error = std::string(e.what()) + "; nothing written (add these translations by hand)";
    return false;
  }
  std::sort(patches.begin(), patches.end(), [](const patch& a, const patch& b) { return a.from > b.from; });
  std::string body = src.body;
  std::size_t limit = std::string::npos;
  for (const auto& p : patches) {
    if (p.to > limit) {
      error = "two changes overlap in the file; nothing written";
      return false;
    }
    body.replace(p.from, p.to - p.from, p.with);
    limit = p.from;
  }
  const std::string new_text = src.bom_prefix + body;

  // Check: the new document is the old one with exactly these translations, and still a flow.
  const std::string refuse =
      "; nothing written (the file may use YAML this editor does not patch: anchors and aliases, "
      "unusual multi-line texts; add these translations by hand)";
  nlohmann::json actual;
  try {
    actual = plain_json(YAML::Load(body));
  } catch (const YAML::Exception& e) {
    error = std::string("the patched file would not be valid YAML (") + e.what() + ")" + refuse;
    return false;
  }
  if (actual != expected) {
    error = "the patched file would differ from the intended change";
    auto diff = nlohmann::json::diff(expected, actual);
    if (!diff.empty()) error += " at " + diff[0].value("path", std::string("?"));
    error += refuse;
    return false;
  }
  if (src.json) {
    if (!nlohmann::json::accept(body)) {
      error = "the patched JSON file would not be valid JSON" + refuse;
      return false;
    }
  }
  flow check;
  diagnostics after;
  if (!read_flow(new_text, file, check, after)) {
    error = "the patched file would not load as a flow";
    for (const auto& d : after.items()) error += "\n" + format(d);
    return false;
  }
  out.new_text = new_text;
  return true;
}

diagnostics check_in_context(const std::string& flows_dir, const std::string& file, const std::string& new_text) {
  diagnostics out;
  std::random_device rd;
  const fs::path tmp_dir = fs::temp_directory_path() / ("aula-i18n-" + std::to_string(rd()) + std::to_string(rd()));
  std::error_code ec;
  fs::create_directories(tmp_dir, ec);
  const fs::path tmp_file = tmp_dir / fs::path(file).filename();
  {
    std::ofstream o(tmp_file, std::ios::binary);
    o << new_text;
  }
  std::vector<std::string> paths;
  const fs::path target = fs::weakly_canonical(file, ec);
  if (!flows_dir.empty() && fs::is_directory(flows_dir)) {
    for (const auto& p : flow_files_in(flows_dir))
      if (fs::weakly_canonical(p, ec) != target) paths.push_back(p);
  }
  paths.push_back(tmp_file.string());
  auto res = load_flows(paths);
  for (const auto& d : res.diags.items()) {
    if (d.pos.file != tmp_file.string()) continue;
    source_pos p = d.pos;
    p.file = file;
    if (d.severity == diagnostic::level::error) out.error(p, d.message, d.hint);
    else out.warning(p, d.message, d.hint);
  }
  fs::remove_all(tmp_dir, ec);
  return out;
}

bool replace_file(const std::string& file, const std::string& text, std::string& error) {
  const fs::path target(file);
  std::random_device rd;
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".aula-" + std::to_string(rd()));
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    o << text;
    o.flush();
    if (!o) {
      error = "cannot write " + tmp.string();
      std::error_code ec;
      fs::remove(tmp, ec);
      return false;
    }
  }
  std::error_code ec;
  fs::permissions(tmp, fs::status(target, ec).permissions(), ec);
  fs::rename(tmp, target, ec);
  if (ec) {
    error = "cannot replace " + file + ": " + ec.message();
    fs::remove(tmp, ec);
    return false;
  }
  return true;
}

}  // namespace aula
