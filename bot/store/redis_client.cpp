#include "bot/store/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <charconv>
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

redis_reply copy_reply(const redisReply* r) {
  redis_reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = redis_reply::kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = redis_reply::kind::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = redis_reply::kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = redis_reply::kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
      break;
    default: out.type = redis_reply::kind::nil;
  }
  return out;
}

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
  if (url.rfind("redis://", 0) != 0)
    throw std::invalid_argument("Redis URL '" + shown + "' must start with redis:// or unix://");
  std::string_view rest = std::string_view(url).substr(8);
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty()) u.db = parse_int(db, 0, 1 << 20, "database number", shown);
  }
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
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {  // [ipv6]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad host in Redis URL '" + shown + "'");
    u.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw std::invalid_argument("bad host in Redis URL '" + shown + "'");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw std::invalid_argument("Redis URL '" + shown + "' has no host");
  if (!port.empty()) u.port = parse_int(port, 1, 65535, "port", shown);
  return u;
}

std::string redis_url::display() const {
  if (unix_socket) return "unix://" + path + (db ? "?db=" + std::to_string(db) : "");
  std::string auth = password.empty() ? "" : (user.empty() ? "***@" : user + ":***@");
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "redis://" + auth + h + ":" + std::to_string(port) + "/" + std::to_string(db);
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

struct redis_client::impl : std::enable_shared_from_this<impl> {
  using strand_type = net::strand<net::any_io_executor>;
  using ms = std::chrono::milliseconds;

  // A command or pipeline waiting for its replies. Its timer doubles as the wake-up signal:
  // the reply callback cancels it when the last reply is in (or the connection broke).
  struct request {
    request(const strand_type& s, std::size_t n) : timer(s), replies(n), remaining(n) {}
    net::steady_timer timer;
    std::vector<redis_reply> replies;
    std::size_t remaining;
    std::optional<redis_errc> failed;
  };

  impl(net::any_io_executor ex, redis_config c, redis_url u)
      : cfg(std::move(c)),
        url(std::move(u)),
        strand(net::make_strand(ex)),
        signal(strand),
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

  redis_config cfg;
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
  std::minstd_rand rng;

  // ---- readable from any thread
  std::atomic<bool> up{false};
  std::atomic<bool> stop_requested{false};
  std::atomic<std::uint64_t> n_connects{0};
  mutable std::mutex error_mu;
  std::string error;

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
      if (read)
        redisAsyncHandleRead(ac);
      else
        redisAsyncHandleWrite(ac);
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
    for (auto& [id, entry] : pending) {
      auto& req = entry.first;
      if (!req->failed) req->failed = e;
      req->timer.cancel();
    }
    pending.clear();
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
    self->complete(reinterpret_cast<std::uintptr_t>(privdata), static_cast<redisReply*>(r));
  }

  void complete(std::uint64_t id, const redisReply* r) {
    auto it = pending.find(id);
    if (it == pending.end()) return;  // its deadline passed: the late reply is dropped
    auto [req, index] = std::move(it->second);
    pending.erase(it);
    if (!r) {  // the connection is going away
      if (!req->failed) req->failed = stopping ? redis_errc::stopped : redis_errc::disconnected;
      req->timer.cancel();
      return;
    }
    req->replies[index] = copy_reply(r);
    if (--req->remaining == 0) req->timer.cancel();
  }

  // Frees the context ourselves (never from inside a hiredis callback): pending commands fail.
  void force_close() {
    if (ac) redisAsyncFree(ac);  // runs callbacks with NULL, then on_cleanup
  }

  // ---- commands (on the strand)

  static net::awaitable<std::vector<redis_reply>> do_cmds(std::shared_ptr<impl> self,
                                                          std::vector<std::vector<std::string>> cmds, ms timeout,
                                                          bool need_ready) {
    if (self->stopping) throw_redis(redis_errc::stopped, "Redis client stopped");
    if (!self->ac || (need_ready && !self->ready)) throw_redis(redis_errc::not_connected, self->describe_down());
    auto req = std::make_shared<request>(self->strand, cmds.size());
    req->timer.expires_after(timeout);
    std::vector<std::uint64_t> ids;
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      argv.clear();
      lens.clear();
      for (const auto& a : cmds[i]) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      auto id = self->next_id++;
      self->pending.emplace(id, std::make_pair(req, i));
      if (redisAsyncCommandArgv(self->ac, &impl::on_reply, reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)),
                                static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
        self->pending.erase(id);
        req->failed = redis_errc::disconnected;
        break;
      }
      ids.push_back(id);
    }
    if (!req->failed && req->remaining > 0) co_await req->timer.async_wait(net::as_tuple(net::use_awaitable));
    for (auto id : ids) self->pending.erase(id);  // whatever still waits is dropped when it comes
    if (req->remaining == 0) co_return std::move(req->replies);
    if (req->failed) throw_redis(*req->failed, "Redis " + self->url.display() + ": " + cmds.front().front());
    throw_redis(redis_errc::timeout, "Redis " + self->url.display() + " did not answer " + cmds.front().front() +
                                         " within " + std::to_string(timeout.count()) + " ms");
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

  static net::awaitable<bool> connect_once(std::shared_ptr<impl> self) {
    auto& s = *self;
    ++s.gen;
    s.connect_status = 1;
    redisAsyncContext* c = nullptr;
    if (s.url.unix_socket) {
      c = redisAsyncConnectUnix(s.url.path.c_str());
    } else {
      // Resolve on Asio's resolver: hiredis would call getaddrinfo on the strand.
      tcp::resolver resolver(s.strand);
      auto [ec, results] =
          co_await resolver.async_resolve(s.url.host, std::to_string(s.url.port), net::as_tuple(net::use_awaitable));
      if (s.stopping) co_return false;
      if (ec || results.empty()) {
        s.set_error("cannot resolve " + s.url.host + ": " + ec.message());
        co_return false;
      }
      c = redisAsyncConnect(results.begin()->endpoint().address().to_string().c_str(), s.url.port);
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
    co_return true;
  }

  // While connected: a PING every health_interval; returns when the connection is gone.
  static net::awaitable<void> watch(std::shared_ptr<impl> self) {
    auto& s = *self;
    const auto g = s.gen;
    while (!s.stopping && s.ac && s.gen == g) {
      s.signal.expires_after(s.cfg.health_interval.count() > 0 ? s.cfg.health_interval : ms(std::chrono::hours(24)));
      co_await s.signal.async_wait(net::as_tuple(net::use_awaitable));
      if (s.stopping || !s.ac || s.gen != g) break;
      if (s.cfg.health_interval.count() <= 0) continue;
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
    force_close();
    fail_all(redis_errc::stopped);
    signal.cancel();
  }
};

// ---------------------------------------------------------------------------------------------
// The handle

redis_client::redis_client(net::any_io_executor ex, redis_config cfg) {
  auto url = redis_url::parse(cfg.url);
  impl_ = std::make_shared<impl>(std::move(ex), std::move(cfg), std::move(url));
}

redis_client::~redis_client() { stop(); }

void redis_client::add_script(const redis_script& s) { impl_->scripts.push_back(s); }

void redis_client::start() { net::co_spawn(impl_->strand, impl::run(impl_), net::detached); }

void redis_client::stop() {
  if (impl_->stop_requested.exchange(true)) return;
  net::post(impl_->strand, [self = impl_] { self->stop_on_strand(); });
}

net::awaitable<redis_reply> redis_client::exec(std::vector<std::string> argv) {
  return exec(std::move(argv), impl_->cfg.command_timeout);
}

net::awaitable<redis_reply> redis_client::exec(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back(std::move(argv));
  auto replies = co_await exec_pipeline(std::move(cmds), timeout);
  co_return std::move(replies.front());
}

net::awaitable<std::vector<redis_reply>> redis_client::exec_pipeline(std::vector<std::vector<std::string>> cmds) {
  return exec_pipeline(std::move(cmds), impl_->cfg.command_timeout);
}

net::awaitable<std::vector<redis_reply>> redis_client::exec_pipeline(std::vector<std::vector<std::string>> cmds,
                                                                     std::chrono::milliseconds timeout) {
  if (cmds.empty()) co_return std::vector<redis_reply>{};
  for (const auto& c : cmds)
    if (c.empty()) throw std::invalid_argument("empty Redis command");
  auto self = impl_;
  co_return co_await net::co_spawn(self->strand, impl::do_cmds(self, std::move(cmds), timeout, true),
                                   net::use_awaitable);
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

bool redis_client::connected() const { return impl_->up.load(); }

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
  std::lock_guard lock(impl_->error_mu);
  return impl_->error;
}

std::uint64_t redis_client::connects() const { return impl_->n_connects.load(); }

const redis_config& redis_client::config() const { return impl_->cfg; }

}  // namespace aula
