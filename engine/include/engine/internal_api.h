// The internal HTTP API between the engine's roles (`--role`): how the gateway
// hands a verified principal to the calculation role, the data role's API over
// its ReferenceStore and MarketData, and the audit role's batch intake. Pure:
// requests and responses are ApiRequest / ApiResponse (service.h); the HTTP
// adapters carry them.
//
// Every internal call carries the shared secret in X-Internal-Token, compared
// in constant time; a request without it is refused with 401 UNAUTHORIZED.
//
// Gateway -> calculation: the client's request (method, path, query, body,
// Content-Type, X-Request-Id) plus
//   X-Pricing-Client-Id   the key's client_id (may be empty for an internal key)
//   X-Pricing-Key-Scope   client | internal
//   X-Pricing-Key-Id      the first 16 hex digits of the key's SHA-256 (audit)
//
// Data role (GET only; bodies are JSON, decimals as strings of their exact
// decimal text, never JSON numbers; an absent row is null):
//   /internal/v1/stocks/{ticker}
//   {"stock":{ticker,borrow_status,min_borrow_rate,lender_api_id}|null}
//   /internal/v1/stocks?status=&limit=&offset=   {"stocks":[stock...]}
//   /internal/v1/brokers/{client_id} {"broker":{client_id,markup_percentage,transaction_fee_type,
//                                          transaction_amount,day_count}|null}
//   /internal/v1/volatility/{ticker} {"volatility":{ticker,vol_index?,event_risk_factor?}|null}
//   /internal/v1/api-keys/{key_hash}
//   {"api_key":{key_hash,client_id,rate_limit_per_minute,scope}|null}
//   /internal/v1/lender-rates/{ticker}    {"rate":"0.15"}
//   /internal/v1/market/vix               {"value":"22.4"}
//   /internal/v1/event-risks/{ticker}     {"risk_factor":6}
//   /internal/v1/ping                     {"status":"ok"}
// Path segments are percent-encoded. Failures are the error body of docs/design.md
// §2.3 with its status (503 SERVICE_UNAVAILABLE when the store or the external
// API cannot answer); DecodeErrorBody turns one back into the Error.
//
// Audit role:
//   POST /internal/v1/audit-batches       body: one serialized AuditRecord per line
//   -> 200 {"status":"ok","accepted":N} once the batch is committed; 400 when a
//   line does not parse or the store refuses the values (terminal); 503 while
//   the store is down (the sender retries).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/text.h"
#include "engine/error.h"
#include "engine/model.h"
#include "engine/ports.h"
#include "engine/service.h"

namespace pricing::engine {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kInternalTokenHeader = "X-Internal-Token";
inline constexpr std::string_view kPrincipalClientHeader = "X-Pricing-Client-Id";
inline constexpr std::string_view kPrincipalScopeHeader = "X-Pricing-Key-Scope";
inline constexpr std::string_view kPrincipalKeyHeader = "X-Pricing-Key-Id";
// "gateway" when the gateway made the request's X-Request-Id up (the client
// sent none): such an id is never seen again, so it is not worth a claim.
inline constexpr std::string_view kRequestIdOriginHeader = "X-Pricing-Request-Id-Origin";

inline constexpr std::string_view kInternalPrefix = "/internal/v1/";
inline constexpr std::string_view kAuditBatchPath = "/internal/v1/audit-batches";

// Returns a == b, taking time that depends on the lengths only, never on
// where the contents differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Returns ok when `request` carries `token` in X-Internal-Token, else
// kUnauthorized (field "X-Internal-Token"). REQUIRES: token non-empty.
Result<void> CheckInternalToken(const ApiRequest& request, std::string_view token);

// Returns the headers with which the gateway forwards `request`, admitted
// with `key`: its Content-Type and X-Request-Id (marked when the gateway
// made it up), the token and the principal.
HeaderList ForwardHeaders(const ApiRequest& request, const ApiKey& key, std::string_view token);

// Returns true when the gateway marked the X-Request-Id of `request` as its
// own. Meaningful only for a request whose token was checked.
bool RequestIdMadeUpstream(const ApiRequest& request);

// Returns the principal the gateway forwarded in `request`, as an ApiKey whose
// key_hash is the key id and whose rate limit is 0 (the gateway applied it).
// kUnauthorized when the token is missing or wrong, or the principal headers
// are missing or malformed.
Result<ApiKey> ForwardedPrincipal(const ApiRequest& request, std::string_view token);

// Returns true when a response header from the calculation role is passed on
// to the client by the gateway (not hop-by-hop, not one the gateway sets).
bool IsForwardedResponseHeader(std::string_view name);

using pricing::PercentDecode;
using pricing::PercentEncode;
// Returns path + "?k=v&..." with every key and value percent-encoded, or
// just `path` when `query` is empty.
std::string TargetWithQuery(std::string_view path, const HeaderList& query);

// Returns the route template of an internal path for metric labels, e.g.
// "/internal/v1/stocks/{ticker}", or an empty view when `path` is not one.
std::string_view InternalRouteOf(std::string_view path);

// Data role wire format (see the top of this file).
std::string EncodeStockBody(const std::optional<Stock>& stock);
Result<std::optional<Stock>> DecodeStockBody(std::string_view body);
std::string EncodeStockListBody(const std::vector<Stock>& stocks);
Result<std::vector<Stock>> DecodeStockListBody(std::string_view body);
std::string EncodeBrokerBody(const std::optional<Broker>& broker);
Result<std::optional<Broker>> DecodeBrokerBody(std::string_view body);
std::string EncodeVolatilityBody(const std::optional<VolatilityRow>& row);
Result<std::optional<VolatilityRow>> DecodeVolatilityBody(std::string_view body);
std::string EncodeApiKeyBody(const std::optional<ApiKey>& key);
Result<std::optional<ApiKey>> DecodeApiKeyBody(std::string_view body);
std::string EncodeRateBody(Decimal rate);
Result<Decimal> DecodeRateBody(std::string_view body);
std::string EncodeVixBody(Decimal vix);
Result<Decimal> DecodeVixBody(std::string_view body);
std::string EncodeEventRiskBody(int risk);
Result<int> DecodeEventRiskBody(std::string_view body);
// Decode errors are kServiceUnavailable ("data role: malformed answer ...").

// Returns the Error an error body of docs/design.md §2.3 carries; when `body` is
// not one, an error of the code that `status` carries (5xx:
// kServiceUnavailable) whose message names the status.
Error DecodeErrorBody(int status, std::string_view body);

// The data role's API over `store` and `market` (not owned; must outlive it).
// Handle blocks on them: call it where blocking is allowed.
class DataApi {
 public:
  DataApi(ReferenceStore* store, MarketData* market, std::string internal_token);

  // Returns true when `path` is one of the API's paths.
  static bool Owns(std::string_view path);

  // Answers one request. REQUIRES: Owns(request.path).
  ApiResponse Handle(const ApiRequest& request);

 private:
  ReferenceStore* store_;
  MarketData* market_;
  const std::string token_;
};

// The audit role's intake: parses each line of a batch with `parse` and hands
// the batch to `store`, which must be idempotent on calculation_id and return
// only once the records are committed.
class AuditApi {
 public:
  using Parse = std::function<Result<AuditRecord>(std::string_view)>;
  using Store = std::function<Result<void>(const std::vector<AuditRecord>&)>;

  AuditApi(Parse parse, Store store, std::string internal_token);

  // Answers one request to kAuditBatchPath; blocks on `store`.
  ApiResponse Handle(const ApiRequest& request);

 private:
  const Parse parse_;
  const Store store_;
  const std::string token_;
};

}  // namespace pricing::engine
