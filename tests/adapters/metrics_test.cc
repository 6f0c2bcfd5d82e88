// Metrics: every exported name is present, counts land on the right label set,
// callback gauges refresh at scrape, and concurrent recording loses nothing.
#include "adapters/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace pricing::engine {
namespace {

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(Metrics, ExportsEveryMetricName) {
  Metrics m;
  m.RecordHttpRequest("GET", "/api/v1/calculate-locate", 200, 0.0012);
  m.RecordCalculation(0.0008);
  m.RecordCacheHit("rates");
  m.RecordCacheMiss("rates");
  m.RecordExternalApi("lender", "success");
  m.RecordFallback("base_rate");
  m.RecordRateLimitExceeded();
  m.RecordAuditSync(0.0003);
  m.SetAuditPendingSource([] { return int64_t{3}; });
  m.SetDbPoolSources([] { return int64_t{2}; }, [] { return int64_t{10}; });
  const std::string text = m.Serialize();
  for (const char* name :
       {"http_requests_total", "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_sum", "http_request_duration_seconds_count",
        "calculations_total", "calculation_duration_seconds_bucket", "cache_hits_total",
        "cache_misses_total", "external_api_requests_total", "fallback_usage_total",
        "rate_limit_exceeded_total", "audit_records_pending", "db_pool_connections_in_use",
        "db_pool_connections_max", "reply_ledger_writes_lost_total", "audit_spool_free_bytes"}) {
    EXPECT_TRUE(Contains(text, std::string("\n") + name)) << name << " missing from\n" << text;
  }
  EXPECT_TRUE(Contains(text, "# TYPE http_request_duration_seconds histogram"));
  EXPECT_TRUE(Contains(text, "# TYPE audit_records_pending gauge"));
  // 0.3 ms: above the 0.25 ms bucket, within the 0.5 ms one.
  EXPECT_TRUE(Contains(text, "audit_spool_sync_duration_seconds_bucket{le=\"0.00025\"} 0")) << text;
  EXPECT_TRUE(Contains(text, "audit_spool_sync_duration_seconds_bucket{le=\"0.0005\"} 1")) << text;
  EXPECT_TRUE(Contains(text, "audit_spool_sync_duration_seconds_count 1")) << text;
}

TEST(Metrics, FixedLabelSetsExistBeforeFirstUse) {
  Metrics m;
  const std::string text = m.Serialize();
  EXPECT_TRUE(
      Contains(text, "external_api_requests_total{api=\"market\",outcome=\"circuit_open\"} 0"))
      << text;
  EXPECT_TRUE(Contains(text, "fallback_usage_total{input=\"event_risk\"} 0")) << text;
  EXPECT_TRUE(Contains(text, "calculations_total 0")) << text;
}

TEST(Metrics, CountsEachLabelSetSeparately) {
  Metrics m;
  for (int i = 0; i < 3; ++i) m.RecordHttpRequest("GET", "/api/v1/rates/{ticker}", 200, 0.002);
  m.RecordHttpRequest("GET", "/api/v1/rates/{ticker}", 404, 0.0003);
  m.RecordHttpRequest("POST", "/api/v1/calculate-locate", 200, 0.7);
  m.RecordExternalApi("events", "timeout");
  m.RecordExternalApi("events", "timeout");
  const std::string text = m.Serialize();
  EXPECT_TRUE(Contains(
      text, "http_requests_total{code=\"200\",method=\"GET\",route=\"/api/v1/rates/{ticker}\"} 3"))
      << text;
  EXPECT_TRUE(Contains(
      text, "http_requests_total{code=\"404\",method=\"GET\",route=\"/api/v1/rates/{ticker}\"} 1"));
  EXPECT_TRUE(Contains(
      text,
      "http_requests_total{code=\"200\",method=\"POST\",route=\"/api/v1/calculate-locate\"} 1"));
  // Buckets are cumulative: 0.0003 is under 0.0005, the three 0.002s under 0.0025.
  EXPECT_TRUE(Contains(
      text,
      "http_request_duration_seconds_bucket{route=\"/api/v1/rates/{ticker}\",le=\"0.0005\"} 1"))
      << text;
  EXPECT_TRUE(Contains(
      text,
      "http_request_duration_seconds_bucket{route=\"/api/v1/rates/{ticker}\",le=\"0.0025\"} 4"));
  EXPECT_TRUE(Contains(
      text,
      "http_request_duration_seconds_bucket{route=\"/api/v1/calculate-locate\",le=\"0.5\"} 0"));
  EXPECT_TRUE(Contains(
      text, "http_request_duration_seconds_bucket{route=\"/api/v1/calculate-locate\",le=\"1\"} 1"));
  EXPECT_TRUE(Contains(text, "external_api_requests_total{api=\"events\",outcome=\"timeout\"} 2"));
}

TEST(Metrics, RefreshesCallbackGaugesAtEachScrape) {
  Metrics m;
  std::atomic<int64_t> pending{42};
  m.SetAuditPendingSource([&] { return pending.load(); });
  m.SetAuditFreeBytesSource([] { return int64_t{5} << 20; });
  m.SetDbPoolSources([] { return int64_t{7}; }, [] { return int64_t{16}; });
  EXPECT_TRUE(Contains(m.Serialize(), "audit_records_pending 42"));
  EXPECT_TRUE(Contains(m.Serialize(), "audit_spool_free_bytes 5242880"));
  pending = 5;
  const std::string text = m.Serialize();
  EXPECT_TRUE(Contains(text, "audit_records_pending 5")) << text;
  EXPECT_TRUE(Contains(text, "db_pool_connections_in_use 7"));
  EXPECT_TRUE(Contains(text, "db_pool_connections_max 16"));
}

TEST(Metrics, ConcurrentRecordingLosesNoCounts) {
  Metrics m;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        m.RecordHttpRequest(i % 2 ? "GET" : "POST", "/r" + std::to_string(i % 3), 200 + (t % 2),
                            0.001);
        m.RecordCacheHit("rates");
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.Serialize();
  EXPECT_TRUE(Contains(text, "cache_hits_total{cache=\"rates\"} 200000")) << text;
  // Six {method, route} pairs per code; each thread hit every pair evenly.
  int64_t total = 0;
  size_t pos = 0;
  while ((pos = text.find("\nhttp_requests_total{", pos)) != std::string::npos) {
    const size_t space = text.find(' ', text.find('}', pos));
    total += std::stoll(text.substr(space + 1));
    ++pos;
  }
  EXPECT_EQ(total, int64_t{kThreads} * kPerThread);
}

TEST(Metrics, KeepsCountingPastTheLockFreeTableCapacity) {
  Metrics m;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 1000; ++i) m.RecordCacheMiss("cache" + std::to_string(i));
  }
  const std::string text = m.Serialize();
  EXPECT_TRUE(Contains(text, "cache_misses_total{cache=\"cache0\"} 2"));
  EXPECT_TRUE(Contains(text, "cache_misses_total{cache=\"cache999\"} 2")) << text.size();
}

TEST(Metrics, CountsCacheOperationsByOpUnderTheFixedName) {
  Metrics m;
  std::string text = m.Serialize();
  for (const char* op : {"get", "set", "refresh"}) {
    EXPECT_TRUE(Contains(text, std::string("cache_operations_total{op=\"") + op + "\"} 0"))
        << op << " missing from\n" << text;
  }
  m.RecordCacheOperation("get", 12);
  m.RecordCacheOperation("set");
  m.RecordCacheOperation("refresh", 3);
  text = m.Serialize();
  EXPECT_TRUE(Contains(text, "cache_operations_total{op=\"get\"} 12")) << text;
  EXPECT_TRUE(Contains(text, "cache_operations_total{op=\"set\"} 1")) << text;
  EXPECT_TRUE(Contains(text, "cache_operations_total{op=\"refresh\"} 3")) << text;
}

}  // namespace
}  // namespace pricing::engine
