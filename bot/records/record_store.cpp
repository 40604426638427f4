#include "bot/records/record_store.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

#include "bot/engine/json_text.hpp"
#include "bot/records/record_row.hpp"
#include "bot/records/sql.hpp"

namespace aula::records {

using detail::sql_params;
using detail::sql_row;
using detail::sql_value;

namespace detail {

std::int64_t sql_row::i(std::size_t k) const {
  const sql_value& v = cells.at(k);
  if (const auto* x = std::get_if<std::int64_t>(&v)) return *x;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<std::int64_t>(std::llround(*d));
  if (const auto* s = std::get_if<std::string>(&v)) {
    std::int64_t out = 0;
    // PostgreSQL's SUM over bigint is numeric: "12" or, rarely, "12.0".
    auto r = std::from_chars(s->data(), s->data() + s->size(), out);
    if (r.ec == std::errc() && r.ptr == s->data() + s->size()) return out;
    return static_cast<std::int64_t>(std::llround(d(k)));
  }
  return 0;
}

double sql_row::d(std::size_t k) const {
  const sql_value& v = cells.at(k);
  if (const auto* x = std::get_if<double>(&v)) return *x;
  if (const auto* n = std::get_if<std::int64_t>(&v)) return static_cast<double>(*n);
  if (const auto* s = std::get_if<std::string>(&v)) {
    double out = 0;
    std::from_chars(s->data(), s->data() + s->size(), out);
    return out;
  }
  return 0;
}

std::string sql_row::s(std::size_t k) const {
  const sql_value& v = cells.at(k);
  if (const auto* x = std::get_if<std::string>(&v)) return *x;
  if (const auto* n = std::get_if<std::int64_t>(&v)) return std::to_string(*n);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, *d);
    return std::string(buf, r.ptr);
  }
  return {};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// The schema
//
// records: one row per result record, keyed by (conv, id): the drain may deliver a record twice
// (a crash between insert and trim), the second time it is a no-op. `seq` is the insertion
// order, which breaks ties between records of one step (they share `at`); a conversation's
// records reach the store in the order its step wrote them. Columns the reports read are real
// columns; course records carry their course, module number and maximum in `value`, lifted
// into course / module / max_points. `num` is a numeric answer (scale, nps, number). `text` is
// what the learner typed, or a record's message (not a "sent" record's: text_in_column).
// record_items: an answer's chosen options, one row each (a multi-choice answer has several),
// so tallies are plain GROUP BYs on both databases without their JSON functions.
const std::vector<migration>& migrations() {
  static const std::vector<migration> list{
      {1, "result records and their chosen options", R"sql(
CREATE TABLE records (
  seq {{serial_key}},
  conv TEXT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  channel TEXT,
  flow TEXT,
  version TEXT,
  run TEXT,
  node TEXT,
  course TEXT,
  module INTEGER,
  value TEXT,
  num DOUBLE PRECISION,
  text TEXT,
  status TEXT,
  correct INTEGER,
  final INTEGER,
  points INTEGER,
  max_points INTEGER,
  attempt INTEGER,
  segments INTEGER,
  at BIGINT NOT NULL,
  data TEXT NOT NULL,
  UNIQUE (conv, id)
);
CREATE INDEX records_conv_at ON records (conv, at);
CREATE INDEX records_flow ON records (flow, type, node);
CREATE INDEX records_type_at ON records (type, at);
CREATE INDEX records_course ON records (course, type);
CREATE TABLE record_items (
  conv TEXT NOT NULL,
  id TEXT NOT NULL,
  pos INTEGER NOT NULL,
  item TEXT NOT NULL,
  num DOUBLE PRECISION,
  PRIMARY KEY (conv, id, pos)
);
)sql"},
      {2, "learners and cohort membership", R"sql(
CREATE TABLE learners (
  conv TEXT PRIMARY KEY,
  name TEXT,
  state TEXT,
  role TEXT,
  language TEXT,
  channel TEXT,
  status TEXT,
  enrolled_at BIGINT,
  data TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX learners_state ON learners (state);
CREATE TABLE cohort_members (
  cohort TEXT NOT NULL,
  conv TEXT NOT NULL,
  PRIMARY KEY (cohort, conv)
);
CREATE INDEX cohort_members_conv ON cohort_members (conv);
)sql"},
      // A learner's records are found by the (conv, id) key's prefix and sorted (a learner has
      // hundreds at most); a second index keyed by learner cost every insert a random page
      // write and read (measured: a quarter of the record store's page I/O under load).
      {3, "records found by learner through their (conv, id) key", R"sql(
DROP INDEX IF EXISTS records_conv_at;
)sql"},
      // Half the records (what was sent, delivery reports) name no flow, and few name a
      // course: indexes over the rows that have one, which every query by flow or course
      // can use (flow = ? implies flow IS NOT NULL), spare those rows two index inserts.
      {4, "flow and course indexes over the records that name one", R"sql(
DROP INDEX IF EXISTS records_flow;
CREATE INDEX records_flow ON records (flow, type, node) WHERE flow IS NOT NULL;
DROP INDEX IF EXISTS records_course;
CREATE INDEX records_course ON records (course, type) WHERE course IS NOT NULL;
)sql"},
      // The sender merges a learner's sends acknowledged together into one "sent" record
      // (bot/delivery/send_records.hpp): how many messages it stands for. NULL: one.
      {5, "the number of messages a sent record stands for", R"sql(
ALTER TABLE records ADD COLUMN messages INTEGER;
)sql"},
  };
  return list;
}

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string substitute(std::string sql, const std::string& key, const std::string& by) {
  for (std::size_t p = sql.find(key); p != std::string::npos; p = sql.find(key, p + by.size()))
    sql.replace(p, key.size(), by);
  return sql;
}

std::string dump(const nlohmann::json& j) { return json_text::write(j, nlohmann::json::error_handler_t::replace); }

// A record's fields by path, from its document or from its text's values.
struct record_fields {
  const nlohmann::json* doc = nullptr;
  const json_text::values* text = nullptr;
  const nlohmann::json* at(std::string_view path) const { return doc ? json_text::at_path(*doc, path) : text->at(path); }
};

// A string field, or null when absent or empty (so SQL sees one "nothing": NULL).
sql_value text_field(const record_fields& r, std::string_view key) {
  const nlohmann::json* v = r.at(key);
  if (!v || v->is_null()) return nullptr;
  if (v->is_string()) {
    if (v->get_ref<const std::string&>().empty()) return nullptr;
    return v->get<std::string>();
  }
  return dump(*v);  // a number where a string was expected ("version": 3) is kept as text
}
sql_value text_field(const nlohmann::json& r, const char* key) { return text_field(record_fields{&r}, key); }

sql_value int_field(const record_fields& r, std::string_view key) {
  const nlohmann::json* v = r.at(key);
  if (!v) return nullptr;
  if (v->is_number_integer() || v->is_number_unsigned()) return v->get<std::int64_t>();
  if (v->is_number_float() && std::isfinite(v->get<double>()))
    return static_cast<std::int64_t>(std::llround(v->get<double>()));
  return nullptr;
}
sql_value int_field(const nlohmann::json& j, const char* key) { return int_field(record_fields{&j}, key); }

sql_value bool_field(const record_fields& r, std::string_view key) {
  const nlohmann::json* v = r.at(key);
  if (!v || !v->is_boolean()) return nullptr;
  return static_cast<std::int64_t>(v->get<bool>() ? 1 : 0);
}

sql_value number_of(const nlohmann::json& v) {
  if (v.is_number() && std::isfinite(v.get<double>())) return v.get<double>();
  return nullptr;
}

// An option id, a number or a text as the tally shows it.
std::string item_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : dump(v); }

std::string channel_of(const std::string& conv) { return conv.substr(0, conv.find(':')); }

std::string describe(const nlohmann::json& r) {
  std::string s = dump(r);
  return s.size() > 160 ? s.substr(0, 160) + "…" : s;
}

// `describe` gives the record's text for the error.
void check_record(const record_fields& r, std::size_t index, const std::function<std::string()>& describe) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("record store: record " + std::to_string(index) + " of the batch " + why + ": " +
                                describe());
  };
  if (r.doc ? !r.doc->is_object() : !r.text->is_object()) fail("is not a JSON object");
  for (const char* key : {"conv", "id", "type"}) {
    const nlohmann::json* v = r.at(key);
    if (!v || !v->is_string() || v->get_ref<const std::string&>().empty())
      fail(std::string("has no \"") + key + "\" string");
  }
  if (r.at("conv")->get_ref<const std::string&>().find(':') == std::string::npos)
    fail("has a \"conv\" that is not \"<channel>:<address>\"");
  const nlohmann::json* at = r.at("at");
  if (!at || !(at->is_number_integer() || at->is_number_unsigned())) fail("has no integer \"at\"");
}

void check_conv(const std::string& conv) {
  if (conv.empty() || conv.find(':') == std::string::npos)
    throw std::invalid_argument("record store: \"" + conv + "\" is not a conversation (\"<channel>:<address>\")");
}

void replace_cohorts(detail::sql_connection& db, const std::string& conv, const std::vector<std::string>& cohorts) {
  db.exec("DELETE FROM cohort_members WHERE conv = ?", {conv});
  for (const auto& c : cohorts) {
    if (c.empty()) continue;
    db.exec("INSERT INTO cohort_members (cohort, conv) VALUES (?, ?) ON CONFLICT (cohort, conv) DO NOTHING", {c, conv});
  }
}

}  // namespace

// The fields insert() reads from a record's text, and whether they are enough: an object or
// an array among them (a value with items, a course's value) needs the document.
const json_text::path_set& record_paths() {
  // A value with items, or a course's value object, is read whole: the rows need its inside.
  static const json_text::path_set set({"conv", "id", "type", "channel", "flow", "version", "run", "node", "value",
                                        "text", "status", "correct", "final", "points", "attempt", "segments", "messages",
                                        "at"},
                                       json_text::path_set::containers::whole);
  return set;
}

std::string redact_url(const std::string& url) {
  // scheme://user:password@host…: only the password goes.
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

record_store::record_store(std::unique_ptr<detail::sql_connection> db, std::string shown_url)
    : db_(std::move(db)), shown_url_(std::move(shown_url)) {}

record_store::~record_store() = default;

const char* record_store::backend() const { return db_->backend(); }

int record_store::schema_version() {
  auto rows = db_->query("SELECT MAX(version) FROM schema_version");
  return rows.empty() ? 0 : static_cast<int>(rows[0].i(0));
}

void record_store::migrate(const std::vector<migration>& list) {
  for (std::size_t k = 0; k < list.size(); ++k)
    if (list[k].version != static_cast<int>(k) + 1)
      throw std::logic_error("record store: migrations must be numbered 1, 2, … in order");
  const int known = static_cast<int>(list.size());
  detail::transaction tx(*db_);
  db_->lock_for_migration();
  // Inside the lock: two processes opening a new database at once create it once.
  db_->exec_script(
      "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
      "applied_at BIGINT NOT NULL)");
  const int current = schema_version();
  if (current > known)
    throw record_store_error("record store " + shown_url_ + " has schema version " + std::to_string(current) +
                             ", newer than this aula knows (" + std::to_string(known) +
                             "): it was written by a newer aula; run that version or a later one against it");
  for (int v = current + 1; v <= known; ++v) {
    const migration& m = list[static_cast<std::size_t>(v - 1)];
    try {
      db_->exec_script(substitute(m.sql, "{{serial_key}}", db_->serial_key_column()));
    } catch (const record_store_error& e) {
      throw record_store_error("record store " + shown_url_ + ": migration " + std::to_string(v) + " (" +
                               m.description + ") failed: " + e.what());
    }
    db_->exec("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
              {std::int64_t{v}, m.description, now_ms()});
  }
  tx.commit();
}

std::unique_ptr<record_store> open_record_store(const std::string& url) { return open_record_store(url, migrations()); }

std::unique_ptr<record_store> open_record_store(const std::string& url, const std::vector<migration>& list) {
  const std::string shown = redact_url(url);
  const std::string accepted =
      "use sqlite:///absolute/path.db, sqlite://relative/path.db or postgresql://user@host:port/database";
  std::unique_ptr<detail::sql_connection> db;
  if (url.starts_with("sqlite://")) {
    std::string path = url.substr(9);
    if (path.empty()) throw std::invalid_argument("record store URL '" + shown + "' names no file: " + accepted);
    if (auto q = path.find('?'); q != std::string::npos)
      throw std::invalid_argument("record store URL '" + shown + "': SQLite URLs take no options (" + path.substr(q) +
                                  ")");
    if (path != ":memory:") {
      const std::filesystem::path file(path);
      if (std::filesystem::is_directory(file))
        throw std::invalid_argument("record store URL '" + shown + "' names a directory, not a database file");
      const std::filesystem::path dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
      std::error_code ec;
      if (!std::filesystem::is_directory(dir, ec))
        throw record_store_error("record store: the directory " + dir.string() + " of " + shown +
                                 " does not exist (create it, or fix AULA_RECORDS_URL)");
    }
    db = detail::open_sqlite(path);
  } else if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    db = detail::open_postgres(url, shown);
  } else {
    throw std::invalid_argument("record store URL '" + shown + "' is not understood: " + accepted);
  }
  auto store = std::unique_ptr<record_store>(new record_store(std::move(db), shown));
  store->migrate(list);
  return store;
}

namespace {

// One record's row (with "messages": the statement that names that column) and its items'
// rows, as insert() writes them: from the record's fields (document or picked values), or from
// its row read in one pass (record_row.hpp) — the same parameters either way.
struct record_params {
  sql_params row;
  bool counted = false;  // "messages" given: the row has a 23rd parameter
  std::vector<sql_params> items;
};

// Whether a record's text goes in the `text` column as well as in `data`. Not a "sent"
// record's: its text is what the learner was sent (a step's messages, merged), which no report
// or query reads from the column — the learner's timeline and export read `data`, retention
// deletes the row whole. In both places it was two thirds of the store's bytes (a sent row
// ~930 bytes of ~1,000 written per message, the text ~300 of them twice): the column is left
// NULL, the text stays in `data`.
bool text_in_column(std::string_view type) { return type != "sent"; }

record_params params_of(const record_fields& r, std::string data) {
  static const nlohmann::json no_value;
  record_params out;
  const std::string conv = r.at("conv")->get<std::string>();
  const std::string id = r.at("id")->get<std::string>();
  const nlohmann::json* given = r.at("value");
  const nlohmann::json& value = given ? *given : no_value;
  sql_value channel = text_field(r, "channel");
  if (std::holds_alternative<std::nullptr_t>(channel)) channel = channel_of(conv);
  // Course records say which course, module and maximum in their value object.
  sql_value course = nullptr, module = nullptr, max_points = nullptr;
  if (value.is_object()) {
    const record_fields inside{&value};
    course = text_field(inside, "course");
    module = int_field(inside, "module");
    max_points = int_field(inside, "max");
  }
  std::string type = r.at("type")->get<std::string>();
  sql_value text = text_in_column(type) ? text_field(r, "text") : sql_value(nullptr);
  out.row = sql_params{conv,
                       id,
                       std::move(type),
                       channel,
                       text_field(r, "flow"),
                       text_field(r, "version"),
                       text_field(r, "run"),
                       text_field(r, "node"),
                       course,
                       module,
                       value.is_null() ? sql_value(nullptr) : sql_value(dump(value)),
                       number_of(value),
                       std::move(text),
                       text_field(r, "status"),
                       bool_field(r, "correct"),
                       bool_field(r, "final"),
                       int_field(r, "points"),
                       max_points,
                       int_field(r, "attempt"),
                       int_field(r, "segments"),
                       r.at("at")->get<std::int64_t>(),
                       std::move(data)};
  sql_value messages = int_field(r, "messages");
  out.counted = !std::holds_alternative<std::nullptr_t>(messages);
  if (out.counted) out.row.push_back(std::move(messages));
  std::vector<const nlohmann::json*> chosen;
  if (value.is_array()) {
    for (const auto& v : value)
      if (v.is_primitive() && !v.is_null()) chosen.push_back(&v);
  } else if (value.is_primitive() && !value.is_null()) {
    chosen.push_back(&value);
  }
  for (std::size_t pos = 0; pos < chosen.size(); ++pos)
    out.items.push_back({conv, id, static_cast<std::int64_t>(pos), item_text(*chosen[pos]), number_of(*chosen[pos])});
  return out;
}

// The row read in one pass gives what the picked fields give: a string member as itself (NULL
// when empty), an integer or a boolean where text goes as its JSON text, integers and booleans
// where they go; its value is never an array or a float (read_row gives up on those), and an
// object only in the form dump() gives it.
record_params params_of(const detail::record_row& r, std::string_view data) {
  using detail::record_row;
  using detail::row_kind;
  using detail::row_value;
  const auto literal = [](const row_value& v) {
    if (v.kind == row_kind::integer) return std::to_string(v.integer);
    return std::string(v.flag ? "true" : "false");
  };
  const auto text_of = [&](record_row::slot s) -> sql_value {
    const row_value& v = r[s];
    switch (v.kind) {
      case row_kind::string: return v.text.empty() ? sql_value(nullptr) : sql_value(std::string(v.text));
      case row_kind::integer:
      case row_kind::boolean: return literal(v);
      default: return nullptr;
    }
  };
  const auto int_of = [&](record_row::slot s) -> sql_value {
    return r[s].kind == row_kind::integer ? sql_value(r[s].integer) : sql_value(nullptr);
  };
  const auto bool_of = [&](record_row::slot s) -> sql_value {
    return r[s].kind == row_kind::boolean ? sql_value(std::int64_t{r[s].flag ? 1 : 0}) : sql_value(nullptr);
  };
  record_params out;
  const std::string conv(r[record_row::conv].text), id(r[record_row::id].text);
  sql_value channel = text_of(record_row::channel);
  if (std::holds_alternative<std::nullptr_t>(channel)) channel = channel_of(conv);
  const row_value& value = r[record_row::value];
  sql_value value_text = nullptr, number = nullptr, item = nullptr;
  switch (value.kind) {
    case row_kind::string: {
      std::string written;  // dump() of the string: its JSON text
      written.reserve(value.text.size() + 2);
      json_text::append_string(written, value.text);
      value_text = std::move(written);
      item = std::string(value.text);
      break;
    }
    case row_kind::integer:
      value_text = item = literal(value);
      number = static_cast<double>(value.integer);
      break;
    case row_kind::boolean:
      value_text = item = literal(value);
      break;
    case row_kind::object:
      value_text = std::string(r.value_text);  // dump() of it: it is in that form already
      break;
    default:
      break;
  }
  // Course records say which course, module and maximum in their value object.
  sql_value course = nullptr, module = nullptr, max_points = nullptr;
  if (value.kind == row_kind::object) {
    const auto text_in = [&](const row_value& v) -> sql_value {
      if (v.kind == row_kind::string) return v.text.empty() ? sql_value(nullptr) : sql_value(std::string(v.text));
      if (v.kind == row_kind::integer || v.kind == row_kind::boolean) return literal(v);
      return nullptr;
    };
    course = text_in(r.course);
    module = r.module.kind == row_kind::integer ? sql_value(r.module.integer) : sql_value(nullptr);
    max_points = r.max.kind == row_kind::integer ? sql_value(r.max.integer) : sql_value(nullptr);
  }
  out.row = sql_params{conv,
                       id,
                       std::string(r[record_row::type].text),
                       std::move(channel),
                       text_of(record_row::flow),
                       text_of(record_row::version),
                       text_of(record_row::run),
                       text_of(record_row::node),
                       std::move(course),
                       std::move(module),
                       std::move(value_text),
                       number,
                       text_in_column(r[record_row::type].text) ? text_of(record_row::text) : sql_value(nullptr),
                       text_of(record_row::status),
                       bool_of(record_row::correct),
                       bool_of(record_row::final_),
                       int_of(record_row::points),
                       std::move(max_points),
                       int_of(record_row::attempt),
                       int_of(record_row::segments),
                       r[record_row::at].integer,
                       std::string(data)};
  out.counted = r[record_row::messages].kind == row_kind::integer;
  if (out.counted) out.row.push_back(r[record_row::messages].integer);
  if (!std::holds_alternative<std::nullptr_t>(item))
    out.items.push_back({conv, id, std::int64_t{0}, std::move(item), number});
  return out;
}

// Whether a row read in one pass has what check_record asks of a record (else the record is
// picked, and refused as before).
bool complete(const detail::record_row& r) {
  using detail::record_row;
  using detail::row_kind;
  for (auto s : {record_row::conv, record_row::id, record_row::type})
    if (r[s].kind != row_kind::string || r[s].text.empty()) return false;
  return r[record_row::conv].text.find(':') != std::string_view::npos && r[record_row::at].kind == row_kind::integer;
}

// One record's row and items, inserted; false when it was stored before (the drain ran twice).
bool insert_params(detail::sql_connection& db, record_params& p) {
  static const std::string insert_record =
      "INSERT INTO records (conv, id, type, channel, flow, version, run, node, course, module, value, num, text, "
      "status, correct, final, points, max_points, attempt, segments, at, data) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conv, id) DO NOTHING";
  // A merged "sent" record (the only kind with "messages") names the column migration 5 added.
  static const std::string insert_record_with_messages =
      "INSERT INTO records (conv, id, type, channel, flow, version, run, node, course, module, value, num, text, "
      "status, correct, final, points, max_points, attempt, segments, at, data, messages) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conv, id) DO NOTHING";
  static const std::string insert_item =
      "INSERT INTO record_items (conv, id, pos, item, num) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (conv, id, pos) DO NOTHING";
  if (db.exec(p.counted ? insert_record_with_messages : insert_record, p.row) == 0) return false;
  for (const auto& item : p.items) db.exec(insert_item, item);
  return true;
}

bool insert_fields(detail::sql_connection& db, const record_fields& r, std::string data) {
  auto p = params_of(r, std::move(data));
  return insert_params(db, p);
}

}  // namespace

std::size_t record_store::insert(std::span<const nlohmann::json> records, std::span<const std::string_view> texts) {
  if (!texts.empty() && texts.size() != records.size())
    throw std::logic_error("record store: insert needs one text per record (or none)");
  for (std::size_t k = 0; k < records.size(); ++k)
    check_record(record_fields{&records[k]}, k, [&] { return describe(records[k]); });
  if (records.empty()) return 0;
  std::size_t added = 0;
  const detail::io_pacing_scope paced(&between_records_);  // the commit's writes too
  detail::transaction tx(*db_);
  for (std::size_t k = 0; k < records.size(); ++k) {
    if (between_records_) between_records_();
    const nlohmann::json& r = records[k];
    if (insert_fields(*db_, record_fields{&r}, texts.empty() ? dump(r) : std::string(texts[k]))) ++added;
  }
  tx.commit();
  return added;
}

std::size_t record_store::insert_texts(std::span<const std::string_view> texts) {
  std::vector<record_text> recs;
  recs.reserve(texts.size());
  for (const auto text : texts) recs.emplace_back(text);
  return insert_read(recs);
}

std::size_t record_store::insert_values(std::span<const std::string_view> texts, std::span<json_text::values> recs) {
  if (recs.size() != texts.size()) throw std::logic_error("record store: insert_values needs one text per record");
  // Each record's fields as picked from its text (record_paths() keeps an object or an array
  // whole), or its document where pick gave up.
  for (std::size_t k = 0; k < texts.size(); ++k)
    check_record(record_fields{nullptr, &recs[k]}, k, [&] { return describe(json_text::parse_or_discarded(texts[k])); });
  if (texts.empty()) return 0;
  std::size_t added = 0;
  const detail::io_pacing_scope paced(&between_records_);  // the commit's writes too
  detail::transaction tx(*db_);
  for (std::size_t k = 0; k < texts.size(); ++k) {
    if (between_records_) between_records_();
    if (insert_fields(*db_, record_fields{nullptr, &recs[k]}, std::string(texts[k]))) ++added;
  }
  tx.commit();
  return added;
}

record_text::record_text(std::string_view text) : text_(text) {
  auto row = std::make_unique<detail::record_row>();
  if (detail::read_row(text, *row) && complete(*row))
    row_ = std::move(row);
  else
    values_ = std::make_unique<json_text::values>(text, record_paths());
}

record_text::record_text(record_text&&) noexcept = default;
record_text& record_text::operator=(record_text&&) noexcept = default;
record_text::~record_text() = default;

const nlohmann::json* record_text::picked(std::string_view key) const { return values_->at(key); }

bool record_text::is_object() const { return row_ || values_->is_object(); }

bool record_text::has(std::string_view key) const {
  if (!row_) return picked(key) != nullptr;
  const int s = detail::record_row::slot_of(key);
  return s >= 0 && row_->v[static_cast<std::size_t>(s)].kind != detail::row_kind::absent;
}

std::optional<std::string_view> record_text::string(std::string_view key) const {
  if (!row_) {
    const nlohmann::json* v = picked(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string_view(v->get_ref<const std::string&>());
  }
  const int s = detail::record_row::slot_of(key);
  if (s < 0 || row_->v[static_cast<std::size_t>(s)].kind != detail::row_kind::string) return std::nullopt;
  return row_->v[static_cast<std::size_t>(s)].text;
}

bool record_text::is_integer(std::string_view key) const {
  if (!row_) {
    const nlohmann::json* v = picked(key);
    return v && v->is_number_integer();
  }
  const int s = detail::record_row::slot_of(key);
  return s >= 0 && row_->v[static_cast<std::size_t>(s)].kind == detail::row_kind::integer;
}

std::size_t record_store::insert_read(std::span<record_text> recs) {
  for (std::size_t k = 0; k < recs.size(); ++k)
    if (!recs[k].row_)
      check_record(record_fields{nullptr, recs[k].values_.get()}, k,
                   [&] { return describe(json_text::parse_or_discarded(recs[k].text())); });
  if (recs.empty()) return 0;
  std::size_t added = 0;
  const detail::io_pacing_scope paced(&between_records_);  // the commit's writes too
  detail::transaction tx(*db_);
  for (auto& r : recs) {
    if (between_records_) between_records_();
    auto p = r.row_ ? params_of(*r.row_, r.text()) : params_of(record_fields{nullptr, r.values_.get()}, std::string(r.text()));
    if (insert_params(*db_, p)) ++added;
  }
  tx.commit();
  return added;
}

void record_store::upsert_learner(const std::string& conv, const nlohmann::json& learner) {
  check_conv(conv);
  if (!learner.is_object())
    throw std::invalid_argument("record store: the learner record of " + conv + " is not a JSON object");
  sql_value channel = text_field(learner, "channel");
  if (std::holds_alternative<std::nullptr_t>(channel)) channel = channel_of(conv);
  detail::transaction tx(*db_);
  db_->exec(
      "INSERT INTO learners (conv, name, state, role, language, channel, status, enrolled_at, data, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conv) DO UPDATE SET name = excluded.name, "
      "state = excluded.state, role = excluded.role, language = excluded.language, channel = excluded.channel, "
      "status = excluded.status, enrolled_at = excluded.enrolled_at, data = excluded.data, "
      "updated_at = excluded.updated_at",
      {conv, text_field(learner, "name"), text_field(learner, "state"), text_field(learner, "role"),
       text_field(learner, "language"), channel, text_field(learner, "status"), int_field(learner, "enrolled_at"),
       dump(learner), now_ms()});
  if (auto it = learner.find("cohorts"); it != learner.end() && it->is_array()) {
    std::vector<std::string> cohorts;
    for (const auto& c : *it)
      if (c.is_string()) cohorts.push_back(c.get<std::string>());
    replace_cohorts(*db_, conv, cohorts);
  }
  tx.commit();
}

void record_store::set_cohorts(const std::string& conv, const std::vector<std::string>& cohorts) {
  check_conv(conv);
  detail::transaction tx(*db_);
  replace_cohorts(*db_, conv, cohorts);
  tx.commit();
}

nlohmann::json record_store::timeline(const std::string& conv, std::size_t limit) {
  const auto n = static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int32_t>::max()));
  auto rows = db_->query(
      "SELECT data FROM (SELECT data, at, seq FROM records WHERE conv = ? ORDER BY at DESC, seq DESC LIMIT ?) t "
      "ORDER BY at, seq",
      {conv, n});
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : rows) out.push_back(nlohmann::json::parse(row.s(0)));
  return out;
}

}  // namespace aula::records
