// CircuitBreaker state machine over a fake monotonic clock.
#include "engine/circuit_breaker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

class FakeClock {
 public:
  CircuitBreaker::NowFn Fn() {
    return [this] { return CircuitBreaker::TimePoint(std::chrono::nanoseconds(now_ns_.load())); };
  }
  void Advance(std::chrono::nanoseconds d) { now_ns_ += d.count(); }

 private:
  std::atomic<int64_t> now_ns_{1'000'000'000};
};

struct Transitions {
  std::mutex mu;
  std::vector<std::pair<BreakerState, BreakerState>> seen;
  CircuitBreaker::Listener Fn() {
    return [this](BreakerState from, BreakerState to) {
      std::lock_guard lock(mu);
      seen.emplace_back(from, to);
    };
  }
};

void FailTimes(CircuitBreaker& b, int n) {
  for (int i = 0; i < n; ++i) {
    auto p = b.Allow();
    ASSERT_TRUE(p) << "call " << i;
    b.Record(p, false);
  }
}

TEST(CircuitBreaker, StaysClosedBelowThresholdAndSuccessResetsTheCount) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 3, .cool_down = 10s}, clock.Fn());
  FailTimes(b, 2);
  EXPECT_EQ(b.State(), BreakerState::kClosed);
  EXPECT_EQ(b.ConsecutiveFailures(), 2);
  auto p = b.Allow();
  b.Record(p, true);
  EXPECT_EQ(b.ConsecutiveFailures(), 0);
  FailTimes(b, 2);
  EXPECT_EQ(b.State(), BreakerState::kClosed);
}

TEST(CircuitBreaker, OpensAfterThresholdConsecutiveFailuresAndRefusesCalls) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 5, .cool_down = 10s}, clock.Fn());
  FailTimes(b, 5);
  EXPECT_EQ(b.State(), BreakerState::kOpen);
  EXPECT_FALSE(b.Allow());
  clock.Advance(9999ms);
  EXPECT_FALSE(b.Allow());
  EXPECT_EQ(b.State(), BreakerState::kOpen);
}

TEST(CircuitBreaker, LetsExactlyOneProbeThroughAfterTheCoolDown) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 1, .cool_down = 10s}, clock.Fn());
  FailTimes(b, 1);
  clock.Advance(10s);
  EXPECT_EQ(b.State(), BreakerState::kHalfOpen);
  auto probe = b.Allow();
  ASSERT_TRUE(probe);
  EXPECT_TRUE(probe.probe);
  EXPECT_FALSE(b.Allow());
  EXPECT_FALSE(b.Allow());
}

TEST(CircuitBreaker, SuccessfulProbeCloses) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 2, .cool_down = 10s}, clock.Fn());
  FailTimes(b, 2);
  clock.Advance(10s);
  auto probe = b.Allow();
  b.Record(probe, true);
  EXPECT_EQ(b.State(), BreakerState::kClosed);
  EXPECT_TRUE(b.Allow());
  EXPECT_TRUE(b.Allow());
}

TEST(CircuitBreaker, FailedProbeReopensForAFullCoolDown) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 2, .cool_down = 10s}, clock.Fn());
  FailTimes(b, 2);
  clock.Advance(10s);
  auto probe = b.Allow();
  clock.Advance(3s);
  b.Record(probe, false);
  EXPECT_EQ(b.State(), BreakerState::kOpen);
  clock.Advance(9s);
  EXPECT_FALSE(b.Allow());
  clock.Advance(1s);
  EXPECT_TRUE(b.Allow());
}

TEST(CircuitBreaker, IgnoresOutcomesOfCallsStartedBeforeItOpened) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 2, .cool_down = 10s}, clock.Fn());
  auto slow = b.Allow();
  FailTimes(b, 2);
  ASSERT_EQ(b.State(), BreakerState::kOpen);
  b.Record(slow, true);  // a success that started while closed
  EXPECT_EQ(b.State(), BreakerState::kOpen);

  clock.Advance(10s);
  auto stale = CircuitBreaker::Permit{true, false, slow.generation};
  auto probe = b.Allow();
  b.Record(stale, true);  // still not the probe
  EXPECT_EQ(b.State(), BreakerState::kHalfOpen);
  b.Record(probe, true);
  EXPECT_EQ(b.State(), BreakerState::kClosed);
}

TEST(CircuitBreaker, ReplacesAProbeThatNeverReportsBack) {
  FakeClock clock;
  CircuitBreaker b({.failure_threshold = 1, .cool_down = 10s}, clock.Fn());
  FailTimes(b, 1);
  clock.Advance(10s);
  auto lost = b.Allow();
  ASSERT_TRUE(lost);
  clock.Advance(9s);
  EXPECT_FALSE(b.Allow());
  clock.Advance(1s);
  auto second = b.Allow();
  ASSERT_TRUE(second);
  b.Record(lost, false);  // the lost probe's late answer no longer counts
  EXPECT_EQ(b.State(), BreakerState::kHalfOpen);
  b.Record(second, true);
  EXPECT_EQ(b.State(), BreakerState::kClosed);
}

TEST(CircuitBreaker, ReportsEveryTransitionToTheListener) {
  FakeClock clock;
  Transitions t;
  CircuitBreaker b({.failure_threshold = 1, .cool_down = 1s}, clock.Fn(), t.Fn());
  FailTimes(b, 1);
  clock.Advance(1s);
  auto probe = b.Allow();
  b.Record(probe, false);
  clock.Advance(1s);
  probe = b.Allow();
  b.Record(probe, true);
  const std::vector<std::pair<BreakerState, BreakerState>> want = {
      {BreakerState::kClosed, BreakerState::kOpen},
      {BreakerState::kOpen, BreakerState::kHalfOpen},
      {BreakerState::kHalfOpen, BreakerState::kOpen},
      {BreakerState::kOpen, BreakerState::kHalfOpen},
      {BreakerState::kHalfOpen, BreakerState::kClosed},
  };
  EXPECT_EQ(t.seen, want);
  EXPECT_EQ(BreakerStateName(BreakerState::kHalfOpen), "half_open");
}

TEST(CircuitBreaker, ConcurrentFailuresOpenItExactlyOnce) {
  FakeClock clock;
  Transitions t;
  CircuitBreaker b({.failure_threshold = 5, .cool_down = 10s}, clock.Fn(), t.Fn());
  std::vector<std::thread> threads;
  std::atomic<int> allowed{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 10'000; ++k) {
        auto p = b.Allow();
        if (p) {
          ++allowed;
          b.Record(p, false);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(b.State(), BreakerState::kOpen);
  ASSERT_EQ(t.seen.size(), 1u);
  EXPECT_EQ(t.seen[0].second, BreakerState::kOpen);
  // Only permits granted before the breaker opened got through.
  EXPECT_GE(allowed.load(), 5);
  EXPECT_LT(allowed.load(), 40'000);
}

}  // namespace
}  // namespace pricing::engine
