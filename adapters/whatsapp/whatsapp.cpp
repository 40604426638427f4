#include "adapters/whatsapp/whatsapp.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "adapters/phone.hpp"
#include "adapters/util.hpp"
#include "bot/engine/json_text.hpp"

namespace aula {

namespace {

using nlohmann::json;
using verdict = parse_result::verdict;
using namespace adapter_util;

// "a%20b+c" → "a b c" (query strings: '+' is a space). A bad escape stays as it is.
std::string url_decode(std::string_view s) {
  std::string out;
  percent_decode(s, out, bad_escape::keep);
  return out;
}

// The first value of each parameter of the target's raw query string. Names are decoded but
// kept as they are otherwise: "hub.mode" keeps its dot.
std::map<std::string, std::string> query_params(const std::string& target) {
  std::map<std::string, std::string> out;
  const auto q = target.find('?');
  if (q == std::string::npos) return out;
  std::string_view rest = std::string_view(target).substr(q + 1);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string key = url_decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1));
    out.emplace(std::move(key), std::move(value));  // the first one wins
  }
  return out;
}

// A Unix timestamp in seconds (a string, as Meta sends it, or a number) as milliseconds;
// values from 10^11 up are taken as milliseconds already (courier has seen them). 0 = none.
std::int64_t timestamp_ms(const json* v) {
  if (!v) return 0;
  std::int64_t t = 0;
  if (v->is_number_integer()) {
    t = v->get<std::int64_t>();
  } else if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return 0;
    t = std::stoll(s);
  } else {
    return 0;
  }
  if (t <= 0) return 0;
  return t >= 100'000'000'000LL ? t : t * 1000;
}

// A coordinate as text: the number as JSON writes it (shortest round trip), or a numeric string.
std::optional<std::string> coordinate(const json* v) {
  if (!v) return std::nullopt;
  if (v->is_number()) return v->dump();
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (!s.empty() && s.find_first_not_of("0123456789+-.eE") == std::string::npos) return s;
  }
  return std::nullopt;
}

// The media kind a WhatsApp message type becomes (inbound_item::media_kind), "" if not media.
std::string media_kind_of(const std::string& type, const json& obj) {
  if (type == "image") return "photo";
  if (type == "audio") {
    const json* voice = member(obj, "voice");
    return voice && voice->is_boolean() && voice->get<bool>() ? "voice" : "audio";
  }
  if (type == "video" || type == "document" || type == "sticker") return type;
  return {};
}

// The media id, to fetch the file with GET {api}/{media-id}.
void keep_media_id(inbound_item& item, const std::string& id) { item.media_id = id; }

std::string ltrim(std::string s) {
  s.erase(0, std::min(s.find_first_not_of(" \t\r\n"), s.size()));
  return s;
}

// An interactive message's body can take 1024 units. A longer text is split: `head` goes first
// as text message(s), `body` (whole paragraphs, else lines, else words at the end of the text:
// usually the question itself) carries the choices.
struct split_body {
  std::string head, body;
};
split_body interactive_body(const std::string& text) {
  if (blank(text)) return {{}, "…"};
  if (utf16_length(text) <= whatsapp_adapter::max_body) return {{}, text};
  const std::size_t s = utf16_fit_start(text, whatsapp_adapter::max_body);
  for (const std::string_view sep : {std::string_view("\n\n"), std::string_view("\n"), std::string_view(" ")}) {
    const std::size_t from = s >= sep.size() ? s - sep.size() : 0;
    const std::size_t p = text.find(sep, from);
    if (p == std::string::npos) continue;
    std::string tail = ltrim(text.substr(p + sep.size()));
    if (blank(tail)) continue;
    return {text.substr(0, p), std::move(tail)};
  }
  // One word longer than the body: its end, after an ellipsis.
  const std::size_t cut = utf16_fit_start(text, whatsapp_adapter::max_body - 1);
  return {text.substr(0, cut), "…" + text.substr(cut)};
}

// How an attachment goes out: a message type, whether it takes a caption, its size limit.
struct media_send {
  std::string type;
  bool caption = false;
};
std::optional<media_send> media_send_for(const media& a) {
  constexpr std::int64_t mb = 1024;
  if (a.url.rfind("https://", 0) != 0 && a.url.rfind("http://", 0) != 0) return std::nullopt;
  if (a.type == "image" && a.size_kb <= 5 * mb) return media_send{"image", true};
  if (a.type == "video" && a.size_kb <= 16 * mb) return media_send{"video", true};
  if (a.type == "audio" && a.size_kb <= 16 * mb) return media_send{"audio", false};  // no caption
  if (a.type == "document" && a.size_kb <= 100 * mb) return media_send{"document", true};
  return std::nullopt;
}

// The API's "to": the address's digits, without '+' (canonical first: "+52 1 55…" → "5255…").
std::string recipient(const std::string& address) {
  const std::string canonical = normalize_phone(address, "");
  std::string to;
  for (char c : canonical.empty() ? address : canonical)
    if (c >= '0' && c <= '9') to.push_back(c);
  return to;
}

std::string choice_title(const outbound_choice& c, std::size_t i) {
  return blank(c.label) ? std::to_string(i + 1) : c.label;
}

// Graph API error codes (CHANNELS.md §1.8) and what a send that met them should do.
constexpr long long code_window_closed = 131047;
constexpr long long code_pair_limit = 131056;
constexpr long long code_token = 190;
constexpr long long code_marketing_stopped = 131050;  // the user stopped our marketing messages

// Throttling codes and how long to wait before the next try, in seconds: the pair limit
// allows about one message per 6 s to one user; the throughput limit clears within a second;
// the app, account, spam and registration limits are hourly or slower, so a minute.
std::optional<int> throttle_wait(long long code) {
  switch (code) {
    case 130429: return 1;
    case code_pair_limit: return 6;
    case 131048:
    case 80007:
    case 4:
    case 133016: return 60;
    default: return std::nullopt;
  }
}

}  // namespace

std::string whatsapp_cut(const std::string& s, std::size_t limit) {
  if (utf16_length(s) <= limit) return s;
  if (limit == 0) return {};
  std::string out = s.substr(0, utf16_fit_end(s, 0, limit - 1));
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t' || out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return out + "…";
}

whatsapp_adapter::whatsapp_adapter(whatsapp_options cfg) : cfg_(std::move(cfg)) {
  cfg_.api_base = without_trailing_slashes(std::move(cfg_.api_base));
}

bool whatsapp_adapter::enabled() const {
  return !cfg_.token.empty() && !cfg_.app_secret.empty() && !cfg_.verify_token.empty() &&
         !cfg_.phone_number_id.empty();
}

channel_caps whatsapp_adapter::caps() const {
  channel_caps c;
  c.max_buttons = max_buttons;
  return c;
}

std::string whatsapp_adapter::messages_url() const { return cfg_.api_base + "/" + cfg_.phone_number_id + "/messages"; }

std::string whatsapp_adapter::redact(std::string s) const {
  return adapter_util::redact(std::move(s), {cfg_.token, cfg_.app_secret, cfg_.verify_token});
}

std::string whatsapp_adapter::signature(const std::string& app_secret, const std::string& body) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned char c : hmac_sha256(app_secret, body)) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xF]);
  }
  return out;
}

parse_result whatsapp_adapter::parse(const http_in& req) const {
  parse_result r;
  auto done = [&r, this](verdict v, const std::string& why) { return finish(r, v, redact(why)); };
  if (!enabled()) return done(verdict::unauthorized, "whatsapp is not configured");

  if (req.method == "GET") {
    // The dashboard's verification. A failure must be answered 403 (not 401).
    r.ack = {403, "text/plain; charset=utf-8", "forbidden\n"};
    const auto q = query_params(req.target);
    auto get = [&q](const char* k) -> const std::string* {
      auto it = q.find(k);
      return it == q.end() ? nullptr : &it->second;
    };
    const std::string* mode = get("hub.mode");
    const std::string* token = get("hub.verify_token");
    const std::string* challenge = get("hub.challenge");
    if (!mode || *mode != "subscribe")
      return done(verdict::unauthorized, "verification: hub.mode is not 'subscribe' (answer 403)");
    if (!token || !constant_time_equal(*token, cfg_.verify_token))
      return done(verdict::unauthorized, "verification: wrong hub.verify_token (answer 403)");
    if (!challenge || challenge->empty())
      return done(verdict::unauthorized, "verification: no hub.challenge (answer 403)");
    r.ack = {200, "text/plain; charset=utf-8", *challenge};
    return done(verdict::ok, {});
  }
  if (!req.method.empty() && req.method != "POST") return done(verdict::invalid, "method " + req.method);

  const std::string* given = find_header(req.headers, "x-hub-signature-256");
  if (!given) return done(verdict::unauthorized, "no X-Hub-Signature-256 header");
  // "sha256=" + 64 hex digits (courier requires exactly 71 characters).
  std::string want_mac;
  if (given->size() == 71 && given->compare(0, 7, "sha256=") == 0) {
    for (std::size_t i = 7; i + 1 < given->size(); i += 2) {
      const int hi = hex_value((*given)[i]), lo = hex_value((*given)[i + 1]);
      if (hi < 0 || lo < 0) break;
      want_mac.push_back(static_cast<char>(hi * 16 + lo));
    }
  }
  if (want_mac.size() != 32) return done(verdict::unauthorized, "malformed X-Hub-Signature-256 header");
  const std::string mac = hmac_sha256(cfg_.app_secret, req.body);
  if (mac.size() != 32 || CRYPTO_memcmp(mac.data(), want_mac.data(), 32) != 0)
    return done(verdict::unauthorized, "X-Hub-Signature-256 does not match the body");
  if (blank(req.body)) return done(verdict::invalid, "empty body");

  std::vector<std::string> skipped;  // what was ignored, for the logs
  auto skip = [&skipped](std::string why) {
    if (skipped.size() < 8) skipped.push_back(std::move(why));
  };
  try {
    const json u = json_text::parse_or_discarded(repair_json_text(req.body));
    if (u.is_discarded()) return done(verdict::invalid, "unable to parse the body as JSON");
    if (!u.is_object()) return done(verdict::invalid, "the body is not a JSON object");
    const std::string object = string_member(u, "object");
    if (object != "whatsapp_business_account") return done(verdict::ignored, "object '" + object + "'");
    const json* entries = array_member(u, "entry");
    if (!entries || entries->empty()) return done(verdict::ignored, "no entry");

    for (const json& entry : *entries) {
      const json* changes = array_member(entry, "changes");
      if (!changes) {
        skip("an entry without changes");
        continue;
      }
      for (const json& change : *changes) {
        const std::string field = string_member(change, "field");
        if (field != "messages") {
          skip("field '" + field + "'");
          continue;
        }
        const json* value = object_member(change, "value");
        if (!value) {
          skip("a change without value");
          continue;
        }
        const json* metadata = object_member(*value, "metadata");
        const std::string to_id = metadata ? string_member(*metadata, "phone_number_id") : std::string{};
        if (to_id != cfg_.phone_number_id) {
          skip("for phone_number_id '" + to_id + "'");
          continue;
        }

        // The learners' display names, by wa_id.
        std::map<std::string, std::string> names;
        if (const json* contacts = array_member(*value, "contacts"))
          for (const json& c : *contacts) {
            const json* profile = object_member(c, "profile");
            const std::string name = profile ? string_member(*profile, "name") : std::string{};
            const std::string wa_id = string_member(c, "wa_id");
            if (!name.empty() && !wa_id.empty()) names.emplace(normalize_phone(wa_id, ""), name);
          }

        if (const json* messages = array_member(*value, "messages"))
          for (const json& msg : *messages) {
            const std::string type = string_member(msg, "type");
            const std::string from = string_member(msg, "from");
            const std::string id = string_member(msg, "id");
            if (from.empty()) {  // a user known only by a username (from_user_id)
              skip("a message without 'from'");
              continue;
            }
            inbound_item item;
            item.address = normalize_phone(from, "");
            if (item.address.empty()) {
              skip("a message from an unusable number");
              continue;
            }
            item.provider_id = id;
            if (auto it = names.find(item.address); it != names.end()) item.contact["name"] = it->second;

            std::optional<inbound_event> ev;
            if (type == "text") {
              const json* text = object_member(msg, "text");
              const json* body = text ? member(*text, "body") : nullptr;
              if (body && body->is_string()) ev = inbound_event::message(body->get<std::string>());
            } else if (type == "interactive") {
              const json* inter = object_member(msg, "interactive");
              const std::string itype = inter ? string_member(*inter, "type") : std::string{};
              if (itype == "button_reply" || itype == "list_reply") {
                const json* reply = object_member(*inter, itype.c_str());
                const std::string ref = reply ? string_member(*reply, "id") : std::string{};
                if (!ref.empty()) ev = inbound_event::tap(ref);
              } else {
                skip("interactive '" + itype + "'");
                continue;
              }
            } else if (type == "button") {  // a template's quick reply
              const json* button = object_member(msg, "button");
              const std::string payload = button ? string_member(*button, "payload") : std::string{};
              const std::string text = button ? string_member(*button, "text") : std::string{};
              if (!payload.empty() && payload == cfg_.reengagement_payload)
                ev = inbound_event::tap(payload);
              else if (!payload.empty() || !text.empty())
                ev = inbound_event::message(payload.empty() ? text : payload);
            } else if (const json* obj = object_member(msg, type.c_str());
                       obj && !media_kind_of(type, *obj).empty()) {
              item.media_kind = media_kind_of(type, *obj);
              keep_media_id(item, string_member(*obj, "id"));
              ev = inbound_event::message(string_member(*obj, "caption"));
            } else if (type == "location") {
              const json* loc = object_member(msg, "location");
              const auto lat = loc ? coordinate(member(*loc, "latitude")) : std::nullopt;
              const auto lng = loc ? coordinate(member(*loc, "longitude")) : std::nullopt;
              if (lat && lng) {
                item.media_kind = "location";
                ev = inbound_event::message(*lat + "," + *lng);
              }
            } else {  // reaction, unsupported, system, contacts, order, …
              skip("message type '" + type + "'");
              continue;
            }
            if (!ev) {
              skip("a '" + type + "' message without its content");
              continue;
            }
            ev->provider_id = id;
            item.event = std::move(*ev);
            if (cfg_.mark_read && !id.empty()) {
              http_call read;
              read.url = messages_url();
              read.headers = {{"Authorization", "Bearer " + cfg_.token}, {"Content-Type", "application/json"}};
              read.body = dump({{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", id}});
              item.follow_up.push_back(std::move(read));
            }
            r.items.push_back(std::move(item));
          }

        if (const json* statuses = array_member(*value, "statuses"))
          for (const json& st : *statuses) {
            const std::string id = string_member(st, "id");
            const std::string state = string_member(st, "status");
            if (id.empty() || (state != "sent" && state != "delivered" && state != "read" && state != "failed")) {
              skip("status '" + state + "'");
              continue;
            }
            inbound_item item;
            item.address = normalize_phone(string_member(st, "recipient_id"), "");
            item.provider_id = id + ":" + state;
            item.event.provider_id = item.provider_id;
            delivery_report rep;
            rep.external_id = id;
            rep.state = state;
            rep.at_ms = timestamp_ms(member(st, "timestamp"));
            if (const json* errors = array_member(st, "errors"); errors && !errors->empty()) {
              const json& e = (*errors)[0];
              const json* code = member(e, "code");
              std::string title = string_member(e, "title");
              if (title.empty()) title = string_member(e, "message");
              rep.error = code && code->is_number_integer() ? std::to_string(code->get<long long>()) : std::string{};
              if (!title.empty()) rep.error += (rep.error.empty() ? "" : " ") + title;
              rep.error = redact(rep.error);
            }
            if (state == "failed" && rep.error.empty()) rep.error = "failed";
            item.report = std::move(rep);
            r.items.push_back(std::move(item));
          }

        if (const json* errors = array_member(*value, "errors"); errors && !errors->empty())
          skip("errors reported by Meta");
      }
    }
  } catch (const std::exception& e) {  // a broken invariant of ours; never the provider's fault
    return done(verdict::invalid, std::string("malformed notification: ") + e.what());
  }

  std::string why;
  for (const auto& s : skipped) why += (why.empty() ? "" : "; ") + s;
  if (r.items.empty()) return done(verdict::ignored, why.empty() ? "nothing for aula" : why);
  return done(verdict::ok, why.empty() ? std::string{} : "also ignored: " + why);
}

std::vector<http_call> whatsapp_adapter::render(const std::string& address, const outbound_message& m) const {
  const std::string to = recipient(address);

  // Bodies written by json_text::object (the bytes an nlohmann document would dump, without
  // building one for every message sent).
  std::vector<http_call> calls;
  auto call = [&](const std::string& type, const json_text::object& payload) {
    json_text::object body;
    body.string("messaging_product", "whatsapp").string("recipient_type", "individual").string("to", to);
    body.string("type", type).raw(type, payload.text());
    http_call c;
    c.url = messages_url();
    c.headers = {{"Authorization", "Bearer " + cfg_.token}, {"Content-Type", "application/json"}};
    c.body = body.text();
    calls.push_back(std::move(c));
  };
  auto text_calls = [&](const std::string& text) {
    for (const auto& piece : utf16_split(text, max_text)) {
      const bool link = piece.find("https://") != std::string::npos || piece.find("http://") != std::string::npos;
      call("text", json_text::object().string("body", piece).boolean("preview_url", link));
    }
  };

  // Reply buttons or a list when the engine asked for buttons, there are 1–10 choices and
  // every ref is a usable id (non-empty, ≤ 200 bytes, unique); otherwise a numbered menu in
  // the text (a typed number or label answers a button menu too).
  bool interactive = m.menu == menu_style::buttons && !m.choices.empty() && m.choices.size() <= max_rows;
  if (interactive) {
    std::set<std::string> refs;
    for (const auto& c : m.choices)
      if (c.ref.empty() || c.ref.size() > max_row_id || !refs.insert(c.ref).second) interactive = false;
  }
  std::string text = text_with_menu(m, interactive);

  if (m.attachment) {
    const media& a = *m.attachment;
    if (const auto how = media_send_for(a)) {
      json_text::object obj;
      obj.string("link", a.url);
      if (how->type == "document" && !a.filename.empty()) obj.string("filename", a.filename);
      const bool caption = how->caption && !interactive && !blank(text) && utf16_length(text) <= max_caption;
      if (caption) obj.string("caption", text);
      call(how->type, obj);
      if (caption || (!interactive && blank(text))) return calls;
      // The text (or the choices) follows as message(s) of its own.
    } else {  // not a link Meta can fetch, or too big for WhatsApp: the link in the text
      text = media_link(a) + (blank(text) ? "" : "\n" + text);
    }
  }

  if (!interactive) {
    text_calls(text);
    return calls;
  }

  const split_body parts = interactive_body(text);
  text_calls(parts.head);
  // Reply buttons need unique titles: cut labels that collide go in a list instead, where the
  // whole label shows in the row's description.
  bool buttons = m.choices.size() <= max_reply_buttons;
  std::vector<std::string> titles;
  if (buttons) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < m.choices.size(); ++i) {
      titles.push_back(whatsapp_cut(choice_title(m.choices[i], i), max_button_title));
      if (!seen.insert(titles.back()).second) buttons = false;
    }
  }
  json_text::object inter;
  inter.raw("body", json_text::object().string("text", parts.body).text());
  std::vector<std::string> items;
  if (buttons) {
    for (std::size_t i = 0; i < m.choices.size(); ++i) {
      json_text::object reply;
      reply.string("id", m.choices[i].ref).string("title", titles[i]);
      items.push_back(json_text::object().string("type", "reply").raw("reply", reply.text()).text());
    }
    inter.string("type", "button");
    inter.raw("action", json_text::object().raw("buttons", json_text::array(items)).text());
  } else {
    for (std::size_t i = 0; i < m.choices.size(); ++i) {
      const std::string label = choice_title(m.choices[i], i);
      json_text::object row;
      row.string("id", m.choices[i].ref).string("title", whatsapp_cut(label, max_row_title));
      if (utf16_length(label) > max_row_title) row.string("description", whatsapp_cut(label, max_row_description));
      items.push_back(row.text());
    }
    const std::string section = json_text::object().raw("rows", json_text::array(items)).text();
    json_text::object action;
    action.string("button", list_button).raw("sections", json_text::array({section}));
    inter.string("type", "list");
    inter.raw("action", action.text());
  }
  call("interactive", inter);
  return calls;
}

std::vector<http_call> whatsapp_adapter::render_reengagement(const std::string& address,
                                                            const std::string& template_name) const {
  const std::string to = recipient(address);
  json tpl = {{"name", template_name.empty() ? cfg_.reengagement_template : template_name},
              {"language", {{"code", cfg_.template_language}}}};
  if (!cfg_.reengagement_payload.empty())
    tpl["components"] = json::array({{{"type", "button"},
                                      {"sub_type", "quick_reply"},
                                      {"index", "0"},
                                      {"parameters", json::array({{{"type", "payload"},
                                                                   {"payload", cfg_.reengagement_payload}}})}}});
  const json body = {{"messaging_product", "whatsapp"},
                     {"recipient_type", "individual"},
                     {"to", to},
                     {"type", "template"},
                     {"template", std::move(tpl)}};
  http_call c;
  c.url = messages_url();
  c.headers = {{"Authorization", "Bearer " + cfg_.token}, {"Content-Type", "application/json"}};
  c.body = dump(body);
  return {c};
}

send_result whatsapp_adapter::classify(int http_status, const std::string& body) const {
  send_result r;
  // Every field read is a scalar (or an error object's presence).
  static const json_text::path_set paths(
      {"error", "error/code", "error/message", "error/error_data/details", "messages/#0/id", "success"});
  const std::optional<picked_values> v = pick_values(body, paths);
  const auto field = [&v](std::string_view path) -> const json* { return v ? v->find(path) : nullptr; };
  const auto text = [&field](std::string_view path) {
    const json* t = field(path);
    return t && t->is_string() ? t->get<std::string>() : std::string{};
  };
  const json* error = field("error");
  const bool err = error && error->is_object();
  std::optional<long long> code;
  std::string description;
  if (err) {
    if (const json* c = field("error/code"); c && c->is_number_integer()) code = c->get<long long>();
    description = text("error/message");
    const std::string details = text("error/error_data/details");
    if (!details.empty() && details != description)
      description += (description.empty() ? "" : ": ") + details;
    if (code) description = std::to_string(*code) + (description.empty() ? "" : " " + description);
  }
  auto fail = [&](send_status s, const std::string& fallback) {
    r.status = s;
    r.error = redact(description.empty() ? fallback : description);
    return r;
  };

  const bool success = http_status >= 200 && http_status < 300;
  if (success && !err) {
    if (std::string id = text("messages/#0/id"); !id.empty()) {
      r.external_id = std::move(id);
      return r;
    }
    // A mark-read call answers {"success": true}.
    if (const json* ok = field("success"); ok && ok->is_boolean() && ok->get<bool>()) return r;
    return fail(send_status::connection_failed, "HTTP " + std::to_string(http_status) + " without a message id");
  }

  if (code) {
    if (*code == code_window_closed) return fail(send_status::window_closed, "outside the 24-hour window");
    if (auto wait = throttle_wait(*code)) {
      r.retry_after_s = *wait;
      return fail(send_status::throttled, "throttled");
    }
    if (*code == code_marketing_stopped) return fail(send_status::stopped, "the user stopped our messages");
    if (*code == code_token) {
      const std::string said = err ? text("error/message") : std::string{};
      description = "access token expired or invalid (190)" + (said.empty() ? "" : ": " + said);
      r.alert = "auth";
      return fail(send_status::rejected, description);
    }
    if (*code >= 132000 && *code < 132100) {  // the template: missing, paused, disabled, wrong parameters
      r.alert = "template";
      return fail(send_status::rejected, "template rejected");
    }
    if (*code == 131053 || *code == 2) return fail(send_status::connection_failed, "media or service error");
  }
  if (http_status == 429) {
    r.retry_after_s = 1;
    return fail(send_status::throttled, "HTTP 429");
  }
  if (http_status == 401) r.alert = "auth";
  if (http_status >= 400 && http_status < 500)
    return fail(send_status::rejected, "HTTP " + std::to_string(http_status));
  if (success) return fail(send_status::connection_failed, "HTTP " + std::to_string(http_status) + " with an error");
  // 5xx, no answer (0), or anything unexpected: retry with backoff.
  return fail(send_status::connection_failed, "HTTP " + std::to_string(http_status));
}

}  // namespace aula
