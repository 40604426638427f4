// An outbox entry as the sender holds it: the fields it reads on every send, read from the
// stored text ({"conv","lane","v","i","in"} and one of "msg", "webhook", "call"; see
// store.hpp) in one pass, without building the entry's document. The document is read only
// for a webhook or provider call, a dead letter, or a text both readings give up on (see
// read_entry). Internal to delivery.cpp; exposed for tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
// Read in one pass over the text (read_entry) where it can, else by paths (hold_by_paths).
held_entry hold(raw_entry& e);

// The fields straight from the text, without picking values by path: false (h partly
// filled) where it gives up — a member it reads given twice in one object (the document keeps
// the last), a number outside json_text's subset, a string that is not UTF-8, nesting deeper
// than 64, a text that is not one JSON object. Exposed for tests.
bool read_entry(std::string_view text, held_entry& h);
// The reading by path (json_text::values: pick, or the document where pick gives up). Exposed
// for tests.
held_entry hold_by_paths(raw_entry& e);

}  // namespace aula::delivery_detail
