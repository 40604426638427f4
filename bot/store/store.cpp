#include "bot/store/store.hpp"

#include <charconv>

#include "bot/engine/json_text.hpp"
#include "bot/store/store_detail.hpp"

namespace aula {

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

int partition_of(const std::string& conversation, int partitions) {
  if (partitions < 1) throw std::invalid_argument("partition count must be at least 1");
  return static_cast<int>(fnv1a64(conversation) % static_cast<std::uint64_t>(partitions));
}

net::awaitable<bool> store::outbox_done(int p, const std::vector<std::string>& entry_ids,
                                        const std::vector<std::string>& record_texts, const fence& f) {
  const std::vector<nlohmann::json> records = json_text::parse_each(record_texts);
  co_await results_append(p, records);
  for (const auto& id : entry_ids) {
    try {
      co_await outbox_ack(p, id, f);
    } catch (const lease_lost&) {
      co_return false;
    }
  }
  co_return true;
}

net::awaitable<std::vector<std::optional<std::string>>> store::dir_get_many(const std::vector<std::string>& keys) {
  std::vector<std::optional<std::string>> out;
  out.reserve(keys.size());
  for (const auto& k : keys) out.push_back(co_await dir_get(k));
  co_return out;
}

net::awaitable<std::vector<outbox_entry>> store::results_pending(int p, std::size_t max) {
  auto raw = co_await results_read(p, "", max);
  std::vector<outbox_entry> out;
  out.reserve(raw.size());
  for (auto& e : raw) out.push_back(outbox_entry{std::move(e.id), json_text::parse_or_discarded(e.text)});
  co_return out;
}

namespace {
constexpr std::size_t code_length = 18;  // two partition characters + 16 random ones

// The value of an upper-case alphabet character, or -1.
int code_digit(char c) {
  for (int i = 0; i < 32; ++i)
    if (code_alphabet[i] == c) return i;
  return -1;
}
}  // namespace

std::string code_prefix(int partition) {
  if (partition < 0 || partition >= 32 * 32)
    throw std::out_of_range("a certificate code names partitions 0..1023, not " + std::to_string(partition));
  return {code_alphabet[partition / 32], code_alphabet[partition % 32]};
}

std::string normalize_code(std::string_view code) {
  std::string out;
  out.reserve(code.size());
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    // Crockford's look-alikes, as read off paper.
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    if (code_digit(c) < 0) return "";
    out.push_back(c);
  }
  return out;
}

std::optional<int> code_partition(std::string_view code) {
  auto n = normalize_code(code);
  if (n.size() != code_length) return std::nullopt;
  return code_digit(n[0]) * 32 + code_digit(n[1]);
}

outbox_write make_outbox_write(std::string_view conv, std::string_view lane, std::string_view kind,
                               std::string_view payload, std::int64_t v, std::int64_t i, std::int64_t in) {
  json_text::object o;
  // Members added in key order where the kind's name allows (the object sorts them otherwise).
  o.string("conv", conv).integer("i", i);
  if (in > 0) o.integer("in", in);
  if (kind <= "lane") o.raw(kind, payload);
  o.string("lane", lane);
  if (kind > "lane" && kind <= "v") o.raw(kind, payload);
  o.integer("v", v);
  if (kind > "v") o.raw(kind, payload);
  return {std::string(lane), o.text()};
}

namespace store_detail {

std::string clean_provider_id(const std::string& id) {
  std::string out = id;
  for (auto& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

std::pair<std::uint64_t, std::uint64_t> parse_stream_id(const std::string& id) {
  auto bad = [&] { return std::invalid_argument("not a stream id: '" + id + "'"); };
  auto num = [&](std::string_view s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) throw bad();
    return v;
  };
  auto dash = id.find('-');
  if (dash == std::string::npos) return {num(id), 0};
  return {num(std::string_view(id).substr(0, dash)), num(std::string_view(id).substr(dash + 1))};
}

std::pair<std::string, std::string> split_timer_member(const std::string& member) {
  auto bar = member.rfind('|');
  if (bar == std::string::npos) return {member, ""};
  return {member.substr(0, bar), member.substr(bar + 1)};
}

std::pair<std::string, std::string> split_outbox_id(const std::string& entry_id) {
  auto colon = entry_id.find(':');
  if (colon != std::string::npos) {
    auto lane = entry_id.substr(0, colon);
    auto id = entry_id.substr(colon + 1);
    if (lane == "reply" || lane == "bulk") {
      parse_stream_id(id);
      return {lane, id};
    }
  }
  throw std::invalid_argument("not an outbox entry id: '" + entry_id + "'");
}

std::vector<std::pair<std::string, std::string>> certificate_writes(const commit_request& c, int p) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [code, cert] : c.certificates) {
    auto n = normalize_code(code);
    auto q = code_partition(n);
    if (!q) throw std::invalid_argument("not a certificate code: '" + code + "'");
    if (*q != p)
      throw std::invalid_argument("certificate code " + n + " names partition " + std::to_string(*q) +
                                  ", but conversation " + c.conversation + " is in partition " + std::to_string(p));
    out.emplace_back(std::move(n), cert.dump());
  }
  return out;
}

std::string glob_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::optional<int> parse_int(const std::string& s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::pair<int, std::string>> split_current(const std::string& value) {
  auto bar = value.find('|');
  if (bar == std::string::npos) return std::nullopt;
  auto v = parse_int(value.substr(0, bar));
  if (!v || *v < 1) return std::nullopt;
  return std::pair{*v, value.substr(bar + 1)};
}

}  // namespace store_detail
}  // namespace aula
