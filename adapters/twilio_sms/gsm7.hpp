// SMS text rules (CHANNELS.md §3.7, GSM 03.38 / 3GPP TS 23.038): which encoding a text needs,
// how many segments it bills, how Spanish text can be transliterated to stay in GSM-7, and how
// a long text is cut into bodies Twilio accepts (1600 characters each). Pure functions on UTF-8;
// invalid UTF-8 is read as U+FFFD (which needs UCS-2) and never throws.
//
//   GSM-7: the basic table (1 septet per character) plus the extension table ^ { } \ [ ] ~ | €
//          and form feed (2 septets each: ESC + char). 160 septets fit one SMS; longer texts
//          travel as concatenated segments of 153 septets (the 6-byte header takes the rest),
//          and an ESC pair is never split across two segments.
//   UCS-2: any other character makes the whole text UCS-2: 70 UTF-16 code units in one SMS,
//          67 per concatenated segment; a code point above U+FFFF (most emoji) is a surrogate
//          pair, counts 2 and is never split across segments.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace aula {

enum class sms_encoding { gsm7, ucs2 };

struct sms_count {
  sms_encoding encoding = sms_encoding::gsm7;
  std::size_t units = 0;  // GSM-7: septets (extension characters count 2); UCS-2: UTF-16 code units
  int segments = 0;       // 0 for an empty text
};

// Whether code point `c` is in the GSM-7 basic table (1 septet) or the extension table (2).
bool gsm7_basic(char32_t c);
bool gsm7_extension(char32_t c);

// The encoding, length and segment count of `text` as one SMS body.
sms_count sms_segments(std::string_view text);

// `text` mapped into GSM-7 where a Spanish reader loses nothing: á í ó ú → a i o u (é, ñ, ü,
// ¿, ¡ … are GSM-7 already and stay), other Latin letters with diacritics → their base letter,
// curly quotes and « » → straight quotes, dashes and bullets → '-', '…' → "...", unusual spaces
// → ' ', º ª → o a; everything else outside GSM-7 (emoji, symbols, other scripts, invisible
// characters) is dropped, together with a space the drop would leave doubled or at the edge of
// a line. The result is always GSM-7.
std::string sms_transliterate(std::string_view text);

// Twilio's measure of a Body: UTF-16 code units (an emoji counts 2), so a body within the
// limit passes whether Twilio counts code points or UTF-16 units.
std::size_t sms_length(std::string_view text);

// Cuts `text` into pieces of at most `limit` units (sms_length): at the last paragraph break in
// the second half of the window, else the last line break there, else the last space there,
// else the last line break or space anywhere, else between two code points (never inside a
// UTF-8 sequence, so never inside a surrogate pair or an ESC pair). The break itself is
// dropped, and so are whitespace at the end of a piece and blank pieces. Invalid UTF-8
// becomes U+FFFD first.
std::vector<std::string> sms_split(std::string_view text, std::size_t limit);

// `text` with every malformed UTF-8 sequence replaced by U+FFFD.
std::string sms_valid_utf8(std::string_view text);

}  // namespace aula
