// Loads the pgoutput fixtures captured from a real PostgreSQL 15 by
// capture_fixtures.sh, and a ChangeHandler that renders everything it is
// given as text (the way `pg2bq stream` prints it), for comparisons.
#pragma once

#include <string>
#include <vector>

#include "common/lsn.h"
#include "decoder/pg_value.h"
#include "decoder/pgoutput_decoder.h"

namespace pg2bq::testing {

struct FixtureMessage {
  Lsn lsn = 0;
  std::string payload;
};

// fixtures/<name>; fails the calling test (ADD_FAILURE) when missing.
std::vector<FixtureMessage> LoadFixture(const std::string& name);
// Registers the types listed in fixtures/types.txt (enums, domains, arrays).
void RegisterFixtureTypes(PgTypeRegistry* types);

std::string Hex(std::string_view bytes);
std::string Unhex(std::string_view hex);

// Records every callback as one line of text; values are formatted with
// AppendPgText. Columns of kUnknown type are printed as "<unknown type>"
// when binary (they cannot be decoded) so text/binary runs stay comparable.
class RecordingHandler : public ChangeHandler {
 public:
  explicit RecordingHandler(PgoutputDecoder** decoder) : decoder_(decoder) {}
  Status OnChange(const Change& c) override;
  Status OnBegin(const TransactionBegin& b) override;
  Status OnCommit(const TransactionEnd& e) override;
  Status OnRelation(const Relation& rel, bool schema_changed) override;
  Status OnStreamStart(Xid xid, bool first) override;
  Status OnStreamStop() override;
  Status OnStreamAbort(const StreamAbort& a) override;
  Status OnOrigin(Lsn lsn, std::string_view name) override;

  std::vector<std::string> lines;
  std::vector<Change> changes_meta;  // copies without tuple pointers
  int unknown_binary_columns = 0;
  // Typed values of every decoded column, by change then column.
  std::vector<std::vector<PgValue>> values;
  std::vector<std::vector<PgType>> value_types;

 private:
  Status AppendTuple(const Relation& rel, const TupleData& t, std::string* line,
                     std::vector<PgValue>* vals, std::vector<PgType>* types);
  PgoutputDecoder** decoder_;
};

}  // namespace pg2bq::testing
