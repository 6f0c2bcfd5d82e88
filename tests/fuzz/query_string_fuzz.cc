// Query strings and path segments as a client sends them: the server's
// decoder (ParseQuery, UrlDecode), the request validators over its result,
// and the internal API's percent-encoding. Input: the query string, then
// optionally a newline and a {status} path segment.
#include <string>

#include "adapters/http_server.h"
#include "engine/internal_api.h"
#include "engine/validation.h"
#include "fuzz_check.h"

namespace engine = pricing::engine;
using pricing::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [query, status] = pricing::fuzz::SplitOnce(pricing::fuzz::Text(data, size), "\n");

  const engine::QueryParams params = engine::ParseQuery(query);
  size_t decoded_bytes = 0;
  for (const auto& [k, v] : params) decoded_bytes += k.size() + v.size();
  Check(decoded_bytes <= query.size(), "decoding made the query longer");

  if (auto request = engine::ParseLocateQuery(params)) {
    Check(engine::IsValidTicker(request->ticker), "accepted an invalid ticker", request->ticker);
    Check(engine::IsValidClientId(request->client_id), "accepted an invalid client id",
          request->client_id);
    Check(request->loan_days >= 1 && request->loan_days <= 365, "loan_days out of range");
    Check(engine::ValidatePositionValue(request->position_value).has_value(),
          "accepted an invalid position value", request->position_value.ToString());
  }
  if (auto page = engine::ParseStatusPage(status, params)) {
    Check(page->limit >= 1 && page->limit <= engine::kMaxPageLimit, "limit out of range");
    Check(page->offset >= 0 && page->offset <= engine::kMaxPageOffset, "offset out of range");
  }

  // Percent-encoding is the internal API's path and query form: whatever
  // PercentDecode accepts re-encodes to something that decodes back to it.
  if (auto decoded = engine::PercentDecode(query)) {
    const std::string encoded = engine::PercentEncode(*decoded);
    const auto again = engine::PercentDecode(encoded);
    Check(again && *again == *decoded, "PercentEncode does not round trip", encoded);
    Check(engine::UrlDecode(encoded) == *decoded, "UrlDecode disagrees with PercentDecode",
          encoded);
  }
  const std::string target = engine::TargetWithQuery("/p", params);
  Check(target.starts_with("/p"), "TargetWithQuery lost the path", target);
  return 0;
}
