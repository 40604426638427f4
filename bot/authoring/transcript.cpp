#include "bot/authoring/transcript.hpp"

#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "bot/engine/engine.hpp"
#include "bot/engine/render.hpp"
#include "bot/engine/text.hpp"

namespace aula {

namespace {

source_pos pos_of(const std::string& file, const YAML::Node& n) {
  auto m = n.Mark();
  return {file, m.line + 1, m.column + 1};
}

nlohmann::json to_json(const YAML::Node& n) {
  if (n.IsSequence()) {
    auto a = nlohmann::json::array();
    for (const auto& x : n) a.push_back(to_json(x));
    return a;
  }
  if (n.IsMap()) {
    auto o = nlohmann::json::object();
    for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = to_json(it->second);
    return o;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  if (s == "true") return true;
  if (s == "false") return false;
  try {
    std::size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (...) {
  }
  return s;
}

// Expected values are written by hand: 5 matches 5.0, "b" matches "b", and an object
// matches when each of its fields matches (other fields of the actual value are ignored).
bool matches(const nlohmann::json& expected, const nlohmann::json& actual) {
  if (expected.is_number() && actual.is_number()) return expected.get<double>() == actual.get<double>();
  if (expected.is_string() && actual.is_number()) return expected.get<std::string>() == format_number(actual.get<double>());
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

std::vector<std::string> turn_lines(const transcript_turn& t) {
  std::vector<std::string> lines;
  std::string text = t.text;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const char* who = t.speaker == transcript_turn::who::aula    ? "aula:    "
                    : t.speaker == transcript_turn::who::learner ? "learner: "
                                                                 : "tap:     ";
  std::istringstream in(text);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    while (!line.empty() && line.back() == ' ') line.pop_back();
    lines.push_back((first ? who : "       | ") + line);
    first = false;
  }
  if (first) lines.push_back(who);
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
  for (auto it = root.begin(); it != root.end(); ++it) {
    auto k = it->first.Scalar();
    if (k != "flow" && k != "cases") diags.error(pos_of(path, it->first), "unknown key '" + k + "'", "use flow and cases");
  }
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
      static const std::vector<std::string> keys = {"name", "flow", "lang", "contact", "buttons", "start_at", "conversation", "expect"};
      auto k = it->first.Scalar();
      if (std::find(keys.begin(), keys.end(), k) == keys.end())
        diags.error(pos_of(path, it->first), "unknown key '" + k + "' in a case", did_you_mean(k, keys));
    }
    tc.name = c["name"] ? c["name"].Scalar() : "case " + std::to_string(index);
    tc.flow = c["flow"] ? c["flow"].Scalar() : flow_id;
    if (tc.flow.empty()) diags.error(tc.pos, "case '" + tc.name + "' names no flow", "add flow: at the top of the file");
    if (c["lang"]) tc.lang = c["lang"].Scalar();
    if (auto contact = c["contact"]) {
      for (auto it = contact.begin(); it != contact.end(); ++it) tc.contact[it->first.Scalar()] = it->second.Scalar();
    }
    if (c["buttons"]) tc.buttons = c["buttons"].as<int>();
    if (c["start_at"]) tc.start_at = c["start_at"].Scalar();
    auto conv = c["conversation"];
    if (!conv || !conv.IsSequence()) {
      diags.error(tc.pos, "case '" + tc.name + "' has no conversation", "add conversation: with aula:/learner: lines");
      continue;
    }
    for (const auto& t : conv) {
      if (!t.IsMap() || t.size() != 1) {
        diags.error(pos_of(path, t), "each conversation line is one of aula:, learner:, tap:");
        continue;
      }
      auto k = t.begin()->first.Scalar();
      transcript_turn turn;
      turn.pos = pos_of(path, t);
      turn.text = t.begin()->second.Scalar();
      if (k == "aula") turn.speaker = transcript_turn::who::aula;
      else if (k == "learner") turn.speaker = transcript_turn::who::learner;
      else if (k == "tap") turn.speaker = transcript_turn::who::tap;
      else {
        diags.error(turn.pos, "unknown conversation line '" + k + "'", "use aula:, learner: or tap:");
        continue;
      }
      tc.turns.push_back(std::move(turn));
    }
    if (auto e = c["expect"]) {
      for (auto it = e.begin(); it != e.end(); ++it) {
        auto k = it->first.Scalar();
        const auto& v = it->second;
        if (k == "status") tc.status = v.Scalar();
        else if (k == "score") tc.score = v.as<int>();
        else if (k == "score_max") tc.score_max = v.as<int>();
        else if (k == "answers") {
          for (auto a = v.begin(); a != v.end(); ++a) tc.answers[a->first.Scalar()] = to_json(a->second);
        } else if (k == "records") {
          for (const auto& r : v) tc.records.push_back(to_json(r));
        } else {
          diags.error(pos_of(path, it->first), "unknown expectation '" + k + "'",
                      "use status, score, score_max, answers or records");
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
    } else if (j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out += "+ " + b[j++] + "\n";
    } else {
      out += "- " + a[i++] + "\n";
    }
  }
  return out;
}

case_outcome run_case(const flow_set& flows, const transcript_case& c) {
  case_outcome result;
  if (!flows.find(c.flow)) {
    result.report = "  flow '" + c.flow + "' is not loaded\n";
    return result;
  }
  session s;
  s.lang = c.lang;
  s.contact = c.contact;
  context ctx;
  ctx.now_ms = 1767625200000;  // 2026-01-05 15:00 UTC: a fixed clock
  ctx.caps.max_buttons = c.buttons;
  std::uint64_t seed = 0;
  std::vector<transcript_turn> actual;
  std::vector<nlohmann::json> records;

  auto apply = [&](const inbound_event& ev) {
    ctx.seed = ++seed;
    auto r = step(flows, s, ev, ctx);
    s = std::move(r.next);
    for (const auto& m : r.messages) actual.push_back({transcript_turn::who::aula, render_plain(m), {}});
    for (const auto& rec : r.records) records.push_back(rec.to_json());
    ctx.now_ms += 60'000;  // a minute between turns
  };
  if (!c.start_at.empty() && !flows.find(c.flow)->find(c.start_at)) {
    result.report = "  flow '" + c.flow + "' has no node '" + c.start_at + "' (start_at)\n";
    return result;
  }
  apply(inbound_event::start(c.flow, c.start_at));
  for (const auto& t : c.turns) {
    if (t.speaker == transcript_turn::who::aula) continue;
    actual.push_back(t);
    if (t.speaker == transcript_turn::who::learner) {
      apply(inbound_event::message(t.text));
    } else {
      // A tap on option `t.text` of the question being asked (a stale id if there is none).
      std::string ref = "stale." + t.text;
      if (s.run) {
        if (const node* n = flows.find(s.run->flow)->find(s.run->node)) {
          for (std::size_t i = 0; i < n->options.size(); ++i)
            if (n->options[i].id == t.text) ref = choice_ref(s.run->id, n->id, i);
        }
      }
      apply(inbound_event::tap(ref));
    }
  }

  std::vector<std::string> want, got;
  for (const auto& t : c.turns)
    for (auto& l : turn_lines(t)) want.push_back(l);
  for (const auto& t : actual)
    for (auto& l : turn_lines(t)) got.push_back(l);
  std::string report;
  if (want != got) report += line_diff(want, got);

  const std::string status = s.run ? "active" : (s.last ? s.last->status : "none");
  const int score = s.run ? s.run->score : (s.last ? s.last->score : 0);
  const int score_max = s.run ? s.run->score_max : (s.last ? s.last->score_max : 0);
  if (c.status && *c.status != status) report += "  expected status " + *c.status + ", got " + status + "\n";
  if (c.score && *c.score != score)
    report += "  expected score " + std::to_string(*c.score) + ", got " + std::to_string(score) + "\n";
  if (c.score_max && *c.score_max != score_max)
    report += "  expected score_max " + std::to_string(*c.score_max) + ", got " + std::to_string(score_max) + "\n";
  for (const auto& [k, v] : c.answers) {
    auto it = s.answers.find(k);
    if (it == s.answers.end()) report += "  expected answer " + k + " = " + v.dump() + ", but it was not saved\n";
    else if (!matches(v, it->second.value))
      report += "  expected answer " + k + " = " + v.dump() + ", got " + it->second.value.dump() + "\n";
  }
  std::size_t next = 0;
  for (const auto& want_rec : c.records) {
    while (next < records.size() && !matches(want_rec, records[next])) ++next;
    if (next == records.size()) {
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
