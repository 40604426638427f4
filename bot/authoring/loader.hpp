// Reads flow files (YAML, or JSON: same model) into the flow model, migrating older `spec`
// versions and checking the core rules. Every problem carries file:line:col and a hint.
#pragma once

#include <string>
#include <vector>

#include "bot/authoring/diagnostics.hpp"
#include "bot/engine/flow.hpp"

namespace aula {

struct load_result {
  flow_set flows;
  diagnostics diags;
  std::size_t files = 0;
  bool ok() const { return diags.errors() == 0; }
};

// Loads flow files and folders. A folder contributes its *.yaml, *.yml and *.json files (not
// sub-folders, and not the non-flow files course.yaml, triggers.yaml and schema.json), then
// its course.yaml (courses, bot/authoring/course_reader.hpp) and its triggers.yaml, in that
// order. Flows and courses with errors are left out of the result; the diagnostics say why.
// The result's flows.courses is never null (an empty set without course.yaml).
load_result load_flows(const std::vector<std::string>& paths);

// Reads one flow from text (`file` names it in diagnostics). Returns false on errors.
bool read_flow(const std::string& text, const std::string& file, flow& out, diagnostics& diags);

// Files a folder would contribute, sorted.
std::vector<std::string> flow_files_in(const std::string& dir);

}  // namespace aula
