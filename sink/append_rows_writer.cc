#include "sink/append_rows_writer.h"

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include <algorithm>

#include "google/cloud/bigquery/storage/v1/storage.grpc.pb.h"
#include "sink/change_sequence.h"
#include "sink/proto_wire.h"

namespace pg2bq::sink {
namespace {

namespace bqs = google::cloud::bigquery::storage::v1;
using Stream = grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;

constexpr const char* kAppendRowsMethod =
    "/google.cloud.bigquery.storage.v1.BigQueryWrite/AppendRows";
constexpr int kAlreadyExists = 6;
constexpr int kCancelled = 1;
constexpr int kDeadlineExceeded = 4;
// Room for the request envelope besides the rows: write_stream, offset, trace id, tags.
constexpr std::size_t kEnvelopeBytes = 64;

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

grpc::ByteBuffer ToByteBuffer(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  grpc::Slice slice(
      owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); }, owned);
  return grpc::ByteBuffer(&slice, 1);
}

bool ParseByteBuffer(const grpc::ByteBuffer& bb, google::protobuf::Message* msg) {
  std::vector<grpc::Slice> slices;
  if (!bb.Dump(&slices).ok()) return false;
  std::string bytes;
  bytes.reserve(bb.Length());
  for (const auto& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return msg->ParseFromString(bytes);
}

std::string CodeName(int code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "CODE_" + std::to_string(code);
}

Status ToStatus(int code, const std::string& msg) {
  switch (code) {
    case 3:
      return Status::InvalidArgument(msg);
    case 5:
      return Status::NotFound(msg);
    case 7:
    case 16:
      return Status::PermissionDenied(msg);
    case 8:
      return Status::ResourceExhausted(msg);
    case 9:
      return Status::FailedPrecondition(msg);
    case 1:
      return Status::Aborted(msg);
    case 14:
    case 4:
    case 10:
      return Status::Unavailable(msg);
    default:
      return Status::Internal(msg);
  }
}

}  // namespace

struct TableWriter::Connection {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<Stream> stream;
  // A Write failed: the stream is going away. Keep reading until Read() says so (Finish()
  // must not be called with responses still unread), but send nothing more.
  bool write_failed = false;
};

std::shared_ptr<grpc::Channel> MakeWriteChannel(const WriteEndpoint& endpoint) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(16 * 1024 * 1024);
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  // Keepalive so a dead peer is noticed without a request in flight.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  auto creds = endpoint.insecure ? grpc::InsecureChannelCredentials()
                                 : grpc::SslCredentials(grpc::SslCredentialsOptions());
  return grpc::CreateCustomChannel(endpoint.target, creds, args);
}

TableWriter::TableWriter(std::shared_ptr<grpc::Channel> channel,
                         std::shared_ptr<TokenSource> tokens, std::string table_path,
                         WriterOptions options, DeadLetterWriter* dead_letters)
    : channel_(std::move(channel)),
      tokens_(std::move(tokens)),
      table_path_(std::move(table_path)),
      options_(std::move(options)),
      dead_letters_(dead_letters) {
  write_stream_ = table_path_ + "/streams/_default";
  watchdog_ = std::thread([this] { Watchdog(); });
}

TableWriter::~TableWriter() {
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  watchdog_.join();
  Disconnect();
}

void TableWriter::Watchdog() {
  std::unique_lock<std::mutex> lock(watch_mu_);
  while (!watch_stop_) {
    watch_cv_.wait_for(lock, std::chrono::milliseconds(50));
    if (watch_stop_ || !watch_ctx_ || watch_fired_) continue;
    const bool cancelled = watch_cancel_ && watch_cancel_->cancelled();
    const bool late =
        watch_busy_ && std::chrono::steady_clock::now() - watch_oldest_ > options_.response_timeout;
    if (cancelled || late) {
      watch_fired_ = true;
      watch_ctx_->TryCancel();  // unblocks Read/Write on the stream
    }
  }
}

Status TableWriter::Connect(const TableDescriptor& descriptor) {
  (void)descriptor;
  auto conn = std::make_unique<Connection>();
  conn->ctx = std::make_unique<grpc::ClientContext>();
  if (tokens_) {
    auto token = tokens_->AccessToken();
    if (!token.ok()) return token.status().WithContext("AppendRows " + table_path_);
    conn->ctx->AddMetadata("authorization", "Bearer " + *token);
  }
  // Routing header: required outside the US multi-region, harmless inside it.
  conn->ctx->AddMetadata("x-goog-request-params", "write_stream=" + PercentEncode(write_stream_));
  const grpc::internal::RpcMethod method(kAppendRowsMethod,
                                         grpc::internal::RpcMethod::BIDI_STREAMING);
  conn->stream.reset(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel_.get(), method, conn->ctx.get()));
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_ctx_ = conn->ctx.get();
    watch_fired_ = false;
    watch_busy_ = false;
  }
  conn_ = std::move(conn);
  schema_version_sent_ = 0;
  return Status::Ok();
}

void TableWriter::Disconnect() {
  if (!conn_) return;
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_ctx_ = nullptr;
    watch_busy_ = false;
  }
  conn_->ctx->TryCancel();
  (void)conn_->stream->Finish();
  conn_.reset();
  schema_version_sent_ = 0;
}

std::string TableWriter::BuildRequest(const TableDescriptor& descriptor, const EncodedBatch& batch,
                                      const Chunk& chunk, bool first_on_connection) {
  std::size_t rows_len = 0;
  for (auto i : chunk.rows)
    rows_len += batch.rows[i].size;
  std::string schema;
  if (first_on_connection) {
    std::string descriptor_bytes;
    descriptor.proto.SerializeToString(&descriptor_bytes);
    wire::PutBytesField(&schema, 1, descriptor_bytes);  // ProtoSchema.proto_descriptor
  }
  std::string req;
  req.reserve(rows_len + schema.size() + 256);
  if (first_on_connection) wire::PutBytesField(&req, 1, write_stream_);
  if (chunk.offset >= 0) {
    std::string int64_value;
    wire::PutInt64Field(&int64_value, 1, chunk.offset);
    wire::PutBytesField(&req, 2, int64_value);
  }
  // proto_rows (4): ProtoData { writer_schema (1), rows (2): ProtoRows }
  std::size_t proto_data_len = rows_len + wire::VarintSize(rows_len) + 1;
  if (first_on_connection) proto_data_len += 1 + wire::VarintSize(schema.size()) + schema.size();
  wire::PutTag(&req, 4, wire::kLengthDelimited);
  wire::PutVarint(&req, proto_data_len);
  if (first_on_connection) wire::PutBytesField(&req, 1, schema);
  wire::PutTag(&req, 2, wire::kLengthDelimited);
  wire::PutVarint(&req, rows_len);
  // Contiguous runs are copied in one go.
  std::size_t k = 0;
  while (k < chunk.rows.size()) {
    std::size_t j = k + 1;
    while (j < chunk.rows.size() && chunk.rows[j] == chunk.rows[j - 1] + 1)
      ++j;
    const auto& first = batch.rows[chunk.rows[k]];
    const auto& last = batch.rows[chunk.rows[j - 1]];
    req.append(batch.proto_rows, first.offset, last.offset + last.size - first.offset);
    k = j;
  }
  if (!options_.trace_id.empty()) wire::PutBytesField(&req, 6, options_.trace_id);
  return req;
}

std::string TableWriter::LsnRange(const EncodedBatch& batch) const {
  if (batch.rows.empty()) return "(empty)";
  return "commit LSN " + FormatLsn(batch.rows.front().commit_lsn) + ".." +
         FormatLsn(batch.rows.back().commit_lsn);
}

Status TableWriter::CreateCommittedStream(Cancellation& cancel) {
  auto stub = bqs::BigQueryWrite::NewStub(channel_);
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (tokens_) {
      PG2BQ_ASSIGN_OR_RETURN(std::string token, tokens_->AccessToken());
      ctx.AddMetadata("authorization", "Bearer " + token);
    }
    ctx.AddMetadata("x-goog-request-params", "parent=" + PercentEncode(table_path_));
    bqs::CreateWriteStreamRequest req;
    req.set_parent(table_path_);
    req.mutable_write_stream()->set_type(bqs::WriteStream::COMMITTED);
    bqs::WriteStream resp;
    const grpc::Status s = stub->CreateWriteStream(&ctx, req, &resp);
    if (s.ok()) {
      committed_.name = resp.name();
      committed_.next_offset = 0;
      return Status::Ok();
    }
    const std::string msg = "CreateWriteStream for " + table_path_ + ": " +
                            CodeName(s.error_code()) + ": " + s.error_message();
    if (!IsRetryableCode(s.error_code()) ||
        (options_.retry.max_attempts > 0 && attempt >= options_.retry.max_attempts)) {
      return ToStatus(s.error_code(), msg);
    }
    ++stats_.retries;
    if (!cancel.SleepFor(BackoffDelay(options_.retry, s.error_code(), attempt, rng_))) {
      return Status::Aborted(msg + " (cancelled while retrying)");
    }
  }
}

Status TableWriter::Append(const TableDescriptor& descriptor, const EncodedBatch& batch,
                           Cancellation& cancel) {
  if (batch.rows.empty()) return Status::Ok();
  const std::string where = "table " + table_path_ + ", " + LsnRange(batch);
  if (batch.descriptor_version != descriptor.version) {
    return Status::InvalidArgument(where + ": batch encoded with descriptor version " +
                                   std::to_string(batch.descriptor_version) + ", given version " +
                                   std::to_string(descriptor.version));
  }
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_cancel_ = &cancel;
  }
  if (options_.use_committed_stream) {
    if (committed_.name.empty()) PG2BQ_RETURN_IF_ERROR(CreateCommittedStream(cancel));
    if (write_stream_ != committed_.name) {
      Disconnect();
      write_stream_ = committed_.name;
    }
  }

  auto dead_letter = [&](std::uint32_t row, const std::string& source, const std::string& reason) {
    const auto& info = batch.rows[row];
    DeadLetter l;
    l.table = table_path_;
    l.commit_lsn = info.commit_lsn;
    l.ordinal = info.ordinal;
    l.op = std::string(RowOpName(info.op));
    l.source = source;
    l.reason = reason;
    l.row_bytes = batch.RowMessage(row);
    ++stats_.dead_letters;
    if (dead_letters_) return dead_letters_->Append(l);
    return Status::Ok();
  };

  // Split into requests under the size limit.
  std::string schema_bytes;
  descriptor.proto.SerializeToString(&schema_bytes);
  // Envelope: writer schema (first request of a connection, counted always), stream name,
  // offset, trace id, and the tags/lengths around them.
  const std::size_t overhead =
      schema_bytes.size() + write_stream_.size() + options_.trace_id.size() + kEnvelopeBytes;
  if (options_.max_request_bytes <= overhead + 64) {
    return Status::InvalidArgument(where + ": max_request_bytes " +
                                   std::to_string(options_.max_request_bytes) +
                                   " leaves no room for rows after the request envelope (" +
                                   std::to_string(overhead) + " bytes)");
  }
  const std::size_t budget = options_.max_request_bytes - overhead;
  std::deque<Chunk> pending;
  {
    Chunk c;
    std::size_t size = 0;
    for (std::uint32_t i = 0; i < batch.rows.size(); ++i) {
      const std::size_t s = batch.rows[i].size;
      if (s > budget) {
        PG2BQ_RETURN_IF_ERROR(dead_letter(
            i, "sink",
            "encoded row of " + std::to_string(s) + " bytes exceeds the AppendRows request limit"));
        continue;
      }
      if (size + s > budget && !c.rows.empty()) {
        pending.push_back(std::move(c));
        c = Chunk();
        size = 0;
      }
      c.rows.push_back(i);
      size += s;
    }
    if (!c.rows.empty()) pending.push_back(std::move(c));
  }

  std::deque<Chunk> in_flight;
  std::int64_t send_offset = committed_.next_offset;
  int stream_failures = 0;
  const bool committed = options_.use_committed_stream;

  auto requeue_in_flight = [&] {
    while (!in_flight.empty()) {
      pending.push_front(std::move(in_flight.back()));
      in_flight.pop_back();
    }
    send_offset = committed_.next_offset;
  };
  auto update_watch = [&] {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_busy_ = !in_flight.empty();
    if (watch_busy_) watch_oldest_ = in_flight.front().sent_at;
  };
  // Waits before a retry; false when cancelled.
  auto backoff = [&](int code, int attempt) {
    ++stats_.retries;
    return cancel.SleepFor(BackoffDelay(options_.retry, code, attempt, rng_));
  };
  auto exhausted = [&](int attempts) {
    return options_.retry.max_attempts > 0 && attempts >= options_.retry.max_attempts;
  };
  auto fail = [&](Status s) {
    Disconnect();
    if (dead_letters_) (void)dead_letters_->Sync();
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_cancel_ = nullptr;
    return s;
  };

  while (!pending.empty() || !in_flight.empty()) {
    if (cancel.cancelled()) return fail(Status::Aborted(where + ": cancelled"));
    if (!conn_) {
      Status s = Connect(descriptor);
      if (!s.ok()) return fail(s);
    }
    // Fill the pipeline.
    while (!conn_->write_failed && static_cast<int>(in_flight.size()) < options_.max_in_flight &&
           !pending.empty()) {
      Chunk c = std::move(pending.front());
      pending.pop_front();
      c.offset = committed ? send_offset : -1;
      const bool first = schema_version_sent_ != descriptor.version;
      std::string req = BuildRequest(descriptor, batch, c, first);
      const std::size_t req_size = req.size();
      c.sent_at = std::chrono::steady_clock::now();
      in_flight.push_back(std::move(c));
      update_watch();
      if (!conn_->stream->Write(ToByteBuffer(std::move(req)))) {
        conn_->write_failed = true;
        break;
      }
      schema_version_sent_ = descriptor.version;
      if (committed) send_offset += static_cast<std::int64_t>(in_flight.back().rows.size());
      ++stats_.requests;
      stats_.bytes_sent += req_size;
      stats_.rows_sent += in_flight.back().rows.size();
    }
    grpc::ByteBuffer bb;
    if (!conn_->stream->Read(&bb)) {
      // The stream is gone: learn why, then reconnect and resend everything unanswered.
      bool fired;
      {
        std::lock_guard<std::mutex> lock(watch_mu_);
        fired = watch_fired_;
        watch_ctx_ = nullptr;
      }
      const grpc::Status st = conn_->stream->Finish();
      conn_.reset();
      schema_version_sent_ = 0;
      requeue_in_flight();
      if (cancel.cancelled()) return fail(Status::Aborted(where + ": cancelled"));
      int code = st.error_code();
      std::string msg = st.error_message();
      if (fired || code == kCancelled) {
        code = kDeadlineExceeded;  // our watchdog: no response within response_timeout
        msg = "no response within " + std::to_string(options_.response_timeout.count()) + " ms";
      }
      if (code == 0) {
        code = 14;  // the server closed the stream cleanly with requests unanswered
        msg = "stream closed by the server";
      }
      ++stream_failures;
      ++stats_.reconnects;
      const std::string m = where + ": AppendRows stream failed: " + CodeName(code) + ": " + msg;
      if (!IsRetryableCode(code) || exhausted(stream_failures)) return fail(ToStatus(code, m));
      if (!backoff(code, stream_failures)) return fail(Status::Aborted(m + " (cancelled)"));
      continue;
    }
    bqs::AppendRowsResponse resp;
    if (in_flight.empty() || !ParseByteBuffer(bb, &resp)) {
      return fail(Status::Corruption(where + ": unparsable or unexpected AppendRows response"));
    }
    Chunk c = std::move(in_flight.front());
    in_flight.pop_front();
    update_watch();

    if (resp.row_errors_size() > 0) {
      // The whole request was refused because of these rows: dead-letter them, resend the rest.
      std::vector<bool> bad(c.rows.size(), false);
      for (const auto& e : resp.row_errors()) {
        if (e.index() < 0 || static_cast<std::size_t>(e.index()) >= c.rows.size()) {
          return fail(Status::Corruption(where + ": row error index " + std::to_string(e.index()) +
                                         " outside a request of " + std::to_string(c.rows.size()) +
                                         " rows"));
        }
        if (bad[static_cast<std::size_t>(e.index())]) continue;
        bad[static_cast<std::size_t>(e.index())] = true;
        Status s =
            dead_letter(c.rows[static_cast<std::size_t>(e.index())], "bigquery", e.message());
        if (!s.ok()) return fail(s);
      }
      Chunk rest;
      rest.attempts = c.attempts;
      for (std::size_t i = 0; i < c.rows.size(); ++i)
        if (!bad[i]) rest.rows.push_back(c.rows[i]);
      if (committed) {  // later offsets were refused too; start again from the acked end
        requeue_in_flight();
        Disconnect();
      }
      if (!rest.rows.empty()) pending.push_front(std::move(rest));
      continue;
    }
    if (resp.has_error() && !(committed && resp.error().code() == kAlreadyExists)) {
      const int code = resp.error().code();
      const std::string m =
          where + ": AppendRows: " + CodeName(code) + ": " + resp.error().message();
      ++c.attempts;
      if (!IsRetryableCode(code) || exhausted(c.attempts)) return fail(ToStatus(code, m));
      pending.push_front(std::move(c));
      if (committed) {
        requeue_in_flight();
        Disconnect();
      }
      if (!backoff(code, pending.front().attempts))
        return fail(Status::Aborted(m + " (cancelled)"));
      continue;
    }
    // Accepted (or, on a committed stream, already written by an earlier attempt).
    stream_failures = 0;
    stats_.rows_acked += c.rows.size();
    if (committed) committed_.next_offset = c.offset + static_cast<std::int64_t>(c.rows.size());
  }
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_cancel_ = nullptr;
  }
  if (dead_letters_) PG2BQ_RETURN_IF_ERROR(dead_letters_->Sync());
  return Status::Ok();
}

}  // namespace pg2bq::sink
