// The admin API's routes. Each handler runs behind `guarded`: the bearer token names a person
// (401 otherwise), their role must allow the route (403), a body must be a JSON object (400),
// and a store outage answers 503 so the caller retries.
#include "bot/cli/admin_api.hpp"

#include <algorithm>

#include "adapters/phone.hpp"
#include "adapters/web/web.hpp"
#include "bot/cli/admin_guard.hpp"
#include "bot/cli/http_util.hpp"
#include "bot/delivery/delivery.hpp"
#include "bot/engine/course.hpp"
#include "bot/engine/timing.hpp"
#include "bot/io/http_server.hpp"
#include "bot/io/log.hpp"
#include "bot/io/url.hpp"
#include "bot/service/learner_view.hpp"
#include "bot/service/publishing.hpp"
#include "bot/service/records.hpp"
#include "bot/service/roster.hpp"
#include "bot/service/service.hpp"

namespace aula::cli {

namespace {

// A job is a facilitator's to see and cancel when it is for a cohort of theirs, or for their
// commissions' learners only.
bool may_see_job(const principal& p, const nlohmann::json& job) {
  const auto& spec = job["spec"];
  if (p.covers(spec.value("cohort", std::string{}))) return true;
  const auto states = spec.value("states", std::vector<std::string>{});
  if (states.empty() || p.commissions.empty()) return false;
  for (const auto& st : states)
    if (std::find(p.commissions.begin(), p.commissions.end(), st) == p.commissions.end()) return false;
  return true;
}

// "/admin/learners/whatsapp:%2B52…/reset" -> "whatsapp:+52…" (the part between the route's
// prefix and `suffix`, percent-decoded; WhatsApp and SMS numbers normalized).
std::string learner_in_path(const request& req, const std::string& suffix) {
  std::string_view path = request_path(req);
  const std::string_view prefix = "/admin/learners/";
  if (path.size() < prefix.size() + suffix.size()) return {};
  const std::string out =
      percent_decode(path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()));
  const auto colon = out.find(':');
  if (colon == std::string::npos || out.find('/') != std::string::npos) return {};
  const std::string channel = out.substr(0, colon);
  if (channel == "whatsapp" || channel == "sms") {
    const std::string phone = normalize_phone(out.substr(colon + 1));
    return phone.empty() ? std::string{} : channel + ":" + phone;
  }
  return out;
}

// A count from the query string, within [0, max]; `fallback` when absent or not a number.
std::size_t bounded(const std::string& v, std::size_t fallback, std::size_t max) {
  if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos) return fallback;
  return std::min<std::size_t>(max, std::stoul(v));
}

}  // namespace

admin_api::admin_api(net::any_io_executor ex, const app_config& cfg, service& svc, publisher& pub, delivery& sender,
                     record_keeper& records)
    : cfg_(cfg),
      svc_(svc),
      pub_(pub),
      sender_(sender),
      records_(records),
      access_(svc.backing_store(), cfg.admin_tokens),
      people_(svc),
      jobs_(ex, svc, people_),
      retention_(ex, svc, records, cfg.retention) {}

std::int64_t admin_api::now() const { return svc_.clock().now_ms(); }

// A learner view's timeline (what Redis still holds) with what was drained to the record store.
net::awaitable<void> admin_api::add_stored_timeline(nlohmann::json& view, const std::string& conv, std::size_t max) {
  const record_keeper::job query = [conv, max](records::record_store& db) { return db.timeline(conv, max); };
  const nlohmann::json stored = co_await records_.run(query);
  merge_timeline(view, stored, max);
}


void admin_api::start() {
  jobs_.start();
  retention_.start();
}
void admin_api::stop() {
  jobs_.stop();
  retention_.stop();
}

void admin_api::add_routes(http_server& server) {
  // The admin API: a bearer token per person; administrators may do everything, facilitators
  // only what they are allowed for their cohorts (401 unknown token, 403 outside role/scope).
  auto guarded = [this](need n, auto handler) { return guard(access_, n, std::move(handler)); };
  server.add_route(http::verb::post, "/admin/tokens",
                   guarded(need::admin, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     std::vector<std::string> cohorts;
                     if (body.contains("cohorts") && body["cohorts"].is_array())
                       for (const auto& c : body["cohorts"])
                         if (c.is_string()) cohorts.push_back(c.get<std::string>());
                     std::vector<std::string> commissions;
                     if (body.contains("commissions") && body["commissions"].is_array())
                       for (const auto& c : body["commissions"])
                         if (c.is_string()) commissions.push_back(c.get<std::string>());
                     const std::string name = body.value("name", std::string{});
                     const std::string role = body.value("role", std::string{});
                     const std::string token = co_await access_.create_token(name, role, cohorts, p.name, now(), commissions);
                     nlohmann::json details;
                     details["role"] = role;
                     details["cohorts"] = cohorts;
                     details["commissions"] = commissions;
                     co_await access_.audit(p, "token.create", name, details, now());
                     co_return json_response(req, http::status::created,
                                             {{"token", token}, {"name", name}, {"role", role}, {"cohorts", cohorts},
                                              {"commissions", commissions}, {"note", "shown once: aula keeps only its hash"}});
                   }));
  server.add_route(http::verb::get, "/admin/tokens",
                   guarded(need::admin, [this](request& req, const nlohmann::json&, const principal&) -> net::awaitable<response> {
                     auto list = co_await access_.tokens();
                     co_return json_response(req, http::status::ok, {{"tokens", list}});
                   }));
  server.add_route(http::verb::post, "/admin/tokens/revoke",
                   guarded(need::admin, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     const std::string name = body.value("name", std::string{});
                     const bool any = co_await access_.revoke(name);
                     if (!any) co_return json_response(req, http::status::not_found, {{"error", "no token for '" + name + "'"}});
                     const nlohmann::json none;
                     co_await access_.audit(p, "token.revoke", name, none, now());
                     co_return json_response(req, http::status::ok, {{"revoked", name}});
                   }));
  server.add_route(http::verb::get, "/admin/audit",
                   guarded(need::admin, [this](request& req, const nlohmann::json&, const principal&) -> net::awaitable<response> {
                     const std::string m = query_param(req.target(), "max");
                     std::size_t max = 100;
                     if (!m.empty() && m.find_first_not_of("0123456789") == std::string::npos && m.size() < 7)
                       max = std::max<std::size_t>(1, std::stoul(m));
                     auto entries = co_await svc_.backing_store().audit_read(max);
                     co_return json_response(req, http::status::ok, {{"entries", entries}});
                   }));
  // Learners and cohorts: CSV imports (aula enroll is a client of this route).
  svc_.set_event_hook([this](const std::string& conv, const inbound_event& ev,
                               std::map<std::string, std::string>& contact)
                         -> net::awaitable<std::optional<inbound_event>> {
    // A Telegram learner opening an invite link (t.me/<bot>?start=inv_…).
    if (!conv.starts_with("telegram:") || !ev.flow.starts_with(invite_prefix)) co_return std::nullopt;
    co_return co_await people_.redeem(ev.flow, conv, contact);
  });
  server.add_route(http::verb::post, "/admin/learners/import",
                   guarded(need::staff, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     import_request ir;
                     ir.cohort = body.value("cohort", std::string{});
                     ir.course = body.value("course", std::string{});
                     ir.by = p.name;
                     ir.telegram_bot = cfg_.telegram.bot_username;
                     ir.first_line = std::max(1, body.value("first_line", 1));
                     ir.import_id = body.value("import_id", std::string{});
                     const std::string csv = body.value("csv", std::string{});
                     const std::string channel = body.value("default_channel", std::string("whatsapp"));
                     if (ir.cohort.empty() || csv.empty())
                       co_return json_response(req, http::status::bad_request,
                                               {{"error", "send {\"cohort\": \"piloto\", \"course\": \"…\", \"csv\": \"nombre,telefono,…\"}"}});
                     if (!p.reaches(ir.cohort))
                       co_return json_response(req, http::status::forbidden, {{"error", "cohort '" + ir.cohort + "' is not yours"}});
                     if (!ir.course.empty() && !svc_.flows()->course(ir.course))
                       co_return json_response(req, http::status::not_found, {{"error", "no course '" + ir.course + "'"}});
                     roster r = parse_roster(csv, channel);
                     // A facilitator of commissions enrols only learners of their states.
                     std::vector<roster_problem> outside;
                     if (!p.covers(ir.cohort)) {
                       std::erase_if(r.rows, [&](const roster_row& row) {
                         if (p.covers_state(row.state)) return false;
                         outside.push_back({row.line, "estado", "the state '" + row.state +
                                                                    "' is outside your commissions: an administrator enrols this learner"});
                         return true;
                       });
                     }
                     import_report rep = co_await people_.import(r, ir);
                     if (!outside.empty()) {
                       rep.problems.insert(rep.problems.end(), outside.begin(), outside.end());
                       std::stable_sort(rep.problems.begin(), rep.problems.end(),
                                        [](const roster_problem& a, const roster_problem& b) { return a.line < b.line; });
                     }
                     nlohmann::json details;
                     details["cohort"] = ir.cohort;
                     details["course"] = ir.course;
                     details["imported"] = rep.imported;
                     details["updated"] = rep.updated;
                     details["problems"] = rep.problems.size();
                     details["first_line"] = ir.first_line;
                     co_await access_.audit(p, "import", "cohort:" + ir.cohort, details, now());
                     co_return json_response(req, http::status::ok, rep.to_json());
                   }));
  server.add_route(http::verb::get, "/admin/cohorts/",
                   guarded(need::staff, [this](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     const std::string cohort = std::string(request_path(req).substr(std::string("/admin/cohorts/").size()));
                     if (!p.reaches(cohort))
                       co_return json_response(req, http::status::forbidden, {{"error", "cohort '" + cohort + "' is not yours"}});
                     auto members = co_await people_.cohort_members(cohort);
                     nlohmann::json list = nlohmann::json::array();
                     for (const auto& conv : members) {
                       auto rec = co_await people_.learner(conv);
                       if (!p.covers(cohort) && !(rec && p.covers_state(rec->value("state", std::string{})))) continue;
                       nlohmann::json item;
                       item["learner"] = conv;
                       if (rec) {
                         item["name"] = rec->value("name", std::string{});
                         item["state"] = rec->value("state", std::string{});
                       }
                       // Opted out or unreachable since enrolment: the session knows.
                       loaded_session l = co_await svc_.backing_store().load(conv);
                       item["status"] = l.exists ? learner_status(l.s) : rec ? rec->value("status", std::string{}) : "active";
                       list.push_back(std::move(item));
                     }
                     co_return json_response(req, http::status::ok, {{"cohort", cohort}, {"learners", list}});
                   }),
                   true);
  // Reminders and broadcasts to a cohort (aula remind / aula broadcast are clients).
  server.add_route(http::verb::post, "/admin/broadcasts",
                   guarded(need::staff, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     nlohmann::json spec_json = body;
                     if (body.contains("at") && body["at"].is_string()) {
                       auto at = parse_instant(body["at"].get<std::string>(), cfg_.default_time_zone);
                       if (!at) co_return json_response(req, http::status::bad_request,
                                                        {{"error", "at: write \"2026-12-01 09:00\" (local) or an ISO instant"}});
                       spec_json["at_ms"] = *at;
                     }
                     broadcast_spec spec = broadcast_spec::from_json(spec_json);
                     if (!p.reaches(spec.cohort))
                       co_return json_response(req, http::status::forbidden, {{"error", "cohort '" + spec.cohort + "' is not yours"}});
                     if (!p.covers(spec.cohort)) spec.states = p.commissions;  // their learners of it, only
                     if (body.value("dry_run", false)) {
                       auto preview = co_await jobs_.dry_run(spec);
                       co_return json_response(req, http::status::ok, preview);
                     }
                     auto job = co_await jobs_.create(spec, p.name);
                     const nlohmann::json details = spec.to_json();
                     co_await access_.audit(p, spec.kind, "job:" + job.value("id", std::string{}), details, now());
                     co_return json_response(req, http::status::created, job);
                   }));
  server.add_route(http::verb::get, "/admin/broadcasts",
                   guarded(need::staff, [this](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     auto all = co_await jobs_.list();
                     nlohmann::json mine = nlohmann::json::array();
                     for (auto& j : all)
                       if (may_see_job(p, j)) mine.push_back(std::move(j));
                     co_return json_response(req, http::status::ok, {{"jobs", mine}});
                   }));
  server.add_route(http::verb::get, "/admin/broadcasts/",
                   guarded(need::staff, [this](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     const std::string id = std::string(request_path(req).substr(std::string("/admin/broadcasts/").size()));
                     auto job = co_await jobs_.get(id);
                     if (!job) co_return json_response(req, http::status::not_found, {{"error", "no job " + id}});
                     if (!may_see_job(p, *job)) co_return json_response(req, http::status::forbidden, {{"error", "not your cohort"}});
                     co_return json_response(req, http::status::ok, *job);
                   }),
                   true);
  server.add_route(http::verb::post, "/admin/broadcasts/",
                   guarded(need::staff, [this](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     std::string rest = std::string(request_path(req).substr(std::string("/admin/broadcasts/").size()));
                     if (!rest.ends_with("/cancel")) co_return json_response(req, http::status::not_found, {{"error", "POST …/<id>/cancel"}});
                     const std::string id = rest.substr(0, rest.size() - 7);
                     auto job = co_await jobs_.get(id);
                     if (!job) co_return json_response(req, http::status::not_found, {{"error", "no job " + id}});
                     if (!may_see_job(p, *job)) co_return json_response(req, http::status::forbidden, {{"error", "not your cohort"}});
                     const bool stopped = co_await jobs_.cancel(id);
                     const nlohmann::json none;
                     if (stopped) co_await access_.audit(p, "cancel", "job:" + id, none, now());
                     co_return json_response(req, stopped ? http::status::ok : http::status::conflict,
                                             {{"cancelled", stopped}, {"id", id}});
                   }),
                   true);
  server.add_route(http::verb::post, "/admin/reload",
                   guarded(need::admin, [this](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     publish_report rep = co_await pub_.publish_from_disk("admin API: " + p.name);
                     const nlohmann::json details = rep.to_json();
                     co_await access_.audit(p, "publish", "flows", details, now());
                     co_return json_response(req, rep.ok ? http::status::ok : http::status::unprocessable_entity,
                                             rep.to_json());
                   }));
  // The log level of this instance, at run time (each instance has its own; audited).
  server.add_route(http::verb::get, "/admin/log-level",
                   guarded(need::admin, [](request& req, const nlohmann::json&, const principal&) -> net::awaitable<response> {
                     co_return json_response(req, http::status::ok, {{"level", log::level_name(log::min_level())}});
                   }));
  server.add_route(http::verb::post, "/admin/log-level",
                   guarded(need::admin, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     log::level lvl = log::level::info;
                     const auto it = body.find("level");
                     if (it == body.end() || !it->is_string() || !log::parse_level(it->get<std::string>(), lvl))
                       co_return json_response(req, http::status::bad_request,
                                               {{"error", "send {\"level\": \"debug\"} (debug, info, warn or error)"}});
                     const std::string before = log::level_name(log::min_level());
                     const std::string after = log::level_name(lvl);
                     log::set_min_level(lvl);
                     nlohmann::json details;
                     details["from"] = before;
                     details["to"] = after;
                     co_await access_.audit(p, "log-level", "log", details, now());
                     log::warn("log level changed", {{"from", before}, {"to", after}, {"by", p.name}});
                     co_return json_response(req, http::status::ok, {{"level", after}, {"previous", before}});
                   }));
  server.add_route(http::verb::get, "/admin/versions",
                   guarded(need::admin, [this](request& req, const nlohmann::json&, const principal&) -> net::awaitable<response> {
                     auto list = co_await svc_.backing_store().publications(50);
                     auto pins = co_await svc_.backing_store().pins();
                     nlohmann::json vs = nlohmann::json::array();
                     for (const auto& v : list)
                       vs.push_back({{"version", v.version}, {"hash", v.hash}, {"at_ms", v.at_ms}, {"note", v.note}});
                     co_return json_response(req, http::status::ok,
                                             {{"current", pub_.current_version()}, {"versions", vs}, {"pins", pins}});
                   }));
  server.add_route(http::verb::post, "/admin/pins",
                   guarded(need::admin, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     const std::string cohort = body.value("cohort", std::string{});
                     const int v = body.value("version", -1);
                     if (cohort.empty() || v < 0)
                       co_return json_response(req, http::status::bad_request,
                                               {{"error", "send {\"cohort\": \"piloto\", \"version\": 1} (version 0 unpins)"}});
                     if (v > 0 && !(co_await svc_.backing_store().publication_bundle(v)))
                       co_return json_response(req, http::status::not_found, {{"error", "no published version " + std::to_string(v)}});
                     co_await svc_.backing_store().pin(cohort, v);
                     nlohmann::json details;
                     details["version"] = v;
                     const std::string action = v > 0 ? "pin" : "unpin";
                     co_await access_.audit(p, action, cohort, details, now());
                     co_await pub_.refresh();
                     co_return json_response(req, http::status::ok, {{"cohort", cohort}, {"version", v}});
                   }));
  server.add_route(http::verb::post, "/admin/enroll",
                   guarded(need::staff, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     const std::string learner = body.value("learner", std::string{});
                     const std::string in_cohort = body.value("cohort", std::string{});
                     if (!p.covers(in_cohort) &&
                         !(p.reaches(in_cohort) && p.covers_state(body.value("state", std::string{}))))
                       co_return json_response(req, http::status::forbidden,
                                               {{"error", in_cohort.empty() ? "name one of your cohorts (cohort)"
                                                          : p.reaches(in_cohort) ? "the learner's state is outside your commissions"
                                                                                 : "cohort '" + in_cohort + "' is not yours"}});
                     const std::string course = body.value("course", std::string{});
                     const auto colon = learner.find(':');
                     std::string channel = colon == std::string::npos ? std::string{} : learner.substr(0, colon);
                     std::string address = colon == std::string::npos ? std::string{} : learner.substr(colon + 1);
                     if (channel == "whatsapp" || channel == "sms") address = normalize_phone(address);
                     channel_adapter* a = svc_.adapter(channel);
                     if (channel == "web" && !valid_web_learner(address)) address.clear();
                     if (!a || !a->enabled() || address.empty())
                       co_return json_response(req, http::status::bad_request,
                                               {{"error", "learner must be <channel>:<address> on an enabled channel "
                                                          "(telegram:123, whatsapp:+52…, sms:+52…, web:<id>)"}});
                     if (!svc_.flows()->course(course))
                       co_return json_response(req, http::status::not_found, {{"error", "no course '" + course + "'"}});
                     std::map<std::string, std::string> contact;
                     if (body.contains("contact") && body["contact"].is_object())
                       for (auto it = body["contact"].begin(); it != body["contact"].end(); ++it)
                         if (it.value().is_string()) contact[it.key()] = it.value().get<std::string>();
                     for (const char* k : {"name", "cohort", "tz", "state", "role"})
                       if (body.contains(k) && body[k].is_string()) contact[k] = body[k].get<std::string>();
                     if (auto tz = contact.find("tz"); tz != contact.end() && !known_time_zone(tz->second))
                       co_return json_response(req, http::status::bad_request, {{"error", "unknown time zone " + tz->second}});
                     if (!in_cohort.empty()) {
                       // A learner record and the cohort, as a one-row import (reports by cohort see them).
                       roster one;
                       roster_row row;
                       row.line = 1;
                       row.channel = channel;
                       row.address = address;
                       for (auto& kv : contact) {
                         if (kv.first == "name") row.name = kv.second;
                         else if (kv.first == "state") row.state = kv.second;
                         else if (kv.first == "role") row.role = kv.second;
                         else if (kv.first == "tz") row.tz = kv.second;
                         else if (kv.first == "consent") row.consent = kv.second;
                         else if (kv.first == "language") row.language = kv.second;
                         else if (kv.first != "cohort") row.extra[kv.first] = kv.second;
                       }
                       if (row.tz.empty()) row.tz = time_zone_of_state(row.state);
                       if (row.tz.empty()) row.tz = cfg_.default_time_zone;
                       if (row.language.empty()) row.language = "es";
                       one.rows.push_back(std::move(row));
                       import_request ir;
                       ir.cohort = in_cohort;
                       ir.course = course;
                       ir.by = p.name;
                       co_await people_.import(one, ir);
                     } else {
                       inbound_event ev = inbound_event::enroll_in(course);
                       co_await svc_.deliver(channel, address, ev, {}, contact);
                     }
                     nlohmann::json details;
                     details["course"] = course;
                     details["cohort"] = in_cohort;
                     const std::string target = channel + ":" + address;
                     co_await access_.audit(p, "enroll", target, details, now());
                     co_return json_response(req, http::status::ok, {{"learner", channel + ":" + address}, {"course", course}});
                   }));
  // One learner: what an operator sees (staff in scope), and the fixes (administrators).
  server.add_route(http::verb::get, "/admin/learners/",
                   guarded(need::staff, [this](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     if (request_path(req).ends_with("/export")) {
                       // Everything aula holds about one learner (a data-rights request): the
                       // directory record, the whole session, every result record (record store and
                       // Redis), dead letters. Administrators only; audited.
                       if (!p.is_admin()) co_return json_response(req, http::status::forbidden, {{"error", "administrators only"}});
                       const std::string conv = learner_in_path(req, "/export");
                       learner_view_options vo;
                       vo.timeline = 100000;
                       vo.dead_letters = 1000;
                       vo.scan = 100000;
                       vo.whole_session = true;
                       std::optional<nlohmann::json> view;
                       if (!conv.empty()) view = co_await describe_learner(svc_.backing_store(), conv, vo);
                       if (!view) co_return json_response(req, http::status::not_found, {{"error", "no learner '" + conv + "'"}});
                       co_await add_stored_timeline(*view, conv, vo.timeline);
                       nlohmann::json out;
                       out["learner"] = conv;
                       out["exported_at"] = format_local(now(), "UTC") + " UTC";
                       out["record"] = view->value("record", nlohmann::json());
                       out["session"] = (*view)["session"];
                       out["records"] = (*view)["timeline"];
                       out["dead_letters"] = (*view)["dead_letters"];
                       // ?free_text=0: without what the learner typed (as the reports' free_text=0).
                       const bool typed = query_param(req.target(), "free_text") != "0";
                       if (!typed) {
                         for (auto& r : out["records"]) records::strip_free_text(r);
                         auto& answers = out["session"]["answers"];
                         if (answers.is_object())
                           for (auto it = answers.begin(); it != answers.end();) {
                             const auto& a = it.value();
                             // A typed answer was saved as itself; a choice as its id and label.
                             if (a.is_object() && a.contains("v") && a["v"].is_string() &&
                                 a["v"] == a.value("t", nlohmann::json()))
                               it = answers.erase(it);
                             else
                               ++it;
                           }
                         out["free_text"] = false;
                       }
                       nlohmann::json details = {{"records", out["records"].size()}};
                       if (!typed) details["free_text"] = false;
                       co_await access_.audit(p, "export", conv, details, now());
                       co_return json_response(req, http::status::ok, out);
                     }
                     const std::string conv = learner_in_path(req, "");
                     learner_view_options vo;
                     vo.timeline = bounded(query_param(req.target(), "timeline"), 200, 5000);
                     vo.dead_letters = bounded(query_param(req.target(), "dead_letters"), 20, 1000);
                     std::optional<nlohmann::json> view;
                     if (!conv.empty()) view = co_await describe_learner(svc_.backing_store(), conv, vo);
                     if (!view) co_return json_response(req, http::status::not_found, {{"error", "no learner '" + conv + "'"}});
                     if (!p.covers_learner(view->value("record", nlohmann::json::object())))
                       co_return json_response(req, http::status::forbidden, {{"error", "this learner is not in your cohorts"}});
                     if (vo.timeline > 0) co_await add_stored_timeline(*view, conv, vo.timeline);
                     co_return json_response(req, http::status::ok, *view);
                   }),
                   true);
  server.add_route(http::verb::post, "/admin/learners/",
                   guarded(need::admin, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     const std::string path = std::string(request_path(req));
                     if (path.ends_with("/delete")) {
                       // Erasure (a data-rights request): everything that names the learner
                       // goes; their results stay, anonymized, so reports still add up. The
                       // audit entry names the anonymous id, never the address.
                       const std::string conv = learner_in_path(req, "/delete");
                       if (conv.empty() || conv.find(':') == std::string::npos)
                         co_return json_response(req, http::status::bad_request, {{"error", "name the learner as <channel>:<address>"}});
                       nlohmann::json done = co_await erase_learner(svc_, records_, conv);
                       if (!done.value("found", false))
                         co_return json_response(req, http::status::not_found, {{"error", "no learner '" + conv + "'"}});
                       const std::string anon = done.value("anon", std::string{});
                       nlohmann::json details = done;
                       details.erase("found");
                       details.erase("anon");
                       details["channel"] = conv.substr(0, conv.find(':'));
                       co_await access_.audit(p, "delete", anon, details, now());
                       done.erase("found");
                       co_return json_response(req, http::status::ok, done);
                     }
                     const std::string action = path.ends_with("/reset") ? "reset" : path.ends_with("/move") ? "move" : "";
                     if (action.empty())
                       co_return json_response(req, http::status::not_found,
                                               {{"error", "POST /admin/learners/<learner>/reset, /move or /delete"}});
                     const std::string conv = learner_in_path(req, "/" + action);
                     const auto colon = conv.find(':');
                     if (colon == std::string::npos)
                       co_return json_response(req, http::status::bad_request, {{"error", "name the learner as <channel>:<address>"}});
                     const std::string channel = conv.substr(0, colon), address = conv.substr(colon + 1);
                     loaded_session before = co_await svc_.backing_store().load(conv);
                     if (!before.exists) co_return json_response(req, http::status::not_found, {{"error", "no learner '" + conv + "'"}});
                     const std::string course = body.value("course", std::string{});
                     const std::string flow_id = body.value("flow", std::string{});
                     const std::string node = body.value("node", std::string{});
                     auto flows = svc_.flows();
                     if (!course.empty() && !flows->course(course))
                       co_return json_response(req, http::status::not_found, {{"error", "no course '" + course + "'"}});
                     if (!course.empty() && !before.s.course(course))
                       co_return json_response(req, http::status::conflict, {{"error", "the learner is not enrolled in " + course}});
                     inbound_event ev;
                     std::string summary;
                     if (action == "reset") {
                       ev = inbound_event::reset_by_staff(course);
                       summary = course.empty() ? "conversation reset" : "course " + course + " starts over from its first module";
                     } else {
                       if (flow_id.empty()) co_return json_response(req, http::status::bad_request, {{"error", "move needs flow (and course, or node)"}});
                       if (!course.empty() && flows->course(course)->index_of(flow_id) < 0)
                         co_return json_response(req, http::status::not_found, {{"error", "course " + course + " has no module " + flow_id}});
                       const flow* f = flows->find(flow_id);
                       if (!f) co_return json_response(req, http::status::not_found, {{"error", "no flow '" + flow_id + "'"}});
                       if (!node.empty() && (!course.empty() || !f->find(node)))
                         co_return json_response(req, http::status::bad_request,
                                                 {{"error", course.empty() ? "flow " + flow_id + " has no node " + node
                                                                           : "node goes with a flow, not with a course's module"}});
                       ev = inbound_event::move_to(flow_id, node, course);
                       summary = "moved to " + (course.empty() ? flow_id + (node.empty() ? "" : " at " + node) : "module " + flow_id + " of " + course);
                     }
                     co_await svc_.deliver(channel, address, ev);
                     nlohmann::json details = body;
                     co_await access_.audit(p, action, conv, details, now());
                     learner_view_options vo;
                     vo.timeline = 0;
                     auto view = co_await describe_learner(svc_.backing_store(), conv, vo);
                     co_return json_response(req, http::status::ok,
                                             {{"summary", summary}, {"learner", view ? *view : nlohmann::json()}});
                   }),
                   true);
  // The retention job, now (it also runs by itself every retention.every).
  server.add_route(http::verb::post, "/admin/retention/run",
                   guarded(need::admin, [this](request& req, const nlohmann::json&, const principal& p) -> net::awaitable<response> {
                     nlohmann::json done = co_await retention_.run_once();
                     co_await access_.audit(p, "retention", "all", done, now());
                     done["enabled"] = retention_.enabled();
                     co_return json_response(req, http::status::ok, done);
                   }));
  server.add_route(http::verb::post, "/admin/preview",
                   guarded(need::admin, [this](request& req, const nlohmann::json& body, const principal& p) -> net::awaitable<response> {
                     const std::string flow = body.value("flow", std::string{});
                     auto res = co_await pub_.start_preview(flow);
                     const nlohmann::json none;
                     co_await access_.audit(p, "preview", flow, none, now());
                     if (res.first.empty())
                       co_return json_response(req, http::status::unprocessable_entity, {{"errors", res.second}});
                     co_return json_response(req, http::status::ok,
                                             {{"learner", res.first}, {"url", "/chat#" + res.first}});
                   }));

  if (cfg_.test_clock) {
    server.add_route(http::verb::post, "/admin/test/clock",
                     guarded(need::admin, [this](request& req, const nlohmann::json& body, const principal&) -> net::awaitable<response> {
      std::optional<std::int64_t> ms;
      if (body.contains("advance") && body["advance"].is_string()) ms = parse_duration(body["advance"].get<std::string>());
      if (!ms) co_return json_response(req, http::status::bad_request, {{"error", "send {\"advance\": \"25h\"}"}});
      auto offset = svc_.clock().advance(*ms);
      try {
        co_await sender_.fire_timers_now();
      } catch (const std::exception& e) {
        log::warn("timers after a clock advance", {{"error", e.what()}});
      }
      co_return json_response(req, http::status::ok, {{"offset_ms", offset}, {"now_ms", svc_.clock().now_ms()}});
    }));
    log::warn("AULA_TEST_CLOCK=1: POST /admin/test/clock can move aula's clock (tests only)");
  }
}

}  // namespace aula::cli
