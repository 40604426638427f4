#include "adapters/whatsapp/whatsapp.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/util.hpp"  // utf16_length: what Meta's limits count

using namespace aula;
using nlohmann::json;
using Catch::Matchers::Contains;
using kind = inbound_event::kind;
using verdict = parse_result::verdict;

namespace {

// Made-up credentials in Meta's shapes, and a phone number id from Meta's examples.
const std::string token = "EAAJB0ZCzPZBaYBAKq7ZB4kZAtestTOKENvalue123";
const std::string app_secret = "0d4e5f6a7b8c9d0e1f2a3b4c5d6e7f80";
const std::string verify_token = "aula-verify-Tok3n";
const std::string phone_id = "106540352242922";
const std::string api = "https://graph.facebook.com/v21.0/106540352242922/messages";

whatsapp_options options() {
  whatsapp_options o;
  o.token = token;
  o.app_secret = app_secret;
  o.verify_token = verify_token;
  o.phone_number_id = phone_id;
  return o;
}
whatsapp_adapter adapter() { return whatsapp_adapter(options()); }

// The test's own oracle for X-Hub-Signature-256: OpenSSL's HMAC, not the adapter's code.
std::string sign(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), mac, &len);
  std::string hex = "sha256=";
  static constexpr char digits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(digits[mac[i] >> 4]);
    hex.push_back(digits[mac[i] & 0xF]);
  }
  return hex;
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Incoming: notifications as Meta sends them (CHANNELS.md §1.2–1.4).

// One entry with one "messages" change whose value holds `fields` (contacts, messages, …).
std::string envelope(const std::string& fields, const std::string& pnid = phone_id,
                     const std::string& field = "messages") {
  return R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":)"
         R"({"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":")" +
         pnid + R"("},)" + fields + R"(},"field":")" + field + R"("}]}]})";
}

const std::string ana_contact = R"("contacts":[{"profile":{"name":"Ana López"},"wa_id":"5215512345678"}])";

std::string one_message(const std::string& message_fields) {
  return envelope(ana_contact + R"(,"messages":[{"from":"5215512345678","id":"wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBDMEE5",)"
                                R"("timestamp":"1767625200",)" +
                  message_fields + "}]");
}

const std::string wamid = "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBDMEE5";

const std::string textMsg = one_message(R"("text":{"body":"Hola"},"type":"text")");
const std::string spanishMsg =
    one_message(R"("text":{"body":"¿Cuántos años? ¡Señor Núñez! 👍🏽 ñandú \ud83d\ude00"},"type":"text")");
const std::string templateSyntaxMsg = one_message(R"("text":{"body":"Me llamo {{contact.name}}"},"type":"text")");
const std::string buttonReplyMsg = one_message(
    R"("context":{"from":"15550783881","id":"wamid.OUTBOUND1"},"type":"interactive",)"
    R"("interactive":{"type":"button_reply","button_reply":{"id":"r1a2.9f3c.0","title":"Sí"}})");
const std::string listReplyMsg = one_message(
    R"("context":{"from":"15550783881","id":"wamid.OUTBOUND2"},"type":"interactive",)"
    R"("interactive":{"type":"list_reply","list_reply":{"id":"r1a2.9f3c.7","title":"Opción 8","description":"La octava"}})");
const std::string nfmReplyMsg = one_message(
    R"("type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":"{}"}})");
const std::string continueMsg = one_message(
    R"("context":{"from":"15550783881","id":"wamid.TEMPLATE1"},"type":"button",)"
    R"("button":{"payload":"aula:continue","text":"Continuar"})");
const std::string otherPayloadMsg =
    one_message(R"("type":"button","button":{"payload":"Continuar","text":"Continuar"})");
const std::string buttonTextOnlyMsg = one_message(R"("type":"button","button":{"text":"Continuar"})");
const std::string imageMsg = one_message(
    R"("type":"image","image":{"caption":"mi tarea","mime_type":"image/jpeg",)"
    R"("sha256":"4b2e1c0f2e","id":"1003383421387256"})");
const std::string voiceMsg = one_message(
    R"("type":"audio","audio":{"mime_type":"audio/ogg; codecs=opus","sha256":"aa","id":"1234567890123456","voice":true})");
const std::string audioMsg =
    one_message(R"("type":"audio","audio":{"mime_type":"audio/mpeg","sha256":"bb","id":"2234567890123456"})");
const std::string videoMsg =
    one_message(R"("type":"video","video":{"caption":"mira","mime_type":"video/mp4","sha256":"cc","id":"3234567890"})");
const std::string documentMsg = one_message(
    R"("type":"document","document":{"caption":"mi informe","filename":"informe.pdf","mime_type":"application/pdf",)"
    R"("sha256":"dd","id":"4234567890"})");
const std::string stickerMsg = one_message(
    R"("type":"sticker","sticker":{"mime_type":"image/webp","sha256":"ee","id":"5234567890","animated":false})");
const std::string locationMsg = one_message(
    R"("type":"location","location":{"latitude":19.4326077,"longitude":-99.133208,"name":"Zócalo","address":"Centro, CDMX"})");
const std::string reactionMsg =
    one_message(R"("type":"reaction","reaction":{"message_id":"wamid.OUTBOUND1","emoji":"👍"})");
const std::string unsupportedMsg = one_message(
    R"("type":"unsupported","errors":[{"code":131051,"title":"Message type unknown","message":"Message type unknown",)"
    R"("error_data":{"details":"Message type is currently not supported."}}])");
const std::string usernameOnlyMsg = envelope(
    R"("contacts":[{"profile":{"name":"Ana"},"user_id":"MX.123"}],"messages":[{"from_user_id":"MX.123",)"
    R"("id":"wamid.U1","timestamp":"1767625200","text":{"body":"hola"},"type":"text"}])");
const std::string usMsg = envelope(
    R"("contacts":[{"profile":{"name":"Bob"},"wa_id":"15551234567"}],"messages":[{"from":"15551234567",)"
    R"("id":"wamid.US1","timestamp":"1767625200","text":{"body":"Hi"},"type":"text"}])");
const std::string noContactMsg = envelope(
    R"("messages":[{"from":"5215587654321","id":"wamid.NC1","timestamp":"1767625200","text":{"body":"hola"},"type":"text"}])");
const std::string textWrongTypeMsg = one_message(R"("text":{"body":42},"type":"text")");

std::string status(const std::string& state, const std::string& extra = {}) {
  return envelope(R"("statuses":[{"id":"wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjQ4","status":")" + state +
                  R"(","timestamp":"1767625300","recipient_id":"5215512345678")" + extra + "}]");
}
const std::string failedStatus = status(
    "failed",
    R"(,"errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message",)"
    R"("error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}])");
const std::string pricedStatus = status(
    "delivered", R"(,"conversation":{"id":"c1","origin":{"type":"service"}},"pricing":{"billable":true,"pricing_model":"CBP","category":"service"})");
const std::string deletedStatus = status("deleted");
const std::string msTimestampStatus = envelope(
    R"("statuses":[{"id":"wamid.MS","status":"read","timestamp":"1767625300123","recipient_id":"5215512345678"}])");

// Two entries; the first has two changes (messages and statuses), in one POST.
const std::string batch = R"({"object":"whatsapp_business_account","entry":[
  {"id":"102290129340398","changes":[
    {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
      "contacts":[{"profile":{"name":"Ana López"},"wa_id":"5215512345678"},{"profile":{"name":"Luis"},"wa_id":"5215587654321"}],
      "messages":[
        {"from":"5215512345678","id":"wamid.A1","timestamp":"1767625200","text":{"body":"uno"},"type":"text"},
        {"from":"5215587654321","id":"wamid.B1","timestamp":"1767625201","text":{"body":"dos"},"type":"text"},
        {"from":"5215512345678","id":"wamid.A2","timestamp":"1767625202","type":"interactive",
         "interactive":{"type":"button_reply","button_reply":{"id":"r1.ab.1","title":"No"}}}]},
     "field":"messages"},
    {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
      "statuses":[{"id":"wamid.OUT9","status":"delivered","timestamp":"1767625203","recipient_id":"5215587654321"}]},
     "field":"messages"},
    {"value":{"event":"APPROVED","message_template_id":1,"message_template_name":"aula_continuar"},
     "field":"message_template_status_update"}]},
  {"id":"102290129340398","changes":[
    {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
      "contacts":[{"profile":{"name":"Ana López"},"wa_id":"5215512345678"}],
      "messages":[{"from":"5215512345678","id":"wamid.A3","timestamp":"1767625204","text":{"body":"tres"},"type":"text"}]},
     "field":"messages"}]}]})";

// One change for our number and one for another number of the same account.
const std::string mixedNumbers = R"({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
    {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"999999999999999"},
      "messages":[{"from":"5215512345678","id":"wamid.X","timestamp":"1","text":{"body":"no es para aula"},"type":"text"}]},"field":"messages"},
    {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"2","phone_number_id":"106540352242922"},
      "messages":[{"from":"5215512345678","id":"wamid.Y","timestamp":"1","text":{"body":"para aula"},"type":"text"}]},"field":"messages"}]}]})";

const std::string templateUpdate = R"({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
    {"value":{"event":"APPROVED","message_template_id":1,"message_template_name":"aula_continuar","message_template_language":"es_MX"},
     "field":"message_template_status_update"}]}]})";
const std::string pageObject = R"({"object":"page","entry":[{"id":"1","time":1,"messaging":[]}]})";
const std::string noEntries = R"({"object":"whatsapp_business_account","entry":[]})";
const std::string valueErrors = envelope(
    R"("errors":[{"code":131000,"title":"Something went wrong","message":"Something went wrong","error_data":{"details":"x"}}])");

struct expected_item {
  std::string address;
  std::string provider_id;
  kind type = kind::text;
  std::string value;  // text for text, choice for choice
  std::string media_kind;
  std::map<std::string, std::string> contact;
  std::optional<delivery_report> report;  // set: a delivery report (type and value unused)
  std::string media_id;
};

struct incoming_case {
  std::string label;
  std::string body;
  verdict expected_verdict;
  std::vector<expected_item> expected_items;
  // The X-Hub-Signature-256 to send; "" = the right one for the body, "-" = no header.
  std::string signature;
};

const std::map<std::string, std::string> ana = {{"name", "Ana López"}};
const std::string ana_addr = "+525512345678";

expected_item text_item(std::string value, std::string media = {}, std::string media_id = {}) {
  return {ana_addr, wamid, kind::text, std::move(value), std::move(media), ana, std::nullopt, std::move(media_id)};
}
expected_item report_item(std::string id, std::string state, std::string error, std::int64_t at_ms,
                          std::string address = ana_addr) {
  delivery_report r;
  r.external_id = id;
  r.state = state;
  r.error = std::move(error);
  r.at_ms = at_ms;
  return {std::move(address), id + ":" + state, kind::text, {}, {}, {}, r, {}};
}

const std::string status_id = "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjQ4";

const std::vector<incoming_case> incoming_cases = {
    {"text message", textMsg, verdict::ok, {text_item("Hola")}, ""},
    {"Spanish text and emoji intact", spanishMsg, verdict::ok,
     {text_item("¿Cuántos años? ¡Señor Núñez! 👍🏽 ñandú 😀")}, ""},
    {"template syntax is kept verbatim", templateSyntaxMsg, verdict::ok, {text_item("Me llamo {{contact.name}}")}, ""},
    {"reply button tap is a choice", buttonReplyMsg, verdict::ok,
     {{ana_addr, wamid, kind::choice, "r1a2.9f3c.0", "", ana, std::nullopt, ""}}, ""},
    {"list row tap is a choice", listReplyMsg, verdict::ok,
     {{ana_addr, wamid, kind::choice, "r1a2.9f3c.7", "", ana, std::nullopt, ""}}, ""},
    {"Flows reply is ignored", nfmReplyMsg, verdict::ignored, {}, ""},
    {"the re-engagement quick reply is the continue choice", continueMsg, verdict::ok,
     {{ana_addr, wamid, kind::choice, "aula:continue", "", ana, std::nullopt, ""}}, ""},
    {"another template quick reply is its payload as text", otherPayloadMsg, verdict::ok, {text_item("Continuar")}, ""},
    {"a quick reply without payload is its text", buttonTextOnlyMsg, verdict::ok, {text_item("Continuar")}, ""},
    {"image with caption", imageMsg, verdict::ok, {text_item("mi tarea", "photo", "1003383421387256")}, ""},
    {"voice note", voiceMsg, verdict::ok, {text_item("", "voice", "1234567890123456")}, ""},
    {"audio file", audioMsg, verdict::ok, {text_item("", "audio", "2234567890123456")}, ""},
    {"video with caption", videoMsg, verdict::ok, {text_item("mira", "video", "3234567890")}, ""},
    {"document with caption", documentMsg, verdict::ok, {text_item("mi informe", "document", "4234567890")}, ""},
    {"sticker", stickerMsg, verdict::ok, {text_item("", "sticker", "5234567890")}, ""},
    {"location as lat,lng", locationMsg, verdict::ok, {text_item("19.4326077,-99.133208", "location")}, ""},
    {"reaction is ignored", reactionMsg, verdict::ignored, {}, ""},
    {"unsupported is ignored", unsupportedMsg, verdict::ignored, {}, ""},
    {"a user known only by username is ignored", usernameOnlyMsg, verdict::ignored, {}, ""},
    {"a text body of the wrong type is ignored", textWrongTypeMsg, verdict::ignored, {}, ""},
    {"a US number", usMsg, verdict::ok,
     {{"+15551234567", "wamid.US1", kind::text, "Hi", "", {{"name", "Bob"}}, std::nullopt, ""}}, ""},
    {"no contacts: no name", noContactMsg, verdict::ok,
     {{"+525587654321", "wamid.NC1", kind::text, "hola", "", {}, std::nullopt, ""}}, ""},
    {"status sent", status("sent"), verdict::ok, {report_item(status_id, "sent", "", 1767625300000)}, ""},
    {"status delivered (with pricing)", pricedStatus, verdict::ok,
     {report_item(status_id, "delivered", "", 1767625300000)}, ""},
    {"status read", status("read"), verdict::ok, {report_item(status_id, "read", "", 1767625300000)}, ""},
    {"status failed with its error", failedStatus, verdict::ok,
     {report_item(status_id, "failed", "131047 Re-engagement message", 1767625300000)}, ""},
    {"status deleted is ignored", deletedStatus, verdict::ignored, {}, ""},
    {"a timestamp in milliseconds", msTimestampStatus, verdict::ok,
     {report_item("wamid.MS", "read", "", 1767625300123)}, ""},
    {"a batch keeps its order across entries and changes", batch, verdict::ok,
     {{ana_addr, "wamid.A1", kind::text, "uno", "", ana, std::nullopt, ""},
      {"+525587654321", "wamid.B1", kind::text, "dos", "", {{"name", "Luis"}}, std::nullopt, ""},
      {ana_addr, "wamid.A2", kind::choice, "r1.ab.1", "", ana, std::nullopt, ""},
      report_item("wamid.OUT9", "delivered", "", 1767625203000, "+525587654321"),
      {ana_addr, "wamid.A3", kind::text, "tres", "", ana, std::nullopt, ""}},
     ""},
    {"another phone_number_id is ignored", envelope(R"("messages":[{"from":"5215512345678","id":"wamid.Z",)"
                                                    R"("timestamp":"1","text":{"body":"hola"},"type":"text"}])",
                                                    "999999999999999"),
     verdict::ignored, {}, ""},
    {"only our number's change is read", mixedNumbers, verdict::ok,
     {{ana_addr, "wamid.Y", kind::text, "para aula", "", {}, std::nullopt, ""}}, ""},
    {"template status update is ignored", templateUpdate, verdict::ignored, {}, ""},
    {"another object is ignored", pageObject, verdict::ignored, {}, ""},
    {"no entries is ignored", noEntries, verdict::ignored, {}, ""},
    {"errors from Meta are ignored", valueErrors, verdict::ignored, {}, ""},
    {"invalid JSON", "foo", verdict::invalid, {}, ""},
    {"truncated JSON", R"({"object":"whatsapp_business_account","entry":[)", verdict::invalid, {}, ""},
    {"not an object", "[1,2]", verdict::invalid, {}, ""},
    {"empty body", "", verdict::invalid, {}, ""},
    {"missing signature", textMsg, verdict::unauthorized, {}, "-"},
    {"signed with another secret", textMsg, verdict::unauthorized, {}, sign("not-the-app-secret", textMsg)},
    {"signed with the access token", textMsg, verdict::unauthorized, {}, sign(token, textMsg)},
    {"tampered body", textMsg, verdict::unauthorized, {}, sign(app_secret, spanishMsg)},
    {"sha1= prefix", textMsg, verdict::unauthorized, {}, "sha1=" + sign(app_secret, textMsg).substr(7)},
    {"no prefix", textMsg, verdict::unauthorized, {}, sign(app_secret, textMsg).substr(7)},
    {"one hex digit short", textMsg, verdict::unauthorized, {}, sign(app_secret, textMsg).substr(0, 70)},
    {"a trailing space", textMsg, verdict::unauthorized, {}, sign(app_secret, textMsg) + " "},
    {"not hex", textMsg, verdict::unauthorized, {}, "sha256=" + repeat("zz", 32)},
    {"empty signature", textMsg, verdict::unauthorized, {}, "sha256="},
    {"upper-case hex is the same digest", textMsg, verdict::ok, {text_item("Hola")},
     [] {
       std::string s = sign(app_secret, textMsg);
       for (std::size_t i = 7; i < s.size(); ++i)
         if (s[i] >= 'a' && s[i] <= 'f') s[i] = static_cast<char>(s[i] - 'a' + 'A');
       return s;
     }()},
    {"bad signature on an empty body is still unauthorized", "", verdict::unauthorized, {}, sign("x", "")},
};

std::string value_of(const inbound_event& e) {
  switch (e.type) {
    case kind::text: return e.text;
    case kind::choice: return e.choice;
    case kind::start: return e.flow;
    default: return {};
  }
}

void check_no_secret(const std::string& s) {
  CHECK_THAT(s, !Contains(token));
  CHECK_THAT(s, !Contains(app_secret));
  CHECK_THAT(s, !Contains(verify_token));
}

// ---------------------------------------------------------------------------------------------
// Verification GET (CHANNELS.md §1.1).

struct verify_case {
  std::string label;
  std::string target;
  verdict expected_verdict;
  std::string expected_body;  // ok: the challenge
};

const std::vector<verify_case> verify_cases = {
    {"subscribe with the right token echoes the challenge",
     "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=aula-verify-Tok3n", verdict::ok,
     "1158201444"},
    {"percent-encoded parameters are decoded",
     "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=aula%2Dverify%2DTok3n&hub.challenge=abc%20123",
     verdict::ok, "abc 123"},
    {"the first of repeated parameters counts",
     "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=aula-verify-Tok3n&hub.verify_token=x&hub.challenge=7",
     verdict::ok, "7"},
    {"wrong token", "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=aula-verify-Tok3m",
     verdict::unauthorized, ""},
    {"token prefix", "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token=aula-verify-Tok3",
     verdict::unauthorized, ""},
    {"empty token", "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token=", verdict::unauthorized,
     ""},
    {"wrong mode", "/webhooks/whatsapp?hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=aula-verify-Tok3n",
     verdict::unauthorized, ""},
    {"dots turned into underscores do not count",
     "/webhooks/whatsapp?hub_mode=subscribe&hub_challenge=1&hub_verify_token=aula-verify-Tok3n", verdict::unauthorized,
     ""},
    {"no challenge", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=aula-verify-Tok3n", verdict::unauthorized,
     ""},
    {"no query at all", "/webhooks/whatsapp", verdict::unauthorized, ""},
};

// ---------------------------------------------------------------------------------------------
// Outgoing: channel-neutral messages in, Graph API calls out (CHANNELS.md §1.6).

struct outgoing_case {
  std::string label;
  std::string address;
  outbound_message msg;
  std::vector<json> expected_bodies;  // each call's whole body, compared as JSON
};

outbound_message text_msg(std::string t) {
  outbound_message m;
  m.text = std::move(t);
  return m;
}
outbound_message menu_msg(std::string t, menu_style style, std::vector<outbound_choice> choices) {
  outbound_message m = text_msg(std::move(t));
  m.menu = style;
  m.choices = std::move(choices);
  return m;
}
outbound_message media_msg(std::string t, std::string type, std::string url, std::string filename = {},
                           std::int64_t size_kb = 0) {
  outbound_message m = text_msg(std::move(t));
  media a;
  a.type = std::move(type);
  a.url = std::move(url);
  a.filename = std::move(filename);
  a.size_kb = size_kb;
  m.attachment = a;
  return m;
}

const std::string to = "525512345678";  // +52 55 1234 5678 without the '+'

json base(const std::string& type) {
  return {{"messaging_product", "whatsapp"}, {"recipient_type", "individual"}, {"to", to}, {"type", type}};
}
json text_body(const std::string& body, bool preview = false) {
  json j = base("text");
  j["text"] = {{"body", body}, {"preview_url", preview}};
  return j;
}
json buttons_body(const std::string& text, const std::vector<std::pair<std::string, std::string>>& buttons) {
  json list = json::array();
  for (const auto& [id, title] : buttons) list.push_back({{"type", "reply"}, {"reply", {{"id", id}, {"title", title}}}});
  json j = base("interactive");
  j["interactive"] = {{"type", "button"}, {"body", {{"text", text}}}, {"action", {{"buttons", list}}}};
  return j;
}
struct row {
  std::string id, title, description;
};
json list_body(const std::string& text, const std::vector<row>& rows) {
  json rs = json::array();
  for (const auto& r : rows) {
    json x = {{"id", r.id}, {"title", r.title}};
    if (!r.description.empty()) x["description"] = r.description;
    rs.push_back(x);
  }
  json j = base("interactive");
  j["interactive"] = {{"type", "list"},
                      {"body", {{"text", text}}},
                      {"action", {{"button", "Ver opciones"}, {"sections", json::array({{{"rows", rs}}})}}}};
  return j;
}
json media_body(const std::string& type, json obj) {
  json j = base(type);
  j[type] = std::move(obj);
  return j;
}

const std::vector<outbound_choice> yes_no = {{"r1.ab.0", "Sí"}, {"r1.ab.1", "No"}};
std::vector<outbound_choice> many(std::size_t n) {
  std::vector<outbound_choice> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back({"r1.ab." + std::to_string(i), "Opción " + std::to_string(i + 1)});
  return v;
}
std::vector<row> many_rows(std::size_t n) {
  std::vector<row> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back({"r1.ab." + std::to_string(i), "Opción " + std::to_string(i + 1), ""});
  return v;
}

// Ten long labels: titles cut at 24 units ("…" included), the whole label (cut at 72) below.
const std::vector<outbound_choice> long_labels = {
    {"q.0", "Inspección de trabajo infantil en campo"},  // 39
    {"q.1", "Comisión local"},
    {"q.2", "Totalmente de acuerdo con la propuesta"},
    {"q.3", repeat("palabra ", 12)},  // 96 with the trailing space
    {"q.4", "Niñas, niños y adolescentes"},  // 27
    {"q.5", "Exactamente veinticuatro"},  // 24: fits
    {"q.6", "😀😀😀😀😀😀😀😀😀😀😀😀😀"},  // 26 units
    {"q.7", "Ocho"},
    {"q.8", "Nueve"},
    {"q.9", "Diez"},
};

const std::string para_a = repeat("a", 3000);
const std::string para_b = repeat("b", 2000);
const std::string emoji = repeat("😀", 3000);  // 6000 UTF-16 units
const std::string long_question = repeat("Lee con atención. ", 80) + "\n\n¿Estás de acuerdo?";  // 1440 + 20
const std::string long_lines = repeat("línea de texto larga\n", 60) + "¿Y bien?";               // 1260 + 8
const std::string long_words = repeat("palabra ", 200) + "final";                             // 1605

const std::vector<outgoing_case> outgoing_cases = {
    {"plain text", "+525512345678", text_msg("Hola, Ana"), {text_body("Hola, Ana")}},
    {"an address with spaces and the old 521 prefix is sent as digits", "+52 1 55 1234 5678", text_msg("Hola"),
     {text_body("Hola")}},
    {"markup-looking text is sent as it is", "+525512345678", text_msg("*negrita* _cursiva_ <b>1 & 2</b>"),
     {text_body("*negrita* _cursiva_ <b>1 & 2</b>")}},
    {"a link gets a preview", "+525512345678", text_msg("Guía: https://aula.example/guia"),
     {text_body("Guía: https://aula.example/guia", true)}},
    {"empty message sends nothing", "+525512345678", text_msg(""), {}},
    {"whitespace only sends nothing", "+525512345678", text_msg(" \n\n "), {}},
    {"exactly 4096 characters: one message", "+525512345678", text_msg(repeat("x", 4096)),
     {text_body(repeat("x", 4096))}},
    {"4097 characters without a break: cut at 4096", "+525512345678", text_msg(repeat("x", 4097)),
     {text_body(repeat("x", 4096)), text_body("x")}},
    {"split at the paragraph break", "+525512345678", text_msg(para_a + "\n\n" + para_b),
     {text_body(para_a), text_body(para_b)}},
    {"emoji count two units each and are never cut in half", "+525512345678", text_msg(emoji),
     {text_body(repeat("😀", 2048)), text_body(repeat("😀", 952))}},
    {"one button", "+525512345678", menu_msg("¿Seguimos?", menu_style::buttons, {{"r1.ab.0", "Sí"}}),
     {buttons_body("¿Seguimos?", {{"r1.ab.0", "Sí"}})}},
    {"three buttons, a long title cut at 20", "+525512345678",
     menu_msg("¿Qué opinas?", menu_style::buttons,
              {{"r1.ab.0", "Totalmente de acuerdo"}, {"r1.ab.1", "No sé"}, {"r1.ab.2", "En desacuerdo"}}),
     {buttons_body("¿Qué opinas?",
                   {{"r1.ab.0", "Totalmente de acuer…"}, {"r1.ab.1", "No sé"}, {"r1.ab.2", "En desacuerdo"}})}},
    {"a blank label shows its number", "+525512345678", menu_msg("¿?", menu_style::buttons, {{"r1.ab.0", " "}}),
     {buttons_body("¿?", {{"r1.ab.0", "1"}})}},
    {"buttons with no text hang on an ellipsis", "+525512345678", menu_msg("", menu_style::buttons, yes_no),
     {buttons_body("…", {{"r1.ab.0", "Sí"}, {"r1.ab.1", "No"}})}},
    {"button titles that collide once cut make a list", "+525512345678",
     menu_msg("¿Y tú?", menu_style::buttons,
              {{"r1.ab.0", "Estoy completamente de acuerdo"}, {"r1.ab.1", "Estoy completamente en desacuerdo"}}),
     {list_body("¿Y tú?", {{"r1.ab.0", "Estoy completamente de…", "Estoy completamente de acuerdo"},
                           {"r1.ab.1", "Estoy completamente en…", "Estoy completamente en desacuerdo"}})}},
    {"four choices make a list", "+525512345678", menu_msg("Elige", menu_style::buttons, many(4)),
     {list_body("Elige", many_rows(4))}},
    {"ten choices make a list, long titles cut, the whole label below", "+525512345678",
     menu_msg("Elige un tema", menu_style::buttons, long_labels),
     {list_body("Elige un tema",
                {{"q.0", "Inspección de trabajo i…", "Inspección de trabajo infantil en campo"},
                 {"q.1", "Comisión local", ""},
                 {"q.2", "Totalmente de acuerdo c…", "Totalmente de acuerdo con la propuesta"},
                 {"q.3", "palabra palabra palabra…", repeat("palabra ", 8) + "palabra…"},
                 {"q.4", "Niñas, niños y adolesce…", "Niñas, niños y adolescentes"},
                 {"q.5", "Exactamente veinticuatro", ""},
                 {"q.6", "😀😀😀😀😀😀😀😀😀😀😀…", "😀😀😀😀😀😀😀😀😀😀😀😀😀"},
                 {"q.7", "Ocho", ""},
                 {"q.8", "Nueve", ""},
                 {"q.9", "Diez", ""}})}},
    {"eleven choices: a numbered menu in the text", "+525512345678", menu_msg("Elige", menu_style::buttons, many(11)),
     {text_body("Elige\n1. Opción 1\n2. Opción 2\n3. Opción 3\n4. Opción 4\n5. Opción 5\n6. Opción 6\n7. Opción 7\n8. "
                "Opción 8\n9. Opción 9\n10. Opción 10\n11. Opción 11")}},
    {"a numbered menu stays text", "+525512345678", menu_msg("Elige", menu_style::numbered, yes_no),
     {text_body("Elige\n1. Sí\n2. No")}},
    {"inline numbers as a row", "+525512345678",
     menu_msg("¿Cuánto?", menu_style::inline_numbers, {{"a", "1"}, {"b", "2"}, {"c", "3"}}),
     {text_body("¿Cuánto?\n1 · 2 · 3")}},
    {"duplicate refs: numbered rather than broken buttons", "+525512345678",
     menu_msg("¿Seguimos?", menu_style::buttons, {{"r1.ab.0", "Sí"}, {"r1.ab.0", "No"}}),
     {text_body("¿Seguimos?\n1. Sí\n2. No")}},
    {"a ref over 200 bytes: numbered", "+525512345678",
     menu_msg("¿Seguimos?", menu_style::buttons, {{repeat("r", 201), "Sí"}, {"r1.ab.1", "No"}}),
     {text_body("¿Seguimos?\n1. Sí\n2. No")}},
    {"a long question: the text first, its last paragraph carries the buttons", "+525512345678",
     menu_msg(long_question, menu_style::buttons, yes_no),
     {text_body(repeat("Lee con atención. ", 80)), buttons_body("¿Estás de acuerdo?", {{"r1.ab.0", "Sí"}, {"r1.ab.1", "No"}})}},
    {"a long question without paragraphs: split at a line", "+525512345678",
     menu_msg(long_lines, menu_style::buttons, many(4)),
     {text_body(repeat("línea de texto larga\n", 11) + "línea de texto larga"),
      list_body(repeat("línea de texto larga\n", 48) + "¿Y bien?", many_rows(4))}},
    {"a long question without lines: split at a word", "+525512345678",
     menu_msg(long_words, menu_style::buttons, yes_no),
     {text_body(repeat("palabra ", 72) + "palabra"),
      buttons_body(repeat("palabra ", 127) + "final", {{"r1.ab.0", "Sí"}, {"r1.ab.1", "No"}})}},
    {"image with caption", "+525512345678", media_msg("Mira el mapa", "image", "https://cdn.example/mapa.png"),
     {media_body("image", {{"link", "https://cdn.example/mapa.png"}, {"caption", "Mira el mapa"}})}},
    {"image without text", "+525512345678", media_msg("", "image", "https://cdn.example/a.jpg"),
     {media_body("image", {{"link", "https://cdn.example/a.jpg"}})}},
    {"image with buttons: the image, then the buttons with the text", "+525512345678",
     [] {
       auto m = media_msg("¿Qué ves?", "image", "https://cdn.example/mapa.png");
       m.menu = menu_style::buttons;
       m.choices = yes_no;
       return m;
     }(),
     {media_body("image", {{"link", "https://cdn.example/mapa.png"}}),
      buttons_body("¿Qué ves?", {{"r1.ab.0", "Sí"}, {"r1.ab.1", "No"}})}},
    {"image with a numbered menu in the caption", "+525512345678",
     [] {
       auto m = media_msg("¿Qué ves?", "image", "https://cdn.example/mapa.png");
       m.menu = menu_style::numbered;
       m.choices = yes_no;
       return m;
     }(),
     {media_body("image", {{"link", "https://cdn.example/mapa.png"}, {"caption", "¿Qué ves?\n1. Sí\n2. No"}})}},
    {"caption over 1024: the media bare, then the text", "+525512345678",
     media_msg(repeat("x", 1025), "image", "https://cdn.example/a.jpg"),
     {media_body("image", {{"link", "https://cdn.example/a.jpg"}}), text_body(repeat("x", 1025))}},
    {"document with file name and caption", "+525512345678",
     media_msg("La guía", "document", "https://cdn.example/guia.pdf?v=2", "guia.pdf"),
     {media_body("document",
                 {{"link", "https://cdn.example/guia.pdf?v=2"}, {"filename", "guia.pdf"}, {"caption", "La guía"}})}},
    {"audio takes no caption: the text follows", "+525512345678",
     media_msg("Escucha", "audio", "https://cdn.example/a.mp3"),
     {media_body("audio", {{"link", "https://cdn.example/a.mp3"}}), text_body("Escucha")}},
    {"an image over 5 MB goes as a link", "+525512345678",
     media_msg("Mapa", "image", "https://cdn.example/big.png", "", 6000),
     {text_body("🖼 https://cdn.example/big.png\nMapa", true)}},
    {"a URL Meta cannot fetch goes as text", "+525512345678", media_msg("", "document", "media/guia.pdf", "guia.pdf"),
     {text_body("📄 media/guia.pdf (guia.pdf)")}},
};

struct classify_case {
  std::string label;
  int http_status;
  std::string body;
  send_status expected_status;
  std::string expected_external_id;
  int expected_retry_after;
  std::string expected_error_contains;
};

std::string graph_error(int code, const std::string& message, const std::string& details = {}) {
  json e = {{"message", message}, {"type", "OAuthException"}, {"code", code}, {"fbtrace_id", "AbCdEf"}};
  if (!details.empty()) e["error_data"] = {{"messaging_product", "whatsapp"}, {"details", details}};
  return json{{"error", e}}.dump();
}

const std::vector<classify_case> classify_cases = {
    {"accepted, with the wamid", 200,
     R"({"messaging_product":"whatsapp","contacts":[{"input":"525512345678","wa_id":"5215512345678"}],"messages":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"}]})",
     send_status::ok, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA", 0, ""},
    {"accepted with message_status", 200,
     R"({"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.X","message_status":"accepted"}]})",
     send_status::ok, "wamid.X", 0, ""},
    {"a mark-read answer", 200, R"({"success":true})", send_status::ok, "", 0, ""},
    {"200 with a garbage body", 200, "<html>", send_status::connection_failed, "", 0, "HTTP 200"},
    {"200 without a message id", 200, R"({"messaging_product":"whatsapp","messages":[]})",
     send_status::connection_failed, "", 0, "HTTP 200"},
    // The quick reading of a 200 must agree with the full one on the odd ones too.
    {"the second message's id is not the first's", 200, R"({"messages":[{"message_status":"accepted"},{"id":"wamid.B"}]})",
     send_status::connection_failed, "", 0, "HTTP 200"},
    {"messages as an object keyed \"#0\" is not a list", 200, R"({"messages":{"#0":{"id":"wamid.C"}}})",
     send_status::connection_failed, "", 0, "HTTP 200"},
    {"an id with an error beside it", 200,
     R"({"messages":[{"id":"wamid.D"}],"error":{"code":131047,"message":"Re-engagement message"}})",
     send_status::window_closed, "", 0, "131047"},
    {"an empty id", 200, R"({"messages":[{"id":""}]})", send_status::connection_failed, "", 0, "HTTP 200"},
    {"a number for the id", 200, R"({"messages":[{"id":7}]})", send_status::connection_failed, "", 0, "HTTP 200"},
    {"an error that is not an object", 200, R"({"error":"¿qué?","messages":[{"id":"wamid.E"}]})", send_status::ok,
     "wamid.E", 0, ""},
    {"131047 outside the window", 400,
     graph_error(131047, "(#131047) Re-engagement message",
                 "Message failed to send because more than 24 hours have passed since the customer last replied to this number."),
     send_status::window_closed, "", 0, "131047"},
    {"130429 throughput", 400, graph_error(130429, "(#130429) Rate limit hit"), send_status::throttled, "", 1, "130429"},
    {"131056 pair rate limit", 400, graph_error(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit"),
     send_status::throttled, "", 6, "131056"},
    {"131048 spam rate limit", 400, graph_error(131048, "(#131048) Spam rate limit hit"), send_status::throttled, "",
     60, "131048"},
    {"80007 account rate limit", 400, graph_error(80007, "(#80007) Rate limit issues"), send_status::throttled, "", 60,
     "80007"},
    {"4 app rate limit", 400, graph_error(4, "(#4) Application request limit reached"), send_status::throttled, "", 60,
     "Application request limit"},
    {"133016 registration limit", 400, graph_error(133016, "Account register deregister rate limit exceeded"),
     send_status::throttled, "", 60, "133016"},
    {"HTTP 429 without a body", 429, "", send_status::throttled, "", 1, "HTTP 429"},
    {"131053 media upload error", 400, graph_error(131053, "(#131053) Media upload error", "Downloading media failed"),
     send_status::connection_failed, "", 0, "Downloading media failed"},
    {"500 with a Graph error", 500, graph_error(131000, "(#131000) Something went wrong"),
     send_status::connection_failed, "", 0, "131000"},
    {"503 from a proxy, HTML", 503, "<html>Service Unavailable</html>", send_status::connection_failed, "", 0,
     "HTTP 503"},
    {"no answer at all", 0, "", send_status::connection_failed, "", 0, "HTTP 0"},
    {"190 expired token", 401,
     graph_error(190, "Error validating access token: Session has expired on Friday, 09-Jan-26 10:00:00 PST."),
     send_status::rejected, "", 0, "access token expired or invalid (190)"},
    {"131026 undeliverable", 400, graph_error(131026, "(#131026) Message undeliverable"), send_status::rejected, "", 0,
     "131026"},
    {"100 invalid parameter", 400,
     graph_error(100, "(#100) Invalid parameter", "Parameter value is not valid: Button title length invalid."),
     send_status::rejected, "", 0, "Button title length invalid"},
    {"368 blocked for policy violations", 400, graph_error(368, "Temporarily blocked for policies violations"),
     send_status::rejected, "", 0, "368"},
    {"131050 the user stopped our messages", 400,
     graph_error(131050, "(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business."),
     send_status::stopped, "", 0, "131050"},
    {"403 from a proxy, HTML", 403, "<html>Forbidden</html>", send_status::rejected, "", 0, "HTTP 403"},
    {"an error object with a 200", 200, graph_error(131047, "(#131047) Re-engagement message"),
     send_status::window_closed, "", 0, "131047"},
};

}  // namespace

TEST_CASE("whatsapp: identity, caps and configuration", "[whatsapp]") {
  auto a = adapter();
  CHECK(a.name() == "whatsapp");
  CHECK(a.enabled());
  CHECK(a.caps().max_buttons == 10);
  CHECK(a.window_ms() == 24LL * 60 * 60 * 1000);
  CHECK(a.messages_url() == api);
  for (int missing = 0; missing < 4; ++missing) {
    auto o = options();
    (missing == 0 ? o.token : missing == 1 ? o.app_secret : missing == 2 ? o.verify_token : o.phone_number_id) = "";
    const whatsapp_adapter off(o);
    CHECK_FALSE(off.enabled());
    // A disabled adapter accepts nothing, not even a well-signed notification.
    CHECK(off.parse({"POST", "/webhooks/whatsapp", {{"x-hub-signature-256", sign(o.app_secret, textMsg)}}, textMsg})
              .outcome == verdict::unauthorized);
  }
  auto o = options();
  o.api_base = "http://127.0.0.1:8082/v21.0/";
  CHECK(whatsapp_adapter(o).messages_url() == "http://127.0.0.1:8082/v21.0/106540352242922/messages");
}

TEST_CASE("whatsapp: X-Hub-Signature-256 against known HMAC-SHA256 vectors", "[whatsapp]") {
  // RFC 4231-style vector (the well-known "quick brown fox" one) and one computed with Python's hmac.
  CHECK(whatsapp_adapter::signature("key", "The quick brown fox jumps over the lazy dog") ==
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  const std::string body = R"({"object":"whatsapp_business_account","entry":[]})";
  CHECK(whatsapp_adapter::signature(app_secret, body) ==
        "sha256=b691adaa559a5f8483420726816c62b38f5cbedd49501199c5c25ad5c1335519");
  CHECK(sign(app_secret, body) == whatsapp_adapter::signature(app_secret, body));
  // The header name is case-insensitive.
  const auto r = adapter().parse({"POST", "/webhooks/whatsapp", {{"X-Hub-Signature-256", sign(app_secret, textMsg)}}, textMsg});
  CHECK(r.outcome == verdict::ok);
}

TEST_CASE("whatsapp: verification GET", "[whatsapp]") {
  const auto a = adapter();
  for (const auto& c : verify_cases) {
    DYNAMIC_SECTION(c.label) {
      const parse_result r = a.parse({"GET", c.target, {}, ""});
      INFO("reason: " << r.reason);
      CHECK(r.outcome == c.expected_verdict);
      CHECK(r.items.empty());
      if (c.expected_verdict == verdict::ok) {
        CHECK(r.ack.status == 200);
        CHECK_THAT(r.ack.content_type, Contains("text/plain"));
        CHECK(r.ack.body == c.expected_body);
      } else {
        CHECK_FALSE(r.reason.empty());
        CHECK_THAT(r.reason, Contains("403"));
        CHECK(r.ack.status == 403);  // the hint for the server: a failed GET is 403, not 401
      }
      check_no_secret(r.reason);
    }
  }
}

TEST_CASE("whatsapp: incoming notifications", "[whatsapp]") {
  const auto a = adapter();
  for (const auto& c : incoming_cases) {
    DYNAMIC_SECTION(c.label) {
      std::map<std::string, std::string> headers = {{"content-type", "application/json"}};
      if (c.signature.empty())
        headers["x-hub-signature-256"] = sign(app_secret, c.body);
      else if (c.signature != "-")
        headers["x-hub-signature-256"] = c.signature;
      const parse_result r = a.parse({"POST", "/webhooks/whatsapp", headers, c.body});
      INFO("reason: " << r.reason);
      CHECK(r.outcome == c.expected_verdict);
      if (r.outcome != verdict::ok) CHECK_FALSE(r.reason.empty());
      REQUIRE(r.items.size() == c.expected_items.size());
      for (std::size_t i = 0; i < r.items.size(); ++i) {
        const auto& got = r.items[i];
        const auto& want = c.expected_items[i];
        INFO("item " << i);
        CHECK(got.address == want.address);
        CHECK(got.provider_id == want.provider_id);
        CHECK(got.event.provider_id == want.provider_id);
        CHECK(got.media_kind == want.media_kind);
        CHECK(got.contact == want.contact);
        CHECK(got.follow_up.empty());  // mark_read is off
        REQUIRE(got.report.has_value() == want.report.has_value());
        if (want.report) {
          CHECK(got.report->external_id == want.report->external_id);
          CHECK(got.report->state == want.report->state);
          CHECK(got.report->error == want.report->error);
          CHECK(got.report->at_ms == want.report->at_ms);
        } else {
          CHECK(got.event.type == want.type);
          CHECK(value_of(got.event) == want.value);
        }
        // The media id, once inbound_item carries it (proposed for adapter.hpp).
        [&](const auto& item) {
          CHECK(item.media_id == want.media_id);
        }(got);
      }
      CHECK(r.ack.body.empty());  // the server answers a plain 200
      check_no_secret(r.reason);
    }
  }
}

TEST_CASE("whatsapp: methods other than GET and POST are invalid", "[whatsapp]") {
  const auto r = adapter().parse({"PUT", "/webhooks/whatsapp", {{"x-hub-signature-256", sign(app_secret, textMsg)}}, textMsg});
  CHECK(r.outcome == verdict::invalid);
}

TEST_CASE("whatsapp: mark_read adds a follow-up call per message", "[whatsapp]") {
  auto o = options();
  o.mark_read = true;
  const whatsapp_adapter a(o);
  const auto r = a.parse({"POST", "/webhooks/whatsapp", {{"x-hub-signature-256", sign(app_secret, batch)}}, batch});
  REQUIRE(r.outcome == verdict::ok);
  REQUIRE(r.items.size() == 5);
  const std::vector<std::string> ids = {"wamid.A1", "wamid.B1", "wamid.A2", "", "wamid.A3"};
  for (std::size_t i = 0; i < r.items.size(); ++i) {
    INFO("item " << i);
    if (ids[i].empty()) {  // a status: nothing to mark
      CHECK(r.items[i].follow_up.empty());
      continue;
    }
    REQUIRE(r.items[i].follow_up.size() == 1);
    const auto& call = r.items[i].follow_up[0];
    CHECK(call.method == "POST");
    CHECK(call.url == api);
    CHECK(call.headers.at("Authorization") == "Bearer " + token);
    CHECK(json::parse(call.body) == json{{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", ids[i]}});
  }
}

TEST_CASE("whatsapp: the re-engagement payload is configurable", "[whatsapp]") {
  auto o = options();
  o.reengagement_payload = "";
  const whatsapp_adapter a(o);
  // Without a payload of ours, a tap on the template's quick reply is its text.
  const auto r = a.parse({"POST", "/webhooks/whatsapp", {{"x-hub-signature-256", sign(app_secret, continueMsg)}}, continueMsg});
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].event.type == kind::text);
  CHECK(r.items[0].event.text == "aula:continue");
  const auto calls = a.render_reengagement("+525512345678");
  REQUIRE(calls.size() == 1);
  CHECK(json::parse(calls[0].body) == json{{"messaging_product", "whatsapp"},
                                           {"recipient_type", "individual"},
                                           {"to", "525512345678"},
                                           {"type", "template"},
                                           {"template", {{"name", "aula_continuar"}, {"language", {{"code", "es_MX"}}}}}});
}

TEST_CASE("whatsapp: a course's nudge names its own approved template", "[whatsapp]") {
  const auto a = adapter();
  const auto calls = a.render_reengagement("+525512345678", "aula_recordatorio");
  REQUIRE(calls.size() == 1);
  const json body = json::parse(calls[0].body);
  CHECK(body["template"]["name"] == "aula_recordatorio");
  CHECK(body["template"]["language"]["code"] == "es_MX");
  CHECK(body["to"] == "525512345678");
}

TEST_CASE("whatsapp: the re-engagement template", "[whatsapp]") {
  const auto a = adapter();
  const auto calls = a.render_reengagement("+525512345678");
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].method == "POST");
  CHECK(calls[0].url == api);
  CHECK(calls[0].headers.at("Authorization") == "Bearer " + token);
  CHECK(calls[0].headers.at("Content-Type") == "application/json");
  const json want = {
      {"messaging_product", "whatsapp"},
      {"recipient_type", "individual"},
      {"to", "525512345678"},
      {"type", "template"},
      {"template",
       {{"name", "aula_continuar"},
        {"language", {{"code", "es_MX"}}},
        {"components",
         json::array({{{"type", "button"},
                       {"sub_type", "quick_reply"},
                       {"index", "0"},
                       {"parameters", json::array({{{"type", "payload"}, {"payload", "aula:continue"}}})}}})}}}};
  CHECK(json::parse(calls[0].body) == want);
  CHECK_THAT(calls[0].body, !Contains(token));
}

TEST_CASE("whatsapp: outgoing messages", "[whatsapp]") {
  const auto a = adapter();
  for (const auto& c : outgoing_cases) {
    DYNAMIC_SECTION(c.label) {
      const auto calls = a.render(c.address, c.msg);
      REQUIRE(calls.size() == c.expected_bodies.size());
      for (std::size_t i = 0; i < calls.size(); ++i) {
        const auto& got = calls[i];
        INFO("call " << i << ": " << got.body.substr(0, 400));
        CHECK(got.method == "POST");
        CHECK(got.url == api);
        CHECK(got.headers.at("Authorization") == "Bearer " + token);
        CHECK(got.headers.at("Content-Type") == "application/json");
        const json body = json::parse(got.body);  // throws on invalid UTF-8: it must be valid
        CHECK(body == c.expected_bodies[i]);
        CHECK(got.body == body.dump());  // the bytes nlohmann writes: compact, keys in order
        // Meta's limits, whatever the case expects.
        auto units = [](const json& v) { return adapter_util::utf16_length(v.get<std::string>()); };
        if (body.contains("text")) CHECK(units(body["text"]["body"]) <= 4096);
        for (const char* t : {"image", "document", "video"})
          if (body.contains(t) && body[t].contains("caption")) CHECK(units(body[t]["caption"]) <= 1024);
        if (body.contains("interactive")) {
          const json& in = body["interactive"];
          CHECK(units(in["body"]["text"]) <= 1024);
          if (in["type"] == "button") {
            CHECK(in["action"]["buttons"].size() <= 3);
            for (const auto& b : in["action"]["buttons"]) CHECK(units(b["reply"]["title"]) <= 20);
          } else {
            CHECK(units(in["action"]["button"]) <= 20);
            CHECK(in["action"]["sections"][0]["rows"].size() <= 10);
            for (const auto& r : in["action"]["sections"][0]["rows"]) {
              CHECK(units(r["title"]) <= 24);
              if (r.contains("description")) CHECK(units(r["description"]) <= 72);
            }
          }
        }
        CHECK_THAT(got.body, !Contains(token));
      }
    }
  }
}

TEST_CASE("whatsapp: invalid UTF-8 from a flow never throws", "[whatsapp]") {
  const auto calls = adapter().render("+525512345678", text_msg("ok \xff\xfe end"));
  REQUIRE(calls.size() == 1);
  CHECK(json::parse(calls[0].body)["text"]["body"] == "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST_CASE("whatsapp: long texts split into valid UTF-8 pieces that fit", "[whatsapp]") {
  const std::string text = repeat("¿Qué es el trabajo infantil? ñ 😀\n", 200) + "\n\n" + repeat("palabra ", 900);
  const auto calls = adapter().render("+525512345678", text_msg(text));
  REQUIRE(calls.size() >= 3);
  std::string joined;
  for (const auto& c : calls) {
    const std::string piece = json::parse(c.body)["text"]["body"];
    CHECK(adapter_util::utf16_length(piece) <= 4096);
    joined += piece;
  }
  std::string squeezed, squeezed_joined;
  for (char ch : text)
    if (ch != '\n' && ch != ' ') squeezed += ch;
  for (char ch : joined)
    if (ch != '\n' && ch != ' ') squeezed_joined += ch;
  CHECK(squeezed_joined == squeezed);  // only the breaks are dropped
}

TEST_CASE("whatsapp: cutting labels", "[whatsapp]") {
  CHECK(whatsapp_cut("Sí", 20) == "Sí");
  CHECK(whatsapp_cut(repeat("x", 20), 20) == repeat("x", 20));
  CHECK(whatsapp_cut(repeat("x", 21), 20) == repeat("x", 19) + "…");
  CHECK(whatsapp_cut("Totalmente de acuerdo", 20) == "Totalmente de acuer…");
  CHECK(whatsapp_cut("Estoy completamente de acuerdo", 20) == "Estoy completamente…");  // the space before … goes
  CHECK(whatsapp_cut(repeat("😀", 11), 20) == repeat("😀", 9) + "…");  // 19 units would split an emoji: 18
  CHECK(whatsapp_cut("ñññññ", 3) == "ññ…");
}

TEST_CASE("whatsapp: classifying the Graph API's answers", "[whatsapp]") {
  const auto a = adapter();
  for (const auto& c : classify_cases) {
    DYNAMIC_SECTION(c.label) {
      const send_result r = a.classify(c.http_status, c.body);
      INFO("error: " << r.error);
      CHECK(r.status == c.expected_status);
      CHECK(r.external_id == c.expected_external_id);
      CHECK(r.retry_after_s == c.expected_retry_after);
      if (c.expected_error_contains.empty())
        CHECK(r.error.empty());
      else
        CHECK_THAT(r.error, Contains(c.expected_error_contains));
      check_no_secret(r.error);
    }
  }
}

TEST_CASE("whatsapp: secrets never reach errors, reasons or logs", "[whatsapp]") {
  const auto a = adapter();
  for (const std::string& s : {"Bearer " + token, token + app_secret, "secret=" + app_secret + "&v=" + verify_token}) {
    const std::string r = a.redact(s);
    check_no_secret(r);
    CHECK_THAT(r, Contains("<redacted>"));
  }
  CHECK(a.redact("nothing secret here") == "nothing secret here");
  // A provider message that echoes the token is redacted.
  auto r = a.classify(400, graph_error(100, "Invalid parameter " + token, "token " + token));
  CHECK(r.status == send_status::rejected);
  check_no_secret(r.error);
  r = a.classify(401, graph_error(190, "Malformed access token " + token));
  CHECK_THAT(r.error, Contains("(190)"));
  check_no_secret(r.error);
  // A status error that echoes a secret.
  const std::string st = status("failed", R"(,"errors":[{"code":131000,"title":"x )" + app_secret + R"("}])");
  const auto p = a.parse({"POST", "/webhooks/whatsapp", {{"x-hub-signature-256", sign(app_secret, st)}}, st});
  REQUIRE(p.items.size() == 1);
  check_no_secret(p.items[0].report->error);
  // The verification GET with the token in the query: the reason never quotes it.
  const auto g = a.parse({"GET", "/webhooks/whatsapp?hub.mode=x&hub.verify_token=" + verify_token + "&hub.challenge=1", {}, ""});
  CHECK(g.outcome == verdict::unauthorized);
  check_no_secret(g.reason);
}

TEST_CASE("whatsapp: refusals an operator must act on are flagged for alerts", "[whatsapp]") {
  const auto a = adapter();
  struct alert_case {
    int http_status;
    std::string body;
    std::string alert;
  };
  const std::vector<alert_case> cases = {
      {401, graph_error(190, "Error validating access token: Session has expired."), "auth"},
      {400, graph_error(190, "Malformed access token"), "auth"},
      {401, "<html>Unauthorized</html>", "auth"},
      {404, graph_error(132001, "(#132001) Template name does not exist in the translation",
                        "template name (aula_continuar) does not exist in es_MX"),
       "template"},
      {400, graph_error(132015, "(#132015) Template is paused"), "template"},
      {400, graph_error(132000, "(#132000) Number of parameters does not match"), "template"},
      {400, graph_error(131026, "(#131026) Message undeliverable"), ""},
      {400, graph_error(131047, "(#131047) Re-engagement message"), ""},
      {500, "", ""},
      {200, R"({"messages":[{"id":"wamid.X"}]})", ""},
  };
  for (const auto& c : cases) {
    INFO(c.http_status << " " << c.body);
    const send_result r = a.classify(c.http_status, c.body);
    CHECK(r.alert == c.alert);
    if (c.alert == "template") {
      CHECK(r.status == send_status::rejected);
      CHECK_THAT(r.error, Contains("132"));
    }
  }
}
