// Problems found in flow and transcript files, each with a position and what to do.
#pragma once

#include <string>
#include <vector>

#include "bot/engine/flow.hpp"

namespace aula {

struct diagnostic {
  enum class level { error, warning };
  level severity = level::error;
  source_pos pos;
  std::string message;
  std::string hint;  // what to do about it; may be empty
};

// "file:line:col: error: message; hint"
std::string format(const diagnostic& d);

class diagnostics {
 public:
  void error(const source_pos& p, std::string message, std::string hint = {});
  void warning(const source_pos& p, std::string message, std::string hint = {});
  const std::vector<diagnostic>& items() const { return items_; }
  std::size_t errors() const;
  std::size_t warnings() const { return items_.size() - errors(); }
  void append(const diagnostics& other);

 private:
  std::vector<diagnostic> items_;
};

// "did you mean 'next'?" when `word` is close to one of `known`; empty otherwise.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& known);

}  // namespace aula
