// The dashboard aula serves at "/": one self-contained page (HTML, CSS and JS inline, charts
// as inline SVG) that asks for a person's admin token and reads /admin/… with it.
#pragma once

#include <string>

namespace aula::cli {

const std::string& dashboard_page();

}  // namespace aula::cli
