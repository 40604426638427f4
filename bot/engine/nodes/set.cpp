// set: writes contact fields, answers or the learner's language, then on to `next`. Values
// may use {{variables}}.
//
//   marcar:
//     set: {contact.nivel: avanzado, answers.ruta: "{{answers.rol}}", lang: en}
//     next: siguiente
#include "bot/engine/nodes/registry.hpp"
#include "bot/engine/text.hpp"

namespace aula::detail {

transition enter_set(run_ctx& rc, const node& n) {
  for (const auto& a : n.sets) {
    std::string v = rc.fill(a.value);
    if (a.target.starts_with("contact.")) {
      rc.s().contact[a.target.substr(8)] = v;
    } else if (a.target.starts_with("answers.")) {
      nlohmann::json value = v;
      if (auto num = parse_number(v); num && trim(v) == format_number(*num)) value = *num;
      rc.s().answers[a.target.substr(8)] = saved_answer{value, v};
    } else if (a.target == "lang") {
      rc.s().lang = v;
    }
  }
  return transition::go(n.next);
}

}  // namespace aula::detail
