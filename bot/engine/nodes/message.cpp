// message: a text sent as it is, then on to `next`.
//
//   bienvenida:
//     message: {es: "Hola {{contact.name}}.", en: "Hi {{contact.name}}."}
//     next: edad
#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_message(run_ctx& rc, const node& n) {
  rc.say(rc.text(n.text), n);
  return transition::go(n.next);
}

}  // namespace aula::detail
