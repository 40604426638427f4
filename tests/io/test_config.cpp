#include "bot/config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include <catch2/catch.hpp>

using namespace aula;
using env_map = std::map<std::string, std::string>;

namespace {

struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/aula-config-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::string path;
};

// The error load_config throws, or "" when it does not.
std::string load_error(const std::string& path, const env_map& env = {}) {
  try {
    load_config(path, env);
  } catch (const config_error& e) {
    return e.what();
  }
  return {};
}

app_config settings_only(app_config c) {
  c.config_file.clear();
  c.config_file_found = false;
  c.warnings.clear();
  return c;
}

std::string source_dir() {
  const char* d = std::getenv("AULA_SOURCE_DIR");
  return d ? d : AULA_SOURCE_DIR;
}

}  // namespace

TEST_CASE("config defaults match DESIGN.md") {
  app_config c;
  CHECK(c.server.listen == "127.0.0.1:8080");
  CHECK(c.server.threads == 2);
  CHECK(c.server.read_timeout == std::chrono::seconds(15));
  CHECK(c.server.body_limit == 256 * 1024);
  CHECK(c.public_url == "http://127.0.0.1:8080");
  CHECK(c.redis.url == "redis://127.0.0.1:6379/0");
  CHECK(c.redis.partitions == 64);
  CHECK(c.records_url == "sqlite://var/records.db");
  CHECK(c.flows == "flows");
  CHECK(c.telegram.api == "https://api.telegram.org");
  CHECK(c.whatsapp.api == "https://graph.facebook.com/v21.0");
  CHECK(c.twilio.api == "https://api.twilio.com");
  CHECK(c.http_client.connect_timeout == std::chrono::seconds(5));
  CHECK(c.http_client.request_timeout == std::chrono::seconds(10));
  CHECK(c.default_time_zone == "America/Mexico_City");
  CHECK(c.quiet_hours.start == "21:00");
  CHECK(c.quiet_hours.end == "08:00");
  CHECK_FALSE(c.test_clock);
  CHECK_FALSE(c.telegram.enabled());
  CHECK_FALSE(c.whatsapp.enabled());
  CHECK_FALSE(c.twilio.enabled());
}

TEST_CASE("config without a file at the default path is the defaults") {
  temp_dir d;
  auto old = std::filesystem::current_path();
  std::filesystem::current_path(d.path);
  app_config c;
  std::string err;
  try {
    c = load_config(default_config_path, {});
  } catch (const std::exception& e) {
    err = e.what();
  }
  std::filesystem::current_path(old);
  CHECK(err.empty());
  CHECK_FALSE(c.config_file_found);
  CHECK(c.config_file == "config/aula.yaml");
  CHECK(settings_only(c) == app_config{});
}

TEST_CASE("config a missing file named explicitly is an error") {
  temp_dir d;
  CHECK_THAT(load_error("config/aula.yaml", {{"AULA_CONFIG", d.path + "/nope.yaml"}}),
             Catch::Contains("nope.yaml: configuration file not found (named by AULA_CONFIG)"));
  CHECK_THAT(load_error(d.path + "/other.yaml"), Catch::Contains("other.yaml: configuration file not found"));
}

TEST_CASE("config the shipped example is exactly the defaults") {
  auto path = source_dir() + "/config/aula.yaml";
  auto c = load_config(path, {});
  CHECK(c.config_file_found);
  CHECK(settings_only(c) == app_config{});
}

TEST_CASE("config values come from the file") {
  temp_dir d;
  auto f = d.write("aula.yaml", R"(
server:
  listen: 0.0.0.0:9090
  threads: 4
  read_timeout: 500ms
  idle_timeout: 2m
  body_limit: 1MiB
  max_connections: 10
public_url: https://aula.example.org/
redis:
  url: unix:///run/redis.sock
  partitions: 128
  command_timeout: 3
records_url: postgresql://aula@db/aula
flows: /srv/flows
http_client:
  request_timeout: 20s
  max_idle_per_host: 1
telegram:
  api: http://127.0.0.1:9001
whatsapp:
  phone_number_id: "1234567890"
twilio:
  account_sid: AC123
  from: "+15005550006"
default_time_zone: America/Cancun
quiet_hours:
  start: "22:30"
  end: "07:00"
)");
  auto c = load_config(f, {});
  CHECK(c.config_file_found);
  CHECK(c.server.listen == "0.0.0.0:9090");
  CHECK(c.server.threads == 4);
  CHECK(c.server.read_timeout == std::chrono::milliseconds(500));
  CHECK(c.server.idle_timeout == std::chrono::minutes(2));
  CHECK(c.server.write_timeout == std::chrono::seconds(15));  // untouched keys keep defaults
  CHECK(c.server.body_limit == 1024 * 1024);
  CHECK(c.server.max_connections == 10);
  CHECK(c.public_url == "https://aula.example.org");  // trailing slash dropped
  CHECK(c.redis.url == "unix:///run/redis.sock");
  CHECK(c.redis.partitions == 128);
  CHECK(c.redis.command_timeout == std::chrono::seconds(3));
  CHECK(c.records_url == "postgresql://aula@db/aula");
  CHECK(c.flows == "/srv/flows");
  CHECK(c.http_client.request_timeout == std::chrono::seconds(20));
  CHECK(c.http_client.max_idle_per_host == 1);
  CHECK(c.telegram.api == "http://127.0.0.1:9001");
  CHECK(c.whatsapp.phone_number_id == "1234567890");
  CHECK(c.twilio.account_sid == "AC123");
  CHECK(c.twilio.from == "+15005550006");
  CHECK(c.default_time_zone == "America/Cancun");
  CHECK(c.quiet_hours.start == "22:30");
  CHECK(c.quiet_hours.end == "07:00");
}

TEST_CASE("config an empty file or an empty section is the defaults") {
  temp_dir d;
  CHECK(settings_only(load_config(d.write("empty.yaml", ""), {})) == app_config{});
  CHECK(settings_only(load_config(d.write("comments.yaml", "# nothing\n"), {})) == app_config{});
  CHECK(settings_only(load_config(d.write("section.yaml", "server:\n"), {})) == app_config{});
}

TEST_CASE("config unknown keys are errors with line and column") {
  temp_dir d;
  auto f = d.write("aula.yaml", "server:\n  listen: 127.0.0.1:8080\n  thread: 4\n");
  CHECK(load_error(f) == f + ":3:3: unknown key 'thread' in server; did you mean 'threads'?");

  auto top = d.write("top.yaml", "flows: flows\nredis_url: redis://x:1/0\n");
  CHECK_THAT(load_error(top), Catch::StartsWith(top + ":2:1: unknown key 'redis_url' at the top level"));

  auto far = d.write("far.yaml", "quiet_hours:\n  start: \"21:00\"\n  zzzzzz: 1\n");
  CHECK_THAT(load_error(far), Catch::Contains(":3:3: unknown key 'zzzzzz' in quiet_hours; known keys: start, end"));

  auto dup = d.write("dup.yaml", "server:\n  threads: 2\n  threads: 3\n");
  CHECK_THAT(load_error(dup), Catch::Contains(":3:3: duplicate key 'threads' in server"));
}

TEST_CASE("config secrets in the file are rejected with the variable to use") {
  struct secret_case {
    std::string yaml;
    std::string position;
    std::string variable;
  };
  std::vector<secret_case> cases = {
      {"telegram:\n  token: \"123:ABC\"\n", ":2:3:", "AULA_TELEGRAM_TOKEN"},
      {"telegram:\n  api: https://api.telegram.org\n  secret: s\n", ":3:3:", "AULA_TELEGRAM_SECRET"},
      {"whatsapp:\n  token: t\n", ":2:3:", "AULA_WHATSAPP_TOKEN"},
      {"whatsapp:\n  app_secret: t\n", ":2:3:", "AULA_WHATSAPP_APP_SECRET"},
      {"whatsapp:\n  verify_token: t\n", ":2:3:", "AULA_WHATSAPP_VERIFY_TOKEN"},
      {"twilio:\n  auth_token: t\n", ":2:3:", "AULA_TWILIO_AUTH_TOKEN"},
      {"admin_tokens: \"admin:x\"\n", ":1:1:", "AULA_ADMIN_TOKENS"},
      {"metrics:\n  token: t\n", ":2:3:", "AULA_METRICS_TOKEN"},
      {"redis:\n  url: redis://:hunter22@localhost:6379/0\n", ":2:8:", "AULA_REDIS_URL"},
      {"https_proxy: http://u:hunter22@proxy:3128\n", ":1:14:", "HTTPS_PROXY"},
  };
  temp_dir d;
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.variable) {
      auto f = d.write("secret.yaml", c.yaml);
      auto err = load_error(f);
      CHECK_THAT(err, Catch::StartsWith(f + c.position));
      CHECK_THAT(err, Catch::Contains(c.variable));
      CHECK_THAT(err, !Catch::Contains("hunter22"));
      CHECK_THAT(err, !Catch::Contains("123:ABC"));
    }
  }
  SECTION("the test clock is environment-only") {
    auto f = d.write("clock.yaml", "test_clock: true\n");
    CHECK_THAT(load_error(f), Catch::Contains("AULA_TEST_CLOCK"));
  }
}

TEST_CASE("config delivery settings come from the file") {
  temp_dir d;
  auto f = d.write("aula.yaml", R"(
delivery:
  lease_ttl: 3s
  max_attempts: 4
  retry_base: 250ms
  timer_hold: 1m
  telegram: {per_second: 20, chat_burst: 2, chat_interval: 2s}
)");
  auto c = load_config(f, {});
  CHECK(c.delivery.lease_ttl == std::chrono::milliseconds(3000));
  CHECK(c.delivery.max_attempts == 4);
  CHECK(c.delivery.retry_base == std::chrono::milliseconds(250));
  CHECK(c.delivery.timer_hold == std::chrono::milliseconds(60000));
  CHECK(c.delivery.channels.at("telegram").per_second == 20);
  CHECK(c.delivery.channels.at("telegram").chat_burst == 2);
  CHECK(c.delivery.channels.at("telegram").chat_interval == std::chrono::milliseconds(2000));
  CHECK(c.delivery.channels.at("whatsapp") == app_config{}.delivery.channels.at("whatsapp"));  // untouched
}

TEST_CASE("config bad values in the file say where and what") {
  temp_dir d;
  struct bad_case {
    std::string yaml;
    std::string expected;
  };
  std::vector<bad_case> cases = {
      {"server:\n  threads: many\n", ":2:12: server.threads: expected a whole number, got 'many'"},
      {"server:\n  threads: 0\n", ":2:12: server.threads: 0 is out of range"},
      {"server:\n  read_timeout: soon\n", ":2:17: server.read_timeout: 'soon' is not a duration"},
      {"server:\n  body_limit: lots\n", ":2:15: server.body_limit: 'lots' is not a size"},
      {"server:\n  listen: 8080\n", ":2:11: server.listen: '8080' is not address:port"},
      {"server:\n  listen: 127.0.0.1:99999\n", "server.listen: '127.0.0.1:99999': bad port"},
      {"server: [1, 2]\n", ":1:9: server must be a mapping"},
      {"public_url: aula.example.org\n", ":1:13: public_url: 'aula.example.org' is not an absolute URL"},
      {"public_url: ftp://aula.example.org\n", "public_url: 'ftp://aula.example.org' must start with http:// or https://"},
      {"redis:\n  url: http://localhost:6379\n", "redis.url: 'http://localhost:6379' must start with redis://, unix://, redis-sentinel:// or redis-cluster://"},
      {"redis:\n  url: redis://localhost:6379/zero\n", "the database must be a number"},
      {"records_url: mysql://db/aula\n", "records_url: 'mysql://db/aula' must start with sqlite:// or postgresql://"},
      {"telegram:\n  api: api.telegram.org\n", ":2:8: telegram.api: 'api.telegram.org' is not an absolute URL"},
      {"default_time_zone: Mars/Olympus\n", ":1:20: default_time_zone: unknown time zone 'Mars/Olympus'"},
      {"delivery:\n  max_attempts: 0\n", ":2:17: delivery.max_attempts: 0 is out of range"},
      {"delivery:\n  lease_ttl: 10ms\n", "delivery.lease_ttl: at least 100ms"},
      {"delivery:\n  telegram: {per_second: fast}\n", "delivery.telegram.per_second: expected a whole number, got 'fast'"},
      {"delivery:\n  signal: {per_second: 3}\n", ":2:3: unknown key 'signal'"},
      {"quiet_hours:\n  start: \"25:00\"\n", ":2:10: quiet_hours.start: '25:00' is not a time of day"},
      {"ca_file: /nonexistent/ca.pem\n", ":1:10: ca_file: cannot read '/nonexistent/ca.pem'"},
      {"flows: [a, b]\n", ":1:8: flows: expected a single value"},
      {"- just\n- a list\n", ":1:1: the configuration must be a mapping"},
      {"server:\n  listen: [unclosed\n", ":3:1:"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    DYNAMIC_SECTION("case " << i << ": " << cases[i].expected) {
      auto f = d.write("bad.yaml", cases[i].yaml);
      auto err = load_error(f);
      CHECK_THAT(err, Catch::StartsWith(f + ":"));
      CHECK_THAT(err, Catch::Contains(cases[i].expected));
    }
  }
}

TEST_CASE("config every environment variable of the table overrides") {
  temp_dir d;
  auto ca = d.write("ca.pem", "not checked here\n");
  // A file with different values, so an override is visible over the file too.
  auto f = d.write("aula.yaml", "server:\n  listen: 127.0.0.1:7000\nflows: file-flows\ntelegram:\n  api: http://file\n");
  auto explicit_file = d.write("explicit.yaml", "flows: from-explicit-file\n");

  struct env_case {
    std::string var;
    std::string value;
    std::function<bool(const app_config&)> applied;
  };
  std::vector<env_case> cases = {
      {"AULA_CONFIG", explicit_file, [](const app_config& c) { return c.flows == "from-explicit-file"; }},
      {"AULA_LISTEN", "0.0.0.0:9999", [](const app_config& c) { return c.server.listen == "0.0.0.0:9999"; }},
      {"AULA_PUBLIC_URL", "https://aula.gob.mx", [](const app_config& c) { return c.public_url == "https://aula.gob.mx"; }},
      {"AULA_REDIS_URL", "redis://:pw@10.0.0.5:6380/2", [](const app_config& c) { return c.redis.url == "redis://:pw@10.0.0.5:6380/2"; }},
      {"AULA_RECORDS_URL", "postgresql://u@db/aula", [](const app_config& c) { return c.records_url == "postgresql://u@db/aula"; }},
      {"AULA_FLOWS", "/srv/flows", [](const app_config& c) { return c.flows == "/srv/flows"; }},
      {"AULA_TELEGRAM_TOKEN", "123:tok", [](const app_config& c) { return c.telegram.token == "123:tok"; }},
      {"AULA_TELEGRAM_SECRET", "tgsecret", [](const app_config& c) { return c.telegram.secret == "tgsecret"; }},
      {"AULA_TELEGRAM_API", "http://127.0.0.1:9001", [](const app_config& c) { return c.telegram.api == "http://127.0.0.1:9001"; }},
      {"AULA_WHATSAPP_TOKEN", "watoken", [](const app_config& c) { return c.whatsapp.token == "watoken"; }},
      {"AULA_WHATSAPP_APP_SECRET", "wasecret", [](const app_config& c) { return c.whatsapp.app_secret == "wasecret"; }},
      {"AULA_WHATSAPP_VERIFY_TOKEN", "waverify", [](const app_config& c) { return c.whatsapp.verify_token == "waverify"; }},
      {"AULA_WHATSAPP_PHONE_NUMBER_ID", "555", [](const app_config& c) { return c.whatsapp.phone_number_id == "555"; }},
      {"AULA_WHATSAPP_API", "http://127.0.0.1:9002/v21.0", [](const app_config& c) { return c.whatsapp.api == "http://127.0.0.1:9002/v21.0"; }},
      {"AULA_TWILIO_ACCOUNT_SID", "AC42", [](const app_config& c) { return c.twilio.account_sid == "AC42"; }},
      {"AULA_TWILIO_AUTH_TOKEN", "twtoken", [](const app_config& c) { return c.twilio.auth_token == "twtoken"; }},
      {"AULA_TWILIO_FROM", "+15005550006", [](const app_config& c) { return c.twilio.from == "+15005550006"; }},
      {"AULA_TWILIO_API", "http://127.0.0.1:9003", [](const app_config& c) { return c.twilio.api == "http://127.0.0.1:9003"; }},
      {"AULA_ADMIN_TOKENS", "admin:aaaa,facilitator:bbbb",
       [](const app_config& c) {
         return c.admin_tokens == std::vector<admin_token>{{"admin", "aaaa"}, {"facilitator", "bbbb"}};
       }},
      {"AULA_CA_FILE", ca, [ca](const app_config& c) { return c.ca_file == ca; }},
      {"HTTPS_PROXY", "http://proxy.local:3128", [](const app_config& c) { return c.https_proxy == "http://proxy.local:3128"; }},
      {"AULA_METRICS_LISTEN", "127.0.0.1:9464", [](const app_config& c) { return c.metrics.listen == "127.0.0.1:9464"; }},
      {"AULA_METRICS_TOKEN", "metricstoken", [](const app_config& c) { return c.metrics.token == "metricstoken"; }},
      {"AULA_LOG_LEVEL", "debug", [](const app_config& c) { return c.logging.level == "debug"; }},
      {"AULA_TEST_CLOCK", "1", [](const app_config& c) { return c.test_clock; }},
  };

  // The table is DESIGN.md's, name for name.
  std::vector<std::string> names;
  for (const auto& c : cases) names.push_back(c.var);
  CHECK(names == config_variables());

  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.var) {
      auto before = load_config(f, {});
      CHECK_FALSE(c.applied(before));
      auto after = load_config(f, {{c.var, c.value}});
      CHECK(c.applied(after));
      CHECK(load_config(f, {{c.var, ""}}) == before);  // empty = unset
    }
  }
  SECTION("lower-case https_proxy works too; HTTPS_PROXY wins") {
    CHECK(load_config(f, {{"https_proxy", "proxy:8080"}}).https_proxy == "http://proxy:8080");
    CHECK(load_config(f, {{"https_proxy", "http://a:1"}, {"HTTPS_PROXY", "http://b:2"}}).https_proxy == "http://b:2");
  }
  SECTION("every variable at once enables every channel") {
    env_map all;
    for (const auto& c : cases) all[c.var] = c.value;
    auto c = load_config(f, all);
    for (const auto& ec : cases) {
      INFO(ec.var);
      if (ec.var == "AULA_CONFIG")
        CHECK(c.config_file == explicit_file);  // its flows value is overridden by AULA_FLOWS
      else
        CHECK(ec.applied(c));
    }
    CHECK(c.telegram.enabled());
    CHECK(c.whatsapp.enabled());
    CHECK(c.twilio.enabled());
  }
}

TEST_CASE("config bad environment values name the variable") {
  temp_dir d;
  auto f = d.write("aula.yaml", "");
  std::vector<std::pair<env_map, std::string>> cases = {
      {{{"AULA_LISTEN", "localhost"}}, "AULA_LISTEN: 'localhost' is not address:port"},
      {{{"AULA_PUBLIC_URL", "aula.example.org"}}, "AULA_PUBLIC_URL: 'aula.example.org' is not an absolute URL"},
      {{{"AULA_REDIS_URL", "localhost:6379"}}, "AULA_REDIS_URL:"},
      {{{"AULA_REDIS_URL", "rediss://h:6379/0"}}, "AULA_REDIS_URL: TLS to Redis (rediss://) is not supported"},
      {{{"AULA_RECORDS_URL", "records.db"}}, "AULA_RECORDS_URL:"},
      {{{"AULA_TELEGRAM_API", "telegram"}}, "AULA_TELEGRAM_API:"},
      {{{"AULA_WHATSAPP_API", "graph.facebook.com"}}, "AULA_WHATSAPP_API:"},
      {{{"AULA_TWILIO_API", "ftp://api.twilio.com"}}, "AULA_TWILIO_API: 'ftp://api.twilio.com' must start with http"},
      {{{"AULA_ADMIN_TOKENS", "root:abcd"}}, "AULA_ADMIN_TOKENS: unknown role 'root' (roles: admin, facilitator)"},
      {{{"AULA_LOG_LEVEL", "verbose"}}, "AULA_LOG_LEVEL: 'verbose' is not a log level"},
      {{{"AULA_METRICS_LISTEN", "9464"}}, "AULA_METRICS_LISTEN: '9464' is not address:port"},
      {{{"AULA_ADMIN_TOKENS", "admin:"}}, "AULA_ADMIN_TOKENS: the admin entry has an empty token"},
      {{{"AULA_ADMIN_TOKENS", "justatoken"}}, "AULA_ADMIN_TOKENS: an entry is not role:token"},
      {{{"AULA_CA_FILE", "/nonexistent.pem"}}, "AULA_CA_FILE: cannot read '/nonexistent.pem'"},
      {{{"HTTPS_PROXY", "https://proxy:3128"}}, "HTTPS_PROXY: 'https://proxy:3128': only http:// proxies"},
      {{{"AULA_TEST_CLOCK", "maybe"}}, "AULA_TEST_CLOCK: 'maybe' is not 1 or 0"},
  };
  for (const auto& [env, expected] : cases) {
    DYNAMIC_SECTION(expected) { CHECK_THAT(load_error(f, env), Catch::StartsWith(expected)); }
  }
  SECTION("admin tokens never appear in their errors") {
    CHECK_THAT(load_error(f, {{"AULA_ADMIN_TOKENS", "admin:sekret1,admin:sekret1"}}), !Catch::Contains("sekret1"));
  }
}

TEST_CASE("config an unknown AULA_ variable is a warning with a hint") {
  temp_dir d;
  auto f = d.write("aula.yaml", "");
  auto c = load_config(f, {{"AULA_TELEGRAM_TOKN", "x"}});
  REQUIRE(c.warnings.size() == 1);
  CHECK_THAT(c.warnings[0], Catch::Contains("AULA_TELEGRAM_TOKN"));
  CHECK_THAT(c.warnings[0], Catch::Contains("did you mean 'AULA_TELEGRAM_TOKEN'?"));
  CHECK_THAT(describe(c), Catch::Contains("warning: environment variable AULA_TELEGRAM_TOKN"));
}

TEST_CASE("config describe masks every secret") {
  temp_dir d;
  auto f = d.write("aula.yaml", "");
  env_map env = {
      {"AULA_TELEGRAM_TOKEN", "123456:TG-TOKEN-VALUE"},
      {"AULA_TELEGRAM_SECRET", "TG-SECRET-VALUE"},
      {"AULA_WHATSAPP_TOKEN", "WA-TOKEN-VALUE"},
      {"AULA_WHATSAPP_APP_SECRET", "WA-APP-SECRET-VALUE"},
      {"AULA_WHATSAPP_VERIFY_TOKEN", "WA-VERIFY-VALUE"},
      {"AULA_WHATSAPP_PHONE_NUMBER_ID", "109876543210"},
      {"AULA_TWILIO_ACCOUNT_SID", "AC-SID-VALUE"},
      {"AULA_TWILIO_AUTH_TOKEN", "TW-AUTH-VALUE"},
      {"AULA_TWILIO_FROM", "+15005550006"},
      {"AULA_ADMIN_TOKENS", "admin:ADMIN-TOKEN-VALUE,facilitator:FAC-TOKEN-VALUE"},
      {"AULA_REDIS_URL", "redis://:REDIS-PASSWORD@10.0.0.5:6379/0"},
      {"HTTPS_PROXY", "http://user:PROXY-PASSWORD@proxy:3128"},
      {"AULA_METRICS_TOKEN", "METRICS-TOKEN-VALUE"},
  };
  auto c = load_config(f, env);
  auto text = describe(c);
  INFO(text);
  for (const auto& secret : {"TG-TOKEN-VALUE", "TG-SECRET-VALUE", "WA-TOKEN-VALUE", "WA-APP-SECRET-VALUE",
                             "WA-VERIFY-VALUE", "TW-AUTH-VALUE", "ADMIN-TOKEN-VALUE", "FAC-TOKEN-VALUE",
                             "REDIS-PASSWORD", "PROXY-PASSWORD", "METRICS-TOKEN-VALUE"})
    CHECK(text.find(secret) == std::string::npos);
  CHECK_THAT(text, Catch::Contains("AULA_METRICS_TOKEN (set)"));
  const auto secrets = secrets_of(c);
  CHECK(std::find(secrets.begin(), secrets.end(), "METRICS-TOKEN-VALUE") != secrets.end());
  CHECK_THAT(text, Catch::Contains("telegram: enabled"));
  CHECK_THAT(text, Catch::Contains("AULA_TELEGRAM_TOKEN (set)"));
  CHECK_THAT(text, Catch::Contains("whatsapp: enabled"));
  CHECK_THAT(text, Catch::Contains("twilio: enabled"));
  CHECK_THAT(text, Catch::Contains("redis: redis://:***@10.0.0.5:6379/0"));
  CHECK_THAT(text, Catch::Contains("proxy: http://user:***@proxy:3128"));
  CHECK_THAT(text, Catch::Contains("admin tokens: 1 admin, 1 facilitator"));

  SECTION("a channel without its secrets says it is disabled and why") {
    auto plain = describe(load_config(f, {{"AULA_TELEGRAM_TOKEN", "only-the-token"}}));
    CHECK_THAT(plain, Catch::Contains("telegram: disabled (not set: AULA_TELEGRAM_SECRET)"));
    CHECK_THAT(plain, !Catch::Contains("only-the-token"));
  }
}

TEST_CASE("config small parsers") {
  CHECK(parse_listen("127.0.0.1:8080").host == "127.0.0.1");
  CHECK(parse_listen("127.0.0.1:8080").port == 8080);
  CHECK(parse_listen("[::1]:443").host == "::1");
  CHECK(parse_listen("[::1]:443").port == 443);
  CHECK(parse_listen(":8080").host == "0.0.0.0");
  CHECK(parse_listen("localhost:0").port == 0);
  CHECK_THROWS_AS(parse_listen("::1:80"), config_error);
  CHECK_THROWS_AS(parse_listen("host:"), config_error);
  CHECK_THROWS_AS(parse_listen("host:-1"), config_error);

  CHECK(parse_config_duration("250ms", "x") == std::chrono::milliseconds(250));
  CHECK(parse_config_duration("15s", "x") == std::chrono::seconds(15));
  CHECK(parse_config_duration("1h30m", "x") == std::chrono::minutes(90));
  CHECK(parse_config_duration("7", "x") == std::chrono::seconds(7));
  CHECK_THROWS_AS(parse_config_duration("0s", "x"), config_error);
  CHECK_THROWS_AS(parse_config_duration("-5", "x"), config_error);

  CHECK(parse_config_size("262144", "x") == 262144);
  CHECK(parse_config_size("256KiB", "x") == 262144);
  CHECK(parse_config_size("256k", "x") == 262144);
  CHECK(parse_config_size("2 MiB", "x") == 2 * 1024 * 1024);
  CHECK_THROWS_AS(parse_config_size("0", "x"), config_error);

  auto tokens = parse_admin_tokens(" admin:a1 , Facilitator:f1,");
  REQUIRE(tokens.size() == 2);
  CHECK(tokens[1] == admin_token{"facilitator", "f1"});
  CHECK(parse_admin_tokens("").empty());

  CHECK(mask_url("redis://:pw@h:1/0") == "redis://:***@h:1/0");
  CHECK(mask_url("http://user:pw@h") == "http://user:***@h");
  CHECK(mask_url("http://user@h/a:b@c") == "http://user@h/a:b@c");
  CHECK(mask_url("https://api.telegram.org") == "https://api.telegram.org");
}

TEST_CASE("config Redis Sentinel and Cluster URLs, and WAIT after each commit (issue 14)") {
  temp_dir d;
  auto f = d.write("aula.yaml", R"(
redis:
  url: redis-sentinel://10.0.0.11:26379,10.0.0.12:26379,10.0.0.13/aula/0
  wait_replicas: 1
  wait_timeout: 250ms
)");
  auto c = load_config(f, {});
  CHECK(c.redis.url == "redis-sentinel://10.0.0.11:26379,10.0.0.12:26379,10.0.0.13/aula/0");
  CHECK(c.redis.wait_replicas == 1);
  CHECK(c.redis.wait_timeout == std::chrono::milliseconds(250));
  CHECK_THAT(describe(c), Catch::Contains("WAIT 1 replica(s) up to 250ms after each commit"));

  auto e = load_config(f, {{"AULA_REDIS_URL", "redis-cluster://:hunter22@n1:7000,n2:7001"}});
  CHECK(e.redis.url == "redis-cluster://:hunter22@n1:7000,n2:7001");
  CHECK_THAT(describe(e), !Catch::Contains("hunter22"));

  CHECK_THAT(load_error(d.write("bad1.yaml", "redis:\n  url: redis-sentinel://h1,h2\n")),
             Catch::Contains("names no master"));
  CHECK_THAT(load_error(d.write("bad2.yaml", "redis:\n  url: redis-cluster://n1:7000/3\n")),
             Catch::Contains("database 0 only"));
  CHECK_THAT(load_error(d.write("bad3.yaml", "redis:\n  wait_replicas: -1\n")),
             Catch::Contains("redis.wait_replicas: -1 is out of range"));
  auto secret = load_error(d.write("bad4.yaml", "redis:\n  url: redis-sentinel://:hunter22@h1,h2/m/0\n"));
  CHECK_THAT(secret, Catch::Contains("AULA_REDIS_URL"));
  CHECK_THAT(secret, !Catch::Contains("hunter22"));
}

TEST_CASE("config limits and webhooks sections") {
  app_config defaults;
  CHECK(defaults.limits.learner_messages_per_minute == 30);
  CHECK(defaults.webhooks.allow_hosts == std::vector<std::string>{"*"});
  CHECK(defaults.webhooks.max_response == 64 * 1024);
  CHECK(defaults.webhooks.timeout == std::chrono::seconds(10));
  temp_dir d;
  auto f = d.write("aula.yaml", R"(
limits:
  learner_messages_per_minute: 5
webhooks:
  allow_hosts: [API.example.org, "127.0.0.1:9000", "[::1]:8080", "*.gob.mx"]
  max_response: 1KiB
  timeout: 2s
)");
  auto c = load_config(f, {});
  CHECK(c.limits.learner_messages_per_minute == 5);
  CHECK(c.webhooks.allow_hosts ==
        std::vector<std::string>{"api.example.org", "127.0.0.1:9000", "[::1]:8080", "*.gob.mx"});
  CHECK(c.webhooks.max_response == 1024);
  CHECK(c.webhooks.timeout == std::chrono::seconds(2));
  auto empty = d.write("empty.yaml", "webhooks:\n  allow_hosts: []\n");
  CHECK(load_config(empty, {}).webhooks.allow_hosts.empty());
  auto url = d.write("url.yaml", "webhooks:\n  allow_hosts: [\"https://api.example.org/x\"]\n");
  CHECK_THAT(load_error(url), Catch::Contains("webhooks.allow_hosts: 'https://api.example.org/x' is not a host"));
  auto scalar = d.write("scalar.yaml", "webhooks:\n  allow_hosts: api.example.org\n");
  CHECK_THAT(load_error(scalar), Catch::Contains("expected a list of hosts"));
}

TEST_CASE("config retention: days per data class, 0 keeps, and the job's period") {
  temp_dir d;
  auto f = d.write("aula.yaml", "retention:\n  sessions: 365d\n  free_text: 90d\n  delivery: 2w\n  audit: 0\n  every: 30m\n");
  auto c = load_config(f, {});
  CHECK(c.retention.sessions == std::chrono::milliseconds(365LL * 24 * 3600 * 1000));
  CHECK(c.retention.free_text == std::chrono::milliseconds(90LL * 24 * 3600 * 1000));
  CHECK(c.retention.delivery == std::chrono::milliseconds(14LL * 24 * 3600 * 1000));
  CHECK(c.retention.audit.count() == 0);
  CHECK(c.retention.every == std::chrono::minutes(30));
  CHECK(app_config{}.retention.sessions.count() == 0);  // kept unless configured
  auto bad = d.write("bad.yaml", "retention:\n  sessions: forever\n");
  CHECK_THROWS_WITH(load_config(bad, {}), Catch::Contains("retention.sessions"));
  auto typo = d.write("typo.yaml", "retention:\n  session: 30d\n");
  CHECK_THROWS_WITH(load_config(typo, {}), Catch::Contains("session"));
}
