// `pg2bq stream`: consume a pgoutput slot and print every change as one JSON line.
// A debugging tool usable in production: it confirms to the slot exactly what it
// has written and flushed to stdout (like pg_recvlogical), nothing more.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/cancellation.h"
#include "agent/change_json.h"
#include "agent/replication_stream.h"
#include "agent/signals.h"
#include "agent/streamed_txn_buffer.h"
#include "agent/type_catalog.h"
#include "decoder/pgoutput_decoder.h"

namespace pg2bq::agent {
namespace {

namespace po = boost::program_options;

enum class OutputMode { kJson, kNone };

// Receives decoded changes, renders them, and keeps track of what is safe to confirm.
class StreamPrinter : public ChangeHandler {
 public:
  StreamPrinter(OutputMode mode, Lsn end_lsn, TypeCatalog* catalog)
      : mode_(mode), end_lsn_(end_lsn), catalog_(catalog) {}

  void set_decoder(PgoutputDecoder* decoder) {
    decoder_ = decoder;
    json_ = std::make_unique<ChangeJsonWriter>(&decoder->types());
  }

  Status OnRelation(const Relation& rel, bool schema_changed) override {
    if (schema_changed) spdlog::info("schema of {} changed", rel.qualified_name);
    return catalog_->RegisterColumnTypes(rel, &decoder_->types());
  }

  Status OnBegin(const TransactionBegin& b) override {
    if (done_) return Status::Ok();
    if (end_lsn_ != kInvalidLsn && b.final_lsn > end_lsn_) done_ = true;
    return Status::Ok();
  }

  Status OnChange(const Change& c) override {
    if (done_) return Status::Ok();
    ++changes_;
    if (mode_ == OutputMode::kNone) return json_->DecodeValues(c);
    if (c.streamed) {
      // The commit LSN (and whether it commits at all) is known only at Stream Commit.
      line_.clear();
      PG2BQ_RETURN_IF_ERROR(json_->AppendBody(c, &line_));
      return streamed_.Add(c.xid, c.subxid, c.lsn, line_);
    }
    if (c.kind == ChangeKind::kMessage && !c.transactional && end_lsn_ != kInvalidLsn &&
        c.lsn > end_lsn_) {
      done_ = true;
      return Status::Ok();
    }
    ChangeJsonWriter::AppendPrefix(c.lsn, c.commit_lsn, &out_);
    return json_->AppendBody(c, &out_);
  }

  Status OnCommit(const TransactionEnd& e) override {
    if (done_) return Status::Ok();
    if (e.kind == TransactionEnd::Kind::kStreamCommit) {
      if (end_lsn_ != kInvalidLsn && e.commit_lsn > end_lsn_) {
        done_ = true;
        return Status::Ok();
      }
      PG2BQ_RETURN_IF_ERROR(streamed_.Commit(e.xid, [&](Lsn lsn, std::string_view body) {
        ChangeJsonWriter::AppendPrefix(lsn, e.commit_lsn, &out_);
        out_ += body;
      }));
    }
    committed_end_ = std::max(committed_end_, e.end_lsn);
    if (end_lsn_ != kInvalidLsn && e.end_lsn >= end_lsn_) done_ = true;
    return Status::Ok();
  }

  Status OnStreamAbort(const StreamAbort& a) override {
    streamed_.Abort(a.xid, a.subxid);
    return Status::Ok();
  }

  // After a reconnect the server resends every transaction not yet confirmed.
  void ResetForReconnect() {
    if (decoder_ != nullptr && decoder_->in_transaction()) {
      spdlog::warn(
          "connection lost inside a transaction: its changes printed so far will be "
          "printed again");
    }
    streamed_.Clear();
  }

  // Writes buffered lines to stdout and flushes. Fails when stdout is gone.
  Status Flush() {
    if (!out_.empty()) {
      if (std::fwrite(out_.data(), 1, out_.size(), stdout) != out_.size() ||
          std::fflush(stdout) != 0) {
        return Status::IoError(std::string("writing to stdout: ") + std::strerror(errno));
      }
      out_.clear();
    }
    return Status::Ok();
  }

  void NoteKeepalive(Lsn wal_end) {
    // Between transactions, a keepalive's WAL end says everything before it was sent.
    if (decoder_->in_transaction() || decoder_->in_streamed_block()) return;
    idle_position_ = std::max(idle_position_, wal_end);
    if (end_lsn_ != kInvalidLsn && wal_end >= end_lsn_) done_ = true;
  }

  // Safe to confirm: transactions fully written, or an idle point past them.
  Lsn confirmable() const { return std::max(committed_end_, idle_position_); }
  bool done() const { return done_; }
  std::uint64_t changes() const { return changes_; }

 private:
  OutputMode mode_;
  Lsn end_lsn_;
  TypeCatalog* catalog_;
  PgoutputDecoder* decoder_ = nullptr;
  std::unique_ptr<ChangeJsonWriter> json_;
  std::string out_;
  StreamedTransactionBuffer streamed_;
  std::string line_;
  Lsn committed_end_ = kInvalidLsn;
  Lsn idle_position_ = kInvalidLsn;
  bool done_ = false;
  std::uint64_t changes_ = 0;
};

const char* kUsage =
    "Usage: pg2bq stream --dsn DSN --slot SLOT --publication PUB [options]\n\n"
    "Consumes a pgoutput logical replication slot and prints every change as one JSON\n"
    "object per line on stdout:\n"
    "  {\"lsn\":\"0/1A2B3C8\",\"commit_lsn\":\"0/1A2B4F0\",\"xid\":745,\"table\":\"public.t\",\n"
    "   \"op\":\"insert\",\"new\":{\"id\":\"1\",\"note\":null},\"old\":null}\n"
    "op is insert|update|delete|truncate|message. Values are PostgreSQL's text output\n"
    "as JSON strings (session settings: DateStyle ISO, TimeZone UTC, IntervalStyle\n"
    "postgres, extra_float_digits 1, bytea_output hex, lc_monetary C), NULL is null, an\n"
    "unchanged TOAST value is {\"unchanged_toast\":true}. Changes of a streamed (large,\n"
    "in-progress) transaction are held in a temp file ($TMPDIR or /tmp) until it\n"
    "commits, and dropped if it aborts.\n\n"
    "The slot's confirmed position advances only to transactions written and flushed\n"
    "to stdout. Logs go to stderr. Stop with Ctrl-C / SIGTERM (exit 0), or --end-lsn.\n\n"
    "Options";

}  // namespace

int RunStreamCommand(int argc, char** argv) {
  std::string dsn, slot, end_lsn_text, start_lsn_text, output = "json", log_level = "info";
  std::vector<std::string> publications;
  int proto_version = 2;
  double status_interval_s = 10;
  long read_pause_us = -1;
  long rcvbuf = -1;
  po::options_description desc(kUsage);
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("dsn", po::value(&dsn)->value_name("DSN"),
     "libpq connection string of the database, e.g. \"host=db port=5432 dbname=app "
     "user=repl\" or postgres://repl@db/app; replication=database is added")
    ("slot", po::value(&slot)->value_name("SLOT"), "logical replication slot (pgoutput)")
    ("publication", po::value(&publications)->value_name("PUB")->composing(),
     "publication to stream (repeat for several)")
    ("create-slot", "create the slot if it does not exist")
    ("create-publication", "create missing publications FOR ALL TABLES (needs superuser)")
    ("binary", "ask for binary tuple values; they are decoded and printed in text form, "
     "exactly as text mode prints them")
    ("end-lsn", po::value(&end_lsn_text)->value_name("LSN"),
     "stop after the last transaction ending at or before LSN (like pg_recvlogical "
     "--endpos) and exit 0")
    ("start-lsn", po::value(&start_lsn_text)->value_name("LSN"),
     "start position (default: the slot's confirmed position)")
    ("output", po::value(&output)->value_name("json|none"),
     "json: one line per change (default); none: decode every value, print nothing "
     "(benchmarks)")
    ("proto-version", po::value(&proto_version), "pgoutput protocol version 1-3 (default 2)")
    ("no-streaming", "do not stream large in-progress transactions")
    ("no-messages", "do not ask for logical decoding messages")
    ("status-interval", po::value(&status_interval_s)->value_name("SECONDS"),
     "standby status update interval (default 10)")
    ("read-pause-us", po::value(&read_pause_us)->value_name("MICROS"),
     "while data flows, read the socket at most this often (default 500; 0 reads whenever "
     "data is there, like pg_recvlogical)")
    ("socket-receive-buffer", po::value(&rcvbuf)->value_name("BYTES"),
     "SO_RCVBUF of the replication socket (default -1: 96 KiB when the round trip is under "
     "1 ms, else the kernel's autotuning; 0: always autotuning; else at least 32768)")
    ("log-level", po::value(&log_level), "debug|info|warn|error (default info)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "pg2bq stream: %s\nRun 'pg2bq stream --help' for the options.\n",
                 e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  auto usage_error = [](const std::string& msg) {
    std::fprintf(stderr, "pg2bq stream: %s\nRun 'pg2bq stream --help' for the options.\n",
                 msg.c_str());
    return 2;
  };
  if (dsn.empty()) return usage_error("--dsn is required");
  if (slot.empty()) return usage_error("--slot is required");
  if (publications.empty()) return usage_error("--publication is required");
  OutputMode mode;
  if (output == "json") {
    mode = OutputMode::kJson;
  } else if (output == "none") {
    mode = OutputMode::kNone;
  } else {
    return usage_error("--output must be json or none, not '" + output + "'");
  }
  Lsn end_lsn = kInvalidLsn, start_lsn = kInvalidLsn;
  if (!end_lsn_text.empty()) {
    auto l = ParseLsn(end_lsn_text);
    if (!l || *l == kInvalidLsn) return usage_error("--end-lsn: not an LSN: " + end_lsn_text);
    end_lsn = *l;
  }
  if (!start_lsn_text.empty()) {
    auto l = ParseLsn(start_lsn_text);
    if (!l) return usage_error("--start-lsn: not an LSN: " + start_lsn_text);
    start_lsn = *l;
  }
  if (status_interval_s <= 0) return usage_error("--status-interval must be positive");
  // Below the floor the stream crawls rather than fails: with a 16 KiB SO_RCVBUF over
  // loopback each window update waited for a delayed ACK, ~0.2 MB/s (docs/REPLICATION.md).
  constexpr long kMinReceiveBuffer = 32 << 10;
  if (rcvbuf < -1 || (rcvbuf > 0 && rcvbuf < kMinReceiveBuffer)) {
    return usage_error(
        "--socket-receive-buffer must be -1 (auto), 0 (kernel autotuning) or at "
        "least " +
        std::to_string(kMinReceiveBuffer) + " bytes, not " + std::to_string(rcvbuf) +
        ": smaller buffers stall the stream");
  }
  if (vm.count("read-pause-us") && read_pause_us < 0)
    return usage_error("--read-pause-us must be 0 or more microseconds, not " +
                       std::to_string(read_pause_us));

  auto logger = spdlog::stderr_color_mt("pg2bq-stream");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  // SIGINT/SIGTERM stop the stream after the current message (exit 0), a second one at
  // once; SIGHUP (the terminal went away) stops it too. No work in a signal handler.
  Cancellation cancel;
  SignalWatcherOptions so;
  so.on_reload = [&cancel] { cancel.Cancel(); };
  auto signals = SignalWatcher::Start(&cancel, std::move(so));
  if (!signals.ok()) {
    spdlog::error("{}", signals.status().ToString());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  ReplicationStreamOptions opts;
  opts.dsn = dsn;
  opts.slot = slot;
  opts.publications = publications;
  opts.proto_version = proto_version;
  opts.binary = vm.count("binary") > 0;
  opts.messages = vm.count("no-messages") == 0;
  opts.streaming = vm.count("no-streaming") == 0 && proto_version >= 2;
  opts.create_slot = vm.count("create-slot") > 0;
  opts.create_publication = vm.count("create-publication") > 0;
  opts.start_lsn = start_lsn;
  opts.status_interval = std::chrono::milliseconds(static_cast<long>(status_interval_s * 1000));
  if (read_pause_us >= 0) opts.read_pause = std::chrono::microseconds(read_pause_us);
  opts.socket_receive_buffer = static_cast<int>(rcvbuf);

  ReplicationStream stream(opts, &cancel);
  TypeCatalog catalog(dsn, &cancel);
  StreamPrinter printer(mode, end_lsn, &catalog);
  auto decoder = std::make_unique<PgoutputDecoder>(&printer);
  printer.set_decoder(decoder.get());

  Status s = stream.Start();
  if (!s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  spdlog::info("streaming slot {} of database {} (system {}), {} mode{}", slot,
               stream.identity().dbname, stream.identity().system_id,
               opts.binary ? "binary" : "text",
               end_lsn != kInvalidLsn ? ", until " + FormatLsn(end_lsn) : "");

  ReplicationBatch batch;
  int exit_code = 0;
  while (!printer.done()) {
    s = stream.Next(&batch, std::chrono::seconds(1));
    if (s.code() == Status::Code::kAborted) break;  // signal: clean stop
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      exit_code = 1;
      break;
    }
    if (batch.reconnected) {
      printer.ResetForReconnect();
      decoder = std::make_unique<PgoutputDecoder>(&printer);
      printer.set_decoder(decoder.get());
    }
    bool stopped_early = false;
    for (const XLogData& m : batch.messages) {
      if (printer.done()) {
        stopped_early = true;
        break;
      }
      s = decoder->Decode(m.wal_start, m.payload);
      if (!s.ok()) {
        spdlog::error("decoding the message at {}: {}", FormatLsn(m.wal_start), s.ToString());
        exit_code = 1;
        break;
      }
    }
    if (exit_code != 0) break;
    // A keepalive vouches for everything before it only if we handled the whole batch.
    if (batch.keepalive && !stopped_early && !printer.done()) {
      printer.NoteKeepalive(batch.keepalive_wal_end);
    }
    s = printer.Flush();
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      exit_code = 1;
      break;
    }
    const Lsn done_upto = printer.confirmable();
    stream.ReportProgress(done_upto, done_upto, done_upto);
  }
  if (exit_code == 0 && printer.Flush().ok()) {
    const Lsn done_upto = printer.confirmable();
    stream.ReportProgress(done_upto, done_upto, done_upto);
    (void)stream.SendStatusNow();  // best effort: the slot keeps the older position otherwise
  }
  const auto& counters = stream.counters();
  spdlog::info(
      "{} changes, {} messages, {} bytes, {} reconnects; {} reads ({} after a pause), {} "
      "wakeups, {} keepalives; confirmed up to {}",
      printer.changes(), counters.messages, counters.bytes, counters.reconnects, counters.batches,
      counters.paused_reads, counters.wakeups, counters.keepalives, FormatLsn(stream.flushed()));
  stream.Close();
  return exit_code;
}

}  // namespace pg2bq::agent
