#include "bot/records/backup.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>

#include "bot/records/record_store.hpp"
#include "bot/records/sql.hpp"

namespace aula::records {

namespace {

namespace fs = std::filesystem;
using detail::sql_connection;
using detail::sql_row;
using detail::sql_value;

bool is_sqlite(const std::string& url) { return url.starts_with("sqlite://"); }
bool is_postgres(const std::string& url) { return url.starts_with("postgresql://") || url.starts_with("postgres://"); }

std::string sqlite_path(const std::string& url) {
  std::string path = url.substr(9);
  if (path.empty() || path == ":memory:" || path.find('?') != std::string::npos)
    throw std::invalid_argument("record store URL '" + url + "': a backup needs a SQLite file (sqlite:///path/records.db)");
  return path;
}

void check_url(const std::string& url) {
  if (!is_sqlite(url) && !is_postgres(url))
    throw std::invalid_argument("record store URL '" + redact_url(url) +
                                "' is not understood (sqlite:///path.db or postgresql://…)");
}

// A connection without migrating anything (the caller decides what the schema should be).
std::unique_ptr<sql_connection> open_raw(const std::string& url) {
  check_url(url);
  if (is_sqlite(url)) return detail::open_sqlite(sqlite_path(url));
  return detail::open_postgres(url, redact_url(url));
}

// The migrations up to `version` (a prefix of this build's list).
std::vector<migration> migrations_upto(int version) {
  const auto& all = migrations();
  if (version < 1 || version > static_cast<int>(all.size()))
    throw record_store_error("the backup's record store has schema version " + std::to_string(version) +
                             ", but this aula knows versions 1 to " + std::to_string(all.size()) +
                             ": restore it with the aula that made it, or a newer one");
  return std::vector<migration>(all.begin(), all.begin() + version);
}

// aula's tables at a schema version: those its migrations create, in the order they do.
std::vector<std::string> tables_at(int version) {
  static const std::regex create(R"(CREATE TABLE\s+(?:IF NOT EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*))");
  std::vector<std::string> out;
  for (const auto& m : migrations_upto(version)) {
    for (std::sregex_iterator it(m.sql.begin(), m.sql.end(), create), end; it != end; ++it) out.push_back((*it)[1]);
  }
  return out;
}

bool has_table(sql_connection& db, const std::string& table) {
  if (std::string(db.backend()) == "sqlite")
    return !db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", {table}).empty();
  return !db.query("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
                   {table})
              .empty();
}

int schema_version_of(sql_connection& db) {
  if (!has_table(db, "schema_version")) return 0;
  auto rows = db.query("SELECT MAX(version) FROM schema_version");
  return rows.empty() ? 0 : static_cast<int>(rows[0].i(0));
}

std::vector<std::string> columns_of(sql_connection& db, const std::string& table) {
  std::vector<std::string> cols;
  if (std::string(db.backend()) == "sqlite") {
    for (const auto& r : db.query("SELECT name FROM pragma_table_info(?) ORDER BY cid", {table})) cols.push_back(r.s(0));
  } else {
    for (const auto& r : db.query("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                  "current_schema() AND table_name = ? ORDER BY ordinal_position",
                                  {table}))
      cols.push_back(r.s(0));
  }
  if (cols.empty()) throw record_store_error("record store: table " + table + " has no columns");
  return cols;
}

std::string joined(const std::vector<std::string>& cols) {
  std::string s;
  for (const auto& c : cols) s += (s.empty() ? "" : ", ") + c;
  return s;
}

nlohmann::json cell_json(const sql_value& v) {
  if (std::holds_alternative<std::nullptr_t>(v)) return nullptr;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::get<std::string>(v);
}

sql_value json_cell(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  if (j.is_number_integer() || j.is_number_unsigned()) return j.get<std::int64_t>();
  if (j.is_number_float()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

std::int64_t count_rows(sql_connection& db, const std::string& table) {
  auto rows = db.query("SELECT COUNT(*) FROM " + table);
  return rows.empty() ? 0 : rows[0].i(0);
}

// One SQLite database into another, page by page, through the online backup API: a
// consistent copy even while another process writes the source (WAL).
void sqlite_copy(const std::string& from, const std::string& to) {
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  auto close_all = [&] {
    if (src) sqlite3_close(src);
    if (dst) sqlite3_close(dst);
  };
  if (sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string why = src ? sqlite3_errmsg(src) : "out of memory";
    close_all();
    throw record_store_error("cannot open the SQLite database " + from + ": " + why);
  }
  if (sqlite3_open_v2(to.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string why = dst ? sqlite3_errmsg(dst) : "out of memory";
    close_all();
    throw record_store_error("cannot open the SQLite database " + to + ": " + why);
  }
  sqlite3_busy_timeout(src, 10000);
  sqlite3_busy_timeout(dst, 10000);
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  if (!b) {
    std::string why = sqlite3_errmsg(dst);
    close_all();
    throw record_store_error("cannot copy " + from + " to " + to + ": " + why);
  }
  int rc = SQLITE_OK;
  for (int tries = 0; tries < 600; ++tries) {
    rc = sqlite3_backup_step(b, -1);
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  sqlite3_backup_finish(b);
  std::string why = rc == SQLITE_DONE ? std::string{} : std::string(sqlite3_errstr(rc));
  close_all();
  if (rc != SQLITE_DONE) throw record_store_error("cannot copy " + from + " to " + to + ": " + why);
}

// The target made empty: SQLite's file removed, PostgreSQL's aula tables dropped.
void wipe_target(const std::string& url) {
  if (is_sqlite(url)) {
    const std::string path = sqlite_path(url);
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix);
    return;
  }
  auto db = open_raw(url);
  detail::transaction tx(*db);
  const auto tables = tables_at(static_cast<int>(migrations().size()));
  for (auto it = tables.rbegin(); it != tables.rend(); ++it) db->exec_script("DROP TABLE IF EXISTS " + *it + " CASCADE");
  db->exec_script("DROP TABLE IF EXISTS schema_version");
  tx.commit();
}

// Inserts the rows of one table; the caller holds the transaction.
struct table_loader {
  sql_connection& db;
  std::string table;
  std::string sql;
  std::int64_t rows = 0;
  table_loader(sql_connection& d, std::string t, const std::vector<std::string>& cols) : db(d), table(std::move(t)) {
    std::string marks;
    for (std::size_t k = 0; k < cols.size(); ++k) marks += k ? ", ?" : "?";
    sql = "INSERT INTO " + table + " (" + joined(cols) + ") VALUES (" + marks + ")";
  }
  void add(detail::sql_params params) {
    db.exec(sql, params);
    ++rows;
  }
};

}  // namespace

nlohmann::json backup_record_store(const std::string& url, const std::filesystem::path& dir) {
  check_url(url);
  nlohmann::json part;
  nlohmann::json counts = nlohmann::json::object();
  if (is_sqlite(url)) {
    const std::string path = sqlite_path(url);
    if (!fs::exists(path)) throw record_store_error("the SQLite record store " + path + " does not exist");
    const fs::path out = dir / "records.db";
    fs::remove(out);
    sqlite_copy(path, out.string());
    auto copy = detail::open_sqlite(out.string());
    const int version = schema_version_of(*copy);
    if (version > 0)
      for (const auto& t : tables_at(version)) counts[t] = count_rows(*copy, t);
    part = {{"backend", "sqlite"}, {"file", "records.db"}, {"schema_version", version}, {"rows", counts}};
    return part;
  }
  auto db = open_raw(url);
  db->exec_script("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  const int version = schema_version_of(*db);
  const fs::path out = dir / "records.jsonl";
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot write " + out.string());
  if (version > 0) {
    for (const auto& t : tables_at(version)) {
      const auto cols = columns_of(*db, t);
      f << nlohmann::json({{"table", t}, {"columns", cols}}).dump() << "\n";
      std::int64_t n = 0;
      db->each_row("SELECT " + joined(cols) + " FROM " + t, [&](const sql_row& r) {
        nlohmann::json line = nlohmann::json::array();
        for (const auto& c : r.cells) line.push_back(cell_json(c));
        f << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        ++n;
      });
      counts[t] = n;
    }
  }
  db->exec_script("COMMIT");
  f.close();
  if (!f) throw std::runtime_error("cannot write " + out.string() + " (disk full?)");
  part = {{"backend", "postgresql"}, {"file", "records.jsonl"}, {"schema_version", version}, {"rows", counts}};
  return part;
}

std::size_t record_store_rows(const std::string& url) {
  check_url(url);
  if (is_sqlite(url) && !fs::exists(sqlite_path(url))) return 0;
  auto db = open_raw(url);
  std::size_t n = 0;
  for (const char* t : {"records", "learners", "cohort_members"})
    if (has_table(*db, t)) n += static_cast<std::size_t>(count_rows(*db, t));
  return n;
}

nlohmann::json restore_record_store(const std::string& url, const std::filesystem::path& dir,
                                    const nlohmann::json& part) {
  check_url(url);
  const std::string backend = part.value("backend", std::string{});
  const std::string file = part.value("file", std::string{});
  const int version = part.value("schema_version", 0);
  if ((backend != "sqlite" && backend != "postgresql") || file.empty() || file.find('/') != std::string::npos)
    throw std::runtime_error("the manifest's record store part is not understood");
  const fs::path source = dir / file;
  if (!fs::exists(source)) throw std::runtime_error("the backup has no " + file);
  if (version >= 1) migrations_upto(version);  // a backup newer than this build: refused before anything changes
  nlohmann::json counts = nlohmann::json::object();

  if (is_sqlite(url) && backend == "sqlite") {
    // SQLite into SQLite: the file as it was, page by page.
    const std::string path = sqlite_path(url);
    if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
    wipe_target(url);
    sqlite_copy(source.string(), path);
  } else {
    // Rows into a schema of the backup's version.
    if (version < 1) throw std::runtime_error("the backup's record store is empty (schema version 0)");
    const auto tables = tables_at(version);
    if (is_sqlite(url)) {
      const std::string path = sqlite_path(url);
      if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
    }
    wipe_target(url);
    open_record_store(url, migrations_upto(version));  // makes the tables of that version
    auto db = open_raw(url);
    detail::transaction tx(*db);
    if (backend == "sqlite") {
      auto src = detail::open_sqlite(source.string());
      for (const auto& t : tables) {
        const auto cols = columns_of(*src, t);
        table_loader load(*db, t, cols);
        src->each_row("SELECT " + joined(cols) + " FROM " + t, [&](const sql_row& r) { load.add(r.cells); });
      }
    } else {
      std::ifstream in(source, std::ios::binary);
      std::string line;
      std::unique_ptr<table_loader> load;
      std::size_t lineno = 0;
      while (std::getline(in, line)) {
        ++lineno;
        if (line.empty()) continue;
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(line);
        } catch (const std::exception&) {
          throw std::runtime_error(file + ":" + std::to_string(lineno) + ": not JSON (a damaged backup?)");
        }
        if (j.is_object()) {
          const std::string t = j.value("table", std::string{});
          if (std::find(tables.begin(), tables.end(), t) == tables.end())
            throw std::runtime_error(file + ":" + std::to_string(lineno) + ": unknown table '" + t + "'");
          load = std::make_unique<table_loader>(*db, t, j.at("columns").get<std::vector<std::string>>());
        } else if (j.is_array() && load) {
          detail::sql_params params;
          for (const auto& c : j) params.push_back(json_cell(c));
          load->add(std::move(params));
        } else {
          throw std::runtime_error(file + ":" + std::to_string(lineno) + ": a row before its table's header");
        }
      }
    }
    if (std::string(db->backend()) == "postgresql")  // the next record's seq follows the restored ones
      db->query("SELECT setval(pg_get_serial_sequence('records', 'seq'), (SELECT COALESCE(MAX(seq), 0) + 1 FROM records), false)");
    tx.commit();
  }
  // Up to this build's schema (a backup of an older aula).
  auto store = open_record_store(url);
  const int now = store->schema_version();
  store.reset();
  auto db = open_raw(url);
  for (const auto& t : tables_at(now)) counts[t] = count_rows(*db, t);
  return {{"backend", db->backend()}, {"from", backend}, {"schema_version", now}, {"rows", counts}};
}

}  // namespace aula::records
