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
//  * Sentinel (redis-sentinel://s1:26379,s2:26379/<master>[/db]): every (re)connect first asks
//    the sentinels, in the order given, SENTINEL get-master-addr-by-name, connects there and
//    checks ROLE says master (a node just demoted is refused and Sentinel asked again). An
//    error reply READONLY or LOADING drops the connection, so the next connect re-discovers;
//    so does a sentinel naming another master (asked every 0.5 s while connected: a master
//    demoted while alive keeps accepting writes until Sentinel reconfigures it).
//    The reconnect path reloads the scripts, as after any reconnect. docs/REDIS.md.
//  * Cluster (redis-cluster://n1:7000,n2:7001): a slot map from CLUSTER SLOTS (asked of any
//    node that answers, seeds first), one connection (a single-node client, with the scripts)
//    per master; each command goes to the master of its key's slot (the first key: argv[1],
//    or the first of EVAL/EVALSHA's keys; keyless commands to any master). MOVED updates the
//    slot, refreshes the whole map and retries; ASK sends ASKING then the command to the node
//    named, once; TRYAGAIN / CLUSTERDOWN retry after a pause. The map is also refreshed every
//    10 s and when a node cannot be reached. A pipeline whose commands live on several nodes is
//    sent command by command. scan() walks every master.
//
// Failures to reach Redis are thrown as boost::system::system_error with a redis_errc code.
// Error replies (-ERR …) are not thrown: they come back as a reply of type error.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

#include "bot/io/net.hpp"
#include "bot/store/redis_sent.hpp"

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
  enum class kind { single, sentinel, cluster };
  kind mode = kind::single;
  bool unix_socket = false;
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string path;  // unix socket
  int db = 0;
  std::string user, password;  // AUTH [user] password when password is set
  // Sentinel: the sentinels and the master's name; cluster: the seed nodes. host/port are the
  // first of them (and, after discovery, the node a client talks to).
  std::vector<std::pair<std::string, int>> nodes;
  std::string master_name;

  // "redis://[[user]:password@]host[:port][/db]", "unix:///path/to/socket[?db=N]",
  // "redis-sentinel://[[user]:password@]host[:port][,host[:port]…]/<master name>[/db]"
  // (port default 26379; the password is the data nodes', sentinels take none), or
  // "redis-cluster://[[user]:password@]host[:port][,host[:port]…]" (port default 6379; a
  // cluster has database 0 only).
  // Throws std::invalid_argument with a readable message.
  static redis_url parse(const std::string& url);
  // The URL with any password masked, for logs and error messages.
  std::string display() const;
};

// The client's own settings (the configuration file's are config.hpp's redis_config: one name
// for two types broke the One Definition Rule, which the link-time optimizer reported).
struct redis_client_options {
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
// Arguments given as rvalue strings are moved in (a braced list would copy each of them
// again out of its initializer_list).
template <class... A>
std::vector<std::string> redis_cmd(A&&... a) {
  std::vector<std::string> argv;
  argv.reserve(sizeof...(A));
  (argv.emplace_back(std::forward<A>(a)), ...);
  return argv;
}

// A command in Redis's protocol (RESP: an array of bulk strings), appended to `out`: the
// bytes hiredis's redisFormatCommandArgv gives, without its per-argument printf-style
// formatting (a few percent of the server's instructions at load).
void redis_format_command(std::string& out, const std::vector<std::string>& argv);
void redis_format_command(std::string& out, const std::vector<std::string_view>& argv);

// Redis Cluster's key placement (the cluster specification): CRC16-CCITT (XModem) of the
// key's hash tag — the part between the first '{' and the next '}' when that is not empty,
// else the whole key — modulo 16384.
std::uint16_t redis_crc16(std::string_view data);
int redis_key_slot(std::string_view key);
// The key a command is routed by (argv[1]; EVAL/EVALSHA/FCALL: their first key), or nullopt
// for a command without keys (PING, SCAN, SCRIPT, CLUSTER, INFO, WAIT, …).
std::optional<std::string> redis_routing_key(const std::vector<std::string>& argv);
// A cluster redirection error reply: "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381".
struct redis_redirect {
  bool ask = false;  // ASK (one command, after ASKING) rather than MOVED (the slot moved)
  int slot = 0;
  std::string host;
  int port = 0;
  std::string address() const { return host + ":" + std::to_string(port); }
};
std::optional<redis_redirect> parse_redis_redirect(std::string_view error);

// The handle owns the connection: destroying it stops the client (as stop() does). Commands
// in flight keep the internals alive until they finish. Destroy it before its io_context.
class redis_client {
 public:
  // Throws std::invalid_argument when cfg.url does not parse.
  redis_client(net::any_io_executor ex, redis_client_options cfg);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // A client of one node given by an already parsed URL (a cluster's node connections).
  redis_client(net::any_io_executor ex, redis_client_options cfg, redis_url url);

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
  // The same with the keys and arguments as views of the caller's strings, which must outlive
  // the returned awaitable (co_await it at once): a commit's session, outbox entries and
  // records go into the command's bytes without a copy in a list of strings first.
  net::awaitable<redis_reply> eval_views(const redis_script& s, std::vector<std::string_view> keys,
                                         std::vector<std::string_view> args);

  // Every key matching the glob `pattern` (SCAN MATCH … COUNT `count`), on every master of a
  // cluster; each key once, sorted.
  net::awaitable<std::vector<std::string>> scan(std::string pattern, std::size_t count = 1000);
  // WAIT replicas timeout on the connection that served `routing_key` (its master in a
  // cluster): how many replicas acknowledged every write made on that connection so far.
  // With a `mark` key (same hash tag as `routing_key`), first writes it (SET … PX) on that
  // connection: WAIT then covers every write the master took before, from any connection
  // (another instance's commit, say), not only this connection's own.
  net::awaitable<std::int64_t> wait_replicas(int replicas, std::chrono::milliseconds timeout,
                                             const std::string& routing_key, const std::string& mark = {});
  // single, sentinel or cluster (from the URL).
  redis_url::kind mode() const;
  // The node a single/Sentinel client talks to now ("host:port", or the socket path); in a
  // cluster the masters, comma-separated ("" before the first slot map).
  std::string current_node() const;

  // True while a connection is up and its scripts are loaded (read on any thread). A cluster
  // client: a slot map is known and some master is connected.
  bool connected() const;
  // Waits until connected() or the timeout passes; returns connected().
  net::awaitable<bool> wait_connected(std::chrono::milliseconds timeout);
  // Why the last connection attempt failed, or why the connection went down ("" = none).
  std::string last_error() const;
  // Connections made so far; tests watch reconnects with it.
  std::uint64_t connects() const;
  const redis_client_options& config() const;

  struct impl;
  struct cluster;

 private:
  template <class Argv>
  net::awaitable<redis_reply> eval_formatted(const redis_script& s, Argv& argv);

  std::shared_ptr<impl> impl_;        // single node or Sentinel
  std::shared_ptr<cluster> cluster_;  // cluster (impl_ is then null)
  redis_client_options cfg_;
};

}  // namespace aula

namespace boost::system {
template <>
struct is_error_code_enum<aula::redis_errc> : std::true_type {};
}  // namespace boost::system
