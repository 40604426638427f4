// question: asks, waits, checks the reply by type, saves it, then on to `next`.
//
//   rol:
//     question: {es: "¿Cuál es tu función?", en: "What is your role?"}
//     type: choice             # choice | multi | text | number | date | scale (1–5) | nps (0–10)
//     options:                 # choice and multi
//       - {id: inspector, label: {es: "Inspector/a", en: "Inspector"}}
//     min_choices: 1           # multi
//     max_choices: 3           # multi
//     min: 0                   # number
//     max: 60                  # number
//     invalid: "Responde con el número de una opción."   # sent before asking again
//     max_retries: 2           # then leave through on_invalid (default: next), answer skipped
//     on_invalid: siguiente
//     save_as: rol             # {{answers.rol}} and reports
//     timeout: {after: 24h, remind: "¿Seguimos?", max_reminders: 2, next: fin}
//     next: institucion
#include <algorithm>
#include <set>

#include "bot/engine/nodes/registry.hpp"
#include "bot/engine/text.hpp"
#include "bot/engine/timing.hpp"

namespace aula::detail {

menu_style menu_for(const node& n, const channel_caps& caps) {
  if (n.kind == node_kind::question) {
    switch (n.type) {
      case question_type::text:
      case question_type::date:
      case question_type::number: return menu_style::none;
      case question_type::scale:
      case question_type::nps: return menu_style::inline_numbers;
      case question_type::multi: return menu_style::numbered;
      case question_type::choice: break;
    }
  }
  if (caps.max_buttons > 0 && static_cast<int>(n.options.size()) <= caps.max_buttons) return menu_style::buttons;
  return menu_style::numbered;
}

std::string option_label(run_ctx& rc, const node& n, std::size_t i) {
  return rc.text(n.options.at(i).label);
}

outbound_message prompt(run_ctx& rc, const node& n, const std::string& prefix) {
  outbound_message m;
  m.node = n.id;
  m.text = prefix + rc.text(n.text);
  m.menu = menu_for(n, rc.ctx().caps);
  if (n.kind == node_kind::question && n.type == question_type::multi) {
    std::string hint = rc.builtin(n.max_choices > 1 ? "multi_hint" : "multi_hint_one");
    auto put = [&](const std::string& key, int v) {
      if (auto p = hint.find(key); p != std::string::npos) hint.replace(p, key.size(), std::to_string(v));
    };
    put("{max}", n.max_choices);
    m.text += "\n" + hint;
  }
  if (m.menu != menu_style::none) {
    for (std::size_t i = 0; i < n.options.size(); ++i) {
      m.choices.push_back({choice_ref(rc.run().id, n.id, i), option_label(rc, n, i)});
    }
  }
  return m;
}

std::optional<std::size_t> match_choice(run_ctx& rc, const node& n, const std::string& text, menu_style menu) {
  const std::size_t count = n.options.size();
  const auto index = parse_index(text);
  const bool index_ok = index && *index >= 1 && static_cast<std::size_t>(*index) <= count;
  // Rule 1: in a numbered menu a number in range is the position, even if some label is
  // that same number.
  if (menu == menu_style::numbered && index_ok) return static_cast<std::size_t>(*index - 1);
  // Rule 2: the label (in any language of the flow) or the id, folded: case, accents,
  // punctuation and emoji do not matter ("si" matches "Sí", "¡SÍ!" too).
  const std::string f = fold(text);
  if (f.empty()) return std::nullopt;
  for (std::size_t i = 0; i < count; ++i) {
    const auto& o = n.options[i];
    if (fold(o.id) == f) return i;
    for (auto& [lang, label] : o.label.by_lang)
      if (fold(rc.text(localized{{{lang, label}}})) == f) return i;
  }
  // Rule 3: in a button menu a number in range that is no label is the position (people
  // type numbers). Scales never read positions: their labels are the numbers.
  if (menu == menu_style::buttons && index_ok) return static_cast<std::size_t>(*index - 1);
  // Rule 4: words that appear, whole, in exactly one label of the learner's language
  // ("federal" for "Inspector/a federal"). Never for scales.
  if (menu == menu_style::inline_numbers) return std::nullopt;
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string label = " " + fold(option_label(rc, n, i)) + " ";
    if (label.find(" " + f + " ") != std::string::npos) {
      if (found) return std::nullopt;  // ambiguous
      found = i;
    }
  }
  return found;
}

transition invalid_reply(run_ctx& rc, const node& n, const reply& r, const std::string& why) {
  auto& run = rc.run();
  run.retries += 1;
  auto& rec = rc.record("invalid", &n);
  rec.text = r.text;
  rec.value = r.text;
  rec.attempt = run.retries;
  rc.log("invalid reply at " + n.id + " (" + why + "), retry " + std::to_string(run.retries));
  if (run.retries > n.max_retries) {
    auto& skip = rc.record(n.kind == node_kind::quiz ? "quiz" : "answer", &n);
    skip.status = "skipped";
    skip.attempt = run.attempts;
    if (n.kind == node_kind::quiz) run.score_max += n.points;
    return transition::go(n.on_invalid.empty() ? n.next : n.on_invalid);
  }
  std::string msg = n.invalid.empty() ? rc.builtin(why) : rc.text(n.invalid);
  auto fill = [&msg](const std::string& key, const std::string& v) {
    if (auto p = msg.find(key); p != std::string::npos) msg.replace(p, key.size(), v);
  };
  if (n.type == question_type::multi) {
    fill("{min}", std::to_string(n.min_choices));
    fill("{max}", std::to_string(n.max_choices));
  } else {
    fill("{min}", n.min ? format_number(*n.min) : "");
    fill("{max}", n.max ? format_number(*n.max) : "");
  }
  rc.say(prompt(rc, n, msg + "\n\n"));
  return transition::wait();
}

transition enter_question(run_ctx& rc, const node& n) {
  rc.say(prompt(rc, n));
  arm_reply_timeout(rc, n);
  return transition::wait();
}

void arm_reply_timeout(run_ctx& rc, const node& n) {
  if (!n.timeout || n.timeout->after_ms <= 0) return;
  const auto due = rc.ctx().now_ms + n.timeout->after_ms;
  if (n.timeout->max_reminders > 0) {
    rc.set_timer(n, "remind", due, 0);
  } else if (!n.timeout->next.empty()) {
    rc.set_timer(n, "timeout", due);
  }
}

transition reply_timer(run_ctx& rc, const node& n, timer_slot t) {
  const auto& to = *n.timeout;
  if (t.kind == "remind") {
    std::string remind = to.remind.empty() ? rc.builtin("remind") : rc.text(to.remind);
    rc.say(prompt(rc, n, remind + "\n\n"));
    auto& r = rc.record("reminder", &n);
    r.attempt = t.count + 1;
    const auto due = rc.ctx().now_ms + to.after_ms;
    if (t.count + 1 < to.max_reminders) {
      rc.set_timer(n, "remind", due, t.count + 1);
    } else if (!to.next.empty()) {
      rc.set_timer(n, "timeout", due);
    } else {
      rc.run().timer.reset();
    }
    return transition::wait();
  }
  // The timeout: the question goes unanswered.
  auto& r = rc.record("timeout", &n);
  r.status = "timeout";
  if (n.kind == node_kind::quiz) rc.run().score_max += n.points;
  return transition::go(to.next);
}

namespace {

void save(run_ctx& rc, const node& n, const reply& r, nlohmann::json value, std::string shown, bool free_text = false) {
  auto& rec = rc.record("answer", &n);
  rec.free_text = free_text;
  rec.value = value;
  rec.text = r.text;
  rec.status = "answered";
  rec.attempt = rc.run().retries + 1;
  if (!n.save_as.empty()) rc.s().answers[n.save_as] = saved_answer{std::move(value), std::move(shown)};
}

std::string invalid_key(const node& n) {
  switch (n.type) {
    case question_type::choice: return "invalid_choice";
    case question_type::multi: return "invalid_multi";
    case question_type::text: return "invalid_text";
    case question_type::number:
      if (n.min && n.max) return "invalid_number_range";
      return "invalid_number";
    case question_type::date: return "invalid_date";
    case question_type::scale: return "invalid_scale";
    case question_type::nps: return "invalid_nps";
  }
  return "invalid_choice";
}

}  // namespace

transition answer_question(run_ctx& rc, const node& n, const reply& r) {
  const menu_style menu = menu_for(n, rc.ctx().caps);
  switch (n.type) {
    case question_type::choice:
    case question_type::scale:
    case question_type::nps: {
      auto i = r.tapped ? r.tapped : match_choice(rc, n, r.text, menu);
      if (!i) return invalid_reply(rc, n, r, invalid_key(n));
      const auto& o = n.options[*i];
      nlohmann::json value = o.id;
      if (n.type != question_type::choice) value = std::stoi(o.id);
      save(rc, n, r, value, option_label(rc, n, *i));
      return transition::go(n.next);
    }
    case question_type::multi: {
      std::vector<std::size_t> picked;
      if (r.tapped) {
        picked.push_back(*r.tapped);
      } else if (auto whole = match_choice(rc, n, r.text, menu)) {
        picked.push_back(*whole);
      } else {
        for (auto& part : split_multi(r.text)) {
          auto i = match_choice(rc, n, part, menu);
          if (!i) return invalid_reply(rc, n, r, invalid_key(n));
          if (std::find(picked.begin(), picked.end(), *i) == picked.end()) picked.push_back(*i);
        }
      }
      const int count = static_cast<int>(picked.size());
      if (count < n.min_choices || count > n.max_choices) return invalid_reply(rc, n, r, invalid_key(n));
      nlohmann::json ids = nlohmann::json::array();
      std::string shown;
      for (auto i : picked) {
        ids.push_back(n.options[i].id);
        shown += (shown.empty() ? "" : ", ") + option_label(rc, n, i);
      }
      save(rc, n, r, ids, shown);
      return transition::go(n.next);
    }
    case question_type::number: {
      auto v = parse_number(r.text);
      if (!v || (n.min && *v < *n.min) || (n.max && *v > *n.max)) return invalid_reply(rc, n, r, invalid_key(n));
      save(rc, n, r, *v, format_number(*v));
      return transition::go(n.next);
    }
    case question_type::date: {
      auto d = parse_date(r.text, rc.ctx().now_ms, rc.ctx().tz);
      if (!d) return invalid_reply(rc, n, r, invalid_key(n));
      save(rc, n, r, *d, *d);
      return transition::go(n.next);
    }
    case question_type::text: {
      std::string t = trim(r.text);
      if (t.empty()) return invalid_reply(rc, n, r, invalid_key(n));
      save(rc, n, r, t, t, true);
      return transition::go(n.next);
    }
  }
  return transition::wait();
}

}  // namespace aula::detail
