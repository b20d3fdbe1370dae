#include "spool/metrics.h"

namespace pg2bq::spool {
namespace {
void Line(std::string* out, const char* name, const char* type, const char* help,
          std::uint64_t value) {
  *out += std::string("# HELP pg2bq_spool_") + name + " " + help + "\n";
  *out += std::string("# TYPE pg2bq_spool_") + name + " " + type + "\n";
  *out += std::string("pg2bq_spool_") + name + " " + std::to_string(value) + "\n";
}
}  // namespace

std::string SpoolMetrics::ToPrometheus() const {
  std::string o;
  Line(&o, "records_appended_total", "counter", "Records appended.", records_appended);
  Line(&o, "frame_bytes_appended_total", "counter", "On-disk bytes appended.",
       frame_bytes_appended);
  Line(&o, "raw_payload_bytes_appended_total", "counter", "Payload bytes before compression.",
       raw_payload_bytes_appended);
  Line(&o, "fsyncs_total", "counter", "fdatasync calls on segments.", fsyncs);
  Line(&o, "bytes_on_disk", "gauge", "Bytes in segments and spill files.", bytes_on_disk);
  Line(&o, "segments", "gauge", "Segment files in use.", segments);
  Line(&o, "durable_lsn", "gauge", "Highest commit LSN whose records are durable.", durable_lsn);
  Line(&o, "budget_blocked", "gauge", "1 while appends wait for the disk budget.", budget_blocked);
  Line(&o, "budget_waits_total", "counter", "Appends that waited for the disk budget.",
       budget_waits_total);
  Line(&o, "budget_wait_microseconds_total", "counter", "Time appends waited for the budget.",
       budget_wait_micros_total);
  Line(&o, "budget_timeouts_total", "counter", "Appends that gave up waiting for the budget.",
       budget_timeouts_total);
  Line(&o, "spill_bytes", "gauge", "Bytes of streamed in-progress transactions on disk.",
       spill_bytes);
  Line(&o, "streamed_txns_committed_total", "counter", "Streamed transactions committed.",
       streamed_txns_committed);
  Line(&o, "streamed_txns_aborted_total", "counter", "Streamed transactions aborted.",
       streamed_txns_aborted);
  Line(&o, "subtxns_aborted_total", "counter", "Streamed subtransactions aborted.",
       subtxns_aborted);
  return o;
}

}  // namespace pg2bq::spool
