// The admin API (/admin/…): people with bearer tokens and their scopes, learners and cohorts,
// reminders and broadcasts, publishing, and the operator's fixes for one learner. Every aula
// command that changes something (enroll, remind, broadcast, reload, learner reset|move,
// admin token …) is a thin client of these routes.
#pragma once

#include <memory>

#include "bot/config/config.hpp"
#include "bot/io/net.hpp"
#include "bot/service/access.hpp"
#include "bot/service/broadcasts.hpp"
#include "bot/service/directory.hpp"
#include "bot/service/privacy.hpp"

namespace aula {
class delivery;
class http_server;
class publisher;
class record_keeper;
class service;
}  // namespace aula

namespace aula::cli {

class admin_api {
 public:
  admin_api(net::any_io_executor ex, const app_config& cfg, service& svc, publisher& pub, delivery& sender,
            record_keeper& records);
  // Adds every /admin/… route (and /admin/test/clock when the configuration enables it).
  void add_routes(http_server& server);
  // /admin/reports/…, /admin/cohorts, /admin/courses (admin_reports.cpp).
  void add_report_routes(http_server& server);
  void start();  // works broadcast jobs and the retention job until stop()
  void stop();

 private:
  std::int64_t now() const;
  net::awaitable<void> add_stored_timeline(nlohmann::json& view, const std::string& conv, std::size_t max);
  net::awaitable<void> audit_export(std::string path, std::string target, const principal& p);

  const app_config& cfg_;
  service& svc_;
  publisher& pub_;
  delivery& sender_;
  record_keeper& records_;
  access_control access_;
  directory people_;
  broadcaster jobs_;
  retention_keeper retention_;
};

}  // namespace aula::cli
