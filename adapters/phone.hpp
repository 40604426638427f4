// Phone numbers as learner addresses: one canonical form (E.164 with '+') whatever a provider
// or an enrolment file writes. Mexico's mobile numbers reach WhatsApp as "521" + 10 digits
// (the old mobile prefix) and Twilio / spreadsheets as "+52" + 10 digits: both are one learner.
#pragma once

#include <string>
#include <string_view>

namespace aula {

// "+52 1 55 1234 5678", "5215512345678", "52 (55) 1234-5678", "55 1234 5678" (national,
// with default_country "52") -> "+525512345678". Other countries: "+" and the digits.
// Returns "" when it is not a plausible number (after cleaning, 8-15 digits).
std::string normalize_phone(std::string_view raw, std::string_view default_country = "52");

// "+525512345678" -> "+52 55 **** 5678"-style masks for logs: keeps the country code and the
// last four digits.
std::string mask_phone_number(std::string_view e164);

}  // namespace aula
