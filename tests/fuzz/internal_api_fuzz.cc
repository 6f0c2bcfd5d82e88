// What one engine role reads from another (internal_api.h): the data role's
// answers, error bodies, and the principal headers the gateway forwards. The
// first byte picks the decoder; the rest is the body (or, for the principal,
// "client\nscope\nkey-id").
#include <string>

#include "engine/internal_api.h"
#include "fuzz_check.h"

namespace engine = pricing::engine;
using pricing::fuzz::Check;

namespace {

constexpr std::string_view kToken = "fuzz-internal-token-0123456789";

// Every successful decode must encode back to something that decodes to the
// same encoding.
template <typename T, typename Encode, typename Decode>
void RoundTrip(const engine::Result<T>& decoded, Encode encode, Decode decode) {
  if (!decoded) {
    Check(decoded.error().code == engine::ErrorCode::kServiceUnavailable,
          "a malformed answer is not kServiceUnavailable", decoded.error().message);
    return;
  }
  const std::string body = encode(*decoded);
  const auto again = decode(body);
  Check(again.has_value(), "an encoded answer does not decode", body);
  Check(encode(*again) == body, "an answer does not round trip", body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body = pricing::fuzz::Text(data + 1, size - 1);
  switch (data[0] % 9) {
    case 0:
      RoundTrip(engine::DecodeStockBody(body), engine::EncodeStockBody, engine::DecodeStockBody);
      break;
    case 1:
      RoundTrip(engine::DecodeStockListBody(body), engine::EncodeStockListBody,
                engine::DecodeStockListBody);
      break;
    case 2:
      RoundTrip(engine::DecodeBrokerBody(body), engine::EncodeBrokerBody,
                engine::DecodeBrokerBody);
      break;
    case 3:
      RoundTrip(engine::DecodeVolatilityBody(body), engine::EncodeVolatilityBody,
                engine::DecodeVolatilityBody);
      break;
    case 4:
      RoundTrip(engine::DecodeApiKeyBody(body), engine::EncodeApiKeyBody,
                engine::DecodeApiKeyBody);
      break;
    case 5:
      RoundTrip(engine::DecodeRateBody(body), engine::EncodeRateBody, engine::DecodeRateBody);
      RoundTrip(engine::DecodeVixBody(body), engine::EncodeVixBody, engine::DecodeVixBody);
      break;
    case 6:
      RoundTrip(engine::DecodeEventRiskBody(body), engine::EncodeEventRiskBody,
                engine::DecodeEventRiskBody);
      break;
    case 7: {
      const int status = 400 + static_cast<int>(body.size() % 200);
      const engine::Error e = engine::DecodeErrorBody(status, body);
      Check(!e.message.empty(), "an error without a message");
      break;
    }
    case 8: {
      const auto [client, rest] = pricing::fuzz::SplitOnce(body, "\n");
      const auto [scope, key_id] = pricing::fuzz::SplitOnce(rest, "\n");
      engine::ApiRequest request;
      request.method = "POST";
      request.path = "/api/v1/calculate-locate";
      request.headers = {{"x-internal-token", std::string(kToken)},
                         {"x-pricing-client-id", std::string(client)},
                         {"x-pricing-key-scope", std::string(scope)},
                         {"x-pricing-key-id", std::string(key_id)}};
      if (auto key = engine::ForwardedPrincipal(request, kToken)) {
        Check(!key->key_hash.empty() && key->rate_limit_per_minute == 0,
              "a forwarded principal breaks its contract", key->key_hash);
      }
      (void)engine::InternalRouteOf(body);
      break;
    }
  }
  return 0;
}
