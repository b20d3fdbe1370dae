#include "tests/bq_emulator/writer_schema.h"

#include <google/protobuf/message.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "tests/bq_emulator/bq_values.h"
#include "tests/bq_emulator/change_sequence.h"

namespace pg2bq::bqemu {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Upper(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool IsIntegral(FieldDescriptor::Type t) {
  switch (t) {
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED32:
    case FieldDescriptor::TYPE_SFIXED64:
      return true;
    default:
      return false;
  }
}

// Which proto field types can carry a column type (the Write API's
// "supported protocol buffer data types" table).
bool Compatible(ColumnType column, FieldDescriptor::Type t) {
  using F = FieldDescriptor;
  switch (column) {
    case ColumnType::kBool:
      return t == F::TYPE_BOOL || IsIntegral(t);
    case ColumnType::kBytes:
      return t == F::TYPE_BYTES || t == F::TYPE_STRING;
    case ColumnType::kInt64:
      return (IsIntegral(t) && t != F::TYPE_UINT64 && t != F::TYPE_FIXED64) || t == F::TYPE_ENUM;
    case ColumnType::kFloat64:
      return t == F::TYPE_DOUBLE || t == F::TYPE_FLOAT;
    case ColumnType::kString:
      return t == F::TYPE_STRING || t == F::TYPE_ENUM;
    case ColumnType::kNumeric:
    case ColumnType::kBigNumeric:
      return IsIntegral(t) || t == F::TYPE_DOUBLE || t == F::TYPE_FLOAT || t == F::TYPE_STRING ||
             t == F::TYPE_BYTES;
    case ColumnType::kTimestamp:
      return t == F::TYPE_INT64 || t == F::TYPE_INT32 || t == F::TYPE_UINT32 ||
             t == F::TYPE_SINT64 || t == F::TYPE_SFIXED64 || t == F::TYPE_STRING;
    case ColumnType::kDate:
      return t == F::TYPE_INT32 || t == F::TYPE_INT64 || t == F::TYPE_SINT32 ||
             t == F::TYPE_SINT64 || t == F::TYPE_STRING;
    case ColumnType::kTime:
    case ColumnType::kDatetime:
      return t == F::TYPE_INT64 || t == F::TYPE_SINT64 || t == F::TYPE_SFIXED64 ||
             t == F::TYPE_STRING;
    case ColumnType::kJson:
    case ColumnType::kGeography:
    case ColumnType::kInterval:
      return t == F::TYPE_STRING;
    case ColumnType::kStruct:
      return t == F::TYPE_MESSAGE || t == F::TYPE_GROUP;
  }
  return false;
}

std::string ProtoTypeName(const FieldDescriptor* f) {
  return f->type_name();
}

Status BindFields(const Descriptor* desc, const std::vector<Column>& columns,
                  const std::string& path, bool top, std::vector<WriterSchema::Binding>* out,
                  const FieldDescriptor** change_type, const FieldDescriptor** change_sequence,
                  SchemaError* error) {
  std::vector<std::string> extra;
  for (int i = 0; i < desc->field_count(); ++i) {
    const FieldDescriptor* f = desc->field(i);
    std::string upper = Upper(f->name());
    if (top && (upper == kChangeTypeField || upper == kChangeSequenceField)) {
      if (f->type() != FieldDescriptor::TYPE_STRING || f->is_repeated()) {
        error->message = "The proto field " + f->name() + " must be an optional string";
        return Status::InvalidArgument(error->message);
      }
      (upper == kChangeTypeField ? *change_type : *change_sequence) = f;
      continue;
    }
    const Column* column = nullptr;
    for (const auto& c : columns) {
      if (Upper(c.name) == upper) column = &c;
    }
    if (!column) {
      extra.push_back(f->name());
      continue;
    }
    std::string where = path + "." + column->name;
    if (!Compatible(column->type, f->type())) {
      error->message = "The proto field mismatched with BigQuery field at " + where +
                       ", the proto field type " + ProtoTypeName(f) + ", BigQuery field type " +
                       ColumnTypeSqlName(column->type);
      return Status::InvalidArgument(error->message);
    }
    bool col_repeated = column->mode == ColumnMode::kRepeated;
    if (col_repeated != f->is_repeated()) {
      error->message = "The proto field mismatched with BigQuery field at " + where +
                       ": the proto field is " + (f->is_repeated() ? "repeated" : "not repeated") +
                       " but the BigQuery field mode is " +
                       (col_repeated ? "REPEATED" : "NULLABLE/REQUIRED");
      return Status::InvalidArgument(error->message);
    }
    WriterSchema::Binding b;
    b.field = f;
    b.column = column;
    if (column->type == ColumnType::kStruct) {
      PG2BQ_RETURN_IF_ERROR(BindFields(f->message_type(), column->fields, where, false, &b.sub,
                                       change_type, change_sequence, error));
    }
    out->push_back(std::move(b));
  }
  if (!extra.empty()) {
    std::string list;
    for (const auto& e : extra)
      list += (list.empty() ? "" : ", ") + e;
    error->extra_fields = true;
    error->message = "Input schema has more fields than BigQuery schema, extra fields: '" + list +
                     "' (table " + path + ")";
    return Status::InvalidArgument(error->message);
  }
  for (const auto& c : columns) {
    if (c.mode != ColumnMode::kRequired) continue;
    bool bound = false;
    for (const auto& b : *out)
      bound = bound || b.column == &c;
    if (!bound) {
      error->message = "The proto schema is missing the REQUIRED field " + path + "." + c.name;
      return Status::InvalidArgument(error->message);
    }
  }
  return Status::Ok();
}

int64_t IntegralValue(const Message& m, const Reflection* r, const FieldDescriptor* f, int index,
                      bool* overflow) {
  *overflow = false;
  bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v = rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
      *overflow = v > static_cast<uint64_t>(INT64_MAX);
      return static_cast<int64_t>(v);
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? 1 : 0;
    case FieldDescriptor::CPPTYPE_ENUM:
      return rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
    default:
      return 0;
  }
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Where a value sits ("col", "rec.col"); the text is built only for a message.
struct Where {
  const Where* parent = nullptr;
  const std::string* name = nullptr;
  std::string Text() const { return parent ? parent->Text() + "." + *name : *name; }
};

// The value of a bound field at `index` (-1: not repeated) as a string,
// without a copy when the message can lend it.
const std::string& StringValue(const Message& m, const FieldDescriptor* f, int index,
                               std::string* scratch) {
  const Reflection* r = m.GetReflection();
  return index >= 0 ? r->GetRepeatedStringReference(m, f, index, scratch)
                    : r->GetStringReference(m, f, scratch);
}

// Every value goes through these two functions whether the row is stored or
// only validated: `out` null means check only (no JSON value, no normalized
// text), so the two paths cannot disagree on a verdict or a message.
Status ConvertValue(const Message& m, const WriterSchema::Binding& b, int index, const Where& where,
                    nlohmann::json* out);

Status ConvertStruct(const Message& m, const std::vector<WriterSchema::Binding>& bs,
                     const std::vector<int>& by_column, const std::vector<Column>& columns,
                     const Where* parent, nlohmann::json* out) {
  const Reflection* r = m.GetReflection();
  if (out) *out = nlohmann::json::object();
  for (size_t ci = 0; ci < columns.size(); ++ci) {
    const Column& c = columns[ci];
    const WriterSchema::Binding* b = by_column[ci] >= 0 ? &bs[by_column[ci]] : nullptr;
    Where where{parent, &c.name};
    if (c.mode == ColumnMode::kRepeated) {
      nlohmann::json* arr = nullptr;
      if (out) arr = &((*out)[c.name] = nlohmann::json::array());
      if (b) {
        int n = r->FieldSize(m, b->field);
        for (int i = 0; i < n; ++i) {
          nlohmann::json v;
          PG2BQ_RETURN_IF_ERROR(ConvertValue(m, *b, i, where, arr ? &v : nullptr));
          if (arr) arr->push_back(std::move(v));
        }
      }
      continue;
    }
    if (!b || !r->HasField(m, b->field)) {
      if (c.mode == ColumnMode::kRequired) {
        return Status::InvalidArgument("Field " + where.Text() + " is REQUIRED but has no value");
      }
      if (out) (*out)[c.name] = nullptr;
      continue;
    }
    PG2BQ_RETURN_IF_ERROR(ConvertValue(m, *b, -1, where, out ? &(*out)[c.name] : nullptr));
  }
  return Status::Ok();
}

// One scalar field value, read from a parsed message (ReflectedValue) or
// straight from the wire (WriterSchema::WireRowIsValid): which member is set
// follows the proto field's type.
struct FieldValue {
  std::string_view text;                   // string, bytes
  int64_t integral = 0;                    // integers, bool, enum number
  bool overflow = false;                   // uint64 above INT64_MAX
  double real = 0;                         // double, float
  const std::string* enum_name = nullptr;  // enum
};

FieldValue ReflectedValue(const Message& m, const FieldDescriptor* f, int index,
                          std::string* scratch) {
  const Reflection* r = m.GetReflection();
  bool rep = index >= 0;
  FieldValue v;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      v.text = StringValue(m, f, index, scratch);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      v.real = rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      v.real = rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* ev = rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f);
      v.integral = ev->number();
      v.enum_name = &ev->name();
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
    default:
      v.integral = IntegralValue(m, r, f, index, &v.overflow);
  }
  return v;
}

// The checks (and, when `out` is not null, the stored form) of one scalar
// value of column b.column carried by proto field b.field.
Status CheckValue(const WriterSchema::Binding& b, const FieldValue& v, const Where& where,
                  nlohmann::json* out) {
  const FieldDescriptor* f = b.field;
  auto fail = [&](const std::string& why) {
    return Status::InvalidArgument("Field " + where.Text() + ": " + why);
  };
  bool is_string = f->type() == FieldDescriptor::TYPE_STRING;
  switch (b.column->type) {
    case ColumnType::kString: {
      if (f->type() == FieldDescriptor::TYPE_ENUM) {
        if (out) *out = *v.enum_name;
        return Status::Ok();
      }
      if (!ValidUtf8(v.text)) return fail("invalid UTF-8 in a STRING value");
      if (out) *out = std::string(v.text);
      return Status::Ok();
    }
    case ColumnType::kGeography:
    case ColumnType::kInterval: {
      if (v.text.empty() || !ValidUtf8(v.text)) {
        return fail("invalid " + ColumnTypeSqlName(b.column->type) + " value");
      }
      if (out) *out = std::string(v.text);
      return Status::Ok();
    }
    case ColumnType::kBytes:
      if (out) *out = Base64Encode(v.text);
      return Status::Ok();
    case ColumnType::kInt64:
      if (out) *out = std::to_string(v.integral);
      return Status::Ok();
    case ColumnType::kBool:
      if (out) *out = v.integral != 0 || v.overflow;
      return Status::Ok();
    case ColumnType::kFloat64:
      if (out) {
        if (std::isnan(v.real)) {
          *out = "NaN";
        } else if (std::isinf(v.real)) {
          *out = v.real > 0 ? "Infinity" : "-Infinity";
        } else {
          *out = v.real;
        }
      }
      return Status::Ok();
    case ColumnType::kNumeric:
    case ColumnType::kBigNumeric: {
      bool big = b.column->type == ColumnType::kBigNumeric;
      int idig = big ? kBigNumericIntegerDigits : kNumericIntegerDigits;
      int fdig = big ? kBigNumericFractionDigits : kNumericFractionDigits;
      std::string made;
      std::string_view text;
      if (is_string) {
        text = v.text;
      } else if (f->type() == FieldDescriptor::TYPE_BYTES) {
        text = made = DecimalFromScaledBytes(v.text, fdig);
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE ||
                 f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        if (!std::isfinite(v.real)) return fail("NaN and infinity are not valid NUMERIC values");
        char buf[512];
        std::snprintf(buf, sizeof buf, big ? "%.17g" : "%.9f", v.real);
        text = made = buf;
      } else {
        text = made = v.overflow ? std::to_string(static_cast<uint64_t>(v.integral))
                                 : std::to_string(v.integral);
      }
      auto bad = [&](const Status& st) {
        return fail("invalid " + std::string(big ? "BIGNUMERIC" : "NUMERIC") +
                    " value: " + st.message());
      };
      if (!out) {
        Status st = CheckDecimal(text, idig, fdig);
        return st.ok() ? st : bad(st);
      }
      auto norm = NormalizeDecimal(text, idig, fdig);
      if (!norm.ok()) return bad(norm.status());
      *out = std::move(*norm);
      return Status::Ok();
    }
    case ColumnType::kTimestamp: {
      int64_t micros;
      if (is_string) {
        auto us = ParseTimestamp(v.text);
        if (!us.ok()) return fail(us.status().message());
        micros = *us;
      } else {
        micros = v.integral;
        Status st = CheckTimestampMicros(micros);
        if (!st.ok()) return fail(st.message());
      }
      if (out) *out = FormatTimestamp(micros);
      return Status::Ok();
    }
    case ColumnType::kDate: {
      int64_t days;
      if (is_string) {
        auto d = ParseDate(v.text);
        if (!d.ok()) return fail(d.status().message());
        days = *d;
      } else {
        days = v.integral;
      }
      Status st = CheckDateDays(days);
      if (!st.ok()) return fail(st.message());
      if (out) *out = FormatDate(days);
      return Status::Ok();
    }
    case ColumnType::kTime: {
      Result<int64_t> t = is_string ? ParseTimeOfDay(v.text) : DecodePackedTime(v.integral);
      if (!t.ok()) return fail(t.status().message());
      if (out) *out = FormatTimeOfDay(*t);
      return Status::Ok();
    }
    case ColumnType::kDatetime: {
      int64_t days, micros;
      Status st = is_string ? ParseDatetime(v.text, &days, &micros)
                            : DecodePackedDatetime(v.integral, &days, &micros);
      if (!st.ok()) return fail(st.message());
      if (out) *out = FormatDatetime(days, micros);
      return Status::Ok();
    }
    case ColumnType::kJson: {
      // accept() runs the same parser as parse() without building a DOM.
      bool valid;
      if (out) {
        *out = nlohmann::json::parse(v.text.begin(), v.text.end(), nullptr,
                                     /*allow_exceptions=*/false);
        valid = !out->is_discarded();
      } else {
        valid = nlohmann::json::accept(v.text.begin(), v.text.end());
      }
      if (!valid) return fail("invalid JSON value '" + std::string(v.text.substr(0, 100)) + "'");
      return Status::Ok();
    }
    case ColumnType::kStruct:
      break;  // ConvertValue walks STRUCTs
  }
  return fail("unsupported type");
}

Status ConvertValue(const Message& m, const WriterSchema::Binding& b, int index, const Where& where,
                    nlohmann::json* out) {
  if (b.column->type == ColumnType::kStruct) {
    const Reflection* r = m.GetReflection();
    const Message& sub =
        index >= 0 ? r->GetRepeatedMessage(m, b.field, index) : r->GetMessage(m, b.field);
    return ConvertStruct(sub, b.sub, b.sub_by_column, b.column->fields, &where, out);
  }
  std::string scratch;
  return CheckValue(b, ReflectedValue(m, b.field, index, &scratch), where, out);
}

// For each column, the index of the binding bound to it (the last one, should
// two proto fields differ only in case), or -1.
std::vector<int> BindingsByColumn(const std::vector<WriterSchema::Binding>& bs,
                                  const std::vector<Column>& columns) {
  std::vector<int> by_column(columns.size(), -1);
  for (size_t ci = 0; ci < columns.size(); ++ci) {
    for (size_t bi = 0; bi < bs.size(); ++bi) {
      if (bs[bi].column == &columns[ci]) by_column[ci] = static_cast<int>(bi);
    }
  }
  return by_column;
}

void IndexColumns(std::vector<WriterSchema::Binding>* bs) {
  for (auto& b : *bs) {
    if (b.column->type != ColumnType::kStruct) continue;
    b.sub_by_column = BindingsByColumn(b.sub, b.column->fields);
    IndexColumns(&b.sub);
  }
}

// "UPSERT" or "DELETE" for a _CHANGE_TYPE value in any case, else null.
const char* CanonicalChangeType(std::string_view value) {
  auto same = [&](std::string_view word) {
    if (value.size() != word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      // ASCII only: BigQuery's keywords; std::toupper's locale lookup is a hot spot here.
      const char c = value[i];
      if ((c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c) != word[i]) return false;
    }
    return true;
  };
  if (same("UPSERT")) return "UPSERT";
  if (same("DELETE")) return "DELETE";
  return nullptr;
}

// The change-row rules, one copy for the walk and the wire path. change_type
// and sequence are null when the row has none; present(i) says whether
// bindings_[i] has a value; *canonical gets "UPSERT"/"DELETE" or null.
template <typename Present>
Status CheckChangeRow(const std::string_view* change_type, const std::string_view* sequence,
                      bool writer_has_change_type, const TableSchema& table,
                      const std::vector<int>& key_bindings, Present present,
                      const char** canonical) {
  *canonical = nullptr;
  if (change_type) {
    *canonical = CanonicalChangeType(*change_type);
    if (!*canonical) {
      return Status::InvalidArgument("Invalid _CHANGE_TYPE '" + std::string(*change_type) +
                                     "': must be UPSERT or DELETE");
    }
  }
  if (sequence) PG2BQ_RETURN_IF_ERROR(ChangeSequence::Validate(*sequence));
  if (*canonical) {
    // The key columns are scalar and not REPEATED (TableSchema refuses
    // others), so a key is NULL exactly when its field is absent. The last
    // NULL key is the one named.
    for (size_t k = table.primary_key.size(); k-- > 0;) {
      int bi = key_bindings[k];
      if (bi < 0 || !present(bi)) {
        return Status::InvalidArgument("Primary key column " + table.primary_key[k] +
                                       " is NULL in a " + *canonical + " row");
      }
    }
  } else if (sequence && writer_has_change_type) {
    return Status::InvalidArgument("_CHANGE_SEQUENCE_NUMBER is set but _CHANGE_TYPE is not");
  }
  return Status::Ok();
}

// Canonical varints only (no padding 0x80.. 0x00 bytes, at most 10 bytes,
// nothing above 64 bits): stricter than the protobuf parser, which is safe
// for a path that may only say "certainly valid".
bool ReadVarint(const char** p, const char* end, uint64_t* out, int max_bytes = 10) {
  uint64_t v = 0;
  for (int i = 0; i < max_bytes && *p < end; ++i) {
    auto byte = static_cast<uint8_t>(*(*p)++);
    if (i == 9 && byte > 1) return false;
    v |= static_cast<uint64_t>(byte & 0x7F) << (7 * i);
    if (!(byte & 0x80)) {
      if (byte == 0 && i > 0) return false;
      *out = v;
      return true;
    }
  }
  return false;
}

bool ReadLengthDelimited(const char** p, const char* end, std::string_view* out) {
  uint64_t n;
  if (!ReadVarint(p, end, &n) || n > static_cast<uint64_t>(end - *p) || n > INT32_MAX) {
    return false;
  }
  *out = std::string_view(*p, static_cast<size_t>(n));
  *p += n;
  return true;
}

template <typename T>
bool ReadFixed(const char** p, const char* end, T* out) {
  if (end - *p < static_cast<std::ptrdiff_t>(sizeof(T))) return false;
  std::memcpy(out, *p, sizeof(T));  // little endian, like the wire
  *p += sizeof(T);
  return true;
}

// The wire type a field of type t is written with (unpacked).
int WireTypeOf(FieldDescriptor::Type t) {
  switch (t) {
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED64:
    case FieldDescriptor::TYPE_DOUBLE:
      return 1;
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
      return 2;
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_SFIXED32:
    case FieldDescriptor::TYPE_FLOAT:
      return 5;
    default:
      return 0;
  }
}

// One non-length-delimited scalar of type t at *p, converted the way the
// protobuf parser and reflection (IntegralValue) convert it.
bool ReadWireScalar(FieldDescriptor::Type t, const char** p, const char* end, FieldValue* v) {
  uint64_t u = 0;
  switch (t) {
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_BOOL:
      if (!ReadVarint(p, end, &u)) return false;
      break;
    default:
      break;
  }
  switch (t) {
    case FieldDescriptor::TYPE_INT32:
      v->integral = static_cast<int32_t>(u);
      return true;
    case FieldDescriptor::TYPE_INT64:
      v->integral = static_cast<int64_t>(u);
      return true;
    case FieldDescriptor::TYPE_UINT32:
      v->integral = static_cast<uint32_t>(u);
      return true;
    case FieldDescriptor::TYPE_UINT64:
      v->integral = static_cast<int64_t>(u);
      v->overflow = u > static_cast<uint64_t>(INT64_MAX);
      return true;
    case FieldDescriptor::TYPE_SINT32: {
      auto n = static_cast<uint32_t>(u);
      v->integral = static_cast<int32_t>((n >> 1) ^ (~(n & 1) + 1));
      return true;
    }
    case FieldDescriptor::TYPE_SINT64:
      v->integral = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
      return true;
    case FieldDescriptor::TYPE_BOOL:
      v->integral = u != 0 ? 1 : 0;
      return true;
    case FieldDescriptor::TYPE_FIXED32: {
      uint32_t x;
      if (!ReadFixed(p, end, &x)) return false;
      v->integral = x;
      return true;
    }
    case FieldDescriptor::TYPE_SFIXED32: {
      int32_t x;
      if (!ReadFixed(p, end, &x)) return false;
      v->integral = x;
      return true;
    }
    case FieldDescriptor::TYPE_FIXED64: {
      uint64_t x;
      if (!ReadFixed(p, end, &x)) return false;
      v->integral = static_cast<int64_t>(x);
      v->overflow = x > static_cast<uint64_t>(INT64_MAX);
      return true;
    }
    case FieldDescriptor::TYPE_SFIXED64: {
      int64_t x;
      if (!ReadFixed(p, end, &x)) return false;
      v->integral = x;
      return true;
    }
    case FieldDescriptor::TYPE_FLOAT: {
      float x;
      if (!ReadFixed(p, end, &x)) return false;
      v->real = x;
      return true;
    }
    case FieldDescriptor::TYPE_DOUBLE:
      return ReadFixed(p, end, &v->real);
    default:
      return false;
  }
}

}  // namespace

std::unique_ptr<WriterSchema> WriterSchema::Bind(const google::protobuf::DescriptorProto& proto,
                                                 const TableSchema& table,
                                                 const std::string& table_name,
                                                 SchemaError* error) {
  std::unique_ptr<WriterSchema> ws(new WriterSchema());
  ws->table_ = table;
  google::protobuf::FileDescriptorProto file;
  file.set_name("writer_schema.proto");
  file.set_syntax("proto2");
  *file.add_message_type() = proto;
  // Errors from the pool name the offending field; collect them into one line.
  struct Collector : google::protobuf::DescriptorPool::ErrorCollector {
    std::string text;
    void AddError(const std::string& filename, const std::string& element_name,
                  const google::protobuf::Message*, ErrorLocation,
                  const std::string& message) override {
      (void)filename;
      text += (text.empty() ? "" : "; ") + element_name + ": " + message;
    }
  } collector;
  const auto* file_desc = ws->pool_.BuildFileCollectingErrors(file, &collector);
  if (!file_desc || file_desc->message_type_count() != 1) {
    error->message = "Invalid proto schema: " + collector.text;
    return nullptr;
  }
  ws->root_ = file_desc->message_type(0);
  Status st = BindFields(ws->root_, ws->table_.columns, table_name, true, &ws->bindings_,
                         &ws->change_type_, &ws->change_sequence_, error);
  if (!st.ok()) return nullptr;
  ws->by_column_ = BindingsByColumn(ws->bindings_, ws->table_.columns);
  IndexColumns(&ws->bindings_);
  for (const auto& key : ws->table_.primary_key) {
    int bi = -1;
    for (size_t ci = 0; ci < ws->table_.columns.size(); ++ci) {
      if (ws->table_.columns[ci].name == key) bi = ws->by_column_[ci];
    }
    ws->key_bindings_.push_back(bi);
  }
  ws->PrepareWirePath();
  ws->factory_ = std::make_unique<google::protobuf::DynamicMessageFactory>(&ws->pool_);
  return ws;
}

Result<DecodedRow> WriterSchema::DecodeRow(std::string_view bytes) const {
  DecodedRow row;
  PG2BQ_RETURN_IF_ERROR(Walk(bytes, &row));
  return row;
}

Status WriterSchema::ValidateRow(std::string_view bytes) const {
  if (WireRowIsValid(bytes)) return Status::Ok();
  return Walk(bytes, nullptr);
}

void WriterSchema::PrepareWirePath() {
  // Only flat rows of scalar fields: STRUCTs (merging of repeated
  // occurrences, nested required fields), closed enums (unknown numbers go to
  // unknown fields) and oneofs (one member clears the others) stay with the
  // full walk.
  wire_eligible_ = false;
  if (root_->oneof_decl_count() > 0 || root_->extension_range_count() > 0) return;
  int max_number = 0;
  for (int i = 0; i < root_->field_count(); ++i)
    max_number = std::max(max_number, root_->field(i)->number());
  if (max_number > 65535) return;
  std::vector<int> slot(static_cast<size_t>(max_number) + 1, kWireUnknown);
  std::vector<int> required;
  std::vector<const Column*> columns;
  for (size_t i = 0; i < bindings_.size(); ++i) {
    const Binding& b = bindings_[i];
    FieldDescriptor::Type t = b.field->type();
    if (b.column->type == ColumnType::kStruct || t == FieldDescriptor::TYPE_ENUM ||
        t == FieldDescriptor::TYPE_MESSAGE || t == FieldDescriptor::TYPE_GROUP) {
      return;
    }
    for (const Column* c : columns) {
      if (c == b.column) return;  // two fields for one column: the walk uses the last only
    }
    columns.push_back(b.column);
    slot[static_cast<size_t>(b.field->number())] = static_cast<int>(i);
    if (b.field->is_required() || b.column->mode == ColumnMode::kRequired) {
      required.push_back(static_cast<int>(i));
    }
  }
  if (change_type_) {
    if (change_type_->is_required()) return;
    slot[static_cast<size_t>(change_type_->number())] = kWireChangeType;
  }
  if (change_sequence_) {
    if (change_sequence_->is_required()) return;
    slot[static_cast<size_t>(change_sequence_->number())] = kWireChangeSequence;
  }
  wire_slot_ = std::move(slot);
  wire_required_ = std::move(required);
  wire_eligible_ = true;
}

bool WriterSchema::WireRowIsValid(std::string_view bytes) const {
  if (!wire_eligible_) return false;
  wire_seen_.assign(bindings_.size(), 0);
  bool has_change_type = false, has_change_sequence = false;
  std::string_view change_type, change_sequence;
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  while (p < end) {
    uint64_t tag;
    if (!ReadVarint(&p, end, &tag, 5) || tag > UINT32_MAX) return false;
    uint64_t number = tag >> 3;
    int wire = static_cast<int>(tag & 7);
    if (number == 0 || number >= wire_slot_.size()) return false;
    int slot = wire_slot_[number];
    if (slot == kWireUnknown) return false;
    if (slot == kWireChangeType || slot == kWireChangeSequence) {
      bool type = slot == kWireChangeType;
      if (wire != 2 || !ReadLengthDelimited(&p, end, type ? &change_type : &change_sequence)) {
        return false;
      }
      (type ? has_change_type : has_change_sequence) = true;
      continue;
    }
    const Binding& b = bindings_[static_cast<size_t>(slot)];
    FieldDescriptor::Type t = b.field->type();
    int expected = WireTypeOf(t);
    // Every occurrence is checked, also of a singular field whose last
    // occurrence wins: stricter than the walk, which only costs a fallback.
    Where where{nullptr, &b.column->name};
    if (wire == expected) {
      FieldValue v;
      bool read =
          expected == 2 ? ReadLengthDelimited(&p, end, &v.text) : ReadWireScalar(t, &p, end, &v);
      if (!read || !CheckValue(b, v, where, nullptr).ok()) return false;
    } else if (wire == 2 && expected != 2 && b.field->is_repeated()) {
      // Packed, accepted for any repeated scalar whatever its [packed] option.
      std::string_view packed;
      if (!ReadLengthDelimited(&p, end, &packed)) return false;
      const char* q = packed.data();
      const char* qend = q + packed.size();
      while (q < qend) {
        FieldValue v;
        if (!ReadWireScalar(t, &q, qend, &v) || !CheckValue(b, v, where, nullptr).ok()) {
          return false;
        }
      }
    } else {
      return false;
    }
    wire_seen_[static_cast<size_t>(slot)] = 1;
  }
  for (int i : wire_required_) {
    if (!wire_seen_[static_cast<size_t>(i)]) return false;
  }
  const char* canonical;
  return CheckChangeRow(
             has_change_type ? &change_type : nullptr,
             has_change_sequence ? &change_sequence : nullptr, change_type_ != nullptr, table_,
             key_bindings_, [&](int bi) { return wire_seen_[static_cast<size_t>(bi)] != 0; },
             &canonical)
      .ok();
}

Status WriterSchema::Walk(std::string_view bytes, DecodedRow* row) const {
  // One message reused for every row of the connection: allocating a
  // DynamicMessage per row was a large share of the decode cost.
  if (!scratch_) scratch_.reset(factory_->GetPrototype(root_)->New());
  Message* msg = scratch_.get();
  msg->Clear();
  if (!msg->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::InvalidArgument(
        "Could not parse the serialized row with the writer schema (malformed bytes or a "
        "REQUIRED proto field missing)");
  }
  const Reflection* r = msg->GetReflection();
  if (!r->GetUnknownFields(*msg).empty()) {
    return Status::InvalidArgument(
        "The serialized row has fields whose numbers are not in the writer schema");
  }
  PG2BQ_RETURN_IF_ERROR(ConvertStruct(*msg, bindings_, by_column_, table_.columns, nullptr,
                                      row ? &row->values : nullptr));
  std::string type_scratch, sequence_scratch;
  std::string_view change_type, sequence;
  bool has_change_type = change_type_ && r->HasField(*msg, change_type_);
  bool has_sequence = change_sequence_ && r->HasField(*msg, change_sequence_);
  if (has_change_type) change_type = r->GetStringReference(*msg, change_type_, &type_scratch);
  if (has_sequence) sequence = r->GetStringReference(*msg, change_sequence_, &sequence_scratch);
  const char* canonical;
  PG2BQ_RETURN_IF_ERROR(CheckChangeRow(
      has_change_type ? &change_type : nullptr, has_sequence ? &sequence : nullptr,
      change_type_ != nullptr, table_, key_bindings_,
      [&](int bi) { return r->HasField(*msg, bindings_[static_cast<size_t>(bi)].field); },
      &canonical));
  if (row && canonical) row->change_type = canonical;
  if (row && has_sequence) row->change_sequence = std::string(sequence);
  return Status::Ok();
}

}  // namespace pg2bq::bqemu
