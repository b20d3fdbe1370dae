// Text forms and ranges of BigQuery's scalar types: the exact strings the
// emulator stores and prints (TIMESTAMP "YYYY-MM-DDTHH:MM:SS.ffffffZ", DATE,
// TIME, DATETIME, NUMERIC/BIGNUMERIC as exact decimals), and the parsers that
// enforce BigQuery's ranges (years 0001..9999, NUMERIC 29+9 digits, BIGNUMERIC
// 38+38 digits).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pg2bq::bqemu {

inline constexpr int64_t kMinTimestampMicros = -62135596800000000LL;  // 0001-01-01 00:00:00Z
inline constexpr int64_t kMaxTimestampMicros = 253402300799999999LL;  // 9999-12-31 23:59:59.999999Z
inline constexpr int64_t kMicrosPerDay = 86400000000LL;
inline constexpr int32_t kMinDate = -719162;  // 0001-01-01 as days since 1970-01-01
inline constexpr int32_t kMaxDate = 2932896;  // 9999-12-31

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t days, int64_t* y, unsigned* m, unsigned* d);

std::string FormatDate(int64_t days);                             // YYYY-MM-DD
std::string FormatTimeOfDay(int64_t micros_of_day);               // HH:MM:SS.ffffff
std::string FormatTimestamp(int64_t micros);                      // YYYY-MM-DDTHH:MM:SS.ffffffZ
std::string FormatDatetime(int64_t days, int64_t micros_of_day);  // YYYY-MM-DDTHH:MM:SS.ffffff

// Each returns InvalidArgument naming the value when it does not parse or is
// out of BigQuery's range.
Result<int64_t> ParseDate(std::string_view text);       // days since epoch
Result<int64_t> ParseTimeOfDay(std::string_view text);  // micros since midnight
Result<int64_t> ParseTimestamp(std::string_view text);  // micros since epoch, UTC
Status ParseDatetime(std::string_view text, int64_t* days, int64_t* micros_of_day);
Status CheckTimestampMicros(int64_t micros);
Status CheckDateDays(int64_t days);

// Packed civil encodings of the Storage Write API (CivilTimeEncoder):
// TIME = hour<<32 | minute<<26 | second<<20 | micros;
// DATETIME = year<<46 | month<<42 | day<<37 | TIME bits.
Result<int64_t> DecodePackedTime(int64_t packed);
Status DecodePackedDatetime(int64_t packed, int64_t* days, int64_t* micros_of_day);

// Exact decimal text, normalized (no exponent, no leading or trailing zeros,
// "0" for zero). Fails when more than max_integer_digits before or
// max_fraction_digits after the point remain.
// CheckDecimal gives NormalizeDecimal's verdict and message without building
// the text (the --no-storage path).
Status CheckDecimal(std::string_view text, int max_integer_digits, int max_fraction_digits);
Result<std::string> NormalizeDecimal(std::string_view text, int max_integer_digits,
                                     int max_fraction_digits);
// Little-endian two's complement integer scaled by 10^scale (the Write API's
// BigDecimalByteStringEncoder form) to decimal text.
std::string DecimalFromScaledBytes(std::string_view bytes, int scale);

inline constexpr int kNumericIntegerDigits = 29;
inline constexpr int kNumericFractionDigits = 9;
inline constexpr int kBigNumericIntegerDigits = 38;
inline constexpr int kBigNumericFractionDigits = 38;

std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace pg2bq::bqemu
