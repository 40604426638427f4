#include "bot/authoring/triggers.hpp"

#include <algorithm>
#include <map>

#include <yaml-cpp/yaml.h>

#include "bot/authoring/yaml_json.hpp"
#include "bot/engine/course.hpp"
#include "bot/engine/engine.hpp"
#include "bot/engine/text.hpp"

namespace aula {

namespace {

source_pos at(const std::string& file, const YAML::Node& n) {
  auto m = n.Mark();
  return {file, m.line + 1, m.column + 1};
}

std::vector<std::string> flow_ids(const flow_set& flows) {
  std::vector<std::string> ids;
  for (const auto& [id, f] : flows.flows) ids.push_back(id);
  return ids;
}

std::vector<std::string> course_ids(const flow_set& flows) {
  std::vector<std::string> ids;
  if (flows.courses)
    for (const auto& c : flows.courses->courses) ids.push_back(c.id);
  return ids;
}

}  // namespace

bool read_triggers(const std::string& text, const std::string& file, flow_set& flows, diagnostics& d) {
  const std::size_t before = d.errors();
  if (!check_utf8(text, file, d)) return false;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    d.error({file, e.mark.line + 1, e.mark.column + 1}, "not valid YAML: " + e.msg);
    return false;
  }
  if (!root.IsMap()) {
    d.error({file, 1, 1}, "triggers.yaml must be a map", "with spec, triggers and optionally menu, help, language");
    return false;
  }
  static const std::vector<std::string> keys = {"spec", "language", "help", "menu", "triggers"};
  for (auto it = root.begin(); it != root.end(); ++it) {
    const auto k = it->first.Scalar();
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      std::string hint = did_you_mean(k, keys);
      d.error(at(file, it->first), "unknown key '" + k + "' in triggers", hint.empty() ? "allowed: spec, language, help, menu, triggers" : hint);
    }
  }
  if (!root["spec"]) d.error(at(file, root), "missing spec", "add spec: 1");
  trigger_set ts;
  if (auto l = root["language"]) ts.language = l.Scalar();
  if (auto h = root["help"]) {
    if (h.IsScalar()) {
      ts.help.by_lang[ts.language] = h.Scalar();
    } else if (h.IsMap()) {
      for (auto it = h.begin(); it != h.end(); ++it) ts.help.by_lang[it->first.Scalar()] = it->second.Scalar();
    } else {
      d.error(at(file, h), "help must be a text or a map of languages");
    }
  }
  const auto ids = flow_ids(flows);
  auto check_flow = [&](const YAML::Node& n, const std::string& id) {
    if (flows.find(id)) return true;
    std::string hint = did_you_mean(id, ids);
    d.error(at(file, n), "no flow '" + id + "'", hint.empty() ? "check the id in the flow file's id:" : hint);
    return false;
  };
  if (auto m = root["menu"]) {
    if (!m.IsSequence()) {
      d.error(at(file, m), "menu must be a list of flow ids");
    } else {
      for (const auto& e : m)
        if (check_flow(e, e.Scalar())) ts.menu.push_back(e.Scalar());
    }
  }
  std::map<std::string, source_pos> seen;
  const auto& globals = global_keywords();
  if (auto list = root["triggers"]) {
    if (!list.IsSequence()) {
      d.error(at(file, list), "triggers must be a list", "write - {keywords: [palabra], flow: id}");
    } else {
      static const std::vector<std::string> tkeys = {"keywords", "flow", "course", "policy"};
      const auto courses = course_ids(flows);
      for (const auto& t : list) {
        trigger tr;
        tr.pos = at(file, t);
        if (!t.IsMap()) {
          d.error(tr.pos, "a trigger must be a map", "write - {keywords: [palabra], flow: id}");
          continue;
        }
        for (auto it = t.begin(); it != t.end(); ++it) {
          const auto k = it->first.Scalar();
          if (std::find(tkeys.begin(), tkeys.end(), k) == tkeys.end()) {
            std::string hint = did_you_mean(k, tkeys);
            d.error(at(file, it->first), "unknown key '" + k + "' in a trigger", hint.empty() ? "allowed: keywords, flow, course, policy" : hint);
          }
        }
        // A trigger starts a flow or enrols in a course (course.yaml): exactly one of the two.
        auto f = t["flow"];
        auto c = t["course"];
        if (f && c) {
          d.error(at(file, c), "a trigger names either a flow or a course, not both",
                  "keep flow: to start one flow, or course: to enrol in a course");
        } else if (f) {
          tr.flow = f.Scalar();
          check_flow(f, tr.flow);
        } else if (c) {
          tr.course = c.Scalar();
          if (!flows.course(tr.course)) {
            std::string hint = did_you_mean(tr.course, courses);
            d.error(at(file, c), "no course '" + tr.course + "'",
                    hint.empty() ? "check the id in course.yaml (a course with errors is left out)" : hint);
          }
        } else {
          d.error(tr.pos, "trigger without flow or course", "add flow: <flow id> or course: <course id>");
        }
        if (auto p = t["policy"]) {
          if (auto pol = start_policy_from(p.Scalar())) tr.policy = *pol;
          else d.error(at(file, p), "unknown policy '" + p.Scalar() + "'", "use interrupt, skip or queue");
        }
        auto kw = t["keywords"];
        if (!kw) {
          d.error(tr.pos, "trigger without keywords", "add keywords: [palabra]");
          continue;
        }
        std::vector<YAML::Node> words;
        if (kw.IsSequence()) {
          for (const auto& w : kw) words.push_back(w);
        } else {
          words.push_back(kw);
        }
        for (const auto& w : words) {
          const std::string f = fold(w.Scalar());
          if (f.empty()) {
            d.error(at(file, w), "empty keyword");
            continue;
          }
          if (std::find(globals.begin(), globals.end(), f) != globals.end()) {
            d.error(at(file, w), "'" + w.Scalar() + "' is a global keyword (STOP, BAJA, ALTA, AYUDA, MENU…)",
                    "choose another word");
            continue;
          }
          if (auto it = seen.find(f); it != seen.end()) {
            d.error(at(file, w), "keyword '" + w.Scalar() + "' is used twice",
                    "first at line " + std::to_string(it->second.line) + "; a keyword starts one flow");
            continue;
          }
          seen[f] = at(file, w);
          tr.keywords.push_back(w.Scalar());
          tr.folded.push_back(f);
        }
        ts.triggers.push_back(std::move(tr));
      }
    }
  }
  flows.triggers = std::move(ts);
  return d.errors() == before;
}

}  // namespace aula
