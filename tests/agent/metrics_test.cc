#include "agent/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace pg2bq::agent {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterAndGaugeExposition) {
  MetricsRegistry reg;
  auto changes = reg.AddCounter("pg2bq_changes_total", "Changes read from the slot.");
  ASSERT_TRUE(changes.ok());
  auto spool = reg.AddGauge("pg2bq_spool_bytes", "Bytes in the spool.");
  ASSERT_TRUE(spool.ok());
  (*changes)->Get()->Increment();
  (*changes)->Get()->Increment(41);
  (*spool)->Get()->Set(1.5e9);
  (*spool)->Get()->Add(-0.5e9);
  EXPECT_EQ(reg.RenderText(),
            "# HELP pg2bq_changes_total Changes read from the slot.\n"
            "# TYPE pg2bq_changes_total counter\n"
            "pg2bq_changes_total 42\n"
            "# HELP pg2bq_spool_bytes Bytes in the spool.\n"
            "# TYPE pg2bq_spool_bytes gauge\n"
            "pg2bq_spool_bytes 1000000000\n");
}

TEST(MetricsTest, UnlabelledMetricsStartAtZero) {
  MetricsRegistry reg;
  ASSERT_TRUE(reg.AddCounter("c_total", "c").ok());
  ASSERT_TRUE(reg.AddHistogram("h_seconds", "h", {1}).ok());
  EXPECT_THAT(reg.RenderText(), HasSubstr("c_total 0\n"));
  EXPECT_THAT(reg.RenderText(), HasSubstr("h_seconds_count 0\n"));
}

TEST(MetricsTest, LabelledChildrenSortedAndEscaped) {
  MetricsRegistry reg;
  auto rows = reg.AddCounter("pg2bq_rows_total", "Rows by table\\and \"kind\"\nsecond line",
                             {"table", "kind"});
  ASSERT_TRUE(rows.ok());
  (*rows)->WithLabels({"public.orders", "insert"}).value()->Increment(3);
  (*rows)->WithLabels({"a\\b \"quoted\"\nnext", "delete"}).value()->Increment(1);
  // The same label values give the same child.
  EXPECT_EQ((*rows)->WithLabels({"public.orders", "insert"}).value(),
            (*rows)->WithLabels({"public.orders", "insert"}).value());
  EXPECT_EQ(reg.RenderText(),
            "# HELP pg2bq_rows_total Rows by table\\\\and \"kind\"\\nsecond line\n"
            "# TYPE pg2bq_rows_total counter\n"
            "pg2bq_rows_total{table=\"a\\\\b \\\"quoted\\\"\\nnext\",kind=\"delete\"} 1\n"
            "pg2bq_rows_total{table=\"public.orders\",kind=\"insert\"} 3\n");
  auto wrong = (*rows)->WithLabels({"only one"});
  EXPECT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("1 label values for 2 label names"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInf) {
  MetricsRegistry reg;
  auto lat = reg.AddHistogram("pg2bq_append_seconds", "Append latency.", {0.25, 0.5, 1}, {"table"});
  ASSERT_TRUE(lat.ok());
  Histogram* h = (*lat)->WithLabels({"t"}).value();
  for (double v : {0.125, 0.25, 0.375, 0.75, 2.0, 3.0})
    h->Observe(v);  // exact in binary
  EXPECT_EQ(reg.RenderText(),
            "# HELP pg2bq_append_seconds Append latency.\n"
            "# TYPE pg2bq_append_seconds histogram\n"
            "pg2bq_append_seconds_bucket{table=\"t\",le=\"0.25\"} 2\n"  // le is inclusive
            "pg2bq_append_seconds_bucket{table=\"t\",le=\"0.5\"} 3\n"
            "pg2bq_append_seconds_bucket{table=\"t\",le=\"1\"} 4\n"
            "pg2bq_append_seconds_bucket{table=\"t\",le=\"+Inf\"} 6\n"
            "pg2bq_append_seconds_sum{table=\"t\"} 6.5\n"
            "pg2bq_append_seconds_count{table=\"t\"} 6\n");
}

TEST(MetricsTest, CallbackGaugeIsReadAtScrapeTime) {
  MetricsRegistry reg;
  double depth = 3;
  ASSERT_TRUE(
      reg.AddCallbackGauge("pg2bq_queue_depth", "Items queued.", [&] { return depth; }).ok());
  EXPECT_THAT(reg.RenderText(), HasSubstr("\npg2bq_queue_depth 3\n"));
  depth = 7;
  EXPECT_THAT(reg.RenderText(), HasSubstr("\npg2bq_queue_depth 7\n"));
}

TEST(MetricsTest, RegistrationErrors) {
  MetricsRegistry reg;
  ASSERT_TRUE(reg.AddCounter("x_total", "x").ok());
  EXPECT_THAT(reg.AddGauge("x_total", "again").status().message(), HasSubstr("registered twice"));
  EXPECT_FALSE(reg.AddCounter("1bad", "x").ok());
  EXPECT_FALSE(reg.AddCounter("bad-name", "x").ok());
  EXPECT_FALSE(reg.AddCounter("y_total", "x", {"__reserved"}).ok());
  EXPECT_FALSE(reg.AddCounter("y_total", "x", {"a", "a"}).ok());
  EXPECT_FALSE(reg.AddCounter("y_total", "x", {"bad-label"}).ok());
  EXPECT_FALSE(reg.AddHistogram("h", "x", {1, 2}, {"le"}).ok());
  EXPECT_FALSE(reg.AddHistogram("h", "x", {}).ok());
  EXPECT_FALSE(reg.AddHistogram("h", "x", {2, 1}).ok());
  EXPECT_FALSE(reg.AddHistogram("h", "x", {1, std::numeric_limits<double>::infinity()}).ok());
  EXPECT_TRUE(reg.AddCounter("ns:y_total", "colons are allowed in names", {"a", "b"}).ok());
}

TEST(MetricsTest, SampleValueFormatting) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(2.5), "2.5");
  EXPECT_EQ(FormatSampleValue(-3), "-3");
  EXPECT_EQ(FormatSampleValue(0.1), "0.1");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(FormatSampleValue(1.0 / 3)), 1.0 / 3);  // round-trips exactly
}

TEST(MetricsTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  auto b = LatencySecondsBuckets();
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
  EXPECT_EQ(b.front(), 0.001);
}

// Concurrent updates while scraping: totals are exact (run under TSan/ASan too).
TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  MetricsRegistry reg;
  auto c = reg.AddCounter("c_total", "c", {"t"});
  auto g = reg.AddGauge("g", "g");
  auto h = reg.AddHistogram("h", "h", {0.5});
  ASSERT_TRUE(c.ok() && g.ok() && h.ok());
  constexpr int kThreads = 4, kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter* mine = (*c)->WithLabels({t % 2 == 0 ? "even" : "odd"}).value();
      for (int i = 0; i < kIters; ++i) {
        mine->Increment();
        (*g)->Get()->Add(1);
        (*h)->Get()->Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  std::thread scraper([&] {
    for (int i = 0; i < 50; ++i)
      (void)reg.RenderText();
  });
  for (auto& t : threads)
    t.join();
  scraper.join();
  EXPECT_EQ((*c)->WithLabels({"even"}).value()->value(), 2u * kIters);
  EXPECT_EQ((*c)->WithLabels({"odd"}).value()->value(), 2u * kIters);
  EXPECT_EQ((*g)->Get()->value(), kThreads * kIters);
  Histogram::Snapshot s = (*h)->Get()->Read();
  EXPECT_EQ(s.cumulative[0], static_cast<std::uint64_t>(kThreads * kIters / 2));
  EXPECT_EQ(s.cumulative[1], static_cast<std::uint64_t>(kThreads * kIters));
  EXPECT_DOUBLE_EQ(s.sum, kThreads * kIters / 2 * 1.25);
}

}  // namespace
}  // namespace pg2bq::agent
