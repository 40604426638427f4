// A Redis connection: hiredis 0.14 (async API) driven by Asio. DESIGN.md "Store"; STYLE.md
// sections 2 and 12 (the ray/drogon lessons).
//
//  * The redisAsyncContext hooks (addRead/delRead/addWrite/delWrite/cleanup) arm
//    `async_wait(wait_read/wait_write)` on a posix::stream_descriptor that was assigned the
//    context's fd. The hooks are idempotent. On teardown the descriptor is release()d, so only
//    hiredis closes the fd.
//  * Everything that touches the hiredis context runs on one strand.
//  * Commands go through redisAsyncCommandArgv (binary-safe). exec() may be called from any
//    thread or coroutine, many at once: hiredis queues them on the connection (pipelining).
//  * Every command has a deadline kept on the Asio side (hiredis 0.14 has no timer hook). A
//    reply that arrives after its deadline is dropped: replies are matched to waiters through a
//    map of pending requests, never through a pointer to a waiter that may be gone.
//  * On disconnect every pending command fails (redis_errc::disconnected).
//  * One long-lived run() task connects (redis://[[user]:password@]host[:port][/db] with AUTH
//    and SELECT, or unix:///path[?db=N]), loads the registered scripts, checks the connection
//    with PING, and reconnects with backoff and jitter after any failure.
//  * eval() uses EVALSHA; when Redis answers NOSCRIPT (it restarted, or SCRIPT FLUSH) it retries
//    once with EVAL, which also puts the script back into Redis's cache.
//
// Failures to reach Redis are thrown as boost::system::system_error with a redis_errc code.
// Error replies (-ERR …) are not thrown: they come back as a reply of type error.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

#include "bot/io/net.hpp"

namespace aula {

enum class redis_errc {
  not_connected = 1,  // no connection right now (Redis down, or still connecting)
  disconnected,       // the connection broke while the command was pending
  timeout,            // the deadline passed before the reply came
  stopped,            // the client was stopped
};
const boost::system::error_category& redis_category();
boost::system::error_code make_error_code(redis_errc e);

// One reply, owned (copied out of hiredis's redisReply).
struct redis_reply {
  enum class kind { nil, integer, string, array, status, error };
  kind type = kind::nil;
  std::int64_t integer = 0;
  std::string str;  // string, status and error
  std::vector<redis_reply> elements;

  bool is_nil() const { return type == kind::nil; }
  bool is_error() const { return type == kind::error; }
  bool is_string() const { return type == kind::string || type == kind::status; }
  bool is_array() const { return type == kind::array; }
  // For messages and tests: "PONG", "(nil)", "(error) ERR …", "[a, b]".
  std::string to_string() const;
};

struct redis_url {
  bool unix_socket = false;
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string path;  // unix socket
  int db = 0;
  std::string user, password;  // AUTH [user] password when password is set

  // "redis://[[user]:password@]host[:port][/db]" or "unix:///path/to/socket[?db=N]".
  // Throws std::invalid_argument with a readable message.
  static redis_url parse(const std::string& url);
  // The URL with any password masked, for logs and error messages.
  std::string display() const;
};

struct redis_config {
  std::string url = "redis://127.0.0.1:6379/0";
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  std::chrono::milliseconds reconnect_min{50};      // first wait after a failure; doubles ...
  std::chrono::milliseconds reconnect_max{2000};    // ... up to this (±20 % jitter)
  std::chrono::milliseconds health_interval{5000};  // PING when idle this long; 0 = never
};

// A Lua script known by its SHA1 (computed locally), loaded after every (re)connect.
struct redis_script {
  std::string body;
  std::string sha;  // lowercase hex SHA1 of body
  explicit redis_script(std::string lua);
};

// A command from any mix of strings and string literals: redis_cmd("HGET", key, "v"). Build
// commands with it (or as named variables) rather than as braced lists inside a co_await
// expression, which g++ 12 rejects ("array used as initializer").
template <class... A>
std::vector<std::string> redis_cmd(A&&... a) {
  return std::vector<std::string>{std::string(std::forward<A>(a))...};
}

// The handle owns the connection: destroying it stops the client (as stop() does). Commands
// in flight keep the internals alive until they finish. Destroy it before its io_context.
class redis_client {
 public:
  // Throws std::invalid_argument when cfg.url does not parse.
  redis_client(net::any_io_executor ex, redis_config cfg);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // Scripts to load after each connect; call before start().
  void add_script(const redis_script& s);
  // Starts the run() task (connect, reconnect, health checks) on the client's strand.
  void start();
  // Stops run(), closes the connection and fails whatever is pending (redis_errc::stopped).
  // Thread-safe and idempotent; the client finishes on its strand shortly after.
  void stop();

  // One command, e.g. {"HGET", key, field}. The reply may be an error reply; failures to reach
  // Redis throw system_error(redis_errc). Uses cfg.command_timeout unless given a timeout.
  net::awaitable<redis_reply> exec(std::vector<std::string> argv);
  net::awaitable<redis_reply> exec(std::vector<std::string> argv, std::chrono::milliseconds timeout);
  // Several commands sent back to back (one round trip); one reply per command, in order.
  net::awaitable<std::vector<redis_reply>> exec_pipeline(std::vector<std::vector<std::string>> cmds);
  net::awaitable<std::vector<redis_reply>> exec_pipeline(std::vector<std::vector<std::string>> cmds,
                                                         std::chrono::milliseconds timeout);
  // EVALSHA sha numkeys keys... args...; on NOSCRIPT retries once with EVAL.
  net::awaitable<redis_reply> eval(const redis_script& s, std::vector<std::string> keys, std::vector<std::string> args);

  // True while a connection is up and its scripts are loaded (read on any thread).
  bool connected() const;
  // Waits until connected() or the timeout passes; returns connected().
  net::awaitable<bool> wait_connected(std::chrono::milliseconds timeout);
  // Why the last connection attempt failed, or why the connection went down ("" = none).
  std::string last_error() const;
  // Connections made so far; tests watch reconnects with it.
  std::uint64_t connects() const;
  const redis_config& config() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace aula

namespace boost::system {
template <>
struct is_error_code_enum<aula::redis_errc> : std::true_type {};
}  // namespace boost::system
