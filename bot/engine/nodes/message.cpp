// message: a text sent as it is, then on to `next`. It may carry an image, a document (PDF)
// or an audio by URL; the text is then its caption.
//
//   bienvenida:
//     message: {es: "Hola {{contact.name}}.", en: "Hi {{contact.name}}."}
//     next: guia
//   guia:
//     message: "Guía de inspección"
//     media: {type: document, url: "https://example.org/guia.pdf", filename: "guia.pdf", size_kb: 850}
//     next: edad
#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_message(run_ctx& rc, const node& n) {
  outbound_message m;
  m.text = rc.text(n.text);
  m.node = n.id;
  if (n.attachment) {
    m.attachment = n.attachment;
    m.attachment->url = rc.fill(n.attachment->url);
  }
  rc.say(std::move(m));
  return transition::go(n.next);
}

}  // namespace aula::detail
