#include "adapters/twilio_sms/twilio_sms.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using namespace aula;
using nlohmann::json;
using Catch::Matchers::Contains;
using kind = inbound_event::kind;
using verdict = parse_result::verdict;

namespace {

const std::string sid = "AC0123456789abcdef0123456789abcdef";
const std::string token = "f00dfeedc0ffee0123456789abcdef01";
const std::string from = "+15005550006";  // Twilio's magic test sender
const std::string public_url = "https://aula.example.org";
// base64("AC0123…ef:f00d…01"), computed outside the code under test.
const std::string basic_auth =
    "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpmMDBkZmVlZGMwZmZlZTAxMjM0NTY3ODlhYmNkZWYwMQ==";
const std::string messages_url = "https://api.twilio.com/2010-04-01/Accounts/" + sid + "/Messages.json";
const std::string callback = "https://aula.example.org/webhooks/twilio/status";
const std::string twiml = R"(<?xml version="1.0" encoding="UTF-8"?><Response/>)";
const std::string hint = "Responde con el número de tu opción.";

twilio_options options() {
  twilio_options o;
  o.account_sid = sid;
  o.auth_token = token;
  o.from = from;
  o.public_url = public_url;
  return o;
}
twilio_sms_adapter adapter() { return twilio_sms_adapter(options()); }

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// =============================================================================================
// Signatures: the published vectors.
//
// twilio-python tests/unit/test_request_validator.py (and Twilio's docs "Webhooks security",
// TwilioDevEd api-snippets security/signature_validation/signature_validation.2.x.js): auth
// token "12345", URL https://mycompany.com/myapp.php?foo=1&bar=2, the CallSid/Caller/Digits/
// From/To params → RSOYDt4T1cUTdK1PDd93/VVr8B8=; the same URL with the default port
// (:443 → kvajT1…, http :80 → 0ZXoZL…), an http URL with port 1234 (Zmvh+3…), duplicate names
// sorted by value (IK+Dwp…). api-snippets signature_validation.3.x.js: Caller/From
// +14158675310 → GvWf1cFY/Q7PnoempGyD5oXAezc=.

const std::string vector_url = "https://mycompany.com/myapp.php?foo=1&bar=2";
const form_params vector_params = {{"CallSid", "CA1234567890ABCDE"},
                                   {"Digits", "1234"},
                                   {"From", "+14158675309"},
                                   {"To", "+18005551212"},
                                   {"Caller", "+14158675309"}};

TEST_CASE("sms: Twilio's published signature vectors", "[sms]") {
  CHECK(twilio_signature("12345", vector_url, vector_params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
  form_params p3 = vector_params;
  for (auto& [k, v] : p3)
    if (v == "+14158675309") v = "+14158675310";
  CHECK(twilio_signature("12345", vector_url, p3) == "GvWf1cFY/Q7PnoempGyD5oXAezc=");
  // Duplicate names: sorted by name, then by value.
  const form_params dup = {{"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"}};
  CHECK(twilio_signature("12345", vector_url, dup) == "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
  // The default ports, as signed.
  CHECK(twilio_signature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", vector_params) ==
        "kvajT1Ptam85bY51eRf/AJRuM3w=");
  CHECK(twilio_signature("12345", "http://mycompany.com:80/myapp.php?foo=1&bar=2", vector_params) ==
        "0ZXoZLH/DfblKGATFgpif+LLRf4=");
  CHECK(twilio_signature("12345", "http://mycompany.com:1234/myapp.php?foo=1&bar=2", vector_params) ==
        "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
  // The order params arrive in does not matter.
  form_params shuffled(vector_params.rbegin(), vector_params.rend());
  CHECK(twilio_signature("12345", vector_url, shuffled) == "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

struct validity_case {
  std::string label;
  std::string token, url;
  form_params params;
  std::string signature;
  bool valid;
};

TEST_CASE("sms: signature validation with and without the port", "[sms]") {
  form_params tampered = vector_params;
  tampered[1].second = "1235";
  form_params extra = vector_params;
  extra.emplace_back("Foo", "");
  const std::vector<validity_case> cases = {
      {"as given", "12345", vector_url, vector_params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
      {"https: a port in the URL is removed (twilio-python)", "12345",
       "https://mycompany.com:1234/myapp.php?foo=1&bar=2", vector_params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
      {"https: signed with :443, URL without a port", "12345", vector_url, vector_params,
       "kvajT1Ptam85bY51eRf/AJRuM3w=", true},
      {"https: signed without a port, URL with :443", "12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2",
       vector_params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
      {"https: signed with :443, URL with :443", "12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2",
       vector_params, "kvajT1Ptam85bY51eRf/AJRuM3w=", true},
      {"http: signed with :80, URL without a port", "12345", "http://mycompany.com/myapp.php?foo=1&bar=2",
       vector_params, "0ZXoZLH/DfblKGATFgpif+LLRf4=", true},
      {"http: port 1234 kept as given", "12345", "http://mycompany.com:1234/myapp.php?foo=1&bar=2", vector_params,
       "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", true},
      {"http: signed without a port, URL with :80", "12345", "http://mycompany.com:80/myapp.php?foo=1&bar=2",
       vector_params, twilio_signature("12345", "http://mycompany.com/myapp.php?foo=1&bar=2", vector_params), true},
      {"https signature does not pass for http", "12345", "http://mycompany.com/myapp.php?foo=1&bar=2",
       vector_params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
      {"wrong token", "12346", vector_url, vector_params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
      {"tampered param", "12345", vector_url, tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
      {"an extra param, even empty", "12345", vector_url, extra, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
      {"another query string", "12345", "https://mycompany.com/myapp.php?foo=1&bar=3", vector_params,
       "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
      {"query string dropped", "12345", "https://mycompany.com/myapp.php", vector_params,
       "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
      {"host case matters", "12345", "https://MyCompany.com/myapp.php?foo=1&bar=2", vector_params,
       "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
      {"truncated signature", "12345", vector_url, vector_params, "RSOYDt4T1cUTdK1PDd93/VVr8B8", false},
      {"signature with a trailing space", "12345", vector_url, vector_params, "RSOYDt4T1cUTdK1PDd93/VVr8B8= ",
       false},
      {"lower-cased signature", "12345", vector_url, vector_params, "rsoydt4t1cutdk1pdd93/vvr8b8=", false},
      {"empty signature", "12345", vector_url, vector_params, "", false},
      {"empty token", "", vector_url, vector_params, twilio_signature("", vector_url, vector_params), false},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.label) { CHECK(twilio_signature_valid(c.token, c.url, c.params, c.signature) == c.valid); }
  }
  // twilio-node spec/unit/webhooks/webhooks.spec.js: port variants of a URL with a query.
  const std::string t = "s3cr3t";
  for (const auto& [signed_url, target_url] : std::vector<std::pair<std::string, std::string>>{
           {"https://example.com:443/path?test=param", "https://example.com:443/path?test=param"},
           {"https://example.com:443/path?test=param", "https://example.com/path?test=param"},
           {"https://example.com/path?test=param", "https://example.com/path?test=param"},
           {"https://example.com/path?test=param", "https://example.com:443/path?test=param"}}) {
    CHECK(twilio_signature_valid(t, target_url, {}, twilio_signature(t, signed_url, {})));
  }
  CHECK_FALSE(twilio_signature_valid(t, "https://example.com/path?test=param2", {},
                                     twilio_signature(t, "https://example.com/path?test=param", {})));
}

// =============================================================================================
// Form bodies.

TEST_CASE("sms: form decoding and encoding", "[sms]") {
  struct decode_case {
    std::string body;
    bool ok;
    form_params want;
  };
  const std::vector<decode_case> cases = {
      {"a=1&b=%C3%B1+x", true, {{"a", "1"}, {"b", "ñ x"}}},
      {"Body=%C2%BFC%C3%B3mo%3F+%F0%9F%98%80&From=%2B525512345678", true,
       {{"Body", "¿Cómo? 😀"}, {"From", "+525512345678"}}},
      {"a", true, {{"a", ""}}},
      {"a=", true, {{"a", ""}}},
      {"a=1&&b=2&", true, {{"a", "1"}, {"b", "2"}}},
      {"a=b=c", true, {{"a", "b=c"}}},
      {"d=2&d=1", true, {{"d", "2"}, {"d", "1"}}},
      {"x=%2b%2B%25", true, {{"x", "++%"}}},
      {"", true, {}},
      {"%ZZ=1", false, {}},
      {"a=%4", false, {}},
      {"a=%", false, {}},
      {"a=%G0", false, {}},
      {"=x", false, {}},
      // Not UTF-8: decoded as the bytes Twilio signed (parse replaces them after the signature check).
      {"a=%FF", true, {{"a", "\xff"}}},
      {"a=%C3", true, {{"a", "\xC3"}}},                    // a truncated sequence
      {"a=%ED%A0%80", true, {{"a", "\xED\xA0\x80"}}},     // a UTF-16 surrogate encoded in UTF-8
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION("decode '" << c.body << "'") {
      form_params got;
      CHECK(form_decode(c.body, got) == c.ok);
      if (c.ok) CHECK(got == c.want);
    }
  }
  const form_params p = {{"To", "+525512345678"}, {"Body", "¿Sí? 😀 & = + 100% a~b"}};
  CHECK(form_encode(p) == "To=%2B525512345678&Body=%C2%BFS%C3%AD%3F+%F0%9F%98%80+%26+%3D+%2B+100%25+a~b");
  form_params back;
  REQUIRE(form_decode(form_encode(p), back));
  CHECK(back == p);
}

// =============================================================================================
// Incoming: webhooks as Twilio sends them, signed with the adapter's token.

form_params inbound(std::string body, std::string from_number = "+525512345678") {
  return {{"ToCountry", "US"},
          {"ToState", "CA"},
          {"SmsMessageSid", "SM0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
          {"NumMedia", "0"},
          {"ToCity", ""},
          {"FromZip", ""},
          {"SmsSid", "SM0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
          {"FromState", "CDMX"},
          {"SmsStatus", "received"},
          {"FromCity", ""},
          {"Body", std::move(body)},
          {"FromCountry", "MX"},
          {"To", from},
          {"MessagingServiceSid", "MG00000000000000000000000000000000"},
          {"ToZip", ""},
          {"NumSegments", "1"},
          {"MessageSid", "SM0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
          {"AccountSid", sid},
          {"From", std::move(from_number)},
          {"ApiVersion", "2010-04-01"}};
}
form_params with(form_params p, const std::string& k, const std::string& v) {
  for (auto& kv : p)
    if (kv.first == k) {
      kv.second = v;
      return p;
    }
  p.emplace_back(k, v);
  return p;
}
form_params without(form_params p, std::initializer_list<std::string> keys) {
  p.erase(std::remove_if(p.begin(), p.end(),
                         [&](const auto& kv) { return std::find(keys.begin(), keys.end(), kv.first) != keys.end(); }),
          p.end());
  return p;
}
form_params mms(const std::string& type, const std::string& body) {
  auto p = with(inbound(body), "NumMedia", "1");
  p = with(p, "MediaContentType0", type);
  p = with(p, "MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/" + sid + "/Messages/MM1/Media/ME1");
  return with(p, "MessageSid", "MM0f1e2d3c4b5a69788796a5b4c3d2e1f0");
}
form_params status(const std::string& state, const std::string& error_code = {}) {
  form_params p = {{"SmsSid", "SMaaaabbbbccccddddeeeeffff00001111"},
                   {"SmsStatus", state},
                   {"MessageStatus", state},
                   {"To", "+5215512345678"},
                   {"MessagingServiceSid", "MG00000000000000000000000000000000"},
                   {"MessageSid", "SMaaaabbbbccccddddeeeeffff00001111"},
                   {"AccountSid", sid},
                   {"From", from},
                   {"ApiVersion", "2010-04-01"}};
  if (!error_code.empty()) p.emplace_back("ErrorCode", error_code);
  return p;
}

struct expected_item {
  std::string address;
  std::string provider_id;
  std::string text;  // text events
  std::string media_kind;
  std::optional<delivery_report> report;
  std::map<std::string, std::string> contact;
};

// How a case's request is signed.
enum class sig { good, none, empty, other_token, for_other_body, for_other_path, unsorted, port_443 };

struct incoming_case {
  std::string label;
  std::string target;
  form_params params;
  verdict expected_verdict;
  std::vector<expected_item> expected_items;
  sig signing = sig::good;
  std::string raw_body = {};  // sent instead of the encoded params when set
  std::string method = "POST";
  std::string content_type = "application/x-www-form-urlencoded";
};

delivery_report report(const std::string& state, const std::string& error = {}) {
  delivery_report r;
  r.external_id = "SMaaaabbbbccccddddeeeeffff00001111";
  r.state = state;
  r.error = error;
  return r;
}
const std::string in_sid = "SM0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const std::string mms_sid = "MM0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const std::string out_sid = "SMaaaabbbbccccddddeeeeffff00001111";
const std::string ana = "+525512345678";
const std::map<std::string, std::string> mx = {{"country", "MX"}};

expected_item text_item(const std::string& text, const std::string& media = {}, const std::string& id = in_sid) {
  return {ana, id, text, media, std::nullopt, mx};
}
expected_item report_item(const std::string& state, const std::string& error = {}) {
  return {ana, out_sid + ":" + state, "", "", report(state, error), {}};
}

const std::vector<incoming_case> incoming_cases = {
    {"an SMS", "/webhooks/twilio", inbound("Hola"), verdict::ok, {text_item("Hola")}},
    {"accents, ñ, ¿ ¡ and emoji intact", "/webhooks/twilio", inbound("¿Cómo estás? ¡Sí! ñandú 👍🏽 😀 日本語"),
     verdict::ok, {text_item("¿Cómo estás? ¡Sí! ñandú 👍🏽 😀 日本語")}},
    {"form metacharacters in the body", "/webhooks/twilio", inbound("1+1=2 & 100% más"), verdict::ok,
     {text_item("1+1=2 & 100% más")}},
    {"several lines, spaces kept", "/webhooks/twilio", inbound("  línea 1\r\nlínea 2 "), verdict::ok,
     {text_item("  línea 1\r\nlínea 2 ")}},
    {"template syntax is kept verbatim", "/webhooks/twilio", inbound("{{contact.name}}"), verdict::ok,
     {text_item("{{contact.name}}")}},
    {"STOP reaches the engine like any text", "/webhooks/twilio", inbound("STOP"), verdict::ok,
     {text_item("STOP")}},
    {"an empty body", "/webhooks/twilio", inbound(""), verdict::ok, {text_item("")}},
    {"+52 1 … is normalized to +52 …", "/webhooks/twilio", inbound("Hola", "+5215512345678"), verdict::ok,
     {text_item("Hola")}},
    {"another country keeps its digits", "/webhooks/twilio", inbound("Hi", "+14155550100"), verdict::ok,
     {{"+14155550100", in_sid, "Hi", "", std::nullopt, mx}}},
    {"no FromCountry: no contact", "/webhooks/twilio", without(inbound("Hola"), {"FromCountry"}), verdict::ok,
     {{ana, in_sid, "Hola", "", std::nullopt, {}}}},
    {"legacy SmsMessageSid only", "/webhooks/twilio", without(inbound("Hola"), {"MessageSid"}), verdict::ok,
     {text_item("Hola")}},
    {"MMS photo with a caption", "/webhooks/twilio", mms("image/jpeg", "mi tarea"), verdict::ok,
     {text_item("mi tarea", "photo", mms_sid)}},
    {"MMS audio without text", "/webhooks/twilio", mms("audio/amr", ""), verdict::ok,
     {text_item("", "audio", mms_sid)}},
    {"MMS video", "/webhooks/twilio", mms("video/mp4", ""), verdict::ok, {text_item("", "video", mms_sid)}},
    {"MMS vCard", "/webhooks/twilio", mms("text/vcard", ""), verdict::ok, {text_item("", "contact", mms_sid)}},
    {"MMS PDF", "/webhooks/twilio", mms("application/pdf", "la guía"), verdict::ok,
     {text_item("la guía", "document", mms_sid)}},
    {"parameters Twilio adds later are signed too", "/webhooks/twilio",
     with(with(inbound("Hola"), "OptOutType", ""), "NewField", "x y"), verdict::ok, {text_item("Hola")}},
    {"a query string in the webhook URL", "/webhooks/twilio?src=sms&x=a%20b", inbound("Hola"), verdict::ok,
     {text_item("Hola")}},
    {"signed with the default port", "/webhooks/twilio", inbound("Hola"), verdict::ok, {text_item("Hola")},
     sig::port_443},
    {"content type with a charset", "/webhooks/twilio", inbound("Hola"), verdict::ok, {text_item("Hola")}, sig::good,
     "", "POST", "application/x-www-form-urlencoded; charset=UTF-8"},
    {"no content type", "/webhooks/twilio", inbound("Hola"), verdict::ok, {text_item("Hola")}, sig::good, "", "POST",
     ""},
    {"a WhatsApp sender is not an SMS learner", "/webhooks/twilio", inbound("Hola", "whatsapp:+5215512345678"),
     verdict::ignored, {}},
    {"a short code sender is ignored", "/webhooks/twilio", inbound("Hola", "89898"), verdict::ignored, {}},
    {"no MessageSid at all", "/webhooks/twilio", without(inbound("Hola"), {"MessageSid", "SmsMessageSid", "SmsSid"}),
     verdict::invalid, {}},
    {"no From", "/webhooks/twilio", without(inbound("Hola"), {"From"}), verdict::invalid, {}},
    // Status callbacks.
    {"status queued", "/webhooks/twilio/status", status("queued"), verdict::ok, {report_item("queued")}},
    {"status sending", "/webhooks/twilio/status", status("sending"), verdict::ok, {report_item("sending")}},
    {"status sent", "/webhooks/twilio/status", status("sent"), verdict::ok, {report_item("sent")}},
    {"status delivered", "/webhooks/twilio/status", status("delivered"), verdict::ok, {report_item("delivered")}},
    {"status read", "/webhooks/twilio/status", status("read"), verdict::ok, {report_item("read")}},
    {"status accepted", "/webhooks/twilio/status", status("accepted"), verdict::ok, {report_item("accepted")}},
    {"status canceled", "/webhooks/twilio/status", status("canceled"), verdict::ok, {report_item("canceled")}},
    {"undelivered with 30003", "/webhooks/twilio/status", status("undelivered", "30003"), verdict::ok,
     {report_item("undelivered", "30003 unreachable destination handset")}},
    {"failed with 30007", "/webhooks/twilio/status", status("failed", "30007"), verdict::ok,
     {report_item("failed", "30007 filtered by the carrier")}},
    {"failed with 21610", "/webhooks/twilio/status", status("failed", "21610"), verdict::ok,
     {report_item("failed", "21610 recipient unsubscribed (replied STOP)")}},
    {"failed with an unknown code", "/webhooks/twilio/status", status("failed", "39999"), verdict::ok,
     {report_item("failed", "39999")}},
    {"delivered with ErrorCode 0", "/webhooks/twilio/status", status("delivered", "0"), verdict::ok,
     {report_item("delivered")}},
    {"status in capitals", "/webhooks/twilio/status", status("Delivered"), verdict::ok, {report_item("delivered")}},
    {"legacy SmsSid/SmsStatus only", "/webhooks/twilio/status", without(status("sent"), {"MessageSid", "MessageStatus"}),
     verdict::ok, {report_item("sent")}},
    {"trailing slash on the status path", "/webhooks/twilio/status/", status("sent"), verdict::ok,
     {report_item("sent")}},
    {"status without a status", "/webhooks/twilio/status", without(status("sent"), {"MessageStatus", "SmsStatus"}),
     verdict::invalid, {}},
    {"status without a sid", "/webhooks/twilio/status", without(status("sent"), {"MessageSid", "SmsSid"}),
     verdict::invalid, {}},
    {"status without To", "/webhooks/twilio/status", without(status("sent"), {"To"}), verdict::invalid, {}},
    // Refused.
    {"missing signature", "/webhooks/twilio", inbound("Hola"), verdict::unauthorized, {}, sig::none},
    {"empty signature", "/webhooks/twilio", inbound("Hola"), verdict::unauthorized, {}, sig::empty},
    {"signed with another token", "/webhooks/twilio", inbound("Hola"), verdict::unauthorized, {}, sig::other_token},
    {"a tampered body", "/webhooks/twilio", inbound("Hola"), verdict::unauthorized, {}, sig::for_other_body},
    {"signed for another path", "/webhooks/twilio", inbound("Hola"), verdict::unauthorized, {}, sig::for_other_path},
    {"params not sorted when signing", "/webhooks/twilio", inbound("Hola"), verdict::unauthorized, {}, sig::unsorted},
    {"a status callback signed for the inbound URL", "/webhooks/twilio/status", status("sent"), verdict::unauthorized,
     {}, sig::for_other_path},
    {"missing signature on a malformed body is unauthorized", "/webhooks/twilio", {}, verdict::unauthorized, {},
     sig::none, "Body=%ZZ"},
    {"malformed form", "/webhooks/twilio", {}, verdict::invalid, {}, sig::good, "From=%2B525512345678&Body=%ZZ"},
    {"invalid UTF-8 in a signed form is taken with U+FFFD", "/webhooks/twilio", inbound("Hola \xff\xfe!"),
     verdict::ok, {text_item("Hola \xEF\xBF\xBD\xEF\xBF\xBD!")}, sig::good},
    {"a JSON body", "/webhooks/twilio", {}, verdict::invalid, {}, sig::good, R"({"Body":"Hola"})", "POST",
     "application/json"},
    {"PUT", "/webhooks/twilio", inbound("Hola"), verdict::invalid, {}, sig::good, "", "PUT"},
    // GET webhooks: fields in the query, the signature over the URL alone.
    {"a GET webhook", "", {}, verdict::ok, {text_item("Hola")}, sig::good, "", "GET"},
};

http_in request_for(const incoming_case& c) {
  http_in req;
  req.method = c.method;
  req.target = c.target;
  if (c.method == "GET") req.target = "/webhooks/twilio?" + form_encode(inbound("Hola"));
  req.body = c.method == "GET" ? std::string{} : c.raw_body.empty() ? form_encode(c.params) : c.raw_body;
  if (!c.content_type.empty()) req.headers["content-type"] = c.content_type;
  const form_params signed_params = c.method == "GET" ? form_params{} : c.params;
  const std::string url = public_url + req.target;
  std::string signature;
  switch (c.signing) {
    case sig::good: signature = twilio_signature(token, url, signed_params); break;
    case sig::none: return req;
    case sig::empty: break;
    case sig::other_token: signature = twilio_signature("0123456789abcdef0123456789abcdef", url, signed_params); break;
    case sig::for_other_body: signature = twilio_signature(token, url, with(signed_params, "Body", "Adiós")); break;
    case sig::for_other_path: {
      const bool is_status = c.target.find("/status") != std::string::npos;
      signature = twilio_signature(token, public_url + (is_status ? "/webhooks/twilio" : "/webhooks/twilio/status"),
                                   signed_params);
      break;
    }
    case sig::unsorted: {
      std::string data = url;
      for (const auto& [k, v] : signed_params) data += k + v;
      // The same HMAC over the unsorted concatenation: a URL without params signs exactly it.
      signature = twilio_signature(token, data, {});
      break;
    }
    case sig::port_443:
      signature = twilio_signature(token, "https://aula.example.org:443" + req.target, signed_params);
      break;
  }
  req.headers["X-Twilio-Signature"] = signature;  // header names of any case are found
  return req;
}

}  // namespace

TEST_CASE("sms: identity, caps and configuration", "[sms]") {
  const auto a = adapter();
  CHECK(a.name() == "sms");
  CHECK(a.enabled());
  const channel_caps caps = a.caps();
  CHECK(caps.max_buttons == 0);
  // Twilio's keywords that the engine's global ones lack (folded, as the engine compares them).
  CHECK(caps.stop_words == std::vector<std::string>{"stopall", "cancel", "end", "quit", "revoke", "optout"});
  CHECK(caps.start_words == std::vector<std::string>{"yes"});
  for (auto field : {&twilio_options::account_sid, &twilio_options::auth_token, &twilio_options::from}) {
    auto o = options();
    o.*field = "";
    const twilio_sms_adapter off(o);
    CHECK_FALSE(off.enabled());
    // A disabled adapter accepts nothing, even a request it could verify.
    http_in req{"POST", "/webhooks/twilio", {}, form_encode(inbound("Hola"))};
    req.headers["x-twilio-signature"] = twilio_signature(token, public_url + req.target, inbound("Hola"));
    CHECK(off.parse(req).outcome == verdict::unauthorized);
  }
  auto o = options();
  o.api_base = "http://127.0.0.1:8081/";
  o.public_url = "https://aula.example.org/";
  const twilio_sms_adapter b(o);
  CHECK(b.messages_url() == "http://127.0.0.1:8081/2010-04-01/Accounts/" + sid + "/Messages.json");
  CHECK(b.status_callback_url() == callback);
  o.public_url = "";
  CHECK(twilio_sms_adapter(o).status_callback_url().empty());
}

TEST_CASE("sms: incoming webhooks and status callbacks", "[sms]") {
  const auto a = adapter();
  for (const auto& c : incoming_cases) {
    DYNAMIC_SECTION(c.label) {
      const parse_result r = a.parse(request_for(c));
      INFO("reason: " << r.reason);
      CHECK(r.outcome == c.expected_verdict);
      if (r.outcome != verdict::ok) CHECK_FALSE(r.reason.empty());
      REQUIRE(r.items.size() == c.expected_items.size());
      for (std::size_t i = 0; i < r.items.size(); ++i) {
        const auto& got = r.items[i];
        const auto& want = c.expected_items[i];
        CHECK(got.address == want.address);
        CHECK(got.provider_id == want.provider_id);
        CHECK(got.media_kind == want.media_kind);
        CHECK(got.contact == want.contact);
        CHECK(got.follow_up.empty());
        REQUIRE(got.report.has_value() == want.report.has_value());
        if (want.report) {
          CHECK(got.report->external_id == want.report->external_id);
          CHECK(got.report->state == want.report->state);
          CHECK(got.report->error == want.report->error);
          CHECK(got.report->at_ms == 0);
        } else {
          CHECK(got.event.type == kind::text);
          CHECK(got.event.text == want.text);
          CHECK(got.event.provider_id == want.provider_id);
        }
      }
      // Accepted and ignored requests are acknowledged with empty TwiML (no synchronous reply).
      if (r.outcome == verdict::ok || r.outcome == verdict::ignored) {
        CHECK(r.ack.status == 200);
        CHECK(r.ack.content_type == "text/xml");
        CHECK(r.ack.body == twiml);
      } else {
        CHECK(r.ack.body.empty());
      }
      for (const std::string& s : {r.reason, r.ack.body}) CHECK_THAT(s, !Contains(token));
    }
  }
}

TEST_CASE("sms: the public URL decides what is signed", "[sms]") {
  auto o = options();
  o.public_url = "http://127.0.0.1:8080";  // development: no proxy
  const twilio_sms_adapter a(o);
  const form_params p = inbound("Hola");
  auto req = [&](const std::string& signed_url) {
    http_in r{"POST", "/webhooks/twilio", {{"x-twilio-signature", twilio_signature(token, signed_url, p)}},
              form_encode(p)};
    return a.parse(r).outcome;
  };
  CHECK(req("http://127.0.0.1:8080/webhooks/twilio") == verdict::ok);
  CHECK(req("http://127.0.0.1/webhooks/twilio") == verdict::ok);  // a proxy that drops the port
  CHECK(req("https://127.0.0.1:8080/webhooks/twilio") == verdict::unauthorized);
  CHECK(req("http://127.0.0.1:8080/webhooks/twilio/") == verdict::unauthorized);
  CHECK(req("http://127.0.0.1:8080/other") == verdict::unauthorized);
  // A public URL with a path prefix (behind a proxy that strips it): prefix + target is signed.
  o.public_url = "https://example.org/aula/";
  const twilio_sms_adapter b(o);
  http_in r{"POST", "/webhooks/twilio",
            {{"x-twilio-signature", twilio_signature(token, "https://example.org/aula/webhooks/twilio", p)}},
            form_encode(p)};
  CHECK(b.parse(r).outcome == verdict::ok);
  // Without a public URL nothing can be verified.
  o.public_url = "";
  const twilio_sms_adapter c(o);
  r.headers["x-twilio-signature"] = twilio_signature(token, "/webhooks/twilio", p);
  const auto res = c.parse(r);
  CHECK(res.outcome == verdict::unauthorized);
  CHECK_THAT(res.reason, Contains("public URL"));
}

// =============================================================================================
// Outgoing.

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
const std::vector<outbound_choice> yes_no = {{"r1.ab.0", "Sí"}, {"r1.ab.1", "No"}};

struct expected_call {
  std::string body;  // "" = no Body param
  int segments;
  std::string media_url = {};
};

enum class setup { plain, transliterate, service, no_mms, no_public_url };

struct outgoing_case {
  std::string label;
  outbound_message msg;
  std::vector<expected_call> expected_calls;
  setup how = setup::plain;
};

twilio_options options_for(setup how) {
  auto o = options();
  if (how == setup::transliterate) o.transliterate = true;
  if (how == setup::service) o.from = "MG0123456789abcdef0123456789abcdef";
  if (how == setup::no_mms) o.mms = false;
  if (how == setup::no_public_url) o.public_url = "";
  return o;
}

// Segment counts below are worked out from the GSM 03.38 rules (160/153 septets, extension
// characters 2; UCS-2 70/67 units, emoji 2; pairs never split), not taken from the code.
const std::string words = repeat("palabra ", 300);   // 2400 GSM-7 characters
const std::string canciones = repeat("canción ", 250);  // 2000 characters, UCS-2

const std::vector<outgoing_case> outgoing_cases = {
    {"a short text: one GSM-7 segment", text_msg("Hola, Ana"), {{"Hola, Ana", 1}}},
    {"exactly 160 GSM-7 characters: one segment", text_msg(repeat("a", 160)), {{repeat("a", 160), 1}}},
    {"161 GSM-7 characters: two segments", text_msg(repeat("a", 161)), {{repeat("a", 161), 2}}},
    {"306 characters: two segments of 153", text_msg(repeat("x", 306)), {{repeat("x", 306), 2}}},
    {"307 characters: three", text_msg(repeat("x", 307)), {{repeat("x", 307), 3}}},
    {"GSM-7 accents (é ñ ü ¿ ¡ à) stay at 160", text_msg(repeat("éñü¿¡à", 26) + "éñü¿"),
     {{repeat("éñü¿¡à", 26) + "éñü¿", 1}}},
    {"extension characters count 2: 80 of them fill one segment", text_msg(repeat("{}[]~\\|^€€", 8)),
     {{repeat("{}[]~\\|^€€", 8), 1}}},
    {"159 characters and a euro sign: 161 septets, two segments", text_msg(repeat("a", 159) + "€"),
     {{repeat("a", 159) + "€", 2}}},
    {"158 characters and a euro sign: 160 septets, one segment", text_msg(repeat("a", 158) + "€"),
     {{repeat("a", 158) + "€", 1}}},
    {"an escape pair is not split across segments", text_msg(repeat("a", 152) + "€" + repeat("b", 152)),
     {{repeat("a", 152) + "€" + repeat("b", 152), 3}}},
    {"UCS-2: 70 characters, one segment", text_msg(repeat("ç", 70)), {{repeat("ç", 70), 1}}},
    {"UCS-2: 71 characters, two segments", text_msg(repeat("ç", 71)), {{repeat("ç", 71), 2}}},
    {"UCS-2: 134 characters, two segments of 67", text_msg(repeat("ç", 134)), {{repeat("ç", 134), 2}}},
    {"UCS-2: 135 characters, three", text_msg(repeat("ç", 135)), {{repeat("ç", 135), 3}}},
    {"one accent makes the whole text UCS-2", text_msg(repeat("a", 69) + "á"), {{repeat("a", 69) + "á", 1}}},
    {"one accent over 70: UCS-2, two segments", text_msg(repeat("a", 70) + "á"), {{repeat("a", 70) + "á", 2}}},
    {"35 emoji are 70 UTF-16 units: one segment", text_msg(repeat("😀", 35)), {{repeat("😀", 35), 1}}},
    {"36 emoji: two segments", text_msg(repeat("😀", 36)), {{repeat("😀", 36), 2}}},
    {"an emoji message", text_msg("¡Bien! ✅ 👍🏽"), {{"¡Bien! ✅ 👍🏽", 1}}},
    {"a surrogate pair is not split across segments",
     text_msg(repeat("ç", 66) + "😀" + repeat("ç", 66)), {{repeat("ç", 66) + "😀" + repeat("ç", 66), 3}}},
    {"a long GSM-7 text: split at a space under 1600", text_msg(words),
     {{repeat("palabra ", 199) + "palabra", 11}, {repeat("palabra ", 99) + "palabra", 6}}},
    {"a long UCS-2 text: split at a space under 1600", text_msg(canciones),
     {{repeat("canción ", 199) + "canción", 24}, {repeat("canción ", 49) + "canción", 6}}},
    {"exactly 1600 characters: one message", text_msg(repeat("z", 1600)), {{repeat("z", 1600), 11}}},
    {"1601 characters without a break: cut at 1600", text_msg(repeat("z", 1601)),
     {{repeat("z", 1600), 11}, {"z", 1}}},
    {"800 emoji are 1600 units: one message, 33 emoji a segment", text_msg(repeat("😀", 800)),
     {{repeat("😀", 800), 25}}},
    {"801 emoji: an emoji is never cut in half", text_msg(repeat("😀", 801)),
     {{repeat("😀", 800), 25}, {"😀", 1}}},
    {"a numbered menu with its hint", menu_msg("¿Seguimos?", menu_style::numbered, yes_no),
     {{"¿Seguimos?\n1. Sí\n2. No\n" + hint, 1}}},
    {"buttons are numbered too", menu_msg("¿Seguimos?", menu_style::buttons, yes_no),
     {{"¿Seguimos?\n1. Sí\n2. No\n" + hint, 1}}},
    {"a menu without text", menu_msg("", menu_style::numbered, yes_no), {{"1. Sí\n2. No\n" + hint, 1}}},
    {"a scale in a row", menu_msg("Del 0 al 10", menu_style::inline_numbers,
                                  {{"a", "0"}, {"b", "1"}, {"c", "2"}, {"d", "3"}, {"e", "4"}, {"f", "5"},
                                   {"g", "6"}, {"h", "7"}, {"i", "8"}, {"j", "9"}, {"k", "10"}}),
     {{"Del 0 al 10\n0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n" + hint, 2}}},
    {"menu style none shows no options", menu_msg("Hola", menu_style::none, yes_no), {{"Hola", 1}}},
    {"a numbered menu, transliterated: GSM-7",
     menu_msg("¿Seguimos?", menu_style::numbered, yes_no),
     {{"¿Seguimos?\n1. Si\n2. No\nResponde con el numero de tu opcion.", 1}}, setup::transliterate},
    {"a long text with a menu: the menu stays whole on the last message",
     menu_msg(words, menu_style::numbered, yes_no),
     {{repeat("palabra ", 199) + "palabra", 11}, {repeat("palabra ", 99) + "palabra\n1. Sí\n2. No\n" + hint, 13}}},
    {"a Messaging Service sends with MessagingServiceSid", text_msg("Hola"), {{"Hola", 1}}, setup::service},
    {"no public URL: no StatusCallback", text_msg("Hola"), {{"Hola", 1}}, setup::no_public_url},
    {"an empty message sends nothing", text_msg(""), {}},
    {"a blank message sends nothing", text_msg(" \n "), {}},
    {"Spanish text as it is: UCS-2", text_msg("¿Cómo estás? Información útil."),
     {{"¿Cómo estás? Información útil.", 1}}},
    {"Spanish text transliterated: GSM-7", text_msg("¿Cómo estás? Información útil."),
     {{"¿Como estas? Informacion util.", 1}}, setup::transliterate},
    {"80 accented characters: two UCS-2 segments, or one GSM-7 transliterated", text_msg(repeat("á", 80)),
     {{repeat("á", 80), 2}}},
    {"80 accented characters transliterated", text_msg(repeat("á", 80)), {{repeat("a", 80), 1}},
     setup::transliterate},
    {"emoji dropped when transliterating", text_msg("¡Correcto! ✅ La edad mínima es 15 años."),
     {{"¡Correcto! La edad minima es 15 años.", 1}}, setup::transliterate},
    {"an emoji-only message transliterated sends nothing", text_msg("👍🏽"), {}, setup::transliterate},
    {"an image as MMS with its caption", media_msg("Mira el mapa", "image", "https://cdn.example/mapa.png"),
     {{"Mira el mapa", 1, "https://cdn.example/mapa.png"}}},
    {"an image without text", media_msg("", "image", "https://cdn.example/a.jpg"),
     {{"", 1, "https://cdn.example/a.jpg"}}},
    {"a PDF as MMS", media_msg("La guía", "document", "https://cdn.example/guia.pdf", "guia.pdf"),
     {{"La guía", 1, "https://cdn.example/guia.pdf"}}},
    {"media over 5 MB goes as a link", media_msg("La guía", "document", "https://cdn.example/g.pdf", "g.pdf", 6000),
     {{"https://cdn.example/g.pdf (g.pdf)\nLa guía", 1}}},
    {"without MMS, media goes as a link", media_msg("Mira", "image", "https://cdn.example/mapa.png"),
     {{"https://cdn.example/mapa.png\nMira", 1}}, setup::no_mms},
    {"MMS with a caption over 1600: the media on the first message", media_msg(words, "image", "https://x.example/a.png"),
     {{repeat("palabra ", 199) + "palabra", 1, "https://x.example/a.png"}, {repeat("palabra ", 99) + "palabra", 6}}},
    {"invalid UTF-8 from a flow becomes U+FFFD", text_msg("ok \xff end"), {{"ok \xEF\xBF\xBD end", 1}}},
};

TEST_CASE("sms: outgoing messages", "[sms]") {
  for (const auto& c : outgoing_cases) {
    DYNAMIC_SECTION(c.label) {
      const twilio_sms_adapter a(options_for(c.how));
      const auto calls = a.render("+525512345678", c.msg);
      REQUIRE(calls.size() == c.expected_calls.size());
      for (std::size_t i = 0; i < calls.size(); ++i) {
        const auto& got = calls[i];
        const auto& want = c.expected_calls[i];
        CHECK(got.method == "POST");
        CHECK(got.url == messages_url);
        CHECK(got.headers.at("authorization") == basic_auth);
        CHECK(got.headers.at("content-type") == "application/x-www-form-urlencoded");
        form_params body;
        REQUIRE(form_decode(got.body, body));  // valid UTF-8 and well formed
        form_params expected = {{"To", "+525512345678"}};
        if (c.how == setup::service)
          expected.emplace_back("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef");
        else
          expected.emplace_back("From", from);
        if (!want.body.empty()) expected.emplace_back("Body", want.body);
        if (!want.media_url.empty()) expected.emplace_back("MediaUrl", want.media_url);
        if (c.how != setup::no_public_url) expected.emplace_back("StatusCallback", callback);
        CHECK(body == expected);
        CHECK(got.segments == want.segments);
        CHECK(sms_length(want.body) <= twilio_sms_adapter::max_body);
        CHECK_THAT(got.body, !Contains(token));
      }
    }
  }
}

// =============================================================================================
// Segments and transliteration as free functions.

struct segments_case {
  std::string text;
  sms_encoding encoding;
  std::size_t units;
  int segments;
};

TEST_CASE("sms: segment counting", "[sms]") {
  const auto gsm = sms_encoding::gsm7, ucs = sms_encoding::ucs2;
  const std::vector<segments_case> cases = {
      {"", gsm, 0, 0},
      {"a", gsm, 1, 1},
      {repeat("a", 160), gsm, 160, 1},
      {repeat("a", 161), gsm, 161, 2},
      {repeat("a", 459), gsm, 459, 3},
      {repeat("a", 460), gsm, 460, 4},
      {"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà", gsm, 65, 1},
      {"\f^{}\\[~]|€", gsm, 20, 1},
      {repeat("€", 80), gsm, 160, 1},
      {repeat("€", 81), gsm, 162, 2},  // 76 pairs fill 152 of a segment's 153
      {repeat("a", 152) + "€", gsm, 154, 1},
      {repeat("a", 159) + "€", gsm, 161, 2},
      {repeat("a", 152) + "€" + repeat("b", 152), gsm, 306, 3},
      {"`", ucs, 1, 1},          // the backtick is not GSM-7
      {"ç", ucs, 1, 1},          // only the capital Ç is
      {"á", ucs, 1, 1},
      {"·", ucs, 1, 1},
      {"\t", ucs, 1, 1},
      {repeat("ç", 70), ucs, 70, 1},
      {repeat("ç", 71), ucs, 71, 2},
      {repeat("ç", 201), ucs, 201, 3},
      {repeat("ç", 202), ucs, 202, 4},
      {repeat("😀", 35), ucs, 70, 1},
      {repeat("😀", 36), ucs, 72, 2},
      {repeat("😀", 67), ucs, 134, 3},  // 33 pairs (66 units) per segment
      {"👍🏽", ucs, 4, 1},
      {"\xff", ucs, 1, 1},  // invalid UTF-8 reads as U+FFFD
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION("'" << c.text.substr(0, 24) << "' (" << c.text.size() << " bytes)") {
      const sms_count n = sms_segments(c.text);
      CHECK(n.encoding == c.encoding);
      CHECK(n.units == c.units);
      CHECK(n.segments == c.segments);
    }
  }
  CHECK(gsm7_basic(U'@'));
  CHECK(gsm7_basic(U'\u00C7'));  // Ç
  CHECK_FALSE(gsm7_basic(U'\u00E7'));  // ç
  CHECK_FALSE(gsm7_basic(U'\x1B'));  // the escape is not a character
  CHECK_FALSE(gsm7_basic(U'€'));
  CHECK(gsm7_extension(U'€'));
  CHECK_FALSE(gsm7_extension(U'a'));
}

TEST_CASE("sms: transliteration to GSM-7", "[sms]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"áéíóú ÁÉÍÓÚ", "aéiou AÉIOU"},
      {"ñ Ñ ü Ü ¿ ¡ à è ù ì ò Ç", "ñ Ñ ü Ü ¿ ¡ à è ù ì ò Ç"},  // GSM-7 already
      {"“Hola” ‘tú’ «cita» ‹x›", "\"Hola\" 'tu' \"cita\" 'x'"},
      {"sí – no — quizá ‐ ‒ ―", "si - no - quiza - - -"},
      {"Espera…", "Espera..."},
      {"• uno\n• dos", "- uno\n- dos"},
      {"1º y 2ª", "1o y 2a"},
      {"x\u00A0y\u2009z", "x y z"},
      {"a\tb", "a b"},
      {"ç â ê î ô û ã õ ë ï", "c a e i o u a o e i"},
      {"ÀÈÌÒÙ ÂÊÎÔÛ", "AEIOU AEIOU"},
      {"Łódź Œuvre ß", "Lodz OEuvre ß"},
      {"e\u0301 n\u0303 a\u0301 u\u0308", "é ñ a ü"},  // decomposed accents
      {"{[€]} ~ \\ | ^", "{[€]} ~ \\ | ^"},
      {"¡Hola, colega! 👋 Esta", "¡Hola, colega! Esta"},
      {"📘 La Constitución", "La Constitucion"},
      {"⚠️ El Convenio", "El Convenio"},
      {"¡Correcto! ✅ La edad", "¡Correcto! La edad"},
      {"Fin 🎉", "Fin"},
      {"Hola 👋!", "Hola!"},
      {"Línea 1 😀\nLínea 2", "Linea 1\nLinea 2"},
      {"Hola  dos espacios", "Hola  dos espacios"},  // only gaps the drops leave are closed
      {"👍🏽", ""},
      {"a👍🏽b", "ab"},
      {"日本語 ok", "ok"},
      {"zero\u200Bwidth\uFEFF", "zerowidth"},
      {"\xff", ""},
  };
  for (const auto& [in, want] : cases) {
    DYNAMIC_SECTION("'" << in << "'") {
      const std::string out = sms_transliterate(in);
      CHECK(out == want);
      CHECK(sms_segments(out).encoding == sms_encoding::gsm7);
    }
  }
}

TEST_CASE("sms: transliteration keeps what the validator promises, and always yields GSM-7", "[sms]") {
  // What `aula validate` promises can be transliterated (bot/authoring/checks.cpp: Latin-1 and
  // Latin Extended-A letters, typographic punctuation, no-break space) is never dropped.
  std::vector<char32_t> promised = {0xB7, 0x2026, 0x2013, 0x2014, 0xAB, 0xBB, 0xA0};
  for (char32_t c = 0xC0; c <= 0x17F; ++c) promised.push_back(c);
  for (char32_t c = 0x2018; c <= 0x201F; ++c) promised.push_back(c);
  for (char32_t c : promised) {
    std::string s;
    if (c < 0x800) {
      s = {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
    } else {
      s = {static_cast<char>(0xE0 | (c >> 12)), static_cast<char>(0x80 | ((c >> 6) & 0x3F)),
           static_cast<char>(0x80 | (c & 0x3F))};
    }
    INFO("U+" << std::hex << static_cast<unsigned>(c));
    const std::string out = sms_transliterate("x" + s + "x");
    CHECK(out.size() > 2);
    CHECK(sms_segments(out).encoding == sms_encoding::gsm7);
  }
  // Whatever goes in, GSM-7 comes out.
  std::string all;
  for (char32_t c = 0x20; c < 0x2200; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    if (c < 0x80) {
      all.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      all.push_back(static_cast<char>(0xC0 | (c >> 6)));
      all.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      all.push_back(static_cast<char>(0xE0 | (c >> 12)));
      all.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      all.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  CHECK(sms_segments(sms_transliterate(all)).encoding == sms_encoding::gsm7);
}

TEST_CASE("sms: split pieces rebuild the text and fit", "[sms]") {
  const std::string text = repeat("Una línea con ñ y 😀.\n", 120) + "\n\n" + repeat("palabra ", 400) + repeat("z", 2000);
  const auto pieces = sms_split(text, 1600);
  REQUIRE(pieces.size() >= 4);
  std::string joined;
  for (const auto& p : pieces) {
    CHECK(sms_length(p) <= 1600);
    CHECK(sms_valid_utf8(p) == p);  // no code point was cut
    joined += p;
  }
  std::string squeezed, squeezed_joined;
  for (char ch : text)
    if (ch != '\n' && ch != ' ') squeezed += ch;
  for (char ch : joined)
    if (ch != '\n' && ch != ' ') squeezed_joined += ch;
  CHECK(squeezed_joined == squeezed);
  CHECK(sms_split("  \n\n ", 1600).empty());
  CHECK(sms_split("😀😀", 1).size() == 2);
}

// =============================================================================================
// The sample lesson (flows/leccion-muestra.yaml, in Spanish, as the engine sends it on SMS: the
// quizzes numbered, the scale in a row, each with the hint): segments without and with
// transliteration. Expected counts from the GSM 03.38 rules.

struct lesson_case {
  std::string label;
  outbound_message msg;
  int segments_plain, segments_transliterated;
};

std::vector<outbound_choice> labels(std::initializer_list<std::string> ls) {
  std::vector<outbound_choice> v;
  for (const auto& l : ls) v.push_back({"r." + std::to_string(v.size()), l});
  return v;
}

TEST_CASE("sms: the sample lesson, with and without transliteration", "[sms]") {
  const std::string jornada = "¿Cuántas horas al día, como máximo, puede trabajar una persona de 15 años?";
  const std::vector<lesson_case> cases = {
      {"bienvenida",
       text_msg("¡Hola, colega! 👋 Esta es una lección corta (3 minutos) sobre la edad mínima para trabajar en "
                "México."),
       2, 1},
      {"leccion-1",
       text_msg("📘 La Constitución (artículo 123, apartado A, fracción III) prohíbe el trabajo de menores de 15 "
                "años. Quien tiene 15 años puede trabajar, con una jornada máxima de 6 horas. Y ninguna persona "
                "menor de 18 años puede hacer trabajos peligrosos o insalubres (Ley Federal del Trabajo, arts. 175 "
                "y 176)."),
       5, 2},
      {"leccion-2",
       text_msg("⚠️ El Convenio 182 de la OIT pide eliminar las peores formas de trabajo infantil, entre ellas el "
                "trabajo que daña la salud, la seguridad o la moralidad de niñas, niños y adolescentes."),
       3, 2},
      {"edad (quiz)",
       menu_msg("¿Cuál es la edad mínima para trabajar en México?", menu_style::numbered,
                labels({"14 años", "15 años", "18 años"})),
       2, 1},
      {"edad: feedback a", text_msg("No: a los 14 años aún está prohibido trabajar. La edad mínima es 15 años."), 2, 1},
      {"edad: feedback c",
       text_msg("No: desde los 15 años se puede trabajar con protecciones; 18 es la edad para trabajos peligrosos."),
       1, 1},
      {"edad: correct", text_msg("¡Correcto! ✅ La edad mínima es 15 años."), 1, 1},
      {"jornada (quiz)", menu_msg(jornada, menu_style::numbered, labels({"6 horas", "8 horas", "10 horas"})), 3, 1},
      {"jornada: correct", text_msg("¡Bien! ✅ La jornada máxima es de 6 horas."), 1, 1},
      {"jornada: retry and the question again",
       menu_msg("Todavía no. Piensa en la jornada reducida para menores de 16 años. Inténtalo otra vez.\n\n" + jornada,
                menu_style::numbered, labels({"6 horas", "8 horas", "10 horas"})),
       4, 2},
      {"jornada: incorrect",
       text_msg("La respuesta es 6 horas al día, en periodos de máximo 3 horas con al menos una hora de reposo "
                "entre ellos (LFT, art. 177)."),
       2, 1},
      {"peligroso (quiz)",
       menu_msg("Una adolescente de 16 años trabaja en una mina. ¿Es permitido?", menu_style::numbered,
                labels({"Sí", "No"})),
       2, 1},
      {"peligroso: correct",
       text_msg("¡Exacto! ✅ La minería es un trabajo peligroso, prohibido para menores de 18 años."), 2, 1},
      {"peligroso: incorrect",
       text_msg("No está permitido: la minería es un trabajo peligroso, prohibido para menores de 18 años."), 2, 1},
      {"recomendacion (scale 0-10)",
       menu_msg("Del 0 al 10, ¿qué tan probable es que recomiendes esta lección a un colega?",
                menu_style::inline_numbers, labels({"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"})),
       3, 1},
      {"fin", text_msg("🎉 Terminaste la lección. Puntaje: 4/4. ¡Gracias, colega!"), 1, 1},
  };
  auto o = options();
  const twilio_sms_adapter plain(o);
  o.transliterate = true;
  const twilio_sms_adapter translit(o);
  int total_plain = 0, total_translit = 0;
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.label) {
      const auto p = plain.render(ana, c.msg);
      const auto t = translit.render(ana, c.msg);
      REQUIRE(p.size() == 1);
      REQUIRE(t.size() == 1);
      CHECK(p[0].segments == c.segments_plain);
      CHECK(t[0].segments == c.segments_transliterated);
      CHECK(sms_segments(translit.body_text(c.msg)).encoding == sms_encoding::gsm7);
    }
    total_plain += c.segments_plain;
    total_translit += c.segments_transliterated;
  }
  CHECK(total_plain == 36);
  CHECK(total_translit == 19);
}

// =============================================================================================
// Classifying the REST API's answers.

struct classify_case {
  std::string label;
  int http_status;
  std::string body;
  send_status expected_status;
  std::string expected_external_id;
  int expected_retry_after;
  std::string expected_error_contains;
};

std::string twilio_error(int code, const std::string& message, int status) {
  return json{{"code", code},
              {"message", message},
              {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
              {"status", status}}
      .dump();
}

const std::string created =
    R"({"account_sid":"AC0123456789abcdef0123456789abcdef","api_version":"2010-04-01","body":"Hola",)"
    R"("date_created":"Thu, 24 Aug 2023 05:01:45 +0000","date_sent":null,"date_updated":"Thu, 24 Aug 2023 05:01:45 +0000",)"
    R"("direction":"outbound-api","error_code":null,"error_message":null,"from":"+15005550006",)"
    R"("messaging_service_sid":null,"num_media":"0","num_segments":"1","price":null,"price_unit":"USD",)"
    R"("sid":"SM1234567890abcdef1234567890abcdef","status":"queued","to":"+525512345678",)"
    R"("uri":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM1234567890abcdef1234567890abcdef.json"})";

const std::vector<classify_case> classify_cases = {
    {"201 created", 201, created, send_status::ok, "SM1234567890abcdef1234567890abcdef", 0, ""},
    {"200 with a sid", 200, R"({"sid":"SMabc","status":"accepted"})", send_status::ok, "SMabc", 0, ""},
    {"201 without a sid", 201, R"({"status":"queued"})", send_status::connection_failed, "", 0, "without a message sid"},
    {"201 with garbage", 201, "<html>", send_status::connection_failed, "", 0, "HTTP 201"},
    {"21610 unsubscribed: stopped", 400, twilio_error(21610, "Attempt to send to unsubscribed recipient", 400),
     send_status::stopped, "", 0, "21610 Attempt to send to unsubscribed recipient"},
    {"21610 without a message", 400, R"({"code":21610,"status":400})", send_status::stopped, "", 0,
     "21610 recipient unsubscribed"},
    {"429 with 20429: throttled", 429, twilio_error(20429, "Too Many Requests", 429), send_status::throttled, "", 1,
     "20429"},
    {"429 without a body", 429, "", send_status::throttled, "", 1, "HTTP 429"},
    {"20429 under another status", 400, twilio_error(20429, "Too Many Requests", 400), send_status::throttled, "", 1,
     "Too Many Requests"},
    {"21611 queue full: throttled for a minute", 400,
     twilio_error(21611, "This 'From' number has exceeded the maximum number of queued messages", 400),
     send_status::throttled, "", 60, "21611"},
    {"21211 invalid To", 400, twilio_error(21211, "The 'To' number +5255 is not a valid phone number.", 400),
     send_status::rejected, "", 0, "21211 The 'To' number +5255 is not a valid phone number."},
    {"21408 region not enabled", 400,
     twilio_error(21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
                  400),
     send_status::rejected, "", 0, "21408 Permission to send an SMS"},
    {"21612 cannot route", 400, twilio_error(21612, "The 'To' phone number is not currently reachable via SMS", 400),
     send_status::rejected, "", 0, "21612"},
    {"21614 not a mobile number", 400, twilio_error(21614, "'To' number is not a valid mobile number", 400),
     send_status::rejected, "", 0, "21614 'To' number is not a valid mobile number"},
    {"21608 trial account", 400, twilio_error(21608, "The number is unverified.", 400), send_status::rejected, "", 0,
     "21608"},
    {"a code as a string", 400, R"({"code":"21614","status":400})", send_status::rejected, "", 0,
     "21614 'To' is not a mobile number"},
    {"401 authentication", 401, twilio_error(20003, "Authenticate", 401), send_status::rejected, "", 0,
     "20003 Authenticate"},
    {"404", 404, twilio_error(20404, "The requested resource was not found", 404), send_status::rejected, "", 0,
     "20404"},
    {"400 without a body", 400, "", send_status::rejected, "", 0, "HTTP 400"},
    {"500", 500, twilio_error(20500, "Internal Server Error", 500), send_status::connection_failed, "", 0, "20500"},
    {"503 from a proxy, HTML", 503, "<html>Service Unavailable</html>", send_status::connection_failed, "", 0,
     "HTTP 503"},
    {"no answer at all", 0, "", send_status::connection_failed, "", 0, "HTTP 0"},
};

TEST_CASE("sms: classifying the REST API's answers", "[sms]") {
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
    }
  }
}

TEST_CASE("sms: the auth token never reaches errors, reasons or logs", "[sms]") {
  const auto a = adapter();
  const std::string cred = basic_auth.substr(6);
  for (const std::string& s : {"token " + token, "Authorization: " + basic_auth, sid + ":" + token, token + token}) {
    const std::string r = a.redact(s);
    CHECK_THAT(r, !Contains(token));
    CHECK_THAT(r, !Contains(cred));
    CHECK_THAT(r, Contains("<redacted>"));
  }
  CHECK(a.redact("nothing secret here " + sid) == "nothing secret here " + sid);
  // A provider message that echoes the token or the credential.
  for (int status : {400, 401, 429, 500}) {
    const auto r = a.classify(status, twilio_error(20003, "bad token " + token + " / " + cred, status));
    CHECK_THAT(r.error, !Contains(token));
    CHECK_THAT(r.error, !Contains(cred));
  }
  // Refusals do not echo what was sent.
  http_in req{"POST", "/webhooks/twilio", {{"x-twilio-signature", token}}, form_encode(inbound(token))};
  const auto r = a.parse(req);
  CHECK(r.outcome == verdict::unauthorized);
  CHECK_THAT(r.reason, !Contains(token));
  // The token goes in the Authorization header only, never in a URL or a body.
  for (const auto& call : a.render(ana, text_msg("Hola"))) {
    CHECK_THAT(call.url, !Contains(token));
    CHECK_THAT(call.body, !Contains(token));
  }
}
