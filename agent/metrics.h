// Metrics: counters, gauges and fixed-bucket histograms, optionally labelled,
// rendered in the Prometheus text exposition format (version 0.0.4).
//
// There is no global registry: the agent owns one MetricsRegistry and hands
// pointers to the modules that report. Registration (names, help, label names)
// happens at start-up and may fail with a Status; the hot path is a relaxed
// atomic add on a pointer the caller looked up once:
//
//   auto rows = registry.AddCounter("pg2bq_rows_flushed_total", "Rows acknowledged", {"table"});
//   Counter* orders = (*rows)->WithLabels({"public.orders"}).value();   // once
//   orders->Increment(batch_rows);                                      // per batch
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pg2bq::agent {

class Counter {
 public:
  void Increment(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // non-cumulative; last = +Inf
  std::atomic<double> sum_{0};
};

// Buckets for latencies in seconds, 1 ms .. 60 s.
std::vector<double> LatencySecondsBuckets();
// `count` buckets start, start*factor, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// One metric name with a fixed set of label names; a child per label-value tuple.
template <typename M>
class Family {
 public:
  // The child for these label values (created on first use). Its address stays
  // valid for the registry's lifetime: look it up once, then update it lock-free.
  Result<M*> WithLabels(const std::vector<std::string>& values);
  // The child of a family without labels.
  M* Get() { return WithLabels({}).value(); }

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  friend class MetricsRegistry;
  Family(std::string name, std::vector<std::string> label_names,
         std::function<std::unique_ptr<M>()> make)
      : name_(std::move(name)), label_names_(std::move(label_names)), make_(std::move(make)) {}

  std::string name_;
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;  // sorted output
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*, unique; label names
  // [a-zA-Z_][a-zA-Z0-9_]*, not "__"-prefixed, not "le" for histograms).
  Result<Family<Counter>*> AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names = {});
  Result<Family<Gauge>*> AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names = {});
  Result<Family<Histogram>*> AddHistogram(std::string name, std::string help,
                                          std::vector<double> bounds,
                                          std::vector<std::string> label_names = {});
  // A gauge read at scrape time (queue depth, spool bytes): `read` must be
  // cheap and thread-safe; it runs on the HTTP thread.
  Status AddCallbackGauge(std::string name, std::string help, std::function<double()> read);

  // The whole registry in text exposition format, families in registration order.
  std::string RenderText() const;

 private:
  struct Entry;
  Status CheckNew(const std::string& name, const std::vector<std::string>& label_names,
                  bool histogram) const;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Exposition-format escaping, exposed for tests.
std::string EscapeHelp(std::string_view text);        // \ and newline
std::string EscapeLabelValue(std::string_view text);  // \, " and newline
std::string FormatSampleValue(double v);              // +Inf, -Inf, NaN, shortest round-trip

}  // namespace pg2bq::agent
