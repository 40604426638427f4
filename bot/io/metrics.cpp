#include "bot/io/metrics.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace aula {
namespace {

void check_labels(const metric_labels& labels) {
  for (const auto& [k, v] : labels) {
    (void)v;
    if (!valid_label_name(k) || k == "le") throw std::invalid_argument("invalid metric label name '" + k + "'");
  }
}

std::string label_text(const metric_labels& labels, const std::string& extra_key = {},
                       const std::string& extra_value = {}) {
  if (labels.empty() && extra_key.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"" + escape_label_value(v) + "\"";
  }
  if (!extra_key.empty()) {
    if (!first) out += ',';
    out += extra_key + "=\"" + escape_label_value(extra_value) + "\"";
  }
  out += '}';
  return out;
}

}  // namespace

bool valid_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool ok = std::isalpha(c) || c == '_' || c == ':' || (i > 0 && std::isdigit(c));
    if (!ok || c > 127) return false;
  }
  return true;
}

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool ok = std::isalpha(c) || c == '_' || (i > 0 && std::isdigit(c));
    if (!ok || c > 127) return false;
  }
  return true;
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Prefer the shortest form that reads back the same value.
  for (int prec = 1; prec <= 17; ++prec) {
    char shorter[40];
    std::snprintf(shorter, sizeof shorter, "%.*g", prec, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

std::vector<double> default_latency_buckets() {
  // From a quarter of a millisecond: a webhook is answered in well under 5 ms, which the
  // usual Prometheus buckets would lump into one.
  return {0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// counter ---------------------------------------------------------------------------------

void counter_family::inc(const metric_labels& labels, double by) {
  check_labels(labels);
  if (!(by >= 0)) return;
  std::lock_guard lock(mu_);
  values_[labels] += by;
}

counter_family::series counter_family::at(const metric_labels& labels) {
  check_labels(labels);
  std::lock_guard lock(mu_);
  return series(this, &values_[labels]);  // a map's values stay where they are
}

void counter_family::series::inc(double by) {
  if (!(by >= 0)) return;
  std::lock_guard lock(f_->mu_);
  *v_ += by;
}

double counter_family::value(const metric_labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

// gauge -----------------------------------------------------------------------------------

void gauge_family::set(const metric_labels& labels, double v) {
  check_labels(labels);
  std::lock_guard lock(mu_);
  values_[labels] = v;
}

void gauge_family::add(const metric_labels& labels, double by) {
  check_labels(labels);
  std::lock_guard lock(mu_);
  values_[labels] += by;
}

double gauge_family::value(const metric_labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

// histogram -------------------------------------------------------------------------------

histogram_family::histogram_family(std::vector<double> buckets) : bounds_(std::move(buckets)) {
  bounds_.erase(std::remove_if(bounds_.begin(), bounds_.end(), [](double b) { return std::isnan(b) || std::isinf(b); }),
                bounds_.end());
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
}

void histogram_family::observe(const metric_labels& labels, double value) {
  check_labels(labels);
  if (std::isnan(value)) return;
  std::lock_guard lock(mu_);
  add(series_[labels], value);
}

void histogram_family::add(series& s, double value) {
  const std::size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();  // le is inclusive
  if (s.counts.empty()) s.counts.assign(bounds_.size() + 1, 0);
  s.counts[i] += 1;
  s.sum += value;
  s.count += 1;
}

histogram_family::handle histogram_family::at(const metric_labels& labels) {
  check_labels(labels);
  std::lock_guard lock(mu_);
  auto& s = series_[labels];
  if (s.counts.empty()) s.counts.assign(bounds_.size() + 1, 0);
  return handle(this, &s);
}

void histogram_family::handle::observe(double value) {
  if (std::isnan(value)) return;
  std::lock_guard lock(f_->mu_);
  f_->add(*s_, value);
}

std::uint64_t histogram_family::count(const metric_labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.count;
}

double histogram_family::sum(const metric_labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.sum;
}

// registry --------------------------------------------------------------------------------

metrics_registry::family& metrics_registry::get(const std::string& name, const std::string& help, const char* type) {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name '" + name + "'");
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != type)
      throw std::invalid_argument("metric '" + name + "' is already registered as a " + it->second.type);
    return it->second;
  }
  auto& f = families_[name];
  f.type = type;
  f.help = help;
  return f;
}

counter_family& metrics_registry::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& f = get(name, help, "counter");
  if (!f.c) f.c = std::make_unique<counter_family>();
  return *f.c;
}

gauge_family& metrics_registry::gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& f = get(name, help, "gauge");
  if (!f.g) f.g = std::make_unique<gauge_family>();
  return *f.g;
}

histogram_family& metrics_registry::histogram(const std::string& name, const std::string& help,
                                              std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  auto& f = get(name, help, "histogram");
  if (!f.h) f.h = std::make_unique<histogram_family>(std::move(buckets));
  return *f.h;
}

std::string metrics_registry::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    if (f.c) {
      std::lock_guard l(f.c->mu_);
      for (const auto& [labels, v] : f.c->values_) out += name + label_text(labels) + " " + format_metric_value(v) + "\n";
    } else if (f.g) {
      std::lock_guard l(f.g->mu_);
      for (const auto& [labels, v] : f.g->values_) out += name + label_text(labels) + " " + format_metric_value(v) + "\n";
    } else if (f.h) {
      std::lock_guard l(f.h->mu_);
      const auto& bounds = f.h->bounds_;
      for (const auto& [labels, s] : f.h->series_) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
          cumulative += s.counts[i];
          std::string le = i < bounds.size() ? format_metric_value(bounds[i]) : "+Inf";
          out += name + "_bucket" + label_text(labels, "le", le) + " " + std::to_string(cumulative) + "\n";
        }
        out += name + "_sum" + label_text(labels) + " " + format_metric_value(s.sum) + "\n";
        out += name + "_count" + label_text(labels) + " " + std::to_string(s.count) + "\n";
      }
    }
  }
  return out;
}

}  // namespace aula
