// PricingService in the split roles: the gateway's admission step (routes,
// methods, media types, keys and rate limits answered as in `all`, admitted
// requests forwarded with the key), and the calculation role trusting only a
// principal that comes with the internal token. A gateway wired to a
// calculation service prices exactly like one `all` service.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "engine/activity.h"
#include "engine/internal_api.h"
#include "engine/json_text.h"
#include "engine/service.h"
#include "fakes/fakes.h"
#include "test_util.h"

namespace pricing::engine {
namespace {

constexpr char kToken[] = "a-shared-internal-token-0001";

// A stand-in for SHA-256 with the same shape: 64 lowercase hex digits.
std::string Hash(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : key) {
    out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kHex[static_cast<unsigned char>(c) & 15]);
  }
  out.resize(64, '0');
  return out;
}

// Reference data, market and audit fakes, and a service over them.
struct Node {
  fakes::FakeClock clock;
  fakes::FakeReferenceStore store;
  fakes::FakeCache cache{&clock};
  fakes::FakeRateLimiter limiter;
  fakes::FakeMarketData market;
  fakes::FakeAuditSink audit;
  int uuid = 0;
  std::optional<PricingService> service;

  Node() {
    store.Put(Stock{"GME", BorrowStatus::kHard, Dec("0.05"), "SL-GME"});
    store.Put(Stock{"NOVOL", BorrowStatus::kEasy, Dec("0.01"), "SL-NOVOL"});
    store.Put(Broker{"big_fund_007", Dec("5.0"), FeeType::kFlat, Dec("40.00"), 365});
    store.Put(Broker{"quant_360", Dec("2.5"), FeeType::kPercentage, Dec("0.1"), 360});
    store.Put(VolatilityRow{"GME", Dec("32.5"), 6});
    store.Put(ApiKey{Hash("demo-key-123"), "big_fund_007", 3, KeyScope::kClient});
    store.Put(ApiKey{Hash("internal"), "desk", 1000, KeyScope::kInternal});
    market.SetLenderRate("GME", Dec("0.15"));
    market.SetLenderRate("NOVOL", Dec("0.021"));
    market.SetVix(Dec("24.5"));
    market.SetEventRisk("NOVOL", 2);
  }

  ServiceDeps Deps() {
    ServiceDeps deps;
    deps.store = &store;
    deps.cache = &cache;
    deps.limiter = &limiter;
    deps.market = &market;
    deps.audit = &audit;
    deps.clock = &clock;
    deps.hash_key = Hash;
    deps.new_uuid = [this] {
      return "00000000-0000-4000-8000-" + std::to_string(100000000000 + ++uuid);
    };
    return deps;
  }

  std::optional<ApiResponse> Call(const ApiRequest& req) {
    std::optional<ApiResponse> out;
    if (service->Handle(req, [&](ApiResponse r) { out = std::move(r); }, true)) return {};
    return out;
  }
};

ApiRequest Locate(std::string key, std::string body,
                  std::string content_type = "application/json") {
  ApiRequest r;
  r.method = "POST";
  r.path = "/api/v1/calculate-locate";
  r.headers = {{"content-type", content_type}};
  if (!key.empty()) r.headers.emplace_back("x-api-key", key);
  r.body = std::move(body);
  r.request_id = "req-1";
  return r;
}

ApiRequest GetPath(std::string key, std::string path) {
  ApiRequest r;
  r.method = "GET";
  r.path = std::move(path);
  if (!key.empty()) r.headers.emplace_back("x-api-key", key);
  return r;
}

// Returns the request as the calculation role receives it from the gateway.
ApiRequest Received(const ApiRequest& original, const HeaderList& headers) {
  ApiRequest r = original;
  r.headers.clear();
  for (const auto& [k, v] : headers) {
    std::string lower = k;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(lower, v);
  }
  return r;
}

struct Forwarded {
  ApiRequest request;
  ApiKey key;
  HeaderList rate_headers;
  std::function<void(ApiResponse)> done;
};

// A gateway whose forward hook keeps what it was handed.
struct Gateway : Node {
  std::vector<Forwarded> forwarded;
  Gateway() {
    ServiceDeps deps = Deps();
    deps.forward = [this](const ApiRequest& req, const ApiKey& key, HeaderList rate,
                          std::function<void(ApiResponse)> done) {
      forwarded.push_back({req, key, std::move(rate), std::move(done)});
    };
    service.emplace(deps, ServiceOptions{});
  }
};

struct Calculation : Node {
  Calculation() {
    ServiceOptions options;
    options.internal_token = kToken;
    service.emplace(Deps(), options);
  }
};

struct All : Node {
  All() { service.emplace(Deps(), ServiceOptions{}); }
};

TEST(GatewayService, ForwardsAdmittedRequestsWithTheKeyAndRateHeaders) {
  Gateway g;
  auto none = g.Call(Locate("demo-key-123", R"({"ticker":"GME"})"));
  EXPECT_FALSE(none) << "answered by the forward hook, later";
  ASSERT_EQ(g.forwarded.size(), 1u);
  EXPECT_EQ(g.forwarded[0].key.client_id, "big_fund_007");
  EXPECT_EQ(g.forwarded[0].request.body, R"({"ticker":"GME"})");
  bool has_limit = false;
  for (const auto& [k, v] : g.forwarded[0].rate_headers) has_limit |= k == "X-RateLimit-Limit";
  EXPECT_TRUE(has_limit);
  EXPECT_EQ(g.store.Calls("GetStock"), 0) << "the gateway prices nothing";
  EXPECT_EQ(g.market.Calls(), 0);
  EXPECT_TRUE(g.audit.records().empty());
}

TEST(GatewayService, AnswersRefusalsItselfWithoutForwarding) {
  Gateway g;
  EXPECT_EQ(g.Call(Locate("", "{}"))->status, 401);
  EXPECT_EQ(g.Call(Locate("wrong-key", "{}"))->status, 401);
  EXPECT_EQ(g.Call(Locate("demo-key-123", "{}", "text/plain"))->status, 415);
  EXPECT_EQ(g.Call(GetPath("demo-key-123", "/api/v1/nothing"))->status, 404);
  ApiRequest del = GetPath("demo-key-123", "/api/v1/rates/GME");
  del.method = "DELETE";
  EXPECT_EQ(g.Call(del)->status, 405);
  // The key allows 3 requests per window.
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(g.Call(GetPath("demo-key-123", "/api/v1/rates/GME")));
  auto limited = g.Call(GetPath("demo-key-123", "/api/v1/rates/GME"));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(g.forwarded.size(), 3u);
  EXPECT_EQ(g.Call(GetPath("", "/health/live"))->status, 200) << "probes are the gateway's own";
}

TEST(CalculationService, RefusesRequestsThatBypassTheGateway) {
  Calculation c;
  auto r = c.Call(Locate(
      "demo-key-123",
      R"({"ticker":"GME","position_value":50000,"loan_days":60,"client_id":"big_fund_007"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << r->body;
  EXPECT_NE(r->body.find("internal token"), std::string::npos) << r->body;
  EXPECT_TRUE(c.audit.records().empty());
  EXPECT_EQ(c.store.Calls("GetApiKeyByHash"), 0) << "X-API-Key is not consulted";

  ApiRequest forged = Locate("", R"({"ticker":"GME"})");
  ApiKey key{Hash("internal"), "desk", 0, KeyScope::kInternal};
  forged = Received(forged, ForwardHeaders(forged, key, "not-the-token-but-long-enough"));
  EXPECT_EQ(c.Call(forged)->status, 401);
}

TEST(CalculationService, PricesForTheForwardedPrincipalAndKeepsTheScopeRule) {
  Calculation c;
  ApiRequest req = Locate(
      "", R"({"ticker":"GME","position_value":50000,"loan_days":60,"client_id":"big_fund_007"})");
  ApiKey client_key{Hash("demo-key-123"), "big_fund_007", 3, KeyScope::kClient};
  auto r = c.Call(Received(req, ForwardHeaders(req, client_key, kToken)));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(c.audit.records().size(), 1u);
  EXPECT_EQ(c.audit.records()[0].api_key_client, "big_fund_007");
  EXPECT_EQ(c.audit.records()[0].request_id, "req-1");
  EXPECT_EQ(c.limiter.Calls(), 0) << "the gateway applied the rate limit";

  ApiRequest other = Locate(
      "", R"({"ticker":"GME","position_value":50000,"loan_days":60,"client_id":"quant_360"})");
  r = c.Call(Received(other, ForwardHeaders(other, client_key, kToken)));
  EXPECT_EQ(r->status, 403) << "a client key prices only its own client";
}

// Behind the gateway, only an id the client sent is worth a claim in the
// shared ledger: one the gateway made up is never sent again, and claiming it
// would put a Redis round trip in front of every price.
TEST(CalculationService, ClaimsOnlyRequestIdsTheClientSent) {
  struct Ledgered : Node {
    fakes::FakeReplyLedger ledger{&clock};
    Ledgered() {
      ServiceDeps deps = Deps();
      deps.replies = &ledger;
      ServiceOptions options;
      options.internal_token = kToken;
      service.emplace(deps, options);
    }
  } c;
  ApiKey key{Hash("demo-key-123"), "big_fund_007", 3, KeyScope::kClient};
  ApiRequest made_up = Locate(
      "", R"({"ticker":"GME","position_value":50000,"loan_days":60,"client_id":"big_fund_007"})");
  made_up.request_id_given = false;
  ApiRequest received = Received(made_up, ForwardHeaders(made_up, key, kToken));
  received.request_id_given = true;  // as the calculation role parses any X-Request-Id
  EXPECT_TRUE(RequestIdMadeUpstream(received));
  auto r = c.Call(received);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(c.ledger.Calls("Claim"), 0);

  ApiRequest given = made_up;
  given.request_id = "client-retry-7";
  given.request_id_given = true;
  received = Received(given, ForwardHeaders(given, key, kToken));
  EXPECT_FALSE(RequestIdMadeUpstream(received));
  r = c.Call(received);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(c.ledger.Calls("Claim"), 1);
  EXPECT_EQ(c.audit.records().size(), 2u);
}

// A rate read through the calculation role marks its ticker active, as a
// price does, so the cache role keeps refreshing tickers desks only read.
TEST(CalculationService, NotesTheTickerOfEveryRateItAnswers) {
  ActivityTracker tracker(std::chrono::seconds(30));
  struct Reading : Node {
    explicit Reading(ActivityTracker& tracker) {
      ServiceDeps deps = Deps();
      deps.rate_read = [this, &tracker](const std::string& ticker) {
        tracker.Note(kActiveTickers, ticker, clock.Now());
      };
      ServiceOptions options;
      options.internal_token = kToken;
      service.emplace(deps, options);
    }
  } c(tracker);
  const ApiKey key{Hash("demo-key-123"), "big_fund_007", 3, KeyScope::kClient};
  for (const char* path : {"/api/v1/rates/gme", "/api/v1/rates/NOPE"}) {
    const ApiRequest req = GetPath("", path);
    auto r = c.Call(Received(req, ForwardHeaders(req, key, kToken)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, std::string_view(path).ends_with("NOPE") ? 404 : 200) << r->body;
  }
  EXPECT_EQ(tracker.Queued(), 1u) << "only the rate answered";
  fakes::FakeActivityLog log;
  ASSERT_TRUE(tracker.Flush(log, c.clock.Now()));
  EXPECT_TRUE(log.LastSeen(std::string(kActiveTickers), "GME"));
  EXPECT_FALSE(log.LastSeen(std::string(kActiveTickers), "NOPE"));
}

// Wires a Gateway's forward hook to a Calculation service synchronously, as
// the HTTP forwarding does.
std::optional<ApiResponse> ThroughSplit(Gateway& g, Calculation& c, const ApiRequest& req) {
  std::optional<ApiResponse> out;
  const size_t before = g.forwarded.size();
  const bool answered =
      !g.service->Handle(req, [&](ApiResponse r) { out = std::move(r); }, true);
  if (g.forwarded.size() == before) return answered ? out : std::nullopt;
  Forwarded f = g.forwarded.back();
  auto upstream = c.Call(Received(f.request, ForwardHeaders(f.request, f.key, kToken)));
  if (!upstream) return std::nullopt;
  upstream->headers.insert(upstream->headers.end(), f.rate_headers.begin(), f.rate_headers.end());
  f.done(*upstream);
  return out;
}

std::string WithoutIds(std::string body) {
  for (std::string_view key : {"\"calculation_id\":\"", "\"calculated_at\":\"", "\"as_of\":\""}) {
    size_t at = body.find(key);
    if (at == std::string::npos) continue;
    size_t end = body.find('"', at + key.size());
    body.erase(at + key.size(), end - at - key.size());
  }
  return body;
}

TEST(SplitService, PricesARequestTableExactlyLikeAll) {
  Gateway g;
  Calculation c;
  All a;
  const std::string ok_body =
      R"({"ticker":"GME","position_value":50000,"loan_days":60,"client_id":"big_fund_007"})";
  std::vector<ApiRequest> table = {
      Locate("demo-key-123", ok_body),
      Locate(
          "internal",
          R"({"ticker":"NOVOL","position_value":1234567.89,"loan_days":365,"client_id":"quant_360"})"),
      Locate("internal",
             R"({"ticker":"gme","position_value":250000.5,"loan_days":1,"client_id":"quant_360"})"),
      Locate("internal",
             R"({"ticker":"NOPE","position_value":1,"loan_days":1,"client_id":"quant_360"})"),
      Locate("internal",
             R"({"ticker":"GME","position_value":1,"loan_days":1,"client_id":"nobody_here"})"),
      Locate("internal",
             R"({"ticker":"GME","position_value":-1,"loan_days":1,"client_id":"quant_360"})"),
      Locate("internal", R"({"ticker":"GME",)"),
      Locate("demo-key-123",
             R"({"ticker":"GME","position_value":1,"loan_days":1,"client_id":"quant_360"})"),
      Locate("", ok_body),
      Locate("internal", ok_body, "text/plain"),
      GetPath("internal", "/api/v1/rates/NOVOL"),
      GetPath("internal", "/api/v1/rates/nope"),
      GetPath("internal", "/api/v1/rates/status/HARD"),
      GetPath("internal", "/api/v1/market/volatility"),
      GetPath("internal", "/api/v1/unknown"),
  };
  ApiRequest query = GetPath("internal", "/api/v1/calculate-locate");
  query.query = {{"ticker", "GME"},
                 {"position_value", "50000"},
                 {"loan_days", "60"},
                 {"client_id", "quant_360"}};
  table.push_back(query);
  for (const ApiRequest& req : table) {
    auto split = ThroughSplit(g, c, req);
    auto all = a.Call(req);
    ASSERT_TRUE(split && all) << req.path << " " << req.body;
    EXPECT_EQ(split->status, all->status) << req.path << " " << req.body << "\n" << split->body;
    EXPECT_EQ(WithoutIds(split->body), WithoutIds(all->body)) << req.path << " " << req.body;
  }
  EXPECT_EQ(c.audit.records().size(), a.audit.records().size());
}

}  // namespace
}  // namespace pricing::engine
