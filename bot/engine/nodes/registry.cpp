#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_message(run_ctx&, const node&);
transition enter_question(run_ctx&, const node&);
transition answer_question(run_ctx&, const node&, const reply&);
transition enter_quiz(run_ctx&, const node&);
transition answer_quiz(run_ctx&, const node&, const reply&);
transition enter_split(run_ctx&, const node&);
transition enter_random(run_ctx&, const node&);
transition enter_set(run_ctx&, const node&);
transition enter_wait(run_ctx&, const node&);
transition enter_subflow(run_ctx&, const node&);
transition enter_webhook(run_ctx&, const node&);
transition enter_end(run_ctx&, const node&);

const node_behaviour& behaviour(node_kind k) {
  static const node_behaviour message{enter_message, nullptr};
  static const node_behaviour question{enter_question, answer_question};
  static const node_behaviour quiz{enter_quiz, answer_quiz};
  static const node_behaviour split{enter_split, nullptr};
  static const node_behaviour random{enter_random, nullptr};
  static const node_behaviour set{enter_set, nullptr};
  static const node_behaviour wait{enter_wait, nullptr};
  static const node_behaviour subflow{enter_subflow, nullptr};
  static const node_behaviour webhook{enter_webhook, nullptr};
  static const node_behaviour end{enter_end, nullptr};
  switch (k) {
    case node_kind::message: return message;
    case node_kind::question: return question;
    case node_kind::quiz: return quiz;
    case node_kind::split: return split;
    case node_kind::random: return random;
    case node_kind::set: return set;
    case node_kind::wait: return wait;
    case node_kind::subflow: return subflow;
    case node_kind::webhook: return webhook;
    case node_kind::end: return end;
  }
  return end;
}

}  // namespace aula::detail
