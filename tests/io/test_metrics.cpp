#include "bot/io/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <ctime>
#include <random>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "bot/io/log.hpp"

using namespace aula;

TEST_CASE("metrics render counters, gauges and histograms in the Prometheus text format") {
  metrics_registry reg;
  auto& sent = reg.counter("aula_messages_sent_total", "Messages accepted by a provider.");
  sent.inc({{"channel", "telegram"}});
  sent.inc({{"channel", "telegram"}}, 2);
  sent.inc({{"channel", "whatsapp"}});
  auto& queue = reg.gauge("aula_outbox_pending", "Outbox entries waiting.");
  queue.set({}, 5);
  queue.add({}, -2);
  auto& lat = reg.histogram("aula_send_seconds", "Time to send.", {0.25, 1});
  lat.observe({{"channel", "telegram"}}, 0.125);
  lat.observe({{"channel", "telegram"}}, 0.25);  // le is inclusive
  lat.observe({{"channel", "telegram"}}, 0.5);
  lat.observe({{"channel", "telegram"}}, 3);

  CHECK(reg.render() ==
        "# HELP aula_messages_sent_total Messages accepted by a provider.\n"
        "# TYPE aula_messages_sent_total counter\n"
        "aula_messages_sent_total{channel=\"telegram\"} 3\n"
        "aula_messages_sent_total{channel=\"whatsapp\"} 1\n"
        "# HELP aula_outbox_pending Outbox entries waiting.\n"
        "# TYPE aula_outbox_pending gauge\n"
        "aula_outbox_pending 3\n"
        "# HELP aula_send_seconds Time to send.\n"
        "# TYPE aula_send_seconds histogram\n"
        "aula_send_seconds_bucket{channel=\"telegram\",le=\"0.25\"} 2\n"
        "aula_send_seconds_bucket{channel=\"telegram\",le=\"1\"} 3\n"
        "aula_send_seconds_bucket{channel=\"telegram\",le=\"+Inf\"} 4\n"
        "aula_send_seconds_sum{channel=\"telegram\"} 3.875\n"
        "aula_send_seconds_count{channel=\"telegram\"} 4\n");
  CHECK(sent.value({{"channel", "telegram"}}) == 3);
  CHECK(lat.count({{"channel", "telegram"}}) == 4);
}

TEST_CASE("metrics escape label values and help text") {
  metrics_registry reg;
  reg.counter("x_total", "Help with \\ and\nnewline.").inc({{"path", "a\"b\\c\nd"}});
  CHECK(reg.render() ==
        "# HELP x_total Help with \\\\ and\\nnewline.\n"
        "# TYPE x_total counter\n"
        "x_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
  CHECK(escape_label_value("plain") == "plain");
  CHECK(format_metric_value(0.25) == "0.25");
  CHECK(format_metric_value(1e20) == "1e+20");
  CHECK(format_metric_value(-3) == "-3");
  CHECK(format_metric_value(1.0 / 0.0) == "+Inf");
}

TEST_CASE("metrics reject bad names and type clashes, and return the same family") {
  metrics_registry reg;
  CHECK_THROWS_AS(reg.counter("bad-name", ""), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("1abc", ""), std::invalid_argument);
  auto& c = reg.counter("ok_total", "h");
  CHECK(&reg.counter("ok_total", "h") == &c);
  CHECK_THROWS_AS(reg.gauge("ok_total", "h"), std::invalid_argument);
  CHECK_THROWS_AS(c.inc({{"bad-label", "x"}}), std::invalid_argument);
  CHECK_THROWS_AS(c.inc({{"__reserved", "x"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram("h_seconds", "").observe({{"le", "1"}}, 1), std::invalid_argument);
  c.inc({}, -1);  // counters never go down
  CHECK(c.value() == 0);
}

TEST_CASE("metrics are safe to update from many threads") {
  metrics_registry reg;
  auto& c = reg.counter("hits_total", "h");
  auto& h = reg.histogram("lat_seconds", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc({{"k", "v"}});
        h.observe({}, 0.001);
        if (i % 1000 == 0) (void)reg.render();
      }
    });
  for (auto& t : threads) t.join();
  CHECK(c.value({{"k", "v"}}) == 40000);
  CHECK(h.count() == 40000);
}

// ---- logs ---------------------------------------------------------------------------------

TEST_CASE("log lines are one JSON object with ts, level, msg and fields") {
  auto line = log::format_line(log::level::warn, "sent \"ok\"", {{"channel", "telegram"}, {"n", 3}, {"msg", "forged"}});
  CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  CHECK(j["level"] == "warn");
  CHECK(j["msg"] == "sent \"ok\"");
  CHECK(j["channel"] == "telegram");
  CHECK(j["n"] == 3);
  CHECK(j["field_msg"] == "forged");
  std::string ts = j["ts"];
  CHECK(ts.size() == 24);
  CHECK(ts.back() == 'Z');
  // The UTC time of the line to the millisecond: the second as strftime gives it (the second
  // before or after, if the clock ticked meanwhile), then ".mmmZ".
  const auto utc_second = [](std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return std::string(buf);
  };
  const std::time_t now = std::time(nullptr);
  const std::string second = ts.substr(0, 19);
  CHECK((second == utc_second(now) || second == utc_second(now - 1) || second == utc_second(now + 1)));
  CHECK(ts[19] == '.');
  CHECK(std::all_of(ts.begin() + 20, ts.begin() + 23, [](char c) { return c >= '0' && c <= '9'; }));
  CHECK(line.rfind("{\"ts\":", 0) == 0);  // ts, level, msg first
}

TEST_CASE("log never writes secrets") {
  log::clear_secrets();
  SECTION("fields named like secrets are masked") {
    auto j = nlohmann::json::parse(log::format_line(
        log::level::info, "x", {{"token", "abc"}, {"app_secret", "def"}, {"Authorization", "Bearer x"}, {"to", "ok"}}));
    CHECK(j["token"] == "***");
    CHECK(j["app_secret"] == "***");
    CHECK(j["Authorization"] == "***");
    CHECK(j["to"] == "ok");
    // Names in any ASCII case, in flat lines too (the access log's); a near miss is kept.
    auto f = nlohmann::json::parse(log::format_flat_line(
        log::level::info, "x", {{"X-ApiKey", std::string_view("k")}, {"PASSWD", std::string_view("p")},
                                {"SignatureV2", std::string_view("s")}, {"tok3n", std::string_view("t")}}));
    CHECK(f["X-ApiKey"] == "***");
    CHECK(f["PASSWD"] == "***");
    CHECK(f["SignatureV2"] == "***");
    CHECK(f["tok3n"] == "t");
  }
  SECTION("registered secret values are redacted anywhere in the line") {
    log::add_secret("123456:AAHsecretBotToken");
    auto line = log::format_line(log::level::error, "POST /bot123456:AAHsecretBotToken/sendMessage failed",
                                 {{"detail", {{"url", "https://api.telegram.org/bot123456:AAHsecretBotToken/x"}}}});
    CHECK(line.find("AAHsecretBotToken") == std::string::npos);
    CHECK(line.find("[redacted]") != std::string::npos);
    CHECK_NOTHROW(nlohmann::json::parse(line));
    log::clear_secrets();
  }
  SECTION("invalid UTF-8 does not throw") {
    std::string bad = "caf\xc3";
    CHECK_NOTHROW(nlohmann::json::parse(log::format_line(log::level::info, bad, {{"text", bad}})));
  }
}

TEST_CASE("log masks phone numbers keeping the last 4 digits") {
  CHECK(log::mask_phone("+5215512341234") == "+52*******1234");
  CHECK(log::mask_phone("+52 55 1234 1234") == "+52******1234");
  CHECK(log::mask_phone("5215512341234") == "52*******1234");
  CHECK(log::mask_phone("+1 (415) 555-0100") == "+14*****0100");
  CHECK(log::mask_phone("55501") == "*5501");
  CHECK(log::mask_phone("1234") == "****");
  CHECK(log::mask_phone("") == "");
  CHECK(log::mask_phone("web:abcdef") == "***");
  CHECK(log::mask_phone("+5215512341234").find("551234") == std::string::npos);
}

TEST_CASE("log masks long digit runs in every string: no phone number or chat id is written whole") {
  log::clear_secrets();
  CHECK(log::mask_numbers("whatsapp:+5215512345678") == "whatsapp:+*********5678");
  CHECK(log::mask_numbers("/admin/learners/sms:%2B5215512345678/export") ==
        "/admin/learners/sms:%2B*********5678/export");
  CHECK(log::mask_numbers("telegram:12345678 y 1234567") == "telegram:****5678 y 1234567");
  CHECK(log::mask_numbers("HTTP 503, 3 tries") == "HTTP 503, 3 tries");
  log::add_secret("1234567890:AAHsecretBotToken");
  const std::string line = log::format_line(
      log::level::warn, "to 5215512345678 via /bot1234567890:AAHsecretBotToken/sendMessage",
      {{"path", "/admin/learners/whatsapp:%2B5215512345678/export"}, {"n", 5215512345678LL},
       {"nested", {{"list", {"tel 4155550100"}}}}});
  const auto j = nlohmann::json::parse(line);
  CHECK(j["msg"] == "to *********5678 via /bot[redacted]/sendMessage");
  CHECK(j["n"] == 5215512345678LL);  // numbers are counts and times: callers never log an address as one
  CHECK(line.find("%2B5215512345678") == std::string::npos);
  CHECK(line.find("4155550100") == std::string::npos);
  CHECK(line.find("AAHsecretBotToken") == std::string::npos);
  CHECK(line.find("[redacted]") != std::string::npos);
  CHECK(line.find("*********5678") != std::string::npos);
  log::clear_secrets();
}

namespace {

// The reference: each run of 8+ ASCII digits keeps its last 4, the rest become '*'.
std::string masked_reference(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i) {
      out += text[i++];
      continue;
    }
    for (std::size_t k = i; k < j; ++k) out += j - i >= 8 && k + 4 < j ? '*' : text[k];
    i = j;
  }
  return out;
}

}  // namespace

TEST_CASE("log: a flat line is the line of the JSON object of its fields; long digit runs are masked in each") {
  log::clear_secrets();
  log::add_secret("987654321:AAHflatSecret");
  std::mt19937 rng(11);
  const std::vector<std::string> keys{"a", "path", "ts", "msg", "level", "token", "Authorization", "x_Signature",
                                      "método", "n", "status", "ms", "zz"};
  const std::vector<std::string> parts{"", "a", "123", "12345678", "5215512345678", "¿Qué? ñ", "😀", "\"", "\\",
                                       "\n", "caf\xc3", "\xff", "987654321:AAHflatSecret", "/webhooks/telegram", " "};
  auto pick = [&rng](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    for (std::size_t k = pick(5); k > 0; --k) text += parts[pick(parts.size())];
    REQUIRE(log::mask_numbers(text) == masked_reference(text));
    // A line of up to 8 fields (keys may repeat: the first counts), strings and integers.
    std::vector<std::string> texts(8);
    std::vector<log::flat_field> flat;
    nlohmann::json object = nlohmann::json::object();
    for (std::size_t k = pick(9); k > 0; --k) {
      const std::string& key = keys[pick(keys.size())];
      log::flat_field f{key, std::int64_t{0}};
      nlohmann::json v;
      if (pick(3) == 0) {
        const std::int64_t n = std::uniform_int_distribution<std::int64_t>(-5'000'000'000'000LL, 5'000'000'000'000LL)(rng);
        f.value = n;
        v = n;
      } else {
        std::string& t = texts[flat.size()];
        for (std::size_t m = pick(4); m > 0; --m) t += parts[pick(parts.size())];
        f.value = std::string_view(t);
        v = t;
      }
      flat.push_back(f);
      if (!object.contains(key)) object[key] = v;
    }
    const std::string msg = parts[pick(parts.size())] + " " + parts[pick(parts.size())];
    std::string want, got;
    for (int attempt = 0; attempt < 3 && (want.empty() || want.substr(0, 31) != got.substr(0, 31)); ++attempt) {
      want = log::format_line(log::level::info, msg, object);  // the same millisecond: the same ts
      got = log::format_flat_line(log::level::info, msg, flat);
    }
    INFO(want);
    REQUIRE(got == want);
  }
  log::clear_secrets();
}

TEST_CASE("metrics: a series kept by a hot path counts in its family") {
  metrics_registry reg;
  auto& c = reg.counter("aula_test_total", "Test.");
  auto& h = reg.histogram("aula_test_seconds", "Test.", {0.1, 1});
  auto s = c.at({{"route", "/a"}, {"status", "200"}});
  CHECK(c.value({{"route", "/a"}, {"status", "200"}}) == 0);
  s.inc();
  s.inc(2);
  s.inc(-1);  // ignored
  c.inc({{"route", "/a"}, {"status", "200"}});
  CHECK(c.value({{"route", "/a"}, {"status", "200"}}) == 4);
  auto t = h.at({{"route", "/a"}});
  t.observe(0.05);
  t.observe(0.5);
  h.observe({{"route", "/a"}}, 2);
  CHECK(h.count({{"route", "/a"}}) == 3);
  CHECK(h.sum({{"route", "/a"}}) == Approx(2.55));
  const std::string text = reg.render();
  CHECK(text.find("aula_test_total{route=\"/a\",status=\"200\"} 4") != std::string::npos);
  CHECK(text.find("aula_test_seconds_bucket{route=\"/a\",le=\"0.1\"} 1") != std::string::npos);
  CHECK(text.find("aula_test_seconds_bucket{route=\"/a\",le=\"1\"} 2") != std::string::npos);
  CHECK(text.find("aula_test_seconds_count{route=\"/a\"} 3") != std::string::npos);
  CHECK_THROWS_AS(c.at({{"bad-name", "x"}}), std::invalid_argument);
}

TEST_CASE("log writes to the sink at or above the minimum level") {
  std::vector<std::string> lines;
  log::set_sink([&lines](const std::string& l) { lines.push_back(l); });
  auto old = log::min_level();
  log::set_min_level(log::level::info);
  log::debug("hidden");
  log::info("shown", {{"k", 1}});
  log::error("also shown");
  log::set_min_level(old);
  log::set_sink(nullptr);
  REQUIRE(lines.size() == 2);
  CHECK(nlohmann::json::parse(lines[0])["msg"] == "shown");
  CHECK(nlohmann::json::parse(lines[1])["level"] == "error");
  log::level l;
  CHECK(log::parse_level("WARN", l));
  CHECK(l == log::level::warn);
  CHECK_FALSE(log::parse_level("loud", l));
}

// stderr redirected to a file for the test's lifetime (what a service manager would read).
struct stderr_to_file {
  std::string path;
  int saved = -1;
  stderr_to_file() {
    char name[] = "/tmp/aula-log-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    path = name;
    std::fflush(stderr);
    saved = dup(2);
    dup2(fd, 2);
    close(fd);
  }
  std::vector<std::string> lines() const {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  ~stderr_to_file() {
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::remove(path.c_str());
  }
};

TEST_CASE("log: access lines wait to be written together, in order, until flushed or another line") {
  log::flush();
  stderr_to_file err;
  const auto old = log::min_level();
  log::set_min_level(log::level::info);
  // The first held line asks for a flush; the next ones wait with it.
  CHECK(log::write_flat_held(log::level::info, "http request", {{"path", "/webhooks/telegram"}, {"status", std::int64_t{200}}}));
  CHECK_FALSE(log::write_flat_held(log::level::info, "http request", {{"path", "/¿dónde?"}, {"status", std::int64_t{404}}}));
  CHECK(err.lines().empty());
  log::flush();
  auto lines = err.lines();
  REQUIRE(lines.size() == 2);
  CHECK(nlohmann::json::parse(lines[0])["path"] == "/webhooks/telegram");
  CHECK(nlohmann::json::parse(lines[1])["path"] == "/¿dónde?");
  // Held again, then a line that is not held: both at once, in the order of the calls.
  CHECK(log::write_flat_held(log::level::info, "http request", {{"path", "/a"}}));
  log::warn("store unavailable");
  lines = err.lines();
  REQUIRE(lines.size() == 4);
  CHECK(nlohmann::json::parse(lines[2])["path"] == "/a");
  CHECK(nlohmann::json::parse(lines[3])["msg"] == "store unavailable");
  // Below the minimum level nothing is held; at 16 KB what waits is written without a flush.
  log::set_min_level(log::level::warn);
  CHECK_FALSE(log::write_flat_held(log::level::info, "http request", {{"path", "/b"}}));
  log::set_min_level(log::level::info);
  std::size_t n = 0;
  while (err.lines().size() == 4 && n < 1000) {
    log::write_flat_held(log::level::info, "http request", {{"path", "/c/" + std::to_string(n)}});
    ++n;
  }
  CHECK(n > 50);  // ~16 KB of ~80-byte lines
  CHECK(n < 1000);
  CHECK(err.lines().size() == 4 + n);
  CHECK(nlohmann::json::parse(err.lines().back())["path"] == "/c/" + std::to_string(n - 1));
  // With a sink (as tests capture lines) nothing waits.
  std::vector<std::string> captured;
  log::set_sink([&captured](const std::string& l) { captured.push_back(l); });
  CHECK_FALSE(log::write_flat_held(log::level::info, "http request", {{"path", "/d"}}));
  log::set_sink(nullptr);
  CHECK(captured.size() == 1);
  log::set_min_level(old);
}

TEST_CASE("log lines for journald start with the syslog priority and carry no timestamp") {
  const std::vector<std::pair<log::level, std::string>> cases = {
      {log::level::debug, "<7>"}, {log::level::info, "<6>"}, {log::level::warn, "<4>"}, {log::level::error, "<3>"}};
  for (const auto& c : cases) {
    const auto line = log::format_journal_line(c.first, "hola", {{"k", 1}, {"token", "abc"}});
    INFO(line);
    REQUIRE(line.rfind(c.second, 0) == 0);
    auto j = nlohmann::json::parse(line.substr(c.second.size()));
    CHECK_FALSE(j.contains("ts"));
    CHECK(j["level"] == log::level_name(c.first));
    CHECK(j["msg"] == "hola");
    CHECK(j["token"] == "***");
  }
  // write() follows the mode: on, the sink gets journal lines; off, the usual ones.
  std::vector<std::string> lines;
  log::set_sink([&lines](const std::string& l) { lines.push_back(l); });
  log::set_journal(true);
  log::warn("en el diario");
  log::set_journal(false);
  log::warn("en stderr");
  log::set_sink(nullptr);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind("<4>{\"level\":\"warn\"", 0) == 0);
  CHECK(lines[1].rfind("{\"ts\":", 0) == 0);
}

TEST_CASE("metrics: the default latency buckets tell sub-millisecond answers apart") {
  metrics_registry reg;
  auto& lat = reg.histogram("aula_http_request_duration_seconds", "Time to answer.");
  lat.observe({{"route", "/webhooks/telegram"}}, 0.0002);
  lat.observe({{"route", "/webhooks/telegram"}}, 0.0004);
  lat.observe({{"route", "/webhooks/telegram"}}, 0.0015);
  lat.observe({{"route", "/webhooks/telegram"}}, 0.004);
  const std::string text = reg.render();
  auto bucket = [&](const std::string& le) {
    const std::string key = "aula_http_request_duration_seconds_bucket{route=\"/webhooks/telegram\",le=\"" + le + "\"} ";
    auto at = text.find(key);
    REQUIRE(at != std::string::npos);
    return std::stoi(text.substr(at + key.size()));
  };
  CHECK(bucket("0.00025") == 1);
  CHECK(bucket("0.0005") == 2);
  CHECK(bucket("0.001") == 2);
  CHECK(bucket("0.002") == 3);
  CHECK(bucket("0.005") == 4);
  CHECK(bucket("+Inf") == 4);
}
