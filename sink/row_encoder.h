// Encodes one PostgreSQL row change into BigQuery row messages (protobuf wire bytes) for a
// table descriptor, applying the value policies (docs/TYPE_MAPPING.md) and the change rules
// (docs/SINK.md): UPDATE that moves the key -> DELETE old key, then UPSERT new key; unchanged
// TOAST values are never sent as NULL.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "decoder/pg_type.h"
#include "decoder/pg_value.h"
#include "sink/change_sequence.h"
#include "sink/encode_policies.h"
#include "sink/encoded_batch.h"
#include "sink/pg_array_text.h"
#include "sink/source_relation.h"
#include "sink/table_descriptor.h"

namespace pg2bq::sink {

struct EncodeIssue {
  std::string column;  // PostgreSQL name
  std::string what;    // "numeric NaN sent as NULL (numeric_special=null)"
  std::string value;   // the original text (cut at 256 bytes)
  bool lossy = false;  // the value BigQuery holds differs from PostgreSQL's
};

struct EncodeResult {
  enum class Outcome : std::uint8_t {
    kEncoded,             // rows appended to the batch
    kRejected,            // nothing appended; `reason` says why (dead-letter it)
    kNeedsCurrentValues,  // unchanged TOAST values cannot be resolved from the change itself
  };
  Outcome outcome = Outcome::kEncoded;
  std::string reason;
  std::vector<EncodeIssue> issues;
  std::vector<std::size_t> unresolved_columns;  // source column indexes (kNeedsCurrentValues)
  int rows_appended = 0;
};

class RowEncoder {
 public:
  RowEncoder(std::shared_ptr<const TableDescriptor> descriptor, EncodePolicies policies);

  // Appends the change's row(s) to *batch (which must be for this descriptor's version).
  // On kRejected / kNeedsCurrentValues, *batch is unchanged.
  //
  // kNeedsCurrentValues: an UPDATE carries unchanged TOASTed columns ('u') and no full old row
  // supplies them. The caller reads the current values of those columns by key from the
  // source and calls Encode again with them filled in (docs/SINK.md explains why that is
  // correct); if the key no longer exists the change can be skipped.
  EncodeResult Encode(const SourceChange& change, EncodedBatch* batch);

  const TableDescriptor& descriptor() const { return *descriptor_; }

 private:
  enum class ValueOutcome : std::uint8_t { kWritten, kNull, kReject };

  bool EncodeRow(const SourceChange& change, std::span<const SourceValue> values, RowOp op,
                 bool keys_only, EncodedBatch* batch, EncodeResult* result);
  ValueOutcome EncodeColumn(std::size_t index, const SourceValue& value, EncodeResult* result);
  ValueOutcome EncodeScalar(const DescriptorColumn& col, const PgValue& value,
                            EncodeResult* result);
  ValueOutcome EncodeRepeated(const DescriptorColumn& col, const PgValue& value,
                              EncodeResult* result);
  ValueOutcome EncodeJsonArray(const DescriptorColumn& col, std::string_view text,
                               EncodeResult* result);
  // The row's _CHANGE_SEQUENCE_NUMBER text; every row of a copy has the same one.
  std::string_view ChangeSequenceOf(const SourceChange& change);
  ValueOutcome Apply(ValuePolicy policy, const DescriptorColumn& col, std::string_view text,
                     std::string what, EncodeResult* result);

  std::shared_ptr<const TableDescriptor> descriptor_;
  EncodePolicies policies_;
  std::string row_;      // the row message being built
  std::string packed_;   // packed repeated values
  std::string scratch_;  // decoded bytea, money, hstore JSON, formatted literals
  std::string decimal_;  // canonical NUMERIC/BIGNUMERIC text
  char sequence_[kChangeSequenceLength];
  Lsn sequence_lsn_ = 0;
  std::uint64_t sequence_ordinal_ = 0;
  bool sequence_valid_ = false;
  pgtext::ParsedArray array_;
  // Where the current scalar goes: row_ (field with tag) or packed_ (packed element).
  std::string* target_ = nullptr;
  bool packed_mode_ = false;
  std::uint32_t field_ = 0;
  std::vector<SourceValue> merged_;
  std::vector<PgType> types_;  // per column, for the decoder
  PgValue value_;              // the column being encoded (decoded by the decoder)
  std::string json_text_;      // new values with unchanged TOAST filled from old row
};

}  // namespace pg2bq::sink
