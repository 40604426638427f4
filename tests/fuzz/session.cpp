// The session decoder: what the store keeps per learner, read back on every step.
// Invariants: session::parse either reads the text or throws one of the two documented kinds
// (nlohmann::json::exception for bad JSON or wrong types, std::runtime_error for an unknown
// format); what it reads dumps to a text that parses to a session dumping the same
// (dump(parse(x)) is a fixed point after one round). The readers and the writer that skip the
// JSON document agree with the document's: json_text::read_plain with nlohmann's parse (value
// and type), json_text::write with dump, session_text::read with session::from_json, session_text::write with
// to_json().dump().
#include <nlohmann/json.hpp>

#include "bot/engine/json_text.hpp"
#include "bot/engine/session.hpp"
#include "bot/engine/session_text.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace aula;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = fuzz::as_string(data, size);
  if (const auto plain = json_text::read_plain(input)) {
    const json doc = json::parse(input);  // anything thrown here is a crash: they disagree
    FUZZ_CHECK(json_text::identical(*plain, doc));
    FUZZ_CHECK(json_text::write(doc) == doc.dump());
  }
  if (const auto fast = session_text::read(input)) {
    const session slow = session::from_json(json::parse(input));  // likewise
    FUZZ_CHECK(fast->to_json().dump() == slow.to_json().dump());
  }
  session s;
  try {
    s = session::parse(input);
  } catch (const nlohmann::json::exception&) {
    return 0;
  } catch (const std::runtime_error&) {
    return 0;
  }
  const std::string once = s.dump();
  FUZZ_CHECK(once == s.to_json().dump());
  FUZZ_CHECK(fuzz::valid_utf8(once));
  const session again = session::parse(once);  // anything thrown here is a crash
  FUZZ_CHECK(again.dump() == once);
  return 0;
}
