// The SQLite connection of the record store: one file in WAL mode (readers do not block the
// drain's writes), prepared statements kept per SQL text.
#include <sqlite3.h>

#include <charconv>
#include <string>
#include <unordered_map>
#include <stdexcept>

#include "bot/records/record_store.hpp"
#include "bot/records/sql.hpp"

namespace aula::records::detail {

namespace {

class sqlite_connection final : public sql_connection {
 public:
  explicit sqlite_connection(const std::string& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw record_store_error("record store: cannot open the SQLite database " + path + ": " + why);
    }
    // A drain writing while a report reads: wait for the lock rather than fail at once.
    sqlite3_busy_timeout(db_, 10000);
    try {
      // WAL: readers and the writer do not block each other; NORMAL is durable across
      // process crashes in WAL mode (a power loss may lose the last transactions, which the
      // Redis stream still holds until trimmed).
      query("PRAGMA journal_mode=WAL", {});
      exec_script("PRAGMA synchronous=NORMAL");
      // The drain writes ~1,000 pages of WAL per 1,000-record transaction (each learner's
      // records land in its own leaf of the (conv, id) index): at SQLite's default of a
      // checkpoint per 1,000 pages, every transaction was copied back and synced. At 10,000
      // (~40 MB of WAL, kept on disk for reuse) a leaf changed by several transactions is
      // copied once (tests/bench/NOTES.md: ~10 % less CPU per record).
      query("PRAGMA wal_autocheckpoint=10000", {});
    } catch (...) {
      close();
      throw;
    }
  }

  ~sqlite_connection() override { close(); }

  const char* backend() const override { return "sqlite"; }

  void exec_script(const std::string& sql) override {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string why = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      fail(why, sql);
    }
  }

  std::size_t exec(const std::string& sql, const sql_params& params) override {
    run(sql, params, nullptr);
    return static_cast<std::size_t>(sqlite3_changes(db_));
  }

  std::vector<sql_row> query(const std::string& sql, const sql_params& params) override {
    std::vector<sql_row> rows;
    run(sql, params, &rows);
    return rows;
  }

  void begin() override { exec_script("BEGIN IMMEDIATE"); }
  void commit() override { exec_script("COMMIT"); }
  void rollback() noexcept override {
    if (db_ && !sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void lock_for_migration() override {}  // BEGIN IMMEDIATE holds the database's write lock

  std::string serial_key_column() const override { return "INTEGER PRIMARY KEY"; }

 private:
  [[noreturn]] void fail(const std::string& why, const std::string& sql) const {
    throw record_store_error("record store (SQLite " + path_ + "): " + why + " [" + sql.substr(0, 200) + "]");
  }

  sqlite3_stmt* prepared(const std::string& sql) {
    if (auto it = cache_.find(sql); it != cache_.end()) return it->second;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st, nullptr) != SQLITE_OK)
      fail(sqlite3_errmsg(db_), sql);
    cache_.emplace(sql, st);
    return st;
  }

  void run(const std::string& sql, const sql_params& params, std::vector<sql_row>* rows) {
    sqlite3_stmt* st = prepared(sql);
    // Reset on every way out, so the statement never holds a read lock between calls.
    struct resetter {
      sqlite3_stmt* st;
      ~resetter() {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
      }
    } reset{st};
    if (static_cast<std::size_t>(sqlite3_bind_parameter_count(st)) != params.size())
      fail("expected " + std::to_string(sqlite3_bind_parameter_count(st)) + " parameters, got " +
               std::to_string(params.size()),
           sql);
    for (std::size_t k = 0; k < params.size(); ++k) {
      const int at = static_cast<int>(k + 1);
      int rc = SQLITE_OK;
      if (const auto* v = std::get_if<std::int64_t>(&params[k]))
        rc = sqlite3_bind_int64(st, at, *v);
      else if (const auto* d = std::get_if<double>(&params[k]))
        rc = sqlite3_bind_double(st, at, *d);
      else if (const auto* s = std::get_if<std::string>(&params[k]))
        rc = sqlite3_bind_text(st, at, s->data(), static_cast<int>(s->size()), SQLITE_STATIC);  // params outlive the step
      else
        rc = sqlite3_bind_null(st, at);
      if (rc != SQLITE_OK) fail(sqlite3_errmsg(db_), sql);
    }
    for (;;) {
      const int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) return;
      if (rc != SQLITE_ROW) fail(sqlite3_errmsg(db_), sql);
      if (!rows) continue;
      sql_row row;
      const int n = sqlite3_column_count(st);
      row.cells.reserve(static_cast<std::size_t>(n));
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(st, c)) {
          case SQLITE_INTEGER: row.cells.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(st, c))); break;
          case SQLITE_FLOAT: row.cells.emplace_back(sqlite3_column_double(st, c)); break;
          case SQLITE_NULL: row.cells.emplace_back(nullptr); break;
          default: {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
            row.cells.emplace_back(std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st, c))));
          }
        }
      }
      rows->push_back(std::move(row));
    }
  }

  void close() noexcept {
    for (auto& [sql, st] : cache_) sqlite3_finalize(st);
    cache_.clear();
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  // By SQL text, hashed: the record insert's ~300-byte text compared in an ordered map's tree
  // walk showed in the drain's profile (the statements share long prefixes).
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace

std::unique_ptr<sql_connection> open_sqlite(const std::string& path) {
  return std::make_unique<sqlite_connection>(path);
}

}  // namespace aula::records::detail
