// The record keeper's thread on a shared core (bot/service/keeper_pace.hpp): the idle policy
// while the drain keeps up, paced for other jobs, batches a little behind, or when starved,
// flat out when far behind.
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "bot/service/keeper_pace.hpp"

using namespace aula;
using keeper_pace::job_kind;
using keeper_pace::mode;
using keeper_pace::pacer;
using keeper_pace::policy;
using namespace std::chrono_literals;

namespace {
struct fake {
  pacer::clock::time_point t{};
  std::vector<policy> set;
  std::vector<std::chrono::microseconds> slept;
  bool refuse_idle = false;
  pacer::hooks hooks() {
    pacer::hooks h;
    h.set = [this](policy p) {
      set.push_back(p);
      return !(refuse_idle && p == policy::idle);
    };
    h.sleep = [this](std::chrono::microseconds d) {
      slept.push_back(d);
      t += d;
    };
    h.now = [this] { return t; };
    return h;
  }
};
}  // namespace

TEST_CASE("keeper pace: a batch is behind when its oldest entry waited longer than the limit") {
  const std::int64_t now = 1'780'000'000'000;
  using keeper_pace::batch_kind;
  REQUIRE(pacer::behind_after == 1000ms);
  REQUIRE(pacer::far_behind_after == 3000ms);
  CHECK(batch_kind({std::to_string(now - 1500) + "-0"}, now) == job_kind::other);
  CHECK(batch_kind({std::to_string(now - 900) + "-3"}, now) == job_kind::keeps_up);
  CHECK(batch_kind({std::to_string(now - 1000) + "-3"}, now) == job_kind::keeps_up);
  // The oldest of the partitions read counts.
  CHECK(batch_kind({std::to_string(now - 10) + "-0", std::to_string(now - 2000) + "-7"}, now) == job_kind::other);
  // Ids without the time form are skipped; a Redis clock ahead of ours is never behind.
  CHECK(batch_kind({"", "abc", "-5", "12x-0", std::to_string(now + 60'000) + "-0"}, now) == job_kind::keeps_up);
  CHECK(batch_kind({"abc", std::to_string(now - 1001)}, now) == job_kind::other);
  // Far behind: past the second limit.
  CHECK(batch_kind({std::to_string(now - 3000) + "-0"}, now) == job_kind::other);
  CHECK(batch_kind({std::to_string(now - 1200), std::to_string(now - 3001) + "-2"}, now) == job_kind::far_behind);
  CHECK(batch_kind({std::to_string(now - 60'000) + "-0"}, now) == job_kind::far_behind);
}

TEST_CASE("keeper pace: a drain's batch that keeps up runs idle without rests, then paced once starved") {
  fake f;
  pacer p(true, f.hooks());
  p.begin(job_kind::keeps_up);
  REQUIRE(f.set == std::vector<policy>{policy::idle});
  CHECK(p.current() == mode::idle);
  for (int i = 0; i < 99; ++i) {
    f.t += 1ms;
    p();
  }
  CHECK(p.current() == mode::idle);
  CHECK(f.slept.empty());  // idle: any waking thread preempts it, no rest needed
  f.t += 1ms;              // 100 ms into the job: the core never idled enough
  p();
  CHECK(p.current() == mode::paced);
  CHECK(f.set == std::vector<policy>{policy::idle, policy::normal});
  // Paced: a rest after each quantum of work.
  f.t += pacer::quantum - 1us;
  p();
  CHECK(f.slept.empty());
  f.t += 1us;
  p();
  CHECK(f.slept == std::vector<std::chrono::microseconds>{pacer::rest});
  // For a second after, the batches that keep up run paced: the core had no room.
  f.t += pacer::starved_for - 1ms;
  p.begin(job_kind::keeps_up);
  CHECK(p.current() == mode::paced);
  CHECK(f.set == std::vector<policy>{policy::idle, policy::normal});
  // Then idle again; the same policy twice is not set twice.
  f.t += 1ms;
  p.begin(job_kind::keeps_up);
  CHECK(p.current() == mode::idle);
  p.begin(job_kind::keeps_up);
  CHECK(f.set == std::vector<policy>{policy::idle, policy::normal, policy::idle});
}

TEST_CASE("keeper pace: other jobs (a batch behind, a report) run paced") {
  fake f;
  pacer p(true, f.hooks());
  p.begin(job_kind::other);
  CHECK(p.current() == mode::paced);
  f.t += 1s;  // paced never turns idle by itself
  p();
  CHECK(p.current() == mode::paced);
  CHECK(f.slept.size() == 1);
  p.begin(job_kind::other);
  CHECK(f.set == std::vector<policy>{policy::normal});  // normal all along: set once
}

TEST_CASE("keeper pace: a batch far behind runs flat out, without rests") {
  fake f;
  pacer p(true, f.hooks());
  p.begin(job_kind::far_behind);
  CHECK(p.current() == mode::flat_out);
  for (int i = 0; i < 1000; ++i) {
    f.t += 100us;
    p();
  }
  CHECK(f.slept.empty());
  CHECK(p.current() == mode::flat_out);
  p.begin(job_kind::other);  // the normal policy both: set once
  CHECK(p.current() == mode::paced);
  CHECK(f.set == std::vector<policy>{policy::normal});
  p.begin(job_kind::keeps_up);
  CHECK(f.set == std::vector<policy>{policy::normal, policy::idle});
}

TEST_CASE("keeper pace: without the idle policy a batch that keeps up runs paced") {
  fake g;
  pacer no_yield(false, g.hooks());
  no_yield.begin(job_kind::keeps_up);
  CHECK(no_yield.current() == mode::paced);
  CHECK(g.set == std::vector<policy>{policy::normal});

  fake h;
  h.refuse_idle = true;
  pacer refused(true, h.hooks());
  refused.begin(job_kind::keeps_up);
  CHECK(refused.current() == mode::paced);
  h.t += 10us;
  refused();
  CHECK(h.slept.empty());
  h.t += pacer::quantum;
  refused();
  CHECK(h.slept.size() == 1);
}

TEST_CASE("keeper pace: the thread's policy is really set (Linux)") {
  bool idle_seen = false, normal_seen = false;
  int nice_before = -100, nice_after = -100;
  const bool supported = keeper_pace::yield_supported();
  std::thread t([&] {
    errno = 0;
    nice_before = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
    REQUIRE(keeper_pace::set_thread_policy(policy::normal));
    normal_seen = keeper_pace::thread_policy() == policy::normal;
    if (supported) {
      REQUIRE(keeper_pace::set_thread_policy(policy::idle));
      idle_seen = keeper_pace::thread_policy() == policy::idle;
      REQUIRE(keeper_pace::set_thread_policy(policy::normal));
      normal_seen = normal_seen && keeper_pace::thread_policy() == policy::normal;
    }
    nice_after = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  });
  t.join();
  CHECK(normal_seen);
  CHECK(nice_after == nice_before);  // a policy change leaves the nice as it was
  if (supported) CHECK(idle_seen);
  else WARN("SCHED_IDLE cannot be left here (no CAP_SYS_NICE, RLIMIT_NICE): the keeper never uses it");
}
