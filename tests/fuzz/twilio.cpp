// Twilio SMS webhooks (inbound messages, status callbacks, GET webhooks) and the form codec.
// Input: first byte picks the request (0: POST /webhooks/twilio, 1: POST …/status, 2: GET
// /webhooks/twilio?<rest>), the rest is the form body (or query). Requests are signed as Twilio
// signs them, over the fields as form_decode reads them.
// Invariants: form_decode of form_encode gives the same fields back; parse never throws; a
// signature for another URL or key is unauthorized with no items; parsed items carry valid
// UTF-8, an E.164 address and, for reports, an external id; the learner's text rendered back as
// SMS is form bodies whose Body pieces fit 1600 UTF-16 units and together hold the same text.
#include "adapters/twilio_sms/twilio_sms.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace aula;
using verdict = parse_result::verdict;

namespace {
const std::string token = "f00dfeedc0ffee0123456789abcdef01";
const std::string public_url = "https://aula.example.org";

twilio_options options() {
  twilio_options o;
  o.account_sid = "AC0123456789abcdef0123456789abcdef";
  o.auth_token = token;
  o.from = "+15005550006";
  o.public_url = public_url;
  return o;
}
const twilio_sms_adapter adapter(options());

void check_render(const inbound_item& item) {
  outbound_message m;
  m.text = item.event.text;
  std::string sent;
  for (const http_call& c : adapter.render(item.address, m)) {
    form_params f;
    FUZZ_CHECK(form_decode(c.body, f));
    std::string to, body;
    for (const auto& [k, v] : f) {
      if (k == "To") to = v;
      if (k == "Body") body = v;
    }
    FUZZ_CHECK(to == item.address);
    FUZZ_CHECK(fuzz::utf16_units(body) <= twilio_sms_adapter::max_body);
    FUZZ_CHECK(c.segments >= 1);
    sent += body;
  }
  FUZZ_CHECK(fuzz::without_spaces(sent) == fuzz::without_spaces(m.text));
  // As a menu (always numbered text on SMS).
  m.menu = menu_style::buttons;
  m.choices = {{"a", m.text}, {"b", "Sí"}};
  for (const http_call& c : adapter.render(item.address, m)) {
    form_params f;
    FUZZ_CHECK(form_decode(c.body, f));
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 3;
  const std::string rest = fuzz::as_string(data + 1, size - 1);

  form_params params;
  const bool decoded = form_decode(rest, params);
  if (decoded) {
    // Bytes that are not UTF-8 are kept as decoded (the signature covers them); parse replaces them.
    for (const auto& kv : params) FUZZ_CHECK(!kv.first.empty());
    form_params again;
    FUZZ_CHECK(form_decode(form_encode(params), again));
    FUZZ_CHECK(again == params);
  }

  http_in req;
  req.method = mode == 2 ? "GET" : "POST";
  req.target = mode == 0 ? "/webhooks/twilio" : mode == 1 ? "/webhooks/twilio/status" : "/webhooks/twilio?" + rest;
  if (mode != 2) {
    req.body = rest;
    req.headers["content-type"] = "application/x-www-form-urlencoded";
  }
  const form_params signed_params = mode == 2 ? form_params{} : params;
  req.headers["x-twilio-signature"] = twilio_signature(token, public_url + req.target, signed_params);

  const parse_result r = adapter.parse(req);
  if (r.outcome != verdict::ok) FUZZ_CHECK(r.items.empty());
  if (r.outcome == verdict::ok) FUZZ_CHECK(mode == 2 || decoded);
  for (const inbound_item& item : r.items) {
    FUZZ_CHECK(fuzz::valid_utf8(item.event.text));
    FUZZ_CHECK(!item.provider_id.empty());
    FUZZ_CHECK(fuzz::e164(item.address));
    if (item.report) {
      FUZZ_CHECK(!item.report->external_id.empty());
      continue;
    }
    if (item.event.type == inbound_event::kind::text) check_render(item);
  }

  // Signed for the other route, or with another key: nothing is read.
  http_in forged = req;
  forged.headers["x-twilio-signature"] =
      twilio_signature(token, public_url + (mode == 1 ? "/webhooks/twilio" : "/webhooks/twilio/status"), signed_params);
  const parse_result f = adapter.parse(forged);
  // (A body that is no form cannot be checked: it is invalid, 400, whatever the signature.)
  FUZZ_CHECK(f.items.empty());
  FUZZ_CHECK(f.outcome == verdict::unauthorized || (f.outcome == verdict::invalid && !decoded));
  return 0;
}
