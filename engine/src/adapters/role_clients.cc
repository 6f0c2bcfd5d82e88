#include "adapters/role_clients.h"

#include <utility>

#include "engine/internal_api.h"

namespace pricing::engine {
namespace {

HttpClientRequest InternalRequest(std::string method, std::string target,
                                  const std::string& token) {
  HttpClientRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers.emplace_back(std::string(kInternalTokenHeader), token);
  return r;
}

// Returns the body of a 200 answer to GET `target` (within `timeout` when
// that is shorter than the client's).
Result<std::string> Get(HttpClient& client, const std::string& token, std::string target,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
  HttpClientRequest r = InternalRequest("GET", std::move(target), token);
  r.timeout = timeout;
  auto res = client.SendSync(std::move(r));
  if (!res) return std::unexpected(res.error());
  if (res->status != 200) {
    Error e = DecodeErrorBody(res->status, res->body);
    return Fail(ErrorCode::kServiceUnavailable, "data role: " + e.message);
  }
  return std::move(res->body);
}

std::string Path(std::string_view collection, std::string_view id) {
  return std::string(kInternalPrefix) + std::string(collection) + "/" + PercentEncode(id);
}

template <typename Decode>
auto GetDecoded(HttpClient& client, const std::string& token, std::string target, Decode decode)
    -> decltype(decode(std::string_view())) {
  auto body = Get(client, token, std::move(target));
  if (!body) return std::unexpected(body.error());
  return decode(*body);
}

}  // namespace

RemoteReferenceStore::RemoteReferenceStore(HttpClient& client, std::string internal_token)
    : client_(client), token_(std::move(internal_token)) {}

Result<std::optional<Stock>> RemoteReferenceStore::GetStock(const std::string& ticker) {
  return GetDecoded(client_, token_, Path("stocks", ticker), DecodeStockBody);
}

Result<std::optional<Broker>> RemoteReferenceStore::GetBroker(const std::string& client_id) {
  return GetDecoded(client_, token_, Path("brokers", client_id), DecodeBrokerBody);
}

Result<std::optional<VolatilityRow>> RemoteReferenceStore::GetVolatility(
    const std::string& ticker) {
  return GetDecoded(client_, token_, Path("volatility", ticker), DecodeVolatilityBody);
}

Result<std::optional<ApiKey>> RemoteReferenceStore::GetApiKeyByHash(const std::string& key_hash) {
  return GetDecoded(client_, token_, Path("api-keys", key_hash), DecodeApiKeyBody);
}

Result<std::vector<Stock>> RemoteReferenceStore::ListStocks(BorrowStatus status, int limit,
                                                            int offset) {
  std::string target = std::string(kInternalPrefix) +
                       "stocks?status=" + std::string(BorrowStatusName(status)) +
                       "&limit=" + std::to_string(limit) + "&offset=" + std::to_string(offset);
  return GetDecoded(client_, token_, std::move(target), DecodeStockListBody);
}

Result<void> RemoteReferenceStore::Ping() {
  // Readiness probes call this and must answer quickly whatever data does.
  auto body = Get(client_, token_, std::string(kInternalPrefix) + "ping", std::chrono::seconds(1));
  if (!body) return std::unexpected(body.error());
  return {};
}

RemoteMarketData::RemoteMarketData(HttpClient& client, std::string internal_token)
    : client_(client), token_(std::move(internal_token)) {}

Result<Decimal> RemoteMarketData::LenderRate(const std::string& ticker) {
  return GetDecoded(client_, token_, Path("lender-rates", ticker), DecodeRateBody);
}

Result<Decimal> RemoteMarketData::MarketVix() {
  return GetDecoded(client_, token_, std::string(kInternalPrefix) + "market/vix", DecodeVixBody);
}

Result<int> RemoteMarketData::EventRisk(const std::string& ticker) {
  return GetDecoded(client_, token_, Path("event-risks", ticker), DecodeEventRiskBody);
}

AuditBatchSink RemoteAuditSink(HttpClient& client, std::string internal_token,
                               size_t max_body_bytes) {
  return [&client, token = std::move(internal_token),
          max_body_bytes](const std::vector<AuditRecord>& batch) -> Result<void> {
    auto post = [&](std::string body) -> Result<void> {
      HttpClientRequest r = InternalRequest("POST", std::string(kAuditBatchPath), token);
      r.headers.emplace_back("Content-Type", "application/x-ndjson");
      r.body = std::move(body);
      auto res = client.SendSync(std::move(r));
      if (!res) return std::unexpected(res.error());
      if (res->status == 200) return {};
      Error e = DecodeErrorBody(res->status, res->body);
      return Fail(
          res->status == 400 ? ErrorCode::kInvalidParameter : ErrorCode::kServiceUnavailable,
          "audit batch not taken: " + e.message);
    };
    std::string body;
    for (const AuditRecord& record : batch) {
      std::string line = SerializeAuditRecord(record);
      line.push_back('\n');
      if (max_body_bytes > 0 && !body.empty() && body.size() + line.size() > max_body_bytes) {
        if (auto sent = post(std::move(body)); !sent) return sent;
        body.clear();
      }
      body += line;
    }
    if (body.empty()) return {};
    return post(std::move(body));
  };
}

Result<void> ProbeRole(HttpClient& client, std::string path, const std::string& internal_token,
                       std::chrono::milliseconds timeout) {
  HttpClientRequest r = InternalRequest("GET", std::move(path), internal_token);
  r.timeout = timeout;
  auto res = client.SendSync(std::move(r));
  if (!res) return std::unexpected(res.error());
  if (res->status < 200 || res->status > 299) {
    return Fail(ErrorCode::kServiceUnavailable, "HTTP " + std::to_string(res->status));
  }
  return {};
}

}  // namespace pricing::engine
