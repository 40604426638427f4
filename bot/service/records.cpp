#include "bot/service/records.hpp"

#include <chrono>
#include <pthread.h>
#include <deque>
#include <map>
#include <set>
#include <tuple>

#include "bot/delivery/delivery.hpp"
#include "bot/engine/json_text.hpp"
#include "bot/io/log.hpp"
#include "bot/io/overlap.hpp"
#include "bot/io/periodic.hpp"
#include "bot/service/directory.hpp"
#include "bot/service/keeper_pace.hpp"
#include "bot/service/privacy.hpp"
#include "bot/service/roster.hpp"
#include "bot/service/service.hpp"

namespace aula {

namespace {
constexpr std::size_t batch_size = 500;  // records read from one partition's stream at a time
// Records stored in one transaction (more: the next; a partition's read is never split, so a
// batch may hold up to batch_size). A batch is held parsed, beside its texts, until stored:
// 2,000 made the server's peak RSS ~2.7 MB higher at 64 connections (46.0-46.5 vs 43.4-43.6 MB,
// alternated runs) for no measurable throughput; 250 with SQLite's 4-MB page cache
// (sqlite_store.cpp) ~1 MB lower than 1,000 with its default 2 MB (46.1-47.0 vs 47.0-47.8 MB in
// four alternated pairs, replies/s the same within the host's noise; session 18).
constexpr std::size_t per_transaction = 250;
}

struct record_keeper::impl : std::enable_shared_from_this<impl> {
  net::any_io_executor ex;
  service& svc;
  delivery& sender;
  std::unique_ptr<records::record_store> db;
  net::thread_pool pool{1};  // the record store's calls block: one thread, one connection
  std::shared_ptr<bool> running;
  // The drain is background work that must keep up: idle policy while it does, paced a little
  // behind and for other jobs, flat out far behind (keeper_pace.hpp). Pool's thread only.
  keeper_pace::pacer pace{keeper_pace::yield_supported()};

  impl(net::any_io_executor e, service& s, delivery& d) : ex(std::move(e)), svc(s), sender(d) {}
  ~impl() { pool.join(); }

  // Not a coroutine: an awaitable made by async_initiate (g++ 12 mishandles a lambda that is a
  // temporary of a co_await expression, so none is).
  net::awaitable<nlohmann::json> run(const record_keeper::job& f,
                                     keeper_pace::job_kind kind = keeper_pace::job_kind::other) {
    auto self = shared_from_this();
    auto fn = std::make_shared<const record_keeper::job>(f);
    auto init = [self, fn, kind](auto handler) {
          auto back = net::get_associated_executor(handler, self->ex);
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          // `self` travels back to the I/O thread: the impl (and its pool) is never released on
          // the pool's own thread, which could not join itself.
          net::post(self->pool, [self, fn, back, h, kind]() mutable {
            std::exception_ptr e;
            nlohmann::json v;
            try {
              self->pace.begin(kind);
              v = (*fn)(*self->db);
            } catch (...) {
              e = std::current_exception();
            }
            net::post(back, [h, e, v = std::move(v), keep = std::move(self)]() mutable { std::move(*h)(e, std::move(v)); });
          });
    };
    return net::async_initiate<decltype(net::use_awaitable), void(std::exception_ptr, nlohmann::json)>(std::move(init),
                                                                                                         net::use_awaitable);
  }

  // One drain's batch. The I/O thread only moves texts: checking and storing the records
  // happens on the record store's thread (up to 2,000 records parsed on the I/O thread kept
  // webhooks waiting); a record's fields are read from its text (records::record_text).
  struct taken {
    int p = 0;
    fence f;
    std::vector<std::string> ids;      // every entry read, acknowledged once stored
    std::size_t text_first = 0;        // its texts in batch::texts
    std::size_t first = 0, count = 0;  // its complete records in batch::vals
    std::vector<std::string> named;    // learners its records name (late erasures)
    bool stored = false;               // its records are in the record store
  };
  struct batch {
    std::vector<taken> parts;
    std::vector<std::string> texts;                // as read from Redis (the I/O thread's; freed there)
    std::vector<records::record_text> vals;        // the complete records, read once (their texts in texts)
    std::vector<std::pair<int, std::string>> bad;  // (partition, entry id) of records not stored
    std::set<std::string> profiles;                // learners enrolled or changed in the batch
    keeper_pace::job_kind kind = keeper_pace::job_kind::keeps_up;
    std::vector<std::pair<std::string, std::string>> people;  // their directory entries, as stored
    std::exception_ptr failed;                                // the first failure to store a part
  };

  static std::string text_of(const nlohmann::json& r, const char* key) {
    auto it = r.find(key);
    return it != r.end() && it->is_string() ? it->get<std::string>() : std::string{};
  }

  // On the store's thread: reads each part's texts, keeps the complete records (a record the
  // store would refuse, none should exist, is reported and dropped rather than blocking every
  // record behind it), and notes the learners they name.
  void prepare(batch& b) {
    // The fields a record is checked and sorted by, and stored with, without its document: read
    // once here (in one pass, or picked), then stored from (record_store::insert_read).
    for (auto& t : b.parts) {
      t.first = b.vals.size();
      std::set<std::string> named;
      for (std::size_t k = 0; k < t.ids.size(); ++k) {
        pace();
        const std::string_view text = b.texts[t.text_first + k];
        records::record_text fields(text);
        if (!fields.is_object() || !fields.has("conv") || !fields.has("id") || !fields.has("type") ||
            !fields.is_integer("at")) {
          b.bad.emplace_back(t.p, t.ids[k]);
          continue;
        }
        const auto string_at = [&](std::string_view key) { return fields.string(key).value_or(std::string_view{}); };
        const std::string_view type = string_at("type"), conv = string_at("conv");
        if (type == "enrolled" || type == "profile") b.profiles.emplace(conv);
        // A staff action names the learner in its text (enrol, export…): the erasure renames it.
        const std::string_view who = type == "admin" ? string_at("text") : conv;
        if (who.find(':') != std::string_view::npos) named.emplace(who);
        b.vals.push_back(std::move(fields));
      }
      t.count = b.vals.size() - t.first;
      t.named.assign(named.begin(), named.end());
    }
  }

  // On the store's thread: the directory's word on the batch's learners (name, canonical
  // state, cohorts) for the reports, then records [first, first + count) of the batch.
  std::size_t store(records::record_store& db, batch& b, std::size_t first, std::size_t count) {
    for (const auto& [conv, text] : b.people) {
      pace();
      auto j = json_text::parse_or_discarded(text);
      if (!j.is_object()) continue;
      if (const std::string st = state_name(text_of(j, "state")); !st.empty()) j["state"] = st;
      if (!j.contains("cohorts")) j["cohorts"] = nlohmann::json::array();
      db.upsert_learner(conv, j);
    }
    // Each record's data is its text as read: the commit wrote it in the compact form a dump
    // of the parsed record would give again.
    return db.insert_read(std::span(b.vals).subspan(first, count));
  }

  net::awaitable<void> tick() { co_await drain_once(); }

  // Records of a learner erased while this batch was on its way (read from Redis before the
  // erasure took the rest): anonymized now, as the erasure did the others (privacy.hpp).
  // `named`: the learners partition p's records name.
  net::awaitable<void> erase_late(int p, const std::vector<std::string>& named) {
    if (named.empty()) co_return;
    auto& st = svc.backing_store();
    auto tombs = co_await st.erasures(p);
    std::map<int, std::map<std::string, nlohmann::json>> other;  // staff records' learners' partitions
    auto late = std::make_shared<std::vector<std::tuple<std::string, std::string, std::int64_t>>>();
    for (const auto& conv : named) {
      // The learner's tombstone is in the learner's partition.
      const int q = partition_of(conv, st.partitions());
      if (q != p && !other.count(q)) other[q] = co_await st.erasures(q);
      const auto& where = q == p ? tombs : other[q];
      if (where.empty()) continue;  // no erasure there: no hash to compute
      auto it = where.find(erasure_key(conv));
      if (it == where.end()) continue;
      late->emplace_back(conv, it->second.value("anon", std::string{}), it->second.value("at", std::int64_t{0}));
    }
    if (late->empty()) co_return;
    const record_keeper::job fix = [late](records::record_store& db) {
      for (const auto& t : *late)
        if (!std::get<1>(t).empty()) db.erase_learner(std::get<0>(t), std::get<1>(t), std::get<2>(t));
      return nlohmann::json(late->size());
    };
    co_await run(fix);
    log::info("records: late records of an erased learner anonymized", {{"partition", p}, {"learners", late->size()}});
  }

  // Where one drain is in the held partitions' streams.
  struct drain_state {
    std::deque<std::pair<int, fence>> todo;  // partitions to read, round robin
    std::size_t reads_left = 0;              // a partition read 20 times at most per drain
    std::map<int, std::string> read_to;      // per partition: the last entry read in this drain
  };

  // The drain's next batch: up to `per_transaction` records from the held partitions, each
  // partition's after what this drain read before; nullptr when there is nothing more.
  net::awaitable<std::shared_ptr<batch>> read_batch(drain_state& d) {
    auto b = std::make_shared<batch>();
    while (!d.todo.empty() && b->texts.size() < per_transaction && d.reads_left > 0) {
      auto pf = d.todo.front();
      d.todo.pop_front();
      --d.reads_left;
      // After what this drain read before: its acknowledgement may not have happened yet.
      auto entries = co_await svc.backing_store().results_read(pf.first, d.read_to[pf.first], batch_size);
      if (entries.empty()) continue;
      d.read_to[pf.first] = entries.back().id;
      taken t;
      t.p = pf.first;
      t.f = pf.second;
      t.text_first = b->texts.size();
      t.ids.reserve(entries.size());
      for (auto& e : entries) {
        t.ids.push_back(std::move(e.id));
        b->texts.push_back(std::move(e.text));
      }
      if (entries.size() >= batch_size) d.todo.push_back(pf);  // more waiting: again, after the others
      b->parts.push_back(std::move(t));
    }
    if (b->parts.empty()) co_return nullptr;
    // By how long the oldest record read waited (its stream id is the time Redis added it).
    std::vector<std::string> firsts;
    for (const auto& t : b->parts) firsts.push_back(t.ids.front());
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    b->kind = keeper_pace::batch_kind(firsts, now_ms);
    co_return b;
  }

  // Stores a batch (parsed and stored on the keeper's thread). Returns the records stored;
  // the first failure is kept in the batch for ack_batch.
  net::awaitable<std::size_t> store_batch(std::shared_ptr<batch> b) {
    auto self = shared_from_this();
    std::size_t stored = 0;
    const record_keeper::job parse = [self, b](records::record_store&) {
      self->prepare(*b);
      return nlohmann::json();
    };
    co_await run(parse, b->kind);
    for (const auto& pe : b->bad)
      log::warn("result record without conv/id/type/at: not stored", {{"partition", pe.first}, {"entry", pe.second}});
    if (!b->profiles.empty()) {
      std::vector<std::string> keys;
      keys.reserve(b->profiles.size());
      for (const auto& conv : b->profiles) keys.push_back(learner_key(conv));
      auto got = co_await svc.backing_store().dir_get_many(keys);
      std::size_t i = 0;
      for (const auto& conv : b->profiles) {
        if (got[i]) b->people.emplace_back(conv, std::move(*got[i]));
        ++i;
      }
    }
    // Stores records [first, first + count) of the batch with the learners it names.
    auto store_job = [&self, &b](std::size_t first, std::size_t count) -> record_keeper::job {
      return [self, b, first, count](records::record_store& db) {
        return nlohmann::json(self->store(db, *b, first, count));
      };
    };
    std::exception_ptr failed;
    try {
      const record_keeper::job store_all = store_job(0, b->vals.size());
      const nlohmann::json n = co_await run(store_all, b->kind);
      stored += n.get<std::size_t>();
      for (auto& t : b->parts) t.stored = true;
    } catch (const std::exception&) {
      // One partition's bad record must not hold the others back: each alone, and the
      // first failure is reported (its records stay in Redis for the next drain).
      failed = std::current_exception();
    }
    if (failed && b->parts.size() > 1) {
      failed = nullptr;
      for (auto& t : b->parts) {
        const record_keeper::job store_one = store_job(t.first, t.count);
        try {
          const nlohmann::json n = co_await run(store_one, b->kind);
          stored += n.get<std::size_t>();
          t.stored = true;
        } catch (const std::exception&) {
          if (!failed) failed = std::current_exception();
        }
      }
    }
    b->vals = std::vector<records::record_text>{};
    b->texts = {};  // after the stores: each record's text is its data
    b->failed = failed;
    co_return stored;
  }

  // Acknowledges each stored part of a batch (after its late erasures), then throws the
  // batch's first failure to store, if any.
  net::awaitable<void> ack_batch(std::shared_ptr<batch> b) {
    // A partition whose records this drain read from the start and stored all of is
    // trimmed up to its last one (one XTRIM: naming 80 ids kept Redis busy for ~0.25 ms);
    // one with a part not stored has each stored part's ids removed instead.
    std::set<int> holes;
    for (const auto& t : b->parts)
      if (!t.stored) holes.insert(t.p);
    for (const auto& t : b->parts) {
      if (!t.stored) continue;
      co_await erase_late(t.p, t.named);
      if (holes.count(t.p)) co_await svc.backing_store().results_ack(t.p, t.ids, t.f);
      else co_await svc.backing_store().results_trim(t.p, t.ids.back(), t.f);
    }
    if (b->failed) std::rethrow_exception(b->failed);
  }

  // One drain: the held partitions' pending records go into the record store together, up
  // to `per_transaction` records in one transaction, then each partition's are acknowledged.
  // One transaction per partition, as before, made up to 64 small commits a second under load
  // (measured: 2.5 times as many WAL checkpoints and fsyncs). While a batch is stored, the
  // next is read and the last acknowledged (each_overlapped): in turn, the keeper's thread
  // waited for each read and trim (queued on the I/O thread behind webhooks) and the records
  // piled up at 64 connections even flat out.
  net::awaitable<std::size_t> drain_once() {
    auto self = shared_from_this();
    auto held = co_await sender.leases();
    auto d = std::make_shared<drain_state>();
    d->todo.assign(held.begin(), held.end());
    d->reads_left = 20 * d->todo.size();
    // Named, not temporaries of the co_await expression (g++ 12).
    std::function<net::awaitable<std::shared_ptr<batch>>()> next = [self, d] { return self->read_batch(*d); };
    std::function<net::awaitable<std::size_t>(std::shared_ptr<batch>)> handle = [self](std::shared_ptr<batch> b) {
      return self->store_batch(std::move(b));
    };
    std::function<net::awaitable<void>(std::shared_ptr<batch>)> finish = [self](std::shared_ptr<batch> b) {
      return self->ack_batch(std::move(b));
    };
    auto all = each_overlapped(std::move(next), std::move(handle), std::move(finish));
    co_return co_await std::move(all);
  }
};

record_keeper::record_keeper(net::any_io_executor ex, service& svc, delivery& sender, const std::string& url)
    : impl_(std::make_shared<impl>(std::move(ex), svc, sender)) {
  impl_->db = records::open_record_store(url);
  impl_->db->on_each_record([i = impl_.get()] { i->pace(); });
  // Named for `top -H`, perf and the benchmark's CPU per thread (tests/bench/e2e_bench.py).
  net::post(impl_->pool, [] { pthread_setname_np(pthread_self(), "aula-records"); });
}

record_keeper::~record_keeper() { stop(); }

void record_keeper::start() {
  auto i = impl_;
  i->running = run_every(i->ex, std::chrono::milliseconds(1000), [i]() { return i->tick(); },
                         "records: cannot drain result records now");
}

void record_keeper::stop() {
  if (impl_->running) *impl_->running = false;
}

net::awaitable<nlohmann::json> record_keeper::run(const job& fn) { return impl_->run(fn); }

net::awaitable<std::size_t> record_keeper::drain_once() {
  auto i = impl_;
  co_return co_await i->drain_once();
}

const char* record_keeper::backend() const { return impl_->db->backend(); }

}  // namespace aula
