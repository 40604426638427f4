// flows/course.yaml: courses, each its modules (flows) in order with drip and unlock rules,
// nudges for learners who stall, the completion rule and the certificate (constancia).
//
//   spec: 1
//   language: es                      # plain strings are in it (default es)
//   courses:
//     - id: inspectores
//       name: {es: "Trabajo infantil para inspectores", en: "…"}
//       hours: 10
//       start_date: "2026-12-01"
//       late_joiners: now               # or next_drip
//       drip: {days: 1, at: "09:00"}    # at: now = right away
//       modules:
//         - modulo-1
//         - {flow: modulo-2, min_score: 60, title: {es: …}, drip: {days: 2, at: "10:00"}}
//       nudges: {after: 48h, max: 2, text: {es: …}, template: recordatorio_curso}
//       review: {text: {es: …}, max_attempts: 3}
//       completion: {min_score: 70, message: {es: …}, not_met: {es: …}}
//       certificate: {text: {es: "… {{certificate.url}}"}, name: "{{contact.name}}"}
//
// The model is bot/engine/course.hpp; README.md, "Courses: flows/course.yaml", has the rules.
#pragma once

#include <string>

#include "bot/authoring/diagnostics.hpp"
#include "bot/engine/course.hpp"
#include "bot/engine/flow.hpp"

namespace aula {

// Reads the courses of `text` (`file` names it in diagnostics) and adds them to
// `flows.courses` (after those already there, e.g. from another folder), checking module ids
// against the flows of `flows`. A course with errors is left out; the diagnostics say why.
// `flows.courses` is never null afterwards. Returns false on errors (warnings are fine).
bool read_courses(const std::string& text, const std::string& file, flow_set& flows, diagnostics& diags);

// Whether course texts may use the template variable `name` ("certificate.url",
// "contact.name", "answers.rol"…).
bool course_variable_known(const std::string& name);

}  // namespace aula
