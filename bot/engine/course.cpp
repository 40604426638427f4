#include "bot/engine/course.hpp"

#include <algorithm>

namespace aula {

const course_module* course_def::module(const std::string& flow_id) const {
  for (const auto& m : modules)
    if (m.flow == flow_id) return &m;
  return nullptr;
}

int course_def::index_of(const std::string& flow_id) const {
  for (std::size_t i = 0; i < modules.size(); ++i)
    if (modules[i].flow == flow_id) return static_cast<int>(i);
  return -1;
}

const course_def* course_set::find(const std::string& id) const {
  for (const auto& c : courses)
    if (c.id == id) return &c;
  return nullptr;
}

const course_def* flow_set::course(const std::string& id) const { return courses ? courses->find(id) : nullptr; }

std::vector<course_progress> progress_from_records(const std::vector<nlohmann::json>& records) {
  std::vector<course_progress> out;
  auto find = [&](const std::string& id) -> course_progress* {
    for (auto& c : out)
      if (c.course == id) return &c;
    return nullptr;
  };
  for (const auto& r : records) {
    if (!r.is_object() || !r.contains("value") || !r["value"].is_object()) continue;
    const std::string type = r.value("type", std::string{});
    const std::string course = r["value"].value("course", std::string{});
    if (course.empty()) continue;
    const std::int64_t at = r.value("at", std::int64_t{0});
    if (type == "enrolled") {
      course_progress* c = find(course);
      if (!c) {
        out.push_back(course_progress{});
        c = &out.back();
      }
      *c = course_progress{};
      c->course = course;
      c->enrolled_at = at;
      continue;
    }
    course_progress* c = find(course);
    if (!c) continue;
    if (type == "module") {
      const int number = r["value"].value("module", 0);
      if (number < 1) continue;
      const auto i = static_cast<std::size_t>(number - 1);
      while (c->modules.size() <= i) c->modules.push_back(module_progress{});
      module_progress& m = c->modules[i];
      m.flow = r.value("flow", std::string{});
      m.status = r.value("status", std::string{});
      m.attempts = std::max(m.attempts, r.value("attempt", 0));
      c->current = number - 1;
      if (m.status == "started") {
        if (!m.opened_at) m.opened_at = at;
      } else {
        m.score = r["value"].value("score", 0);
        m.score_max = r["value"].value("max", 0);
        m.ended_at = at;
        // The next module is reached once this one is passed.
        if (m.status == "completed") c->current = number;
      }
    } else if (type == "course") {
      c->status = r.value("status", std::string{});
      c->ended_at = at;
    } else if (type == "certificate") {
      c->certificate = r["value"].value("code", std::string{});
      c->folio = r["value"].value("folio", std::string{});
    }
  }
  return out;
}

}  // namespace aula
