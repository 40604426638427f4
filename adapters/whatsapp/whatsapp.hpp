// WhatsApp Cloud API adapter (CHANNELS.md §1): Meta's webhooks in, Graph API /messages out.
//
// In (GET): the dashboard's verification, hub.mode=subscribe and hub.verify_token equal (in
// constant time) to verify_token → ok, ack 200 text/plain with exactly hub.challenge; anything
// else → unauthorized (the server must answer 403 to a GET: `ack` is set to 403 as a hint).
// In (POST): `X-Hub-Signature-256: sha256=<64 hex>` = HMAC-SHA256(app secret, raw body),
// compared in constant time; missing, malformed or wrong → unauthorized. A body that is not a
// JSON object → invalid; an object other than "whatsapp_business_account", a change field
// other than "messages", or a change for another phone_number_id → ignored (200: Meta must not
// retry). Every entry, change, message and status is read, in order. A learner's address is
// normalize_phone(from): "+52…" (Mexico's "521…" folded), so it matches enrolment files.
//   text                               → text event (verbatim)
//   interactive button_reply/list_reply → choice event with the reply id (the engine's ref)
//   button (template quick reply)      → the re-engagement payload (continue_choice) as a
//                                        choice event; any other payload (or, without one,
//                                        the button text) as a text event
//   image/video/document/sticker/audio → text event with the caption ("" if none), media_kind
//                                        "photo"/"video"/"document"/"sticker"/"audio", or
//                                        "voice" for an audio with voice:true. The media id is
//                                        never put in the text (a number question would take
//                                        it as an answer); it goes in inbound_item::media_id
//                                        once adapter.hpp has that field (see whatsapp.cpp).
//   location                           → text event "lat,lng", media_kind "location"
//   reaction, unsupported, system, nfm_reply, … → ignored
//   statuses[]                         → items with `report` (sent/delivered/read/failed),
//                                        provider_id "<wamid>:<state>" (dedupe id + state)
// With mark_read, each message item carries a follow-up call marking it read.
// Out: POST {api_base}/{phone_number_id}/messages with a Bearer token. Text over 4096 UTF-16
// code units is split; ≤3 choices are reply buttons, 4–10 a list, more (or a numbered menu)
// numbered text; media by link with a caption (≤1024) when the type takes one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "adapters/adapter.hpp"

namespace aula {

struct whatsapp_options {
  std::string token;            // the system-user access token (secret: Authorization header)
  std::string app_secret;       // the app secret: the key of X-Hub-Signature-256 (secret)
  std::string verify_token;     // what the dashboard's verification GET must carry (secret)
  std::string phone_number_id;  // our business number: where we send from, what we accept
  std::string api_base = "https://graph.facebook.com/v21.0";  // with the version; tests: the mock
  std::string reengagement_template = "aula_continuar";  // approved template with a quick reply
  std::string template_language = "es_MX";
  // The payload given to the template's quick reply (button index 0), which comes back in the
  // tap; "" sends the template without components (the tap then carries the button's text).
  std::string reengagement_payload = continue_choice;
  bool mark_read = false;  // mark every inbound message read (a follow-up call per message)
};

class whatsapp_adapter : public channel_adapter {
 public:
  // Meta's limits. Lengths are counted in UTF-16 code units (an emoji above U+FFFF counts 2),
  // which is never less than Meta's own count, so a text that fits here fits there.
  static constexpr std::size_t max_text = 4096;        // text.body
  static constexpr std::size_t max_caption = 1024;     // image/video/document caption
  static constexpr std::size_t max_body = 1024;        // interactive body.text
  static constexpr std::size_t max_button_title = 20;  // reply button title; list button label
  static constexpr std::size_t max_row_title = 24;
  static constexpr std::size_t max_row_description = 72;
  static constexpr std::size_t max_reply_buttons = 3;
  static constexpr std::size_t max_rows = 10;      // a list: 10 rows in all sections together
  static constexpr std::size_t max_row_id = 200;   // bytes (a reply button's id may take 256)
  static constexpr int max_buttons = 10;           // more choices than this: numbered text
  static constexpr std::int64_t window = 24LL * 3600 * 1000;  // the customer-service window
  static constexpr const char* list_button = "Ver opciones";  // the list's button label

  explicit whatsapp_adapter(whatsapp_options cfg);

  std::string name() const override { return "whatsapp"; }
  bool enabled() const override;
  channel_caps caps() const override;
  parse_result parse(const http_in& req) const override;
  std::vector<http_call> render(const std::string& address, const outbound_message& m) const override;
  send_result classify(int http_status, const std::string& body) const override;
  std::int64_t window_ms() const override { return window; }
  std::vector<http_call> render_reengagement(const std::string& address,
                                             const std::string& template_name = {}) const override;

  // The send endpoint: {api_base}/{phone_number_id}/messages.
  std::string messages_url() const;
  // `s` with the access token, the app secret and the verify token masked, for logs.
  std::string redact(std::string s) const;

  // "sha256=<64 lower-case hex>": the X-Hub-Signature-256 Meta sends with `body` (tests and
  // tools sign payloads with it).
  static std::string signature(const std::string& app_secret, const std::string& body);

 private:
  whatsapp_options cfg_;
};

// `s` cut to at most `limit` UTF-16 code units, ending in "…" when it was cut (on a code point
// boundary, trailing spaces dropped before the ellipsis).
std::string whatsapp_cut(const std::string& s, std::size_t limit);

}  // namespace aula
