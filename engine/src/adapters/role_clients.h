// The engine's ports over the other roles' internal HTTP APIs
// (engine/internal_api.h): the calculation, gateway and cache roles read
// reference data and market inputs through the data role, and the calculation
// role's audit spool drains to the audit role. Every call carries the shared
// internal token. Any failure, the other role's refusals included, is
// kServiceUnavailable (the ports' "cannot answer"), except that the audit
// role's 400 (it refused the records' values) is kInvalidParameter, terminal
// for the spool. Calls block: use them where blocking is allowed.
#pragma once

#include <string>
#include <string_view>

#include "adapters/audit_spool.h"
#include "adapters/http_client.h"
#include "engine/ports.h"

namespace pricing::engine {

// ReferenceStore over the data role. `client` must outlive the store.
class RemoteReferenceStore : public ReferenceStore {
 public:
  RemoteReferenceStore(HttpClient& client, std::string internal_token);

  Result<std::optional<Stock>> GetStock(const std::string& ticker) override;
  Result<std::optional<Broker>> GetBroker(const std::string& client_id) override;
  Result<std::optional<VolatilityRow>> GetVolatility(const std::string& ticker) override;
  Result<std::optional<ApiKey>> GetApiKeyByHash(const std::string& key_hash) override;
  Result<std::vector<Stock>> ListStocks(BorrowStatus status, int limit, int offset) override;
  // Ok when the data role answers within 1 s and its own store does.
  Result<void> Ping() override;

 private:
  HttpClient& client_;
  const std::string token_;
};

// MarketData over the data role, which calls the external APIs with their
// breakers and timeouts. `client` must outlive it.
class RemoteMarketData : public MarketData {
 public:
  RemoteMarketData(HttpClient& client, std::string internal_token);

  Result<Decimal> LenderRate(const std::string& ticker) override;
  Result<Decimal> MarketVix() override;
  Result<int> EventRisk(const std::string& ticker) override;

 private:
  HttpClient& client_;
  const std::string token_;
};

// Returns a sink for AuditSpool that posts each batch to kAuditBatchPath of
// `client`'s upstream (the audit role, which commits it, or a peer engine,
// which spools it) and succeeds once the upstream has accepted all of it.
// With `max_body_bytes`, a batch goes in several requests of at most that
// many bytes each (a single larger record alone), so that it fits a server's
// body limit; a re-sent part is harmless, as the stores are idempotent on
// calculation_id. `client` must outlive the sink.
AuditBatchSink RemoteAuditSink(HttpClient& client, std::string internal_token,
                               size_t max_body_bytes = 0);

// Returns ok when `client`'s upstream answers GET `path` with a 2xx status
// within `timeout` (readiness probes must answer quickly whatever the other
// role does).
Result<void> ProbeRole(HttpClient& client, std::string path, const std::string& internal_token,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

}  // namespace pricing::engine
