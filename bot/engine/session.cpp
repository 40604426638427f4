#include "bot/engine/session.hpp"

#include <limits>
#include <stdexcept>

#include "bot/engine/session_text.hpp"

namespace aula {

using nlohmann::json;

namespace {

// An integer field: a number out of the type's range (the text "1e85", or a float where an
// integer belongs) is an error of the documented kind, never an undefined conversion.
template <class T>
T int_value(const json& j, const char* key, T def) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_number_integer()) {
    if (it->is_number_unsigned()) {
      const auto u = it->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        throw std::runtime_error(std::string("session: ") + key + " is out of range");
      return static_cast<T>(u);
    }
    const auto v = it->get<std::int64_t>();
    if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        v > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
      throw std::runtime_error(std::string("session: ") + key + " is out of range");
    return static_cast<T>(v);
  }
  if (it->is_number_float()) throw std::runtime_error(std::string("session: ") + key + " must be an integer");
  return it->get<T>();  // other types: nlohmann's type_error, as before
}

json timer_to_json(const timer_slot& t) { return {{"id", t.id}, {"due", t.due}, {"k", t.kind}, {"c", t.count}}; }

timer_slot timer_from_json(const json& j) {
  return timer_slot{j.at("id").get<std::string>(), int_value(j, "due", std::int64_t{0}), j.value("k", std::string{}),
                    int_value(j, "c", 0)};
}

json run_to_json(const run_state& run) {
  json r = {{"flow", run.flow}, {"id", run.id},          {"node", run.node},
            {"r", run.retries}, {"a", run.attempts},    {"n", run.seq},
            {"s", run.score},   {"smax", run.score_max}, {"t0", run.started_at}};
  if (!run.course.empty()) r["course"] = run.course;
  if (run.timer) r["tm"] = timer_to_json(*run.timer);
  if (run.expire) r["ex"] = timer_to_json(*run.expire);
  return r;
}

run_state run_from_json(const json& r) {
  run_state rs;
  rs.flow = r.at("flow").get<std::string>();
  rs.id = r.at("id").get<std::string>();
  rs.node = r.at("node").get<std::string>();
  rs.retries = int_value(r, "r", 0);
  rs.attempts = int_value(r, "a", 0);
  rs.seq = int_value(r, "n", 0);
  rs.score = int_value(r, "s", 0);
  rs.score_max = int_value(r, "smax", 0);
  rs.started_at = int_value(r, "t0", std::int64_t{0});
  rs.course = r.value("course", std::string{});
  if (auto it = r.find("tm"); it != r.end()) rs.timer = timer_from_json(*it);
  if (auto it = r.find("ex"); it != r.end()) rs.expire = timer_from_json(*it);
  return rs;
}

json course_to_json(const course_progress& c) {
  json mods = json::array();
  for (const auto& m : c.modules)
    mods.push_back({{"flow", m.flow}, {"st", m.status}, {"s", m.score}, {"smax", m.score_max},
                    {"a", m.attempts}, {"t0", m.opened_at}, {"t1", m.ended_at}});
  json j = {{"id", c.course}, {"st", c.status}, {"cur", c.current}, {"mods", std::move(mods)},
            {"nudges", c.nudges}, {"t0", c.enrolled_at}, {"t1", c.ended_at}};
  if (c.timer) j["tm"] = timer_to_json(*c.timer);
  if (!c.certificate.empty()) j["cert"] = {{"code", c.certificate}, {"folio", c.folio}};
  return j;
}

course_progress course_from_json(const json& j) {
  course_progress c;
  c.course = j.at("id").get<std::string>();
  c.status = j.value("st", std::string("active"));
  c.current = int_value(j, "cur", 0);
  if (auto it = j.find("mods"); it != j.end())
    for (const auto& m : *it)
      c.modules.push_back(module_progress{m.value("flow", std::string{}), m.value("st", std::string{}),
                                          int_value(m, "s", 0), int_value(m, "smax", 0), int_value(m, "a", 0),
                                          int_value(m, "t0", std::int64_t{0}), int_value(m, "t1", std::int64_t{0})});
  c.nudges = int_value(j, "nudges", 0);
  c.enrolled_at = int_value(j, "t0", std::int64_t{0});
  c.ended_at = int_value(j, "t1", std::int64_t{0});
  if (auto it = j.find("tm"); it != j.end()) c.timer = timer_from_json(*it);
  if (auto it = j.find("cert"); it != j.end()) {
    c.certificate = it->value("code", std::string{});
    c.folio = it->value("folio", std::string{});
  }
  return c;
}

}  // namespace

module_progress* course_progress::module(const std::string& flow) {
  for (auto& m : modules)
    if (m.flow == flow) return &m;
  return nullptr;
}

course_progress* session::course(const std::string& id) {
  for (auto& c : courses)
    if (c.course == id) return &c;
  return nullptr;
}

const course_progress* session::course(const std::string& id) const {
  for (const auto& c : courses)
    if (c.course == id) return &c;
  return nullptr;
}

json session::to_json() const {
  json j = {{"v", format}, {"ver", version}};
  if (!lang.empty()) j["lang"] = lang;
  if (!contact.empty()) j["contact"] = contact;
  if (!answers.empty()) {
    json a = json::object();
    for (auto& [k, v] : answers) a[k] = {{"v", v.value}, {"t", v.text}};
    j["answers"] = std::move(a);
  }
  if (run) j["run"] = run_to_json(*run);
  if (!stack.empty()) {
    json st = json::array();
    for (const auto& r : stack) st.push_back(run_to_json(r));
    j["stack"] = std::move(st);
  }
  if (!queue.empty()) j["queue"] = queue;
  if (!courses.empty()) {
    json cs = json::array();
    for (const auto& c : courses) cs.push_back(course_to_json(c));
    j["courses"] = std::move(cs);
  }
  if (opted_out) j["out"] = true;
  if (menu_open) j["menu"] = true;
  if (!paused.empty()) j["pause"] = {{"why", paused}, {"at", paused_at}};
  if (last_in) j["li"] = last_in;
  if (flood_count) j["flood"] = {{"w", flood_window}, {"n", flood_count}, {"told", flood_told}};
  if (!consent.decision.empty())
    j["consent"] = {{"d", consent.decision}, {"ver", consent.version}, {"ch", consent.channel}, {"at", consent.at}};
  if (consent_asked) j["cq"] = true;
  if (!consent_pending.empty()) j["cp"] = consent_pending;
  if (last) {
    j["last"] = {{"flow", last->flow}, {"status", last->status}, {"s", last->score}, {"smax", last->score_max}};
  }
  return j;
}

std::string session::dump() const { return session_text::write(*this); }
std::string session::dump(std::int64_t version) const { return session_text::write(*this, version); }

session session::parse(const std::string& s) {
  if (auto fast = session_text::read(s)) return std::move(*fast);
  return from_json(json::parse(s));
}

session session::from_json(const json& j) {
  if (!j.is_object()) throw std::runtime_error("session: not a JSON object");
  int v = int_value(j, "v", 0);
  if (v != format) throw std::runtime_error("session: unknown format " + std::to_string(v));
  session s;
  s.version = int_value(j, "ver", std::int64_t{0});
  s.lang = j.value("lang", std::string{});
  if (auto it = j.find("contact"); it != j.end()) s.contact = it->get<std::map<std::string, std::string>>();
  if (auto it = j.find("answers"); it != j.end()) {
    for (auto& [k, a] : it->items()) s.answers[k] = saved_answer{a.at("v"), a.value("t", std::string{})};
  }
  if (auto it = j.find("run"); it != j.end()) s.run = run_from_json(*it);
  if (auto it = j.find("stack"); it != j.end())
    for (const auto& r : *it) s.stack.push_back(run_from_json(r));
  if (auto it = j.find("queue"); it != j.end()) s.queue = it->get<std::vector<std::string>>();
  if (auto it = j.find("courses"); it != j.end())
    for (const auto& c : *it) s.courses.push_back(course_from_json(c));
  s.opted_out = j.value("out", false);
  s.menu_open = j.value("menu", false);
  s.last_in = int_value(j, "li", std::int64_t{0});
  if (auto it = j.find("flood"); it != j.end() && it->is_object()) {
    s.flood_window = int_value(*it, "w", std::int64_t{0});
    s.flood_count = int_value(*it, "n", 0);
    s.flood_told = it->value("told", false);
  }
  if (auto it = j.find("pause"); it != j.end() && it->is_object()) {
    s.paused = it->value("why", std::string{});
    s.paused_at = int_value(*it, "at", std::int64_t{0});
  }
  if (auto it = j.find("consent"); it != j.end() && it->is_object())
    s.consent = consent_decision{it->value("d", std::string{}), it->value("ver", std::string{}),
                                 it->value("ch", std::string{}), int_value(*it, "at", std::int64_t{0})};
  s.consent_asked = j.value("cq", false);
  if (auto it = j.find("cp"); it != j.end() && it->is_array())
    for (const auto& e : *it) s.consent_pending.push_back(e);
  if (auto it = j.find("last"); it != j.end()) {
    s.last = last_run{it->value("flow", std::string{}), it->value("status", std::string{}), int_value(*it, "s", 0),
                      int_value(*it, "smax", 0)};
  }
  return s;
}

}  // namespace aula
