// The engine's seams: everything the pricing service needs from the outside
// world, as small interfaces. Adapters implement them over PostgreSQL, Redis,
// HTTP and files; tests use fakes that can fail any call on demand.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "engine/error.h"
#include "engine/model.h"

namespace pricing::engine {

// Reference data of record (PostgreSQL, or the in-memory embedded store).
// Lookups return nullopt for "does not exist" and an error (kServiceUnavailable)
// when the store cannot answer.
class ReferenceStore {
 public:
  virtual ~ReferenceStore() = default;
  virtual Result<std::optional<Stock>> GetStock(const std::string& ticker) = 0;
  virtual Result<std::optional<Broker>> GetBroker(const std::string& client_id) = 0;
  virtual Result<std::optional<VolatilityRow>> GetVolatility(const std::string& ticker) = 0;
  virtual Result<std::optional<ApiKey>> GetApiKeyByHash(const std::string& key_hash) = 0;
  // Stocks of one tier ordered by ticker, `limit` rows from `offset`.
  virtual Result<std::vector<Stock>> ListStocks(BorrowStatus status, int limit, int offset) = 0;
  // Returns ok when the store answers a trivial query.
  virtual Result<void> Ping() = 0;
};

// A shared string cache with per-entry TTL (Redis). Misses and outages are not
// errors for callers that can compute the value: Get returns an error only so
// that metrics and readiness can tell an outage from a miss.
class Cache {
 public:
  virtual ~Cache() = default;
  virtual Result<std::optional<std::string>> Get(const std::string& key) = 0;
  virtual Result<void> Set(const std::string& key, const std::string& value,
                           std::chrono::seconds ttl) = 0;
  virtual Result<void> Ping() = 0;
};

// Per-key, per-minute token limiter. Take() grants one request or refuses it.
struct RateDecision {
  bool allowed = false;
  int64_t limit = 0;
  int64_t remaining = 0;
  int64_t reset_seconds = 0;  // until the current window ends
};

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  virtual RateDecision Take(const std::string& key_id, int64_t limit_per_minute) = 0;
  // Take without waiting on I/O, for an event loop: nullopt when the decision
  // needs a round trip (the caller then calls Take where it may block; no
  // token was spent). Default: Take, for limiters that never wait.
  virtual std::optional<RateDecision> TryTake(const std::string& key_id,
                                              int64_t limit_per_minute) {
    return Take(key_id, limit_per_minute);
  }
};

// Live market inputs from external APIs (docs/design.md §2.2). An error means the
// source is unavailable (non-2xx, malformed, timeout, or breaker open).
class MarketData {
 public:
  virtual ~MarketData() = default;
  virtual Result<Decimal> LenderRate(const std::string& ticker) = 0;
  virtual Result<Decimal> MarketVix() = 0;
  virtual Result<int> EventRisk(const std::string& ticker) = 0;
};

// One priced request, as recorded in the audit trail.
struct AuditRecord {
  std::string calculation_id;  // UUID, idempotency key in audit_log
  std::string request_id;
  std::string api_key_client;  // client of the key that asked
  LocateRequest request;
  Quote quote;
  MarketInputs inputs;
  std::chrono::system_clock::time_point at;
};

// Durable audit trail. Append calls `done` once the record is durable (or
// failed to become durable); `done` may run on another thread.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void Append(AuditRecord record, std::function<void(Result<void>)> done) = 0;
  // Records accepted but not yet in the audit store of record.
  virtual int64_t Pending() const = 0;
};

// The answers of priced requests that carried the client's request id,
// shared by every engine process (Redis), so that a request sent again to
// another process (the gateway resends a POST whose connection dropped) is
// priced once (docs/design.md §2.3). A name is claimed before it is priced; the
// claimant then settles it with its answer, or gives it up.
struct ReplyClaim {
  enum class State : uint8_t {
    kClaimed,     // nobody held the name: the caller prices it and settles it
    kAnswered,    // priced before: `body` is the answer
    kInProgress,  // another process holds the claim and has not answered
  };
  State state = State::kClaimed;
  std::string body;                   // kAnswered
  std::chrono::milliseconds left{0};  // kInProgress: until the claim lapses
};

class ReplyLedger {
 public:
  virtual ~ReplyLedger() = default;
  // Claims `name` for `ttl` if nobody holds it. An error (Redis unreachable)
  // means the ledger cannot say: the caller prices the request itself.
  virtual Result<ReplyClaim> Claim(const std::string& name, std::chrono::milliseconds ttl) = 0;
  // Settles a name this caller claimed: with the answer's body (kept for
  // `ttl`), or with nullopt to give the claim up (the request was refused, so
  // a retry must be decided again). Never waits on I/O; a write that cannot
  // be made is counted and the claim lapses on its own.
  virtual void Settle(const std::string& name, std::optional<std::string> body,
                      std::chrono::seconds ttl) = 0;
};

// Names in recent use, shared by every engine process (Redis sorted sets of
// name -> last time seen): the calculation role records the tickers and
// clients it prices, the cache role keeps their entries warm.
class ActivityLog {
 public:
  virtual ~ActivityLog() = default;
  // Records every name of `names` in `set` as seen at `at`.
  virtual Result<void> Record(const std::string& set, const std::vector<std::string>& names,
                              std::chrono::system_clock::time_point at) = 0;
  // Returns the names of `set` last seen at or after `since` (in no
  // particular order), and forgets the older ones.
  virtual Result<std::vector<std::string>> Since(const std::string& set,
                                                 std::chrono::system_clock::time_point since) = 0;
};

// What the cache role needs beyond Cache to refresh entries ahead of expiry,
// shared by every cache-role process.
class CacheExpiry {
 public:
  virtual ~CacheExpiry() = default;
  // Returns, for each key in order, the time left before it expires; nullopt
  // for a key that is absent (or never expires).
  virtual Result<std::vector<std::optional<std::chrono::milliseconds>>> TimeLeft(
      const std::vector<std::string>& keys) = 0;
  // Returns true when this caller now holds `claim` for `ttl` (nobody held
  // it), false when another caller holds it.
  virtual Result<bool> Claim(const std::string& claim, std::chrono::milliseconds ttl) = 0;
};

}  // namespace pricing::engine
