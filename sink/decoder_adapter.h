// The decoder's relations and tuples in the sink's terms (SourceRelation, SourceValue).
// Values stay views of the received bytes (text or binary); the row encoder decodes them
// with the decoder's DecodePgValueInto, so there is one interpreter of PostgreSQL values.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "decoder/pg_type.h"
#include "decoder/pgoutput_message.h"
#include "decoder/relation_cache.h"
#include "sink/source_relation.h"

namespace pg2bq::sink {

// Columns, type OIDs, typmods and key flags; domains, enums and extension types (citext,
// hstore) resolved through `types` (pgoutput Type messages and catalog registrations).
SourceRelation ToSourceRelation(const Relation& relation, const PgTypeRegistry& types);

// Converts tuples (views into the decoder's buffer; valid while it lives).
class TupleConverter {
 public:
  // Appends one SourceValue per column of `tuple` to *out (cleared first).
  Status Convert(const Relation& relation, const PgTypeRegistry& types, const TupleData& tuple,
                 std::vector<SourceValue>* out);
};

}  // namespace pg2bq::sink
