// aula telegram set-webhook | info: points the bot's webhook at this aula (AULA_PUBLIC_URL +
// /webhooks/telegram, with AULA_TELEGRAM_SECRET as the secret token) and shows what Telegram
// knows of the bot and its webhook. The token never appears in the output.
#include <iostream>

#include <CLI/CLI.hpp>

#include "bot/cli/commands.hpp"
#include "bot/config/config.hpp"
#include "bot/io/http_client.hpp"
#include "bot/io/log.hpp"

namespace aula::cli {

namespace {

struct telegram_options {
  std::string url;
  bool drop_pending = false;
};

// Calls one Bot API method; returns its JSON answer, or an error text.
nlohmann::json call_api(const app_config& cfg, const std::string& method, const nlohmann::json& body) {
  net::io_context ioc;
  http_client client(ioc.get_executor(), client_options_from(cfg));
  http_call call;
  call.url = cfg.telegram.api + "/bot" + cfg.telegram.token + "/" + method;
  call.headers["Content-Type"] = "application/json";
  call.body = body.dump();
  auto fut = net::co_spawn(ioc, client.request(call), net::use_future);
  ioc.run();
  http_result r = fut.get();
  if (!r.ok()) return {{"ok", false}, {"description", log::redact(r.error)}};
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return {{"ok", false}, {"description", "HTTP " + std::to_string(r.status) + ": not JSON"}};
  return j;
}

int run(const std::string& what, const telegram_options& o) {
  app_config cfg;
  if (!load_command_config("telegram", cfg)) return 2;
  if (!cfg.telegram.enabled()) {
    std::cerr << "aula telegram: set AULA_TELEGRAM_TOKEN and AULA_TELEGRAM_SECRET first\n";
    return 2;
  }
  int status = 0;
  auto show = [&](const std::string& name, const nlohmann::json& j) {
    std::cout << name << ": " << log::redact(j.dump(2)) << "\n";
    if (!j.value("ok", false)) status = 1;
  };
  if (what == "set-webhook") {
    const std::string url = o.url.empty() ? cfg.public_url + "/webhooks/telegram" : o.url;
    show("setWebhook", call_api(cfg, "setWebhook",
                                {{"url", url},
                                 {"secret_token", cfg.telegram.secret},
                                 {"allowed_updates", {"message", "edited_message", "callback_query", "my_chat_member"}},
                                 {"drop_pending_updates", o.drop_pending}}));
  }
  show("getMe", call_api(cfg, "getMe", nlohmann::json::object()));
  show("getWebhookInfo", call_api(cfg, "getWebhookInfo", nlohmann::json::object()));
  return status;
}

}  // namespace

void add_telegram(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("telegram", "Set up the Telegram bot: set-webhook, info");
  cmd->require_subcommand(1);
  auto o = std::make_shared<telegram_options>();
  auto* set = cmd->add_subcommand("set-webhook", "Point the webhook at $AULA_PUBLIC_URL/webhooks/telegram");
  set->add_option("--url", o->url, "Another webhook URL");
  set->add_flag("--drop-pending", o->drop_pending, "Drop the updates Telegram holds for the bot");
  set->callback([o, &exit_code] { exit_code = run("set-webhook", *o); });
  auto* info = cmd->add_subcommand("info", "What Telegram knows of the bot and its webhook");
  info->callback([o, &exit_code] { exit_code = run("info", *o); });
}

}  // namespace aula::cli
