#include "bot/authoring/diagnostics.hpp"

#include <algorithm>

#include "bot/engine/text.hpp"

namespace aula {

std::string format(const diagnostic& d) {
  std::string s = d.pos.file + ":" + std::to_string(d.pos.line) + ":" + std::to_string(d.pos.col) + ": " +
                  (d.severity == diagnostic::level::error ? "error: " : "warning: ") + d.message;
  if (!d.hint.empty()) s += "; " + d.hint;
  return s;
}

void diagnostics::error(const source_pos& p, std::string message, std::string hint) {
  items_.push_back({diagnostic::level::error, p, std::move(message), std::move(hint)});
}

void diagnostics::warning(const source_pos& p, std::string message, std::string hint) {
  items_.push_back({diagnostic::level::warning, p, std::move(message), std::move(hint)});
}

std::size_t diagnostics::errors() const {
  return static_cast<std::size_t>(std::count_if(items_.begin(), items_.end(), [](const diagnostic& d) {
    return d.severity == diagnostic::level::error;
  }));
}

void diagnostics::append(const diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_d = 3;  // at most two edits away
  for (const auto& k : known) {
    std::size_t d = edit_distance(word, k);
    if (d < best_d && d < std::max<std::size_t>(k.size(), 2)) {
      best_d = d;
      best = k;
    }
  }
  return best.empty() ? std::string{} : "did you mean '" + best + "'?";
}

}  // namespace aula
