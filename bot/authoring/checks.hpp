// The validator's checks that go beyond reading a file: what could reach a learner wrong.
// load_flows() runs them on every load, so `aula validate`, `aula test`, `aula chat` and the
// server (on publish) all refuse the same mistakes.
//
// Errors (the flow is refused): unknown {{variables}}, media of the wrong file type or not over
// https, captions and texts over the chat apps' limits, Telegram button data over 64 bytes,
// loops that never wait for the learner, random nodes whose weights add up to 0.
// Warnings (listed, not refused): unreachable nodes, choice labels WhatsApp would cut, missing
// translations, answers no flow saves, texts that need UCS-2 on SMS, reminders outside the
// WhatsApp 24-hour window, media over a channel's size limit, loops that may not end.
#pragma once

#include <string>
#include <string_view>

#include "bot/authoring/loader.hpp"

namespace aula {

// Adds errors and warnings about the loaded flows to res.diags.
void check_flows(load_result& res);

// Whether SMS can send `text` in GSM-7 (GSM 03.38 basic set plus its extension table), i.e.
// 160 characters per segment rather than UCS-2's 70.
bool gsm7_encodable(std::string_view text);

// The characters of `text` outside GSM-7, each once, in order of appearance.
std::u32string gsm7_offending(std::string_view text);

}  // namespace aula
