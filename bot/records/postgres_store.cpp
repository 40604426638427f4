// The PostgreSQL connection of the record store (libpq, blocking). Statements are written with
// SQLite's `?` and numbered here ($1, $2, …); each is prepared once per connection. Parameters
// go as text and the server gives them the type their place asks for (a column, a comparison).
//
// libpq is loaded when the first PostgreSQL connection is opened (dlopen), not linked: with the
// default SQLite store, aula serve never maps it nor what it pulls in (GnuTLS, Kerberos, LDAP,
// SASL…: ~3.3 MB of the server's resident memory, measured with /proc/<pid>/smaps).
#include <dlfcn.h>
#include <libpq-fe.h>

#include <charconv>
#include <map>

#include "bot/records/record_store.hpp"
#include "bot/records/sql.hpp"

namespace aula::records::detail {

namespace {

// The libpq functions this file calls (each listed once: a member, and its lookup), found once
// in the loaded library.
#define AULA_LIBPQ_FUNCTIONS(X) \
  X(PQclear) \
  X(PQcmdTuples) \
  X(PQconnectdb) \
  X(PQerrorMessage) \
  X(PQexec) \
  X(PQexecPrepared) \
  X(PQfinish) \
  X(PQgetResult) \
  X(PQgetisnull) \
  X(PQgetlength) \
  X(PQgetvalue) \
  X(PQnfields) \
  X(PQntuples) \
  X(PQprepare) \
  X(PQresultErrorMessage) \
  X(PQresultStatus) \
  X(PQsendQuery) \
  X(PQsetClientEncoding) \
  X(PQsetNoticeProcessor) \
  X(PQsetSingleRowMode) \
  X(PQstatus) \
  X(PQtransactionStatus)

struct libpq {
#define AULA_LIBPQ_MEMBER(name) decltype(&::name) name = nullptr;
  AULA_LIBPQ_FUNCTIONS(AULA_LIBPQ_MEMBER)
#undef AULA_LIBPQ_MEMBER
};

const libpq& pq() {
  // A failed load throws out of the initializer: the next connection tries again.
  static const libpq lib = [] {
    void* h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* why = dlerror();
      throw record_store_error(std::string("record store: PostgreSQL needs libpq (Debian: apt-get install libpq5): ") +
                               (why ? why : "libpq.so.5 not found"));
    }
    libpq l;
    const auto get = [h](auto& fn, const char* name) {
      void* sym = dlsym(h, name);
      if (!sym) throw record_store_error(std::string("record store: libpq.so.5 has no ") + name);
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym);
    };
#define AULA_LIBPQ_LOOKUP(name) get(l.name, #name);
    AULA_LIBPQ_FUNCTIONS(AULA_LIBPQ_LOOKUP)
#undef AULA_LIBPQ_LOOKUP
    return l;  // the library stays loaded for the process's life
  }();
  return lib;
}

// `?` -> `$n`, leaving quoted literals and identifiers alone.
std::string numbered(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out.push_back(c);
    } else if (c == '\'' || c == '"') {
      quote = c;
      out.push_back(c);
    } else if (c == '?') {
      out += "$" + std::to_string(++n);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string text_of(const sql_value& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, *d);
    return std::string(buf, r.ptr);
  }
  return std::get<std::string>(v);
}

class result {
 public:
  explicit result(PGresult* r) : r_(r) {}
  ~result() { pq().PQclear(r_); }
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

class postgres_connection final : public sql_connection {
 public:
  postgres_connection(const std::string& conninfo, std::string shown) : shown_(std::move(shown)) {
    conn_ = pq().PQconnectdb(conninfo.c_str());
    if (!conn_ || pq().PQstatus(conn_) != CONNECTION_OK) {
      std::string why = conn_ ? pq().PQerrorMessage(conn_) : "out of memory";
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      pq().PQfinish(conn_);
      conn_ = nullptr;
      throw record_store_error("record store: cannot connect to " + shown_ + ": " + why);
    }
    // NOTICEs ("relation already exists, skipping") are not for the operator's terminal.
    pq().PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    if (pq().PQsetClientEncoding(conn_, "UTF8") != 0) {
      pq().PQfinish(conn_);
      conn_ = nullptr;
      throw record_store_error("record store: " + shown_ + " does not accept UTF-8 as the client encoding");
    }
  }

  ~postgres_connection() override {
    if (conn_) pq().PQfinish(conn_);
  }

  const char* backend() const override { return "postgresql"; }

  void exec_script(const std::string& sql) override {
    result r(pq().PQexec(conn_, sql.c_str()));
    check(r.get(), sql);
  }

  std::size_t exec(const std::string& sql, const sql_params& params) override {
    result r(run(sql, params));
    const char* n = pq().PQcmdTuples(r.get());
    std::size_t count = 0;
    if (n && *n) std::from_chars(n, n + std::char_traits<char>::length(n), count);
    return count;
  }

  std::vector<sql_row> query(const std::string& sql, const sql_params& params) override {
    result r(run(sql, params));
    std::vector<sql_row> rows;
    const int nrows = pq().PQntuples(r.get()), ncols = pq().PQnfields(r.get());
    rows.reserve(static_cast<std::size_t>(nrows));
    for (int i = 0; i < nrows; ++i) rows.push_back(row_of(r.get(), i, ncols));
    return rows;
  }

  void each_row(const std::string& sql, const std::function<void(const sql_row&)>& fn) override {
    if (!pq().PQsendQuery(conn_, sql.c_str())) {
      std::string why = pq().PQerrorMessage(conn_);
      throw record_store_error("record store (" + shown_ + "): " + why + " [" + sql.substr(0, 200) + "]");
    }
    pq().PQsetSingleRowMode(conn_);
    std::string error;
    std::exception_ptr failed;
    // Every result is read, even after a failure, so the connection is ready for the next call.
    while (PGresult* raw = pq().PQgetResult(conn_)) {
      result r(raw);
      const auto st = pq().PQresultStatus(raw);
      if (st == PGRES_SINGLE_TUPLE) {
        if (failed || !error.empty()) continue;
        const sql_row row = row_of(raw, 0, pq().PQnfields(raw));
        try {
          fn(row);
        } catch (...) {
          failed = std::current_exception();
        }
      } else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        error = pq().PQresultErrorMessage(raw);
      }
    }
    if (failed) std::rethrow_exception(failed);
    if (!error.empty()) {
      while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
      throw record_store_error("record store (" + shown_ + "): " + error + " [" + sql.substr(0, 200) + "]");
    }
  }

  void begin() override { exec_script("BEGIN"); }
  void commit() override { exec_script("COMMIT"); }
  void rollback() noexcept override {
    if (conn_ && pq().PQtransactionStatus(conn_) != PQTRANS_IDLE) pq().PQclear(pq().PQexec(conn_, "ROLLBACK"));
  }
  void lock_for_migration() override {
    // Released at COMMIT or ROLLBACK. The key is arbitrary but fixed: "aula" in ASCII.
    exec_script("SELECT pg_advisory_xact_lock(1635087457)");
  }

  std::string serial_key_column() const override { return "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"; }

 private:
  // Row i of a result, its `ncols` cells as text or NULL.
  static sql_row row_of(PGresult* r, int i, int ncols) {
    sql_row row;
    row.cells.reserve(static_cast<std::size_t>(ncols));
    for (int c = 0; c < ncols; ++c) {
      if (pq().PQgetisnull(r, i, c))
        row.cells.emplace_back(nullptr);
      else
        row.cells.emplace_back(std::string(pq().PQgetvalue(r, i, c), static_cast<std::size_t>(pq().PQgetlength(r, i, c))));
    }
    return row;
  }

  void check(PGresult* r, const std::string& sql) const {
    const auto st = r ? pq().PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    std::string why = r ? pq().PQresultErrorMessage(r) : pq().PQerrorMessage(conn_);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    throw record_store_error("record store (" + shown_ + "): " + why + " [" + sql.substr(0, 200) + "]");
  }

  PGresult* run(const std::string& sql, const sql_params& params) {
    std::string name;
    if (auto it = prepared_.find(sql); it != prepared_.end()) {
      name = it->second;
    } else {
      name = "aula_" + std::to_string(prepared_.size() + 1);
      const std::string text = numbered(sql);
      result p(pq().PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr));
      check(p.get(), sql);
      prepared_.emplace(sql, name);
    }
    std::vector<std::string> texts(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (std::size_t k = 0; k < params.size(); ++k) {
      if (std::holds_alternative<std::nullptr_t>(params[k])) continue;
      texts[k] = text_of(params[k]);
      values[k] = texts[k].c_str();
    }
    PGresult* r = pq().PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()), values.data(), nullptr,
                                 nullptr, 0);
    try {
      check(r, sql);
    } catch (...) {
      pq().PQclear(r);
      throw;
    }
    return r;
  }

  std::string shown_;
  PGconn* conn_ = nullptr;
  std::map<std::string, std::string> prepared_;  // SQL text -> prepared statement name
};

}  // namespace

std::unique_ptr<sql_connection> open_postgres(const std::string& conninfo, const std::string& shown) {
  return std::make_unique<postgres_connection>(conninfo, shown);
}

}  // namespace aula::records::detail
