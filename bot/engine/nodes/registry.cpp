#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_message(run_ctx&, const node&);
transition enter_question(run_ctx&, const node&);
transition answer_question(run_ctx&, const node&, const reply&);
transition enter_quiz(run_ctx&, const node&);
transition answer_quiz(run_ctx&, const node&, const reply&);
transition enter_end(run_ctx&, const node&);

const node_behaviour& behaviour(node_kind k) {
  static const node_behaviour message{enter_message, nullptr};
  static const node_behaviour question{enter_question, answer_question};
  static const node_behaviour quiz{enter_quiz, answer_quiz};
  static const node_behaviour end{enter_end, nullptr};
  switch (k) {
    case node_kind::message: return message;
    case node_kind::question: return question;
    case node_kind::quiz: return quiz;
    case node_kind::end: return end;
  }
  return end;
}

}  // namespace aula::detail
