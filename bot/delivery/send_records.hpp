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
#include <vector>

#include <nlohmann/json.hpp>

namespace aula::delivery_detail {

inline constexpr std::size_t max_parts_per_send_record = 50;

// Appends `record` to `records`, or folds it into the last of them when both are "sent" records
// of one conversation, channel and lane and the last stands for fewer than `max_parts`
// messages. The sender keeps one such list per learner while a step's replies go out.
void add_send_record(std::vector<nlohmann::json>& records, nlohmann::json record,
                     std::size_t max_parts = max_parts_per_send_record);

}  // namespace aula::delivery_detail
