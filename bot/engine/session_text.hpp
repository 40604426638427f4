// A session's JSON text without a JSON document in between (session_text.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "bot/engine/session.hpp"

namespace aula::session_text {

// Exactly `s.to_json().dump()` (the same bytes; nlohmann's error on a string that is not UTF-8).
std::string write(const session& s);
// The same with `version` as its version (what a commit stores, without a copy of the session).
std::string write(const session& s, std::int64_t version);

// Exactly `session::from_json(nlohmann::json::parse(text))` for the texts `write` gives (and
// the same texts with whitespace or members in another order); nullopt for anything else —
// then the caller reads through a document, which decides and reports errors as before.
std::optional<session> read(std::string_view text);

}  // namespace aula::session_text
