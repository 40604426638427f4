#include "bot/authoring/course_reader.hpp"
#include "bot/authoring/yaml_json.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <vector>

#include <date/date.h>
#include <yaml-cpp/yaml.h>

#include "bot/engine/template.hpp"
#include "bot/engine/timing.hpp"

namespace aula {

namespace {

// Format version of course.yaml this build reads.
constexpr int current_course_spec = 1;

const std::regex id_pattern("[a-z0-9][a-z0-9_-]*");
const std::regex date_pattern("([0-9]{4})-([0-9]{2})-([0-9]{2})");
// WhatsApp message template names: lower-case letters, digits and '_'.
const std::regex template_pattern("[a-z0-9_]+");

const std::vector<std::string> top_keys = {"spec", "language", "courses"};
const std::vector<std::string> course_keys = {"id",      "name",    "hours",    "start_date", "late_joiners",
                                              "drip",    "welcome", "unlocked", "modules",    "nudges",
                                              "review",  "completion", "certificate", "help", "stop"};
const std::vector<std::string> module_keys = {"flow", "title", "min_score", "drip"};
const std::vector<std::string> drip_keys = {"days", "at"};
const std::vector<std::string> nudges_keys = {"after", "max", "text", "template"};
const std::vector<std::string> review_keys = {"text", "max_attempts"};
const std::vector<std::string> completion_keys = {"min_score", "message", "not_met"};
const std::vector<std::string> certificate_keys = {"text", "name"};
const std::vector<std::string> late_joiner_values = {"now", "next_drip"};

const std::set<std::string> fixed_variables = {
    "course.name",      "course.id",        "module.number",    "modules.total",
    "module.name",      "module.score",     "module.min_score", "score.total",
    "score.max",        "score.percent",    "certificate.url",  "certificate.code", "certificate.folio",
    "certificate.name", "certificate.hours", "certificate.date"};

const char* valid_variables =
    "course texts may use contact.<field>, answers.<name>, course.name, course.id, module.name, "
    "module.number, modules.total, module.score, "
    "module.min_score, score.total, score.max, score.percent and certificate.url, .code, .folio, .name, "
    ".hours, .date";

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

class course_reader {
 public:
  course_reader(std::string file, const flow_set& flows, diagnostics& d)
      : file_(std::move(file)), flows_(flows), d_(d) {}

  source_pos pos(const YAML::Node& n) const {
    auto m = n.Mark();
    if (m.line < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }

  void error(const YAML::Node& at, std::string msg, std::string hint = {}) {
    d_.error(pos(at), std::move(msg), std::move(hint));
  }
  void warning(const YAML::Node& at, std::string msg, std::string hint = {}) {
    d_.warning(pos(at), std::move(msg), std::move(hint));
  }

  // Unknown keys (with a suggestion) and duplicates.
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& where) {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: it->first lives in a temporary proxy of the iterator
      const std::string key = k.IsScalar() ? k.Scalar() : "?";
      if (!seen.insert(key).second) {
        error(k, "duplicate key '" + key + "' in " + where, "keep one of them");
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string hint = did_you_mean(key, allowed);
        if (hint.empty()) hint = "allowed here: " + join(allowed);
        error(k, "unknown key '" + key + "' in " + where, hint);
      }
    }
  }

  // A map with the keys `allowed`; false (after an error) when `n` is no map.
  bool map_of(const YAML::Node& n, const std::vector<std::string>& allowed, const std::string& what,
              const std::string& example) {
    if (!n.IsMap()) {
      error(n, what + " must be a map", "for example: " + what + ": " + example);
      return false;
    }
    check_keys(n, allowed, what);
    return true;
  }

  bool string_of(const YAML::Node& n, std::string& out, const std::string& what) {
    return read_string(n, what, out,
                       [this](const YAML::Node& at, std::string m, std::string h) { error(at, std::move(m), std::move(h)); });
  }

  // A whole number from min_value to max_value.
  bool int_of(const YAML::Node& n, int& out, const std::string& what, int min_value, int max_value = 1'000'000) {
    int v = 0;
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "");
      v = n.as<int>();
    } catch (const YAML::Exception&) {
      error(n, what + " must be a whole number", "for example: " + std::to_string(std::max(min_value, 1)));
      return false;
    }
    if (v < min_value || v > max_value) {
      if (max_value == 100 && min_value == 0)
        error(n, what + " must be from 0 to 100", "it is a percent of the quiz points");
      else if (v < min_value)
        error(n, what + " must be " + std::to_string(min_value) + " or more",
              "write a whole number from " + std::to_string(min_value) + ", e.g. " + what + ": " +
                  std::to_string(std::max(min_value, 1)));
      else
        error(n, what + " must be at most " + std::to_string(max_value), "write a smaller number");
      return false;
    }
    out = v;
    return true;
  }

  bool number_of(const YAML::Node& n, double& out, const std::string& what, double min_value) {
    double v = 0;
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "");
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      error(n, what + " must be a number", "for example: " + what + ": 10");
      return false;
    }
    if (!(v >= min_value)) {
      error(n, what + " must be " + std::to_string(static_cast<int>(min_value)) + " or more",
            "write a number such as " + what + ": 10");
      return false;
    }
    out = v;
    return true;
  }

  bool duration_of(const YAML::Node& n, std::int64_t& out, const std::string& what) {
    std::string text;
    if (!string_of(n, text, what)) return false;
    auto d = parse_duration(text);
    if (!d || *d <= 0) {
      error(n, "'" + text + "' is not a duration for " + what,
            "write a number and a unit: 90s, 15m, 24h, 3d, 1w, 1h30m");
      return false;
    }
    out = *d;
    return true;
  }

  // A text: a string (the file's language) or a map {es: …, en: …}. Its {{variables}} are
  // checked against what course texts may use.
  bool localized_of(const YAML::Node& n, localized& out, const std::string& what) {
    const bool ok = read_localized(
        n, language_, what, out,
        [this](const YAML::Node& at, std::string m, std::string h) { error(at, std::move(m), std::move(h)); });
    std::set<std::string> reported;
    for (const auto& [lang, text] : out.by_lang)
      for (const auto& v : variables_in(text))
        if (!course_variable_known(v) && reported.insert(v).second)
          warning(n, "unknown variable '" + v + "' in " + what + "; it shows as empty", valid_variables);
    return ok;
  }

  // drip: {days, at}; `at` is a clock time or (only for the course, `of_module` empty) the
  // word now. `of_module` (" of module 2") follows the key names in messages.
  bool drip_of(const YAML::Node& n, std::optional<int>& days, std::optional<int>& at, bool& at_now,
               const std::string& of_module) {
    const bool allow_now = of_module.empty();
    if (!map_of(n, drip_keys, "drip" + of_module, "{days: 1, at: \"09:00\"}")) return false;
    bool ok = true;
    if (auto d = n["days"]) {
      int v = 0;
      if (int_of(d, v, "drip.days" + of_module, 0)) days = v;
      else ok = false;
    }
    if (auto a = n["at"]) {
      std::string text;
      if (!string_of(a, text, "drip.at" + of_module)) return false;
      if (text == "now") {
        if (allow_now) {
          at_now = true;
        } else {
          error(a, "drip.at" + of_module + " cannot be now: a module's drip needs a time of day",
                "write a time such as \"10:00\", or leave at out to use the course's drip (which may say at: now)");
          ok = false;
        }
      } else if (auto m = parse_clock(text)) {
        at = *m;
      } else {
        error(a, "'" + text + "' is not a time of day for drip.at" + of_module,
              "write it as HH:MM, 24-hour, in quotes: \"09:00\"" + std::string(allow_now ? ", or now" : ""));
        ok = false;
      }
    }
    return ok;
  }

  bool read_module(const YAML::Node& n, std::size_t index, course_def& c,
                   std::map<std::string, source_pos>& listed) {
    course_module m;
    m.pos = pos(n);
    YAML::Node flow_node;
    bool ok = true;
    const std::string where = "module " + std::to_string(index + 1) + " of course '" + c.id + "'";
    if (n.IsScalar()) {
      flow_node = n;
    } else if (n.IsMap()) {
      check_keys(n, module_keys, where);
      if (auto f = n["flow"]) {
        flow_node = f;
      } else {
        error(n, where + " has no flow", "add flow: <flow id>");
        ok = false;
      }
      if (auto t = n["title"]) ok &= localized_of(t, m.title, "the title of " + where);
      if (auto s = n["min_score"]) {
        if (!int_of(s, m.min_score, "min_score", 0, 100)) {
          ok = false;
        } else if (index == 0 && m.min_score > 0) {
          warning(s, "min_score of the first module is ignored: no module comes before it",
                  "remove it; it belongs to a later module (the score the one before it needs), or to "
                  "completion: {min_score: …}");
          m.min_score = 0;
        }
      }
      if (auto d = n["drip"]) {
        bool now = false;
        ok &= drip_of(d, m.days, m.at_minutes, now, " of module " + std::to_string(index + 1));
      }
    } else {
      error(n, "a module must be a flow id or a map", "write - modulo-1 or - {flow: modulo-1, min_score: 60}");
      return false;
    }
    if (flow_node) {
      if (!string_of(flow_node, m.flow, "the flow of " + where)) return false;
      if (!flows_.find(m.flow)) {
        std::vector<std::string> ids;
        for (const auto& [id, f] : flows_.flows) ids.push_back(id);
        std::string hint = did_you_mean(m.flow, ids);
        error(flow_node, "module '" + m.flow + "' of course '" + c.id + "' is not a loaded flow",
              hint.empty() ? "check the id in the flow file's id: (a flow with errors is left out)" : hint);
        ok = false;
      } else if (auto it = listed.find(m.flow); it != listed.end()) {
        error(flow_node, "flow '" + m.flow + "' is listed twice in course '" + c.id + "'",
              "first at line " + std::to_string(it->second.line) + "; a flow is one module of a course");
        ok = false;
      } else {
        listed[m.flow] = pos(flow_node);
      }
    }
    c.modules.push_back(std::move(m));
    return ok;
  }

  void read_nudges(const YAML::Node& n, course_def& c) {
    const std::string what = "nudges of course '" + c.id + "'";
    if (!map_of(n, nudges_keys, "nudges", "{after: 48h, max: 2, text: \"¿Seguimos?\"}")) return;
    c.nudges.pos = pos(n);
    auto after = n["after"];
    if (after) {
      duration_of(after, c.nudges.after_ms, "nudges.after");
    } else {
      error(n, what + " have no after", "add after: 48h (how long a learner may stall before a nudge)");
    }
    if (auto m = n["max"]) int_of(m, c.nudges.max, "nudges.max", 0);
    else if (after) c.nudges.max = 1;
    if (auto t = n["text"]) localized_of(t, c.nudges.text, "the nudge text of course '" + c.id + "'");
    else if (after)
      warning(n, what + " have no text", "add text: {es: \"¿Seguimos?\"}; the learner should know why the question comes again");
    if (auto t = n["template"]) {
      if (string_of(t, c.nudges.template_name, "nudges.template") &&
          !std::regex_match(c.nudges.template_name, template_pattern))
        error(t, "'" + c.nudges.template_name + "' is not a WhatsApp template name",
              "template names use only a-z, 0-9 and '_', as approved in WhatsApp Manager");
    }
  }

  void read_course(const YAML::Node& n, course_def& c, std::map<std::string, source_pos>& ids) {
    c.pos = pos(n);
    c.language = language_;
    check_keys(n, course_keys, "a course");
    if (auto id = n["id"]) {
      c.pos = pos(id);
      if (string_of(id, c.id, "course id")) {
        if (!std::regex_match(c.id, id_pattern)) {
          error(id, "course id '" + c.id + "' may use only a-z, 0-9, '-' and '_'", "for example: id: inspectores");
        } else if (auto it = ids.find(c.id); it != ids.end()) {
          error(id, "course id '" + c.id + "' is used twice",
                "first at " + (it->second.file == file_ ? std::string() : it->second.file + " ") + "line " +
                    std::to_string(it->second.line) + "; give each course its own id");
        } else {
          ids[c.id] = c.pos;
        }
      }
    } else {
      error(n, "course without id", "add id: <a-z, 0-9, - and _>, e.g. id: inspectores");
    }
    const std::string self = "course '" + c.id + "'";
    if (auto v = n["name"]) localized_of(v, c.name, "the name of " + self);
    else error(n, self + " has no name", "add name: {" + language_ + ": \"…\"}");
    if (auto v = n["hours"]) number_of(v, c.hours, "hours", 0);
    if (auto v = n["start_date"]) {
      if (string_of(v, c.start_date, "start_date")) {
        std::smatch m;
        bool good = std::regex_match(c.start_date, m, date_pattern);
        if (good) {
          date::year_month_day ymd{date::year{std::stoi(m[1])}, date::month{static_cast<unsigned>(std::stoi(m[2]))},
                                   date::day{static_cast<unsigned>(std::stoi(m[3]))}};
          good = ymd.ok();
        }
        if (!good) {
          error(v, "'" + c.start_date + "' is not a date for start_date",
                "write a calendar date as YYYY-MM-DD in quotes: \"2026-12-01\"");
          c.start_date.clear();
        }
      }
    }
    if (auto v = n["late_joiners"]) {
      std::string s;
      if (string_of(v, s, "late_joiners")) {
        if (s == "now" || s == "next_drip") {
          c.late_start_now = s == "now";
        } else {
          std::string hint = did_you_mean(s, late_joiner_values);
          error(v, "unknown late_joiners '" + s + "'",
                hint.empty() ? "use now (start at once) or next_drip (start at the next drip time)" : hint);
        }
      }
    }
    if (auto v = n["drip"]) {
      std::optional<int> days = c.drip.days;
      std::optional<int> at = c.drip.at_minutes;
      bool now = false;
      drip_of(v, days, at, now, "");
      c.drip.days = *days;
      c.drip.at_minutes = now ? std::nullopt : at;
    }
    if (auto v = n["welcome"]) localized_of(v, c.welcome, "the welcome of " + self);
    if (auto v = n["unlocked"]) localized_of(v, c.unlocked, "the unlocked text of " + self);
    if (auto v = n["help"]) localized_of(v, c.help, "the help text of " + self);
    if (auto v = n["stop"]) localized_of(v, c.stopped, "the stop confirmation of " + self);

    if (auto v = n["modules"]) {
      if (!v.IsSequence() || v.size() == 0) {
        error(v, "modules of " + self + " must be a list of flow ids", "write modules: [modulo-1, modulo-2]");
      } else {
        std::map<std::string, source_pos> listed;
        for (std::size_t i = 0; i < v.size(); ++i) read_module(v[i], i, c, listed);
      }
    } else {
      error(n, self + " has no modules", "add modules: [<flow id>, …] in the order learners take them");
    }

    if (auto v = n["nudges"]) read_nudges(v, c);
    if (auto v = n["review"]) {
      if (map_of(v, review_keys, "review", "{text: \"Repasemos…\", max_attempts: 3}")) {
        if (auto t = v["text"]) localized_of(t, c.review.text, "the review text of " + self);
        if (auto m = v["max_attempts"]) int_of(m, c.review.max_attempts, "review.max_attempts", 0);
      }
    }
    if (auto v = n["completion"]) {
      if (map_of(v, completion_keys, "completion", "{min_score: 70, message: \"¡Felicidades!\"}")) {
        if (auto s = v["min_score"]) int_of(s, c.completion.min_score, "completion.min_score", 0, 100);
        if (auto t = v["message"]) localized_of(t, c.completion.message, "the completion message of " + self);
        if (auto t = v["not_met"]) localized_of(t, c.completion.not_met, "the not_met text of " + self);
      }
    }
    if (auto v = n["certificate"]) {
      if (map_of(v, certificate_keys, "certificate", "{text: \"Tu constancia: {{certificate.url}}\"}")) {
        c.certificate.enabled = true;
        if (auto t = v["text"]) {
          localized_of(t, c.certificate.text, "the certificate text of " + self);
          std::vector<std::string> without;
          for (const auto& [lang, text] : c.certificate.text.by_lang) {
            const auto vars = variables_in(text);
            if (std::find(vars.begin(), vars.end(), "certificate.url") == vars.end()) without.push_back(lang);
          }
          if (!without.empty())
            warning(t, "the certificate text of " + self + " has no {{certificate.url}} (" + join(without) + ")",
                    "the learner needs the link to show the certificate");
        }
        if (auto s = v["name"]) {
          if (string_of(s, c.certificate.name, "certificate.name")) {
            for (const auto& var : variables_in(c.certificate.name))
              if (!course_variable_known(var))
                warning(s, "unknown variable '" + var + "' in the certificate name of " + self + "; it shows as empty",
                        valid_variables);
          }
        }
      }
    }
  }

  bool read(const YAML::Node& root, flow_set& flows) {
    const std::size_t before = d_.errors();
    auto set = std::make_shared<course_set>();
    if (flows.courses) *set = *flows.courses;
    std::map<std::string, source_pos> ids;
    for (const auto& c : set->courses) ids[c.id] = c.pos;

    if (!root.IsMap()) {
      error(root, "course.yaml must be a map", "with spec, language and courses");
      flows.courses = set;
      return false;
    }
    check_keys(root, top_keys, "course.yaml");
    if (auto spec = root["spec"]) {
      int v = 0;
      if (int_of(spec, v, "spec", 1) && v > current_course_spec)
        error(spec, "spec " + std::to_string(v) + " is newer than this aula reads (" +
                        std::to_string(current_course_spec) + ")",
              "upgrade aula or write spec: " + std::to_string(current_course_spec));
    } else {
      error(root, "missing spec", "add spec: " + std::to_string(current_course_spec) + " at the top of the file");
    }
    if (auto l = root["language"]) {
      if (string_of(l, language_, "language") && !is_language_code(language_)) {
        error(l, "'" + language_ + "' is not a language code", "use es, en, …");
        language_ = "es";
      }
    }
    // Problems with the file itself (an unknown key, its spec or language) leave out all of its
    // courses: they may not mean what they say.
    const bool file_ok = d_.errors() == before;
    if (auto list = root["courses"]) {
      if (!list.IsSequence()) {
        error(list, "courses must be a list", "write - {id: mi-curso, name: \"…\", modules: [modulo-1]}");
      } else {
        for (const auto& n : list) {
          if (!n.IsMap()) {
            error(n, "a course must be a map", "with id, name and modules");
            continue;
          }
          const std::size_t course_before = d_.errors();
          course_def c;
          read_course(n, c, ids);
          // Like a flow with errors, a course with errors is left out.
          if (file_ok && d_.errors() == course_before) set->courses.push_back(std::move(c));
        }
      }
    } else {
      error(root, "missing courses", "add courses: with one entry per course");
    }
    flows.courses = set;
    return d_.errors() == before;
  }

 private:
  std::string file_;
  const flow_set& flows_;
  diagnostics& d_;
  std::string language_ = "es";
};

}  // namespace

bool course_variable_known(const std::string& name) {
  if (fixed_variables.count(name)) return true;
  for (const char* ns : {"contact.", "answers."}) {
    const std::string prefix = ns;
    if (name.size() > prefix.size() && name.starts_with(prefix)) return true;
  }
  return false;
}

bool read_courses(const std::string& text, const std::string& file, flow_set& flows, diagnostics& d) {
  if (!flows.courses) flows.courses = std::make_shared<const course_set>();
  if (!check_utf8(text, file, d)) return false;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    d.error({file, e.mark.line + 1, e.mark.column + 1}, "not valid YAML: " + e.msg,
            "check the indentation and quotes around this place");
    return false;
  } catch (const YAML::Exception& e) {
    d.error({file, 1, 1}, std::string("cannot read: ") + e.what());
    return false;
  }
  if (!root || root.IsNull()) {
    d.error({file, 1, 1}, "the file is empty", "a course file needs spec: 1 and courses:, or delete it");
    return false;
  }
  return course_reader(file, flows, d).read(root, flows);
}

}  // namespace aula
