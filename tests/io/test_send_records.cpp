// The sender's "sent" records merged per learner for the record store
// (bot/delivery/send_records): a learner's sends one after the other are one record, with every
// message's provider id, node, segments and time and the texts in order; nothing else moves.
#include "bot/delivery/send_records.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/engine/json_text.hpp"

namespace {

using aula::delivery_detail::send_record_list;
using aula::delivery_detail::sent_call;
using nlohmann::json;

sent_call sent(const std::string& conv, const std::string& ext, std::int64_t at, const std::string& text = "",
               int segments = 0, const std::string& lane = "reply") {
  return {"out.1." + ext + ".0", conv, conv.substr(0, conv.find(':')), ext, lane, "n-" + ext, text, at, segments};
}

std::vector<json> added(const std::vector<sent_call>& in, std::size_t max_parts = 50) {
  send_record_list l;
  for (const auto& c : in) l.add(c, max_parts);
  return l.documents();
}

}  // namespace

TEST_CASE("send records: a learner's sends one after the other become one record with every message's part") {
  const std::string a = "telegram:7";
  const std::vector<sent_call> in{sent(a, "m1", 1, "¿Listo? ñ"),
                                  sent(a, "m2", 3),  // a later call of a split message: no text
                                  sent(a, "m3", 6, "¡Bien! 🎉")};
  const auto out = added(in);
  REQUIRE(out.size() == 1);
  // At the first one's id and time.
  CHECK(out[0]["id"] == in[0].id);
  CHECK(out[0]["type"] == "sent");
  CHECK(out[0]["conv"] == a);
  CHECK(out[0]["channel"] == "telegram");
  CHECK(out[0]["at"] == 1);
  CHECK(out[0]["node"] == "n-m1");
  CHECK(out[0]["messages"] == 3);
  CHECK(out[0]["text"] == "¿Listo? ñ\n\n¡Bien! 🎉");
  CHECK(!out[0].contains("external_id"));
  CHECK(!out[0].contains("segments"));
  CHECK(out[0]["parts"] == json::array({{{"external_id", "m1"}, {"node", "n-m1"}, {"at", 1}},
                                        {{"external_id", "m2"}, {"node", "n-m2"}, {"at", 3}},
                                        {{"external_id", "m3"}, {"node", "n-m3"}, {"at", 6}}}));
  // SMS: the segments summed, each part with its own.
  const std::string b = "sms:+5215512345678";
  const auto sms = added({sent(b, "SM1", 2, "Hola", 2), sent(b, "SM2", 4, "Adiós 🎉", 3)});
  REQUIRE(sms.size() == 1);
  CHECK(sms[0]["messages"] == 2);
  CHECK(sms[0]["segments"] == 5);
  CHECK(sms[0]["text"] == "Hola\n\nAdiós 🎉");
  CHECK(sms[0]["parts"][0]["segments"] == 2);
  CHECK(sms[0]["parts"][1]["external_id"] == "SM2");
}

TEST_CASE("send records: other learners, lanes and records keep their own, in order") {
  const std::string a = "whatsapp:+5215511112222", b = "telegram:8";
  // A single send: as it was made.
  const auto one = added({sent(a, "wamid.1", 1, "Hola ñ", 0)});
  REQUIRE(one.size() == 1);
  CHECK(one[0] == json{{"id", "out.1.wamid.1.0"}, {"type", "sent"}, {"conv", a}, {"channel", "whatsapp"},
                       {"external_id", "wamid.1"}, {"lane", "reply"}, {"node", "n-wamid.1"}, {"text", "Hola ñ"},
                       {"at", 1}});
  // The reply lane and the bulk lane (a broadcast) stay apart; so do two learners.
  const auto lanes = added({sent(a, "w1", 1), sent(a, "w2", 2), sent(a, "w3", 3, "", 0, "bulk"), sent(b, "t1", 4),
                            sent(a, "w4", 5)});
  REQUIRE(lanes.size() == 4);
  CHECK(lanes[0]["messages"] == 2);
  CHECK(lanes[1]["external_id"] == "w3");
  CHECK(lanes[2]["external_id"] == "t1");
  CHECK(lanes[3]["external_id"] == "w4");
  // A send without a conversation: never folded, nothing folded into it.
  const auto lost = added({sent("", "x1", 1), sent("", "x2", 2), sent(a, "w1", 3), sent("", "x3", 4), sent(a, "w2", 5)});
  REQUIRE(lost.size() == 5);
  for (const auto& r : lost) CHECK(!r.contains("parts"));
  // Every message is in exactly one record.
  std::size_t messages = 0;
  for (const auto& r : lanes) messages += r.value("messages", std::size_t{1});
  CHECK(messages == 5);
}

TEST_CASE("send records: a long run of sends is cut at the cap, in order") {
  const std::string a = "telegram:9";
  std::vector<sent_call> in;
  for (int k = 0; k < 7; ++k) in.push_back(sent(a, "m" + std::to_string(k), k, "t" + std::to_string(k)));
  const auto out = added(in, 3);
  REQUIRE(out.size() == 3);
  CHECK(out[0]["messages"] == 3);
  CHECK(out[1]["messages"] == 3);
  CHECK(out[2]["external_id"] == "m6");  // the last alone: as it was
  CHECK(out[1]["text"] == "t3\n\nt4\n\nt5");
  CHECK(out[1]["id"] == in[3].id);
  CHECK(added(in, 1).size() == 7);  // a cap of one: each its own
}

// The sender keeps its sends as plain fields and writes each record's text once
// (send_record_list). The reference below merges the records as JSON documents, as the sender
// did before (the record store and the reports read what those documents say): the same calls
// must give the same bytes as writing those documents, merged or not.
namespace {

const std::string* str(const json& r, const char* key) {
  auto it = r.find(key);
  return it != r.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

bool same(const json& a, const json& b, const char* key) {
  const std::string *x = str(a, key), *y = str(b, key);
  return x && y ? *x == *y : x == y;
}

std::int64_t num(const json& r, const char* key) {
  auto it = r.find(key);
  return it != r.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

json part_of(const json& r) {
  json p = json::object();
  for (const char* k : {"external_id", "node", "segments", "at"})
    if (auto it = r.find(k); it != r.end()) p[k] = *it;
  return p;
}

// Appends `record`, or folds it into the last record when both are one learner's, channel's
// and lane's sends and the last stands for fewer than `max_parts` messages.
void reference_merge(std::vector<json>& records, json record, std::size_t max_parts) {
  const std::string* conv = str(record, "conv");
  if (records.empty() || max_parts < 2 || !conv || conv->empty()) {
    records.push_back(std::move(record));
    return;
  }
  json& last = records.back();
  const bool merged = last.contains("parts");
  const std::string* last_conv = str(last, "conv");
  if (!last_conv || last_conv->empty() || !same(last, record, "conv") || !same(last, record, "channel") ||
      !same(last, record, "lane") || (merged && last["parts"].size() >= max_parts)) {
    records.push_back(std::move(record));
    return;
  }
  if (!merged) {
    last["parts"] = json::array({part_of(last)});
    last.erase("external_id");
  }
  last["parts"].push_back(part_of(record));
  last["messages"] = last["parts"].size();
  if (const std::string* t = str(record, "text"); t && !t->empty()) {
    const std::string* before = str(last, "text");
    last["text"] = before && !before->empty() ? *before + "\n\n" + *t : *t;
  }
  if (const std::int64_t n = num(record, "segments"); n > 0) last["segments"] = num(last, "segments") + n;
}

json document_of(const sent_call& c) {
  json r = {{"id", c.id},     {"type", "sent"},   {"conv", c.conv}, {"channel", c.channel},
            {"lane", c.lane}, {"external_id", c.external_id}, {"at", c.at}};
  if (!c.node.empty()) r["node"] = c.node;
  if (!c.text.empty()) r["text"] = c.text;
  if (c.segments > 0) r["segments"] = c.segments;
  return r;
}

std::vector<std::string> written(const std::vector<sent_call>& calls, std::size_t max_parts) {
  std::vector<json> docs;
  for (const auto& c : calls) reference_merge(docs, document_of(c), max_parts);
  std::vector<std::string> out;
  for (const auto& d : docs) out.push_back(aula::json_text::write(d));
  return out;
}

std::vector<std::string> listed(const std::vector<sent_call>& calls, std::size_t max_parts) {
  send_record_list l;
  for (const auto& c : calls) l.add(c, max_parts);
  return l.texts();
}

}  // namespace

TEST_CASE("send records kept as fields: the same texts as the documents merged") {
  const std::vector<sent_call> lesson{
      {"out.3.1-0.0", "telegram:7", "telegram", "101", "reply", "intro", "¿Listo? Empezamos ñ 🎉", 10, 0},
      {"out.3.1-1.0", "telegram:7", "telegram", "102", "reply", "", "", 11, 0},
      {"out.3.1-2.0", "telegram:7", "telegram", "103", "reply", "p1", "Pregunta 1: «¿Qué es?»\n\"sí\"", 12, 0}};
  const auto merged = listed(lesson, 50);
  REQUIRE(merged.size() == 1);
  CHECK(merged == written(lesson, 50));
  const json doc = json::parse(merged[0]);
  CHECK(doc["messages"] == 3);
  CHECK(doc["text"] == "¿Listo? Empezamos ñ 🎉\n\nPregunta 1: «¿Qué es?»\n\"sí\"");
  CHECK(doc["parts"][1] == json{{"external_id", "102"}, {"at", 11}});  // no node, no segments
  // Alone: as it was made, external_id and all.
  const std::vector<sent_call> one{lesson[0]};
  CHECK(listed(one, 50) == written(one, 50));
  CHECK(json::parse(listed(one, 50)[0]) == document_of(lesson[0]));
  // max_parts 1: each its own.
  CHECK(listed(lesson, 1).size() == 3);
  CHECK(listed(lesson, 1) == written(lesson, 1));

  // Many runs of sends: learners, channels, lanes, texts, nodes and segments mixed, caps 1-5.
  std::mt19937 rng(20261130);
  const std::vector<std::string> convs{"telegram:7", "telegram:8", "sms:+5215512345678", "whatsapp:+5215511112222", ""};
  const std::vector<std::string> texts{"", "Hola", "¡Bien! 🎉", "Adiós, ñandú: «¿sí?»", "línea 1\nlínea 2\t\"x\""};
  std::size_t total = 0, folded = 0;
  for (int run = 0; run < 400; ++run) {
    std::vector<sent_call> calls;
    const int n = 1 + static_cast<int>(rng() % 9);
    for (int k = 0; k < n; ++k) {
      sent_call c;
      c.conv = convs[rng() % (rng() % 4 == 0 ? convs.size() : 2)];
      c.channel = c.conv.substr(0, c.conv.find(':'));
      c.id = "out." + std::to_string(run) + "." + std::to_string(k) + ".0";
      c.external_id = rng() % 7 == 0 ? "" : "ext-" + std::to_string(rng() % 1000);
      c.lane = rng() % 5 == 0 ? "bulk" : "reply";
      c.node = rng() % 3 == 0 ? "" : "n" + std::to_string(rng() % 5);
      c.text = texts[rng() % texts.size()];
      c.segments = rng() % 3 == 0 ? static_cast<std::int64_t>(rng() % 4) : 0;
      c.at = 1'796'000'000'000 + run * 100 + k;
      calls.push_back(c);
    }
    const std::size_t cap = 1 + rng() % 5;
    const auto got = listed(calls, cap);
    INFO("run " << run << ", cap " << cap);
    REQUIRE(got == written(calls, cap));
    total += calls.size();
    folded += calls.size() - got.size();
  }
  CHECK(folded > total / 10);  // the runs did merge, often (302 of 2,027 calls with this seed)
}
