// The enrolment spreadsheet (aula enroll, POST /admin/import): CSV in, rows and problems out.
// Input: first byte picks the default channel, the rest is the file.
// Invariants: parse_roster never throws; every problem has a message and a line within the
// file; every row starts on a line of the file, in increasing order, never on a line that has
// a problem; a row's channel is one of the four, its address fits the channel (E.164, chat id,
// 32 hex, or empty for Telegram), it has a name, a language (es|en) and a time zone.
#include <algorithm>
#include <set>

#include "bot/service/roster.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace aula;

namespace {
bool digits(std::string_view s, std::size_t from = 0) {
  if (s.size() <= from) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(from), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
bool hex32(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* const channels[] = {"whatsapp", "sms", "telegram", "web", "mensaje", "fax"};
  const std::string channel = channels[data[0] % 6];
  const std::string csv = fuzz::as_string(data + 1, size - 1);
  // Lines as the roster counts them: LF, CRLF and a lone CR (old Mac spreadsheets) each end one.
  int lines = 1;
  for (std::size_t i = 0; i < csv.size(); ++i)
    if (csv[i] == '\n' || (csv[i] == '\r' && (i + 1 == csv.size() || csv[i + 1] != '\n'))) ++lines;

  const roster r = parse_roster(csv, channel);  // anything thrown is a crash

  std::set<int> problem_lines;
  for (const roster_problem& p : r.problems) {
    FUZZ_CHECK(!p.message.empty());
    FUZZ_CHECK(p.line >= 0 && p.line <= lines);
    problem_lines.insert(p.line);
  }
  int last = 0;
  for (const roster_row& row : r.rows) {
    FUZZ_CHECK(row.line > last && row.line <= lines);
    last = row.line;
    FUZZ_CHECK(!problem_lines.count(row.line));
    FUZZ_CHECK(!row.name.empty());
    FUZZ_CHECK(row.language == "es" || row.language == "en");
    FUZZ_CHECK(!row.tz.empty());
    if (row.channel == "whatsapp" || row.channel == "sms") {
      FUZZ_CHECK(row.address.size() > 1 && row.address[0] == '+' && digits(row.address, 1));
    } else if (row.channel == "telegram") {
      FUZZ_CHECK(row.address.empty() || digits(row.address, row.address[0] == '-' ? 1 : 0));
    } else {
      FUZZ_CHECK(row.channel == "web");
      FUZZ_CHECK(hex32(row.address));
    }
    FUZZ_CHECK(row.conversation().empty() == row.address.empty());
  }
  return 0;
}
