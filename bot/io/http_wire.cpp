#include "bot/io/http_wire.hpp"

namespace aula {
namespace {

void version_text(std::string& out, unsigned version) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

std::size_t fields_size(const http::fields& f) {
  std::size_t n = 2;
  for (const auto& x : f) n += x.name_string().size() + x.value().size() + 4;
  return n;
}

void fields_and_body(std::string& out, const http::fields& f, const std::string& body) {
  for (const auto& x : f) {
    out.append(x.name_string().data(), x.name_string().size());
    out += ": ";
    out.append(x.value().data(), x.value().size());
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
}

}  // namespace

std::optional<std::string> http_wire(const http::request<http::string_body>& m) {
  if (m.chunked()) return std::nullopt;
  const auto method = m.method_string();
  const auto target = m.target();
  std::string out;
  out.reserve(method.size() + target.size() + 12 + fields_size(m.base()) + m.body().size());
  out.append(method.data(), method.size());
  out += ' ';
  out.append(target.data(), target.size());
  out += ' ';
  version_text(out, m.version());
  out += "\r\n";
  fields_and_body(out, m.base(), m.body());
  return out;
}

std::optional<std::string> http_wire(const http::response<http::string_body>& m) {
  if (m.chunked()) return std::nullopt;
  const unsigned code = m.result_int();
  const auto given = m.reason();
  const auto reason = given.empty() ? http::obsolete_reason(static_cast<http::status>(code)) : given;
  std::string out;
  out.reserve(15 + reason.size() + fields_size(m.base()) + m.body().size());
  version_text(out, m.version());
  out += ' ';
  out += static_cast<char>('0' + code / 100);
  out += static_cast<char>('0' + code / 10 % 10);
  out += static_cast<char>('0' + code % 10);
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\n";
  fields_and_body(out, m.base(), m.body());
  return out;
}

}  // namespace aula
