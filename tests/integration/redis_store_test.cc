// Redis adapters against a real redis-server: the cache, the shared rate
// limiter across "processes" (separate pools and limiters), and outages.
#include "adapters/redis_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "fakes/fake_clock.h"
#include "services.h"
#include "test_util.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;
using fakes::FakeClock;
using testing_support::Services;
using testing_support::UniqueName;

std::unique_ptr<RedisPool> MakePool() {
  auto pool = RedisPool::Create(RedisPoolOptions{Services::Get().redis_url()});
  if (!pool) {
    ADD_FAILURE() << pool.error().message;
    return nullptr;
  }
  return std::move(*pool);
}

// Returns the integer reply of `args` (e.g. TTL, GET of a counter), or -100 on
// anything else.
int64_t IntegerOf(RedisPool& pool, const std::vector<std::string_view>& args) {
  auto reply = pool.Command(args);
  if (!reply) return -100;
  const redisReply* r = reply->get();
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) return std::stoll(std::string(r->str, r->len));
  if (r->type == REDIS_REPLY_NIL) return -1;
  return -100;
}

// A clock in the middle of the current real minute's successor, so a test's
// window never ends while it runs and Redis expiries (real time) stay ahead.
FakeClock MidWindowClock() {
  const auto now = std::chrono::system_clock::now();
  const auto minute = std::chrono::floor<std::chrono::minutes>(now);
  return FakeClock(minute + 1min + 30s);
}

// Polls `fn` until it returns true or `limit` passes.
template <typename Fn>
bool Eventually(Fn fn, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return fn();
}

// Cache ------------------------------------------------------------------------

TEST(RedisCache, SetThenGetWithTtl) {
  auto pool = MakePool();
  ASSERT_NE(pool, nullptr);
  RedisCache cache(*pool, "it:");
  const std::string key = UniqueName("rate");
  const std::string value("0.15\0\r\nbinary", 14);

  auto miss = cache.Get(key);
  ASSERT_TRUE(miss.has_value()) << miss.error().message;
  EXPECT_FALSE(miss->has_value());

  ASSERT_TRUE(cache.Set(key, value, 60s).has_value());
  auto hit = cache.Get(key);
  ASSERT_TRUE(hit.has_value()) << hit.error().message;
  ASSERT_TRUE(hit->has_value());
  EXPECT_EQ(**hit, value);
  const int64_t ttl = IntegerOf(*pool, {"TTL", "it:" + key});
  EXPECT_GT(ttl, 55);
  EXPECT_LE(ttl, 60);

  ASSERT_TRUE(cache.Set(key, "short", 1s).has_value());
  EXPECT_TRUE(Eventually(
      [&] {
        auto r = cache.Get(key);
        return r.has_value() && !r->has_value();
      },
      3s))
      << "the entry did not expire";
  EXPECT_TRUE(cache.Ping().has_value());
  EXPECT_EQ(pool->InUse(), 0);
}

TEST(RedisCache, SelectsTheDatabaseOfTheUrl) {
  std::string url = Services::Get().redis_url();
  url = url.substr(0, url.rfind('/')) + "/3";
  auto pool = RedisPool::Create(RedisPoolOptions{url});
  ASSERT_TRUE(pool.has_value());
  RedisCache in_db3(**pool);
  const std::string key = UniqueName("db3");
  ASSERT_TRUE(in_db3.Set(key, "x", 60s).has_value());
  auto default_pool = MakePool();
  RedisCache in_db0(*default_pool);
  auto r = in_db0.Get(key);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  auto again = in_db3.Get(key);
  ASSERT_TRUE(again.has_value() && again->has_value());
}

// Rate limiter --------------------------------------------------------------------------

TEST(RedisRateLimiter, TwoProcessesNeverGrantMoreThanTheLimit) {
  for (int64_t limit : {100, 1000}) {
    FakeClock clock = MidWindowClock();
    auto pool_a = MakePool();
    auto pool_b = MakePool();
    RedisRateLimiter a(*pool_a, &clock);
    RedisRateLimiter b(*pool_b, &clock);
    const std::string key = UniqueName("shared");
    std::atomic<int64_t> granted{0};
    std::vector<std::thread> threads;
    for (RedisRateLimiter* limiter : {&a, &b}) {
      for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, limiter] {
          for (int i = 0; i < limit; ++i) {
            if (limiter->Take(key, limit).allowed) granted.fetch_add(1);
          }
        });
      }
    }
    for (auto& t : threads) t.join();
    // 4 threads x `limit` attempts, every lease spent: exactly the limit.
    EXPECT_EQ(granted.load(), limit) << "limit " << limit;
    EXPECT_FALSE(a.degraded());
    EXPECT_FALSE(b.degraded());
    const RateWindow window = RateWindowAt(clock.Now());
    EXPECT_EQ(IntegerOf(*pool_a, {"GET", RedisRateLimiter::CounterKey(key, window.index)}), limit);
    RateDecision refused = a.Take(key, limit);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.remaining, 0);
    EXPECT_EQ(refused.limit, limit);
    EXPECT_EQ(refused.reset_seconds, 30);
  }
}

TEST(RedisRateLimiter, LeasesAtMostOnePercentOfTheLimit) {
  EXPECT_EQ(RedisRateLimiter::LeaseSize(1), 1);
  EXPECT_EQ(RedisRateLimiter::LeaseSize(99), 1);
  EXPECT_EQ(RedisRateLimiter::LeaseSize(100), 1);
  EXPECT_EQ(RedisRateLimiter::LeaseSize(1000), 10);
  EXPECT_EQ(RedisRateLimiter::LeaseSize(1999), 19);

  FakeClock clock = MidWindowClock();
  auto pool = MakePool();
  RedisRateLimiter limiter(*pool, &clock);
  const std::string key = UniqueName("lease");
  const std::string counter = RedisRateLimiter::CounterKey(key, RateWindowAt(clock.Now()).index);

  RateDecision first = limiter.Take(key, 1000);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.limit, 1000);
  EXPECT_EQ(first.remaining, 999);  // 990 in Redis + 9 leased here
  EXPECT_EQ(IntegerOf(*pool, {"GET", counter}), 10);
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(limiter.Take(key, 1000).allowed);
  EXPECT_EQ(IntegerOf(*pool, {"GET", counter}), 10) << "the lease was spent without round trips";
  EXPECT_TRUE(limiter.Take(key, 1000).allowed);
  EXPECT_EQ(IntegerOf(*pool, {"GET", counter}), 20);

  // The counter expires with the window (plus a little slack).
  const int64_t ttl = IntegerOf(*pool, {"TTL", counter});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 30 + 10);
}

TEST(RedisRateLimiter, TryTakeNeverWaitsAndLeasesAheadOfNeed) {
  FakeClock clock = MidWindowClock();
  auto pool = MakePool();
  RedisRateLimiter limiter(*pool, &clock);
  const std::string key = UniqueName("ahead");
  const std::string counter = RedisRateLimiter::CounterKey(key, RateWindowAt(clock.Now()).index);

  // Cold: deciding needs Redis, so nothing is spent and a lease is fetched
  // in the background.
  EXPECT_FALSE(limiter.TryTake(key, 1000));
  ASSERT_TRUE(Eventually([&] { return IntegerOf(*pool, {"GET", counter}) == 10; }, 5s));
  // 200 tokens taken without a round trip on the caller's thread: each time
  // half a lease is left, the next is fetched ahead of need.
  int answered = 0;
  for (int i = 0; i < 200; ++i) {
    std::optional<RateDecision> d;
    ASSERT_TRUE(Eventually([&] { return (d = limiter.TryTake(key, 1000)).has_value(); }, 5s)) << i;
    EXPECT_TRUE(d->allowed) << i;
    ++answered;
  }
  EXPECT_EQ(answered, 200);
  EXPECT_GE(limiter.refills(), 20);
  // Never more leased than 200 spent plus one lease and one lease ahead.
  EXPECT_LE(IntegerOf(*pool, {"GET", counter}), 200 + 2 * 10);
  EXPECT_FALSE(limiter.degraded());
}

TEST(RedisRateLimiter, TryTakeAndTakeTogetherNeverGrantMoreThanTheLimit) {
  FakeClock clock = MidWindowClock();
  auto pool_a = MakePool();
  auto pool_b = MakePool();
  RedisRateLimiter a(*pool_a, &clock);
  RedisRateLimiter b(*pool_b, &clock);
  const std::string key = UniqueName("mixed");
  const int64_t limit = 500;
  std::atomic<int64_t> granted{0};
  std::vector<std::thread> threads;
  for (RedisRateLimiter* limiter : {&a, &b}) {
    threads.emplace_back([&, limiter] {
      for (int i = 0; i < limit; ++i) {
        auto d = limiter->TryTake(key, limit);
        if (!d) d = limiter->Take(key, limit);
        if (d->allowed) granted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(granted.load(), limit);
  // The leases fetched ahead and not spent are all that is missing.
  EXPECT_GE(granted.load(), limit - 2 * 2 * RedisRateLimiter::LeaseSize(limit));
}

// A request priced the way the service prices it: TryTake, and Take when
// that cannot decide without Redis. Within one process and one window, no
// refusal may come before a grant: a token leased ahead and still in flight
// is this process's, not a reason to refuse.
TEST(RedisRateLimiter, OneProcessNeverRefusesBeforeItsLastGrant) {
  FakeClock clock = MidWindowClock();
  auto pool = MakePool();
  RedisRateLimiter limiter(*pool, &clock);
  const int64_t limit = 5;
  for (int round = 0; round < 60; ++round) {
    const std::string key = UniqueName("order");
    std::string decisions;
    for (int i = 0; i < limit + 3; ++i) {
      auto d = limiter.TryTake(key, limit);
      if (!d) d = limiter.Take(key, limit);
      decisions += d->allowed ? 'y' : 'n';
    }
    ASSERT_EQ(decisions, std::string(limit, 'y') + "nnn") << "round " << round;
  }
}

TEST(RedisRateLimiter, NewWindowStartsAFreshCount) {
  FakeClock clock = MidWindowClock();
  auto pool = MakePool();
  RedisRateLimiter limiter(*pool, &clock);
  const std::string key = UniqueName("window");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take(key, 3).allowed);
  RateDecision refused = limiter.Take(key, 3);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.reset_seconds, 30);
  clock.Advance(29s);
  EXPECT_EQ(limiter.Take(key, 3).reset_seconds, 1);
  clock.Advance(1s);
  RateDecision next = limiter.Take(key, 3);
  EXPECT_TRUE(next.allowed);
  EXPECT_EQ(next.remaining, 2);
  EXPECT_EQ(next.reset_seconds, 60);
}

TEST(RedisRateLimiter, ReloadsTheScriptAfterAFlush) {
  FakeClock clock = MidWindowClock();
  auto pool = MakePool();
  RedisRateLimiter limiter(*pool, &clock);
  const std::string key = UniqueName("flush");
  EXPECT_TRUE(limiter.Take(key, 10).allowed);
  auto flushed = pool->Command({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(flushed.has_value());
  EXPECT_TRUE(limiter.Take(key, 10).allowed);
  EXPECT_FALSE(limiter.degraded());
  EXPECT_EQ(
      IntegerOf(*pool, {"GET", RedisRateLimiter::CounterKey(key, RateWindowAt(clock.Now()).index)}),
      2);
}

// Outages (each restores the shared Redis) ---------------------------------------------------

// Two ledgers over two pools stand for two engine processes.
TEST(RedisReplyLedger, OneProcessClaimsAnotherWaitsThenGetsTheAnswer) {
  auto pool_a = MakePool();
  auto pool_b = MakePool();
  std::atomic<int> lost{0};
  auto key_of = [](std::string_view name) { return std::string(name); };
  RedisReplyLedger a(*pool_a, key_of, [&] { ++lost; });
  RedisReplyLedger b(*pool_b, key_of, [&] { ++lost; });
  const std::string name = UniqueName("reply");

  auto first = a.Claim(name, 5000ms);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->state, ReplyClaim::State::kClaimed);
  auto busy = b.Claim(name, 5000ms);
  ASSERT_TRUE(busy.has_value()) << busy.error().message;
  EXPECT_EQ(busy->state, ReplyClaim::State::kInProgress);
  EXPECT_GT(busy->left, 4000ms);
  EXPECT_LE(busy->left, 5000ms);

  const std::string body = R"({"status":"success","total_fee":1535.17})";
  a.Settle(name, body, 600s);
  a.Flush();
  auto answered = b.Claim(name, 5000ms);
  ASSERT_TRUE(answered.has_value()) << answered.error().message;
  EXPECT_EQ(answered->state, ReplyClaim::State::kAnswered);
  EXPECT_EQ(answered->body, body);
  EXPECT_GT(IntegerOf(*pool_a, {"TTL", "reply:" + name}), 590);
  // Giving up a settled name changes nothing: only a claim is released.
  b.Settle(name, std::nullopt, 600s);
  b.Flush();
  EXPECT_EQ(b.Claim(name, 5000ms)->state, ReplyClaim::State::kAnswered);
  EXPECT_EQ(lost.load(), 0);
}

TEST(RedisReplyLedger, AReleasedClaimIsFreeAndALapsedOneToo) {
  auto pool = MakePool();
  RedisReplyLedger ledger(*pool, [](std::string_view name) { return std::string(name); });
  const std::string released = UniqueName("released");
  ASSERT_EQ(ledger.Claim(released, 5000ms)->state, ReplyClaim::State::kClaimed);
  ledger.Settle(released, std::nullopt, 600s);
  ledger.Flush();
  EXPECT_EQ(ledger.Claim(released, 5000ms)->state, ReplyClaim::State::kClaimed);

  const std::string lapsed = UniqueName("lapsed");
  ASSERT_EQ(ledger.Claim(lapsed, 50ms)->state, ReplyClaim::State::kClaimed);
  EXPECT_TRUE(Eventually(
      [&] { return ledger.Claim(lapsed, 5000ms)->state == ReplyClaim::State::kClaimed; }, 2s));
}

TEST(RedisOutage, ReplyLedgerFailsFastAndCountsWritesItCouldNotMake) {
  auto pool = MakePool();
  std::atomic<int> lost{0};
  RedisReplyLedger ledger(*pool, [](std::string_view name) { return std::string(name); },
                          [&] { ++lost; });
  const std::string name = UniqueName("down");
  ASSERT_EQ(ledger.Claim(name, 5000ms)->state, ReplyClaim::State::kClaimed);
  ASSERT_TRUE(Services::Get().StopRedis());
  auto claim = ledger.Claim(UniqueName("other"), 5000ms);
  ASSERT_FALSE(claim.has_value());
  EXPECT_EQ(claim.error().code, ErrorCode::kServiceUnavailable);
  ledger.Settle(name, "answer", 600s);  // returns at once; the write fails behind it
  ledger.Flush();
  EXPECT_EQ(lost.load(), 1);
  ASSERT_TRUE(Services::Get().StartRedis());
  EXPECT_TRUE(Eventually([&] { return ledger.Claim(UniqueName("back"), 5000ms).has_value(); }, 5s));
}

TEST(RedisOutage, CacheFailsFastAndRecovers) {
  auto pool = MakePool();
  RedisCache cache(*pool);
  const std::string key = UniqueName("outage");
  ASSERT_TRUE(cache.Set(key, "v", 60s).has_value());  // a warm, pooled connection

  ASSERT_TRUE(Services::Get().StopRedis());
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = cache.Get(key);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r.has_value()) << "attempt " << i;
    EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
    EXPECT_EQ(r.error().message.rfind("redis: ", 0), 0u) << r.error().message;
    EXPECT_LT(took, 300ms) << "attempt " << i;
  }
  EXPECT_FALSE(cache.Set(key, "w", 60s).has_value());
  EXPECT_FALSE(cache.Ping().has_value());
  EXPECT_GE(pool->Failures(), 1);
  EXPECT_EQ(pool->InUse(), 0);

  ASSERT_TRUE(Services::Get().StartRedis());
  // No persistence: the restarted Redis is empty, and the cache works again.
  EXPECT_TRUE(Eventually(
      [&] {
        auto r = cache.Get(key);
        return r.has_value() && !r->has_value();
      },
      5s));
  EXPECT_TRUE(cache.Set(key, "again", 60s).has_value());
  auto r = cache.Get(key);
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ(**r, "again");
}

TEST(RedisOutage, RateLimiterDegradesToPerProcessAndReturnsToShared) {
  FakeClock clock = MidWindowClock();
  auto pool_a = MakePool();
  auto pool_b = MakePool();
  RedisRateLimiter a(*pool_a, &clock);
  RedisRateLimiter b(*pool_b, &clock);
  const std::string key = UniqueName("degraded");
  constexpr int64_t kLimit = 20;
  ASSERT_TRUE(a.Take(key, kLimit).allowed);
  ASSERT_TRUE(b.Take(key, kLimit).allowed);

  ASSERT_TRUE(Services::Get().StopRedis());
  // Each process now limits on its own with the full limit (its grants this
  // window count: one each before the outage).
  int64_t granted_a = 0;
  int64_t granted_b = 0;
  for (int i = 0; i < 3 * kLimit; ++i) {
    if (a.Take(key, kLimit).allowed) ++granted_a;
    if (b.Take(key, kLimit).allowed) ++granted_b;
  }
  EXPECT_TRUE(a.degraded());
  EXPECT_TRUE(b.degraded());
  EXPECT_EQ(granted_a, kLimit - 1);
  EXPECT_EQ(granted_b, kLimit - 1);
  RateDecision refused = a.Take(key, kLimit);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, kLimit);
  EXPECT_EQ(refused.remaining, 0);

  ASSERT_TRUE(Services::Get().StartRedis());
  // Both return to the shared count once their pools' backoff has passed.
  const std::string probe = UniqueName("probe");
  EXPECT_TRUE(Eventually(
      [&] {
        a.Take(probe, kLimit);
        b.Take(probe, kLimit);
        return !a.degraded() && !b.degraded();
      },
      5s));
  const std::string other = UniqueName("after");
  int64_t shared = 0;
  for (int i = 0; i < 2 * kLimit; ++i) {
    if (a.Take(other, kLimit).allowed) ++shared;
    if (b.Take(other, kLimit).allowed) ++shared;
  }
  EXPECT_FALSE(a.degraded());
  EXPECT_FALSE(b.degraded());
  EXPECT_EQ(shared, kLimit);
}

}  // namespace
}  // namespace pricing::engine
