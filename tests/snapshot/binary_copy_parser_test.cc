#include "agent/snapshot/binary_copy_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pg2bq::agent::snapshot {
namespace {

std::string Header(std::uint32_t flags = 0, std::string ext = {}) {
  std::string h("PGCOPY\n\377\r\n\0", 11);
  auto put32 = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8)
      h.push_back(static_cast<char>((v >> s) & 0xFF));
  };
  put32(flags);
  put32(static_cast<std::uint32_t>(ext.size()));
  return h + ext;
}
void Put16(std::string* s, std::int16_t v) {
  s->push_back(static_cast<char>((v >> 8) & 0xFF));
  s->push_back(static_cast<char>(v & 0xFF));
}
void Put32(std::string* s, std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  for (int sh = 24; sh >= 0; sh -= 8)
    s->push_back(static_cast<char>((u >> sh) & 0xFF));
}
std::string Tuple(const std::vector<std::optional<std::string>>& fields) {
  std::string t;
  Put16(&t, static_cast<std::int16_t>(fields.size()));
  for (const auto& f : fields) {
    if (!f) {
      Put32(&t, -1);
    } else {
      Put32(&t, static_cast<std::int32_t>(f->size()));
      t += *f;
    }
  }
  return t;
}
std::string Trailer() {
  std::string t;
  Put16(&t, -1);
  return t;
}

// Parses `data` fed in pieces of `piece` bytes; returns the tuples as strings ("<null>").
// Each piece is its own copy (the way libpq hands out CopyData messages), overwritten and
// freed as soon as the parser asks for more: tuples read in place must be consumed by then,
// and a partial one must have been copied (ASan checks the reads).
Result<std::vector<std::vector<std::string>>> ParseAll(std::string_view data, std::size_t piece,
                                                       std::size_t expected = 0) {
  BinaryCopyParser parser(expected);
  std::vector<std::vector<std::string>> out;
  std::vector<CopyField> fields;
  std::size_t fed = 0;
  auto feed = std::make_unique<std::string>();
  while (true) {
    PG2BQ_ASSIGN_OR_RETURN(auto step, parser.Next(&fields));
    if (step == BinaryCopyParser::Step::kTuple) {
      std::vector<std::string> row;
      for (const auto& f : fields)
        row.push_back(f.is_null ? "<null>" : std::string(f.bytes));
      out.push_back(std::move(row));
      continue;
    }
    std::fill(feed->begin(), feed->end(), '#');
    feed = std::make_unique<std::string>();
    if (step == BinaryCopyParser::Step::kEnd || fed == data.size()) break;
    const std::size_t n = std::min(piece, data.size() - fed);
    feed->assign(data.substr(fed, n));
    parser.Feed(*feed);
    fed += n;
  }
  PG2BQ_RETURN_IF_ERROR(parser.Finish());
  return out;
}

TEST(BinaryCopyParser, ParsesTuplesAtEveryFeedBoundary) {
  const std::string data = Header() + Tuple({std::string("\0\0\0\1", 4), std::nullopt}) +
                           Tuple({std::string(""), std::string("hello")}) + Trailer();
  for (std::size_t piece = 1; piece <= data.size(); ++piece) {
    auto rows = ParseAll(data, piece, 2);
    ASSERT_TRUE(rows.ok()) << "piece " << piece << ": " << rows.status().ToString();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0][0], std::string("\0\0\0\1", 4));
    EXPECT_EQ((*rows)[0][1], "<null>");
    EXPECT_EQ((*rows)[1][0], "");  // empty, not NULL
    EXPECT_EQ((*rows)[1][1], "hello");
  }
}

TEST(BinaryCopyParser, ReadsFeedsInPlaceAndKeepsPartialTuples) {
  const std::string first = Header() + Tuple({std::string("alpha"), std::nullopt});
  const std::string second = Tuple({std::string("beta"), std::string("gamma")});
  const std::string data = first + second + Tuple({std::string(""), std::string("x")}) + Trailer();
  // Whole tuples per feed (PostgreSQL's framing), and every other split.
  for (std::size_t piece = 1; piece <= data.size(); ++piece) {
    auto rows = ParseAll(data, piece);
    ASSERT_TRUE(rows.ok()) << "piece " << piece << ": " << rows.status().ToString();
    ASSERT_EQ(rows->size(), 3u) << "piece " << piece;
    EXPECT_EQ((*rows)[0], (std::vector<std::string>{"alpha", "<null>"}));
    EXPECT_EQ((*rows)[1], (std::vector<std::string>{"beta", "gamma"}));
    EXPECT_EQ((*rows)[2], (std::vector<std::string>{"", "x"}));
  }
}

TEST(BinaryCopyParser, SkipsHeaderExtension) {
  const std::string data = Header(0, "extension!") + Tuple({std::string("x")}) + Trailer();
  auto rows = ParseAll(data, 3);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0][0], "x");
}

TEST(BinaryCopyParser, EmptyTable) {
  auto rows = ParseAll(Header() + Trailer(), 5);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
}

TEST(BinaryCopyParser, RejectsBadSignature) {
  std::string data = Header() + Trailer();
  data[1] = 'X';
  auto rows = ParseAll(data, 100);
  ASSERT_FALSE(rows.ok());
  EXPECT_TRUE(rows.status().IsCorruption());
  EXPECT_NE(rows.status().ToString().find("signature"), std::string::npos);
}

TEST(BinaryCopyParser, RejectsOidsAndCriticalFlags) {
  EXPECT_FALSE(ParseAll(Header(1u << 16) + Trailer(), 100).ok());
  EXPECT_FALSE(ParseAll(Header(1u << 20) + Trailer(), 100).ok());
  EXPECT_TRUE(ParseAll(Header(1u << 3) + Trailer(), 100).ok());  // non-critical bit
}

TEST(BinaryCopyParser, RejectsWrongFieldCount) {
  const std::string data = Header() + Tuple({std::string("a")}) + Trailer();
  auto rows = ParseAll(data, 100, 2);
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().ToString().find("expected 2"), std::string::npos)
      << rows.status().ToString();
}

TEST(BinaryCopyParser, RejectsNegativeLengths) {
  std::string t;
  Put16(&t, 1);
  Put32(&t, -5);
  auto rows = ParseAll(Header() + t + Trailer(), 100);
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().ToString().find("length -5"), std::string::npos);
}

TEST(BinaryCopyParser, TruncatedDataFailsAtFinishWithOffset) {
  const std::string full = Header() + Tuple({std::string("abcdef")}) + Trailer();
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    auto rows = ParseAll(full.substr(0, cut), 4);
    ASSERT_FALSE(rows.ok()) << "cut " << cut;
    EXPECT_TRUE(rows.status().IsCorruption());
  }
}

TEST(BinaryCopyParser, RejectsBytesAfterTrailer) {
  auto rows = ParseAll(Header() + Trailer() + "junk", 100);
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().ToString().find("after the trailer"), std::string::npos);
}

TEST(BinaryCopyParser, CountsBytesAcrossBufferCompaction) {
  std::string data = Header();
  const std::string big(100000, 'z');
  for (int i = 0; i < 5; ++i)
    data += Tuple({big});
  data += Trailer();
  BinaryCopyParser parser(1);
  std::vector<CopyField> fields;
  std::size_t fed = 0, tuples = 0;
  while (true) {
    auto step = parser.Next(&fields);
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    if (*step == BinaryCopyParser::Step::kTuple) {
      ASSERT_EQ(fields[0].bytes.size(), big.size());
      ++tuples;
      continue;
    }
    if (*step == BinaryCopyParser::Step::kEnd) break;
    const std::size_t n = std::min<std::size_t>(7000, data.size() - fed);
    parser.Feed(std::string_view(data).substr(fed, n));
    fed += n;
  }
  EXPECT_EQ(tuples, 5u);
  EXPECT_EQ(parser.bytes_consumed(), data.size());
  EXPECT_TRUE(parser.Finish().ok());
}

}  // namespace
}  // namespace pg2bq::agent::snapshot
