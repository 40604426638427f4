// Helpers for the HTTP tests: an io_context on background threads, running a coroutine to
// completion from the test thread, and a raw blocking socket client with receive deadlines
// (so a server that misbehaves fails a test instead of hanging it).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "bot/io/net.hpp"

namespace aula::test {

using namespace std::chrono_literals;

// An io_context run by `n` threads until the object goes away; marked as run by one thread
// when n is 1 (bot/io/net.hpp: its lanes are then the io_context itself), as `aula serve` marks
// its own with server.threads: 1.
struct io_runner {
  explicit io_runner(int n = 2) : work(net::make_work_guard(ioc)) {
    if (n == 1) mark_one_thread(ioc);
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { ioc.run(); });
  }
  ~io_runner() { stop(); }
  // Stops the threads (idempotent). Pending coroutines stay suspended until the io_context goes.
  void stop() {
    work.reset();
    ioc.stop();
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work;
  std::vector<std::thread> threads;
};

// Runs `aw` on the runner's io_context and waits for it (at most `limit`).
template <class T>
T run_sync(io_runner& r, net::awaitable<T> aw, std::chrono::milliseconds limit = 20s) {
  auto fut = net::co_spawn(r.ioc, std::move(aw), net::use_future);
  if (fut.wait_for(limit) != std::future_status::ready) throw std::runtime_error("coroutine did not finish in time");
  return fut.get();
}

inline void run_sync(io_runner& r, net::awaitable<void> aw, std::chrono::milliseconds limit = 20s) {
  auto fut = net::co_spawn(r.ioc, std::move(aw), net::use_future);
  if (fut.wait_for(limit) != std::future_status::ready) throw std::runtime_error("coroutine did not finish in time");
  fut.get();
}

// A plain blocking TCP client over loopback, with a receive deadline.
class raw_client {
 public:
  raw_client() = default;
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  ~raw_client() { close(); }

  // Returns false when the connection is refused.
  bool connect(unsigned short port, std::chrono::milliseconds recv_timeout = 5s) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    timeval tv{};
    tv.tv_sec = static_cast<long>(recv_timeout.count() / 1000);
    tv.tv_usec = static_cast<long>((recv_timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    return true;
  }

  bool send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      auto n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Receives some bytes: > 0 data, 0 orderly close, -1 error or timeout (see timed_out()).
  long recv_some(std::string& into) {
    char buf[8192];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    timed_out_ = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (n > 0) into.append(buf, static_cast<std::size_t>(n));
    return static_cast<long>(n);
  }
  bool timed_out() const { return timed_out_; }

  struct response {
    int status = 0;
    std::string head;  // status line and headers
    std::string body;
    bool header(const std::string& name_value) const {  // case-insensitive "name: value" check
      auto lower = [](std::string s) {
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
      };
      return lower(head).find(lower(name_value)) != std::string::npos;
    }
  };

  // Reads one response (Content-Length bodies only). nullopt if the connection closed or timed
  // out first.
  std::optional<response> read_response() {
    for (;;) {
      auto end = pending_.find("\r\n\r\n");
      if (end != std::string::npos) {
        response r;
        r.head = pending_.substr(0, end + 2);
        std::size_t length = 0;
        auto lower = r.head;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto cl = lower.find("content-length:");
        if (cl != std::string::npos) length = std::stoul(lower.substr(cl + 15));
        while (pending_.size() < end + 4 + length) {
          if (recv_some(pending_) <= 0) return std::nullopt;
        }
        r.body = pending_.substr(end + 4, length);
        pending_.erase(0, end + 4 + length);
        if (r.head.size() > 12) r.status = std::stoi(r.head.substr(9, 3));
        if (r.status == 100) continue;  // 100 Continue: the real answer follows
        return r;
      }
      if (recv_some(pending_) <= 0) return std::nullopt;
    }
  }

  // Waits until the peer closes: true on an orderly close or reset, false on timeout or data.
  bool wait_closed() {
    std::string junk;
    for (;;) {
      auto n = recv_some(junk);
      if (n == 0) return true;
      if (n < 0) return !timed_out_;  // ECONNRESET counts as closed
      return false;
    }
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool timed_out_ = false;
  std::string pending_;
};

inline std::string get_request(const std::string& path, bool keep_alive = true) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
}

inline std::string post_request(const std::string& path, const std::string& body, bool keep_alive = true) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + (keep_alive ? "" : "Connection: close\r\n") + "\r\n" + body;
}

}  // namespace aula::test
