// What the channel adapters (telegram/, whatsapp/, twilio_sms/) have in common below the level
// of a channel: provider payloads read without exceptions, secrets compared in constant time,
// HMAC and base64, text measured and cut the way the providers count it (UTF-16 code units),
// log redaction. Internal to bot_adapters: the server and the service see only adapter.hpp and
// each channel's own header. Pure functions, like the adapters; nothing here throws on bad input.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "adapters/adapter.hpp"

namespace aula::json_text {
class path_set;
}

namespace aula::adapter_util {

// ---------------------------------------------------------------------------- text

// Whether `s` is empty or only spaces, tabs and line breaks.
bool blank(std::string_view s);
// ASCII lower case (header names, MIME types, URL schemes); other bytes stay.
std::string lower(std::string s);
// Every occurrence of `needle` (non-empty) in `s` replaced by `with`, left to right.
void replace_all(std::string& s, const std::string& needle, const std::string& with);
// `url` without its trailing slashes ("https://api.example/" → "https://api.example").
std::string without_trailing_slashes(std::string url);
// `s` with every secret (empty ones skipped) replaced by "<redacted>", the longest first, so a
// secret that contains another goes entirely.
std::string redact(std::string s, std::vector<std::string> secrets);

// ---------------------------------------------------------------------------- security, encodings

// Constant-time equality that does not leak where the strings differ, nor (through SHA-256
// digests) their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);
// HMAC of `data` under `key`: the raw digest (32 bytes for SHA-256, 20 for SHA-1), or "" on an
// OpenSSL failure.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hmac_sha1(std::string_view key, std::string_view data);
// Standard base64 with padding.
std::string base64(std::string_view raw);
// The value of hex digit `c` (either case), -1 if it is not one.
int hex_value(char c);
// URL / form decoding of `in` into `out`: '+' is a space, %XX a byte. A broken escape ("%", "%4",
// "%zz") makes it return false with `on_bad_escape == fail`, or stays as it is with `keep`.
enum class bad_escape { fail, keep };
bool percent_decode(std::string_view in, std::string& out, bad_escape on_bad_escape);

// ---------------------------------------------------------------------------- HTTP and JSON

// The value of header `lower_name` (given in lower case) whatever case the request spells it in;
// nullptr when absent (the last spelling wins when several are present).
const std::string* find_header(const std::map<std::string, std::string>& headers, std::string_view lower_name);

// Ends a parse: sets the outcome and the reason (the items are dropped unless ok) and returns
// a copy of `r`.
parse_result finish(parse_result& r, parse_result::verdict v, std::string why);

// Every body we produce goes through here: invalid UTF-8 (which can only come from a flow file)
// becomes U+FFFD instead of an exception.
std::string dump(const nlohmann::json& j);

// What a provider's JSON body becomes before it is parsed (after its signature is checked):
// bytes that are not UTF-8 and \u escapes of lone UTF-16 surrogates ("\udc80", a cut emoji)
// are replaced by U+FFFD, so a learner's message with them is taken (with U+FFFD where the
// broken character was) instead of the whole body being refused. Everything else is kept.
std::string repair_json_text(std::string_view body);

// Non-throwing accessors: a field of the wrong type (or a parent that is not an object) reads
// as absent.
const nlohmann::json* member(const nlohmann::json& o, const char* key);
const nlohmann::json* object_member(const nlohmann::json& o, const char* key);
const nlohmann::json* array_member(const nlohmann::json& o, const char* key);
std::string string_member(const nlohmann::json& o, const char* key);  // "" when absent
// An integer as exact decimal text (ids can exceed 2^53; they fit int64); nullopt otherwise.
std::optional<std::string> int64_text(const nlohmann::json* v);

// Some values of a JSON body, by path (a provider's answer to a send, thousands a second;
// only a field or two matters; read with json_text). `paths` name values by their
// members and array positions ('#' and the index), '/'-separated ("result/message_id",
// "messages/#0/id"; in a member's name a backslash, '/' and a leading '#' are escaped with a
// backslash); a member repeated counts as its last value, as in a parsed document; an
// object or array at a path is kept as an empty one of its kind (its presence). nullopt when
// the body is not JSON or not an object. The values are named by the caller's paths (not
// copies: `paths`' texts must outlive them).
struct picked_values {
  std::vector<std::pair<std::string_view, nlohmann::json>> values;
  const nlohmann::json* find(std::string_view path) const;  // nullptr when absent
};
std::optional<picked_values> pick_values(std::string_view body, const std::vector<std::string_view>& paths);
// The same with paths compiled once (a static json_text::path_set for a body read per message).
std::optional<picked_values> pick_values(std::string_view body, const json_text::path_set& paths);

// ---------------------------------------------------------------------------- UTF-16 lengths

// The length in bytes of the UTF-8 sequence at `s[i]`; 1 for an invalid byte.
std::size_t utf8_seq_len(std::string_view s, std::size_t i);
// The length of UTF-8 text as Telegram, Meta and Twilio count it: UTF-16 code units (a code
// point above U+FFFF, like most emoji, counts 2). Invalid bytes count 1 each.
std::size_t utf16_length(std::string_view s);
// The end (byte offset) of the longest piece of `s` from byte `from` that fits `limit` UTF-16
// units, on a code point boundary.
std::size_t utf16_fit_end(std::string_view s, std::size_t from, std::size_t limit);
// The smallest code point boundary from which the rest of `s` fits `limit` UTF-16 units.
std::size_t utf16_fit_start(std::string_view s, std::size_t limit);
// Splits `text` into pieces of at most `limit` UTF-16 units: at the last paragraph break ("\n\n")
// in the second half of the window, else the last line break there, else the last space there,
// else the last line break or space anywhere in it, else at a code point boundary. The break
// itself is dropped; whitespace-only pieces are dropped, and with `trim_end` so is whitespace at
// the end of a piece.
std::vector<std::string> utf16_split(std::string_view text, std::size_t limit, bool trim_end = false);

// ---------------------------------------------------------------------------- messages

// The line render_plain shows for an attachment: icon, URL, file name.
std::string media_link(const media& a);
// The text that goes with `m`: its own text, or, when it has a menu that does not go as the
// channel's buttons (`as_buttons` false), render_plain's text with the menu numbered (without
// the attachment's line).
std::string text_with_menu(const outbound_message& m, bool as_buttons);

}  // namespace aula::adapter_util
