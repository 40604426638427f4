#include "bot/engine/condition.hpp"

#include <cctype>

#include "bot/engine/text.hpp"

namespace aula {

namespace {

class lexer {
 public:
  explicit lexer(const std::string& s) : s_(s) {}

  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool at_end() {
    skip_space();
    return i_ >= s_.size();
  }
  std::size_t pos() const { return i_; }

  // A word, operator, quoted string or bracket; empty at the end.
  std::string next(bool& quoted) {
    skip_space();
    quoted = false;
    if (i_ >= s_.size()) return {};
    char c = s_[i_];
    if (c == '"' || c == '\'') {
      std::size_t end = s_.find(c, i_ + 1);
      if (end == std::string::npos) {
        error_ = "unclosed quote";
        return {};
      }
      std::string v = s_.substr(i_ + 1, end - i_ - 1);
      i_ = end + 1;
      quoted = true;
      return v;
    }
    if (c == '[' || c == ']' || c == ',') {
      ++i_;
      return std::string(1, c);
    }
    if (c == '=' || c == '!' || c == '<' || c == '>') {
      std::string op(1, c);
      ++i_;
      if (i_ < s_.size() && s_[i_] == '=') op.push_back(s_[i_++]);
      return op;
    }
    std::size_t start = i_;
    while (i_ < s_.size() && !std::isspace(static_cast<unsigned char>(s_[i_])) && s_[i_] != ',' && s_[i_] != ']' &&
           s_[i_] != '[' && s_[i_] != '=' && s_[i_] != '!' && s_[i_] != '<' && s_[i_] != '>')
      ++i_;
    return s_.substr(start, i_ - start);
  }

  std::string peek() {
    std::size_t save = i_;
    bool q;
    std::string t = next(q);
    i_ = save;
    return q ? "\"" : t;
  }

  const std::string& error() const { return error_; }

 private:
  const std::string& s_;
  std::size_t i_ = 0;
  std::string error_;
};

bool is_var(const std::string& w) {
  if (w.empty() || !(std::islower(static_cast<unsigned char>(w[0])) || w[0] == '_')) return false;
  for (char c : w)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
          c == '.' || c == '-'))
      return false;
  return true;
}

bool is_op(const std::string& w) {
  return w == "==" || w == "!=" || w == "<" || w == "<=" || w == ">" || w == ">=" || w == "in" || w == "contains";
}

std::string as_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return format_number(v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return {};
}

std::optional<double> as_number(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    // Plain decimals only ("-2", "3.5"): no hex, exponents, inf or nan.
    const std::string s = trim(v.get<std::string>());
    std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    bool digits = false, dot = false;
    for (; i < s.size(); ++i) {
      if (std::isdigit(static_cast<unsigned char>(s[i]))) digits = true;
      else if (s[i] == '.' && !dot) dot = true;
      else return std::nullopt;
    }
    if (digits) return std::strtod(s.c_str(), nullptr);
  }
  return std::nullopt;
}

int compare(const nlohmann::json& a, const std::string& b, bool& comparable) {
  comparable = true;
  auto na = as_number(a), nb = as_number(nlohmann::json(b));
  if (na && nb) return *na < *nb ? -1 : (*na > *nb ? 1 : 0);
  std::string fa = fold(as_text(a)), fb = fold(b);
  if (fa.empty() && !a.is_string()) comparable = false;
  return fa < fb ? -1 : (fa > fb ? 1 : 0);
}

bool element_matches(const nlohmann::json& v, const condition_term& t) {
  bool ok = true;
  const std::string& op = t.op;
  if (op == "==" || op == "in" || op == "contains") {
    for (const auto& want : t.values)
      if (compare(v, want, ok) == 0 && ok) return true;
    if (op == "contains" && v.is_string()) {
      for (const auto& want : t.values)
        if (fold(v.get<std::string>()).find(fold(want)) != std::string::npos) return true;
    }
    return false;
  }
  if (op == "!=") return !(compare(v, t.values.at(0), ok) == 0 && ok);
  int c = compare(v, t.values.at(0), ok);
  if (!ok || !as_number(v)) return false;  // order only numbers
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  return false;
}

bool term_holds(const condition_term& t, const value_lookup& lookup) {
  nlohmann::json v = lookup(t.var);
  bool result;
  if (t.op.empty()) {
    result = !(v.is_null() || (v.is_string() && v.get<std::string>().empty()) || (v.is_array() && v.empty()) ||
               (v.is_boolean() && !v.get<bool>()));
  } else if (v.is_null()) {
    result = t.op == "!=";
  } else if (v.is_array()) {
    if (t.op == "!=") {
      result = true;
      for (const auto& e : v)
        if (!element_matches(e, t)) result = false;
    } else {
      result = false;
      for (const auto& e : v)
        if (element_matches(e, t)) result = true;
    }
  } else {
    result = element_matches(v, t);
  }
  return t.negate ? !result : result;
}

}  // namespace

std::optional<condition> parse_condition(const std::string& text, condition_error& err) {
  condition c;
  c.source = text;
  lexer lx(text);
  std::vector<condition_term> conj;
  auto fail = [&](std::size_t at, std::string msg) -> std::optional<condition> {
    err.offset = static_cast<int>(at);
    err.message = std::move(msg);
    return std::nullopt;
  };
  if (lx.at_end()) return fail(0, "empty condition");
  while (true) {
    condition_term t;
    std::size_t at = (lx.skip_space(), lx.pos());
    bool q = false;
    std::string w = lx.next(q);
    if (!q && w == "not") {
      t.negate = true;
      at = (lx.skip_space(), lx.pos());
      w = lx.next(q);
    }
    if (q || !is_var(w)) return fail(at, "expected a variable such as answers.rol, contact.estado, score.total");
    t.var = w;
    std::string p = lx.peek();
    if (is_op(p)) {
      lx.next(q);
      std::size_t vat = (lx.skip_space(), lx.pos());
      std::string v = lx.next(q);
      if (!q && v == "[") {
        while (true) {
          std::size_t eat = (lx.skip_space(), lx.pos());
          std::string e = lx.next(q);
          if (!q && (e.empty() || e == "]" || e == ",")) return fail(eat, "expected a value in the list");
          t.values.push_back(e);
          std::size_t sat = (lx.skip_space(), lx.pos());
          std::string sep = lx.next(q);
          if (sep == "]" && !q) break;
          if (sep != "," || q) return fail(sat, "expected ',' or ']' in the list");
        }
      } else {
        if (!lx.error().empty()) return fail(vat, lx.error());
        if (!q && (v.empty() || v == "]" || v == "," || is_op(v))) return fail(vat, "expected a value after '" + p + "'");
        t.values.push_back(v);
      }
      if ((p == "<" || p == "<=" || p == ">" || p == ">=") && !as_number(nlohmann::json(t.values[0])))
        return fail(vat, "'" + p + "' compares numbers; '" + t.values[0] + "' is not a number");
      t.op = p;
    } else if (p == "=") {
      return fail((lx.skip_space(), lx.pos()), "use '==' to compare");
    }
    conj.push_back(std::move(t));
    if (lx.at_end()) break;
    std::size_t cat = lx.pos();
    std::string link = lx.next(q);
    if (link == "and" && !q) continue;
    if (link == "or" && !q) {
      c.any.push_back(std::move(conj));
      conj.clear();
      continue;
    }
    return fail(cat, "expected 'and', 'or' or the end of the condition, found '" + link + "'");
  }
  c.any.push_back(std::move(conj));
  return c;
}

bool evaluate(const condition& c, const value_lookup& lookup) {
  for (const auto& conj : c.any) {
    bool all = true;
    for (const auto& t : conj) {
      if (!term_holds(t, lookup)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

}  // namespace aula
