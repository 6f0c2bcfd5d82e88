// The engine's Prometheus metrics on prometheus-cpp core: one registry holding
// every metric the engine exports, cheap recording calls for the hot path, and
// the text exposition format for GET /metrics (served by the engine's own HTTP
// server, not prometheus-cpp pull).
//
// Label children are resolved once and then found through a lock-free table,
// so recording a request costs a few hashes and atomic adds, never a registry
// lock. Label values must come from small fixed sets (route templates, cache
// names), never from client input, or the series count grows without bound.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace pricing::engine {

class Metrics {
 public:
  // Bucket bounds (seconds) of the latency histograms: sub-millisecond to 1 s.
  static const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // http_requests_total{method,route,code} += 1 and
  // http_request_duration_seconds{route} observes `seconds`. `route` is the
  // matched route template (e.g. "/api/v1/rates/{ticker}"), not the raw path.
  void RecordHttpRequest(std::string_view method, std::string_view route, int code, double seconds);
  // calculations_total += 1 and calculation_duration_seconds observes `seconds`.
  void RecordCalculation(double seconds);
  // cache_hits_total{cache} / cache_misses_total{cache} += 1.
  void RecordCacheHit(std::string_view cache);
  void RecordCacheMiss(std::string_view cache);
  // external_api_requests_total{api,outcome} += 1 (see MarketDataObservers).
  void RecordExternalApi(std::string_view api, std::string_view outcome);
  // fallback_usage_total{input} += 1; input is "base_rate" | "volatility" |
  // "event_risk".
  void RecordFallback(std::string_view input);
  // rate_limit_exceeded_total += 1.
  void RecordRateLimitExceeded();
  // requests_parked_total{stage} += 1: a request's stage had to wait and the
  // request moved from its event loop to the blocking pool there. `stage`
  // comes from the service's fixed route table.
  void RecordParked(std::string_view stage);
  // cache_operations_total{op} += n; op is "get" | "set" | "refresh" (the
  // cache role's reads and writes of the shared cache, and entries it
  // refreshed ahead of expiry). The name is fixed: autoscaling rules use it.
  void RecordCacheOperation(std::string_view op, int64_t n = 1);
  // audit_spool_sync_duration_seconds observes `seconds`: one group commit's
  // fdatasync of the audit spool, which every record of the commit waited for.
  void RecordAuditSync(double seconds);
  // audit_dead_letters_total += 1: a record the audit store refused (or that
  // no longer parses) was set aside in the spool's dead letters.
  void RecordAuditDeadLetter();
  // audit_spool_damaged_bytes_total += bytes: unreadable spool bytes skipped.
  void RecordAuditDamage(int64_t bytes);
  // reply_ledger_writes_lost_total += 1: an answer (or a released claim) the
  // shared reply ledger could not record; a retry of it elsewhere waits for
  // the claim to lapse, then prices again.
  void RecordReplyLost();
  // Creates requests_parked_total{stage} at 0, so rate() sees it from the start.
  void DeclareParkedStage(std::string_view stage);

  // Sources of the gauges refreshed at each Serialize(): audit_records_pending,
  // db_pool_connections_in_use, db_pool_connections_max. An unset source
  // leaves its gauge at 0. Sources run on the scraping thread and must not
  // call back into this object.
  void SetAuditPendingSource(std::function<int64_t()> source);
  // audit_spool_free_bytes: space left on the spool's file system.
  void SetAuditFreeBytesSource(std::function<int64_t()> source);
  void SetDbPoolSources(std::function<int64_t()> in_use, std::function<int64_t()> max);

  // Returns every metric in the Prometheus text exposition format (0.0.4),
  // after refreshing the callback gauges. Thread-safe.
  std::string Serialize();

  // The registry, for callers that add metrics of their own.
  prometheus::Registry& registry() { return *registry_; }

  // A lock-free index from N label values to a value created on first use.
  // Defined in metrics.cc.
  template <size_t N, typename V>
  class LabelTable;

 private:
  struct HttpSeries {
    prometheus::Counter* requests = nullptr;
    prometheus::Histogram* duration = nullptr;
  };

  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>* http_requests_;
  prometheus::Family<prometheus::Histogram>* http_duration_;
  prometheus::Counter* calculations_;
  prometheus::Histogram* calculation_duration_;
  prometheus::Family<prometheus::Counter>* cache_hits_;
  prometheus::Family<prometheus::Counter>* cache_misses_;
  prometheus::Family<prometheus::Counter>* external_api_;
  prometheus::Family<prometheus::Counter>* fallback_;
  prometheus::Counter* rate_limited_;
  prometheus::Family<prometheus::Counter>* parked_;
  prometheus::Family<prometheus::Counter>* cache_operations_;
  prometheus::Histogram* audit_sync_duration_;
  prometheus::Gauge* audit_pending_;
  prometheus::Gauge* audit_free_bytes_;
  prometheus::Counter* audit_dead_letters_;
  prometheus::Counter* reply_lost_;
  prometheus::Counter* audit_damaged_bytes_;
  prometheus::Gauge* db_in_use_;
  prometheus::Gauge* db_max_;

  std::unique_ptr<LabelTable<3, HttpSeries>> http_series_;
  std::unique_ptr<LabelTable<1, prometheus::Histogram*>> http_route_duration_;
  std::unique_ptr<LabelTable<1, prometheus::Counter*>> cache_hit_series_;
  std::unique_ptr<LabelTable<1, prometheus::Counter*>> cache_miss_series_;
  std::unique_ptr<LabelTable<2, prometheus::Counter*>> external_api_series_;
  std::unique_ptr<LabelTable<1, prometheus::Counter*>> fallback_series_;
  std::unique_ptr<LabelTable<1, prometheus::Counter*>> cache_operation_series_;
  std::unique_ptr<LabelTable<1, prometheus::Counter*>> parked_series_;

  std::mutex sources_mu_;
  std::function<int64_t()> audit_pending_source_;
  std::function<int64_t()> audit_free_bytes_source_;
  std::function<int64_t()> db_in_use_source_;
  std::function<int64_t()> db_max_source_;
};

}  // namespace pricing::engine
