// The ports over the internal HTTP API, end to end on 127.0.0.1: a local
// server runs the data role's DataApi and the audit role's AuditApi over
// fakes that fail on demand; RemoteReferenceStore, RemoteMarketData and
// RemoteAuditSink must give back exactly what the fakes hold.
#include "adapters/role_clients.h"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adapters/http_server.h"
#include "audit_test_util.h"
#include "engine/internal_api.h"
#include "fakes/fakes.h"
#include "test_http_server.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

constexpr char kToken[] = "a-shared-internal-token-0001";

Decimal D(const char* s) { return *Decimal::Parse(s); }

// The data and audit roles' APIs on one local server.
class RolesServer {
 public:
  RolesServer()
      : data_(&store, &market, kToken),
        audit_([](std::string_view line) { return ParseAuditRecord(line); },
               [this](const std::vector<AuditRecord>& batch) -> Result<void> {
                 std::lock_guard lock(mu_);
                 if (audit_error) return std::unexpected(*audit_error);
                 size_t bytes = 0;
                 for (const AuditRecord& r : batch) bytes += SerializeAuditRecord(r).size() + 1;
                 batch_bytes.push_back(bytes);
                 stored.insert(stored.end(), batch.begin(), batch.end());
                 return {};
               },
               kToken) {
    HttpServerOptions o = LocalServerOptions();
    o.body_limit = 16u << 20;
    server_ = std::make_unique<HttpServer>(
        o,
        [this](HttpRequest&& http, Responder respond) {
          ApiRequest req;
          req.method = std::move(http.method);
          req.path = std::move(http.path);
          req.query = std::move(http.query);
          req.headers = std::move(http.headers);
          req.body = std::move(http.body);
          ApiResponse r = req.path == kAuditBatchPath ? audit_.Handle(req) : data_.Handle(req);
          respond(HttpResponse{r.status, std::move(r.body), r.content_type, r.headers});
        },
        [](int, std::string_view code, std::string_view) { return std::string(code); });
    EXPECT_EQ(server_->Start(), "");
    HttpClientOptions c;
    c.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
    c.name = "data";
    client = std::move(*HttpClient::Create(c));
  }
  ~RolesServer() {
    client->Close();
    server_->Stop();
  }

  fakes::FakeReferenceStore store;
  fakes::FakeMarketData market;
  std::optional<Error> audit_error;  // guarded by mu_
  std::vector<AuditRecord> stored;   // guarded by mu_
  std::vector<size_t> batch_bytes;   // body bytes of each stored request; guarded by mu_
  std::unique_ptr<HttpClient> client;
  std::mutex mu_;

 private:
  DataApi data_;
  AuditApi audit_;
  std::unique_ptr<HttpServer> server_;
};

TEST(RemoteReferenceStore, ReturnsExactlyWhatTheDataRoleHolds) {
  RolesServer s;
  s.store.Put(Stock{"BRK.B", BorrowStatus::kEasy, D("0.000000000001"), "SL-BRKB"});
  s.store.Put(Stock{"GME", BorrowStatus::kHard, D("0.05"), "SL-GME"});
  s.store.Put(Broker{"big_fund_007", D("5.0"), FeeType::kFlat, D("40.00"), 365});
  s.store.Put(VolatilityRow{"GME", D("32.5"), 6});
  s.store.Put(ApiKey{std::string(64, 'f'), "big_fund_007", 600, KeyScope::kClient});
  RemoteReferenceStore store(*s.client, kToken);

  auto stock = store.GetStock("BRK.B");
  ASSERT_TRUE(stock && *stock) << (stock ? "absent" : stock.error().message);
  EXPECT_EQ((*stock)->min_borrow_rate, D("0.000000000001"));
  EXPECT_EQ((*stock)->lender_api_id, "SL-BRKB");
  auto none = store.GetStock("NOPE");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto broker = store.GetBroker("big_fund_007");
  ASSERT_TRUE(broker && *broker);
  EXPECT_EQ((*broker)->transaction_amount, D("40"));
  auto vol = store.GetVolatility("GME");
  ASSERT_TRUE(vol && *vol);
  EXPECT_EQ((*vol)->vol_index, D("32.5"));
  EXPECT_EQ((*vol)->event_risk_factor, 6);
  auto key = store.GetApiKeyByHash(std::string(64, 'f'));
  ASSERT_TRUE(key && *key);
  EXPECT_EQ((*key)->rate_limit_per_minute, 600);
  auto hard = store.ListStocks(BorrowStatus::kHard, 10, 0);
  ASSERT_TRUE(hard);
  ASSERT_EQ(hard->size(), 1u);
  EXPECT_EQ((*hard)[0].ticker, "GME");
  EXPECT_TRUE(store.Ping());
}

TEST(RemoteReferenceStore, ReportsEveryFailureAsUnavailable) {
  RolesServer s;
  RemoteReferenceStore store(*s.client, kToken);
  s.store.FailNext(1, "GetStock");
  auto r = store.GetStock("GME");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_EQ(r.error().message, "data role: injected failure in GetStock");
  s.store.SetDown(true);
  EXPECT_FALSE(store.Ping());

  s.store.SetDown(false);
  RemoteReferenceStore wrong(*s.client, "not-the-shared-token-at-all");
  auto refused = wrong.GetStock("GME");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kServiceUnavailable)
      << "a refusal of the token is an outage to callers, never a 401 of theirs";
}

TEST(RemoteMarketData, CarriesTheDataRolesAnswersAndOutages) {
  RolesServer s;
  s.market.SetLenderRate("GME", D("0.150000000000000001"));
  s.market.SetVix(D("22.4"));
  s.market.SetEventRisk("GME", 6);
  RemoteMarketData market(*s.client, kToken);
  EXPECT_EQ(market.LenderRate("GME"), D("0.150000000000000001"));
  EXPECT_EQ(market.MarketVix(), D("22.4"));
  EXPECT_EQ(market.EventRisk("GME"), 6);
  auto missing = market.LenderRate("AMC");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kServiceUnavailable);
}

TEST(RemoteAuditSink, DeliversRecordsExactlyAndMapsRefusals) {
  RolesServer s;
  AuditBatchSink sink = RemoteAuditSink(*s.client, kToken);
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 300; ++i) {
    batch.push_back(
        testing::MakeAuditRecord("00000000-0000-4000-8000-" + std::to_string(100000000000 + i), i));
  }
  ASSERT_TRUE(sink(batch));
  {
    std::lock_guard lock(s.mu_);
    ASSERT_EQ(s.stored.size(), batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      EXPECT_EQ(testing::DiffAuditRecords(s.stored[i], batch[i]), "") << i;
    }
    s.audit_error = Error{ErrorCode::kServiceUnavailable, "postgres: down", ""};
  }
  auto down = sink(batch);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kServiceUnavailable);
  {
    std::lock_guard lock(s.mu_);
    s.audit_error = Error{ErrorCode::kInvalidParameter, "invalid input syntax for type uuid", ""};
  }
  auto refused = sink(batch);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidParameter) << "terminal for the spool";
}

TEST(RemoteAuditSink, SplitsABatchIntoBodiesOfAtMostTheLimit) {
  RolesServer s;
  constexpr size_t kLimit = 4096;
  AuditBatchSink sink = RemoteAuditSink(*s.client, kToken, kLimit);
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 300; ++i) {
    batch.push_back(
        testing::MakeAuditRecord("00000000-0000-4000-8000-" + std::to_string(100000000000 + i), i));
  }
  // One record larger than the limit travels alone.
  batch[150].request_id = std::string(2 * kLimit, 'r');
  ASSERT_TRUE(sink(batch));
  std::lock_guard lock(s.mu_);
  ASSERT_EQ(s.stored.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(testing::DiffAuditRecords(s.stored[i], batch[i]), "") << i;
  }
  size_t total = 0;
  for (size_t bytes : s.batch_bytes) {
    total += bytes;
    if (bytes > kLimit) {
      EXPECT_EQ(bytes, SerializeAuditRecord(batch[150]).size() + 1) << "only the large record";
    }
  }
  EXPECT_GT(s.batch_bytes.size(), total / kLimit) << "the parts are not too small either";
  EXPECT_LT(s.batch_bytes.size(), 2 * (total / kLimit) + 3);
}

TEST(RemoteAuditSink, IsUnavailableWhileTheAuditRoleIsAway) {
  HttpClientOptions o;
  o.base_url = "http://127.0.0.1:1";
  o.name = "audit";
  auto client = std::move(*HttpClient::Create(o));
  auto r = RemoteAuditSink(*client, kToken)({testing::MakeAuditRecord("x")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_FALSE(ProbeRole(*client, "/health/live", kToken));
}

}  // namespace
}  // namespace pricing::engine
