// Learners and cohorts (directory data, outside the partitions): a learner record per
// conversation ("learner:<channel>:<address>" -> JSON), each cohort's members
// ("cohort:<name>" -> set of conversations), and Telegram invites ("invite:<token>"), since
// Telegram gives no phone number and a learner enrolled by CSV joins through a deep link.
//
// A record: name, channel, address, language, state, role, tz, cohorts, status (active |
// stopped | unreachable), enrolled_at, consent (how the opt-in was obtained: WhatsApp needs it
// before the first template), courses, extra fields. The session keeps what a step needs
// (name, tz, cohort as contact fields); the record is what operators read and fix.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bot/io/net.hpp"
#include "bot/service/roster.hpp"
#include "bot/service/service.hpp"

namespace aula {

struct import_request {
  std::string cohort;  // required
  std::string course;  // enrol in it (optional: then only the records and the cohort)
  std::string by;      // who imports (the audit log's name)
  std::string telegram_bot;  // bot username for deep links ("" = links cannot be made)
  int first_line = 1;        // line numbers of this part of a longer file start here
  std::string import_id;     // the same id for every part of one file (duplicates across parts)
};

struct import_report {
  int imported = 0;      // new learners in the cohort
  int updated = 0;       // already known: record refreshed, enrolment kept (never restarted)
  std::vector<roster_problem> problems;
  nlohmann::json invites = nlohmann::json::array();  // [{line, name, link}] for Telegram rows
  nlohmann::json to_json() const;
};

class directory {
 public:
  explicit directory(service& svc);

  // Imports a roster (validated by parse_roster): each good row becomes (or refreshes) a
  // learner record, joins the cohort and is enrolled in the course — one row at a time, each
  // complete before the next, so a failure stops between rows (503: import again; rows
  // already in are "updated", nothing twice). `progress(done, total)` after each row.
  net::awaitable<import_report> import(const roster& r, const import_request& req,
                                       std::function<void(int, int)> progress = {});

  // A Telegram learner opened their invite link ("/start inv_…"): binds the chat to the
  // invited record and returns the event to step (enrol in the course); nullopt when the
  // token is unknown or already taken by another chat.
  net::awaitable<std::optional<inbound_event>> redeem(const std::string& token, const std::string& conversation,
                                                      std::map<std::string, std::string>& contact);

  net::awaitable<std::optional<nlohmann::json>> learner(const std::string& conversation);
  net::awaitable<std::vector<std::string>> cohort_members(const std::string& cohort);

 private:
  service& svc_;
};

// "telegram:123" -> the record's key.
std::string learner_key(const std::string& conversation);
inline constexpr std::string_view invite_prefix = "inv_";

}  // namespace aula
