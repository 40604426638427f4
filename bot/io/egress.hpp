// Where a flow's `webhook` node may connect (configuration `webhooks.allow_hosts`). Plain
// types only; the http_client applies it after resolving a host, before connecting, so a
// name that resolves to a private address is caught whatever it is called.
//
//   allow = {"api.example.org", "10.0.0.5:8443", "*.gob.mx", "*"}
//   egress_refusal(allow, "127.0.0.1", 80, {"127.0.0.1"})  -> "… loopback or private …"
//   egress_refusal(allow, "api.example.org", 443, {"10.1.1.1"})  -> ""  (listed by name)
//
// A host listed by name (exactly, as host:port, or under "*.domain") may be reached whatever
// its addresses. "*" admits any other host only when every address it resolves to is public:
// private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), loopback (127/8, ::1),
// link-local (169.254/16, fe80::/10), unspecified, multicast and reserved ranges are refused,
// as are IPv4-mapped IPv6 forms of them.
#pragma once

#include <string>
#include <vector>

namespace aula {

// Whether `ip` (an IPv4 or IPv6 address in text) is a public unicast address. Not an address:
// false.
bool public_address(const std::string& ip);

// Whether the host (lower case, IPv6 without brackets) at `port` is listed by name.
bool egress_listed(const std::vector<std::string>& allow, const std::string& host, unsigned short port);

// "" when the call may go to `host`:`port` resolved to `addresses`; otherwise why not.
std::string egress_refusal(const std::vector<std::string>& allow, const std::string& host, unsigned short port,
                           const std::vector<std::string>& addresses);

}  // namespace aula
