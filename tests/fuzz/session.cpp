// The session decoder: what the store keeps per learner, read back on every step.
// Invariants: session::parse either reads the text or throws one of the two documented kinds
// (nlohmann::json::exception for bad JSON or wrong types, std::runtime_error for an unknown
// format); what it reads dumps to a text that parses to a session dumping the same
// (dump(parse(x)) is a fixed point after one round).
#include <nlohmann/json.hpp>

#include "bot/engine/session.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace aula;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = fuzz::as_string(data, size);
  session s;
  try {
    s = session::parse(input);
  } catch (const nlohmann::json::exception&) {
    return 0;
  } catch (const std::runtime_error&) {
    return 0;
  }
  const std::string once = s.dump();
  FUZZ_CHECK(fuzz::valid_utf8(once));
  const session again = session::parse(once);  // anything thrown here is a crash
  FUZZ_CHECK(again.dump() == once);
  return 0;
}
