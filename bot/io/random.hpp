// Hex text and random identifiers (OpenSSL's CSPRNG) for tokens, invites, job and preview ids.
#pragma once

#include <cstddef>
#include <string>

namespace aula {

std::string to_hex(const unsigned char* data, std::size_t n);
// `bytes` random bytes as 2 × bytes hex digits; throws std::runtime_error without randomness.
std::string random_hex(std::size_t bytes);
// `n` random bytes ("" without randomness), drawn from OpenSSL's CSPRNG 4 KiB at a time per
// thread: every step of the engine takes 16 (certificate codes), and a RAND_bytes call per
// step cost as many instructions as the step's session JSON. Bytes handed out are wiped from
// the pool; requests over 4 KiB go to RAND_bytes directly.
std::string random_bytes(std::size_t n);

}  // namespace aula
