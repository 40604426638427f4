#include "bot/service/privacy_notice.hpp"

#include <fstream>
#include <sstream>

#include "bot/io/html.hpp"

namespace aula {

namespace {

// One line of text: escaped, then **bold** and http(s) links (on the escaped text, so nothing
// the file says becomes markup of its own).
std::string inline_markup(const std::string& raw) {
  const std::string s = html_escape(raw);
  std::string out;
  bool bold = false;
  for (std::size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "**") == 0) {
      out += bold ? "</strong>" : "<strong>";
      bold = !bold;
      i += 2;
      continue;
    }
    if (s.compare(i, 7, "http://") == 0 || s.compare(i, 8, "https://") == 0) {
      std::size_t end = i;
      while (end < s.size() && s[end] != ' ' && s[end] != ')' && s[end] != '\t') ++end;
      while (end > i && (s[end - 1] == '.' || s[end - 1] == ',' || s[end - 1] == ';')) --end;
      const std::string url = s.substr(i, end - i);
      out += "<a href=\"" + url + "\">" + url + "</a>";
      i = end;
      continue;
    }
    out += s[i++];
  }
  if (bold) out += "</strong>";
  return out;
}

}  // namespace

std::optional<std::string> read_privacy_notice(const std::string& base, const std::string& lang) {
  std::ifstream in(base + "." + lang + ".md", std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string privacy_notice_page(const std::string& text, const std::string& lang) {
  const bool en = lang == "en";
  std::string title = en ? "Privacy notice" : "Aviso de privacidad";
  std::string body;
  std::string para;
  bool in_list = false;
  auto flush = [&]() {
    if (!para.empty()) body += "<p>" + para + "</p>\n";
    para.clear();
  };
  auto close_list = [&]() {
    if (in_list) body += "</ul>\n";
    in_list = false;
  };
  std::istringstream in(text);
  std::string line;
  bool first_heading = true;
  bool comment = false;  // <!-- notes for the operator --> are not shown
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (comment || line.find("<!--") != std::string::npos) {
      comment = line.find("-->") == std::string::npos;
      continue;
    }
    std::size_t lead = line.find_first_not_of(' ');
    if (lead == std::string::npos) {
      flush();
      close_list();
      continue;
    }
    const std::string t = line.substr(lead);
    if (t.starts_with("# ") || t.starts_with("## ") || t.starts_with("### ")) {
      flush();
      close_list();
      const std::size_t level = t.find(' ');
      const std::string h = t.substr(level + 1);
      if (level == 1 && first_heading) title = h;
      first_heading = false;
      body += "<h" + std::to_string(level) + ">" + inline_markup(h) + "</h" + std::to_string(level) + ">\n";
      continue;
    }
    if (t.starts_with("- ") || t.starts_with("* ")) {
      flush();
      if (!in_list) body += "<ul>\n";
      in_list = true;
      body += "<li>" + inline_markup(t.substr(2)) + "</li>\n";
      continue;
    }
    if (in_list && lead >= 2) {  // a list item's continuation line
      body.resize(body.size() - 6);  // "</li>\n"
      body += " " + inline_markup(t) + "</li>\n";
      continue;
    }
    close_list();
    para += (para.empty() ? "" : " ") + inline_markup(t);
  }
  flush();
  close_list();
  const std::string other = en ? "<a href=\"?lang=es\" lang=es>Versión en español</a>"
                               : "<a href=\"?lang=en\" lang=en>English version</a>";
  return std::string("<!doctype html><html lang=") + (en ? "en" : "es") +
         "><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\"><title>" +
         html_escape(title) +
         "</title><style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 "
         "1rem;line-height:1.55;color:#1a1a1a}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.6rem}"
         "nav{text-align:right}</style><nav>" +
         other + "</nav><main>\n" + body + "</main></html>\n";
}

}  // namespace aula
