#include "bot/authoring/schema.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace aula {

namespace {

using json = nlohmann::ordered_json;

[[noreturn]] void missing(const std::string& what) {
  throw std::runtime_error("flows/schema.json: " + what);
}

// The definition a local "$ref" ("#/$defs/media") points at.
const json& resolve(const json& root, const json& def) {
  const json* d = &def;
  for (int hops = 0; d->is_object() && d->contains("$ref"); ++hops) {
    const auto& ref = (*d)["$ref"];
    if (hops > 8 || !ref.is_string() || !ref.get<std::string>().starts_with("#/")) missing("bad $ref " + ref.dump());
    try {
      d = &root.at(json::json_pointer(ref.get<std::string>().substr(1)));
    } catch (const json::exception&) {
      missing("$ref " + ref.dump() + " points at nothing");
    }
  }
  return *d;
}

// The property names of a definition: its own `properties`, or those of the one alternative
// of its oneOf/anyOf that has them (an option is a text or a map).
std::vector<std::string> keys_of(const json& root, const json& def, const std::string& what) {
  const json& d = resolve(root, def);
  if (!d.is_object()) missing(what + " is not an object");
  if (auto p = d.find("properties"); p != d.end() && p->is_object()) {
    std::vector<std::string> keys;
    for (auto it = p->begin(); it != p->end(); ++it) keys.push_back(it.key());
    return keys;
  }
  for (const char* alt : {"oneOf", "anyOf"}) {
    if (auto a = d.find(alt); a != d.end() && a->is_array()) {
      for (const auto& x : *a) {
        const json& r = resolve(root, x);
        if (r.is_object() && r.contains("properties")) return keys_of(root, r, what);
      }
    }
  }
  missing(what + " has no properties");
}

const json& def_of(const json& root, const std::string& name) {
  auto defs = root.find("$defs");
  if (defs == root.end() || !defs->contains(name)) missing("no $defs/" + name);
  return (*defs)[name];
}

}  // namespace

flow_schema_keys flow_schema_keys_from(std::string_view schema_json) {
  json root = json::parse(schema_json.begin(), schema_json.end(), nullptr, false);
  if (root.is_discarded() || !root.is_object()) missing("not a JSON object");
  flow_schema_keys k;
  k.flow = keys_of(root, root, "the top level");
  for (auto kind : {node_kind::message, node_kind::question, node_kind::quiz, node_kind::split, node_kind::random,
                    node_kind::set, node_kind::wait, node_kind::subflow, node_kind::webhook, node_kind::end}) {
    const std::string name = std::string(to_string(kind)) + "_node";
    k.node[kind] = keys_of(root, def_of(root, name), "$defs/" + name);
  }
  auto part = [&](const std::string& name) { return keys_of(root, def_of(root, name), "$defs/" + name); };
  k.question_option = part("question_option");
  k.quiz_option = part("quiz_option");
  k.feedback = part("feedback");
  k.timeout = part("timeout");
  k.media = part("media");
  k.split_case = part("split_case");
  k.random_branch = part("random_branch");
  k.wait = part("wait");
  k.webhook = part("webhook");
  return k;
}

const flow_schema_keys& flow_schema() {
  static const flow_schema_keys keys = flow_schema_keys_from(flow_schema_text());
  return keys;
}

}  // namespace aula
