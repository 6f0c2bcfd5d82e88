// PostgreSQL adapters against a real PostgreSQL 15: migrations, seed, the
// reference store, the audit log, the pool and an outage.
#include "adapters/pg_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "adapters/memory_store.h"
#include "adapters/sql_migrations.h"
#include "engine/time_text.h"
#include "services.h"
#include "test_util.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;
using testing_support::D;
using testing_support::SampleAuditRecord;
using testing_support::SampleData;
using testing_support::Services;
using testing_support::TestUuid;

// audit_log.created_at in UTC to the microsecond, as the engine's own
// RFC 3339 text without the zone.
const std::string kCreatedAtText =
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')";

std::unique_ptr<PgPool> MakePool(const std::string& url, int max_size = 4) {
  PgPoolOptions options;
  options.conninfo = url;
  options.max_size = max_size;
  auto pool = PgPool::Create(options);
  if (!pool) {
    ADD_FAILURE() << pool.error().message;
    return nullptr;
  }
  return std::move(*pool);
}

// A fresh database with the schema applied, and a pool on it.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = Services::Get().CreateDatabase();
    pool_ = MakePool(url_);
    ASSERT_NE(pool_, nullptr);
    auto applied = RunMigrations(*pool_);
    ASSERT_TRUE(applied.has_value()) << applied.error().message;
  }

  // Runs `sql` (a test's own query) and returns the first column of each row.
  std::vector<std::string> Column(const std::string& sql, const PgParams& params = {}) {
    std::vector<std::string> out;
    auto conn = pool_->Acquire();
    EXPECT_TRUE(conn.has_value()) << conn.error().message;
    if (!conn) return out;
    auto r = conn->Exec(sql, params);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    if (!r) return out;
    for (int i = 0; i < r->rows(); ++i) out.emplace_back(r->Get(i, 0));
    return out;
  }

  std::string url_;
  std::unique_ptr<PgPool> pool_;
};

// Migrations -------------------------------------------------------------------

TEST(PgMigrations, ApplyOnceThenNothing) {
  auto pool = MakePool(Services::Get().CreateDatabase());
  ASSERT_NE(pool, nullptr);
  auto embedded = EmbeddedMigrations();
  ASSERT_TRUE(embedded.has_value());
  ASSERT_FALSE(embedded->empty());

  auto first = RunMigrations(*pool);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(*first, static_cast<int>(embedded->size()));
  auto second = RunMigrations(*pool);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(*second, 0);

  auto conn = pool->Acquire();
  ASSERT_TRUE(conn.has_value());
  auto rows = conn->Exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version");
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  ASSERT_EQ(rows->rows(), static_cast<int>(embedded->size()));
  for (int i = 0; i < rows->rows(); ++i) {
    EXPECT_EQ(rows->Get(i, 0), std::to_string((*embedded)[i].version));
    EXPECT_EQ(rows->Get(i, 1), (*embedded)[i].name);
    EXPECT_EQ(rows->Get(i, 2), (*embedded)[i].checksum);
  }
  auto tables = conn->Exec(
      "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND "
      "table_name IN ('stocks', 'brokers', 'volatility', 'api_keys', 'audit_log')");
  ASSERT_TRUE(tables.has_value());
  EXPECT_EQ(tables->Get(0, 0), "5");
  auto index =
      conn->Exec("SELECT count(*) FROM pg_indexes WHERE indexname = 'audit_log_created_at_idx'");
  ASSERT_TRUE(index.has_value());
  EXPECT_EQ(index->Get(0, 0), "1");
}

TEST(PgMigrations, ConcurrentRunnersApplyEachMigrationOnce) {
  const std::string url = Services::Get().CreateDatabase();
  auto embedded = EmbeddedMigrations();
  ASSERT_TRUE(embedded.has_value());
  // Two "engines", each with its own pool, start at the same moment.
  constexpr int kRunners = 2;
  std::vector<std::unique_ptr<PgPool>> pools;
  for (int i = 0; i < kRunners; ++i) pools.push_back(MakePool(url));
  std::atomic<int> ready{0};
  std::vector<Result<int>> results(kRunners, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kRunners) std::this_thread::yield();
      results[i] = RunMigrations(*pools[i]);
    });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value()) << r.error().message;
    total += *r;
  }
  EXPECT_EQ(total, static_cast<int>(embedded->size()));
  auto again = RunMigrations(*pools[0]);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, 0);
}

TEST_F(PgTest, MigrationsRefuseAnEditedAppliedMigration) {
  ASSERT_EQ(Column("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1 "
                   "RETURNING version"),
            std::vector<std::string>{"1"});
  auto r = RunMigrations(*pool_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kCalculationError);
  EXPECT_NE(r.error().message.find("0001_init.sql"), std::string::npos) << r.error().message;
}

TEST_F(PgTest, MigrationsRefuseAnUnknownNewerVersion) {
  Column(
      "INSERT INTO schema_migrations (version, name, checksum) "
      "VALUES (9999, '9999_x.sql', 'x')");
  auto r = RunMigrations(*pool_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kCalculationError);
}

// Seed ---------------------------------------------------------------------------

TEST_F(PgTest, SeedIsIdempotentAndUpdatesValues) {
  const ReferenceData data = SampleData();
  auto first = SeedReferenceData(*pool_, data);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->stocks, 5);
  EXPECT_EQ(first->brokers, 2);
  EXPECT_EQ(first->volatility, 3);
  EXPECT_EQ(first->api_keys, 2);

  auto second = SeedReferenceData(*pool_, data);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->stocks, 0);
  EXPECT_EQ(second->brokers, 0);
  EXPECT_EQ(second->volatility, 0);
  EXPECT_EQ(second->api_keys, 0);
  EXPECT_EQ(Column("SELECT count(*) FROM stocks"), std::vector<std::string>{"5"});

  ReferenceData changed = data;
  changed.stocks[0].min_borrow_rate = D("0.07");
  changed.stocks[0].borrow_status = BorrowStatus::kMedium;
  changed.brokers[1].day_count = 365;
  changed.volatility[0].event_risk_factor = std::nullopt;
  changed.api_keys[0].rate_limit_per_minute = 1200;
  auto third = SeedReferenceData(*pool_, changed);
  ASSERT_TRUE(third.has_value()) << third.error().message;
  EXPECT_EQ(third->stocks, 1);
  EXPECT_EQ(third->brokers, 1);
  EXPECT_EQ(third->volatility, 1);
  EXPECT_EQ(third->api_keys, 1);

  PgReferenceStore store(*pool_);
  auto gme = store.GetStock("GME");
  ASSERT_TRUE(gme.has_value() && gme->has_value());
  EXPECT_EQ((*gme)->min_borrow_rate, D("0.07"));
  EXPECT_EQ((*gme)->borrow_status, BorrowStatus::kMedium);
  auto broker = store.GetBroker("quant_desk_42");
  ASSERT_TRUE(broker.has_value() && broker->has_value());
  EXPECT_EQ((*broker)->day_count, 365);
  auto vol = store.GetVolatility("GME");
  ASSERT_TRUE(vol.has_value() && vol->has_value());
  EXPECT_EQ((*vol)->event_risk_factor, std::nullopt);
  EXPECT_EQ((*vol)->vol_index, D("32.5"));
  auto key = store.GetApiKeyByHash(Sha256Hex("demo-key-123"));
  ASSERT_TRUE(key.has_value() && key->has_value());
  EXPECT_EQ((*key)->rate_limit_per_minute, 1200);
}

TEST_F(PgTest, SeedStoresOnlyKeyHashes) {
  ASSERT_TRUE(SeedReferenceData(*pool_, SampleData()).has_value());
  // No column of any api_keys row contains the plain key.
  const auto rows = Column("SELECT t::text FROM api_keys t");
  ASSERT_EQ(rows.size(), 2u);
  for (const std::string& row : rows) {
    EXPECT_EQ(row.find("demo-key-123"), std::string::npos) << row;
    EXPECT_EQ(row.find("internal-ops-key-456"), std::string::npos) << row;
  }
  const std::string hash = Sha256Hex("demo-key-123");
  EXPECT_EQ(Column("SELECT key_hash FROM api_keys WHERE client_id = 'big_fund_007'"),
            std::vector<std::string>{hash});

  PgReferenceStore store(*pool_);
  auto key = store.GetApiKeyByHash(hash);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  ASSERT_TRUE(key->has_value());
  EXPECT_EQ((*key)->client_id, "big_fund_007");
  EXPECT_EQ((*key)->scope, KeyScope::kClient);
  EXPECT_EQ((*key)->rate_limit_per_minute, 600);
  auto internal = store.GetApiKeyByHash(Sha256Hex("internal-ops-key-456"));
  ASSERT_TRUE(internal.has_value() && internal->has_value());
  EXPECT_EQ((*internal)->scope, KeyScope::kInternal);
  EXPECT_EQ((*internal)->client_id, "");

  auto plain = store.GetApiKeyByHash("demo-key-123");
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->has_value());

  // A disabled key is not found, and a re-seed does not enable it again.
  Column("UPDATE api_keys SET disabled_at = now() WHERE key_hash = $1 RETURNING 1", {hash});
  ASSERT_TRUE(SeedReferenceData(*pool_, SampleData()).has_value());
  auto disabled = store.GetApiKeyByHash(hash);
  ASSERT_TRUE(disabled.has_value());
  EXPECT_FALSE(disabled->has_value());
}

TEST_F(PgTest, SeedIsAllOrNothing) {
  ReferenceData data = SampleData();
  data.volatility.push_back({"NOPE", D("10"), 1});  // no such stock: foreign key violation
  auto r = SeedReferenceData(*pool_, data);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParameter);
  EXPECT_NE(r.error().message.find("volatility[3] (NOPE)"), std::string::npos) << r.error().message;
  EXPECT_EQ(Column("SELECT count(*) FROM stocks"), std::vector<std::string>{"0"});
  EXPECT_EQ(Column("SELECT count(*) FROM api_keys"), std::vector<std::string>{"0"});
  // The pool's connection is usable afterwards.
  EXPECT_TRUE(SeedReferenceData(*pool_, SampleData()).has_value());
}

TEST_F(PgTest, SeedRefusesRatesItCannotStoreExactly) {
  ReferenceData data = SampleData();
  data.stocks[1].min_borrow_rate = D("0.1234567890123");  // 13 places; the column keeps 12
  auto r = SeedReferenceData(*pool_, data);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParameter);
  EXPECT_EQ(r.error().field, "stocks[1].min_borrow_rate");
  EXPECT_EQ(Column("SELECT count(*) FROM stocks"), std::vector<std::string>{"0"});
}

// Reference store ---------------------------------------------------------------

TEST_F(PgTest, StoreLooksUpEveryKindOfRow) {
  ASSERT_TRUE(SeedReferenceData(*pool_, SampleData()).has_value());
  PgReferenceStore store(*pool_);

  auto gme = store.GetStock("GME");
  ASSERT_TRUE(gme.has_value()) << gme.error().message;
  ASSERT_TRUE(gme->has_value());
  EXPECT_EQ((*gme)->ticker, "GME");
  EXPECT_EQ((*gme)->borrow_status, BorrowStatus::kHard);
  EXPECT_EQ((*gme)->min_borrow_rate, D("0.05"));
  EXPECT_EQ((*gme)->lender_api_id, "SL-GME");
  auto amc = store.GetStock("AMC");
  ASSERT_TRUE(amc.has_value() && amc->has_value());
  EXPECT_EQ((*amc)->lender_api_id, "");
  auto missing = store.GetStock("ZZZZ");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());

  auto broker = store.GetBroker("quant_desk_42");
  ASSERT_TRUE(broker.has_value() && broker->has_value());
  EXPECT_EQ((*broker)->markup_percentage, D("3.25"));
  EXPECT_EQ((*broker)->transaction_fee_type, FeeType::kPercentage);
  EXPECT_EQ((*broker)->transaction_amount, D("0.1"));
  EXPECT_EQ((*broker)->day_count, 360);
  auto no_broker = store.GetBroker("nobody");
  ASSERT_TRUE(no_broker.has_value());
  EXPECT_FALSE(no_broker->has_value());

  auto aapl = store.GetVolatility("AAPL");
  ASSERT_TRUE(aapl.has_value() && aapl->has_value());
  EXPECT_EQ((*aapl)->vol_index, std::nullopt);
  EXPECT_EQ((*aapl)->event_risk_factor, 1);
  auto tsla = store.GetVolatility("TSLA");
  ASSERT_TRUE(tsla.has_value() && tsla->has_value());
  EXPECT_EQ((*tsla)->vol_index, D("41.25"));
  EXPECT_EQ((*tsla)->event_risk_factor, std::nullopt);
  auto no_vol = store.GetVolatility("MSFT");
  ASSERT_TRUE(no_vol.has_value());
  EXPECT_FALSE(no_vol->has_value());

  auto hard = store.ListStocks(BorrowStatus::kHard, 10, 0);
  ASSERT_TRUE(hard.has_value()) << hard.error().message;
  ASSERT_EQ(hard->size(), 2u);
  EXPECT_EQ((*hard)[0].ticker, "AMC");
  EXPECT_EQ((*hard)[1].ticker, "GME");
  auto easy_page = store.ListStocks(BorrowStatus::kEasy, 1, 1);
  ASSERT_TRUE(easy_page.has_value());
  ASSERT_EQ(easy_page->size(), 1u);
  EXPECT_EQ((*easy_page)[0].ticker, "MSFT");
  auto past_end = store.ListStocks(BorrowStatus::kMedium, 10, 5);
  ASSERT_TRUE(past_end.has_value());
  EXPECT_TRUE(past_end->empty());

  EXPECT_TRUE(store.Ping().has_value());
}

TEST_F(PgTest, DecimalsRoundTripExactlyThroughNumeric) {
  ReferenceData data;
  data.stocks = {{"PREC", BorrowStatus::kEasy, D("0.123456789012"), ""},
                 {"BIG", BorrowStatus::kEasy, D("12345678.000000000001"), ""}};
  data.brokers = {
      {"precise_fund", D("5.123456789012345678"), FeeType::kFlat, D("99999999999.99"), 365}};
  data.volatility = {{"PREC", D("0.000000000000000001"), 0}};
  ASSERT_TRUE(SeedReferenceData(*pool_, data).has_value());
  PgReferenceStore store(*pool_);

  auto prec = store.GetStock("PREC");
  ASSERT_TRUE(prec.has_value() && prec->has_value());
  EXPECT_EQ((*prec)->min_borrow_rate, D("0.123456789012"));
  EXPECT_EQ((*prec)->min_borrow_rate.ToString(), "0.123456789012");
  auto big = store.GetStock("BIG");
  ASSERT_TRUE(big.has_value() && big->has_value());
  EXPECT_EQ((*big)->min_borrow_rate, D("12345678.000000000001"));
  auto broker = store.GetBroker("precise_fund");
  ASSERT_TRUE(broker.has_value() && broker->has_value());
  EXPECT_EQ((*broker)->markup_percentage, D("5.123456789012345678"));
  EXPECT_EQ((*broker)->transaction_amount, D("99999999999.99"));
  auto vol = store.GetVolatility("PREC");
  ASSERT_TRUE(vol.has_value() && vol->has_value());
  EXPECT_EQ((*vol)->vol_index, D("0.000000000000000001"));
  // The server holds the exact decimal, not a binary approximation.
  EXPECT_EQ(Column("SELECT min_borrow_rate::text FROM stocks WHERE ticker = 'PREC'"),
            std::vector<std::string>{"0.123456789012"});
}

TEST_F(PgTest, HostileInputIsOnlyData) {
  ASSERT_TRUE(SeedReferenceData(*pool_, SampleData()).has_value());
  PgReferenceStore store(*pool_);
  const std::string hostile = "X'; DROP TABLE stocks;--";
  auto lookup = store.GetStock(hostile);
  ASSERT_TRUE(lookup.has_value()) << lookup.error().message;
  EXPECT_FALSE(lookup->has_value());
  auto broker = store.GetBroker("' OR '1'='1");
  ASSERT_TRUE(broker.has_value());
  EXPECT_FALSE(broker->has_value());
  auto key = store.GetApiKeyByHash("' OR 1=1; --");
  ASSERT_TRUE(key.has_value());
  EXPECT_FALSE(key->has_value());

  // Stored as data it would break the ticker rule, so the database refuses it.
  ReferenceData bad;
  bad.stocks = {{hostile, BorrowStatus::kEasy, D("0.01"), "'); DELETE FROM stocks; --"}};
  auto seeded = SeedReferenceData(*pool_, bad);
  ASSERT_FALSE(seeded.has_value());
  EXPECT_EQ(seeded.error().code, ErrorCode::kInvalidParameter);

  // A lender id is free text: stored verbatim, executed never.
  ReferenceData odd;
  odd.stocks = {{"ODD", BorrowStatus::kEasy, D("0.01"), "'); DELETE FROM stocks; --"}};
  ASSERT_TRUE(SeedReferenceData(*pool_, odd).has_value());
  auto stored = store.GetStock("ODD");
  ASSERT_TRUE(stored.has_value() && stored->has_value());
  EXPECT_EQ((*stored)->lender_api_id, "'); DELETE FROM stocks; --");

  EXPECT_EQ(Column("SELECT count(*) FROM stocks"), std::vector<std::string>{"6"});
}

// Audit log ------------------------------------------------------------------------

TEST_F(PgTest, AuditBatchIsIdempotentOnCalculationId) {
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(SampleAuditRecord(TestUuid()));
  batch[1].api_key_client = "";  // an internal key with no client
  ASSERT_TRUE(InsertAuditBatch(*pool_, batch).has_value());
  EXPECT_EQ(Column("SELECT count(*) FROM audit_log"), std::vector<std::string>{"3"});

  // Re-sent with one new record: only the new one is added.
  AuditRecord changed = batch[0];
  changed.quote.total_fee = D("1.00");
  std::vector<AuditRecord> resend = {changed, batch[1], batch[2], SampleAuditRecord(TestUuid())};
  ASSERT_TRUE(InsertAuditBatch(*pool_, resend).has_value());
  EXPECT_EQ(Column("SELECT count(*) FROM audit_log"), std::vector<std::string>{"4"});
  EXPECT_EQ(Column("SELECT total_fee::text FROM audit_log WHERE calculation_id = $1",
                   {batch[0].calculation_id}),
            std::vector<std::string>{"1535.17"});

  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.has_value());
  auto r = conn->Exec(
      "SELECT request_id, client_id, key_client_id, ticker, position_value::text, loan_days, "
      "borrow_rate::text, borrow_rate_used::text, base_rate::text, base_rate_source, "
      "volatility::text, volatility_source, event_risk, event_risk_source, borrow_cost::text, "
      "markup::text, transaction_fees::text, total_fee::text, day_count, " +
          kCreatedAtText +
          ", recorded_at IS NOT NULL "
          "FROM audit_log WHERE calculation_id = $1",
      {batch[0].calculation_id});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->rows(), 1);
  const std::vector<std::string> expected = {batch[0].request_id,
                                             "big_fund_007",
                                             "big_fund_007",
                                             "GME",
                                             "50000",
                                             "60",
                                             "0.17325",
                                             "0.17325",
                                             "0.15",
                                             "lender_api",
                                             "32.5",
                                             "db",
                                             "6",
                                             "db",
                                             "1423.97",
                                             "71.20",
                                             "40.00",
                                             "1535.17",
                                             "365",
                                             "2026-11-27T14:30:00.123456",
                                             "t"};
  for (int col = 0; col < static_cast<int>(expected.size()); ++col) {
    EXPECT_EQ(r->Get(0, col), expected[col]) << "column " << col;
  }
  auto internal =
      conn->Exec("SELECT key_client_id IS NULL FROM audit_log WHERE calculation_id = $1",
                 {batch[1].calculation_id});
  ASSERT_TRUE(internal.has_value());
  EXPECT_EQ(internal->Get(0, 0), "t");
}

TEST_F(PgTest, AuditBatchLargerThanOneStatement) {
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 1234; ++i) batch.push_back(SampleAuditRecord(TestUuid()));
  ASSERT_TRUE(InsertAuditBatch(*pool_, batch).has_value());
  EXPECT_EQ(Column("SELECT count(*) FROM audit_log"), std::vector<std::string>{"1234"});
  EXPECT_TRUE(InsertAuditBatch(*pool_, {}).has_value());
}

TEST_F(PgTest, AuditBatchKeepsControlCharactersAndBackslashesVerbatim) {
  // Request ids come from the client's X-Request-Id header: any byte that
  // could end a COPY field or row early must arrive as itself.
  AuditRecord r = SampleAuditRecord(TestUuid());
  r.request_id = "a\tb\nc\rd\\e\\N";
  ASSERT_TRUE(InsertAuditBatch(*pool_, {r}).has_value());
  EXPECT_EQ(
      Column("SELECT request_id FROM audit_log WHERE calculation_id = $1", {r.calculation_id}),
      std::vector<std::string>{r.request_id});
}

TEST_F(PgTest, AuditBatchMixingStoredAndNewRecordsAddsOnlyTheNew) {
  std::vector<AuditRecord> first;
  for (int i = 0; i < 700; ++i) first.push_back(SampleAuditRecord(TestUuid()));
  ASSERT_TRUE(InsertAuditBatch(*pool_, first).has_value());
  // A re-send after a crash: the tail of the delivered batch, then new ones,
  // twice over (the staging path is taken on a reused session too).
  for (int round = 0; round < 2; ++round) {
    std::vector<AuditRecord> resend(first.end() - 100, first.end());
    for (int i = 0; i < 50; ++i) resend.push_back(SampleAuditRecord(TestUuid()));
    ASSERT_TRUE(InsertAuditBatch(*pool_, resend).has_value());
  }
  EXPECT_EQ(Column("SELECT count(*) FROM audit_log"), std::vector<std::string>{"800"});
}

// A random decimal with up to `whole_digits` digits before the point and
// up to `max_places` after it, of either sign.
Decimal RandomDecimal(std::mt19937_64& rng, int whole_digits, int max_places, bool negative_too) {
  const int places = static_cast<int>(rng() % (max_places + 1));
  const int digits = static_cast<int>(rng() % (whole_digits + 1)) + places;
  __int128 v = 0;
  for (int i = 0; i < digits; ++i) v = v * 10 + static_cast<int>(rng() % 10);
  for (int i = places; i < Decimal::kScale; ++i) v *= 10;
  if (negative_too && rng() % 2 == 0) v = -v;
  return Decimal::FromRaw(v);
}

TEST_F(PgTest, AuditBatchStoresEveryNumberAndTimeExactly) {
  // Rows go to PostgreSQL in its binary COPY format: every numeric and
  // timestamp column must read back as the text the engine writes for it.
  std::mt19937_64 rng(20261206);
  const std::vector<Decimal> edges = {
      D("0"), D("0.000000000000000001"), D("-0.000000000000000001"), D("0.0001"), D("1"),
      D("10000"), D("9999.9999"), D("-12345678.9"), D("1000000000000"),
      D("99999999999999999999.999999999999999999"), D("-99999999999999999999.999999999999999999")};
  const std::vector<int64_t> edge_times_ns = {0, -1, -999, 946'684'800'000'000'000,
                                              946'684'799'999'999'999, 1'795'789'800'123'456'789};
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 3000; ++i) {
    AuditRecord r = SampleAuditRecord(TestUuid());
    const bool edge = i < static_cast<int>(edges.size());
    r.request.position_value = edge ? edges[i] : RandomDecimal(rng, 15, 18, true);
    r.quote.rate = RandomDecimal(rng, 3, 18, false);
    r.quote.borrow_rate_used = edge ? edges[edges.size() - 1 - i] : RandomDecimal(rng, 2, 6, false);
    r.inputs.base_rate.value = RandomDecimal(rng, 1, 18, true);
    r.inputs.volatility.value = RandomDecimal(rng, 4, 4, false);
    r.quote.borrow_cost = RandomDecimal(rng, 17, 2, true);
    r.quote.markup = RandomDecimal(rng, 12, 2, false);
    r.quote.transaction_fees = RandomDecimal(rng, 4, 1, false);
    r.quote.total_fee = RandomDecimal(rng, 17, 2, true);
    r.request.loan_days = static_cast<int32_t>(static_cast<uint32_t>(rng()));  // any int4
    r.inputs.event_risk.value = static_cast<int>(rng() % 11);
    const int64_t ns = i < static_cast<int>(edge_times_ns.size())
                           ? edge_times_ns[i]
                           : static_cast<int64_t>(rng() % 5'000'000'000'000'000'000ull) -
                                 1'000'000'000'000'000'000;  // 1938 to 2096
    r.at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(ns)));
    batch.push_back(std::move(r));
  }
  ASSERT_TRUE(InsertAuditBatch(*pool_, batch).has_value());
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.has_value());
  auto rows = conn->Exec(
      "SELECT calculation_id::text, position_value::text, borrow_rate::text, "
      "borrow_rate_used::text, base_rate::text, volatility::text, borrow_cost::text, "
      "markup::text, transaction_fees::text, total_fee::text, loan_days::text, "
      "event_risk::text, " +
      kCreatedAtText + " FROM audit_log");
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  ASSERT_EQ(rows->rows(), static_cast<int>(batch.size()));
  std::map<std::string, const AuditRecord*> by_id;
  for (const AuditRecord& r : batch) by_id[r.calculation_id] = &r;
  int compared = 0;
  for (int i = 0; i < rows->rows(); ++i) {
    const AuditRecord& r = *by_id.at(std::string(rows->Get(i, 0)));
    std::string at = Rfc3339Utc(r.at, 6);
    at.pop_back();  // the Z
    const std::vector<std::string> expected = {
        r.calculation_id,
        r.request.position_value.ToString(),
        r.quote.rate.ToString(),
        r.quote.borrow_rate_used.ToString(),
        r.inputs.base_rate.value.ToString(),
        r.inputs.volatility.value.ToString(),
        r.quote.borrow_cost.ToString(2),
        r.quote.markup.ToString(2),
        r.quote.transaction_fees.ToString(2),
        r.quote.total_fee.ToString(2),
        std::to_string(r.request.loan_days),
        std::to_string(r.inputs.event_risk.value),
        at};
    for (int col = 0; col < static_cast<int>(expected.size()); ++col) {
      ASSERT_EQ(rows->Get(i, col), expected[col]) << "row " << r.calculation_id << " column " << col;
    }
    ++compared;
  }
  EXPECT_EQ(compared, 3000);
}

TEST_F(PgTest, AuditBatchWithAnotherSpellingOfAUuidIsStoredAsTheServerReadsIt) {
  // Ids are canonical UUIDs when the engine makes them; a record from
  // elsewhere may spell one as PostgreSQL also accepts (the batch then goes
  // in the text format, for the server to read).
  std::vector<AuditRecord> batch = {SampleAuditRecord(TestUuid()),
                                    SampleAuditRecord("A0EEBC999C0B4EF8BB6D6BB9BD380A11")};
  ASSERT_TRUE(InsertAuditBatch(*pool_, batch).has_value());
  EXPECT_EQ(Column("SELECT calculation_id::text FROM audit_log WHERE calculation_id = $1",
                   {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}),
            std::vector<std::string>{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"});
  EXPECT_EQ(Column("SELECT total_fee::text FROM audit_log"),
            (std::vector<std::string>{"1535.17", "1535.17"}));
}

TEST_F(PgTest, AuditBatchWithRefusedValuesIsTerminalAndAtomic) {
  std::vector<AuditRecord> batch = {SampleAuditRecord(TestUuid()), SampleAuditRecord("not-a-uuid")};
  auto r = InsertAuditBatch(*pool_, batch);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParameter) << r.error().message;
  EXPECT_EQ(Column("SELECT count(*) FROM audit_log"), std::vector<std::string>{"0"});
}

// Pool ---------------------------------------------------------------------------------

TEST(PgPool, CreateRejectsMalformedConnectionStrings) {
  for (const char* bad :
       {"", "postgresql://h/db?bogus_parameter=1", "host=x bogus_keyword=1", "host=x port"}) {
    auto pool = PgPool::Create(PgPoolOptions{bad});
    ASSERT_FALSE(pool.has_value()) << bad;
    EXPECT_EQ(pool.error().code, ErrorCode::kInvalidParameter) << bad;
  }
}

TEST(PgPool, AcquireTimesOutWhenExhausted) {
  PgPoolOptions options;
  options.conninfo = Services::Get().database_url();
  options.max_size = 2;
  options.acquire_timeout = 300ms;
  auto pool = PgPool::Create(options);
  ASSERT_TRUE(pool.has_value());
  PgPool& p = **pool;
  EXPECT_EQ(p.MaxSize(), 2);
  {
    auto a = p.Acquire();
    auto b = p.Acquire();
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_EQ(p.InUse(), 2);
    const auto start = std::chrono::steady_clock::now();
    auto c = p.Acquire();
    const auto waited = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code, ErrorCode::kServiceUnavailable);
    EXPECT_GE(waited, 250ms);
    EXPECT_LT(waited, 2s);
    EXPECT_EQ(p.AcquireTimeouts(), 1);

    // A connection returned while someone waits is handed over.
    std::thread releaser([&] {
      std::this_thread::sleep_for(50ms);
      PgConnection released = std::move(*a);
    });
    auto d = p.Acquire();
    releaser.join();
    ASSERT_TRUE(d.has_value()) << d.error().message;
    EXPECT_TRUE(d->reused());
  }
  EXPECT_EQ(p.InUse(), 0);
  EXPECT_EQ(p.Open(), 2);
}

TEST(PgPool, StatementTimeoutCancelsLongQueries) {
  PgPoolOptions options;
  options.conninfo = Services::Get().database_url();
  options.statement_timeout = 200ms;
  auto pool = PgPool::Create(options);
  ASSERT_TRUE(pool.has_value());
  auto conn = (*pool)->Acquire();
  ASSERT_TRUE(conn.has_value());
  auto r = conn->Exec("SELECT pg_sleep(5)");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(r.error().message.find("statement timeout"), std::string::npos) << r.error().message;
  EXPECT_FALSE(conn->broken());
}

// Outage (keep last: it restarts the shared PostgreSQL) --------------------------------

TEST_F(PgTest, OutageFailsFastAndThePoolRecovers) {
  ASSERT_TRUE(SeedReferenceData(*pool_, SampleData()).has_value());
  PgReferenceStore store(*pool_);
  ASSERT_TRUE(store.GetStock("GME").has_value());  // a warm, pooled connection
  const auto connect_timeout = pool_->options().connect_timeout;

  ASSERT_TRUE(Services::Get().StopPostgres());
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = store.GetStock("GME");
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r.has_value()) << "attempt " << i;
    EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
    EXPECT_EQ(r.error().message.rfind("postgres: ", 0), 0u) << r.error().message;
    EXPECT_LT(took, connect_timeout) << "attempt " << i;
  }
  EXPECT_FALSE(store.Ping().has_value());
  EXPECT_EQ(pool_->InUse(), 0);

  ASSERT_TRUE(Services::Get().StartPostgres());
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  Result<std::optional<Stock>> r = Fail(ErrorCode::kServiceUnavailable, "not tried");
  while (std::chrono::steady_clock::now() < deadline) {
    r = store.GetStock("GME");
    if (r.has_value()) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(r.has_value()) << "no recovery: " << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->ticker, "GME");
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(store.GetBroker("big_fund_007").has_value());
  EXPECT_TRUE(InsertAuditBatch(*pool_, {SampleAuditRecord(TestUuid())}).has_value());
}

}  // namespace
}  // namespace pricing::engine
