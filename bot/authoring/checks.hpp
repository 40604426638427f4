// The validator's checks that go beyond reading a file: what could reach a learner wrong.
// load_flows() runs them on every load, so `aula validate`, `aula test`, `aula chat` and the
// server (on publish) all refuse the same mistakes.
#pragma once

#include "bot/authoring/loader.hpp"

namespace aula {

// Adds errors and warnings about the loaded flows to res.diags.
void check_flows(load_result& res);

}  // namespace aula
