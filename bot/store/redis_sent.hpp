// What every Redis client of this process sent since start (for /metrics), apart from
// redis_client.hpp so that code holding the configuration's redis_config can read it.
#pragma once

#include <cstdint>

namespace aula {

// Requests (one command or one pipeline of them: a round trip for their caller), the commands
// in them (a script is one command), and the socket writes that carried them (requests made
// at once share a write, and Redis answers them together: the round trips as the network and
// Redis see them).
struct redis_sent {
  std::uint64_t requests = 0, commands = 0, writes = 0;
};
redis_sent redis_sent_totals();

}  // namespace aula
