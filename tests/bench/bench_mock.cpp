// aula_bench_mock: a fast mock of the providers' send APIs for the end-to-end benchmark
// (scripts/bench e2e), so the mock is never what limits a run (the Node mock of the peer costs
// about 0.13 ms of CPU per call). Plain HTTP/1.1 on loopback, keep-alive, one thread.
//
//   POST /bot<token>/<method>           Telegram Bot API: sendMessage answers a Message,
//                                       every other method {"ok":true,"result":true}
//   POST /<version>/<phone-id>/messages WhatsApp Cloud API: {"messaging_product":"whatsapp",
//                                       "contacts":[…],"messages":[{"id":"wamid.…"}]}
//   GET  /__stats                       {"total":…,"calls":{"telegram.sendMessage":…,…},
//                                        "chats":<distinct chats/numbers sent to>,
//                                        "min_per_chat":…,"max_per_chat":…,"first_ms":…,"last_ms":…}
//   GET  /__stats?chats=1               the same plus "per_chat":{"<chat>":n,…}
//   GET  /__stats?slots=1               the same plus "slots_100ms":[[ms,n],…] (sends per 100 ms)
//   POST /__reset                       zeroes every counter
//
// Every answer goes at once; the counters are what the benchmark reads: replies delivered are
// the calls counted here, not the webhooks aula acknowledged.
//
//   aula_bench_mock [--port N] [--threads N]   (port 0 = any free port; prints "PORT <n>")
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct counters {
  std::mutex mu;
  std::unordered_map<std::string, std::uint64_t> calls;     // "telegram.sendMessage", "whatsapp.text", …
  std::unordered_map<std::string, std::uint64_t> per_chat;  // messages sent: "telegram:<chat_id>", "whatsapp:<to>"
  std::map<std::int64_t, std::uint64_t> per_100ms;          // sends per 100 ms slot (pace checks)
  std::uint64_t total = 0, next_id = 1;
  std::int64_t first_ms = 0, last_ms = 0;

  std::uint64_t count(const std::string& method, const std::string& chat) {
    std::lock_guard<std::mutex> lock(mu);
    ++calls[method];
    if (!chat.empty()) ++per_chat[chat];
    const std::int64_t t = now_ms();
    if (!total) first_ms = t;
    last_ms = t;
    ++per_100ms[t / 100];
    ++total;
    return next_id++;
  }
};
counters g;

// The value of "key": in a flat JSON text, as written (a number, or a string without its
// quotes); empty when absent. Enough for the bodies aula and grammY send, and cheap.
std::string field(std::string_view body, std::string_view key, bool last = false) {
  std::string pat = "\"" + std::string(key) + "\"";
  auto p = last ? body.rfind(pat) : body.find(pat);
  if (p == std::string_view::npos) return {};
  p = body.find(':', p + pat.size());
  if (p == std::string_view::npos) return {};
  ++p;
  while (p < body.size() && (body[p] == ' ' || body[p] == '\t')) ++p;
  if (p >= body.size()) return {};
  if (body[p] == '"') {
    auto e = body.find('"', p + 1);
    return e == std::string_view::npos ? std::string() : std::string(body.substr(p + 1, e - p - 1));
  }
  auto e = p;
  while (e < body.size() && (body[e] == '-' || (body[e] >= '0' && body[e] <= '9'))) ++e;
  return std::string(body.substr(p, e - p));
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

std::string stats_json(bool with_chats, bool with_slots) {
  std::lock_guard<std::mutex> lock(g.mu);
  std::string o = "{\"total\":" + std::to_string(g.total) + ",\"calls\":{";
  bool first = true;
  for (const auto& [k, v] : g.calls) {
    o += (first ? "\"" : ",\"") + json_escape(k) + "\":" + std::to_string(v);
    first = false;
  }
  std::uint64_t mn = 0, mx = 0;
  for (const auto& [k, v] : g.per_chat) {
    mn = mn == 0 ? v : std::min(mn, v);
    mx = std::max(mx, v);
  }
  o += "},\"chats\":" + std::to_string(g.per_chat.size()) + ",\"min_per_chat\":" + std::to_string(mn) +
       ",\"max_per_chat\":" + std::to_string(mx) + ",\"first_ms\":" + std::to_string(g.first_ms) +
       ",\"last_ms\":" + std::to_string(g.last_ms) + ",\"now_ms\":" + std::to_string(now_ms());
  if (with_slots) {
    // Sends per 100 ms slot: [[slot start ms, count], …] — a sender's pace, seen from outside.
    o += ",\"slots_100ms\":[";
    first = true;
    for (const auto& [k, v] : g.per_100ms) {
      o += (first ? "[" : ",[") + std::to_string(k * 100) + "," + std::to_string(v) + "]";
      first = false;
    }
    o += "]";
  }
  if (with_chats) {
    o += ",\"per_chat\":{";
    first = true;
    for (const auto& [k, v] : g.per_chat) {
      o += (first ? "\"" : ",\"") + json_escape(k) + "\":" + std::to_string(v);
      first = false;
    }
    o += "}";
  }
  return o + "}";
}

void reset() {
  std::lock_guard<std::mutex> lock(g.mu);
  g.calls.clear();
  g.per_chat.clear();
  g.per_100ms.clear();
  g.total = 0;
  g.first_ms = g.last_ms = 0;
}

// The answer to one request: status and JSON body.
std::pair<http::status, std::string> answer(const http::request<http::string_body>& req) {
  const std::string target(req.target());
  const std::string& body = req.body();
  if (req.method() == http::verb::get && target.rfind("/__stats", 0) == 0)
    return {http::status::ok, stats_json(target.find("chats=1") != std::string::npos,
                                         target.find("slots=1") != std::string::npos)};
  if (req.method() == http::verb::post && target == "/__reset") {
    reset();
    return {http::status::ok, "{\"ok\":true}"};
  }
  if (req.method() != http::verb::post) return {http::status::not_found, "{\"error\":\"not found\"}"};
  if (target.rfind("/bot", 0) == 0) {
    // Telegram: /bot<token>/<method>
    const auto slash = target.find('/', 4);
    if (slash == std::string::npos) return {http::status::not_found, "{\"ok\":false,\"error_code\":404}"};
    const std::string method = target.substr(slash + 1);
    const std::string chat = field(body, "chat_id");
    const bool send = method == "sendMessage" || method == "sendPhoto" || method == "sendDocument";
    // Per chat: the messages sent to it (not keyboard edits or callback answers).
    const std::uint64_t id = g.count("telegram." + method, send && !chat.empty() ? "telegram:" + chat : std::string());
    if (send) {
      const std::string ts = std::to_string(now_ms() / 1000);
      return {http::status::ok, "{\"ok\":true,\"result\":{\"message_id\":" + std::to_string(id) +
                                    ",\"from\":{\"id\":123456,\"is_bot\":true,\"first_name\":\"aula\",\"username\":\"aula_bench_bot\"}"
                                    ",\"chat\":{\"id\":" + (chat.empty() ? std::string("0") : chat) +
                                    ",\"type\":\"private\"},\"date\":" + ts + "}}"};
    }
    return {http::status::ok, "{\"ok\":true,\"result\":true}"};
  }
  const auto m = target.rfind("/messages");
  if (m != std::string::npos && m + 9 == target.size()) {
    // WhatsApp Cloud API: /<version>/<phone-number-id>/messages
    const std::string to = field(body, "to");
    // The message's own "type" is the last one in aula's bodies (keys sorted: an interactive
    // message's buttons, which carry "type" too, come before it).
    const std::string type = field(body, "type", true);
    if (to.empty()) {
      // A read receipt ({"status":"read","message_id":…}) has no "to".
      g.count("whatsapp." + (field(body, "status").empty() ? std::string("unknown") : field(body, "status")), {});
      return {http::status::ok, "{\"success\":true}"};
    }
    const std::uint64_t id = g.count("whatsapp." + (type.empty() ? std::string("text") : type), "whatsapp:" + to);
    return {http::status::ok, "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"" + json_escape(to) +
                                  "\",\"wa_id\":\"" + json_escape(to) + "\"}],\"messages\":[{\"id\":\"wamid.BENCH" +
                                  std::to_string(id) + "\"}]}"};
  }
  return {http::status::not_found, "{\"error\":\"not found\"}"};
}

class connection : public std::enable_shared_from_this<connection> {
 public:
  explicit connection(tcp::socket s) : stream_(std::move(s)) {}
  void start() { read(); }

 private:
  void read() {
    req_ = {};
    http::async_read(stream_, buf_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->respond();
    });
  }
  void respond() {
    auto [status, body] = answer(req_);
    res_ = http::response<http::string_body>(status, req_.version());
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(req_.keep_alive());
    res_.body() = std::move(body);
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->res_.keep_alive()) return self->close();
      self->read();
    });
  }
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

void accept(tcp::acceptor& acc) {
  acc.async_accept([&acc](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<connection>(std::move(s))->start();
    }
    accept(acc);
  });
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
    else {
      std::cerr << "usage: aula_bench_mock [--port N] [--threads N]\n";
      return 2;
    }
  }
  asio::io_context io(threads);
  tcp::acceptor acc(io);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  acc.open(ep.protocol());
  acc.set_option(asio::socket_base::reuse_address(true));
  acc.bind(ep);
  acc.listen(asio::socket_base::max_listen_connections);
  std::cout << "PORT " << acc.local_endpoint().port() << std::endl;
  accept(acc);
  asio::signal_set sig(io, SIGINT, SIGTERM);
  sig.async_wait([&](beast::error_code, int) { io.stop(); });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  return 0;
}
