#include "bot/store/redis_client.hpp"

#include "bot/io/log.hpp"
#include "bot/store/redis_url_check.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <atomic>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <utility>

namespace aula {

// ---------------------------------------------------------------------------------------------
// Errors, replies, URLs, scripts

namespace {

struct redis_category_impl final : boost::system::error_category {
  const char* name() const noexcept override { return "redis"; }
  std::string message(int ev) const override {
    switch (static_cast<redis_errc>(ev)) {
      case redis_errc::not_connected: return "not connected to Redis";
      case redis_errc::disconnected: return "the connection to Redis broke";
      case redis_errc::timeout: return "Redis did not answer in time";
      case redis_errc::stopped: return "the Redis client was stopped";
    }
    return "unknown Redis error";
  }
};

[[noreturn]] void throw_redis(redis_errc e, const std::string& what) {
  throw boost::system::system_error(make_error_code(e), what);
}

// hiredis's reader builds each reply straight into a redis_reply (its object functions, set on
// every connection's reader), not into redisReply objects copied afterwards — one allocation per
// element and a copy of every string saved. A reply's root is a redisReply header, which is
// what hiredis itself reads of a reply no callback waits for (its type, and str of an error),
// then the value; an element is its slot in the parent's elements, sized when the array began.
struct reply_root {
  redisReply head{};
  redis_reply value;
};

// The redis_reply a task's value goes to, and in `obj` what the reader keeps for it; a root's
// header says `type` (one of REDIS_REPLY_*).
redis_reply& reply_slot(const redisReadTask* t, int type, void*& obj) {
  if (!t->parent) {
    auto* root = new reply_root;
    root->head.type = type;
    obj = root;
    return root->value;
  }
  const redisReadTask* p = t->parent;
  redis_reply& parent = p->parent ? *static_cast<redis_reply*>(p->obj) : static_cast<reply_root*>(p->obj)->value;
  redis_reply& r = parent.elements.at(static_cast<std::size_t>(t->idx));
  obj = &r;
  return r;
}

// Each returns nullptr (hiredis: out of memory) rather than let an exception into C.
void* reply_string(const redisReadTask* t, char* s, std::size_t len) noexcept try {
  void* obj = nullptr;
  redis_reply& r = reply_slot(t, t->type, obj);
  r.type = t->type == REDIS_REPLY_ERROR    ? redis_reply::kind::error
           : t->type == REDIS_REPLY_STATUS ? redis_reply::kind::status
                                           : redis_reply::kind::string;
  r.str.assign(s, len);
  if (!t->parent) {
    auto* root = static_cast<reply_root*>(obj);
    root->head.str = root->value.str.data();
    root->head.len = len;
  }
  return obj;
} catch (...) {
  return nullptr;
}

void* reply_array(const redisReadTask* t, int n) noexcept try {
  void* obj = nullptr;
  redis_reply& r = reply_slot(t, REDIS_REPLY_ARRAY, obj);
  r.type = redis_reply::kind::array;
  r.elements.resize(static_cast<std::size_t>(std::max(n, 0)));
  return obj;
} catch (...) {
  return nullptr;
}

void* reply_integer(const redisReadTask* t, long long v) noexcept try {
  void* obj = nullptr;
  redis_reply& r = reply_slot(t, REDIS_REPLY_INTEGER, obj);
  r.type = redis_reply::kind::integer;
  r.integer = v;
  return obj;
} catch (...) {
  return nullptr;
}

void* reply_nil(const redisReadTask* t) noexcept try {
  void* obj = nullptr;
  reply_slot(t, REDIS_REPLY_NIL, obj).type = redis_reply::kind::nil;
  return obj;
} catch (...) {
  return nullptr;
}

void reply_free(void* root) noexcept { delete static_cast<reply_root*>(root); }

redisReplyObjectFunctions reply_functions{&reply_string, &reply_array, &reply_integer, &reply_nil, &reply_free};

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

int parse_int(std::string_view s, int lo, int hi, const char* what, const std::string& url) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi)
    throw std::invalid_argument("bad " + std::string(what) + " in Redis URL '" + url + "'");
  return v;
}

}  // namespace

const boost::system::error_category& redis_category() {
  static const redis_category_impl c;
  return c;
}

boost::system::error_code make_error_code(redis_errc e) { return {static_cast<int>(e), redis_category()}; }

std::string redis_reply::to_string() const {
  switch (type) {
    case kind::nil: return "(nil)";
    case kind::integer: return std::to_string(integer);
    case kind::string:
    case kind::status: return str;
    case kind::error: return "(error) " + str;
    case kind::array: {
      std::string s = "[";
      for (std::size_t i = 0; i < elements.size(); ++i) s += (i ? ", " : "") + elements[i].to_string();
      return s + "]";
    }
  }
  return {};
}

namespace {

// "host[:port]" or "[v6]:port" -> (host, port); an empty host is an error.
std::pair<std::string, int> parse_host_port(std::string_view hp, int default_port, const std::string& shown) {
  std::string host;
  std::string_view port;
  if (!hp.empty() && hp[0] == '[') {  // [ipv6]:port
    auto close = hp.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad host in Redis URL '" + shown + "'");
    host = std::string(hp.substr(1, close - 1));
    auto after = hp.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw std::invalid_argument("bad host in Redis URL '" + shown + "'");
      port = after.substr(1);
    }
  } else {
    auto colon = hp.rfind(':');
    host = std::string(hp.substr(0, colon));
    if (colon != std::string_view::npos) port = hp.substr(colon + 1);
  }
  if (host.empty()) throw std::invalid_argument("Redis URL '" + shown + "' has an empty host");
  int p = default_port;
  if (!port.empty()) p = parse_int(port, 1, 65535, "port", shown);
  return {host, p};
}

}  // namespace

redis_url redis_url::parse(const std::string& url) {
  redis_url u;
  // Never echo a password in a message: describe the URL by its scheme and host only.
  auto shown = [&] {
    auto at = url.rfind('@');
    auto scheme = url.find("://");
    if (at == std::string::npos || scheme == std::string::npos) return url;
    return url.substr(0, scheme + 3) + "***@" + url.substr(at + 1);
  }();
  if (url.rfind("unix://", 0) == 0) {
    u.unix_socket = true;
    std::string rest = url.substr(7);
    auto q = rest.find('?');
    if (q != std::string::npos) {
      std::string query = rest.substr(q + 1);
      rest.resize(q);
      if (query.rfind("db=", 0) != 0)
        throw std::invalid_argument("unknown option in Redis URL '" + shown + "' (only ?db=N)");
      u.db = parse_int(std::string_view(query).substr(3), 0, 1 << 20, "database number", shown);
    }
    if (rest.empty() || rest[0] != '/')
      throw std::invalid_argument("Redis URL '" + shown + "': a unix socket needs an absolute path (unix:///path)");
    u.path = rest;
    return u;
  }
  std::string_view rest;
  int default_port = 6379;
  if (url.rfind("redis://", 0) == 0) {
    rest = std::string_view(url).substr(8);
  } else if (url.rfind("redis-sentinel://", 0) == 0) {
    u.mode = kind::sentinel;
    default_port = 26379;
    rest = std::string_view(url).substr(17);
  } else if (url.rfind("redis-cluster://", 0) == 0) {
    u.mode = kind::cluster;
    rest = std::string_view(url).substr(16);
  } else {
    throw std::invalid_argument("Redis URL '" + shown +
                                "' must start with redis://, unix://, redis-sentinel:// or redis-cluster://");
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  if (u.mode == kind::sentinel) {
    // <master name>[/db]
    auto s2 = path.find('/');
    u.master_name = percent_decode(path.substr(0, s2));
    if (u.master_name.empty())
      throw std::invalid_argument("Redis URL '" + shown +
                                  "' names no master: redis-sentinel://host:26379,host:26379/<master name>/0");
    path = s2 == std::string_view::npos ? std::string_view{} : path.substr(s2 + 1);
  }
  if (!path.empty()) u.db = parse_int(path, 0, 1 << 20, "database number", shown);
  if (u.mode == kind::cluster && u.db != 0)
    throw std::invalid_argument("Redis URL '" + shown + "': a Redis Cluster has database 0 only");
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      u.password = percent_decode(userinfo);
    } else {
      u.user = percent_decode(userinfo.substr(0, colon));
      u.password = percent_decode(userinfo.substr(colon + 1));
    }
  }
  if (authority.empty()) throw std::invalid_argument("Redis URL '" + shown + "' has no host");
  if (u.mode == kind::single && authority.find(',') != std::string_view::npos)
    throw std::invalid_argument("Redis URL '" + shown +
                                "' lists several hosts: use redis-sentinel:// or redis-cluster:// for that");
  while (true) {
    auto comma = authority.find(',');
    u.nodes.push_back(parse_host_port(authority.substr(0, comma), default_port, shown));
    if (comma == std::string_view::npos) break;
    authority = authority.substr(comma + 1);
  }
  u.host = u.nodes.front().first;
  u.port = u.nodes.front().second;
  return u;
}

std::string redis_url::display() const {
  if (unix_socket) return "unix://" + path + (db ? "?db=" + std::to_string(db) : "");
  std::string auth = password.empty() ? "" : (user.empty() ? "***@" : user + ":***@");
  auto hp = [](const std::string& h, int p) {
    return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(p);
  };
  if (mode == kind::single) return "redis://" + auth + hp(host, port) + "/" + std::to_string(db);
  std::string list;
  for (const auto& [h, p] : nodes) list += (list.empty() ? "" : ",") + hp(h, p);
  if (mode == kind::cluster) return "redis-cluster://" + auth + list;
  return "redis-sentinel://" + auth + list + "/" + master_name + "/" + std::to_string(db);
}

std::string redis_url_problem(const std::string& url) {
  try {
    redis_url::parse(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

std::string redis_url_password(const std::string& url) {
  try {
    return redis_url::parse(url).password;
  } catch (const std::invalid_argument&) {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Commands in Redis's protocol

namespace {

template <class Args>
void format_command(std::string& out, const Args& argv) {
  // Sized exactly first, then written through a pointer: a commit's script call has dozens of
  // arguments, and appending each piece to the string checked its room every time.
  const auto digits = [](std::size_t n) {
    std::size_t d = 1;
    for (; n >= 10; n /= 10) ++d;
    return d;
  };
  std::size_t size = 1 + digits(argv.size()) + 2;
  for (const auto& a : argv) size += 1 + digits(a.size()) + 2 + a.size() + 2;
  const std::size_t from = out.size();
  out.resize(from + size);
  char* p = out.data() + from;
  char* const end = p + size;
  const auto count = [&](char kind, std::size_t n) {
    *p++ = kind;
    p = std::to_chars(p, end, n).ptr;
    *p++ = '\r';
    *p++ = '\n';
  };
  count('*', argv.size());
  for (const auto& a : argv) {
    count('$', a.size());
    if (!a.empty()) std::memcpy(p, a.data(), a.size());
    p += a.size();
    *p++ = '\r';
    *p++ = '\n';
  }
}

}  // namespace

void redis_format_command(std::string& out, const std::vector<std::string>& argv) { format_command(out, argv); }
void redis_format_command(std::string& out, const std::vector<std::string_view>& argv) { format_command(out, argv); }

// ---------------------------------------------------------------------------------------------
// Cluster key placement

std::uint16_t redis_crc16(std::string_view data) {
  // CRC16-CCITT (XModem): polynomial 0x1021, initial value 0, no reflection, no final xor.
  std::uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= static_cast<std::uint16_t>(byte) << 8;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

int redis_key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return redis_crc16(key) & 16383;
}

std::optional<std::string> redis_routing_key(const std::vector<std::string>& argv) {
  if (argv.size() < 2) return std::nullopt;
  std::string name = argv[0];
  for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (name == "EVAL" || name == "EVALSHA" || name == "EVAL_RO" || name == "EVALSHA_RO" || name == "FCALL" ||
      name == "FCALL_RO") {
    if (argv.size() < 4 || argv[2] == "0") return std::nullopt;
    return argv[3];
  }
  static const char* const keyless[] = {"PING",   "ECHO",  "SCAN",     "SCRIPT", "CLUSTER", "INFO",   "WAIT",
                                        "ROLE",   "SELECT", "AUTH",    "HELLO",  "CLIENT",  "CONFIG", "DBSIZE",
                                        "FLUSHDB", "FLUSHALL", "TIME", "COMMAND", "ASKING", "READONLY", "SENTINEL",
                                        "FUNCTION", "MULTI", "EXEC",  "DISCARD", "LASTSAVE", "SAVE", "BGSAVE",
                                        "BGREWRITEAOF", "MEMORY", "LATENCY", "SLOWLOG", "DEBUG", "SHUTDOWN",
                                        "RANDOMKEY", "KEYS", "PUBLISH", "SUBSCRIBE"};
  for (const char* k : keyless)
    if (name == k) return std::nullopt;
  return argv[1];
}

std::optional<redis_redirect> parse_redis_redirect(std::string_view error) {
  redis_redirect r;
  if (error.rfind("MOVED ", 0) == 0) {
    error.remove_prefix(6);
  } else if (error.rfind("ASK ", 0) == 0) {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  auto space = error.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto slot = error.substr(0, space);
  auto [p, ec] = std::from_chars(slot.data(), slot.data() + slot.size(), r.slot);
  if (ec != std::errc() || p != slot.data() + slot.size() || r.slot < 0 || r.slot > 16383) return std::nullopt;
  auto addr = error.substr(space + 1);
  while (!addr.empty() && (addr.back() == ' ' || addr.back() == '\r' || addr.back() == '\n')) addr.remove_suffix(1);
  auto colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= addr.size()) return std::nullopt;
  auto port = addr.substr(colon + 1);
  auto [q, ec2] = std::from_chars(port.data(), port.data() + port.size(), r.port);
  if (ec2 != std::errc() || q != port.data() + port.size() || r.port < 1 || r.port > 65535) return std::nullopt;
  r.host = std::string(addr.substr(0, colon));
  if (r.host.size() >= 2 && r.host.front() == '[' && r.host.back() == ']') r.host = r.host.substr(1, r.host.size() - 2);
  return r;
}

redis_script::redis_script(std::string lua) : body(std::move(lua)) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(body.data(), body.size(), md, &len, EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("SHA1 of a Redis script failed");
  static const char* hex = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    sha += hex[md[i] >> 4];
    sha += hex[md[i] & 15];
  }
}

// ---------------------------------------------------------------------------------------------
// The connection

namespace {
std::atomic<std::uint64_t> g_requests{0}, g_commands{0}, g_writes{0};
}  // namespace

redis_sent redis_sent_totals() {
  return {g_requests.load(std::memory_order_relaxed), g_commands.load(std::memory_order_relaxed),
          g_writes.load(std::memory_order_relaxed)};
}

struct redis_client::impl : std::enable_shared_from_this<impl> {
  using strand_type = io_lane;  // make_io_lane: a strand, or the io_context itself when one thread runs it
  using ms = std::chrono::milliseconds;

  // A command or pipeline waiting for its replies. No coroutine and no timer of its own: the
  // caller's completion handler is kept here and invoked (on the caller's executor) when the
  // last reply is in, the connection breaks, or the connection's deadline sweep finds it late.
  // The caller's handler is type-erased by hand (move-only): Boost 1.81's
  // any_completion_handler corrupted the heap here.
  struct completion {
    virtual ~completion() = default;
    virtual void complete(std::exception_ptr ep, std::vector<redis_reply> replies) = 0;
  };
  template <class H>
  struct completion_of final : completion {
    explicit completion_of(H&& x) : h(std::move(x)) {}
    void complete(std::exception_ptr ep, std::vector<redis_reply> replies) override { std::move(h)(ep, std::move(replies)); }
    H h;
  };
  struct request {
    explicit request(std::size_t n) : replies(n), remaining(n) {}
    std::vector<redis_reply> replies;
    std::size_t remaining;
    std::vector<std::uint64_t> ids;
    std::chrono::steady_clock::time_point deadline;
    ms timeout{0};
    std::string what;  // the first command's name, for errors
    std::unique_ptr<completion> handler;
    net::any_io_executor caller;  // the handler's executor, where it is invoked
    bool finished = false;
  };

  impl(net::any_io_executor ex, redis_client_options c, redis_url u)
      : cfg(std::move(c)),
        url(std::move(u)),
        strand(make_io_lane(ex)),
        signal(strand),
        deadline_timer(strand),
        rng(std::random_device{}()) {}

  ~impl() {
    // Normally stop() has closed the connection on the strand. When the io_context went away
    // first, free the context here with every hook unset, so nothing calls back into us.
    if (ac) {
      ac->data = nullptr;
      ac->ev = {};
      if (fd) fd->release();
      redisAsyncFree(ac);
    }
  }

  redis_client_options cfg;
  redis_url url;
  strand_type strand;
  std::vector<redis_script> scripts;

  // ---- strand-only state
  redisAsyncContext* ac = nullptr;
  std::uint64_t gen = 0;  // connection generation: stale fd waits recognise themselves
  std::optional<net::posix::stream_descriptor> fd;
  bool want_read = false, want_write = false, reading = false, writing = false;
  bool ready = false;  // connected, handshake done, scripts loaded
  bool stopping = false;
  int connect_status = 1;    // 1 = pending, REDIS_OK, REDIS_ERR
  net::steady_timer signal;  // wakes run(): connect result, teardown, stop
  std::map<std::uint64_t, std::pair<std::shared_ptr<request>, std::size_t>> pending;
  std::uint64_t next_id = 1;
  std::string formatted;  // the command being handed to hiredis (its buffer reused)
  // One timer for every pending request's deadline: armed at the earliest one, it fails what
  // is late and re-arms for the rest.
  net::steady_timer deadline_timer;
  bool deadline_armed = false;
  std::chrono::steady_clock::time_point deadline_at;
  std::uint64_t deadline_gen = 0;
  std::minstd_rand rng;

  // ---- readable from any thread
  std::atomic<bool> up{false};
  std::atomic<bool> stop_requested{false};
  std::atomic<std::uint64_t> n_connects{0};
  mutable std::mutex error_mu;
  std::string error;
  std::string node;  // host:port (or socket path) of the current or last connection (error_mu)

  void set_error(std::string e) {
    std::lock_guard lock(error_mu);
    error = std::move(e);
  }

  // ---- hiredis hooks (called by hiredis, on the strand, while `ac` is alive)

  static void hook_add_read(void* d) {
    auto* s = static_cast<impl*>(d);
    s->want_read = true;
    s->arm(true);
  }
  static void hook_del_read(void* d) { static_cast<impl*>(d)->want_read = false; }
  static void hook_add_write(void* d) {
    auto* s = static_cast<impl*>(d);
    s->want_write = true;
    s->arm(false);
  }
  static void hook_del_write(void* d) { static_cast<impl*>(d)->want_write = false; }
  static void hook_cleanup(void* d) { static_cast<impl*>(d)->on_cleanup(); }

  // At most one wait per direction is in flight; a hook that asks again is a no-op.
  void arm(bool read) {
    bool& busy = read ? reading : writing;
    if (busy || !fd) return;
    busy = true;
    fd->async_wait(read ? net::posix::stream_descriptor::wait_read : net::posix::stream_descriptor::wait_write,
                   [w = weak_from_this(), g = gen, read](boost::system::error_code ec) {
                     if (auto self = w.lock()) self->on_ready(g, read, ec);
                   });
  }

  void on_ready(std::uint64_t g, bool read, boost::system::error_code ec) {
    if (g != gen) return;  // a wait of a connection that is gone
    (read ? reading : writing) = false;
    if (ec || !ac) return;
    if (read ? want_read : want_write) {
      // May call any hook, run reply callbacks, or free the context (then on_cleanup ran).
      if (read) {
        redisAsyncHandleRead(ac);
      } else {
        g_writes.fetch_add(1, std::memory_order_relaxed);
        redisAsyncHandleWrite(ac);
      }
    }
    if (ac && g == gen) {
      if (want_read) arm(true);
      if (want_write) arm(false);
    }
  }

  // hiredis is freeing the context (error, EOF, failed connect, or our own redisAsyncFree):
  // stop watching the fd without closing it (hiredis closes it), forget the context.
  void on_cleanup() {
    if (!ac) return;
    if (ac->c.err && ac->c.errstr[0])
      set_error(std::string(ac->c.errstr));
    else if (ready)
      set_error("connection closed");
    ac->data = nullptr;
    ac->ev = {};
    ac = nullptr;
    if (fd) {
      fd->release();  // cancels our waits (operation_aborted); the fd stays open for hiredis
      fd.reset();
    }
    want_read = want_write = reading = writing = false;
    ready = false;
    up = false;
    fail_all(stopping ? redis_errc::stopped : redis_errc::disconnected);
    signal.cancel();
  }

  void fail_all(redis_errc e) {
    std::vector<std::shared_ptr<request>> reqs;
    for (auto& kv : pending) reqs.push_back(kv.second.first);
    pending.clear();
    for (auto& r : reqs) finish(r, e);
  }

  static void on_connect(const redisAsyncContext* c, int status) {
    auto* self = static_cast<impl*>(c->data);
    if (!self) return;
    self->connect_status = status;
    if (status != REDIS_OK) self->set_error(c->c.errstr[0] ? c->c.errstr : "connection failed");
    self->signal.cancel();
  }

  static void on_reply(redisAsyncContext* c, void* r, void* privdata) {
    auto* self = static_cast<impl*>(c->data);
    if (!self) return;
    self->complete(reinterpret_cast<std::uintptr_t>(privdata), static_cast<reply_root*>(r));
  }

  void complete(std::uint64_t id, reply_root* r) {
    auto it = pending.find(id);
    if (it == pending.end()) return;  // its deadline passed: the late reply is dropped
    auto req = std::move(it->second.first);
    const std::size_t index = it->second.second;
    pending.erase(it);
    if (!r) {  // the connection is going away
      finish(req, stopping ? redis_errc::stopped : redis_errc::disconnected);
      return;
    }
    req->replies[index] = std::move(r->value);  // hiredis frees the rest (reply_free)
    if (--req->remaining == 0) finish(req, std::nullopt);
  }

  // Hands a request's outcome to its caller, once: the replies, or the failure as an exception
  // (`why`: its message, when not the usual one).
  void finish(const std::shared_ptr<request>& req, std::optional<redis_errc> failed, std::string why = {}) {
    if (req->finished) return;
    req->finished = true;
    if (failed)
      for (auto id : req->ids) pending.erase(id);  // whatever still comes is dropped
    std::exception_ptr ep;
    if (!failed) {
      // Sentinel: a master demoted under us answers READONLY (or LOADING while it resyncs):
      // drop the connection, so the next connect asks Sentinel where the master is now.
      if (url.mode == redis_url::kind::sentinel && ready) {
        for (const auto& r : req->replies)
          if (r.is_error() && (r.str.rfind("READONLY", 0) == 0 || r.str.rfind("LOADING", 0) == 0 ||
                               r.str.rfind("MASTERDOWN", 0) == 0)) {
            set_error(node_name() + " answered " + r.str.substr(0, r.str.find(' ')) + ": following the failover");
            net::post(strand, [self = shared_from_this()] { self->force_close(); });
            break;
          }
      }
    } else if (!why.empty()) {
      ep = std::make_exception_ptr(boost::system::system_error(make_error_code(*failed), why));
    } else if (*failed == redis_errc::timeout) {
      ep = std::make_exception_ptr(boost::system::system_error(
          make_error_code(redis_errc::timeout), "Redis " + url.display() + " did not answer " + req->what + " within " +
                                                   std::to_string(req->timeout.count()) + " ms"));
    } else {
      ep = std::make_exception_ptr(
          boost::system::system_error(make_error_code(*failed), "Redis " + url.display() + ": " + req->what));
    }
    auto h = std::move(req->handler);
    std::vector<redis_reply> replies = failed ? std::vector<redis_reply>{} : std::move(req->replies);
    net::post(req->caller, [h = std::move(h), ep, replies = std::move(replies)]() mutable { h->complete(ep, std::move(replies)); });
  }

  // ---- deadlines

  void arm_deadline(std::chrono::steady_clock::time_point at) {
    if (deadline_armed && deadline_at <= at) return;
    deadline_armed = true;
    deadline_at = at;
    const std::uint64_t g = ++deadline_gen;
    deadline_timer.expires_at(at);
    deadline_timer.async_wait([w = weak_from_this(), g](boost::system::error_code) {
      if (auto self = w.lock()) self->on_deadline(g);
    });
  }

  void on_deadline(std::uint64_t g) {
    if (g != deadline_gen) return;  // re-armed earlier meanwhile
    deadline_armed = false;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<request>> late;
    auto next = std::chrono::steady_clock::time_point::max();
    for (auto& kv : pending) {
      const auto& req = kv.second.first;
      if (req->deadline <= now) {
        if (late.empty() || late.back() != req) late.push_back(req);
      } else {
        next = std::min(next, req->deadline);
      }
    }
    for (auto& r : late) finish(r, redis_errc::timeout);
    if (next != std::chrono::steady_clock::time_point::max()) arm_deadline(next);
  }

  // Frees the context ourselves (never from inside a hiredis callback): pending commands fail.
  void force_close() {
    if (ac) redisAsyncFree(ac);  // runs callbacks with NULL, then on_cleanup
  }

  // ---- commands (on the strand)

  // Sends the commands (on the strand) and parks the request until its replies are in.
  void start(const std::shared_ptr<request>& req, std::vector<std::vector<std::string>>& cmds, bool need_ready) {
    if (!begin(req, cmds.size(), need_ready)) return;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      formatted.clear();
      redis_format_command(formatted, cmds[i]);
      if (!send_formatted(req, i, formatted)) return;
    }
    arm_deadline(req->deadline);
  }

  // One command given in Redis's protocol already (eval's: formatted where its arguments are).
  void start_formatted(const std::shared_ptr<request>& req, const std::string& wire, bool need_ready) {
    if (!begin(req, 1, need_ready)) return;
    if (!send_formatted(req, 0, wire)) return;
    arm_deadline(req->deadline);
  }

  // False when the request is finished already (stopping, not connected).
  bool begin(const std::shared_ptr<request>& req, std::size_t commands, bool need_ready) {
    if (stopping) {
      finish(req, redis_errc::stopped);
      return false;
    }
    if (!ac || (need_ready && !ready)) {
      finish(req, redis_errc::not_connected, describe_down());
      return false;
    }
    req->deadline = std::chrono::steady_clock::now() + req->timeout;
    req->ids.reserve(commands);
    g_requests.fetch_add(1, std::memory_order_relaxed);
    g_commands.fetch_add(commands, std::memory_order_relaxed);
    return true;
  }

  // Hands command i of the request to hiredis; false (the request finished) when it cannot.
  bool send_formatted(const std::shared_ptr<request>& req, std::size_t i, const std::string& wire) {
    const auto id = next_id++;
    pending.emplace(id, std::make_pair(req, i));
    req->ids.push_back(id);
    if (redisAsyncFormattedCommand(ac, &impl::on_reply, reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)),
                                   wire.data(), wire.size()) != REDIS_OK) {
      finish(req, redis_errc::disconnected);
      return false;
    }
    return true;
  }

  // The commands as one asynchronous operation: completes with their replies (error replies
  // included) or with an exception (system_error with a redis_errc).
  template <class Token>
  static auto async_cmds(std::shared_ptr<impl> self, std::vector<std::vector<std::string>> cmds, ms timeout,
                         bool need_ready, Token&& token) {
    return net::async_initiate<Token, void(std::exception_ptr, std::vector<redis_reply>)>(
        [self = std::move(self), timeout, need_ready](auto handler, std::vector<std::vector<std::string>> cmds) mutable {
          auto req = std::make_shared<request>(cmds.size());
          req->caller = net::any_io_executor(net::get_associated_executor(handler, self->strand));
          req->handler = std::make_unique<completion_of<decltype(handler)>>(std::move(handler));
          req->timeout = timeout;
          req->what = cmds.front().front();
          auto& st = self->strand;
          net::dispatch(st, [self = std::move(self), req = std::move(req), cmds = std::move(cmds), need_ready]() mutable {
            self->start(req, cmds, need_ready);
          });
        },
        token, std::move(cmds));
  }

  // One command in Redis's protocol (`what`: its name, for errors): as async_cmds.
  template <class Token>
  static auto async_formatted(std::shared_ptr<impl> self, std::string what, std::string wire, ms timeout,
                              Token&& token) {
    return net::async_initiate<Token, void(std::exception_ptr, std::vector<redis_reply>)>(
        [self = std::move(self), timeout](auto handler, std::string what, std::string wire) mutable {
          auto req = std::make_shared<request>(1);
          req->caller = net::any_io_executor(net::get_associated_executor(handler, self->strand));
          req->handler = std::make_unique<completion_of<decltype(handler)>>(std::move(handler));
          req->timeout = timeout;
          req->what = std::move(what);
          auto& st = self->strand;
          net::dispatch(st, [self = std::move(self), req = std::move(req), wire = std::move(wire)]() mutable {
            self->start_formatted(req, wire, true);
          });
        },
        token, std::move(what), std::move(wire));
  }

  static net::awaitable<std::vector<redis_reply>> do_cmds(std::shared_ptr<impl> self,
                                                          std::vector<std::vector<std::string>> cmds, ms timeout,
                                                          bool need_ready) {
    co_return co_await async_cmds(std::move(self), std::move(cmds), timeout, need_ready, net::use_awaitable);
  }

  std::string node_name() const {
    std::lock_guard lock(error_mu);
    return node;
  }

  std::string describe_down() const {
    std::string e;
    {
      std::lock_guard lock(error_mu);
      e = error;
    }
    return "not connected to Redis at " + url.display() + (e.empty() ? "" : " (" + e + ")");
  }

  // ---- connecting

  // Opens a connection to host:port (or the unix socket when host is empty) and waits until
  // it is established; no handshake. False (with the reason in `error`) when it fails.
  static net::awaitable<bool> open(std::shared_ptr<impl> self, std::string host, int port) {
    auto& s = *self;
    ++s.gen;
    s.connect_status = 1;
    redisAsyncContext* c = nullptr;
    if (host.empty()) {
      c = redisAsyncConnectUnix(s.url.path.c_str());
    } else {
      // Resolve on Asio's resolver: hiredis would call getaddrinfo on the strand.
      tcp::resolver resolver(s.strand);
      auto [ec, results] =
          co_await resolver.async_resolve(host, std::to_string(port), net::as_tuple(net::use_awaitable));
      if (s.stopping) co_return false;
      if (ec || results.empty()) {
        s.set_error("cannot resolve " + host + ": " + ec.message());
        co_return false;
      }
      c = redisAsyncConnect(results.begin()->endpoint().address().to_string().c_str(), port);
    }
    if (!c) {
      s.set_error("out of memory");
      co_return false;
    }
    if (c->err) {
      s.set_error(c->errstr ? c->errstr : "connection failed");
      redisAsyncFree(c);
      co_return false;
    }
    s.ac = c;
    c->c.reader->fn = &reply_functions;  // before any reply: the handshake's too
    c->data = &s;
    c->ev.data = &s;
    c->ev.addRead = &impl::hook_add_read;
    c->ev.delRead = &impl::hook_del_read;
    c->ev.addWrite = &impl::hook_add_write;
    c->ev.delWrite = &impl::hook_del_write;
    c->ev.cleanup = &impl::hook_cleanup;
    s.fd.emplace(s.strand);
    boost::system::error_code aec;
    s.fd->assign(c->c.fd, aec);
    if (aec) {
      s.fd.reset();
      s.set_error("cannot watch the Redis socket: " + aec.message());
      s.force_close();
      co_return false;
    }
    redisAsyncSetConnectCallback(c, &impl::on_connect);  // arms the first write wait

    s.signal.expires_after(s.cfg.connect_timeout);
    if (s.connect_status == 1 && s.ac) co_await s.signal.async_wait(net::as_tuple(net::use_awaitable));
    if (s.stopping) {
      s.force_close();
      co_return false;
    }
    if (s.connect_status != REDIS_OK) {
      if (s.connect_status == 1)
        s.set_error("connect timed out after " + std::to_string(s.cfg.connect_timeout.count()) + " ms");
      s.force_close();
      co_return false;
    }
    co_return true;
  }

  // Sentinel: asks each sentinel in turn where the master named in the URL is. The first
  // answer wins; nullopt (with the reasons in `error`) when none answers with an address.
  static net::awaitable<std::optional<std::pair<std::string, int>>> discover(std::shared_ptr<impl> self) {
    auto& s = *self;
    std::string why;
    for (const auto& node : s.url.nodes) {
      const std::string where = node.first + ":" + std::to_string(node.second);
      if (s.stopping) co_return std::nullopt;
      bool opened = co_await open(self, node.first, node.second);
      if (!opened) {
        why += (why.empty() ? "" : "; ") + std::string("sentinel ") + where + ": " + s.last_error_text();
        continue;
      }
      std::optional<std::pair<std::string, int>> found;
      try {
        std::vector<std::vector<std::string>> ask;
        ask.push_back(redis_cmd("SENTINEL", "get-master-addr-by-name", s.url.master_name));
        auto r = co_await do_cmds(self, std::move(ask), s.cfg.connect_timeout, false);
        const auto& a = r.front();
        if (a.is_array() && a.elements.size() == 2) {
          int port = 0;
          const auto& ps = a.elements[1].str;
          auto parsed = std::from_chars(ps.data(), ps.data() + ps.size(), port);  // no structured bindings in coroutines
          if (parsed.ec == std::errc() && parsed.ptr == ps.data() + ps.size() && port > 0)
            found.emplace(a.elements[0].str, port);
        }
        if (!found)
          why += (why.empty() ? "" : "; ") + std::string("sentinel ") + where + " knows no master '" +
                 s.url.master_name + "' (" + a.to_string() + ")";
      } catch (const boost::system::system_error& e) {
        why += (why.empty() ? "" : "; ") + std::string("sentinel ") + where + ": " + e.what();
      }
      s.force_close();
      if (found) co_return found;
    }
    s.set_error(why.empty() ? "no sentinel answered" : why);
    co_return std::nullopt;
  }

  std::string last_error_text() const {
    std::lock_guard lock(error_mu);
    return error;
  }

  static net::awaitable<bool> connect_once(std::shared_ptr<impl> self) {
    auto& s = *self;
    std::string host = s.url.unix_socket ? std::string() : s.url.host;
    int port = s.url.port;
    if (s.url.mode == redis_url::kind::sentinel) {
      auto master = co_await discover(self);
      if (!master || s.stopping) co_return false;
      host = master->first;
      port = master->second;
    }
    {
      std::lock_guard lock(s.error_mu);
      s.node = host.empty() ? s.url.path : host + ":" + std::to_string(port);
    }
    bool opened = co_await open(self, host, port);
    if (!opened) {
      if (s.url.mode == redis_url::kind::sentinel) {
        std::lock_guard lock(s.error_mu);
        s.error = "master " + s.node + " (from Sentinel): " + s.error;
      }
      co_return false;
    }

    // Handshake: AUTH, SELECT, the scripts, in one round trip.
    std::vector<std::vector<std::string>> cmds;
    std::vector<std::string> what;
    if (!s.url.password.empty()) {
      if (s.url.user.empty())
        cmds.push_back({"AUTH", s.url.password});
      else
        cmds.push_back({"AUTH", s.url.user, s.url.password});
      what.push_back("AUTH");
    }
    if (s.url.mode == redis_url::kind::sentinel) {  // Sentinel may lag behind a failover
      cmds.push_back(std::vector<std::string>{"ROLE"});
      what.push_back("ROLE");
    }
    if (s.url.db != 0) {
      cmds.push_back({"SELECT", std::to_string(s.url.db)});
      what.push_back("SELECT " + std::to_string(s.url.db));
    }
    for (const auto& sc : s.scripts) {
      cmds.push_back({"SCRIPT", "LOAD", sc.body});
      what.push_back("SCRIPT LOAD");
    }
    if (cmds.empty()) {
      cmds.push_back(std::vector<std::string>{"PING"});
      what.push_back("PING");
    }
    try {
      auto replies = co_await do_cmds(self, cmds, s.cfg.connect_timeout, false);
      std::size_t script_index = 0;
      for (std::size_t i = 0; i < replies.size(); ++i) {
        if (replies[i].is_error()) {
          s.set_error(what[i] + " failed: " + replies[i].str);
          s.force_close();
          co_return false;
        }
        if (what[i] == "ROLE") {
          const auto& role = replies[i];
          std::string r = role.is_array() && !role.elements.empty() ? role.elements.front().str : role.to_string();
          if (r != "master") {
            s.set_error(s.node + " is not a master (ROLE: " + r + "); asking Sentinel again");
            s.force_close();
            co_return false;
          }
        }
        if (what[i] == "SCRIPT LOAD") {
          const auto& sc = s.scripts[script_index++];
          if (replies[i].str != sc.sha) {
            s.set_error("SCRIPT LOAD returned " + replies[i].str + ", expected " + sc.sha);
            s.force_close();
            co_return false;
          }
        }
      }
    } catch (const boost::system::system_error& e) {
      if (s.ac) s.set_error(std::string("handshake: ") + e.what());
      s.force_close();
      co_return false;
    }
    if (!s.ac || s.stopping) {
      s.force_close();
      co_return false;
    }
    s.ready = true;
    s.up = true;
    ++s.n_connects;
    s.set_error("");
    if (s.url.mode == redis_url::kind::sentinel)
      log::info("redis: connected to the master given by Sentinel",
                {{"master", s.url.master_name}, {"node", s.node_name()}, {"connects", s.n_connects.load()}});
    co_return true;
  }

  // While connected: a PING every health_interval; returns when the connection is gone.
  // Sentinel: a connection of its own to each sentinel (made on first use), asked every
  // sentinel_check whether the master is still the node this client talks to. A master that
  // was demoted while alive (SENTINEL FAILOVER, a partition healed) keeps accepting writes
  // until Sentinel reconfigures it, seconds later; those writes would be lost. So the
  // connection is dropped (and Sentinel asked again) as soon as a sentinel names another
  // master.
  static constexpr ms sentinel_check{500};
  std::vector<std::shared_ptr<redis_client>> sentinels;  // strand only

  static net::awaitable<void> check_master(std::shared_ptr<impl> self, std::uint64_t g) {
    auto& s = *self;
    if (s.sentinels.empty()) {
      for (const auto& node : s.url.nodes) {
        redis_url su;
        su.host = node.first;
        su.port = node.second;
        su.nodes = {node};
        redis_client_options sc = s.cfg;
        sc.health_interval = ms(0);
        auto c = std::make_shared<redis_client>(s.strand, sc, su);
        c->start();
        s.sentinels.push_back(std::move(c));
      }
    }
    for (const auto& sent : s.sentinels) {
      if (!sent->connected()) continue;
      redis_reply r;
      try {
        r = co_await sent->exec(redis_cmd("SENTINEL", "get-master-addr-by-name", s.url.master_name), sentinel_check);
      } catch (const boost::system::system_error&) {
        continue;
      }
      if (!r.is_array() || r.elements.size() != 2) continue;
      const std::string master = r.elements[0].str + ":" + r.elements[1].str;
      if (s.stopping || !s.ac || s.gen != g) co_return;
      const std::string current = s.node_name();
      if (master != current) {
        s.force_close();
        s.set_error("Sentinel names " + master + " as the master, not " + current + ": following the failover");
        log::warn("redis: Sentinel moved the master", {{"master", s.url.master_name}, {"from", current}, {"to", master}});
      }
      co_return;  // the first sentinel that answers decides
    }
  }

  // While connected: a PING every health_interval (and, with Sentinel, the master checked
  // every sentinel_check); returns when the connection is gone.
  static net::awaitable<void> watch(std::shared_ptr<impl> self) {
    auto& s = *self;
    const auto g = s.gen;
    const bool sentinel = s.url.mode == redis_url::kind::sentinel;
    auto next_ping = std::chrono::steady_clock::now() + s.cfg.health_interval;
    while (!s.stopping && s.ac && s.gen == g) {
      ms wait = s.cfg.health_interval.count() > 0 ? s.cfg.health_interval : ms(std::chrono::hours(24));
      if (sentinel) wait = std::min(wait, sentinel_check);
      s.signal.expires_after(wait);
      co_await s.signal.async_wait(net::as_tuple(net::use_awaitable));
      if (s.stopping || !s.ac || s.gen != g) break;
      if (sentinel) {
        co_await check_master(self, g);
        if (s.stopping || !s.ac || s.gen != g) break;
      }
      if (s.cfg.health_interval.count() <= 0 || std::chrono::steady_clock::now() < next_ping) continue;
      next_ping = std::chrono::steady_clock::now() + s.cfg.health_interval;
      try {
        std::vector<std::vector<std::string>> ping{std::vector<std::string>{"PING"}};
        auto r = co_await do_cmds(self, std::move(ping), s.cfg.command_timeout, true);
        (void)r;  // an error reply (LOADING, …) still proves the connection lives
      } catch (const boost::system::system_error& e) {
        if (e.code() == redis_errc::timeout && s.ac && s.gen == g) {
          s.set_error("PING timed out");
          s.force_close();
        }
      }
    }
  }

  static net::awaitable<void> run(std::shared_ptr<impl> self) {
    auto& s = *self;
    auto backoff = s.cfg.reconnect_min;
    while (!s.stopping) {
      bool ok = false;
      try {
        ok = co_await connect_once(self);
        if (ok) {
          backoff = s.cfg.reconnect_min;
          co_await watch(self);
        }
      } catch (const std::exception& e) {
        s.set_error(e.what());
        s.force_close();
      }
      if (s.stopping) break;
      // Back off (±20 % jitter), then try again.
      auto jitter = std::uniform_real_distribution<double>(0.8, 1.2)(s.rng);
      s.signal.expires_after(ms(static_cast<std::int64_t>(static_cast<double>(backoff.count()) * jitter)));
      co_await s.signal.async_wait(net::as_tuple(net::use_awaitable));
      if (!ok) backoff = std::min(backoff * 2, s.cfg.reconnect_max);
    }
    s.force_close();
  }

  void stop_on_strand() {
    stopping = true;
    for (auto& c : sentinels) c->stop();
    force_close();
    fail_all(redis_errc::stopped);
    signal.cancel();
  }
};

// ---------------------------------------------------------------------------------------------
// Redis Cluster: a slot map and a single-node client per master

namespace {

net::awaitable<void> pause_for(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(net::as_tuple(net::use_awaitable));
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

struct redis_client::cluster : std::enable_shared_from_this<cluster> {
  using ms = std::chrono::milliseconds;
  static constexpr int max_attempts = 6;  // redirections and retries of one command

  cluster(net::any_io_executor e, redis_client_options c, redis_url u)
      : ex(e), cfg(std::move(c)), url(std::move(u)), strand(make_io_lane(e)), timer(strand) {}

  net::any_io_executor ex;
  redis_client_options cfg;
  redis_url url;
  std::vector<redis_script> scripts;
  io_lane strand;
  net::steady_timer timer;  // the periodic refresh (on the strand)
  std::atomic<bool> stopped{false};
  std::atomic<std::uint64_t> n_moved{0}, n_ask{0};  // redirections followed so far

  // ---- under mu
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<redis_client>> nodes;  // "host:port" -> its connection
  std::vector<std::string> slots = std::vector<std::string>(16384);  // slot -> its master
  std::vector<std::string> masters;
  std::uint64_t epoch = 0;  // slot maps loaded so far
  bool refreshing = false;
  std::string error;

  static std::string addr_of(const std::string& host, int port) { return host + ":" + std::to_string(port); }

  // The connection to host:port, made (and started) on first use. mu held.
  std::shared_ptr<redis_client> node_locked(const std::string& host, int port) {
    auto addr = addr_of(host, port);
    auto it = nodes.find(addr);
    if (it != nodes.end()) return it->second;
    redis_url nu = url;
    nu.mode = redis_url::kind::single;
    nu.host = host;
    nu.port = port;
    nu.db = 0;
    nu.nodes = {{host, port}};
    auto c = std::make_shared<redis_client>(ex, cfg, nu);
    for (const auto& sc : scripts) c->add_script(sc);
    if (!stopped) c->start();
    nodes.emplace(addr, c);
    return c;
  }

  std::shared_ptr<redis_client> node(const std::string& host, int port) {
    std::lock_guard lock(mu);
    return node_locked(host, port);
  }

  // The master of `slot` (any master when slot < 0): its address and connection; null when
  // no map is known yet. `seen`: the map's epoch, for refresh().
  std::pair<std::string, std::shared_ptr<redis_client>> route(int slot, std::uint64_t& seen) {
    std::lock_guard lock(mu);
    seen = epoch;
    std::string addr;
    if (slot >= 0) {
      addr = slots[static_cast<std::size_t>(slot)];
    } else {
      for (const auto& m : masters) {  // a connected one if any
        auto it = nodes.find(m);
        if (it != nodes.end() && it->second->connected()) {
          addr = m;
          break;
        }
      }
      if (addr.empty() && !masters.empty()) addr = masters.front();
    }
    if (addr.empty()) return {};
    auto it = nodes.find(addr);
    if (it == nodes.end()) {
      auto colon = addr.rfind(':');
      return {addr, node_locked(addr.substr(0, colon), std::stoi(addr.substr(colon + 1)))};
    }
    return {addr, it->second};
  }

  void set_error(std::string e) {
    std::lock_guard lock(mu);
    error = std::move(e);
  }

  // MOVED: the slot is served elsewhere now. Point it there at once, and reload the whole map
  // in the background (a resharding or failover moves more than one slot).
  void moved(const redis_redirect& rd, std::uint64_t seen) {
    {
      std::lock_guard lock(mu);
      node_locked(rd.host, rd.port);
      slots[static_cast<std::size_t>(rd.slot)] = rd.address();
    }
    refresh_later(seen);
  }

  void refresh_later(std::uint64_t seen) {
    if (stopped) return;
    net::co_spawn(ex, refresh(shared_from_this(), seen), net::detached);
  }

  // Loads the slot map with CLUSTER SLOTS from the first node that answers (known masters,
  // then the URL's seeds), unless a newer map than `seen` exists already; one refresh at a
  // time (a second caller waits for the first). True when a map is known afterwards.
  static net::awaitable<bool> refresh(std::shared_ptr<cluster> self, std::uint64_t seen) {
    try {
      co_return co_await refresh_inner(self, seen);
    } catch (const std::exception& e) {
      self->set_error(std::string("refreshing the slot map: ") + e.what());
      std::lock_guard lock(self->mu);
      self->refreshing = false;
    }
    co_return false;
  }

  static net::awaitable<bool> refresh_inner(std::shared_ptr<cluster> self, std::uint64_t seen) {
    auto& c = *self;
    for (int waited = 0;; ++waited) {
      {
        std::lock_guard lock(c.mu);
        if (c.epoch != seen) co_return true;
        if (!c.refreshing) {
          c.refreshing = true;
          break;
        }
      }
      if (waited * 10 > c.cfg.connect_timeout.count() * 2) co_return false;
      co_await pause_for(ms(10));
    }
    std::vector<std::pair<std::string, int>> candidates;
    {
      std::lock_guard lock(c.mu);
      for (const auto& m : c.masters) {
        auto colon = m.rfind(':');
        candidates.emplace_back(m.substr(0, colon), std::stoi(m.substr(colon + 1)));
      }
    }
    for (const auto& n : c.url.nodes)
      if (std::find(candidates.begin(), candidates.end(), n) == candidates.end()) candidates.push_back(n);
    std::string why;
    bool loaded = false;
    for (const auto& cand : candidates) {
      if (c.stopped) break;
      auto client = c.node(cand.first, cand.second);
      bool up = client->connected();
      if (!up) up = co_await client->wait_connected(std::min(c.cfg.connect_timeout, ms(1000)));
      if (!up) {
        why += (why.empty() ? "" : "; ") + addr_of(cand.first, cand.second) + ": " + client->last_error();
        continue;
      }
      redis_reply r;
      try {
        r = co_await client->exec(redis_cmd("CLUSTER", "SLOTS"));
      } catch (const boost::system::system_error& e) {
        why += (why.empty() ? "" : "; ") + addr_of(cand.first, cand.second) + ": " + e.what();
        continue;
      }
      if (!r.is_array() || r.elements.empty()) {
        why += (why.empty() ? "" : "; ") + addr_of(cand.first, cand.second) + ": CLUSTER SLOTS answered " +
               r.to_string();
        continue;
      }
      std::vector<std::string> map(16384);
      std::vector<std::string> ms_list;
      std::vector<std::pair<std::string, int>> ms_nodes;
      for (const auto& range : r.elements) {
        if (!range.is_array() || range.elements.size() < 3 || !range.elements[2].is_array() ||
            range.elements[2].elements.size() < 2)
          continue;
        auto lo = range.elements[0].integer, hi = range.elements[1].integer;
        const auto& m = range.elements[2].elements;
        std::string host = m[0].str;
        if (host.empty() || host == "?") host = cand.first;  // "the node you asked"
        int port = static_cast<int>(m[1].integer);
        if (lo < 0 || hi > 16383 || lo > hi || port <= 0) continue;
        auto addr = addr_of(host, port);
        for (auto slot = lo; slot <= hi; ++slot) map[static_cast<std::size_t>(slot)] = addr;
        if (std::find(ms_list.begin(), ms_list.end(), addr) == ms_list.end()) {
          ms_list.push_back(addr);
          ms_nodes.emplace_back(host, port);
        }
      }
      if (ms_list.empty()) {
        why += (why.empty() ? "" : "; ") + addr_of(cand.first, cand.second) + ": no slot is served";
        continue;
      }
      std::vector<std::shared_ptr<redis_client>> dropped;
      {
        std::lock_guard lock(c.mu);
        for (const auto& hp : ms_nodes) c.node_locked(hp.first, hp.second);
        // Forget connections to nodes that are neither masters nor seeds (a failed master).
        for (auto it = c.nodes.begin(); it != c.nodes.end();) {
          const auto& a = it->first;
          bool keep = std::find(ms_list.begin(), ms_list.end(), a) != ms_list.end();
          for (const auto& hp : c.url.nodes) keep = keep || a == addr_of(hp.first, hp.second);
          if (keep) {
            ++it;
          } else {
            dropped.push_back(it->second);
            it = c.nodes.erase(it);
          }
        }
        std::size_t changed = 0;
        for (std::size_t i = 0; i < map.size(); ++i) changed += map[i] != c.slots[i];
        if (c.masters != ms_list || changed > 0) {
          std::string list;
          for (const auto& m : ms_list) list += (list.empty() ? "" : ",") + m;
          log::info(c.epoch == 0 ? "redis: cluster slot map loaded" : "redis: cluster slot map changed",
                    {{"masters", list}, {"slots_changed", changed}, {"from", addr_of(cand.first, cand.second)},
                     {"moved_replies", c.n_moved.load()}, {"ask_replies", c.n_ask.load()}});
        }
        c.slots = std::move(map);
        c.masters = std::move(ms_list);
        ++c.epoch;
        c.error.clear();
      }
      for (auto& d : dropped) d->stop();
      loaded = true;
      break;
    }
    std::lock_guard lock(c.mu);
    c.refreshing = false;
    if (!loaded) c.error = "no cluster node gave a slot map (" + (why.empty() ? std::string("none reachable") : why) + ")";
    co_return loaded || c.epoch > 0;
  }

  // Keeps the map fresh: at start (retrying with backoff), then every 10 s.
  static net::awaitable<void> run(std::shared_ptr<cluster> self) {
    auto& c = *self;
    auto backoff = c.cfg.reconnect_min;
    while (!c.stopped) {
      std::uint64_t seen;
      {
        std::lock_guard lock(c.mu);
        seen = c.epoch;
      }
      bool ok = co_await refresh(self, seen);
      bool have_map;
      {
        std::lock_guard lock(c.mu);
        have_map = c.epoch > seen;
      }
      if (c.stopped) break;
      c.timer.expires_after(have_map ? ms(10000) : backoff);
      if (!have_map || !ok) backoff = std::min(backoff * 2, c.cfg.reconnect_max);
      if (have_map) backoff = c.cfg.reconnect_min;
      co_await c.timer.async_wait(net::as_tuple(net::use_awaitable));
    }
  }

  void stop() {
    if (stopped.exchange(true)) return;
    std::vector<std::shared_ptr<redis_client>> all;
    {
      std::lock_guard lock(mu);
      for (auto& [a, n] : nodes) all.push_back(n);
    }
    for (auto& n : all) n->stop();
    net::post(strand, [self = shared_from_this()] { self->timer.cancel(); });
  }

  bool connected() const {
    std::lock_guard lock(mu);
    if (epoch == 0) return false;
    for (const auto& m : masters) {
      auto it = nodes.find(m);
      if (it != nodes.end() && it->second->connected()) return true;
    }
    return false;
  }

  // One command, routed by its key; follows MOVED and ASK, waits out TRYAGAIN/CLUSTERDOWN
  // and a master that cannot be reached (a failover), refreshing the map. A command whose
  // connection broke while it was pending is not sent again (it may have run): that throws.
  static net::awaitable<redis_reply> exec(std::shared_ptr<cluster> self, std::vector<std::string> argv, ms timeout) {
    auto key = redis_routing_key(argv);
    const int slot = key ? redis_key_slot(*key) : -1;
    std::optional<redis_redirect> ask;
    redis_reply last;
    bool have_last = false;
    std::string why = "no slot map";
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
      if (self->stopped) throw_redis(redis_errc::stopped, "Redis client stopped");
      std::uint64_t seen = 0;
      auto routed = self->route(slot, seen);
      std::string addr = routed.first;
      std::shared_ptr<redis_client> client = routed.second;
      if (ask) {
        addr = ask->address();
        client = self->node(ask->host, ask->port);
      }
      if (!client) {
        co_await refresh(self, seen);
        routed = self->route(slot, seen);
        addr = routed.first;
        client = routed.second;
        if (!client) {
          std::lock_guard lock(self->mu);
          why = self->error;
          break;
        }
      }
      bool up = client->connected();
      if (!up) up = co_await client->wait_connected(std::min(self->cfg.connect_timeout, ms(1000)));
      if (!up) {
        why = addr + ": " + client->last_error();
        ask.reset();
        self->refresh_later(seen);
        co_await pause_for(ms(100 * (attempt + 1)));
        continue;
      }
      redis_reply r;
      bool not_sent = false;
      try {
        if (ask) {
          std::vector<std::vector<std::string>> two;
          two.push_back(redis_cmd("ASKING"));
          two.push_back(argv);
          auto rs = co_await client->exec_pipeline(std::move(two), timeout);
          r = std::move(rs[1]);
        } else {
          r = co_await client->exec(argv, timeout);
        }
      } catch (const boost::system::system_error& e) {
        if (e.code() != redis_errc::not_connected) {
          if (e.code() == redis_errc::disconnected) self->refresh_later(seen);
          throw;
        }
        not_sent = true;
        why = addr + ": " + e.what();
      }
      ask.reset();
      if (not_sent) {
        self->refresh_later(seen);
        co_await pause_for(ms(100 * (attempt + 1)));
        continue;
      }
      if (r.is_error()) {
        if (auto rd = parse_redis_redirect(r.str)) {
          if (rd->host.empty()) rd->host = addr.substr(0, addr.rfind(':'));
          if (rd->ask) {
            ++self->n_ask;
            ask = rd;
          } else {
            ++self->n_moved;
            self->moved(*rd, seen);
          }
          last = r;
          have_last = true;
          continue;
        }
        if (starts_with(r.str, "TRYAGAIN") || starts_with(r.str, "CLUSTERDOWN")) {
          last = r;
          have_last = true;
          self->refresh_later(seen);
          co_await pause_for(ms(100 * (attempt + 1)));
          continue;
        }
      }
      co_return r;
    }
    if (have_last) co_return last;
    throw_redis(redis_errc::not_connected, "Redis Cluster " + self->url.display() + ": " + why);
  }

  static net::awaitable<std::vector<redis_reply>> exec_pipeline(std::shared_ptr<cluster> self,
                                                                std::vector<std::vector<std::string>> cmds,
                                                                ms timeout) {
    std::vector<redis_reply> out;
    // One node for all (keyless commands go along): one round trip; else command by command.
    int slot = -1;
    bool one_slot = true;
    for (const auto& c : cmds) {
      auto key = redis_routing_key(c);
      if (!key) continue;
      int s2 = redis_key_slot(*key);
      if (slot < 0) slot = s2;
      if (s2 != slot) one_slot = false;
    }
    if (one_slot && cmds.size() > 1) {
      std::uint64_t seen = 0;
      auto routed = self->route(slot, seen);
      if (routed.second && routed.second->connected()) {
        bool not_sent = false;
        try {
          out = co_await routed.second->exec_pipeline(cmds, timeout);
        } catch (const boost::system::system_error& e) {
          if (e.code() != redis_errc::not_connected) throw;
          not_sent = true;
        }
        if (!not_sent) {
          // Redirected commands did not run: send those again one by one.
          for (std::size_t i = 0; i < out.size(); ++i) {
            const auto& r = out[i];
            if (r.is_error() && (parse_redis_redirect(r.str) || starts_with(r.str, "TRYAGAIN") ||
                                 starts_with(r.str, "CLUSTERDOWN"))) {
              auto again = co_await exec(self, cmds[i], timeout);
              out[i] = std::move(again);
            }
          }
          co_return out;
        }
      }
    }
    out.clear();
    for (auto& c : cmds) {
      auto r = co_await exec(self, std::move(c), timeout);
      out.push_back(std::move(r));
    }
    co_return out;
  }

  static net::awaitable<std::vector<std::string>> scan(std::shared_ptr<cluster> self, std::string pattern,
                                                       std::size_t count) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(self->mu);
      seen = self->epoch;
    }
    if (seen == 0) co_await refresh(self, seen);
    std::vector<std::pair<std::string, std::shared_ptr<redis_client>>> ms_clients;
    {
      std::lock_guard lock(self->mu);
      for (const auto& m : self->masters) {
        auto colon = m.rfind(':');
        ms_clients.emplace_back(m, self->node_locked(m.substr(0, colon), std::stoi(m.substr(colon + 1))));
      }
    }
    if (ms_clients.empty()) throw_redis(redis_errc::not_connected, "Redis Cluster " + self->url.display() + ": no slot map");
    std::set<std::string> found;
    for (auto& mc : ms_clients) {
      bool up = mc.second->connected();
      if (!up) up = co_await mc.second->wait_connected(self->cfg.connect_timeout);
      if (!up) throw_redis(redis_errc::not_connected, "Redis Cluster master " + mc.first + ": " + mc.second->last_error());
      auto keys = co_await mc.second->scan(pattern, count);
      found.insert(keys.begin(), keys.end());
    }
    co_return std::vector<std::string>(found.begin(), found.end());
  }
};

// ---------------------------------------------------------------------------------------------
// The handle

redis_client::redis_client(net::any_io_executor ex, redis_client_options cfg)
    : redis_client(ex, cfg, redis_url::parse(cfg.url)) {}

redis_client::redis_client(net::any_io_executor ex, redis_client_options cfg, redis_url url) : cfg_(cfg) {
  if (url.mode == redis_url::kind::cluster)
    cluster_ = std::make_shared<cluster>(std::move(ex), std::move(cfg), std::move(url));
  else
    impl_ = std::make_shared<impl>(std::move(ex), std::move(cfg), std::move(url));
}

redis_client::~redis_client() { stop(); }

void redis_client::add_script(const redis_script& s) {
  if (cluster_)
    cluster_->scripts.push_back(s);
  else
    impl_->scripts.push_back(s);
}

void redis_client::start() {
  if (cluster_)
    net::co_spawn(cluster_->strand, cluster::run(cluster_), net::detached);
  else
    net::co_spawn(impl_->strand, impl::run(impl_), net::detached);
}

void redis_client::stop() {
  if (cluster_) {
    cluster_->stop();
    return;
  }
  if (impl_->stop_requested.exchange(true)) return;
  net::post(impl_->strand, [self = impl_] { self->stop_on_strand(); });
}

net::awaitable<redis_reply> redis_client::exec(std::vector<std::string> argv) {
  return exec(std::move(argv), cfg_.command_timeout);
}

net::awaitable<redis_reply> redis_client::exec(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  if (argv.empty()) throw std::invalid_argument("empty Redis command");
  if (cluster_) co_return co_await cluster::exec(cluster_, std::move(argv), timeout);
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back(std::move(argv));
  auto replies = co_await impl::async_cmds(impl_, std::move(cmds), timeout, true, net::use_awaitable);
  co_return std::move(replies.front());
}

net::awaitable<std::vector<redis_reply>> redis_client::exec_pipeline(std::vector<std::vector<std::string>> cmds) {
  return exec_pipeline(std::move(cmds), cfg_.command_timeout);
}

net::awaitable<std::vector<redis_reply>> redis_client::exec_pipeline(std::vector<std::vector<std::string>> cmds,
                                                                     std::chrono::milliseconds timeout) {
  if (cmds.empty()) co_return std::vector<redis_reply>{};
  for (const auto& c : cmds)
    if (c.empty()) throw std::invalid_argument("empty Redis command");
  if (cluster_) co_return co_await cluster::exec_pipeline(cluster_, std::move(cmds), timeout);
  co_return co_await impl::async_cmds(impl_, std::move(cmds), timeout, true, net::use_awaitable);
}

net::awaitable<redis_reply> redis_client::eval(const redis_script& s, std::vector<std::string> keys,
                                               std::vector<std::string> args) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(s.sha);
  argv.push_back(std::to_string(keys.size()));
  for (auto& k : keys) argv.push_back(std::move(k));
  for (auto& a : args) argv.push_back(std::move(a));
  if (cluster_) {
    auto r = co_await exec(argv);
    if (r.is_error() && r.str.rfind("NOSCRIPT", 0) == 0) {
      // Redis lost its script cache (restart, failover, SCRIPT FLUSH): EVAL runs the script and
      // caches it again, in one round trip and without a window for another flush.
      argv[0] = "EVAL";
      argv[1] = s.body;
      r = co_await exec(std::move(argv));
    }
    co_return r;
  }
  co_return co_await eval_formatted(s, argv);
}

net::awaitable<redis_reply> redis_client::eval_views(const redis_script& s, std::vector<std::string_view> keys,
                                                     std::vector<std::string_view> args) {
  if (cluster_)  // routed by its first key, through exec: the arguments as strings
    co_return co_await eval(s, std::vector<std::string>(keys.begin(), keys.end()),
                            std::vector<std::string>(args.begin(), args.end()));
  const std::string count = std::to_string(keys.size());
  std::vector<std::string_view> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(s.sha);
  argv.push_back(count);
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  co_return co_await eval_formatted(s, argv);
}

// EVALSHA's command list (`argv`, strings or views) formatted here, where the arguments are,
// and handed over as those bytes: they are not copied for the NOSCRIPT retry, which runs the
// same list with EVAL and the script's body.
template <class Argv>
net::awaitable<redis_reply> redis_client::eval_formatted(const redis_script& s, Argv& argv) {
  const auto run = [this](const Argv& cmd) -> net::awaitable<redis_reply> {
    std::string wire;
    redis_format_command(wire, cmd);
    auto replies = co_await impl::async_formatted(impl_, std::string(cmd.front()), std::move(wire),
                                                  cfg_.command_timeout, net::use_awaitable);
    co_return std::move(replies.front());
  };
  auto r = co_await run(argv);
  if (r.is_error() && r.str.rfind("NOSCRIPT", 0) == 0) {
    argv[0] = "EVAL";  // as above
    argv[1] = s.body;
    r = co_await run(argv);
  }
  co_return r;
}

net::awaitable<std::vector<std::string>> redis_client::scan(std::string pattern, std::size_t count) {
  if (cluster_) co_return co_await cluster::scan(cluster_, std::move(pattern), count);
  std::set<std::string> found;
  std::string cursor = "0";
  do {
    auto r = co_await exec(redis_cmd("SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(count)));
    if (!r.is_array() || r.elements.size() != 2 || !r.elements[1].is_array())
      throw std::runtime_error("unexpected SCAN answer: " + r.to_string());
    cursor = r.elements[0].str;
    for (const auto& k : r.elements[1].elements) found.insert(k.str);
  } while (cursor != "0");
  co_return std::vector<std::string>(found.begin(), found.end());
}

net::awaitable<std::int64_t> redis_client::wait_replicas(int replicas, std::chrono::milliseconds timeout,
                                                         const std::string& routing_key, const std::string& mark) {
  std::vector<std::vector<std::string>> cmds;
  if (!mark.empty()) cmds.push_back(redis_cmd("SET", mark, "1", "PX", "60000"));
  cmds.push_back(redis_cmd("WAIT", std::to_string(replicas), std::to_string(timeout.count())));
  std::vector<redis_reply> rs;
  if (cluster_) {
    // WAIT has no key: send it to the master that holds `routing_key`, on the connection the
    // write went through (one connection per master).
    std::uint64_t seen = 0;
    auto routed = cluster_->route(redis_key_slot(routing_key), seen);
    if (!routed.second) throw_redis(redis_errc::not_connected, "Redis Cluster: no slot map");
    rs = co_await routed.second->exec_pipeline(std::move(cmds), timeout + cfg_.command_timeout);
  } else {
    rs = co_await exec_pipeline(std::move(cmds), timeout + cfg_.command_timeout);
  }
  if (!mark.empty() && rs.front().type == redis_reply::kind::error)
    throw std::runtime_error("the mark before WAIT was refused: " + rs.front().to_string());
  const auto& r = rs.back();
  if (r.type != redis_reply::kind::integer) throw std::runtime_error("unexpected WAIT answer: " + r.to_string());
  co_return r.integer;
}

redis_url::kind redis_client::mode() const {
  if (cluster_) return redis_url::kind::cluster;
  return impl_->url.mode;
}

std::string redis_client::current_node() const {
  if (cluster_) {
    std::lock_guard lock(cluster_->mu);
    std::string out;
    for (const auto& m : cluster_->masters) out += (out.empty() ? "" : ",") + m;
    return out;
  }
  std::lock_guard lock(impl_->error_mu);
  return impl_->node;
}

bool redis_client::connected() const {
  if (cluster_) return cluster_->connected();
  return impl_->up.load();
}

net::awaitable<bool> redis_client::wait_connected(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  net::steady_timer t(co_await net::this_coro::executor);
  while (!connected() && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(net::use_awaitable);
  }
  co_return connected();
}

std::string redis_client::last_error() const {
  if (cluster_) {
    std::lock_guard lock(cluster_->mu);
    return cluster_->error;
  }
  std::lock_guard lock(impl_->error_mu);
  return impl_->error;
}

std::uint64_t redis_client::connects() const {
  if (cluster_) {
    std::lock_guard lock(cluster_->mu);
    std::uint64_t n = 0;
    for (const auto& [a, c] : cluster_->nodes) n += c->connects();
    return n;
  }
  return impl_->n_connects.load();
}

const redis_client_options& redis_client::config() const { return cfg_; }

}  // namespace aula
