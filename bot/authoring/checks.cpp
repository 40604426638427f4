// placeholder: being written (validator checks)
#include "bot/authoring/checks.hpp"
namespace aula {
void check_flows(load_result&) {}
}  // namespace aula
