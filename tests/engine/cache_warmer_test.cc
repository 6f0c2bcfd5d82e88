// The cache role's refresh-ahead over fakes that fail: what is due, what is
// left alone, shared work through claims, and entries the pricing service
// reads back as hits.
#include "engine/cache_warmer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "engine/pricing.h"
#include "engine/service.h"
#include "engine/shared_cache.h"
#include "fakes/fakes.h"
#include "test_util.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

struct Harness {
  fakes::FakeClock clock;
  fakes::FakeActivityLog activity;
  fakes::FakeCache cache{&clock};
  fakes::FakeReferenceStore store;
  fakes::FakeMarketData market;
  std::map<std::string, int64_t> ops;
  CacheWarmerOptions options;
  std::optional<CacheWarmer> warmer;

  Harness() {
    store.Put(Stock{"GME", BorrowStatus::kHard, Dec("0.05"), "SL-GME"});
    store.Put(Broker{"big_fund_007", Dec("5.0"), FeeType::kFlat, Dec("40.00"), 365});
    store.Put(VolatilityRow{"GME", Dec("32.5"), 6});
    market.SetLenderRate("GME", Dec("0.15"));
    (void)activity.Record("tickers", {"GME"}, clock.Now());
    (void)activity.Record("clients", {"big_fund_007"}, clock.Now());
    Make();
  }

  void Make() {
    CacheWarmer::Deps deps;
    deps.activity = &activity;
    deps.expiry = &cache;
    deps.cache = &cache;
    deps.store = &store;
    deps.market = &market;
    deps.count = [this](std::string_view op, int64_t n) { ops[std::string(op)] += n; };
    warmer.emplace(deps, options);
  }

  WarmReport Run() {
    auto r = warmer->RunOnce(clock.Now());
    EXPECT_TRUE(r) << r.error().message;
    return r.value_or(WarmReport{});
  }
};

TEST(CacheWarmer, RefreshesEveryEntryOfAnActiveTickerAndClient) {
  Harness h;
  WarmReport r = h.Run();
  EXPECT_EQ(r.tickers, 1);
  EXPECT_EQ(r.clients, 1);
  EXPECT_EQ(r.due, 4);
  EXPECT_EQ(r.refreshed, 4);
  EXPECT_EQ(h.cache.Peek(RateKey("GME")), EncodeCachedRate({Dec("0.15"), h.clock.Now()}));
  EXPECT_EQ(h.cache.Peek(LastRateKey("GME")), h.cache.Peek(RateKey("GME")));
  EXPECT_EQ(h.cache.TtlOf(RateKey("GME")), 300s);
  EXPECT_EQ(h.cache.TtlOf(LastRateKey("GME")), 24h);
  EXPECT_EQ(h.cache.TtlOf(StockKey("GME")), 1800s);
  EXPECT_EQ(h.cache.TtlOf(VolatilityKey("GME")), 900s);
  EXPECT_EQ(h.cache.TtlOf(BrokerKey("big_fund_007")), 1800s);
  EXPECT_EQ(h.ops["refresh"], 4);
  EXPECT_EQ(h.ops["set"], 5);
  EXPECT_EQ(h.ops["get"], 2 + 4);
}

TEST(CacheWarmer, RefreshesOnlyWhatExpiresWithinItsLeadTime) {
  Harness h;
  h.Run();
  EXPECT_EQ(h.warmer->RefreshAhead(300s), 30s);
  EXPECT_EQ(h.warmer->RefreshAhead(1800s), 180s);
  EXPECT_EQ(h.warmer->RefreshAhead(10s), 5s) << "at most half of the lifetime";
  h.clock.Advance(269s);
  EXPECT_EQ(h.Run().due, 0);
  h.clock.Advance(2s);  // the rate has 29 s left
  WarmReport r = h.Run();
  EXPECT_EQ(r.due, 1);
  EXPECT_EQ(r.refreshed, 1);
  EXPECT_EQ(h.cache.Peek(RateKey("GME")), EncodeCachedRate({Dec("0.15"), h.clock.Now()}));
  EXPECT_EQ(h.market.Calls("LenderRate"), 2);
  EXPECT_EQ(h.store.Calls("GetStock"), 1);
}

TEST(CacheWarmer, ForgetsNamesNotPricedWithinTheWindow) {
  Harness h;
  h.clock.Advance(601s);
  WarmReport r = h.Run();
  EXPECT_EQ(r.tickers, 0);
  EXPECT_EQ(r.due, 0);
  EXPECT_EQ(h.cache.Size(), 0u);
}

TEST(CacheWarmer, LeavesTheRateAloneWhenTheLenderIsUnavailable) {
  Harness h;
  h.market.SetDown(true);
  WarmReport r = h.Run();
  EXPECT_EQ(r.refreshed, 3);
  EXPECT_EQ(r.failed, 1);
  EXPECT_FALSE(h.cache.Peek(RateKey("GME")));
  EXPECT_FALSE(h.cache.Peek(LastRateKey("GME"))) << "a last good rate is only ever a real answer";
}

TEST(CacheWarmer, SharesWorkThroughClaims) {
  Harness h;
  // Another cache-role process claimed the stock entry.
  ASSERT_TRUE(*h.cache.Claim("warm:" + StockKey("GME"), 10s));
  WarmReport r = h.Run();
  EXPECT_EQ(r.claimed_elsewhere, 1);
  EXPECT_EQ(r.refreshed, 3);
  EXPECT_FALSE(h.cache.Peek(StockKey("GME")));
  h.clock.Advance(11s);
  EXPECT_EQ(h.Run().refreshed, 1) << "the claim expired, the entry was still due";
}

TEST(CacheWarmer, ReportsOutagesWithoutWritingAnything) {
  Harness h;
  h.activity.SetDown(true);
  EXPECT_FALSE(h.warmer->RunOnce(h.clock.Now()));
  h.activity.SetDown(false);
  h.cache.FailNext(1, "TimeLeft");
  WarmReport r = h.Run();
  EXPECT_EQ(r.failed, 4);
  EXPECT_EQ(h.cache.Size(), 0u);
  h.store.SetDown(true);
  r = h.Run();
  EXPECT_EQ(r.refreshed, 1) << "only the rate, from the market";
  EXPECT_EQ(r.failed, 3);
}

TEST(CacheWarmer, CachesAbsentRowsLikeTheServiceDoes) {
  Harness h;
  (void)h.activity.Record("tickers", {"NOPE"}, h.clock.Now());
  h.Run();
  EXPECT_EQ(h.cache.Peek(StockKey("NOPE")), "-");
  EXPECT_EQ(h.cache.TtlOf(StockKey("NOPE")), 300s);
  EXPECT_EQ(h.cache.Peek(VolatilityKey("NOPE")), "-");
}

TEST(CacheWarmer, WritesEntriesThePricingServiceReadsAsHits) {
  Harness h;
  h.Run();
  // A new calculation process over the warmed shared cache, whose store and
  // market are down: every input must come from the cache.
  fakes::FakeReferenceStore store;
  store.Put(ApiKey{"h:k", "big_fund_007", 100, KeyScope::kClient});
  fakes::FakeMarketData market;
  fakes::FakeRateLimiter limiter;
  fakes::FakeAuditSink audit;
  struct Counting : ServiceObserver {
    std::map<std::string, int> hits, misses;
    void CacheHit(std::string_view c) override { ++hits[std::string(c)]; }
    void CacheMiss(std::string_view c) override { ++misses[std::string(c)]; }
    void Fallback(std::string_view) override {}
    void RateLimited() override {}
    void Calculated(std::chrono::nanoseconds) override {}
  } observer;
  ServiceDeps deps;
  deps.store = &store;
  deps.cache = &h.cache;
  deps.limiter = &limiter;
  deps.market = &market;
  deps.audit = &audit;
  deps.clock = &h.clock;
  deps.observer = &observer;
  deps.hash_key = [](std::string_view k) { return "h:" + std::string(k); };
  deps.new_uuid = [] { return std::string("00000000-0000-4000-8000-000000000001"); };
  PricingService service(deps, ServiceOptions{});
  // The key lookup is the only store call that may succeed.
  store.FailNext(1000, "GetStock");
  store.FailNext(1000, "GetBroker");
  store.FailNext(1000, "GetVolatility");
  market.SetDown(true);
  ApiRequest req;
  req.method = "POST";
  req.path = "/api/v1/calculate-locate";
  req.headers = {{"content-type", "application/json"}, {"x-api-key", "k"}};
  req.body = R"({"ticker":"GME","position_value":50000,"loan_days":60,"client_id":"big_fund_007"})";
  std::optional<ApiResponse> out;
  ASSERT_FALSE(service.Handle(req, [&](ApiResponse r) { out = r; }, true));
  ASSERT_TRUE(out);
  ASSERT_EQ(out->status, 200) << out->body;
  EXPECT_NE(out->body.find(R"("total_fee":1535.17)"), std::string::npos) << out->body;
  EXPECT_NE(out->body.find(R"("base_rate":"lender_api")"), std::string::npos) << out->body;
  for (std::string_view c : {"stock", "broker", "volatility", "borrow_rate"}) {
    EXPECT_EQ(observer.hits[std::string(c)], 1) << c;
    EXPECT_EQ(observer.misses[std::string(c)], 0) << c;
  }
  EXPECT_EQ(market.Calls("LenderRate"), 0);
}

}  // namespace
}  // namespace pricing::engine
