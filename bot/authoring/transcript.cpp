#include "bot/authoring/transcript.hpp"

#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "bot/authoring/simulator.hpp"
#include "bot/authoring/yaml_json.hpp"
#include "bot/engine/timing.hpp"
#include "bot/engine/engine.hpp"
#include "bot/engine/render.hpp"
#include "bot/engine/text.hpp"

namespace aula {

namespace {

source_pos pos_of(const std::string& file, const YAML::Node& n) {
  auto m = n.Mark();
  return {file, m.line + 1, m.column + 1};
}

// Expected values are written by hand: 5 matches 5.0, "b" matches "b", and an object
// matches when each of its fields matches (other fields of the actual value are ignored).
bool matches(const nlohmann::json& expected, const nlohmann::json& actual) {
  if (expected.is_number() && actual.is_number()) return expected.get<double>() == actual.get<double>();
  if (expected.is_string() && actual.is_number()) return expected.get<std::string>() == format_number(actual.get<double>());
  if (expected.is_number() && actual.is_string()) return format_number(expected.get<double>()) == actual.get<std::string>();
  if (expected.is_array() && actual.is_array()) {
    if (expected.size() != actual.size()) return false;
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (!matches(expected[i], actual[i])) return false;
    return true;
  }
  if (expected.is_object() && actual.is_object()) {
    for (auto& [k, v] : expected.items()) {
      auto it = actual.find(k);
      if (it == actual.end() || !matches(v, *it)) return false;
    }
    return true;
  }
  return expected == actual;
}

const char* label(transcript_turn::who w) {
  using who = transcript_turn::who;
  switch (w) {
    case who::aula: return "aula:    ";
    case who::at: return "at:      ";
    case who::request: return "request: ";
    case who::learner: return "learner: ";
    case who::tap: return "tap:     ";
    case who::advance: return "advance: ";
    case who::webhook: return "webhook: ";
    case who::event: return "event:   ";
    case who::start: return "start:   ";
    case who::retry: return "retry:   ";
  }
  return "?:       ";
}

std::vector<std::string> turn_lines(const transcript_turn& t) {
  std::vector<std::string> lines;
  std::string text = t.text;
  if (t.speaker == transcript_turn::who::webhook) text = std::to_string(t.status) + " " + text;
  if (t.speaker == transcript_turn::who::start && !t.policy.empty()) text += " (" + t.policy + ")";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::istringstream in(text);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    while (!line.empty() && line.back() == ' ') line.pop_back();
    lines.push_back((first ? label(t.speaker) : "       | ") + line);
    first = false;
  }
  if (first) lines.push_back(label(t.speaker));
  return lines;
}

}  // namespace

bool read_transcripts(const std::string& path, transcript_file& out, diagnostics& diags) {
  out.path = path;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    diags.error({path, e.mark.line + 1, e.mark.column + 1}, "not valid YAML: " + e.msg);
    return false;
  } catch (const YAML::Exception& e) {
    diags.error({path, 0, 0}, std::string("cannot read: ") + e.what());
    return false;
  }
  const std::size_t before = diags.errors();
  if (!root.IsMap() || !root["cases"] || !root["cases"].IsSequence()) {
    diags.error({path, 1, 1}, "a transcript file needs flow: and a list of cases:");
    return false;
  }
  std::string flow_id = root["flow"] && root["flow"].IsScalar() ? root["flow"].Scalar() : "";
  std::string course_id = root["course"] && root["course"].IsScalar() ? root["course"].Scalar() : "";
  for (auto it = root.begin(); it != root.end(); ++it) {
    auto k = it->first.Scalar();
    if (k != "flow" && k != "course" && k != "cases")
      diags.error(pos_of(path, it->first), "unknown key '" + k + "'", "use flow (or course) and cases");
  }
  auto whole_number = [&](const YAML::Node& v, const std::string& what) -> std::optional<int> {
    try {
      return v.as<int>();
    } catch (const YAML::Exception&) {
      diags.error(pos_of(path, v), what + " must be a whole number");
      return std::nullopt;
    }
  };
  int index = 0;
  for (const auto& c : root["cases"]) {
    ++index;
    transcript_case tc;
    tc.pos = pos_of(path, c);
    if (!c.IsMap()) {
      diags.error(tc.pos, "a case must be a map with name and conversation");
      continue;
    }
    for (auto it = c.begin(); it != c.end(); ++it) {
      static const std::vector<std::string> keys = {"name", "flow", "course", "lang", "contact", "cohorts", "tz", "now", "buttons", "start_at", "consent", "conversation", "expect"};
      auto k = it->first.Scalar();
      if (std::find(keys.begin(), keys.end(), k) == keys.end())
        diags.error(pos_of(path, it->first), "unknown key '" + k + "' in a case", did_you_mean(k, keys));
    }
    tc.name = c["name"] ? c["name"].Scalar() : "case " + std::to_string(index);
    tc.flow = c["flow"] ? c["flow"].Scalar() : flow_id;
    tc.course = c["course"] ? c["course"].Scalar() : course_id;
    if (tc.flow.empty() && tc.course.empty())
      diags.error(tc.pos, "case '" + tc.name + "' names no flow", "add flow: (or course:) at the top of the file");
    if (c["lang"]) tc.lang = c["lang"].Scalar();
    if (auto contact = c["contact"]) {
      for (auto it = contact.begin(); it != contact.end(); ++it) tc.contact[it->first.Scalar()] = it->second.Scalar();
    }
    if (c["buttons"])
      if (auto b = whole_number(c["buttons"], "buttons")) tc.buttons = *b;
    if (c["start_at"]) tc.start_at = c["start_at"].Scalar();
    if (c["consent"]) tc.consent = c["consent"].Scalar();
    if (c["tz"]) tc.tz = c["tz"].Scalar();
    if (c["now"]) tc.now = c["now"].Scalar();
    if (auto co = c["cohorts"]) {
      if (co.IsSequence()) {
        for (const auto& x : co) tc.cohorts.push_back(x.Scalar());
      } else {
        tc.cohorts.push_back(co.Scalar());
      }
    }
    auto conv = c["conversation"];
    if (!conv || !conv.IsSequence()) {
      diags.error(tc.pos, "case '" + tc.name + "' has no conversation", "add conversation: with aula:/learner: lines");
      continue;
    }
    for (const auto& t : conv) {
      if (!t.IsMap() || t.size() != 1) {
        diags.error(pos_of(path, t), "each conversation line is one of aula:, learner:, tap:, advance:, at:, request:, webhook:, event:, start:");
        continue;
      }
      auto k = t.begin()->first.Scalar();
      const YAML::Node v = t.begin()->second;  // a handle copied: the iterator is a temporary
      transcript_turn turn;
      turn.pos = pos_of(path, t);
      using who = transcript_turn::who;
      static const std::map<std::string, who> kinds = {
          {"aula", who::aula},     {"at", who::at},         {"request", who::request},
          {"learner", who::learner}, {"tap", who::tap},     {"advance", who::advance},
          {"webhook", who::webhook}, {"event", who::event}, {"start", who::start},
          {"retry", who::retry}};
      auto kind = kinds.find(k);
      if (kind == kinds.end()) {
        diags.error(turn.pos, "unknown conversation line '" + k + "'",
                    "use aula, learner, tap, advance, at, request, webhook, event, start or retry");
        continue;
      }
      turn.speaker = kind->second;
      if (turn.speaker == who::webhook) {
        if (!v.IsMap() || !v["status"]) {
          diags.error(turn.pos, "webhook: needs {status: 200, body: '…'}");
          continue;
        }
        turn.status = v["status"].as<int>();
        if (v["body"]) turn.text = v["body"].IsScalar() ? v["body"].Scalar() : yaml_to_json(v["body"]).dump();
      } else if (turn.speaker == who::start && v.IsMap()) {
        turn.text = v["flow"] ? v["flow"].Scalar() : "";
        turn.policy = v["policy"] ? v["policy"].Scalar() : "";
      } else if (v.IsScalar()) {
        turn.text = v.Scalar();
      } else {
        diags.error(turn.pos, "'" + k + "' takes a text");
        continue;
      }
      if (turn.speaker == who::advance && !parse_duration(turn.text)) {
        diags.error(pos_of(path, v), "'" + turn.text + "' is not a duration", "for example: advance: 25h");
        continue;
      }
      if (turn.speaker == who::event && turn.text != "reset" && turn.text != "opt_out" && turn.text != "opt_in" &&
          turn.text != "delivery_failed") {
        diags.error(pos_of(path, v), "unknown event '" + turn.text + "'",
                    "use reset, opt_out, opt_in or delivery_failed");
        continue;
      }
      tc.turns.push_back(std::move(turn));
    }
    if (auto e = c["expect"]) {
      for (auto it = e.begin(); it != e.end(); ++it) {
        auto k = it->first.Scalar();
        const YAML::Node v = it->second;  // not a reference: it-> is a temporary proxy
        if (k == "status") tc.status = v.Scalar();
        else if (k == "course") tc.course_status = v.Scalar();
        else if (k == "score") tc.score = whole_number(v, "score");
        else if (k == "score_max") tc.score_max = whole_number(v, "score_max");
        else if (k == "timers") tc.timers = whole_number(v, "timers");
        else if (k == "opted_out") tc.opted_out = v.Scalar() == "true";
        else if (k == "contact") {
          for (auto a = v.begin(); a != v.end(); ++a) tc.contact_after[a->first.Scalar()] = a->second.Scalar();
        } else if (k == "answers") {
          for (auto a = v.begin(); a != v.end(); ++a) tc.answers[a->first.Scalar()] = yaml_to_json(a->second);
        } else if (k == "records") {
          for (const auto& r : v) tc.records.push_back(yaml_to_json(r));
        } else {
          diags.error(pos_of(path, it->first), "unknown expectation '" + k + "'",
                      "use status, course, score, score_max, answers, contact, opted_out, timers or records");
        }
      }
    }
    out.cases.push_back(std::move(tc));
  }
  return diags.errors() == before;
}

std::string line_diff(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> lcs(n + 1, std::vector<std::size_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::string out;
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      out += "  " + a[i++] + "\n";
      ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out += "- " + a[i++] + "\n";
    } else {
      out += "+ " + b[j++] + "\n";
    }
  }
  return out;
}

case_outcome run_case(const flow_set& flows, const transcript_case& c) {
  case_outcome result;
  if (!c.course.empty() && !flows.course(c.course)) {
    result.report = "  course '" + c.course + "' is not in course.yaml\n";
    return result;
  }
  if (c.course.empty() && !flows.find(c.flow)) {
    result.report = "  flow '" + c.flow + "' is not loaded\n";
    return result;
  }
  if (c.course.empty() && !c.start_at.empty() && !flows.find(c.flow)->find(c.start_at)) {
    result.report = "  flow '" + c.flow + "' has no node '" + c.start_at + "' (start_at)\n";
    return result;
  }
  context ctx;
  ctx.tz = c.tz.empty() ? default_time_zone : c.tz;
  ctx.now_ms = transcript_epoch_ms;
  if (!c.now.empty()) {
    auto t = parse_instant(c.now, ctx.tz);
    if (!t) {
      result.report = "  now: '" + c.now + "' is not a time (write \"2026-01-05 09:00\")\n";
      return result;
    }
    ctx.now_ms = *t;
  }
  ctx.caps.max_buttons = c.buttons;
  ctx.cohorts = c.cohorts;
  if (!c.consent.empty()) {
    ctx.channel = "transcript";
    ctx.consent.required = true;
    ctx.consent.version = c.consent;
    ctx.consent.url = "http://127.0.0.1:8080/privacidad";  // AULA_PUBLIC_URL's default
  }
  simulator sim(flows, ctx);
  sim.state().lang = c.lang;
  sim.state().contact = c.contact;

  using who = transcript_turn::who;
  std::vector<transcript_turn> actual;
  auto take = [&](const std::vector<sim_output>& outs) {
    for (const auto& o : outs) {
      who w = o.type == sim_output::kind::message ? who::aula : o.type == sim_output::kind::at ? who::at : who::request;
      actual.push_back({w, o.text, 0, {}, {}});
    }
  };
  take(sim.send(c.course.empty() ? inbound_event::start(c.flow, c.start_at) : inbound_event::enroll_in(c.course)));
  std::string retry_report;
  for (const auto& t : c.turns) {
    if (t.is_output()) continue;
    actual.push_back(t);
    switch (t.speaker) {
      case who::learner: take(sim.send(inbound_event::message(t.text))); break;
      case who::tap: {
        // A tap on option `t.text` of the question being asked (a stale id if there is none).
        std::string ref = "stale." + t.text;
        const session& s = sim.state();
        if (t.text == consent_yes || t.text == consent_no) {
          ref = t.text;  // the consent question's buttons
        } else if (s.run) {
          if (const node* n = flows.find(s.run->flow)->find(s.run->node)) {
            for (std::size_t i = 0; i < n->options.size(); ++i)
              if (n->options[i].id == t.text) ref = choice_ref(s.run->id, n->id, i);
          }
        }
        take(sim.send(inbound_event::tap(ref)));
        break;
      }
      case who::advance: take(sim.advance(*parse_duration(t.text))); break;
      case who::webhook: {
        auto id = sim.pending_webhook();
        take(sim.send(inbound_event::webhook_answer(id ? *id : "none", t.status, t.text)));
        break;
      }
      case who::event: {
        if (t.text == "delivery_failed") {
          take(sim.send(inbound_event::delivery_failure("dead letter (transcript)")));
          break;
        }
        auto k = t.text == "reset" ? inbound_event::kind::reset
                 : t.text == "opt_out" ? inbound_event::kind::opt_out
                                       : inbound_event::kind::opt_in;
        take(sim.send(inbound_event::of(k)));
        break;
      }
      case who::start: {
        auto p = start_policy_from(t.policy).value_or(start_policy::interrupt);
        take(sim.send(inbound_event::start(t.text, {}, p)));
        break;
      }
      case who::retry: retry_report += sim.retry_last(); break;
      default: break;
    }
  }

  std::vector<std::string> want, got;
  for (const auto& t : c.turns)
    for (auto& l : turn_lines(t)) want.push_back(l);
  for (const auto& t : actual)
    for (auto& l : turn_lines(t)) got.push_back(l);
  std::string report = retry_report;
  if (want != got) report += line_diff(want, got);

  const session& s = sim.state();
  const std::string status = s.run ? "active" : (s.last ? s.last->status : "none");
  const int score = s.run ? s.run->score : (s.last ? s.last->score : 0);
  const int score_max = s.run ? s.run->score_max : (s.last ? s.last->score_max : 0);
  if (c.status && *c.status != status) report += "  expected status " + *c.status + ", got " + status + "\n";
  if (c.course_status) {
    const course_progress* cp = s.course(c.course);
    const std::string got = cp ? cp->status : "not enrolled";
    if (got != *c.course_status) report += "  expected course " + *c.course_status + ", got " + got + "\n";
  }
  if (c.score && *c.score != score)
    report += "  expected score " + std::to_string(*c.score) + ", got " + std::to_string(score) + "\n";
  if (c.score_max && *c.score_max != score_max)
    report += "  expected score_max " + std::to_string(*c.score_max) + ", got " + std::to_string(score_max) + "\n";
  if (c.timers && *c.timers != static_cast<int>(sim.timers().size()))
    report += "  expected " + std::to_string(*c.timers) + " pending timer(s), got " + std::to_string(sim.timers().size()) + "\n";
  if (c.opted_out && *c.opted_out != s.opted_out)
    report += std::string("  expected opted_out ") + (*c.opted_out ? "true" : "false") + "\n";
  for (const auto& [k, v] : c.answers) {
    auto it = s.answers.find(k);
    if (it == s.answers.end()) report += "  expected answer " + k + " = " + v.dump() + ", but it was not saved\n";
    else if (!matches(v, it->second.value))
      report += "  expected answer " + k + " = " + v.dump() + ", got " + it->second.value.dump() + "\n";
  }
  for (const auto& [k, v] : c.contact_after) {
    auto it = s.contact.find(k);
    if (it == s.contact.end() || it->second != v)
      report += "  expected contact." + k + " = " + v + ", got " + (it == s.contact.end() ? "nothing" : it->second) + "\n";
  }
  std::size_t next = 0;
  for (const auto& want_rec : c.records) {
    while (next < sim.records.size() && !matches(want_rec, sim.records[next])) ++next;
    if (next == sim.records.size()) {
      report += "  expected a record " + want_rec.dump() + " (in order), not found\n";
      break;
    }
    ++next;
  }
  result.passed = report.empty();
  result.report = report;
  return result;
}

}  // namespace aula
