// The web chat: a page aula serves itself (/chat), so anyone can take a course in a browser.
// The page posts what the learner does to /chat/api/send and polls /chat/api/poll for aula's
// messages (the sender puts them in the learner's mailbox in the store). A learner is a
// random 128-bit id the page keeps in localStorage: holding it is being that learner.
#pragma once

#include <string>

#include "adapters/adapter.hpp"

namespace aula {

class web_adapter : public channel_adapter {
 public:
  std::string name() const override { return "web"; }
  bool enabled() const override { return true; }
  // Buttons for up to 10 choices, like a chat app.
  channel_caps caps() const override {
    channel_caps c;
    c.max_buttons = 10;
    return c;
  }
  // Body: {"learner": "<32 hex>", "text": "…"} | {"learner", "choice": "<ref>"} |
  //       {"learner", "start": "<flow id>"}; optional "lang": "es"|"en", "name".
  parse_result parse(const http_in& req) const override;
  // The web chat is delivered through the store's mailbox, never by HTTP calls.
  std::vector<http_call> render(const std::string&, const outbound_message&) const override { return {}; }
  send_result classify(int, const std::string&) const override { return {}; }
};

// A valid learner id for the web chat: 32 lower-case hex characters.
bool valid_web_learner(const std::string& id);

// The page itself (HTML, CSS and JavaScript in one document, Spanish and English).
const std::string& web_chat_page();

}  // namespace aula
