// JSON text to an nlohmann document, faster than nlohmann's own reader for the documents the
// server reads thousands of times a second (webhook bodies, outbox entries, result records):
// nlohmann's lexer copies each character through a token buffer; this reader copies runs.
// The document is the same as nlohmann::json::parse gives — value for value, type for type
// (a positive integer is unsigned, a negative one signed) — because the reader takes only a
// plain subset (no numbers with fractions or exponents, no integers beyond 64 bits, no depth
// beyond 64) and leaves every other text, and every error, to nlohmann's reader.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <nlohmann/json.hpp>

namespace aula::json_text {

// The document, or nullopt when the text is outside the subset (or not JSON).
std::optional<nlohmann::json> read_plain(std::string_view text);

// As nlohmann::json::parse(text): throws its parse_error on a text that is not JSON.
nlohmann::json parse(std::string_view text);
// As nlohmann::json::parse(text, nullptr, false): a discarded value when the text is not JSON.
nlohmann::json parse_or_discarded(std::string_view text);
// Each text as parse() reads it, in order (throws at the first that is not JSON).
std::vector<nlohmann::json> parse_each(const std::vector<std::string>& texts);

// The value a document holds at `path`, or nullptr: '/'-separated member names and array
// positions ("result/message_id", "messages/#0/id"; in a name, a backslash makes the next
// character part of it: \/ is a '/', \# a '#' that does not start a position, \\ a
// backslash).
const nlohmann::json* at_path(const nlohmann::json& doc, std::string_view path);

// Paths for pick(), compiled once: the tree of the names and positions they go through, read
// as at_path() reads them. Keeps views of the paths' texts, which must outlive it and every
// answer of pick() with it. An object or array found at a path is given empty (its presence
// and kind), or, with containers::whole, as it is — where no other path goes inside it.
class path_set {
 public:
  enum class containers { empty, whole };
  explicit path_set(const std::vector<std::string_view>& paths, containers kept = containers::empty);
  containers kept() const { return kept_; }
  static constexpr std::size_t no_position = static_cast<std::size_t>(-1);
  struct node {
    std::string name;                      // a member's name, or
    std::size_t position = no_position;    // an array position
    std::vector<std::string_view> paths;   // the paths that end here
    std::vector<node> children;
  };
  const node& root() const { return root_; }
  const std::vector<std::string_view>& paths() const { return paths_; }  // as given

 private:
  node root_;
  std::vector<std::string_view> paths_;
  containers kept_;
};

// The values at `paths` of a JSON object text, without its document: each named by its path
// (the caller's text), in document order; an object or array found at a path is given as an
// empty one of its kind (unless the set keeps containers whole). nullopt when the text is not a JSON object in the reader's subset,
// or when the document might say otherwise (a member the paths go through given twice in one
// object): read the document then.
std::optional<std::vector<std::pair<std::string_view, nlohmann::json>>> pick(std::string_view text,
                                                                             const path_set& paths);
std::optional<std::vector<std::pair<std::string_view, nlohmann::json>>> pick(
    std::string_view text, const std::vector<std::string_view>& paths);

// The values at a path_set's paths of a JSON text, looked up by path: picked without the
// document (pick) where it can, else read from the document (at_path), so a reader writes its
// lookups once. An object or array found by pick reads as an empty one of its kind; call
// read_document() when its inside matters. Keeps views of the text and the paths.
class values {
 public:
  values(std::string_view text, const path_set& paths);
  // Whether the text is a JSON object (the paths name members of one).
  bool is_object() const { return picked_.has_value() || doc_->is_object(); }
  const nlohmann::json* at(std::string_view path) const;
  // The values pick found (nullptr when the document is read).
  const std::vector<std::pair<std::string_view, nlohmann::json>>* picked() const {
    return picked_ ? &*picked_ : nullptr;
  }
  // From now on the lookups read the document.
  void read_document();

 private:
  std::string_view text_;
  std::optional<std::vector<std::pair<std::string_view, nlohmann::json>>> picked_;
  std::optional<nlohmann::json> doc_;
};

// As j.dump() — compact, the same bytes — written without nlohmann's serializer (which sends
// each byte of a string through its UTF-8 decoder); a string that is not UTF-8 makes the
// whole document go through nlohmann's dump with `handler` (its error, or its replacement).
std::string write(const nlohmann::json& j,
                  nlohmann::json::error_handler_t handler = nlohmann::json::error_handler_t::strict);

// s as a JSON string appended to out: the bytes write() gives for it under the replace handler
// (a string that is not UTF-8 gets U+FFFD where nlohmann's dump puts it).
void append_string(std::string& out, std::string_view s);

// A JSON object written member by member, for the bodies the server builds for every message
// it sends: text() is the same bytes as write() (replace handler) of the nlohmann object with
// these members — in key order, as nlohmann's map keeps them, whatever order they were added
// in. Values are strings, integers, booleans or JSON texts (an inner object's text(), an
// array from array()). A key added twice is a programming error (std::logic_error).
class object {
 public:
  object& string(std::string_view key, std::string_view value);
  object& integer(std::string_view key, std::int64_t value);
  object& boolean(std::string_view key, bool value);
  object& raw(std::string_view key, std::string_view json_value);
  std::string text() const;
  void append_text(std::string& out) const;  // text() appended to out

 private:
  struct member {
    std::size_t key, key_size, value, value_size;  // offsets into keys_ and values_
    bool plain_key;                                // written as it is, between quotes
  };
  object& add(std::string_view key, std::size_t value_from);
  std::string keys_, values_;
  boost::container::small_vector<member, 16> members_;  // a record's members without the heap
  bool in_order_ = true;  // each key added after the ones before it in key order
};

// JSON texts as one array's text: "[" a "," b "]".
std::string array(const std::vector<std::string>& items);

// Equal values of equal types all the way down (nlohmann's == calls 1u, 1 and 1.0 equal):
// what "the same document" means in json_text's tests.
bool identical(const nlohmann::json& a, const nlohmann::json& b);

// Pieces shared with session_text.cpp.
namespace detail {
// The JSON string whose opening quote is s[i], decoded into out as nlohmann reads it (its
// escapes; \\u with surrogate pairs as one character; UTF-8 checked); the index after its
// closing quote, 0 when it is not one nlohmann accepts.
std::size_t read_string(std::string_view s, std::size_t i, std::string& out);
// The same checks without decoding: the index after the closing quote, 0 when not a string.
std::size_t skip_string(std::string_view s, std::size_t i);
// s as a JSON string, quoted, as nlohmann writes it (UTF-8 kept; ", \\ and control characters
// escaped) appended to out; false (out as it was) when s is not UTF-8.
bool put_string(std::string& out, std::string_view s);
}  // namespace detail

}  // namespace aula::json_text
