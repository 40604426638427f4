#include "adapters/phone.hpp"

#include <cctype>

namespace aula {

std::string normalize_phone(std::string_view raw, std::string_view default_country) {
  std::string digits;
  bool plus = false;
  bool seen_digit = false;
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isdigit(c)) {
      digits.push_back(ch);
      seen_digit = true;
    } else if (ch == '+' && !seen_digit && !plus) {
      plus = true;
    } else if (ch == ' ' || ch == '-' || ch == '(' || ch == ')' || ch == '.' || ch == '\t') {
      continue;
    } else {
      return {};  // letters, a second '+', …
    }
  }
  if (!plus && digits.rfind("00", 0) == 0) digits.erase(0, 2);  // international prefix 00
  // A national number: as long as the default country's numbers (Mexico: 10 digits).
  if (!plus && default_country == "52" && digits.size() == 10) digits = std::string(default_country) + digits;
  if (digits.size() < 8 || digits.size() > 15) return {};
  // Mexico: "52 1 XXXXXXXXXX" (13 digits) is the old mobile form of "52 XXXXXXXXXX".
  if (digits.size() == 13 && digits.rfind("521", 0) == 0) digits.erase(2, 1);
  return "+" + digits;
}

std::string mask_phone_number(std::string_view e164) {
  std::string s(e164);
  if (s.size() < 8) return std::string(s.size(), '*');
  const std::size_t keep_front = s[0] == '+' ? 3 : 2;
  for (std::size_t i = keep_front; i + 4 < s.size(); ++i) s[i] = '*';
  return s;
}

}  // namespace aula
