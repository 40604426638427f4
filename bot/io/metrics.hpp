// A small thread-safe metrics registry rendered in the Prometheus text exposition format
// (version 0.0.4), served at GET /metrics. Families are created once and live as long as the
// registry; the references it hands out stay valid, so hot paths keep them:
//
//   auto& sent = reg.counter("aula_messages_sent_total", "Messages accepted by a provider.");
//   sent.inc({{"channel", "telegram"}});
//   auto& lat = reg.histogram("aula_http_request_duration_seconds", "Time to answer a request.");
//   lat.observe({{"route", "/webhooks/telegram"}}, 0.012);
//
// Label values must come from small sets (a channel, a route pattern, a status), never from
// a learner's address or a raw URL.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace aula {

using metric_labels = std::map<std::string, std::string>;

class counter_family {
 public:
  void inc(const metric_labels& labels = {}, double by = 1.0);  // by < 0 is ignored
  double value(const metric_labels& labels = {}) const;

  // One series kept by a hot path: inc() without building and looking up its labels. Valid
  // as long as the family (the registry's life); the series shows in render() once created.
  class series {
   public:
    void inc(double by = 1.0);  // by < 0 is ignored

   private:
    friend class counter_family;
    series(counter_family* f, double* v) : f_(f), v_(v) {}
    counter_family* f_;
    double* v_;
  };
  series at(const metric_labels& labels);

 private:
  friend class metrics_registry;
  mutable std::mutex mu_;
  std::map<metric_labels, double> values_;
};

class gauge_family {
 public:
  void set(const metric_labels& labels, double v);
  void add(const metric_labels& labels, double by);
  double value(const metric_labels& labels = {}) const;

 private:
  friend class metrics_registry;
  mutable std::mutex mu_;
  std::map<metric_labels, double> values_;
};

class histogram_family {
 public:
  explicit histogram_family(std::vector<double> buckets);
  void observe(const metric_labels& labels, double value);
  std::uint64_t count(const metric_labels& labels = {}) const;
  double sum(const metric_labels& labels = {}) const;
  const std::vector<double>& buckets() const { return bounds_; }

 private:
  struct series {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; the last is +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };

 public:
  // One series kept by a hot path (as counter_family::series).
  class handle {
   public:
    void observe(double value);

   private:
    friend class histogram_family;
    handle(histogram_family* f, series* s) : f_(f), s_(s) {}
    histogram_family* f_;
    series* s_;
  };
  handle at(const metric_labels& labels);

 private:
  friend class metrics_registry;
  void add(series& s, double value);  // with mu_ held
  std::vector<double> bounds_;  // sorted upper bounds, without +Inf
  mutable std::mutex mu_;
  std::map<metric_labels, series> series_;
};

// Latency buckets in seconds: 5 ms … 10 s.
std::vector<double> default_latency_buckets();

class metrics_registry {
 public:
  // Returns the family called `name`, creating it on first use. Throws std::invalid_argument
  // for a name that is not a valid metric name, or one already registered with another type.
  // Label names are checked when used (invalid ones throw std::invalid_argument too).
  counter_family& counter(const std::string& name, const std::string& help);
  gauge_family& gauge(const std::string& name, const std::string& help);
  histogram_family& histogram(const std::string& name, const std::string& help,
                              std::vector<double> buckets = default_latency_buckets());

  // Everything, families sorted by name, series by labels.
  std::string render() const;

 private:
  struct family {
    std::string type;  // "counter" | "gauge" | "histogram"
    std::string help;
    std::unique_ptr<counter_family> c;
    std::unique_ptr<gauge_family> g;
    std::unique_ptr<histogram_family> h;
  };
  family& get(const std::string& name, const std::string& help, const char* type);
  mutable std::mutex mu_;
  std::map<std::string, family> families_;
};

// The content type of render()'s output.
inline constexpr const char* metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// Exposition helpers (exposed for tests).
std::string escape_label_value(const std::string& v);  // \ -> \\, " -> \", newline -> \n
std::string escape_help(const std::string& v);         // \ -> \\, newline -> \n
std::string format_metric_value(double v);             // 3, 0.25, +Inf, -Inf, NaN
bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);

}  // namespace aula
