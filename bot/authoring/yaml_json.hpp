// YAML values as JSON: quoted scalars stay strings; plain ones become numbers or booleans
// when they read as such.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "bot/authoring/diagnostics.hpp"
#include "bot/engine/flow.hpp"

namespace aula {

nlohmann::json yaml_to_json(const YAML::Node& n);

// Flow, course and trigger files are UTF-8 (their texts end up in stored JSON and provider
// calls). False, with an error at the first invalid byte's line and column, when one is not.
bool check_utf8(std::string_view text, const std::string& file, diagnostics& d);

// A language code of flow files: es, en, es_MX, pt-BR.
bool is_language_code(const std::string& s);

// Where a reader reports a problem: the node, the message, what to do.
using yaml_error = std::function<void(const YAML::Node&, std::string, std::string)>;

// A plain text value (a YAML scalar) named `what` in messages.
bool read_string(const YAML::Node& n, const std::string& what, std::string& out, const yaml_error& error);

// A text of a flow or course file: a string (in language `base`) or a map of languages
// {es: …, en: …}. `what` names it in messages ("the text of node 'x'").
bool read_localized(const YAML::Node& n, const std::string& base, const std::string& what, localized& out,
                    const yaml_error& error);

}  // namespace aula
