// google.cloud.bigquery.storage.v1.BigQueryWrite, served from a TableStore.
#pragma once

#include <atomic>
#include <cstdint>

#include "google/cloud/bigquery/storage/v1/storage.grpc.pb.h"
#include "tests/bq_emulator/fault_injector.h"
#include "tests/bq_emulator/table_store.h"

namespace pg2bq::bqemu {

// BigQuery's AppendRows request limit (10 MB); larger requests are refused.
inline constexpr int64_t kMaxAppendRequestBytes = 10 * 1000 * 1000;

class WriteService final : public google::cloud::bigquery::storage::v1::BigQueryWrite::Service {
 public:
  struct Options {
    bool store_rows = true;  // false: validate and acknowledge, keep nothing (benchmarks)
  };
  WriteService(TableStore* store, FaultInjector* faults, Options options)
      : store_(store), faults_(faults), options_(options) {}

  grpc::Status CreateWriteStream(
      grpc::ServerContext* ctx,
      const google::cloud::bigquery::storage::v1::CreateWriteStreamRequest* req,
      google::cloud::bigquery::storage::v1::WriteStream* resp) override;
  grpc::Status AppendRows(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<google::cloud::bigquery::storage::v1::AppendRowsResponse,
                               google::cloud::bigquery::storage::v1::AppendRowsRequest>* stream)
      override;
  grpc::Status GetWriteStream(
      grpc::ServerContext* ctx,
      const google::cloud::bigquery::storage::v1::GetWriteStreamRequest* req,
      google::cloud::bigquery::storage::v1::WriteStream* resp) override;
  grpc::Status FinalizeWriteStream(
      grpc::ServerContext* ctx,
      const google::cloud::bigquery::storage::v1::FinalizeWriteStreamRequest* req,
      google::cloud::bigquery::storage::v1::FinalizeWriteStreamResponse* resp) override;
  grpc::Status BatchCommitWriteStreams(
      grpc::ServerContext* ctx,
      const google::cloud::bigquery::storage::v1::BatchCommitWriteStreamsRequest* req,
      google::cloud::bigquery::storage::v1::BatchCommitWriteStreamsResponse* resp) override;
  grpc::Status FlushRows(grpc::ServerContext* ctx,
                         const google::cloud::bigquery::storage::v1::FlushRowsRequest* req,
                         google::cloud::bigquery::storage::v1::FlushRowsResponse* resp) override;

  // Totals since start, for the admin endpoint and benchmarks.
  int64_t rows_appended() const { return rows_appended_.load(); }
  int64_t requests_appended() const { return requests_appended_.load(); }

 private:
  TableStore* store_;
  FaultInjector* faults_;
  Options options_;
  std::atomic<int64_t> rows_appended_{0};
  std::atomic<int64_t> requests_appended_{0};
};

}  // namespace pg2bq::bqemu
