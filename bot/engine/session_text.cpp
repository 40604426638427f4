// A session's JSON text written and read without a JSON document in between (every step
// loads one and writes one; building and walking nlohmann documents for them was ~5 % of the
// server's CPU). The text is exactly what `session::to_json().dump()` gives (members in
// nlohmann's order, its escapes), and reading gives exactly what `session::from_json` gives:
// the reader takes only the form the writer produces; on anything else (an unknown member, a
// null, a float where an integer belongs, bad UTF-8, bad JSON) it gives up and
// the caller reads the text through a document, which decides (and reports errors) as before.
#include "bot/engine/session_text.hpp"

#include <charconv>
#include <limits>

#include "bot/engine/json_text.hpp"

namespace aula::session_text {

namespace {

using nlohmann::json;

// --------------------------------------------------------------------------------------------
// Writing

class writer {
 public:
  explicit writer(std::string& out) : o_(out) {}

  // A JSON string as nlohmann writes it; invalid UTF-8 gets nlohmann's usual error.
  void str(std::string_view s) {
    if (!json_text::detail::put_string(o_, s)) invalid(s);
  }

  template <class T>
  void num(T v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    o_.append(buf, r.ptr);
  }
  void boolean(bool b) { o_ += b ? "true" : "false"; }
  void raw(const json& j) { o_ += json_text::write(j); }
  std::string& out() { return o_; }

 private:
  [[noreturn]] void invalid(std::string_view s) {
    (void)json(std::string(s)).dump();  // throws nlohmann's type_error 316
    throw std::logic_error("session: a string that is not UTF-8 was written");
  }
  std::string& o_;
};

// One object's members, written in the order given (the callers give nlohmann's: by name).
class members {
 public:
  explicit members(writer& w) : w_(w) { w_.out() += '{'; }
  writer& key(std::string_view k) {
    w_.out() += first_ ? "\"" : ",\"";
    first_ = false;
    w_.out() += k;
    w_.out() += "\":";
    return w_;
  }
  writer& name(std::string_view k) {  // a member named by data (escaped)
    if (!first_) w_.out() += ',';
    first_ = false;
    w_.str(k);
    w_.out() += ':';
    return w_;
  }
  void close() { w_.out() += '}'; }

 private:
  writer& w_;
  bool first_ = true;
};

void write_timer(writer& w, const timer_slot& t) {
  members m(w);
  m.key("c").num(t.count);
  m.key("due").num(t.due);
  m.key("id").str(t.id);
  m.key("k").str(t.kind);
  m.close();
}

void write_run(writer& w, const run_state& r) {
  members m(w);
  m.key("a").num(r.attempts);
  if (!r.course.empty()) m.key("course").str(r.course);
  if (r.expire) write_timer(m.key("ex"), *r.expire);
  m.key("flow").str(r.flow);
  m.key("id").str(r.id);
  m.key("n").num(r.seq);
  m.key("node").str(r.node);
  m.key("r").num(r.retries);
  m.key("s").num(r.score);
  m.key("smax").num(r.score_max);
  m.key("t0").num(r.started_at);
  if (r.timer) write_timer(m.key("tm"), *r.timer);
  m.close();
}

void write_course(writer& w, const course_progress& c) {
  members m(w);
  if (!c.certificate.empty()) {
    members cert(m.key("cert"));
    cert.key("code").str(c.certificate);
    cert.key("folio").str(c.folio);
    cert.close();
  }
  m.key("cur").num(c.current);
  m.key("id").str(c.course);
  w.out() += ",\"mods\":[";
  for (std::size_t k = 0; k < c.modules.size(); ++k) {
    const auto& md = c.modules[k];
    if (k) w.out() += ',';
    members mm(w);
    mm.key("a").num(md.attempts);
    mm.key("flow").str(md.flow);
    mm.key("s").num(md.score);
    mm.key("smax").num(md.score_max);
    mm.key("st").str(md.status);
    mm.key("t0").num(md.opened_at);
    mm.key("t1").num(md.ended_at);
    mm.close();
  }
  w.out() += ']';
  m.key("nudges").num(c.nudges);
  m.key("st").str(c.status);
  m.key("t0").num(c.enrolled_at);
  m.key("t1").num(c.ended_at);
  if (c.timer) write_timer(m.key("tm"), *c.timer);
  m.close();
}

// --------------------------------------------------------------------------------------------
// Reading: false = not the writer's form (the caller reads through a document)

class reader {
 public:
  explicit reader(std::string_view s) : p_(s.data()), e_(s.data() + s.size()) {}

  bool at_end() {
    ws();
    return p_ == e_;
  }
  bool lit(char c) {
    ws();
    if (p_ < e_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  // A string, as nlohmann reads it.
  bool str(std::string& out) {
    ws();
    if (p_ == e_ || *p_ != '"') return false;
    const std::size_t end = json_text::detail::read_string(std::string_view(p_, static_cast<std::size_t>(e_ - p_)), 0, out);
    if (end == 0) return false;
    p_ += end;
    return true;
  }

  // A member name of the session's own (plain ASCII, no escapes).
  bool name(std::string_view& out) {
    if (!lit('"')) return false;
    const char* start = p_;
    while (p_ < e_ && *p_ != '"') {
      if (*p_ == '\\' || static_cast<unsigned char>(*p_) < 0x20 || static_cast<unsigned char>(*p_) >= 0x80) return false;
      ++p_;
    }
    if (p_ == e_) return false;
    out = std::string_view(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    return true;
  }

  // An integer in T's range, as JSON writes it (no fraction, exponent or leading zeros).
  template <class T>
  bool num(T& v) {
    ws();
    const char* s = p_;
    if (s < e_ && *s == '-') ++s;
    if (s == e_ || *s < '0' || *s > '9') return false;
    if (*s == '0' && s + 1 < e_ && s[1] >= '0' && s[1] <= '9') return false;
    std::int64_t x = 0;
    const auto r = std::from_chars(p_, e_, x);
    if (r.ec != std::errc{}) return false;
    if (r.ptr < e_ && (*r.ptr == '.' || *r.ptr == 'e' || *r.ptr == 'E')) return false;
    if (x < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        x > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
      return false;
    v = static_cast<T>(x);
    p_ = r.ptr;
    return true;
  }

  bool boolean(bool& b) {
    ws();
    const std::string_view rest(p_, static_cast<std::size_t>(e_ - p_));
    if (rest.starts_with("true")) {
      b = true;
      p_ += 4;
    } else if (rest.starts_with("false")) {
      b = false;
      p_ += 5;
    } else {
      return false;
    }
    return true;
  }

  // Any JSON value, as a document (a saved answer's value, a pending event).
  bool any(json& out) {
    ws();
    const char* start = p_;
    if (p_ == e_) return false;
    if (*p_ == '"' || *p_ == '{' || *p_ == '[') {
      int depth = 0;  // a string, or containers up to their close
      do {
        if (p_ == e_) return false;
        const char c = *p_;
        if (c == '"') {
          for (++p_; p_ < e_ && *p_ != '"'; ++p_)
            if (*p_ == '\\' && ++p_ == e_) return false;
          if (p_ == e_) return false;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          --depth;
        }
        ++p_;
      } while (depth > 0);
    } else {  // a number, true, false, null (not up to a NUL byte: nlohmann's parse ends there)
      while (p_ < e_ && ((*p_ >= '0' && *p_ <= '9') || (*p_ >= 'a' && *p_ <= 'z') || (*p_ >= 'A' && *p_ <= 'Z') ||
                         *p_ == '-' || *p_ == '+' || *p_ == '.'))
        ++p_;
    }
    out = json_text::parse_or_discarded(std::string_view(start, static_cast<std::size_t>(p_ - start)));
    return !out.is_discarded();
  }

  // Members of an object: f(name) reads the value after the colon.
  template <class F>
  bool object(F&& f) {
    if (!lit('{')) return false;
    if (lit('}')) return true;
    do {
      std::string_view k;
      if (!name(k) || !lit(':') || !f(k)) return false;
    } while (lit(','));
    return lit('}');
  }
  // Members named by data (contact fields, answer names).
  template <class F>
  bool map(F&& f) {
    if (!lit('{')) return false;
    if (lit('}')) return true;
    std::string k;
    do {
      if (!str(k) || !lit(':') || !f(k)) return false;
    } while (lit(','));
    return lit('}');
  }
  template <class F>
  bool array(F&& f) {
    if (!lit('[')) return false;
    if (lit(']')) return true;
    do {
      if (!f()) return false;
    } while (lit(','));
    return lit(']');
  }

 private:
  void ws() {
    while (p_ < e_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  const char* p_;
  const char* e_;
};

bool read_timer(reader& r, timer_slot& t) {
  t = timer_slot{};
  bool id = false;
  return r.object([&](std::string_view k) {
    if (k == "id") return id = r.str(t.id);
    if (k == "due") return r.num(t.due);
    if (k == "k") return r.str(t.kind);
    if (k == "c") return r.num(t.count);
    return false;
  }) && id;
}

bool read_run(reader& r, run_state& run) {
  run = run_state{};
  bool flow = false, id = false, node = false;
  return r.object([&](std::string_view k) {
    if (k == "flow") return flow = r.str(run.flow);
    if (k == "id") return id = r.str(run.id);
    if (k == "node") return node = r.str(run.node);
    if (k == "r") return r.num(run.retries);
    if (k == "a") return r.num(run.attempts);
    if (k == "n") return r.num(run.seq);
    if (k == "s") return r.num(run.score);
    if (k == "smax") return r.num(run.score_max);
    if (k == "t0") return r.num(run.started_at);
    if (k == "course") return r.str(run.course);
    if (k == "tm") return read_timer(r, run.timer.emplace());
    if (k == "ex") return read_timer(r, run.expire.emplace());
    return false;
  }) && flow && id && node;
}

bool read_module(reader& r, module_progress& m) {
  return r.object([&](std::string_view k) {
    if (k == "flow") return r.str(m.flow);
    if (k == "st") return r.str(m.status);
    if (k == "s") return r.num(m.score);
    if (k == "smax") return r.num(m.score_max);
    if (k == "a") return r.num(m.attempts);
    if (k == "t0") return r.num(m.opened_at);
    if (k == "t1") return r.num(m.ended_at);
    return false;
  });
}

bool read_course(reader& r, course_progress& c) {
  bool id = false;
  return r.object([&](std::string_view k) {
    if (k == "id") return id = r.str(c.course);
    if (k == "st") return r.str(c.status);
    if (k == "cur") return r.num(c.current);
    if (k == "mods") {
      c.modules.clear();
      return r.array([&] { return read_module(r, c.modules.emplace_back()); });
    }
    if (k == "nudges") return r.num(c.nudges);
    if (k == "t0") return r.num(c.enrolled_at);
    if (k == "t1") return r.num(c.ended_at);
    if (k == "tm") return read_timer(r, c.timer.emplace());
    if (k == "cert") {
      c.certificate.clear();
      c.folio.clear();
      return r.object([&](std::string_view n) {
        if (n == "code") return r.str(c.certificate);
        if (n == "folio") return r.str(c.folio);
        return false;
      });
    }
    return false;
  }) && id;
}

}  // namespace

std::string write(const session& s) { return write(s, s.version); }

std::string write(const session& s, std::int64_t version) {
  std::string out;
  out.reserve(512);
  writer w(out);
  members m(w);
  if (!s.answers.empty()) {
    members a(m.key("answers"));
    for (const auto& [name, ans] : s.answers) {
      members one(a.name(name));
      one.key("t").str(ans.text);
      one.key("v").raw(ans.value);
      one.close();
    }
    a.close();
  }
  if (!s.consent.decision.empty()) {
    members c(m.key("consent"));
    c.key("at").num(s.consent.at);
    c.key("ch").str(s.consent.channel);
    c.key("d").str(s.consent.decision);
    c.key("ver").str(s.consent.version);
    c.close();
  }
  if (!s.contact.empty()) {
    members c(m.key("contact"));
    for (const auto& [k, v] : s.contact) c.name(k).str(v);
    c.close();
  }
  if (!s.courses.empty()) {
    m.key("courses");
    out += '[';
    for (std::size_t k = 0; k < s.courses.size(); ++k) {
      if (k) out += ',';
      write_course(w, s.courses[k]);
    }
    out += ']';
  }
  if (!s.consent_pending.empty()) {
    m.key("cp");
    out += '[';
    for (std::size_t k = 0; k < s.consent_pending.size(); ++k) {
      if (k) out += ',';
      w.raw(s.consent_pending[k]);
    }
    out += ']';
  }
  if (s.consent_asked) m.key("cq").boolean(true);
  if (s.flood_count) {
    members f(m.key("flood"));
    f.key("n").num(s.flood_count);
    f.key("told").boolean(s.flood_told);
    f.key("w").num(s.flood_window);
    f.close();
  }
  if (!s.lang.empty()) m.key("lang").str(s.lang);
  if (s.last) {
    members l(m.key("last"));
    l.key("flow").str(s.last->flow);
    l.key("s").num(s.last->score);
    l.key("smax").num(s.last->score_max);
    l.key("status").str(s.last->status);
    l.close();
  }
  if (s.last_in) m.key("li").num(s.last_in);
  if (s.menu_open) m.key("menu").boolean(true);
  if (s.opted_out) m.key("out").boolean(true);
  if (!s.paused.empty()) {
    members p(m.key("pause"));
    p.key("at").num(s.paused_at);
    p.key("why").str(s.paused);
    p.close();
  }
  if (!s.queue.empty()) {
    m.key("queue");
    out += '[';
    for (std::size_t k = 0; k < s.queue.size(); ++k) {
      if (k) out += ',';
      w.str(s.queue[k]);
    }
    out += ']';
  }
  if (s.run) write_run(m.key("run"), *s.run);
  if (!s.stack.empty()) {
    m.key("stack");
    out += '[';
    for (std::size_t k = 0; k < s.stack.size(); ++k) {
      if (k) out += ',';
      write_run(w, s.stack[k]);
    }
    out += ']';
  }
  m.key("v").num(session::format);
  m.key("ver").num(version);
  m.close();
  return out;
}

std::optional<session> read(std::string_view text) {
  reader r(text);
  session s;
  bool v = false;
  const bool ok = r.object([&](std::string_view k) {
    if (k == "v") {
      int f = 0;
      return v = r.num(f) && f == session::format;
    }
    if (k == "ver") return r.num(s.version);
    if (k == "lang") return r.str(s.lang);
    if (k == "contact") {
      s.contact.clear();
      return r.map([&](const std::string& name) { return r.str(s.contact[name]); });
    }
    if (k == "answers") {
      s.answers.clear();
      return r.map([&](const std::string& name) {
        saved_answer a;
        bool value = false;
        if (!r.object([&](std::string_view n) {
              if (n == "v") return value = r.any(a.value);
              if (n == "t") return r.str(a.text);
              return false;
            }) ||
            !value)
          return false;
        s.answers[name] = std::move(a);
        return true;
      });
    }
    if (k == "run") return read_run(r, s.run.emplace());
    if (k == "stack") {
      s.stack.clear();
      return r.array([&] { return read_run(r, s.stack.emplace_back()); });
    }
    if (k == "queue") {
      s.queue.clear();
      return r.array([&] { return r.str(s.queue.emplace_back()); });
    }
    if (k == "courses") {
      s.courses.clear();
      return r.array([&] { return read_course(r, s.courses.emplace_back()); });
    }
    if (k == "out") return r.boolean(s.opted_out);
    if (k == "menu") return r.boolean(s.menu_open);
    if (k == "li") return r.num(s.last_in);
    if (k == "flood") {
      s.flood_window = 0;
      s.flood_count = 0;
      s.flood_told = false;
      return r.object([&](std::string_view n) {
        if (n == "w") return r.num(s.flood_window);
        if (n == "n") return r.num(s.flood_count);
        if (n == "told") return r.boolean(s.flood_told);
        return false;
      });
    }
    if (k == "pause") {
      s.paused.clear();
      s.paused_at = 0;
      return r.object([&](std::string_view n) {
        if (n == "why") return r.str(s.paused);
        if (n == "at") return r.num(s.paused_at);
        return false;
      });
    }
    if (k == "consent") {
      s.consent = consent_decision{};
      return r.object([&](std::string_view n) {
        if (n == "d") return r.str(s.consent.decision);
        if (n == "ver") return r.str(s.consent.version);
        if (n == "ch") return r.str(s.consent.channel);
        if (n == "at") return r.num(s.consent.at);
        return false;
      });
    }
    if (k == "cq") return r.boolean(s.consent_asked);
    if (k == "cp") {
      s.consent_pending.clear();
      return r.array([&] { return r.any(s.consent_pending.emplace_back()); });
    }
    if (k == "last") {
      last_run l;
      if (!r.object([&](std::string_view n) {
            if (n == "flow") return r.str(l.flow);
            if (n == "status") return r.str(l.status);
            if (n == "s") return r.num(l.score);
            if (n == "smax") return r.num(l.score_max);
            return false;
          }))
        return false;
      s.last = std::move(l);
      return true;
    }
    return false;
  });
  if (!ok || !v || !r.at_end()) return std::nullopt;
  return s;
}

}  // namespace aula::session_text
