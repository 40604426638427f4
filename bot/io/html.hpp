// Escaping text for HTML (pages aula serves: the dashboard's data, the privacy notice,
// certificates): & < > " ' become entities, so no text becomes markup.
#pragma once

#include <string>

namespace aula {

inline std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace aula
