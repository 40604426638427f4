// Flow files: the loader (YAML or JSON), the validator, the diagrams, then the engine on what
// validated. Input: first byte even = YAML, odd = JSON; the rest is the file.
// Invariants: read_flow never throws and returns true exactly when it reported no error; a
// flow that also passes the validator (check_flows) draws as Mermaid and DOT and runs in the
// engine for a few steps (start, answers, due timers) without any exception, every session
// it leaves surviving a dump/parse round trip.
#include <nlohmann/json.hpp>

#include "bot/authoring/checks.hpp"
#include "bot/authoring/graph.hpp"
#include "bot/authoring/loader.hpp"
#include "bot/engine/course.hpp"
#include "bot/engine/engine.hpp"
#include "bot/engine/session.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace aula;

namespace {
void run_engine(const flow_set& flows, const flow& f) {
  session s;
  context ctx;
  ctx.now_ms = 1767625200000;
  ctx.seed = 42;
  const std::vector<inbound_event> events = {
      inbound_event::start(f.id), inbound_event::message("1"), inbound_event::message("sí"),
      inbound_event::message("Ana"), inbound_event::message("2"), inbound_event::message("MENU")};
  std::vector<std::string> due;
  for (std::size_t i = 0; i < events.size() + 4; ++i) {
    inbound_event ev = i < events.size() ? events[i] : inbound_event::timer_due(due.empty() ? "none" : due.back());
    ctx.now_ms += 25LL * 3600 * 1000;
    ++ctx.seed;
    step_result r = step(flows, s, ev, ctx);
    for (const auto& t : r.timers_set) due.push_back(t.id);
    const std::string dumped = r.next.dump();
    FUZZ_CHECK(session::parse(dumped).dump() == dumped);
    s = std::move(r.next);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool json = data[0] & 1;
  const std::string text = fuzz::as_string(data + 1, size - 1);

  load_result res;
  flow f;
  const bool ok = read_flow(text, json ? "fuzz.json" : "fuzz.yaml", f, res.diags);
  FUZZ_CHECK(ok == (res.diags.errors() == 0));
  for (const auto& d : res.diags.items()) FUZZ_CHECK(!format(d).empty());
  if (!ok) return 0;

  res.flows.courses = std::make_shared<course_set>();
  res.flows.flows.emplace(f.id, f);
  check_flows(res);
  if (!res.ok()) return 0;
  for (const std::string lang : {"", "es", "en"}) {
    const std::string mermaid = to_mermaid(f, lang);
    const std::string dot = to_dot(f, lang);
    FUZZ_CHECK(mermaid.find("flowchart TD") != std::string::npos);
    FUZZ_CHECK(dot.find("digraph") != std::string::npos);
  }
  run_engine(res.flows, res.flows.flows.begin()->second);
  return 0;
}
