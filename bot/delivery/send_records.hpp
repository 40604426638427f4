// The sender's "sent" records, one per provider call as it makes them, merged for the record
// store: a learner's calls acknowledged together (a step's replies, sent one after the other)
// become one record. Each record costs the record keeper an insert into SQLite's random
// (conv, id) leaf, a stream entry to read and one to delete, so a lesson step's six replies as
// one record spare five of each. Nothing is dropped: the record says how many messages it
// stands for ("messages", which the delivery report sums), their texts in order ("text", joined
// by a blank line), their segments summed, and per message ("parts") the provider's id, the
// node, the segments and the time. A single record is left as it was made. Internal to
// delivery.cpp; exposed for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aula::delivery_detail {

inline constexpr std::size_t max_parts_per_send_record = 50;

// One provider call the sender made, as its "sent" record names it: `node` and `text` are left
// out of the record when empty, `segments` when 0 (type "sent" is implied).
struct sent_call {
  std::string id, conv, channel, external_id, lane, node, text;
  std::int64_t at = 0;
  std::int64_t segments = 0;
};

// A learner's "sent" records, kept as plain fields while their sends go out and written once,
// as JSON text, for the acknowledgement. (Making a JSON document per call, merging documents
// and writing them cost the server ~5 % of its instructions per webhook: callgrind, 64
// connections, 916k before, 874k after.)
class send_record_list {
 public:
  // Folds `c` into the last record when both are one learner's (a conversation: a call without
  // one is never folded), channel's and lane's and the last stands for fewer than `max_parts`
  // messages; else a record of its own. A record standing for one message is the call's
  // record as it was made (external_id, node, segments, text); a merged one keeps the first
  // call's id, time and node, says how many messages it stands for ("messages"), joins their
  // texts with a blank line, sums their segments, and lists each message's external_id, node,
  // segments and time in "parts".
  void add(sent_call c, std::size_t max_parts = max_parts_per_send_record);
  // Each record's JSON text, appended to `out` in order.
  void append_texts(std::vector<std::string>& out) const;
  std::vector<std::string> texts() const;
  std::vector<nlohmann::json> documents() const;

 private:
  struct part {
    std::string external_id, node;
    std::int64_t at = 0, segments = 0;
  };
  struct record {
    sent_call first;          // its id, time and node (text and segments: the record's)
    std::vector<part> parts;  // merged (two or more), else empty
  };
  std::vector<record> recs_;
};

}  // namespace aula::delivery_detail
