// WhatsApp Cloud API webhooks: the verification GET and signed POSTs, then render back.
// Input: first byte odd = a GET whose query is the rest; even = a POST whose body is the rest,
// signed with the app secret (the fuzzer explores the parser, not HMAC).
// Invariants: parse never throws; a forged signature is unauthorized with no items; a verified
// GET echoes a non-empty challenge; parsed items have a "+digits" address (or, for reports, an
// external id and a known state) and valid UTF-8; the learner's text rendered back is JSON to
// the same number, each piece within Meta's limit, together the same text.
#include <nlohmann/json.hpp>

#include "adapters/whatsapp/whatsapp.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace aula;
using verdict = parse_result::verdict;

namespace {
const std::string app_secret = "0d4e5f6a7b8c9d0e1f2a3b4c5d6e7f80";

whatsapp_options options() {
  whatsapp_options o;
  o.token = "EAAJB0ZCzPZBaYBAKq7ZB4kZAtestTOKENvalue123";
  o.app_secret = app_secret;
  o.verify_token = "aula-verify-Tok3n";
  o.phone_number_id = "106540352242922";
  return o;
}
const whatsapp_adapter adapter(options());

void check_render(const inbound_item& item) {
  outbound_message m;
  m.text = item.event.text;
  std::string sent;
  for (const http_call& c : adapter.render(item.address, m)) {
    const auto body = nlohmann::json::parse(c.body);
    FUZZ_CHECK("+" + body.at("to").get<std::string>() == item.address);
    const std::string piece = body.at("text").at("body").get<std::string>();
    FUZZ_CHECK(fuzz::utf16_units(piece) <= whatsapp_adapter::max_text);
    sent += piece;
  }
  FUZZ_CHECK(fuzz::without_spaces(sent) == fuzz::without_spaces(m.text));
  // As a reply-button menu: titles and ids within Meta's limits.
  m.menu = menu_style::buttons;
  m.choices = {{"a", m.text}, {m.text.substr(0, 300), "b"}};
  for (const http_call& c : adapter.render(item.address, m)) (void)nlohmann::json::parse(c.body);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool get = data[0] & 1;
  const std::string rest = fuzz::as_string(data + 1, size - 1);
  http_in req;
  if (get) {
    req.method = "GET";
    req.target = "/webhooks/whatsapp?" + rest;
    const parse_result r = adapter.parse(req);
    FUZZ_CHECK(r.items.empty());
    if (r.outcome == verdict::ok) FUZZ_CHECK(r.ack.status == 200 && !r.ack.body.empty());
    else FUZZ_CHECK(r.ack.status == 403);
    return 0;
  }
  req.method = "POST";
  req.target = "/webhooks/whatsapp";
  req.body = rest;
  req.headers = {{"content-type", "application/json"},
                 {"x-hub-signature-256", whatsapp_adapter::signature(app_secret, rest)}};
  const parse_result r = adapter.parse(req);
  if (r.outcome != verdict::ok) FUZZ_CHECK(r.items.empty());
  for (const inbound_item& item : r.items) {
    FUZZ_CHECK(fuzz::valid_utf8(item.event.text));
    FUZZ_CHECK(fuzz::valid_utf8(item.event.choice));
    // A message without an id has no provider id ("" = none: not deduplicated); a status
    // always has one ("<wamid>:<state>").
    if (item.report) {
      FUZZ_CHECK(item.provider_id == item.report->external_id + ":" + item.report->state);
      const std::string& s = item.report->state;
      FUZZ_CHECK(s == "sent" || s == "delivered" || s == "read" || s == "failed" || s == "queued" ||
                 s == "undelivered");
      FUZZ_CHECK(!item.report->external_id.empty());
      continue;
    }
    FUZZ_CHECK(fuzz::e164(item.address));
    if (item.event.type == inbound_event::kind::text) check_render(item);
  }
  // Another key's signature: nothing is read.
  req.headers["x-hub-signature-256"] = whatsapp_adapter::signature("not-the-app-secret", rest);
  const parse_result f = adapter.parse(req);
  FUZZ_CHECK(f.outcome == verdict::unauthorized && f.items.empty());
  return 0;
}
