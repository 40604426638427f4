// What an operator sees about one learner (aula learner show, GET /admin/learners/<learner>):
// the directory record, where they are in the course, whether they are paused (and why) or
// opted out, what waits to be sent, the dead letters with their reasons, and the timeline of
// their result records (answers, messages sent, delivery reports, end reasons, staff fixes).
// Reads only.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bot/engine/session.hpp"
#include "bot/io/net.hpp"
#include "bot/store/store.hpp"

namespace aula {

// active | stopped (opted out) | unreachable (a dead letter paused them).
std::string learner_status(const session& s);

struct learner_view_options {
  std::size_t dead_letters = 20;  // the newest this many
  std::size_t timeline = 200;     // the newest this many records (0: no timeline)
  std::size_t scan = 20000;       // result records of the partition looked through in Redis
  bool whole_session = false;     // also the session itself, as stored ("session")
};

// nullopt when aula knows nothing of `conversation` (no session, record or dead letter).
net::awaitable<std::optional<nlohmann::json>> describe_learner(store& st, const std::string& conversation,
                                                               const learner_view_options& o = {});

// Adds records already drained to the record store (`stored`: oldest first) to the view's
// timeline (those still in Redis), each once, oldest first, the newest `max` kept.
void merge_timeline(nlohmann::json& view, const nlohmann::json& stored, std::size_t max);

}  // namespace aula
