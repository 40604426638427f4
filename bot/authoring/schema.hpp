// flows/schema.json, embedded at build time: the single source of truth for the keys of a flow
// file. The loader takes its allowed keys from here, so a key the schema does not list is
// rejected (with a did-you-mean hint), and an editor using the schema agrees with `aula validate`.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bot/engine/flow.hpp"

namespace aula {

// The text of flows/schema.json as it was when this binary was built.
std::string_view flow_schema_text();

// The keys each part of a flow file may have, in the schema's order.
struct flow_schema_keys {
  std::vector<std::string> flow;                        // the top level
  std::map<node_kind, std::vector<std::string>> node;  // $defs/<kind>_node
  std::vector<std::string> question_option, quiz_option, feedback, timeout, media, split_case,
      random_branch, wait, webhook;
};

// The keys of the embedded schema, read once. Throws std::runtime_error when the schema lacks
// a part the loader needs (the tests make sure it does not).
const flow_schema_keys& flow_schema();

// The keys of a schema text (for tests). Throws std::runtime_error when a part is missing.
flow_schema_keys flow_schema_keys_from(std::string_view schema_json);

}  // namespace aula
