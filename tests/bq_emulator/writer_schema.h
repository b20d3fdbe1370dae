// The writer's row type of an AppendRows connection, bound to a table schema.
//
// BigQuery reads the DescriptorProto of the first request with proto2 rules
// (an absent field is NULL), maps its fields to columns by name
// (case-insensitively), refuses fields the table does not have and proto types
// that cannot hold the column's type, and then validates every row on its own:
// a bad value fails that row (row_errors), not the connection.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tests/bq_emulator/table_schema.h"

namespace pg2bq::bqemu {

inline constexpr const char* kChangeTypeField = "_CHANGE_TYPE";
inline constexpr const char* kChangeSequenceField = "_CHANGE_SEQUENCE_NUMBER";

// One row after validation: values keyed by the table's column names, in the
// emulator's stored form (see docs/EMULATOR.md), plus the CDC pseudo-columns.
struct DecodedRow {
  nlohmann::json values;  // object with every column (NULL as null, REPEATED as [])
  std::optional<std::string> change_type;      // "UPSERT" or "DELETE"
  std::optional<std::string> change_sequence;  // validated text
};

// Why a writer schema was refused; extra_fields maps to
// StorageError.SCHEMA_MISMATCH_EXTRA_FIELDS.
struct SchemaError {
  bool extra_fields = false;
  std::string message;
};

class WriterSchema {
 public:
  struct Binding {
    const google::protobuf::FieldDescriptor* field = nullptr;
    const Column* column = nullptr;
    std::vector<Binding> sub;  // STRUCT columns
    // For each column of the STRUCT, the index in `sub` of the field bound to
    // it, or -1.
    std::vector<int> sub_by_column;
  };

  // Builds the row type and binds it to `table`; the WriterSchema keeps a copy
  // of the table schema it was bound to. On refusal fills *error.
  static std::unique_ptr<WriterSchema> Bind(const google::protobuf::DescriptorProto& proto,
                                            const TableSchema& table, const std::string& table_name,
                                            SchemaError* error);

  bool has_change_type() const { return change_type_ != nullptr; }
  bool has_change_sequence() const { return change_sequence_ != nullptr; }
  const TableSchema& table() const { return table_; }

  // Parses and validates one serialized row; the error text is what BigQuery
  // would put in RowError.message. Besides the values, a row is refused for a
  // bad _CHANGE_TYPE or _CHANGE_SEQUENCE_NUMBER, a NULL primary key in a
  // change row, and a _CHANGE_SEQUENCE_NUMBER without a _CHANGE_TYPE. Not
  // thread-safe (one connection's rows).
  Result<DecodedRow> DecodeRow(std::string_view bytes) const;

  // DecodeRow's verdict and message, without building the row (no JSON
  // values, no normalized text): what --no-storage needs. Both hand every
  // value to the same checks. Not thread-safe, like DecodeRow.
  Status ValidateRow(std::string_view bytes) const;

  // ValidateRow's fast path: reads the row straight from the protobuf wire
  // format (no DynamicMessage, no reflection) and runs the same value checks.
  // True only when the row is certainly valid; false means "not sure" (a bad
  // value, anything unusual on the wire, or a writer schema with STRUCT, enum
  // or oneof fields), and ValidateRow then lets the full walk decide and name
  // the problem. Public for tests. Not thread-safe.
  bool WireRowIsValid(std::string_view bytes) const;

 private:
  WriterSchema() = default;

  void PrepareWirePath();

  // Parses `bytes` into scratch_ and checks the row; fills *row when not null.
  Status Walk(std::string_view bytes, DecodedRow* row) const;

  TableSchema table_;
  google::protobuf::DescriptorPool pool_;
  const google::protobuf::Descriptor* root_ = nullptr;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  std::vector<Binding> bindings_;
  std::vector<int> by_column_;     // per table column: index in bindings_ or -1
  std::vector<int> key_bindings_;  // per primary key column: index in bindings_ or -1
  const google::protobuf::FieldDescriptor* change_type_ = nullptr;
  const google::protobuf::FieldDescriptor* change_sequence_ = nullptr;
  mutable std::unique_ptr<google::protobuf::Message> scratch_;

  // The wire fast path: per field number, the index in bindings_ or one of
  // the kWire* slots below; the bindings that must be present (proto2
  // required fields, REQUIRED columns); which bindings a row had.
  static constexpr int kWireUnknown = -1;
  static constexpr int kWireChangeType = -2;
  static constexpr int kWireChangeSequence = -3;
  bool wire_eligible_ = false;
  std::vector<int> wire_slot_;
  std::vector<int> wire_required_;
  mutable std::vector<uint8_t> wire_seen_;
};

}  // namespace pg2bq::bqemu
