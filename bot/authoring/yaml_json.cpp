#include "bot/authoring/yaml_json.hpp"

#include <regex>

namespace aula {

bool check_utf8(std::string_view text, const std::string& file, diagnostics& d) {
  int line = 1, col = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) n = 0;
    else if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else n = 4;  // never a lead byte
    bool ok = n < 4 && i + n < text.size();
    for (std::size_t k = 1; ok && k <= n; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      ok = (b & 0xC0) == 0x80;
      cp = (cp << 6) | (b & 0x3F);
    }
    // No overlong forms, surrogates or code points beyond U+10FFFF.
    if (ok && ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (!ok) {
      d.error({file, line, col}, "the file is not valid UTF-8 here",
              "save it as UTF-8 (in the editor's encoding menu); aula reads no other encoding");
      return false;
    }
    if (c == '\n') ++line, col = 1;
    else ++col;
    i += n + 1;
  }
  return true;
}

nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsSequence()) {
    auto a = nlohmann::json::array();
    for (const auto& x : n) a.push_back(yaml_to_json(x));
    return a;
  }
  if (n.IsMap()) {
    auto o = nlohmann::json::object();
    for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = yaml_to_json(it->second);
    return o;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  if (s == "true") return true;
  if (s == "false") return false;
  if (s == "null" || s == "~") return nullptr;
  try {
    std::size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (...) {
  }
  return s;
}

bool is_language_code(const std::string& s) {
  static const std::regex pattern("[a-z]{2,3}([_-][A-Za-z]{2,4})?");
  return std::regex_match(s, pattern);
}

bool read_string(const YAML::Node& n, const std::string& what, std::string& out, const yaml_error& error) {
  if (!n.IsScalar()) {
    error(n, what + " must be a text", "write it as a plain or quoted string");
    return false;
  }
  out = n.Scalar();
  return true;
}

bool read_localized(const YAML::Node& n, const std::string& base, const std::string& what, localized& out,
                    const yaml_error& error) {
  if (n.IsScalar()) {
    out.by_lang[base] = n.Scalar();
    return true;
  }
  if (!n.IsMap() || n.size() == 0) {
    error(n, what + " must be a text or a map of languages", "for example: {es: \"Hola\", en: \"Hello\"}");
    return false;
  }
  bool ok = true;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string lang = it->first.Scalar();
    if (!is_language_code(lang)) {
      error(it->first, "'" + lang + "' is not a language code in " + what, "use codes such as es, en, es_MX");
      ok = false;
      continue;
    }
    if (!it->second.IsScalar()) {
      error(it->second, what + " in '" + lang + "' must be a text", {});
      ok = false;
      continue;
    }
    if (out.by_lang.count(lang)) {
      error(it->first, "language '" + lang + "' appears twice in " + what, {});
      ok = false;
    }
    out.by_lang[lang] = it->second.Scalar();
  }
  return ok;
}

}  // namespace aula
