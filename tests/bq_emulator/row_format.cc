#include "tests/bq_emulator/row_format.h"

#include <algorithm>
#include <cstdio>

#include "tests/bq_emulator/bq_values.h"

namespace pg2bq::bqemu {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

json Cell(const Column& c, const json& v, bool use_int64_timestamp, bool element);

json ScalarText(const Column& c, const json& v, bool use_int64_timestamp) {
  switch (c.type) {
    case ColumnType::kBool:
      return v.get<bool>() ? "true" : "false";
    case ColumnType::kFloat64:
      return v.is_string() ? v : json(v.dump());
    case ColumnType::kTimestamp: {
      auto micros = ParseTimestamp(v.get<std::string>());
      int64_t us = micros.ok() ? *micros : 0;
      if (use_int64_timestamp) return std::to_string(us);
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%lld.%06lld", us < 0 ? "-" : "",
                    static_cast<long long>((us < 0 ? -us : us) / 1000000),
                    static_cast<long long>((us < 0 ? -us : us) % 1000000));
      return buf;
    }
    case ColumnType::kJson:
      return v.dump();
    default:
      return v;
  }
}

json Cell(const Column& c, const json& v, bool use_int64_timestamp, bool element) {
  if (!element && c.mode == ColumnMode::kRepeated) {
    json arr = json::array();
    if (v.is_array()) {
      for (const auto& e : v)
        arr.push_back(Cell(c, e, use_int64_timestamp, true));
    }
    return {{"v", arr}};
  }
  if (v.is_null()) return {{"v", nullptr}};
  if (c.type == ColumnType::kStruct) {
    return {{"v", ToTableDataRow(c.fields, v, use_int64_timestamp)}};
  }
  return {{"v", ScalarText(c, v, use_int64_timestamp)}};
}

ordered_json DumpValue(const Column& c, const json& v, bool element) {
  if (!element && c.mode == ColumnMode::kRepeated) {
    ordered_json arr = ordered_json::array();
    if (v.is_array()) {
      for (const auto& e : v)
        arr.push_back(DumpValue(c, e, true));
    }
    return arr;
  }
  if (v.is_null()) return nullptr;
  if (c.type == ColumnType::kStruct) {
    ordered_json obj = ordered_json::object();
    for (const auto& sub : c.fields) {
      auto it = v.find(sub.name);
      obj[sub.name] = DumpValue(sub, it == v.end() ? json(nullptr) : *it, false);
    }
    return obj;
  }
  return ordered_json::parse(v.dump());
}

// Exact comparison of normalized decimal strings.
int CompareDecimal(const std::string& a, const std::string& b) {
  bool na = !a.empty() && a[0] == '-', nb = !b.empty() && b[0] == '-';
  if (na != nb) return na ? -1 : 1;
  std::string ma = na ? a.substr(1) : a, mb = nb ? b.substr(1) : b;
  auto split = [](const std::string& s, std::string* i, std::string* f) {
    size_t dot = s.find('.');
    *i = s.substr(0, dot);
    *f = dot == std::string::npos ? "" : s.substr(dot + 1);
  };
  std::string ia, fa, ib, fb;
  split(ma, &ia, &fa);
  split(mb, &ib, &fb);
  int cmp = 0;
  if (ia.size() != ib.size()) {
    cmp = ia.size() < ib.size() ? -1 : 1;
  } else if (ia != ib) {
    cmp = ia < ib ? -1 : 1;
  } else {
    size_t n = std::max(fa.size(), fb.size());
    fa.resize(n, '0');
    fb.resize(n, '0');
    cmp = fa == fb ? 0 : (fa < fb ? -1 : 1);
  }
  return na ? -cmp : cmp;
}

double FloatOf(const json& v) {
  if (v.is_number()) return v.get<double>();
  std::string s = v.get<std::string>();
  if (s == "NaN") return -1e308 * 10;  // NaN sorts first, like BigQuery's ORDER BY
  return s == "Infinity" ? 1e308 * 10 : -1e308 * 10;
}

}  // namespace

json ToTableDataRow(const std::vector<Column>& columns, const json& row, bool use_int64_timestamp) {
  json f = json::array();
  for (const auto& c : columns) {
    auto it = row.find(c.name);
    f.push_back(Cell(c, it == row.end() ? json(nullptr) : *it, use_int64_timestamp, false));
  }
  return {{"f", f}};
}

std::string ToDumpLine(const std::vector<Column>& columns, const json& row) {
  ordered_json out = ordered_json::object();
  for (const auto& c : columns) {
    auto it = row.find(c.name);
    out[c.name] = DumpValue(c, it == row.end() ? json(nullptr) : *it, false);
  }
  return out.dump();
}

int CompareStoredValues(ColumnType type, const json& a, const json& b) {
  if (a.is_null() || b.is_null()) return a.is_null() == b.is_null() ? 0 : (a.is_null() ? -1 : 1);
  switch (type) {
    case ColumnType::kInt64:
    case ColumnType::kNumeric:
    case ColumnType::kBigNumeric:
      return CompareDecimal(a.get<std::string>(), b.get<std::string>());
    case ColumnType::kFloat64: {
      double x = FloatOf(a), y = FloatOf(b);
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    case ColumnType::kBool:
      return a.get<bool>() == b.get<bool>() ? 0 : (a.get<bool>() ? 1 : -1);
    case ColumnType::kBytes: {
      auto x = Base64Decode(a.get<std::string>()), y = Base64Decode(b.get<std::string>());
      if (!x.ok() || !y.ok()) return 0;
      return x->compare(*y) < 0 ? -1 : (*x == *y ? 0 : 1);
    }
    case ColumnType::kString:
    case ColumnType::kDate:
    case ColumnType::kTime:
    case ColumnType::kDatetime:
    case ColumnType::kTimestamp:
    case ColumnType::kGeography:
    case ColumnType::kInterval:
      // Fixed-width civil forms sort correctly as bytes.
      if (a.is_string() && b.is_string()) {
        int c = a.get<std::string>().compare(b.get<std::string>());
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
      }
      break;
    default:
      break;
  }
  std::string x = a.dump(), y = b.dump();
  return x < y ? -1 : (x == y ? 0 : 1);
}

void SortRowsByKey(const TableSchema& schema, std::vector<json>* rows) {
  std::vector<const Column*> keys;
  for (const auto& name : schema.primary_key)
    keys.push_back(schema.Find(name));
  if (keys.empty()) {
    for (const auto& c : schema.columns)
      keys.push_back(&c);
  }
  std::stable_sort(rows->begin(), rows->end(), [&](const json& x, const json& y) {
    for (const Column* c : keys) {
      const json& a = x.contains(c->name) ? x[c->name] : json(nullptr);
      const json& b = y.contains(c->name) ? y[c->name] : json(nullptr);
      int cmp = c->mode == ColumnMode::kRepeated || c->type == ColumnType::kStruct
                    ? (a.dump() < b.dump() ? -1 : (a.dump() == b.dump() ? 0 : 1))
                    : CompareStoredValues(c->type, a, b);
      if (cmp != 0) return cmp < 0;
    }
    return false;
  });
}

}  // namespace pg2bq::bqemu
