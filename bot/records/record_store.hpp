// The record store: where result records end up, and what reports read (DESIGN.md, "Results
// sink"). The lease holder of a partition drains its Redis stream of result records into it,
// idempotently by (conv, id); reports are SQL over it. SQLite by default (one file), PostgreSQL
// when configured:
//
//   AULA_RECORDS_URL=sqlite:///var/lib/aula/records.db      absolute path
//   AULA_RECORDS_URL=sqlite://data/records.db               relative to the working directory
//   AULA_RECORDS_URL=postgresql://aula@db.internal:5432/aula (any libpq URI; postgres:// too)
//
// Synchronous and blocking, no Asio: the caller gives the store its own thread. One
// record_store is one connection; it is not safe to use from two threads at once.
//
// Records are stored whole (the `data` column: unknown types and fields are kept) and also in
// real columns the reports query. Reports return ids (flow, node, option value, course), never
// node texts: mapping ids to the words of a flow is the caller's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace aula::json_text {
class path_set;
class values;
}  // namespace aula::json_text

namespace aula::records {

// The fields the record store reads from a record's text (json_text::values of a record text
// with these paths is what insert_values() takes).
const json_text::path_set& record_paths();

namespace detail {
class sql_connection;
struct record_row;
}  // namespace detail

// A record's fields, read once from its text (the record keeper reads each record of a batch
// to check and sort it, then stores it with insert_read()): in one pass where the text is the
// flat object the commit writes (detail::read_row), else picked (json_text::values with
// record_paths()). The text must outlive it.
class record_text {
 public:
  explicit record_text(std::string_view text);
  record_text(record_text&&) noexcept;
  record_text& operator=(record_text&&) noexcept;
  ~record_text();

  std::string_view text() const { return text_; }
  bool is_object() const;
  // Whether the record has the member (null included).
  bool has(std::string_view key) const;
  // The member when it is a string (nullopt: absent, or not a string).
  std::optional<std::string_view> string(std::string_view key) const;
  // Whether the member is an integer.
  bool is_integer(std::string_view key) const;
  // Whether it was read in one pass (else picked).
  bool in_one_pass() const { return row_ != nullptr; }

 private:
  friend class record_store;
  const nlohmann::json* picked(std::string_view key) const;
  std::string_view text_;
  std::unique_ptr<detail::record_row> row_;
  std::unique_ptr<json_text::values> values_;
};

// A database that cannot be opened, migrated or written. The message says which database (a
// PostgreSQL URL without its password) and what the database said.
class record_store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Which learners and which records a report covers. Empty lists and unset times are no
// condition; conditions combine with AND.
struct report_filter {
  std::vector<std::string> cohorts;    // learners in any of these cohorts (cohort_members)
  std::vector<std::string> states;     // learners whose state (learners.state) is one of these
  std::optional<std::int64_t> from_ms;  // records with at >= from_ms
  std::optional<std::int64_t> to_ms;    // records with at < to_ms
};

// One schema step. `sql` runs on both backends; "{{serial_key}}" stands for the dialect's
// auto-incremented key column (SQLite INTEGER PRIMARY KEY, PostgreSQL an identity column).
struct migration {
  int version = 0;
  std::string description;
  std::string sql;
};

// Cut-off instants (ms since the epoch) of the retention job; unset: keep (privacy.cpp).
struct retention_cutoffs {
  std::optional<std::int64_t> free_text;  // learners' typed words blanked in records older than this
  std::optional<std::int64_t> delivery;   // sent / delivery / dead_letter / reengagement records deleted
  std::optional<std::int64_t> audit;      // staff action records ("admin") deleted
};

// What a learner typed, removed from a result record: "text" of answer / quiz / invalid /
// inbound records, and "value" too when it is typed words (an invalid reply, an inbound
// message, an answer to a text question: "free_text": true). Choice ids, numbers and scores
// stay, so tallies still add up. Returns whether anything was removed.
bool strip_free_text(nlohmann::json& record);

// A learner's record as erasure keeps it: conv replaced by `anon`, every "text" (what they
// typed, what they were sent, which may name them) and typed values removed, provider message
// ids dropped; choices, numbers, scores, statuses and times kept. Marked "erased": true.
nlohmann::json anonymized_record(const nlohmann::json& record, const std::string& anon);

// The migrations of this build, in order (versions 1, 2, …).
const std::vector<migration>& migrations();

class record_store {
 public:
  explicit record_store(std::unique_ptr<detail::sql_connection> db, std::string shown_url);
  ~record_store();
  record_store(const record_store&) = delete;
  record_store& operator=(const record_store&) = delete;

  const char* backend() const;  // "sqlite" | "postgresql"
  int schema_version();

  // Stores result records in one transaction; a record already stored (same conv and id) is
  // left as it is. Returns how many were new. Every record needs a string "conv"
  // ("<channel>:<address>"), a string "id", a string "type" and an integer "at" (ms since
  // the epoch); a batch with a record without them is refused whole (std::invalid_argument,
  // naming the record's position) before anything is written. "channel" is taken from the
  // record, else from conv.
  std::size_t insert(const std::vector<nlohmann::json>& records) { return insert(std::span(records), {}); }
  // The same, with the JSON text each record was parsed from (texts[k] gave records[k]; empty:
  // none): stored as the record's data as it is instead of writing the record out again (the
  // record keeper's records, which the commit wrote in the same compact form).
  std::size_t insert(std::span<const nlohmann::json> records, std::span<const std::string_view> texts);
  // The same for records given as their texts only (the record keeper's batches, each stored
  // as its data): a record's fields are read from its text (record_text: in one pass, else
  // picked with its value whole, else its document); the rows are those insert() stores.
  std::size_t insert_texts(std::span<const std::string_view> texts);
  // The same with each text's values already picked (recs[k]: json_text::values(texts[k],
  // record_paths()), as the record keeper picks them to check and sort a batch): not picked
  // again.
  std::size_t insert_values(std::span<const std::string_view> texts, std::span<json_text::values> recs);
  // The same for records read with record_text (each stored with its text as its data).
  std::size_t insert_read(std::span<record_text> recs);
  // Called between two records of an insert (the caller's thread may give the core back); with
  // SQLite also before each file read, write and sync of the insert and its commit (a
  // checkpoint's too: thousands of pages). It should not throw (inside SQLite it is dropped).
  void on_each_record(std::function<void()> f) { between_records_ = std::move(f); }

  // The learner dimension, as the directory holds it: name, state, role, language, channel
  // (else from conv), status, enrolled_at, and any other field (kept whole in `data`). The
  // record replaces the stored one. A "cohorts" array, when present, replaces the learner's
  // cohorts (as set_cohorts). States are grouped exactly as written: pass the canonical name
  // (roster's state_name) so "CDMX" and "Ciudad de México" are one state.
  void upsert_learner(const std::string& conv, const nlohmann::json& learner);
  void set_cohorts(const std::string& conv, const std::vector<std::string>& cohorts);

  // -- Data rights and retention (privacy.cpp) -------------------------------------------

  // Erases a learner (a data-rights request): every record of `conv` is kept as
  // anonymized_record under `anon` (a record `anon` already has is dropped instead), the
  // learner row becomes `anon`'s without name or profile fields (state, role, language,
  // channel, status, enrolment and cohorts stay: reports by state and cohort still add up) and
  // the cohort memberships move to `anon`; staff action records naming `conv` name `anon`.
  // With `up_to_ms`, only records with at <= up_to_ms, and the learner row is left alone (a
  // late fix-up after a record drained in the middle of an erasure). One transaction.
  // Returns {"records", "learners", "cohorts", "staff"}: rows changed.
  nlohmann::json erase_learner(const std::string& conv, const std::string& anon,
                               std::optional<std::int64_t> up_to_ms = std::nullopt);

  // Applies the retention cut-offs: {"free_text", "delivery", "audit"}: rows blanked or deleted.
  nlohmann::json apply_retention(const retention_cutoffs& cut);

  // The learner's latest `limit` records (as stored, whole), oldest first.
  nlohmann::json timeline(const std::string& conv, std::size_t limit = 500);

  // -- Reports. "Latest" means the greatest (at, insertion order). ---------------------------

  // Per learner and course, from enrolled / module / course / end records:
  //   {"learners": [{"conv", "name", "state", "cohorts": [..],
  //                  "courses": [{"course", "status": "active"|"completed"|"not_met"|"failed"|null,
  //                               "enrolled_at", "ended_at", "score", "max",      (null until the course ends)
  //                               "modules_completed", "modules_total", "completion" (0..1),
  //                               "modules": [{"module", "flow", "status", "score", "max", "percent",
  //                                            "attempt", "at"}]}],
  //                  "flows": [{"flow", "status", "score", "max", "at"}]}],   (latest end per flow)
  //    "by_cohort": [{"cohort", "course", "learners", "completed", "share"}],
  //    "by_state":  [{"state", "course", "learners", "completed", "share"}]}
  // A course's status is its latest enrolled (-> "active") or course record; module records
  // before the latest enrolment are a previous attempt and left out. modules_total is the
  // highest module number any learner of the store has opened in that course (the store does
  // not know the course file). Learners: those of the learner table that match the filter,
  // and any conversation with such records. "" stands for no cohort / no state. With a cohort
  // filter, by_cohort lists only those cohorts.
  nlohmann::json progress(const report_filter& filter = {});

  // enrolled -> started -> completed, per flow. With a course, only its enrolled learners
  // count, and an empty `flows` means the course's module flows in module order:
  //   {"course", "enrolled" (null without a course),
  //    "steps": [{"flow", "module" (null when not a module of the course), "enrolled",
  //               "started", "completed", "drop_off": [{"node", "learners"}]}]}
  // started: a "start" record in the flow; completed: an "end" or "module" record of the flow
  // with status completed. drop_off: learners who started and have not completed, by the node
  // of their latest record in the flow ("" when none has a node: never answered the first
  // question); most learners first.
  nlohmann::json funnel(const std::string& course, const std::vector<std::string>& flows,
                        const report_filter& filter = {});

  // Quiz item analysis, per quiz node of the flow (answered quiz records):
  //   {"flow", "nodes": [{"node", "learners", "first_correct", "first_correct_share",
  //                       "correct_any", "skipped",
  //                       "answers": [{"value", "count", "correct"}],        (every attempt)
  //                       "first_answers": [{"value", "count", "correct"}],  (each learner's first)
  //                       "most_chosen_wrong": {"value", "count"} | null}]}
  // A learner's first attempt is their earliest answered record at the node (a retaken module
  // does not give a second first attempt). Lists: highest count first, then value.
  nlohmann::json items(const std::string& flow, const report_filter& filter = {});

  // Survey answers per question node of the flow: each learner's latest answered record per
  // node (a retaken survey replaces the earlier answers).
  //   {"flow", "nodes": [{"node", "responses",
  //                       "values": [{"value", "count"}],     (multi answers: one per chosen option)
  //                       "numeric": {"count", "mean", "min", "max"} | null,
  //                       "texts": [{"text", "count"}]}],     (what learners typed, verbatim)
  //    "by_state":  [{"state", "node", "count", "mean"}],      (numeric answers only)
  //    "by_cohort": [{"cohort", "node", "count", "mean"}],
  //    "nps": [{"node", "responses", "promoters", "passives", "detractors", "nps"}]}
  // nps (for each of nps_nodes): % promoters (9-10) minus % detractors (0-6), -100..100.
  nlohmann::json survey(const std::string& flow, const report_filter& filter = {},
                        const std::vector<std::string>& nps_nodes = {});

  // Every answer given in the flow, for exports: each answered "answer" and "quiz" record
  // (every quiz attempt, final or not; skipped questions and invalid replies are not answers),
  // with its learner from the learner table, oldest first (at, then insertion order):
  //   {"flow", "rows": [{"conv", "name", "state", "cohorts": [..],   (null name/state: not in the table)
  //                      "node", "type": "answer"|"quiz", "value" (as stored: a multi answer
  //                      stays an array, a number a number), "text" (what the learner sent),
  //                      "correct" (quiz: true|false; answers: null), "attempt" (quiz; answers:
  //                      null), "at"}]}
  nlohmann::json answers(const std::string& flow, const report_filter& filter = {});

  // Sending and delivery per channel:
  //   {"channels": [{"channel", "sent", "segments", "delivered", "read", "failed",
  //                  "dead_letters", "reengagements", "statuses": {"<status>": n}}],
  //    "totals": {same fields, without "channel"}}
  // sent: messages sent ("sent" records, each standing for its "messages", else one);
  // segments: their "segments" summed (SMS); delivered / read / failed
  // and statuses: the providers' "delivery" records by status.
  nlohmann::json delivery(const report_filter& filter = {});

 private:
  friend std::unique_ptr<record_store> open_record_store(const std::string&, const std::vector<migration>&);
  void migrate(const std::vector<migration>& list);

  std::unique_ptr<detail::sql_connection> db_;
  std::function<void()> between_records_;
  std::string shown_url_;
};

// Opens (creating an empty SQLite file, never its directory) and migrates. A bad URL is a
// std::invalid_argument saying what is accepted; a database that cannot be opened, or whose
// schema is newer than this build knows, a record_store_error.
std::unique_ptr<record_store> open_record_store(const std::string& url);

// The same with another migration list: tests use it to make an older database (a prefix of
// migrations()) or a newer one (migrations() plus one).
std::unique_ptr<record_store> open_record_store(const std::string& url, const std::vector<migration>& list);

// The URL as messages may show it: a PostgreSQL password replaced by "***".
std::string redact_url(const std::string& url);

}  // namespace aula::records
