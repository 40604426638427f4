// Flows written inline in a test, read with the real loader (and optionally triggers).
// A flow with errors fails the test there, with the diagnostics shown.
#pragma once

#include <initializer_list>
#include <string>

#include <catch2/catch.hpp>

#include "bot/authoring/loader.hpp"
#include "bot/authoring/triggers.hpp"

namespace aula_test {

inline aula::flow_set load(std::initializer_list<const char*> texts, const char* triggers = nullptr) {
  aula::flow_set fs;
  auto report = [](const aula::diagnostics& d) {
    std::string all;
    for (const auto& x : d.items()) all += aula::format(x) + "\n";
    return all;
  };
  for (const char* t : texts) {
    aula::flow f;
    aula::diagnostics d;
    const bool ok = aula::read_flow(t, "inline.yaml", f, d);
    INFO(report(d));
    REQUIRE(ok);
    REQUIRE(d.errors() == 0);
    fs.flows.emplace(f.id, std::move(f));
  }
  if (triggers) {
    aula::diagnostics d;
    const bool ok = aula::read_triggers(triggers, "triggers.yaml", fs, d);
    INFO(report(d));
    REQUIRE(ok);
  }
  return fs;
}

}  // namespace aula_test
