#include "agent/http_endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>

#include "agent/metrics.h"

namespace pg2bq::agent {
namespace {

using ::testing::HasSubstr;

TEST(ListenAddressTest, Parses) {
  auto a = ParseListenAddress("127.0.0.1:9187");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9187);
  a = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 0);
  a = ParseListenAddress(":80");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(ParseListenAddress("metrics.local:9187")->host, "metrics.local");
  for (const char* bad :
       {"", "9187", "host:", "host:x", "host:65536", "host:-1", "::1:80", "[::1]80", "[::1"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

class HttpEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = registry_.AddCounter("pg2bq_test_total", "A \"test\" counter.", {"table"});
    ASSERT_TRUE(c.ok());
    (*c)->WithLabels({"public.t"}).value()->Increment(5);
    auto h = registry_.AddHistogram("pg2bq_latency_seconds", "Latency.", {0.1, 1});
    ASSERT_TRUE(h.ok());
    (*h)->Get()->Observe(0.5);
  }
  MetricsRegistry registry_;
};

TEST_F(HttpEndpointTest, ServesMetricsHealthAndReadiness) {
  std::atomic<bool> ready{false};
  auto ep = HttpEndpoint::Start("127.0.0.1:0", &registry_, [&]() -> Status {
    if (ready) return Status::Ok();
    return Status::Unavailable("replication slot not yet streaming");
  });
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  int port = (*ep)->port();
  ASSERT_GT(port, 0);

  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(5);

  auto metrics = cli.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics->body, registry_.RenderText());
  EXPECT_THAT(metrics->body, HasSubstr("# HELP pg2bq_test_total A \"test\" counter.\n"
                                       "# TYPE pg2bq_test_total counter\n"
                                       "pg2bq_test_total{table=\"public.t\"} 5\n"));
  EXPECT_THAT(metrics->body, HasSubstr("pg2bq_latency_seconds_bucket{le=\"0.1\"} 0\n"
                                       "pg2bq_latency_seconds_bucket{le=\"1\"} 1\n"
                                       "pg2bq_latency_seconds_bucket{le=\"+Inf\"} 1\n"
                                       "pg2bq_latency_seconds_sum 0.5\n"
                                       "pg2bq_latency_seconds_count 1\n"));

  auto health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  auto not_ready = cli.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_THAT(not_ready->body, HasSubstr("replication slot not yet streaming"));
  ready = true;
  auto now_ready = cli.Get("/readyz");
  ASSERT_TRUE(now_ready);
  EXPECT_EQ(now_ready->status, 200);

  auto missing = cli.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  (*ep)->Stop();
  (*ep)->Stop();  // idempotent
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1);
  EXPECT_FALSE(after.Get("/healthz")) << "the socket must be closed after Stop()";
}

TEST_F(HttpEndpointTest, NullReadinessMeansReady) {
  auto ep = HttpEndpoint::Start("127.0.0.1:0", &registry_, nullptr);
  ASSERT_TRUE(ep.ok());
  httplib::Client cli("127.0.0.1", (*ep)->port());
  auto r = cli.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpEndpointTest, StopRightAfterStartDoesNotHang) {
  for (int i = 0; i < 20; ++i) {
    auto ep = HttpEndpoint::Start("127.0.0.1:0", &registry_, nullptr);
    ASSERT_TRUE(ep.ok());
  }  // destructor stops
}

TEST_F(HttpEndpointTest, BusyPortAndBadAddressFailWithTheAddress) {
  auto first = HttpEndpoint::Start("127.0.0.1:0", &registry_, nullptr);
  ASSERT_TRUE(first.ok());
  std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = HttpEndpoint::Start(taken, &registry_, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr(taken));
  auto bad = HttpEndpoint::Start("no-port", &registry_, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'no-port' is not host:port"));
}

}  // namespace
}  // namespace pg2bq::agent
