#include "bot/service/keeper_pace.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <thread>

namespace aula::keeper_pace {

bool set_thread_policy(policy p) {
  sched_param sp{};
  return pthread_setschedparam(pthread_self(), p == policy::idle ? SCHED_IDLE : SCHED_OTHER, &sp) == 0;
}

policy thread_policy() {
  int pol = SCHED_OTHER;
  sched_param sp{};
  if (pthread_getschedparam(pthread_self(), &pol, &sp) != 0) return policy::normal;
  return pol == SCHED_IDLE ? policy::idle : policy::normal;
}

bool yield_supported() {
  static const bool ok = [] {
    bool back = false;
    std::thread t([&back] {
      back = set_thread_policy(policy::idle) && set_thread_policy(policy::normal) && thread_policy() == policy::normal;
    });
    t.join();
    return back;
  }();
  return ok;
}

job_kind batch_kind(const std::vector<std::string>& first_ids, std::int64_t now_ms) {
  std::int64_t waited = 0;  // the oldest entry's wait
  for (const auto& id : first_ids) {
    std::int64_t ms = 0;
    const auto dash = id.find('-');
    const char* end = id.data() + (dash == std::string::npos ? id.size() : dash);
    auto [p, ec] = std::from_chars(id.data(), end, ms);
    if (ec != std::errc{} || p != end || id.empty()) continue;
    waited = std::max(waited, now_ms - ms);
  }
  if (waited > pacer::far_behind_after.count()) return job_kind::far_behind;
  if (waited > pacer::behind_after.count()) return job_kind::other;
  return job_kind::keeps_up;
}

pacer::pacer(bool yield) : pacer(yield, hooks{}) {}

pacer::pacer(bool yield, hooks h) : yield_(yield), h_(std::move(h)) {
  if (!h_.sleep) h_.sleep = [](std::chrono::microseconds d) { std::this_thread::sleep_for(d); };
}

void pacer::to(mode m) {
  const policy want = m == mode::idle ? policy::idle : policy::normal;
  const policy had = mode_ == mode::idle ? policy::idle : policy::normal;
  if (!known_ || want != had) {
    // A refused switch leaves the thread as it was; the idle policy is only asked for where
    // leaving it was shown to work, so a refusal to enter it leaves the thread normal: paced.
    if (!h_.set(want)) {
      if (want == policy::idle) m = mode::paced;
      else if (known_) return;
    }
  }
  mode_ = m;
  known_ = true;
}

void pacer::begin(job_kind k) {
  const auto now = h_.now();
  switch (k) {
    case job_kind::keeps_up: {
      const bool starved_lately = starved_at_ && now - *starved_at_ < starved_for;
      to(yield_ && !starved_lately ? mode::idle : mode::paced);
      break;
    }
    case job_kind::far_behind: to(mode::flat_out); break;
    case job_kind::other: to(mode::paced); break;
  }
  job_start_ = since_ = now;
}

void pacer::operator()() {
  if (mode_ == mode::flat_out) return;
  const auto now = h_.now();
  if (mode_ == mode::idle) {
    // Any waking thread preempts this one: no need to rest. But a core that never idles leaves
    // it nothing: after `starved_after`, the rest of the job runs paced.
    if (now - job_start_ >= starved_after) {
      to(mode::paced);
      since_ = now;
      starved_at_ = now;
    }
    return;
  }
  if (now - since_ < quantum) return;
  h_.sleep(rest);
  since_ = h_.now();
}

}  // namespace aula::keeper_pace
