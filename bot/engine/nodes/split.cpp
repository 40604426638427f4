// split: goes to the first case whose condition holds, else to `next` (the default). Random
// splits (A/B) draw a weighted branch, the same one again if the step is retried.
//
//   ruta:
//     split:
//       - {if: "answers.rol in [inspector-federal, inspector-local]", next: modulo-inspeccion}
//       - {if: "score.total >= 3 and lang == es", next: avanzado}
//       - {if: "cohort == piloto", next: piloto}
//     next: general                # the default, required
//
//   version:
//     random:
//       - {weight: 50, next: version-a}
//       - {weight: 50, next: version-b}
#include "bot/engine/condition.hpp"
#include "bot/engine/nodes/registry.hpp"

namespace aula::detail {

transition enter_split(run_ctx& rc, const node& n) {
  for (const auto& c : n.cases) {
    if (evaluate(c.when, [&rc](const std::string& var) { return rc.value_of(var); })) {
      rc.log("split " + n.id + ": '" + c.when.source + "' holds");
      return transition::go(c.next);
    }
  }
  return transition::go(n.next);
}

transition enter_random(run_ctx& rc, const node& n) {
  long total = 0;
  for (const auto& b : n.branches) total += b.weight;
  // Drawn from the run id and the node, so a retried step (and a later look) agree.
  const std::uint64_t draw = splitmix64((static_cast<std::uint64_t>(fnv1a32(rc.run().id)) << 32) ^ fnv1a32(n.id));
  long pick = total > 0 ? static_cast<long>(draw % static_cast<std::uint64_t>(total)) : 0;
  std::size_t chosen = 0;
  for (std::size_t i = 0; i < n.branches.size(); ++i) {
    if (pick < n.branches[i].weight) {
      chosen = i;
      break;
    }
    pick -= n.branches[i].weight;
  }
  auto& r = rc.record("split", &n);
  r.value = n.branches.at(chosen).next;
  return transition::go(n.branches.at(chosen).next);
}

}  // namespace aula::detail
