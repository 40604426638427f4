// URLs of provider APIs, proxies and stores, parsed with Boost.URL (compiled once, in
// url_impl.cpp). No Boost headers here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aula {

struct parsed_url {
  std::string scheme;    // lower case: "https"
  std::string user;      // percent-decoded userinfo, if any
  std::string password;
  std::string host;      // decoded; an IPv6 literal without brackets ("::1")
  bool ipv6 = false;
  unsigned short port = 0;  // the explicit port, else the scheme's default (http 80, https 443), else 0
  bool has_port = false;
  std::string target;    // encoded path and query ("/bot123/sendMessage?x=1"); "/" when empty
  std::string path;      // encoded path only ("" when empty)
  // "host:port" for a Host header or CONNECT ("[::1]:8443"); the port is left out of host_header()
  // when it is the scheme's default.
  std::string authority() const;
  std::string host_header() const;
};

// Percent-encoding for a path segment or a query value: every byte but the unreserved
// characters (A-Z a-z 0-9 - _ . ~) and those in `keep` becomes %XX (UTF-8 bytes too).
std::string percent_encode(std::string_view s, std::string_view keep = {});
// The reverse: %XX becomes the byte (a malformed % stays as it is); with `plus_is_space`, '+'
// is a space, as HTML forms and urlencode write query values.
std::string percent_decode(std::string_view s, bool plus_is_space = false);

// An absolute URL ("scheme://…"); nullopt with `error` set when it is not one.
std::optional<parsed_url> parse_url(std::string_view text, std::string* error = nullptr);

}  // namespace aula
