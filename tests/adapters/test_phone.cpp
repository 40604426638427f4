// Phone numbers as addresses: Mexico's "521…" (WhatsApp) and "+52…" (Twilio, spreadsheets)
// are one learner.
#include "adapters/phone.hpp"

#include <catch2/catch.hpp>

using aula::normalize_phone;

TEST_CASE("phone numbers normalize to E.164") {
  struct row {
    const char* in;
    const char* out;
  };
  const row rows[] = {
      {"+525512345678", "+525512345678"},     {"5215512345678", "+525512345678"},
      {"+52 1 55 1234 5678", "+525512345678"}, {"52 (55) 1234-5678", "+525512345678"},
      {"55 1234 5678", "+525512345678"},       {"0052 55 1234 5678", "+525512345678"},
      {"+1 415 555 0100", "+14155550100"},     {"+34 600 11 22 33", "+34600112233"},
      {"", ""},                                {"hola", ""},
      {"+52 55 1234 567a", ""},                {"1234", ""},
      {"++525512345678", ""},                  {"+5215512345678", "+525512345678"},
  };
  for (const auto& r : rows) {
    INFO(r.in);
    CHECK(normalize_phone(r.in) == r.out);
  }
  // Another default country leaves 10-digit national numbers alone.
  CHECK(normalize_phone("5512345678", "1") == "+5512345678");
}

TEST_CASE("phone numbers are masked for logs") {
  CHECK(aula::mask_phone_number("+525512345678") == "+52******5678");
  CHECK(aula::mask_phone_number("123") == "***");
}
