// aula_bench: how fast the engine does its work on the shipped flows, each figure as a ratio
// against a baseline measured in the same run (so the figures compare across machines).
// Not a test: scripts/bench builds and runs it and writes tests/bench/results.json and
// tests/bench/RESULTS.md.
//
//   steps       every step of the transcripts in <flows>/tests/*.yaml, replayed through step()
//               with each message rendered as plain text (what `aula chat` and `aula test` do);
//               baseline: the same replay without rendering, so the ratio is what a step costs
//               with its rendering compared to the bare engine step
//   session     session.dump() + session::parse() of a session in the middle of a course;
//               baseline: nlohmann::json::parse() + dump() of the same JSON text, so the ratio
//               is the cost of our model mapping over the JSON library alone
//   load        load_flows() of the flows folder: read, build the model, validate;
//               baseline: YAML::LoadFile() of the same files, so the ratio is how many bare
//               YAML parses loading and validating costs
//   course      the steps of the sample course's transcripts (curso-muestra) alone, rendered;
//               baseline: the same steps without rendering
//   load-1000   load_flows() of a generated 1,000-node flow (messages and quizzes);
//               baseline: YAML::LoadFile() of the same file
//   parse-<ch>  an adapter's parse() of a realistic inbound text webhook, signature or secret
//               checked (telegram, whatsapp, sms = Twilio); baseline: nlohmann::json::parse()
//               of the same body (sms: computing the X-Twilio-Signature alone)
//   render-<ch> an adapter's render() of every message the sample course sends, into the
//               provider's API calls; baseline: render_plain() of the same messages
//   classify-<ch> an adapter's classify() of a realistic answer to a send (telegram,
//               whatsapp); baseline: nlohmann::json::parse() of the same body
//
// Every ratio is measured time / baseline time per operation (1.0 = no cost over the
// baseline), taken per repetition from a measured/baseline pair run back to back; times are the
// thread's CPU time, so a busy machine disturbs them less than wall-clock time would.
//
//   aula_bench [--flows DIR] [--reps N] [--ms MS] [--json FILE] [--md FILE] [--label TEXT]
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <sqlite3.h>
#include <unistd.h>

#include "adapters/telegram/telegram.hpp"
#include "adapters/twilio_sms/twilio_sms.hpp"
#include "adapters/whatsapp/whatsapp.hpp"
#include "bot/authoring/loader.hpp"
#include "bot/authoring/transcript.hpp"
#include "bot/delivery/send_records.hpp"
#include "bot/engine/engine.hpp"
#include "bot/engine/json_text.hpp"
#include "bot/engine/render.hpp"
#include "bot/engine/timing.hpp"
#include "bot/records/record_store.hpp"

namespace fs = std::filesystem;
using namespace aula;

namespace {

volatile std::size_t sink = 0;  // keeps the work from being optimized away

// ---------------------------------------------------------------------------------------------
// Recording the transcripts' steps: the same driving as run_case() and the simulator, keeping
// each step's event and context so the replay repeats exactly the same steps.

struct recorded_step {
  inbound_event ev;
  context ctx;
};
struct recorded_case {
  std::string name;
  session initial;
  std::vector<recorded_step> steps;
};

recorded_case record(const flow_set& flows, const transcript_case& c) {
  recorded_case rc;
  rc.name = c.name;
  context ctx;
  ctx.tz = c.tz.empty() ? default_time_zone : c.tz;
  ctx.now_ms = transcript_epoch_ms;
  if (!c.now.empty())
    if (auto t = parse_instant(c.now, ctx.tz)) ctx.now_ms = *t;
  ctx.caps.max_buttons = c.buttons;
  ctx.cohorts = c.cohorts;
  session s;
  s.lang = c.lang;
  s.contact = c.contact;
  rc.initial = s;
  std::map<std::string, timer_effect> timers;
  std::vector<std::string> webhooks;
  std::uint64_t seed = 0;
  auto apply = [&](const inbound_event& ev) {
    ctx.seed = ++seed;
    rc.steps.push_back({ev, ctx});
    auto r = step(flows, s, ev, ctx);
    s = std::move(r.next);
    for (const auto& id : r.timers_cancel) timers.erase(id);
    for (const auto& t : r.timers_set) timers[t.id] = t;
    for (const auto& w : r.webhooks) webhooks.push_back(w.id);
  };
  auto pending_webhook = [&]() -> std::string {
    for (auto it = webhooks.rbegin(); it != webhooks.rend(); ++it)
      if (s.run && s.run->timer && s.run->timer->id == *it) return *it;
    return "none";
  };
  apply(inbound_event::start(c.flow, c.start_at));
  using who = transcript_turn::who;
  for (const auto& t : c.turns) {
    switch (t.speaker) {
      case who::learner: apply(inbound_event::message(t.text)); break;
      case who::tap: {
        std::string ref = "stale." + t.text;
        if (s.run)
          if (const flow* f = flows.find(s.run->flow))
            if (const node* n = f->find(s.run->node))
              for (std::size_t i = 0; i < n->options.size(); ++i)
                if (n->options[i].id == t.text) ref = choice_ref(s.run->id, n->id, i);
        apply(inbound_event::tap(ref));
        break;
      }
      case who::advance: {
        const std::int64_t target = ctx.now_ms + parse_duration(t.text).value_or(0);
        while (true) {
          auto next = std::min_element(timers.begin(), timers.end(), [](const auto& a, const auto& b) {
            return a.second.due_ms < b.second.due_ms || (a.second.due_ms == b.second.due_ms && a.first < b.first);
          });
          if (next == timers.end() || next->second.due_ms > target) break;
          const timer_effect te = next->second;
          timers.erase(next);
          ctx.now_ms = std::max(ctx.now_ms, te.due_ms);
          apply(inbound_event::timer_due(te.id));
        }
        ctx.now_ms = target;
        break;
      }
      case who::webhook: apply(inbound_event::webhook_answer(pending_webhook(), t.status, t.text)); break;
      case who::event:
        apply(inbound_event::of(t.text == "reset"     ? inbound_event::kind::reset
                                : t.text == "opt_out" ? inbound_event::kind::opt_out
                                                      : inbound_event::kind::opt_in));
        break;
      case who::start:
        apply(inbound_event::start(t.text, {}, start_policy_from(t.policy).value_or(start_policy::interrupt)));
        break;
      default: break;
    }
  }
  return rc;
}

// One pass over every recorded step; returns the number of steps.
std::size_t replay(const flow_set& flows, const std::vector<recorded_case>& cases, bool render) {
  std::size_t steps = 0, bytes = 0;
  for (const auto& rc : cases) {
    session s = rc.initial;
    for (const auto& st : rc.steps) {
      auto r = step(flows, s, st.ev, st.ctx);
      if (render) {
        for (const auto& m : r.messages) bytes += render_plain(m).size();
      } else {
        bytes += r.messages.size();
      }
      s = std::move(r.next);
      ++steps;
    }
  }
  sink = sink + bytes;
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Timing: this thread's CPU time, so other processes on a busy machine (a parallel build) cost
// the figures less than they would in wall-clock time.

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct stats {
  double min = 0, median = 0, max = 0;
};
stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  stats s;
  if (v.empty()) return s;
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}

// Runs `op` (which does `units` units of work per call) enough times to last about `ms`
// milliseconds; returns seconds per unit.
double time_per_unit(const std::function<std::size_t()>& op, long iterations) {
  std::size_t units = 0;
  const double t0 = cpu_seconds();
  for (long i = 0; i < iterations; ++i) units += op();
  const double secs = cpu_seconds() - t0;
  return units ? secs / static_cast<double>(units) : 0;
}

long calibrate(const std::function<std::size_t()>& op, double ms) {
  long n = 1;
  while (true) {
    const double t0 = cpu_seconds();
    for (long i = 0; i < n; ++i) op();
    const double took = (cpu_seconds() - t0) * 1000;
    if (took >= ms / 4 || n > (1L << 24)) return std::max(1L, static_cast<long>(static_cast<double>(n) * ms / std::max(took, 1e-3)));
    n *= 2;
  }
}

struct benchmark {
  benchmark(std::string n, std::string u, std::string w, std::string bw, std::function<std::size_t()> m,
            std::function<std::size_t()> b)
      : name(std::move(n)), unit(std::move(u)), what(std::move(w)), baseline_what(std::move(bw)),
        measured(std::move(m)), baseline(std::move(b)) {}
  std::string name, unit, what, baseline_what;
  std::function<std::size_t()> measured, baseline;
  long measured_iters = 0, baseline_iters = 0;
  std::vector<double> m_secs, b_secs, ratios;
  std::size_t units_per_op = 0;
};

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A flow of `n` nodes: messages, every fourth a three-option quiz, the last the end.
std::string generated_flow(int n) {
  std::string y = "spec: 1\nid: grande\nname: {es: \"Flujo generado de " + std::to_string(n) +
                  " nodos\", en: \"Generated flow\"}\nlanguage: es\nstart: n0\nnodes:\n";
  for (int i = 0; i < n; ++i) {
    const std::string id = "n" + std::to_string(i), next = "n" + std::to_string(i + 1);
    y += "  " + id + ":\n";
    if (i == n - 1) {
      y += "    end: completed\n    message: {es: \"Terminaste, {{contact.name|colega}}. Puntaje: {{score.total}}/{{score.max}}\", en: \"Done\"}\n";
    } else if (i % 4 == 3) {
      y += "    quiz: {es: \"¿Pregunta " + std::to_string(i) + ": cuál es la edad mínima para trabajar?\", en: \"Question\"}\n"
           "    options:\n"
           "      - {id: a, label: {es: \"14 años\", en: \"14\"}, feedback: {es: \"No: es 15.\", en: \"No.\"}}\n"
           "      - {id: b, label: {es: \"15 años\", en: \"15\"}, correct: true}\n"
           "      - {id: c, label: {es: \"18 años\", en: \"18\"}}\n"
           "    feedback: {correct: {es: \"¡Correcto! ✅\", en: \"Correct!\"}, incorrect: {es: \"La edad mínima es 15 años.\", en: \"15.\"}}\n"
           "    points: 1\n    save_as: r" + std::to_string(i) + "\n    next: " + next + "\n";
    } else {
      y += "    message: {es: \"📘 Paso " + std::to_string(i) + " de la lección, {{contact.name|colega}}: la Constitución prohíbe el trabajo de menores de 15 años.\", en: \"Step\"}\n"
           "    next: " + next + "\n";
    }
  }
  return y;
}

std::string human_rate(double per_s) {
  if (per_s >= 1e6) return fixed(per_s / 1e6, 2) + " M ";
  if (per_s >= 1e3) return fixed(per_s / 1e3, 1) + " k ";
  return fixed(per_s, 1) + " ";
}

}  // namespace

int main(int argc, char** argv) {
  std::string flows_dir = std::string(AULA_SOURCE_DIR) + "/flows";
  std::string json_out, md_out, label;
  int reps = 7;
  double ms = 100;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "aula_bench: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--flows") flows_dir = value();
    else if (a == "--reps") reps = std::max(1, std::atoi(value().c_str()));
    else if (a == "--ms") ms = std::max(1.0, std::atof(value().c_str()));
    else if (a == "--json") json_out = value();
    else if (a == "--md") md_out = value();
    else if (a == "--label") label = value();
    else {
      std::cerr << "usage: aula_bench [--flows DIR] [--reps N] [--ms MS] [--json FILE] [--md FILE] [--label TEXT]\n";
      return 2;
    }
  }

  // The flows and their transcripts; every case must pass, or the figures mean nothing.
  auto loaded = load_flows({flows_dir});
  if (!loaded.ok()) {
    for (const auto& d : loaded.diags.items()) std::cerr << format(d) << "\n";
    std::cerr << "aula_bench: the flows in " << flows_dir << " have errors\n";
    return 1;
  }
  std::vector<recorded_case> cases, course_cases;
  std::size_t transcript_files = 0;
  const fs::path tdir = fs::path(flows_dir) / "tests";
  std::vector<std::string> tfiles;
  for (const auto& e : fs::directory_iterator(tdir))
    if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") tfiles.push_back(e.path().string());
  std::sort(tfiles.begin(), tfiles.end());
  for (const auto& file : tfiles) {
    transcript_file tf;
    diagnostics diags;
    if (!read_transcripts(file, tf, diags)) {
      for (const auto& d : diags.items()) std::cerr << format(d) << "\n";
      return 1;
    }
    ++transcript_files;
    for (const auto& c : tf.cases) {
      auto outcome = run_case(loaded.flows, c);
      if (!outcome.passed) {
        std::cerr << "aula_bench: transcript case '" << c.name << "' fails:\n" << outcome.report;
        return 1;
      }
      cases.push_back(record(loaded.flows, c));
      if (fs::path(file).filename() == "curso-muestra.yaml") course_cases.push_back(cases.back());
    }
  }
  if (cases.empty()) {
    std::cerr << "aula_bench: no transcripts in " << tdir << "\n";
    return 1;
  }

  // A session in the middle of the longest case: the heaviest the store keeps per learner.
  const recorded_case* longest = &cases.front();
  for (const auto& rc : cases)
    if (rc.steps.size() > longest->steps.size()) longest = &rc;
  session mid = longest->initial;
  for (std::size_t i = 0; i < longest->steps.size() / 2; ++i) mid = step(loaded.flows, mid, longest->steps[i].ev, longest->steps[i].ctx).next;
  const std::string mid_text = mid.dump();
  if (session::parse(mid_text).dump() != mid_text) {
    std::cerr << "aula_bench: a session does not survive dump + parse\n";
    return 1;
  }

  std::vector<std::string> files = flow_files_in(flows_dir);
  if (fs::exists(fs::path(flows_dir) / "triggers.yaml")) files.push_back((fs::path(flows_dir) / "triggers.yaml").string());

  std::size_t steps_per_pass = replay(loaded.flows, cases, false);
  std::vector<benchmark> benches;
  benches.emplace_back("steps", "steps/s",
                     "step() + render_plain() of every message, over the " + std::to_string(steps_per_pass) +
                         " steps of " + std::to_string(cases.size()) + " transcript cases",
                     "the same steps without rendering",
                     [&] { return replay(loaded.flows, cases, true); },
                     [&] { return replay(loaded.flows, cases, false); });
  benches.emplace_back("session", "round trips/s",
                     "session.dump() + session::parse() of a mid-course session (" + std::to_string(mid_text.size()) +
                         " bytes of JSON, case '" + longest->name + "')",
                     "nlohmann::json::parse() + dump() of the same JSON text",
                     [&] {
                       session s = session::parse(mid.dump());
                       sink = sink + s.answers.size();
                       return std::size_t{1};
                     },
                     [&] {
                       auto j = nlohmann::json::parse(mid_text);
                       sink = sink + j.dump().size();
                       return std::size_t{1};
                     });
  benches.emplace_back("load", "loads/s",
                     "load_flows() of " + fs::path(flows_dir).filename().string() + "/ (" + std::to_string(files.size()) +
                         " files: read, build the model, validate)",
                     "YAML::LoadFile() of the same files",
                     [&] {
                       auto r = load_flows({flows_dir});
                       sink = sink + r.flows.flows.size();
                       return std::size_t{1};
                     },
                     [&] {
                       for (const auto& f : files) sink = sink + YAML::LoadFile(f).size();
                       return std::size_t{1};
                     });

  // The sample course's steps alone (what a learner of the shipped course does).
  if (!course_cases.empty()) {
    const std::size_t n = replay(loaded.flows, course_cases, false);
    benches.emplace_back("course", "steps/s",
                         "step() + render_plain() over the " + std::to_string(n) + " steps of the sample course's " +
                             std::to_string(course_cases.size()) + " transcript cases (curso-muestra)",
                         "the same steps without rendering",
                         [&] { return replay(loaded.flows, course_cases, true); },
                         [&] { return replay(loaded.flows, course_cases, false); });
  }

  // A generated 1,000-node flow: loading and validating a large flow.
  const fs::path big_dir = fs::temp_directory_path() / ("aula-bench-flow-" + std::to_string(::getpid()));
  fs::create_directories(big_dir);
  const std::string big_file = (big_dir / "grande.yaml").string();
  {
    std::ofstream f(big_file, std::ios::binary | std::ios::trunc);
    f << generated_flow(1000);
  }
  {
    auto big = load_flows({big_dir.string()});
    if (!big.ok()) {
      for (const auto& d : big.diags.items()) std::cerr << format(d) << "\n";
      std::cerr << "aula_bench: the generated 1,000-node flow has errors\n";
      return 1;
    }
  }
  benches.emplace_back("load-1000", "loads/s", "load_flows() of a generated 1,000-node flow (750 messages, 249 quizzes)",
                       "YAML::LoadFile() of the same file",
                       [&] {
                         auto r = load_flows({big_dir.string()});
                         sink = sink + r.flows.flows.size();
                         return std::size_t{1};
                       },
                       [&] {
                         sink = sink + YAML::LoadFile(big_file).size();
                         return std::size_t{1};
                       });

  // The adapters: parse + verify of a realistic inbound text, render of the course's messages.
  telegram_adapter tg({"123456:BENCH-token", "bench-secret-token", "http://127.0.0.1:9"});
  whatsapp_options wo;
  wo.token = "EAAGbench";
  wo.app_secret = "bench-app-secret";
  wo.verify_token = "bench-verify";
  wo.phone_number_id = "106540352242922";
  wo.api_base = "http://127.0.0.1:9/v21.0";
  whatsapp_adapter wa(wo);
  twilio_options to;
  to.account_sid = "AC0123456789abcdef0123456789abcdef";
  to.auth_token = "bench-twilio-token";
  to.from = "+15005550006";
  to.api_base = "http://127.0.0.1:9";
  to.public_url = "http://127.0.0.1:8080";
  twilio_sms_adapter sms(to);
  struct inbound {
    std::string channel;
    const channel_adapter* adapter;
    http_in req;
  };
  std::vector<inbound> ins;
  {
    http_in r{"POST", "/webhooks/telegram", {{"content-type", "application/json"}, {"x-telegram-bot-api-secret-token", "bench-secret-token"}},
              R"({"update_id":100000001,"message":{"message_id":17,"from":{"id":700000042,"is_bot":false,"first_name":"Ana","last_name":"N42","username":"learner42","language_code":"es"},"chat":{"id":700000042,"first_name":"Ana","last_name":"N42","username":"learner42","type":"private"},"date":1700000000,"text":"15 años"}})"};
    ins.push_back({"telegram", &tg, r});
  }
  {
    std::string body =
        R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Ana N42"},"wa_id":"5215512345678"}],"messages":[{"from":"5215512345678","id":"wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBCRkFCNUYzQzg0QjU4RjI1AA==","timestamp":"1700000000","type":"text","text":{"body":"15 años"}}]},"field":"messages"}]}]})";
    http_in r{"POST", "/webhooks/whatsapp", {{"content-type", "application/json"}, {"x-hub-signature-256", whatsapp_adapter::signature("bench-app-secret", body)}}, body};
    ins.push_back({"whatsapp", &wa, r});
  }
  const form_params sms_params = {{"ToCountry", "MX"}, {"ToState", "CDMX"}, {"SmsMessageSid", "SM0123456789abcdef0123456789abcdef"},
                                  {"NumMedia", "0"}, {"ToCity", ""}, {"FromZip", ""}, {"SmsSid", "SM0123456789abcdef0123456789abcdef"},
                                  {"FromState", "CDMX"}, {"SmsStatus", "received"}, {"FromCity", "CIUDAD DE MEXICO"},
                                  {"Body", "15 años"}, {"FromCountry", "MX"}, {"To", "+15005550006"}, {"NumSegments", "1"},
                                  {"MessageSid", "SM0123456789abcdef0123456789abcdef"}, {"AccountSid", to.account_sid},
                                  {"From", "+525512345678"}, {"ApiVersion", "2010-04-01"}};
  {
    std::string body;
    for (const auto& [k, v] : sms_params) {
      if (!body.empty()) body += '&';
      body += k + "=";
      for (unsigned char c : v) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.') body += static_cast<char>(c);
        else {
          char buf[4];
          std::snprintf(buf, sizeof buf, "%%%02X", c);
          body += buf;
        }
      }
    }
    http_in r{"POST", "/webhooks/twilio", {{"content-type", "application/x-www-form-urlencoded"},
              {"x-twilio-signature", twilio_signature(to.auth_token, to.public_url + "/webhooks/twilio", sms_params)}}, body};
    ins.push_back({"sms", &sms, r});
  }
  for (const auto& in : ins) {
    auto r = in.adapter->parse(in.req);
    if (r.outcome != parse_result::verdict::ok || r.items.size() != 1) {
      std::cerr << "aula_bench: the " << in.channel << " adapter does not accept the benchmark's webhook: " << r.reason << "\n";
      return 1;
    }
  }
  for (const auto& in : ins) {
    const inbound* p = &in;
    benches.emplace_back("parse-" + in.channel, "webhooks/s",
                         "the " + in.channel + " adapter's parse() of a " + std::to_string(in.req.body.size()) +
                             "-byte inbound text webhook, signature or secret checked",
                         in.channel == "sms" ? "twilio_signature() of the same parameters alone"
                                             : "nlohmann::json::parse() of the same body",
                         [p] {
                           auto r = p->adapter->parse(p->req);
                           sink = sink + r.items.size();
                           return std::size_t{1};
                         },
                         [p, &sms_params, &to] {
                           if (p->channel == "sms") sink = sink + twilio_signature(to.auth_token, to.public_url + "/webhooks/twilio", sms_params).size();
                           else sink = sink + nlohmann::json::parse(p->req.body).size();
                           return std::size_t{1};
                         });
  }
  // The sender's reading of a provider's answer to a send (one per message sent).
  struct answer {
    std::string channel;
    const channel_adapter* adapter;
    std::string body;
  };
  static const std::vector<answer> answers = {
      {"telegram", &tg,
       R"({"ok":true,"result":{"message_id":4711,"from":{"id":123456,"is_bot":true,"first_name":"Aula","username":"aula_bot"},"chat":{"id":700000042,"first_name":"Ana","last_name":"N42","username":"learner42","type":"private"},"date":1700000000,"text":"¿Cuál es la edad mínima para trabajar en México?\n\n1. 14 años\n2. 15 años\n3. 18 años","reply_markup":{"inline_keyboard":[[{"text":"14 años","callback_data":"1"}],[{"text":"15 años","callback_data":"2"}],[{"text":"18 años","callback_data":"3"}]]}}})"},
      {"whatsapp", &wa,
       R"({"messaging_product":"whatsapp","contacts":[{"input":"525512345678","wa_id":"5215512345678"}],"messages":[{"id":"wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjdFQjBCRkFCNUYzQzg0QjU4RgA=","message_status":"accepted"}]})"},
  };
  for (const auto& an : answers) {
    if (an.adapter->classify(200, an.body).external_id.empty()) {
      std::cerr << "aula_bench: the " << an.channel << " adapter does not read the benchmark's answer\n";
      return 1;
    }
    const answer* p = &an;
    benches.emplace_back("classify-" + an.channel, "answers/s",
                         "the " + an.channel + " adapter's classify() of a " + std::to_string(an.body.size()) +
                             "-byte answer to a send (status, message id)",
                         "nlohmann::json::parse() of the same body",
                         [p] {
                           sink = sink + p->adapter->classify(200, p->body).external_id.size();
                           return std::size_t{1};
                         },
                         [p] {
                           sink = sink + nlohmann::json::parse(p->body).size();
                           return std::size_t{1};
                         });
  }
  // The server's JSON reader (webhook bodies, outbox entries, result records) against
  // nlohmann's, on the Telegram answer above (strings with UTF-8, numbers, nesting).
  {
    const std::string* body = &answers.front().body;
    if (json_text::parse(*body) != nlohmann::json::parse(*body)) {
      std::cerr << "aula_bench: json_text reads the answer otherwise than nlohmann\n";
      return 1;
    }
    benches.emplace_back("json-read", "documents/s",
                         "json_text::parse() of the " + std::to_string(body->size()) + "-byte Telegram answer",
                         "nlohmann::json::parse() of the same text",
                         [body] {
                           sink = sink + json_text::parse(*body).size();
                           return std::size_t{1};
                         },
                         [body] {
                           sink = sink + nlohmann::json::parse(*body).size();
                           return std::size_t{1};
                         });
  }
  // Every message the sample course sends (its transcripts' steps).
  std::vector<outbound_message> course_msgs;
  for (const auto& rc : course_cases.empty() ? cases : course_cases) {
    session s = rc.initial;
    for (const auto& st : rc.steps) {
      auto r = step(loaded.flows, s, st.ev, st.ctx);
      for (auto& m : r.messages) course_msgs.push_back(m);
      s = std::move(r.next);
    }
  }
  const std::vector<std::pair<std::string, const channel_adapter*>> renderers = {
      {"telegram", &tg}, {"whatsapp", &wa}, {"sms", &sms}};
  const std::map<std::string, std::string> address = {{"telegram", "700000042"}, {"whatsapp", "525512345678"}, {"sms", "+525512345678"}};
  for (const auto& [ch, ad] : renderers) {
    const channel_adapter* a = ad;
    const std::string to_addr = address.at(ch);
    benches.emplace_back("render-" + ch, "messages/s",
                         "the " + ch + " adapter's render() of the " + std::to_string(course_msgs.size()) +
                             " messages the sample course sends, into API calls",
                         "render_plain() of the same messages",
                         [a, to_addr, &course_msgs] {
                           std::size_t bytes = 0;
                           for (const auto& m : course_msgs)
                             for (const auto& c : a->render(to_addr, m)) bytes += c.body.size();
                           sink = sink + bytes;
                           return course_msgs.size();
                         },
                         [&course_msgs] {
                           std::size_t bytes = 0;
                           for (const auto& m : course_msgs) bytes += render_plain(m).size();
                           sink = sink + bytes;
                           return course_msgs.size();
                         });
  }

  // The record keeper's store: the records of the lesson's webhooks (what came in, two messages
  // sent with the course's own texts — one record, as the sender merges them —, a quiz answer)
  // for 10,000 learners in 1,000-record transactions into a SQLite file through the record
  // store (the drain stores 250 at a time since session 18; the figures here stay comparable
  // with earlier runs); against appending the same texts to a table without columns or indexes,
  // in the same transactions and mode (WAL, synchronous=NORMAL, a checkpoint per 10,000 pages;
  // the record store keeps its 4-MB page cache, the bare table SQLite's default). The ratio is
  // what the record store's columns, indexes and field picking cost per record. Each repetition
  // adds to the same files, as a server's day does.
  const fs::path record_dir = fs::temp_directory_path() / ("aula-bench-records-" + std::to_string(::getpid()));
  fs::create_directories(record_dir);
  struct record_source {
    std::vector<std::string> texts;  // the sent messages' texts, in the course's order
    long next = 0;                   // visits made (learner, ids and times follow from it)
    std::vector<std::string> batch() {
      std::vector<std::string> out;
      out.reserve(1000);
      while (out.size() < 1000) {
        const long v = next++;
        const std::string conv = "telegram:" + std::to_string(800000000 + v % 10000);
        const std::int64_t at = 1'796'000'000'000 + v * 3;
        const std::string run = "r" + std::to_string(v % 10000) + "x" + std::to_string(v / 10000);
        out.push_back(nlohmann::json{{"at", at}, {"channel", "telegram"}, {"conv", conv}, {"flow", "leccion-muestra"},
                                     {"id", run + ".1"}, {"node", ""}, {"run", run}, {"text", "2"},
                                     {"type", "inbound"}, {"version", 1}}
                          .dump());
        delivery_detail::send_record_list sends;  // one record for both, as the sender merges them
        for (int k = 0; k < 2; ++k)
          sends.add({"out.0.reply:" + std::to_string(at) + "-" + std::to_string(k) + ".0", conv, "telegram",
                     std::to_string(v * 2 + k), "reply", "p" + std::to_string(v % 7),
                     texts[static_cast<std::size_t>(v * 2 + k) % texts.size()], at + 1, 0});
        sends.append_texts(out);
        out.push_back(nlohmann::json{{"at", at}, {"attempt", 1}, {"channel", "telegram"}, {"conv", conv},
                                     {"correct", v % 3 != 0}, {"flow", "leccion-muestra"}, {"id", run + ".2"},
                                     {"node", "p" + std::to_string(v % 7)}, {"points", v % 3 != 0 ? 1 : 0},
                                     {"run", run}, {"type", "quiz"}, {"value", v % 3 != 0 ? "b" : "a"}, {"version", 1}}
                          .dump());
      }
      return out;
    }
  };
  auto measured_src = std::make_shared<record_source>();
  for (const auto& m : course_msgs) measured_src->texts.push_back(render_plain(m));
  auto baseline_src = std::make_shared<record_source>(*measured_src);
  std::shared_ptr<records::record_store> record_db =
      records::open_record_store("sqlite://" + (record_dir / "records.db").string());
  std::shared_ptr<sqlite3> raw_db;
  {
    sqlite3* h = nullptr;
    if (sqlite3_open((record_dir / "raw.db").c_str(), &h) != SQLITE_OK) {
      std::cerr << "aula_bench: cannot open a SQLite file in " << record_dir << "\n";
      return 1;
    }
    raw_db.reset(h, sqlite3_close);
    sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000; "
                 "CREATE TABLE raw (data TEXT NOT NULL)",
                 nullptr, nullptr, nullptr);
  }
  std::shared_ptr<sqlite3> record_ckpt;  // a second connection to the record store's file: checkpoints
  {
    sqlite3* h = nullptr;
    if (sqlite3_open((record_dir / "records.db").c_str(), &h) != SQLITE_OK) {
      std::cerr << "aula_bench: cannot open the record store's file\n";
      return 1;
    }
    record_ckpt.reset(h, sqlite3_close);
  }
  {
    auto probe = measured_src->batch();
    std::vector<std::string_view> views(probe.begin(), probe.end());
    if (record_db->insert_texts(views) != probe.size()) {
      std::cerr << "aula_bench: the record store did not store the benchmark's records\n";
      return 1;
    }
  }
  benches.emplace_back("records", "records/s",
                       "the record store's insert of the lesson's records (inbound, 2 messages sent as one record, quiz) for 10,000 "
                       "learners, 1,000 per transaction, a checkpoint after every ten, into SQLite (WAL)",
                       "the same texts appended to a table without columns or indexes, same transactions and checkpoints",
                       // An operation is ten transactions and a checkpoint, on both sides: each
                       // pays for copying its pages back (one transaction per operation, with
                       // checkpoints falling where they did, spread the ratios 1.55-3.88).
                       [measured_src, record_db, record_ckpt] {
                         std::size_t n = 0;
                         for (int k = 0; k < 10; ++k) {
                           auto texts = measured_src->batch();
                           std::vector<std::string_view> views(texts.begin(), texts.end());
                           n += record_db->insert_texts(views);
                         }
                         sqlite3_exec(record_ckpt.get(), "PRAGMA wal_checkpoint(PASSIVE)", nullptr, nullptr, nullptr);
                         return n;
                       },
                       [baseline_src, raw_db] {
                         std::size_t n = 0;
                         sqlite3* h = raw_db.get();
                         sqlite3_stmt* st = nullptr;
                         sqlite3_prepare_v2(h, "INSERT INTO raw (data) VALUES (?)", -1, &st, nullptr);
                         for (int k = 0; k < 10; ++k) {
                           auto texts = baseline_src->batch();
                           sqlite3_exec(h, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
                           for (const auto& t : texts) {
                             sqlite3_bind_text(st, 1, t.data(), static_cast<int>(t.size()), SQLITE_STATIC);
                             sqlite3_step(st);
                             sqlite3_reset(st);
                           }
                           sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr);
                           n += texts.size();
                         }
                         sqlite3_finalize(st);
                         sqlite3_exec(h, "PRAGMA wal_checkpoint(PASSIVE)", nullptr, nullptr, nullptr);
                         return n;
                       });

  for (auto& b : benches) {
    b.measured_iters = calibrate(b.measured, ms);
    b.baseline_iters = calibrate(b.baseline, ms);
  }
  for (int r = 0; r < reps; ++r) {
    for (auto& b : benches) {
      // Alternate which goes first, so drift (turbo, caches) does not favour one side.
      double m, base;
      if (r % 2 == 0) {
        m = time_per_unit(b.measured, b.measured_iters);
        base = time_per_unit(b.baseline, b.baseline_iters);
      } else {
        base = time_per_unit(b.baseline, b.baseline_iters);
        m = time_per_unit(b.measured, b.measured_iters);
      }
      b.m_secs.push_back(m);
      b.b_secs.push_back(base);
      b.ratios.push_back(base > 0 ? m / base : 0);
    }
  }

  std::error_code rm_ec;
  fs::remove_all(big_dir, rm_ec);

  // Report.
  nlohmann::json out;
  out["label"] = label;
  out["flows"] = flows_dir;
  out["transcript_files"] = transcript_files;
  out["cases"] = cases.size();
  out["repetitions"] = reps;
  out["target_ms_per_measurement"] = ms;
  out["compiler"] = __VERSION__;
  out["ratio_meaning"] = "measured time per operation / baseline time per operation; 1.0 = no cost over the baseline";
  out["benchmarks"] = nlohmann::json::array();
  std::string md = "# aula_bench results\n\n";
  md += "Generated by `scripts/bench`" + (label.empty() ? std::string() : " (" + label + ")") + ": " +
        std::to_string(reps) + " repetitions of about " + fixed(ms, 0) + " ms per measurement, on the flows in `" +
        fs::path(flows_dir).filename().string() + "/` and their " + std::to_string(cases.size()) +
        " transcript cases. Compiler: " + std::string(__VERSION__) + ".\n\n";
  md += "Ratio = time per operation / the baseline's time per operation, measured back to back in the same run "
        "(1.00 = no cost over the baseline); min, median and max over the repetitions, and the ratio of the best "
        "(least disturbed) times. Times are this thread's CPU time. Rates are medians.\n\n";
  md += "| benchmark | what | rate | baseline | baseline rate | ratio min | ratio median | ratio max | ratio of best times |\n";
  md += "|---|---|---:|---|---:|---:|---:|---:|---:|\n";
  for (const auto& b : benches) {
    auto ms_ = summarize(b.m_secs), bs = summarize(b.b_secs), rs = summarize(b.ratios);
    auto rate = [](const stats& s) {
      return nlohmann::json{{"min", s.max > 0 ? 1 / s.max : 0}, {"median", s.median > 0 ? 1 / s.median : 0},
                            {"max", s.min > 0 ? 1 / s.min : 0}};
    };
    auto micro = [](const stats& s) {
      return nlohmann::json{{"min", s.min * 1e6}, {"median", s.median * 1e6}, {"max", s.max * 1e6}};
    };
    out["benchmarks"].push_back({{"name", b.name},
                                 {"unit", b.unit},
                                 {"what", b.what},
                                 {"baseline", b.baseline_what},
                                 {"measured", {{"us_per_op", micro(ms_)}, {"per_s", rate(ms_)}, {"iterations", b.measured_iters}}},
                                 {"baseline_result", {{"us_per_op", micro(bs)}, {"per_s", rate(bs)}, {"iterations", b.baseline_iters}}},
                                 {"ratio", {{"min", rs.min}, {"median", rs.median}, {"max", rs.max}}},
                                 {"ratio_of_best", bs.min > 0 ? ms_.min / bs.min : 0},
                                 {"ratios", b.ratios}});
    md += "| " + b.name + " | " + b.what + " | " + human_rate(1 / ms_.median) + b.unit + " | " + b.baseline_what + " | " +
          human_rate(1 / bs.median) + b.unit + " | " + fixed(rs.min, 2) + " | " + fixed(rs.median, 2) + " | " +
          fixed(rs.max, 2) + " | " + fixed(bs.min > 0 ? ms_.min / bs.min : 0, 2) + " |\n";
    std::cout << b.name << ": " << human_rate(1 / ms_.median) << b.unit << " (baseline " << human_rate(1 / bs.median)
              << b.unit << "); ratio min " << fixed(rs.min, 2) << " median " << fixed(rs.median, 2) << " max "
              << fixed(rs.max, 2) << "\n";
  }
  if (!json_out.empty()) {
    std::ofstream f(json_out, std::ios::binary | std::ios::trunc);
    f << out.dump(2) << "\n";
    if (!f) {
      std::cerr << "aula_bench: cannot write " << json_out << "\n";
      return 1;
    }
  }
  if (!md_out.empty()) {
    std::ofstream f(md_out, std::ios::binary | std::ios::trunc);
    f << md;
    if (!f) {
      std::cerr << "aula_bench: cannot write " << md_out << "\n";
      return 1;
    }
  }
  fs::remove_all(record_dir);
  return 0;
}
