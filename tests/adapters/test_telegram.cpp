#include "adapters/telegram/telegram.hpp"
#include "adapters/util.hpp"
#include "bot/engine/json_text.hpp"

#include <catch2/catch.hpp>

#include <cctype>
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

// Telegram's own example token (core.telegram.org/bots/api) and a webhook secret.
const std::string token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const std::string secret = "s3cr3t-T0ken_abc";
const std::string api = "https://api.telegram.org/bot" + token + "/";

telegram_adapter adapter() { return telegram_adapter({token, secret, "https://api.telegram.org"}); }

// ---------------------------------------------------------------------------------------------
// Incoming: raw updates as Telegram sends them.

const char* helloMsg = R"({"update_id":10001,"message":{"message_id":5,
  "from":{"id":12345,"is_bot":false,"first_name":"Ana","last_name":"López","username":"ana","language_code":"es"},
  "chat":{"id":12345,"first_name":"Ana","last_name":"López","type":"private"},"date":1767625200,"text":"Hola"}})";

const char* startPayloadMsg = R"({"update_id":10002,"message":{"message_id":6,
  "from":{"id":12345,"is_bot":false,"first_name":"Ana","language_code":"es"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"text":"/start modulo-1",
  "entities":[{"offset":0,"length":6,"type":"bot_command"}]}})";

const char* startMsg = R"({"update_id":10003,"message":{"message_id":7,
  "from":{"id":12345,"is_bot":false,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"text":"/start",
  "entities":[{"offset":0,"length":6,"type":"bot_command"}]}})";

const char* startAtBotMsg = R"({"update_id":10004,"message":{"message_id":8,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"text":"/start@AulaBot"}})";

const char* startTypedMsg = R"({"update_id":10005,"message":{"message_id":9,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"text":"/start hola mundo"}})";

const char* startleMsg = R"({"update_id":10006,"message":{"message_id":10,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"text":"/startle"}})";

const char* callbackMsg = R"({"update_id":10010,"callback_query":{"id":"4382bfdwdsb323b2d9",
  "from":{"id":12345,"is_bot":false,"first_name":"Ana","language_code":"es"},
  "message":{"message_id":77,"from":{"id":4242,"is_bot":true,"first_name":"Aula"},
    "chat":{"id":12345,"type":"private"},"date":1767625200,"text":"¿Cuál es la capital?"},
  "chat_instance":"-9172734","data":"r1a2.9f3c.0"}})";

const char* callbackInlineMsg = R"({"update_id":10011,"callback_query":{"id":"cq-2",
  "from":{"id":67890,"is_bot":false,"first_name":"Luis"},"inline_message_id":"AAAA","chat_instance":"1",
  "data":"r1a2.9f3c.1"}})";

const char* callbackGameMsg = R"({"update_id":10012,"callback_query":{"id":"cq-3",
  "from":{"id":12345,"first_name":"Ana"},"message":{"message_id":78,"chat":{"id":12345,"type":"private"},"date":1},
  "chat_instance":"1","game_short_name":"trivia"}})";

const char* callbackGroupMsg = R"({"update_id":10013,"callback_query":{"id":"cq-4",
  "from":{"id":12345,"first_name":"Ana"},"message":{"message_id":79,"chat":{"id":-1001234567890,"type":"supergroup","title":"Clase"},"date":1},
  "chat_instance":"1","data":"r1a2.9f3c.0"}})";

const char* editedMsg = R"({"update_id":10020,"edited_message":{"message_id":5,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"edit_date":1767625260,"text":"Hola!"}})";

const char* kickedMsg = R"({"update_id":10030,"my_chat_member":{"chat":{"id":12345,"first_name":"Ana","type":"private"},
  "from":{"id":12345,"is_bot":false,"first_name":"Ana","language_code":"es"},"date":1767625300,
  "old_chat_member":{"user":{"id":4242,"is_bot":true,"first_name":"Aula"},"status":"member"},
  "new_chat_member":{"user":{"id":4242,"is_bot":true,"first_name":"Aula"},"status":"kicked","until_date":0}}})";

const char* memberMsg = R"({"update_id":10031,"my_chat_member":{"chat":{"id":12345,"first_name":"Ana","type":"private"},
  "from":{"id":12345,"is_bot":false,"first_name":"Ana"},"date":1767625400,
  "old_chat_member":{"user":{"id":4242,"is_bot":true,"first_name":"Aula"},"status":"kicked","until_date":0},
  "new_chat_member":{"user":{"id":4242,"is_bot":true,"first_name":"Aula"},"status":"member"}}})";

const char* groupMemberMsg = R"({"update_id":10032,"my_chat_member":{"chat":{"id":-100999,"title":"Clase","type":"supergroup"},
  "from":{"id":12345,"first_name":"Ana"},"date":1,
  "old_chat_member":{"user":{"id":4242,"is_bot":true,"first_name":"Aula"},"status":"left"},
  "new_chat_member":{"user":{"id":4242,"is_bot":true,"first_name":"Aula"},"status":"member"}}})";

const char* photoMsg = R"({"update_id":10040,"message":{"message_id":11,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,
  "photo":[{"file_id":"AgAD1","file_unique_id":"u1","width":90,"height":67,"file_size":1254},
           {"file_id":"AgAD2","file_unique_id":"u2","width":320,"height":240,"file_size":16789}],
  "caption":"mi tarea"}})";

const char* voiceMsg = R"({"update_id":10041,"message":{"message_id":12,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,
  "voice":{"duration":3,"mime_type":"audio/ogg","file_id":"AwAD","file_unique_id":"v1","file_size":5620}}})";

const char* animationMsg = R"({"update_id":10042,"message":{"message_id":13,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,
  "animation":{"file_id":"CgAD","file_unique_id":"a1","width":1,"height":1,"duration":1},
  "document":{"file_id":"CgAD","file_unique_id":"a1"}}})";

const char* locationMsg = R"({"update_id":10043,"message":{"message_id":14,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"location":{"latitude":19.43,"longitude":-99.13}}})";

const char* pinnedMsg = R"({"update_id":10044,"message":{"message_id":15,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"pinned_message":{"message_id":3,"chat":{"id":12345,"type":"private"},"date":1}}})";

const char* groupMsg = R"({"update_id":10050,"message":{"message_id":16,"from":{"id":12345,"first_name":"Ana"},
  "chat":{"id":-1001234567890,"title":"Clase","type":"supergroup"},"date":1767625200,"text":"Hola a todos"}})";

const char* hugeIdMsg = R"({"update_id":10060,"message":{"message_id":17,"from":{"id":9007199254740993,"first_name":"Big"},
  "chat":{"id":9007199254740993,"type":"private"},"date":1767625200,"text":"hi"}})";

const char* maxIdMsg = R"({"update_id":9223372036854775807,"message":{"message_id":18,"from":{"id":9223372036854775807,"first_name":"Max"},
  "chat":{"id":9223372036854775807,"type":"private"},"date":1767625200,"text":"hi"}})";

const char* tooBigIdMsg = R"({"update_id":10061,"message":{"message_id":19,"from":{"id":1,"first_name":"X"},
  "chat":{"id":9223372036854775808,"type":"private"},"date":1767625200,"text":"hi"}})";

const char* floatIdMsg = R"({"update_id":10062,"message":{"message_id":20,"from":{"id":1,"first_name":"X"},
  "chat":{"id":1.5e3,"type":"private"},"date":1767625200,"text":"hi"}})";

const char* emojiMsg = R"({"update_id":10070,"message":{"message_id":21,"from":{"id":12345,"first_name":"Zoë","last_name":"Ñandú 🦤"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"text":"¡Sí! 👍🏽 ñandú 日本語 \ud83d\ude00"}})";

const char* templateMsg = R"({"update_id":10071,"message":{"message_id":22,"from":{"id":12345,"first_name":"{{contact.name}}"},
  "chat":{"id":12345,"type":"private"},"date":1767625200,"text":"Me llamo {{contact.name}} y {{ results.x }}"}})";

const char* noUpdateIdMsg = R"({"message":{"message_id":23,"chat":{"id":12345,"type":"private"},"date":1,"text":"hi"}})";

const char* inlineQueryMsg = R"({"update_id":10080,"inline_query":{"id":"iq","from":{"id":12345,"first_name":"Ana"},"query":"x","offset":""}})";

const char* wrongTypesMsg = R"({"update_id":10081,"message":{"message_id":24,"from":{"id":12345,"first_name":7},
  "chat":{"id":12345,"type":"private"},"date":1,"text":42}})";

std::map<std::string, std::string> signed_headers() {
  return {{"content-type", "application/json"}, {"x-telegram-bot-api-secret-token", secret}};
}

struct expected_item {
  std::string address;
  std::string provider_id;
  kind type;
  std::string value;  // text for text, choice for choice, flow for start
  std::string media_kind;
  std::map<std::string, std::string> contact;
};

struct incoming_case {
  std::string label;
  std::map<std::string, std::string> headers;
  std::string body;
  verdict expected_verdict;
  std::vector<expected_item> expected_items;
  std::string expected_ack_contains;  // "" = an empty ack (the server answers a plain 200)
  std::string method = "POST";
};

const std::map<std::string, std::string> ana_es = {{"name", "Ana López"}, {"language", "es"}};
const std::map<std::string, std::string> ana = {{"name", "Ana"}};

const std::vector<incoming_case> incoming_cases = {
    {"text message", signed_headers(), helloMsg, verdict::ok,
     {{"12345", "u10001", kind::text, "Hola", "", ana_es}}, ""},
    {"/start with a deep-link payload starts that flow", signed_headers(), startPayloadMsg, verdict::ok,
     {{"12345", "u10002", kind::start, "modulo-1", "", {{"name", "Ana"}, {"language", "es"}}}}, ""},
    {"/start alone is MENU", signed_headers(), startMsg, verdict::ok,
     {{"12345", "u10003", kind::text, "MENU", "", ana}}, ""},
    {"/start@bot is MENU", signed_headers(), startAtBotMsg, verdict::ok,
     {{"12345", "u10004", kind::text, "MENU", "", ana}}, ""},
    {"/start with a typed non-payload is MENU", signed_headers(), startTypedMsg, verdict::ok,
     {{"12345", "u10005", kind::text, "MENU", "", ana}}, ""},
    {"/startle is just text", signed_headers(), startleMsg, verdict::ok,
     {{"12345", "u10006", kind::text, "/startle", "", ana}}, ""},
    {"callback_query is a tap, acknowledged in the response", signed_headers(), callbackMsg, verdict::ok,
     {{"12345", "u10010", kind::choice, "r1a2.9f3c.0", "", {{"name", "Ana"}, {"language", "es"}}}},
     R"("callback_query_id":"4382bfdwdsb323b2d9")"},
    {"callback_query from an inline message uses the user id", signed_headers(), callbackInlineMsg, verdict::ok,
     {{"67890", "u10011", kind::choice, "r1a2.9f3c.1", "", {{"name", "Luis"}}}}, R"("callback_query_id":"cq-2")"},
    {"callback_query without data is ignored but acknowledged", signed_headers(), callbackGameMsg, verdict::ignored,
     {}, R"("method":"answerCallbackQuery")"},
    {"callback_query in a group is ignored but acknowledged", signed_headers(), callbackGroupMsg, verdict::ignored,
     {}, R"("callback_query_id":"cq-4")"},
    {"edited_message is ignored", signed_headers(), editedMsg, verdict::ignored, {}, ""},
    {"my_chat_member kicked is an opt-out", signed_headers(), kickedMsg, verdict::ok,
     {{"12345", "u10030", kind::opt_out, "", "", {{"name", "Ana"}, {"language", "es"}}}}, ""},
    {"my_chat_member back to member is an opt-in", signed_headers(), memberMsg, verdict::ok,
     {{"12345", "u10031", kind::opt_in, "", "", ana}}, ""},
    {"my_chat_member in a group is ignored", signed_headers(), groupMemberMsg, verdict::ignored, {}, ""},
    {"photo with caption", signed_headers(), photoMsg, verdict::ok,
     {{"12345", "u10040", kind::text, "mi tarea", "photo", ana}}, ""},
    {"voice note", signed_headers(), voiceMsg, verdict::ok, {{"12345", "u10041", kind::text, "", "voice", ana}}, ""},
    {"animation (which also carries a document)", signed_headers(), animationMsg, verdict::ok,
     {{"12345", "u10042", kind::text, "", "animation", ana}}, ""},
    {"location", signed_headers(), locationMsg, verdict::ok,
     {{"12345", "u10043", kind::text, "", "location", ana}}, ""},
    {"service message is ignored", signed_headers(), pinnedMsg, verdict::ignored, {}, ""},
    {"group chat is ignored", signed_headers(), groupMsg, verdict::ignored, {}, ""},
    {"inline_query is ignored", signed_headers(), inlineQueryMsg, verdict::ignored, {}, ""},
    {"invalid JSON", signed_headers(), "foo", verdict::invalid, {}, ""},
    {"truncated JSON", signed_headers(), R"({"update_id":1,"message":{)", verdict::invalid, {}, ""},
    {"not an object", signed_headers(), "[1,2]", verdict::invalid, {}, ""},
    {"empty body", signed_headers(), "", verdict::invalid, {}, ""},
    {"no update_id", signed_headers(), noUpdateIdMsg, verdict::invalid, {}, ""},
    {"fields of the wrong type", signed_headers(), wrongTypesMsg, verdict::ignored, {}, ""},
    {"missing secret", {{"content-type", "application/json"}}, helloMsg, verdict::unauthorized, {}, ""},
    {"wrong secret", {{"x-telegram-bot-api-secret-token", "s3cr3t-T0ken_abd"}}, helloMsg, verdict::unauthorized, {}, ""},
    {"secret prefix", {{"x-telegram-bot-api-secret-token", "s3cr3t-T0ken_ab"}}, helloMsg, verdict::unauthorized, {}, ""},
    {"secret with a suffix", {{"x-telegram-bot-api-secret-token", secret + " "}}, helloMsg, verdict::unauthorized, {}, ""},
    {"empty secret header", {{"x-telegram-bot-api-secret-token", ""}}, helloMsg, verdict::unauthorized, {}, ""},
    {"bad secret on an empty body is still unauthorized", {{"x-telegram-bot-api-secret-token", "x"}}, "",
     verdict::unauthorized, {}, ""},
    {"GET is invalid", signed_headers(), helloMsg, verdict::invalid, {}, "", "GET"},
    {"chat id above 2^53 stays exact", signed_headers(), hugeIdMsg, verdict::ok,
     {{"9007199254740993", "u10060", kind::text, "hi", "", {{"name", "Big"}}}}, ""},
    {"chat id and update id at INT64_MAX", signed_headers(), maxIdMsg, verdict::ok,
     {{"9223372036854775807", "u9223372036854775807", kind::text, "hi", "", {{"name", "Max"}}}}, ""},
    {"chat id beyond int64", signed_headers(), tooBigIdMsg, verdict::invalid, {}, ""},
    {"chat id not an integer", signed_headers(), floatIdMsg, verdict::invalid, {}, ""},
    {"UTF-8 and emoji intact", signed_headers(), emojiMsg, verdict::ok,
     {{"12345", "u10070", kind::text, "¡Sí! 👍🏽 ñandú 日本語 😀", "", {{"name", "Zoë Ñandú 🦤"}}}}, ""},
    {"template syntax is kept verbatim", signed_headers(), templateMsg, verdict::ok,
     {{"12345", "u10071", kind::text, "Me llamo {{contact.name}} y {{ results.x }}", "",
       {{"name", "{{contact.name}}"}}}},
     ""},
};

std::string value_of(const inbound_event& e) {
  switch (e.type) {
    case kind::text: return e.text;
    case kind::choice: return e.choice;
    case kind::start: return e.flow;
    default: return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Outgoing: channel-neutral messages in, Bot API calls out.

struct expected_call {
  std::string method;  // the URL's last segment
  json body;           // the whole body, compared as JSON
};

struct outgoing_case {
  std::string label;
  std::string address;
  outbound_message msg;
  std::vector<expected_call> expected_calls;
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
json keyboard(std::vector<std::pair<std::string, std::string>> buttons) {
  json rows = json::array();
  for (auto& [label, ref] : buttons) rows.push_back(json::array({json{{"text", label}, {"callback_data", ref}}}));
  return json{{"inline_keyboard", rows}};
}
std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

const std::vector<outbound_choice> yes_no = {{"r1.ab.0", "Sí"}, {"r1.ab.1", "No"}};
std::vector<outbound_choice> many(std::size_t n) {
  std::vector<outbound_choice> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back({"r1.ab." + std::to_string(i), "Opción " + std::to_string(i + 1)});
  return v;
}

const std::string para_a = repeat("a", 3000);
const std::string para_b = repeat("b", 2000);
const std::string words = repeat("palabra ", 1000);  // 8000 units, spaces everywhere
const std::string emoji = repeat("😀", 3000);        // 6000 UTF-16 units, 12000 bytes
const std::string early_para = repeat("c", 100) + "\n\n" + repeat("dd ", 2000);
const std::string long_caption = repeat("x", 1500);

const std::vector<outgoing_case> outgoing_cases = {
    {"plain text", "12345", text_msg("Hola, Ana"), {{"sendMessage", {{"chat_id", 12345}, {"text", "Hola, Ana"}}}}},
    {"markup-looking text goes as plain text, no parse_mode", "12345", text_msg("<b>1 & 2</b> *x* _y_"),
     {{"sendMessage", {{"chat_id", 12345}, {"text", "<b>1 & 2</b> *x* _y_"}}}}},
    {"chat id above 2^53 as an exact JSON number", "9007199254740993", text_msg("hi"),
     {{"sendMessage", {{"chat_id", 9007199254740993LL}, {"text", "hi"}}}}},
    {"negative chat id", "-1001234567890", text_msg("hi"),
     {{"sendMessage", {{"chat_id", -1001234567890LL}, {"text", "hi"}}}}},
    {"a non-numeric address goes as a string", "@canal", text_msg("hi"),
     {{"sendMessage", {{"chat_id", "@canal"}, {"text", "hi"}}}}},
    {"empty message sends nothing", "12345", text_msg(""), {}},
    {"buttons: an inline keyboard, one button per row", "12345",
     menu_msg("¿Seguimos?", menu_style::buttons, yes_no),
     {{"sendMessage",
       {{"chat_id", 12345}, {"text", "¿Seguimos?"}, {"reply_markup", keyboard({{"Sí", "r1.ab.0"}, {"No", "r1.ab.1"}})}}}}},
    {"eight buttons still a keyboard", "12345", menu_msg("Elige", menu_style::buttons, many(8)),
     {{"sendMessage",
       {{"chat_id", 12345},
        {"text", "Elige"},
        {"reply_markup", keyboard({{"Opción 1", "r1.ab.0"}, {"Opción 2", "r1.ab.1"}, {"Opción 3", "r1.ab.2"},
                                   {"Opción 4", "r1.ab.3"}, {"Opción 5", "r1.ab.4"}, {"Opción 6", "r1.ab.5"},
                                   {"Opción 7", "r1.ab.6"}, {"Opción 8", "r1.ab.7"}})}}}}},
    {"nine buttons become a numbered menu", "12345", menu_msg("Elige", menu_style::buttons, many(9)),
     {{"sendMessage",
       {{"chat_id", 12345},
        {"text", "Elige\n1. Opción 1\n2. Opción 2\n3. Opción 3\n4. Opción 4\n5. Opción 5\n6. Opción 6\n7. "
                 "Opción 7\n8. Opción 8\n9. Opción 9"}}}}},
    {"a ref over 64 bytes: numbered menu rather than a broken button", "12345",
     menu_msg("¿Seguimos?", menu_style::buttons, {{repeat("r", 65), "Sí"}, {"r1.ab.1", "No"}}),
     {{"sendMessage", {{"chat_id", 12345}, {"text", "¿Seguimos?\n1. Sí\n2. No"}}}}},
    {"a ref of exactly 64 bytes is a button", "12345",
     menu_msg("¿Seguimos?", menu_style::buttons, {{repeat("r", 64), "Sí"}}),
     {{"sendMessage",
       {{"chat_id", 12345}, {"text", "¿Seguimos?"}, {"reply_markup", keyboard({{"Sí", repeat("r", 64)}})}}}}},
    {"numbered menu as text lines", "12345", menu_msg("Elige", menu_style::numbered, yes_no),
     {{"sendMessage", {{"chat_id", 12345}, {"text", "Elige\n1. Sí\n2. No"}}}}},
    {"inline numbers as a row", "12345",
     menu_msg("¿Cuánto?", menu_style::inline_numbers, {{"a", "1"}, {"b", "2"}, {"c", "3"}}),
     {{"sendMessage", {{"chat_id", 12345}, {"text", "¿Cuánto?\n1 · 2 · 3"}}}}},
    {"buttons with no text hang on an ellipsis", "12345", menu_msg("", menu_style::buttons, yes_no),
     {{"sendMessage",
       {{"chat_id", 12345}, {"text", "…"}, {"reply_markup", keyboard({{"Sí", "r1.ab.0"}, {"No", "r1.ab.1"}})}}}}},
    {"exactly 4096 characters: one message", "12345", text_msg(repeat("x", 4096)),
     {{"sendMessage", {{"chat_id", 12345}, {"text", repeat("x", 4096)}}}}},
    {"4097 characters without a break: cut at 4096", "12345", text_msg(repeat("x", 4097)),
     {{"sendMessage", {{"chat_id", 12345}, {"text", repeat("x", 4096)}}},
      {"sendMessage", {{"chat_id", 12345}, {"text", "x"}}}}},
    {"split at the paragraph break, keyboard on the last part", "12345",
     menu_msg(para_a + "\n\n" + para_b, menu_style::buttons, yes_no),
     {{"sendMessage", {{"chat_id", 12345}, {"text", para_a}}},
      {"sendMessage",
       {{"chat_id", 12345}, {"text", para_b}, {"reply_markup", keyboard({{"Sí", "r1.ab.0"}, {"No", "r1.ab.1"}})}}}}},
    {"split at spaces", "12345", text_msg(words),
     {{"sendMessage", {{"chat_id", 12345}, {"text", repeat("palabra ", 511) + "palabra"}}},  // 4095 units
      {"sendMessage", {{"chat_id", 12345}, {"text", repeat("palabra ", 488)}}}}},
    {"an early paragraph break loses to a late space", "12345", text_msg(early_para),
     {{"sendMessage", {{"chat_id", 12345}, {"text", early_para.substr(0, 104 + 3 * 1330)}}},  // the last space that fits
      {"sendMessage", {{"chat_id", 12345}, {"text", early_para.substr(104 + 3 * 1330 + 1)}}}}},
    {"emoji count two units each and are never cut in half", "12345", text_msg(emoji),
     {{"sendMessage", {{"chat_id", 12345}, {"text", repeat("😀", 2048)}}},
      {"sendMessage", {{"chat_id", 12345}, {"text", repeat("😀", 952)}}}}},
    {"photo with caption and buttons", "12345",
     [] {
       auto m = media_msg("Mira el mapa", "image", "https://cdn.example/mapa.png");
       m.menu = menu_style::buttons;
       m.choices = yes_no;
       return m;
     }(),
     {{"sendPhoto",
       {{"chat_id", 12345},
        {"photo", "https://cdn.example/mapa.png"},
        {"caption", "Mira el mapa"},
        {"reply_markup", keyboard({{"Sí", "r1.ab.0"}, {"No", "r1.ab.1"}})}}}}},
    {"photo without text", "12345", media_msg("", "image", "https://cdn.example/a.jpg"),
     {{"sendPhoto", {{"chat_id", 12345}, {"photo", "https://cdn.example/a.jpg"}}}}},
    {"caption over 1024: the media bare, then the text", "12345",
     media_msg(long_caption, "image", "https://cdn.example/a.jpg"),
     {{"sendPhoto", {{"chat_id", 12345}, {"photo", "https://cdn.example/a.jpg"}}},
      {"sendMessage", {{"chat_id", 12345}, {"text", long_caption}}}}},
    {"PDF document", "12345", media_msg("La guía", "document", "https://cdn.example/guia.pdf?v=2", "guia.pdf"),
     {{"sendDocument",
       {{"chat_id", 12345}, {"document", "https://cdn.example/guia.pdf?v=2"}, {"caption", "La guía"}}}}},
    {"a document Telegram cannot fetch by URL goes as a link", "12345",
     media_msg("La guía", "document", "https://cdn.example/guia.docx", "guia.docx"),
     {{"sendMessage", {{"chat_id", 12345}, {"text", "📄 https://cdn.example/guia.docx (guia.docx)\nLa guía"}}}}},
    {"MP3 audio", "12345", media_msg("Escucha", "audio", "https://cdn.example/a.MP3"),
     {{"sendAudio", {{"chat_id", 12345}, {"audio", "https://cdn.example/a.MP3"}, {"caption", "Escucha"}}}}},
    {"an image over 5 MB goes as a link", "12345", media_msg("", "image", "https://cdn.example/big.png", "", 6000),
     {{"sendMessage", {{"chat_id", 12345}, {"text", "🖼 https://cdn.example/big.png"}}}}},
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

const std::vector<classify_case> classify_cases = {
    {"sent, with message_id", 200,
     R"({"ok":true,"result":{"message_id":42,"from":{"id":4242,"is_bot":true,"first_name":"Aula"},"chat":{"id":12345,"type":"private"},"date":1,"text":"hi"}})",
     send_status::ok, "42", 0, ""},
    {"ok:true with result true (answerCallbackQuery)", 200, R"({"ok":true,"result":true})", send_status::ok, "", 0, ""},
    {"429 with parameters.retry_after", 429,
     R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 2","parameters":{"retry_after":2}})",
     send_status::throttled, "", 2, "Too Many Requests"},
    {"429 with the delay only in the description", 429,
     R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7"})", send_status::throttled, "",
     7, "retry after 7"},
    {"429 with no hint waits a second", 429, "", send_status::throttled, "", 1, "Too Many Requests"},
    {"403 blocked by the user", 403,
     R"({"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"})", send_status::stopped,
     "", 0, "blocked"},
    {"403 user deactivated", 403, R"({"ok":false,"error_code":403,"description":"Forbidden: user is deactivated"})",
     send_status::stopped, "", 0, "deactivated"},
    {"400 chat not found", 400, R"({"ok":false,"error_code":400,"description":"Bad Request: chat not found"})",
     send_status::rejected, "", 0, "Bad Request: chat not found"},
    {"401 bad token", 401, R"({"ok":false,"error_code":401,"description":"Unauthorized"})", send_status::rejected, "",
     0, "Unauthorized"},
    {"500", 500, R"({"ok":false,"error_code":500,"description":"Internal Server Error"})",
     send_status::connection_failed, "", 0, "Internal Server Error"},
    {"502 from a proxy, HTML", 502, "<html>Bad Gateway</html>", send_status::connection_failed, "", 0, "HTTP 502"},
    {"200 with a garbage body", 200, "<html>", send_status::connection_failed, "", 0, "HTTP 200"},
    {"200 with ok:false and error_code 403", 200,
     R"({"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"})", send_status::stopped,
     "", 0, "blocked"},
    {"no answer at all", 0, "", send_status::connection_failed, "", 0, "HTTP 0"},
    // The quick reading of a 200 must agree with the full one on the odd ones too.
    {"ok:true, message_id as text is not an id", 200, R"({"ok":true,"result":{"message_id":"42"}})", send_status::ok,
     "", 0, ""},
    {"ok:true, message_id deeper is not the result's", 200, R"({"ok":true,"result":{"chat":{"message_id":9}}})",
     send_status::ok, "", 0, ""},
    {"ok repeated: the last one counts", 200, R"({"ok":true,"ok":false,"error_code":403,"description":"Forbidden"})",
     send_status::stopped, "", 0, "Forbidden"},
    {"ok:\"true\" as text is no envelope", 200, R"({"ok":"true","result":{"message_id":1}})",
     send_status::connection_failed, "", 0, "without an ok:true envelope"},
    {"cut off mid-answer", 200, R"({"ok":true,"result":{"message_id":42,"text":"¿Segu)", send_status::connection_failed,
     "", 0, "HTTP 200"},
    {"an array at the top", 200, R"([{"ok":true}])", send_status::connection_failed, "", 0, "HTTP 200"},
    {"a huge message_id", 200, R"({"ok":true,"result":{"message_id":9223372036854775807,"text":"¡Listo! 🎉"}})",
     send_status::ok, "9223372036854775807", 0, ""},
};

}  // namespace

TEST_CASE("telegram: identity, caps and configuration") {
  auto a = adapter();
  CHECK(a.name() == "telegram");
  CHECK(a.enabled());
  CHECK(a.caps().max_buttons == 8);
  CHECK_FALSE(telegram_adapter({token, "", "https://api.telegram.org"}).enabled());
  CHECK_FALSE(telegram_adapter({"", secret, "https://api.telegram.org"}).enabled());
  // A disabled adapter accepts nothing, even a request without the header.
  telegram_adapter off({token, "", "https://api.telegram.org"});
  CHECK(off.parse({"POST", "/webhooks/telegram", {{"x-telegram-bot-api-secret-token", ""}}, helloMsg}).outcome ==
        verdict::unauthorized);
  CHECK(telegram_adapter({token, secret, "http://127.0.0.1:8081/"}).method_url("sendMessage") ==
        "http://127.0.0.1:8081/bot" + token + "/sendMessage");
}

TEST_CASE("telegram: incoming updates") {
  const auto a = adapter();
  for (const auto& c : incoming_cases) {
    DYNAMIC_SECTION(c.label) {
      const parse_result r = a.parse({c.method, "/webhooks/telegram", c.headers, c.body});
      INFO("reason: " << r.reason);
      CHECK(r.outcome == c.expected_verdict);
      if (r.outcome != verdict::ok) CHECK_FALSE(r.reason.empty());
      REQUIRE(r.items.size() == c.expected_items.size());
      for (std::size_t i = 0; i < r.items.size(); ++i) {
        const auto& got = r.items[i];
        const auto& want = c.expected_items[i];
        CHECK(got.address == want.address);
        CHECK(got.provider_id == want.provider_id);
        CHECK(got.event.provider_id == want.provider_id);
        CHECK(got.event.type == want.type);
        CHECK(value_of(got.event) == want.value);
        CHECK(got.media_kind == want.media_kind);
        CHECK(got.contact == want.contact);
      }
      if (c.expected_ack_contains.empty()) {
        CHECK(r.ack.body.empty());
      } else {
        CHECK(r.ack.status == 200);
        CHECK(r.ack.content_type == "application/json");
        CHECK_THAT(r.ack.body, Contains(c.expected_ack_contains));
        const json ack = json::parse(r.ack.body);
        CHECK(ack["method"] == "answerCallbackQuery");
      }
      // Nothing the adapter returns carries a secret.
      for (const std::string& s : {r.reason, r.ack.body}) {
        CHECK_THAT(s, !Contains(secret));
        CHECK_THAT(s, !Contains(token));
      }
    }
  }
}

// Everything parse() answers, as text, to compare two answers whole.
std::string described(const parse_result& r) {
  std::string out = std::to_string(static_cast<int>(r.outcome)) + "|" + r.reason + "|" + r.ack.content_type + "|" +
                    r.ack.body + "\n";
  for (const auto& i : r.items) {
    const auto& e = i.event;
    out += i.address + "|" + i.provider_id + "|" + std::to_string(static_cast<int>(e.type)) + "|" + e.text + "|" +
           e.flow + "|" + e.choice + "|" + e.provider_id + "|" + i.media_kind + "|" + i.media_id + "\n";
    for (const auto& [k, v] : i.contact) out += " contact " + k + "=" + v + "\n";
    for (const auto& f : i.follow_up) out += " call " + f.method + " " + f.url + " " + f.body + "\n";
  }
  return out;
}

TEST_CASE("telegram: an update read from its values or from its whole document reads the same") {
  // parse() reads an update's values without its document (json_text::pick) and reads the
  // document only where pick gives up — as it does when a member the paths go through is
  // given twice. The same update with such a member repeated first (the document keeps the
  // last) must read the same, down to every byte of the answer.
  const auto a = adapter();
  std::vector<std::string> bodies;
  for (const char* b : {helloMsg, startPayloadMsg, startMsg, startAtBotMsg, startTypedMsg, startleMsg, callbackMsg,
                        callbackInlineMsg, callbackGameMsg, callbackGroupMsg, editedMsg, kickedMsg, memberMsg,
                        groupMemberMsg, photoMsg, voiceMsg, animationMsg, locationMsg, pinnedMsg, groupMsg, hugeIdMsg,
                        maxIdMsg, tooBigIdMsg, emojiMsg, templateMsg, inlineQueryMsg, wrongTypesMsg})
    bodies.emplace_back(b);
  // Shapes the examples lack: odd types where objects are expected, a message id that is an
  // object, a caption with escapes, a user without names, an unknown update beside an empty one.
  for (const char* b : {
           R"({"update_id":1,"message":{"chat":{"id":7,"type":"private"},"from":"Ana","text":"hola"}})",
           R"({"update_id":2,"message":{"chat":{"id":7,"type":"private"},"from":{"first_name":5,"last_name":"Ruiz"},"document":{"file_id":"x"},"caption":"\u00bfQu\u00e9 es \"esto\"?\n\ud83d\ude00"}})",
           R"({"update_id":3,"callback_query":{"id":"q","from":{"id":9},"message":{"message_id":{"x":[1,2]},"chat":{"id":9,"type":"private"}},"data":"d"}})",
           R"({"update_id":4,"callback_query":{"id":"q","from":{"id":9},"message":{"message_id":[3],"chat":"no"},"data":"d"}})",
           R"({"update_id":5,"callback_query":{"id":"q","message":{"message_id":12},"data":"d"}})",
           R"({"update_id":6,"my_chat_member":{"chat":{"id":9,"type":"private"},"new_chat_member":"kicked"}})",
           R"({"update_id":7,"poll_answer":{"poll_id":"p"},"chat_join_request":{}})",
           R"({"update_id":8})",
           R"({"update_id":9,"message":{"chat":{"id":7,"type":"private"},"text":["hola"],"sticker":{}}})",
           R"({"update_id":-10,"message":{"chat":{"id":-7,"type":"private"},"text":null,"caption":"x"}})"})
    bodies.emplace_back(b);
  int forced = 0;
  for (const auto& body : bodies) {
    INFO(body);
    const json doc = json::parse(body);
    std::string key;
    for (const char* k : {"message", "callback_query", "my_chat_member", "edited_message", "update_id"})
      if (doc.contains(k)) {
        key = k;
        break;
      }
    REQUIRE_FALSE(key.empty());
    std::string repeated = body;
    repeated.insert(body.find('{') + 1, "\"" + key + "\":{\"chat\":{}},");
    CHECK(json::parse(repeated) == doc);
    CHECK_FALSE(json_text::pick(repeated, {std::string_view(key)}));  // the document is read
    const auto headers = signed_headers();
    const parse_result picked = a.parse({"POST", "/webhooks/telegram", headers, body});
    const parse_result whole = a.parse({"POST", "/webhooks/telegram", headers, repeated});
    CHECK(described(picked) == described(whole));
    ++forced;
  }
  CHECK(forced == static_cast<int>(bodies.size()));
}

TEST_CASE("telegram: outgoing messages") {
  const auto a = adapter();
  for (const auto& c : outgoing_cases) {
    DYNAMIC_SECTION(c.label) {
      const auto calls = a.render(c.address, c.msg);
      REQUIRE(calls.size() == c.expected_calls.size());
      for (std::size_t i = 0; i < calls.size(); ++i) {
        const auto& got = calls[i];
        const auto& want = c.expected_calls[i];
        CHECK(got.method == "POST");
        CHECK(got.url == api + want.method);
        CHECK(got.headers.at("content-type") == "application/json");
        const json body = json::parse(got.body);  // throws on invalid UTF-8: it must be valid
        INFO("body: " << got.body.substr(0, 300));
        CHECK(body == want.body);
        CHECK(got.body == body.dump());  // the bytes nlohmann writes: compact, keys in order
        CHECK_FALSE(body.contains("parse_mode"));
        if (body.contains("text")) CHECK(telegram_length(body["text"].get<std::string>()) <= 4096);
        if (body.contains("caption")) CHECK(telegram_length(body["caption"].get<std::string>()) <= 1024);
        // The token lives in the URL path only.
        CHECK_THAT(got.body, !Contains(token));
        CHECK_THAT(a.redact(got.url), !Contains(token));
      }
    }
  }
}

TEST_CASE("telegram: invalid UTF-8 from a flow never throws") {
  const auto calls = adapter().render("12345", text_msg("ok \xff\xfe end"));
  REQUIRE(calls.size() == 1);
  CHECK(json::parse(calls[0].body)["text"] == "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
  CHECK(calls[0].body == json::parse(calls[0].body).dump());
}

TEST_CASE("telegram: lengths in UTF-16 code units") {
  CHECK(telegram_length("") == 0);
  CHECK(telegram_length("abc") == 3);
  CHECK(telegram_length("ñandú") == 5);
  CHECK(telegram_length("日本語") == 3);
  CHECK(telegram_length("😀") == 2);
  CHECK(telegram_length("👍🏽") == 4);  // two code points above U+FFFF
  CHECK(telegram_length("\xff") == 1);
}

TEST_CASE("telegram: split pieces rebuild the text and fit") {
  const std::string text = repeat("Una línea con ñ y 😀.\n", 300) + "\n\n" + repeat("palabra ", 900) + repeat("z", 5000);
  const auto pieces = telegram_split(text, 4096);
  REQUIRE(pieces.size() >= 3);
  std::string joined;
  for (const auto& p : pieces) {
    CHECK(telegram_length(p) <= 4096);
    CHECK_NOTHROW(json(p).dump());  // valid UTF-8: no code point was cut
    joined += p;
  }
  // Only break characters are dropped.
  std::string squeezed;
  for (char ch : text)
    if (ch != '\n' && ch != ' ') squeezed += ch;
  std::string squeezed_joined;
  for (char ch : joined)
    if (ch != '\n' && ch != ' ') squeezed_joined += ch;
  CHECK(squeezed_joined == squeezed);
  CHECK(telegram_split("   \n\n  ", 4096).empty());
  CHECK(telegram_split("😀😀", 1).size() == 2);  // a limit below one code point still advances
}

TEST_CASE("telegram: classifying the Bot API's answers") {
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

TEST_CASE("adapters: values picked from a JSON body without its document") {
  using adapter_util::pick_values;
  const std::string body =
      R"({"ok":true,"result":{"message_id":42,"chat":{"id":-100123,"title":"Comisión de Oaxaca 🌽"},)"
      R"("entities":[{"type":"bold"},{"type":"italic","offset":3}],"text":"¿Qué edad mínima fija la ley?"},)"
      R"("list":[[1,2],[3]],"flag":null,"ratio":0.5,"big":18446744073709551615})";
  const std::vector<std::string_view> paths{"ok", "result/message_id", "result/chat/title", "result/entities/#1/type",
                                            "result/entities", "result/text", "list/#1/#0", "flag", "ratio", "big",
                                            "result/missing", "result/chat"};
  auto v = pick_values(body, paths);
  REQUIRE(v);
  // Each picked value is what the parsed document holds at that place.
  const json doc = json::parse(body);
  for (const char* p : {"/ok", "/result/message_id", "/result/chat/title", "/result/entities/1/type", "/result/text",
                        "/list/1/0", "/flag", "/ratio", "/big"}) {
    std::string path = std::string(p + 1);
    for (std::size_t at = 0; (at = path.find('/', at)) != std::string::npos; ++at)
      if (at + 1 < path.size() && std::isdigit(static_cast<unsigned char>(path[at + 1]))) path.insert(at + 1, "#");
    INFO(path);
    const json* got = v->find(path);
    REQUIRE(got);
    CHECK(*got == doc.at(json::json_pointer(p)));
  }
  CHECK(v->find("result/text")->get<std::string>() == "¿Qué edad mínima fija la ley?");
  // A container is kept as an empty one of its kind; what is not there is not found.
  CHECK(v->find("result/entities")->is_array());
  CHECK(v->find("result/chat")->is_object());
  CHECK(v->find("result/missing") == nullptr);
  CHECK(v->find("result/entities/#0/type") == nullptr);  // not asked for
  // Not JSON, not an object, cut off: nothing.
  CHECK_FALSE(pick_values("<html>", paths));
  CHECK_FALSE(pick_values("[1,2]", paths));
  CHECK_FALSE(pick_values("\"ok\"", paths));
  CHECK_FALSE(pick_values(R"({"ok":true,"result":{"message_id":4)", paths));
  CHECK_FALSE(pick_values(R"({"ok":true} {"ok":false})", paths));
  CHECK_FALSE(pick_values("", paths));
  // Names that could read as a position or a separator are escaped.
  auto odd = pick_values(R"({"#0":{"a/b":1},"list":{"#0":2},"x\\y":3})", {"#0/a/b", "list/#0", "\\#0/a\\/b", "x\\\\y"});
  REQUIRE(odd);
  CHECK(odd->find("#0/a/b") == nullptr);
  CHECK(odd->find("list/#0") == nullptr);
  CHECK(odd->find("\\#0/a\\/b")->get<int>() == 1);
  CHECK(odd->find("x\\\\y")->get<int>() == 3);
  // A member given twice counts as its last value, as in the document.
  auto twice = pick_values(R"({"ok":true,"ok":false})", paths);
  REQUIRE(twice);
  CHECK(*twice->find("ok") == json::parse(R"({"ok":true,"ok":false})")["ok"]);
}

TEST_CASE("telegram: secrets never reach logs") {
  const auto a = adapter();
  std::string encoded = token;
  encoded.replace(encoded.find(':'), 1, "%3A");
  for (const std::string& s : {a.method_url("sendMessage"), "GET " + a.method_url("getMe") + "?x=" + token,
                               "token=" + encoded + "&secret=" + secret, token + token}) {
    const std::string r = a.redact(s);
    CHECK_THAT(r, !Contains(token));
    CHECK_THAT(r, !Contains(encoded));
    CHECK_THAT(r, !Contains(secret));
    CHECK_THAT(r, !Contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
    CHECK_THAT(r, Contains("<redacted>"));
  }
  CHECK(a.redact("nothing secret here") == "nothing secret here");
  CHECK(a.redact(a.method_url("sendMessage")) == "https://api.telegram.org/bot<redacted>/sendMessage");
  // A provider description that echoes the token is redacted too.
  const auto r = a.classify(400, json{{"ok", false}, {"error_code", 400}, {"description", "bad bot" + token}}.dump());
  CHECK_THAT(r.error, !Contains(token));
}

TEST_CASE("telegram: a tap removes the keyboard of the tapped message (follow-up call)") {
  const std::string tap = R"({"update_id":20001,"callback_query":{"id":"cb-9","data":"abc.def.1",
    "chat_instance":"x","from":{"id":12345,"is_bot":false,"first_name":"Ana"},
    "message":{"message_id":77,"date":1767625200,"chat":{"id":12345,"type":"private"},"text":"¿Sí?"}}})";
  http_in req{"POST", "/webhooks/telegram", {{"x-telegram-bot-api-secret-token", secret}}, tap};
  auto r = adapter().parse(req);
  REQUIRE(r.outcome == verdict::ok);
  REQUIRE(r.items.size() == 1);
  REQUIRE(r.items[0].follow_up.size() == 1);
  const auto& call = r.items[0].follow_up[0];
  CHECK(call.url == api + "editMessageReplyMarkup");
  auto body = json::parse(call.body);
  CHECK(body["chat_id"] == 12345);
  CHECK(body["message_id"] == 77);
  CHECK(body["reply_markup"]["inline_keyboard"] == json::array());
  // A typed message has no follow-up.
  http_in text{"POST", "/webhooks/telegram", {{"x-telegram-bot-api-secret-token", secret}}, helloMsg};
  auto t = adapter().parse(text);
  REQUIRE(t.items.size() == 1);
  CHECK(t.items[0].follow_up.empty());
}

TEST_CASE("telegram: lone surrogates and bytes that are not UTF-8 arrive as U+FFFD") {
  const std::string fffd = "\xEF\xBF\xBD";
  auto text_of = [](const std::string& text_json) {
    const std::string body = R"({"update_id":10900,"message":{"message_id":1,"from":{"id":12345,"first_name":"Ana"},)"
                             R"("chat":{"id":12345,"type":"private"},"date":1,"text":")" + text_json + R"("}})";
    const parse_result r = adapter().parse({"POST", "/webhooks/telegram", signed_headers(), body});
    REQUIRE(r.outcome == verdict::ok);
    REQUIRE(r.items.size() == 1);
    return r.items[0].event.text;
  };
  CHECK(text_of(R"(a\udc80b)") == "a" + fffd + "b");            // a low surrogate alone
  CHECK(text_of(R"(a\ud83db)") == "a" + fffd + "b");            // a high surrogate alone
  CHECK(text_of(R"(\ud83d\ud83d\ude00)") == fffd + "\xF0\x9F\x98\x80");  // a broken one, then a pair
  CHECK(text_of(R"(x\\udc80)") == "x\\udc80");                  // an escaped backslash, not an escape
  CHECK(text_of("a\xff\xfe" "b") == "a" + fffd + fffd + "b");   // raw bytes
  CHECK(text_of("\xC0\xAF") == fffd + fffd);                    // an overlong '/'
  CHECK(text_of("\xED\xA0\x80") == fffd + fffd + fffd);         // a surrogate encoded in UTF-8
  CHECK(text_of("\u200b\u202e\u0645\u0631\u062d\u0628\u0627") == "\u200b\u202e\u0645\u0631\u062d\u0628\u0627");
  CHECK(adapter_util::repair_json_text(R"({"ok":"\u00e9 \ud83d\ude00"})") == R"({"ok":"\u00e9 \ud83d\ude00"})");
}

TEST_CASE("repair_json_text repairs a sequence alike wherever it stands in the body") {
  // Bodies are read sixteen bytes a step where nothing needs a look: a sequence (each shorter
  // than sixteen bytes, so repaired alone without that step) at every offset around those
  // steps, between plain bytes, must come out as it does alone.
  const std::vector<std::string> sequences = {R"(\udc80)", R"(\ud83d\ude00)", R"(\ud83dx)", R"(\\udc80)", "\xff\xfe",
                                              "\xC0\xAF", "\xED\xA0\x80", "\xC3\xB1", "\xF0\x9F\x98\x80", "\xF0\x9F\x98",
                                              R"(\")", "\\", "\xE2\x80"};
  int checked = 0;
  for (const auto& seq : sequences)
    for (std::size_t before = 0; before <= 40; ++before)
      for (std::size_t after : {0, 1, 15, 16, 17, 33}) {
        const std::string pad_before(before, 'a'), pad_after(after, 'z');
        INFO(before << " " << after << " " << json(seq).dump(-1, ' ', true, json::error_handler_t::replace));
        CHECK(adapter_util::repair_json_text(pad_before + seq + pad_after) ==
              pad_before + adapter_util::repair_json_text(seq) + pad_after);
        ++checked;
      }
  CHECK(checked == 13 * 41 * 6);
  CHECK(adapter_util::repair_json_text("\xff") == "\xEF\xBF\xBD");  // the step's own answer is checked too
}

TEST_CASE("constant_time_equal: equal only when every byte and the length match") {
  using adapter_util::constant_time_equal;
  CHECK(constant_time_equal("s3cr3t-ñ", "s3cr3t-ñ"));
  CHECK(constant_time_equal("", ""));
  CHECK_FALSE(constant_time_equal("s3cr3t-ñ", "s3cr3t-n"));
  CHECK_FALSE(constant_time_equal("s3cr3t", "s3cr3t-ñ"));     // a prefix
  CHECK_FALSE(constant_time_equal("s3cr3ts3cr3t", "s3cr3t"));  // the secret repeated
  CHECK_FALSE(constant_time_equal("", "s3cr3t"));
  CHECK_FALSE(constant_time_equal("x", ""));
  CHECK_FALSE(constant_time_equal(std::string("ab\0c", 4), std::string("ab\0d", 4)));
  CHECK(constant_time_equal(std::string("ab\0c", 4), std::string("ab\0c", 4)));
}
