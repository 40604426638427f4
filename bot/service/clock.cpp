#include "bot/service/clock.hpp"
