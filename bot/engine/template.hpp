// {{…}} variables in flow texts. Expansion is one pass over the author's text: values are
// inserted verbatim and never expanded again, so a learner's own "{{…}}" stays plain text.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aula {

// Looks up a variable name ("contact.name", "answers.rol", "score.total"); nullopt = unset.
using variable_lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Replaces every {{ name }} or {{ name | fallback }} in `text`. An unset variable without a
// fallback becomes the empty string. "{{" with no closing "}}" is left as it is.
std::string expand(std::string_view text, const variable_lookup& lookup);

// The variable names a text uses, for the validator.
std::vector<std::string> variables_in(std::string_view text);

}  // namespace aula
