// The plain-subset JSON reader and the writer (bot/engine/json_text.hpp) against nlohmann's:
// the same document, value for value and type for type, or the text left to nlohmann.
#include "bot/engine/json_text.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace aula;
using nlohmann::json;

namespace {

// The id of the nlohmann exception f throws (0: none).
template <class F>
int error_id(F&& f) {
  try {
    [[maybe_unused]] const auto value = f();
  } catch (const json::exception& e) {
    return e.id;
  }
  return 0;
}

std::string any_text(std::mt19937& rng) {
  static const std::vector<std::string> parts = {"a", "Zz", "ñ", "¿", "🦉", "\"", "\\", "\n", "\x01", "/", " ", "é",
                                                 "\x7f", "{", "]"};
  std::string s;
  for (int k = std::uniform_int_distribution<int>(0, 5)(rng); k > 0; --k)
    s += parts[std::uniform_int_distribution<std::size_t>(0, parts.size() - 1)(rng)];
  return s;
}

json any_value(std::mt19937& rng, int depth = 0) {
  switch (std::uniform_int_distribution<int>(0, depth > 3 ? 6 : 8)(rng)) {
    case 0: return any_text(rng);
    case 1: return std::uniform_int_distribution<std::int64_t>(-1000000000000, 1000000000000)(rng);
    case 2: return std::uniform_int_distribution<std::uint64_t>(0, std::numeric_limits<std::uint64_t>::max())(rng);
    case 3: return std::numeric_limits<std::int64_t>::min();
    case 4: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
    case 5: return std::bernoulli_distribution(0.5)(rng);
    case 6: return nullptr;
    case 7: {
      json a = json::array();
      for (int k = std::uniform_int_distribution<int>(0, 4)(rng); k > 0; --k) a.push_back(any_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int k = std::uniform_int_distribution<int>(0, 4)(rng); k > 0; --k) o[any_text(rng)] = any_value(rng, depth + 1);
      return o;
    }
  }
}

// What nlohmann's reader makes of a text: the document, or "error".
std::optional<json> nlohmann_reads(const std::string& t) {
  json j = json::parse(t, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace

TEST_CASE("json_text: the plain subset reads as nlohmann reads it") {
  std::mt19937 rng(5);
  int plain = 0;
  for (int k = 0; k < 3000; ++k) {
    const json v = any_value(rng);
    for (const std::string& t : {v.dump(), v.dump(2), v.dump(-1, ' ', true)}) {
      INFO(t);
      const auto want = nlohmann_reads(t);
      REQUIRE(want.has_value());
      const auto got = json_text::read_plain(t);
      // Texts without a fraction or an exponent are in the subset.
      if (t.find_first_of(".eE") == std::string::npos) REQUIRE(got.has_value());
      if (got) {
        ++plain;
        REQUIRE(json_text::identical(*got, *want));
      }
      REQUIRE(json_text::identical(json_text::parse(t), *want));
      REQUIRE(json_text::identical(json_text::parse_or_discarded(t), *want));
    }
  }
  CHECK(plain > 3000);
  // Numbers at the edges of the integer types: nlohmann's types (-0 is signed; beyond 64 bits
  // a float, which the subset leaves to nlohmann).
  for (const char* t : {"0", "-0", "18446744073709551615", "18446744073709551616", "-9223372036854775808",
                        "-9223372036854775809", "9223372036854775808", "[1,-1,0]", "{\"a\":1,\"a\":-2}"}) {
    INFO(t);
    const auto got = json_text::read_plain(t);
    if (got) CHECK(json_text::identical(*got, json::parse(t)));
    CHECK(json_text::identical(json_text::parse(t), json::parse(t)));
  }
  CHECK_FALSE(json_text::read_plain("18446744073709551616").has_value());
  CHECK(json_text::read_plain("-0")->is_number_integer());
  CHECK(json_text::read_plain("{\"a\":1,\"a\":-2}")->at("a") == -2);
}

TEST_CASE("json_text: any other text reads as nlohmann reads it, or fails as it fails") {
  std::mt19937 rng(11);
  static const std::string inserts = std::string("{}[],:\" \\0a-.eE/utfn\x01\x80\xC3\xED\xF4", 25) + std::string(1, '\0');
  int texts = 0, plain = 0, errors = 0;
  for (int k = 0; k < 600; ++k) {
    const std::string text = any_value(rng).dump();
    std::vector<std::string> variants;
    for (std::size_t cut = 0; cut < text.size(); cut += 1 + text.size() / 25) variants.push_back(text.substr(0, cut));
    for (int m = 0; m < 25 && !text.empty(); ++m) {
      std::string t = text;
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, t.size() - 1)(rng);
      switch (m % 3) {
        case 0: t[at] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)); break;
        case 1: t.insert(at, 1, inserts[std::uniform_int_distribution<std::size_t>(0, inserts.size() - 1)(rng)]); break;
        default: t.erase(at, 1);
      }
      variants.push_back(std::move(t));
    }
    for (const char* tail : {" ", "x", "{}", "\0", "\0x"}) variants.push_back(text + std::string(tail, std::strlen(tail) ? std::strlen(tail) : 1));
    for (const char* u : {"\"\\u00e1\"", "\"\\ud83e\\udd89\"", "\"\\ud83e\"", "\"\\udd89\"", "\"\\ud83ex\"", "\"\\u12\""})
      variants.emplace_back(u);
    for (const auto& t : variants) {
      ++texts;
      INFO(t);
      const auto want = nlohmann_reads(t);
      if (const auto got = json_text::read_plain(t)) {
        ++plain;
        REQUIRE(want.has_value());
        REQUIRE(json_text::identical(*got, *want));
      }
      if (want) {
        REQUIRE(json_text::identical(json_text::parse(t), *want));
      } else {
        ++errors;
        CHECK(json_text::parse_or_discarded(t).is_discarded());
        // The same error as nlohmann's (a parse error, or a number's overflow).
        const int want_id = error_id([&] { return json::parse(t); });
        CHECK(want_id != 0);
        CHECK(error_id([&] { return json_text::parse(t); }) == want_id);
      }
    }
  }
  CHECK(plain > texts / 10);
  CHECK(errors > texts / 5);
}

TEST_CASE("json_text: texts read one by one, in order, as nlohmann reads each") {
  const std::vector<std::string> texts{R"({"id":"r.1","text":"¿Qué? ñ 🎉","n":-3})", "[1,2.5,true,null]",
                                       R"({"a":{"b":[{"c":"\u00e1"}]}})", R"("sí")"};
  const auto docs = json_text::parse_each(texts);
  REQUIRE(docs.size() == texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) CHECK(json_text::identical(docs[i], json::parse(texts[i])));
  CHECK(json_text::parse_each({}).empty());
  CHECK_THROWS_AS(json_text::parse_each({"{}", "{no es json"}), json::parse_error);
}

TEST_CASE("json_text: written exactly as nlohmann's dump writes it") {
  std::mt19937 rng(23);
  for (int k = 0; k < 3000; ++k) {
    const json v = any_value(rng);
    INFO(v.dump());
    REQUIRE(json_text::write(v) == v.dump());
  }
  for (const json& v : {json(0.1), json(-0.0), json(1e300), json(5e-324), json(std::numeric_limits<std::int64_t>::min()),
                        json(std::numeric_limits<std::uint64_t>::max()), json::object(), json::array(), json(""),
                        json({{"b", 1}, {"a", {nullptr, true, false, 2.5}}})})
    CHECK(json_text::write(v) == v.dump());
  // A string that is not UTF-8: nlohmann's error, or its replacement, for the whole document.
  const json bad = {{"ok", "sí"}, {"x", std::string("ab\xC3(\xFFz")}, {"list", {std::string("\xED\xA0\x80")}}};
  CHECK(error_id([&] { return bad.dump(); }) == 316);
  CHECK(error_id([&] { return json_text::write(bad); }) == 316);
  for (auto h : {json::error_handler_t::replace, json::error_handler_t::ignore})
    CHECK(json_text::write(bad, h) == bad.dump(-1, ' ', false, h));
}

TEST_CASE("json_text: a byte to escape or check is found at any place of a long string, both ways") {
  // Strings are scanned sixteen bytes a step: each kind of byte that ends a plain run, at each
  // offset of strings up to 50 bytes, written as nlohmann writes it and read back as it reads it.
  const std::vector<std::string> stops{"\"", "\\", "\n", std::string(1, '\0'), "\x1f", "\x7f", "ñ", "😀",
                                       "\xC3", "\xFF", "\xED\xA0\x80"};
  int checked = 0;
  for (std::size_t len = 0; len <= 50; ++len)
    for (std::size_t at = 0; at <= len; ++at)
      for (const auto& stop : stops) {
        std::string s(len, 'a');
        for (std::size_t k = 0; k < len; ++k) s[k] = static_cast<char>('a' + (k * 7) % 26);
        s.insert(at, stop);
        INFO(len << " " << at << " " << json(s).dump(-1, ' ', true, json::error_handler_t::replace));
        const json j = s;
        const bool utf8 = error_id([&] { return j.dump(); }) == 0;
        if (utf8) {
          REQUIRE(json_text::write(j) == j.dump());
          REQUIRE(json_text::parse(j.dump()) == j);
        } else {
          CHECK(error_id([&] { return json_text::write(j); }) == 316);
          // Read as a JSON text, a string that is not UTF-8 fails as nlohmann fails.
          const std::string text = "\"" + s + "\"";
          CHECK_FALSE(json_text::read_plain(text));
        }
        std::string appended;
        json_text::append_string(appended, s);
        CHECK(appended == j.dump(-1, ' ', false, json::error_handler_t::replace));
        ++checked;
      }
  CHECK(checked == 1326 * 11);  // every (length, place) pair, each stop
}

TEST_CASE("json_text: an object written member by member is the document nlohmann would write") {
  const auto replaced = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  std::mt19937 rng(31);
  // Keys and values, some not UTF-8, added in any order: the same bytes as the nlohmann object.
  const std::vector<std::string> bad_bytes = {"\xFF", "ab\xC3(", "\xED\xA0\x80", "\xF0\x9F\x98"};
  for (int k = 0; k < 2000; ++k) {
    json doc = json::object();
    json_text::object w;
    for (int n = std::uniform_int_distribution<int>(0, 6)(rng); n > 0; --n) {
      std::string key = any_text(rng) + std::to_string(n);  // distinct keys
      if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) key += bad_bytes[static_cast<std::size_t>(n) % 4];
      switch (std::uniform_int_distribution<int>(0, 4)(rng)) {
        case 0: {
          std::string s = any_text(rng);
          if (std::uniform_int_distribution<int>(0, 5)(rng) == 0) s += bad_bytes[static_cast<std::size_t>(k) % 4];
          doc[key] = s;
          w.string(key, s);
          break;
        }
        case 1: {
          const auto i = std::uniform_int_distribution<std::int64_t>(std::numeric_limits<std::int64_t>::min(),
                                                                      std::numeric_limits<std::int64_t>::max())(rng);
          doc[key] = i;
          w.integer(key, i);
          break;
        }
        case 2: {
          const bool b = std::bernoulli_distribution(0.5)(rng);
          doc[key] = b;
          w.boolean(key, b);
          break;
        }
        default: {  // a whole value as text: an inner object or array
          const json v = any_value(rng, 2);
          doc[key] = v;
          w.raw(key, replaced(v));
        }
      }
    }
    INFO(replaced(doc));
    REQUIRE(w.text() == replaced(doc));
  }
  // Arrays of texts, and a body built the way the adapters build theirs.
  CHECK(json_text::array({}) == json::array().dump());
  CHECK(json_text::array({"1", "\"ñ\"", "{}"}) == json::array({1, "ñ", json::object()}).dump());
  const std::string button = json_text::object().string("text", "Sí ✅").string("callback_data", "r1.a").text();
  const std::string body = json_text::object()
                               .string("text", "¿Qué es el trabajo infantil? 🦉\n\"cita\"")
                               .integer("chat_id", -1001234567890)
                               .raw("reply_markup", json_text::object()
                                                        .raw("inline_keyboard", json_text::array({json_text::array({button})}))
                                                        .text())
                               .text();
  const json want = {{"chat_id", -1001234567890},
                     {"text", "¿Qué es el trabajo infantil? 🦉\n\"cita\""},
                     {"reply_markup", {{"inline_keyboard", {{{{"text", "Sí ✅"}, {"callback_data", "r1.a"}}}}}}}};
  CHECK(body == want.dump());
  // A key added twice is the caller's mistake, said at once.
  json_text::object twice;
  twice.string("to", "a");
  CHECK_THROWS_AS(twice.integer("to", 1), std::logic_error);
  // Wherever the first one is, with the keys in key order so far or not.
  json_text::object in_order;
  in_order.string("a", "1").string("b", "2").string("c", "3");
  CHECK_THROWS_AS(in_order.string("b", "x"), std::logic_error);
  CHECK_THROWS_AS(in_order.string("a", "x"), std::logic_error);
  json_text::object any_order;
  any_order.string("m", "1").string("a", "2").string("z", "3");
  CHECK_THROWS_AS(any_order.string("m", "x"), std::logic_error);
  CHECK_THROWS_AS(any_order.boolean("z", true), std::logic_error);
  any_order.string("b", "4");
  CHECK(any_order.text() == R"({"a":"2","b":"4","m":"1","z":"3"})");
  CHECK(json_text::object().text() == "{}");
}

namespace {

std::string escaped(const std::string& name) {
  std::string out;
  for (std::size_t k = 0; k < name.size(); ++k) {
    if (name[k] == '\\' || name[k] == '/' || (k == 0 && name[k] == '#')) out += '\\';
    out += name[k];
  }
  return out;
}

// Paths into a document (every path of it, up to `limit`), plus some that lead nowhere.
void paths_of(const json& v, const std::string& prefix, std::vector<std::string>& out, std::size_t limit,
              bool top = true) {
  if (out.size() >= limit) return;
  const auto join = [&](const std::string& seg) { return top ? seg : prefix + "/" + seg; };
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string here = join(escaped(it.key()));
      out.push_back(here);
      paths_of(it.value(), here, out, limit, false);
    }
    out.push_back(join("missing"));
  } else if (v.is_array()) {
    for (std::size_t k = 0; k < v.size(); ++k) {
      const std::string here = join("#" + std::to_string(k));
      out.push_back(here);
      paths_of(v[k], here, out, limit, false);
    }
    out.push_back(join("#" + std::to_string(v.size())));
  }
}

}  // namespace


TEST_CASE("json_text: values picked without a document are the document's values at their paths") {
  std::mt19937 rng(47);
  static const std::string inserts = "{}[],:\" \\0a-.#/";
  int picked = 0, texts = 0, whole = 0;
  for (int k = 0; k < 1500; ++k) {
    json doc = json::object();
    for (int n = std::uniform_int_distribution<int>(1, 5)(rng); n > 0; --n) doc[any_text(rng)] = any_value(rng, 1);
    std::vector<std::string> all;
    paths_of(doc, "", all, 40);
    std::vector<std::string> chosen;
    for (const auto& p : all)
      if (std::bernoulli_distribution(0.4)(rng)) chosen.push_back(p);
    chosen.push_back("nowhere/#0");
    const std::vector<std::string_view> paths(chosen.begin(), chosen.end());
    const std::string text = doc.dump();
    std::vector<std::string> variants{text};
    for (int m = 0; m < 8; ++m) {
      std::string t = text;
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, t.size() - 1)(rng);
      if (m % 2) t.insert(at, 1, inserts[std::uniform_int_distribution<std::size_t>(0, inserts.size() - 1)(rng)]);
      else t.erase(at, 1);
      variants.push_back(std::move(t));
    }
    const json_text::path_set whole_set(paths, json_text::path_set::containers::whole);
    for (const auto& t : variants) {
      ++texts;
      INFO(t);
      const auto got = json_text::pick(t, paths);
      // Containers kept whole: the same answer, but an object or array no other path goes
      // inside is the document's, as it is.
      const auto got_whole = json_text::pick(t, whole_set);
      REQUIRE(got_whole.has_value() == got.has_value());
      // Within the reader's subset the picker decides (the document's text as dumped has no
      // member twice).
      if (&t == &variants[0] && json_text::read_plain(t)) REQUIRE(got.has_value());
      if (!got) continue;
      ++picked;
      const auto want = nlohmann_reads(t);
      REQUIRE(want.has_value());
      REQUIRE(want->is_object());
      std::size_t found = 0;
      for (const auto& p : chosen) {
        INFO(p);
        const json* w = json_text::at_path(*want, p);
        const auto g = std::find_if(got->begin(), got->end(), [&p](const auto& e) { return e.first == p; });
        if (!w) {
          CHECK(g == got->end());
          continue;
        }
        ++found;
        REQUIRE(g != got->end());
        if (w->is_object()) CHECK(json_text::identical(g->second, json::object()));
        else if (w->is_array()) CHECK(json_text::identical(g->second, json::array()));
        else CHECK(json_text::identical(g->second, *w));
        const auto gw = std::find_if(got_whole->begin(), got_whole->end(), [&p](const auto& e) { return e.first == p; });
        REQUIRE(gw != got_whole->end());
        // (paths_of escapes every '/' and '\\' in a name: a path inside p starts with p + "/",
        // whether this variant of the text has it or not)
        const bool entered = w->is_structured() && std::any_of(chosen.begin(), chosen.end(), [&](const std::string& q) {
                               return q.size() > p.size() && q.compare(0, p.size(), p) == 0 && q[p.size()] == '/';
                             });
        if (entered) CHECK(json_text::identical(gw->second, w->is_object() ? json::object() : json::array()));
        else CHECK(json_text::identical(gw->second, *w));
        if (w->is_structured() && !w->empty() && !entered) ++whole;
      }
      CHECK(got->size() == found);
      CHECK(got_whole->size() == found);
    }
  }
  CHECK(picked > texts / 6);
  CHECK(whole > 100);
  // Where the document might say otherwise, or the text is not one object: no answer.
  CHECK_FALSE(json_text::pick(R"({"a":{"b":1},"a":2})", {"a/b"}));
  CHECK_FALSE(json_text::pick(R"({"a":1,"a":2})", {"a"}));
  CHECK_FALSE(json_text::pick(R"({"a":{"b":1,"c":2,"b":3}})", {"a/b"}));
  // A member repeated where no path goes: the answer stands.
  const auto elsewhere = json_text::pick(R"({"a":{"b":1},"a":2,"x":true})", {"x"});
  REQUIRE(elsewhere);
  REQUIRE(elsewhere->size() == 1);
  CHECK(json_text::identical(elsewhere->front().second, json(true)));
  CHECK(json_text::pick(R"({"x":[{"b":1,"b":1}]})", {"y"}).has_value());  // not looked inside
  CHECK(json_text::pick(R"({"a":{"b":1,"c":2,"c":3}})", {"a/b"}).has_value());
  CHECK_FALSE(json_text::pick("[1]", {"#0"}));
  CHECK_FALSE(json_text::pick(R"({"a":1} x)", {"a"}));
  CHECK_FALSE(json_text::pick(R"({"a":1.5})", {"a"}));
}

TEST_CASE("json_text: paths read as at_path reads them; a path_set used again answers the same") {
  const std::string text = R"({"a\\":1,"x":2,"#0":3,"l":[5,6,{"k":7}],"":{"":8},"a/b":9})";
  const json doc = json::parse(text);
  const std::vector<std::string_view> paths{"a\\",  "a\\\\", "\\x", "x",      "\\#0", "#0",   "l/#01",
                                            "l/#1", "l/#x",   "l/#",  "l/#-1", "l/#2/k", "/",   "",
                                            "a\\/b", "a/b",  "x",    "l/#2",  "l/#18446744073709551616"};
  const json_text::path_set compiled(paths);
  for (int round = 0; round < 2; ++round) {
    const auto got = round == 0 ? json_text::pick(text, paths) : json_text::pick(text, compiled);
    REQUIRE(got);
    std::size_t found = 0;
    std::vector<std::string_view> seen;
    for (const auto p : paths) {
      if (std::find(seen.begin(), seen.end(), p) != seen.end()) continue;  // "x" twice: one value
      seen.push_back(p);
      INFO(p);
      const json* want = json_text::at_path(doc, p);
      const auto g = std::find_if(got->begin(), got->end(), [p](const auto& e) { return e.first == p; });
      if (!want) {
        CHECK(g == got->end());
        continue;
      }
      ++found;
      REQUIRE(g != got->end());
      CHECK(json_text::identical(g->second, want->is_object() ? json::object() : want->is_array() ? json::array() : *want));
    }
    CHECK(got->size() == found);
    CHECK(found >= 9);
  }
}

TEST_CASE("json_text: values answer every path as the document does, picked or read whole") {
  const json_text::path_set paths({"a", "a/b", "l/#1", "s", "missing", "a/c/#0"});
  const std::vector<std::string> texts{R"({"a":{"b":"ñ","c":[1]},"l":[5,{"x":1}],"s":"¿sí?"})",
                                       R"({"a":{"b":1,"b":2},"s":3})",  // repeated: the document
                                       R"({"a":1.5,"l":[]})",           // outside the subset
                                       "[1,2]", "no es JSON"};
  int picked = 0;
  for (const auto& t : texts) {
    INFO(t);
    json_text::values v(t, paths);
    const json doc = json::parse(t, nullptr, false);
    CHECK(v.is_object() == doc.is_object());
    if (!doc.is_object()) continue;
    if (v.picked()) ++picked;
    for (int round = 0; round < 2; ++round) {
      for (const auto p : paths.paths()) {
        INFO(p);
        const json* want = json_text::at_path(doc, p);
        const json* got = v.at(p);
        REQUIRE((got == nullptr) == (want == nullptr));
        if (!want) continue;
        if (v.picked() && want->is_structured()) CHECK(json_text::identical(*got, want->is_object() ? json::object() : json::array()));
        else CHECK(json_text::identical(*got, *want));
      }
      v.read_document();
      CHECK(v.picked() == nullptr);
    }
  }
  CHECK(picked == 1);
}
