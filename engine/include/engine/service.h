// The engine's API (docs/design.md §2.3) as a pure service over the ports of
// ports.h: authentication, rate limits, validation, tiered reference and market
// data lookups (in-process → shared cache → store / external API, with the
// fallbacks of §2.1), pricing, and the audit record that must be durable
// before a price is answered. Transport-agnostic: the HTTP adapter converts
// requests and responses; tests drive it with fakes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/model.h"
#include "engine/readiness.h"
#include "engine/ports.h"
#include "engine/pricing.h"
#include "engine/ttl_cache.h"

namespace pricing::engine {

struct ApiRequest {
  std::string method;
  std::string path;  // not decoded, no query
  std::vector<std::pair<std::string, std::string>> query;    // decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string request_id;  // from X-Request-Id, or generated
  // The client sent an X-Request-Id that IsValidRequestId refuses; request_id
  // is then a generated one, for the 400 that names the header.
  bool request_id_refused = false;
  // request_id is the client's own X-Request-Id (a retry carries it again).
  bool request_id_given = false;

  std::string_view Header(std::string_view lower_name) const;
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// Counters the service reports; the metrics adapter implements them.
class ServiceObserver {
 public:
  virtual ~ServiceObserver() = default;
  virtual void CacheHit(std::string_view cache) = 0;   // cache: "stock", "broker", ...
  virtual void CacheMiss(std::string_view cache) = 0;
  virtual void Fallback(std::string_view input) = 0;  // "base_rate", "volatility", "event_risk"
  virtual void RateLimited() = 0;
  virtual void Calculated(std::chrono::nanoseconds took) = 0;
  // A request's stage `stage` ended: `parked` when it had to wait where
  // waiting is not allowed (an event loop), the request then resuming at
  // that stage where it may; otherwise it finished (passed the request on or
  // answered it). Stage names come from a fixed set (PricingService's route
  // table).
  virtual void Stage(std::string_view stage, bool parked) {
    (void)stage;
    (void)parked;
  }
};

// Cache lifetimes of the reference design.
struct CacheTtls {
  std::chrono::seconds borrow_rate{300};
  std::chrono::seconds volatility{900};
  std::chrono::seconds event_risk{3600};
  std::chrono::seconds broker{1800};
  std::chrono::seconds stock{1800};
  std::chrono::seconds last_good_rate{24 * 3600};
  std::chrono::seconds api_key{60};
  std::chrono::seconds unknown_api_key{5};
  // How long an unavailable external answer (and the fallback it led to) is
  // reused before the API is asked again, and how long the market VIX is kept.
  std::chrono::seconds unavailable{5};
  std::chrono::seconds market_vix{5};
};

struct ServiceDeps {
  ReferenceStore* store = nullptr;     // required
  Cache* cache = nullptr;              // optional (nullptr: in-process level only)
  // Answers to requests with the client's request id, shared with the other
  // engine processes. Optional (nullptr: this process's answers only).
  ReplyLedger* replies = nullptr;
  RateLimiter* limiter = nullptr;      // required
  MarketData* market = nullptr;        // required (may always answer "unavailable")
  AuditSink* audit = nullptr;          // required
  const Clock* clock = nullptr;        // required
  ServiceObserver* observer = nullptr; // optional
  // Returns the lowercase hex SHA-256 of an API key.
  std::function<std::string(std::string_view)> hash_key;
  // Returns a new random UUID (calculation ids).
  std::function<std::string()> new_uuid;
  // Returns a UUID determined by `name` (SHA-256 based): the calculation id
  // of a request with the client's own request id, so that a retry of it is
  // stored once by the idempotent audit store. Optional: new_uuid instead.
  std::function<std::string(std::string_view)> name_uuid;
  // Readiness of dependencies beyond the store, each required or only
  // reported; empty = ready. Called by the readiness prober. Optional.
  std::function<std::vector<ReadinessCheck>()> dependency_status;
  // Prometheus text for GET /metrics. Optional.
  std::function<std::string()> metrics_text;
  // Calculation role: called with the ticker of every rate answered by
  // GET /api/v1/rates/{ticker}, so the cache role keeps refreshing a ticker
  // that desks read without pricing it (priced tickers are noted from their
  // audit records). Optional; must not block.
  std::function<void(const std::string& ticker)> rate_read;
  // Gateway: when set, an API request that passes admission (route, method,
  // media type, API key, rate limit) is handed to `forward` with its key and
  // X-RateLimit-* headers instead of being answered here. `forward` calls its
  // last argument exactly once, possibly later and from another thread.
  std::function<void(const ApiRequest&, const ApiKey&,
                     std::vector<std::pair<std::string, std::string>> rate_headers,
                     std::function<void(ApiResponse)>)>
      forward;
};

struct ServiceOptions {
  PricingParams params;
  CacheTtls ttls;
  std::string openapi_yaml;  // served at /api/v1/openapi.yaml
  std::string role = "all";
  // Calculation role: when set, API requests were admitted by the gateway and
  // must carry this token and the principal it verified (ForwardedPrincipal,
  // internal_api.h); X-API-Key and rate limits are not consulted here.
  std::string internal_token;
  // How long the reference store may be unreachable while /health/ready
  // still answers 200 "degraded" (docs/design.md §2.3, PRICING_STALE_LIMIT).
  std::chrono::seconds stale_limit{15 * 60};
  // Store lookups of API keys this process does not hold, per second at
  // most: a flood of invented keys costs no more. Past it such a key gets
  // 503 (retry), a key already held is unaffected.
  int64_t key_lookups_per_second = 100;
  // >0: the dependencies are probed on a thread of the service's own this
  // often, and GET /health/ready answers the latest probe at once, on any
  // thread: readiness never waits behind request work. 0: each GET probes
  // (on the blocking pass).
  std::chrono::milliseconds readiness_interval{0};
};

class PricingService {
 public:
  using Done = std::function<void(ApiResponse)>;
  struct Exchange;

  // A request parked at a stage that has to wait (see Handle). Empty when
  // the request was answered or handed on.
  class Parked {
   public:
    Parked();
    Parked(Parked&&) noexcept;
    Parked& operator=(Parked&&) noexcept;
    ~Parked();
    explicit operator bool() const { return exchange_ != nullptr; }
    // The stage it waits at ("admit", "stock", ...).
    std::string_view stage() const;

   private:
    friend class PricingService;
    std::unique_ptr<Exchange> exchange_;
  };

  PricingService(ServiceDeps deps, ServiceOptions options);
  // Stops the readiness prober, if any.
  ~PricingService();
  PricingService(const PricingService&) = delete;
  PricingService& operator=(const PricingService&) = delete;

  // Answers one request in one pass: its route's stages run in order, each
  // once (admit → forward → parse → look up → price → audit → respond). With
  // `may_block` false no stage waits on I/O: the first that would have to
  // (a lookup missing the in-process level, a rate-limit lease to refill)
  // parks the request there and Handle returns it; the caller then calls
  // Resume on a thread that may block, which continues from that stage and
  // repeats none before it. Otherwise Handle returns an empty Parked and
  // `done` is called exactly once, possibly later and from another thread
  // (after the audit record of a priced request is durable). `request` must
  // outlive the answer.
  [[nodiscard]] Parked Handle(const ApiRequest& request, Done done, bool may_block);
  // Continues a parked request where it may block, up to its answer.
  void Resume(Parked parked);

  // Builds the JSON error body of docs/design.md §2.3.
  static std::string ErrorBody(const Error& error);
  static ApiResponse ErrorResponse(const Error& error);

 private:
  enum class Step : uint8_t {
    kNext,      // done; the next stage runs
    kWait,      // must wait where waiting is not allowed: park here
    kAnswered,  // the request was answered (or handed on): no more stages
  };
  struct Stage;
  struct Route;
  static std::span<const Route> Routes();

 public:
  // The names of the stages that may park a request, once each.
  static std::vector<std::string_view> WaitingStages();

 private:
  Parked Run(Exchange& ex);

  // The stages (see Routes()).
  Step AnswerLive(Exchange& ex);
  Step AnswerReady(Exchange& ex);
  Step AnswerMetrics(Exchange& ex);
  Step AnswerOpenApi(Exchange& ex);
  Step CheckMediaType(Exchange& ex);
  Step Admit(Exchange& ex);
  Step Forward(Exchange& ex);
  Step ParseLocate(Exchange& ex);
  Step ParseTicker(Exchange& ex);
  Step ParsePage(Exchange& ex);
  Step Replay(Exchange& ex);
  Step FindStock(Exchange& ex);
  Step FindBroker(Exchange& ex);
  Step ResolveInputs(Exchange& ex);
  Step PriceAndAudit(Exchange& ex);
  Step AnswerRate(Exchange& ex);
  Step AnswerStatusPage(Exchange& ex);
  Step AnswerMarketVolatility(Exchange& ex);

  ApiResponse Ready(std::chrono::system_clock::time_point now);

  // Lookups through the in-process level, the shared cache and the store.
  // Each sets `wait` instead of waiting when the exchange may not block.
  Result<std::optional<ApiKey>> LookupKey(Exchange& ex, const std::string& key_hash, bool& wait);
  // Returns `result`, noting in stale_ that the store answered if it did.
  template <typename T>
  T Answered(T result, std::chrono::system_clock::time_point now);
  Result<std::optional<Stock>> LookupStock(Exchange& ex, const std::string& ticker, bool& wait);
  Result<std::optional<Broker>> LookupBroker(Exchange& ex, const std::string& client_id,
                                             bool& wait);
  Result<std::optional<VolatilityRow>> LookupVolatility(Exchange& ex, const std::string& ticker,
                                                        bool& wait);

  ServiceDeps deps_;
  ServiceOptions options_;
  std::unique_ptr<Staleness> stale_;  // the reference store's last answer, for Ready
  // The readiness prober (readiness_interval > 0) and its latest answer.
  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  bool stopping_ = false;                   // guarded by ready_mu_
  std::optional<ApiResponse> last_ready_;   // guarded by ready_mu_
  std::thread prober_;
  TtlCache<std::optional<ApiKey>> keys_;  // keys found; never an absent one
  // Hashes the store did not know, for unknown_api_key: apart from keys_, and
  // smaller, so that a flood of invented keys evicts no real one.
  TtlCache<bool> unknown_keys_{1 << 16};
  // Store lookups of keys this second (rate limit), and the lookups in
  // flight, which concurrent requests for the same key wait for.
  struct KeyFlight;
  std::mutex key_lookups_mu_;
  int64_t key_lookup_second_ = 0;
  int64_t key_lookups_this_second_ = 0;
  std::unordered_map<std::string, std::shared_ptr<KeyFlight>> key_flights_;
  // Answers of priced requests that carried the client's request id, by
  // principal, request id and request: a retry gets the same answer.
  TtlCache<std::string> replies_{1 << 16};
  TtlCache<std::optional<Stock>> stocks_;
  TtlCache<std::optional<Broker>> brokers_;
  TtlCache<std::optional<VolatilityRow>> volatility_;
  TtlCache<Decimal> rates_;          // fresh lender answers
  TtlCache<CachedRate> last_good_;   // last good lender answers, <= 24 h
  TtlCache<std::optional<int>> event_risk_;       // nullopt: the events API was unavailable
  TtlCache<std::optional<Decimal>> vix_;          // nullopt: the market API was unavailable
  TtlCache<Sourced<Decimal>> degraded_rate_;      // recent non-lender resolutions of r_base
};

// Appends the body of a successful calculate-locate answer (docs/design.md §2.3)
// to `out` in one pass: the bytes JsonWriter writes for the same members in
// the same order (a unit test holds the two to each other), without its
// per-member bookkeeping on the hottest path of the service. With
// `stale_reference`, sources says "reference_data":"stale": a key or
// reference row was its last known good value (the store did not answer).
void AppendLocateSuccessBody(std::string* out, const LocateRequest& req, const Quote& quote,
                             const MarketInputs& inputs, std::string_view calculation_id,
                             std::chrono::system_clock::time_point calculated_at,
                             bool stale_reference = false);

}  // namespace pricing::engine
