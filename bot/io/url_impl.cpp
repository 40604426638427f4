// Boost.URL, compiled once for the whole program (it is header-only in 1.81 with src.hpp).
// Nothing else may include <boost/url/src.hpp>.
#include "bot/io/url.hpp"

#include <boost/url/src.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace aula {

std::string percent_encode(std::string_view s, std::string_view keep) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || keep.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (plus_is_space && s[k] == '+') {
      out += ' ';
    } else if (s[k] == '%' && k + 2 < s.size() && hex(s[k + 1]) >= 0 && hex(s[k + 2]) >= 0) {
      out += static_cast<char>(hex(s[k + 1]) * 16 + hex(s[k + 2]));
      k += 2;
    } else {
      out += s[k];
    }
  }
  return out;
}

std::string parsed_url::authority() const {
  std::string h = ipv6 ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string parsed_url::host_header() const {
  std::string h = ipv6 ? "[" + host + "]" : host;
  bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (has_port && !default_port) h += ":" + std::to_string(port);
  return h;
}

std::optional<parsed_url> parse_url(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<parsed_url> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  auto r = boost::urls::parse_uri(boost::core::string_view(text.data(), text.size()));
  if (!r) return fail("not an absolute URL (scheme://host/…): " + r.error().message());
  const auto& u = *r;
  parsed_url out;
  out.scheme = std::string(u.scheme());
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (u.has_userinfo()) {
    out.user = std::string(u.user());
    out.password = std::string(u.password());
  }
  out.ipv6 = u.host_type() == boost::urls::host_type::ipv6;
  out.host = u.has_authority() ? std::string(u.host_address()) : std::string{};
  if (out.ipv6 && !out.host.empty() && out.host.front() == '[') out.host = out.host.substr(1, out.host.size() - 2);
  if (u.has_port()) {
    auto p = u.port();
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (p.empty() || ec != std::errc{} || ptr != p.data() + p.size() || value > 65535)
      return fail("bad port '" + std::string(p) + "'");
    out.port = static_cast<unsigned short>(value);
    out.has_port = true;
  } else if (out.scheme == "http") {
    out.port = 80;
  } else if (out.scheme == "https") {
    out.port = 443;
  }
  out.path = std::string(u.encoded_path());
  out.target = std::string(u.encoded_target());
  if (out.target.empty() || out.target.front() != '/') out.target = "/" + out.target;
  return out;
}

}  // namespace aula
