#include "bot/store/redis_snapshot.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>

#include "bot/store/redis_client.hpp"

namespace aula {

namespace {

namespace fs = std::filesystem;

constexpr const char* magic = "AULA-REDIS 1\n";
constexpr std::size_t batch = 500;

void put_u32(std::ostream& o, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  o.write(b, 4);
}
void put_i64(std::ostream& o, std::int64_t s) {
  auto v = static_cast<std::uint64_t>(s);
  for (int k = 7; k >= 0; --k) o.put(static_cast<char>(v >> (8 * k)));
}
bool get_u32(std::istream& in, std::uint32_t& v) {
  unsigned char b[4];
  if (!in.read(reinterpret_cast<char*>(b), 4)) return false;
  v = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  return true;
}
bool get_i64(std::istream& in, std::int64_t& s) {
  unsigned char b[8];
  if (!in.read(reinterpret_cast<char*>(b), 8)) return false;
  std::uint64_t v = 0;
  for (unsigned char c : b) v = (v << 8) | c;
  s = static_cast<std::int64_t>(v);
  return true;
}

// "aula:{p7}:lease" (a running process's lease) -> true.
bool is_lease(const std::string& key, const std::string& prefix) {
  if (!key.starts_with(prefix + ":{p") || !key.ends_with("}:lease")) return false;
  return key.find('}') == key.size() - 7;
}

// The hash tag of "aula:{p7}:…" ("{p7}"), "" for keys outside the partitions' tags.
std::string tag_of(const std::string& key, const std::string& prefix) {
  if (!key.starts_with(prefix + ":{")) return {};
  auto close = key.find('}', prefix.size() + 2);
  return close == std::string::npos ? std::string{} : key.substr(prefix.size() + 1, close - prefix.size());
}

// Every key under "<prefix>:" (SCAN on every master of a cluster), sorted, each once.
net::awaitable<std::vector<std::string>> scan(redis_client& r, const std::string& prefix) {
  co_return co_await r.scan(prefix + ":*", 1000);
}

// Keys written in one transaction: a partition's (its hash tag); in a cluster a transaction
// cannot span slots, so there the group is the key's slot (a partition's keys share one).
std::string group_of(const redis_client& r, const std::string& key, const std::string& prefix) {
  if (r.mode() == redis_url::kind::cluster) return std::to_string(redis_key_slot(key));
  return tag_of(key, prefix);
}

// Single-key commands sent together, their replies in the order given. A cluster takes one
// pipeline per slot (a pipeline that spans slots would go command by command).
net::awaitable<std::vector<redis_reply>> pipelined(redis_client& r, std::vector<std::vector<std::string>> cmds) {
  if (r.mode() != redis_url::kind::cluster) co_return co_await r.exec_pipeline(std::move(cmds));
  std::map<int, std::vector<std::size_t>> by_slot;
  for (std::size_t i = 0; i < cmds.size(); ++i) by_slot[redis_key_slot(cmds[i].at(1))].push_back(i);
  std::vector<redis_reply> out(cmds.size());
  for (auto it = by_slot.begin(); it != by_slot.end(); ++it) {
    std::vector<std::vector<std::string>> part;
    for (std::size_t i : it->second) part.push_back(std::move(cmds[i]));
    auto replies = co_await r.exec_pipeline(std::move(part));
    for (std::size_t k = 0; k < it->second.size() && k < replies.size(); ++k) out[it->second[k]] = std::move(replies[k]);
  }
  co_return out;
}

// Connects, runs `body`, disconnects.
void with_client(const redis_snapshot_options& o, const std::function<net::awaitable<void>(redis_client&)>& body) {
  net::io_context ioc;
  redis_client_options rc;
  rc.url = o.url;
  rc.command_timeout = o.timeout;
  rc.health_interval = std::chrono::milliseconds(0);
  std::string shown;
  try {
    shown = redis_url::parse(o.url).display();
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  auto client = std::make_unique<redis_client>(ioc.get_executor(), rc);
  client->start();
  auto fut = net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        try {
          if (!co_await client->wait_connected(std::chrono::milliseconds(5000)))
            throw std::runtime_error("cannot connect to Redis at " + shown + ": " + client->last_error());
          co_await body(*client);
        } catch (...) {
          client->stop();
          throw;
        }
        client->stop();
      },
      net::use_future);
  ioc.run();
  try {
    fut.get();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("Redis at " + shown + ": " + e.what());
  }
}

}  // namespace

std::vector<std::string> redis_snapshot_keys(const redis_snapshot_options& o) {
  std::vector<std::string> keys;
  with_client(o, [&](redis_client& r) -> net::awaitable<void> { keys = co_await scan(r, o.prefix); });
  return keys;
}

redis_snapshot_written redis_snapshot_write(const redis_snapshot_options& o, const fs::path& file) {
  redis_snapshot_written w;
  with_client(o, [&](redis_client& r) -> net::awaitable<void> {
    auto keys = co_await scan(r, o.prefix);
    std::map<std::string, std::vector<std::string>> groups;
    for (auto& k : keys) {
      if (is_lease(k, o.prefix))
        ++w.leases;
      else
        groups[group_of(r, k, o.prefix)].push_back(k);
    }
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + file.string());
    out << magic;
    for (auto it = groups.begin(); it != groups.end(); ++it) {
      const auto& group = it->second;
      for (std::size_t from = 0; from < group.size(); from += batch) {
        const std::size_t to = std::min(group.size(), from + batch);
        std::vector<std::vector<std::string>> cmds;
        cmds.push_back(redis_cmd("MULTI"));
        for (std::size_t k = from; k < to; ++k) {
          cmds.push_back(redis_cmd("DUMP", group[k]));
          cmds.push_back(redis_cmd("PTTL", group[k]));
        }
        cmds.push_back(redis_cmd("EXEC"));
        auto replies = co_await r.exec_pipeline(std::move(cmds));
        const redis_reply& exec = replies.back();
        if (!exec.is_array() || exec.elements.size() != 2 * (to - from))
          throw std::runtime_error("Redis refused the snapshot transaction: " + exec.to_string());
        for (std::size_t k = from; k < to; ++k) {
          const redis_reply& value = exec.elements[2 * (k - from)];
          const redis_reply& ttl = exec.elements[2 * (k - from) + 1];
          if (value.is_error()) throw std::runtime_error("DUMP " + group[k] + ": " + value.str);
          if (value.is_nil()) {  // deleted since SCAN
            ++w.gone;
            continue;
          }
          put_u32(out, static_cast<std::uint32_t>(group[k].size()));
          out << group[k];
          put_i64(out, ttl.integer > 0 ? ttl.integer : -1);
          put_u32(out, static_cast<std::uint32_t>(value.str.size()));
          out << value.str;
          ++w.keys;
        }
      }
    }
    out.close();
    if (!out) throw std::runtime_error("cannot write " + file.string() + " (disk full?)");
    const auto cmd = redis_cmd("GET", o.prefix + ":meta:partitions");
    const auto stored = co_await r.exec(cmd);
    if (stored.is_string()) w.partitions = stored.str;
  });
  return w;
}

std::size_t redis_snapshot_clear(const redis_snapshot_options& o) {
  std::size_t n = 0;
  with_client(o, [&](redis_client& r) -> net::awaitable<void> {
    auto keys = co_await scan(r, o.prefix);
    n = keys.size();
    for (std::size_t from = 0; from < keys.size(); from += batch) {
      std::vector<std::vector<std::string>> cmds;
      for (std::size_t k = from; k < std::min(keys.size(), from + batch); ++k) cmds.push_back(redis_cmd("UNLINK", keys[k]));
      auto replies = co_await pipelined(r, std::move(cmds));
      for (const auto& rep : replies)
        if (rep.is_error()) throw std::runtime_error("UNLINK failed: " + rep.str);
    }
  });
  return n;
}

std::size_t redis_snapshot_restore(const redis_snapshot_options& o, const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string head(std::string(magic).size(), '\0');
  if (!in.read(head.data(), static_cast<std::streamsize>(head.size())) || head != magic)
    throw std::runtime_error(file.string() + " is not an aula Redis snapshot");
  std::size_t restored = 0;
  with_client(o, [&](redis_client& r) -> net::awaitable<void> {
    std::vector<std::vector<std::string>> cmds;
    for (;;) {
      std::uint32_t klen = 0, vlen = 0;
      std::int64_t pttl = -1;
      const bool more = get_u32(in, klen);
      if (more) {
        std::string key(klen, '\0'), value;
        if (!in.read(key.data(), klen) || !get_i64(in, pttl) || !get_u32(in, vlen))
          throw std::runtime_error(file.string() + " is truncated");
        value.resize(vlen);
        if (!in.read(value.data(), vlen)) throw std::runtime_error(file.string() + " is truncated");
        cmds.push_back(redis_cmd("RESTORE", key, std::to_string(pttl > 0 ? pttl : 0), value, "REPLACE"));
        ++restored;
      }
      if (cmds.size() >= batch || (!more && !cmds.empty())) {
        auto replies = co_await pipelined(r, std::move(cmds));
        cmds.clear();
        for (const auto& rep : replies)
          if (rep.is_error()) throw std::runtime_error("RESTORE failed: " + rep.str);
      }
      if (!more) break;
    }
  });
  return restored;
}

}  // namespace aula
