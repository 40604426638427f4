// The record store's view of a database: one connection, statements with `?` placeholders,
// parameters and cells as a small variant. SQLite and PostgreSQL implement it; everything
// above (migrations, inserts, reports) is written once, in SQL both accept.
//
// Internal to bot/records: not installed, not included by callers of record_store.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace aula::records::detail {

// A parameter or a result cell. PostgreSQL hands every cell back as text; SQLite as what it
// stored. The accessors below read either.
using sql_value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;
using sql_params = std::vector<sql_value>;

struct sql_row {
  std::vector<sql_value> cells;

  bool null(std::size_t k) const { return std::holds_alternative<std::nullptr_t>(cells.at(k)); }
  std::int64_t i(std::size_t k) const;   // null -> 0
  double d(std::size_t k) const;         // null -> 0
  std::string s(std::size_t k) const;    // null -> ""
  std::optional<std::int64_t> oi(std::size_t k) const { return null(k) ? std::nullopt : std::optional(i(k)); }
  std::optional<double> od(std::size_t k) const { return null(k) ? std::nullopt : std::optional(d(k)); }
};

class sql_connection {
 public:
  virtual ~sql_connection() = default;

  virtual const char* backend() const = 0;  // "sqlite" | "postgresql"
  // Statements without parameters, possibly several separated by ';' (migrations).
  virtual void exec_script(const std::string& sql) = 0;
  // One statement; returns the rows it changed (INSERT … ON CONFLICT DO NOTHING: 0 or 1).
  virtual std::size_t exec(const std::string& sql, const sql_params& params = {}) = 0;
  virtual std::vector<sql_row> query(const std::string& sql, const sql_params& params = {}) = 0;
  // Every row of a statement without parameters, one at a time (PostgreSQL: single-row mode,
  // so a large table is never held whole in memory; backups read tables with it).
  virtual void each_row(const std::string& sql, const std::function<void(const sql_row&)>& fn) {
    for (const auto& r : query(sql, {})) fn(r);
  }

  // A write transaction. SQLite takes the write lock at BEGIN (BEGIN IMMEDIATE), so two
  // writers wait for each other instead of failing halfway with SQLITE_BUSY.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  // Inside a transaction: serializes schema migrations between processes opening the same
  // database at once (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE already does).
  virtual void lock_for_migration() = 0;

  // The dialect's column for the insertion order of records (an auto-incremented key).
  virtual std::string serial_key_column() const = 0;
};

// Rolls back unless committed: an exception between begin and commit leaves nothing behind.
class transaction {
 public:
  explicit transaction(sql_connection& db) : db_(db) { db_.begin(); }
  ~transaction() {
    if (!done_) db_.rollback();
  }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit() {
    db_.commit();
    done_ = true;
  }

 private:
  sql_connection& db_;
  bool done_ = false;
};

// `path` is a file name (or ":memory:"); the caller has checked that its directory exists.
std::unique_ptr<sql_connection> open_sqlite(const std::string& path);
// While one lives, this thread's SQLite file reads, writes and syncs first call `hook` (a
// checkpoint or a commit of many pages can give the core back between its writes, as an insert
// does between records; an exception it throws is dropped there). Nests; other threads are
// not affected.
class io_pacing_scope {
 public:
  explicit io_pacing_scope(const std::function<void()>* hook);
  ~io_pacing_scope();
  io_pacing_scope(const io_pacing_scope&) = delete;
  io_pacing_scope& operator=(const io_pacing_scope&) = delete;

 private:
  const std::function<void()>* before_;
};
// The WAL's writes in this process so far: as SQLite asked for them, and as made (a commit's
// frames are written together; sqlite_store.cpp).
struct wal_write_counts {
  std::uint64_t asked = 0, made = 0;
};
wal_write_counts sqlite_wal_writes();
// `conninfo` is a libpq URI or key=value string; `shown` is what error messages may print
// (the URL without its password).
std::unique_ptr<sql_connection> open_postgres(const std::string& conninfo, const std::string& shown);

}  // namespace aula::records::detail
