#include "bot/authoring/simulator.hpp"

#include <algorithm>

#include "bot/engine/render.hpp"
#include "bot/engine/timing.hpp"

namespace aula {

simulator::simulator(const flow_set& flows, context ctx) : flows_(flows), ctx_(std::move(ctx)) {}

namespace {

// Everything a step produces, as text, to compare two runs of it.
std::string signature(const step_result& r) {
  nlohmann::json j;
  j["session"] = r.next.to_json();
  for (const auto& m : r.messages) j["messages"].push_back(render_plain(m));
  for (const auto& rec : r.records) j["records"].push_back(rec.to_json());
  for (const auto& t : r.timers_set) j["timers"].push_back({t.id, t.due_ms, t.kind});
  j["cancel"] = r.timers_cancel;
  for (const auto& w : r.webhooks) j["webhooks"].push_back({w.id, w.method, w.url, w.body});
  return j.dump(2);
}

}  // namespace

std::string simulator::retry_last() const {
  if (!last_before_) return "there is no step to retry";
  auto again = step(flows_, *last_before_, last_event_, last_ctx_);
  std::string sig = signature(again);
  if (sig == last_signature_) return {};
  return "the retried step differs:\n--- first\n" + last_signature_ + "\n--- retry\n" + sig + "\n";
}

void simulator::apply(const inbound_event& ev, std::vector<sim_output>& out) {
  ctx_.seed = ++seed_;
  last_before_ = session_;
  last_event_ = ev;
  last_ctx_ = ctx_;
  auto r = step(flows_, session_, ev, ctx_);
  last_signature_ = signature(r);
  session_ = std::move(r.next);
  for (const auto& id : r.timers_cancel) timers_.erase(id);
  for (const auto& t : r.timers_set) timers_[t.id] = t;
  for (const auto& m : r.messages) out.push_back({sim_output::kind::message, render_plain(m)});
  for (const auto& w : r.webhooks) {
    webhooks_.push_back(w.id);
    std::string line = w.method + " " + w.url;
    if (!w.body.empty()) line += " " + w.body;
    out.push_back({sim_output::kind::request, line});
  }
  for (const auto& rec : r.records) records.push_back(rec.to_json());
  for (auto& l : r.log) log.push_back(std::move(l));
}

std::vector<sim_output> simulator::send(const inbound_event& ev) {
  std::vector<sim_output> out;
  apply(ev, out);
  return out;
}

std::vector<sim_output> simulator::advance(std::int64_t ms) {
  std::vector<sim_output> out;
  const std::int64_t target = ctx_.now_ms + ms;
  while (true) {
    auto next = std::min_element(timers_.begin(), timers_.end(), [](const auto& a, const auto& b) {
      return a.second.due_ms < b.second.due_ms || (a.second.due_ms == b.second.due_ms && a.first < b.first);
    });
    if (next == timers_.end() || next->second.due_ms > target) break;
    const timer_effect t = next->second;
    timers_.erase(next);
    ctx_.now_ms = std::max(ctx_.now_ms, t.due_ms);
    std::vector<sim_output> fired;
    apply(inbound_event::timer_due(t.id), fired);
    if (!fired.empty()) {
      out.push_back({sim_output::kind::at, format_local(ctx_.now_ms, ctx_.tz)});
      out.insert(out.end(), fired.begin(), fired.end());
    }
  }
  ctx_.now_ms = target;
  return out;
}

std::optional<std::string> simulator::pending_webhook() const {
  for (auto it = webhooks_.rbegin(); it != webhooks_.rend(); ++it)
    if (session_.run && session_.run->timer && session_.run->timer->id == *it) return *it;
  return std::nullopt;
}

}  // namespace aula
