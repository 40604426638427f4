// Outbound HTTP/HTTPS for provider APIs (Telegram, WhatsApp Cloud, Twilio, webhooks).
//
//   http_client client(ioc.get_executor(), client_options_from(cfg));
//   http_result r = co_await client.request(call);   // call: adapters/adapter.hpp's http_call
//   if (!r.ok()) … r.error (transport), r.maybe_sent (may the provider have received it?)
//   else … r.status, r.body → adapter.classify(r.status, r.body)
//
// - TLS 1.2+ with OpenSSL: the peer's certificate chain is verified against the system CA store
//   plus client_options::ca_file (AULA_CA_FILE), and its name against the URL's host (RFC 6125,
//   ssl::host_name_verification; IP addresses too). SNI is sent for host names.
// - HTTPS_PROXY: https:// URLs go through an HTTP proxy with CONNECT (Basic proxy auth from
//   the proxy URL's user:password). http:// URLs always go direct.
// - Keep-alive: up to max_idle_per_host idle connections per scheme://host:port are kept (a
//   mutex-protected pool); one idle longer than max_idle_time, or that the server has closed
//   (checked before reuse without blocking), is dropped instead of reused.
// - Retries: a request is never silently retried, except on a reused connection when the
//   failure proves the server did not receive it (the write failed before any byte left), or
//   for an idempotent method (GET, HEAD, PUT, DELETE, OPTIONS) that got no response byte. A
//   POST that may have reached the provider is reported (maybe_sent = true) to the caller, whose
//   retry policy decides.
// - Deadlines: connect (resolve + TCP connect + proxy CONNECT) within connect_timeout, the
//   whole call (including a retry) within request_timeout.
// Never logs; errors name host:port only (a Telegram URL carries the bot token in its path).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/adapter.hpp"
#include "bot/io/net.hpp"

namespace aula {

struct app_config;

struct http_result {
  int status = 0;                              // 0 when no response arrived
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case (e.g. "retry-after")
  std::string error;                           // transport error text; empty when a response arrived
  bool reused_connection = false;              // the (last) attempt used a kept-alive connection
  bool maybe_sent = false;  // on error: the request may have reached the server (bytes were written)
  bool timed_out = false;   // on error: a deadline passed (connect or the whole call)
  bool refused = false;     // on error: the egress policy (allow_hosts) refused the destination
  bool ok() const { return error.empty(); }
};

struct client_options {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
  std::string ca_file;          // extra CA bundle (PEM), added to the system store
  bool use_system_ca = true;    // tests turn it off to trust only ca_file
  std::string https_proxy;      // "http://[user:pass@]host:port"; "" = direct
  // As many as the sender's calls in flight (delivery.concurrency, 64 by default): with fewer,
  // every burst closes the extra connections and the next opens new ones (a TCP handshake
  // and a resolve per call: a third of the sender's CPU in the benchmark).
  std::size_t max_idle_per_host = 64;
  std::chrono::milliseconds max_idle_time{30000};
  std::size_t body_limit = 8 * 1024 * 1024;  // response bodies
  std::string user_agent = "aula/0.1";
  // Egress policy (webhook nodes; see bot/io/egress.hpp): when set, the destination host is
  // checked against this allow-list after it is resolved and before connecting; a refused call
  // fails with error "refused: …" and nothing is sent. Unset: any destination.
  std::optional<std::vector<std::string>> allow_hosts;
};

// Options from the configuration: http_client timeouts and pool, AULA_CA_FILE, HTTPS_PROXY.
client_options client_options_from(const app_config& c);

class http_client {
 public:
  // Throws std::runtime_error when ca_file cannot be loaded or https_proxy is not a URL.
  http_client(net::any_io_executor ex, client_options opts = {});
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Never throws for transport or HTTP errors: they come back in http_result. `call` is taken
  // by value: the coroutine keeps its own copy, so a temporary is fine even with detached spawns.
  net::awaitable<http_result> request(http_call call);
  // The same without the copy: `call` must outlive the returned awaitable (co_await it at once,
  // as the sender does with each outbox entry's call). `headers` false: the answer's headers
  // are not kept (http_result::headers stays empty; the sender reads the status and body only).
  net::awaitable<http_result> send(const http_call& call, bool headers = true);

  std::size_t idle_connections() const;  // kept-alive connections in the pool now
  void close_idle();                     // drops them all

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace aula
