#include "bot/io/egress.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

#include <boost/asio/ip/address.hpp>

namespace aula {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool in_v4(std::uint32_t a, std::uint32_t net, int bits) {
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (a & mask) == (net & mask);
}

constexpr std::uint32_t v4(int a, int b, int c, int d) {
  return (std::uint32_t(a) << 24) | (std::uint32_t(b) << 16) | (std::uint32_t(c) << 8) | std::uint32_t(d);
}

bool public_v4(std::uint32_t a) {
  struct range {
    std::uint32_t net;
    int bits;
  };
  static constexpr std::array<range, 15> blocked{{
      {v4(0, 0, 0, 0), 8},        // "this network" (0.0.0.0 reaches the local host)
      {v4(10, 0, 0, 0), 8},       // private
      {v4(100, 64, 0, 0), 10},    // carrier-grade NAT
      {v4(127, 0, 0, 0), 8},      // loopback
      {v4(169, 254, 0, 0), 16},   // link-local (cloud metadata services)
      {v4(172, 16, 0, 0), 12},    // private
      {v4(192, 0, 0, 0), 24},     // IETF protocol assignments
      {v4(192, 0, 2, 0), 24},     // documentation
      {v4(192, 88, 99, 0), 24},   // 6to4 relay
      {v4(192, 168, 0, 0), 16},   // private
      {v4(198, 18, 0, 0), 15},    // benchmarking
      {v4(198, 51, 100, 0), 24},  // documentation
      {v4(203, 0, 113, 0), 24},   // documentation
      {v4(224, 0, 0, 0), 4},      // multicast
      {v4(240, 0, 0, 0), 4},      // reserved, broadcast
  }};
  return std::none_of(blocked.begin(), blocked.end(), [a](const range& r) { return in_v4(a, r.net, r.bits); });
}

}  // namespace

bool public_address(const std::string& ip) {
  boost::system::error_code ec;
  std::string text = ip;
  if (auto pct = text.find('%'); pct != std::string::npos) text.resize(pct);  // fe80::1%eth0
  auto addr = boost::asio::ip::make_address(text, ec);
  if (ec) return false;
  if (addr.is_v4()) return public_v4(addr.to_v4().to_uint());
  auto a6 = addr.to_v6();
  if (a6.is_v4_mapped()) return public_v4(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a6).to_uint());
  const auto b = a6.to_bytes();
  if (a6.is_unspecified() || a6.is_loopback() || a6.is_multicast()) return false;
  if ((b[0] & 0xfe) == 0xfc) return false;                   // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;   // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;   // fec0::/10 site-local (deprecated)
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;  // 2001:db8::/32 documentation
  // ::/96 (IPv4-compatible) and 64:ff9b::/96 (NAT64): judged by the IPv4 address inside.
  const bool compat = std::all_of(b.begin(), b.begin() + 12, [](unsigned char x) { return x == 0; });
  const bool nat64 = b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
                     std::all_of(b.begin() + 4, b.begin() + 12, [](unsigned char x) { return x == 0; });
  if (compat || nat64) return public_v4(v4(b[12], b[13], b[14], b[15]));
  return true;
}

bool egress_listed(const std::vector<std::string>& allow, const std::string& host_in, unsigned short port) {
  const std::string host = lower(host_in);
  const std::string with_port = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                                std::to_string(port);
  for (const auto& entry_in : allow) {
    const std::string entry = lower(entry_in);
    if (entry == "*") continue;
    if (entry == host || entry == with_port || entry == "[" + host + "]") return true;
    if (entry.size() > 2 && entry.compare(0, 2, "*.") == 0) {
      const std::string suffix = entry.substr(1);  // ".gob.mx"
      if (host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0)
        return true;
    }
  }
  return false;
}

std::string egress_refusal(const std::vector<std::string>& allow, const std::string& host, unsigned short port,
                           const std::vector<std::string>& addresses) {
  if (egress_listed(allow, host, port)) return {};
  const bool any_public = std::find(allow.begin(), allow.end(), "*") != allow.end();
  if (!any_public) return "host " + host + ":" + std::to_string(port) + " is not in webhooks.allow_hosts";
  if (addresses.empty()) return "host " + host + " has no address";
  for (const auto& a : addresses) {
    if (!public_address(a))
      return "host " + host + " resolves to " + a +
             ", a private, loopback or reserved address: list the host in webhooks.allow_hosts to allow it";
  }
  return {};
}

}  // namespace aula
