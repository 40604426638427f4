#include "bot/authoring/graph.hpp"

#include <cmath>
#include <cstdio>
#include <map>

#include "bot/engine/text.hpp"
#include "bot/engine/timing.hpp"

namespace aula {

namespace {

constexpr const char* start_pseudo = "[start]";

bool is_space(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Code points that attach to the one before them: a cut must not fall just before one.
bool attaches(char32_t c) {
  return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
         (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xFE20 && c <= 0xFE2F) ||
         c == 0x200D || (c >= 0x1F3FB && c <= 0x1F3FF) || (c >= 0xE0020 && c <= 0xE007F) ||
         (c >= 0xE0100 && c <= 0xE01EF);
}

bool regional_indicator(char32_t c) { return c >= 0x1F1E6 && c <= 0x1F1FF; }

std::string encode(const std::u32string& cps) {
  std::string out;
  for (char32_t c : cps) utf8_append(out, c);
  return out;
}

std::string percent(int weight, int total) {
  if (total <= 0) return "?%";
  double p = 100.0 * weight / total;
  double r = std::round(p * 10) / 10;  // one decimal when it is not whole: 33.3%
  return format_number(r) + "%";
}

std::string kind_line(const node& n) {
  std::string k = to_string(n.kind);
  switch (n.kind) {
    case node_kind::question: return k + " · " + to_string(n.type);
    case node_kind::end: return k + " · " + to_string(n.status);
    case node_kind::subflow: return k + " → " + n.subflow;
    case node_kind::wait:
      if (n.wait.until_minutes) {
        int m = *n.wait.until_minutes;
        char buf[16];
        std::snprintf(buf, sizeof buf, "%02d:%02d", m / 60, m % 60);
        return k + " until " + buf + (n.wait.days ? " +" + std::to_string(n.wait.days) + "d" : "");
      }
      return k + " " + format_duration(n.wait.for_ms);
    case node_kind::webhook: return k + " · " + n.webhook.method;
    default: return k;
  }
}

}  // namespace

std::string text_excerpt(const std::string& text, std::size_t max_chars) {
  std::u32string in = utf8_decode(text), cps;
  for (char32_t c : in) {
    if (is_space(c)) {
      if (!cps.empty() && cps.back() != ' ') cps.push_back(' ');
    } else {
      cps.push_back(c);
    }
  }
  while (!cps.empty() && cps.back() == ' ') cps.pop_back();
  if (cps.size() <= max_chars) return encode(cps);
  if (max_chars == 0) return {};
  std::size_t cut = max_chars - 1;  // room for the ellipsis
  while (cut > 0 && (attaches(cps[cut]) || cps[cut - 1] == 0x200D)) --cut;
  std::size_t ri = 0;
  while (ri < cut && regional_indicator(cps[cut - 1 - ri])) ++ri;
  if (ri % 2 == 1) --cut;  // half a flag
  cps.resize(cut);
  while (!cps.empty() && cps.back() == ' ') cps.pop_back();
  return encode(cps) + "…";
}

std::vector<graph_edge> flow_edges(const flow& f) {
  std::vector<graph_edge> edges;
  if (!f.start.empty()) edges.push_back({start_pseudo, f.start, "start", false});
  if (!f.on_expire.empty()) edges.push_back({start_pseudo, f.on_expire, "expired", true});
  for (const auto& id : f.order) {
    const node* n = f.find(id);
    if (!n) continue;
    switch (n->kind) {
      case node_kind::split:
        for (const auto& c : n->cases) edges.push_back({id, c.next, c.when.source, false});
        if (!n->next.empty()) edges.push_back({id, n->next, "else", false});
        break;
      case node_kind::random: {
        int total = 0;
        for (const auto& b : n->branches) total += b.weight;
        for (const auto& b : n->branches) edges.push_back({id, b.next, percent(b.weight, total), false});
        if (!n->next.empty()) edges.push_back({id, n->next, "next", false});
        break;
      }
      default:
        if (!n->next.empty()) edges.push_back({id, n->next, "next", false});
        break;
    }
    if (!n->on_invalid.empty()) edges.push_back({id, n->on_invalid, "invalid", true});
    if (n->timeout && !n->timeout->next.empty()) edges.push_back({id, n->timeout->next, "timeout", true});
    if (!n->on_failure.empty()) edges.push_back({id, n->on_failure, "failure", true});
    if (!n->on_timeout.empty()) edges.push_back({id, n->on_timeout, "timeout", true});
  }
  return edges;
}

std::vector<std::string> node_label_lines(const flow& f, const node& n, const std::string& lang) {
  std::vector<std::string> lines = {n.id, kind_line(n)};
  std::string text;
  switch (n.kind) {
    case node_kind::set:
      for (const auto& a : n.sets) text += (text.empty() ? "" : "; ") + a.target + " = " + a.value;
      break;
    case node_kind::webhook: text = n.webhook.url; break;
    default: text = n.text.get(lang, f.language); break;
  }
  if (!text.empty()) lines.push_back(text_excerpt(text, 40));
  return lines;
}

std::string mermaid_id(const std::string& node_id) {
  std::string out = "n_";
  for (char c : node_id) {
    if (c == '_') out += "__";
    else if (c == '-') out += "_h";
    else out.push_back(c);
  }
  return out;
}

std::string mermaid_escape(const std::string& text) {
  static const std::map<char, const char*> codes = {
      {'"', "#quot;"}, {'<', "#lt;"},  {'>', "#gt;"},  {'&', "#amp;"},  {'#', "#35;"},  {'[', "#91;"},
      {']', "#93;"},   {'{', "#123;"}, {'}', "#125;"}, {'(', "#40;"},   {')', "#41;"},  {'|', "#124;"},
      {'`', "#96;"},   {'\n', " "},    {'\r', " "},    {'\t', " "}};
  std::string out;
  for (char c : text) {
    if (auto it = codes.find(c); it != codes.end()) out += it->second;
    else out.push_back(c);
  }
  return out;
}

std::string dot_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\n': out += "\\n"; break;
      case '\r': break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string to_mermaid(const flow& f, const std::string& lang) {
  std::string out = "%% " + f.id + ": " + mermaid_escape(text_excerpt(f.name.get(lang, f.language), 80)) + "\n";
  out += "flowchart TD\n";
  out += "  flow_start((\"start\"))\n";
  for (const auto& id : f.order) {
    const node* n = f.find(id);
    if (!n) continue;
    std::string label;
    for (const auto& l : node_label_lines(f, *n, lang)) label += (label.empty() ? "" : "<br/>") + mermaid_escape(l);
    label = "\"" + label + "\"";
    std::string shape;
    switch (n->kind) {
      case node_kind::message: shape = "[" + label + "]"; break;
      case node_kind::question:
      case node_kind::quiz: shape = "(" + label + ")"; break;
      case node_kind::split: shape = "{" + label + "}"; break;
      case node_kind::random: shape = "{{" + label + "}}"; break;
      case node_kind::set: shape = "[/" + label + "/]"; break;
      case node_kind::wait: shape = ">" + label + "]"; break;
      case node_kind::subflow: shape = "[[" + label + "]]"; break;
      case node_kind::webhook: shape = "[/" + label + "\\]"; break;
      case node_kind::end: shape = "([" + label + "])"; break;
    }
    out += "  " + mermaid_id(id) + shape + "\n";
  }
  for (const auto& e : flow_edges(f)) {
    const std::string from = e.from == start_pseudo ? "flow_start" : mermaid_id(e.from);
    out += "  " + from + (e.secondary ? " -.->|\"" : " -->|\"") + mermaid_escape(e.label) + "\"| " + mermaid_id(e.to) + "\n";
  }
  out += "  classDef endNode fill:#e8f5e9,stroke:#2e7d32,stroke-width:3px\n";
  out += "  classDef endOther fill:#ffebee,stroke:#c62828,stroke-width:3px\n";
  out += "  classDef startNode fill:#e3f2fd,stroke:#1565c0\n";
  out += "  class flow_start startNode\n";
  for (const auto& id : f.order) {
    const node* n = f.find(id);
    if (n && n->kind == node_kind::end)
      out += "  class " + mermaid_id(id) + (n->status == end_status::completed ? " endNode\n" : " endOther\n");
  }
  return out;
}

std::string to_dot(const flow& f, const std::string& lang) {
  auto q = [](const std::string& s) { return "\"" + dot_escape(s) + "\""; };
  std::string out = "digraph " + q(f.id) + " {\n";
  out += "  graph [rankdir=TB, labelloc=t, fontname=\"Helvetica\", label=" +
         q(f.id + ": " + text_excerpt(f.name.get(lang, f.language), 80)) + "];\n";
  out += "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  out += "  " + q(start_pseudo) + " [label=\"start\", shape=circle, style=filled, fillcolor=\"#e3f2fd\"];\n";
  for (const auto& id : f.order) {
    const node* n = f.find(id);
    if (!n) continue;
    std::string label;
    for (const auto& l : node_label_lines(f, *n, lang)) label += (label.empty() ? "" : "\n") + l;
    std::string attrs = "label=" + q(label);
    switch (n->kind) {
      case node_kind::message: attrs += ", shape=note, style=\"\""; break;
      case node_kind::question:
      case node_kind::quiz: break;
      case node_kind::split: attrs += ", shape=diamond, style=\"\""; break;
      case node_kind::random: attrs += ", shape=hexagon, style=\"\""; break;
      case node_kind::set: attrs += ", shape=parallelogram, style=\"\""; break;
      case node_kind::wait: attrs += ", shape=cds, style=\"\""; break;
      case node_kind::subflow: attrs += ", shape=box, style=\"\", peripheries=2"; break;
      case node_kind::webhook: attrs += ", shape=trapezium, style=\"\""; break;
      case node_kind::end:
        attrs += n->status == end_status::completed
                     ? ", shape=box, style=\"rounded,filled,bold\", peripheries=2, fillcolor=\"#e8f5e9\""
                     : ", shape=box, style=\"rounded,filled,bold\", peripheries=2, fillcolor=\"#ffebee\"";
        break;
    }
    out += "  " + q(id) + " [" + attrs + "];\n";
  }
  for (const auto& e : flow_edges(f)) {
    out += "  " + q(e.from) + " -> " + q(e.to) + " [label=" + q(e.label) + (e.secondary ? ", style=dashed" : "") + "];\n";
  }
  out += "}\n";
  return out;
}

}  // namespace aula
