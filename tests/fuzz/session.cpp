// The session decoder: what the store keeps per learner, read back on every step.
// Invariants: session::parse either reads the text or throws one of the two documented kinds
// (nlohmann::json::exception for bad JSON or wrong types, std::runtime_error for an unknown
// format); what it reads dumps to a text that parses to a session dumping the same
// (dump(parse(x)) is a fixed point after one round). The readers and the writers that skip the
// JSON document agree with the document's: json_text::read_plain with nlohmann's parse (value
// and type), json_text::write and json_text::object with dump, json_text::pick with at_path on
// the document (the providers' answers), session_text::read with session::from_json,
// session_text::write with to_json().dump().
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
    if (doc.is_object()) {
      // The same object written member by member, last member first: the same bytes.
      json_text::object w;
      for (auto it = doc.rbegin(); it != doc.rend(); ++it) {
        const json& v = it.value();
        if (v.is_string()) w.string(it.key(), v.get_ref<const std::string&>());
        else if (v.is_boolean()) w.boolean(it.key(), v.get<bool>());
        else if (v.is_number_integer() && !v.is_number_unsigned()) w.integer(it.key(), v.get<std::int64_t>());
        else w.raw(it.key(), json_text::write(v));
      }
      FUZZ_CHECK(w.text() == doc.dump());
    }
  }
  // Paths of the providers' answers (Telegram, WhatsApp) and of sessions, some escaped.
  static const std::vector<std::string_view> paths{"ok", "result/message_id", "error/code", "messages/#0/id",
                                                   "v", "run/flow", "stack/#1/node", "a\\/b", "\\#0", ""};
  if (const auto picked = json_text::pick(input, paths)) {
    const json doc = json::parse(input);  // likewise: the picker read a text nlohmann refuses
    FUZZ_CHECK(doc.is_object());
    std::size_t found = 0;
    for (const auto path : paths) {
      const json* want = json_text::at_path(doc, path);
      std::size_t times = 0;
      for (const auto& [p, v] : *picked)
        if (p == path) {
          ++times;
          FUZZ_CHECK(want != nullptr);
          if (want) {
            const json shown = want->is_object() ? json::object() : want->is_array() ? json::array() : *want;
            FUZZ_CHECK(json_text::identical(v, shown));
          }
        }
      FUZZ_CHECK(times == (want ? 1u : 0u));
      found += times;
    }
    FUZZ_CHECK(found == picked->size());
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
