// aula's configuration: plain aggregates with defaults, read from config/aula.yaml and then
// overridden by the environment (DESIGN.md, "Interfaces that users and operators rely on").
// Secrets (tokens, app secrets, admin tokens) come only from the environment: a file that
// names one is rejected with the variable to use instead. Unknown keys are errors with
// file:line:col and a "did you mean" hint. No Asio/Beast here.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace aula {

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct server_config {
  std::string listen = "127.0.0.1:8080";  // AULA_LISTEN; "host:port", "[::1]:8080", ":8080" (all interfaces)
  int threads = 2;                         // threads running the io_context
  std::chrono::milliseconds read_timeout{15000};   // a whole request, from its first byte
  std::chrono::milliseconds write_timeout{15000};  // a whole response
  std::chrono::milliseconds idle_timeout{60000};   // keep-alive wait for the next request
  std::chrono::milliseconds shutdown_grace{10000};  // SIGTERM: time for requests in flight
  std::size_t body_limit = 256 * 1024;
  std::size_t header_limit = 16 * 1024;
  std::size_t max_connections = 1024;
  bool operator==(const server_config&) const = default;
};

struct redis_config {
  std::string url = "redis://127.0.0.1:6379/0";  // AULA_REDIS_URL; or unix://, redis-sentinel://, redis-cluster://
  int partitions = 64;  // fixed at first start (stored in Redis); aula refuses another
  std::chrono::milliseconds command_timeout{2000};
  // WAIT for this many replicas after each commit (0 = no); wait_timeout bounds the wait.
  // docs/REDIS.md: what it closes (a failover losing acknowledged steps) and what it costs.
  int wait_replicas = 0;
  std::chrono::milliseconds wait_timeout{100};
  bool operator==(const redis_config&) const = default;
};

// Outbound HTTP(S) to provider APIs.
struct http_client_config {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};  // the whole call: connect, TLS, write, read
  std::size_t max_idle_per_host = 64;                // kept-alive connections per host:port (≥ delivery.concurrency)
  bool operator==(const http_client_config&) const = default;
};

struct telegram_config {
  std::string token;   // AULA_TELEGRAM_TOKEN (secret)
  std::string secret;  // AULA_TELEGRAM_SECRET (secret): the webhook's secret token
  std::string api = "https://api.telegram.org";  // AULA_TELEGRAM_API
  // The bot's @username without the @ (enrolment deep links t.me/<bot_username>?start=…).
  std::string bot_username;
  bool enabled() const { return !token.empty() && !secret.empty(); }
  bool operator==(const telegram_config&) const = default;
};

struct whatsapp_config {
  std::string token;         // AULA_WHATSAPP_TOKEN (secret)
  std::string app_secret;    // AULA_WHATSAPP_APP_SECRET (secret)
  std::string verify_token;  // AULA_WHATSAPP_VERIFY_TOKEN (secret)
  std::string phone_number_id;  // AULA_WHATSAPP_PHONE_NUMBER_ID
  std::string api = "https://graph.facebook.com/v21.0";  // AULA_WHATSAPP_API
  std::string reengagement_template = "aula_continuar";   // sent outside the 24-hour window
  std::string template_language = "es_MX";
  bool mark_read = false;  // mark each inbound message read
  // The account's messaging tier: new business-initiated conversations (templates outside the
  // window) per rolling 24 h; 0 = no cap. Beyond it messages wait, held with the reason.
  int daily_conversation_cap = 250;
  bool enabled() const {
    return !token.empty() && !app_secret.empty() && !verify_token.empty() && !phone_number_id.empty();
  }
  bool operator==(const whatsapp_config&) const = default;
};

struct twilio_config {
  std::string account_sid;  // AULA_TWILIO_ACCOUNT_SID
  std::string auth_token;   // AULA_TWILIO_AUTH_TOKEN (secret)
  std::string from;         // AULA_TWILIO_FROM: sender number or messaging service sid
  std::string api = "https://api.twilio.com";  // AULA_TWILIO_API
  bool enabled() const { return !account_sid.empty() && !auth_token.empty() && !from.empty(); }
  bool operator==(const twilio_config&) const = default;
};

// SMS (through Twilio) rendering.
struct sms_config {
  bool transliterate = false;  // keep Spanish in GSM-7 (á→a …; é ñ ¿ ¡ kept; emoji dropped): cheaper
  bool mms = false;            // attachments as MMS (US/Canada only); off: a link in the text
  bool operator==(const sms_config&) const = default;
};

struct admin_token {
  std::string role;   // "admin" | "facilitator"
  std::string token;  // secret
  bool operator==(const admin_token&) const = default;
};

struct quiet_hours_config {
  std::string start = "21:00";  // local time of the learner; unsolicited messages wait
  std::string end = "08:00";
  bool operator==(const quiet_hours_config&) const = default;
};

// Sending pace of one channel (see bot/delivery/delivery.hpp).
struct pacing_config {
  int per_second = 0;                     // the channel's sustained rate; 0 = aula's default for it
  int chat_burst = 0;                     // messages one learner may get at once; 0 = default
  std::chrono::milliseconds chat_interval{0};  // then one per interval; 0 = default
  bool operator==(const pacing_config&) const = default;
};

// The sender and scheduler (DESIGN.md §4–5).
struct delivery_config {
  std::chrono::milliseconds lease_ttl{10000};   // a partition's lease lapses this long after its holder stops
  std::chrono::milliseconds poll{250};          // how often other instances' commits and due timers are looked for
  int max_attempts = 6;                         // sends of one message before it is a dead letter
  std::chrono::milliseconds retry_base{1000};   // first retry delay (doubles, ±50% jitter)
  std::chrono::milliseconds retry_max{300000};  // longest retry delay
  std::size_t learner_queue = 100;              // messages held in memory per learner
  std::size_t concurrency = 64;                 // provider calls in flight per instance
  std::size_t backlog = 2000;                   // messages read and not yet sent above which webhooks wait (0 = off)
  std::size_t timer_batch = 500;                // timers claimed per partition per tick
  std::chrono::milliseconds timer_hold{30000};  // a claimed timer not handed over comes back after this
  std::map<std::string, pacing_config> channels = {  // the providers' published limits
      {"telegram", {30, 3, std::chrono::milliseconds(1000)}},   // ≈1 msg/s per chat, ≈30/s overall
      {"whatsapp", {80, 5, std::chrono::milliseconds(6000)}},   // 80 mps; pair limit ≈1 per 6 s
      {"sms", {10, 3, std::chrono::milliseconds(1000)}}};
  bool operator==(const delivery_config&) const = default;
};

// Flood control: what one learner may send (DESIGN.md §abuse).
struct limits_config {
  // Messages (texts and taps) one learner may send per minute; beyond it they are recorded as
  // `rate_limited` and dropped without running the flow, and the learner is told once per
  // minute. 0 = no limit.
  int learner_messages_per_minute = 30;
  bool operator==(const limits_config&) const = default;
};

// Where a flow's `webhook` node may call, and how much of an answer it takes.
struct webhooks_config {
  // Hosts a webhook node may reach: "host" (any port) or "host:port" ("[::1]:8080" for IPv6),
  // "*.example.org" for its subdomains, "*" for any host whose addresses are all public. A
  // host that is not listed, or matched only by "*" and resolving to a private, loopback or
  // link-local address, is refused (the node's failure exit).
  std::vector<std::string> allow_hosts = {"*"};
  std::size_t max_response = 64 * 1024;       // larger answers are failures
  std::chrono::milliseconds timeout{10000};   // the whole call; then the node's timeout exit
  bool operator==(const webhooks_config&) const = default;
};

// GET /metrics (Prometheus). With a token, /metrics answers 401 without "Authorization: Bearer
// <token>"; with its own listen address it is served only there (with /healthz), not on the
// main listener.
struct metrics_config {
  std::string listen;  // AULA_METRICS_LISTEN: "127.0.0.1:9464"; "" = on the main listener
  std::string token;   // AULA_METRICS_TOKEN (secret); "" = none
  bool operator==(const metrics_config&) const = default;
};

// Log lines (JSON on stderr; under systemd each line starts with its syslog priority <N>).
struct log_config {
  std::string level = "info";  // AULA_LOG_LEVEL: debug | info | warn | error; changed at run time
                               // by POST /admin/log-level
  bool operator==(const log_config&) const = default;
};

// The privacy notice (aviso de privacidad) and the learner's consent before their first flow.
struct privacy_config {
  bool consent = true;            // ask before a learner's first flow; false: never ask
  std::string notice_version = "2026-11";  // recorded with each decision; change it with the notice
  // Where learners read the notice; empty = <public_url>/privacidad (aula serves it).
  std::string notice_url;
  // The notice's text, Markdown-like (# titles, - lists, paragraphs), one file per language:
  // <notice_file>.es.md and <notice_file>.en.md, rendered at GET /privacidad (?lang=en).
  std::string notice_file = "config/aviso-de-privacidad";
  bool operator==(const privacy_config&) const = default;
};

// How long each class of personal data is kept (0 = kept until erased). The retention job runs
// every `every` on one instance at a time, on aula's clock (bot/service/privacy.hpp).
struct retention_config {
  std::chrono::milliseconds sessions{0};   // a session idle this long is removed from Redis
  std::chrono::milliseconds free_text{0};  // typed answers older than this are blanked in the record store
  std::chrono::milliseconds delivery{0};   // sent / delivery / dead-letter records older than this are deleted
  std::chrono::milliseconds audit{0};      // audit entries (and staff records) older than this are deleted
  std::chrono::milliseconds every{3600000};
  bool operator==(const retention_config&) const = default;
};

struct app_config {
  server_config server;
  std::string public_url = "http://127.0.0.1:8080";  // AULA_PUBLIC_URL
  redis_config redis;
  std::string records_url = "sqlite://var/records.db";  // AULA_RECORDS_URL
  std::string flows = "flows";                           // AULA_FLOWS
  http_client_config http_client;
  telegram_config telegram;
  whatsapp_config whatsapp;
  twilio_config twilio;
  sms_config sms;
  std::vector<admin_token> admin_tokens;  // AULA_ADMIN_TOKENS ("role:token,…")
  std::string ca_file;      // AULA_CA_FILE: extra CA bundle for outbound TLS ("" = system store only)
  std::string https_proxy;  // HTTPS_PROXY (or https_proxy): "http://[user:pass@]host:port"
  bool test_clock = false;  // AULA_TEST_CLOCK=1: POST /admin/test/clock exists
  std::string default_time_zone = "America/Mexico_City";
  quiet_hours_config quiet_hours;
  delivery_config delivery;
  limits_config limits;
  webhooks_config webhooks;
  metrics_config metrics;
  log_config logging;  // the file's `log:` section
  privacy_config privacy;
  retention_config retention;

  // Where the values came from (for the start-up log); not settings.
  std::string config_file;          // the path read, or looked for
  bool config_file_found = false;
  std::vector<std::string> warnings;  // e.g. an AULA_ variable nobody reads (a typo?)

  bool operator==(const app_config&) const = default;
};

inline constexpr const char* default_config_path = "config/aula.yaml";

// Reads the file (AULA_CONFIG from `env` if set, else `path`), then applies `env`. A missing
// file is fine only at the default path (config/aula.yaml) with AULA_CONFIG unset: defaults
// apply. Throws config_error ("file:line:col: …" for file problems, "AULA_X: …" for variables).
// An empty variable counts as unset.
app_config load_config(const std::string& path, const std::map<std::string, std::string>& env);

// The process environment's AULA_* variables and HTTPS_PROXY / https_proxy, for load_config.
std::map<std::string, std::string> current_environment();

// Every environment variable load_config reads (DESIGN.md's table, in its order).
const std::vector<std::string>& config_variables();

// A multi-line summary for the start-up log: every setting, secrets shown only as
// "(set)"/"(not set)", passwords in URLs masked, channels enabled or disabled (and why).
std::string describe(const app_config& c);

// Every secret the configuration holds (channel tokens and secrets, admin tokens) that is
// set, so logs and command output can redact them.
std::vector<std::string> secrets_of(const app_config& c);

// "127.0.0.1:8080" -> {"127.0.0.1", 8080}; "[::1]:80" -> {"::1", 80}; ":8080" -> {"0.0.0.0", 8080}.
// Throws config_error.
struct listen_address {
  std::string host;
  unsigned short port = 0;
};
listen_address parse_listen(const std::string& text);

// "role:token,role:token" -> tokens; throws config_error for an unknown role or an empty token.
std::vector<admin_token> parse_admin_tokens(const std::string& text);

// "15s", "250ms", "2m", "1h", "1h30m" (or a bare number of seconds) -> milliseconds; throws
// config_error naming `what`.
std::chrono::milliseconds parse_config_duration(const std::string& text, const std::string& what);
// "262144", "256KiB", "256k", "1MiB", "1m" -> bytes; throws config_error naming `what`.
std::size_t parse_config_size(const std::string& text, const std::string& what);

// A URL with the password of its userinfo replaced by "***", for logs.
std::string mask_url(const std::string& url);

}  // namespace aula
