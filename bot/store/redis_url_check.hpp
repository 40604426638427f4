// Checks of a Redis URL for the configuration (bot/config), without redis_client.hpp (its
// redis_client_options would come with it). Implemented in redis_client.cpp.
#pragma once

#include <string>

namespace aula {

// "" when `url` is a Redis URL the client takes (redis_url::parse), else what is wrong (the
// password masked).
std::string redis_url_problem(const std::string& url);
// The password a Redis URL carries ("" when none, or when the URL does not parse).
std::string redis_url_password(const std::string& url);

}  // namespace aula
