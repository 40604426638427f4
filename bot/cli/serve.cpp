// aula serve: the webhook server. Configuration from config/aula.yaml and the environment
// (DESIGN.md's table), flows from AULA_FLOWS, state in Redis (or in memory for development).
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <future>
#include <iostream>
#include <pthread.h>
#include <thread>

#include <CLI/CLI.hpp>
#include <openssl/crypto.h>

#include "adapters/telegram/telegram.hpp"
#include "adapters/twilio_sms/twilio_sms.hpp"
#include "adapters/whatsapp/whatsapp.hpp"
#include "adapters/web/web.hpp"
#include "bot/authoring/loader.hpp"
#include "bot/cli/admin_api.hpp"
#include "bot/cli/commands.hpp"
#include "bot/cli/dashboard.hpp"
#include "bot/cli/http_util.hpp"
#include "bot/config/config.hpp"
#include "bot/delivery/delivery.hpp"
#include "bot/store/redis_sent.hpp"
#include "bot/engine/timing.hpp"
#include "bot/io/http_client.hpp"
#include "bot/io/http_server.hpp"
#include "bot/io/log.hpp"
#include "bot/io/metrics.hpp"
#include "adapters/phone.hpp"
#include "bot/engine/course.hpp"
#include "bot/service/access.hpp"
#include "bot/service/broadcasts.hpp"
#include "bot/service/directory.hpp"
#include "bot/service/privacy.hpp"
#include "bot/service/privacy_notice.hpp"
#include "bot/service/publishing.hpp"
#include "bot/service/records.hpp"
#include "bot/service/service.hpp"

namespace aula::cli {

namespace {

struct serve_options {
  std::string store = "redis";
};

// GET /verify/<code>: whether a constancia is genuine, and what it states (Spanish, English).
std::string certificate_page(const std::optional<nlohmann::json>& cert) {
  std::string body =
      "<!doctype html><html lang=es><meta charset=utf-8><meta name=viewport content=\"width=device-width, "
      "initial-scale=1\"><title>Verificación de constancia · aula</title><style>body{font-family:system-ui,"
      "sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}"
      ".ok{color:#0a6b2d}.bad{color:#a4161a}dt{font-weight:600}dd{margin:0 0 .6rem}</style><main>";
  if (!cert) {
    body += "<h1 class=bad>Constancia no encontrada</h1><p>No existe una constancia con este código. Revisa que "
            "lo hayas copiado completo.</p><p lang=en>No certificate has this code. Check that it was copied in "
            "full.</p>";
  } else {
    auto field = [&](const char* k) {
      if (!cert->contains(k)) return std::string{};
      const auto& v = (*cert)[k];
      return html_escape(v.is_string() ? v.get<std::string>() : v.dump());
    };
    body += "<h1 class=ok>Constancia válida</h1><p lang=en>This certificate is genuine.</p><dl>";
    body += "<dt>Nombre</dt><dd>" + field("name") + "</dd>";
    body += "<dt>Curso</dt><dd>" + field("course_name") + "</dd>";
    body += "<dt>Horas</dt><dd>" + field("hours") + "</dd>";
    body += "<dt>Calificación</dt><dd>" + field("score") + " %</dd>";
    body += "<dt>Fecha</dt><dd>" + field("date") + "</dd>";
    body += "<dt>Folio</dt><dd>" + field("folio") + "</dd></dl>";
  }
  return body + "</main></html>";
}

// Counters as one gauge family with a label per counter.
void export_counts(gauge_family& g, const char* label,
                   const std::vector<std::pair<std::string, const std::atomic<long>&>>& rows) {
  for (const auto& row : rows) g.set({{label, row.first}}, static_cast<double>(row.second.load()));
}

// The sender's settings from the configuration; the pace of each channel is aula's default
// for it unless the file sets one.
delivery_options delivery_options_from(const app_config& cfg) {
  delivery_options d;
  d.owner = lease_owner(cfg.server.listen);  // stable across restarts
  const auto& c = cfg.delivery;
  d.lease_ttl = c.lease_ttl;
  d.poll = c.poll;
  d.max_attempts = c.max_attempts;
  d.retry_base = c.retry_base;
  d.retry_max = c.retry_max;
  d.learner_queue = c.learner_queue;
  d.concurrency = c.concurrency;
  d.timer_batch = c.timer_batch;
  d.timer_hold = c.timer_hold;
  // Quiet hours from the configuration ("21:00"–"08:00"; equal times: none).
  if (auto qs = parse_clock(cfg.quiet_hours.start), qe = parse_clock(cfg.quiet_hours.end); qs && qe) {
    d.quiet_start = *qs;
    d.quiet_end = *qe;
  }
  d.default_tz = cfg.default_time_zone;
  d.daily_conversation_cap["whatsapp"] = cfg.whatsapp.daily_conversation_cap;
  for (const auto& ch : {std::string("telegram"), std::string("whatsapp"), std::string("sms")}) {
    channel_pacing pc = default_pacing(ch);
    if (auto it = c.channels.find(ch); it != c.channels.end()) {
      if (it->second.per_second > 0) pc.per_second = it->second.per_second;
      if (it->second.chat_burst > 0) pc.chat_burst = it->second.chat_burst;
      if (it->second.chat_interval.count() > 0) pc.chat_interval = it->second.chat_interval;
    }
    d.channels[ch] = pc;
  }
  return d;
}

// Whether the request carries "Authorization: Bearer <token>" (compared in constant time).
bool bearer_is(const request& req, const std::string& token) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return false;
  const std::string got(it->value());
  const std::string want = "Bearer " + token;
  return got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), got.size()) == 0;
}

bool loopback_host(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.starts_with("127.");
}

int run_serve(const serve_options& o) {
  auto env = current_environment();
  const std::string path = env.count("AULA_CONFIG") ? env["AULA_CONFIG"] : default_config_path;
  app_config cfg;
  try {
    cfg = load_config(path, env);
  } catch (const config_error& e) {
    std::cerr << "aula serve: " << e.what() << "\n";
    return 2;
  }
  for (const auto& secret : secrets_of(cfg)) log::add_secret(secret);
  if (log::level lvl; log::parse_level(cfg.logging.level, lvl)) log::set_min_level(lvl);
  for (const auto& w : cfg.warnings) log::warn(w);

  auto loaded = load_flows({cfg.flows});
  for (const auto& d : loaded.diags.items())
    if (d.severity == diagnostic::level::error) std::cerr << format(d) << "\n";
  if (!loaded.ok()) {
    std::cerr << "aula serve: the flows in " << cfg.flows << " have errors; fix them (aula validate) and start again\n";
    return 1;
  }

  net::io_context ioc(cfg.server.threads);
  if (cfg.server.threads == 1) mark_one_thread(ioc);  // no strands needed (bot/io/net.hpp)
  auto work = net::make_work_guard(ioc);
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, cfg.server.threads); ++i)
    threads.emplace_back([&ioc, i] {
      // Named for `top -H`, perf and the benchmark's CPU per thread (tests/bench/e2e_bench.py).
      const std::string name = "aula-io-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      ioc.run();
    });
  auto stop_threads = [&] {
    work.reset();
    ioc.stop();
    for (auto& t : threads) t.join();
  };

  std::unique_ptr<store> st;
  try {
    if (o.store == "memory") {
      st = make_memory_store(cfg.redis.partitions);
      log::warn("store: memory (development only: everything is lost at exit)");
    } else {
      redis_store_options ro = store_options_from(cfg);
      ro.connections = std::max(1, cfg.server.threads);  // one Redis connection per I/O thread
      st = net::co_spawn(ioc, make_redis_store(ioc.get_executor(), ro), net::use_future).get();
    }
  } catch (const std::exception& e) {
    std::cerr << "aula serve: cannot use the store: " << e.what() << "\n";
    stop_threads();
    return 1;
  }

  service_options so;
  so.default_tz = cfg.default_time_zone;
  so.public_url = cfg.public_url;
  so.learner_messages_per_minute = cfg.limits.learner_messages_per_minute;
  // The privacy notice: aula serves it at /privacidad unless privacy.notice_url names another
  // page; learners get its link with the consent question.
  const std::optional<std::string> notice_es = read_privacy_notice(cfg.privacy.notice_file, "es");
  const std::optional<std::string> notice_en = read_privacy_notice(cfg.privacy.notice_file, "en");
  if (cfg.privacy.consent && cfg.privacy.notice_url.empty() && !notice_es) {
    std::cerr << "aula serve: privacy.consent is on but the privacy notice " << cfg.privacy.notice_file
              << ".es.md cannot be read: write it (see config/aviso-de-privacidad.es.md), set privacy.notice_file or "
                 "privacy.notice_url, or turn privacy.consent off\n";
    stop_threads();
    return 1;
  }
  so.consent.required = cfg.privacy.consent;
  so.consent.version = cfg.privacy.notice_version;
  so.consent.url = cfg.privacy.notice_url.empty() ? cfg.public_url + "/privacidad" : cfg.privacy.notice_url;
  log::info("privacy", {{"consent", cfg.privacy.consent ? "asked before a learner's first flow" : "off"},
                        {"notice_version", cfg.privacy.notice_version},
                        {"notice_url", so.consent.url}});
  service svc(*st, so);
  svc.publish(std::make_shared<const flow_set>(std::move(loaded.flows)));
  svc.add_adapter(std::make_shared<web_adapter>());
  auto tg = std::make_shared<telegram_adapter>(telegram_options{cfg.telegram.token, cfg.telegram.secret, cfg.telegram.api});
  svc.add_adapter(tg);
  whatsapp_options wo;
  wo.token = cfg.whatsapp.token;
  wo.app_secret = cfg.whatsapp.app_secret;
  wo.verify_token = cfg.whatsapp.verify_token;
  wo.phone_number_id = cfg.whatsapp.phone_number_id;
  wo.api_base = cfg.whatsapp.api;
  wo.reengagement_template = cfg.whatsapp.reengagement_template;
  wo.template_language = cfg.whatsapp.template_language;
  wo.mark_read = cfg.whatsapp.mark_read;
  auto wa = std::make_shared<whatsapp_adapter>(wo);
  svc.add_adapter(wa);
  twilio_options to;
  to.account_sid = cfg.twilio.account_sid;
  to.auth_token = cfg.twilio.auth_token;
  to.from = cfg.twilio.from;
  to.api_base = cfg.twilio.api;
  to.public_url = cfg.public_url;
  to.transliterate = cfg.sms.transliterate;
  to.mms = cfg.sms.mms;
  auto sms = std::make_shared<twilio_sms_adapter>(to);
  svc.add_adapter(sms);
  log::info("channels",
            {{"telegram", tg->enabled() ? "enabled" : "disabled (set AULA_TELEGRAM_TOKEN and AULA_TELEGRAM_SECRET)"},
             {"whatsapp", wa->enabled() ? "enabled"
                                        : "disabled (set AULA_WHATSAPP_TOKEN, AULA_WHATSAPP_APP_SECRET, "
                                          "AULA_WHATSAPP_VERIFY_TOKEN and AULA_WHATSAPP_PHONE_NUMBER_ID)"},
             {"sms", sms->enabled() ? "enabled (Twilio)"
                                    : "disabled (set AULA_TWILIO_ACCOUNT_SID, AULA_TWILIO_AUTH_TOKEN and AULA_TWILIO_FROM)"},
             {"web", "enabled at /chat"}});

  // Publishing: the flows folder becomes the current published version (validated whole;
  // a new number only when its content changed), then every instance follows Redis.
  publisher_options po;
  po.flows_dir = cfg.flows;
  publisher pub(ioc.get_executor(), svc, po);
  try {
    publish_report rep = net::co_spawn(ioc, pub.publish_from_disk("start"), net::use_future).get();
    if (!rep.ok) {
      for (const auto& e : rep.errors) std::cerr << e << "\n";
      std::cerr << "aula serve: the flows in " << cfg.flows << " have errors; fix them (aula validate) and start again\n";
      stop_threads();
      return 1;
    }
    log::info("flows", {{"version", rep.version.version}, {"new", rep.changed}, {"moved", nlohmann::json(rep.moved)}});
    net::co_spawn(ioc, pub.refresh(), net::use_future).get();
  } catch (const std::exception& e) {
    std::cerr << "aula serve: cannot publish the flows: " << e.what() << "\n";
    stop_threads();
    return 1;
  }
  pub.start();

  metrics_registry metrics;
  auto opts = server_options_from(cfg.server);
  opts.metrics = &metrics;
  http_server server(ioc, opts);
  http_client client(ioc.get_executor(), client_options_from(cfg));

  // The sender and the scheduler: leased partitions, paced and retried sends, due timers.
  auto sender = [&client](const http_call& call) -> net::awaitable<std::pair<int, std::string>> {
    http_result r = co_await client.send(call, false);
    co_return std::pair<int, std::string>{r.status, std::move(r.body)};
  };
  // Flows' webhook nodes: a client of their own, with the egress allow-list and the answer's
  // size and time limits (webhooks: in the configuration).
  client_options wopts = client_options_from(cfg);
  wopts.allow_hosts = cfg.webhooks.allow_hosts;
  wopts.body_limit = cfg.webhooks.max_response;
  wopts.request_timeout = cfg.webhooks.timeout;
  wopts.connect_timeout = std::min(wopts.connect_timeout, cfg.webhooks.timeout);
  http_client webhook_client(ioc.get_executor(), wopts);
  auto webhook_sender = [&webhook_client](const http_call& call) -> net::awaitable<std::pair<int, std::string>> {
    http_result r = co_await webhook_client.request(call);
    if (!r.ok()) {
      // Never the URL: its query may carry a key. The error names host:port only.
      log::warn(r.refused ? "webhook node call refused" : "webhook node call failed",
                {{"error", r.error}, {"timed_out", r.timed_out}});
      co_return std::pair<int, std::string>{r.timed_out ? -1 : 0, {}};
    }
    co_return std::pair<int, std::string>{r.status, r.body};
  };
  delivery_options dopts = delivery_options_from(cfg);
  dopts.webhook_send = webhook_sender;
  delivery sender_service(ioc.get_executor(), svc, sender, dopts);
  // Backpressure: webhooks wait while the sender is behind with replies (delivery.backlog),
  // in turn, each let through as soon as a reply leaves.
  svc.set_backpressure(cfg.delivery.backlog, [&sender_service] { return sender_service.replies_queued(); });
  sender_service.on_progress([&svc] { svc.backlog_progressed(); });
  svc.on_replies_committed([&sender_service](int p, std::size_t n) { sender_service.replies_committed(p, n); });

  const http_server::handler healthz = [&](request& req) -> net::awaitable<response> {
    bool up = false;
    try {
      up = co_await svc.backing_store().ping();
    } catch (const std::exception&) {
      up = false;
    }
    co_return json_response(req, up ? http::status::ok : http::status::service_unavailable,
                            {{"status", up ? "ok" : "store unavailable"}});
  };
  server.add_route(http::verb::get, "/healthz", healthz);
  // /metrics: behind AULA_METRICS_TOKEN when set; on its own listener when metrics.listen is set.
  const http_server::handler metrics_route = [&](request& req) -> net::awaitable<response> {
    if (!cfg.metrics.token.empty() && !bearer_is(req, cfg.metrics.token)) {
      response denied = json_response(req, http::status::unauthorized,
                                      {{"error", "/metrics needs Authorization: Bearer <AULA_METRICS_TOKEN>"}});
      denied.set(http::field::www_authenticate, "Bearer realm=\"aula metrics\"");
      co_return denied;
    }
    auto& c = svc.counters();
    export_counts(metrics.gauge("aula_service_events_total", "Events handled by the service since start, by kind"),
                  "kind",
                  {{"inbound", c.inbound}, {"outbound", c.outbound}, {"commit_conflict", c.conflicts},
                   {"duplicate", c.duplicates}, {"dead_letter", c.dead_letters}, {"store_error", c.store_errors},
                   {"timer_fired", c.timers_fired}, {"delivery_report", c.reports},
                   {"rate_limited", c.rate_limited}, {"backpressure_wait", c.backpressure_waits}});
    auto& d = sender_service.counters();
    export_counts(metrics.gauge("aula_delivery_total", "The sender since start, by outcome"), "outcome",
                  {{"sent", d.sent}, {"retry", d.retries}, {"throttled", d.throttled},
                   {"dead_letter", d.dead_letters}, {"skipped", d.skipped}, {"learner_stopped", d.stopped},
                   {"fenced", d.fenced}, {"resend_avoided", d.resends_avoided},
                   {"reread_after_reconnect", d.rereads}, {"timer_claimed", d.timers_claimed},
                   {"reengagement_template", d.reengaged}, {"held_for_window", d.held},
                   {"held_for_quiet_hours", d.quiet}, {"held_for_daily_tier", d.tier}});
    metrics.gauge("aula_sms_segments_total", "SMS segments sent (what Twilio bills)")
        .set({}, static_cast<double>(d.segments.load()));
    auto& lg = metrics.gauge("aula_delivery_leases", "Partitions whose lease this instance holds");
    lg.set({}, static_cast<double>(sender_service.leases_held()));
    const redis_sent rs = redis_sent_totals();
    auto& rg = metrics.gauge("aula_redis_sent_total",
                             "Sent to Redis since start: requests (round trips; a pipeline is one), commands, and "
                             "the socket writes that carried them (requests made at once share one)");
    rg.set({{"what", "requests"}}, static_cast<double>(rs.requests));
    rg.set({{"what", "commands"}}, static_cast<double>(rs.commands));
    rg.set({{"what", "writes"}}, static_cast<double>(rs.writes));
    auto& qg = metrics.gauge("aula_delivery_queued", "Outbox entries read and not yet delivered");
    qg.set({}, static_cast<double>(sender_service.queued()));
    auto& m = metrics.gauge("aula_messages_total", "Messages since start by channel and direction (in: from learners)");
    const auto counts = svc.message_counts();  // (no structured bindings in coroutines: g++ 12)
    for (auto it = counts.begin(); it != counts.end(); ++it)
      m.set({{"channel", it->first.first}, {"direction", it->first.second}}, static_cast<double>(it->second));
    auto& pa = metrics.gauge("aula_provider_auth_failures_total",
                             "Sends the provider refused for our credentials since start (WhatsApp Graph error 190, HTTP 401), by channel");
    auto& tr = metrics.gauge("aula_template_rejected_total",
                             "WhatsApp templates the provider refused since start (132xxx: missing, paused, wrong parameters), by channel");
    for (const char* ch : {"telegram", "whatsapp", "sms"}) {
      pa.set({{"channel", ch}}, 0);
      tr.set({{"channel", ch}}, 0);
    }
    // Redis as this instance sees it: up, and one PING's round trip (its latency).
    auto& ru = metrics.gauge("aula_redis_up", "1 when Redis answered a PING during this scrape, else 0");
    auto& rl = metrics.gauge("aula_redis_ping_seconds", "Round trip of one Redis PING during this scrape");
    const auto ping_start = std::chrono::steady_clock::now();
    bool redis_up = false;
    try {
      redis_up = co_await svc.backing_store().ping();
    } catch (const std::exception&) {
      redis_up = false;
    }
    rl.set({}, std::chrono::duration<double>(std::chrono::steady_clock::now() - ping_start).count());
    ru.set({}, redis_up ? 1.0 : 0.0);
    const auto alerts = sender_service.counters().provider_alerts();
    for (auto it = alerts.begin(); it != alerts.end(); ++it)
      (it->first.second == "auth" ? pa : tr).set({{"channel", it->first.first}}, static_cast<double>(it->second));
    co_return make_response(req, http::status::ok, metrics.render(), "text/plain; version=0.0.4");
  };
  std::unique_ptr<http_server> metrics_server;
  if (cfg.metrics.listen.empty()) {
    server.add_route(http::verb::get, "/metrics", metrics_route);
    if (cfg.metrics.token.empty() && !loopback_host(opts.address))
      log::warn("/metrics is open to anyone who reaches this listener: set AULA_METRICS_TOKEN or metrics.listen",
                {{"listen", cfg.server.listen}});
  } else {
    auto mo = server_options_from(cfg.server);
    const auto where = parse_listen(cfg.metrics.listen);
    mo.address = where.host;
    mo.port = where.port;
    mo.access_log = false;  // a scrape every few seconds is not news
    metrics_server = std::make_unique<http_server>(ioc, mo);
    metrics_server->add_route(http::verb::get, "/metrics", metrics_route);
    metrics_server->add_route(http::verb::get, "/healthz", healthz);
  }

  auto webhook = [&](std::string channel) {
    return [&svc, channel](request& req) -> net::awaitable<response> {
      http_out out = co_await svc.handle_webhook(channel, to_http_in(req));
      co_return to_response(req, out);
    };
  };
  server.add_route(http::verb::post, "/webhooks/telegram", webhook("telegram"));
  server.add_route(http::verb::get, "/webhooks/whatsapp", webhook("whatsapp"));
  server.add_route(http::verb::post, "/webhooks/whatsapp", webhook("whatsapp"));
  server.add_route(http::verb::post, "/webhooks/twilio", webhook("sms"));
  server.add_route(http::verb::post, "/webhooks/twilio/status", webhook("sms"));
  server.add_route(http::verb::get, "/chat", [](request& req) -> net::awaitable<response> {
    co_return make_response(req, http::status::ok, web_chat_page(), "text/html; charset=utf-8");
  });
  server.add_route(http::verb::post, "/chat/api/send", webhook("web"));
  server.add_route(http::verb::get, "/chat/api/poll", [&](request& req) -> net::awaitable<response> {
    const std::string learner = query_param(req.target(), "learner");
    if (!valid_web_learner(learner)) co_return json_response(req, http::status::bad_request, {{"error", "bad learner"}});
    std::string after = query_param(req.target(), "after");
    try {
      auto entries = co_await svc.backing_store().web_read("web:" + learner, after, 50);
      nlohmann::json msgs = nlohmann::json::array();
      for (auto& e : entries) msgs.push_back({{"id", e.id}, {"msg", e.data}});
      co_return json_response(req, http::status::ok, {{"messages", msgs}});
    } catch (const store_unavailable&) {
      co_return json_response(req, http::status::service_unavailable, {{"error", "store unavailable"}});
    }
  });
  // The privacy notice, in Spanish (English with ?lang=en, Spanish when there is no English).
  server.add_route(http::verb::get, "/privacidad", [&](request& req) -> net::awaitable<response> {
    const bool en = query_param(req.target(), "lang") == "en" && notice_en;
    const std::optional<std::string>& text = en ? notice_en : notice_es;
    if (!text)
      co_return make_response(req, http::status::not_found, "no privacy notice is configured\n", "text/plain; charset=utf-8");
    co_return make_response(req, http::status::ok, privacy_notice_page(*text, en ? "en" : "es"), "text/html; charset=utf-8");
  });
  // Certificates: anyone holding the code can check it; nothing else about the learner shows.
  server.add_route(
      http::verb::get, "/verify/",
      [&](request& req) -> net::awaitable<response> {
        const std::string path = std::string(request_path(req));
        const std::string code = normalize_code(path.substr(std::string("/verify/").size()));
        std::optional<nlohmann::json> cert;
        try {
          if (!code.empty()) cert = co_await svc.backing_store().certificate(code);
        } catch (const store_unavailable&) {
          co_return json_response(req, http::status::service_unavailable, {{"error", "store unavailable"}});
        }
        const bool wants_json = query_param(req.target(), "format") == "json";
        if (wants_json) {
          if (!cert) co_return json_response(req, http::status::not_found, {{"valid", false}});
          nlohmann::json shown = {{"valid", true}};
          for (const char* k : {"folio", "course_name", "name", "hours", "score", "date"})
            if (cert->contains(k)) shown[k] = (*cert)[k];
          co_return json_response(req, http::status::ok, shown);
        }
        co_return make_response(req, cert ? http::status::ok : http::status::not_found, certificate_page(cert),
                                "text/html; charset=utf-8");
      },
      true);

  // The record store: result records drained from Redis, the reports' data.
  std::unique_ptr<record_keeper> keeper;
  try {
    if (cfg.records_url.starts_with("sqlite://")) {
      // A new deployment's default (sqlite://var/records.db) works without making var/ first.
      const std::filesystem::path file(cfg.records_url.substr(9));
      if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    }
    keeper = std::make_unique<record_keeper>(ioc.get_executor(), svc, sender_service, cfg.records_url);
    log::info("record store", {{"backend", keeper->backend()}, {"url", records::redact_url(cfg.records_url)}});
  } catch (const std::exception& e) {
    std::cerr << "aula serve: cannot open the record store (AULA_RECORDS_URL): " << log::redact(e.what()) << "\n";
    stop_threads();
    return 1;
  }
  admin_api admin(ioc.get_executor(), cfg, svc, pub, sender_service, *keeper);
  admin.add_routes(server);
  admin.add_report_routes(server);

  server.add_route(http::verb::get, "/", [](request& req) -> net::awaitable<response> {
    co_return make_response(req, http::status::ok, dashboard_page(), "text/html; charset=utf-8");
  });



  try {
    server.start();
    if (metrics_server) metrics_server->start();
  } catch (const std::exception& e) {
    std::cerr << "aula serve: " << e.what() << "\n";
    stop_threads();
    return 1;
  }
  log::info("listening", {{"address", cfg.server.listen}, {"port", server.port()}, {"flows", svc.flows()->flows.size()}});
  if (metrics_server)
    log::info("metrics listening", {{"address", cfg.metrics.listen}, {"port", metrics_server->port()},
                                    {"bearer", cfg.metrics.token.empty() ? "not required" : "required"}});

  sender_service.start();
  admin.start();
  keeper->start();
  log::info("sender started", {{"owner", sender_service.owner()}, {"lease_ttl_ms", cfg.delivery.lease_ttl.count()}});

  // SIGTERM/SIGINT: stop accepting, finish what is in flight, stop. SIGHUP: reload flows.
  std::promise<void> done;
  net::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        net::co_spawn(ioc, [&]() -> net::awaitable<void> {
          try {
            publish_report rep = co_await pub.publish_from_disk("SIGHUP");
            if (rep.ok) {
              log::info("flows reloaded", {{"version", rep.version.version}, {"new", rep.changed},
                                           {"moved", nlohmann::json(rep.moved)}});
            } else {
              for (const auto& e : rep.errors) log::error("flow error", {{"at", e}});
              log::error("flows not reloaded: errors (the previous version stays)");
            }
          } catch (const std::exception& e) {
            log::error("flows not reloaded", {{"error", e.what()}});
          }
        }, net::detached);
        wait_signal();
        return;
      }
      log::info("stopping", {{"signal", sig}});

      net::co_spawn(ioc, [&]() -> net::awaitable<void> {
        pub.stop();
        admin.stop();
        keeper->stop();
        co_await server.shutdown(cfg.server.shutdown_grace);
        if (metrics_server) co_await metrics_server->shutdown(cfg.server.shutdown_grace);
        co_await sender_service.stop(cfg.server.shutdown_grace);
        done.set_value();
      }, net::detached);
    });
  };
  wait_signal();
  done.get_future().wait();
  stop_threads();
  log::info("stopped");
  return 0;
}

}  // namespace

void add_serve(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("serve", "Run the webhook server (configuration: config/aula.yaml and AULA_* variables)");
  auto o = std::make_shared<serve_options>();
  cmd->add_option("--store", o->store, "redis (default) or memory (development only)")
      ->check(CLI::IsMember({"redis", "memory"}));
  cmd->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace aula::cli
