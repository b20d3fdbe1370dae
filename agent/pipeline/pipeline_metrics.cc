#include "agent/pipeline/pipeline_metrics.h"

namespace pg2bq::agent::pipeline {

Result<PipelineMetrics> PipelineMetrics::Register(MetricsRegistry* r) {
  PipelineMetrics m;
  auto counter = [&](Counter** out, const char* name, const char* help) -> Status {
    PG2BQ_ASSIGN_OR_RETURN(auto* family, r->AddCounter(name, help));
    *out = family->Get();
    return Status::Ok();
  };
  auto gauge = [&](Gauge** out, const char* name, const char* help) -> Status {
    PG2BQ_ASSIGN_OR_RETURN(auto* family, r->AddGauge(name, help));
    *out = family->Get();
    return Status::Ok();
  };
  PG2BQ_RETURN_IF_ERROR(counter(&m.changes_in, "pg2bq_changes_in_total",
                                "Row changes decoded for replicated tables"));
  PG2BQ_RETURN_IF_ERROR(
      counter(&m.rows_spooled, "pg2bq_rows_spooled_total", "Encoded rows appended to the spool"));
  PG2BQ_RETURN_IF_ERROR(counter(&m.transactions_in, "pg2bq_transactions_in_total",
                                "Committed transactions received"));
  PG2BQ_RETURN_IF_ERROR(counter(&m.transactions_skipped, "pg2bq_transactions_skipped_total",
                                "Transactions dropped because the spool already held them"));
  PG2BQ_RETURN_IF_ERROR(counter(&m.rows_flushed, "pg2bq_rows_flushed_total",
                                "Rows acknowledged by BigQuery (or dead-lettered)"));
  PG2BQ_RETURN_IF_ERROR(
      counter(&m.batches_flushed, "pg2bq_batches_flushed_total", "Spool records flushed"));
  PG2BQ_RETURN_IF_ERROR(counter(&m.flush_retries, "pg2bq_flush_retries_total",
                                "Failed BigQuery calls that were retried"));
  PG2BQ_RETURN_IF_ERROR(
      counter(&m.dead_letters, "pg2bq_dead_letters_total", "Rows written to the dead-letter file"));
  PG2BQ_RETURN_IF_ERROR(counter(&m.toast_lookups, "pg2bq_toast_lookups_total",
                                "Updates whose unchanged TOAST values were read from the source"));
  PG2BQ_RETURN_IF_ERROR(
      counter(&m.truncates, "pg2bq_truncates_total", "TRUNCATEs applied to the target"));
  PG2BQ_RETURN_IF_ERROR(
      gauge(&m.received_lsn, "pg2bq_received_lsn", "Highest server WAL position received"));
  PG2BQ_RETURN_IF_ERROR(gauge(&m.durable_lsn, "pg2bq_spool_durable_lsn",
                              "Spool durable LSN (the flush position confirmed to PostgreSQL)"));
  PG2BQ_RETURN_IF_ERROR(
      gauge(&m.acked_lsn, "pg2bq_acked_lsn", "Highest commit LSN acknowledged by BigQuery"));
  PG2BQ_RETURN_IF_ERROR(gauge(&m.lag_bytes, "pg2bq_lag_bytes",
                              "WAL bytes between the received and the acknowledged position"));
  PG2BQ_RETURN_IF_ERROR(gauge(&m.spool_paused, "pg2bq_spool_budget_paused",
                              "1 while reading is paused because the spool budget is full"));
  PG2BQ_RETURN_IF_ERROR(gauge(&m.held_paused, "pg2bq_snapshot_held_budget_paused",
                              "1 while reading is paused because the changes held for tables "
                              "being copied reached snapshot.held_budget"));
  PG2BQ_ASSIGN_OR_RETURN(
      auto* h, r->AddHistogram("pg2bq_append_seconds", "Duration of one BigQuery append of a batch",
                               {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
  m.append_seconds = h->Get();
  PG2BQ_ASSIGN_OR_RETURN(m.snapshot_rows,
                         r->AddGauge("pg2bq_snapshot_rows_copied",
                                     "Rows of a table's snapshot copy in the spool", {"table"}));
  PG2BQ_ASSIGN_OR_RETURN(
      m.snapshot_rows_estimated,
      r->AddGauge("pg2bq_snapshot_rows_estimated",
                  "Planner estimate (reltuples) of a copied table's rows; -1 unknown", {"table"}));
  PG2BQ_ASSIGN_OR_RETURN(
      m.snapshot_bytes,
      r->AddGauge("pg2bq_snapshot_bytes_copied",
                  "Binary COPY bytes received for a table's copy (this run)", {"table"}));
  PG2BQ_ASSIGN_OR_RETURN(
      m.snapshot_rows_per_second,
      r->AddGauge("pg2bq_snapshot_rows_per_second", "Copy rate of a table (this run)", {"table"}));
  PG2BQ_ASSIGN_OR_RETURN(
      m.snapshot_eta_seconds,
      r->AddGauge("pg2bq_snapshot_eta_seconds",
                  "Estimated seconds until a table's copy ends; -1 unknown, 0 finished",
                  {"table"}));
  PG2BQ_RETURN_IF_ERROR(gauge(&m.snapshot_tables_copying, "pg2bq_snapshot_tables_copying",
                              "Tables being copied now"));
  PG2BQ_RETURN_IF_ERROR(counter(&m.snapshot_tables_copied, "pg2bq_snapshot_tables_copied_total",
                                "Table copies finished (every row durable in the spool)"));
  return m;
}

}  // namespace pg2bq::agent::pipeline
