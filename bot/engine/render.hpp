// Plain-text rendering of a channel-neutral message: what the terminal chat, transcripts and
// (later) SMS show. Numbered menus as "1. label" lines; buttons as "[label]"; scales as a row.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "bot/engine/engine.hpp"

namespace aula {

std::string render_plain(const outbound_message& m);

// Outbound messages travel through the store's outbox as JSON.
nlohmann::json to_json(const outbound_message& m);
// json_text::write(to_json(m)) without the document (the bytes of the replace handler: a text
// that is not UTF-8 gets U+FFFD).
std::string to_json_text(const outbound_message& m);
// The message back from its JSON: members of another type than to_json writes read as absent
// (a choice that is not an object is skipped); nothing throws.
outbound_message outbound_from_json(const nlohmann::json& j);
// The same from its values by path, as json_text::at_path names them ("text", "choices/#0/ref",
// "media/url", …): `at` gives the value at a path (nullptr when absent; an object or array may
// be given as an empty one of its kind, for its presence), so a reader of the entry's text
// (json_text::pick) need not build its document. The choices are read while "choices/#k" is
// there.
using value_at = std::function<const nlohmann::json*(std::string_view path)>;
outbound_message outbound_from_values(const value_at& at);
// A "menu" member's style: none for any name to_json does not write.
menu_style menu_style_named(std::string_view name);

}  // namespace aula
