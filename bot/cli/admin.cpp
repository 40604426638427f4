// aula admin token create|list|revoke and aula admin audit: people's tokens for the admin API
// and the audit log, straight in Redis through the same library the server uses (so the
// first administrator can be made before anything runs). A new token is printed once; only
// its hash is stored.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/engine/timing.hpp"
#include "bot/service/access.hpp"
#include "bot/store/store.hpp"

namespace aula::cli {

namespace {

struct admin_options {
  std::string name, role = "facilitator", cohorts, commissions;
  std::size_t max = 50;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      while (!cur.empty() && cur.back() == ' ') cur.pop_back();
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (!(cur.empty() && c == ' ')) {
      cur.push_back(c);
    }
  }
  return out;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Runs `body` with the Redis store of the configuration; returns its exit code.
int with_store(const std::string& what, const std::function<net::awaitable<int>(store&, access_control&)>& body) {
  app_config cfg;
  if (!load_command_config("admin", cfg)) return 2;
  net::io_context ioc;
  const redis_store_options ro = store_options_from(cfg);
  int status = 1;
  auto fut = net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        auto st = co_await make_redis_store(co_await net::this_coro::executor, ro);
        access_control access(*st, cfg.admin_tokens);
        status = co_await body(*st, access);
      },
      net::use_future);
  ioc.run();
  try {
    fut.get();
  } catch (const std::invalid_argument& e) {
    std::cerr << "aula admin " << what << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "aula admin " << what << ": " << e.what() << "\n";
    return 1;
  }
  return status;
}

principal cli_user() {
  const char* user = std::getenv("USER");
  return principal{std::string("cli:") + (user ? user : "unknown"), "admin", {}, {}};
}

}  // namespace

void add_admin(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("admin", "People's tokens for the admin API and the audit log");
  cmd->require_subcommand(1);
  auto o = std::make_shared<admin_options>();
  auto* token = cmd->add_subcommand("token", "Create, list or revoke a person's token");
  token->require_subcommand(1);
  auto* create = token->add_subcommand("create", "A new token (printed once; only its hash is kept)");
  create->add_option("--name", o->name, "Who holds it (shown in the audit log)")->required();
  create->add_option("--role", o->role, "facilitator (default) or admin")->check(CLI::IsMember({"facilitator", "admin"}));
  create->add_option("--cohorts", o->cohorts, "A facilitator's cohorts, comma-separated (e.g. piloto,lanzamiento)");
  create->add_option("--commissions", o->commissions,
                     "A facilitator's local commissions (states), comma-separated: their learners in any cohort");
  create->callback([o, &exit_code] {
    exit_code = with_store("token create", [o](store&, access_control& access) -> net::awaitable<int> {
      const auto cohorts = split_list(o->cohorts);
      const principal me = cli_user();
      const auto commissions = split_list(o->commissions);
      const std::string t = co_await access.create_token(o->name, o->role, cohorts, me.name, wall_ms(), commissions);
      nlohmann::json details;
      details["role"] = o->role;
      details["cohorts"] = cohorts;
      details["commissions"] = commissions;
      co_await access.audit(me, "token.create", o->name, details, wall_ms());
      std::cout << t << "\n";
      std::cerr << "token for " << o->name << " (" << o->role << "): shown once; aula keeps only its hash\n";
      co_return 0;
    });
  });
  auto* list = token->add_subcommand("list", "Who holds a token (never the tokens)");
  list->callback([&exit_code] {
    exit_code = with_store("token list", [](store&, access_control& access) -> net::awaitable<int> {
      auto awaited_1 = co_await access.tokens();
      for (const auto& j : awaited_1) {
        std::cout << j.value("name", std::string{}) << "  " << j.value("role", std::string{});
        const auto cohorts = j.value("cohorts", nlohmann::json::array());
        if (!cohorts.empty()) std::cout << "  cohorts: " << cohorts.dump();
        const auto commissions = j.value("commissions", nlohmann::json::array());
        if (!commissions.empty()) std::cout << "  commissions: " << commissions.dump();
        std::cout << "  created " << format_local(j.value("created_at", std::int64_t{0}), "UTC") << " UTC by "
                  << j.value("created_by", std::string{}) << "\n";
      }
      co_return 0;
    });
  });
  auto* revoke = token->add_subcommand("revoke", "Revoke a person's token");
  revoke->add_option("--name", o->name, "Whose token")->required();
  revoke->callback([o, &exit_code] {
    exit_code = with_store("token revoke", [o](store&, access_control& access) -> net::awaitable<int> {
      if (!co_await access.revoke(o->name)) {
        std::cerr << "aula admin token revoke: no token for '" << o->name << "'\n";
        co_return 1;
      }
      const nlohmann::json none;
      co_await access.audit(cli_user(), "token.revoke", o->name, none, wall_ms());
      std::cout << "revoked " << o->name << "\n";
      co_return 0;
    });
  });
  auto* audit = cmd->add_subcommand("audit", "The newest entries of the audit log");
  audit->add_option("--max", o->max, "How many (default 50)");
  audit->callback([o, &exit_code] {
    exit_code = with_store("audit", [o](store& st, access_control&) -> net::awaitable<int> {
      auto entries = co_await st.audit_read(o->max);
      for (const auto& e : entries)
        std::cout << format_local(e.value("at", std::int64_t{0}), "UTC") << " UTC  " << e.value("who", std::string{})
                  << "  " << e.value("action", std::string{}) << "  " << e.value("target", std::string{}) << "\n";
      co_return 0;
    });
  });
}

}  // namespace aula::cli
