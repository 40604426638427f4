#include "adapters/twilio_sms/twilio_sms.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <utility>

#include <nlohmann/json.hpp>

#include "adapters/phone.hpp"
#include "adapters/util.hpp"

namespace aula {

namespace {

using nlohmann::json;
using verdict = parse_result::verdict;
using namespace adapter_util;

constexpr const char* empty_twiml = R"(<?xml version="1.0" encoding="UTF-8"?><Response/>)";

// A form field: decoded strictly (a broken escape is malformed). Bytes that are not UTF-8 are
// kept here (Twilio signs them as they are) and replaced by U+FFFD once the signature is checked.
bool form_field_decode(std::string_view in, std::string& out) {
  return percent_decode(in, out, bad_escape::fail);
}

// The URL variants Twilio's validators accept: as given; without its port; with the scheme's
// default port when it has none.
std::vector<std::string> url_variants(std::string_view url) {
  std::vector<std::string> v{std::string(url)};
  const auto sch = url.find("://");
  if (sch == std::string_view::npos) return v;
  const std::string scheme = lower(std::string(url.substr(0, sch)));
  const std::size_t host_start = sch + 3;
  std::size_t host_end = url.find_first_of("/?#", host_start);
  if (host_end == std::string_view::npos) host_end = url.size();
  const std::string_view authority = url.substr(host_start, host_end - host_start);
  const auto at = authority.rfind('@');
  const std::size_t hostport = at == std::string_view::npos ? 0 : at + 1;
  const auto colon = authority.rfind(':');
  const auto bracket = authority.rfind(']');  // [IPv6]:port
  const bool has_port = colon != std::string_view::npos && colon >= hostport &&
                        (bracket == std::string_view::npos || colon > bracket) && colon + 1 < authority.size() &&
                        std::all_of(authority.begin() + static_cast<std::ptrdiff_t>(colon) + 1, authority.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
  if (has_port) {
    std::string without(url);
    without.erase(host_start + colon, authority.size() - colon);
    v.push_back(std::move(without));
  } else if (scheme == "https" || scheme == "http") {
    std::string with(url);
    with.insert(host_end, scheme == "https" ? ":443" : ":80");
    v.push_back(std::move(with));
  }
  return v;
}

const std::string* field(const form_params& params, std::string_view name) {
  for (const auto& [k, v] : params)
    if (k == name) return &v;
  return nullptr;
}
std::string value_of(const form_params& params, std::string_view name) {
  const std::string* v = field(params, name);
  return v ? *v : std::string{};
}
std::string first_of(const form_params& params, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (auto v = value_of(params, n); !v.empty()) return v;
  return {};
}

// What kind of attachment a learner sent, from its MIME type.
std::string media_kind_of(std::string type) {
  type = lower(type.substr(0, type.find(';')));
  if (type.rfind("image/", 0) == 0) return "photo";
  if (type.rfind("audio/", 0) == 0) return "audio";
  if (type.rfind("video/", 0) == 0) return "video";
  if (type == "text/vcard" || type == "text/x-vcard" || type == "text/directory") return "contact";
  return "document";
}

// Twilio's "code" is a number; a numeric string is read too. 0 = none.
int int_member(const json& o, const char* key) {
  const json* v = member(o, key);
  if (!v) return 0;
  if (v->is_number_integer()) {
    const auto n = v->get<std::int64_t>();
    return n > 0 && n < 10'000'000 ? static_cast<int>(n) : 0;
  }
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    int n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc{} && p == s.data() + s.size() && n > 0) return n;
  }
  return 0;
}

}  // namespace

// ------------------------------------------------------------------------------- free helpers

std::string twilio_signature(std::string_view auth_token, std::string_view url, const form_params& params) {
  form_params sorted = params;
  std::sort(sorted.begin(), sorted.end());  // by name, then by value
  std::string data(url);
  for (const auto& [k, v] : sorted) data += k + v;
  return base64(hmac_sha1(auth_token, data));
}

bool twilio_signature_valid(std::string_view auth_token, std::string_view url, const form_params& params,
                            std::string_view signature) {
  if (auth_token.empty() || signature.empty()) return false;
  bool ok = false;
  for (const auto& u : url_variants(url)) ok |= constant_time_equal(twilio_signature(auth_token, u, params), signature);
  return ok;
}

bool form_decode(std::string_view body, form_params& out) {
  out.clear();
  std::size_t pos = 0;
  while (pos <= body.size()) {
    auto amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string name, value;
    if (!form_field_decode(pair.substr(0, eq), name) || name.empty()) return false;
    if (eq != std::string_view::npos && !form_field_decode(pair.substr(eq + 1), value)) return false;
    out.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

std::string form_encode(const form_params& params) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  auto enc = [&out](std::string_view s) {
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.' || c == '~') {
        out.push_back(ch);
      } else if (c == ' ') {
        out.push_back('+');
      } else {
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xF]);
      }
    }
  };
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i) out.push_back('&');
    enc(params[i].first);
    out.push_back('=');
    enc(params[i].second);
  }
  return out;
}

std::string twilio_error_meaning(int code) {
  switch (code) {
    case 20003: return "authentication failed (account SID or auth token)";
    case 20404: return "resource not found";
    case 20429: return "too many requests";
    case 21211: return "invalid 'To' phone number";
    case 21408: return "SMS to this region is not enabled on the account";
    case 21602: return "message body is required";
    case 21606: return "the 'From' number cannot send messages to this destination";
    case 21608: return "trial account: the 'To' number is not verified";
    case 21610: return "recipient unsubscribed (replied STOP)";
    case 21611: return "the sender's queue of messages is full";
    case 21612: return "the 'To' number cannot be reached from this sender";
    case 21614: return "'To' is not a mobile number";
    case 21617: return "body exceeds the 1600 character limit";
    case 21620: return "invalid media URL";
    case 30001: return "queue overflow";
    case 30002: return "account suspended";
    case 30003: return "unreachable destination handset";
    case 30004: return "message blocked";
    case 30005: return "unknown destination handset";
    case 30006: return "landline or unreachable carrier";
    case 30007: return "filtered by the carrier";
    case 30008: return "unknown error";
    case 30009: return "missing segment";
    case 30010: return "message price exceeds max price";
    case 30034: return "US A2P 10DLC: unregistered sender";
    default: return {};
  }
}

// ------------------------------------------------------------------------------- the adapter

twilio_sms_adapter::twilio_sms_adapter(twilio_options cfg) : cfg_(std::move(cfg)) {
  cfg_.api_base = without_trailing_slashes(std::move(cfg_.api_base));
  cfg_.public_url = without_trailing_slashes(std::move(cfg_.public_url));
}

bool twilio_sms_adapter::enabled() const {
  return !cfg_.account_sid.empty() && !cfg_.auth_token.empty() && !cfg_.from.empty();
}

channel_caps twilio_sms_adapter::caps() const {
  channel_caps c;
  c.max_buttons = 0;  // every menu is numbered text
  // Twilio's own opt-out / opt-in keywords (CHANNELS.md §3.6) that aula's global ones lack:
  // Twilio stops (or resumes) delivery on them and still forwards the message, so the engine
  // must know them too, or it would keep sending into 21610 errors.
  c.stop_words = {"stopall", "cancel", "end", "quit", "revoke", "optout"};
  c.start_words = {"yes"};
  return c;
}

std::string twilio_sms_adapter::messages_url() const {
  return cfg_.api_base + "/2010-04-01/Accounts/" + cfg_.account_sid + "/Messages.json";
}

std::string twilio_sms_adapter::status_callback_url() const {
  return cfg_.public_url.empty() ? std::string{} : cfg_.public_url + "/webhooks/twilio/status";
}

std::string twilio_sms_adapter::redact(std::string s) const {
  if (cfg_.auth_token.empty()) return s;
  const std::string cred = cfg_.account_sid + ":" + cfg_.auth_token;
  return adapter_util::redact(std::move(s), {cfg_.auth_token, cred, base64(cred)});
}

parse_result twilio_sms_adapter::parse(const http_in& req) const {
  parse_result r;
  auto done = [&r](verdict v, std::string why) {
    if (v == verdict::ok || v == verdict::ignored) {
      r.ack.status = 200;
      r.ack.content_type = "text/xml";
      r.ack.body = empty_twiml;
    }
    return finish(r, v, std::move(why));
  };
  if (!enabled()) return done(verdict::unauthorized, "sms is not configured");
  const bool get = req.method == "GET";
  if (!req.method.empty() && req.method != "POST" && !get) return done(verdict::invalid, "method " + req.method);
  const std::string* signature = find_header(req.headers, "x-twilio-signature");
  const std::string* content_type = find_header(req.headers, "content-type");
  if (!signature) return done(verdict::unauthorized, "no X-Twilio-Signature header");
  if (cfg_.public_url.empty())
    return done(verdict::unauthorized, "the public URL is not set: cannot check X-Twilio-Signature");

  // GET webhooks carry their fields in the query and sign the URL alone; POST ones sign the
  // URL followed by the form fields.
  const auto q = req.target.find('?');
  std::string path = req.target.substr(0, q);
  form_params params;
  if (get) {
    if (q != std::string::npos && !form_decode(std::string_view(req.target).substr(q + 1), params))
      return done(verdict::invalid, "malformed query string");
  } else {
    if (content_type) {
      std::string type = lower(content_type->substr(0, content_type->find(';')));
      type.erase(0, std::min(type.size(), type.find_first_not_of(" \t")));
      type.erase(type.find_last_not_of(" \t") + 1);
      if (!type.empty() && type != "application/x-www-form-urlencoded")
        return done(verdict::invalid, "content type " + type + " (a form is expected)");
    }
    if (!form_decode(req.body, params)) return done(verdict::invalid, "malformed form body");
  }
  if (!twilio_signature_valid(cfg_.auth_token, cfg_.public_url + req.target, get ? form_params{} : params,
                              *signature))
    return done(verdict::unauthorized, "wrong X-Twilio-Signature");
  // Signed, so Twilio's: a field that is not UTF-8 is taken with U+FFFD in place of the bad bytes.
  for (auto& field : params) {
    field.first = sms_valid_utf8(field.first);
    field.second = sms_valid_utf8(field.second);
  }

  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const bool status_callback = path.size() >= 7 && path.compare(path.size() - 7, 7, "/status") == 0;

  inbound_item item;
  if (status_callback) {
    const std::string sid = first_of(params, {"MessageSid", "SmsSid"});
    const std::string state = lower(first_of(params, {"MessageStatus", "SmsStatus"}));
    if (sid.empty()) return done(verdict::invalid, "status callback without MessageSid");
    if (state.empty()) return done(verdict::invalid, "status callback without MessageStatus");
    const std::string to = value_of(params, "To");
    if (to.empty()) return done(verdict::invalid, "status callback without To");
    item.address = normalize_phone(to);
    if (item.address.empty()) return done(verdict::ignored, "status callback for a recipient that is not a phone number");
    delivery_report rep;
    rep.external_id = sid;
    rep.state = state;
    const std::string code = value_of(params, "ErrorCode");
    if (!code.empty() && code != "0") {
      int n = 0;
      std::from_chars(code.data(), code.data() + code.size(), n);
      const std::string meaning = twilio_error_meaning(n);
      rep.error = code + (meaning.empty() ? "" : " " + meaning);
    }
    item.provider_id = sid + ":" + state;
    item.report = std::move(rep);
    r.items.push_back(std::move(item));
    return done(verdict::ok, {});
  }

  const std::string sid = first_of(params, {"MessageSid", "SmsMessageSid", "SmsSid"});
  if (sid.empty()) return done(verdict::invalid, "message without MessageSid");
  const std::string from = value_of(params, "From");
  if (from.empty()) return done(verdict::invalid, "message without From");
  item.address = normalize_phone(from);
  if (item.address.empty()) return done(verdict::ignored, "the sender is not a phone number");
  item.provider_id = sid;
  item.event = inbound_event::message(value_of(params, "Body"));  // verbatim
  item.event.provider_id = sid;
  int num_media = 0;
  const std::string nm = value_of(params, "NumMedia");
  std::from_chars(nm.data(), nm.data() + nm.size(), num_media);
  if (num_media > 0) item.media_kind = media_kind_of(value_of(params, "MediaContentType0"));
  if (auto country = value_of(params, "FromCountry"); !country.empty()) item.contact["country"] = country;
  r.items.push_back(std::move(item));
  return done(verdict::ok, {});
}

namespace {

struct composed_text {
  std::string main;  // the text (with a link line for an attachment that is not sent as MMS)
  std::string menu;  // the numbered menu and its hint ("" = no menu)
};

composed_text compose_text(const outbound_message& m, const twilio_options& cfg, bool media_as_link) {
  composed_text t;
  t.main = m.text;
  if (m.attachment && media_as_link) {
    const media& a = *m.attachment;
    const std::string link = a.url + (a.filename.empty() ? "" : " (" + a.filename + ")");
    t.main = link + (blank(t.main) ? "" : "\n" + t.main);
  }
  if (!m.choices.empty() && m.menu != menu_style::none) {
    // As render_plain numbers them ("1. label" lines); a scale's labels are its numbers, in a row.
    std::string lines;
    if (m.menu == menu_style::inline_numbers) {
      for (std::size_t i = 0; i < m.choices.size(); ++i) lines += (i ? ", " : "") + m.choices[i].label;
    } else {
      for (std::size_t i = 0; i < m.choices.size(); ++i)
        lines += (i ? "\n" : "") + std::to_string(i + 1) + ". " + m.choices[i].label;
    }
    t.menu = lines + (cfg.menu_hint.empty() ? "" : "\n" + cfg.menu_hint);
  }
  if (cfg.transliterate) {
    t.main = sms_transliterate(t.main);
    t.menu = sms_transliterate(t.menu);
  } else {
    t.main = sms_valid_utf8(t.main);
    t.menu = sms_valid_utf8(t.menu);
  }
  t.main.erase(std::min(t.main.size(), t.main.find_last_not_of(" \t\r\n") + 1));  // npos + 1 = 0: blank
  return t;
}

}  // namespace

std::string twilio_sms_adapter::body_text(const outbound_message& m) const {
  const bool as_mms = m.attachment && cfg_.mms && m.attachment->size_kb <= max_media_kb;
  const composed_text t = compose_text(m, cfg_, m.attachment && !as_mms);
  if (t.main.empty()) return t.menu;
  return t.menu.empty() ? t.main : t.main + "\n" + t.menu;
}

std::vector<http_call> twilio_sms_adapter::render(const std::string& address, const outbound_message& m) const {
  const bool as_mms = m.attachment && cfg_.mms && m.attachment->size_kb <= max_media_kb;
  const composed_text t = compose_text(m, cfg_, m.attachment && !as_mms);

  std::vector<std::string> pieces;
  const std::string whole = t.main.empty() ? t.menu : t.menu.empty() ? t.main : t.main + "\n" + t.menu;
  if (sms_length(whole) <= max_body) {
    if (!blank(whole)) pieces.push_back(whole);
  } else {
    // Too long for one message: the text in pieces; the menu stays whole, on the last piece
    // if it fits there, else as a message of its own.
    pieces = sms_split(t.main, max_body);
    if (!t.menu.empty()) {
      if (!pieces.empty() && sms_length(pieces.back()) + 1 + sms_length(t.menu) <= max_body)
        pieces.back() += "\n" + t.menu;
      else
        for (auto& p : sms_split(t.menu, max_body)) pieces.push_back(std::move(p));
    }
  }

  const bool service = cfg_.from.rfind("MG", 0) == 0;
  const std::string auth = "Basic " + base64(cfg_.account_sid + ":" + cfg_.auth_token);
  const std::string callback = status_callback_url();
  std::vector<http_call> calls;
  auto call = [&](const std::string* body, bool with_media) {
    form_params f{{"To", address}, {service ? "MessagingServiceSid" : "From", cfg_.from}};
    if (body) f.emplace_back("Body", *body);
    if (with_media) f.emplace_back("MediaUrl", m.attachment->url);
    if (!callback.empty()) f.emplace_back("StatusCallback", callback);
    http_call c;
    c.url = messages_url();
    c.headers["authorization"] = auth;
    c.headers["content-type"] = "application/x-www-form-urlencoded";
    c.headers["accept"] = "application/json";
    c.body = form_encode(f);
    c.segments = with_media ? 1 : body ? sms_segments(*body).segments : 0;  // an MMS bills as one message
    calls.push_back(std::move(c));
  };
  if (pieces.empty()) {
    if (as_mms) call(nullptr, true);
    return calls;
  }
  for (std::size_t i = 0; i < pieces.size(); ++i) call(&pieces[i], as_mms && i == 0);
  return calls;
}

send_result twilio_sms_adapter::classify(int http_status, const std::string& body) const {
  send_result r;
  const json j = json::parse(body, nullptr, false);
  const bool parsed = !j.is_discarded() && j.is_object();
  const int code = parsed ? int_member(j, "code") : 0;
  const std::string message = parsed ? string_member(j, "message") : std::string{};
  auto fail = [&](send_status s, int retry_after = 0) {
    r.status = s;
    r.retry_after_s = retry_after;
    std::string text;
    if (code) {
      const std::string what = message.empty() ? twilio_error_meaning(code) : message;
      text = std::to_string(code) + (what.empty() ? "" : " " + what);
    } else {
      text = "HTTP " + std::to_string(http_status) + (message.empty() ? "" : " " + message);
    }
    r.error = redact(text);
    return r;
  };

  if (http_status >= 200 && http_status < 300) {
    const std::string sid = parsed ? string_member(j, "sid") : std::string{};
    if (sid.empty()) {
      r.status = send_status::connection_failed;
      r.error = "HTTP " + std::to_string(http_status) + " without a message sid";
      return r;
    }
    r.status = send_status::ok;
    r.external_id = sid;
    return r;
  }
  // No Retry-After reaches classify (headers are not passed): one second, as the sender's
  // backoff for throttling does not count attempts. A full queue (21611) needs longer.
  if (http_status == 429 || code == 20429) return fail(send_status::throttled, 1);
  if (code == 21611) return fail(send_status::throttled, 60);
  if (code == 21610) return fail(send_status::stopped);  // never retried
  if (http_status >= 400 && http_status < 500) return fail(send_status::rejected);
  return fail(send_status::connection_failed);  // 5xx, no answer (0), anything else
}

}  // namespace aula
