// end: closes the run with an explicit, recorded status and an optional last message. In a
// subflow, the caller goes on (see subflow.cpp).
//
//   fin:
//     end: completed          # completed | failed | expired | interrupted
//     message: "Puntaje: {{score.total}}/{{score.max}}"
#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_end(run_ctx& rc, const node& n) {
  if (!n.text.empty()) rc.say(rc.text(n.text), n);
  return rc.end_run(n.status, &n);
}

}  // namespace aula::detail
