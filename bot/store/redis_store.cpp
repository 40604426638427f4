// The store in Redis: the key layout is at the top of store.hpp; the commit script below is
// the one place a step is written.
#include <atomic>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <type_traits>

#include "bot/engine/json_text.hpp"
#include "bot/store/redis_client.hpp"
#include "bot/store/store.hpp"
#include "bot/store/store_detail.hpp"

namespace aula {
namespace {

// One step of one conversation, atomically. Every key shares the conversation's {pN} tag.
//
// KEYS  1 session hash, 2 outbox:reply, 3 outbox:bulk, 4 timers, 5 results,
//       6 … 5+k the keys of the k certificates issued (cert:<code>, same tag)
// ARGV  1 expected version (0: no session yet), 2 provider id ("" = no dedupe),
//       3 session JSON (already carrying version expected+1), 4 conversation,
//       5 how many provider ids to keep (64),
//       then six counted groups, each "n, item_1 … item_n":
//       reply-lane outbox entries; bulk-lane outbox entries; timer ids to cancel;
//       timers to set as pairs (due ms, timer id), n counting pairs; result records;
//       certificate JSONs, the j-th for KEYS[5 + j] (n = k), each SET NX: never overwritten.
// The kept ids are one string, oldest first, '\n' between them ('ids'), and their count ('idn':
// a session written before it had one is counted once): a plain find and a cut, not a Lua
// table built and joined again per step (a commit with 64 ids: 48 → 35 µs of Redis's time).
// Returns {"duplicate", version} when the provider id is among the kept ids (nothing written),
//         {"conflict", version} when the stored version is not the expected one (nothing written),
//         {"ok", new version} after writing everything. Cancels run before sets, so an id in
//         both lists ends up set.
const char* const commit_lua = R"lua(
local cur = redis.call('HMGET', KEYS[1], 'v', 'ids', 'idn')
local version = 0
if cur[1] then version = tonumber(cur[1]) end
local ids = cur[2] or ''
local pid = ARGV[2]
if pid ~= '' and ids ~= '' and string.find('\n' .. ids .. '\n', '\n' .. pid .. '\n', 1, true) then
  return {'duplicate', version}
end
if version ~= tonumber(ARGV[1]) then return {'conflict', version} end
local idn = tonumber(cur[3])
if not idn then idn = ids == '' and 0 or select(2, string.gsub(ids, '\n', '\n')) + 1 end
if pid ~= '' then
  if ids == '' then ids = pid else ids = ids .. '\n' .. pid end
  idn = idn + 1
  local keep = tonumber(ARGV[5])
  while idn > keep do
    local cut = string.find(ids, '\n', 1, true)
    if cut then ids = string.sub(ids, cut + 1) else ids = '' end
    idn = idn - 1
  end
end
local next_version = version + 1
redis.call('HSET', KEYS[1], 'v', next_version, 'd', ARGV[3], 'ids', ids, 'idn', idn)
local conv = ARGV[4]
local i = 6
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('XADD', KEYS[2], '*', 'd', ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('XADD', KEYS[3], '*', 'd', ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZREM', KEYS[4], conv .. '|' .. ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZADD', KEYS[4], ARGV[i], conv .. '|' .. ARGV[i + 1]); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('XADD', KEYS[5], '*', 'd', ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do redis.call('SET', KEYS[5 + j], ARGV[i], 'NX'); i = i + 1 end
return {'ok', next_version}
)lua";

// Publishes a version of the flows, unless it is the current one already.
// KEYS 1 {pub}:current, 2 {pub}:seq, 3 the prefix of the version hashes ({pub}:v:), which
// names their slot: the script writes KEYS[3] .. <n>, under the same {pub} tag.
// ARGV 1 hash, 2 bundle, 3 at (ms), 4 note.
// Returns {version, created (1/0), at, note}: the current version's own at and note when its
// hash is ARGV[1] (nothing written), else the new version's.
const char* const publish_lua = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur then
  local bar = string.find(cur, '|', 1, true)
  if bar and string.sub(cur, bar + 1) == ARGV[1] then
    local v = string.sub(cur, 1, bar - 1)
    local f = redis.call('HMGET', KEYS[3] .. v, 'at', 'note')
    return {tonumber(v), 0, f[1] or '0', f[2] or ''}
  end
end
local n = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3] .. n, 'hash', ARGV[1], 'at', ARGV[3], 'note', ARGV[4], 'bundle', ARGV[2])
redis.call('SET', KEYS[1], n .. '|' .. ARGV[1])
return {n, 1, ARGV[3], ARGV[4]}
)lua";

// Takes or renews a partition's lease.
// KEYS 1 lease, 2 fence counter; ARGV 1 owner, 2 ttl (ms).
// Returns the fencing token (the owner's, renewed), or 0 when another owner holds it.
const char* const lease_lua = R"lua(
local cur = redis.call('GET', KEYS[1])
if cur then
  local bar = string.find(cur, '|', 1, true)
  if bar and string.sub(cur, 1, bar - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(cur, bar + 1))
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
)lua";

// Gives a lease up. KEYS 1 lease; ARGV 1 "<owner>|<token>".
const char* const release_lua = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
)lua";

// A fenced XDEL. KEYS 1 lease, 2 stream; ARGV 1 "<owner>|<token>", then ids: one XDEL
// per 1,000 (an XDEL per id: a partition's drained records took Redis 0.6-0.9 ms to forget
// under the one-connection benchmark, one XDEL about half that).
// Returns 0 (nothing removed) when the lease is not held by that fence, else 1.
const char* const ack_lua = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 1000 do redis.call('XDEL', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV))) end
return 1
)lua";

// A fenced XTRIM: every entry up to an id. KEYS 1 lease, 2 stream; ARGV 1 fence, 2 the
// lowest id kept. Returns 0 (nothing removed) when fenced, else 1.
const char* const trim_lua = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])
return 1
)lua";

// Delivered entries and their send records in one call. KEYS 1 lease, 2 reply lane, 3 bulk
// lane, 4 results; ARGV 1 fence, 2 number of records n, 3..2+n records, then the entries'
// stream ids, each prefixed with its lane ('r' or 'b'). The records are appended whatever the
// lease; the entries removed only under it. Returns 0 when fenced, else 1.
const char* const done_lua = R"lua(
local n = tonumber(ARGV[2])
for i = 3, 2 + n do redis.call('XADD', KEYS[4], '*', 'd', ARGV[i]) end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ids = {r = {}, b = {}}
for i = 3 + n, #ARGV do
  local lane = ids[string.sub(ARGV[i], 1, 1)] or ids.r
  lane[#lane + 1] = string.sub(ARGV[i], 2)
end
for lane, key in pairs({r = KEYS[2], b = KEYS[3]}) do
  local l = ids[lane]
  for i = 1, #l, 1000 do redis.call('XDEL', key, unpack(l, i, math.min(i + 999, #l))) end
end
return 1
)lua";

// A fenced move to the dead letters. KEYS 1 lease, 2 outbox lane, 3 dead letters;
// ARGV 1 fence, 2 entry id, 3 dead letter JSON, 4 MAXLEN. Returns 0 when fenced, else 1.
const char* const dead_lua = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'd', ARGV[3])
redis.call('XDEL', KEYS[2], ARGV[2])
return 1
)lua";

// Removes and returns the due timers of a partition: {member, score, member, score, …}.
// KEYS 1 timers, 2 lease; ARGV 1 now (ms), 2 at most this many, 3 fence, 4 held until (ms):
// the claimed timers' new score.
// Returns the string 'fenced' (claiming nothing) when the lease is not held by that fence.
const char* const claim_lua = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 'fenced' end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #due, 2 do redis.call('ZADD', KEYS[1], 'XX', ARGV[4], due[i]) end
return due
)lua";

// A handed-over timer: removed unless a commit moved it since. KEYS 1 timers;
// ARGV 1 member, 2 the score the claim gave it.
const char* const timer_done_lua = R"lua(
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
)lua";

// Erasure of one conversation (store::erase_conversation). KEYS 1 session, 2 timers,
// 3 outbox reply, 4 outbox bulk, 5 dead letters, 6 results, 7 web mailbox, 8 erased hash,
// 9.. certificates; ARGV 1 conversation, 2 tombstone field, 3 tombstone JSON, 4 its ttl (ms).
// Returns {sessions, timers, outbox, dead letters, web, certificates, result JSON…}.
const char* const erase_lua = R"lua(
local conv = ARGV[1]
local out = {0, 0, 0, 0, 0, 0}
out[1] = redis.call('DEL', KEYS[1])
local prefix = conv .. '|'
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if string.sub(m, 1, #prefix) == prefix then
    redis.call('ZREM', KEYS[2], m)
    out[2] = out[2] + 1
  end
end
local taken = {}
local function sweep(key, keep)
  local n = 0
  for _, e in ipairs(redis.call('XRANGE', key, '-', '+')) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'd' then
        local ok, j = pcall(cjson.decode, f[i + 1])
        if ok and type(j) == 'table' and j['conv'] == conv then
          redis.call('XDEL', key, e[1])
          n = n + 1
          if keep then table.insert(taken, f[i + 1]) end
        end
      end
    end
  end
  return n
end
out[3] = sweep(KEYS[3], false) + sweep(KEYS[4], false)
out[4] = sweep(KEYS[5], false)
sweep(KEYS[6], true)
out[5] = redis.call('DEL', KEYS[7])
for i = 9, #KEYS do
  local c = redis.call('GET', KEYS[i])
  if c then
    local ok, j = pcall(cjson.decode, c)
    if ok and type(j) == 'table' then
      j['name'] = ''
      redis.call('SET', KEYS[i], cjson.encode(j))
      out[6] = out[6] + 1
    end
  end
end
redis.call('HSET', KEYS[8], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[8], ARGV[4])
for _, d in ipairs(taken) do table.insert(out, d) end
return out
)lua";

// Retention of an idle session (store::drop_session). KEYS 1 session, 2 timers, 3 web mailbox;
// ARGV 1 the version it must still have, 2 conversation. Returns 1 when removed.
const char* const drop_session_lua = R"lua(
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[3])
local prefix = ARGV[2] .. '|'
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if string.sub(m, 1, #prefix) == prefix then redis.call('ZREM', KEYS[2], m) end
end
return 1
)lua";

// Audit entries older than ARGV[1] (their "at"), oldest first. KEYS 1 audit. Returns how many.
const char* const audit_trim_lua = R"lua(
local n = 0
local before = tonumber(ARGV[1])
while true do
  local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 200)
  if #entries == 0 then return n end
  for _, e in ipairs(entries) do
    local f = e[2]
    local at = nil
    for i = 1, #f, 2 do
      if f[i] == 'd' then
        local ok, j = pcall(cjson.decode, f[i + 1])
        if ok and type(j) == 'table' then at = tonumber(j['at']) end
      end
    end
    if at and at >= before then return n end
    redis.call('XDEL', KEYS[1], e[1])
    n = n + 1
  end
end
)lua";

// Audit entries naming ARGV[1] as their target name ARGV[2] instead: the stream is rewritten
// with the same ids (XADD with explicit, increasing ids into a fresh key). KEYS 1 audit.
const char* const audit_retarget_lua = R"lua(
local needle = '"target":' .. cjson.encode(ARGV[1])
local entries = redis.call('XRANGE', KEYS[1], '-', '+')
local n = 0
for _, e in ipairs(entries) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'd' and string.find(f[i + 1], needle, 1, true) then n = n + 1 end
  end
end
if n == 0 then return 0 end
local by = '"target":' .. cjson.encode(ARGV[2])
redis.call('DEL', KEYS[1])
for _, e in ipairs(entries) do
  local f = e[2]
  local args = {}
  for i = 1, #f, 2 do
    local v = f[i + 1]
    if f[i] == 'd' then
      local s, t = string.find(v, needle, 1, true)
      while s do
        v = string.sub(v, 1, s - 1) .. by .. string.sub(v, t + 1)
        s, t = string.find(v, needle, s + #by, true)
      end
    end
    table.insert(args, f[i])
    table.insert(args, v)
  end
  redis.call('XADD', KEYS[1], e[1], unpack(args))
end
return n
)lua";

// A rolling quota: ZSET member -> time taken. Drop what left the window; a member present
// keeps its place; else a place when fewer than the cap remain; else the wait until the oldest
// leaves. KEYS[1] quota; ARGV: member, now, window ms, cap.
const char* const quota_lua = R"lua(
local now, window, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) < cap then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
)lua";

// Commands are built with redis_cmd: g++ 12 rejects braced lists of string literals in a
// co_await expression ("array used as initializer").
template <class... C>
std::vector<std::vector<std::string>> cmds(C&&... c) {
  std::vector<std::vector<std::string>> out;
  (out.push_back(std::forward<C>(c)), ...);
  return out;
}

[[noreturn]] void unavailable(const std::string& what) { throw store_unavailable(what); }

// XRANGE's answer: [[id, [field, value, …]], …] -> entries whose data is field d as JSON (a
// value that does not parse is left "discarded": the caller can ack and skip it).
std::vector<outbox_entry> entries_of(const redis_reply& r, const std::string& id_prefix) {
  std::vector<outbox_entry> out;
  if (!r.is_array()) unavailable("unexpected XRANGE answer: " + r.to_string());
  for (const auto& e : r.elements) {
    if (!e.is_array() || e.elements.size() < 2) continue;
    outbox_entry entry;
    entry.id = id_prefix + e.elements[0].str;
    const auto& fields = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
      if (fields[i].str == "d") entry.data = json_text::parse_or_discarded(fields[i + 1].str);
    out.push_back(std::move(entry));
  }
  return out;
}

// XRANGE's start for the entries after the stream id `after` ("" = from the first); throws
// std::invalid_argument when `after` is not a stream id. (A named string, too: g++ 12
// destroys a conditional's string temporary twice in a coroutine.)
std::string range_after(const std::string& after) {
  if (after.empty()) return "-";
  store_detail::parse_stream_id(after);
  return "(" + after;
}

// The same answer with each entry's field d as it is stored (moved out of the reply), ids
// after `id_prefix`.
std::vector<raw_entry> raw_entries_of(redis_reply& r, const std::string& id_prefix = {}) {
  std::vector<raw_entry> out;
  if (!r.is_array()) unavailable("unexpected XRANGE answer: " + r.to_string());
  out.reserve(r.elements.size());
  for (auto& e : r.elements) {
    if (!e.is_array() || e.elements.size() < 2) continue;
    raw_entry entry{id_prefix.empty() ? std::move(e.elements[0].str) : id_prefix + e.elements[0].str, {}};
    auto& fields = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
      if (fields[i].str == "d") entry.text = std::move(fields[i + 1].str);
    out.push_back(std::move(entry));
  }
  return out;
}

class redis_store final : public store {
 public:
  redis_store(std::vector<std::unique_ptr<redis_client>> clients, redis_store_options opts)
      : clients_(std::move(clients)), opts_(std::move(opts)), keys_{opts_.key_prefix} {}

  ~redis_store() override {
    for (auto& c : clients_) c->stop();
  }

  int partitions() const override { return opts_.partitions; }

  net::awaitable<loaded_session> load(const std::string& conversation) override {
    int p = partition_of(conversation, opts_.partitions);
    auto r = co_await call(redis_cmd("HMGET", keys_.session(p, conversation), "v", "d"));
    loaded_session out;
    if (!r.is_array() || r.elements.size() != 2) unavailable("unexpected HMGET answer: " + r.to_string());
    if (r.elements[0].is_nil() || r.elements[1].is_nil()) co_return out;
    out.exists = true;
    out.s = session::parse(r.elements[1].str);
    out.s.version = std::stoll(r.elements[0].str);
    co_return out;
  }

  net::awaitable<std::vector<std::string>> provider_ids(const std::string& conversation) override {
    int p = partition_of(conversation, opts_.partitions);
    auto r = co_await call(redis_cmd("HGET", keys_.session(p, conversation), "ids"));
    std::vector<std::string> out;
    const auto& ids = r.str;
    for (std::size_t start = 0; start < ids.size();) {
      auto end = ids.find('\n', start);
      if (end == std::string::npos) end = ids.size();
      if (end > start) out.push_back(ids.substr(start, end - start));
      start = end + 1;
    }
    co_return out;
  }

  net::awaitable<commit_outcome> commit(const commit_request& c) override {
    int p = partition_of(c.conversation, opts_.partitions);
    std::vector<std::string> keys{keys_.session(p, c.conversation), keys_.outbox(p, "reply"), keys_.outbox(p, "bulk"),
                                  keys_.timers(p), keys_.results(p)};
    // The script's arguments as views: of the request's own strings (the outbox entries, the
    // records: most of the command's bytes), and of those made here, kept in `made` (its room
    // reserved first, so a view of one stays valid).
    const auto certs = store_detail::certificate_writes(c, p);  // throws before anything is written
    std::vector<std::string> made;
    made.reserve(10 + c.timers_set.size());
    const auto own = [&made](std::string s) -> std::string_view { return made.emplace_back(std::move(s)); };
    std::vector<std::string_view> args{own(std::to_string(c.expected_version)),
                                       own(store_detail::clean_provider_id(c.provider_id)),
                                       own(c.next.dump(c.expected_version + 1)), c.conversation,
                                       own(std::to_string(provider_ids_kept))};
    args.reserve(args.size() + 7 + c.outbox.size() + c.timers_cancel.size() + 2 * c.timers_set.size() +
                 c.results.size() + certs.size());
    for (const std::string_view lane : {"reply", "bulk"}) {
      const auto in_lane = [lane](const outbox_write& e) { return (e.lane == "bulk" ? "bulk" : "reply") == lane; };
      args.push_back(own(std::to_string(std::count_if(c.outbox.begin(), c.outbox.end(), in_lane))));
      for (const auto& e : c.outbox)
        if (in_lane(e)) args.push_back(e.text);
    }
    args.push_back(own(std::to_string(c.timers_cancel.size())));
    for (const auto& id : c.timers_cancel) args.push_back(id);
    args.push_back(own(std::to_string(c.timers_set.size())));
    for (const auto& t : c.timers_set) {
      args.push_back(own(std::to_string(t.due_ms)));
      args.push_back(t.id);
    }
    args.push_back(own(std::to_string(c.results.size())));
    for (const auto& r : c.results) args.push_back(r);
    args.push_back(own(std::to_string(certs.size())));
    for (const auto& [code, cert] : certs) {
      keys.push_back(keys_.cert(p, code));
      args.push_back(cert);
    }

    // The same connection serves the commit and its WAIT (WAIT counts that connection's writes).
    redis_client& client = pick();
    const std::string routing_key = keys.front();
    auto r = co_await call_script_on(client, commit_, std::vector<std::string_view>(keys.begin(), keys.end()),
                                     std::move(args));
    if (!r.is_array() || r.elements.empty()) unavailable("unexpected commit answer: " + r.to_string());
    const auto& status = r.elements[0].str;
    if (status == "ok") {
      if (opts_.wait_replicas > 0) co_await wait_for_replicas(client, routing_key);
      co_return commit_outcome::ok;
    }
    if (status == "conflict") co_return commit_outcome::conflict;
    if (status == "duplicate") {
      // A retry of a step this master has: maybe the one answered 503 because no replica
      // confirmed it, maybe written by another instance. Answered 200 only once a replica has
      // it too: WAIT covers what the master took before this connection's last write (the one
      // replication stream), so this connection writes a mark first.
      if (opts_.wait_replicas > 0)
        co_await wait_for_replicas(client, routing_key, "retried step found", keys_.waited(p));
      co_return commit_outcome::duplicate;
    }
    unavailable("unexpected commit answer: " + r.to_string());
  }

  net::awaitable<std::vector<outbox_entry>> outbox_pending(int p, std::size_t max) override {
    check(p);
    std::vector<outbox_entry> out;
    if (max == 0) co_return out;
    auto count = std::to_string(max);
    auto rs = co_await pipeline(cmds(redis_cmd("XRANGE", keys_.outbox(p, "reply"), "-", "+", "COUNT", count),
                                     redis_cmd("XRANGE", keys_.outbox(p, "bulk"), "-", "+", "COUNT", count)));
    out = entries_of(rs[0], "reply:");
    for (auto& e : entries_of(rs[1], "bulk:")) {
      if (out.size() >= max) break;
      out.push_back(std::move(e));
    }
    co_return out;
  }

  std::uint64_t connections_made() const override {
    std::uint64_t n = 0;
    for (const auto& c : clients_) n += c->connects();
    return n;
  }

  net::awaitable<outbox_batch> outbox_read(int p, const std::string& after_reply, const std::string& after_bulk,
                                           std::size_t max) override {
    check(p);
    const std::string from_reply = range_after(after_reply), from_bulk = range_after(after_bulk);
    outbox_batch out;
    if (max == 0) co_return out;
    // Both lanes at one instant: a transaction (a script did this at ~15 µs more of Redis's
    // time per read, turning both answers into Lua tables and back).
    const std::string count = std::to_string(max);
    auto both = cmds(redis_cmd("MULTI"), redis_cmd("XRANGE", keys_.outbox(p, "reply"), from_reply, "+", "COUNT", count),
                     redis_cmd("XRANGE", keys_.outbox(p, "bulk"), from_bulk, "+", "COUNT", count), redis_cmd("EXEC"));
    auto rs = co_await pipeline(std::move(both));
    auto& r = rs.back();
    if (!r.is_array() || r.elements.size() != 2) unavailable("unexpected outbox read answer: " + r.to_string());
    out.reply = raw_entries_of(r.elements[0], "reply:");
    out.bulk = raw_entries_of(r.elements[1], "bulk:");
    // redis.wait_replicas: nothing is sent that a replica may not have. A commit whose WAIT
    // fell short was answered 503, yet its entries are in this master's outbox; sent now, they
    // would be sent again when a failover loses them and the provider's retry is taken anew on
    // the new master (a master demoted under aula keeps taking writes until aula follows).
    // The entries may come from any connection of any instance: a mark written after the read
    // follows all of them in the replication stream, and WAIT on its connection covers it.
    if (opts_.wait_replicas > 0 && (!out.reply.empty() || !out.bulk.empty())) {
      const std::string routing_key = keys_.outbox(p, "reply");
      co_await wait_for_replicas(pick(), routing_key, "outbox entries read", keys_.waited(p));
    }
    co_return out;
  }

  net::awaitable<fence> lease_acquire(int p, const std::string& owner, std::chrono::milliseconds ttl) override {
    check(p);
    check_owner(owner);
    auto r = co_await call_script(lease_, redis_cmd(keys_.lease(p), keys_.fence(p)),
                                  redis_cmd(owner, std::to_string(std::max<std::int64_t>(1, ttl.count()))));
    if (r.type != redis_reply::kind::integer) unavailable("unexpected lease answer: " + r.to_string());
    co_return fence{owner, r.integer};
  }

  net::awaitable<void> lease_release(int p, const fence& f) override {
    check(p);
    if (!f.held()) co_return;
    co_await call_script(release_, redis_cmd(keys_.lease(p)), redis_cmd(f.value()));
  }

  net::awaitable<void> outbox_ack(int p, const std::string& entry_id, const fence& f) override {
    check(p);
    auto [lane, id] = store_detail::split_outbox_id(entry_id);
    auto r = co_await call_script(ack_, redis_cmd(keys_.lease(p), keys_.outbox(p, lane)), redis_cmd(f.value(), id));
    if (r.integer != 1) throw lease_lost("partition " + std::to_string(p) + ": lease lost; outbox entry not acked");
  }

  net::awaitable<bool> outbox_done(int p, const std::vector<std::string>& entry_ids,
                                   const std::vector<std::string>& record_texts, const fence& f) override {
    check(p);
    std::vector<std::string> args;
    args.reserve(2 + record_texts.size() + entry_ids.size());
    args.push_back(f.value());
    args.push_back(std::to_string(record_texts.size()));
    for (const auto& r : record_texts) args.push_back(r);
    for (const auto& e : entry_ids) {
      auto [lane, id] = store_detail::split_outbox_id(e);
      args.push_back((lane == "bulk" ? "b" : "r") + id);
    }
    auto r = co_await call_script(
        done_, redis_cmd(keys_.lease(p), keys_.outbox(p, "reply"), keys_.outbox(p, "bulk"), keys_.results(p)),
        std::move(args));
    co_return r.integer == 1;
  }

  net::awaitable<void> outbox_dead(int p, const std::string& entry_id, const nlohmann::json& record,
                                   const fence& f) override {
    check(p);
    auto [lane, id] = store_detail::split_outbox_id(entry_id);
    auto r = co_await call_script(dead_, redis_cmd(keys_.lease(p), keys_.outbox(p, lane), keys_.dead(p)),
                                  redis_cmd(f.value(), id, json_text::write(record), std::to_string(opts_.dead_letters_max)));
    if (r.integer != 1) throw lease_lost("partition " + std::to_string(p) + ": lease lost; dead letter not written");
  }

  net::awaitable<std::vector<outbox_entry>> dead_letters(int p, std::size_t max,
                                                         const std::string& conversation) override {
    check(p);
    std::vector<outbox_entry> out;
    if (max == 0) co_return out;
    // Newest first, in pages, until `max` match; then oldest first.
    std::string end = "+";
    for (int page = 0; page < 100 && out.size() < max; ++page) {
      auto r = co_await call(redis_cmd("XREVRANGE", keys_.dead(p), end, "-", "COUNT", "500"));
      auto batch = entries_of(r, "");
      if (batch.empty()) break;
      for (auto& e : batch) {
        if (out.size() >= max) break;
        if (conversation.empty() || (e.data.is_object() && e.data.value("conv", std::string{}) == conversation))
          out.push_back(std::move(e));
      }
      end = "(" + batch.back().id;
      if (batch.size() < 500) break;
    }
    std::reverse(out.begin(), out.end());
    co_return out;
  }

  net::awaitable<std::vector<due_timer>> claim_due_timers(int p, std::int64_t now_ms, std::size_t max,
                                                          const fence& f, std::chrono::milliseconds hold) override {
    check(p);
    std::vector<due_timer> out;
    if (max == 0) co_return out;
    const std::int64_t until = now_ms + std::max<std::int64_t>(1, hold.count());
    auto r = co_await call_script(claim_, redis_cmd(keys_.timers(p), keys_.lease(p)),
                                  redis_cmd(std::to_string(now_ms), std::to_string(max), f.value(),
                                            std::to_string(until)));
    if (r.is_string() && r.str == "fenced")
      throw lease_lost("partition " + std::to_string(p) + ": lease lost; no timers claimed");
    if (!r.is_array()) unavailable("unexpected claim answer: " + r.to_string());
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
      auto [conv, id] = store_detail::split_timer_member(r.elements[i].str);
      out.push_back(
          due_timer{std::move(conv), std::move(id), std::llround(std::stod(r.elements[i + 1].str)), until});
    }
    co_return out;
  }

  net::awaitable<void> timer_done(int p, const due_timer& t) override {
    check(p);
    co_await call_script(timer_done_, redis_cmd(keys_.timers(p)),
                         redis_cmd(store_detail::timer_member(t.conversation, t.id), std::to_string(t.held_until_ms)));
  }

  net::awaitable<void> web_push(const std::string& conversation, const nlohmann::json& msg) override {
    auto key = keys_.web(partition_of(conversation, opts_.partitions), conversation);
    auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.web_mailbox_ttl).count();
    co_await pipeline(
        cmds(redis_cmd("XADD", key, "MAXLEN", "~", std::to_string(opts_.web_mailbox_max), "*", "d", json_text::write(msg)),
             redis_cmd("PEXPIRE", key, std::to_string(ttl))));
  }

  net::awaitable<std::vector<outbox_entry>> web_read(const std::string& conversation, const std::string& after,
                                                     std::size_t max) override {
    std::vector<outbox_entry> out;
    const std::string start = range_after(after);
    if (max == 0) co_return out;
    auto key = keys_.web(partition_of(conversation, opts_.partitions), conversation);
    auto r = co_await call(redis_cmd("XRANGE", key, start, "+", "COUNT", std::to_string(max)));
    co_return entries_of(r, "");
  }

  net::awaitable<std::vector<raw_entry>> results_read(int p, const std::string& after, std::size_t max) override {
    check(p);
    if (max == 0) co_return std::vector<raw_entry>{};
    const std::string start = range_after(after);
    auto r = co_await call(redis_cmd("XRANGE", keys_.results(p), start, "+", "COUNT", std::to_string(max)));
    co_return raw_entries_of(r);
  }

  net::awaitable<void> results_ack(int p, const std::vector<std::string>& entry_ids, const fence& f) override {
    check(p);
    if (entry_ids.empty()) co_return;
    auto args = redis_cmd(f.value());
    for (const auto& id : entry_ids) {
      store_detail::parse_stream_id(id);
      args.push_back(id);
    }
    auto r = co_await call_script(ack_, redis_cmd(keys_.lease(p), keys_.results(p)), std::move(args));
    if (r.integer != 1) throw lease_lost("partition " + std::to_string(p) + ": lease lost; results not acked");
  }

  net::awaitable<void> results_trim(int p, const std::string& last_id, const fence& f) override {
    check(p);
    const auto last = store_detail::parse_stream_id(last_id);  // throws std::invalid_argument
    if (last.second == std::numeric_limits<std::uint64_t>::max()) throw std::invalid_argument("stream id out of range");
    const std::string keep_from = std::to_string(last.first) + "-" + std::to_string(last.second + 1);
    auto r = co_await call_script(trim_, redis_cmd(keys_.lease(p), keys_.results(p)), redis_cmd(f.value(), keep_from));
    if (r.integer != 1) throw lease_lost("partition " + std::to_string(p) + ": lease lost; results not trimmed");
  }

  net::awaitable<void> results_append(int p, const std::vector<nlohmann::json>& records) override {
    check(p);
    if (records.empty()) co_return;
    std::vector<std::vector<std::string>> batch;
    for (const auto& r : records) batch.push_back(redis_cmd("XADD", keys_.results(p), "*", "d", json_text::write(r)));
    co_await pipeline(std::move(batch));
  }

  net::awaitable<bool> once(int p, const std::string& key, std::chrono::milliseconds ttl) override {
    check(p);
    auto r = co_await call(redis_cmd("SET", keys_.once(p, key), "1", "NX", "PX",
                                     std::to_string(std::max<std::int64_t>(1, ttl.count()))));
    co_return !r.is_nil();
  }

  net::awaitable<std::int64_t> quota_take(const std::string& name, const std::string& member, std::int64_t now_ms,
                                          std::chrono::milliseconds window, int cap) override {
    auto r = co_await call_script(quota_, redis_cmd(keys_.dir("quota:" + name)),
                                  redis_cmd(member, std::to_string(now_ms), std::to_string(window.count()), std::to_string(cap)));
    co_return r.integer;
  }

  net::awaitable<bool> ping() override {
    try {
      auto r = co_await pick().exec(redis_cmd("PING"));
      co_return r.str == "PONG";
    } catch (const std::exception&) {
      co_return false;
    }
  }

  net::awaitable<std::optional<nlohmann::json>> certificate(const std::string& code) override {
    auto n = normalize_code(code);
    auto p = code_partition(n);
    if (!p || *p >= opts_.partitions) co_return std::nullopt;
    auto r = co_await call(redis_cmd("GET", keys_.cert(*p, n)));
    if (r.is_nil()) co_return std::nullopt;
    auto j = nlohmann::json::parse(r.str, nullptr, false);
    if (j.is_discarded()) co_return std::nullopt;
    co_return j;
  }

  net::awaitable<std::vector<std::string>> conversations(int p) override {
    check(p);
    co_return co_await scan_suffixes(keys_.session(p, ""));
  }

  // Every key starting with `prefix` (SCAN MATCH, the prefix taken literally), as the part
  // after the prefix, sorted and without repeats (SCAN may return a key twice).
  net::awaitable<std::vector<std::string>> scan_suffixes(const std::string& prefix) {
    // On a cluster, every master is scanned (the client walks them).
    const auto pattern = store_detail::glob_escape(prefix) + "*";
    std::vector<std::string> keys;
    try {
      keys = co_await pick().scan(pattern, 1000);
    } catch (const boost::system::system_error& e) {
      if (is_redis_failure(e)) unavailable(e.what());
      throw;
    } catch (const std::runtime_error& e) {
      unavailable(e.what());
    }
    std::set<std::string> found;
    for (const auto& k : keys)
      if (k.size() >= prefix.size() && k.compare(0, prefix.size(), prefix) == 0) found.insert(k.substr(prefix.size()));
    co_return std::vector<std::string>(found.begin(), found.end());
  }

  net::awaitable<publication_info> publish(const std::string& hash, const std::string& bundle,
                                           const std::string& note, std::int64_t at_ms) override {
    if (hash.empty()) throw std::invalid_argument("a publication needs the hash of its bundle");
    auto r = co_await call_script(publish_, redis_cmd(keys_.pub("current"), keys_.pub("seq"), keys_.pub("v:")),
                                  redis_cmd(hash, bundle, std::to_string(at_ms), note));
    if (!r.is_array() || r.elements.size() != 4) unavailable("unexpected publish answer: " + r.to_string());
    publication_info out;
    out.version = static_cast<int>(r.elements[0].integer);
    out.created = r.elements[1].integer == 1;
    out.hash = hash;
    out.at_ms = to_ms(r.elements[2].str);
    out.note = r.elements[3].str;
    co_return out;
  }

  net::awaitable<publication_info> current_publication() override {
    publication_info out;
    auto r = co_await call(redis_cmd("GET", keys_.pub("current")));
    if (r.is_nil()) co_return out;
    auto cur = store_detail::split_current(r.str);
    if (!cur) unavailable("unexpected current publication: '" + r.str + "'");
    out.version = cur->first;
    out.hash = cur->second;
    // Versions are never rewritten: reading its hash after `current` is consistent.
    auto f = co_await call(redis_cmd("HMGET", keys_.pub("v:" + std::to_string(out.version)), "at", "note"));
    if (!f.is_array() || f.elements.size() != 2) unavailable("unexpected HMGET answer: " + f.to_string());
    out.at_ms = to_ms(f.elements[0].str);
    out.note = f.elements[1].str;
    co_return out;
  }

  net::awaitable<std::optional<std::string>> publication_bundle(int version) override {
    if (version < 1) co_return std::nullopt;
    auto r = co_await call(redis_cmd("HGET", keys_.pub("v:" + std::to_string(version)), "bundle"));
    if (r.is_nil()) co_return std::nullopt;
    co_return r.str;
  }

  net::awaitable<std::vector<publication_info>> publications(std::size_t max) override {
    std::vector<publication_info> out;
    if (max == 0) co_return out;
    auto seq = co_await call(redis_cmd("GET", keys_.pub("seq")));
    if (seq.is_nil()) co_return out;
    auto last = store_detail::parse_int(seq.str);
    if (!last) unavailable("unexpected publication counter: '" + seq.str + "'");
    // Newest first, a page of versions per round trip; a missing version is skipped.
    for (int v = *last; v >= 1 && out.size() < max;) {
      const int page = static_cast<int>(std::min<std::size_t>(std::max<std::size_t>(max - out.size(), 8), 100));
      std::vector<std::vector<std::string>> batch;
      std::vector<int> versions;
      for (; v >= 1 && static_cast<int>(versions.size()) < page; --v) {
        versions.push_back(v);
        batch.push_back(redis_cmd("HMGET", keys_.pub("v:" + std::to_string(v)), "hash", "at", "note"));
      }
      auto rs = co_await pipeline(std::move(batch));
      for (std::size_t i = 0; i < rs.size() && out.size() < max; ++i) {
        const auto& f = rs[i];
        if (!f.is_array() || f.elements.size() != 3) unavailable("unexpected HMGET answer: " + f.to_string());
        if (f.elements[0].is_nil()) continue;
        publication_info info;
        info.version = versions[i];
        info.hash = f.elements[0].str;
        info.at_ms = to_ms(f.elements[1].str);
        info.note = f.elements[2].str;
        out.push_back(std::move(info));
      }
    }
    co_return out;
  }

  net::awaitable<std::map<std::string, int>> pins() override {
    std::map<std::string, int> out;
    auto r = co_await call(redis_cmd("HGETALL", keys_.pub("pins")));
    if (!r.is_array()) unavailable("unexpected HGETALL answer: " + r.to_string());
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
      if (auto v = store_detail::parse_int(r.elements[i + 1].str); v && *v > 0) out[r.elements[i].str] = *v;
    co_return out;
  }

  net::awaitable<void> pin(const std::string& cohort, int version) override {
    if (version < 0) throw std::invalid_argument("a pin names a version (1, 2, …) or 0 to unpin");
    if (version == 0)
      co_await call(redis_cmd("HDEL", keys_.pub("pins"), cohort));
    else
      co_await call(redis_cmd("HSET", keys_.pub("pins"), cohort, std::to_string(version)));
  }

  net::awaitable<std::optional<std::string>> dir_get(const std::string& key) override {
    auto r = co_await call(redis_cmd("GET", keys_.dir(key)));
    if (r.is_nil()) co_return std::nullopt;
    co_return r.str;
  }

  net::awaitable<std::vector<std::optional<std::string>>> dir_get_many(const std::vector<std::string>& keys) override {
    constexpr std::size_t per_round_trip = 256;
    std::vector<std::optional<std::string>> out;
    out.reserve(keys.size());
    for (std::size_t at = 0; at < keys.size(); at += per_round_trip) {
      std::vector<std::vector<std::string>> batch;
      for (std::size_t i = at; i < std::min(keys.size(), at + per_round_trip); ++i)
        batch.push_back(redis_cmd("GET", keys_.dir(keys[i])));
      auto rs = co_await pipeline(std::move(batch));
      for (auto& r : rs) {
        if (r.is_nil()) out.emplace_back(std::nullopt);
        else out.emplace_back(std::move(r.str));
      }
    }
    co_return out;
  }

  net::awaitable<void> dir_set(const std::string& key, const std::string& value,
                               std::chrono::milliseconds ttl) override {
    if (ttl.count() > 0)
      co_await call(redis_cmd("SET", keys_.dir(key), value, "PX", std::to_string(ttl.count())));
    else
      co_await call(redis_cmd("SET", keys_.dir(key), value));
  }

  net::awaitable<void> dir_del(const std::string& key) override { co_await call(redis_cmd("DEL", keys_.dir(key))); }

  net::awaitable<std::vector<std::string>> dir_keys(const std::string& key_prefix) override {
    auto rest = co_await scan_suffixes(keys_.dir(key_prefix));
    for (auto& k : rest) k = key_prefix + k;
    co_return rest;
  }

  net::awaitable<bool> dir_set_add(const std::string& key, const std::string& member) override {
    auto r = co_await call(redis_cmd("SADD", keys_.dir(key), member));
    co_return r.integer == 1;
  }

  net::awaitable<void> dir_set_remove(const std::string& key, const std::string& member) override {
    co_await call(redis_cmd("SREM", keys_.dir(key), member));
  }

  net::awaitable<std::vector<std::string>> dir_set_members(const std::string& key) override {
    auto r = co_await call(redis_cmd("SMEMBERS", keys_.dir(key)));
    std::vector<std::string> out;
    for (const auto& e : r.elements) out.push_back(e.str);
    std::sort(out.begin(), out.end());
    co_return out;
  }

  net::awaitable<void> audit_append(const nlohmann::json& entry) override {
    co_await call(redis_cmd("XADD", keys_.audit(), "MAXLEN", "~", "100000", "*", "d", entry.dump()));
  }

  net::awaitable<std::vector<nlohmann::json>> audit_read(std::size_t max) override {
    auto r = co_await call(redis_cmd("XREVRANGE", keys_.audit(), "+", "-", "COUNT", std::to_string(max)));
    std::vector<nlohmann::json> out;
    for (const auto& e : r.elements) {
      if (!e.is_array() || e.elements.size() != 2) continue;
      const auto& fields = e.elements[1].elements;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
        if (fields[i].str == "d") out.push_back(nlohmann::json::parse(fields[i + 1].str, nullptr, false));
    }
    std::reverse(out.begin(), out.end());
    co_return out;
  }

  net::awaitable<erasure> erase_conversation(const std::string& conv, const std::vector<std::string>& codes,
                                             const std::string& tombstone_key, const nlohmann::json& tombstone,
                                             std::chrono::milliseconds ttl) override {
    const int p = partition_of(conv, opts_.partitions);
    auto keys = redis_cmd(keys_.session(p, conv), keys_.timers(p), keys_.outbox(p, "reply"), keys_.outbox(p, "bulk"),
                          keys_.dead(p), keys_.results(p), keys_.web(p, conv), keys_.erased(p));
    for (const auto& c : codes) {
      const std::string n = normalize_code(c);
      if (auto cp = code_partition(n); cp && *cp == p) keys.push_back(keys_.cert(p, n));
    }
    auto r = co_await call_script(erase_, std::move(keys),
                                  redis_cmd(conv, tombstone_key, tombstone.dump(),
                                            std::to_string(std::max<std::int64_t>(1, ttl.count()))));
    if (!r.is_array() || r.elements.size() < 6) unavailable("unexpected erase answer: " + r.to_string());
    erasure out;
    out.sessions = static_cast<int>(r.elements[0].integer);
    out.timers = static_cast<int>(r.elements[1].integer);
    out.outbox = static_cast<int>(r.elements[2].integer);
    out.dead_letters = static_cast<int>(r.elements[3].integer);
    out.web = static_cast<int>(r.elements[4].integer);
    out.certificates = static_cast<int>(r.elements[5].integer);
    for (std::size_t i = 6; i < r.elements.size(); ++i) {
      auto j = nlohmann::json::parse(r.elements[i].str, nullptr, false);
      if (j.is_object()) out.results.push_back(std::move(j));
    }
    // Found by SCAN, outside the script: the learner's once-keys (re-engagement dedupe) go;
    // their places in rolling quotas (the WhatsApp tier) stay taken, under the tombstone's name.
    const std::string mine = conv + ":";
    const std::vector<std::string> onces = co_await scan_suffixes(keys_.once(p, ""));
    for (const auto& k : onces)
      if (k.find(mine) != std::string::npos) co_await call(redis_cmd("DEL", keys_.once(p, k)));
    const std::vector<std::string> quotas = co_await scan_suffixes(keys_.dir("quota:"));
    for (const auto& q : quotas) {
      const std::string key = keys_.dir("quota:" + q);
      auto members = co_await call(redis_cmd("ZRANGE", key, "0", "-1", "WITHSCORES"));
      for (std::size_t i = 0; i + 1 < members.elements.size(); i += 2) {
        const std::string& m = members.elements[i].str;
        if (!m.starts_with(mine)) continue;
        const std::string renamed = "erased:" + tombstone_key + ":" + m.substr(mine.size());
        co_await call(redis_cmd("ZADD", key, members.elements[i + 1].str, renamed));
        co_await call(redis_cmd("ZREM", key, m));
      }
    }
    co_return out;
  }

  net::awaitable<std::map<std::string, nlohmann::json>> erasures(int p) override {
    check(p);
    auto r = co_await call(redis_cmd("HGETALL", keys_.erased(p)));
    std::map<std::string, nlohmann::json> out;
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
      auto j = nlohmann::json::parse(r.elements[i + 1].str, nullptr, false);
      if (j.is_object()) out.emplace(r.elements[i].str, std::move(j));
    }
    co_return out;
  }

  net::awaitable<bool> drop_session(const std::string& conv, std::int64_t version) override {
    const int p = partition_of(conv, opts_.partitions);
    auto r = co_await call_script(drop_session_, redis_cmd(keys_.session(p, conv), keys_.timers(p), keys_.web(p, conv)),
                                  redis_cmd(std::to_string(version), conv));
    co_return r.integer == 1;
  }

  net::awaitable<std::size_t> audit_trim(std::int64_t before_ms) override {
    auto r = co_await call_script(audit_trim_, redis_cmd(keys_.audit()), redis_cmd(std::to_string(before_ms)));
    co_return static_cast<std::size_t>(std::max<std::int64_t>(0, r.integer));
  }

  net::awaitable<std::size_t> audit_retarget(const std::string& from, const std::string& to) override {
    auto r = co_await call_script(audit_retarget_, redis_cmd(keys_.audit()), redis_cmd(from, to));
    co_return static_cast<std::size_t>(std::max<std::int64_t>(0, r.integer));
  }

  // Registers the scripts (loaded with every connect), then starts the clients.
  void start() {
    for (auto& c : clients_) {
      for (auto* script : {&commit_, &claim_, &lease_, &release_, &ack_, &done_, &dead_, &timer_done_, &trim_, &publish_, &quota_, &erase_,
                          &drop_session_, &audit_trim_, &audit_retarget_})
        c->add_script(*script);
      c->start();
    }
  }

 private:
  static void check_owner(const std::string& owner) {
    if (owner.empty() || owner.find('|') != std::string::npos)
      throw std::invalid_argument("a lease owner is a non-empty id without '|'");
  }

  // A stored millisecond time; 0 when missing or not a number.
  static std::int64_t to_ms(const std::string& s) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && end == s.data() + s.size() ? v : 0;
  }

  void check(int p) const {
    if (p < 0 || p >= opts_.partitions) throw std::out_of_range("no partition " + std::to_string(p));
  }

  // A connected client, round-robin; when none is connected, the next one (which throws).
  redis_client& pick() {
    auto start = next_.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      auto& c = *clients_[(start + i) % clients_.size()];
      if (c.connected()) return c;
    }
    return *clients_[start % clients_.size()];
  }

  static bool is_redis_failure(const boost::system::system_error& e) { return e.code().category() == redis_category(); }

  static void check_reply(const redis_reply& r) {
    if (r.is_error()) unavailable("Redis answered: " + r.str);
  }

  net::awaitable<redis_reply> call(std::vector<std::string> argv) {
    redis_reply r;
    try {
      r = co_await pick().exec(std::move(argv));
    } catch (const boost::system::system_error& e) {
      if (is_redis_failure(e)) unavailable(e.what());
      throw;
    }
    check_reply(r);
    co_return r;
  }

  net::awaitable<std::vector<redis_reply>> pipeline(std::vector<std::vector<std::string>> cmds) {
    std::vector<redis_reply> rs;
    try {
      rs = co_await pick().exec_pipeline(std::move(cmds));
    } catch (const boost::system::system_error& e) {
      if (is_redis_failure(e)) unavailable(e.what());
      throw;
    }
    for (const auto& r : rs) check_reply(r);
    co_return rs;
  }

  net::awaitable<redis_reply> call_script(const redis_script& s, std::vector<std::string> keys,
                                          std::vector<std::string> args) {
    co_return co_await call_script_on(pick(), s, std::move(keys), std::move(args));
  }

  // redis.wait_replicas: WAIT until that many replicas have the commit, or wait_timeout. Short
  // of it, the step is written on the master but not known to be anywhere else: the webhook
  // answers 503, the provider retries, and the retry is a duplicate (provider id dedupe),
  // answered 200 once a replica confirms it, if the master keeps the write, or is taken again
  // by the new master if a failover lost it. The sender's outbox reads wait the same way.
  // With a `mark` key, writes it first (other connections' writes are then covered too).
  net::awaitable<void> wait_for_replicas(redis_client& client, const std::string& routing_key,
                                        std::string_view what = "commit written", const std::string& mark = {}) {
    std::int64_t acked = 0;
    try {
      acked = co_await client.wait_replicas(opts_.wait_replicas, opts_.wait_timeout, routing_key, mark);
    } catch (const boost::system::system_error& e) {
      if (is_redis_failure(e)) unavailable(e.what());
      throw;
    } catch (const std::runtime_error& e) {
      unavailable(e.what());
    }
    if (acked < opts_.wait_replicas) {
      unavailable(std::string(what) + " on the master but acknowledged by " + std::to_string(acked) + " of " +
                  std::to_string(opts_.wait_replicas) + " replica(s) within " +
                  std::to_string(opts_.wait_timeout.count()) + " ms (redis.wait_replicas)");
    }
  }

  // `Text`: std::string, or std::string_view of strings that outlive the call (eval_views).
  template <class Text>
  net::awaitable<redis_reply> call_script_on(redis_client& client, const redis_script& s, std::vector<Text> keys,
                                             std::vector<Text> args) {
    redis_reply r;
    try {
      if constexpr (std::is_same_v<Text, std::string_view>)
        r = co_await client.eval_views(s, std::move(keys), std::move(args));
      else
        r = co_await client.eval(s, std::move(keys), std::move(args));
    } catch (const boost::system::system_error& e) {
      if (is_redis_failure(e)) unavailable(e.what());
      throw;
    }
    check_reply(r);
    co_return r;
  }

  std::vector<std::unique_ptr<redis_client>> clients_;
  redis_store_options opts_;
  store_keys keys_;
  redis_script commit_{commit_lua};
  redis_script claim_{claim_lua};
  redis_script lease_{lease_lua};
  redis_script release_{release_lua};
  redis_script ack_{ack_lua};
  redis_script trim_{trim_lua};
  redis_script done_{done_lua};
  redis_script dead_{dead_lua};
  redis_script timer_done_{timer_done_lua};
  redis_script publish_{publish_lua};
  redis_script quota_{quota_lua};
  redis_script erase_{erase_lua};
  redis_script drop_session_{drop_session_lua};
  redis_script audit_trim_{audit_trim_lua};
  redis_script audit_retarget_{audit_retarget_lua};
  std::atomic<std::size_t> next_{0};
};

}  // namespace

net::awaitable<std::unique_ptr<store>> make_redis_store(net::any_io_executor ex, redis_store_options opts) {
  if (opts.partitions < 1 || opts.partitions > 1 << 20)
    throw std::runtime_error("the partition count must be between 1 and 1048576, not " +
                             std::to_string(opts.partitions));
  if (opts.connections < 1) opts.connections = 1;
  if (opts.key_prefix.empty()) throw std::runtime_error("the Redis key prefix must not be empty");
  redis_client_options cfg;
  cfg.url = opts.url;
  cfg.connect_timeout = opts.connect_timeout;
  cfg.command_timeout = opts.command_timeout;
  std::string shown;
  try {
    shown = redis_url::parse(opts.url).display();
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  std::vector<std::unique_ptr<redis_client>> clients;
  for (int i = 0; i < opts.connections; ++i) clients.push_back(std::make_unique<redis_client>(ex, cfg));
  auto* first = clients.front().get();
  auto s = std::make_unique<redis_store>(std::move(clients), opts);
  s->start();
  if (!co_await first->wait_connected(opts.connect_timeout)) {
    std::string message = "cannot connect to Redis at " + shown;
    if (auto why = first->last_error(); !why.empty()) message += ": " + why;
    throw std::runtime_error(message);
  }
  // The partition count is fixed at the first start: keys are placed by it.
  store_keys keys{opts.key_prefix};
  std::vector<redis_reply> rs;
  try {
    rs = co_await first->exec_pipeline(cmds(redis_cmd("SET", keys.partitions(), std::to_string(opts.partitions), "NX"),
                                            redis_cmd("GET", keys.partitions())));
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("Redis at " + shown + ": " + e.what());
  }
  for (const auto& r : rs)
    if (r.is_error()) throw std::runtime_error("Redis at " + shown + " answered: " + r.str);
  if (rs[1].str != std::to_string(opts.partitions))
    throw std::runtime_error("Redis at " + shown + " holds data for " + rs[1].str + " partitions (" +
                             keys.partitions() + "), but aula is configured with " + std::to_string(opts.partitions) +
                             ". The partition count cannot change without moving every key; use the stored count.");
  co_return s;
}

}  // namespace aula
