#include "bot/io/random.hpp"

#include <array>
#include <stdexcept>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace aula {

std::string to_hex(const unsigned char* data, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) throw std::runtime_error("no randomness available");
  return to_hex(raw.data(), raw.size());
}

std::string random_bytes(std::size_t n) {
  constexpr std::size_t pool_size = 4096;
  thread_local std::array<unsigned char, pool_size> pool;
  thread_local std::size_t left = 0;
  if (n > pool_size) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) return {};
    return out;
  }
  if (left < n) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool_size)) != 1) return {};
    left = pool_size;
  }
  unsigned char* from = pool.data() + (pool_size - left);
  std::string out(reinterpret_cast<const char*>(from), n);
  OPENSSL_cleanse(from, n);
  left -= n;
  return out;
}

}  // namespace aula
