// The decoder's relations and tuples in the sink's terms (SourceRelation, SourceValue). The
// only place the sink knows the decoder: binary-format values are turned into PostgreSQL's text
// form with the decoder's own formatter, so the encoder reads one representation.
#pragma once

#include <deque>
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

// Converts tuples; owns the text of converted binary values until the next Reset().
class TupleConverter {
 public:
  // Appends one SourceValue per column of `tuple` to *out (cleared first).
  Status Convert(const Relation& relation, const PgTypeRegistry& types, const TupleData& tuple,
                 std::vector<SourceValue>* out);
  // Forget converted text (call once the change is encoded).
  void Reset() { text_.clear(); }

 private:
  std::deque<std::string> text_;  // stable addresses for the views handed out
};

}  // namespace pg2bq::sink
