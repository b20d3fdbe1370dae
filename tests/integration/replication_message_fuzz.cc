// libFuzzer target for the bytes the replication stream takes from the server before
// the decoder sees them: XLogData / keepalive headers, and the JSON string escaper
// that prints server-supplied text. Output must always be valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/change_json.h"
#include "agent/replication_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  pg2bq::agent::XLogData x;
  if (pg2bq::agent::ParseXLogData(bytes, &x).ok() && x.payload.size() + 25 != size) std::abort();
  pg2bq::agent::PrimaryKeepalive k;
  (void)pg2bq::agent::ParsePrimaryKeepalive(bytes, &k);
  std::string out;
  pg2bq::agent::AppendJsonString(bytes, &out);
  auto parsed = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_string()) std::abort();
  return 0;
}
