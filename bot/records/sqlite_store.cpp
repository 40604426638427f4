// The SQLite connection of the record store: one file in WAL mode (readers do not block the
// drain's writes), prepared statements kept per SQL text.
#include <sqlite3.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <new>
#include <vector>
#include <functional>
#include <string>
#include <unordered_map>
#include <stdexcept>

#include "bot/records/record_store.hpp"
#include "bot/records/sql.hpp"

namespace aula::records::detail {

namespace {

// The "aula-paced" VFS: the default one, but a file's reads, writes and syncs first call the
// thread's pacing hook (set by io_pacing_scope around record_store's inserts). A commit writes a
// frame of WAL per page the transaction changed (~1 per record: each learner's records land in
// their own leaf of the (conv, id) index) and a checkpoint copies thousands of them back: run
// in one go, the keeper's thread kept a shared core for a whole tick (perf sched, one
// connection: runs of 1-4 ms while a webhook waited), where between two records it rests.
thread_local const std::function<void()>* io_hook = nullptr;

// The WAL's frames are held and written together (one pwrite per commit, or per 128 KB): SQLite
// writes each frame as two calls, its 24-byte header then its page, so a 250-record commit was
// ~1,500 pwrites of 24 bytes or one page (strace at 64 connections: ~6 per webhook, the most
// frequent system call of the server; ~3.7 µs per frame on this kind of host, against ~0.4 µs
// per frame written 64 at a time). Held bytes are only ever the tail of the file that SQLite
// wrote last and has not published: a commit frame's page ends the hold inside that xWrite (its
// error is the commit's), and any other call on the file (a read, a sync, a lock, the wal-index
// barrier before the header naming the new frames is published…) writes them first. A hold
// that fails where no error can be returned (xShmBarrier) fails the next call that can.
constexpr std::size_t held_max = 128 * 1024;

struct held_writes {
  std::vector<unsigned char> bytes;  // contiguous, from file offset `at`
  sqlite3_int64 at = 0;
  bool commit_frame = false;  // the header of a commit frame is held: its page ends the hold
  int failed = SQLITE_OK;     // a hold written where its error could not be returned
};

struct paced_file {
  sqlite3_file base;   // pMethods: paced_methods (or null when the real open failed)
  sqlite3_file* real;  // the default VFS's file, in the bytes after this struct
  held_writes* held;   // the WAL's held frames (null for other files)
};

sqlite3_vfs* real_vfs() { return sqlite3_vfs_find(nullptr); }
sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<paced_file*>(f)->real; }
held_writes* held_of(sqlite3_file* f) { return reinterpret_cast<paced_file*>(f)->held; }

std::atomic<std::uint64_t> wal_writes_asked{0}, wal_writes_made{0};

// Writes what is held; returns the first error (of this write, or one kept from before).
int write_held(sqlite3_file* f) {
  held_writes* h = held_of(f);
  if (!h) return SQLITE_OK;
  int rc = h->failed;
  h->failed = SQLITE_OK;
  if (!h->bytes.empty()) {
    const int w = real_of(f)->pMethods->xWrite(real_of(f), h->bytes.data(), static_cast<int>(h->bytes.size()), h->at);
    wal_writes_made.fetch_add(1, std::memory_order_relaxed);
    if (rc == SQLITE_OK) rc = w;
    h->bytes.clear();
  }
  h->commit_frame = false;
  return rc;
}

// Called from inside SQLite: nothing may be thrown through its C frames.
void pace_io() noexcept {
  if (!io_hook || !*io_hook) return;
  try {
    (*io_hook)();
  } catch (...) {
  }
}

int p_close(sqlite3_file* f) {
  const int held_rc = write_held(f);
  const int rc = real_of(f)->pMethods->xClose(real_of(f));
  delete held_of(f);
  reinterpret_cast<paced_file*>(f)->held = nullptr;
  return held_rc != SQLITE_OK ? held_rc : rc;
}
int p_read(sqlite3_file* f, void* b, int n, sqlite3_int64 off) {
  pace_io();
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xRead(real_of(f), b, n, off);
}
int p_write(sqlite3_file* f, const void* b, int n, sqlite3_int64 off) {
  pace_io();
  held_writes* h = held_of(f);
  if (!h) return real_of(f)->pMethods->xWrite(real_of(f), b, n, off);
  wal_writes_asked.fetch_add(1, std::memory_order_relaxed);
  const auto* bytes = static_cast<const unsigned char*>(b);
  const bool ends_commit = h->commit_frame;  // this is the page of a held commit frame's header
  const auto size = static_cast<sqlite3_int64>(h->bytes.size());
  if (h->bytes.empty() || off != h->at + size || h->bytes.size() + static_cast<std::size_t>(n) > held_max) {
    if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
    if (static_cast<std::size_t>(n) >= held_max) {
      wal_writes_made.fetch_add(1, std::memory_order_relaxed);
      return real_of(f)->pMethods->xWrite(real_of(f), b, n, off);
    }
    h->at = off;
  }
  h->bytes.insert(h->bytes.end(), bytes, bytes + n);
  // A frame's header: its bytes 4-7 are the database's size in pages after a commit, 0 on
  // the other frames of a transaction.
  h->commit_frame = n == 24 && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
  if (ends_commit) return write_held(f);
  return SQLITE_OK;
}
int p_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int p_sync(sqlite3_file* f, int flags) {
  pace_io();
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int p_file_size(sqlite3_file* f, sqlite3_int64* size) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int p_lock(sqlite3_file* f, int l) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xLock(real_of(f), l);
}
int p_unlock(sqlite3_file* f, int l) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xUnlock(real_of(f), l);
}
int p_check_reserved(sqlite3_file* f, int* out) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out); }
int p_file_control(sqlite3_file* f, int op, void* arg) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int p_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int p_device_characteristics(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int p_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** out) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xShmMap(real_of(f), pg, sz, extend, out);
}
int p_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void p_shm_barrier(sqlite3_file* f) {
  if (held_writes* h = held_of(f)) {
    const int rc = write_held(f);
    if (rc != SQLITE_OK) h->failed = rc;
  }
  real_of(f)->pMethods->xShmBarrier(real_of(f));
}
int p_shm_unmap(sqlite3_file* f, int del) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}
int p_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  if (const int rc = write_held(f); rc != SQLITE_OK) return rc;
  return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}
int p_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real_of(f)->pMethods->xUnfetch(real_of(f), off, p); }

// One table per version of the real file's methods: a method the real file lacks stays absent.
sqlite3_io_methods paced_methods(int version) {
  sqlite3_io_methods m{3, p_close, p_read, p_write, p_truncate, p_sync, p_file_size, p_lock, p_unlock,
                       p_check_reserved, p_file_control, p_sector_size, p_device_characteristics,
                       p_shm_map, p_shm_lock, p_shm_barrier, p_shm_unmap, p_fetch, p_unfetch};
  m.iVersion = version;
  if (version < 2) m.xShmMap = nullptr, m.xShmLock = nullptr, m.xShmBarrier = nullptr, m.xShmUnmap = nullptr;
  if (version < 3) m.xFetch = nullptr, m.xUnfetch = nullptr;
  return m;
}
const sqlite3_io_methods paced_v1 = paced_methods(1), paced_v2 = paced_methods(2), paced_v3 = paced_methods(3);

int p_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* pf = reinterpret_cast<paced_file*>(f);
  pf->base.pMethods = nullptr;
  pf->real = reinterpret_cast<sqlite3_file*>(pf + 1);
  pf->held = nullptr;
  const int rc = real_vfs()->xOpen(real_vfs(), name, pf->real, flags, out_flags);
  if (pf->real->pMethods) {
    if (flags & SQLITE_OPEN_WAL) {
      pf->held = new (std::nothrow) held_writes;  // none (out of memory): written as asked
      if (pf->held) pf->held->bytes.reserve(held_max);
    }
    const int v = pf->real->pMethods->iVersion;
    pf->base.pMethods = v >= 3 ? &paced_v3 : v == 2 ? &paced_v2 : &paced_v1;
  }
  return rc;
}

// The VFS's name, registered once (not as the default: backups and other connections keep it).
const char* paced_vfs_name() {
  static const char* const name = [] {
    // Before SQLite initializes (registering a VFS does): no memory statistics, which aula
    // never reads and which take a process-wide mutex on every allocation. Refused (and
    // harmless) if something in the process initialized SQLite first.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    static sqlite3_vfs vfs = *real_vfs();
    vfs.zName = "aula-paced";
    vfs.pNext = nullptr;
    vfs.szOsFile = static_cast<int>(sizeof(paced_file)) + real_vfs()->szOsFile;
    vfs.xOpen = p_open;
    // The rest (delete, access, randomness, time…) are the real VFS's, called with this copy
    // (its pAppData kept).
    sqlite3_vfs_register(&vfs, 0);
    return vfs.zName;
  }();
  return name;
}

class sqlite_connection final : public sql_connection {
 public:
  explicit sqlite_connection(const std::string& path) : path_(path) {
    // NOMUTEX: a connection is used by one thread at a time (the record keeper's, or a
    // command's), so SQLite's per-call locking of it is not needed.
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        paced_vfs_name()) != SQLITE_OK) {
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
      // A 4-MB page cache (the default is 2 MB) keeps more of the (conv, id) index's leaves,
      // which every insert reads at random: fewer preads per record. Alone it cost ~2 MB of
      // RSS; with the record keeper's smaller transactions the server's peak is ~1 MB lower
      // than before both (bot/service/records.cpp, per_transaction).
      exec_script("PRAGMA cache_size=-4000");
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
    // Reset on every way out, so the statement never holds a read lock between calls. Its
    // bindings are not cleared: every call binds all of them (the count is checked below), and
    // nothing reads a binding before that (clearing 22 of them per record insert was ~0.25 % of
    // the server's instructions).
    struct resetter {
      sqlite3_stmt* st;
      ~resetter() { sqlite3_reset(st); }
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

io_pacing_scope::io_pacing_scope(const std::function<void()>* hook) : before_(io_hook) { io_hook = hook; }
io_pacing_scope::~io_pacing_scope() { io_hook = before_; }

wal_write_counts sqlite_wal_writes() {
  return {wal_writes_asked.load(std::memory_order_relaxed), wal_writes_made.load(std::memory_order_relaxed)};
}

std::unique_ptr<sql_connection> open_sqlite(const std::string& path) {
  return std::make_unique<sqlite_connection>(path);
}

}  // namespace aula::records::detail
