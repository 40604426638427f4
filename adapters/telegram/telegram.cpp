#include "adapters/telegram/telegram.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "adapters/util.hpp"
#include "bot/engine/json_text.hpp"

namespace aula {

namespace {

using nlohmann::json;
using verdict = parse_result::verdict;
using namespace adapter_util;

// The values of an update that parse() reads, by path (json_text::pick: the values without
// the update's document, which is read only when pick gives up or a rare answer needs it).
// An object or array at a path reads as an empty one of its kind: its presence and kind.
class update_reader {
 public:
  explicit update_reader(std::string_view body) : body_(body), values_(pick_values(body, paths())) {}

  // Whether the body is a JSON object (else document() tells what it is).
  bool is_object() const { return values_.has_value(); }
  const json* at(std::string_view path) const { return values_->find(path); }
  const json* object_at(std::string_view path) const {
    const json* v = at(path);
    return v && v->is_object() ? v : nullptr;
  }
  std::string string_at(std::string_view path) const {
    const json* v = at(path);
    return v && v->is_string() ? v->get<std::string>() : std::string{};
  }
  // The whole update, read once.
  const json& document() const {
    if (!doc_) doc_ = json_text::parse_or_discarded(body_);
    return *doc_;
  }

 private:
  static const json_text::path_set& paths();
  std::string_view body_;
  std::optional<picked_values> values_;
  mutable std::optional<json> doc_;
};

// The kinds of non-text message we recognise, in the order they are checked ("animation"
// before "document": a GIF carries both).
constexpr std::string_view media_kinds[] = {"photo",    "voice", "video_note", "video",   "animation",
                                            "audio",    "document", "sticker", "location", "venue",
                                            "contact",  "poll",  "dice",       "game",    "story"};

// Where a User and a Chat are read from, and the paths below them.
struct user_paths {
  std::string_view user, first_name, last_name, language_code, id;
};
struct chat_paths {
  std::string_view chat, type, id;
};
constexpr user_paths message_from{"message/from", "message/from/first_name", "message/from/last_name",
                                  "message/from/language_code", "message/from/id"};
constexpr chat_paths message_chat{"message/chat", "message/chat/type", "message/chat/id"};
constexpr user_paths tap_from{"callback_query/from", "callback_query/from/first_name",
                              "callback_query/from/last_name", "callback_query/from/language_code",
                              "callback_query/from/id"};
constexpr chat_paths tap_chat{"callback_query/message/chat", "callback_query/message/chat/type",
                              "callback_query/message/chat/id"};
constexpr user_paths member_from{"my_chat_member/from", "my_chat_member/from/first_name",
                                 "my_chat_member/from/last_name", "my_chat_member/from/language_code",
                                 "my_chat_member/from/id"};
constexpr chat_paths member_chat{"my_chat_member/chat", "my_chat_member/chat/type", "my_chat_member/chat/id"};

// The media kinds' paths below "message".
const std::vector<std::string>& media_paths() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v;
    for (const auto kind : media_kinds) v.push_back("message/" + std::string(kind));
    return v;
  }();
  return all;
}

const json_text::path_set& update_reader::paths() {
  static const json_text::path_set all([] {
    std::vector<std::string_view> v{"update_id",
                                    "message",
                                    "message/text",
                                    "message/caption",
                                    "callback_query",
                                    "callback_query/id",
                                    "callback_query/data",
                                    "callback_query/message",
                                    "callback_query/message/message_id",
                                    "my_chat_member",
                                    "my_chat_member/new_chat_member",
                                    "my_chat_member/new_chat_member/status",
                                    "edited_message"};
    for (const user_paths& u : {message_from, tap_from, member_from})
      v.insert(v.end(), {u.user, u.first_name, u.last_name, u.language_code, u.id});
    for (const chat_paths& c : {message_chat, tap_chat, member_chat}) v.insert(v.end(), {c.chat, c.type, c.id});
    for (const auto& m : media_paths()) v.push_back(m);
    return v;
  }());
  return all;
}

// What a Telegram User tells about the learner: "name" (first + last) and "language".
std::map<std::string, std::string> contact_of(const update_reader& u, const user_paths& from) {
  std::map<std::string, std::string> c;
  if (!u.object_at(from.user)) return c;
  std::string name = u.string_at(from.first_name);
  const std::string last = u.string_at(from.last_name);
  if (!last.empty()) name += name.empty() ? last : " " + last;
  if (!name.empty()) c["name"] = name;
  if (auto lang = u.string_at(from.language_code); !lang.empty()) c["language"] = lang;
  return c;
}

bool is_deep_link_payload(std::string_view p) {
  if (p.empty() || p.size() > 64) return false;
  return std::all_of(p.begin(), p.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '-';
  });
}

// "/start", "/start@SomeBot", "/start payload" → the event to give the engine, or nullopt
// when the text is not the /start command.
//   - With a deep-link payload (t.me/<bot>?start=<payload>: 1–64 of A-Z a-z 0-9 _ -) it
//     starts the flow of that id; an unknown id does nothing (the engine logs it).
//   - Plain "/start" (a new learner pressing Start, or someone typing it) becomes the global
//     keyword MENU, so the learner sees the activities instead of silence.
//   - A payload that could not come from a deep link ("/start hola mundo") is also MENU.
std::optional<inbound_event> start_command(const std::string& text) {
  constexpr std::string_view cmd = "/start";
  std::string_view t = text;
  if (t.substr(0, cmd.size()) != cmd) return std::nullopt;
  t.remove_prefix(cmd.size());
  if (!t.empty() && t.front() == '@') {  // "/start@SomeBot"
    const auto sp = t.find_first_of(" \n\t");
    t.remove_prefix(sp == std::string_view::npos ? t.size() : sp);
  }
  if (!t.empty() && t.front() != ' ' && t.front() != '\n' && t.front() != '\t') return std::nullopt;  // "/startle"
  while (!t.empty() && (t.front() == ' ' || t.front() == '\n' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\n' || t.back() == '\t')) t.remove_suffix(1);
  if (is_deep_link_payload(t)) return inbound_event::start(std::string(t));
  return inbound_event::message("MENU");
}

// The extension of a URL's path, lower case, without query or fragment ("pdf", "" if none).
std::string url_extension(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  return lower(path.substr(dot + 1));
}

// How an attachment goes out: a send* method and its file field, or (empty method) as a text
// link when Telegram cannot fetch it by URL: sendDocument by URL works only for PDF, ZIP and
// GIF; sendAudio wants MP3 or M4A; URL downloads are limited to 5 MB for photos and 20 MB
// for other files.
struct media_call {
  std::string method, field;
};
media_call media_call_for(const media& a) {
  const std::string ext = url_extension(a.url);
  if (a.type == "image") {
    if (a.size_kb > 5 * 1024) return {};
    return {"sendPhoto", "photo"};
  }
  if (a.size_kb > 20 * 1024) return {};
  if (a.type == "audio") {
    if (ext == "mp3" || ext == "m4a") return {"sendAudio", "audio"};
    return {};
  }
  if (ext == "pdf" || ext == "zip" || ext == "gif") return {"sendDocument", "document"};
  return {};
}

}  // namespace

std::size_t telegram_length(const std::string& s) { return utf16_length(s); }

std::vector<std::string> telegram_split(const std::string& text, std::size_t limit) {
  return utf16_split(text, limit);
}

telegram_adapter::telegram_adapter(telegram_options cfg) : cfg_(std::move(cfg)) {
  cfg_.api_base = without_trailing_slashes(std::move(cfg_.api_base));
}

bool telegram_adapter::enabled() const { return !cfg_.token.empty() && !cfg_.secret.empty(); }

channel_caps telegram_adapter::caps() const {
  channel_caps c;
  c.max_buttons = max_buttons;
  return c;
}

std::string telegram_adapter::method_url(const std::string& method) const {
  return cfg_.api_base + "/bot" + cfg_.token + "/" + method;
}

std::string telegram_adapter::redact(std::string s) const {
  std::vector<std::string> secrets{cfg_.token, cfg_.secret};
  if (cfg_.token.find(':') != std::string::npos) {
    std::string enc = cfg_.token, enc_lower = cfg_.token;
    replace_all(enc, ":", "%3A");
    replace_all(enc_lower, ":", "%3a");
    secrets.push_back(enc);
    secrets.push_back(enc_lower);
  }
  return adapter_util::redact(std::move(s), std::move(secrets));
}

parse_result telegram_adapter::parse(const http_in& req) const {
  parse_result r;
  auto done = [&r](verdict v, std::string why) { return finish(r, v, std::move(why)); };
  if (!enabled()) return done(verdict::unauthorized, "telegram is not configured");
  const std::string* given = find_header(req.headers, "x-telegram-bot-api-secret-token");
  if (!given) return done(verdict::unauthorized, "no X-Telegram-Bot-Api-Secret-Token header");
  if (!constant_time_equal(*given, cfg_.secret))
    return done(verdict::unauthorized, "wrong X-Telegram-Bot-Api-Secret-Token");
  if (!req.method.empty() && req.method != "POST") return done(verdict::invalid, "method " + req.method);
  if (blank(req.body)) return done(verdict::invalid, "empty body");

  try {
    const std::string text = repair_json_text(req.body);
    const update_reader u(text);
    if (!u.is_object()) {
      if (u.document().is_discarded()) return done(verdict::invalid, "unable to parse the body as JSON");
      return done(verdict::invalid, "the body is not a JSON object");
    }
    const auto update_id = int64_text(u.at("update_id"));
    if (!update_id) return done(verdict::invalid, "no update_id");

    inbound_item item;
    item.provider_id = "u" + *update_id;
    auto deliver = [&](inbound_event ev) {
      ev.provider_id = item.provider_id;
      item.event = std::move(ev);
      r.items.push_back(std::move(item));
      return done(verdict::ok, {});
    };
    // The learner's chat: private only (the bot does not take part in groups).
    auto private_chat = [&](const chat_paths& chat, std::string& why) -> bool {
      if (!u.object_at(chat.chat)) return why = "no chat", false;
      const std::string type = u.string_at(chat.type);
      if (type != "private") return why = "not a private chat (" + type + ")", false;
      auto id = int64_text(u.at(chat.id));
      if (!id) return why = "bad chat id", false;
      item.address = *id;
      return true;
    };
    std::string why;

    if (u.object_at("message")) {
      if (!u.object_at(message_chat.chat)) return done(verdict::invalid, "message without chat");
      if (!private_chat(message_chat, why))
        return done(why == "bad chat id" ? verdict::invalid : verdict::ignored, why);
      item.contact = contact_of(u, message_from);
      if (const json* t = u.at("message/text"); t && t->is_string()) {
        const auto& s = t->get_ref<const std::string&>();
        if (auto ev = start_command(s)) return deliver(std::move(*ev));
        return deliver(inbound_event::message(s));  // verbatim: "{{contact.name}}" stays text
      }
      const auto& kinds = media_paths();
      for (std::size_t k = 0; k < kinds.size(); ++k)
        if (u.at(kinds[k])) {
          item.media_kind = std::string(media_kinds[k]);
          return deliver(inbound_event::message(u.string_at("message/caption")));
        }
      return done(verdict::ignored, "message without text or media (service message)");
    }

    if (u.object_at("callback_query")) {
      const std::string id = u.string_at("callback_query/id");
      if (id.empty()) return done(verdict::invalid, "callback_query without id");
      // Answered whatever becomes of the tap, or the button keeps spinning.
      r.ack.content_type = "application/json";
      r.ack.body = dump({{"method", "answerCallbackQuery"}, {"callback_query_id", id}});
      const bool from = u.object_at(tap_from.user) != nullptr;
      const bool message = u.object_at("callback_query/message") != nullptr;
      if (message && u.object_at(tap_chat.chat)) {
        if (!private_chat(tap_chat, why))
          return done(why == "bad chat id" ? verdict::invalid : verdict::ignored, why);
      } else {  // an inline message, or no message: in a private chat the chat id is the user id
        auto uid = from ? int64_text(u.at(tap_from.id)) : std::nullopt;
        if (!uid) return done(verdict::invalid, "callback_query without chat or user");
        item.address = *uid;
      }
      item.contact = contact_of(u, tap_from);
      const std::string data = u.string_at("callback_query/data");
      if (data.empty()) return done(verdict::ignored, "callback_query without data");
      // Remove the keyboard of the tapped message, so it cannot be tapped twice.
      if (const json* message_id = message ? u.at("callback_query/message/message_id") : nullptr) {
        if (message_id->is_structured())  // not an integer as Telegram sends it: given as it came
          message_id = json_text::at_path(u.document(), "callback_query/message/message_id");
        http_call edit;
        edit.url = method_url("editMessageReplyMarkup");
        edit.headers["Content-Type"] = "application/json";
        json body = {{"chat_id", json::parse(item.address, nullptr, false)},
                     {"message_id", *message_id},
                     {"reply_markup", {{"inline_keyboard", json::array()}}}};
        edit.body = dump(body);
        item.follow_up.push_back(std::move(edit));
      }
      return deliver(inbound_event::tap(data));
    }

    if (u.object_at("my_chat_member")) {
      if (!private_chat(member_chat, why))
        return done(why == "bad chat id" ? verdict::invalid : verdict::ignored, why);
      item.contact = contact_of(u, member_from);
      const std::string status = u.object_at("my_chat_member/new_chat_member")
                                     ? u.string_at("my_chat_member/new_chat_member/status")
                                     : std::string{};
      if (status == "kicked") return deliver(inbound_event::of(inbound_event::kind::opt_out));
      if (status == "member") return deliver(inbound_event::of(inbound_event::kind::opt_in));
      return done(verdict::ignored, "my_chat_member status '" + status + "'");
    }

    if (u.at("edited_message")) return done(verdict::ignored, "edited message");
    for (const auto& [k, v] : u.document().items())
      if (k != "update_id") return done(verdict::ignored, "unsupported update '" + k + "'");
    return done(verdict::ignored, "empty update");
  } catch (const std::exception& e) {  // a broken invariant of ours; never the provider's fault
    return done(verdict::invalid, std::string("malformed update: ") + e.what());
  }
}

// Plain text, no parse_mode: learner- and author-controlled text (names, answers echoed back,
// "{{…}}" kept verbatim) needs no escaping and can never break the message with a stray "<" or
// "*". Formatting can come later with HTML mode, escaping &, < and > in every text.
std::vector<http_call> telegram_adapter::render(const std::string& address, const outbound_message& m) const {
  // Bodies written by json_text::object (the bytes an nlohmann document would dump, without
  // building one for every message sent).
  std::string chat_id;
  {
    std::int64_t id = 0;
    const char* first = address.data();
    const char* last = address.data() + address.size();
    auto [p, ec] = std::from_chars(first, last, id);
    if (ec == std::errc{} && p == last && !address.empty())
      chat_id = std::to_string(id);
    else
      json_text::append_string(chat_id, address);  // "@channelusername" style; Telegram answers 400 for anything else
  }

  // Buttons when the engine asked for them, they are few enough and every ref is a valid
  // callback_data (1–64 bytes); otherwise the menu is numbered text (a typed number or label
  // answers a button menu too).
  const bool keyboard = m.menu == menu_style::buttons && !m.choices.empty() &&
                        m.choices.size() <= static_cast<std::size_t>(max_buttons) &&
                        std::all_of(m.choices.begin(), m.choices.end(), [](const outbound_choice& c) {
                          return !c.ref.empty() && c.ref.size() <= max_callback_data;
                        });
  std::string text = text_with_menu(m, keyboard);
  std::string markup;
  if (keyboard) {
    std::vector<std::string> rows;
    rows.reserve(m.choices.size());
    for (std::size_t i = 0; i < m.choices.size(); ++i) {
      const auto& c = m.choices[i];
      json_text::object button;
      button.string("callback_data", c.ref).string("text", blank(c.label) ? std::to_string(i + 1) : c.label);
      rows.push_back(json_text::array({button.text()}));
    }
    markup = json_text::object().raw("inline_keyboard", json_text::array(rows)).text();
  }

  std::vector<http_call> calls;
  auto call = [&](const std::string& method, const json_text::object& body) {
    http_call c;
    c.url = method_url(method);
    c.headers["content-type"] = "application/json";
    c.body = body.text();
    calls.push_back(std::move(c));
  };

  if (m.attachment) {
    const media& a = *m.attachment;
    const media_call mc = media_call_for(a);
    if (mc.method.empty()) {
      text = media_link(a) + (blank(text) ? "" : "\n" + text);  // as render_plain shows it
    } else {
      json_text::object body;
      body.raw("chat_id", chat_id).string(mc.field, a.url);
      const bool caption = !blank(text) && telegram_length(text) <= max_caption;
      if (caption) body.string("caption", text);
      if (keyboard && (caption || blank(text))) body.raw("reply_markup", markup);
      call(mc.method, body);
      if (caption || blank(text)) return calls;
      // A caption too long for the media: the text follows as message(s) of its own.
    }
  }

  std::vector<std::string> pieces = telegram_split(text, max_text);
  if (pieces.empty()) {
    if (!keyboard) return calls;  // nothing to say
    pieces.push_back("…");         // Telegram needs a text to hang the buttons on
  }
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    json_text::object body;
    body.raw("chat_id", chat_id);
    if (keyboard && i + 1 == pieces.size()) body.raw("reply_markup", markup);
    body.string("text", pieces[i]);
    call("sendMessage", body);
  }
  return calls;
}

send_result telegram_adapter::classify(int http_status, const std::string& body) const {
  send_result r;
  // Every field read is a scalar (or an object whose presence counts).
  static const json_text::path_set paths(
      {"ok", "error_code", "description", "result/message_id", "parameters/retry_after"});
  const std::optional<picked_values> v = pick_values(body, paths);
  const auto field = [&v](std::string_view path) -> const json* { return v ? v->find(path) : nullptr; };
  const json* said = field("description");
  std::string description = said && said->is_string() ? said->get<std::string>() : std::string{};
  // Telegram's HTTP status is its error_code; trust the envelope if a proxy said 200.
  int status = http_status;
  if (status >= 200 && status < 300) {
    const json* ok = field("ok");
    if (ok && ok->is_boolean() && !ok->get<bool>()) {
      const json* code = field("error_code");
      status = code && code->is_number_integer() ? code->get<int>() : 400;
    }
  }
  auto fail = [&](send_status s, std::string fallback) {
    r.status = s;
    r.error = redact(description.empty() ? std::move(fallback) : description);
    return r;
  };

  if (status >= 200 && status < 300) {
    const json* ok = field("ok");
    if (!ok || !ok->is_boolean() || !ok->get<bool>())
      return fail(send_status::connection_failed,
                  "HTTP " + std::to_string(http_status) + " without an ok:true envelope");
    if (auto id = int64_text(field("result/message_id"))) r.external_id = *id;
    r.status = send_status::ok;
    return r;
  }
  if (status == 429) {
    int after = 0;
    if (const json* ra = field("parameters/retry_after"); ra && ra->is_number_integer())
      after = static_cast<int>(std::clamp<std::int64_t>(ra->get<std::int64_t>(), 0, 24 * 3600));
    if (after == 0) {  // "Too Many Requests: retry after N"
      const auto at = description.rfind("retry after ");
      if (at != std::string::npos) {
        const char* p = description.data() + at + 12;
        std::from_chars(p, description.data() + description.size(), after);
      }
    }
    r.retry_after_s = after > 0 ? after : 1;
    return fail(send_status::throttled, "Too Many Requests");
  }
  // "Forbidden: bot was blocked by the user", "user is deactivated", "bot can't initiate
  // conversation with a user", "bot was kicked …": the learner is unreachable.
  if (status == 403) return fail(send_status::stopped, "Forbidden");
  if (status >= 400 && status < 500) return fail(send_status::rejected, "HTTP " + std::to_string(status));
  // 5xx, no answer (0), or anything unexpected: retry with backoff.
  return fail(send_status::connection_failed, "HTTP " + std::to_string(http_status));
}

}  // namespace aula
