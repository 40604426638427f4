#include "bot/authoring/checks.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bot/engine/engine.hpp"
#include "bot/engine/template.hpp"
#include "bot/engine/text.hpp"
#include "bot/engine/timing.hpp"

namespace aula {

// ================================================================== GSM-7

namespace {

// GSM 03.38 default alphabet (the basic set, as Unicode) and its extension table (each of
// those costs two septets, but stays GSM-7). 0x1B is the escape to the extension table, not a
// character of its own.
bool in_gsm7(char32_t c) {
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= 'a' && c <= 'z') return true;
  if (c >= '0' && c <= '9') return true;
  static const std::u32string basic =
      U"@\u00A3$\u00A5\u00E8\u00E9\u00F9\u00EC\u00F2\u00C7\n\u00D8\u00F8\r\u00C5\u00E5"  // 0x00-0x0F
      U"\u0394_\u03A6\u0393\u039B\u03A9\u03A0\u03A8\u03A3\u0398\u039E\u00C6\u00E6\u00DF\u00C9"  // 0x10-0x1F
      U" !\"#\u00A4%&'()*+,-./"                                                            // 0x20-0x2F
      U":;<=>?"                                                                            // 0x3A-0x3F
      U"\u00A1"                                                                            // 0x40
      U"\u00C4\u00D6\u00D1\u00DC\u00A7"                                                    // 0x5B-0x5F
      U"\u00BF"                                                                            // 0x60
      U"\u00E4\u00F6\u00F1\u00FC\u00E0";                                                   // 0x7B-0x7F
  static const std::u32string extension = U"\f^{}\\[~]|\u20AC";
  return basic.find(c) != std::u32string::npos || extension.find(c) != std::u32string::npos;
}

}  // namespace

std::u32string gsm7_offending(std::string_view text) {
  std::u32string out;
  for (char32_t c : utf8_decode(text))
    if (!in_gsm7(c) && out.find(c) == std::u32string::npos) out.push_back(c);
  return out;
}

bool gsm7_encodable(std::string_view text) {
  for (char32_t c : utf8_decode(text))
    if (!in_gsm7(c)) return false;
  return true;
}

namespace {

// ================================================================== helpers

std::size_t chars(std::string_view s) { return utf8_decode(s).size(); }

// A character for a message: itself, or U+XXXX when it would not show (controls, variation
// selectors, joiners, invisible spaces).
std::string show(char32_t c) {
  const bool invisible = c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || (c >= 0x200B && c <= 0x200F) ||
                         (c >= 0x2028 && c <= 0x202F) || (c >= 0x2060 && c <= 0x206F) ||
                         (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF || (c >= 0xE0000 && c <= 0xE01EF);
  if (invisible) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
    return buf;
  }
  std::string s = "'";
  utf8_append(s, c);
  return s + "'";
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// "a, b, c and 4 more"
std::string some_of(const std::vector<std::string>& v, std::size_t shown = 3) {
  if (v.size() <= shown + 1) return join(v);
  std::vector<std::string> head(v.begin(), v.begin() + static_cast<long>(shown));
  return join(head) + " and " + std::to_string(v.size() - shown) + " more";
}

// Whether the flow's name was written by its author (the loader names a flow without one
// after its id, in the base language).
bool authored_name(const flow& f) {
  return !f.name.empty() && !(f.name.by_lang.size() == 1 && f.name.by_lang.begin()->second == f.id);
}

// One text of a node, in every language it has.
struct text_part {
  std::string what;  // "question", "option 'a' label", "timeout remind", …
  const localized* text;
};

// Options the loader made up (the numbers of a scale or NPS question) are not the author's.
bool authored_options(const node& n) {
  return !(n.kind == node_kind::question && (n.type == question_type::scale || n.type == question_type::nps));
}

std::vector<text_part> texts_of(const node& n) {
  std::vector<text_part> out;
  auto add = [&](std::string what, const localized& t) {
    if (!t.empty()) out.push_back({std::move(what), &t});
  };
  add(n.kind == node_kind::end ? "end message" : to_string(n.kind), n.text);
  if (authored_options(n)) {
    for (const auto& o : n.options) {
      add("option '" + o.id + "' label", o.label);
      add("option '" + o.id + "' feedback", o.feedback);
    }
  }
  add("feedback.correct", n.feedback.correct);
  add("feedback.incorrect", n.feedback.incorrect);
  add("feedback.retry", n.feedback.retry);
  add("invalid", n.invalid);
  if (n.timeout) add("timeout remind", n.timeout->remind);
  return out;
}

// The nodes a node can go to, with where each link is written.
std::vector<std::pair<std::string, source_pos>> successors(const node& n) {
  std::vector<std::pair<std::string, source_pos>> out;
  auto add = [&](const std::string& target, const source_pos& p) {
    if (!target.empty()) out.emplace_back(target, p);
  };
  add(n.next, n.next_pos);
  add(n.on_invalid, n.on_invalid_pos);
  add(n.on_failure, n.on_failure_pos);
  add(n.on_timeout, n.on_timeout_pos);
  if (n.timeout) add(n.timeout->next, n.timeout->next_pos);
  for (const auto& c : n.cases) add(c.next, c.next_pos);
  for (const auto& b : n.branches) add(b.next, b.next_pos);
  return out;
}

class checker {
 public:
  explicit checker(load_result& res) : res_(res), d_(res.diags) {
    // Answers saved anywhere: a {{answers.X}} in one flow may be saved by another (a flow
    // that runs before it, or one it calls as a subflow).
    for (const auto& [fid, f] : res_.flows.flows) {
      for (const auto& [nid, n] : f.nodes) {
        if (!n.save_as.empty()) saved_.insert(n.save_as);
        for (const auto& a : n.sets)
          if (a.target.starts_with("answers.")) saved_.insert(a.target.substr(8));
      }
    }
  }

  void run() {
    for (const auto& [fid, f] : res_.flows.flows) {
      unreachable(f);
      loops(f);
      const auto langs = languages(f);
      if (authored_name(f)) {
        std::vector<std::string> missing;
        for (const auto& l : langs)
          if (!f.name.by_lang.count(l)) missing.push_back(l);
        if (!missing.empty())
          d_.warning(f.pos, "the flow name has no " + join(missing, "/") + " translation",
                     "add it; until then the " + f.language + " name is shown");
      }
      for (const auto& id : f.order) {
        const node& n = f.nodes.at(id);
        translations(f, n, langs);
        variables(f, n);
        labels(f, n);
        lengths(f, n);
        if (!accepts(f, "sms-unicode")) sms(n);
        if (!accepts(f, "late-reminders")) reminders(n);
        media_of(n);
        weights(n);
      }
    }
  }

 private:
  static bool accepts(const flow& f, const char* what) {
    return std::find(f.accepted.begin(), f.accepted.end(), what) != f.accepted.end();
  }

  // ---------------------------------------------------------------- 1. unreachable nodes
  void unreachable(const flow& f) {
    std::set<std::string> seen;
    std::deque<std::string> todo;
    // Learners also arrive where a new version sends those whose node is gone.
    std::vector<std::string> roots = {f.start, f.on_expire, f.fallback};
    for (const auto& [old, target] : f.migrate) roots.push_back(target);
    for (const auto& s : roots)
      if (!s.empty() && f.nodes.count(s) && seen.insert(s).second) todo.push_back(s);
    while (!todo.empty()) {
      const node* n = f.find(todo.front());
      todo.pop_front();
      if (!n) continue;
      for (const auto& [t, p] : successors(*n))
        if (f.nodes.count(t) && seen.insert(t).second) todo.push_back(t);
    }
    for (const auto& id : f.order)
      if (!seen.count(id))
        d_.warning(f.nodes.at(id).pos, "node '" + id + "' is never reached from start", "remove it or link to it");
  }

  // ---------------------------------------------------------------- 10. loops that never wait
  // Whether running `flow_id` as a subflow can stop to wait (else it passes straight through).
  bool flow_waits(const std::string& flow_id, std::set<std::string>& seen) {
    const flow* f = res_.flows.find(flow_id);
    if (!f || !seen.insert(flow_id).second) return false;
    for (const auto& [id, n] : f->nodes) {
      if (n.waits()) return true;
      if (n.kind == node_kind::subflow && flow_waits(n.subflow, seen)) return true;
    }
    return false;
  }

  // Nodes entered and left in the same step, without waiting for anything.
  bool passes_through(const node& n) {
    switch (n.kind) {
      case node_kind::message:
      case node_kind::split:
      case node_kind::random:
      case node_kind::set: return true;
      case node_kind::subflow: {
        std::set<std::string> seen;
        return !flow_waits(n.subflow, seen);
      }
      default: return false;
    }
  }

  void loops(const flow& f) {
    // Strongly connected components (Tarjan) of the nodes that pass straight through.
    std::map<std::string, std::vector<std::string>> edges;
    for (const auto& id : f.order) {
      const node& n = f.nodes.at(id);
      if (!passes_through(n)) continue;
      auto& e = edges[id];
      for (const auto& [t, p] : successors(n))
        if (const node* m = f.find(t); m && passes_through(*m)) e.push_back(t);
    }
    std::map<std::string, int> index, low;
    std::set<std::string> on_stack;
    std::vector<std::string> stack;
    std::vector<std::vector<std::string>> components;
    int counter = 0;
    std::function<void(const std::string&)> connect = [&](const std::string& v) {
      index[v] = low[v] = counter++;
      stack.push_back(v);
      on_stack.insert(v);
      for (const auto& w : edges[v]) {
        if (!index.count(w)) {
          connect(w);
          low[v] = std::min(low[v], low[w]);
        } else if (on_stack.count(w)) {
          low[v] = std::min(low[v], index[w]);
        }
      }
      if (low[v] == index[v]) {
        std::vector<std::string> comp;
        std::string w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack.erase(w);
          comp.push_back(w);
        } while (w != v);
        components.push_back(std::move(comp));
      }
    };
    for (const auto& id : f.order)
      if (edges.count(id) && !index.count(id)) connect(id);

    for (const auto& comp : components) {
      const std::set<std::string> members(comp.begin(), comp.end());
      const auto& first_edges = edges[comp.front()];
      const bool cyclic = comp.size() > 1 ||
                          std::find(first_edges.begin(), first_edges.end(), comp.front()) != first_edges.end();
      if (!cyclic) continue;
      // Report at the member that comes first in the file.
      std::string at;
      for (const auto& id : f.order)
        if (members.count(id)) {
          at = id;
          break;
        }
      // A loop can end only if something in it changes what its splits read (a set node, or a
      // subflow, which may set things) and some link leads out of it. Without that it is
      // endless: messages, splits and random draws (fixed per run) repeat the same way.
      bool changes = false, exits = false;
      for (const auto& id : comp) {
        const node& n = f.nodes.at(id);
        changes = changes || n.kind == node_kind::set || n.kind == node_kind::subflow;
        for (const auto& [t, p] : successors(n)) exits = exits || !members.count(t);
      }
      const std::string path = cycle_path(at, edges, members);
      if (changes && exits) {
        d_.warning(f.nodes.at(at).pos, "these nodes may loop without waiting for the learner: " + path,
                   "make sure a split leaves the loop; a run that enters 500 nodes in one step is stopped as failed");
      } else {
        d_.error(f.nodes.at(at).pos, "the flow would loop forever without waiting for the learner: " + path,
                 "put a question or a wait in the loop, or let it end");
      }
    }
  }

  // The shortest way from `from` back to itself inside a loop: "a -> b -> a".
  static std::string cycle_path(const std::string& from, std::map<std::string, std::vector<std::string>>& edges,
                                const std::set<std::string>& members) {
    std::map<std::string, std::string> parent;
    std::deque<std::string> todo = {from};
    std::set<std::string> seen = {from};
    std::string last;
    while (!todo.empty() && last.empty()) {
      std::string v = todo.front();
      todo.pop_front();
      for (const auto& w : edges[v]) {
        if (!members.count(w)) continue;
        if (w == from) {
          last = v;
          break;
        }
        if (seen.insert(w).second) {
          parent[w] = v;
          todo.push_back(w);
        }
      }
    }
    std::vector<std::string> path = {from};
    for (std::string v = last; !v.empty() && v != from; v = parent[v]) path.insert(path.begin() + 1, v);
    path.push_back(from);
    return join(path, " -> ");
  }

  // ---------------------------------------------------------------- 3. translations
  static std::set<std::string> languages(const flow& f) {
    std::set<std::string> langs = {f.language};
    if (authored_name(f))
      for (const auto& [l, t] : f.name.by_lang) langs.insert(l);
    for (const auto& [id, n] : f.nodes)
      for (const auto& part : texts_of(n))
        for (const auto& [l, t] : part.text->by_lang) langs.insert(l);
    return langs;
  }

  void translations(const flow& f, const node& n, const std::set<std::string>& langs) {
    if (langs.size() < 2) return;
    std::map<std::string, std::vector<std::string>> missing;  // language -> parts without it
    for (const auto& part : texts_of(n)) {
      // A text without letters (a year, a number, a symbol) reads the same in every language.
      const std::string& base = part.text->get(f.language, f.language);
      if (std::none_of(base.begin(), base.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || (c & 0x80); }))
        continue;
      for (const auto& l : langs)
        if (!part.text->by_lang.count(l)) missing[l].push_back(part.what);
    }
    if (missing.empty()) return;
    std::vector<std::string> what;
    for (const auto& [l, parts] : missing) what.push_back(l + " for " + some_of(parts));
    d_.warning(n.pos, "node '" + n.id + "' is missing translations: " + join(what, "; "),
               "add them; until then those learners see the " + f.language + " text");
  }

  // ---------------------------------------------------------------- 4. variables
  enum class var_class { ok, answer, unknown, bad_answer };

  static var_class classify(const std::string& v, bool in_condition, std::string& answer) {
    static const std::set<std::string> fixed = {"score.total", "score.max", "score.percent", "last.status",
                                                "last.flow", "last.score", "last.score_max", "flow.name",
                                                "flow.id", "lang"};
    if (fixed.count(v)) return var_class::ok;
    if (in_condition && (v == "cohort" || v == "cohorts")) return var_class::ok;
    if (v.starts_with("contact.") && v.size() > 8) return var_class::ok;
    if (v.starts_with("answers.")) {
      // answers.NAME, answers.NAME.value, answers.NAME.text (conditions), or a field of a
      // saved JSON object (a webhook's answer): answers.NAME.field.sub.
      const std::string rest = v.substr(8);
      std::size_t from = 0;
      while (true) {
        const auto dot = rest.find('.', from);
        if (dot == from || from >= rest.size()) return var_class::bad_answer;  // an empty part
        if (dot == std::string::npos) break;
        from = dot + 1;
      }
      answer = rest.substr(0, rest.find('.'));
      return var_class::answer;
    }
    return var_class::unknown;
  }

  static std::string valid_variables(bool in_condition) {
    return std::string("use contact.<field>, answers.<name>, answers.<name>.value, answers.<name>.<field>") +
           (in_condition ? ", answers.<name>.text, cohort, cohorts" : "") +
           ", score.total, score.max, score.percent, last.status, last.flow, last.score, last.score_max, "
           "flow.name, flow.id or lang";
  }

  void use_variable(const node& n, const std::string& v, const source_pos& p, const std::string& where,
                    bool in_condition, std::set<std::string>& reported) {
    if (!reported.insert(v).second) return;
    std::string answer;
    switch (classify(v, in_condition, answer)) {
      case var_class::ok: return;
      case var_class::unknown:
        d_.error(p, "unknown variable '" + v + "' in " + where + " of node '" + n.id + "'",
                 valid_variables(in_condition));
        return;
      case var_class::bad_answer:
        d_.error(p, "'" + v + "' in " + where + " of node '" + n.id + "' is no answer variable",
                 "write answers.<name> (as shown), answers.<name>.value (the option id or number) or "
                 "answers.<name>.<field> (a field of a webhook's JSON answer)");
        return;
      case var_class::answer:
        if (saved_.count(answer)) return;
        {
          std::vector<std::string> names(saved_.begin(), saved_.end());
          std::string hint = did_you_mean(answer, names);
          if (hint.empty())
            hint = "add save_as: " + answer + " to the question that asks it" +
                   (in_condition ? "" : ", or give a fallback: {{" + v + "|…}}");
          d_.warning(p, "'" + v + "' in " + where + " of node '" + n.id + "' is never saved by any flow, so it is always empty",
                     hint);
        }
        return;
    }
  }

  void variables(const flow&, const node& n) {
    std::set<std::string> reported;
    auto scan = [&](const std::string& text, const source_pos& p, const std::string& where) {
      for (const auto& v : variables_in(text)) use_variable(n, v, p, where, false, reported);
    };
    for (const auto& part : texts_of(n))
      for (const auto& [l, t] : part.text->by_lang) scan(t, n.pos, "the " + part.what);
    for (const auto& a : n.sets) scan(a.value, a.pos, "the value of " + a.target);
    if (n.attachment) scan(n.attachment->url, n.attachment->pos, "the media url");
    if (n.kind == node_kind::webhook) {
      scan(n.webhook.url, n.pos, "the webhook url");
      scan(n.webhook.body, n.pos, "the webhook body");
    }
    for (const auto& c : n.cases)
      for (const auto& conj : c.when.any)
        for (const auto& t : conj) use_variable(n, t.var, c.pos, "a condition", true, reported);
  }

  // ---------------------------------------------------------------- 2. choice labels
  void labels(const flow&, const node& n) {
    const bool choice = n.kind == node_kind::quiz || (n.kind == node_kind::question && n.type == question_type::choice);
    if (!choice) return;
    const std::size_t count = n.options.size();
    std::size_t limit = 0;
    std::string what;
    if (count <= 3) {
      limit = 20;
      what = "a WhatsApp reply button title";
    } else if (count <= 10) {
      limit = 24;
      what = "a WhatsApp list row title";
    }
    for (std::size_t i = 0; i < count; ++i) {
      const option& o = n.options[i];
      if (limit) {
        for (const auto& [lang, label] : o.label.by_lang) {
          const std::size_t len = chars(label);
          if (len > limit)
            d_.warning(o.pos,
                       "the " + lang + " label of option '" + o.id + "' has " + std::to_string(len) + " characters; " +
                           what + " shows " + std::to_string(limit) + " and the rest is cut",
                       "shorten it to " + std::to_string(limit) + " characters or fewer");
        }
      }
      // The button's callback data, with a run id as long as real ones (12 hex digits).
      const std::string ref = choice_ref("000000000000", n.id, i);
      if (ref.size() > 64)
        d_.error(o.pos,
                 "the button data of option '" + o.id + "' would take " + std::to_string(ref.size()) +
                     " bytes; Telegram allows 64",
                 "use fewer options");
    }
  }

  // ---------------------------------------------------------------- 9. text lengths
  void lengths(const flow& f, const node& n) {
    constexpr std::size_t chat_limit = 4096, caption_limit = 1024;
    for (const auto& part : texts_of(n)) {
      for (const auto& [lang, text] : part.text->by_lang) {
        std::size_t len = chars(text);
        std::string what = "the " + lang + " " + part.what;
        if (part.text == &n.text && n.attachment) {
          if (len > caption_limit)
            d_.error(n.pos,
                     what + " of node '" + n.id + "' is the caption of its media and has " + std::to_string(len) +
                         " characters; WhatsApp and Telegram take at most 1024",
                     "move the long text to a message node of its own");
          continue;
        }
        if (part.text == &n.text && n.asks() && authored_options(n)) {
          // Sent with its options as a numbered menu.
          for (std::size_t i = 0; i < n.options.size(); ++i)
            len += chars("\n" + std::to_string(i + 1) + ". " + n.options[i].label.get(lang, f.language));
          what += " with its numbered options";
        }
        if (len > chat_limit)
          d_.error(n.pos,
                   what + " of node '" + n.id + "' has " + std::to_string(len) +
                       " characters; WhatsApp and Telegram take at most 4096",
                   "split it into two nodes");
      }
    }
  }

  // ---------------------------------------------------------------- 6. SMS encoding
  // Spanish accents (á, í, ó, ú…) and typographic punctuation are left out: the SMS
  // channel's opt-in transliteration turns them into GSM-7 (a → a, … → ...). What remains —
  // emoji, symbols, other scripts — always forces UCS-2, and that is worth a warning.
  static bool transliterable(char32_t c) {
    return (c >= 0xC0 && c <= 0x17F) || c == 0xB7 || c == 0x2026 || c == 0x2013 || c == 0x2014 ||
           (c >= 0x2018 && c <= 0x201F) || c == 0xAB || c == 0xBB || c == 0xA0;
  }

  void sms(const node& n) {
    std::u32string bad;
    for (const auto& part : texts_of(n))
      for (const auto& [lang, text] : part.text->by_lang)
        for (char32_t c : gsm7_offending(text))
          if (!transliterable(c) && bad.find(c) == std::u32string::npos) bad.push_back(c);
    if (bad.empty()) return;
    std::vector<std::string> shown;
    for (std::size_t i = 0; i < bad.size() && i < 5; ++i) shown.push_back(show(bad[i]));
    std::string list = join(shown);
    if (bad.size() > 5) list += " and " + std::to_string(bad.size() - 5) + " more";
    d_.warning(n.pos,
               "a text of node '" + n.id + "' needs UCS-2 on SMS (70 characters per segment instead of 160): " + list,
               "fine for WhatsApp/Telegram; on SMS it costs more segments (accents alone do not: they can be transliterated)");
  }

  // ---------------------------------------------------------------- 7. reminders after 24 h
  void reminders(const node& n) {
    if (!n.timeout || n.timeout->after_ms <= 0) return;
    constexpr std::int64_t day = 24LL * 3'600'000;
    const auto& to = *n.timeout;
    for (int k = 1; k <= to.max_reminders; ++k) {
      const std::int64_t due = to.after_ms * k;
      if (due < day) continue;
      d_.warning(to.pos,
                 "reminder " + std::to_string(k) + " of node '" + n.id + "' is due " + format_duration(due) +
                     " after the question: WhatsApp only delivers this with an approved template outside the "
                     "24-hour window",
                 "remind within 24h (for example after: 23h); otherwise WhatsApp learners get the re-engagement "
                 "template first and this reminder only once they answer it");
      return;
    }
  }

  // ---------------------------------------------------------------- 8. media
  void media_of(const node& n) {
    if (!n.attachment) return;
    const media& m = *n.attachment;
    const bool templated = m.url.starts_with("{{");
    if (!templated && !m.url.starts_with("https://"))
      d_.error(m.pos, "the media url of node '" + n.id + "' must start with https://",
               "WhatsApp and Telegram fetch media from public https:// addresses");
    // The file type, from the url's path (without ?query or #fragment).
    std::string path = m.url.substr(0, std::min(m.url.find('?'), m.url.find('#')));
    std::string ext;
    if (auto slash = path.rfind('/'), dot = path.rfind('.');
        dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
      ext = path.substr(dot);
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    }
    static const std::map<std::string, std::vector<std::string>> extensions = {
        {"image", {".jpg", ".jpeg", ".png"}},
        {"document", {".pdf"}},
        {"audio", {".mp3", ".ogg", ".aac", ".amr", ".m4a", ".opus"}},
    };
    auto fits = [&](const std::string& type) {
      auto it = extensions.find(type);
      return it != extensions.end() && std::find(it->second.begin(), it->second.end(), ext) != it->second.end();
    };
    if (!path.ends_with("}}") && extensions.count(m.type) && !fits(m.type)) {
      std::string other;
      for (const auto& [type, exts] : extensions)
        if (type != m.type && fits(type)) other = type;
      const std::string a = m.type == "document" ? "a " : "an ";
      d_.error(m.pos,
               "the media of node '" + n.id + "' is " + a + m.type + " but its url " +
                   (ext.empty() ? "has no file extension" : "ends in " + ext) + "; " + a + m.type + " url ends in " +
                   join(extensions.at(m.type)),
               other.empty() ? "WhatsApp and Telegram accept only these types; convert the file"
                             : "write type: " + other + ", or link the file in another format");
    }
    // Declared size against what each channel sends by URL.
    if (m.size_kb > 0) {
      constexpr std::int64_t mb = 1024;  // KB
      struct limit {
        const char* channel;
        std::int64_t kb;
      };
      std::vector<limit> limits;
      if (m.type == "image") limits = {{"WhatsApp", 5 * mb}, {"Telegram", 5 * mb}};
      if (m.type == "document") limits = {{"WhatsApp", 100 * mb}, {"Telegram", 20 * mb}};
      if (m.type == "audio") limits = {{"WhatsApp", 16 * mb}, {"Telegram", 20 * mb}};
      std::vector<std::string> over;
      for (const auto& l : limits)
        if (m.size_kb > l.kb) over.push_back(std::string(l.channel) + " (at most " + std::to_string(l.kb / mb) + " MB)");
      if (!over.empty())
        d_.warning(m.pos,
                   "the " + m.type + " of node '" + n.id + "' (" + std::to_string(m.size_kb) +
                       " KB) is too big for " + join(over, " and ") + " to send",
                   "make the file smaller, or send a link to it in the text");
    }
  }

  // ---------------------------------------------------------------- 11. random weights
  void weights(const node& n) {
    if (n.kind != node_kind::random) return;
    long total = 0;
    for (const auto& b : n.branches) total += std::max(b.weight, 0);
    if (total <= 0)
      d_.error(n.pos, "the weights of random '" + n.id + "' add up to 0, so no branch can be drawn",
               "give each branch a weight of 1 or more");
  }

  load_result& res_;
  diagnostics& d_;
  std::set<std::string> saved_;
};

}  // namespace

void check_flows(load_result& res) { checker(res).run(); }

}  // namespace aula
