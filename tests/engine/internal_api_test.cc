// The internal API between roles: the gateway's forwarded principal and its
// token, the data role's wire format (exact decimals, absent rows) and
// handler over fakes that fail, and the audit role's batch intake.
#include "engine/internal_api.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fakes/fakes.h"
#include "test_util.h"

namespace pricing::engine {
namespace {

constexpr char kToken[] = "a-shared-internal-token-0001";

ApiRequest Get(std::string path, bool with_token = true) {
  ApiRequest r;
  r.method = "GET";
  r.path = std::move(path);
  if (with_token) r.headers.emplace_back("x-internal-token", kToken);
  return r;
}

// Returns `headers` as a request would carry them (names lower-cased).
ApiRequest AsReceived(const HeaderList& headers) {
  ApiRequest r;
  r.method = "POST";
  r.path = "/api/v1/calculate-locate";
  for (const auto& [k, v] : headers) {
    std::string lower = k;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(lower, v);
  }
  return r;
}

TEST(ConstantTimeEquals, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret-token", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-tokeN"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-token-longer"));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), "a"));
}

TEST(ForwardedPrincipal, RoundTripsTheGatewaysHeaders) {
  ApiRequest client;
  client.headers = {{"content-type", "application/json"}, {"x-api-key", "demo-key-123"}};
  client.request_id = "req-1";
  ApiKey key{std::string(64, 'a'), "big_fund_007", 600, KeyScope::kClient};
  HeaderList h = ForwardHeaders(client, key, kToken);
  ApiRequest received = AsReceived(h);
  EXPECT_EQ(received.Header("content-type"), "application/json");
  EXPECT_EQ(received.Header("x-request-id"), "req-1");
  EXPECT_EQ(received.Header("x-api-key"), "") << "the client's key is never forwarded";
  EXPECT_TRUE(RequestIdMadeUpstream(received)) << "req-1 was not the client's";
  client.request_id_given = true;
  EXPECT_FALSE(RequestIdMadeUpstream(AsReceived(ForwardHeaders(client, key, kToken))));
  auto p = ForwardedPrincipal(received, kToken);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->client_id, "big_fund_007");
  EXPECT_EQ(p->scope, KeyScope::kClient);
  EXPECT_EQ(p->key_hash, std::string(16, 'a'));
  EXPECT_EQ(p->rate_limit_per_minute, 0);
}

TEST(ForwardedPrincipal, CarriesInternalKeysWithoutAClientAndOddClientIds) {
  ApiKey internal{std::string(64, 'b'), "", 10, KeyScope::kInternal};
  auto p = ForwardedPrincipal(AsReceived(ForwardHeaders({}, internal, kToken)), kToken);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->scope, KeyScope::kInternal);
  EXPECT_EQ(p->client_id, "");
  ApiKey odd{std::string(64, 'c'), "desk\r\nX-Evil: 1", 10, KeyScope::kInternal};
  HeaderList h = ForwardHeaders({}, odd, kToken);
  for (const auto& [k, v] : h) EXPECT_EQ(v.find('\n'), std::string::npos) << k;
  p = ForwardedPrincipal(AsReceived(h), kToken);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->client_id, "desk\r\nX-Evil: 1");
}

TEST(ForwardedPrincipal, RefusesAMissingOrWrongTokenAndMalformedPrincipals) {
  ApiKey key{std::string(64, 'a'), "big_fund_007", 600, KeyScope::kClient};
  ApiRequest ok = AsReceived(ForwardHeaders({}, key, kToken));

  ApiRequest no_token = ok;
  std::erase_if(no_token.headers, [](const auto& h) { return h.first == "x-internal-token"; });
  auto p = ForwardedPrincipal(no_token, kToken);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(p.error().field, "X-Internal-Token");

  EXPECT_FALSE(ForwardedPrincipal(ok, "another-token-of-the-same-size"));

  for (std::string_view drop : {"x-pricing-key-scope", "x-pricing-key-id"}) {
    ApiRequest r = ok;
    std::erase_if(r.headers, [&](const auto& h) { return h.first == drop; });
    auto bad = ForwardedPrincipal(r, kToken);
    ASSERT_FALSE(bad) << drop;
    EXPECT_EQ(bad.error().code, ErrorCode::kUnauthorized);
  }
  ApiRequest no_client = ok;
  std::erase_if(no_client.headers, [](const auto& h) { return h.first == "x-pricing-client-id"; });
  EXPECT_FALSE(ForwardedPrincipal(no_client, kToken)) << "a client key always names its client";

  ApiRequest bad_scope = ok;
  for (auto& [k, v] : bad_scope.headers) {
    if (k == "x-pricing-key-scope") v = "admin";
  }
  EXPECT_FALSE(ForwardedPrincipal(bad_scope, kToken));
}

TEST(ForwardedResponseHeaders, DropHopByHopAndGatewayOwnedOnes) {
  EXPECT_TRUE(IsForwardedResponseHeader("Allow"));
  EXPECT_TRUE(IsForwardedResponseHeader("retry-after"));
  for (std::string_view h : {"Connection", "content-length", "Content-Type", "Server", "Date",
                             "X-Request-Id", "Transfer-Encoding", "Keep-Alive"}) {
    EXPECT_FALSE(IsForwardedResponseHeader(h)) << h;
  }
}

TEST(TargetWithQuery, EncodesEveryPairSoTheyDecodeToTheSameValues) {
  EXPECT_EQ(TargetWithQuery("/api/v1/rates/GME", {}), "/api/v1/rates/GME");
  EXPECT_EQ(TargetWithQuery("/api/v1/calculate-locate",
                            {{"ticker", "BRK.B"}, {"position_value", "1 000"}, {"x", "a&b=c"}}),
            "/api/v1/calculate-locate?ticker=BRK.B&position_value=1%20000&x=a%26b%3Dc");
}

TEST(InternalRouteOf, NamesTemplatesAndNothingElse) {
  EXPECT_EQ(InternalRouteOf("/internal/v1/stocks/GME"), "/internal/v1/stocks/{ticker}");
  EXPECT_EQ(InternalRouteOf("/internal/v1/stocks"), "/internal/v1/stocks");
  EXPECT_EQ(InternalRouteOf("/internal/v1/api-keys/abc"), "/internal/v1/api-keys/{key_hash}");
  EXPECT_EQ(InternalRouteOf("/internal/v1/audit-batches"), "/internal/v1/audit-batches");
  EXPECT_EQ(InternalRouteOf("/internal/v1/stocks/GME/x"), "");
  EXPECT_EQ(InternalRouteOf("/internal/v1/unknown/GME"), "");
  EXPECT_EQ(InternalRouteOf("/api/v1/rates/GME"), "");
  EXPECT_TRUE(DataApi::Owns("/internal/v1/market/vix"));
  EXPECT_FALSE(DataApi::Owns("/internal/v1/audit-batches"));
}

TEST(DataWireFormat, KeepsDecimalsExactAndAbsentRowsAbsent) {
  Stock s{"BRK.B", BorrowStatus::kMedium, Dec("0.000000000123456789"), "SL-BRKB"};
  std::string body = EncodeStockBody(s);
  EXPECT_NE(body.find(R"("min_borrow_rate":"0.000000000123456789")"), std::string::npos) << body;
  auto back = DecodeStockBody(body);
  ASSERT_TRUE(back && *back);
  EXPECT_EQ((*back)->min_borrow_rate, s.min_borrow_rate);
  EXPECT_EQ((*back)->ticker, "BRK.B");
  EXPECT_EQ((*back)->borrow_status, BorrowStatus::kMedium);
  EXPECT_EQ((*back)->lender_api_id, "SL-BRKB");
  auto none = DecodeStockBody(EncodeStockBody(std::nullopt));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  Broker b{"quant_360", Dec("2.5"), FeeType::kPercentage, Dec("0.1"), 360};
  auto broker = DecodeBrokerBody(EncodeBrokerBody(b));
  ASSERT_TRUE(broker && *broker);
  EXPECT_EQ((*broker)->markup_percentage, Dec("2.5"));
  EXPECT_EQ((*broker)->transaction_fee_type, FeeType::kPercentage);
  EXPECT_EQ((*broker)->transaction_amount, Dec("0.1"));
  EXPECT_EQ((*broker)->day_count, 360);

  VolatilityRow partial{"TSLA", Dec("18"), std::nullopt};
  auto vol = DecodeVolatilityBody(EncodeVolatilityBody(partial));
  ASSERT_TRUE(vol && *vol);
  EXPECT_EQ((*vol)->vol_index, Dec("18"));
  EXPECT_FALSE((*vol)->event_risk_factor);

  ApiKey k{"ff00", "desk", 1000000, KeyScope::kInternal};
  auto key = DecodeApiKeyBody(EncodeApiKeyBody(k));
  ASSERT_TRUE(key && *key);
  EXPECT_EQ((*key)->rate_limit_per_minute, 1000000);
  EXPECT_EQ((*key)->scope, KeyScope::kInternal);

  auto list = DecodeStockListBody(EncodeStockListBody({s, s}));
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2u);

  EXPECT_EQ(DecodeRateBody(EncodeRateBody(Dec("0.15"))), Dec("0.15"));
  EXPECT_EQ(DecodeVixBody(EncodeVixBody(Dec("22.4"))), Dec("22.4"));
  EXPECT_EQ(DecodeEventRiskBody(EncodeEventRiskBody(6)), 6);
}

TEST(DataWireFormat, RefusesNumbersWhereDecimalsMustBeText) {
  // A JSON number would have gone through a double somewhere.
  auto r = DecodeRateBody(R"({"rate":0.15})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_FALSE(DecodeStockBody(
      R"({"stock":{"ticker":"GME","borrow_status":"HARD","min_borrow_rate":0.05,"lender_api_id":""}})"));
  EXPECT_FALSE(DecodeStockBody("<html>"));
  EXPECT_FALSE(DecodeStockBody(R"({"other":1})"));
  EXPECT_FALSE(DecodeBrokerBody(R"({"broker":{"client_id":"x"}})"));
}

TEST(DecodeErrorBody, ReadsTheDesignErrorAndFallsBackOnStatus) {
  Error e = DecodeErrorBody(
      503, PricingService::ErrorBody(Error{ErrorCode::kServiceUnavailable, "postgres: down", ""}));
  EXPECT_EQ(e.code, ErrorCode::kServiceUnavailable);
  EXPECT_EQ(e.message, "postgres: down");
  e = DecodeErrorBody(
      400, PricingService::ErrorBody(Error{ErrorCode::kInvalidParameter, "bad", "status"}));
  EXPECT_EQ(e.code, ErrorCode::kInvalidParameter);
  EXPECT_EQ(e.field, "status");
  EXPECT_EQ(DecodeErrorBody(502, "Bad Gateway").code, ErrorCode::kServiceUnavailable);
  EXPECT_EQ(DecodeErrorBody(401, "").code, ErrorCode::kUnauthorized);
  // The last of two messages is empty (found by the internal_api fuzz
  // target): still an error that says something.
  e = DecodeErrorBody(404, R"({"error":{"code":"TICKER_NOT_FOUND","message":"x","message":""}})");
  EXPECT_FALSE(e.message.empty());
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
}

struct DataHarness {
  fakes::FakeReferenceStore store;
  fakes::FakeMarketData market;
  DataApi api{&store, &market, kToken};

  DataHarness() {
    store.Put(Stock{"GME", BorrowStatus::kHard, Dec("0.05"), "SL-GME"});
    store.Put(Stock{"AMC", BorrowStatus::kHard, Dec("0.04"), "SL-AMC"});
    store.Put(Broker{"big_fund_007", Dec("5.0"), FeeType::kFlat, Dec("40.00"), 365});
    store.Put(VolatilityRow{"GME", Dec("32.5"), 6});
    store.Put(ApiKey{"abcdef", "big_fund_007", 600, KeyScope::kClient});
    market.SetLenderRate("GME", Dec("0.15"));
    market.SetVix(Dec("22.4"));
    market.SetEventRisk("GME", 6);
  }
};

TEST(DataApi, AnswersEveryLookupOfThePorts) {
  DataHarness h;
  auto r = h.api.Handle(Get("/internal/v1/stocks/GME"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ((*DecodeStockBody(r.body))->min_borrow_rate, Dec("0.05"));
  r = h.api.Handle(Get("/internal/v1/stocks/NOPE"));
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(*DecodeStockBody(r.body)) << "an absent row is an answer, not an error";
  EXPECT_EQ((*DecodeBrokerBody(h.api.Handle(Get("/internal/v1/brokers/big_fund_007")).body))
                ->transaction_amount,
            Dec("40.00"));
  EXPECT_EQ((*DecodeVolatilityBody(h.api.Handle(Get("/internal/v1/volatility/GME")).body))
                ->event_risk_factor,
            6);
  EXPECT_EQ((*DecodeApiKeyBody(h.api.Handle(Get("/internal/v1/api-keys/abcdef")).body))->client_id,
            "big_fund_007");
  EXPECT_EQ(DecodeRateBody(h.api.Handle(Get("/internal/v1/lender-rates/GME")).body), Dec("0.15"));
  EXPECT_EQ(DecodeVixBody(h.api.Handle(Get("/internal/v1/market/vix")).body), Dec("22.4"));
  EXPECT_EQ(DecodeEventRiskBody(h.api.Handle(Get("/internal/v1/event-risks/GME")).body), 6);
  EXPECT_EQ(h.api.Handle(Get("/internal/v1/ping")).status, 200);

  ApiRequest page = Get("/internal/v1/stocks");
  page.query = {{"status", "HARD"}, {"limit", "1"}, {"offset", "1"}};
  r = h.api.Handle(page);
  ASSERT_EQ(r.status, 200) << r.body;
  auto rows = DecodeStockListBody(r.body);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].ticker, "GME");
  page.query = {{"status", "hard"}, {"limit", "1"}, {"offset", "0"}};
  EXPECT_EQ(h.api.Handle(page).status, 400);
}

TEST(DataApi, DecodesPercentEncodedSegments) {
  DataHarness h;
  h.store.Put(Stock{"BRK.B", BorrowStatus::kEasy, Dec("0.003"), "SL-BRKB"});
  auto r = h.api.Handle(Get("/internal/v1/stocks/" + PercentEncode("BRK.B")));
  ASSERT_TRUE(*DecodeStockBody(r.body));
  EXPECT_EQ(h.api.Handle(Get("/internal/v1/stocks/%zz")).status, 404);
}

TEST(DataApi, RefusesCallsWithoutTheTokenAndOtherMethods) {
  DataHarness h;
  auto r = h.api.Handle(Get("/internal/v1/stocks/GME", /*with_token=*/false));
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("UNAUTHORIZED"), std::string::npos);
  EXPECT_EQ(h.store.Calls(), 0);
  ApiRequest post = Get("/internal/v1/stocks/GME");
  post.method = "POST";
  EXPECT_EQ(h.api.Handle(post).status, 405);
}

TEST(DataApi, ReportsOutagesAs503WithTheirMessage) {
  DataHarness h;
  h.store.FailNext(1, "GetStock");
  auto r = h.api.Handle(Get("/internal/v1/stocks/GME"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(DecodeErrorBody(r.status, r.body).message, "injected failure in GetStock");
  h.store.SetDown(true);
  EXPECT_EQ(h.api.Handle(Get("/internal/v1/ping")).status, 503);
  r = h.api.Handle(Get("/internal/v1/lender-rates/AMC"));  // the lender has no rate for AMC
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(DecodeErrorBody(r.status, r.body).code, ErrorCode::kServiceUnavailable);
}

// Records are serialized as "id" lines by the test's own codec.
struct AuditHarness {
  std::vector<std::vector<AuditRecord>> batches;
  std::optional<Error> fail;
  AuditApi api{[](std::string_view line) -> Result<AuditRecord> {
                 if (line.starts_with("bad"))
                   return Fail(ErrorCode::kCalculationError, "malformed");
                 AuditRecord r;
                 r.calculation_id = std::string(line);
                 return r;
               },
               [this](const std::vector<AuditRecord>& batch) -> Result<void> {
                 if (fail) return std::unexpected(*fail);
                 batches.push_back(batch);
                 return {};
               },
               kToken};

  static ApiRequest Post(std::string body) {
    ApiRequest r = Get(std::string(kAuditBatchPath));
    r.method = "POST";
    r.body = std::move(body);
    return r;
  }
};

TEST(AuditApi, StoresABatchAndCountsItOnlyAfterTheStoreAccepted) {
  AuditHarness h;
  auto r = h.api.Handle(AuditHarness::Post("id-1\nid-2\n\nid-3"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("accepted":3)"), std::string::npos) << r.body;
  ASSERT_EQ(h.batches.size(), 1u);
  EXPECT_EQ(h.batches[0][2].calculation_id, "id-3");
}

TEST(AuditApi, RefusesMalformedLinesTerminallyAndOutagesTransiently) {
  AuditHarness h;
  auto r = h.api.Handle(AuditHarness::Post("id-1\nbad line\n"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("line 2"), std::string::npos) << r.body;
  EXPECT_TRUE(h.batches.empty()) << "nothing of a refused batch is stored";

  h.fail = Error{ErrorCode::kServiceUnavailable, "postgres: connection refused", ""};
  EXPECT_EQ(h.api.Handle(AuditHarness::Post("id-1\n")).status, 503);
  h.fail = Error{ErrorCode::kCalculationError, "postgres: something odd", ""};
  EXPECT_EQ(h.api.Handle(AuditHarness::Post("id-1\n")).status, 503) << "only a refusal is terminal";
  h.fail = Error{ErrorCode::kInvalidParameter, "not a uuid", ""};
  EXPECT_EQ(h.api.Handle(AuditHarness::Post("id-1\n")).status, 400);
}

TEST(AuditApi, RefusesCallsWithoutTheToken) {
  AuditHarness h;
  ApiRequest r = AuditHarness::Post("id-1\n");
  r.headers.clear();
  EXPECT_EQ(h.api.Handle(r).status, 401);
  EXPECT_TRUE(h.batches.empty());
  r = AuditHarness::Post("id-1\n");
  r.method = "GET";
  EXPECT_EQ(h.api.Handle(r).status, 405);
}

}  // namespace
}  // namespace pricing::engine
