// A flow as a diagram: Mermaid flowchart or Graphviz DOT text (`aula graph`). Pure functions
// of the flow model: one box per node (its id, kind and the start of its text in one language)
// and one arrow per exit, labelled by what takes it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bot/engine/flow.hpp"

namespace aula {

// One exit of a node, as the diagrams draw it.
struct graph_edge {
  std::string from, to;
  // next | else (a split's default) | invalid | failure | timeout | the split case's condition
  // text | a random branch's share ("50%")
  std::string label;
  bool secondary = false;  // invalid, failure and timeout exits: drawn dashed
};

// Every exit of every node, in file order. A flow's on_expire is an edge from the pseudo-node
// "[start]" labelled "expired"; "[start]" -> the start node is labelled "start".
std::vector<graph_edge> flow_edges(const flow& f);

// The first `max_chars` characters (code points) of a text on one line: runs of whitespace
// become one space, and a cut text ends in "…" (counted). A cut never splits a code point
// nor leaves a joiner, variation selector or combining mark without what it joins.
std::string text_excerpt(const std::string& text, std::size_t max_chars = 40);

// A node's label lines: its id, its kind (with the question type, end status or called flow),
// and, for nodes with a text, an excerpt of it in `lang` (else the flow's base language).
std::vector<std::string> node_label_lines(const flow& f, const node& n, const std::string& lang);

// Mermaid's id for a node: "n_" + the node id with '_' written "__" and '-' written "_h"
// (Mermaid reserves words such as `end`, and reads "--" as an arrow).
std::string mermaid_id(const std::string& node_id);

// Escapes text for a quoted Mermaid label: " < > & # [ ] { } ( ) | ` as #…; entity codes.
std::string mermaid_escape(const std::string& text);
// Escapes text for a double-quoted DOT string: \ and " with a backslash; & < > as HTML
// entities (Graphviz reads entities in every label); line breaks as \n.
std::string dot_escape(const std::string& text);

std::string to_mermaid(const flow& f, const std::string& lang);
std::string to_dot(const flow& f, const std::string& lang);

}  // namespace aula
