#include "tests/bq_emulator/write_service.h"

#include <google/protobuf/util/time_util.h>

#include <map>
#include <memory>

#include "google/rpc/status.pb.h"
#include "tests/bq_emulator/writer_schema.h"

namespace pg2bq::bqemu {
namespace {

namespace storage = google::cloud::bigquery::storage::v1;
using google::protobuf::util::TimeUtil;

grpc::StatusCode GrpcCode(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk:
      return grpc::StatusCode::OK;
    case Status::Code::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case Status::Code::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case Status::Code::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case Status::Code::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case Status::Code::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Status::Code::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case Status::Code::kAborted:
      return grpc::StatusCode::ABORTED;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

grpc::Status ToGrpc(const Status& st) {
  return grpc::Status(GrpcCode(st), st.message());
}

// A gRPC error whose details carry a google.rpc.Status with a StorageError,
// as BigQuery sends them.
grpc::Status StorageFailure(grpc::StatusCode code, storage::StorageError::StorageErrorCode se,
                            const std::string& entity, const std::string& message) {
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int>(code));
  rpc.set_message(message);
  storage::StorageError detail;
  detail.set_code(se);
  detail.set_entity(entity);
  detail.set_error_message(message);
  rpc.add_details()->PackFrom(detail);
  return grpc::Status(code, message, rpc.SerializeAsString());
}

void FillStream(const StreamInfo& st, const TableInfo* table, storage::WriteStreamView view,
                storage::WriteStream* out) {
  out->set_name(st.name);
  out->set_type(static_cast<storage::WriteStream::Type>(st.type));
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(st.create_micros);
  if (st.commit_micros) {
    *out->mutable_commit_time() = TimeUtil::MicrosecondsToTimestamp(st.commit_micros);
  }
  out->set_write_mode(storage::WriteStream::INSERT);
  out->set_location("US");
  if (table && view != storage::BASIC)
    *out->mutable_table_schema() = ToStorageSchema(table->schema);
}

bool IsDefaultStreamName(const std::string& stream_tail) {
  return stream_tail == "_default";
}

// State of one destination (write stream) of an AppendRows call.
struct Connection {
  std::string stream_name;  // as sent by the client
  bool is_default = false;
  TableInfo table;
  std::unique_ptr<WriterSchema> writer;
  int64_t schema_version_sent = 0;  // table schema version the client last saw
};

void SetError(storage::AppendRowsResponse* resp, grpc::StatusCode code, const std::string& msg,
              storage::StorageError::StorageErrorCode se =
                  storage::StorageError::STORAGE_ERROR_CODE_UNSPECIFIED,
              const std::string& entity = "") {
  auto* err = resp->mutable_error();
  err->set_code(static_cast<int>(code));
  err->set_message(msg);
  if (se != storage::StorageError::STORAGE_ERROR_CODE_UNSPECIFIED) {
    storage::StorageError detail;
    detail.set_code(se);
    detail.set_entity(entity);
    detail.set_error_message(msg);
    err->add_details()->PackFrom(detail);
  }
}

}  // namespace

grpc::Status WriteService::CreateWriteStream(grpc::ServerContext*,
                                             const storage::CreateWriteStreamRequest* req,
                                             storage::WriteStream* resp) {
  if (auto fault = faults_->Before("CreateWriteStream")) return *fault;
  auto id = ParseTableResource(req->parent());
  if (!id.ok()) return ToGrpc(id.status());
  auto table = store_->GetTable(*id);
  if (!table.ok()) {
    return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::TABLE_NOT_FOUND,
                          req->parent(), table.status().message());
  }
  auto type = req->write_stream().type();
  if (type != storage::WriteStream::COMMITTED && type != storage::WriteStream::PENDING &&
      type != storage::WriteStream::BUFFERED) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "write_stream.type must be COMMITTED, PENDING or BUFFERED");
  }
  auto st = store_->CreateStream(*table, static_cast<StreamType>(type));
  if (!st.ok()) return ToGrpc(st.status());
  FillStream(*st, &*table, storage::FULL, resp);
  return grpc::Status::OK;
}

grpc::Status WriteService::GetWriteStream(grpc::ServerContext*,
                                          const storage::GetWriteStreamRequest* req,
                                          storage::WriteStream* resp) {
  if (auto fault = faults_->Before("GetWriteStream")) return *fault;
  std::string tail;
  auto id = ParseTableResource(req->name(), &tail);
  if (!id.ok() || tail.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "invalid stream name '" + req->name() +
                            "': expected projects/P/datasets/D/tables/T/streams/S");
  }
  auto table = store_->GetTable(*id);
  if (!table.ok()) {
    return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::TABLE_NOT_FOUND,
                          req->name(), table.status().message());
  }
  if (IsDefaultStreamName(tail)) {
    StreamInfo st;
    st.name = req->name();
    st.table_id = table->id;
    st.type = StreamType::kCommitted;
    st.create_micros = NowMicros();
    FillStream(st, &*table, req->view(), resp);
    return grpc::Status::OK;
  }
  auto st = store_->GetStream(req->name());
  if (!st.ok() || st->table_id != table->id) {
    return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::STREAM_NOT_FOUND,
                          req->name(), "Requested entity was not found. Entity: " + req->name());
  }
  FillStream(*st, &*table, req->view(), resp);
  return grpc::Status::OK;
}

grpc::Status WriteService::FinalizeWriteStream(grpc::ServerContext*,
                                               const storage::FinalizeWriteStreamRequest* req,
                                               storage::FinalizeWriteStreamResponse* resp) {
  if (auto fault = faults_->Before("FinalizeWriteStream")) return *fault;
  std::string tail;
  auto id = ParseTableResource(req->name(), &tail);
  if (!id.ok() || tail.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "invalid stream name '" + req->name() + "'");
  }
  if (IsDefaultStreamName(tail)) {
    return StorageFailure(grpc::StatusCode::INVALID_ARGUMENT,
                          storage::StorageError::INVALID_STREAM_TYPE, req->name(),
                          "FinalizeWriteStream is not supported on the _default stream");
  }
  auto st = store_->FinalizeStream(req->name());
  if (!st.ok()) {
    return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::STREAM_NOT_FOUND,
                          req->name(), st.status().message());
  }
  resp->set_row_count(st->row_count);
  return grpc::Status::OK;
}

grpc::Status WriteService::BatchCommitWriteStreams(
    grpc::ServerContext*, const storage::BatchCommitWriteStreamsRequest* req,
    storage::BatchCommitWriteStreamsResponse* resp) {
  if (auto fault = faults_->Before("BatchCommitWriteStreams")) return *fault;
  auto id = ParseTableResource(req->parent());
  if (!id.ok()) return ToGrpc(id.status());
  if (req->write_streams().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "write_streams must not be empty");
  }
  std::vector<std::string> names(req->write_streams().begin(), req->write_streams().end());
  int64_t now = NowMicros();
  auto errors = store_->BatchCommit(*id, names, now);
  if (!errors.ok()) {
    if (errors.status().code() == Status::Code::kNotFound) {
      return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::TABLE_NOT_FOUND,
                            req->parent(), errors.status().message());
    }
    return ToGrpc(errors.status());
  }
  if (errors->empty()) {
    *resp->mutable_commit_time() = TimeUtil::MicrosecondsToTimestamp(now);
  }
  for (const auto& e : *errors) {
    auto* se = resp->add_stream_errors();
    se->set_code(static_cast<storage::StorageError::StorageErrorCode>(e.code));
    se->set_entity(e.stream);
    se->set_error_message(e.message);
  }
  return grpc::Status::OK;
}

grpc::Status WriteService::FlushRows(grpc::ServerContext*, const storage::FlushRowsRequest* req,
                                     storage::FlushRowsResponse* resp) {
  if (auto fault = faults_->Before("FlushRows")) return *fault;
  std::string tail;
  auto id = ParseTableResource(req->write_stream(), &tail);
  if (!id.ok() || tail.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "invalid stream name '" + req->write_stream() + "'");
  }
  if (IsDefaultStreamName(tail)) {
    return StorageFailure(grpc::StatusCode::INVALID_ARGUMENT,
                          storage::StorageError::INVALID_STREAM_TYPE, req->write_stream(),
                          "FlushRows is not supported on the _default stream");
  }
  if (!req->has_offset() || req->offset().value() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "FlushRows needs a non-negative offset");
  }
  bool out_of_range = false;
  auto flushed = store_->FlushRows(req->write_stream(), req->offset().value(), &out_of_range);
  if (!flushed.ok()) {
    if (out_of_range) {
      return StorageFailure(grpc::StatusCode::OUT_OF_RANGE,
                            storage::StorageError::OFFSET_OUT_OF_RANGE, req->write_stream(),
                            flushed.status().message());
    }
    if (flushed.status().code() == Status::Code::kNotFound) {
      return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::STREAM_NOT_FOUND,
                            req->write_stream(), flushed.status().message());
    }
    if (flushed.status().code() == Status::Code::kInvalidArgument) {
      return StorageFailure(grpc::StatusCode::INVALID_ARGUMENT,
                            storage::StorageError::INVALID_STREAM_TYPE, req->write_stream(),
                            flushed.status().message());
    }
    return ToGrpc(flushed.status());
  }
  resp->set_offset(*flushed);
  return grpc::Status::OK;
}

grpc::Status WriteService::AppendRows(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<storage::AppendRowsResponse, storage::AppendRowsRequest>* stream) {
  std::map<std::string, Connection> destinations;  // by write_stream
  Connection* conn = nullptr;                      // the current destination
  storage::AppendRowsRequest req;
  int requests = 0;
  while (!ctx->IsCancelled() && stream->Read(&req)) {
    ++requests;
    int drop_after = faults_->drop_stream_after();
    if (drop_after > 0 && requests > drop_after) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "Connection dropped by bq-emulator fault injection after " +
                              std::to_string(drop_after) + " requests");
    }
    if (auto fault = faults_->Before("AppendRows")) return *fault;

    // The first request names the stream; later ones repeat it or leave it
    // empty. Like BigQuery, a connection on a _default stream may switch to
    // the _default stream of another table (multiplexing); each destination
    // keeps its own writer schema.
    bool switching = conn && !req.write_stream().empty() && req.write_stream() != conn->stream_name;
    if (!conn || switching) {
      if (req.write_stream().empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "write_stream must be set on the first request of a connection");
      }
      std::string tail;
      auto id = ParseTableResource(req.write_stream(), &tail);
      if (!id.ok() || tail.empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "invalid write_stream '" + req.write_stream() +
                                "': expected projects/P/datasets/D/tables/T/streams/S");
      }
      if (switching && !(conn->is_default && IsDefaultStreamName(tail))) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "write_stream changed within a connection: " + req.write_stream() +
                                " after " + conn->stream_name +
                                " (only _default streams may share a connection)");
      }
      auto it = destinations.find(req.write_stream());
      if (it == destinations.end()) {
        auto table = store_->GetTable(*id);
        if (!table.ok()) {
          return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::TABLE_NOT_FOUND,
                                req.write_stream(), table.status().message());
        }
        Connection fresh;
        fresh.is_default = IsDefaultStreamName(tail);
        if (!fresh.is_default) {
          auto st = store_->GetStream(req.write_stream());
          if (!st.ok() || st->table_id != table->id) {
            return StorageFailure(grpc::StatusCode::NOT_FOUND,
                                  storage::StorageError::STREAM_NOT_FOUND, req.write_stream(),
                                  "Requested entity was not found. Entity: " + req.write_stream());
          }
        }
        fresh.stream_name = req.write_stream();
        fresh.table = std::move(*table);
        fresh.schema_version_sent = fresh.table.schema_version;
        it = destinations.emplace(req.write_stream(), std::move(fresh)).first;
      }
      conn = &it->second;
    }

    storage::AppendRowsResponse resp;
    resp.set_write_stream(conn->stream_name);
    auto respond = [&]() { return stream->Write(resp); };
    const std::string& entity = conn->stream_name;

    if (static_cast<int64_t>(req.ByteSizeLong()) > kMaxAppendRequestBytes) {
      SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT,
               "AppendRows request too large: " + std::to_string(req.ByteSizeLong()) +
                   " bytes, limit " + std::to_string(kMaxAppendRequestBytes) +
                   ". Entity: " + entity);
      if (!respond()) break;
      continue;
    }
    if (req.has_arrow_rows()) {
      SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT,
               "bq-emulator accepts protobuf rows only (arrow_rows given). Entity: " + entity);
      if (!respond()) break;
      continue;
    }
    if (req.proto_rows().has_writer_schema()) {
      // Bind against the table as it is now (a writer that re-sends its schema
      // after a column was added sees the new column).
      auto table = store_->GetTable(conn->table.ref);
      if (!table.ok()) {
        return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::TABLE_NOT_FOUND,
                              entity, table.status().message());
      }
      conn->table = std::move(*table);
      SchemaError error;
      conn->writer = WriterSchema::Bind(req.proto_rows().writer_schema().proto_descriptor(),
                                        conn->table.schema, conn->table.ref.Dotted(), &error);
      if (!conn->writer) {
        SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT, error.message + ". Entity: " + entity,
                 error.extra_fields ? storage::StorageError::SCHEMA_MISMATCH_EXTRA_FIELDS
                                    : storage::StorageError::STORAGE_ERROR_CODE_UNSPECIFIED,
                 entity);
        if (!respond()) break;
        continue;
      }
    }
    if (!conn->writer) {
      SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT,
               "The first request of a connection must carry proto_rows.writer_schema. Entity: " +
                   entity);
      if (!respond()) break;
      continue;
    }
    if (conn->is_default && req.has_offset()) {
      SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT,
               "Offsets are not supported on the _default stream. Entity: " + entity);
      if (!respond()) break;
      continue;
    }
    bool cdc = conn->writer->has_change_type();
    if (cdc && !conn->is_default) {
      SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT,
               "_CHANGE_TYPE is only supported on the _default stream. Entity: " + entity);
      if (!respond()) break;
      continue;
    }
    if (cdc && conn->writer->table().primary_key.empty()) {
      SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT,
               "_CHANGE_TYPE requires a table with a primary key; " + conn->table.ref.Dotted() +
                   " has none. Entity: " + entity);
      if (!respond()) break;
      continue;
    }

    // Validate every row; any bad row fails the whole request. Without
    // storage the rows are only validated (same checks, same messages), not
    // built.
    std::vector<DecodedRow> rows;
    const auto& serialized = req.proto_rows().rows().serialized_rows();
    if (options_.store_rows) rows.reserve(static_cast<size_t>(serialized.size()));
    for (int i = 0; i < serialized.size(); ++i) {
      Status problem;
      if (options_.store_rows) {
        auto row = conn->writer->DecodeRow(serialized[i]);
        if (row.ok()) rows.push_back(std::move(*row));
        problem = row.status();
      } else {
        problem = conn->writer->ValidateRow(serialized[i]);
      }
      if (!problem.ok()) {
        auto* re = resp.add_row_errors();
        re->set_index(i);
        re->set_code(storage::RowError::FIELDS_ERROR);
        re->set_message(problem.message());
      }
    }
    if (resp.row_errors_size() > 0) {
      SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT,
               "Errors found while processing rows. Please refer to the row_errors field for "
               "details. The list may not be complete because of the size limitations. Entity: " +
                   entity);
      if (!respond()) break;
      continue;
    }

    // Every row is valid here; without storage `rows` is empty.
    const int64_t row_count = serialized.size();
    std::optional<int64_t> offset;
    if (req.has_offset()) offset = req.offset().value();
    if (conn->is_default) {
      if (options_.store_rows) {
        Status st = store_->AppendToDefault(conn->table, rows);
        if (!st.ok()) {
          if (st.code() == Status::Code::kNotFound) {
            return StorageFailure(grpc::StatusCode::NOT_FOUND,
                                  storage::StorageError::TABLE_NOT_FOUND, entity, st.message());
          }
          SetError(&resp, grpc::StatusCode::INTERNAL, st.ToString());
          if (!respond()) break;
          continue;
        }
      }
      resp.mutable_append_result();
    } else {
      auto result = store_->AppendToStream(conn->stream_name, offset, rows, row_count);
      if (!result.ok()) {
        SetError(&resp, grpc::StatusCode::INTERNAL, result.status().ToString());
        if (!respond()) break;
        continue;
      }
      std::string expected = std::to_string(result->stream_rows);
      std::string got = offset ? std::to_string(*offset) : "none";
      switch (result->outcome) {
        case AppendOutcome::kOk:
          resp.mutable_append_result()->mutable_offset()->set_value(result->first_offset);
          break;
        case AppendOutcome::kOffsetAlreadyExists:
          SetError(&resp, grpc::StatusCode::ALREADY_EXISTS,
                   "The offset is within stream, expected offset " + expected + ", received " +
                       got + ". Entity: " + entity,
                   storage::StorageError::OFFSET_ALREADY_EXISTS, entity);
          break;
        case AppendOutcome::kOffsetOutOfRange:
          SetError(&resp, grpc::StatusCode::OUT_OF_RANGE,
                   "The offset is beyond stream, expected offset " + expected + ", received " +
                       got + ". Entity: " + entity,
                   storage::StorageError::OFFSET_OUT_OF_RANGE, entity);
          break;
        case AppendOutcome::kStreamNotOpen:
          SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT,
                   "Stream is closed (finalized or committed). Entity: " + entity,
                   storage::StorageError::STREAM_FINALIZED, entity);
          break;
        case AppendOutcome::kStreamNotFound:
          return StorageFailure(grpc::StatusCode::NOT_FOUND,
                                storage::StorageError::STREAM_NOT_FOUND, entity,
                                "Requested entity was not found. Entity: " + entity);
        case AppendOutcome::kTableNotFound:
          return StorageFailure(grpc::StatusCode::NOT_FOUND, storage::StorageError::TABLE_NOT_FOUND,
                                entity, "Table of the stream was deleted. Entity: " + entity);
      }
    }
    if (resp.has_append_result()) {
      rows_appended_ += row_count;
      ++requests_appended_;
      // Tell the writer once per change that the table gained columns.
      auto version = store_->SchemaVersion(conn->table.id);
      if (version.ok() && *version > conn->schema_version_sent) {
        auto table = store_->GetTable(conn->table.ref);
        if (table.ok()) {
          *resp.mutable_updated_schema() = ToStorageSchema(table->schema);
          conn->schema_version_sent = table->schema_version;
        }
      }
    }
    if (!respond()) break;
  }
  return grpc::Status::OK;
}

}  // namespace pg2bq::bqemu
