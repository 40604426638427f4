// How the record keeper's thread shares a core with the I/O thread (records.cpp).
//
// Storing records is background work: it must keep up, but should not make a webhook wait.
// Three ways to run a job on the keeper's thread:
// - idle: the SCHED_IDLE policy, for a drain's batch that keeps up. Linux preempts such a
//   thread as soon as any other thread wakes on the core. Measured (Telegram, one connection,
//   alternated): a webhook's p99 1.0-1.1 ms with it, 2.0-2.3 ms paced at nice 10 (nice 19 and
//   SCHED_BATCH the same). After `starved_after` in one job (the core never idles), the rest
//   of the job runs paced, and so do the jobs that keep up for `starved_for` after.
// - paced: the normal policy, a `rest` after each `quantum` of work (a runnable thread keeps
//   the core for a whole slice; webhooks waited up to 4 ms behind a batch of inserts). For
//   other jobs (reports, batches behind), and batches that keep up where the idle policy
//   cannot be used.
// - flat out: the normal policy without rests, for a batch whose oldest record waited longer
//   than `far_behind_after`. Paced, the keeper got ~5-15 % of a saturated core and needs
//   ~25-30 % at 64 connections: result records piled up in Redis without bound (1.09 million
//   after 60 s). So under saturation the lag settles a little past `far_behind_after` (with the
//   next batch read while one is stored, records.cpp), and the keeper's work is paid for within
//   seconds: the throughput figures include it. 3 s (it was 10 until session 16: at 10 s each
//   20-s window of the benchmark still ended with ~70k more records waiting than it began with).
// The thread keeps the process's nice (at nice 10 it could not take the share it needs when far
// behind, and an unprivileged thread cannot lower its nice again).
//
// Leaving SCHED_IDLE needs CAP_SYS_NICE or an RLIMIT_NICE that allows the thread's nice
// (sched(7)); without either, `yield_supported()` is false and the idle policy is never used.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aula::keeper_pace {

enum class mode { idle, paced, flat_out };
enum class policy { idle, normal };
// What a job is: a drain's batch that keeps up, one far behind, or anything else (a report, a
// batch a little behind).
enum class job_kind { keeps_up, far_behind, other };

// The calling thread's policy: SCHED_IDLE or SCHED_OTHER (its nice unchanged). False if the
// system refused.
bool set_thread_policy(policy p);
policy thread_policy();
// Whether a thread can leave SCHED_IDLE again here (tried once, on a thread of its own).
bool yield_supported();

// What a drain's batch is, by how long its oldest entry waited: its entries start with these
// stream ids ("<ms>-<seq>", one per partition read; the time Redis added it) against `now_ms`
// (Unix ms): keeps_up up to pacer::behind_after, far_behind past pacer::far_behind_after, other
// between. Ids not of that form are skipped; a clock behind Redis's never counts as behind.
job_kind batch_kind(const std::vector<std::string>& first_ids, std::int64_t now_ms);

class pacer {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr auto quantum = std::chrono::microseconds(100);  // paced: work at most this long,
  static constexpr auto rest = std::chrono::microseconds(50);      // then sleep this long
  static constexpr auto starved_after = std::chrono::milliseconds(100);
  // After a job starved, the jobs that keep up run paced for this long (starting each idle, the
  // keeper lost up to `starved_after` per batch on a saturated core, and fell behind).
  static constexpr auto starved_for = std::chrono::milliseconds(1000);
  static constexpr auto behind_after = std::chrono::milliseconds(1000);
  static constexpr auto far_behind_after = std::chrono::milliseconds(3000);

  struct hooks {
    std::function<bool(policy)> set = set_thread_policy;
    std::function<void(std::chrono::microseconds)> sleep;  // default: std::this_thread::sleep_for
    std::function<clock::time_point()> now = [] { return clock::now(); };
  };
  // `yield`: whether the idle policy may be used at all (yield_supported() in the server).
  explicit pacer(bool yield);
  pacer(bool yield, hooks h);

  // At the start of a job on the keeper's thread.
  void begin(job_kind k);
  // Between records: paced, sleeps `rest` after each `quantum` of work; idle, turns paced once
  // the job has taken `starved_after`; flat out, nothing.
  void operator()();
  mode current() const { return mode_; }

 private:
  void to(mode m);
  bool yield_;
  hooks h_;
  mode mode_ = mode::paced;
  bool known_ = false;  // the thread's policy was set at least once
  clock::time_point job_start_{}, since_{};
  std::optional<clock::time_point> starved_at_;  // when a job last starved idle
};

}  // namespace aula::keeper_pace
