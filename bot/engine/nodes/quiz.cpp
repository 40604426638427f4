// quiz: a choice question with a right answer, points and feedback.
//
//   edad:
//     quiz: "¿Edad mínima para trabajar en México?"
//     options:
//       - {id: a, label: "14 años", feedback: "Es menor que la edad mínima."}
//       - {id: b, label: "15 años", correct: true}
//     feedback: {correct: "¡Correcto!", incorrect: "La edad mínima es 15 años.",
//                retry: "No es correcto; inténtalo otra vez."}
//     points: 1                # earned when answered right within `attempts`
//     attempts: 2              # tries; a wrong try with tries left sends `retry`, asks again
//     save_as: edad_minima
//     next: pausa
//
// Scoring: the points count when the answer is right on any allowed attempt; each attempt is
// a result record (attempt number, correct, final), so reports can tell first-try answers.
// An option's own feedback, when present, replaces the general correct/incorrect/retry text.
#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_quiz(run_ctx& rc, const node& n) {
  rc.say(prompt(rc, n));
  arm_reply_timeout(rc, n);
  return transition::wait();
}

transition answer_quiz(run_ctx& rc, const node& n, const reply& r) {
  auto i = r.tapped ? r.tapped : match_choice(rc, n, r.text, menu_for(n, rc.ctx().caps));
  if (!i) return invalid_reply(rc, n, r, "invalid_choice");
  auto& run = rc.run();
  run.attempts += 1;
  const option& chosen = n.options[*i];
  const bool last_try = run.attempts >= n.attempts;
  const bool done = chosen.correct || last_try;

  auto& rec = rc.record("quiz", &n);
  rec.value = chosen.id;
  rec.text = r.text;
  rec.correct = chosen.correct;
  rec.final = done;
  rec.attempt = run.attempts;
  rec.points = chosen.correct ? n.points : 0;
  rec.status = "answered";

  const localized& general = chosen.correct ? n.feedback.correct : (last_try ? n.feedback.incorrect : n.feedback.retry);
  std::string feedback = !chosen.feedback.empty() ? rc.text(chosen.feedback) : rc.text(general);

  if (!done) {
    if (feedback.empty()) feedback = rc.builtin("quiz_retry");
    rc.say(prompt(rc, n, feedback + "\n\n"));
    return transition::wait();
  }
  run.score += rec.points;
  run.score_max += n.points;
  if (!n.save_as.empty()) rc.s().answers[n.save_as] = saved_answer{chosen.id, option_label(rc, n, *i)};
  if (!feedback.empty()) rc.say(feedback, n);
  return transition::go(n.next);
}

}  // namespace aula::detail
