// Random bytes and hex identifiers (bot/io/random.hpp): OpenSSL's CSPRNG through a per-thread pool.
#include "bot/io/random.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <set>
#include <string>
#include <thread>

using namespace aula;

TEST_CASE("random_bytes: the size asked for, never the same bytes twice, across refills and threads") {
  for (std::size_t n : {0u, 1u, 16u, 4095u, 4096u, 4097u, 10000u}) CHECK(random_bytes(n).size() == n);
  // 2,000 draws of 16 bytes take the pool through several refills; a repeat (or a draw of the
  // wiped zeros) would show as a duplicate.
  std::set<std::string> seen;
  std::array<std::size_t, 256> counts{};
  for (int k = 0; k < 2000; ++k) {
    const std::string r = random_bytes(16);
    REQUIRE(r.size() == 16);
    CHECK(r != std::string(16, '\0'));
    CHECK(seen.insert(r).second);
    for (unsigned char c : r) counts[c]++;
  }
  // 32,000 bytes: each of the 256 values ~125 times; a broken pool (a stuck or repeating
  // region) would leave some far off.
  for (std::size_t v = 0; v < 256; ++v) {
    INFO("byte value " << v);
    CHECK(counts[v] > 50);
    CHECK(counts[v] < 250);
  }
  // Another thread has a pool of its own, drawn separately.
  std::set<std::string> other;
  std::thread t([&other] {
    for (int k = 0; k < 300; ++k) other.insert(random_bytes(16));
  });
  t.join();
  CHECK(other.size() == 300);
  for (const auto& r : other) CHECK_FALSE(seen.count(r));
}

TEST_CASE("random_hex: 2 hex digits per byte, different every time") {
  const std::string a = random_hex(16), b = random_hex(16);
  CHECK(a.size() == 32);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a != b);
  const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  CHECK(to_hex(bytes, 4) == "000fa5ff");
}
