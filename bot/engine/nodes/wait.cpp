// wait: pauses the run for a while, or until a local time of day in the learner's time zone
// (from the context), then on to `next`. What the learner writes meanwhile is recorded and
// answered with a short note; the run does not move.
//
//   pausa:
//     wait: {for: 2h}                     # a true delay
//     next: leccion-2
//   manana:
//     wait: {until: "09:00", days: 1}     # tomorrow at 09:00 local; days: 0 = the next 09:00
//     next: leccion-3
#include "bot/engine/nodes/registry.hpp"
#include "bot/engine/timing.hpp"

namespace aula::detail {

transition enter_wait(run_ctx& rc, const node& n) {
  const auto now = rc.ctx().now_ms;
  std::int64_t due = now + n.wait.for_ms;
  if (n.wait.until_minutes) due = next_local_time(now, rc.ctx().tz, *n.wait.until_minutes, n.wait.days);
  rc.set_timer(n, "wait", due);
  rc.log("wait at " + n.id + " until " + std::to_string(due));
  return transition::wait();
}

}  // namespace aula::detail
