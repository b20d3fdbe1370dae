#include "agent/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <variant>

namespace pg2bq::agent {
namespace {

bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view s) {
  if (s.empty() || s.substr(0, 2) == "__") return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// {a="x",b="y"} plus an optional extra pair (le for histogram buckets).
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += fmt::format("{}=\"{}\"", names[i], EscapeLabelValue(values[i]));
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += fmt::format("{}=\"{}\"", extra_name, extra_value);
  }
  return out + "}";
}

}  // namespace

std::string EscapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatSampleValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);  // shortest text that reads back as the same double
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double v) {
  // Bucket i holds bounds[i-1] < v <= bounds[i] ("le" is inclusive); NaN lands in +Inf.
  std::size_t i = std::isnan(v)
                      ? bounds_.size()
                      : static_cast<std::size_t>(
                            std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencySecondsBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  for (int i = 0; i < count; ++i, start *= factor)
    out.push_back(start);
  return out;
}

template <typename M>
Result<M*> Family<M>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    return Status::InvalidArgument(fmt::format("metric {}: {} label values for {} label names",
                                               name_, values.size(), label_names_.size()));
  }
  std::lock_guard lock(mu_);
  std::unique_ptr<M>& child = children_[values];
  if (!child) child = make_();
  return child.get();
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct MetricsRegistry::Entry {
  std::string name;
  std::string help;
  std::variant<std::unique_ptr<Family<Counter>>, std::unique_ptr<Family<Gauge>>,
               std::unique_ptr<Family<Histogram>>, std::function<double()>>
      metric;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Status MetricsRegistry::CheckNew(const std::string& name,
                                 const std::vector<std::string>& label_names,
                                 bool histogram) const {
  if (!IsMetricName(name)) {
    return Status::InvalidArgument(fmt::format("'{}' is not a valid metric name", name));
  }
  for (const auto& e : entries_) {
    // A histogram also owns name_bucket, name_sum and name_count.
    if (e->name == name) {
      return Status::InvalidArgument(fmt::format("metric {} is registered twice", name));
    }
  }
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    const std::string& l = label_names[i];
    if (!IsLabelName(l) || (histogram && l == "le")) {
      return Status::InvalidArgument(
          fmt::format("metric {}: '{}' is not a valid label name", name, l));
    }
    if (std::find(label_names.begin(), label_names.begin() + static_cast<long>(i), l) !=
        label_names.begin() + static_cast<long>(i)) {
      return Status::InvalidArgument(fmt::format("metric {}: label '{}' appears twice", name, l));
    }
  }
  return Status::Ok();
}

Result<Family<Counter>*> MetricsRegistry::AddCounter(std::string name, std::string help,
                                                     std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  PG2BQ_RETURN_IF_ERROR(CheckNew(name, label_names, false));
  auto family = std::unique_ptr<Family<Counter>>(new Family<Counter>(
      name, std::move(label_names), [] { return std::make_unique<Counter>(); }));
  Family<Counter>* out = family.get();
  // A metric without labels is exposed (as 0) from the start, not from its first update.
  if (out->label_names().empty()) (void)out->WithLabels({});
  entries_.push_back(
      std::make_unique<Entry>(Entry{std::move(name), std::move(help), std::move(family)}));
  return out;
}

Result<Family<Gauge>*> MetricsRegistry::AddGauge(std::string name, std::string help,
                                                 std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  PG2BQ_RETURN_IF_ERROR(CheckNew(name, label_names, false));
  auto family = std::unique_ptr<Family<Gauge>>(
      new Family<Gauge>(name, std::move(label_names), [] { return std::make_unique<Gauge>(); }));
  Family<Gauge>* out = family.get();
  // A metric without labels is exposed (as 0) from the start, not from its first update.
  if (out->label_names().empty()) (void)out->WithLabels({});
  entries_.push_back(
      std::make_unique<Entry>(Entry{std::move(name), std::move(help), std::move(family)}));
  return out;
}

Result<Family<Histogram>*> MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                         std::vector<double> bounds,
                                                         std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  PG2BQ_RETURN_IF_ERROR(CheckNew(name, label_names, true));
  if (bounds.empty()) {
    return Status::InvalidArgument(fmt::format("histogram {}: no bucket bounds", name));
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      return Status::InvalidArgument(
          fmt::format("histogram {}: bucket bounds must be finite and strictly increasing", name));
    }
  }
  auto family = std::unique_ptr<Family<Histogram>>(new Family<Histogram>(
      name, std::move(label_names), [bounds] { return std::make_unique<Histogram>(bounds); }));
  Family<Histogram>* out = family.get();
  // A metric without labels is exposed (as 0) from the start, not from its first update.
  if (out->label_names().empty()) (void)out->WithLabels({});
  entries_.push_back(
      std::make_unique<Entry>(Entry{std::move(name), std::move(help), std::move(family)}));
  return out;
}

Status MetricsRegistry::AddCallbackGauge(std::string name, std::string help,
                                         std::function<double()> read) {
  std::lock_guard lock(mu_);
  PG2BQ_RETURN_IF_ERROR(CheckNew(name, {}, false));
  entries_.push_back(
      std::make_unique<Entry>(Entry{std::move(name), std::move(help), std::move(read)}));
  return Status::Ok();
}

std::string MetricsRegistry::RenderText() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& e : entries_) {
    const char* type = std::visit(
        [](const auto& m) -> const char* {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, std::unique_ptr<Family<Counter>>>) return "counter";
          if constexpr (std::is_same_v<T, std::unique_ptr<Family<Histogram>>>) return "histogram";
          return "gauge";
        },
        e->metric);
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", e->name, EscapeHelp(e->help), e->name, type);
    if (const auto* read = std::get_if<std::function<double()>>(&e->metric)) {
      out += fmt::format("{} {}\n", e->name, FormatSampleValue((*read)()));
    } else if (const auto* c = std::get_if<std::unique_ptr<Family<Counter>>>(&e->metric)) {
      std::lock_guard family_lock((*c)->mu_);
      for (const auto& [values, child] : (*c)->children_) {
        out +=
            fmt::format("{}{} {}\n", e->name, LabelSet((*c)->label_names_, values), child->value());
      }
    } else if (const auto* g = std::get_if<std::unique_ptr<Family<Gauge>>>(&e->metric)) {
      std::lock_guard family_lock((*g)->mu_);
      for (const auto& [values, child] : (*g)->children_) {
        out += fmt::format("{}{} {}\n", e->name, LabelSet((*g)->label_names_, values),
                           FormatSampleValue(child->value()));
      }
    } else if (const auto* h = std::get_if<std::unique_ptr<Family<Histogram>>>(&e->metric)) {
      std::lock_guard family_lock((*h)->mu_);
      for (const auto& [values, child] : (*h)->children_) {
        const auto& names = (*h)->label_names_;
        Histogram::Snapshot snap = child->Read();
        const auto& bounds = child->bounds();
        for (std::size_t i = 0; i < bounds.size(); ++i) {
          out += fmt::format("{}_bucket{} {}\n", e->name,
                             LabelSet(names, values, "le", FormatSampleValue(bounds[i])),
                             snap.cumulative[i]);
        }
        out += fmt::format("{}_bucket{} {}\n", e->name, LabelSet(names, values, "le", "+Inf"),
                           snap.cumulative.back());
        out += fmt::format("{}_sum{} {}\n", e->name, LabelSet(names, values),
                           FormatSampleValue(snap.sum));
        out += fmt::format("{}_count{} {}\n", e->name, LabelSet(names, values),
                           snap.cumulative.back());
      }
    }
  }
  return out;
}

}  // namespace pg2bq::agent
