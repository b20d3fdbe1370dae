// `pg2bq spool inspect DIR` and `pg2bq spool verify DIR`: offline views of a spool
// directory. Both only read; neither truncates nor quarantines (SpoolWriter::Open
// does that). Safe to run next to a live agent.
#include <dirent.h>

// GCC 12 reports a false -Wnull-dereference inside Boost's typed_value<std::string>
// once it is inlined here; the warning's location is the Boost header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/program_options.hpp>
#pragma GCC diagnostic pop
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/lsn.h"
#include "spool/file_util.h"
#include "spool/format.h"
#include "spool/scan.h"
#include "spool/spool_reader.h"

namespace pg2bq::agent {
namespace {

namespace po = boost::program_options;
using spool::RecordType;

constexpr int kExitOk = 0;
constexpr int kExitDamaged = 1;
constexpr int kExitUsage = 2;  // also: the directory cannot be read at all

std::string Lsns(Lsn lo, Lsn hi) {
  if (lo == kInvalidLsn && hi == kInvalidLsn) return "-";
  return FormatLsn(lo) + ".." + FormatLsn(hi);
}

std::string Ratio(std::uint64_t raw, std::uint64_t stored) {
  if (stored == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", static_cast<double>(raw) / static_cast<double>(stored));
  return buf;
}

std::vector<std::string> QuarantinedFiles(const std::string& dir) {
  std::vector<std::string> out;
  const std::string q = spool::JoinPath(dir, spool::kQuarantineDir);
  DIR* d = ::opendir(q.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(spool::JoinPath(q, n));
  }
  ::closedir(d);
  return out;
}

void PrintSummary(const std::string& dir, const spool::ScanReport& r) {
  std::printf("spool %s (format version %u)\n", dir.c_str(), spool::kFormatVersion);
  if (r.checkpoint) {
    std::printf("checkpoint: %s, acknowledged through LSN %s\n",
                r.checkpoint->position.ToString().c_str(),
                FormatLsn(r.checkpoint->acked_lsn).c_str());
  } else {
    std::printf("checkpoint: none (nothing acknowledged yet)\n");
  }
  std::printf("\n%-22s %12s %8s %10s %8s %5s %7s %5s  %-27s %12s %12s %7s\n", "segment", "bytes",
              "records", "rows", "batches", "desc", "commits", "snap", "commit LSN range",
              "raw payload", "stored", "ratio");
  std::uint64_t bytes = 0, records = 0, rows = 0, raw = 0, stored = 0;
  for (const auto& s : r.segments) {
    std::printf("%-22s %12" PRIu64 " %8" PRIu64 " %10" PRIu64 " %8" PRIu64 " %5" PRIu64 " %7" PRIu64
                " %5" PRIu64 "  %-27s %12" PRIu64 " %12" PRIu64 " %7s\n",
                spool::SegmentFileName(s.sequence).c_str(), s.file_size, s.records, s.rows,
                s.records_by_type[static_cast<int>(RecordType::kRowBatch)],
                s.records_by_type[static_cast<int>(RecordType::kDescriptorVersion)],
                s.records_by_type[static_cast<int>(RecordType::kTxnCommit)],
                s.records_by_type[static_cast<int>(RecordType::kSnapshotMarker)],
                Lsns(s.min_lsn, s.max_lsn).c_str(), s.raw_payload_bytes, s.stored_payload_bytes,
                Ratio(s.raw_payload_bytes, s.stored_payload_bytes).c_str());
    bytes += s.file_size;
    records += s.records;
    rows += s.rows;
    raw += s.raw_payload_bytes;
    stored += s.stored_payload_bytes;
  }
  std::printf("\ntotal: %zu segment(s), %" PRIu64 " bytes on disk, %" PRIu64 " records, %" PRIu64
              " rows\n",
              r.segments.size(), bytes, records, rows);
  std::printf("compression: payload %" PRIu64 " -> %" PRIu64
              " bytes (%s); raw payload / disk "
              "bytes %s\n",
              raw, stored, Ratio(raw, stored).c_str(), Ratio(raw, bytes).c_str());
  std::printf("end: %s\ndurable LSN: %s\n", r.end.ToString().c_str(),
              FormatLsn(r.durable_lsn).c_str());
  if (!r.stale_segments.empty()) {
    std::printf("stale: %zu segment(s) below the checkpoint (deleted on next open)\n",
                r.stale_segments.size());
  }
  if (!r.torn_tail.empty()) {
    std::printf("torn tail: %s (truncated on next open; or a write in progress)\n",
                r.torn_tail.c_str());
  }
  if (!r.incomplete_streamed_txn.empty()) {
    std::printf("incomplete: %s (dropped on next open)\n", r.incomplete_streamed_txn.c_str());
  }
}

int PrintRecords(const std::string& dir, spool::Position from) {
  auto reader = spool::SpoolReader::Open(dir, from);
  if (!reader.ok()) {
    std::fprintf(stderr, "pg2bq spool: %s\n", reader.status().ToString().c_str());
    return kExitDamaged;
  }
  std::printf("\n%-40s %-15s %8s %8s %8s  %s\n", "position", "type", "table", "rows", "bytes",
              "LSNs");
  for (;;) {
    auto e = (*reader)->Next();
    if (!e.ok()) {
      std::fprintf(stderr, "pg2bq spool: %s\n", e.status().ToString().c_str());
      return kExitDamaged;
    }
    if (!e->has_value()) break;
    const auto& entry = **e;
    std::string lsns;
    std::uint32_t table = 0, nrows = 0;
    if (auto* b = std::get_if<spool::RowBatch>(&entry.record)) {
      table = b->table_id;
      nrows = b->row_count;
      lsns = "commits " + Lsns(b->first_commit_lsn, b->last_commit_lsn) + " complete-through " +
             FormatLsn(b->complete_through_lsn) +
             (b->xid != 0 ? " xid " + std::to_string(b->xid) : std::string());
    } else if (auto* d = std::get_if<spool::DescriptorVersion>(&entry.record)) {
      table = d->table_id;
      lsns = "version " + std::to_string(d->version) + " at " + FormatLsn(d->lsn);
    } else if (auto* c = std::get_if<spool::TxnCommit>(&entry.record)) {
      lsns = "xid " + std::to_string(c->xid) + " commit " + FormatLsn(c->commit_lsn);
    } else if (auto* s = std::get_if<spool::SnapshotMarker>(&entry.record)) {
      table = s->table_id;
      lsns = std::string(s->kind == spool::SnapshotMarker::Kind::kBegin ? "begin" : "end") +
             " at " + FormatLsn(s->snapshot_lsn);
    }
    std::printf("%-40s %-15s %8u %8u %8" PRIu64 "  %s\n", entry.position.ToString().c_str(),
                spool::RecordTypeName(spool::TypeOf(entry.record)), table, nrows,
                entry.stored_bytes, lsns.c_str());
  }
  return kExitOk;
}

int Usage(const po::options_description& opts, std::FILE* out) {
  std::ostringstream s;
  s << opts;
  std::fprintf(out,
               "Usage: pg2bq spool inspect DIR [--records]\n"
               "       pg2bq spool verify DIR\n\n"
               "  inspect  segments, record counts, LSN ranges, sizes and compression ratio\n"
               "  verify   checks every segment header and record checksum and decompresses\n"
               "           every payload; exit status 1 on damage, 0 when intact\n"
               "Both only read; a live agent may keep writing.\n\n%s",
               s.str().c_str());
  return out == stdout ? kExitOk : kExitUsage;
}

}  // namespace

int RunSpoolCommand(int argc, char** argv) {
  std::string verb, dir;
  po::options_description opts("Options");
  opts.add_options()("help,h", "show this help")(
      "records", "inspect: also list every record from the checkpoint (or the start)");
  po::options_description hidden;
  hidden.add_options()("verb", po::value(&verb), "inspect | verify")("dir", po::value(&dir),
                                                                     "spool directory");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("verb", 1).add("dir", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "pg2bq spool: %s\n\n", e.what());
    return Usage(opts, stderr);
  }
  if (vm.count("help")) return Usage(opts, stdout);
  if (verb.empty() || dir.empty()) return Usage(opts, stderr);
  if (verb != "inspect" && verb != "verify") {
    std::fprintf(stderr, "pg2bq spool: unknown verb '%s'\n\n", verb.c_str());
    return Usage(opts, stderr);
  }

  spool::ScanOptions scan;
  scan.decode_payloads = verb == "verify";
  auto report = spool::ScanSpool(dir, scan);
  const auto quarantined = QuarantinedFiles(dir);
  if (!report.ok()) {
    const bool damaged = report.status().IsCorruption();
    std::fprintf(stderr, "pg2bq spool %s: %s%s\n", verb.c_str(), damaged ? "DAMAGED: " : "",
                 report.status().ToString().c_str());
    for (const auto& q : quarantined)
      std::fprintf(stderr, "quarantined: %s\n", q.c_str());
    return damaged ? kExitDamaged : kExitUsage;
  }
  if (verb == "inspect") {
    PrintSummary(dir, *report);
    for (const auto& q : quarantined)
      std::printf("quarantined: %s\n", q.c_str());
    if (vm.count("records")) {
      spool::Position from = report->checkpoint ? report->checkpoint->position : spool::Position{};
      return PrintRecords(dir, from);
    }
    return quarantined.empty() ? kExitOk : kExitDamaged;
  }
  std::uint64_t records = 0;
  for (const auto& s : report->segments)
    records += s.records;
  if (!quarantined.empty()) {
    for (const auto& q : quarantined)
      std::printf("quarantined: %s\n", q.c_str());
    std::printf(
        "pg2bq spool verify: DAMAGED: %zu quarantined file(s); the spool will not open "
        "until an operator restores or discards them\n",
        quarantined.size());
    return kExitDamaged;
  }
  std::printf("pg2bq spool verify: OK: %zu segment(s), %" PRIu64
              " records, every checksum and payload verified\n",
              report->segments.size(), records);
  if (!report->torn_tail.empty()) {
    std::printf("note: torn tail %s (truncated on next open)\n", report->torn_tail.c_str());
  }
  return kExitOk;
}

}  // namespace pg2bq::agent
