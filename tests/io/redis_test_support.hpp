// A redis-server of a test's own on a free loopback port (for tests that stop, freeze or
// disturb it: the shared one of scripts/test serves tests running in parallel).
#pragma once

#include <catch2/catch.hpp>

#include <boost/asio.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

namespace aula_test {

// A free loopback port (the kernel's pick; closed again before use).
inline int free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

inline int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

// 16 random hex digits: key prefixes and names that tests running in parallel do not share.
inline std::string random_hex() {
  std::random_device rd;
  std::mt19937_64 g(rd() ^ (static_cast<std::uint64_t>(rd()) << 32));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(g()));
  return buf;
}

struct private_redis {
  int port = free_port();
  std::filesystem::path dir;
  bool unix_socket = false;
  int replica_of = 0;  // a replica of the server on this port (0: a master)

  explicit private_redis(bool with_unix_socket = false, int replica_of_port = 0)
      : unix_socket(with_unix_socket), replica_of(replica_of_port) {
    auto base = std::getenv("AULA_TEST_TMP") ? std::filesystem::path(std::getenv("AULA_TEST_TMP"))
                                             : std::filesystem::temp_directory_path();
    dir = base / ("aula-redis-" + random_hex());
    std::filesystem::create_directories(dir);
    start();
  }
  ~private_redis() {
    sh("kill -CONT " + pid() + " 2>/dev/null");
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port) + "/0"; }
  std::string socket() const { return (dir / "redis.sock").string(); }
  std::string pid() const {
    std::ifstream f(dir / "redis.pid");
    std::string p;
    f >> p;
    return p.empty() ? "0" : p;
  }
  bool alive() const { return sh("redis-cli -p " + std::to_string(port) + " ping >/dev/null 2>&1") == 0; }
  void start() {
    using namespace std::chrono_literals;
    auto d = dir.string();
    REQUIRE(sh("redis-server --port " + std::to_string(port) + " --bind 127.0.0.1 --save '' --appendonly no --dir '" +
               d + "' --daemonize yes --pidfile '" + d + "/redis.pid' --logfile '" + d + "/log'" +
               (unix_socket ? " --unixsocket '" + socket() + "' --unixsocketperm 700" : "") +
               (replica_of ? " --replicaof 127.0.0.1 " + std::to_string(replica_of) : "")) == 0);
    for (int i = 0; i < 100 && !alive(); ++i) std::this_thread::sleep_for(50ms);
    REQUIRE(alive());
  }
  // A line of INFO replication ("connected_slaves:1", "master_link_status:up") is there.
  bool replication_has(const std::string& line) const {
    return sh("redis-cli -p " + std::to_string(port) + " info replication | tr -d '\\r' | grep -qx '" + line + "'") ==
           0;
  }
  // Its replica acknowledged everything it took (slave0's offset is master_repl_offset).
  bool replica_caught_up() const {
    const std::string info = "redis-cli -p " + std::to_string(port) + " info replication | tr -d '\\r'";
    return sh("test -n \"$(" + info + " | sed -n 's/^master_repl_offset://p')\" && test \"$(" + info +
              " | sed -n 's/^master_repl_offset://p')\" = \"$(" + info +
              " | sed -n 's/^slave0:.*offset=\\([0-9]*\\).*/\\1/p')\"") == 0;
  }
  void stop() {
    using namespace std::chrono_literals;
    sh("redis-cli -p " + std::to_string(port) + " shutdown nosave >/dev/null 2>&1");
    for (int i = 0; i < 100 && alive(); ++i) std::this_thread::sleep_for(50ms);
  }
};

}  // namespace aula_test
