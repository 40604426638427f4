// SMS through Twilio Programmable Messaging (CHANNELS.md §3): form webhooks in, REST sends out.
//
// In: every request must carry `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL +
// each POST parameter as name+value, sorted by name then value)). The URL is the public one
// Twilio requested: options.public_url (no trailing slash) + the request target (path and
// query, as received). As Twilio's validators do, the signature is also accepted for the URL
// with its port removed, or with the scheme's default port (:443, :80) added when it has none.
// Compared in constant time. A learner's address is the E.164 number (normalize_phone), so a
// conversation is "sms:+52…". What a request becomes:
//   /webhooks/twilio (inbound SMS/MMS)  → text event with Body, verbatim; provider_id =
//                                          MessageSid (a retried webhook is deduplicated);
//                                          NumMedia > 0: media_kind from MediaContentType0
//                                          ("photo", "audio", "video", "contact", "document")
//                                          with the Body as caption
//   …/status (status callback)          → an item with `report` (external_id = MessageSid,
//                                          state = MessageStatus, error = ErrorCode and what it
//                                          means); address = normalize_phone(To); provider_id =
//                                          "<MessageSid>:<state>"
//   a sender that is not a phone number (whatsapp:+…, a short code) → ignored
// Both are acknowledged with an empty TwiML document (no synchronous reply; replies go
// through the REST API once committed). Opt-out words (STOP, BAJA…) are the engine's business:
// Twilio forwards them like any message; caps() lists Twilio's own keywords that the engine's
// global ones lack (STOPALL, CANCEL, END, QUIT, REVOKE, OPTOUT; YES), so both agree on who
// opted out.
//
// Out: POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json, basic auth, form body To, From
// (or MessagingServiceSid when `from` starts with "MG"), Body, MediaUrl, StatusCallback
// ({public_url}/webhooks/twilio/status). Every menu is numbered text ending with a hint line
// ("Responde con el número de tu opción."). Bodies over 1600 characters are split on paragraph,
// line or word boundaries into several messages; each call's `segments` is what its body bills
// (GSM-7 160/153, UCS-2 70/67; see gsm7.hpp). With options.transliterate the text is mapped to
// GSM-7 first (á → a, emoji dropped…), which keeps Spanish text at 160 characters a segment.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/adapter.hpp"
#include "adapters/twilio_sms/gsm7.hpp"

namespace aula {

struct twilio_options {
  std::string account_sid;  // AC…
  std::string auth_token;   // secret: signs the webhooks, authenticates the REST calls
  std::string from;         // the sender: a number (+52…) or a Messaging Service SID (MG…)
  std::string api_base = "https://api.twilio.com";  // tests point it at the mock
  std::string public_url;   // AULA_PUBLIC_URL: what Twilio calls (webhook URLs are built on it)
  bool transliterate = false;  // map text to GSM-7 before sending (cheaper segments)
  bool mms = true;             // attachments as MediaUrl (MMS); false: as a link in the text.
                               // Twilio delivers MMS in the US and Canada only: for Mexican
                               // numbers set it false (or rely on Twilio's MMS converter).
  // The last line of every menu. outbound_message carries no language, so it is Spanish by
  // default (aula's audience); a deployment in another language sets its own.
  std::string menu_hint = "Responde con el número de tu opción.";
};

class twilio_sms_adapter : public channel_adapter {
 public:
  static constexpr std::size_t max_body = 1600;  // Twilio's Body limit (checked in UTF-16 units)
  static constexpr std::int64_t max_media_kb = 5 * 1024;  // MMS: 5 MB in all; larger goes as a link

  explicit twilio_sms_adapter(twilio_options cfg);

  std::string name() const override { return "sms"; }
  bool enabled() const override;
  channel_caps caps() const override;
  parse_result parse(const http_in& req) const override;
  std::vector<http_call> render(const std::string& address, const outbound_message& m) const override;
  send_result classify(int http_status, const std::string& body) const override;

  // `s` with the auth token and the basic-auth credential masked, for logs.
  std::string redact(std::string s) const;

  // The REST endpoint that creates messages, and the status callback URL given with each.
  std::string messages_url() const;
  std::string status_callback_url() const;

  // The text a message sends (before splitting): menus numbered with the hint line,
  // attachments that do not go as MMS as a link line; transliterated when configured.
  std::string body_text(const outbound_message& m) const;

 private:
  twilio_options cfg_;
};

using form_params = std::vector<std::pair<std::string, std::string>>;

// X-Twilio-Signature for `url` and POST `params`: base64(HMAC-SHA1(auth_token, url + every
// param as name+value, sorted by name, then by value)).
std::string twilio_signature(std::string_view auth_token, std::string_view url, const form_params& params);

// Whether `signature` is valid for `url` as given, for `url` without its port, or for `url`
// with the scheme's default port added (the variants Twilio's own validators accept).
// Constant-time comparison.
bool twilio_signature_valid(std::string_view auth_token, std::string_view url, const form_params& params,
                            std::string_view signature);

// application/x-www-form-urlencoded, in order, duplicates kept: decodes '+' and %XX. Returns
// false (malformed) when a % escape is broken or a name is empty. Bytes that are not UTF-8
// are kept as decoded (the signature covers them); the adapter's parse replaces them with
// U+FFFD after checking it. Empty fields ("a=1&&b=2") are skipped; "a" alone is a = "".
bool form_decode(std::string_view body, form_params& out);
std::string form_encode(const form_params& params);

// What a Twilio error code means, briefly ("" when unknown): 21610, 21211, 30003…
std::string twilio_error_meaning(int code);

}  // namespace aula
