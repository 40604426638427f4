// The store in memory: the same semantics as redis_store (store.hpp), behind one mutex. For
// unit tests and `aula serve --store memory`; nothing survives a restart.
#include <algorithm>
#include <chrono>
#include <optional>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "bot/store/store.hpp"
#include "bot/store/store_detail.hpp"

namespace aula {
namespace {

using sid = std::pair<std::uint64_t, std::uint64_t>;  // stream id (ms, seq)

std::string to_string(const sid& id) { return std::to_string(id.first) + "-" + std::to_string(id.second); }

class memory_store final : public store {
 public:
  explicit memory_store(int partitions)
      : partitions_(checked(partitions)), parts_(static_cast<std::size_t>(partitions)) {}

  int partitions() const override { return partitions_; }

  net::awaitable<loaded_session> load(const std::string& conversation) override {
    loaded_session out;
    std::lock_guard lock(mu_);
    auto it = sessions_.find(conversation);
    if (it != sessions_.end()) {
      out.exists = true;
      out.s = session::parse(it->second.data);
      out.s.version = it->second.version;
    }
    co_return out;
  }

  net::awaitable<std::vector<std::string>> provider_ids(const std::string& conversation) override {
    std::vector<std::string> out;
    std::lock_guard lock(mu_);
    if (auto it = sessions_.find(conversation); it != sessions_.end())
      out.assign(it->second.ids.begin(), it->second.ids.end());
    co_return out;
  }

  net::awaitable<commit_outcome> commit(const commit_request& c) override {
    auto pid = store_detail::clean_provider_id(c.provider_id);
    session next = c.next;
    next.version = c.expected_version + 1;
    auto data = next.dump();  // outside the lock; throws before anything is written
    std::vector<std::pair<std::string, std::string>> outbox;
    for (const auto& e : c.outbox) outbox.emplace_back(e.lane, e.text);
    std::vector<std::string> results = c.results;
    const int p = partition_of(c.conversation, partitions_);
    auto certs = store_detail::certificate_writes(c, p);  // throws before anything is written

    std::lock_guard lock(mu_);
    auto it = sessions_.find(c.conversation);
    std::int64_t version = it == sessions_.end() ? 0 : it->second.version;
    if (!pid.empty() && it != sessions_.end())
      for (const auto& id : it->second.ids)
        if (id == pid) co_return commit_outcome::duplicate;
    if (version != c.expected_version) co_return commit_outcome::conflict;

    auto& rec = sessions_[c.conversation];
    rec.version = next.version;
    rec.data = std::move(data);
    if (!pid.empty()) {
      rec.ids.push_back(pid);
      while (rec.ids.size() > provider_ids_kept) rec.ids.pop_front();
    }
    auto& part = parts_[static_cast<std::size_t>(p)];
    for (auto& [lane, d] : outbox) (lane == "bulk" ? part.bulk : part.reply).emplace(next_id(), std::move(d));
    for (const auto& id : c.timers_cancel) remove_timer(part, store_detail::timer_member(c.conversation, id));
    for (const auto& t : c.timers_set) {
      auto member = store_detail::timer_member(c.conversation, t.id);
      remove_timer(part, member);
      part.timers[member] = t.due_ms;
      part.by_due.emplace(t.due_ms, member);
    }
    for (auto& r : results) part.results.emplace(next_id(), std::move(r));
    for (auto& [code, cert] : certs) certs_.emplace(std::move(code), std::move(cert));  // never overwrites
    co_return commit_outcome::ok;
  }

  net::awaitable<std::vector<outbox_entry>> outbox_pending(int p, std::size_t max) override {
    std::vector<outbox_entry> out;
    std::lock_guard lock(mu_);
    auto& part = at(p);
    read(part.reply, "reply:", max, out);
    read(part.bulk, "bulk:", max, out);
    co_return out;
  }

  net::awaitable<outbox_batch> outbox_read(int p, const std::string& after_reply, const std::string& after_bulk,
                                           std::size_t max) override {
    std::optional<sid> from_reply, from_bulk;
    if (!after_reply.empty()) from_reply = store_detail::parse_stream_id(after_reply);
    if (!after_bulk.empty()) from_bulk = store_detail::parse_stream_id(after_bulk);
    outbox_batch out;
    std::lock_guard lock(mu_);
    auto take = [&](const stream& st, const std::optional<sid>& from, const std::string& prefix,
                    std::vector<raw_entry>& into) {
      for (auto it = from ? st.upper_bound(*from) : st.begin(); it != st.end() && into.size() < max; ++it)
        into.push_back(raw_entry{prefix + to_string(it->first), it->second});
    };
    take(at(p).reply, from_reply, "reply:", out.reply);
    take(at(p).bulk, from_bulk, "bulk:", out.bulk);
    co_return out;
  }

  net::awaitable<fence> lease_acquire(int p, const std::string& owner, std::chrono::milliseconds ttl) override {
    if (owner.empty() || owner.find('|') != std::string::npos)
      throw std::invalid_argument("a lease owner is a non-empty id without '|'");
    std::lock_guard lock(mu_);
    auto& part = at(p);
    const auto now = std::chrono::steady_clock::now();
    if (part.lease.held() && part.lease_until > now && part.lease.owner != owner) co_return fence{owner, 0};
    if (!part.lease.held() || part.lease_until <= now) part.lease = fence{owner, ++part.fence_counter};
    part.lease_until = now + ttl;
    co_return part.lease;
  }

  net::awaitable<void> lease_release(int p, const fence& f) override {
    std::lock_guard lock(mu_);
    auto& part = at(p);
    if (holds(part, f)) part.lease = fence{};
    co_return;
  }

  net::awaitable<void> outbox_ack(int p, const std::string& entry_id, const fence& f) override {
    auto [lane, id] = store_detail::split_outbox_id(entry_id);
    auto key = store_detail::parse_stream_id(id);
    std::lock_guard lock(mu_);
    auto& part = at(p);
    if (!holds(part, f)) throw lease_lost("partition " + std::to_string(p) + ": lease lost; outbox entry not acked");
    (lane == "bulk" ? part.bulk : part.reply).erase(key);
    co_return;
  }

  net::awaitable<void> outbox_dead(int p, const std::string& entry_id, const nlohmann::json& record,
                                   const fence& f) override {
    auto [lane, id] = store_detail::split_outbox_id(entry_id);
    auto key = store_detail::parse_stream_id(id);
    auto d = record.dump();
    std::lock_guard lock(mu_);
    auto& part = at(p);
    if (!holds(part, f)) throw lease_lost("partition " + std::to_string(p) + ": lease lost; dead letter not written");
    part.dead.emplace(next_id(), std::move(d));
    while (part.dead.size() > dead_max) part.dead.erase(part.dead.begin());
    (lane == "bulk" ? part.bulk : part.reply).erase(key);
    co_return;
  }

  net::awaitable<std::vector<outbox_entry>> dead_letters(int p, std::size_t max,
                                                         const std::string& conversation) override {
    std::vector<outbox_entry> out;
    std::lock_guard lock(mu_);
    const auto& dead = at(p).dead;
    for (auto it = dead.rbegin(); it != dead.rend() && out.size() < max; ++it) {
      auto j = nlohmann::json::parse(it->second);
      if (conversation.empty() || j.value("conv", std::string{}) == conversation)
        out.push_back(outbox_entry{to_string(it->first), std::move(j)});
    }
    std::reverse(out.begin(), out.end());
    co_return out;
  }

  net::awaitable<std::vector<due_timer>> claim_due_timers(int p, std::int64_t now_ms, std::size_t max,
                                                          const fence& f, std::chrono::milliseconds hold) override {
    std::vector<due_timer> out;
    std::lock_guard lock(mu_);
    auto& part = at(p);
    if (!holds(part, f)) throw lease_lost("partition " + std::to_string(p) + ": lease lost; no timers claimed");
    const std::int64_t until = now_ms + std::max<std::int64_t>(1, hold.count());
    while (out.size() < max && !part.by_due.empty() && part.by_due.begin()->first <= now_ms) {
      auto [due, member] = *part.by_due.begin();
      remove_timer(part, member);
      part.timers[member] = until;
      part.by_due.emplace(until, member);
      auto [conv, id] = store_detail::split_timer_member(member);
      out.push_back(due_timer{std::move(conv), std::move(id), due, until});
    }
    co_return out;
  }

  net::awaitable<void> timer_done(int p, const due_timer& t) override {
    std::lock_guard lock(mu_);
    auto& part = at(p);
    auto member = store_detail::timer_member(t.conversation, t.id);
    auto it = part.timers.find(member);
    if (it != part.timers.end() && it->second == t.held_until_ms) remove_timer(part, member);
    co_return;
  }

  net::awaitable<void> web_push(const std::string& conversation, const nlohmann::json& msg) override {
    auto d = msg.dump();
    std::lock_guard lock(mu_);
    auto& box = web_[conversation];
    box.emplace(next_id(), std::move(d));
    while (box.size() > web_max) box.erase(box.begin());
    co_return;
  }

  net::awaitable<std::vector<outbox_entry>> web_read(const std::string& conversation, const std::string& after,
                                                     std::size_t max) override {
    std::vector<outbox_entry> out;
    std::optional<sid> from;
    if (!after.empty()) from = store_detail::parse_stream_id(after);
    std::lock_guard lock(mu_);
    auto it = web_.find(conversation);
    if (it == web_.end()) co_return out;
    auto e = from ? it->second.upper_bound(*from) : it->second.begin();
    for (; e != it->second.end() && out.size() < max; ++e)
      out.push_back(outbox_entry{to_string(e->first), nlohmann::json::parse(e->second)});
    co_return out;
  }

  net::awaitable<std::vector<raw_entry>> results_read(int p, const std::string& after, std::size_t max) override {
    std::optional<sid> from;
    if (!after.empty()) from = store_detail::parse_stream_id(after);
    std::vector<raw_entry> out;
    std::lock_guard lock(mu_);
    const auto& s = at(p).results;
    for (auto it = from ? s.upper_bound(*from) : s.begin(); it != s.end() && out.size() < max; ++it)
      out.push_back(raw_entry{to_string(it->first), it->second});
    co_return out;
  }

  net::awaitable<void> results_ack(int p, const std::vector<std::string>& entry_ids, const fence& f) override {
    std::vector<sid> ids;
    for (const auto& id : entry_ids) ids.push_back(store_detail::parse_stream_id(id));
    std::lock_guard lock(mu_);
    if (!holds(at(p), f)) throw lease_lost("partition " + std::to_string(p) + ": lease lost; results not acked");
    for (const auto& id : ids) at(p).results.erase(id);
    co_return;
  }

  net::awaitable<void> results_trim(int p, const std::string& last_id, const fence& f) override {
    const sid last = store_detail::parse_stream_id(last_id);
    std::lock_guard lock(mu_);
    if (!holds(at(p), f)) throw lease_lost("partition " + std::to_string(p) + ": lease lost; results not trimmed");
    auto& r = at(p).results;
    r.erase(r.begin(), r.upper_bound(last));
    co_return;
  }

  net::awaitable<void> results_append(int p, const std::vector<nlohmann::json>& records) override {
    std::lock_guard lock(mu_);
    for (const auto& r : records) at(p).results.emplace(next_id(), r.dump());
    co_return;
  }

  net::awaitable<std::int64_t> quota_take(const std::string& name, const std::string& member, std::int64_t now_ms,
                                          std::chrono::milliseconds window, int cap) override {
    std::lock_guard lock(mu_);
    auto& q = quotas_[name];
    std::erase_if(q, [&](const auto& kv) { return kv.second <= now_ms - window.count(); });
    if (q.count(member)) co_return 0;
    if (static_cast<int>(q.size()) < cap) {
      q[member] = now_ms;
      co_return 0;
    }
    std::int64_t oldest = now_ms;
    for (const auto& kv : q) oldest = std::min(oldest, kv.second);
    co_return std::max<std::int64_t>(1, oldest + window.count() - now_ms);
  }

  net::awaitable<bool> once(int p, const std::string& key, std::chrono::milliseconds ttl) override {
    std::lock_guard lock(mu_);
    at(p);
    const auto now = std::chrono::steady_clock::now();
    auto& until = once_[std::to_string(p) + "|" + key];
    if (until > now) co_return false;
    until = now + ttl;
    co_return true;
  }

  net::awaitable<bool> ping() override { co_return true; }

  net::awaitable<std::optional<nlohmann::json>> certificate(const std::string& code) override {
    auto n = normalize_code(code);
    auto p = code_partition(n);
    if (!p || *p >= partitions_) co_return std::nullopt;
    std::string text;
    {
      std::lock_guard lock(mu_);
      auto it = certs_.find(n);
      if (it == certs_.end()) co_return std::nullopt;
      text = it->second;
    }
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) co_return std::nullopt;
    co_return j;
  }

  net::awaitable<std::vector<std::string>> conversations(int p) override {
    std::vector<std::string> out;
    {
      std::lock_guard lock(mu_);
      at(p);
      for (const auto& [conv, rec] : sessions_)
        if (partition_of(conv, partitions_) == p) out.push_back(conv);
    }
    std::sort(out.begin(), out.end());
    co_return out;
  }

  net::awaitable<publication_info> publish(const std::string& hash, const std::string& bundle,
                                           const std::string& note, std::int64_t at_ms) override {
    if (hash.empty()) throw std::invalid_argument("a publication needs the hash of its bundle");
    std::lock_guard lock(mu_);
    if (current_ > 0) {
      auto it = versions_.find(current_);
      if (it != versions_.end() && it->second.info.hash == hash) {
        auto info = it->second.info;
        info.created = false;
        co_return info;
      }
    }
    auto& v = versions_[++seq_];
    v.info = publication_info{seq_, hash, at_ms, note, true};
    v.bundle = bundle;
    current_ = seq_;
    co_return v.info;
  }

  net::awaitable<publication_info> current_publication() override {
    std::lock_guard lock(mu_);
    publication_info out;
    if (auto it = versions_.find(current_); it != versions_.end()) {
      out = it->second.info;
      out.created = false;
    }
    co_return out;
  }

  net::awaitable<std::optional<std::string>> publication_bundle(int version) override {
    std::lock_guard lock(mu_);
    auto it = versions_.find(version);
    if (it == versions_.end()) co_return std::nullopt;
    co_return it->second.bundle;
  }

  net::awaitable<std::vector<publication_info>> publications(std::size_t max) override {
    std::vector<publication_info> out;
    std::lock_guard lock(mu_);
    for (auto it = versions_.rbegin(); it != versions_.rend() && out.size() < max; ++it) {
      out.push_back(it->second.info);
      out.back().created = false;
    }
    co_return out;
  }

  net::awaitable<std::map<std::string, int>> pins() override {
    std::lock_guard lock(mu_);
    co_return pins_;
  }

  net::awaitable<void> pin(const std::string& cohort, int version) override {
    if (version < 0) throw std::invalid_argument("a pin names a version (1, 2, …) or 0 to unpin");
    std::lock_guard lock(mu_);
    if (version == 0)
      pins_.erase(cohort);
    else
      pins_[cohort] = version;
    co_return;
  }

  net::awaitable<std::optional<std::string>> dir_get(const std::string& key) override {
    std::lock_guard lock(mu_);
    auto it = dir_.find(key);
    if (it == dir_.end()) co_return std::nullopt;
    if (it->second.until && *it->second.until <= std::chrono::steady_clock::now()) {
      dir_.erase(it);
      co_return std::nullopt;
    }
    co_return it->second.value;
  }

  net::awaitable<void> dir_set(const std::string& key, const std::string& value,
                               std::chrono::milliseconds ttl) override {
    std::lock_guard lock(mu_);
    auto& d = dir_[key];
    d.value = value;
    d.until.reset();
    if (ttl.count() > 0) d.until = std::chrono::steady_clock::now() + ttl;
    co_return;
  }

  net::awaitable<void> dir_del(const std::string& key) override {
    std::lock_guard lock(mu_);
    dir_.erase(key);
    dir_sets_.erase(key);
    co_return;
  }

  net::awaitable<std::vector<std::string>> dir_keys(const std::string& key_prefix) override {
    std::lock_guard lock(mu_);
    std::set<std::string> out;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [k, v] : dir_)
      if (k.starts_with(key_prefix) && !(v.until && *v.until <= now)) out.insert(k);
    for (const auto& [k, v] : dir_sets_)
      if (k.starts_with(key_prefix) && !v.empty()) out.insert(k);
    co_return std::vector<std::string>(out.begin(), out.end());
  }

  net::awaitable<bool> dir_set_add(const std::string& key, const std::string& member) override {
    std::lock_guard lock(mu_);
    co_return dir_sets_[key].insert(member).second;
  }

  net::awaitable<void> dir_set_remove(const std::string& key, const std::string& member) override {
    std::lock_guard lock(mu_);
    if (auto it = dir_sets_.find(key); it != dir_sets_.end()) it->second.erase(member);
    co_return;
  }

  net::awaitable<std::vector<std::string>> dir_set_members(const std::string& key) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    if (auto it = dir_sets_.find(key); it != dir_sets_.end()) out.assign(it->second.begin(), it->second.end());
    co_return out;
  }

  net::awaitable<void> audit_append(const nlohmann::json& entry) override {
    std::lock_guard lock(mu_);
    audit_.push_back(entry);
    if (audit_.size() > 100000) audit_.erase(audit_.begin());
    co_return;
  }

  net::awaitable<erasure> erase_conversation(const std::string& conv, const std::vector<std::string>& codes,
                                             const std::string& tombstone_key, const nlohmann::json& tombstone,
                                             std::chrono::milliseconds ttl) override {
    const int p = partition_of(conv, partitions_);
    erasure out;
    std::lock_guard lock(mu_);
    auto& part = at(p);
    out.sessions = static_cast<int>(sessions_.erase(conv));
    out.timers = remove_timers_of(part, conv);
    auto sweep = [&](stream& st, std::vector<nlohmann::json>* keep) {
      int n = 0;
      for (auto it = st.begin(); it != st.end();) {
        auto j = nlohmann::json::parse(it->second, nullptr, false);
        if (j.is_object() && j.value("conv", std::string{}) == conv) {
          if (keep) keep->push_back(std::move(j));
          it = st.erase(it);
          ++n;
        } else {
          ++it;
        }
      }
      return n;
    };
    out.outbox = sweep(part.reply, nullptr) + sweep(part.bulk, nullptr);
    out.dead_letters = sweep(part.dead, nullptr);
    sweep(part.results, &out.results);
    out.web = static_cast<int>(web_.erase(conv));
    for (const auto& c : codes) {
      auto it = certs_.find(normalize_code(c));
      if (it == certs_.end()) continue;
      auto j = nlohmann::json::parse(it->second, nullptr, false);
      if (!j.is_object()) continue;
      j["name"] = "";
      it->second = j.dump();
      ++out.certificates;
    }
    const std::string mine = conv + ":";
    std::erase_if(once_, [&](const auto& kv) { return kv.first.find(mine) != std::string::npos; });
    for (auto& [name, q] : quotas_) {
      std::map<std::string, std::int64_t> renamed;
      std::erase_if(q, [&](const auto& kv) {
        if (!kv.first.starts_with(mine)) return false;
        renamed["erased:" + tombstone_key + ":" + kv.first.substr(mine.size())] = kv.second;
        return true;
      });
      q.insert(renamed.begin(), renamed.end());
    }
    erased_[p][tombstone_key] = tombstone;
    erased_until_[p] = std::chrono::steady_clock::now() + ttl;
    co_return out;
  }

  net::awaitable<std::map<std::string, nlohmann::json>> erasures(int p) override {
    std::lock_guard lock(mu_);
    at(p);
    auto it = erased_until_.find(p);
    if (it == erased_until_.end() || it->second <= std::chrono::steady_clock::now()) {
      erased_.erase(p);
      co_return std::map<std::string, nlohmann::json>{};
    }
    co_return erased_[p];
  }

  net::awaitable<bool> drop_session(const std::string& conv, std::int64_t version) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(conv);
    if (it == sessions_.end() || it->second.version != version) co_return false;
    sessions_.erase(it);
    remove_timers_of(at(partition_of(conv, partitions_)), conv);
    web_.erase(conv);
    co_return true;
  }

  net::awaitable<std::size_t> audit_trim(std::int64_t before_ms) override {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    while (n < audit_.size()) {
      const auto& e = audit_[n];
      if (e.is_object() && e.contains("at") && e["at"].is_number() && e["at"].get<std::int64_t>() >= before_ms) break;
      ++n;
    }
    audit_.erase(audit_.begin(), audit_.begin() + static_cast<std::ptrdiff_t>(n));
    co_return n;
  }

  net::awaitable<std::size_t> audit_retarget(const std::string& from, const std::string& to) override {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (auto& e : audit_)
      if (e.is_object() && e.value("target", std::string{}) == from) {
        e["target"] = to;
        ++n;
      }
    co_return n;
  }

  net::awaitable<std::vector<nlohmann::json>> audit_read(std::size_t max) override {
    std::lock_guard lock(mu_);
    const std::size_t from = audit_.size() > max ? audit_.size() - max : 0;
    co_return std::vector<nlohmann::json>(audit_.begin() + static_cast<std::ptrdiff_t>(from), audit_.end());
  }

 private:
  static constexpr std::size_t web_max = 200;
  static constexpr std::size_t dead_max = 10000;

  struct session_rec {
    std::int64_t version = 0;
    std::string data;
    std::deque<std::string> ids;
  };
  struct version_rec {
    publication_info info;
    std::string bundle;
  };
  struct dir_rec {
    std::string value;
    std::optional<std::chrono::steady_clock::time_point> until;  // none: no expiry
  };
  using stream = std::map<sid, std::string>;
  struct partition {
    stream reply, bulk, results, dead;
    fence lease;
    std::chrono::steady_clock::time_point lease_until{};
    std::int64_t fence_counter = 0;
    std::map<std::string, std::int64_t> timers;  // member -> due
    std::set<std::pair<std::int64_t, std::string>> by_due;
  };

  static int checked(int partitions) {
    if (partitions < 1) throw std::invalid_argument("partition count must be at least 1");
    return partitions;
  }

  partition& at(int p) {
    if (p < 0 || p >= partitions_) throw std::out_of_range("no partition " + std::to_string(p));
    return parts_[static_cast<std::size_t>(p)];
  }

  static void read(const stream& s, const std::string& prefix, std::size_t max, std::vector<outbox_entry>& out) {
    for (auto it = s.begin(); it != s.end() && out.size() < max; ++it)
      out.push_back(outbox_entry{prefix + to_string(it->first), nlohmann::json::parse(it->second)});
  }

  static bool holds(const partition& part, const fence& f) {
    return f.held() && part.lease == f && part.lease_until > std::chrono::steady_clock::now();
  }

  static int remove_timers_of(partition& part, const std::string& conv) {
    const std::string prefix = conv + "|";
    int n = 0;
    for (auto it = part.timers.lower_bound(prefix); it != part.timers.end() && it->first.starts_with(prefix);) {
      part.by_due.erase({it->second, it->first});
      it = part.timers.erase(it);
      ++n;
    }
    return n;
  }

  static void remove_timer(partition& part, const std::string& member) {
    auto it = part.timers.find(member);
    if (it == part.timers.end()) return;
    part.by_due.erase({it->second, member});
    part.timers.erase(it);
  }

  // Ids like Redis's: milliseconds, then a sequence within the millisecond; increasing.
  sid next_id() {
    auto now = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    if (now > last_id_.first)
      last_id_ = {now, 0};
    else
      ++last_id_.second;
    return last_id_;
  }

  const int partitions_;
  std::mutex mu_;
  std::unordered_map<std::string, session_rec> sessions_;
  std::vector<partition> parts_;
  std::unordered_map<std::string, stream> web_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> once_;
  std::map<std::string, std::map<std::string, std::int64_t>> quotas_;
  sid last_id_{0, 0};
  std::unordered_map<std::string, std::string> certs_;  // normalized code -> JSON
  std::map<int, version_rec> versions_;
  int seq_ = 0, current_ = 0;
  std::map<std::string, int> pins_;
  std::unordered_map<std::string, dir_rec> dir_;
  std::map<std::string, std::set<std::string>> dir_sets_;
  std::vector<nlohmann::json> audit_;
  std::map<int, std::map<std::string, nlohmann::json>> erased_;
  std::map<int, std::chrono::steady_clock::time_point> erased_until_;
};

}  // namespace

std::unique_ptr<store> make_memory_store(int partitions) { return std::make_unique<memory_store>(partitions); }

}  // namespace aula
