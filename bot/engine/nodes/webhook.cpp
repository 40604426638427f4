// webhook: asks the host to call a URL (the engine does no I/O) and waits for the answer:
// `next` on 2xx, `on_failure` otherwise (default: `next`), `on_timeout` when no answer comes
// within `timeout` (default: on_failure). With save_as, the response body is saved (parsed
// when it is JSON). Values in url and body are filled in: percent-encoded in the url,
// JSON-escaped in the body.
//
//   registrar:
//     webhook: {method: POST, url: "https://example.org/api/registro", timeout: 10s,
//               headers: {Content-Type: application/json},
//               body: '{"nombre": "{{contact.name}}", "estado": "{{answers.estado.value}}"}'}
//     save_as: registro
//     next: gracias
//     on_failure: error
//     on_timeout: error
#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_webhook(run_ctx& rc, const node& n) {
  webhook_call call;
  call.id = rc.run().id + "." + n.id + ".webhook." + std::to_string(rc.run().seq);
  call.method = n.webhook.method;
  call.url = rc.fill_url(n.webhook.url);
  call.headers = n.webhook.headers;
  call.body = rc.fill(n.webhook.body, true);
  call.timeout_ms = n.webhook.timeout_ms;
  rc.set_timer(n, "webhook", rc.ctx().now_ms + n.webhook.timeout_ms);
  rc.run().timer->id = call.id;
  rc.out().webhooks.push_back(std::move(call));
  return transition::wait();
}

transition webhook_answered(run_ctx& rc, const node& n, int status, const std::string& body) {
  auto& r = rc.record("webhook", &n);
  r.attempt = status;
  const bool ok = status >= 200 && status < 300;
  r.status = status < 0 ? "timeout" : (ok ? "ok" : "failed");
  if (ok && !n.save_as.empty()) {
    nlohmann::json value = nlohmann::json::parse(body, nullptr, false);
    if (value.is_discarded()) value = body;
    rc.s().answers[n.save_as] = saved_answer{value, body};
  }
  if (ok) return transition::go(n.next);
  const std::string& failure = n.on_failure.empty() ? n.next : n.on_failure;
  if (status < 0) return transition::go(n.on_timeout.empty() ? failure : n.on_timeout);
  return transition::go(failure);
}

}  // namespace aula::detail
