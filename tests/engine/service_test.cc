// PricingService over fakes that fail on demand: routing, admission, tiered
// lookups, the fallbacks of docs/design.md §2.1 with a fake clock, the audit gate,
// and the non-blocking fast path.
#include "engine/service.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "fakes/fakes.h"
#include "engine/json_text.h"
#include "engine/time_text.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

Decimal D(const char* s) { return *Decimal::Parse(s); }

std::string Hash(std::string_view key) { return "h:" + std::string(key); }

// Counts what the service reports, and lists the stages each request ended:
// "stock" when it finished, "stock/parked" when it had to wait there.
struct Recorder : ServiceObserver {
  std::mutex mu;
  std::map<std::string, int, std::less<>> hits, misses;
  std::vector<std::string> stages;
  void CacheHit(std::string_view cache) override {
    std::lock_guard lock(mu);
    ++hits[std::string(cache)];
  }
  void CacheMiss(std::string_view cache) override {
    std::lock_guard lock(mu);
    ++misses[std::string(cache)];
  }
  void Fallback(std::string_view) override {}
  void RateLimited() override {}
  void Calculated(std::chrono::nanoseconds) override {}
  void Stage(std::string_view stage, bool parked) override {
    std::lock_guard lock(mu);
    stages.push_back(std::string(stage) + (parked ? "/parked" : ""));
  }
  std::vector<std::string> TakeStages() {
    std::lock_guard lock(mu);
    return std::exchange(stages, {});
  }
};

struct Harness {
  fakes::FakeClock clock;
  fakes::FakeReferenceStore store;
  fakes::FakeCache cache{&clock};
  fakes::FakeRateLimiter limiter;
  fakes::FakeMarketData market;
  fakes::FakeAuditSink audit;
  Recorder observer;
  int uuid = 0;
  std::optional<PricingService> service;
  // The request Start() began, parked until Resume(), and its answer.
  ApiRequest started;
  PricingService::Parked parked;
  std::optional<ApiResponse> answer;

  // `replies`, when given, is shared with other harnesses: other processes.
  explicit Harness(ServiceOptions options = {}, ReplyLedger* replies = nullptr) {
    store.Put(Stock{"GME", BorrowStatus::kHard, D("0.05"), "SL-GME"});
    store.Put(Stock{"AAPL", BorrowStatus::kEasy, D("0.0025"), "SL-AAPL"});
    store.Put(Broker{"big_fund_007", D("5.0"), FeeType::kFlat, D("40.00"), 365});
    store.Put(VolatilityRow{"GME", D("32.5"), 6});
    store.Put(ApiKey{Hash("demo-key-123"), "big_fund_007", 3, KeyScope::kClient});
    store.Put(ApiKey{Hash("internal"), "desk", 1000, KeyScope::kInternal});
    market.SetLenderRate("GME", D("0.15"));
    market.SetVix(D("22.4"));
    ServiceDeps deps;
    deps.store = &store;
    deps.cache = &cache;
    deps.limiter = &limiter;
    deps.market = &market;
    deps.audit = &audit;
    deps.clock = &clock;
    deps.observer = &observer;
    deps.replies = replies;
    deps.hash_key = Hash;
    deps.new_uuid = [this] { return "00000000-0000-4000-8000-" + std::to_string(100000000000 + ++uuid); };
    deps.name_uuid = [](std::string_view name) {
      return "named-" + std::to_string(std::hash<std::string_view>{}(name));
    };
    service.emplace(deps, std::move(options));
  }

  // Handles `req` allowing blocking; returns the response (or nullopt if none yet).
  std::optional<ApiResponse> Call(const ApiRequest& req) {
    std::optional<ApiResponse> out;
    if (service->Handle(req, [&](ApiResponse r) { out = std::move(r); }, true)) return {};
    return out;
  }

  // Handles `req` as an event loop does, where nothing may block: returns
  // the answer, or nullopt with the request parked for Resume().
  std::optional<ApiResponse> Start(ApiRequest req) {
    started = std::move(req);
    answer.reset();
    parked = service->Handle(started, [this](ApiResponse r) { answer = std::move(r); }, false);
    return answer;
  }
  std::optional<ApiResponse> Resume() {
    service->Resume(std::move(parked));
    return answer;
  }

  static ApiRequest Locate(std::string ticker = "GME", std::string key = "demo-key-123",
                           std::string client = "big_fund_007") {
    ApiRequest r;
    r.method = "POST";
    r.path = "/api/v1/calculate-locate";
    r.headers = {{"content-type", "application/json"}, {"x-api-key", key}};
    r.body = R"({"ticker":")" + ticker + R"(","position_value":50000,"loan_days":60,"client_id":")" +
             client + R"("})";
    return r;
  }
};

std::string Member(const std::string& body, std::string_view key) {
  auto obj = ParseFlatJsonObject(body);
  if (!obj) return "<bad json>";
  const JsonToken* t = obj->Find(key);
  return t ? t->text : "<missing>";
}

TEST(Service, PricesTheContractExampleAndAuditsIt) {
  Harness h;
  auto r = h.Call(Harness::Locate());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Member(r->body, "total_fee"), "1535.17");
  EXPECT_EQ(Member(r->body, "borrow_rate_used"), "0.17325");
  ASSERT_EQ(h.audit.records().size(), 1u);
  EXPECT_EQ(h.audit.records()[0].quote.total_fee, D("1535.17"));
  EXPECT_EQ(Member(r->body, "calculation_id"), h.audit.records()[0].calculation_id);
}

TEST(Service, AnswersOnlyOnceTheAuditRecordIsDurable) {
  Harness h;
  h.audit.SetDeferred(true);
  std::optional<ApiResponse> out;
  const ApiRequest req = Harness::Locate();
  ASSERT_FALSE(h.service->Handle(req, [&](ApiResponse r) { out = r; }, true));
  EXPECT_FALSE(out) << "answered before the audit record was durable";
  h.audit.CompleteAll();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 200);
}

TEST(Service, AuditFailureIsA503NotAPrice) {
  Harness h;
  h.audit.FailNext(1, "Append");
  auto r = h.Call(Harness::Locate());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("SERVICE_UNAVAILABLE"), std::string::npos);
}

TEST(Service, FastPathNeverBlocksAndAnswersOnceWarm) {
  Harness h;
  EXPECT_FALSE(h.Start(Harness::Locate())) << "cold caches must not be read inline";
  EXPECT_EQ(h.store.Calls(), 0);
  ASSERT_EQ(h.Call(Harness::Locate())->status, 200);
  int64_t store_calls = h.store.Calls();
  int64_t market_calls = h.market.Calls();
  auto r = h.Start(Harness::Locate());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(h.store.Calls(), store_calls);
  EXPECT_EQ(h.market.Calls(), market_calls);
}

TEST(Service, LenderOutageUsesTheLastGoodRateForADay) {
  Harness h;
  ASSERT_EQ(Member(h.Call(Harness::Locate())->body, "total_fee"), "1535.17");
  h.market.SetDown(true);
  h.clock.Advance(301s);  // the fresh borrow-rate entry has expired
  auto r = h.Call(Harness::Locate());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find(R"("base_rate":"cache")"), std::string::npos) << r->body;
  EXPECT_EQ(Member(r->body, "total_fee"), "1535.17");
  h.clock.Advance(24h);  // older than a day: min_borrow_rate instead
  r = h.Call(Harness::Locate());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find(R"("base_rate":"fallback")"), std::string::npos) << r->body;
  EXPECT_EQ(Member(r->body, "borrow_rate_used"), "0.05775");
}

TEST(Service, StoreDownPricesFromCacheButNotUnknownData) {
  Harness h;
  ASSERT_EQ(h.Call(Harness::Locate())->status, 200);
  h.store.SetDown(true);
  EXPECT_EQ(h.Call(Harness::Locate())->status, 200);
  auto r = h.Call(Harness::Locate("AAPL", "internal"));
  EXPECT_EQ(r->status, 503) << r->body;
}

TEST(Service, CredentialsNeverComeFromTheSharedCache) {
  Harness a;
  ASSERT_EQ(a.Call(Harness::Locate())->status, 200);
  Harness b;  // a second process: its own in-process level, the same shared cache
  b.store.SetDown(true);
  ServiceDeps deps;
  deps.store = &b.store;
  deps.cache = &a.cache;
  deps.limiter = &b.limiter;
  deps.market = &b.market;
  deps.audit = &b.audit;
  deps.clock = &a.clock;
  deps.hash_key = Hash;
  deps.new_uuid = [] { return std::string("00000000-0000-4000-8000-000000000001"); };
  PricingService other(deps, ServiceOptions{});
  // The key itself is never in the shared cache, so this process must reach
  // the store for it: unavailable.
  std::optional<ApiResponse> out;
  const ApiRequest req = Harness::Locate();
  ASSERT_FALSE(other.Handle(req, [&](ApiResponse r) { out = r; }, true));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 503) << out->body;
}

TEST(Service, ClientKeyCannotPriceAnotherClient) {
  Harness h;
  auto r = h.Call(Harness::Locate("GME", "demo-key-123", "someone_else"));
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find(R"("field":"client_id")"), std::string::npos);
}

TEST(Service, UnknownKeyIsUnauthorizedAndCachedBriefly) {
  Harness h;
  EXPECT_EQ(h.Call(Harness::Locate("GME", "nope"))->status, 401);
  int64_t calls = h.store.Calls("GetApiKeyByHash");
  EXPECT_EQ(h.Call(Harness::Locate("GME", "nope"))->status, 401);
  EXPECT_EQ(h.store.Calls("GetApiKeyByHash"), calls) << "negative answer not cached";
  h.clock.Advance(6s);
  EXPECT_EQ(h.Call(Harness::Locate("GME", "nope"))->status, 401);
  EXPECT_EQ(h.store.Calls("GetApiKeyByHash"), calls + 1);
}

TEST(Service, RateLimitedRequestsGet429WithHeaders) {
  Harness h;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(h.Call(Harness::Locate())->status, 200);
  auto r = h.Call(Harness::Locate());
  ASSERT_EQ(r->status, 429);
  bool retry_after = false;
  for (const auto& [k, v] : r->headers) retry_after |= k == "Retry-After";
  EXPECT_TRUE(retry_after);
}

// A request admitted on the event loop that then parks (a cold ticker) is
// admitted once and spends one token, not two.
TEST(Service, ARequestResumedWhereItMayBlockSpendsOneToken) {
  Harness h;  // demo-key-123: 3 requests a minute
  ASSERT_EQ(h.Call(Harness::Locate("GME"))->status, 200);  // warms the key; token 1
  ASSERT_FALSE(h.Start(Harness::Locate("AAPL"))) << "AAPL's row is cold: the request must park";
  EXPECT_EQ(h.parked.stage(), "stock");
  auto resumed = h.Resume();  // token 2, spent before it parked
  ASSERT_TRUE(resumed);
  ASSERT_EQ(resumed->status, 200) << resumed->body;
  std::string remaining;
  for (const auto& [k, v] : resumed->headers) {
    if (k == "X-RateLimit-Remaining") remaining = v;
  }
  EXPECT_EQ(remaining, "1");
  EXPECT_EQ(h.Call(Harness::Locate("GME"))->status, 200);  // token 3
  EXPECT_EQ(h.Call(Harness::Locate("GME"))->status, 429);
}

// One pass per request: each stage runs once, and a request parked at a
// stage resumes there, repeating none before it.
TEST(Service, EachStageRunsOnceAndAParkedRequestResumesWhereItParked) {
  Harness h;
  h.store.Put(Broker{"other_fund", D("2.5"), FeeType::kFlat, D("10.00"), 360});
  ASSERT_EQ(h.Call(Harness::Locate("GME", "internal"))->status, 200);  // warms key, GME, desk
  EXPECT_EQ(h.observer.TakeStages(),
            (std::vector<std::string>{"media_type", "admit", "forward", "parse", "replay", "stock",
                                      "broker", "inputs", "price"}));
  const int stock_hits = h.observer.hits["stock"];
  const int key_hits = h.observer.hits["api_key"];

  // other_fund's broker row is cold: the request parks at "broker".
  ASSERT_FALSE(h.Start(Harness::Locate("GME", "internal", "other_fund")));
  EXPECT_EQ(h.parked.stage(), "broker");
  auto r = h.Resume();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(h.observer.TakeStages(),
            (std::vector<std::string>{"media_type", "admit", "forward", "parse", "replay", "stock",
                                      "broker/parked", "broker", "inputs", "price"}));
  // The stages before the park were not run again: one key and one stock
  // lookup, each a hit, for this request.
  EXPECT_EQ(h.observer.hits["stock"], stock_hits + 1);
  EXPECT_EQ(h.observer.hits["api_key"], key_hits + 1);
  ASSERT_EQ(h.audit.records().size(), 2u);
}

// ResolveInputs parks between its steps: a request whose market VIX has
// expired (AAPL has no volatility row) waits at "inputs" after r_base was
// resolved, and resolves r_base once.
TEST(Service, InputsResumeAfterTheStepsAlreadyResolved) {
  Harness h;
  h.market.SetLenderRate("AAPL", D("0.003"));
  ASSERT_EQ(h.Call(Harness::Locate("AAPL", "internal"))->status, 200);
  h.clock.Advance(6s);  // past the VIX's 5 s; the lender rate (300 s) still fresh
  h.observer.TakeStages();
  const int rate_hits = h.observer.hits["borrow_rate"];
  const int vol_hits = h.observer.hits["volatility"];
  ASSERT_FALSE(h.Start(Harness::Locate("AAPL", "internal")));
  EXPECT_EQ(h.parked.stage(), "inputs");
  auto r = h.Resume();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(h.observer.TakeStages(),
            (std::vector<std::string>{"media_type", "admit", "forward", "parse", "replay", "stock",
                                      "broker", "inputs/parked", "inputs", "price"}));
  EXPECT_EQ(h.observer.hits["borrow_rate"], rate_hits + 1) << "r_base resolved twice";
  EXPECT_EQ(h.observer.hits["volatility"], vol_hits + 1) << "the row looked up twice";
}

// Routes that always wait (the store's status pages, the market API) admit on
// the event loop and park at the stage that waits.
TEST(Service, StatusPagesAreAdmittedOnTheLoopAndParkAtTheList) {
  Harness h;
  ASSERT_EQ(h.Call(Harness::Locate("GME", "internal"))->status, 200);  // warms the key
  h.observer.TakeStages();
  ApiRequest page;
  page.method = "GET";
  page.path = "/api/v1/rates/status/hard";
  page.headers = {{"x-api-key", "internal"}};
  ASSERT_FALSE(h.Start(page));
  EXPECT_EQ(h.parked.stage(), "list");
  auto r = h.Resume();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(h.observer.TakeStages(),
            (std::vector<std::string>{"admit", "forward", "parse", "list/parked", "list"}));
  // A bad page is refused on the loop: nothing parks.
  page.path = "/api/v1/rates/status/nonsense";
  auto bad = h.Start(page);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_FALSE(h.parked);
}

// The calculate-locate body as JsonWriter writes it, member by member: the
// reference AppendLocateSuccessBody is held to.
std::string LocateBodyByJsonWriter(const LocateRequest& req, const Quote& quote,
                                   const MarketInputs& in, std::string_view calculation_id,
                                   std::chrono::system_clock::time_point at, bool stale) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject()
      .Key("status").String("success")
      .Key("ticker").String(req.ticker)
      .Key("client_id").String(req.client_id)
      .Key("position_value").Number(req.position_value, 2)
      .Key("loan_days").Int(req.loan_days)
      .Key("total_fee").Number(quote.total_fee, 2)
      .Key("breakdown").BeginObject()
      .Key("borrow_cost").Number(quote.borrow_cost, 2)
      .Key("markup").Number(quote.markup, 2)
      .Key("transaction_fees").Number(quote.transaction_fees, 2)
      .EndObject()
      .Key("borrow_rate_used").Number(quote.borrow_rate_used)
      .Key("day_count").Int(quote.day_count)
      .Key("inputs").BeginObject()
      .Key("base_rate").Number(in.base_rate.value)
      .Key("volatility").Number(in.volatility.value)
      .Key("event_risk").Int(in.event_risk.value)
      .EndObject()
      .Key("sources").BeginObject()
      .Key("base_rate").String(SourceName(in.base_rate.source))
      .Key("volatility").String(SourceName(in.volatility.source))
      .Key("event_risk").String(SourceName(in.event_risk.source));
  if (stale) w.Key("reference_data").String("stale");
  w.EndObject()
      .Key("calculation_id").String(calculation_id)
      .Key("calculated_at").String(Rfc3339Utc(at, 3))
      .EndObject();
  return body;
}

TEST(LocateBody, WritesWhatJsonWriterWritesForEveryKindOfValue) {
  std::mt19937_64 rng(20261206);
  auto decimal = [&] {
    // Whole range of magnitudes and scales, both signs, and round values.
    __int128 raw = static_cast<__int128>(rng() >> (rng() % 64));
    for (int k = static_cast<int>(rng() % 4); k > 0; --k) raw *= 1000;
    if (rng() % 4 == 0) raw -= raw % Decimal::kOne;
    return Decimal::FromRaw(rng() % 8 == 0 ? -raw : raw);
  };
  auto text = [&] {
    static const std::vector<std::string> pool = {
        "GME", "BRK.B", "big_fund_007", "", "quote\"d", "back\\slash", "tab\t", "\x01ctl",
        "caf\xC3\xA9", "bad\xFFutf8", "018f3a2e-7b1c-7d4e-9a0b-1c2d3e4f5a6b"};
    return pool[rng() % pool.size()];
  };
  const Source sources[] = {Source::kLenderApi, Source::kCache,     Source::kFallback,
                            Source::kDb,        Source::kMarketApi, Source::kEventsApi};
  for (int i = 0; i < 5000; ++i) {
    LocateRequest req{text(), decimal(), static_cast<int>(rng() % 4000) - 1000, text()};
    Quote quote{decimal(), decimal(), decimal(), decimal(), decimal(), decimal(),
                rng() % 2 ? 360 : 365};
    MarketInputs in{{decimal(), sources[rng() % 6]},
                    {decimal(), sources[rng() % 6]},
                    {static_cast<int>(rng() % 21) - 5, sources[rng() % 6]}};
    const std::string id = text();
    const auto at = std::chrono::system_clock::time_point(
        std::chrono::microseconds(static_cast<int64_t>(rng() % 4102444800000000ull)));
    const bool stale = rng() % 2 == 0;
    std::string body = "prefix:";
    AppendLocateSuccessBody(&body, req, quote, in, id, at, stale);
    ASSERT_EQ(body, "prefix:" + LocateBodyByJsonWriter(req, quote, in, id, at, stale)) << i;
  }
}

ApiRequest ReadyProbe() {
  ApiRequest r;
  r.method = "GET";
  r.path = "/health/ready";
  return r;
}

TEST(Service, ReadinessIsDegradedWhenTheStoreAnsweredLookupsBeforeAnyProbe) {
  Harness h;
  ASSERT_EQ(h.Call(Harness::Locate())->status, 200);  // the store answered these lookups
  h.store.SetDown(true);
  h.clock.Advance(std::chrono::minutes(1));
  auto ready = h.Call(ReadyProbe());
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_NE(ready->body.find(R"("status":"degraded")"), std::string::npos) << ready->body;
  h.clock.Advance(std::chrono::minutes(15));
  EXPECT_EQ(h.Call(ReadyProbe())->status, 503);
}

TEST(Service, ReadinessFromItsOwnProberAnswersOnTheFastPath) {
  ServiceOptions options;
  options.readiness_interval = 5ms;
  Harness h(options);
  auto ready = h.Start(ReadyProbe());
  ASSERT_TRUE(ready) << "answered without the blocking pass";
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_NE(ready->body.find(R"("status":"ready")"), std::string::npos) << ready->body;
  h.store.SetDown(true);
  // The next probes see the store down: degraded, still on the fast path.
  bool degraded = false;
  for (int i = 0; i < 400 && !degraded; ++i) {
    std::this_thread::sleep_for(5ms);
    auto r = h.Start(ReadyProbe());
    ASSERT_TRUE(r);
    degraded = r->body.find(R"("status":"degraded")") != std::string::npos;
  }
  EXPECT_TRUE(degraded);
}

TEST(Service, AFloodOfInventedKeysCostsBoundedStoreLookups) {
  Harness h;
  ASSERT_EQ(h.Call(Harness::Locate())->status, 200);  // a real key, now held
  const int64_t before = h.store.Calls();
  int unauthorized = 0, unavailable = 0;
  for (int i = 0; i < 1000; ++i) {
    auto r = h.Call(Harness::Locate("GME", "invented-" + std::to_string(i)));
    ASSERT_TRUE(r);
    if (r->status == 401) ++unauthorized;
    if (r->status == 503) ++unavailable;
  }
  // Within one second: the per-second budget (100 lookups, one spent on the
  // real key) reached the store, the rest were answered 503 without it.
  EXPECT_EQ(h.store.Calls() - before, 99);
  EXPECT_EQ(unauthorized, 99);
  EXPECT_EQ(unavailable, 901);
  // The real key is unaffected, and an invented one already refused is
  // refused again from memory.
  EXPECT_EQ(h.Call(Harness::Locate())->status, 200);
  const int64_t after = h.store.Calls();
  EXPECT_EQ(h.Call(Harness::Locate("GME", "invented-7"))->status, 401);
  EXPECT_EQ(h.store.Calls(), after);
  // The next second has a budget again.
  h.clock.Advance(1s);
  EXPECT_EQ(h.Call(Harness::Locate("GME", "invented-5000"))->status, 401);
}

// Handles the `n` requests `make(i)` on threads of their own while the
// store holds its key lookups, lets the first lookup through once the others
// have had time to start theirs, and returns the answers.
template <typename Make>
std::vector<std::optional<ApiResponse>> CallWhileKeyLookupsWait(Harness& h, int n, Make make) {
  h.store.Hold("GetApiKeyByHash");
  std::vector<std::optional<ApiResponse>> answers(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&h, &answers, &make, i] {
      const ApiRequest req = make(i);
      EXPECT_FALSE(h.service->Handle(
          req, [&answers, i](ApiResponse r) { answers[static_cast<size_t>(i)] = std::move(r); },
          true));
    });
  }
  EXPECT_TRUE(h.store.WaitHeld(1)) << "no lookup reached the store";
  // Time for the other requests to arrive and (wrongly) start lookups of
  // their own, which would be held and counted too.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(h.store.Calls("GetApiKeyByHash"), 1) << "while the first lookup was under way";
  h.store.Release();
  for (auto& t : threads) t.join();
  return answers;
}

// Requests for one key the process does not hold, arriving while its store
// lookup is under way, wait for that lookup instead of making their own, and
// all get its answer.
TEST(Service, ConcurrentRequestsForOneUnknownKeyShareOneStoreLookup) {
  Harness h;
  auto answers =
      CallWhileKeyLookupsWait(h, 8, [](int) { return Harness::Locate("GME", "invented-key"); });
  EXPECT_EQ(h.store.Calls("GetApiKeyByHash"), 1);
  for (const auto& a : answers) {
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 401) << a->body;
  }
  // Remembered as unknown: no lookup now either.
  EXPECT_EQ(h.Call(Harness::Locate("GME", "invented-key"))->status, 401);
  EXPECT_EQ(h.store.Calls("GetApiKeyByHash"), 1);
}

// The same for a real key: one lookup admits every waiting request.
TEST(Service, ConcurrentRequestsForOneNewKeyShareOneStoreLookupAndAreAdmitted) {
  Harness h;
  auto answers = CallWhileKeyLookupsWait(h, 6, [](int i) {
    return Harness::Locate("GME", "internal", "client_" + std::to_string(100 + i));
  });
  EXPECT_EQ(h.store.Calls("GetApiKeyByHash"), 1);
  for (const auto& a : answers) {
    ASSERT_TRUE(a);
    // The client ids exist nowhere: a 404 naming the client comes after
    // admission, so each request was admitted by the shared lookup.
    EXPECT_EQ(a->status, 404) << a->body;
    EXPECT_NE(a->body.find("CLIENT_NOT_FOUND"), std::string::npos) << a->body;
  }
}

TEST(Service, ALimiterRoundTripIsNeverTakenOnTheFastPath) {
  Harness h;
  ASSERT_EQ(h.Call(Harness::Locate())->status, 200);  // warm caches, one token
  h.limiter.SetNeedsRoundTrip(true);
  EXPECT_FALSE(h.Start(Harness::Locate()))
      << "the fast path must hand the request on, not wait for Redis";
  EXPECT_EQ(h.limiter.Deferred(), 1);
  EXPECT_EQ(h.limiter.Calls(), 1) << "nothing spent by the pass that handed it on";
  EXPECT_EQ(h.parked.stage(), "admit");
  auto r = h.Resume();
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(h.limiter.Calls(), 2) << "one token per request";
}

TEST(Service, ARetriedRequestIdIsPricedAndAuditedOnce) {
  Harness h;
  auto with_id = [](std::string id, std::string ticker = "GME") {
    ApiRequest r = Harness::Locate(std::move(ticker), "internal");
    r.request_id = std::move(id);
    r.request_id_given = true;
    return r;
  };
  auto first = h.Call(with_id("order-17"));
  ASSERT_EQ(first->status, 200) << first->body;
  h.market.SetLenderRate("GME", D("0.25"));  // the inputs move between the tries
  auto again = h.Call(with_id("order-17"));
  ASSERT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(again->body, first->body);
  ASSERT_EQ(h.audit.records().size(), 1u);
  EXPECT_EQ(Member(first->body, "calculation_id"), h.audit.records()[0].calculation_id);
  EXPECT_TRUE(h.audit.records()[0].calculation_id.starts_with("named-"));

  // The same id on another request prices that request.
  auto other = h.Call(with_id("order-17", "AAPL"));
  ASSERT_EQ(other->status, 200) << other->body;
  EXPECT_NE(Member(other->body, "calculation_id"), Member(first->body, "calculation_id"));
  EXPECT_EQ(h.audit.records().size(), 2u);

  // Past the replay window (or in another process without a shared ledger),
  // a retry is priced again under the same calculation id, which the audit
  // store keeps once.
  h.clock.Advance(std::chrono::minutes(11));
  auto late = h.Call(with_id("order-17"));
  ASSERT_EQ(late->status, 200) << late->body;
  EXPECT_EQ(Member(late->body, "calculation_id"), Member(first->body, "calculation_id"));

  // Without the client's id, every request is its own.
  auto a = h.Call(Harness::Locate("GME", "internal"));
  auto b = h.Call(Harness::Locate("GME", "internal"));
  EXPECT_NE(Member(a->body, "calculation_id"), Member(b->body, "calculation_id"));
}

ApiRequest WithRequestId(std::string id, std::string ticker = "GME") {
  ApiRequest r = Harness::Locate(std::move(ticker), "internal");
  r.request_id = std::move(id);
  r.request_id_given = true;
  return r;
}

TEST(Service, TheStagesThatMayParkComeFromTheRouteTableOnceEach) {
  const std::vector<std::string_view> stages = PricingService::WaitingStages();
  const std::set<std::string_view> unique(stages.begin(), stages.end());
  EXPECT_EQ(unique.size(), stages.size());
  EXPECT_EQ(unique, (std::set<std::string_view>{"ready", "admit", "replay", "stock", "broker",
                                                "inputs", "list", "market"}));
}

TEST(Service, ARetryOnAnotherProcessIsAnsweredFromTheSharedLedgerNotPricedAgain) {
  fakes::FakeClock ledger_clock;
  fakes::FakeReplyLedger ledger(&ledger_clock);
  Harness first({}, &ledger), second({}, &ledger);
  auto priced = first.Call(WithRequestId("order-17"));
  ASSERT_EQ(priced->status, 200) << priced->body;
  EXPECT_EQ(first.observer.misses["shared_reply"], 1);  // claimed, then priced

  // The gateway sends it again, to another process, whose inputs moved.
  second.market.SetLenderRate("GME", D("0.25"));
  ApiRequest warm_key;  // so that the request parks only for the ledger
  warm_key.method = "GET";
  warm_key.path = "/api/v1/rates/GME";
  warm_key.headers = {{"x-api-key", "internal"}};
  ASSERT_EQ(second.Call(warm_key)->status, 200);
  const int64_t stock_reads = second.store.Calls("GetStock");
  EXPECT_FALSE(second.Start(WithRequestId("order-17")));  // the ledger is a round trip
  EXPECT_EQ(second.parked.stage(), "replay");
  auto replayed = second.Resume();
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->status, 200);
  EXPECT_EQ(replayed->body, priced->body);
  EXPECT_TRUE(second.audit.records().empty()) << "priced a second time";
  EXPECT_EQ(second.observer.hits["shared_reply"], 1);
  EXPECT_EQ(second.store.Calls("GetStock"), stock_reads) << "a replay needs no reference data";
  // Its own retries are then answered from memory, without the ledger.
  const int64_t claims = ledger.Calls("Claim");
  EXPECT_EQ(second.Start(WithRequestId("order-17"))->body, priced->body);
  EXPECT_EQ(ledger.Calls("Claim"), claims);

  // The same id on another request is another name: priced there.
  auto other = second.Call(WithRequestId("order-17", "AAPL"));
  ASSERT_EQ(other->status, 200) << other->body;
  EXPECT_EQ(second.audit.records().size(), 1u);
}

TEST(Service, AnIdClaimedElsewhereAndNotAnsweredIsPricedHereUnderTheSameId) {
  fakes::FakeClock ledger_clock;
  fakes::FakeReplyLedger ledger(&ledger_clock);
  Harness first({}, &ledger), second({}, &ledger);
  first.audit.SetDeferred(true);  // priced, its record not durable yet (or the process died)
  EXPECT_FALSE(first.Start(WithRequestId("order-18")));
  EXPECT_FALSE(first.Resume());

  // A retry elsewhere is not refused: it is priced there, under the same
  // name-based calculation id, which the audit store keeps once.
  auto retry = second.Call(WithRequestId("order-18"));
  ASSERT_TRUE(retry);
  ASSERT_EQ(retry->status, 200) << retry->body;
  ASSERT_EQ(second.audit.records().size(), 1u);
  first.audit.CompleteAll();
  ASSERT_TRUE(first.answer);
  ASSERT_EQ(first.answer->status, 200) << first.answer->body;
  EXPECT_EQ(Member(retry->body, "calculation_id"), first.audit.records().at(0).calculation_id);
  // The holder's answer is the one recorded for later retries.
  Harness third({}, &ledger);
  auto later = third.Call(WithRequestId("order-18"));
  ASSERT_EQ(later->status, 200);
  EXPECT_EQ(later->body, first.answer->body);
  EXPECT_TRUE(third.audit.records().empty());
}

TEST(Service, ARefusedOrUnauditedRequestGivesItsClaimUpSoARetryIsDecidedAgain) {
  fakes::FakeClock ledger_clock;
  fakes::FakeReplyLedger ledger(&ledger_clock);
  Harness first({}, &ledger), second({}, &ledger);
  // Refused (no such ticker): nothing is kept, and the retry is refused again.
  EXPECT_EQ(first.Call(WithRequestId("order-19", "NOPE"))->status, 404);
  EXPECT_EQ(ledger.Size(), 0u);
  EXPECT_EQ(second.Call(WithRequestId("order-19", "NOPE"))->status, 404);

  // The audit trail failed: 503, and a retry elsewhere prices it.
  first.audit.FailNext(1, "Append");
  EXPECT_EQ(first.Call(WithRequestId("order-20"))->status, 503);
  EXPECT_EQ(ledger.Size(), 0u);
  auto retry = second.Call(WithRequestId("order-20"));
  ASSERT_EQ(retry->status, 200) << retry->body;
  EXPECT_EQ(second.audit.records().size(), 1u);
}

TEST(Service, WithTheLedgerUnreachableEachProcessPricesOnceForItself) {
  fakes::FakeClock ledger_clock;
  fakes::FakeReplyLedger ledger(&ledger_clock);
  Harness first({}, &ledger), second({}, &ledger);
  ledger.SetDown(true);
  auto a = first.Call(WithRequestId("order-21"));
  auto b = second.Call(WithRequestId("order-21"));
  ASSERT_EQ(a->status, 200) << a->body;
  ASSERT_EQ(b->status, 200) << b->body;
  // Priced by each, under one calculation id: the audit store keeps one row.
  EXPECT_EQ(Member(a->body, "calculation_id"), Member(b->body, "calculation_id"));
  EXPECT_EQ(first.Call(WithRequestId("order-21"))->body, a->body);
  EXPECT_EQ(first.audit.records().size(), 1u);
}

TEST(Service, ServesKnownKeysAndRowsStaleWhileTheStoreIsDownUpToTheLimit) {
  Harness h;
  ASSERT_EQ(h.Call(Harness::Locate())->status, 200);
  h.store.SetDown(true);
  // Past every TTL (keys 60 s, stocks and brokers 30 min, volatility 15 min),
  // within the stale limit (15 min past expiry) of the key.
  h.clock.Advance(std::chrono::minutes(31));
  auto r = h.Call(Harness::Locate());
  ASSERT_TRUE(r);
  // Known only before the outage: refused as before, never guessed.
  auto unknown = h.Call(Harness::Locate("AAPL", "internal", "big_fund_007"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 503) << unknown->body;
  // The key expired 30 min ago: past its stale limit.
  EXPECT_EQ(r->status, 503) << r->body;

  Harness fresh;
  ASSERT_EQ(fresh.Call(Harness::Locate())->status, 200);
  fresh.store.SetDown(true);
  fresh.clock.Advance(std::chrono::minutes(5));  // the key (60 s) expired 4 min ago
  auto stale = fresh.Call(Harness::Locate());
  ASSERT_TRUE(stale);
  ASSERT_EQ(stale->status, 200) << stale->body;
  EXPECT_NE(stale->body.find(R"("reference_data":"stale")"), std::string::npos) << stale->body;
  EXPECT_EQ(Member(stale->body, "total_fee"), "1535.17");
  fresh.store.SetDown(false);
  auto current = fresh.Call(Harness::Locate());
  ASSERT_EQ(current->status, 200) << current->body;
  EXPECT_EQ(current->body.find("reference_data"), std::string::npos) << current->body;
  // 16 min past the key's expiry, the store down again: no longer served.
  fresh.store.SetDown(true);
  fresh.clock.Advance(std::chrono::minutes(17));
  EXPECT_EQ(fresh.Call(Harness::Locate())->status, 503);
}

TEST(Service, RoutesUnknownPathsAndMethods) {
  Harness h;
  ApiRequest r;
  r.method = "GET";
  r.path = "/api/v1/unknown";
  EXPECT_EQ(h.Call(r)->status, 404);
  r.method = "PUT";
  r.path = "/api/v1/calculate-locate";
  auto out = h.Call(r);
  EXPECT_EQ(out->status, 405);
  r.method = "POST";
  r.headers = {{"x-api-key", "demo-key-123"}, {"content-type", "text/plain"}};
  EXPECT_EQ(h.Call(r)->status, 415);
}

TEST(Service, TakesJsonInAnyCaseWithParametersAndRefusesLookalikes) {
  Harness h;
  for (const char* ok : {"application/json", "Application/JSON", "APPLICATION/JSON ",
                         "application/json; charset=utf-8", "application/json;charset=UTF-8"}) {
    ApiRequest r = Harness::Locate("GME", "demo-key-123");
    r.headers = {{"x-api-key", "demo-key-123"}, {"content-type", ok}};
    EXPECT_NE(h.Call(r)->status, 415) << ok;
  }
  for (const char* bad : {"application/jsonx", "application/jso", "application/json-seq",
                          "text/json", "application/ json", "", "applicat1on/json"}) {
    ApiRequest r = Harness::Locate("GME", "demo-key-123");
    r.headers = {{"x-api-key", "demo-key-123"}, {"content-type", bad}};
    EXPECT_EQ(h.Call(r)->status, 415) << bad;
  }
}

TEST(Service, MarketAnswersAreReusedSoTheFastPathHoldsForTickersWithoutARow) {
  Harness h;
  h.store.Put(ApiKey{Hash("internal2"), "desk", 1000, KeyScope::kInternal});
  h.market.SetLenderRate("AAPL", D("0.003"));
  ASSERT_EQ(h.Call(Harness::Locate("AAPL", "internal2"))->status, 200);
  int64_t market_calls = h.market.Calls();
  auto r = h.Start(Harness::Locate("AAPL", "internal2"));
  ASSERT_TRUE(r) << "the VIX and event risk were not reused";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(h.market.Calls(), market_calls);
}

TEST(Service, AnUnavailableLenderIsNotAskedOnEveryRequest) {
  Harness h;
  h.market.SetDown(true);
  auto r = h.Call(Harness::Locate());
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find(R"("base_rate":"fallback")"), std::string::npos) << r->body;
  int64_t lender_calls = h.market.Calls("LenderRate");
  r = h.Start(Harness::Locate());
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find(R"("base_rate":"fallback")"), std::string::npos) << r->body;
  EXPECT_EQ(h.market.Calls("LenderRate"), lender_calls);
  h.market.SetDown(false);
  h.clock.Advance(6s);  // past the reuse window: the lender is asked again
  r = h.Call(Harness::Locate());
  EXPECT_NE(r->body.find(R"("base_rate":"lender_api")"), std::string::npos) << r->body;
}

TEST(Service, LenderGarbageFallsBackToTheMinimumRate) {
  Harness h;
  h.market.FailNext(1, "LenderRate");
  auto r = h.Call(Harness::Locate());
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find(R"("base_rate":"fallback")"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace pricing::engine
