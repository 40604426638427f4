#include "bot/service/records.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <set>
#include <span>
#include <tuple>

#include "bot/delivery/delivery.hpp"
#include "bot/io/log.hpp"
#include "bot/io/periodic.hpp"
#include "bot/service/directory.hpp"
#include "bot/service/privacy.hpp"
#include "bot/service/roster.hpp"
#include "bot/service/service.hpp"

namespace aula {

namespace {
constexpr std::size_t batch = 500;  // records read from one partition's stream at a time
constexpr std::size_t per_transaction = 2000;  // records stored in one transaction (more: the next)
}

struct record_keeper::impl : std::enable_shared_from_this<impl> {
  net::any_io_executor ex;
  service& svc;
  delivery& sender;
  std::unique_ptr<records::record_store> db;
  net::thread_pool pool{1};  // the record store's calls block: one thread, one connection
  std::shared_ptr<bool> running;

  impl(net::any_io_executor e, service& s, delivery& d) : ex(std::move(e)), svc(s), sender(d) {
    // The drain is background work: on a busy core, webhooks and sends go first (a batch of
    // inserts at nice 0 delayed requests by milliseconds). Linux: the nice of this thread only.
    net::post(pool, [] { (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10); });
  }
  ~impl() { pool.join(); }

  // Not a coroutine: an awaitable made by async_initiate (g++ 12 mishandles a lambda that is a
  // temporary of a co_await expression, so none is).
  net::awaitable<nlohmann::json> run(const record_keeper::job& f) {
    auto self = shared_from_this();
    auto fn = std::make_shared<const record_keeper::job>(f);
    auto init = [self, fn](auto handler) {
          auto back = net::get_associated_executor(handler, self->ex);
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          // `self` travels back to the I/O thread: the impl (and its pool) is never released on
          // the pool's own thread, which could not join itself.
          net::post(self->pool, [self, fn, back, h]() mutable {
            std::exception_ptr e;
            nlohmann::json v;
            try {
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

  // The directory's word on a learner (name, canonical state, cohorts) for the reports, read
  // again whenever a batch holds their enrolment or an import touched them ("profile").
  net::awaitable<std::vector<std::pair<std::string, nlohmann::json>>> learners_of(const std::vector<nlohmann::json>& recs) {
    std::set<std::string> convs;
    for (const auto& r : recs)
      if (const std::string t = r.value("type", std::string{}); t == "enrolled" || t == "profile")
        convs.insert(r.value("conv", std::string{}));
    std::vector<std::pair<std::string, nlohmann::json>> out;
    for (const auto& conv : convs) {
      auto v = co_await svc.backing_store().dir_get(learner_key(conv));
      if (!v) continue;
      auto j = nlohmann::json::parse(*v, nullptr, false);
      if (!j.is_object()) continue;
      if (const std::string st = state_name(j.value("state", std::string{})); !st.empty()) j["state"] = st;
      if (!j.contains("cohorts")) j["cohorts"] = nlohmann::json::array();
      out.emplace_back(conv, std::move(j));
    }
    co_return out;
  }

  net::awaitable<void> tick() { co_await drain_once(); }

  // Records of a learner erased while this batch was on its way (read from Redis before the
  // erasure took the rest): anonymized now, as the erasure did the others (privacy.hpp).
  net::awaitable<void> erase_late(int p, std::span<const nlohmann::json> recs) {
    auto& st = svc.backing_store();
    auto tombs = co_await st.erasures(p);
    std::map<int, std::map<std::string, nlohmann::json>> other;  // staff records' learners' partitions
    auto late = std::make_shared<std::vector<std::tuple<std::string, std::string, std::int64_t>>>();
    std::set<std::string> seen;
    for (const auto& r : recs) {
      // A staff action names the learner in its text (enrol, export…): the erasure renames it;
      // the learner's tombstone is in the learner's partition.
      const bool staff = r.value("type", std::string{}) == "admin";
      const std::string conv = staff ? r.value("text", std::string{}) : r.value("conv", std::string{});
      if (conv.find(':') == std::string::npos || !seen.insert(conv).second) continue;
      const int q = partition_of(conv, st.partitions());
      if (q != p && !other.count(q)) other[q] = co_await st.erasures(q);
      const auto& where = q == p ? tombs : other[q];
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

  // One drain: the held partitions' pending records go into the record store together, up
  // to `per_transaction` records in one transaction, then each partition's are acknowledged
  // (after its late erasures). One transaction per partition, as before, made up to 64 small
  // commits a second under load (measured: 2.5 times as many WAL checkpoints and fsyncs).
  net::awaitable<std::size_t> drain_once() {
    std::size_t stored = 0;
    auto held = co_await sender.leases();
    std::deque<std::pair<int, fence>> todo(held.begin(), held.end());
    std::size_t reads_left = 20 * todo.size();  // a partition read 20 times at most per drain
    struct taken {
      int p;
      fence f;
      std::vector<std::string> ids;
      std::size_t first = 0, count = 0;  // its records in the transaction's vector
    };
    while (!todo.empty()) {
      std::vector<taken> parts;
      std::vector<nlohmann::json> recs;
      while (!todo.empty() && recs.size() < per_transaction && reads_left > 0) {
        auto pf = todo.front();
        todo.pop_front();
        --reads_left;
        auto entries = co_await svc.backing_store().results_pending(pf.first, batch);
        if (entries.empty()) continue;
        taken t{pf.first, pf.second, {}, recs.size(), 0};
        for (auto& e : entries) {
          t.ids.push_back(e.id);
          // A record the store would refuse (none should exist) is logged and dropped rather
          // than blocking every record behind it.
          if (!e.data.is_object() || !e.data.contains("conv") || !e.data.contains("id") || !e.data.contains("type") ||
              !e.data.contains("at") || !e.data["at"].is_number_integer()) {
            log::warn("result record without conv/id/type/at: not stored", {{"partition", pf.first}, {"entry", e.id}});
            continue;
          }
          recs.push_back(std::move(e.data));
        }
        t.count = recs.size() - t.first;
        if (entries.size() >= batch) todo.push_back(pf);  // more waiting: again, after the others
        parts.push_back(std::move(t));
      }
      if (parts.empty()) break;
      auto people = co_await learners_of(recs);
      auto data = std::make_shared<const std::pair<std::vector<nlohmann::json>, decltype(people)>>(std::move(recs),
                                                                                                 std::move(people));
      // Stores records [first, first + count) of the batch, with the learners they name (a
      // part is copied out: only when the whole batch was refused).
      auto store_job = [&data](std::size_t first, std::size_t count) -> record_keeper::job {
        return [data, first, count](records::record_store& db) {
          for (const auto& lp : data->second) db.upsert_learner(lp.first, lp.second);
          if (first == 0 && count == data->first.size()) return nlohmann::json(db.insert(data->first));
          const auto from = data->first.begin() + static_cast<std::ptrdiff_t>(first);
          return nlohmann::json(db.insert(std::vector<nlohmann::json>(from, from + static_cast<std::ptrdiff_t>(count))));
        };
      };
      std::vector<const taken*> stored_parts;
      std::exception_ptr failed;
      try {
        const record_keeper::job store_all = store_job(0, data->first.size());
        const nlohmann::json n = co_await run(store_all);
        stored += n.get<std::size_t>();
        for (const auto& t : parts) stored_parts.push_back(&t);
      } catch (const std::exception&) {
        // One partition's bad record must not hold the others back: each alone, and the
        // first failure is reported (its records stay in Redis for the next drain).
        failed = std::current_exception();
      }
      if (failed && parts.size() > 1) {
        failed = nullptr;
        for (const auto& t : parts) {
          const record_keeper::job store_one = store_job(t.first, t.count);
          try {
            const nlohmann::json n = co_await run(store_one);
            stored += n.get<std::size_t>();
            stored_parts.push_back(&t);
          } catch (const std::exception&) {
            if (!failed) failed = std::current_exception();
          }
        }
      }
      for (const taken* t : stored_parts) {
        co_await erase_late(t->p, std::span<const nlohmann::json>(data->first).subspan(t->first, t->count));
        co_await svc.backing_store().results_ack(t->p, t->ids, t->f);
      }
      if (failed) std::rethrow_exception(failed);
      if (reads_left == 0) break;
    }
    co_return stored;
  }
};

record_keeper::record_keeper(net::any_io_executor ex, service& svc, delivery& sender, const std::string& url)
    : impl_(std::make_shared<impl>(std::move(ex), svc, sender)) {
  impl_->db = records::open_record_store(url);
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
