// Plain-text rendering of a channel-neutral message: what the terminal chat, transcripts and
// (later) SMS show. Numbered menus as "1. label" lines; buttons as "[label]"; scales as a row.
#pragma once

#include <string>

#include "bot/engine/engine.hpp"

namespace aula {

std::string render_plain(const outbound_message& m);

// Outbound messages travel through the store's outbox as JSON.
nlohmann::json to_json(const outbound_message& m);
outbound_message outbound_from_json(const nlohmann::json& j);

}  // namespace aula
