// The sender's "sent" records merged per learner for the record store
// (bot/delivery/send_records): a learner's sends one after the other are one record, with every
// message's provider id, node, segments and time and the texts in order; nothing else moves.
#include "bot/delivery/send_records.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using aula::delivery_detail::add_send_record;
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

std::vector<json> added(const std::vector<json>& in, std::size_t max_parts = 50) {
  std::vector<json> out;
  for (const auto& r : in) add_send_record(out, r, max_parts);
  return out;
}

}  // namespace

TEST_CASE("send records: a learner's sends one after the other become one record with every message's part") {
  const std::string a = "telegram:7";
  const std::vector<json> in{sent(a, "m1", 1, "¿Listo? ñ"),
                             sent(a, "m2", 3),  // a later call of a split message: no text
                             sent(a, "m3", 6, "¡Bien! 🎉")};
  const auto out = added(in);
  REQUIRE(out.size() == 1);
  // At the first one's id and time.
  CHECK(out[0]["id"] == in[0]["id"]);
  CHECK(out[0]["conv"] == a);
  CHECK(out[0]["at"] == 1);
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
  const json one = sent(a, "wamid.1", 1, "Hola");
  CHECK(added({one}) == std::vector<json>{one});  // a single send: as it was made
  // The reply lane and the bulk lane (a broadcast) stay apart; so do two learners.
  const auto lanes = added({sent(a, "w1", 1), sent(a, "w2", 2), sent(a, "w3", 3, "", 0, "bulk"), sent(b, "t1", 4),
                            sent(a, "w4", 5)});
  REQUIRE(lanes.size() == 4);
  CHECK(lanes[0]["messages"] == 2);
  CHECK(lanes[1]["external_id"] == "w3");
  CHECK(lanes[2]["external_id"] == "t1");
  CHECK(lanes[3]["external_id"] == "w4");
  // Not a send, or a send without a conversation: never folded, nothing folded into them.
  const json odd = {{"type", "sent"}, {"id", "x"}};
  const json dead = {{"type", "dead_letter"}, {"conv", a}, {"id", "dl.1"}};
  CHECK(added({odd, odd, dead, dead}) == std::vector<json>{odd, odd, dead, dead});
  const auto after_dead = added({sent(a, "w1", 1), dead, sent(a, "w2", 2)});
  REQUIRE(after_dead.size() == 3);
  CHECK(after_dead[2]["external_id"] == "w2");
  // Every message is in exactly one record.
  std::size_t messages = 0;
  for (const auto& r : lanes) messages += r.value("messages", std::size_t{1});
  CHECK(messages == 5);
}

TEST_CASE("send records: a long run of sends is cut at the cap, in order") {
  const std::string a = "telegram:9";
  std::vector<json> in;
  for (int k = 0; k < 7; ++k) in.push_back(sent(a, "m" + std::to_string(k), k, "t" + std::to_string(k)));
  const auto out = added(in, 3);
  REQUIRE(out.size() == 3);
  CHECK(out[0]["messages"] == 3);
  CHECK(out[1]["messages"] == 3);
  CHECK(out[2]["external_id"] == "m6");  // the last alone: as it was
  CHECK(out[1]["text"] == "t3\n\nt4\n\nt5");
  CHECK(out[1]["id"] == in[3]["id"]);
  // A merged record given again (a batch written again) takes no more parts than the cap.
  std::vector<json> again{out[0]};
  add_send_record(again, in[6], 3);
  CHECK(again.size() == 2);
}
