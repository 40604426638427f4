// Telegram webhook updates: verify + parse, then render what was read back out.
// Invariants: parse never throws; a wrong or missing secret is always unauthorized with no
// items; a parsed item has a decimal chat id, valid UTF-8 text, a provider id; rendering the
// learner's text back gives JSON bodies to that chat whose texts fit Telegram's limit and, put
// together, hold the same text (only the breaks the split cut at may go); an update read
// from its values (json_text::pick) reads as it does from its whole document (forced by
// repeating a member the reader looks into: the document keeps the last).
#include <algorithm>

#include <nlohmann/json.hpp>

#include "adapters/telegram/telegram.hpp"
#include "adapters/util.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace aula;
using verdict = parse_result::verdict;

namespace {
const std::string token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const std::string secret = "s3cr3t-T0ken_abc";
const telegram_adapter adapter({token, secret, "https://api.telegram.org"});

bool decimal_int64(const std::string& s) {
  std::size_t i = !s.empty() && s[0] == '-' ? 1 : 0;
  if (i == s.size() || s.size() > 20) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

void check_render(const inbound_item& item) {
  const std::string& text = item.event.text;
  outbound_message m;
  m.text = text;
  std::string sent;
  for (const http_call& c : adapter.render(item.address, m)) {
    FUZZ_CHECK(c.url.find(token) != std::string::npos);
    const auto body = nlohmann::json::parse(c.body);  // throws (a crash) when not JSON
    FUZZ_CHECK(body.is_object());
    FUZZ_CHECK(body.at("chat_id").dump() == item.address);
    const std::string piece = body.at("text").get<std::string>();
    FUZZ_CHECK(fuzz::utf16_units(piece) <= telegram_adapter::max_text);
    sent += piece;
  }
  FUZZ_CHECK(fuzz::without_spaces(sent) == fuzz::without_spaces(text));

  // The same text as a button menu: one button per choice (labels and refs from the text).
  m.menu = menu_style::buttons;
  // A ref of up to 64 bytes cut at a character boundary (the engine's refs are ASCII ids; a ref
  // cut inside a character would not be the text it came from).
  std::size_t cut = std::min<std::size_t>(text.size(), 64);
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  m.choices = {{text.substr(0, cut), text}, {"b", ""}};
  for (const http_call& c : adapter.render(item.address, m)) {
    const auto body = nlohmann::json::parse(c.body);
    if (const auto it = body.find("reply_markup"); it != body.end())
      for (const auto& row : it->at("inline_keyboard"))
        for (const auto& b : row) {
          const std::string data = b.at("callback_data").get<std::string>();
          FUZZ_CHECK(!data.empty() && data.size() <= telegram_adapter::max_callback_data);
        }
  }
}
// Everything a parse answers, as one text.
std::string described(const parse_result& r) {
  std::string out = std::to_string(static_cast<int>(r.outcome)) + "|" + r.reason + "|" + r.ack.body + "\n";
  for (const auto& i : r.items) {
    out += i.address + "|" + i.provider_id + "|" + std::to_string(static_cast<int>(i.event.type)) + "|" +
           i.event.text + "|" + i.event.flow + "|" + i.event.choice + "|" + i.media_kind + "\n";
    for (const auto& [k, v] : i.contact) out += k + "=" + v + "\n";
    for (const auto& f : i.follow_up) out += f.url + " " + f.body + "\n";
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http_in req;
  req.method = "POST";
  req.target = "/webhooks/telegram";
  req.headers = {{"content-type", "application/json"}, {"x-telegram-bot-api-secret-token", secret}};
  req.body = fuzz::as_string(data, size);

  const parse_result r = adapter.parse(req);
  if (r.outcome != verdict::ok) FUZZ_CHECK(r.items.empty());
  for (const inbound_item& item : r.items) {
    FUZZ_CHECK(decimal_int64(item.address));
    FUZZ_CHECK(!item.provider_id.empty());
    FUZZ_CHECK(fuzz::valid_utf8(item.event.text));
    FUZZ_CHECK(fuzz::valid_utf8(item.event.choice));
    for (const auto& [k, v] : item.contact) FUZZ_CHECK(fuzz::valid_utf8(v));
    if (item.event.type == inbound_event::kind::text) check_render(item);
  }
  if (!r.ack.body.empty()) (void)nlohmann::json::parse(r.ack.body);  // the ack is JSON

  // The same update with a member the reader looks into given twice, the first time as an
  // empty object: the document is the same, read whole; the answer must be too.
  const auto doc = nlohmann::json::parse(adapter_util::repair_json_text(req.body), nullptr, false);
  if (doc.is_object())
    for (const char* key : {"message", "callback_query", "my_chat_member", "update_id"})
      if (doc.contains(key)) {
        http_in repeated = req;
        repeated.body.insert(req.body.find('{') + 1, "\"" + std::string(key) + "\":{},");
        FUZZ_CHECK(described(adapter.parse(repeated)) == described(r));
        break;
      }

  // Without the right secret nothing is read.
  http_in forged = req;
  forged.headers["x-telegram-bot-api-secret-token"] = secret.substr(0, secret.size() - 1) + "x";
  const parse_result f = adapter.parse(forged);
  FUZZ_CHECK(f.outcome == verdict::unauthorized && f.items.empty());
  return 0;
}
