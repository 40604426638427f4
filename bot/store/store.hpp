// Where conversations live: sessions, the outbox, timers and result records, split into
// partitions (DESIGN.md, "Redis keys"). One commit writes everything a step produced,
// atomically, with an optimistic version check and provider-id dedupe. redis_store is the
// real one; memory_store serves `aula serve --store memory` (development) and unit tests.
//
// Redis layout (P partitions, p = fnv1a64(conversation) % P; every key a step touches carries
// the hash tag {p<N>}, so the commit script is legal on Redis Cluster):
//
//   aula:meta:partitions          string: P, written once (SET NX); another P is refused
//   aula:{p7}:s:<conversation>    hash: v = version (integer), d = session JSON,
//                                 ids = the last 64 committed provider ids, "\n"-separated,
//                                 oldest first, idn = how many (a hash without it: counted)
//   aula:{p7}:outbox:reply        stream, field d = outbox entry JSON ({"conv","lane","msg"})
//   aula:{p7}:outbox:bulk         the same for lane "bulk" (reminders, drips, broadcasts)
//   aula:{p7}:timers              sorted set: score = due (ms since epoch),
//                                 member = "<conversation>|<timer id>" (split at the last '|')
//   aula:{p7}:results             stream, field d = result record JSON
//   aula:{p7}:lease               string "<owner>|<fencing token>", with expiry (PX)
//   aula:{p7}:fence               integer: the last fencing token handed out (INCR)
//   aula:{p7}:once:<key>          string with expiry: done once per period (store::once)
//   aula:{p7}:dead                stream, field d = dead letter JSON ({"conv","entry","reason",
//                                 "attempts","at","kind"}), MAXLEN ~ dead_letters_max
//   aula:{p7}:w:<conversation>    stream, field d = message JSON: the web chat mailbox
//                                 (MAXLEN ~ 200, expires 7 days after the last push)
//   aula:{p7}:cert:<code>         string: certificate JSON, written by the commit that issued
//                                 it; the code's first two characters name the partition
//   aula:{p7}:erased              hash: learners erased lately (field: a hash of the
//                                 conversation; value: JSON {"anon", "at"}), expires an hour
//                                 after the last erasure: the drain anonymizes records of
//                                 theirs that were in flight (bot/service/privacy.hpp)
//
// Directory data, outside partitions (never touched by the commit script):
//   aula:{pub}:seq                integer: the last published version number (INCR)
//   aula:{pub}:current            string "<version>|<hash>": the version every instance runs
//   aula:{pub}:v:<n>              hash: hash, at (ms), note, bundle (JSON: file name -> text)
//   aula:{pub}:pins               hash: cohort -> version it is pinned to
//   aula:dir:<key>                string (optionally with expiry) or set: small directory
//                                 values (draft previews "preview:<learner>", learners,
//                                 cohorts' members, hashed admin tokens)
//   aula:audit                    stream, field d = JSON: the audit log of admin actions
//
// Outbox entry ids name their lane: "reply:<stream id>" or "bulk:<stream id>".
// Entries carry "v" (the session version their commit wrote) and "i" (their index in that
// commit): a learner's messages are sent in (v, i) order whichever lane they are in.
//
// Leases: one instance at a time consumes a partition's outbox, fires its timers and drains
// its results: the holder of its lease. Every ack, dead letter and claim names the lease it
// acts under (a fence); when the lease has lapsed or changed hands it changes nothing and
// throws lease_lost, so a stalled former holder can do no harm (DESIGN.md §4).
// The prefix "aula" is redis_store_options::key_prefix (tests use their own).
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bot/engine/engine.hpp"
#include "bot/io/net.hpp"

namespace aula {

// fnv1a64(conversation id) % partitions, where a conversation id is "<channel>:<address>".
int partition_of(const std::string& conversation, int partitions);
std::uint64_t fnv1a64(std::string_view s);

// How many committed provider message ids a session remembers for dedupe.
inline constexpr std::size_t provider_ids_kept = 64;

struct loaded_session {
  bool exists = false;
  session s;  // version 0 and empty when it does not exist
};

// Certificate codes: two characters naming the partition of the learner's conversation, then
// 16 random ones, all from Crockford's base32 alphabet (no I, L, O, U): unguessable (80 bits),
// case-insensitive, and the store finds the certificate without an index.
inline constexpr const char* code_alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
std::string code_prefix(int partition);           // "0A" for partition 10
std::optional<int> code_partition(std::string_view code);  // nullopt: not a well-formed code
// Upper-cases and drops '-' and spaces ("ab12-…" as typed from paper); "" when malformed.
std::string normalize_code(std::string_view code);

// One published version of the flows (every flow file, course.yaml and triggers.yaml).
struct publication_info {
  int version = 0;        // 1, 2, …; 0 = nothing published yet
  std::string hash;       // sha256 of the bundle (hex)
  std::int64_t at_ms = 0;
  std::string note;       // who or what published it ("SIGHUP", "admin API", "start")
  bool created = false;   // publish(): true when this call made a new version
};

// An outbox entry a commit writes, as it is stored: {"conv", "lane", "v", "i"} (the version the
// commit writes and the entry's index in it: the learner's order across lanes), one of "msg"
// (a message, render.hpp's to_json), "call" (a provider call after the inbound event) or
// "webhook" (a flow's webhook request), and "in" (the learner's last message as of the step,
// for a channel with a window).
struct outbox_write {
  std::string lane;  // "reply" | "bulk"
  std::string text;
};
// The text from its parts (`payload`: the JSON text of the `kind` member; in = 0: none), as
// json_text::object writes it.
outbox_write make_outbox_write(std::string_view conv, std::string_view lane, std::string_view kind,
                               std::string_view payload, std::int64_t v, std::int64_t i, std::int64_t in = 0);

struct commit_request {
  std::string conversation;        // "<channel>:<address>"
  std::int64_t expected_version = 0;  // the version that was loaded (0: none existed)
  std::string provider_id;         // "" = no dedupe
  session next;                    // written with version expected_version + 1
  std::vector<outbox_write> outbox;     // in the learner's order (make_outbox_write)
  std::vector<timer_effect> timers_set;
  std::vector<std::string> timers_cancel;
  std::vector<std::string> results;  // result records' JSON texts (result_record::to_text)
  // Certificates issued by this step: code -> certificate JSON, written under the
  // conversation's partition (the code's prefix names it), never overwritten.
  std::vector<std::pair<std::string, nlohmann::json>> certificates;
};

enum class commit_outcome {
  ok,         // written
  conflict,   // the session changed since it was loaded: load and step again
  duplicate,  // provider_id was already committed for this conversation: nothing written
};

struct outbox_entry {
  std::string id;  // the stream entry id
  nlohmann::json data;  // is_discarded() when the stored text is not JSON: ack and skip it
};

// A stream entry as stored: its record text not parsed (the record keeper parses it off the
// I/O thread).
struct raw_entry {
  std::string id;    // the stream entry id
  std::string text;  // field d ("" when the entry has none)
};

// The sender's read: entries as stored (it reads the few fields it needs from the text).
struct outbox_batch {
  std::vector<raw_entry> reply, bulk;  // ids "reply:<stream id>", "bulk:<stream id>"
};

struct due_timer {
  std::string conversation;
  std::string id;  // the timer id the engine gave
  std::int64_t due_ms = 0;
  std::int64_t held_until_ms = 0;  // set by claim_due_timers
};

// The lease an instance acts under: its owner id and the fencing token it was given.
struct fence {
  std::string owner;
  std::int64_t token = 0;  // 0: not held
  bool held() const { return token > 0; }
  std::string value() const { return owner + "|" + std::to_string(token); }
  bool operator==(const fence&) const = default;
};

// An ack, dead letter or claim under a lease that is no longer held: nothing was changed.
struct lease_lost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Failures to reach the store (Redis down, deadline passed) are thrown as store_unavailable;
// the webhook answers 503 so the provider retries.
struct store_unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What erase_conversation removed from a partition.
struct erasure {
  int sessions = 0, timers = 0, outbox = 0, dead_letters = 0, web = 0, certificates = 0;
  std::vector<nlohmann::json> results;  // result records taken out of the stream, not yet drained
};

class store {
 public:
  virtual ~store() = default;
  virtual int partitions() const = 0;
  // Connections to the backing store made so far (0: a store without any). A change means
  // the store may now be another node (a failover): its streams can hold entries that were
  // acknowledged on the old one after the last replication. The sender reads its partitions
  // again from the start then, so such an entry is sent again before anything newer.
  virtual std::uint64_t connections_made() const { return 0; }
  // A step's load: the session, not its kept provider ids (the commit checks a redelivery
  // against them; reading them on every load cost a WhatsApp step ~4 KB of reply, 64 ids).
  virtual net::awaitable<loaded_session> load(const std::string& conversation) = 0;
  // The last provider_ids_kept committed provider ids of a conversation, oldest first.
  virtual net::awaitable<std::vector<std::string>> provider_ids(const std::string& conversation) = 0;
  virtual net::awaitable<commit_outcome> commit(const commit_request& c) = 0;
  // Takes partition p's lease for `owner` for `ttl`, or renews it when `owner` holds it.
  // Returns the fence to act under; token 0 when another owner holds the lease. The token
  // changes only when the lease is taken anew (first time, or after it lapsed).
  virtual net::awaitable<fence> lease_acquire(int p, const std::string& owner, std::chrono::milliseconds ttl) = 0;
  // Gives the lease up (a clean stop) so another instance need not wait for it to lapse.
  virtual net::awaitable<void> lease_release(int p, const fence& f) = 0;

  // Pending outbox entries of partition p, oldest first ("reply" lane before "bulk").
  virtual net::awaitable<std::vector<outbox_entry>> outbox_pending(int p, std::size_t max) = 0;
  // Up to `max` entries of each lane after the given stream ids ("" = from the start), read
  // at one instant (atomically): an entry committed before any entry returned is returned too,
  // unless its lane was cut at `max`.
  virtual net::awaitable<outbox_batch> outbox_read(int p, const std::string& after_reply,
                                                   const std::string& after_bulk, std::size_t max) = 0;
  // Removes a delivered entry. Throws lease_lost (removing nothing) unless `f` holds p's lease.
  virtual net::awaitable<void> outbox_ack(int p, const std::string& entry_id, const fence& f) = 0;
  // Delivered entries in a batch, with the result records of their sends: the records are
  // appended whatever the lease (the sends happened); the entries are removed only while `f`
  // holds p's lease — false (removing none) when it does not. Redis: one round trip. Each
  // record is given as its JSON text (compact, as json_text::write gives it).
  virtual net::awaitable<bool> outbox_done(int p, const std::vector<std::string>& entry_ids,
                                           const std::vector<std::string>& record_texts, const fence& f);
  // Moves an entry that cannot be delivered to p's dead letters with `record` (why, attempts,
  // …; "conv" and "entry" are added). Throws lease_lost unless `f` holds p's lease.
  virtual net::awaitable<void> outbox_dead(int p, const std::string& entry_id, const nlohmann::json& record,
                                           const fence& f) = 0;
  // The newest `max` dead letters of partition p, oldest first (conversation filter optional).
  virtual net::awaitable<std::vector<outbox_entry>> dead_letters(int p, std::size_t max,
                                                                 const std::string& conversation = {}) = 0;
  // Claims up to `max` timers of partition p due at or before now_ms, earliest first: each is
  // held (its due time moved to now_ms + hold) until timer_done. A claimer that dies leaves
  // them to be claimed again after `hold` (the engine ignores a timer it no longer waits for,
  // so nothing fires twice). Throws lease_lost (claiming nothing) unless `f` holds p's lease.
  virtual net::awaitable<std::vector<due_timer>> claim_due_timers(int p, std::int64_t now_ms, std::size_t max,
                                                                  const fence& f,
                                                                  std::chrono::milliseconds hold) = 0;
  // A claimed timer was handed to the engine: removes it unless a commit set it again since.
  virtual net::awaitable<void> timer_done(int p, const due_timer& t) = 0;
  // The web chat's mailbox: messages for a browser learner, read by polling.
  virtual net::awaitable<void> web_push(const std::string& conversation, const nlohmann::json& msg) = 0;
  virtual net::awaitable<std::vector<outbox_entry>> web_read(const std::string& conversation, const std::string& after,
                                                             std::size_t max) = 0;
  // Result records waiting to be drained into the record store (the records issue), oldest
  // first, as stored, after the entry id `after` ("" = from the first); results_ack removes
  // drained ones (unknown ids are ignored).
  virtual net::awaitable<std::vector<raw_entry>> results_read(int p, const std::string& after, std::size_t max) = 0;
  // The same, each parsed (is_discarded() when a text is not JSON).
  net::awaitable<std::vector<outbox_entry>> results_pending(int p, std::size_t max);
  // Appends result records outside a step (delivery reports, messages the sender sent).
  virtual net::awaitable<void> results_append(int p, const std::vector<nlohmann::json>& records) = 0;
  // Sets `key` (under partition p's tag) for `ttl` unless it is set; true when this call set it.
  // For things that must happen once per learner and period (a re-engagement template).
  virtual net::awaitable<bool> once(int p, const std::string& key, std::chrono::milliseconds ttl) = 0;
  virtual net::awaitable<void> results_ack(int p, const std::vector<std::string>& entry_ids, const fence& f) = 0;
  // Removes every result record up to and including `last_id` (a drain that read the stream
  // from its start and stored all it read: far cheaper for Redis than naming each id). Throws
  // lease_lost (removing nothing) unless `f` holds p's lease.
  virtual net::awaitable<void> results_trim(int p, const std::string& last_id, const fence& f) = 0;
  // A rolling quota in the directory ("quota:<name>": members with the time they were taken):
  // takes a place for `member` unless `cap` members were taken within `window` before now_ms.
  // A member already holding a place keeps it (no second place). Returns 0 when the member
  // holds a place, else the milliseconds until the oldest place frees. The WhatsApp
  // account's daily tier: new conversations opened per 24 h.
  virtual net::awaitable<std::int64_t> quota_take(const std::string& name, const std::string& member, std::int64_t now_ms,
                                                  std::chrono::milliseconds window, int cap) = 0;
  virtual net::awaitable<bool> ping() = 0;

  // A certificate by its code (any case, dashes ignored); nullopt when there is none.
  virtual net::awaitable<std::optional<nlohmann::json>> certificate(const std::string& code) = 0;
  // The conversation ids ("<channel>:<address>") that have a session in partition p.
  virtual net::awaitable<std::vector<std::string>> conversations(int p) = 0;

  // Publishing, atomically: when the current version's hash is `hash` it is returned as is
  // (created = false); else a new version number is taken, the bundle stored and made current.
  virtual net::awaitable<publication_info> publish(const std::string& hash, const std::string& bundle,
                                                   const std::string& note, std::int64_t at_ms) = 0;
  // The current version (version 0 when nothing was published). One cheap read: instances
  // poll it to follow a publication made elsewhere.
  virtual net::awaitable<publication_info> current_publication() = 0;
  // A published version's bundle; nullopt when unknown.
  virtual net::awaitable<std::optional<std::string>> publication_bundle(int version) = 0;
  // The newest `max` published versions, newest first (without bundles).
  virtual net::awaitable<std::vector<publication_info>> publications(std::size_t max) = 0;
  // Cohorts pinned to a version: cohort -> version.
  virtual net::awaitable<std::map<std::string, int>> pins() = 0;
  // Pins `cohort` to `version`; version 0 removes the pin.
  virtual net::awaitable<void> pin(const std::string& cohort, int version) = 0;

  // Small directory values outside partitions ("<prefix>:dir:<key>"); ttl 0 = no expiry.
  virtual net::awaitable<std::optional<std::string>> dir_get(const std::string& key) = 0;
  // dir_get of each key, in order. Redis: pipelined (one round trip per 256 keys; the record
  // keeper's drain read a learner's entry per round trip: 12,500 learners took 17 s of a
  // 40 s drain under load). Here: one dir_get after the other.
  virtual net::awaitable<std::vector<std::optional<std::string>>> dir_get_many(const std::vector<std::string>& keys);
  virtual net::awaitable<void> dir_set(const std::string& key, const std::string& value,
                                       std::chrono::milliseconds ttl) = 0;
  virtual net::awaitable<void> dir_del(const std::string& key) = 0;
  // The directory keys (without "<prefix>:dir:") that start with `key_prefix`, sorted.
  virtual net::awaitable<std::vector<std::string>> dir_keys(const std::string& key_prefix) = 0;
  // Directory sets ("<prefix>:dir:<key>", e.g. a cohort's members). add: true when new.
  virtual net::awaitable<bool> dir_set_add(const std::string& key, const std::string& member) = 0;
  virtual net::awaitable<void> dir_set_remove(const std::string& key, const std::string& member) = 0;
  virtual net::awaitable<std::vector<std::string>> dir_set_members(const std::string& key) = 0;  // sorted

  // The audit log (stream "<prefix>:audit", MAXLEN ~ 100000): who did what, when. Entries
  // are JSON objects; audit_read returns the newest `max`, oldest first.
  virtual net::awaitable<void> audit_append(const nlohmann::json& entry) = 0;
  virtual net::awaitable<std::vector<nlohmann::json>> audit_read(std::size_t max) = 0;

  // -- Data rights and retention (bot/service/privacy.hpp) --------------------------------
  // Removes a learner's conversation from its partition in one atomic step: the session, its
  // timers, its outbox entries (both lanes), its dead letters and web chat mailbox; takes out
  // the result records of it still waiting in the stream (returned: the caller stores them
  // anonymized); blanks the name in `certificate_codes` (they still verify); and records the
  // tombstone `tombstone_key` -> `tombstone` in the partition's erased hash for `ttl`.
  virtual net::awaitable<erasure> erase_conversation(const std::string& conversation,
                                                     const std::vector<std::string>& certificate_codes,
                                                     const std::string& tombstone_key, const nlohmann::json& tombstone,
                                                     std::chrono::milliseconds ttl) = 0;
  // The tombstones of partition p (empty almost always: one cheap read per drain).
  virtual net::awaitable<std::map<std::string, nlohmann::json>> erasures(int p) = 0;
  // Retention: removes a session (with its timers and web mailbox) if its version is still
  // `version` (a learner who wrote meanwhile keeps it). True when removed.
  virtual net::awaitable<bool> drop_session(const std::string& conversation, std::int64_t version) = 0;
  // Retention: drops the audit entries whose "at" is before `before_ms` (oldest first, up to
  // the first younger one). Returns how many.
  virtual net::awaitable<std::size_t> audit_trim(std::int64_t before_ms) = 0;
  // Erasure: the audit entries whose target is `from` name `to` instead, in place (order and
  // ids kept). Returns how many.
  virtual net::awaitable<std::size_t> audit_retarget(const std::string& from, const std::string& to) = 0;
};

std::unique_ptr<store> make_memory_store(int partitions = 64);

// Redis at `url` ("redis://host:port/db", "unix:///path", "redis-sentinel://s1,s2/<master>/db"
// or "redis-cluster://n1,n2"; redis_client.hpp). Connects, checks the stored
// partition count (refuses another), loads the scripts. Throws std::runtime_error with a
// clear message when it cannot start.
struct redis_store_options {
  std::string url = "redis://127.0.0.1:6379/0";
  int partitions = 64;
  std::chrono::milliseconds command_timeout{2000};  // every call; past it: store_unavailable
  std::chrono::milliseconds connect_timeout{2000};  // per attempt, and for the first connect
  int connections = 1;                 // connections used round-robin (one per I/O thread)
  std::string key_prefix = "aula";     // "aula:{p7}:…"; tests use their own
  std::size_t web_mailbox_max = 200;   // MAXLEN ~ of a web chat mailbox
  std::chrono::seconds web_mailbox_ttl{7 * 24 * 3600};
  std::size_t dead_letters_max = 10000;  // MAXLEN ~ of each partition's dead letters
  // After each commit, WAIT until this many replicas have it (0 = don't wait), at most
  // wait_timeout; short of it the commit call throws store_unavailable (docs/REDIS.md).
  int wait_replicas = 0;
  std::chrono::milliseconds wait_timeout{100};
};

// Key names (see the layout at the top).
struct store_keys {
  std::string prefix = "aula";
  static std::string tag(int p) { return "{p" + std::to_string(p) + "}"; }
  std::string partitions() const { return prefix + ":meta:partitions"; }
  std::string session(int p, const std::string& conversation) const { return at(p, "s:", conversation); }
  std::string outbox(int p, const std::string& lane) const { return at(p, "outbox:", lane); }
  std::string timers(int p) const { return at(p, "timers"); }
  std::string results(int p) const { return at(p, "results"); }
  std::string web(int p, const std::string& conversation) const { return at(p, "w:", conversation); }
  std::string lease(int p) const { return at(p, "lease"); }
  std::string fence(int p) const { return at(p, "fence"); }
  // Written just before a WAIT that must cover other connections' writes (redis.wait_replicas).
  std::string waited(int p) const { return at(p, "waited"); }
  std::string dead(int p) const { return at(p, "dead"); }
  std::string once(int p, const std::string& key) const { return at(p, "once:", key); }
  std::string cert(int p, const std::string& code) const { return at(p, "cert:", code); }
  std::string erased(int p) const { return at(p, "erased"); }
  std::string pub(const std::string& what) const { return prefix + ":{pub}:" + what; }
  std::string dir(const std::string& key) const { return prefix + ":dir:" + key; }
  std::string audit() const { return prefix + ":audit"; }

 private:
  // "<prefix>:{p<p>}:<what><name>", built in one string (several keys per message).
  std::string at(int p, std::string_view what, std::string_view name = {}) const {
    char num[16];
    const char* end = std::to_chars(num, num + sizeof num, p).ptr;
    std::string k;
    k.reserve(prefix.size() + 6 + static_cast<std::size_t>(end - num) + what.size() + name.size());
    k += prefix;
    k += ":{p";
    k.append(num, static_cast<std::size_t>(end - num));
    k += "}:";
    k += what;
    k += name;
    return k;
  }
};
net::awaitable<std::unique_ptr<store>> make_redis_store(net::any_io_executor ex, redis_store_options opts);

}  // namespace aula
