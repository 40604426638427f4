// The sender's reading of an outbox entry (bot/delivery/held_entry): the fields it sends from,
// picked from the stored text, must be what the entry says — the message the service wrote
// (to_json) comes back whole — and what the entry's document says, whichever way it is read.
#include "bot/delivery/held_entry.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/engine/json_text.hpp"
#include "bot/engine/render.hpp"

namespace {

using namespace aula;
using delivery_detail::held_entry;
using delivery_detail::hold;
using nlohmann::json;

std::string any_text(std::mt19937& rng, bool may_be_empty = true) {
  static const std::vector<std::string> parts{"a",  "Hola",   "¿Qué edad mínima fija la ley?", "ñ", "😀", "\"",
                                              "\\", "\n",     "{{contact.name}}", "1", "/",      "#0", "\t"};
  std::string s;
  const int n = std::uniform_int_distribution<int>(may_be_empty ? 0 : 1, 5)(rng);
  for (int k = 0; k < n; ++k) s += parts[std::uniform_int_distribution<std::size_t>(0, parts.size() - 1)(rng)];
  return s;
}

outbound_message any_message(std::mt19937& rng) {
  outbound_message m;
  m.text = any_text(rng);
  if (rng() % 2) m.node = any_text(rng, false);
  m.menu = static_cast<menu_style>(rng() % 4);
  for (int k = std::uniform_int_distribution<int>(0, rng() % 4 == 0 ? 20 : 4)(rng); k > 0; --k)
    m.choices.push_back({any_text(rng), any_text(rng)});
  if (rng() % 3 == 0) {
    media a;
    a.type = rng() % 2 ? "image" : "document";
    a.url = "https://ejemplo.mx/" + any_text(rng);
    if (rng() % 2) a.filename = any_text(rng, false) + ".pdf";
    m.attachment = a;
  }
  m.unsolicited = rng() % 2;
  if (rng() % 3 == 0) m.template_name = "recordatorio_" + std::to_string(rng() % 9);
  return m;
}

// Everything the sender reads of an entry, as one text.
std::string described(const held_entry& h) {
  std::string out = h.id + "|" + h.conv + "|" + std::to_string(h.v) + "|" + std::to_string(h.i) + "|" +
                    std::to_string(h.in) + "|" + (h.webhook ? "W" : "-") + (h.call ? "C" : "-") + "\n";
  if (h.msg) {
    const auto& m = *h.msg;
    out += "msg " + m.text + "|" + m.node + "|" + std::to_string(static_cast<int>(m.menu)) + "|" +
           (m.unsolicited ? "bulk" : "") + "|" + m.template_name + "\n";
    for (const auto& c : m.choices) out += " choice " + c.ref + "|" + c.label + "\n";
    if (m.attachment) out += " media " + m.attachment->type + "|" + m.attachment->url + "|" + m.attachment->filename + "\n";
  }
  return out;
}

held_entry held(const std::string& text) {
  raw_entry e{"reply:1-0", text};
  return hold(e);
}

held_entry held_by_paths(const std::string& text) {
  raw_entry e{"reply:1-0", text};
  return delivery_detail::hold_by_paths(e);
}

// The one-pass reading when it does not give up.
std::optional<held_entry> read_directly(const std::string& text) {
  held_entry h;
  h.id = "reply:1-0";
  if (!delivery_detail::read_entry(text, h)) return std::nullopt;
  return h;
}

// The same entry with a member the reader looks into repeated first (the document keeps the
// last): json_text::pick gives up, so the entry is read from its document.
std::string read_whole(const std::string& text) {
  std::string t = text;
  t.insert(text.find('{') + 1, R"("msg":{"text":"x"},)");
  return t;
}

}  // namespace

TEST_CASE("held entry: the message the service wrote comes back whole from the entry's text") {
  std::mt19937 rng(29);
  for (int k = 0; k < 1500; ++k) {
    const outbound_message m = any_message(rng);
    json entry = {{"conv", "telegram:" + std::to_string(rng() % 100000)},
                  {"lane", m.unsolicited ? "bulk" : "reply"},
                  {"msg", to_json(m)},
                  {"v", static_cast<std::int64_t>(rng() % 1000)},
                  {"i", static_cast<std::int64_t>(rng() % 5)}};
    if (rng() % 2) entry["in"] = std::int64_t{1767625200000} + static_cast<std::int64_t>(rng() % 100000);
    const std::string text = json_text::write(entry);
    INFO(text);
    const held_entry h = held(text);
    CHECK(h.id == "reply:1-0");
    CHECK(h.text == text);
    CHECK(h.conv == entry["conv"].get<std::string>());
    CHECK(h.v == entry["v"].get<std::int64_t>());
    CHECK(h.i == entry["i"].get<std::int64_t>());
    CHECK(h.in == entry.value("in", std::int64_t{0}));
    CHECK_FALSE(h.webhook);
    CHECK_FALSE(h.call);
    REQUIRE(h.msg);
    CHECK(h.msg->text == m.text);
    CHECK(h.msg->node == m.node);
    CHECK(h.msg->menu == m.menu);
    REQUIRE(h.msg->choices.size() == m.choices.size());  // more than 16: read from the document
    for (std::size_t c = 0; c < m.choices.size(); ++c) {
      CHECK(h.msg->choices[c].ref == m.choices[c].ref);
      CHECK(h.msg->choices[c].label == m.choices[c].label);
    }
    REQUIRE(h.msg->attachment.has_value() == m.attachment.has_value());
    if (m.attachment) {
      CHECK(h.msg->attachment->type == m.attachment->type);
      CHECK(h.msg->attachment->url == m.attachment->url);
      CHECK(h.msg->attachment->filename == m.attachment->filename);
    }
    CHECK(h.msg->unsolicited == m.unsolicited);
    CHECK(h.msg->template_name == m.template_name);
    // Read in one pass, and by paths the same.
    const auto direct = read_directly(text);
    REQUIRE(direct);
    CHECK(described(*direct) == described(h));
    CHECK(described(held_by_paths(text)) == described(h));
    // The document says the same.
    CHECK(described(h) == described(held(read_whole(text))));
    const auto doc = json::parse(text);
    CHECK(json_text::identical(h.document(), doc));
  }
}

TEST_CASE("held entry: read from its values or from its document, an entry reads the same, odd ones too") {
  std::mt19937 rng(31);
  static const std::string inserts = "{}[],:\" \\0a1-#";
  const std::vector<std::string> odd{
      R"({"conv":5,"v":"7","i":1.5,"msg":{"text":3,"choices":[{"ref":"a"},"b",{"label":["x"]}],"media":"x","bulk":"yes"}})",
      R"({"conv":"telegram:1","msg":{"choices":{"ref":"a","label":"b"},"menu":"buttons","media":{"url":7}}})",
      R"({"conv":"telegram:1","msg":[1,2]})",
      R"({"conv":"telegram:1","webhook":{"id":"w1","url":"https://x"},"v":3})",
      R"({"conv":"telegram:1","call":{"url":"https://x"},"lane":"reply"})",
      R"({"conv":"telegram:1","v":-4,"i":18446744073709551615,"in":null,"msg":{}})",
      R"({"lane":"reply","msg":{"text":"sin conversación"}})",
      R"({"conv":"telegram:1","msg":{"text":"dos veces","text":"la última"}})"};
  int compared = 0, direct = 0, gave_up = 0;
  for (const auto& base : odd) {
    std::vector<std::string> texts{base};
    for (int m = 0; m < 200; ++m) {
      std::string t = base;
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, t.size() - 1)(rng);
      if (m % 2) t.insert(at, 1, inserts[std::uniform_int_distribution<std::size_t>(0, inserts.size() - 1)(rng)]);
      else t.erase(at, 1);
      texts.push_back(std::move(t));
    }
    for (const auto& t : texts) {
      INFO(t);
      const held_entry h = held(t);
      // Whichever way it is read, it reads the same; the one pass gives up, or agrees.
      CHECK(described(h) == described(held_by_paths(t)));
      if (const auto d = read_directly(t)) {
        CHECK(described(*d) == described(h));
        ++direct;
      } else {
        ++gave_up;
      }
      const json doc = json::parse(t, nullptr, false);
      if (!doc.is_object()) {
        CHECK(h.conv.empty());  // not an entry: a dead letter
        CHECK_FALSE(h.msg);
        continue;
      }
      CHECK(h.conv == (doc.contains("conv") && doc["conv"].is_string() ? doc["conv"].get<std::string>() : ""));
      CHECK(h.webhook == doc.contains("webhook"));
      CHECK(h.call == doc.contains("call"));
      CHECK(h.msg.has_value() == (doc.contains("msg") && doc["msg"].is_object()));
      if (h.msg) {
        const outbound_message from_doc = outbound_from_json(doc["msg"]);
        held_entry same = h;
        same.msg = from_doc;
        CHECK(described(h) == described(same));
      }
      if (t.find('{') != std::string::npos) {
        const std::string whole = read_whole(t);
        const json whole_doc = json::parse(whole, nullptr, false);
        if (whole_doc.is_object() && doc.contains("msg")) {
          CHECK(described(held(whole)) == described(h));
          ++compared;
        }
      }
    }
  }
  CHECK(compared > 200);
  CHECK(direct > 300);
  CHECK(gave_up > 300);
  // Not JSON at all.
  CHECK(held("<html>").conv.empty());
  CHECK(held("").conv.empty());
}

TEST_CASE("held entry: an entry the service writes is the bytes of its document, and reads back whole") {
  std::mt19937 rng(37);
  for (int k = 0; k < 1500; ++k) {
    outbound_message m = any_message(rng);
    if (k % 50 == 0) m.text += "caf\xc3";  // not UTF-8 (a broken flow text): U+FFFD, as dump's replace
    const std::string msg = to_json_text(m);
    REQUIRE(msg == json_text::write(to_json(m), json::error_handler_t::replace));
    const std::string conv = "whatsapp:+52155" + std::to_string(rng() % 100000);
    const std::string lane = m.unsolicited ? "bulk" : "reply";
    const std::int64_t v = rng() % 500 + 1, i = rng() % 4, in = rng() % 3 ? 0 : 1767625200000 + rng() % 1000;
    const outbox_write w = make_outbox_write(conv, lane, "msg", msg, v, i, in);
    json want = {{"conv", conv}, {"lane", lane}, {"msg", json::parse(msg)}, {"v", v}, {"i", i}};
    if (in > 0) want["in"] = in;
    CHECK(w.lane == lane);
    REQUIRE(w.text == json_text::write(want));
    raw_entry stored{"bulk:7-1", w.text};
    const held_entry h = hold(stored);
    CHECK(h.conv == conv);
    CHECK(h.v == v);
    CHECK(h.i == i);
    CHECK(h.in == in);
    REQUIRE(h.msg);
    CHECK(json_text::write(to_json(*h.msg)) == json_text::write(json::parse(msg)));
  }
}

TEST_CASE("held entry: the one-pass reading gives up where the document could say otherwise") {
  const std::string ok = R"({"conv":"telegram:1","lane":"reply","msg":{"text":"¿Listo? 😀","choices":[{"ref":"r1","label":"Sí"}]},"v":3,"i":0})";
  const auto d = read_directly(ok);
  REQUIRE(d);
  CHECK(d->conv == "telegram:1");
  CHECK(d->v == 3);
  REQUIRE(d->msg);
  CHECK(d->msg->text == "¿Listo? 😀");
  REQUIRE(d->msg->choices.size() == 1);
  CHECK(d->msg->choices[0].label == "Sí");
  // Each of these is read by paths or from the document instead, and reads as the document says.
  const std::vector<std::string> gives_up{
      R"({"conv":"telegram:1","conv":"telegram:2","msg":{"text":"x"}})",                    // a member twice
      R"({"conv":"telegram:1","msg":{"text":"x","text":"y"}})",                            // inside msg
      R"({"conv":"telegram:1","msg":{"choices":[{"ref":"a","ref":"b"}]}})",                // inside a choice
      R"({"conv":"telegram:1","msg":{"media":{"url":"a","url":"b"}}})",                    // inside media
      R"({"conv":"telegram:1","v":1.5,"msg":{"text":"x"}})",                               // a fraction
      R"({"conv":"telegram:1","v":2e3,"msg":{"text":"x"}})",                               // an exponent
      R"({"conv":"telegram:1","v":1234567890123456789,"msg":{"text":"x"}})",               // 19 digits
      R"({"conv":"telegram:1","x":)" + std::string(70, '[') + std::string(70, ']') + "}",  // too deep
      "{\"conv\":\"telegram:1\",\"msg\":{\"text\":\"caf\xc3\"}}",                       // not UTF-8
      R"({"conv":"telegram:1","msg":{"text":"x"}} extra)",                                 // more after it
      R"(["conv","telegram:1"])",                                                          // not an object
  };
  for (const auto& t : gives_up) {
    INFO(t);
    CHECK_FALSE(read_directly(t));
    const held_entry h = held(t);
    CHECK(described(h) == described(held_by_paths(t)));
  }
  // The document's last member counts.
  CHECK(held(gives_up[0]).conv == "telegram:2");
  CHECK(held(gives_up[1]).msg->text == "y");
  CHECK(held(gives_up[6]).v == 1234567890123456789);
}
