// ReplicationStream against a real PostgreSQL 15: clear errors for each failure the
// issue lists, confirmation only of caller-given LSNs, keepalive replies, cancellation,
// and reconnect after a server restart resuming from the last confirmed LSN.
#include "agent/replication_stream.h"

#include <gtest/gtest.h>

#include <thread>

#include "decoder/pgoutput_decoder.h"
#include "tests/support/pg_test_cluster.h"

namespace pg2bq::agent {
namespace {

using pg2bq::testing::PgTestCluster;
using namespace std::chrono_literals;

// Collects decoded inserts' first column as text.
class Collector : public ChangeHandler {
 public:
  Status OnChange(const Change& c) override {
    if (c.kind == ChangeKind::kInsert) {
      ids.emplace_back(c.new_tuple->columns[0].data);
    }
    return Status::Ok();
  }
  Status OnCommit(const TransactionEnd& e) override {
    last_commit_end = e.end_lsn;
    return Status::Ok();
  }
  std::vector<std::string> ids;
  Lsn last_commit_end = kInvalidLsn;
};

class ReplicationStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = PgTestCluster::Start({.settings = {{"wal_sender_timeout", "'3s'"}}});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    pg_ = std::move(*c);
    ASSERT_TRUE(
        pg_->Exec("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE t").ok());
    // Its own statement: a slot cannot be created in a transaction that wrote.
    Status s = pg_->Exec("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  ReplicationStreamOptions Options(const std::string& dsn = "") {
    ReplicationStreamOptions o;
    o.dsn = dsn.empty() ? pg_->Dsn("postgres") : dsn;
    o.slot = "s";
    o.publications = {"pub"};
    o.connect_timeout = 5s;
    o.reconnect_initial_backoff = 50ms;
    o.reconnect_max_backoff = 500ms;
    o.reconnect_give_up = 60s;
    return o;
  }

  // Reads until `want` inserts arrived (or the deadline), feeding the decoder.
  Status ReadInserts(ReplicationStream* stream, Collector* collector, std::size_t want,
                     std::unique_ptr<PgoutputDecoder>* decoder, bool* saw_reconnect = nullptr) {
    ReplicationBatch batch;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (collector->ids.size() < want && std::chrono::steady_clock::now() < deadline) {
      PG2BQ_RETURN_IF_ERROR(stream->Next(&batch, 200ms));
      if (batch.reconnected) {
        if (saw_reconnect) *saw_reconnect = true;
        *decoder = std::make_unique<PgoutputDecoder>(collector);
      }
      for (const auto& m : batch.messages) {
        PG2BQ_RETURN_IF_ERROR((*decoder)->Decode(m.wal_start, m.payload));
      }
    }
    return Status::Ok();
  }

  std::string ConfirmedFlush() {
    return pg_
        ->QueryValue("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name='s'")
        .value();
  }

  std::unique_ptr<PgTestCluster> pg_;
  Cancellation cancel_;
};

TEST_F(ReplicationStreamTest, IdentifiesSystemAndStreams) {
  ReplicationStream stream(Options(), &cancel_);
  ASSERT_TRUE(stream.Start().ok());
  EXPECT_EQ(stream.identity().dbname, "postgres");
  EXPECT_EQ(stream.identity().system_id,
            pg_->QueryValue("SELECT system_identifier FROM pg_control_system()").value());
  EXPECT_GT(stream.backend_pid(), 0);
  ASSERT_TRUE(pg_->Exec("INSERT INTO t SELECT generate_series(1, 500)").ok());
  Collector collector;
  auto decoder = std::make_unique<PgoutputDecoder>(&collector);
  ASSERT_TRUE(ReadInserts(&stream, &collector, 500, &decoder).ok());
  EXPECT_EQ(collector.ids.size(), 500u);
  EXPECT_EQ(collector.ids.front(), "1");
  EXPECT_EQ(collector.ids.back(), "500");
}

// The stream confirms exactly what the caller reported, never more on its own.
TEST_F(ReplicationStreamTest, ConfirmsOnlyCallerGivenFlushLsn) {
  const std::string before = ConfirmedFlush();
  auto o = Options();
  o.status_interval = 100ms;  // many status updates while we read
  ReplicationStream stream(o, &cancel_);
  ASSERT_TRUE(stream.Start().ok());
  ASSERT_TRUE(pg_->Exec("INSERT INTO t VALUES (1)").ok());
  ASSERT_TRUE(pg_->Exec("INSERT INTO t VALUES (2)").ok());
  Collector collector;
  auto decoder = std::make_unique<PgoutputDecoder>(&collector);
  ASSERT_TRUE(ReadInserts(&stream, &collector, 2, &decoder).ok());
  ReplicationBatch batch;
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(stream.Next(&batch, 100ms).ok());
  EXPECT_GT(stream.counters().status_updates, 0u);
  EXPECT_EQ(ConfirmedFlush(), before) << "the stream confirmed without being told to";

  const Lsn durable = collector.last_commit_end;
  stream.ReportProgress(durable, durable, durable);
  ASSERT_TRUE(stream.SendStatusNow().ok());
  for (int i = 0; i < 50 && ConfirmedFlush() != FormatLsn(durable); ++i) {
    ASSERT_TRUE(stream.Next(&batch, 100ms).ok());
  }
  EXPECT_EQ(ConfirmedFlush(), FormatLsn(durable));
}

// While data keeps coming, reads are paced `read_pause` apart (the walsender's sends
// then coalesce), nothing is lost, and on loopback the receive buffer is the small one.
TEST_F(ReplicationStreamTest, PacesReadsWhileDataFlowsOnASmallLoopbackBuffer) {
  auto o = Options();
  o.read_pause = 300ms;
  o.max_batch_bytes = 32 << 10;  // several reads' worth of data
  ReplicationStream stream(o, &cancel_);
  ASSERT_TRUE(stream.Start().ok());
  // Linux reports twice the size that was set.
  EXPECT_EQ(stream.socket_receive_buffer(), 2 * ReplicationStreamOptions::kSmallReceiveBuffer);
  ASSERT_TRUE(pg_->Exec("INSERT INTO t SELECT generate_series(1, 5000)").ok());
  Collector collector;
  auto decoder = std::make_unique<PgoutputDecoder>(&collector);
  ReplicationBatch batch;
  std::vector<std::chrono::steady_clock::time_point> reads;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (collector.ids.size() < 5000 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(stream.Next(&batch, 5s).ok());
    if (batch.messages.empty()) continue;
    reads.push_back(std::chrono::steady_clock::now());
    for (const auto& m : batch.messages)
      ASSERT_TRUE(decoder->Decode(m.wal_start, m.payload).ok());
  }
  ASSERT_EQ(collector.ids.size(), 5000u);
  EXPECT_EQ(collector.ids.back(), "5000");
  ASSERT_GE(reads.size(), 3u);
  for (std::size_t i = 1; i < reads.size(); ++i) {
    EXPECT_GE(reads[i] - reads[i - 1], 290ms) << "read " << i << " came early";
  }

  // 0 leaves the buffer to the kernel; a size is taken as given.
  stream.Close();
  for (int size : {0, 300000}) {
    auto fixed = Options();
    fixed.socket_receive_buffer = size;
    ReplicationStream other(fixed, &cancel_);
    Status started = other.Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    if (size > 0) {
      EXPECT_EQ(other.socket_receive_buffer(), 2 * size);
    } else {
      EXPECT_NE(other.socket_receive_buffer(), 2 * ReplicationStreamOptions::kSmallReceiveBuffer);
    }
    other.Close();
  }
}

// wal_sender_timeout is 3 s and our interval 60 s: only answering the server's
// reply-requested keepalives keeps the connection alive.
TEST_F(ReplicationStreamTest, AnswersKeepalivesThatRequestAReply) {
  auto o = Options();
  o.status_interval = 60s;
  o.reconnect = false;
  ReplicationStream stream(o, &cancel_);
  ASSERT_TRUE(stream.Start().ok());
  ReplicationBatch batch;
  const auto until = std::chrono::steady_clock::now() + 8s;
  while (std::chrono::steady_clock::now() < until) {
    Status s = stream.Next(&batch, 500ms);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_GT(stream.counters().keepalives, 0u);
  EXPECT_GT(stream.counters().status_updates, 0u);
  EXPECT_EQ(stream.counters().reconnects, 0u);
}

TEST_F(ReplicationStreamTest, ReconnectsAfterServerRestartFromLastConfirmedLsn) {
  ReplicationStream stream(Options(), &cancel_);
  ASSERT_TRUE(stream.Start().ok());
  Collector collector;
  auto decoder = std::make_unique<PgoutputDecoder>(&collector);
  ASSERT_TRUE(pg_->Exec("INSERT INTO t VALUES (1)").ok());
  ASSERT_TRUE(ReadInserts(&stream, &collector, 1, &decoder).ok());
  ASSERT_EQ(collector.ids.size(), 1u);
  const Lsn first_end = collector.last_commit_end;
  stream.ReportProgress(first_end, first_end, first_end);
  ASSERT_TRUE(stream.SendStatusNow().ok());

  // Transaction 2 is received but NOT confirmed before the restart.
  ASSERT_TRUE(pg_->Exec("INSERT INTO t VALUES (2)").ok());
  ASSERT_TRUE(ReadInserts(&stream, &collector, 2, &decoder).ok());
  ASSERT_EQ(collector.ids.size(), 2u);

  ASSERT_TRUE(pg_->Restart("fast").ok());
  ASSERT_TRUE(pg_->Exec("INSERT INTO t VALUES (3)").ok());
  collector.ids.clear();
  bool reconnected = false;
  Status s = ReadInserts(&stream, &collector, 2, &decoder, &reconnected);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(reconnected);
  EXPECT_GE(stream.counters().reconnects, 1u);
  // Resumed after transaction 1 (confirmed): 2 is sent again, then 3.
  EXPECT_EQ(collector.ids, (std::vector<std::string>{"2", "3"}));
}

TEST_F(ReplicationStreamTest, CancelInterruptsAWaitAtOnce) {
  ReplicationStream stream(Options(), &cancel_);
  ASSERT_TRUE(stream.Start().ok());
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel_.Cancel();
  });
  ReplicationBatch batch;
  const auto start = std::chrono::steady_clock::now();
  Status s = stream.Next(&batch, 30s);
  canceller.join();
  EXPECT_EQ(s.code(), Status::Code::kAborted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(ReplicationStreamTest, CreatesSlotAndPublicationWhenAsked) {
  auto o = Options();
  o.slot = "new_slot";
  o.publications = {"new_pub"};
  o.create_slot = true;
  o.create_publication = true;
  ReplicationStream stream(o, &cancel_);
  Status s = stream.Start();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(
      pg_->QueryValue("SELECT plugin FROM pg_replication_slots WHERE slot_name='new_slot'").value(),
      "pgoutput");
  EXPECT_EQ(
      pg_->QueryValue("SELECT puballtables FROM pg_publication WHERE pubname='new_pub'").value(),
      "t");
}

void ExpectError(const Status& s, Status::Code code, const std::string& text) {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
}

TEST_F(ReplicationStreamTest, ClearErrors) {
  {  // wrong password
    ReplicationStream stream(Options(pg_->Dsn("postgres", "password=nope")), &cancel_);
    ExpectError(stream.Start(), Status::Code::kPermissionDenied,
                "authentication failed for user \"postgres\"");
  }
  {  // missing slot
    auto o = Options();
    o.slot = "missing";
    ReplicationStream stream(o, &cancel_);
    ExpectError(stream.Start(), Status::Code::kNotFound,
                "replication slot \"missing\" at 127.0.0.1:" + std::to_string(pg_->port()) +
                    " does not exist");
  }
  {  // missing publication
    auto o = Options();
    o.publications = {"pub", "nopub"};
    ReplicationStream stream(o, &cancel_);
    ExpectError(stream.Start(), Status::Code::kNotFound, "publication \"nopub\" does not exist");
  }
  {  // slot in use by another process
    ReplicationStream first(Options(), &cancel_);
    ASSERT_TRUE(first.Start().ok());
    ReplicationStream second(Options(), &cancel_);
    ExpectError(second.Start(), Status::Code::kFailedPrecondition,
                "in use by another process: active for PID " + std::to_string(first.backend_pid()));
  }
  {  // no REPLICATION attribute
    ASSERT_TRUE(pg_->Exec("CREATE ROLE plain LOGIN PASSWORD 'plainpw'").ok());
    ReplicationStream stream(Options(pg_->Dsn("postgres", "user=plain password=plainpw")),
                             &cancel_);
    ExpectError(stream.Start(), Status::Code::kPermissionDenied,
                "needs the REPLICATION attribute (ALTER ROLE \"plain\" WITH REPLICATION)");
  }
  {  // unreachable host: nothing listens on port 1
    ReplicationStream stream(Options("host=127.0.0.1 port=1 user=postgres dbname=postgres"),
                             &cancel_);
    ExpectError(stream.Start(), Status::Code::kUnavailable,
                "cannot reach PostgreSQL at 127.0.0.1:1");
  }
  {  // malformed DSN
    ReplicationStream stream(Options("host=127.0.0.1 bogus_option=1"), &cancel_);
    ExpectError(stream.Start(), Status::Code::kInvalidArgument, "bad connection string");
  }
}

TEST(ReplicationStreamWalLevelTest, WalLevelReplicaIsAClearError) {
  auto c = PgTestCluster::Start({.settings = {{"wal_level", "replica"}}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Cancellation cancel;
  ReplicationStreamOptions o;
  o.dsn = (*c)->Dsn("postgres");
  o.slot = "s";
  o.publications = {"pub"};
  o.create_slot = true;
  o.create_publication = true;
  ReplicationStream stream(o, &cancel);
  ExpectError(stream.Start(), Status::Code::kFailedPrecondition,
              "wal_level is 'replica' on PostgreSQL at 127.0.0.1:" + std::to_string((*c)->port()));
}

}  // namespace
}  // namespace pg2bq::agent
