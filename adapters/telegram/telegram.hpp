// Telegram Bot API adapter (CHANNELS.md §2): webhook updates in, sendMessage/sendPhoto/… out.
//
// In: the webhook must carry `X-Telegram-Bot-Api-Secret-Token` (set with setWebhook's
// secret_token), compared in constant time. Only private chats are read; a learner's address
// is the chat id as decimal int64 text. What an update becomes:
//   message with text        → text event (verbatim, no template expansion)
//   "/start <payload>"       → start(payload): a deep link t.me/<bot>?start=<flow id>
//   "/start" (no payload)    → the text "MENU", so a new learner sees the activities
//   message without text     → text event with the caption (often ""), media_kind set
//   callback_query           → choice event (tap), acknowledged by answerCallbackQuery sent
//                              as the webhook response body (CHANNELS.md §2.5)
//   my_chat_member (private) → "kicked" = opt_out, "member" = opt_in
//   edited_message, groups, anything else → ignored (200, so Telegram does not retry)
// Out: plain text (no parse_mode), choices as an inline keyboard of one button per row (up to
// max_buttons), texts over 4096 UTF-16 code units split into several messages.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "adapters/adapter.hpp"

namespace aula {

struct telegram_options {
  std::string token;   // the bot token from @BotFather (secret: part of every API URL)
  std::string secret;  // setWebhook's secret_token, checked on every webhook (secret)
  std::string api_base = "https://api.telegram.org";  // tests point it at the mock
};

class telegram_adapter : public channel_adapter {
 public:
  // Telegram's limits, in UTF-16 code units (what Telegram counts).
  static constexpr std::size_t max_text = 4096;
  static constexpr std::size_t max_caption = 1024;
  static constexpr std::size_t max_callback_data = 64;  // bytes
  static constexpr int max_buttons = 8;  // more choices than this: a numbered text menu

  explicit telegram_adapter(telegram_options cfg);

  std::string name() const override { return "telegram"; }
  bool enabled() const override;
  channel_caps caps() const override;
  parse_result parse(const http_in& req) const override;
  std::vector<http_call> render(const std::string& address, const outbound_message& m) const override;
  send_result classify(int http_status, const std::string& body) const override;

  // `s` with the bot token (also URL-encoded) and the webhook secret masked, for logs.
  std::string redact(std::string s) const;

  // The API URL of `method` (contains the token: never log it unredacted).
  std::string method_url(const std::string& method) const;

 private:
  telegram_options cfg_;
};

// The length of UTF-8 text `s` as Telegram counts it: UTF-16 code units (a code point above
// U+FFFF, like most emoji, counts 2). Invalid bytes count 1 each.
std::size_t telegram_length(const std::string& s);

// Splits `text` into pieces of at most `limit` UTF-16 code units: at the last paragraph break
// ("\n\n") in the second half of the window, else the last line break there, else the last
// space there, else the last line break or space anywhere in it, else at a code point
// boundary. The break itself is dropped; whitespace-only pieces are dropped.
std::vector<std::string> telegram_split(const std::string& text, std::size_t limit);

}  // namespace aula
