// The course layer inside the engine. Pure like the rest: the time comes from the context,
// the time zone too; certificate codes take their randomness from the context's entropy.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "bot/engine/course.hpp"
#include "bot/engine/nodes/registry.hpp"
#include "bot/engine/timing.hpp"

namespace aula::detail {

namespace {

constexpr std::int64_t day_ms = 24LL * 3600 * 1000;

const std::string& tz_of(const run_ctx& rc) {
  static const std::string fallback = default_time_zone;
  return rc.ctx().tz.empty() ? fallback : rc.ctx().tz;
}

std::string queue_entry(const std::string& course) { return std::string(course_queue_prefix) + course; }

bool queued(const session& s, const std::string& course) {
  return std::find(s.queue.begin(), s.queue.end(), queue_entry(course)) != s.queue.end();
}

// Whether a run of this course is in progress (the current run or a caller on the stack).
bool in_progress(const session& s, const std::string& course) {
  if (s.run && s.run->course == course) return true;
  for (const auto& r : s.stack)
    if (r.course == course) return true;
  return false;
}

int percent(int score, int max) { return max > 0 ? (100 * score + max / 2) / max : 100; }

std::string module_name(const run_ctx& rc, const course_def& c, int i) {
  const course_module& m = c.modules[static_cast<std::size_t>(i)];
  if (!m.title.empty()) return m.title.get(rc.lang(), c.language);
  if (const flow* f = rc.flows().find(m.flow)) return f->name.get(rc.lang(), f->language);
  return m.flow;
}

// Template variables of course texts.
void set_vars(run_ctx& rc, const course_def& c, const course_progress& p, int module_index) {
  rc.vars.clear();
  rc.vars["course.name"] = c.name.get(rc.lang(), c.language);
  rc.vars["course.id"] = c.id;
  if (module_index >= 0 && module_index < static_cast<int>(c.modules.size())) {
    rc.vars["module.name"] = module_name(rc, c, module_index);
    rc.vars["module.number"] = std::to_string(module_index + 1);
    if (const auto* mp = module_index < static_cast<int>(p.modules.size())
                             ? &p.modules[static_cast<std::size_t>(module_index)]
                             : nullptr) {
      rc.vars["module.score"] = std::to_string(percent(mp->score, mp->score_max));
    }
    if (module_index + 1 < static_cast<int>(c.modules.size()))
      rc.vars["module.min_score"] = std::to_string(c.modules[static_cast<std::size_t>(module_index) + 1].min_score);
  }
  int total = 0, max = 0;
  for (const auto& m : p.modules) {
    total += m.score;
    max += m.score_max;
  }
  rc.vars["score.total"] = std::to_string(total);
  rc.vars["score.max"] = std::to_string(max);
  rc.vars["score.percent"] = std::to_string(percent(total, max));
  rc.vars["modules.total"] = std::to_string(c.modules.size());
}

void say_text(run_ctx& rc, const localized& t, const std::string& template_name = {}) {
  if (t.empty()) return;
  outbound_message m;
  m.text = rc.text(t);
  m.template_name = template_name;
  rc.say(std::move(m));
}

result_record& course_record(run_ctx& rc, const std::string& type, const course_def& c, const std::string& flow,
                             const std::string& status) {
  auto& r = rc.record(type, nullptr);
  if (!flow.empty()) r.flow = flow;
  r.status = status;
  r.value = {{"course", c.id}};
  return r;
}

// When a module opens after the previous one ended (drip), in the learner's time zone.
std::int64_t drip_due(const run_ctx& rc, const course_def& c, int module_index) {
  const course_module& m = c.modules[static_cast<std::size_t>(module_index)];
  const int days = m.days.value_or(c.drip.days);
  const std::optional<int> at = m.at_minutes ? m.at_minutes : c.drip.at_minutes;
  const std::int64_t now = rc.ctx().now_ms;
  if (!at) return now + days * day_ms;
  return next_local_time(now, tz_of(rc), *at, days);
}

// The next drip hour (today's if still ahead, else tomorrow's); now when the course drips
// without an hour.
std::int64_t next_drip_hour(const run_ctx& rc, const course_def& c) {
  if (!c.drip.at_minutes) return rc.ctx().now_ms;
  return next_local_time(rc.ctx().now_ms, tz_of(rc), *c.drip.at_minutes, 0);
}

void set_drip(run_ctx& rc, course_progress& p, std::int64_t due) {
  p.timer = timer_slot{"course." + p.course + ".drip." + std::to_string(p.current), due, "drip", 0};
  rc.log("course " + p.course + ": module " + std::to_string(p.current + 1) + " opens at " +
         format_local(due, tz_of(rc)));
}

module_progress& progress_of(course_progress& p, const course_def& c, int i) {
  while (static_cast<int>(p.modules.size()) <= i)
    p.modules.push_back(module_progress{c.modules[p.modules.size()].flow, "open", 0, 0, 0, 0, 0});
  return p.modules[static_cast<std::size_t>(i)];
}

// Opens module p.current: starts its run now when the learner is free, else queues it.
std::optional<transition> open_module(run_ctx& rc, const course_def& c, course_progress& p, bool announce) {
  session& s = rc.s();
  p.timer.reset();
  module_progress& m = progress_of(p, c, p.current);
  if (m.status != "started") m.status = "open";
  if (!m.opened_at) m.opened_at = rc.ctx().now_ms;
  const flow* f = rc.flows().find(m.flow);
  if (!f) {
    rc.log("course " + c.id + ": module flow '" + m.flow + "' is not published; waiting");
    return std::nullopt;
  }
  if (s.opted_out || !s.paused.empty() || s.run) {
    if (!queued(s, c.id)) s.queue.push_back(queue_entry(c.id));
    rc.log("course " + c.id + ": module " + m.flow + " queued (learner busy, paused or opted out)");
    return std::nullopt;
  }
  if (announce && !c.unlocked.empty()) {
    set_vars(rc, c, p, p.current);
    say_text(rc, c.unlocked);
    rc.vars.clear();
  }
  m.status = "started";
  m.attempts += 1;
  p.nudges = 0;
  auto& r = course_record(rc, "module", c, m.flow, "started");
  r.attempt = m.attempts;
  r.value["module"] = p.current + 1;
  transition t = rc.begin_run(*f, {});
  rc.run().course = c.id;
  return t;
}

// "3 de marzo de 2026" / "March 3, 2026" from "2026-03-03".
std::string spoken_date(const std::string& iso, const std::string& lang) {
  static const char* es[] = {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
                             "agosto", "septiembre", "octubre", "noviembre", "diciembre"};
  static const char* en[] = {"January", "February", "March", "April", "May", "June", "July",
                             "August", "September", "October", "November", "December"};
  if (iso.size() != 10) return iso;
  const int month = std::atoi(iso.substr(5, 2).c_str());
  const int day = std::atoi(iso.substr(8, 2).c_str());
  if (month < 1 || month > 12) return iso;
  if (lang == "en") return std::string(en[month - 1]) + " " + std::to_string(day) + ", " + iso.substr(0, 4);
  return std::to_string(day) + " de " + es[month - 1] + " de " + iso.substr(0, 4);
}

// Writes the constancia: a code no one can guess, a folio, and what /verify/<code> shows.
void issue_certificate(run_ctx& rc, const course_def& c, course_progress& p, int score_percent) {
  const auto& ctx = rc.ctx();
  std::string random = ctx.entropy;
  if (random.size() < 10) {
    // No entropy from the host (transcripts): derived from the seed, reproducible.
    random.clear();
    for (int i = 0; i < 2; ++i) {
      std::uint64_t x = rc.fresh();
      for (int b = 0; b < 8; ++b) random.push_back(static_cast<char>((x >> (8 * b)) & 0xff));
    }
  }
  static constexpr const char* alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::string body;
  // 16 characters of 5 bits from the first 10 bytes.
  std::uint64_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    acc = (acc << 8) | static_cast<unsigned char>(random[i]);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      body.push_back(alphabet[(acc >> bits) & 31]);
    }
  }
  std::string prefix = ctx.code_prefix.size() == 2 ? ctx.code_prefix : "00";
  const std::string code = prefix + body;
  const std::string date = local_date(ctx.now_ms, tz_of(rc));
  p.certificate = code;
  p.folio = date.substr(0, 4) + "-" + body.substr(0, 8);
  std::string name = rc.fill(c.certificate.name);
  if (name.empty() || name.find("{{") != std::string::npos) name = "—";
  std::string base = ctx.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/verify/" + code;
  char hours[32];
  std::snprintf(hours, sizeof hours, "%g", c.hours);
  nlohmann::json cert = {{"code", code},     {"folio", p.folio},
                         {"course", c.id},   {"course_name", c.name.get(rc.lang(), c.language)},
                         {"name", name},     {"hours", c.hours},
                         {"score", score_percent}, {"date", date},
                         {"issued_at", ctx.now_ms}};
  rc.out().certificates.emplace_back(code, cert);
  auto& r = course_record(rc, "certificate", c, {}, "issued");
  r.value["code"] = code;
  r.value["folio"] = p.folio;
  r.value["score"] = score_percent;
  r.points = score_percent;
  set_vars(rc, c, p, -1);
  rc.vars["certificate.url"] = url;
  rc.vars["certificate.code"] = code;
  rc.vars["certificate.folio"] = p.folio;
  rc.vars["certificate.name"] = name;
  rc.vars["certificate.hours"] = hours;
  rc.vars["certificate.date"] = spoken_date(date, rc.lang());
  if (!c.certificate.text.empty()) {
    say_text(rc, c.certificate.text);
  } else {
    outbound_message m;
    m.text = url;
    rc.say(std::move(m));
  }
  rc.vars.clear();
}

void finish_course(run_ctx& rc, const course_def& c, course_progress& p, const std::string& status) {
  p.status = status;
  p.ended_at = rc.ctx().now_ms;
  p.timer.reset();
  auto& r = course_record(rc, "course", c, {}, status);
  int total = 0, max = 0;
  for (const auto& m : p.modules) {
    total += m.score;
    max += m.score_max;
  }
  r.value["score"] = total;
  r.value["max"] = max;
  r.points = total;
  rc.log("course " + c.id + ": " + status);
}

}  // namespace

std::optional<transition> module_ended_in(run_ctx& rc, const std::string& course, const std::string& flow,
                                          end_status status, int score, int score_max, bool may_continue);

std::optional<transition> course_enroll(run_ctx& rc, const course_def& c, bool by_learner) {
  session& s = rc.s();
  if (course_progress* p = s.course(c.id)) {
    if (p->status == "active") {
      rc.log("course " + c.id + ": already enrolled");
      if (by_learner) return course_requested(rc, c);
      return std::nullopt;
    }
    // Finished or left before: enrolling again starts over.
    *p = course_progress{};
    p->course = c.id;
  } else {
    course_progress fresh;
    fresh.course = c.id;
    s.courses.push_back(std::move(fresh));
  }
  course_progress& p = *s.course(c.id);
  p.enrolled_at = rc.ctx().now_ms;
  course_record(rc, "enrolled", c, {}, "enrolled");
  if (!c.welcome.empty() && !s.opted_out) {
    set_vars(rc, c, p, 0);
    say_text(rc, c.welcome);
    rc.vars.clear();
  }
  const std::string today = local_date(rc.ctx().now_ms, tz_of(rc));
  if (!c.start_date.empty() && today < c.start_date) {
    const int at = c.drip.at_minutes.value_or(0);
    char hhmm[16];
    std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", at / 60, at % 60);
    auto due = parse_instant(c.start_date + " " + hhmm, tz_of(rc));
    set_drip(rc, p, due.value_or(next_drip_hour(rc, c)));
    return std::nullopt;
  }
  if (!c.late_start_now) {
    set_drip(rc, p, next_drip_hour(rc, c));
    return std::nullopt;
  }
  return open_module(rc, c, p, false);
}

std::optional<transition> course_requested(run_ctx& rc, const course_def& c) {
  session& s = rc.s();
  course_progress* p = s.course(c.id);
  if (!p || p->status != "active") return course_enroll(rc, c, false);
  if (in_progress(s, c.id)) return std::nullopt;  // already in it: the text was consumed
  // The learner asks for the module that waits: open it now rather than at the drip hour.
  std::erase(s.queue, queue_entry(c.id));
  return open_module(rc, c, *p, false);
}

std::optional<transition> course_module_ended(run_ctx& rc, const std::string& course, const std::string& flow,
                                              end_status status, int score, int score_max, bool may_continue) {
  std::optional<transition> t = module_ended_in(rc, course, flow, status, score, score_max, may_continue);
  if (status == end_status::interrupted) return t;
  // A module shared by several of the learner's courses (two tracks with common modules):
  // taken once, it counts for each course that was waiting for it.
  for (std::size_t k = 0; k < rc.s().courses.size(); ++k) {
    course_progress& other = rc.s().courses[k];
    const course_def* oc = rc.flows().course(other.course);
    if (other.course == course || other.status != "active" || !oc) continue;
    if (other.current >= static_cast<int>(oc->modules.size()) || oc->modules[static_cast<std::size_t>(other.current)].flow != flow)
      continue;
    if (in_progress(rc.s(), other.course)) continue;
    const std::string id = other.course;
    std::erase(rc.s().queue, queue_entry(id));
    progress_of(other, *oc, other.current).attempts += 1;
    auto more = module_ended_in(rc, id, flow, status, score, score_max, may_continue);
    if (!t) t = more;
  }
  return t;
}

std::optional<transition> module_ended_in(run_ctx& rc, const std::string& course, const std::string& flow,
                                          end_status status, int score, int score_max, bool may_continue) {
  session& s = rc.s();
  const course_def* c = rc.flows().course(course);
  course_progress* p = s.course(course);
  if (!c || !p || p->status != "active") return std::nullopt;
  const int i = c->index_of(flow);
  if (i < 0) return std::nullopt;
  module_progress& m = progress_of(*p, *c, i);
  p->timer.reset();
  p->nudges = 0;
  if (status == end_status::interrupted) {
    // Another flow took over (or the learner stopped): the module waits to be taken up again.
    m.status = "open";
    if (may_continue && !queued(s, course)) s.queue.insert(s.queue.begin(), queue_entry(course));
    return std::nullopt;
  }
  m.score = score;
  m.score_max = score_max;
  m.ended_at = rc.ctx().now_ms;
  const int pct = percent(score, score_max);
  const bool last = i + 1 >= static_cast<int>(c->modules.size());
  const int needed = last ? 0 : c->modules[static_cast<std::size_t>(i) + 1].min_score;
  const bool passed = status == end_status::completed && pct >= needed;
  m.status = status == end_status::completed ? (passed ? "completed" : "review") : "failed";
  {
    auto& r = course_record(rc, "module", *c, flow, m.status);
    r.value["module"] = i + 1;
    r.value["score"] = score;
    r.value["max"] = score_max;
    r.value["percent"] = pct;
    r.points = score;
    r.attempt = m.attempts;
  }
  p->current = i;
  if (!passed) {
    if (c->review.max_attempts > 0 && m.attempts >= c->review.max_attempts) {
      finish_course(rc, *c, *p, "failed");
      return std::nullopt;
    }
    set_vars(rc, *c, *p, i);
    say_text(rc, c->review.text);
    rc.vars.clear();
    // Retaken at the next drip hour.
    set_drip(rc, *p, next_drip_hour(rc, *c));
    return std::nullopt;
  }
  if (!last) {
    p->current = i + 1;
    progress_of(*p, *c, p->current);
    const std::int64_t due = drip_due(rc, *c, p->current);
    if (due <= rc.ctx().now_ms && may_continue) return open_module(rc, *c, *p, true);
    set_drip(rc, *p, due);
    return std::nullopt;
  }
  // Every module done: the completion rule.
  int total = 0, max = 0;
  for (const auto& mm : p->modules) {
    total += mm.score;
    max += mm.score_max;
  }
  const int overall = percent(total, max);
  set_vars(rc, *c, *p, -1);
  if (overall < c->completion.min_score) {
    say_text(rc, c->completion.not_met);
    rc.vars.clear();
    finish_course(rc, *c, *p, "not_met");
    return std::nullopt;
  }
  say_text(rc, c->completion.message);
  rc.vars.clear();
  finish_course(rc, *c, *p, "completed");
  if (c->certificate.enabled) issue_certificate(rc, *c, *p, overall);
  return std::nullopt;
}

std::optional<transition> course_restart(run_ctx& rc, const course_def& c) {
  session& s = rc.s();
  std::erase(s.queue, queue_entry(c.id));
  if (course_progress* p = s.course(c.id)) p->status = "reset";  // course_enroll starts it over
  return course_enroll(rc, c, false);
}

std::optional<transition> course_move(run_ctx& rc, const course_def& c, const std::string& flow) {
  session& s = rc.s();
  course_progress* p = s.course(c.id);
  const int i = c.index_of(flow);
  if (!p || i < 0) return std::nullopt;
  std::erase(s.queue, queue_entry(c.id));
  p->status = "active";
  p->ended_at = 0;
  p->current = i;
  p->timer.reset();
  return open_module(rc, c, *p, false);
}

std::optional<transition> course_dequeue(run_ctx& rc, const std::string& course) {
  const course_def* c = rc.flows().course(course);
  course_progress* p = rc.s().course(course);
  if (!c || !p || p->status != "active" || in_progress(rc.s(), course)) return std::nullopt;
  if (p->timer && p->timer->kind == "drip") return std::nullopt;  // not due yet
  return open_module(rc, *c, *p, true);
}

std::optional<transition> course_timer(run_ctx& rc, const std::string& id) {
  session& s = rc.s();
  for (auto& p : s.courses) {
    if (!p.timer || p.timer->id != id) continue;
    const course_def* c = rc.flows().course(p.course);
    const timer_slot t = *p.timer;
    p.timer.reset();
    if (!c || p.status != "active") return transition::wait();
    if (t.kind == "drip") {
      if (auto tr = open_module(rc, *c, p, true)) return tr;
      return transition::wait();
    }
    if (t.kind == "nudge") {
      const flow* f = s.run && s.run->course == p.course ? rc.current_flow() : nullptr;
      const node* n = f ? f->find(s.run->node) : nullptr;
      if (!n || !n->asks()) return transition::wait();
      p.nudges += 1;
      set_vars(rc, *c, p, c->index_of(s.run->flow));
      say_text(rc, c->nudges.text, c->nudges.template_name);
      rc.vars.clear();
      auto& r = course_record(rc, "nudge", *c, s.run->flow, "sent");
      r.attempt = p.nudges;
      r.node = n->id;
      if (p.nudges < c->nudges.max)
        p.timer = timer_slot{"course." + p.course + ".nudge." + std::to_string(p.nudges),
                             rc.ctx().now_ms + c->nudges.after_ms, "nudge", p.nudges};
      // Ask the waiting question again, so the learner can answer right there.
      return transition::go(n->id);
    }
    return transition::wait();
  }
  return std::nullopt;
}

void course_reconcile(run_ctx& rc, bool learner_input) {
  session& s = rc.s();
  for (auto& p : s.courses) {
    const course_def* c = rc.flows().course(p.course);
    if (p.status != "active" || !c) {
      p.timer.reset();
      continue;
    }
    if (s.opted_out) {
      p.timer.reset();  // nothing may be sent; START brings the course back (below)
      continue;
    }
    const bool nudge_timer = p.timer && p.timer->kind == "nudge";
    if (!s.paused.empty()) {
      if (nudge_timer) p.timer.reset();
      continue;
    }
    if (in_progress(s, p.course)) {
      const bool own_run = s.run && s.run->course == p.course;
      const flow* f = own_run ? rc.flows().find(s.run->flow) : nullptr;
      const node* n = f ? f->find(s.run->node) : nullptr;
      const bool owes_answer = n && n->asks();
      if (!owes_answer || c->nudges.after_ms <= 0 || c->nudges.max <= 0) {
        if (nudge_timer) p.timer.reset();
        continue;
      }
      if (learner_input || !p.timer) {
        if (learner_input) p.nudges = 0;
        if (p.nudges < c->nudges.max)
          p.timer = timer_slot{"course." + p.course + ".nudge." + std::to_string(p.nudges),
                               rc.ctx().now_ms + c->nudges.after_ms, "nudge", p.nudges};
      }
      continue;
    }
    if (nudge_timer) p.timer.reset();
    if (queued(s, p.course) || p.timer) continue;
    // Nothing pending (an interrupted module whose queue entry was cleared, a learner back
    // from STOP): the module waiting opens at the next drip hour.
    progress_of(p, *c, p.current);
    set_drip(rc, p, next_drip_hour(rc, *c));
  }
}

}  // namespace aula::detail
