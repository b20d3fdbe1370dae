// Rows encoded for one table and one descriptor version, laid out as a serialized
// `ProtoRows` message (each row is field 1, length-delimited), so a request can carry any
// contiguous run of rows by copying bytes, without re-encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/lsn.h"

namespace pg2bq::sink {

enum class RowOp : std::uint8_t { kUpsert, kDelete, kInsert, kUpdate };

struct EncodedRowInfo {
  std::uint32_t offset = 0;  // start of this row's ProtoRows entry (the tag byte)
  std::uint32_t size = 0;    // entry size including tag and length
  Lsn commit_lsn = 0;
  std::uint64_t ordinal = 0;
  RowOp op = RowOp::kUpsert;
};

struct EncodedBatch {
  std::uint32_t descriptor_version = 0;
  std::string proto_rows;  // serialized google.cloud.bigquery.storage.v1.ProtoRows
  std::vector<EncodedRowInfo> rows;

  void Clear() {
    proto_rows.clear();
    rows.clear();
  }
  std::string_view RowEntry(std::size_t i) const {
    return std::string_view(proto_rows).substr(rows[i].offset, rows[i].size);
  }
  // The row message itself (without the ProtoRows tag/length).
  std::string_view RowMessage(std::size_t i) const;
};

std::string_view RowOpName(RowOp op);

}  // namespace pg2bq::sink
