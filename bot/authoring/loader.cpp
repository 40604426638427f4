#include "bot/authoring/loader.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "bot/authoring/checks.hpp"
#include "bot/authoring/course_reader.hpp"
#include "bot/authoring/schema.hpp"
#include "bot/authoring/triggers.hpp"
#include "bot/authoring/yaml_json.hpp"
#include "bot/engine/condition.hpp"
#include "bot/engine/text.hpp"
#include "bot/engine/timing.hpp"

namespace aula {

namespace fs = std::filesystem;

namespace {

// Keys each part of a flow file may have: read from flows/schema.json, embedded at build time
// (bot/authoring/schema.hpp), the single source of truth for them.
const std::vector<std::string>& flow_keys() { return flow_schema().flow; }
const std::vector<std::string> kind_keys = {"message", "question", "quiz", "split", "random",
                                            "set", "wait", "subflow", "webhook", "end"};
const std::map<node_kind, std::vector<std::string>>& node_keys() { return flow_schema().node; }
const std::vector<std::string>& media_keys() { return flow_schema().media; }
const std::vector<std::string>& timeout_keys() { return flow_schema().timeout; }
const std::vector<std::string>& case_keys() { return flow_schema().split_case; }
const std::vector<std::string>& branch_keys() { return flow_schema().random_branch; }
const std::vector<std::string>& wait_keys() { return flow_schema().wait; }
const std::vector<std::string>& webhook_keys() { return flow_schema().webhook; }
const std::vector<std::string>& question_option_keys() { return flow_schema().question_option; }
const std::vector<std::string>& quiz_option_keys() { return flow_schema().quiz_option; }
const std::vector<std::string>& feedback_keys() { return flow_schema().feedback; }

const std::regex id_pattern("[a-z0-9][a-z0-9_-]*");

class reader {
 public:
  reader(std::string file, diagnostics& d) : file_(std::move(file)), d_(d) {}

  source_pos pos(const YAML::Node& n) const {
    auto m = n.Mark();
    if (m.line < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }
  source_pos pos(const YAML::Mark& m) const { return {file_, m.line + 1, m.column + 1}; }

  void error(const YAML::Node& at, std::string msg, std::string hint = {}) {
    d_.error(pos(at), std::move(msg), std::move(hint));
  }

  // Checks a mapping's keys: unknown ones (with a suggestion) and duplicates.
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& where,
                  const std::function<std::string(const std::string&)>& explain = {}) {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: it->first lives in a temporary proxy of the iterator
      std::string key = k.IsScalar() ? k.Scalar() : "?";
      if (!seen.insert(key).second) {
        error(k, "duplicate key '" + key + "' in " + where, "keep one of them");
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string hint = explain ? explain(key) : std::string{};
        if (hint.empty()) hint = did_you_mean(key, allowed);
        if (hint.empty()) hint = "allowed here: " + join(allowed);
        error(k, "unknown key '" + key + "' in " + where, hint);
      }
    }
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  }

  bool string_of(const YAML::Node& n, std::string& out, const std::string& what) {
    return read_string(n, what, out,
                       [this](const YAML::Node& at, std::string m, std::string h) { error(at, std::move(m), std::move(h)); });
  }

  bool int_of(const YAML::Node& n, int& out, const std::string& what, int min_value) {
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "");
      out = n.as<int>();
    } catch (const YAML::Exception&) {
      error(n, what + " must be a whole number", "for example: " + what + ": " + std::to_string(std::max(min_value, 1)));
      return false;
    }
    if (out < min_value) {
      error(n, what + " must be at least " + std::to_string(min_value));
      return false;
    }
    return true;
  }

  bool number_of(const YAML::Node& n, double& out, const std::string& what) {
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "");
      out = n.as<double>();
      return true;
    } catch (const YAML::Exception&) {
      error(n, what + " must be a number");
      return false;
    }
  }

  bool bool_of(const YAML::Node& n, bool& out, const std::string& what) {
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "");
      out = n.as<bool>();
      return true;
    } catch (const YAML::Exception&) {
      error(n, what + " must be true or false");
      return false;
    }
  }

  // A text: a string (the base language) or a map {es: …, en: …}.
  bool localized_of(const YAML::Node& n, localized& out, const std::string& base, const std::string& what) {
    return read_localized(n, base, what, out,
                          [this](const YAML::Node& at, std::string m, std::string h) { error(at, std::move(m), std::move(h)); });
  }

  bool read(const YAML::Node& root, flow& f);

 private:
  bool read_node(const std::string& id, const YAML::Node& key, const YAML::Node& n, flow& f, node& out);
  bool read_options(const YAML::Node& n, const flow& f, node& out);
  bool read_save_as(const YAML::Node& v, node& out);
  bool read_media(const YAML::Node& m, node& out);
  bool read_timeout(const YAML::Node& t, const flow& f, node& out);
  bool read_split(const YAML::Node& n, node& out);
  bool read_random(const YAML::Node& n, node& out);
  bool read_set(const YAML::Node& n, node& out);
  bool read_wait(const YAML::Node& n, node& out);
  bool read_webhook(const YAML::Node& w, node& out);

 public:
  bool duration_of(const YAML::Node& v, std::int64_t& out, const std::string& what) {
    std::string text;
    if (!string_of(v, text, what)) return false;
    auto d = parse_duration(text);
    if (!d || *d <= 0) {
      error(v, "'" + text + "' is not a duration for " + what, "write a number and a unit: 90s, 15m, 24h, 3d, 1w, 1h30m");
      return false;
    }
    out = *d;
    return true;
  }

 private:

  std::string file_;
  diagnostics& d_;
};

std::string slug(const std::string& label) {
  std::string f = fold(label), s;
  for (char c : f) s.push_back(c == ' ' ? '-' : c);
  return s;
}

bool reader::read_save_as(const YAML::Node& v, node& out) {
  if (!string_of(v, out.save_as, "save_as")) return false;
  if (!out.save_as.empty() && !std::regex_match(out.save_as, std::regex("[a-z_][a-z0-9_]*"))) {
    error(v, "save_as '" + out.save_as + "' may use only a-z, 0-9 and '_'", "it becomes {{answers." + slug(out.save_as) + "}}");
    return false;
  }
  return true;
}

bool reader::read_media(const YAML::Node& m, node& out) {
  if (!m.IsMap()) {
    error(m, "media must be a map", "for example: {type: document, url: \"https://…/guia.pdf\"}");
    return false;
  }
  check_keys(m, media_keys(), "media of node '" + out.id + "'");
  media md;
  md.pos = pos(m);
  bool ok = true;
  if (auto t = m["type"]) {
    ok &= string_of(t, md.type, "media type");
    if (md.type != "image" && md.type != "document" && md.type != "audio") {
      error(t, "unknown media type '" + md.type + "'", "use image, document or audio");
      ok = false;
    }
  } else {
    error(m, "media without a type", "add type: image, document or audio");
    ok = false;
  }
  if (auto u = m["url"]) {
    ok &= string_of(u, md.url, "media url");
  } else {
    error(m, "media without a url", "add url: \"https://…\"");
    ok = false;
  }
  if (auto fn = m["filename"]) ok &= string_of(fn, md.filename, "filename");
  if (auto sz = m["size_kb"]) {
    int kb = 0;
    ok &= int_of(sz, kb, "size_kb", 1);
    md.size_kb = kb;
  }
  out.attachment = md;
  return ok;
}

bool reader::read_timeout(const YAML::Node& t, const flow& f, node& out) {
  if (!t.IsMap()) {
    error(t, "timeout must be a map", "for example: {after: 24h, remind: \"¿Seguimos?\", max_reminders: 2, next: fin}");
    return false;
  }
  check_keys(t, timeout_keys(), "timeout of node '" + out.id + "'");
  reply_timeout to;
  to.pos = pos(t);
  bool ok = true;
  if (auto a = t["after"]) {
    ok &= duration_of(a, to.after_ms, "timeout.after");
  } else {
    error(t, "timeout without after", "add after: 24h (how long to wait for a reply)");
    ok = false;
  }
  if (auto r = t["remind"]) ok &= localized_of(r, to.remind, f.language, "remind");
  if (auto m = t["max_reminders"]) ok &= int_of(m, to.max_reminders, "max_reminders", 0);
  else if (!to.remind.empty()) to.max_reminders = 1;
  if (auto nx = t["next"]) {
    ok &= string_of(nx, to.next, "timeout.next");
    to.next_pos = pos(nx);
  }
  out.timeout = to;
  return ok;
}

bool reader::read_split(const YAML::Node& n, node& out) {
  const YAML::Node& cases = n["split"];
  if (!cases.IsSequence() || cases.size() == 0) {
    error(cases, "split must be a list of cases", "write each as - {if: \"answers.rol == inspector\", next: nodo}");
    return false;
  }
  bool ok = true;
  for (const auto& c : cases) {
    if (!c.IsMap()) {
      error(c, "a split case must be a map", "write - {if: \"…\", next: nodo}");
      ok = false;
      continue;
    }
    check_keys(c, case_keys(), "a case of split '" + out.id + "'");
    split_case sc;
    sc.pos = pos(c);
    if (auto cond = c["if"]) {
      std::string text;
      if (string_of(cond, text, "if")) {
        condition_error err;
        if (auto parsed = parse_condition(text, err)) {
          sc.when = *parsed;
        } else {
          source_pos p = pos(cond);
          // A quoted scalar starts one column before its text.
          const bool quoted = cond.Tag() == "!";
          p.col += err.offset + (quoted ? 1 : 0);
          d_.error(p, "condition: " + err.message,
                   "for example: answers.rol == inspector-federal, score.total >= 3, cohort == piloto");
          ok = false;
        }
      } else {
        ok = false;
      }
    } else {
      error(c, "split case without if", "add if: \"<condition>\"");
      ok = false;
    }
    if (auto nx = c["next"]) {
      ok &= string_of(nx, sc.next, "next");
      sc.next_pos = pos(nx);
    } else {
      error(c, "split case without next", "add next: <node id>");
      ok = false;
    }
    out.cases.push_back(std::move(sc));
  }
  return ok;
}

bool reader::read_random(const YAML::Node& n, node& out) {
  const YAML::Node& branches = n["random"];
  if (!branches.IsSequence() || branches.size() < 2) {
    error(branches, "random must be a list of at least two branches", "write - {weight: 50, next: version-a}");
    return false;
  }
  bool ok = true;
  for (const auto& b : branches) {
    if (!b.IsMap()) {
      error(b, "a random branch must be a map", "write - {weight: 50, next: version-a}");
      ok = false;
      continue;
    }
    check_keys(b, branch_keys(), "a branch of random '" + out.id + "'");
    random_branch rb;
    rb.pos = pos(b);
    if (auto w = b["weight"]) ok &= int_of(w, rb.weight, "weight", 1);
    if (auto nx = b["next"]) {
      ok &= string_of(nx, rb.next, "next");
      rb.next_pos = pos(nx);
    } else {
      error(b, "random branch without next", "add next: <node id>");
      ok = false;
    }
    out.branches.push_back(std::move(rb));
  }
  return ok;
}

bool reader::read_set(const YAML::Node& n, node& out) {
  const YAML::Node& m = n["set"];
  if (!m.IsMap() || m.size() == 0) {
    error(m, "set must be a map of targets to values", "for example: set: {contact.nivel: avanzado}");
    return false;
  }
  bool ok = true;
  for (auto it = m.begin(); it != m.end(); ++it) {
    set_action a;
    a.target = it->first.Scalar();
    a.pos = pos(it->first);
    const bool good = a.target == "lang" ||
                      (std::regex_match(a.target, std::regex("(contact|answers)\\.[a-z_][a-z0-9_]*")));
    if (!good) {
      error(it->first, "cannot set '" + a.target + "'", "set contact.<field>, answers.<name> or lang");
      ok = false;
    }
    if (!it->second.IsScalar()) {
      error(it->second, "the value of " + a.target + " must be a text");
      ok = false;
      continue;
    }
    a.value = it->second.Scalar();
    out.sets.push_back(std::move(a));
  }
  return ok;
}

bool reader::read_wait(const YAML::Node& n, node& out) {
  const YAML::Node& w = n["wait"];
  if (!w.IsMap()) {
    error(w, "wait must be a map", "for example: wait: {for: 2h} or wait: {until: \"09:00\", days: 1}");
    return false;
  }
  check_keys(w, wait_keys(), "wait of node '" + out.id + "'");
  bool ok = true;
  auto f = w["for"];
  auto u = w["until"];
  if ((f && u) || (!f && !u)) {
    error(w, "wait needs either for (a delay) or until (a local time)", "for example: {for: 2h} or {until: \"09:00\"}");
    return false;
  }
  if (f) ok &= duration_of(f, out.wait.for_ms, "wait.for");
  if (u) {
    std::string text;
    if (string_of(u, text, "until")) {
      if (auto m = parse_clock(text)) {
        out.wait.until_minutes = *m;
      } else {
        error(u, "'" + text + "' is not a time of day", "write it as HH:MM, 24-hour, in quotes: \"09:00\"");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (auto d = w["days"]) {
    if (!u) {
      error(d, "days goes with until", "for a delay in days write for: 2d");
      ok = false;
    } else {
      ok &= int_of(d, out.wait.days, "days", 0);
    }
  }
  return ok;
}

bool reader::read_webhook(const YAML::Node& w, node& out) {
  if (!w.IsMap()) {
    error(w, "webhook must be a map", "for example: {method: POST, url: \"https://…\", body: '{\"a\": 1}'}");
    return false;
  }
  check_keys(w, webhook_keys(), "webhook of node '" + out.id + "'");
  bool ok = true;
  if (auto m = w["method"]) {
    ok &= string_of(m, out.webhook.method, "method");
    static const std::set<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    if (!methods.count(out.webhook.method)) {
      error(m, "unknown method '" + out.webhook.method + "'", "use GET, POST, PUT, PATCH or DELETE");
      ok = false;
    }
  }
  if (auto u = w["url"]) {
    ok &= string_of(u, out.webhook.url, "url");
    if (!out.webhook.url.starts_with("https://") && !out.webhook.url.starts_with("http://")) {
      error(u, "the webhook url must start with https:// (or http:// for tests)");
      ok = false;
    }
  } else {
    error(w, "webhook without a url", "add url: \"https://…\"");
    ok = false;
  }
  if (auto h = w["headers"]) {
    if (!h.IsMap()) {
      error(h, "headers must be a map of names to values");
      ok = false;
    } else {
      for (auto it = h.begin(); it != h.end(); ++it) out.webhook.headers[it->first.Scalar()] = it->second.Scalar();
    }
  }
  if (auto b = w["body"]) {
    if (b.IsScalar()) {
      out.webhook.body = b.Scalar();
    } else {
      out.webhook.body = yaml_to_json(b).dump();
    }
  }
  if (auto t = w["timeout"]) ok &= duration_of(t, out.webhook.timeout_ms, "webhook.timeout");
  return ok;
}

bool reader::read_options(const YAML::Node& n, const flow& f, node& out) {
  const std::string where = "options of node '" + out.id + "'";
  if (!n.IsSequence() || n.size() == 0) {
    error(n, where + " must be a list of options", "write each as - {id: a, label: \"…\"}");
    return false;
  }
  bool ok = true;
  std::map<std::string, YAML::Mark> ids;
  for (const auto& o : n) {
    option opt;
    opt.pos = pos(o);
    if (o.IsScalar()) {
      opt.label.by_lang[f.language] = o.Scalar();
      opt.id = slug(o.Scalar());
    } else if (o.IsMap()) {
      const auto& allowed = out.kind == node_kind::quiz ? quiz_option_keys() : question_option_keys();
      check_keys(o, allowed, "an option of node '" + out.id + "'", [&](const std::string& k) -> std::string {
        if (out.kind != node_kind::quiz && (k == "correct" || k == "feedback"))
          return "'" + k + "' belongs to quiz options; make the node a quiz to mark right answers";
        return {};
      });
      if (auto id = o["id"]) {
        ok &= string_of(id, opt.id, "option id");
        if (!opt.id.empty() && !std::regex_match(opt.id, id_pattern)) {
          error(id, "option id '" + opt.id + "' may use only a-z, 0-9, '-' and '_'", "for example: id: opcion-a");
          ok = false;
        }
      }
      if (auto label = o["label"]) {
        ok &= localized_of(label, opt.label, f.language, "label");
      } else {
        error(o, "option without a label in node '" + out.id + "'", "add label: \"…\"");
        ok = false;
      }
      if (opt.id.empty() && !opt.label.empty()) opt.id = slug(opt.label.get(f.language, f.language));
      if (auto c = o["correct"]; c && out.kind == node_kind::quiz) ok &= bool_of(c, opt.correct, "correct");
      if (auto fb = o["feedback"]; fb && out.kind == node_kind::quiz)
        ok &= localized_of(fb, opt.feedback, f.language, "feedback");
    } else {
      error(o, "an option must be a text or a map", "write - {id: a, label: \"…\"}");
      ok = false;
      continue;
    }
    if (auto [it, fresh] = ids.emplace(opt.id, o.Mark()); !fresh) {
      error(o, "duplicate option id '" + opt.id + "' in node '" + out.id + "'",
            "first used at line " + std::to_string(it->second.line + 1) + "; give each option its own id");
      ok = false;
    }
    out.options.push_back(std::move(opt));
  }
  return ok;
}

bool reader::read_node(const std::string& id, const YAML::Node& key, const YAML::Node& n, flow& f, node& out) {
  out.id = id;
  out.pos = pos(key);
  if (!std::regex_match(id, id_pattern)) {
    error(key, "node id '" + id + "' may use only a-z, 0-9, '-' and '_'", "for example: pregunta-1");
    return false;
  }
  if (!n.IsMap()) {
    error(n, "node '" + id + "' must be a map of keys", "for example: {message: \"Hola\", next: siguiente}");
    return false;
  }
  // The kind is the key that names it; `message` also goes with `end` (its last words).
  std::vector<std::string> kinds;
  for (const auto& k : kind_keys)
    if (n[k]) kinds.push_back(k);
  if (n["end"]) kinds.erase(std::remove(kinds.begin(), kinds.end(), "message"), kinds.end());
  if (kinds.empty()) {
    // A misspelled kind ("mesage") is the likeliest cause: say so.
    std::string hint;
    for (auto it = n.begin(); it != n.end() && hint.empty(); ++it) {
      // A key some node kind uses ("next") is no misspelled kind, however close it is.
      bool known = false;
      for (const auto& [other_kind, keys] : node_keys())
        known = known || std::find(keys.begin(), keys.end(), it->first.Scalar()) != keys.end();
      if (known) continue;
      hint = did_you_mean(it->first.Scalar(), kind_keys);
      if (!hint.empty()) {
        error(it->first, "node '" + id + "' has no kind: unknown key '" + it->first.Scalar() + "'", hint);
        return false;
      }
    }
    error(key, "node '" + id + "' has no kind", "give it one of: message, question, quiz, split, random, set, wait, subflow, webhook, end");
    return false;
  }
  if (kinds.size() > 1) {
    error(key, "node '" + id + "' has several kinds (" + join(kinds) + ")", "a node has one kind; split it in two nodes");
    return false;
  }
  const std::string kind = kinds[0];
  for (auto k : {node_kind::message, node_kind::question, node_kind::quiz, node_kind::split, node_kind::random,
                 node_kind::set, node_kind::wait, node_kind::subflow, node_kind::webhook, node_kind::end})
    if (kind == to_string(k)) out.kind = k;
  const auto& allowed = node_keys().at(out.kind);
  check_keys(n, allowed, "node '" + id + "' (" + kind + ")", [&](const std::string& k) -> std::string {
    for (const auto& [other, keys] : node_keys())
      if (other != out.kind && std::find(keys.begin(), keys.end(), k) != keys.end())
        return "'" + k + "' is not used by a " + kind + " node (it belongs to " + to_string(other) + " nodes)";
    return {};
  });

  bool ok = true;
  if (out.kind == node_kind::end) {
    std::string status;
    ok &= string_of(n["end"], status, "end");
    if (auto s = end_status_from(status)) {
      out.status = *s;
    } else if (ok) {
      error(n["end"], "unknown end status '" + status + "'", "use completed, failed, expired or interrupted");
      ok = false;
    }
    if (auto m = n["message"]) ok &= localized_of(m, out.text, f.language, "message");
    return ok;
  }

  if (out.kind == node_kind::message || out.kind == node_kind::question || out.kind == node_kind::quiz)
    ok &= localized_of(n[kind], out.text, f.language, kind);
  if (auto next = n["next"]) {
    ok &= string_of(next, out.next, "next");
    out.next_pos = pos(next);
  } else if (out.kind != node_kind::random) {
    if (out.kind == node_kind::split)
      error(key, "split '" + id + "' has no next: the default, taken when no case holds",
            "add next: <node id> as the default when no case holds");
    else
      error(key, "node '" + id + "' has no next", "add next: <node id>, or make it an end node");
    ok = false;
  }
  auto target = [&](const char* k, std::string& dest, source_pos& p) {
    if (auto v = n[k]) {
      ok &= string_of(v, dest, k);
      p = pos(v);
    }
  };
  switch (out.kind) {
    case node_kind::message:
      if (auto m = n["media"]) ok &= read_media(m, out);
      return ok;
    case node_kind::split: return read_split(n, out) && ok;
    case node_kind::random: return read_random(n, out) && ok;
    case node_kind::set: return read_set(n, out) && ok;
    case node_kind::wait: return read_wait(n, out) && ok;
    case node_kind::subflow:
      target("subflow", out.subflow, out.subflow_pos);
      target("on_failure", out.on_failure, out.on_failure_pos);
      return ok;
    case node_kind::webhook:
      target("on_failure", out.on_failure, out.on_failure_pos);
      target("on_timeout", out.on_timeout, out.on_timeout_pos);
      if (auto v = n["save_as"]) ok &= read_save_as(v, out);
      return read_webhook(n["webhook"], out) && ok;
    default: break;
  }
  if (auto t = n["timeout"]) ok &= read_timeout(t, f, out);

  if (out.kind == node_kind::question) {
    if (auto t = n["type"]) {
      std::string type;
      ok &= string_of(t, type, "type");
      if (auto qt = question_type_from(type)) {
        out.type = *qt;
      } else if (!type.empty()) {
        std::string hint = did_you_mean(type, {"choice", "multi", "text", "number", "scale", "nps"});
        error(t, "unknown question type '" + type + "'", hint.empty() ? "use choice, multi, text, number, scale or nps" : hint);
        ok = false;
      }
    } else {
      out.type = n["options"] ? question_type::choice : question_type::text;
    }
  }
  const bool has_options = out.kind == node_kind::quiz || out.type == question_type::choice || out.type == question_type::multi;
  if (auto o = n["options"]) {
    if (!has_options) {
      error(o, "a " + std::string(to_string(out.type)) + " question takes no options",
            out.type == question_type::scale || out.type == question_type::nps ? "its options are the numbers themselves"
                                                                               : "use type: choice for a menu");
      ok = false;
    } else {
      ok &= read_options(o, f, out);
    }
  } else if (has_options) {
    error(key, "node '" + id + "' has no options", "add options: with one entry per choice");
    ok = false;
  }
  if (out.type == question_type::scale || out.type == question_type::nps) {
    int lo = out.type == question_type::scale ? 1 : 0, hi = out.type == question_type::scale ? 5 : 10;
    for (int v = lo; v <= hi; ++v) out.options.push_back(option{std::to_string(v), localized{{{f.language, std::to_string(v)}}}, false, {}, out.pos});
  }
  for (const char* k : {"min", "max"}) {
    if (auto v = n[k]) {
      if (out.type != question_type::number) {
        error(v, std::string("'") + k + "' applies to number questions", out.type == question_type::multi ? "for multi use min_choices / max_choices" : "");
        ok = false;
        continue;
      }
      double d = 0;
      if (number_of(v, d, k)) (std::string(k) == "min" ? out.min : out.max) = d;
      else ok = false;
    }
  }
  if (out.min && out.max && *out.min > *out.max) {
    error(n["min"], "min is greater than max", "swap them");
    ok = false;
  }
  if (out.type == question_type::multi) out.max_choices = static_cast<int>(out.options.size());
  for (const char* k : {"min_choices", "max_choices"}) {
    if (auto v = n[k]) {
      if (out.type != question_type::multi) {
        error(v, std::string("'") + k + "' applies to multi questions");
        ok = false;
        continue;
      }
      ok &= int_of(v, std::string(k) == "min_choices" ? out.min_choices : out.max_choices, k, 1);
    }
  }
  if (out.type == question_type::multi && out.min_choices > out.max_choices) {
    error(n["min_choices"] ? n["min_choices"] : key, "min_choices is greater than max_choices");
    ok = false;
  }
  if (auto v = n["invalid"]) ok &= localized_of(v, out.invalid, f.language, "invalid");
  if (auto v = n["max_retries"]) ok &= int_of(v, out.max_retries, "max_retries", 0);
  if (auto v = n["on_invalid"]) {
    ok &= string_of(v, out.on_invalid, "on_invalid");
    out.on_invalid_pos = pos(v);
  }
  if (auto v = n["save_as"]) ok &= read_save_as(v, out);
  if (out.kind == node_kind::quiz) {
    if (auto v = n["points"]) ok &= int_of(v, out.points, "points", 0);
    if (auto v = n["attempts"]) ok &= int_of(v, out.attempts, "attempts", 1);
    if (auto fb = n["feedback"]) {
      if (!fb.IsMap()) {
        error(fb, "feedback must be a map", "for example: {correct: \"¡Bien!\", incorrect: \"La respuesta es…\"}");
        ok = false;
      } else {
        check_keys(fb, feedback_keys(), "feedback of node '" + id + "'");
        if (auto v = fb["correct"]) ok &= localized_of(v, out.feedback.correct, f.language, "feedback.correct");
        if (auto v = fb["incorrect"]) ok &= localized_of(v, out.feedback.incorrect, f.language, "feedback.incorrect");
        if (auto v = fb["retry"]) ok &= localized_of(v, out.feedback.retry, f.language, "feedback.retry");
      }
    }
    if (!out.options.empty() &&
        std::none_of(out.options.begin(), out.options.end(), [](const option& o) { return o.correct; })) {
      error(key, "quiz '" + id + "' has no correct option", "add correct: true to the right option(s)");
      ok = false;
    }
  }
  return ok;
}

bool reader::read(const YAML::Node& root, flow& f) {
  if (!root.IsMap()) {
    error(root, "a flow file must be a map with spec, id, start and nodes", "see README.md, 'Writing a flow'");
    return false;
  }
  const std::size_t errors_before = d_.errors();
  f.pos = pos(root);
  check_keys(root, flow_keys(), "the flow");

  // spec: the format version; older files migrate forward (none yet: spec 1 is the first).
  if (auto spec = root["spec"]) {
    if (int_of(spec, f.spec, "spec", 1) && f.spec > current_flow_spec) {
      error(spec, "spec " + std::to_string(f.spec) + " is newer than this aula reads (" +
                      std::to_string(current_flow_spec) + ")", "upgrade aula or write spec: " + std::to_string(current_flow_spec));
    }
  } else {
    error(root, "missing spec", "add spec: " + std::to_string(current_flow_spec) + " at the top of the file");
  }
  if (auto id = root["id"]) {
    f.pos = pos(id);
    if (string_of(id, f.id, "id") && !std::regex_match(f.id, id_pattern))
      error(id, "flow id '" + f.id + "' may use only a-z, 0-9, '-' and '_'", "for example: id: modulo-1");
  } else {
    error(root, "missing id", "add id: <name of this flow>, e.g. id: " + slug(fs::path(file_).stem().string()));
  }
  if (auto lang = root["language"]) {
    if (string_of(lang, f.language, "language") && !is_language_code(f.language))
      error(lang, "'" + f.language + "' is not a language code", "use es, en, …");
  }
  if (auto name = root["name"]) localized_of(name, f.name, f.language, "name");
  if (f.name.empty()) f.name.by_lang[f.language] = f.id;
  if (auto d = root["description"]) {
    localized description;
    localized_of(d, description, f.language, "description");
  }

  if (auto e = root["expire_after"]) duration_of(e, f.expire_after_ms, "expire_after");
  if (auto oe = root["on_expire"]) {
    string_of(oe, f.on_expire, "on_expire");
    f.on_expire_pos = pos(oe);
  }

  YAML::Node start = root["start"];
  if (start) string_of(start, f.start, "start");

  // Publishing a new version: where a learner waiting at a node this version no longer has goes.
  std::vector<std::pair<std::string, YAML::Node>> migrate_keys;  // old node id, its key
  if (auto m = root["migrate"]) {
    if (!m.IsMap()) {
      error(m, "migrate must be a map of old node id to node id",
            "for example: migrate: {pregunta-vieja: pregunta-nueva}");
    } else {
      for (auto it = m.begin(); it != m.end(); ++it) {
        const std::string old = it->first.IsScalar() ? it->first.Scalar() : "";
        if (!std::regex_match(old, id_pattern)) {
          error(it->first, "migrate key '" + old + "' is no node id", "write the id of the node the old version had");
          continue;
        }
        if (f.migrate.count(old)) {
          error(it->first, "'" + old + "' appears twice in migrate", "keep one of them");
          continue;
        }
        std::string target;
        if (!string_of(it->second, target, "the migrate target of '" + old + "'")) continue;
        f.migrate[old] = target;
        f.migrate_pos[old] = pos(it->second);
        migrate_keys.emplace_back(old, it->first);
      }
    }
  }
  if (auto fb = root["fallback"]) {
    string_of(fb, f.fallback, "fallback");
    f.fallback_pos = pos(fb);
  }
  if (auto acc = root["accept"]) {
    static const std::vector<std::string> known = {"sms-unicode", "late-reminders"};
    if (!acc.IsSequence()) {
      error(acc, "accept must be a list of warnings this flow accepts", "for example: accept: [sms-unicode]");
    } else {
      for (const auto& a : acc) {
        std::string what;
        if (!string_of(a, what, "accept")) continue;
        if (std::find(known.begin(), known.end(), what) == known.end()) {
          const std::string near = did_you_mean(what, known);
          error(a, "'" + what + "' is not a warning a flow can accept",
                near.empty() ? "use sms-unicode or late-reminders" : near);
        } else {
          f.accepted.push_back(what);
        }
      }
    }
  }

  YAML::Node nodes = root["nodes"];
  if (!nodes) {
    error(root, "missing nodes", "add nodes: with at least one node");
    return false;
  }
  if (!nodes.IsMap() || nodes.size() == 0) {
    error(nodes, "nodes must be a map of node id to node", "for example: nodes: {hola: {message: \"Hola\", next: fin}, fin: {end: completed}}");
    return false;
  }
  for (auto it = nodes.begin(); it != nodes.end(); ++it) {
    std::string id = it->first.IsScalar() ? it->first.Scalar() : "";
    if (f.nodes.count(id)) {
      error(it->first, "duplicate node id '" + id + "'",
            "first defined at line " + std::to_string(f.nodes[id].pos.line) + "; rename one of them");
      continue;
    }
    node n;
    read_node(id, it->first, it->second, f, n);
    f.order.push_back(id);
    f.nodes.emplace(id, std::move(n));
  }

  std::vector<std::string> ids(f.order.begin(), f.order.end());
  auto check_target = [&](const std::string& target, const source_pos& p, const std::string& what) {
    if (target.empty() || f.nodes.count(target)) return;
    std::string hint = did_you_mean(target, ids);
    d_.error(p, what + " '" + target + "' is not a node of this flow", hint.empty() ? "existing nodes: " + join(ids) : hint);
  };
  if (!start) {
    error(root, "missing start", "add start: <id of the first node>" + (ids.empty() ? "" : ", e.g. start: " + ids.front()));
  } else {
    check_target(f.start, pos(start), "start");
  }
  check_target(f.on_expire, f.on_expire_pos, "on_expire");
  check_target(f.fallback, f.fallback_pos, "fallback");
  for (const auto& [old, key] : migrate_keys) {
    check_target(f.migrate[old], f.migrate_pos[old], "migrate of '" + old + "':");
    if (f.nodes.count(old))
      d_.warning(pos(key), "migrate: node '" + old + "' still exists; learners there stay",
                 "remove the entry (migrate lists only nodes this version no longer has)");
  }
  for (const auto& id : f.order) {
    const node& n = f.nodes[id];
    check_target(n.next, n.next_pos, "next of node '" + id + "':");
    check_target(n.on_invalid, n.on_invalid_pos, "on_invalid of node '" + id + "':");
    check_target(n.on_failure, n.on_failure_pos, "on_failure of node '" + id + "':");
    check_target(n.on_timeout, n.on_timeout_pos, "on_timeout of node '" + id + "':");
    if (n.timeout) check_target(n.timeout->next, n.timeout->next_pos, "timeout next of node '" + id + "':");
    for (const auto& c : n.cases) check_target(c.next, c.next_pos, "a case of split '" + id + "' goes to");
    for (const auto& b : n.branches) check_target(b.next, b.next_pos, "a branch of random '" + id + "' goes to");
  }
  return d_.errors() == errors_before;
}

const std::set<std::string> non_flow_files = {"course.yaml", "triggers.yaml", "schema.json"};

bool is_flow_file(const fs::path& p) {
  auto ext = p.extension().string();
  return (ext == ".yaml" || ext == ".yml" || ext == ".json") && !non_flow_files.count(p.filename().string());
}

}  // namespace

bool read_flow(const std::string& text, const std::string& file, flow& out, diagnostics& diags) {
  reader r(file, diags);
  if (!check_utf8(text, file, diags)) return false;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    diags.error(r.pos(e.mark), "not valid YAML: " + e.msg, "check the indentation and quotes around this place");
    return false;
  } catch (const YAML::Exception& e) {
    diags.error({file, 1, 1}, std::string("cannot read: ") + e.what());
    return false;
  }
  if (!root || root.IsNull()) {
    diags.error({file, 1, 1}, "the file is empty", "a flow needs spec, id, start and nodes");
    return false;
  }
  return r.read(root, out);
}

std::vector<std::string> flow_files_in(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && is_flow_file(e.path())) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

namespace {

// Checks that need every flow: subflows that are missing or call themselves in a cycle.
void check_subflows(load_result& res) {
  std::vector<std::string> ids;
  for (const auto& [id, f] : res.flows.flows) ids.push_back(id);
  std::map<std::string, std::vector<const node*>> calls;
  for (const auto& [id, f] : res.flows.flows) {
    for (const auto& [nid, n] : f.nodes) {
      if (n.kind != node_kind::subflow) continue;
      if (!res.flows.find(n.subflow)) {
        std::string hint = did_you_mean(n.subflow, ids);
        res.diags.error(n.subflow_pos, "subflow '" + n.subflow + "' of node '" + nid + "' is not a loaded flow",
                        hint.empty() ? "check the flow id" : hint);
        continue;
      }
      calls[id].push_back(&n);
    }
  }
  // Depth-first search for a cycle through subflow calls.
  std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<void(const std::string&)> visit = [&](const std::string& id) {
    state[id] = 1;
    path.push_back(id);
    for (const node* n : calls[id]) {
      if (state[n->subflow] == 1) {
        std::string cycle;
        auto from = std::find(path.begin(), path.end(), n->subflow);
        for (auto it = from; it != path.end(); ++it) cycle += *it + " -> ";
        res.diags.error(n->subflow_pos, "subflow recursion: " + cycle + n->subflow,
                        "a flow cannot call itself, directly or through others");
      } else if (state[n->subflow] == 0) {
        visit(n->subflow);
      }
    }
    path.pop_back();
    state[id] = 2;
  };
  for (const auto& id : ids)
    if (state[id] == 0) visit(id);
}

}  // namespace

load_result load_flows(const std::vector<std::string>& paths) {
  load_result res;
  res.flows.courses = std::make_shared<const course_set>();  // course.yaml may add some
  std::map<std::string, source_pos> where;
  std::vector<std::string> course_files, trigger_files;
  for (const auto& p : paths) {
    std::vector<std::string> files;
    if (fs::is_directory(p)) {
      files = flow_files_in(p);
      if (fs::exists(fs::path(p) / "course.yaml")) course_files.push_back((fs::path(p) / "course.yaml").string());
      if (fs::exists(fs::path(p) / "triggers.yaml")) trigger_files.push_back((fs::path(p) / "triggers.yaml").string());
    } else if (fs::exists(p)) {
      files.push_back(p);
    } else {
      res.diags.error({p, 0, 0}, "no such file or folder", "check the path");
      continue;
    }
    for (const auto& file : files) {
      ++res.files;
      std::ifstream in(file, std::ios::binary);
      std::stringstream buf;
      buf << in.rdbuf();
      flow f;
      if (!read_flow(buf.str(), file, f, res.diags)) continue;
      if (auto it = where.find(f.id); it != where.end()) {
        res.diags.error(f.pos, "flow id '" + f.id + "' is also used by " + it->second.file,
                        "give each flow its own id");
        continue;
      }
      where[f.id] = f.pos;
      res.flows.flows.emplace(f.id, std::move(f));
    }
  }
  check_subflows(res);
  check_flows(res);
  // After the flows (modules name them), before the triggers (a trigger may name a course).
  for (const auto& cf : course_files) {
    std::ifstream in(cf, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    ++res.files;
    read_courses(buf.str(), cf, res.flows, res.diags);
  }
  for (const auto& tf : trigger_files) {
    std::ifstream in(tf, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    ++res.files;
    read_triggers(buf.str(), tf, res.flows, res.diags);
  }
  return res;
}

}  // namespace aula
