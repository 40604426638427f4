#include "bot/config/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "bot/authoring/diagnostics.hpp"
#include "bot/engine/timing.hpp"
#include "bot/io/log.hpp"
#include "bot/io/url.hpp"
#include "bot/store/redis_url_check.hpp"

extern char** environ;

namespace aula {
namespace {

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

template <class Int>
bool parse_int(const std::string& text, Int& out) {
  auto t = trim(text);
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  return !t.empty() && ec == std::errc{} && p == t.data() + t.size();
}

// ---- value checks: each returns "" when fine, else what is wrong (without a prefix) --------

std::string check_http_url(const std::string& v) {
  std::string err;
  auto u = parse_url(v, &err);
  if (!u) return "'" + v + "' is " + err;
  if (u->scheme != "http" && u->scheme != "https") return "'" + v + "' must start with http:// or https://";
  if (u->host.empty()) return "'" + v + "' has no host";
  return {};
}

std::string check_redis_url(const std::string& v) {
  if (v.rfind("redis-sentinel://", 0) == 0 || v.rfind("redis-cluster://", 0) == 0) {
    return redis_url_problem(v);
  }
  std::string err;
  auto u = parse_url(v, &err);
  if (!u) return "'" + mask_url(v) + "' is " + err + " (expected redis://host:port/db or unix:///path)";
  if (u->scheme == "rediss") return "TLS to Redis (rediss://) is not supported; use redis:// or unix://";
  if (u->scheme == "unix") {
    if (u->path.empty() || u->path == "/") return "'" + v + "' has no socket path (unix:///path/to/redis.sock)";
    return {};
  }
  if (u->scheme != "redis")
    return "'" + mask_url(v) + "' must start with redis://, unix://, redis-sentinel:// or redis-cluster://";
  if (u->host.empty()) return "'" + mask_url(v) + "' has no host";
  if (!u->path.empty() && u->path != "/") {
    int db = 0;
    if (!parse_int(u->path.substr(1), db) || db < 0) return "'" + mask_url(v) + "': the database must be a number (/0)";
  }
  return {};
}

std::string check_records_url(const std::string& v) {
  std::string err;
  auto u = parse_url(v, &err);
  if (!u) return "'" + mask_url(v) + "' is " + err + " (expected sqlite:///path/file.db or postgresql://…)";
  if (u->scheme != "sqlite" && u->scheme != "postgresql" && u->scheme != "postgres")
    return "'" + mask_url(v) + "' must start with sqlite:// or postgresql://";
  if (u->scheme == "sqlite" && u->host.empty() && (u->path.empty() || u->path == "/"))
    return "'" + v + "' names no file (sqlite://var/records.db or sqlite:///abs/path.db)";
  return {};
}

std::string normalize_proxy(std::string v) {
  v = trim(v);
  if (!v.empty() && v.find("://") == std::string::npos) v = "http://" + v;  // curl accepts host:port
  return v;
}

std::string check_proxy(const std::string& v) {
  std::string err;
  auto u = parse_url(v, &err);
  if (!u) return "'" + mask_url(v) + "' is " + err + " (expected http://host:port)";
  if (u->scheme != "http") return "'" + mask_url(v) + "': only http:// proxies (CONNECT) are supported";
  if (u->host.empty()) return "'" + mask_url(v) + "' has no host";
  return {};
}

std::string check_ca_file(const std::string& v) {
  std::ifstream f(v);
  if (!f) return "cannot read '" + v + "'";
  return {};
}

std::string check_time_zone(const std::string& v) {
  if (!known_time_zone(v)) return "unknown time zone '" + v + "' (an IANA name such as America/Mexico_City)";
  return {};
}

std::string check_clock(const std::string& v) {
  if (!parse_clock(v)) return "'" + v + "' is not a time of day (HH:MM)";
  return {};
}

std::string check_log_level(const std::string& v) {
  log::level l;
  if (!log::parse_level(v, l)) return "'" + v + "' is not a log level (debug, info, warn, error)";
  return {};
}

std::string check_listen(const std::string& v) {
  try {
    parse_listen(v);
  } catch (const config_error& e) {
    return e.what();
  }
  return {};
}

bool parse_bool(const std::string& text, bool& out) {
  auto t = lower(trim(text));
  if (t == "1" || t == "true" || t == "yes" || t == "on") out = true;
  else if (t == "0" || t == "false" || t == "no" || t == "off" || t.empty()) out = false;
  else return false;
  return true;
}

std::string format_ms(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 != 0 || ms == 0) return std::to_string(ms) + "ms";
  return format_duration(ms);
}

std::string format_size(std::size_t n) {
  if (n % (1024 * 1024) == 0 && n > 0) return std::to_string(n / (1024 * 1024)) + " MiB";
  if (n % 1024 == 0 && n > 0) return std::to_string(n / 1024) + " KiB";
  return std::to_string(n) + " bytes";
}

// ---- the file -----------------------------------------------------------------------------

std::string position(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// Secrets and environment-only settings that a file must not carry: key path -> variable.
const std::map<std::string, std::string>& env_only_keys() {
  static const std::map<std::string, std::string> keys = {
      {"telegram.token", "AULA_TELEGRAM_TOKEN"},
      {"telegram.secret", "AULA_TELEGRAM_SECRET"},
      {"whatsapp.token", "AULA_WHATSAPP_TOKEN"},
      {"whatsapp.app_secret", "AULA_WHATSAPP_APP_SECRET"},
      {"whatsapp.verify_token", "AULA_WHATSAPP_VERIFY_TOKEN"},
      {"twilio.auth_token", "AULA_TWILIO_AUTH_TOKEN"},
      {"admin_tokens", "AULA_ADMIN_TOKENS"},
      {"test_clock", "AULA_TEST_CLOCK"},
      {"metrics.token", "AULA_METRICS_TOKEN"},
  };
  return keys;
}

class file_reader {
 public:
  file_reader(std::string file, app_config& c) : file_(std::move(file)), c_(c) {}

  void read(const YAML::Node& root) {
    if (!root || root.IsNull()) return;  // an empty file: defaults
    if (!root.IsMap()) fail(root.Mark(), "the configuration must be a mapping of keys (server:, redis:, …)");
    using S = const YAML::Node&;
    section(root, "", {
      {"server", [&](S v, const YAML::Mark& m) { server(v, m); }},
      {"public_url", [&](S v, const YAML::Mark& m) { text(v, m, "public_url", c_.public_url, check_http_url); }},
      {"redis", [&](S v, const YAML::Mark& m) { redis(v, m); }},
      {"records_url", [&](S v, const YAML::Mark& m) { text(v, m, "records_url", c_.records_url, check_records_url); }},
      {"flows", [&](S v, const YAML::Mark& m) { text(v, m, "flows", c_.flows, check_nonempty); }},
      {"http_client", [&](S v, const YAML::Mark& m) { http_client(v, m); }},
      {"telegram", [&](S v, const YAML::Mark& m) {
         section(v, "telegram",
                 {{"api", [&](S x, const YAML::Mark& k) { text(x, k, "telegram.api", c_.telegram.api, check_http_url); }},
                  {"bot_username", [&](S x, const YAML::Mark& k) { text(x, k, "telegram.bot_username", c_.telegram.bot_username, {}); }}},
                 m);
       }},
      {"whatsapp", [&](S v, const YAML::Mark& m) {
         section(v, "whatsapp", {
           {"api", [&](S x, const YAML::Mark& k) { text(x, k, "whatsapp.api", c_.whatsapp.api, check_http_url); }},
           {"phone_number_id", [&](S x, const YAML::Mark& k) { text(x, k, "whatsapp.phone_number_id", c_.whatsapp.phone_number_id, nullptr); }},
           {"reengagement_template", [&](S x, const YAML::Mark& k) { text(x, k, "whatsapp.reengagement_template", c_.whatsapp.reengagement_template, check_nonempty); }},
           {"template_language", [&](S x, const YAML::Mark& k) { text(x, k, "whatsapp.template_language", c_.whatsapp.template_language, check_nonempty); }},
           {"mark_read", [&](S x, const YAML::Mark& k) { flag(x, k, "whatsapp.mark_read", c_.whatsapp.mark_read); }},
           {"daily_conversation_cap", [&](S x, const YAML::Mark& k) {
              integer(x, k, "whatsapp.daily_conversation_cap", c_.whatsapp.daily_conversation_cap, 0, 10000000);
            }},
         }, m);
       }},
      {"twilio", [&](S v, const YAML::Mark& m) {
         section(v, "twilio", {
           {"api", [&](S x, const YAML::Mark& k) { text(x, k, "twilio.api", c_.twilio.api, check_http_url); }},
           {"account_sid", [&](S x, const YAML::Mark& k) { text(x, k, "twilio.account_sid", c_.twilio.account_sid, nullptr); }},
           {"from", [&](S x, const YAML::Mark& k) { text(x, k, "twilio.from", c_.twilio.from, nullptr); }},
         }, m);
       }},
      {"ca_file", [&](S v, const YAML::Mark& m) { text(v, m, "ca_file", c_.ca_file, check_optional_ca_file); }},
      {"https_proxy", [&](S v, const YAML::Mark& m) {
         text(v, m, "https_proxy", c_.https_proxy, nullptr);
         c_.https_proxy = normalize_proxy(c_.https_proxy);
         if (c_.https_proxy.empty()) return;
         if (auto e = check_proxy(c_.https_proxy); !e.empty()) fail(value_mark(v, m), "https_proxy: " + e);
         auto u = parse_url(c_.https_proxy);
         if (u && !u->password.empty())
           fail(value_mark(v, m), "https_proxy: a proxy password is a secret: set HTTPS_PROXY in the environment instead");
       }},
      {"default_time_zone", [&](S v, const YAML::Mark& m) { text(v, m, "default_time_zone", c_.default_time_zone, check_time_zone); }},
      {"delivery", [&](S v, const YAML::Mark& m) { delivery(v, m); }},
      {"sms", [&](S v, const YAML::Mark& m) {
         section(v, "sms", {
           {"transliterate", [&](S x, const YAML::Mark& k) { flag(x, k, "sms.transliterate", c_.sms.transliterate); }},
           {"mms", [&](S x, const YAML::Mark& k) { flag(x, k, "sms.mms", c_.sms.mms); }},
         }, m);
       }},
      {"limits", [&](S v, const YAML::Mark& m) {
         section(v, "limits", {
           {"learner_messages_per_minute", [&](S x, const YAML::Mark& k) {
              integer(x, k, "limits.learner_messages_per_minute", c_.limits.learner_messages_per_minute, 0, 100000);
            }},
         }, m);
       }},
      {"webhooks", [&](S v, const YAML::Mark& m) {
         section(v, "webhooks", {
           {"allow_hosts", [&](S x, const YAML::Mark& k) { host_list(x, k, "webhooks.allow_hosts", c_.webhooks.allow_hosts); }},
           {"max_response", [&](S x, const YAML::Mark& k) { size(x, k, "webhooks.max_response", c_.webhooks.max_response); }},
           {"timeout", [&](S x, const YAML::Mark& k) { duration(x, k, "webhooks.timeout", c_.webhooks.timeout); }},
         }, m);
       }},
      {"metrics", [&](S v, const YAML::Mark& m) {
         section(v, "metrics", {
           {"listen", [&](S x, const YAML::Mark& k) { text(x, k, "metrics.listen", c_.metrics.listen, check_optional_listen); }},
         }, m);
       }},
      {"log", [&](S v, const YAML::Mark& m) {
         section(v, "log", {
           {"level", [&](S x, const YAML::Mark& k) { text(x, k, "log.level", c_.logging.level, check_log_level); }},
         }, m);
       }},
      {"privacy", [&](S v, const YAML::Mark& m) {
         section(v, "privacy", {
           {"consent", [&](S x, const YAML::Mark& k) { flag(x, k, "privacy.consent", c_.privacy.consent); }},
           {"notice_version", [&](S x, const YAML::Mark& k) { text(x, k, "privacy.notice_version", c_.privacy.notice_version, check_nonempty); }},
           {"notice_url", [&](S x, const YAML::Mark& k) { text(x, k, "privacy.notice_url", c_.privacy.notice_url, check_optional_url); }},
           {"notice_file", [&](S x, const YAML::Mark& k) { text(x, k, "privacy.notice_file", c_.privacy.notice_file, check_nonempty); }},
         }, m);
       }},
      {"retention", [&](S v, const YAML::Mark& m) {
         auto& r = c_.retention;
         section(v, "retention", {
           {"sessions", [&](S x, const YAML::Mark& k) { kept_for(x, k, "retention.sessions", r.sessions); }},
           {"free_text", [&](S x, const YAML::Mark& k) { kept_for(x, k, "retention.free_text", r.free_text); }},
           {"delivery", [&](S x, const YAML::Mark& k) { kept_for(x, k, "retention.delivery", r.delivery); }},
           {"audit", [&](S x, const YAML::Mark& k) { kept_for(x, k, "retention.audit", r.audit); }},
           {"every", [&](S x, const YAML::Mark& k) { duration(x, k, "retention.every", r.every); }},
         }, m);
         if (r.every < std::chrono::milliseconds(100)) fail(m, "retention.every: at least 100ms");
       }},
      {"quiet_hours", [&](S v, const YAML::Mark& m) {
         section(v, "quiet_hours", {
           {"start", [&](S x, const YAML::Mark& k) { text(x, k, "quiet_hours.start", c_.quiet_hours.start, check_clock); }},
           {"end", [&](S x, const YAML::Mark& k) { text(x, k, "quiet_hours.end", c_.quiet_hours.end, check_clock); }},
         }, m);
       }},
    }, root.Mark());
  }

 private:
  using setter = std::function<void(const YAML::Node& value, const YAML::Mark& key_mark)>;
  using check = std::string (*)(const std::string&);

  static std::string check_nonempty(const std::string& v) { return v.empty() ? "must not be empty" : std::string{}; }
  static std::string check_optional_url(const std::string& v) { return v.empty() ? std::string{} : check_http_url(v); }
  static std::string check_optional_ca_file(const std::string& v) { return v.empty() ? std::string{} : check_ca_file(v); }
  static std::string check_optional_listen(const std::string& v) { return v.empty() ? std::string{} : check_listen(v); }

  [[noreturn]] void fail(const YAML::Mark& m, const std::string& what) const {
    throw config_error(position(file_, m) + ": " + what);
  }

  static YAML::Mark value_mark(const YAML::Node& v, const YAML::Mark& key_mark) {
    return v.Mark().is_null() ? key_mark : v.Mark();
  }

  void section(const YAML::Node& node, const std::string& name, const std::vector<std::pair<std::string, setter>>& keys,
               const YAML::Mark& mark) {
    if (node.IsNull()) return;  // "server:" with nothing under it
    if (!node.IsMap()) fail(value_mark(node, mark), (name.empty() ? "the file" : name) + " must be a mapping of keys");
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: it->first lives in a temporary proxy of the iterator
      if (!k.IsScalar()) fail(k.Mark(), "a key must be a plain word");
      std::string key = k.Scalar();
      std::string full = name.empty() ? key : name + "." + key;
      if (!seen.insert(key).second) fail(k.Mark(), "duplicate key '" + key + "'" + (name.empty() ? "" : " in " + name));
      if (auto env = env_only_keys().find(full); env != env_only_keys().end()) {
        bool secret = env->second != "AULA_TEST_CLOCK";
        fail(k.Mark(), "'" + full + "' " + (secret ? "is a secret and must not be in the file" : "must not be in the file") +
                           ": set the environment variable " + env->second + " instead");
      }
      auto found = std::find_if(keys.begin(), keys.end(), [&](const auto& p) { return p.first == key; });
      if (found == keys.end()) {
        std::vector<std::string> known;
        for (const auto& p : keys) known.push_back(p.first);
        std::string hint = did_you_mean(key, known);
        if (hint.empty()) {
          hint = "known keys: ";
          for (std::size_t i = 0; i < known.size(); ++i) hint += (i ? ", " : "") + known[i];
        }
        fail(k.Mark(), "unknown key '" + key + "' " + (name.empty() ? std::string("at the top level") : "in " + name) +
                           "; " + hint);
      }
      found->second(it->second, k.Mark());
    }
  }

  std::string scalar(const YAML::Node& v, const YAML::Mark& m, const std::string& what) const {
    if (v.IsNull()) return {};
    if (!v.IsScalar()) fail(value_mark(v, m), what + ": expected a single value, not a list or mapping");
    return v.Scalar();
  }

  void text(const YAML::Node& v, const YAML::Mark& m, const std::string& what, std::string& out, check chk) {
    std::string s = trim(scalar(v, m, what));
    if (chk) {
      if (auto e = chk(s); !e.empty()) fail(value_mark(v, m), what + ": " + e);
    }
    out = s;
  }

  template <class Int>
  void integer(const YAML::Node& v, const YAML::Mark& m, const std::string& what, Int& out, long long lo, long long hi) {
    std::string s = scalar(v, m, what);
    long long n = 0;
    if (!parse_int(s, n)) fail(value_mark(v, m), what + ": expected a whole number, got '" + s + "'");
    if (n < lo || n > hi)
      fail(value_mark(v, m), what + ": " + std::to_string(n) + " is out of range (" + std::to_string(lo) + "–" +
                                 std::to_string(hi) + ")");
    out = static_cast<Int>(n);
  }

  void flag(const YAML::Node& v, const YAML::Mark& m, const std::string& what, bool& out) {
    if (!v.IsScalar() || !parse_bool(v.Scalar(), out))
      fail(value_mark(v, m), what + ": expected true or false");
  }

  void duration(const YAML::Node& v, const YAML::Mark& m, const std::string& what, std::chrono::milliseconds& out) {
    std::string s = scalar(v, m, what);
    try {
      out = parse_config_duration(s, what);
    } catch (const config_error& e) {
      fail(value_mark(v, m), e.what());
    }
  }

  // A retention period: a duration, or 0 (kept).
  void kept_for(const YAML::Node& v, const YAML::Mark& m, const std::string& what, std::chrono::milliseconds& out) {
    std::string s = scalar(v, m, what);
    if (s == "0") {
      out = std::chrono::milliseconds(0);
      return;
    }
    duration(v, m, what, out);
  }

  void size(const YAML::Node& v, const YAML::Mark& m, const std::string& what, std::size_t& out) {
    std::string s = scalar(v, m, what);
    try {
      out = parse_config_size(s, what);
    } catch (const config_error& e) {
      fail(value_mark(v, m), e.what());
    }
  }

  // A list of host patterns: host, host:port, [v6]:port, *.domain or *.
  void host_list(const YAML::Node& v, const YAML::Mark& m, const std::string& what, std::vector<std::string>& out) {
    out.clear();
    if (v.IsNull()) return;
    if (!v.IsSequence()) fail(value_mark(v, m), what + ": expected a list of hosts ([api.example.org, \"10.0.0.5:8443\"])");
    for (const auto& item : v) {
      if (!item.IsScalar()) fail(value_mark(item, m), what + ": each entry is one host");
      std::string h = trim(item.Scalar());
      if (h.empty() || h.find_first_of(" /?#@") != std::string::npos)
        fail(value_mark(item, m), what + ": '" + h + "' is not a host or host:port (no scheme, no path)");
      for (auto& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      out.push_back(h);
    }
  }

  void server(const YAML::Node& node, const YAML::Mark& mark) {
    using S = const YAML::Node&;
    auto& s = c_.server;
    section(node, "server", {
      {"listen", [&](S v, const YAML::Mark& m) { text(v, m, "server.listen", s.listen, check_listen); }},
      {"threads", [&](S v, const YAML::Mark& m) { integer(v, m, "server.threads", s.threads, 1, 256); }},
      {"read_timeout", [&](S v, const YAML::Mark& m) { duration(v, m, "server.read_timeout", s.read_timeout); }},
      {"write_timeout", [&](S v, const YAML::Mark& m) { duration(v, m, "server.write_timeout", s.write_timeout); }},
      {"idle_timeout", [&](S v, const YAML::Mark& m) { duration(v, m, "server.idle_timeout", s.idle_timeout); }},
      {"shutdown_grace", [&](S v, const YAML::Mark& m) { duration(v, m, "server.shutdown_grace", s.shutdown_grace); }},
      {"body_limit", [&](S v, const YAML::Mark& m) { size(v, m, "server.body_limit", s.body_limit); }},
      {"header_limit", [&](S v, const YAML::Mark& m) { size(v, m, "server.header_limit", s.header_limit); }},
      {"max_connections", [&](S v, const YAML::Mark& m) { integer(v, m, "server.max_connections", s.max_connections, 1, 1000000); }},
    }, mark);
  }

  void redis(const YAML::Node& node, const YAML::Mark& mark) {
    using S = const YAML::Node&;
    auto& r = c_.redis;
    section(node, "redis", {
      {"url", [&](S v, const YAML::Mark& m) {
         text(v, m, "redis.url", r.url, check_redis_url);
         auto u = parse_url(r.url);
         bool listed = r.url.rfind("redis-sentinel://", 0) == 0 || r.url.rfind("redis-cluster://", 0) == 0;
         if ((u && !u->password.empty()) || (listed && !redis_url_password(r.url).empty()))
           fail(value_mark(v, m), "redis.url: a Redis password is a secret: set AULA_REDIS_URL in the environment instead");
       }},
      {"partitions", [&](S v, const YAML::Mark& m) { integer(v, m, "redis.partitions", r.partitions, 1, 16384); }},
      {"command_timeout", [&](S v, const YAML::Mark& m) { duration(v, m, "redis.command_timeout", r.command_timeout); }},
      {"wait_replicas", [&](S v, const YAML::Mark& m) { integer(v, m, "redis.wait_replicas", r.wait_replicas, 0, 16); }},
      {"wait_timeout", [&](S v, const YAML::Mark& m) { duration(v, m, "redis.wait_timeout", r.wait_timeout); }},
    }, mark);
  }

  void http_client(const YAML::Node& node, const YAML::Mark& mark) {
    using S = const YAML::Node&;
    auto& h = c_.http_client;
    section(node, "http_client", {
      {"connect_timeout", [&](S v, const YAML::Mark& m) { duration(v, m, "http_client.connect_timeout", h.connect_timeout); }},
      {"request_timeout", [&](S v, const YAML::Mark& m) { duration(v, m, "http_client.request_timeout", h.request_timeout); }},
      {"max_idle_per_host", [&](S v, const YAML::Mark& m) { integer(v, m, "http_client.max_idle_per_host", h.max_idle_per_host, 0, 1024); }},
    }, mark);
  }

  void delivery(const YAML::Node& node, const YAML::Mark& mark) {
    using S = const YAML::Node&;
    auto& d = c_.delivery;
    auto pacing = [&](const std::string& channel) {
      return [&, channel](S v, const YAML::Mark& m) {
        auto& pc = d.channels[channel];
        const std::string at = "delivery." + channel;
        section(v, at, {
          {"per_second", [&](S x, const YAML::Mark& k) { integer(x, k, at + ".per_second", pc.per_second, 1, 100000); }},
          {"chat_burst", [&](S x, const YAML::Mark& k) { integer(x, k, at + ".chat_burst", pc.chat_burst, 1, 1000); }},
          {"chat_interval", [&](S x, const YAML::Mark& k) { duration(x, k, at + ".chat_interval", pc.chat_interval); }},
        }, m);
      };
    };
    section(node, "delivery", {
      {"lease_ttl", [&](S v, const YAML::Mark& m) { duration(v, m, "delivery.lease_ttl", d.lease_ttl); }},
      {"poll", [&](S v, const YAML::Mark& m) { duration(v, m, "delivery.poll", d.poll); }},
      {"max_attempts", [&](S v, const YAML::Mark& m) { integer(v, m, "delivery.max_attempts", d.max_attempts, 1, 100); }},
      {"retry_base", [&](S v, const YAML::Mark& m) { duration(v, m, "delivery.retry_base", d.retry_base); }},
      {"retry_max", [&](S v, const YAML::Mark& m) { duration(v, m, "delivery.retry_max", d.retry_max); }},
      {"learner_queue", [&](S v, const YAML::Mark& m) { integer(v, m, "delivery.learner_queue", d.learner_queue, 1, 100000); }},
      {"concurrency", [&](S v, const YAML::Mark& m) { integer(v, m, "delivery.concurrency", d.concurrency, 1, 100000); }},
      {"backlog", [&](S v, const YAML::Mark& m) { integer(v, m, "delivery.backlog", d.backlog, 0, 10000000); }},
      {"timer_batch", [&](S v, const YAML::Mark& m) { integer(v, m, "delivery.timer_batch", d.timer_batch, 1, 100000); }},
      {"timer_hold", [&](S v, const YAML::Mark& m) { duration(v, m, "delivery.timer_hold", d.timer_hold); }},
      {"telegram", pacing("telegram")},
      {"whatsapp", pacing("whatsapp")},
      {"sms", pacing("sms")},
    }, mark);
    if (d.lease_ttl < std::chrono::milliseconds(100))
      fail(mark, "delivery.lease_ttl: at least 100ms (it is renewed every third of it)");
  }

  std::string file_;
  app_config& c_;
};

// ---- the environment ----------------------------------------------------------------------

struct env_var {
  const char* name;
  std::function<void(app_config&, const std::string&)> apply;  // throws config_error (no prefix)
};

void must(const std::string& err) {
  if (!err.empty()) throw config_error(err);
}

const std::vector<env_var>& env_vars() {
  static const std::vector<env_var> vars = {
      {"AULA_CONFIG", [](app_config&, const std::string&) {}},  // read before the file
      {"AULA_LISTEN", [](app_config& c, const std::string& v) { must(check_listen(v)); c.server.listen = v; }},
      {"AULA_PUBLIC_URL", [](app_config& c, const std::string& v) { must(check_http_url(v)); c.public_url = v; }},
      {"AULA_REDIS_URL", [](app_config& c, const std::string& v) { must(check_redis_url(v)); c.redis.url = v; }},
      {"AULA_RECORDS_URL", [](app_config& c, const std::string& v) { must(check_records_url(v)); c.records_url = v; }},
      {"AULA_FLOWS", [](app_config& c, const std::string& v) { c.flows = v; }},
      {"AULA_TELEGRAM_TOKEN", [](app_config& c, const std::string& v) { c.telegram.token = v; }},
      {"AULA_TELEGRAM_SECRET", [](app_config& c, const std::string& v) { c.telegram.secret = v; }},
      {"AULA_TELEGRAM_API", [](app_config& c, const std::string& v) { must(check_http_url(v)); c.telegram.api = v; }},
      {"AULA_WHATSAPP_TOKEN", [](app_config& c, const std::string& v) { c.whatsapp.token = v; }},
      {"AULA_WHATSAPP_APP_SECRET", [](app_config& c, const std::string& v) { c.whatsapp.app_secret = v; }},
      {"AULA_WHATSAPP_VERIFY_TOKEN", [](app_config& c, const std::string& v) { c.whatsapp.verify_token = v; }},
      {"AULA_WHATSAPP_PHONE_NUMBER_ID", [](app_config& c, const std::string& v) { c.whatsapp.phone_number_id = v; }},
      {"AULA_WHATSAPP_API", [](app_config& c, const std::string& v) { must(check_http_url(v)); c.whatsapp.api = v; }},
      {"AULA_TWILIO_ACCOUNT_SID", [](app_config& c, const std::string& v) { c.twilio.account_sid = v; }},
      {"AULA_TWILIO_AUTH_TOKEN", [](app_config& c, const std::string& v) { c.twilio.auth_token = v; }},
      {"AULA_TWILIO_FROM", [](app_config& c, const std::string& v) { c.twilio.from = v; }},
      {"AULA_TWILIO_API", [](app_config& c, const std::string& v) { must(check_http_url(v)); c.twilio.api = v; }},
      {"AULA_ADMIN_TOKENS", [](app_config& c, const std::string& v) { c.admin_tokens = parse_admin_tokens(v); }},
      {"AULA_CA_FILE", [](app_config& c, const std::string& v) { must(check_ca_file(v)); c.ca_file = v; }},
      {"HTTPS_PROXY", [](app_config& c, const std::string& v) {
         auto p = normalize_proxy(v);
         must(check_proxy(p));
         c.https_proxy = p;
       }},
      {"AULA_METRICS_LISTEN", [](app_config& c, const std::string& v) { must(check_listen(v)); c.metrics.listen = v; }},
      {"AULA_METRICS_TOKEN", [](app_config& c, const std::string& v) { c.metrics.token = v; }},
      {"AULA_LOG_LEVEL", [](app_config& c, const std::string& v) { must(check_log_level(v)); c.logging.level = v; }},
      {"AULA_TEST_CLOCK", [](app_config& c, const std::string& v) {
         if (!parse_bool(v, c.test_clock)) throw config_error("'" + v + "' is not 1 or 0");
       }},
  };
  return vars;
}

std::string strip_trailing_slash(std::string url) {
  while (url.size() > 1 && url.back() == '/' && url.find("://") != std::string::npos &&
         url.size() > url.find("://") + 3)
    url.pop_back();
  return url;
}

}  // namespace

// ---- public -------------------------------------------------------------------------------

listen_address parse_listen(const std::string& text) {
  std::string t = trim(text);
  listen_address out;
  std::string port;
  if (!t.empty() && t.front() == '[') {
    auto close = t.find(']');
    if (close == std::string::npos || close + 1 >= t.size() || t[close + 1] != ':')
      throw config_error("'" + text + "' is not address:port (an IPv6 address goes in brackets: [::1]:8080)");
    out.host = t.substr(1, close - 1);
    port = t.substr(close + 2);
  } else {
    auto colon = t.rfind(':');
    if (colon == std::string::npos) throw config_error("'" + text + "' is not address:port (e.g. 127.0.0.1:8080)");
    if (t.find(':') != colon)
      throw config_error("'" + text + "': an IPv6 address goes in brackets ([::1]:8080)");
    out.host = t.substr(0, colon);
    port = t.substr(colon + 1);
  }
  if (out.host.empty()) out.host = "0.0.0.0";
  unsigned value = 0;
  if (!parse_int(port, value) || value > 65535) throw config_error("'" + text + "': bad port '" + port + "'");
  out.port = static_cast<unsigned short>(value);
  return out;
}

std::vector<admin_token> parse_admin_tokens(const std::string& text) {
  std::vector<admin_token> out;
  std::stringstream ss(text);
  std::string item;
  std::set<std::string> seen;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    auto colon = item.find(':');
    if (colon == std::string::npos)
      throw config_error("an entry is not role:token (roles: admin, facilitator); expected 'admin:<token>,…'");
    admin_token t{lower(trim(item.substr(0, colon))), trim(item.substr(colon + 1))};
    if (t.role != "admin" && t.role != "facilitator")
      throw config_error("unknown role '" + t.role + "' (roles: admin, facilitator)");
    if (t.token.empty()) throw config_error("the " + t.role + " entry has an empty token");
    if (std::any_of(t.token.begin(), t.token.end(), [](unsigned char c) { return std::isspace(c); }))
      throw config_error("a " + t.role + " token contains spaces");
    if (!seen.insert(t.token).second) throw config_error("the same token is listed twice");
    out.push_back(std::move(t));
  }
  return out;
}

std::chrono::milliseconds parse_config_duration(const std::string& text, const std::string& what) {
  std::string t = lower(trim(text));
  auto bad = [&]() -> config_error {
    return config_error(what + ": '" + text + "' is not a duration (e.g. 250ms, 15s, 2m, 1h)");
  };
  if (t.empty()) throw bad();
  long long n = 0;
  std::int64_t ms = 0;
  if (parse_int(t, n)) {
    ms = n * 1000;  // a bare number: seconds
  } else if (t.size() > 2 && t.compare(t.size() - 2, 2, "ms") == 0 && parse_int(t.substr(0, t.size() - 2), n)) {
    ms = n;
  } else if (auto d = parse_duration(t)) {
    ms = *d;
  } else {
    throw bad();
  }
  if (ms <= 0) throw config_error(what + ": '" + text + "' must be more than zero");
  return std::chrono::milliseconds(ms);
}

std::size_t parse_config_size(const std::string& text, const std::string& what) {
  std::string t = lower(trim(text));
  std::size_t mult = 1;
  for (auto [suffix, m] : std::initializer_list<std::pair<const char*, std::size_t>>{
           {"kib", 1024}, {"mib", 1024 * 1024}, {"kb", 1024}, {"mb", 1024 * 1024}, {"k", 1024}, {"m", 1024 * 1024},
           {"b", 1}}) {
    std::string s = suffix;
    if (t.size() > s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0) {
      mult = m;
      t = trim(t.substr(0, t.size() - s.size()));
      break;
    }
  }
  unsigned long long n = 0;
  if (!parse_int(t, n) || n == 0)
    throw config_error(what + ": '" + text + "' is not a size (e.g. 262144, 256KiB, 1MiB)");
  return static_cast<std::size_t>(n * mult);
}

std::string mask_url(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  auto auth_begin = scheme_end + 3;
  auto auth_end = url.find_first_of("/?#", auth_begin);
  if (auth_end == std::string::npos) auth_end = url.size();
  auto at = url.rfind('@', auth_end);
  if (at == std::string::npos || at < auth_begin) return url;
  auto colon = url.find(':', auth_begin);
  if (colon == std::string::npos || colon > at) return url;  // a user name only
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

const std::vector<std::string>& config_variables() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& e : env_vars()) v.push_back(e.name);
    return v;
  }();
  return names;
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string k = kv.substr(0, eq);
    if (k.rfind("AULA_", 0) == 0 || k == "HTTPS_PROXY" || k == "https_proxy") out[k] = kv.substr(eq + 1);
  }
  return out;
}

app_config load_config(const std::string& path, const std::map<std::string, std::string>& env) {
  app_config c;
  auto get = [&env](const std::string& k) -> std::string {
    auto it = env.find(k);
    return it == env.end() ? std::string{} : it->second;
  };

  // The file.
  std::string file = get("AULA_CONFIG");
  bool named = !file.empty();
  if (!named) file = path.empty() ? default_config_path : path;
  bool required = named || (file != default_config_path);
  c.config_file = file;
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) {
    if (std::filesystem::is_directory(file, ec)) throw config_error(file + ": is a folder, not a configuration file");
    YAML::Node root;
    try {
      root = YAML::LoadFile(file);
    } catch (const YAML::BadFile&) {
      throw config_error(file + ": cannot be read");
    } catch (const YAML::ParserException& e) {
      throw config_error(position(file, e.mark) + ": " + e.msg);
    }
    c.config_file_found = true;
    file_reader(file, c).read(root);
  } else if (required) {
    throw config_error(file + ": configuration file not found" +
                       std::string(named ? " (named by AULA_CONFIG)" : ""));
  }

  // The environment, in the table's order. An empty variable counts as unset.
  for (const auto& var : env_vars()) {
    std::string v = get(var.name);
    if (std::string(var.name) == "HTTPS_PROXY" && v.empty()) v = get("https_proxy");
    if (v.empty()) continue;
    try {
      var.apply(c, v);
    } catch (const config_error& e) {
      throw config_error(std::string(var.name) + ": " + e.what());
    }
  }
  for (const auto& [k, v] : env) {
    (void)v;
    if (k.rfind("AULA_", 0) != 0) continue;
    const auto& known = config_variables();
    if (std::find(known.begin(), known.end(), k) != known.end() || k == "AULA_SOURCE_DIR") continue;
    std::string hint = did_you_mean(k, known);
    c.warnings.push_back("environment variable " + k + " is not a setting of aula" + (hint.empty() ? "" : "; " + hint));
  }

  c.public_url = strip_trailing_slash(c.public_url);
  for (auto* api : {&c.telegram.api, &c.whatsapp.api, &c.twilio.api}) *api = strip_trailing_slash(*api);

  // Secrets never reach a log line, whoever logs them.
  for (const auto* s : {&c.telegram.token, &c.telegram.secret, &c.whatsapp.token, &c.whatsapp.app_secret,
                        &c.whatsapp.verify_token, &c.twilio.auth_token, &c.metrics.token})
    log::add_secret(*s);
  for (const auto& t : c.admin_tokens) log::add_secret(t.token);
  for (const auto* u : {&c.https_proxy, &c.redis.url, &c.records_url}) {
    if (auto p = parse_url(*u); p && !p->password.empty()) log::add_secret(p->password);
  }
  // redis-sentinel:// and redis-cluster:// list several hosts: the Redis client's own parser.
  if (auto pw = redis_url_password(c.redis.url); !pw.empty()) log::add_secret(pw);
  return c;
}

std::string describe(const app_config& c) {
  std::ostringstream o;
  o << "configuration: " << c.config_file << (c.config_file_found ? "" : " (not found: defaults)") << "\n";
  const auto& s = c.server;
  o << "server: listen " << s.listen << ", " << s.threads << " thread" << (s.threads == 1 ? "" : "s") << ", read timeout "
    << format_ms(s.read_timeout) << ", write timeout " << format_ms(s.write_timeout) << ", idle timeout "
    << format_ms(s.idle_timeout) << ", shutdown grace " << format_ms(s.shutdown_grace) << ", body limit "
    << format_size(s.body_limit) << ", header limit " << format_size(s.header_limit) << ", max "
    << s.max_connections << " connections\n";
  o << "public_url: " << mask_url(c.public_url) << "\n";
  o << "redis: " << mask_url(c.redis.url) << ", " << c.redis.partitions << " partitions, command timeout "
    << format_ms(c.redis.command_timeout)
    << (c.redis.wait_replicas > 0 ? ", WAIT " + std::to_string(c.redis.wait_replicas) + " replica(s) up to " +
                                        format_ms(c.redis.wait_timeout) + " after each commit"
                                  : std::string())
    << "\n";
  o << "records: " << mask_url(c.records_url) << "\n";
  o << "flows: " << c.flows << "\n";
  o << "outbound http: connect timeout " << format_ms(c.http_client.connect_timeout) << ", request timeout "
    << format_ms(c.http_client.request_timeout) << ", " << c.http_client.max_idle_per_host
    << " idle connections per host, CA: system store" << (c.ca_file.empty() ? "" : " + " + c.ca_file)
    << ", proxy: " << (c.https_proxy.empty() ? "none" : mask_url(c.https_proxy)) << "\n";

  auto channel = [&o](const char* name, bool enabled, const std::string& api,
                      std::vector<std::pair<const char*, const std::string*>> secrets,
                      std::vector<std::pair<const char*, std::string>> plain) {
    o << name << ": " << (enabled ? "enabled" : "disabled");
    std::vector<std::string> missing;
    for (const auto& [var, v] : secrets)
      if (v->empty()) missing.push_back(var);
    if (!enabled && !missing.empty()) {
      o << " (not set:";
      for (const auto& m : missing) o << " " << m;
      o << ")";
    }
    o << ", api " << api;
    for (const auto& [var, v] : secrets) o << ", " << var << " " << log::mask_secret(*v);
    for (const auto& [label, v] : plain) o << ", " << label << " " << (v.empty() ? "(not set)" : v);
    o << "\n";
  };
  channel("telegram", c.telegram.enabled(), c.telegram.api,
          {{"AULA_TELEGRAM_TOKEN", &c.telegram.token}, {"AULA_TELEGRAM_SECRET", &c.telegram.secret}}, {});
  channel("whatsapp", c.whatsapp.enabled(), c.whatsapp.api,
          {{"AULA_WHATSAPP_TOKEN", &c.whatsapp.token},
           {"AULA_WHATSAPP_APP_SECRET", &c.whatsapp.app_secret},
           {"AULA_WHATSAPP_VERIFY_TOKEN", &c.whatsapp.verify_token},
           {"AULA_WHATSAPP_PHONE_NUMBER_ID", &c.whatsapp.phone_number_id}},
          {});
  channel("twilio", c.twilio.enabled(), c.twilio.api,
          {{"AULA_TWILIO_ACCOUNT_SID", &c.twilio.account_sid}, {"AULA_TWILIO_AUTH_TOKEN", &c.twilio.auth_token},
           {"AULA_TWILIO_FROM", &c.twilio.from}},
          {});
  int admins = 0, facilitators = 0;
  for (const auto& t : c.admin_tokens) (t.role == "admin" ? admins : facilitators) += 1;
  o << "admin tokens: " << admins << " admin, " << facilitators << " facilitator\n";
  o << "delivery: lease " << format_ms(c.delivery.lease_ttl) << ", poll " << format_ms(c.delivery.poll) << ", "
    << c.delivery.max_attempts << " attempts, retry " << format_ms(c.delivery.retry_base) << ".."
    << format_ms(c.delivery.retry_max) << ", " << c.delivery.concurrency << " calls in flight\n";
  o << "time: default zone " << c.default_time_zone << ", quiet hours " << c.quiet_hours.start << "-"
    << c.quiet_hours.end << "\n";
  o << "limits: " << c.limits.learner_messages_per_minute << " messages per learner per minute (0 = none)\n";
  o << "webhook nodes: allow";
  if (c.webhooks.allow_hosts.empty()) o << " no host";
  for (const auto& h : c.webhooks.allow_hosts) o << " " << h;
  o << ", answers up to " << c.webhooks.max_response << " bytes within " << format_ms(c.webhooks.timeout) << "\n";
  o << "metrics: " << (c.metrics.listen.empty() ? "on the main listener" : "on " + c.metrics.listen + " only")
    << ", AULA_METRICS_TOKEN " << log::mask_secret(c.metrics.token) << "\n";
  o << "log level: " << c.logging.level << "\n";
  auto kept = [](std::chrono::milliseconds d) { return d.count() > 0 ? format_ms(d) : std::string("kept"); };
  o << "retention: sessions " << kept(c.retention.sessions) << ", free text " << kept(c.retention.free_text)
    << ", delivery " << kept(c.retention.delivery) << ", audit " << kept(c.retention.audit) << "\n";
  o << "test clock: " << (c.test_clock ? "ON (POST /admin/test/clock exists; tests only)" : "off") << "\n";
  for (const auto& w : c.warnings) o << "warning: " << w << "\n";
  return o.str();
}

std::vector<std::string> secrets_of(const app_config& c) {
  std::vector<std::string> out;
  for (const auto* s : {&c.telegram.token, &c.telegram.secret, &c.whatsapp.token, &c.whatsapp.app_secret,
                        &c.whatsapp.verify_token, &c.twilio.auth_token, &c.metrics.token})
    if (!s->empty()) out.push_back(*s);
  for (const auto& t : c.admin_tokens)
    if (!t.token.empty()) out.push_back(t.token);
  return out;
}

}  // namespace aula
