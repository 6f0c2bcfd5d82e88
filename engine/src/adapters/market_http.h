// MarketData over the three external HTTP APIs of docs/design.md §2.2 (lender
// rates, market VIX, event risk), on cpprestsdk's http_client.
//
// Each API has its own client (one per distinct base URL, keep-alive), its own
// circuit breaker, and a hard per-call deadline: a caller never waits longer
// than `timeout` for an answer, whatever the server does (hangs, trickles
// bytes). Concurrent calls for the same resource share one outbound request
// (single-flight), and successful answers may be cached in-process for a short
// TTL (on by default for the market-wide VIX only). Every outbound request, and
// every call refused by an open breaker, is reported to an observer so metrics
// can count `external_api_requests_total{api,outcome}`.
//
// REQUIRES: cpprestsdk's thread pool sized by the caller
// (crossplat::threadpool::initialize_with_threads) before the first request.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine/circuit_breaker.h"
#include "engine/decimal.h"
#include "engine/error.h"
#include "engine/ports.h"

namespace pricing::engine {

enum class MarketApi { kLender, kMarket, kEvents };
// Returns the metric label: "lender" | "market" | "events".
std::string_view MarketApiName(MarketApi api);

enum class ApiOutcome { kSuccess, kError, kTimeout, kCircuitOpen };
// Returns the metric label: "success" | "error" | "timeout" | "circuit_open".
std::string_view ApiOutcomeName(ApiOutcome outcome);

struct MarketDataObservers {
  // Once per outbound request with its outcome (success, error, timeout), and
  // once per call refused by an open breaker (circuit_open). Calls served from
  // the in-process cache or joined to another caller's request are not
  // reported. May run on any thread; must be cheap and must not block.
  std::function<void(MarketApi, ApiOutcome)> on_request;
  // After every breaker state change (for logs).
  std::function<void(MarketApi, BreakerState from, BreakerState to)> on_breaker;
};

struct HttpMarketDataOptions {
  // Base URLs, e.g. "http://lender:8080". Empty = the API is absent: calls fail
  // with kServiceUnavailable at once, without network.
  std::string lender_url;
  std::string market_url;
  std::string events_url;
  // Deadline of one call, from its start to a parsed answer.
  std::chrono::milliseconds timeout{1000};
  // In-process cache of successful answers; zero disables it.
  std::chrono::milliseconds vix_ttl{5000};
  std::chrono::milliseconds lender_ttl{0};
  std::chrono::milliseconds events_ttl{0};
  CircuitBreakerOptions breaker;  // one breaker per API with these settings
  // Answers with a larger declared Content-Length are rejected unread.
  size_t max_body_bytes = 64 * 1024;
};

class HttpMarketData : public MarketData {
 public:
  // Returns a client for `options`, or kInvalidParameter naming the bad URL
  // (field "lender_url" | "market_url" | "events_url"). `now` drives the
  // breakers' cool-down and the cache TTLs; defaults to steady_clock::now.
  static Result<std::unique_ptr<HttpMarketData>> Create(HttpMarketDataOptions options,
                                                        MarketDataObservers observers = {},
                                                        CircuitBreaker::NowFn now = nullptr);
  // Cancels outstanding requests and waits (bounded by the timeout) for their
  // completions, so no observer runs after destruction.
  ~HttpMarketData() override;
  HttpMarketData(const HttpMarketData&) = delete;
  HttpMarketData& operator=(const HttpMarketData&) = delete;

  // Returns the lender's annual rate for `ticker` ({"rate": 0.15} → 0.15
  // exactly), or kServiceUnavailable. Answers are decoded and range-checked
  // by ParseLenderRate / ParseVix / ParseEventRisk (json_text.h); one that
  // fails them counts as an error of the API.
  Result<Decimal> LenderRate(const std::string& ticker) override;
  // Returns the market VIX ({"value": 22.4}), or kServiceUnavailable.
  Result<Decimal> MarketVix() override;
  // Returns the event risk factor 0..10 ({"risk_factor": 6}), or
  // kServiceUnavailable.
  Result<int> EventRisk(const std::string& ticker) override;

  // Returns the state of `api`'s breaker.
  BreakerState BreakerStateOf(MarketApi api) const;

 private:
  struct Impl;
  explicit HttpMarketData(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace pricing::engine
