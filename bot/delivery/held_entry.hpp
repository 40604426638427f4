// An outbox entry as the sender holds it: the fields it reads on every send, picked from the
// stored text ({"conv","lane","v","i","in"} and one of "msg", "webhook", "call"; see
// store.hpp), without building the entry's document (json_text::pick). The document is read
// only for a webhook or provider call, a dead letter, a message of more than
// max_picked_choices choices, or a text pick gives up on. Internal to delivery.cpp; exposed
// for tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bot/engine/engine.hpp"
#include "bot/store/store.hpp"

namespace aula::delivery_detail {

inline constexpr std::size_t max_picked_choices = 16;

struct held_entry {
  std::string id;    // the outbox id ("reply:<stream id>")
  std::string text;  // as stored
  // A field of another type than the service writes reads as absent.
  std::string conv;  // "" when the entry names none: nobody can deliver it
  std::int64_t v = 0, i = 0, in = 0;
  bool webhook = false, call = false;
  std::optional<outbound_message> msg;  // its "msg", when an object (outbound_from_json's reading)

  // The whole entry (a discarded value when the text is not JSON).
  nlohmann::json document() const;
};

// Takes e's text; its id stays (the sender may stop at this entry and read its id again).
held_entry hold(raw_entry& e);

}  // namespace aula::delivery_detail
