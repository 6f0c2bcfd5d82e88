// The volatility sources of spec.volatility.source (docs/design.md §3.1) over
// HTTP, on cpprestsdk:
//
//   engine      GET http://<cr>-<component>.<ns>.svc:8080/api/v1/market/volatility
//               → {"vix": ...}; the component is the first with role gateway,
//               else all, else the first. That Service is the operator's own
//               child; the request carries the operator's engine API key (an
//               `internal` key) only when engine_key_over_http says the
//               installer accepts sending it there in clear
//   url         GET <url> → the number at <jsonPointer> (a number or a numeric string)
//   prometheus  GET <url>/api/v1/query?query=<query> → the first sample's value
//
// url and prometheus sources are fetched only from hosts the installer allows
// (op/host_allowlist.h; none by default) and only over https unless
// allow_http. An observation's message gives the reason a poll failed (the
// HTTP status, what was expected), never the answer's content, and answers
// are read up to kMaxAnswerBytes.
//
// Each PricingEngine's source is polled at most once per pollInterval; between
// polls the last reading is returned as it was. A failed poll keeps the last
// good reading while it is younger than kStaleAfterPolls poll intervals (the
// observation says the poll failed); after that the reading is stale:
// healthy=false and no value, so the controller holds the regime it had.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "op/error.h"
#include "op/host_allowlist.h"
#include "runtime/reconciler.h"

namespace pricing::op {

struct VolatilityReaderOptions {
  std::chrono::milliseconds timeout{2000};  // one HTTP request
  std::string engine_api_key;               // X-API-Key for the engine source; "" = none
  // The installer accepts sending engine_api_key over plain HTTP to the
  // engine Service the operator manages (--volatility-engine-key-over-http).
  bool engine_key_over_http = false;
  HostAllowList allow;       // hosts url and prometheus sources may name
  bool allow_http = false;   // http:// for them too (--volatility-allow-http)
  // Returns the addresses `host` resolves to; getaddrinfo by default.
  std::function<Result<std::vector<std::string>>(const std::string& host)> resolve;
  // "<cr>-<component>.<ns>.svc:8080" by default; tests point it elsewhere.
  std::function<std::string(const std::string& service, const std::string& namespace_name)>
      engine_authority;
};

// Returns the number `document` holds at `pointer` (a JSON number, or a
// string holding one), or an error saying what was found instead.
Result<double> NumberAt(const std::string& document, const std::string& pointer);

// Returns the value of the first sample of a Prometheus instant-query answer
// (resultType vector or scalar), or an error.
Result<double> PrometheusValue(const std::string& document);

// Returns ok when `url` may be fetched under `options` (scheme, host by name
// or by every address it resolves to); otherwise why not, naming the flag
// that would allow it.
Result<void> CheckVolatilityUrl(const std::string& url, const VolatilityReaderOptions& options);

// Answers longer than this are refused, not read on.
inline constexpr size_t kMaxAnswerBytes = 1 << 20;

// Returns the URL the `engine` source of `pe` reads.
std::string EngineVolatilityUrl(const PricingEngine& pe, const VolatilityReaderOptions& options);

class HttpVolatilityReader : public VolatilityReader {
 public:
  static constexpr int kStaleAfterPolls = 3;

  explicit HttpVolatilityReader(VolatilityReaderOptions options = {});

  VolatilityObservation Read(const PricingEngine& pe, TimePoint now) override;

 private:
  struct Entry {
    std::string source;  // what was polled (URL and query), to notice a changed spec
    std::optional<TimePoint> polled_at;
    std::optional<double> value;  // the last good reading
    std::optional<TimePoint> value_at;
    std::string error;  // why the last poll failed; "" when it did not
  };

  // Fetches the reading now. Blocks up to the timeout.
  Result<double> Poll(const PricingEngine& pe) const;
  VolatilityObservation Observe(const Entry& entry, const PricingEngine& pe, TimePoint now) const;

  const VolatilityReaderOptions options_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by "namespace/name"
};

}  // namespace pricing::op
