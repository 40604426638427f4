// end: closes the run with an explicit, recorded status and an optional last message.
//
//   fin:
//     end: completed          # completed | failed | expired | interrupted
//     message: "Puntaje: {{score.total}}/{{score.max}}"
#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_end(run_ctx& rc, const node& n) {
  if (!n.text.empty()) rc.say(rc.text(n.text), n);
  finish_run(rc, &n, n.status);
  return transition::finish();
}

}  // namespace aula::detail
