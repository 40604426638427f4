// Hex text and random identifiers (OpenSSL's CSPRNG) for tokens, invites, job and preview ids.
#pragma once

#include <cstddef>
#include <string>

namespace aula {

std::string to_hex(const unsigned char* data, std::size_t n);
// `bytes` random bytes as 2 × bytes hex digits; throws std::runtime_error without randomness.
std::string random_hex(std::size_t bytes);

}  // namespace aula
