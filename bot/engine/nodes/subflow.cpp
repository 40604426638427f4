// subflow: runs another flow, then comes back: to `next` when it ended `completed`, else to
// `on_failure` (default: `next`). Its answers are the learner's answers, its quiz points are
// added to the caller's score, and {{last.status}} / last.status in splits tell how it ended.
//
//   modulo-1:
//     subflow: leccion-muestra
//     next: modulo-2
//     on_failure: repaso
#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_subflow(run_ctx& rc, const node& n) {
  const flow* child = rc.flows().find(n.subflow);
  if (!child) {
    rc.log("subflow '" + n.subflow + "' is not loaded");
    return rc.end_run(end_status::failed, &n);
  }
  constexpr std::size_t max_depth = 8;
  if (rc.s().stack.size() >= max_depth) {
    rc.log("subflows nested deeper than " + std::to_string(max_depth) + "; stopping");
    return rc.end_run(end_status::failed, &n);
  }
  // The caller waits at this node, without timers of its own while the child runs.
  run_state caller = rc.run();
  caller.node = n.id;
  caller.timer.reset();
  caller.expire.reset();
  rc.s().stack.push_back(std::move(caller));
  return rc.begin_run(*child, {});
}

}  // namespace aula::detail
