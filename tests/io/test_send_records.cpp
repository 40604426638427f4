// The sender's "sent" records merged per learner for the record store
// (bot/delivery/send_records): one record per conversation, channel and lane in a batch, with
// every message's provider id, node, segments and time, the texts in order, nothing else moved.
#include "bot/delivery/send_records.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using aula::delivery_detail::merge_send_records;
using nlohmann::json;

json sent(const std::string& conv, const std::string& ext, std::int64_t at, const std::string& text = "",
          int segments = 0, const std::string& lane = "reply") {
  const std::string channel = conv.substr(0, conv.find(':'));
  json r = {{"id", "out.1." + ext + ".0"}, {"type", "sent"}, {"conv", conv}, {"channel", channel},
            {"external_id", ext},          {"lane", lane},   {"at", at},     {"node", "n-" + ext}};
  if (!text.empty()) r["text"] = text;
  if (segments) r["segments"] = segments;
  return r;
}

}  // namespace

TEST_CASE("send records: a learner's sends in one batch become one record with every message's part") {
  const std::string a = "telegram:7", b = "sms:+5215512345678";
  const json dead = {{"id", "dl.1.x"}, {"type", "dead_letter"}, {"conv", a}, {"at", 5}};
  std::vector<json> in{sent(a, "m1", 1, "¿Listo? ñ"),
                       sent(b, "SM1", 2, "Hola", 2),
                       dead,
                       sent(a, "m2", 3),  // a later call of a split message: no text
                       sent(b, "SM2", 4, "Adiós 🎉", 3),
                       sent(a, "m3", 6, "¡Bien! 🎉")};
  const std::vector<json> original = in;
  const auto out = merge_send_records(in);
  REQUIRE(out.size() == 3);
  // Ana's three at the place of her first, Beto's two at his, the dead letter as it was.
  CHECK(out[0]["id"] == original[0]["id"]);
  CHECK(out[0]["conv"] == a);
  CHECK(out[0]["at"] == 1);
  CHECK(out[0]["messages"] == 3);
  CHECK(out[0]["text"] == "¿Listo? ñ\n\n¡Bien! 🎉");
  CHECK(!out[0].contains("external_id"));
  CHECK(!out[0].contains("segments"));
  CHECK(out[0]["parts"] == json::array({{{"external_id", "m1"}, {"node", "n-m1"}, {"at", 1}},
                                        {{"external_id", "m2"}, {"node", "n-m2"}, {"at", 3}},
                                        {{"external_id", "m3"}, {"node", "n-m3"}, {"at", 6}}}));
  CHECK(out[1]["conv"] == b);
  CHECK(out[1]["messages"] == 2);
  CHECK(out[1]["segments"] == 5);
  CHECK(out[1]["text"] == "Hola\n\nAdiós 🎉");
  CHECK(out[1]["parts"][0]["segments"] == 2);
  CHECK(out[1]["parts"][1]["external_id"] == "SM2");
  CHECK(out[2] == dead);
  // Every message is in exactly one record.
  std::size_t messages = 0;
  for (const auto& r : out)
    if (r["type"] == "sent") messages += r.value("messages", std::size_t{1});
  CHECK(messages == 5);
}

TEST_CASE("send records: a single send, other lanes and records already merged are left as they are") {
  const std::string a = "whatsapp:+5215511112222";
  const json one = sent(a, "wamid.1", 1, "Hola");
  CHECK(merge_send_records({one}) == std::vector<json>{one});
  // The reply lane and the bulk lane (a broadcast) stay apart.
  const auto lanes = merge_send_records({sent(a, "w1", 1), sent(a, "w2", 2, "", 0, "bulk"), sent(a, "w3", 3)});
  REQUIRE(lanes.size() == 2);
  CHECK(lanes[0]["messages"] == 2);
  CHECK(lanes[1]["external_id"] == "w2");
  // A record the merge made (the batch written again after a failure) is not merged again.
  const auto once = merge_send_records({sent(a, "w1", 1), sent(a, "w2", 2)});
  REQUIRE(once.size() == 1);
  CHECK(merge_send_records({once[0], sent(a, "w3", 3)}).size() == 2);
  // Not a send, or a send without a conversation: untouched.
  const json odd = {{"type", "sent"}, {"id", "x"}};
  const json answer = {{"type", "answer"}, {"conv", a}, {"id", "a1"}};
  CHECK(merge_send_records({odd, odd, answer, answer}) == std::vector<json>{odd, odd, answer, answer});
}

TEST_CASE("send records: a long run of sends is cut at the cap, in order") {
  const std::string a = "telegram:9";
  std::vector<json> in;
  for (int k = 0; k < 7; ++k) in.push_back(sent(a, "m" + std::to_string(k), k, "t" + std::to_string(k)));
  const auto out = merge_send_records(in, 3);
  REQUIRE(out.size() == 3);
  CHECK(out[0]["messages"] == 3);
  CHECK(out[1]["messages"] == 3);
  CHECK(out[2]["external_id"] == "m6");  // the last alone: as it was
  CHECK(out[1]["text"] == "t3\n\nt4\n\nt5");
  CHECK(out[1]["id"] == in[3]["id"]);
}
