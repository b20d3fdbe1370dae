// libFuzzer target for the spool's record reader: arbitrary bytes as a segment
// file. Must never crash, hang, over-allocate or report success for damage:
//   1. in memory: ParseFrame/SummarizeFrame/DecodeFrame over the whole buffer;
//   2. on disk: the same bytes as segment 1 of a spool directory, through
//      ScanSpool (verify mode) and SpoolReader.
// Seeds: tests/fuzz/corpus/spool_record_reader_fuzz/ (real segment files).
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "spool/compression.h"
#include "spool/file_util.h"
#include "spool/format.h"
#include "spool/scan.h"
#include "spool/spool_reader.h"

namespace {

using namespace pg2bq::spool;  // NOLINT

void ParseInMemory(std::string_view data, Decompressor* d) {
  if (data.size() >= kSegmentHeaderSize) {
    (void)DecodeSegmentHeader(data.substr(0, kSegmentHeaderSize), "fuzz");
    data.remove_prefix(kSegmentHeaderSize);
  }
  while (!data.empty()) {
    FrameView f;
    FrameStatus st = ParseFrame(data, &f);
    if (st != FrameStatus::kOk) break;
    if (f.frame_size == 0 || f.frame_size > data.size()) abort();
    auto rec = DecodeFrame(f, d);
    if (rec.ok()) {
      // A decoded record re-encodes to a frame that parses back to the same type.
      std::string again;
      if (!EncodeFrame(*rec, nullptr, &again).ok()) abort();
      FrameView g;
      if (ParseFrame(again, &g) != FrameStatus::kOk || g.type != f.type) abort();
    }
    data.remove_prefix(f.frame_size);
  }
}

// A fresh directory per input, removed afterwards (libFuzzer exits with _Exit, so
// nothing registered with atexit would run).
void ParseOnDisk(std::string_view data) {
  char tmpl[] = "/tmp/pg2bq-spool-fuzz-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) abort();
  const std::string dir = tmpl;
  const std::string path = JoinPath(dir, SegmentFileName(1));
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) abort();
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) abort();
  std::fclose(f);
  ScanOptions o;
  o.decode_payloads = true;
  auto report = ScanSpool(dir, o);
  auto reader = SpoolReader::Open(dir, Position{});
  if (reader.ok()) {
    std::size_t n = 0;
    for (;;) {
      auto e = (*reader)->Next();
      if (!e.ok() || !e->has_value()) break;
      ++n;
    }
    // Both readers agree on how many intact records the file holds.
    if (report.ok() && report->segments.size() == 1 && report->segments[0].records != n) abort();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Decompressor decompressor;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ParseInMemory(bytes, &decompressor);
  ParseOnDisk(bytes);
  return 0;
}
