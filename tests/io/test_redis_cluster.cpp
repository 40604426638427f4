// Redis Cluster and Sentinel plumbing that needs no server: the key slot (CRC16, hash tags),
// which key a command is routed by, MOVED/ASK parsing, and the URL forms. The client against
// real Sentinel and Cluster processes: tests/scale (scripts/test runs both).
#include <catch2/catch.hpp>
#include <hiredis/hiredis.h>

#include "bot/store/redis_client.hpp"
#include "bot/store/store.hpp"

using namespace aula;

TEST_CASE("redis_crc16: the cluster specification's test vector") {
  // "The CRC16 … output for the ASCII string "123456789" is 0x31C3" (Redis cluster spec).
  CHECK(redis_crc16("123456789") == 0x31C3);
  CHECK(redis_crc16("") == 0);
}

TEST_CASE("redis_key_slot: whole keys and hash tags, as the cluster specification says") {
  CHECK(redis_key_slot("somekey") == 11058);  // CLUSTER KEYSLOT's documented example
  CHECK(redis_key_slot("123456789") == (0x31C3 & 16383));
  // {…}: only the tag is hashed.
  CHECK(redis_key_slot("{user1000}.following") == redis_key_slot("{user1000}.followers"));
  CHECK(redis_key_slot("{user1000}.following") == redis_key_slot("user1000"));
  CHECK(redis_key_slot("foo{bar}{zap}") == redis_key_slot("bar"));    // the first tag
  CHECK(redis_key_slot("foo{{bar}}zap") == redis_key_slot("{bar"));   // up to the first '}'
  CHECK(redis_key_slot("foo{}{bar}") == redis_key_slot("foo{}{bar}"));
  CHECK(redis_key_slot("foo{}{bar}") != redis_key_slot("bar"));       // an empty tag: whole key
  CHECK(redis_key_slot("foo{bar") == static_cast<int>(redis_crc16("foo{bar") & 16383));  // no '}'
  for (std::string k : {"a", "aula:dir:x", "aula:{p7}:lease", "ñandú"}) {
    int s = redis_key_slot(k);
    CHECK(s >= 0);
    CHECK(s < 16384);
  }
}

TEST_CASE("redis_key_slot: every key of a partition, and every {pub} key, share one slot") {
  store_keys k{"aula"};
  for (int p : {0, 7, 63}) {
    int slot = redis_key_slot(k.session(p, "telegram:1"));
    for (const auto& key : {k.outbox(p, "reply"), k.outbox(p, "bulk"), k.timers(p), k.results(p), k.lease(p),
                            k.fence(p), k.dead(p), k.once(p, "x"), k.cert(p, "0A123"), k.web(p, "web:ab"),
                            k.session(p, "whatsapp:5215512345678")})
      CHECK(redis_key_slot(key) == slot);
  }
  CHECK(redis_key_slot(k.pub("current")) == redis_key_slot(k.pub("seq")));
  CHECK(redis_key_slot(k.pub("v:12")) == redis_key_slot(k.pub("pins")));
}

TEST_CASE("redis_routing_key: the first key, or none") {
  CHECK(redis_routing_key(redis_cmd("GET", "k")) == std::optional<std::string>("k"));
  CHECK(redis_routing_key(redis_cmd("hmget", "h", "a", "b")) == std::optional<std::string>("h"));
  CHECK(redis_routing_key(redis_cmd("EVALSHA", "abc", "2", "k1", "k2", "a")) == std::optional<std::string>("k1"));
  CHECK(redis_routing_key(redis_cmd("EVAL", "return 1", "0")) == std::nullopt);
  CHECK(redis_routing_key(redis_cmd("PING")) == std::nullopt);
  CHECK(redis_routing_key(redis_cmd("SCAN", "0", "MATCH", "x*")) == std::nullopt);
  CHECK(redis_routing_key(redis_cmd("CLUSTER", "SLOTS")) == std::nullopt);
  CHECK(redis_routing_key(redis_cmd("WAIT", "1", "100")) == std::nullopt);
}

TEST_CASE("parse_redis_redirect: MOVED and ASK") {
  auto m = parse_redis_redirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(m);
  CHECK_FALSE(m->ask);
  CHECK(m->slot == 3999);
  CHECK(m->host == "127.0.0.1");
  CHECK(m->port == 6381);
  CHECK(m->address() == "127.0.0.1:6381");
  auto a = parse_redis_redirect("ASK 16383 10.0.0.2:7002");
  REQUIRE(a);
  CHECK(a->ask);
  CHECK(a->slot == 16383);
  CHECK(a->address() == "10.0.0.2:7002");
  auto v6 = parse_redis_redirect("MOVED 1 [::1]:7000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  auto empty_host = parse_redis_redirect("MOVED 12 :7001");  // "the node you asked"
  REQUIRE(empty_host);
  CHECK(empty_host->host.empty());
  CHECK(empty_host->port == 7001);
  CHECK_FALSE(parse_redis_redirect("ERR unknown command"));
  CHECK_FALSE(parse_redis_redirect("MOVED"));
  CHECK_FALSE(parse_redis_redirect("MOVED 16384 h:1"));
  CHECK_FALSE(parse_redis_redirect("MOVED x h:1"));
  CHECK_FALSE(parse_redis_redirect("ASK 5 host"));
  CHECK_FALSE(parse_redis_redirect("ASK 5 host:0"));
  CHECK_FALSE(parse_redis_redirect("NOSCRIPT No matching script"));
}

TEST_CASE("redis_url: Sentinel and Cluster forms") {
  auto s = redis_url::parse("redis-sentinel://10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster/2");
  CHECK(s.mode == redis_url::kind::sentinel);
  REQUIRE(s.nodes.size() == 3);
  CHECK(s.nodes[0] == std::make_pair(std::string("10.0.0.1"), 26379));
  CHECK(s.nodes[1] == std::make_pair(std::string("10.0.0.2"), 26379));  // Sentinel's default port
  CHECK(s.nodes[2] == std::make_pair(std::string("::1"), 26380));
  CHECK(s.master_name == "mymaster");
  CHECK(s.db == 2);
  CHECK(s.display() == "redis-sentinel://10.0.0.1:26379,10.0.0.2:26379,[::1]:26380/mymaster/2");

  auto sp = redis_url::parse("redis-sentinel://:s%40cret@h1:1/m");
  CHECK(sp.password == "s@cret");
  CHECK(sp.db == 0);
  CHECK(sp.display() == "redis-sentinel://***@h1:1/m/0");

  auto c = redis_url::parse("redis-cluster://u:pw@n1:7000,n2:7001,n3");
  CHECK(c.mode == redis_url::kind::cluster);
  REQUIRE(c.nodes.size() == 3);
  CHECK(c.nodes[2] == std::make_pair(std::string("n3"), 6379));
  CHECK(c.user == "u");
  CHECK(c.password == "pw");
  CHECK(c.display() == "redis-cluster://u:***@n1:7000,n2:7001,n3:6379");
  CHECK(redis_url::parse("redis-cluster://n1:7000/0").db == 0);

  auto single = redis_url::parse("redis://127.0.0.1:6380/3");
  CHECK(single.mode == redis_url::kind::single);
  CHECK(single.nodes.size() == 1);

  CHECK_THROWS_WITH(redis_url::parse("redis-sentinel://h1:26379"), Catch::Contains("names no master"));
  CHECK_THROWS_WITH(redis_url::parse("redis-sentinel://h1:26379/"), Catch::Contains("names no master"));
  CHECK_THROWS_WITH(redis_url::parse("redis-cluster://n1:7000/1"), Catch::Contains("database 0 only"));
  CHECK_THROWS_WITH(redis_url::parse("redis://a:1,b:2/0"), Catch::Contains("several hosts"));
  CHECK_THROWS_WITH(redis_url::parse("redis-cluster://n1:7000,,n2"), Catch::Contains("empty host"));
  CHECK_THROWS_WITH(redis_url::parse("redis-cluster://n1:99999"), Catch::Contains("bad port"));
  CHECK_THROWS_WITH(redis_url::parse("valkey://x"), Catch::Contains("redis-sentinel://"));
}

TEST_CASE("redis_format_command: the bytes hiredis formats") {
  // Arguments of every kind: empty, binary (NUL, CR LF), UTF-8, long; many arguments.
  std::vector<std::vector<std::string>> cmds = {
      {"PING"},
      {"SET", "k", ""},
      {"XADD", "aula:{p7}:outbox", "*", "d", "{\"text\":\"¿Qué tal? 🦉\"}"},
      {"SET", std::string("a\0b\r\nc", 6), std::string(70000, 'x')},
  };
  std::vector<std::string> many = {"EVALSHA", "0123456789abcdef", "40"};
  for (int k = 0; k < 40; ++k) many.push_back("arg" + std::to_string(k * 7919));
  cmds.push_back(many);
  for (const auto& c : cmds) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : c) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* target = nullptr;
    const long long n = redisFormatCommandArgv(&target, static_cast<int>(c.size()), argv.data(), lens.data());
    REQUIRE(n > 0);
    const std::string want(target, static_cast<std::size_t>(n));
    redisFreeCommand(target);
    std::string got = "kept";
    redis_format_command(got, c);
    CHECK(got == "kept" + want);
    // The same from views of the arguments (eval_views).
    std::string from_views = "kept";
    redis_format_command(from_views, std::vector<std::string_view>(c.begin(), c.end()));
    CHECK(from_views == "kept" + want);
  }
}
