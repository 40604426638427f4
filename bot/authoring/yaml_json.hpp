// YAML values as JSON: quoted scalars stay strings; plain ones become numbers or booleans
// when they read as such.
#pragma once

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace aula {

nlohmann::json yaml_to_json(const YAML::Node& n);

}  // namespace aula
