// Backups of the record store (aula backup / aula restore; scripts/deploy/README.md).
//
//  * SQLite: a consistent copy of the live file through SQLite's online backup API
//    (sqlite3_backup_*), written as `records.db` in the backup folder; aula may keep writing
//    meanwhile (WAL). Restored into a SQLite record store with the same API.
//  * PostgreSQL: a portable dump of aula's tables (those its migrations create, up to the
//    database's schema version) read in one REPEATABLE READ READ ONLY transaction, written as
//    `records.jsonl`: per table a header line {"table", "columns"} and then one JSON array per
//    row. No pg_dump needed, any PostgreSQL version, and it restores into PostgreSQL or SQLite.
//    A records.db restores into PostgreSQL the same way (moving from SQLite to PostgreSQL).
//
// A restore makes the schema of the backup's version, loads the rows in one transaction and
// then migrates to this build's schema: a backup of an older aula restores into a newer one.
// Synchronous and blocking, like the rest of bot/records.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace aula::records {

// Writes the record store named by `url` into `dir` (which exists). Returns the manifest's
// "records" part: {"backend", "file", "schema_version", "rows": {"<table>": n}}.
// Throws record_store_error / std::invalid_argument / std::runtime_error.
nlohmann::json backup_record_store(const std::string& url, const std::filesystem::path& dir);

// Rows held by the record store at `url` (records + learners + cohort members); 0 when the
// SQLite file does not exist or the tables are not made yet. Never creates anything.
std::size_t record_store_rows(const std::string& url);

// Replaces the content of the record store at `url` with the backup described by `part`
// (what backup_record_store returned) in `dir`, then migrates to this build's schema.
// Returns {"backend", "from", "rows": {"<table>": n}, "schema_version"}.
nlohmann::json restore_record_store(const std::string& url, const std::filesystem::path& dir,
                                    const nlohmann::json& part);

}  // namespace aula::records
