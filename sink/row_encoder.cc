#include "sink/row_encoder.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "decoder/pg_text_format.h"
#include "sink/change_sequence.h"
#include "sink/dead_letter.h"
#include "sink/pg_text.h"
#include "sink/proto_wire.h"

namespace pg2bq::sink {
namespace {

// BigQuery's ranges (docs/TYPE_MAPPING.md).
constexpr std::int64_t kMinTimestampMicros = -62135596800000000LL;  // 0001-01-01 00:00:00
constexpr std::int64_t kMaxTimestampMicros = 253402300799999999LL;  // 9999-12-31 23:59:59.999999
constexpr std::int32_t kMinDate = -719162, kMaxDate = 2932896;
constexpr std::int64_t kMaxIntervalMonths = 10000LL * 12;
constexpr std::int64_t kMaxIntervalDays = 3660000;
constexpr std::int64_t kMaxIntervalMicros = 87840000LL * 3600 * 1000000;
// BIGNUMERIC's largest magnitude:
// 578960446186580977117854925043439539266.349923328202820197287920039565648199 67 (positive; the
// negative end is ...968).
constexpr std::string_view kBigNumericMaxInt = "578960446186580977117854925043439539266";
constexpr std::string_view kBigNumericMaxFracPos = "34992332820282019728792003956564819967";
constexpr std::string_view kBigNumericMaxFracNeg = "34992332820282019728792003956564819968";

std::string Cut(std::string_view s) {
  return std::string(s.substr(0, 256));
}

void AppendPadded(std::string* out, std::int64_t v, int width) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(v));
  out->append(buf, static_cast<std::size_t>(n));
}

void AppendTimeLiteral(std::string* out, int h, int m, int s, int micros) {
  AppendPadded(out, h, 2);
  out->push_back(':');
  AppendPadded(out, m, 2);
  out->push_back(':');
  AppendPadded(out, s, 2);
  if (micros) {
    out->push_back('.');
    AppendPadded(out, micros, 6);
  }
}

// Compares digit strings without leading zeros as numbers.
int CompareDigits(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
}

// Does a finite decimal fit the column's NUMERIC/BIGNUMERIC limits?
bool DecimalFits(const pgtext::Decimal& d, const ColumnMapping& m) {
  const int int_digits = static_cast<int>(d.integer.size());
  const int scale = static_cast<int>(d.fraction.size());
  if (scale > m.max_scale) return false;
  if (m.type == BqType::kBigNumeric && int_digits == m.max_integer_digits + 1) {
    const int c = CompareDigits(d.integer, kBigNumericMaxInt);
    if (c != 0) return c < 0;
    // Same integer part as the limit: compare fractions digit by digit (padded).
    const std::string_view lim = d.negative ? kBigNumericMaxFracNeg : kBigNumericMaxFracPos;
    std::string frac(d.fraction);
    frac.resize(lim.size(), '0');
    return frac <= lim;
  }
  return int_digits <= m.max_integer_digits;
}

}  // namespace

std::string_view EncodedBatch::RowMessage(std::size_t i) const {
  std::string_view e = RowEntry(i);
  std::size_t p = 1;  // tag byte (field 1, length-delimited)
  while (p < e.size() && (static_cast<unsigned char>(e[p]) & 0x80))
    ++p;
  return e.substr(p + 1);
}

std::string_view RowOpName(RowOp op) {
  switch (op) {
    case RowOp::kUpsert:
      return "UPSERT";
    case RowOp::kDelete:
      return "DELETE";
    case RowOp::kInsert:
      return "INSERT";
    case RowOp::kUpdate:
      return "UPDATE";
  }
  return "UPSERT";
}

RowEncoder::RowEncoder(std::shared_ptr<const TableDescriptor> descriptor, EncodePolicies policies)
    : descriptor_(std::move(descriptor)), policies_(policies) {
  // Built-in types need no registration; domains were mapped to their base OID already.
  const PgTypeRegistry builtins;
  for (const auto& c : descriptor_->columns)
    types_.push_back(builtins.Resolve(c.value_type_oid));
}

RowEncoder::ValueOutcome RowEncoder::Apply(ValuePolicy policy, const DescriptorColumn& col,
                                           std::string_view text, std::string what,
                                           EncodeResult* result) {
  if (policy == ValuePolicy::kReject) {
    result->reason =
        "column \"" + col.pg_name + "\": " + what + " (value \"" + Cut(text) + "\"; policy reject)";
    return ValueOutcome::kReject;
  }
  result->issues.push_back({col.pg_name, what + ", sent as NULL", Cut(text), true});
  return ValueOutcome::kNull;
}

RowEncoder::ValueOutcome RowEncoder::EncodeScalar(const DescriptorColumn& col, const PgValue& v,
                                                  EncodeResult* result) {
  const ColumnMapping& m = col.mapping;
  std::string* out = target_;
  auto emit_varint = [&](std::int64_t x) {
    if (!packed_mode_) wire::PutTag(out, field_, wire::kVarint);
    wire::PutVarint(out, static_cast<std::uint64_t>(x));
  };
  auto emit_double = [&](double x) {
    if (!packed_mode_) wire::PutTag(out, field_, wire::kFixed64);
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    wire::PutFixed64(out, bits);
  };
  auto emit_bytes = [&](std::string_view x) { wire::PutBytesField(out, field_, x); };
  // PostgreSQL's text of the value, for messages (only built on the rare paths that report).
  auto text = [&]() {
    if (v.is_text) return std::string(v.text);
    std::string t;
    if (!AppendPgText(v, &t).ok()) t = "(unprintable)";
    return t;
  };
  auto clamp_issue = [&](std::string what) {
    result->issues.push_back({col.pg_name, std::move(what), Cut(text()), false});
  };
  // Text-like values: the decoder keeps text for text types, formats the others.
  auto text_of = [&](std::string* scratch) -> std::string_view {
    if (v.is_text) return v.text;
    scratch->clear();
    (void)AppendPgText(v, scratch);
    return *scratch;
  };

  switch (m.kind) {
    case ValueKind::kBool:
      emit_varint(v.boolean ? 1 : 0);
      return ValueOutcome::kWritten;
    case ValueKind::kInteger:
      emit_varint(v.int64);
      return ValueOutcome::kWritten;
    case ValueKind::kFloat:
      emit_double(v.float64);
      return ValueOutcome::kWritten;
    case ValueKind::kNumeric:
    case ValueKind::kMoney: {
      std::string_view num;
      if (m.kind == ValueKind::kMoney) {
        // cents (lc_monetary C: two fraction digits)
        scratch_.clear();
        const bool neg = v.int64 < 0;
        const std::uint64_t a =
            neg ? 0 - static_cast<std::uint64_t>(v.int64) : static_cast<std::uint64_t>(v.int64);
        if (neg) scratch_.push_back('-');
        scratch_ += std::to_string(a / 100);
        scratch_.push_back('.');
        AppendPadded(&scratch_, static_cast<std::int64_t>(a % 100), 2);
        num = scratch_;
      } else if (v.numeric.special != PgNumeric::Special::kFinite) {
        if (m.type == BqType::kString) {
          scratch_.clear();
          AppendPgNumeric(v.numeric, &scratch_);
          emit_bytes(scratch_);
          return ValueOutcome::kWritten;
        }
        return Apply(policies_.numeric_special, col, text(),
                     std::string(BqTypeName(m.type)) + " cannot hold NaN or Infinity", result);
      } else {
        num = text_of(&scratch_);
      }
      auto d = pgtext::ParseDecimal(num);
      if (!d) {
        return Apply(policies_.invalid_value, col, text(), "numeric text not a plain decimal",
                     result);
      }
      if (m.type == BqType::kString) {
        emit_bytes(num);  // exact PostgreSQL text
        return ValueOutcome::kWritten;
      }
      if (!DecimalFits(*d, m)) {
        return Apply(policies_.numeric_out_of_range, col, text(),
                     "value outside " + std::string(BqTypeName(m.type)) + "'s range or scale",
                     result);
      }
      decimal_.clear();
      pgtext::AppendDecimal(*d, &decimal_);
      emit_bytes(decimal_);
      return ValueOutcome::kWritten;
    }
    case ValueKind::kText:
    case ValueKind::kJson: {
      const std::string_view t =
          m.kind == ValueKind::kJson && !v.is_text ? v.bytes : text_of(&scratch_);
      const std::string_view payload = m.kind == ValueKind::kJson && !v.bytes.empty() ? v.bytes : t;
      if (!pgtext::IsValidUtf8(payload)) {
        return Apply(policies_.invalid_utf8, col, text(), "text is not valid UTF-8", result);
      }
      emit_bytes(payload);
      return ValueOutcome::kWritten;
    }
    case ValueKind::kBytea: {
      scratch_.clear();
      if (!AppendPgByteaBytes(v, &scratch_).ok()) {
        return Apply(policies_.invalid_value, col, text(), "not a valid bytea", result);
      }
      emit_bytes(scratch_);
      return ValueOutcome::kWritten;
    }
    case ValueKind::kHstore: {
      std::string json;
      if (!v.is_text || !pgtext::HstoreToJson(v.text, &json)) {
        return Apply(policies_.invalid_value, col, text(), "not a valid hstore text", result);
      }
      if (!pgtext::IsValidUtf8(json)) {
        return Apply(policies_.invalid_utf8, col, text(), "text is not valid UTF-8", result);
      }
      emit_bytes(json);
      return ValueOutcome::kWritten;
    }
    case ValueKind::kDate: {
      std::int64_t days;
      if (v.date == kPgDatePosInfinity || v.date == kPgDateNegInfinity) {
        if (policies_.infinity != ValuePolicy::kClamp)
          return Apply(policies_.infinity, col, text(), "date infinity", result);
        days = v.date == kPgDatePosInfinity ? kMaxDate : kMinDate;
        clamp_issue("date infinity clamped to BigQuery's limit");
      } else {
        days = static_cast<std::int64_t>(v.date) + kPgEpochDaysFromUnix;
        if (days < kMinDate || days > kMaxDate) {
          if (policies_.out_of_range != ValuePolicy::kClamp)
            return Apply(policies_.out_of_range, col, text(),
                         "date outside BigQuery's 0001-01-01..9999-12-31", result);
          days = days < kMinDate ? kMinDate : kMaxDate;
          clamp_issue("date outside 0001-01-01..9999-12-31 clamped");
        }
      }
      emit_varint(days);
      return ValueOutcome::kWritten;
    }
    case ValueKind::kTimestamp:
    case ValueKind::kTimestamptz: {
      const bool tz = m.kind == ValueKind::kTimestamptz;
      const char* what = tz ? "timestamptz" : "timestamp";
      std::int64_t micros;
      if (v.int64 == kPgTimestampPosInfinity || v.int64 == kPgTimestampNegInfinity) {
        if (policies_.infinity != ValuePolicy::kClamp)
          return Apply(policies_.infinity, col, text(), std::string(what) + " infinity", result);
        micros = v.int64 == kPgTimestampPosInfinity ? kMaxTimestampMicros : kMinTimestampMicros;
        clamp_issue(std::string(what) + " infinity clamped to BigQuery's limit");
      } else {
        // Binary input can hold any int64 (PostgreSQL itself stays within 4713 BC .. 294276 AD);
        // an overflowing shift is simply out of range.
        if (__builtin_add_overflow(v.int64, kPgEpochMicrosFromUnix, &micros)) micros = INT64_MAX;
        if (micros < kMinTimestampMicros || micros > kMaxTimestampMicros) {
          if (policies_.out_of_range != ValuePolicy::kClamp)
            return Apply(policies_.out_of_range, col, text(),
                         std::string(what) + " outside BigQuery's 0001-01-01..9999-12-31" +
                             (tz ? " UTC" : ""),
                         result);
          micros = micros < kMinTimestampMicros ? kMinTimestampMicros : kMaxTimestampMicros;
          clamp_issue(std::string(what) + " outside BigQuery's range clamped");
        }
      }
      if (tz) {
        emit_varint(micros);
        return ValueOutcome::kWritten;
      }
      // DATETIME literal "YYYY-MM-DD HH:MM:SS[.ffffff]".
      const std::int64_t day_us = 86400LL * 1000000;
      std::int64_t days = micros / day_us, rem = micros % day_us;
      if (rem < 0) {
        rem += day_us;
        --days;
      }
      int year, month, day;
      PgDateToCivil(static_cast<std::int32_t>(days - kPgEpochDaysFromUnix), &year, &month, &day);
      scratch_.clear();
      AppendPadded(&scratch_, year, 4);
      scratch_.push_back('-');
      AppendPadded(&scratch_, month, 2);
      scratch_.push_back('-');
      AppendPadded(&scratch_, day, 2);
      scratch_.push_back(' ');
      const std::int64_t secs = rem / 1000000;
      AppendTimeLiteral(&scratch_, static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                        static_cast<int>(secs % 60), static_cast<int>(rem % 1000000));
      emit_bytes(scratch_);
      return ValueOutcome::kWritten;
    }
    case ValueKind::kTime: {
      scratch_.clear();
      std::int64_t us = v.int64;
      if (us >= 86400LL * 1000000) {
        if (policies_.out_of_range != ValuePolicy::kClamp)
          return Apply(policies_.out_of_range, col, text(), "time 24:00:00 is not a BigQuery TIME",
                       result);
        us = 86400LL * 1000000 - 1;
        clamp_issue("time 24:00:00 clamped to 23:59:59.999999");
      }
      const std::int64_t secs = us / 1000000;
      AppendTimeLiteral(&scratch_, static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                        static_cast<int>(secs % 60), static_cast<int>(us % 1000000));
      emit_bytes(scratch_);
      return ValueOutcome::kWritten;
    }
    case ValueKind::kInterval: {
      const PgInterval& iv = v.interval;
      if (std::llabs(iv.months) > kMaxIntervalMonths || std::llabs(iv.days) > kMaxIntervalDays ||
          iv.micros > kMaxIntervalMicros || iv.micros < -kMaxIntervalMicros) {
        ValuePolicy p = policies_.out_of_range == ValuePolicy::kClamp ? ValuePolicy::kReject
                                                                      : policies_.out_of_range;
        return Apply(p, col, text(), "interval outside BigQuery's INTERVAL range", result);
      }
      // Canonical "Y-M D H:M:S[.F]", each part carrying its own sign.
      scratch_.clear();
      const std::int64_t am = std::llabs(iv.months);
      if (iv.months < 0) scratch_.push_back('-');
      scratch_ += std::to_string(am / 12) + "-" + std::to_string(am % 12) + " ";
      scratch_ += std::to_string(iv.days) + " ";
      std::int64_t us = iv.micros;
      if (us < 0) {
        scratch_.push_back('-');
        us = -us;
      }
      const std::int64_t total_s = us / 1000000;
      scratch_ += std::to_string(total_s / 3600) + ":" + std::to_string((total_s / 60) % 60) + ":" +
                  std::to_string(total_s % 60);
      if (us % 1000000) {
        scratch_.push_back('.');
        AppendPadded(&scratch_, us % 1000000, 6);
      }
      emit_bytes(scratch_);
      return ValueOutcome::kWritten;
    }
  }
  return Apply(policies_.invalid_value, col, text(), "unsupported value", result);
}

RowEncoder::ValueOutcome RowEncoder::EncodeRepeated(const DescriptorColumn& col, const PgValue& v,
                                                    EncodeResult* result) {
  auto text = [&]() {
    std::string t;
    if (!AppendPgText(v, &t).ok()) t = "(unprintable array)";
    return t;
  };
  if (v.kind != PgTypeKind::kArray) {
    return Apply(policies_.invalid_value, col, text(), "not an array value", result);
  }
  if (v.array.ndim > 1) {
    return Apply(policies_.array_multidimensional, col, text(),
                 "multi-dimensional array cannot be a REPEATED column", result);
  }
  const bool packable =
      col.mapping.kind == ValueKind::kBool || col.mapping.kind == ValueKind::kInteger ||
      col.mapping.kind == ValueKind::kFloat || col.mapping.kind == ValueKind::kDate ||
      col.mapping.kind == ValueKind::kTimestamptz;
  if (packable) {
    packed_.clear();
    target_ = &packed_;
    packed_mode_ = true;
  }
  ValueOutcome outcome = ValueOutcome::kWritten;
  PgArrayReader reader(v.array);
  PgValue element;
  for (;;) {
    auto more = reader.Next(&element);
    if (!more.ok()) {
      outcome = Apply(policies_.invalid_value, col, text(),
                      "malformed array: " + more.status().message(), result);
      break;
    }
    if (!*more) break;
    if (element.is_null) {
      outcome = Apply(policies_.array_null_element, col, text(),
                      "array with NULL elements cannot be a REPEATED column", result);
      break;
    }
    const ValueOutcome o = EncodeScalar(col, element, result);
    if (o != ValueOutcome::kWritten) {
      outcome = o;
      break;
    }
  }
  packed_mode_ = false;
  target_ = &row_;
  if (outcome != ValueOutcome::kWritten) return outcome;
  if (packable && !packed_.empty()) wire::PutBytesField(&row_, field_, packed_);
  return ValueOutcome::kWritten;
}

RowEncoder::ValueOutcome RowEncoder::EncodeJsonArray(const DescriptorColumn& col,
                                                     std::string_view text, EncodeResult* result) {
  if (!pgtext::ParseArrayText(text, &array_)) {
    return Apply(policies_.invalid_value, col, text, "not a valid array text", result);
  }
  std::string json;
  json.reserve(text.size() + 8);
  bool need_comma = false;
  for (const auto& t : array_.tokens) {
    using K = pgtext::ArrayToken::Kind;
    if (t.kind == K::kClose) {
      json.push_back(']');
      need_comma = true;
      continue;
    }
    if (need_comma) json.push_back(',');
    need_comma = t.kind == K::kElement;
    if (t.kind == K::kOpen) {
      json.push_back('[');
      continue;
    }
    if (t.is_null) {
      json.append("null");
      continue;
    }
    const std::string_view e = array_.Text(t);
    switch (col.mapping.kind) {
      case ValueKind::kBool:
        json.append(e == "t" ? "true" : "false");
        break;
      case ValueKind::kInteger: {
        // The decoder validated the array; integers are JSON numbers as they are.
        json.append(e);
        break;
      }
      case ValueKind::kFloat:
        if (e == "NaN" || e == "Infinity" || e == "-Infinity") {
          pgtext::AppendJsonString(e, &json);  // JSON has no NaN/Infinity
        } else {
          json.append(e);
        }
        break;
      case ValueKind::kJson:
        json.append(e);
        break;
      case ValueKind::kHstore:
        if (!pgtext::HstoreToJson(e, &json))
          return Apply(policies_.invalid_value, col, text, "bad hstore", result);
        break;
      default:
        // Exact PostgreSQL text (numeric, dates, text, ...) as a JSON string.
        pgtext::AppendJsonString(e, &json);
    }
  }
  if (!pgtext::IsValidUtf8(json)) {
    return Apply(policies_.invalid_utf8, col, text, "text is not valid UTF-8", result);
  }
  wire::PutBytesField(&row_, field_, json);
  return ValueOutcome::kWritten;
}

RowEncoder::ValueOutcome RowEncoder::EncodeColumn(std::size_t index, const SourceValue& sv,
                                                  EncodeResult* result) {
  const DescriptorColumn& col = descriptor_->columns[index];
  field_ = col.field_number;
  target_ = &row_;
  packed_mode_ = false;
  const std::size_t mark = row_.size();
  const ColumnValue cv{sv.state == ValueState::kBinary ? ColumnState::kBinary : ColumnState::kText,
                       sv.bytes};
  ValueOutcome o;
  Status decoded = DecodePgValueInto(types_[index], cv, &value_);
  if (!decoded.ok()) {
    o = Apply(policies_.invalid_value, col,
              sv.state == ValueState::kText ? std::string(sv.bytes) : Base64Encode(sv.bytes),
              "value does not decode: " + decoded.message(), result);
  } else if (col.mapping.array_as_json) {
    // Nesting is kept: read the array's text form (binary arrays are formatted first).
    std::string_view array_text = sv.bytes;
    if (sv.state == ValueState::kBinary) {
      json_text_.clear();
      (void)AppendPgText(value_, &json_text_);
      array_text = json_text_;
    }
    o = EncodeJsonArray(col, array_text, result);
  } else if (col.mapping.repeated) {
    o = EncodeRepeated(col, value_, result);
  } else {
    o = EncodeScalar(col, value_, result);
  }
  if (o != ValueOutcome::kWritten) row_.resize(mark);
  return o;
}

std::string_view RowEncoder::ChangeSequenceOf(const SourceChange& change) {
  if (!sequence_valid_ || change.commit_lsn != sequence_lsn_ ||
      change.ordinal != sequence_ordinal_) {
    PutChangeSequence(sequence_, change.commit_lsn, change.ordinal);
    sequence_lsn_ = change.commit_lsn;
    sequence_ordinal_ = change.ordinal;
    sequence_valid_ = true;
  }
  return {sequence_, kChangeSequenceLength};
}

bool RowEncoder::EncodeRow(const SourceChange& change, std::span<const SourceValue> values,
                           RowOp op, bool keys_only, EncodedBatch* batch, EncodeResult* result) {
  const TableDescriptor& d = *descriptor_;
  row_.clear();
  for (std::size_t i = 0; i < d.columns.size(); ++i) {
    const DescriptorColumn& col = d.columns[i];
    if (keys_only && !col.is_key) continue;
    const SourceValue& v = i < values.size() ? values[i] : SourceValue{};
    switch (v.state) {
      case ValueState::kNull:
        if (col.is_key) {
          result->reason = "key column \"" + col.pg_name + "\" is NULL";
          return false;
        }
        continue;  // absent optional field = NULL
      case ValueState::kUnchangedToast:
        // Resolved by the caller before we get here; reaching this is a bug upstream.
        result->reason = "column \"" + col.pg_name + "\" is an unresolved unchanged TOAST value";
        return false;
      case ValueState::kBinary:
      case ValueState::kText:
        break;
    }
    if (EncodeColumn(i, v, result) == ValueOutcome::kReject) return false;
  }
  if (d.mode == WriteMode::kChangeLog) {
    wire::PutBytesField(&row_, d.op_field, RowOpName(op));
    wire::PutTag(&row_, d.lsn_field, wire::kLengthDelimited);
    wire::PutVarint(&row_, kChangeSequenceLength);
    row_.append(ChangeSequenceOf(change));
    wire::PutInt64Field(&row_, d.commit_time_field, change.commit_time_us);
  }
  if (d.change_type_field != 0) {
    // Change-log rows are UPSERTs keyed by _pg2bq_lsn, so a replay overwrites itself.
    wire::PutBytesField(&row_, d.change_type_field,
                        d.mode == WriteMode::kCdc ? RowOpName(op) : RowOpName(RowOp::kUpsert));
    wire::PutTag(&row_, d.change_sequence_field, wire::kLengthDelimited);
    wire::PutVarint(&row_, kChangeSequenceLength);
    row_.append(ChangeSequenceOf(change));
  }
  EncodedRowInfo info;
  info.offset = static_cast<std::uint32_t>(batch->proto_rows.size());
  wire::PutBytesField(&batch->proto_rows, 1, row_);
  info.size = static_cast<std::uint32_t>(batch->proto_rows.size() - info.offset);
  info.commit_lsn = change.commit_lsn;
  info.ordinal = change.ordinal;
  info.op = op;
  batch->rows.push_back(info);
  ++result->rows_appended;
  return true;
}

EncodeResult RowEncoder::Encode(const SourceChange& change, EncodedBatch* batch) {
  EncodeResult result;
  const TableDescriptor& d = *descriptor_;
  const std::size_t ncols = d.columns.size();
  auto reject = [&](std::string reason) {
    result.outcome = EncodeResult::Outcome::kRejected;
    result.reason = std::move(reason);
    return result;
  };
  if (batch->rows.empty()) batch->descriptor_version = d.version;
  if (batch->descriptor_version != d.version) {
    return reject("batch holds descriptor version " + std::to_string(batch->descriptor_version) +
                  ", encoder has " + std::to_string(d.version));
  }
  const std::size_t batch_mark = batch->proto_rows.size();
  const std::size_t rows_mark = batch->rows.size();
  auto fail = [&]() {
    batch->proto_rows.resize(batch_mark);
    batch->rows.resize(rows_mark);
    result.outcome = EncodeResult::Outcome::kRejected;
    result.rows_appended = 0;
    return result;
  };

  if (change.kind == ChangeKind::kDelete) {
    if (change.old_values.size() != ncols) {
      return reject("DELETE without the old key (replica identity NOTHING?)");
    }
    const bool cdc = d.mode == WriteMode::kCdc;
    // Change log: the old row as PostgreSQL sent it (full with REPLICA IDENTITY FULL, else key).
    merged_.assign(change.old_values.begin(), change.old_values.end());
    for (auto& v : merged_)
      if (v.state == ValueState::kUnchangedToast) v = SourceValue::Null();
    if (!EncodeRow(change, merged_, cdc ? RowOp::kDelete : RowOp::kDelete, cdc, batch, &result))
      return fail();
    return result;
  }

  if (change.new_values.size() != ncols) {
    return reject("change has " + std::to_string(change.new_values.size()) +
                  " values, descriptor version " + std::to_string(d.version) + " has " +
                  std::to_string(ncols) + " columns");
  }
  // Fill unchanged TOAST values from the full old row when there is one.
  merged_.assign(change.new_values.begin(), change.new_values.end());
  const bool have_old = change.old_values.size() == ncols;
  for (std::size_t i = 0; i < ncols; ++i) {
    if (merged_[i].state != ValueState::kUnchangedToast) continue;
    const bool old_usable = have_old && change.old_values[i].state != ValueState::kUnchangedToast &&
                            (change.old_is_full_row || d.columns[i].is_key);
    if (old_usable) {
      merged_[i] = change.old_values[i];
    } else {
      result.unresolved_columns.push_back(i);
    }
  }
  if (!result.unresolved_columns.empty()) {
    result.outcome = EncodeResult::Outcome::kNeedsCurrentValues;
    result.reason = std::to_string(result.unresolved_columns.size()) +
                    " unchanged TOAST column(s) need their current values";
    return result;
  }

  if (d.mode == WriteMode::kChangeLog) {
    const RowOp op = change.kind == ChangeKind::kInsert ? RowOp::kInsert : RowOp::kUpdate;
    if (!EncodeRow(change, merged_, op, false, batch, &result)) return fail();
    return result;
  }
  // CDC. An UPDATE whose key moved: DELETE the old key first (same sequence number; the keys
  // differ so the two rows never compete), then UPSERT the new row.
  if (change.kind == ChangeKind::kUpdate && have_old) {
    bool key_changed = false;
    for (std::size_t i = 0; i < ncols; ++i) {
      if (!d.columns[i].is_key) continue;
      const SourceValue& o = change.old_values[i];
      const SourceValue& n = merged_[i];
      if (o.state != n.state || o.bytes != n.bytes) key_changed = true;
    }
    if (key_changed) {
      std::vector<SourceValue> old(change.old_values.begin(), change.old_values.end());
      if (!EncodeRow(change, old, RowOp::kDelete, true, batch, &result)) return fail();
    }
  }
  if (!EncodeRow(change, merged_, RowOp::kUpsert, false, batch, &result)) return fail();
  return result;
}

}  // namespace pg2bq::sink
