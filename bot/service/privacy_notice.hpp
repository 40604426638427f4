// The privacy notice (aviso de privacidad) that learners read before they consent: kept as
// plain text files beside the configuration (config/aviso-de-privacidad.es.md, .en.md) and
// served by aula at GET /privacidad (?lang=en). The text is escaped, never trusted as HTML.
#pragma once

#include <optional>
#include <string>

namespace aula {

// Reads "<base>.<lang>.md"; nullopt when it cannot be read.
std::optional<std::string> read_privacy_notice(const std::string& base, const std::string& lang);

// The notice as a small HTML page (UTF-8). The text's own markup, all of it escaped:
// "# " / "## " lines are headings, "- " lines list items, blank lines end a paragraph,
// **bold** is bold, http(s) addresses become links, and lines from <!-- to --> (notes for
// whoever fills the notice in) are left out.
std::string privacy_notice_page(const std::string& text, const std::string& lang);

}  // namespace aula
