// The course layer's model: flows/course.yaml, read by bot/authoring (course_reader), driven by
// the engine. A course is modules in order (each a flow), opened one after another by drip
// timers at a local hour, unlocked by the previous module's score, with nudges for learners
// who stall, a completion rule and a certificate (constancia).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/engine/flow.hpp"
#include "bot/engine/session.hpp"

namespace aula {

struct course_module {
  std::string flow;   // the module's flow id
  localized title;    // empty = the flow's name
  // Unlock: the previous module completed with at least this share of its quiz points
  // (percent, 0 = only completed). Below it the previous module is reviewed and retaken.
  int min_score = 0;
  // Drip: this module opens `days` days after the previous one ended, at local `at_minutes`.
  // nullopt = the course's drip.
  std::optional<int> days;
  std::optional<int> at_minutes;
  source_pos pos;
};

struct course_drip {
  int days = 1;              // days after the previous module ended; 0 = the next `at`
  std::optional<int> at_minutes = 9 * 60;  // local time of day; nullopt = right away
};

// Learners who stall in a module (the module waits for their answer) are nudged.
struct course_nudges {
  std::int64_t after_ms = 0;  // inactivity before a nudge; 0 = no nudges
  int max = 0;                // nudges per stall (the count restarts when the learner answers)
  localized text;             // sent before the waiting question is asked again
  // WhatsApp: the approved template to send instead when the 24-hour window is closed
  // (empty = the channel's re-engagement template).
  std::string template_name;
  source_pos pos;
};

// What a learner is told when a module's score is below the next module's min_score.
struct course_review {
  localized text;        // {{module.score}}, {{module.min_score}}, {{module.name}} available
  int max_attempts = 0;  // attempts per module before the course ends unfinished; 0 = no limit
};

struct course_completion {
  int min_score = 0;           // percent of all modules' quiz points; 0 = all modules completed
  localized message;           // completed
  localized not_met;           // every module done but the score is below min_score
};

struct course_certificate {
  bool enabled = false;
  localized text;              // the constancia; {{certificate.*}} available
  std::string name = "{{contact.name}}";  // whose name goes on it (a template)
};

struct course_def {
  std::string id;
  localized name;
  std::string language = "es";
  double hours = 0;                         // stated on the certificate
  std::vector<course_module> modules;
  course_drip drip;
  // The first module opens on this local date (YYYY-MM-DD) at the drip hour for learners
  // enrolled earlier; late joiners (enrolled on or after it) start as `late_joiners` says.
  std::string start_date;
  bool late_start_now = true;               // late_joiners: now (true) | next_drip (false)
  localized welcome;                        // sent at enrolment
  localized unlocked;                       // sent before a dripped module starts (optional)
  // While a learner is in this course: the answer to AYUDA/HELP and the confirmation of
  // BAJA/STOP (empty = triggers.yaml's help text and the built-in confirmation).
  localized help;
  localized stopped;
  course_nudges nudges;
  course_review review;
  course_completion completion;
  course_certificate certificate;
  source_pos pos;

  const course_module* module(const std::string& flow_id) const;
  int index_of(const std::string& flow_id) const;  // -1 when not a module
};

struct course_set {
  std::vector<course_def> courses;
  const course_def* find(const std::string& id) const;
};

// A learner's course progress rebuilt from their result records alone (enrolled, module,
// course, certificate), oldest first — what reports use, since the record store keeps no
// sessions. Timers and nudge counts are not in records and stay empty.
std::vector<course_progress> progress_from_records(const std::vector<nlohmann::json>& records);

}  // namespace aula
