// What every channel adapter does (one folder per channel under adapters/): verify and parse
// the provider's webhook into engine events, render a channel-neutral message into the
// provider's API calls, and classify the provider's answer to a send. Pure: no sockets, no
// store, no clock; the server and the sender do the I/O. No Asio or Beast headers here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bot/engine/engine.hpp"

namespace aula {

// An HTTP request as the server received it.
struct http_in {
  std::string method;  // "GET", "POST"
  std::string target;  // path and query, e.g. /webhooks/telegram
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;    // raw bytes (signatures are computed over them)
};

// An HTTP response the server sends back to the provider.
struct http_out {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// An API call to send (part of) a message.
struct http_call {
  std::string method = "POST";
  std::string url;
  std::map<std::string, std::string> headers;
  std::string body;
  int segments = 0;  // SMS: segments this call bills (for metrics); 0 elsewhere
};

// A provider's report on a message aula sent (WhatsApp statuses, Twilio status callbacks).
struct delivery_report {
  std::string external_id;  // the provider's id of the sent message (wamid.…, SM…)
  std::string state;        // "queued" | "sent" | "delivered" | "read" | "failed" | "undelivered"
  std::string error;        // failed/undelivered: the provider's code and title
  std::int64_t at_ms = 0;   // the provider's timestamp (0 = unknown)
};

// One thing a learner did, as the engine will see it.
struct inbound_item {
  std::string address;      // the learner's address on this channel (Telegram chat id, E.164…)
  std::string provider_id;  // the provider's id of this event, for dedupe ("" = none)
  inbound_event event;
  std::map<std::string, std::string> contact;  // what the provider tells about the learner
                                               // (name, language) — filled on first contact
  // A message that is not text: "photo", "voice", "audio", "video", "document", "sticker",
  // "location", … ("" = a text message, a tap or a status). `event` is then a text event
  // carrying the caption, if any; the service may answer "I can only read text here".
  std::string media_kind;
  std::string media_id;  // the provider's id of that media (WhatsApp: fetch with GET {api}/{id})
  // Provider calls to make after this item is committed, before any reply (e.g. Telegram:
  // remove the inline keyboard of the message whose button was tapped). Best effort.
  std::vector<http_call> follow_up;
  // Set when this item is a delivery report (not a learner event): the service records it
  // (a "delivery" result record) instead of stepping the engine. `event` is then unused.
  std::optional<delivery_report> report;
};

struct parse_result {
  enum class verdict { ok, ignored, invalid, unauthorized };
  verdict outcome = verdict::ok;
  std::vector<inbound_item> items;
  std::string reason;  // for logs: why ignored / invalid / unauthorized
  // What to answer once every item is committed (e.g. Telegram's answerCallbackQuery as the
  // webhook response). Errors are answered by the server from `outcome`.
  http_out ack;
};


enum class send_status {
  ok,                 // accepted; external_id set when the provider gives one
  connection_failed,  // transport error or 5xx: retry with backoff
  throttled,          // 429: retry after retry_after_s
  rejected,           // any other 4xx: do not retry, dead-letter
  stopped,            // the learner blocked us or opted out: stop sending to them
  window_closed,      // WhatsApp 131047: outside the 24-hour window; never retried as-is
};

struct send_result {
  send_status status = send_status::ok;
  std::string external_id;
  int retry_after_s = 0;
  std::string error;  // the provider's description, for the dead letter and logs
  // A refusal an operator must act on, counted in /metrics: "auth" (the provider refused our
  // credentials: Graph error 190, HTTP 401), "template" (WhatsApp refused a template: 132xxx);
  // "" for anything else.
  std::string alert;
};

class channel_adapter {
 public:
  virtual ~channel_adapter() = default;
  virtual std::string name() const = 0;  // "telegram", "web", …: the conversation id prefix
  // Whether its secrets are configured; a disabled channel's routes answer 404.
  virtual bool enabled() const = 0;
  // How menus show on this channel (the engine numbers them or not accordingly).
  virtual channel_caps caps() const = 0;
  // Verifies the request (signature, secret token) and parses it.
  virtual parse_result parse(const http_in& req) const = 0;
  // The calls that deliver `m` to `address`, in order (long texts may take several).
  virtual std::vector<http_call> render(const std::string& address, const outbound_message& m) const = 0;
  // What the provider's answer to one of those calls means.
  virtual send_result classify(int http_status, const std::string& body) const = 0;

  // Channels with a customer-service window (WhatsApp: 24 h after the learner's last
  // message): outside it only an approved template may go. 0 = no window.
  virtual std::int64_t window_ms() const { return 0; }
  // The calls that send the re-engagement template (a "Continuar" quick reply) to `address`;
  // empty when the channel has none. `template_name`: another approved template to use (a
  // course's nudge); empty = the configured one.
  virtual std::vector<http_call> render_reengagement(const std::string& address,
                                                     const std::string& template_name = {}) const {
    (void)address;
    (void)template_name;
    return {};
  }
};

}  // namespace aula
