// flows/triggers.yaml: keywords that start flows, what MENU lists, the help text.
//
//   spec: 1
//   language: es
//   help: {es: "Responde con el número de una opción…", en: "…"}
//   menu: [diagnostico, leccion-muestra]
//   triggers:
//     - {keywords: [diagnostico, encuesta], flow: diagnostico, policy: interrupt}
//     - {keywords: [leccion], flow: leccion-muestra, policy: queue}
//     - {keywords: [curso], course: inspectores}      # a course of course.yaml instead of a flow
//
// policy: what happens when the learner is in another flow: interrupt it (default), skip
// (the keyword is then just text for the current question), or queue it for afterwards.
#pragma once

#include <string>

#include "bot/authoring/diagnostics.hpp"
#include "bot/engine/flow.hpp"

namespace aula {

// Reads triggers from `text` into `flows.triggers`, checking flow and course ids against `flows`
// (so course.yaml is read first).
bool read_triggers(const std::string& text, const std::string& file, flow_set& flows, diagnostics& diags);

}  // namespace aula
