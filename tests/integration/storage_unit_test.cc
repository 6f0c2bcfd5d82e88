// Unit tests of the storage adapters' service-free parts (key hashing, the
// in-memory store and limiter, URL and migration parsing, fast failure with no
// server) and of the fakes in tests/fakes/. No PostgreSQL or Redis needed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "adapters/memory_store.h"
#include "adapters/pg_store.h"
#include "adapters/redis_store.h"
#include "adapters/sql_migrations.h"
#include "fakes/fakes.h"
#include "test_util.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;
using testing_support::D;
using testing_support::SampleAuditRecord;
using testing_support::SampleData;

// Key hashing ------------------------------------------------------------------

TEST(Sha256Hex, MatchesKnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string_view("a\0b", 3)).size(), 64u);
  EXPECT_NE(Sha256Hex(std::string_view("a\0b", 3)), Sha256Hex("a"));
}

TEST(Sha256Hex, GivesTheSameDigestsFromManyThreadsAtOnce) {
  // Each thread reuses its own digest context; interleaved calls must not mix.
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const std::string empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (Sha256Hex((i + t) % 2 ? "abc" : "") != ((i + t) % 2 ? abc : empty)) ++wrong;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// MemoryReferenceStore ------------------------------------------------------------

TEST(MemoryReferenceStore, AnswersFromTheLoadedData) {
  MemoryReferenceStore store(SampleData());
  auto gme = store.GetStock("GME");
  ASSERT_TRUE(gme.has_value() && gme->has_value());
  EXPECT_EQ((*gme)->min_borrow_rate, D("0.05"));
  EXPECT_FALSE(store.GetStock("gme")->has_value());
  auto broker = store.GetBroker("quant_desk_42");
  ASSERT_TRUE(broker->has_value());
  EXPECT_EQ((*broker)->day_count, 360);
  EXPECT_FALSE(store.GetBroker("nobody")->has_value());
  auto vol = store.GetVolatility("TSLA");
  ASSERT_TRUE(vol->has_value());
  EXPECT_EQ((*vol)->event_risk_factor, std::nullopt);
  EXPECT_FALSE(store.GetVolatility("MSFT")->has_value());
  EXPECT_TRUE(store.Ping().has_value());
}

TEST(MemoryReferenceStore, KeepsOnlyKeyHashes) {
  MemoryReferenceStore store(SampleData());
  auto key = store.GetApiKeyByHash(Sha256Hex("demo-key-123"));
  ASSERT_TRUE(key->has_value());
  EXPECT_EQ((*key)->key_hash, Sha256Hex("demo-key-123"));
  EXPECT_EQ((*key)->client_id, "big_fund_007");
  EXPECT_EQ((*key)->rate_limit_per_minute, 600);
  EXPECT_FALSE(store.GetApiKeyByHash("demo-key-123")->has_value());
}

TEST(MemoryReferenceStore, ListsATierInTickerOrderByPage) {
  MemoryReferenceStore store(SampleData());
  auto hard = store.ListStocks(BorrowStatus::kHard, 10, 0);
  ASSERT_EQ(hard->size(), 2u);
  EXPECT_EQ((*hard)[0].ticker, "AMC");
  EXPECT_EQ((*hard)[1].ticker, "GME");
  auto second = store.ListStocks(BorrowStatus::kHard, 1, 1);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].ticker, "GME");
  EXPECT_TRUE(store.ListStocks(BorrowStatus::kHard, 0, 0)->empty());
  EXPECT_TRUE(store.ListStocks(BorrowStatus::kHard, 5, 2)->empty());
}

TEST(MemoryReferenceStore, ALaterDuplicateWinsLikeTheUpsert) {
  ReferenceData data = SampleData();
  data.stocks.push_back({"GME", BorrowStatus::kEasy, D("0.01"), ""});
  MemoryReferenceStore store(data);
  EXPECT_EQ((*store.GetStock("GME"))->borrow_status, BorrowStatus::kEasy);
}

// Rate windows and the local limiter ------------------------------------------------

TEST(RateWindowAt, SplitsTimeIntoCalendarMinutes) {
  using TP = std::chrono::system_clock::time_point;
  EXPECT_EQ(RateWindowAt(TP(0s)).index, 0);
  EXPECT_EQ(RateWindowAt(TP(0s)).reset_seconds, 60);
  EXPECT_EQ(RateWindowAt(TP(59s)).index, 0);
  EXPECT_EQ(RateWindowAt(TP(59s)).reset_seconds, 1);
  EXPECT_EQ(RateWindowAt(TP(59999ms)).reset_seconds, 1);
  EXPECT_EQ(RateWindowAt(TP(60s)).index, 1);
  EXPECT_EQ(RateWindowAt(TP(90500ms)).reset_seconds, 30);
  EXPECT_EQ(RateWindowAt(TP(-1s)).index, -1);
  EXPECT_EQ(RateWindowAt(TP(-1s)).reset_seconds, 1);
}

TEST(LocalRateLimiter, GrantsTheLimitPerKeyPerWindow) {
  fakes::FakeClock clock(std::chrono::system_clock::time_point(600s + 45s));
  LocalRateLimiter limiter(&clock);
  for (int i = 0; i < 3; ++i) {
    RateDecision d = limiter.Take("k", 3);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.limit, 3);
    EXPECT_EQ(d.remaining, 2 - i);
    EXPECT_EQ(d.reset_seconds, 15);
  }
  RateDecision refused = limiter.Take("k", 3);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_TRUE(limiter.Take("other", 3).allowed);
  clock.Advance(15s);
  EXPECT_TRUE(limiter.Take("k", 3).allowed);
  EXPECT_FALSE(limiter.Take("zero", 0).allowed);
}

TEST(LocalRateLimiter, HoldsUnderConcurrency) {
  fakes::FakeClock clock;
  LocalRateLimiter limiter(&clock);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (limiter.Take("hot", 777).allowed) granted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 777);
}

// Redis URL ---------------------------------------------------------------------------

TEST(ParseRedisUrl, AcceptsTheUsualForms) {
  auto plain = ParseRedisUrl("redis://127.0.0.1:6390/2");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 6390);
  EXPECT_EQ(plain->db, 2);
  EXPECT_EQ(plain->password, "");

  auto defaults = ParseRedisUrl("redis://cache.svc");
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(defaults->port, 6379);
  EXPECT_EQ(defaults->db, 0);

  auto auth = ParseRedisUrl("redis://app:p%40ss@[::1]:7000/0");
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->host, "::1");
  EXPECT_EQ(auth->port, 7000);
  EXPECT_EQ(auth->username, "app");
  EXPECT_EQ(auth->password, "p@ss");

  auto password_only = ParseRedisUrl("redis://:secret@h:1/");
  ASSERT_TRUE(password_only.has_value());
  EXPECT_EQ(password_only->username, "");
  EXPECT_EQ(password_only->password, "secret");
}

TEST(ParseRedisUrl, RejectsEverythingElse) {
  for (const char* bad :
       {"", "http://h:1/0", "redis://", "redis://h:0", "redis://h:70000", "redis://h:x/0",
        "redis://h:1/db", "redis://[::1", "redis://h:", "redis://a:b%zz@h"}) {
    auto r = ParseRedisUrl(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidParameter) << bad;
    EXPECT_EQ(r.error().field, "redis_url") << bad;
  }
}

TEST(ParseRedisUrl, ErrorsNeverShowTheCredentials) {
  for (const char* bad : {"redis://app:s3cret@h:x/0", "redis://s3cret@h:70000", "redis://:s3cret@h:1/db",
                          "redis://app:s3cret@[::1", "redis://app:s3cret@h:"}) {
    auto r = ParseRedisUrl(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("redis://***@"), std::string::npos) << r.error().message;
  }
  auto plain = ParseRedisUrl("redis://h:x");
  ASSERT_FALSE(plain.has_value());
  EXPECT_NE(plain.error().message.find("'redis://h:x'"), std::string::npos) << plain.error().message;
}

// Migrations -----------------------------------------------------------------------------

TEST(SqlMigrations, EmbeddedFilesAreVersionedInOrder) {
  auto migrations = EmbeddedMigrations();
  ASSERT_TRUE(migrations.has_value()) << migrations.error().message;
  ASSERT_FALSE(migrations->empty());
  EXPECT_EQ((*migrations)[0].version, 1);
  EXPECT_EQ((*migrations)[0].name, "0001_init.sql");
  EXPECT_NE((*migrations)[0].sql.find("CREATE TABLE audit_log"), std::string_view::npos);
  EXPECT_EQ((*migrations)[0].checksum, Sha256Hex((*migrations)[0].sql));
  for (size_t i = 1; i < migrations->size(); ++i) {
    EXPECT_LT((*migrations)[i - 1].version, (*migrations)[i].version);
  }
}

TEST(SqlMigrations, ParseSortsAndRejectsBadNames) {
  auto ok = ParseMigrations({{"0010_later.sql", "b"}, {"0002_first.sql", "a"}});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ((*ok)[0].version, 2);
  EXPECT_EQ((*ok)[1].version, 10);
  for (const char* bad : {"init.sql", "_x.sql", "0000_zero.sql", "12a_x.sql", "0003_x.txt"}) {
    EXPECT_FALSE(ParseMigrations({{bad, ""}}).has_value()) << bad;
  }
  auto dup = ParseMigrations({{"0001_a.sql", ""}, {"1_b.sql", ""}});
  ASSERT_FALSE(dup.has_value());
  EXPECT_NE(dup.error().message.find("share version 1"), std::string::npos);
}

// No server: failures are fast and explicit ---------------------------------------------

TEST(RedisPool, NoServerFailsFastThenBacksOff) {
  RedisPoolOptions options{"redis://127.0.0.1:1/0"};
  auto pool = RedisPool::Create(options);
  ASSERT_TRUE(pool.has_value());
  auto first = (*pool)->Command({"PING"});
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(first.error().message.find("127.0.0.1:1"), std::string::npos) << first.error().message;
  auto second = (*pool)->Command({"PING"});
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("retrying shortly"), std::string::npos)
      << second.error().message;
  EXPECT_EQ((*pool)->Failures(), 1);
  EXPECT_EQ((*pool)->InUse(), 0);

  // The limiter degrades to the per-process window.
  fakes::FakeClock clock;
  RedisRateLimiter limiter(**pool, &clock);
  EXPECT_TRUE(limiter.Take("k", 2).allowed);
  EXPECT_TRUE(limiter.degraded());
  EXPECT_TRUE(limiter.Take("k", 2).allowed);
  EXPECT_FALSE(limiter.Take("k", 2).allowed);
  RedisCache cache(**pool);
  EXPECT_FALSE(cache.Get("x").has_value());
}

TEST(PgPool, NoServerFailsFastThenBacksOff) {
  PgPoolOptions options;
  options.conninfo = "postgresql://u:p@127.0.0.1:1/db";
  auto pool = PgPool::Create(options);
  ASSERT_TRUE(pool.has_value());
  PgReferenceStore store(**pool);
  const auto start = std::chrono::steady_clock::now();
  auto first = store.GetStock("GME");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, ErrorCode::kServiceUnavailable);
  auto second = store.Ping();
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("retrying shortly"), std::string::npos)
      << second.error().message;
  EXPECT_EQ((*pool)->ConnectFailures(), 1);
  EXPECT_FALSE(InsertAuditBatch(**pool, {SampleAuditRecord("x")}).has_value());
  EXPECT_FALSE(SeedReferenceData(**pool, SampleData()).has_value());
  EXPECT_FALSE(RunMigrations(**pool).has_value());
  EXPECT_EQ((*pool)->InUse(), 0);
}

// Fakes ---------------------------------------------------------------------------------------

TEST(Fakes, FailNextTargetsCallsInOrder) {
  fakes::FakeReferenceStore store;
  store.Put(Stock{"GME", BorrowStatus::kHard, D("0.05"), ""});
  store.FailNext(2, "GetStock");
  store.FailNext(1, "", Error{ErrorCode::kCalculationError, "boom", ""});
  EXPECT_FALSE(store.GetStock("GME").has_value());
  auto broker = store.GetBroker("x");  // the "any method" failure
  ASSERT_FALSE(broker.has_value());
  EXPECT_EQ(broker.error().code, ErrorCode::kCalculationError);
  auto second = store.GetStock("GME");
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_TRUE(store.GetStock("GME")->has_value());
  EXPECT_EQ(store.Calls("GetStock"), 3);
  EXPECT_EQ(store.Calls(), 4);
  store.FailNext(0);
  EXPECT_TRUE(store.Ping().has_value());
}

TEST(Fakes, SetDownFailsEveryCallUntilUp) {
  fakes::FakeCache cache;
  cache.SetDown(true);
  EXPECT_FALSE(cache.Set("k", "v", 10s).has_value());
  EXPECT_FALSE(cache.Get("k").has_value());
  EXPECT_FALSE(cache.Ping().has_value());
  cache.SetDown(false);
  EXPECT_TRUE(cache.Set("k", "v", 10s).has_value());
  EXPECT_EQ(cache.Get("k")->value_or(""), "v");
}

TEST(Fakes, CacheEntriesExpireOnTheFakeClock) {
  fakes::FakeClock clock;
  fakes::FakeCache cache(&clock);
  ASSERT_TRUE(cache.Set("k", "v", 10s).has_value());
  EXPECT_EQ(cache.TtlOf("k"), 10s);
  clock.Advance(9s);
  EXPECT_TRUE(cache.Get("k")->has_value());
  clock.Advance(1s);
  EXPECT_FALSE(cache.Get("k")->has_value());
}

TEST(Fakes, MarketDataAnswersOnlyWhatIsSet) {
  fakes::FakeMarketData market;
  EXPECT_FALSE(market.LenderRate("GME").has_value());
  market.SetLenderRate("GME", D("0.15"));
  market.SetVix(D("22.4"));
  market.SetEventRisk("GME", 6);
  EXPECT_EQ(*market.LenderRate("GME"), D("0.15"));
  EXPECT_EQ(*market.MarketVix(), D("22.4"));
  EXPECT_EQ(*market.EventRisk("GME"), 6);
  market.FailNext(1, "MarketVix");
  EXPECT_FALSE(market.MarketVix().has_value());
  market.SetEventRisk("GME", std::nullopt);
  EXPECT_FALSE(market.EventRisk("GME").has_value());
}

TEST(Fakes, AuditSinkCanHoldAndFailRecords) {
  fakes::FakeAuditSink sink;
  int ok = 0;
  int failed = 0;
  auto done = [&](Result<void> r) { r ? ++ok : ++failed; };
  sink.Append(SampleAuditRecord("a"), done);
  EXPECT_EQ(ok, 1);
  sink.SetDeferred(true);
  sink.Append(SampleAuditRecord("b"), done);
  EXPECT_EQ(sink.Pending(), 1);
  EXPECT_EQ(ok, 1);
  sink.CompleteAll();
  EXPECT_EQ(ok, 2);
  sink.Append(SampleAuditRecord("c"), done);
  sink.FailAll(Error{ErrorCode::kServiceUnavailable, "disk full", ""});
  EXPECT_EQ(failed, 1);
  sink.FailNext(1, "Append");
  sink.Append(SampleAuditRecord("d"), done);
  EXPECT_EQ(failed, 2);
  ASSERT_EQ(sink.records().size(), 2u);
  EXPECT_EQ(sink.records()[1].calculation_id, "b");
  EXPECT_EQ(sink.Pending(), 0);
}

TEST(Fakes, RateLimiterCountsUntilANewWindow) {
  fakes::FakeRateLimiter limiter;
  EXPECT_TRUE(limiter.Take("k", 1).allowed);
  EXPECT_FALSE(limiter.Take("k", 1).allowed);
  limiter.NewWindow();
  limiter.SetDenyAll(true);
  EXPECT_FALSE(limiter.Take("k", 1).allowed);
  limiter.SetDenyAll(false);
  EXPECT_TRUE(limiter.Take("k", 1).allowed);
  EXPECT_EQ(limiter.Calls(), 4);
}

}  // namespace
}  // namespace pricing::engine
