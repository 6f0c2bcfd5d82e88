// TokenBucket over a clock that moves only when the test moves it.
#include "adapters/token_bucket.h"

#include <gtest/gtest.h>

#include <chrono>

namespace pricing::op {
namespace {

using std::chrono::milliseconds;

class FakeSteadyClock {
 public:
  TokenBucket::Clock::time_point Now() const { return now_; }
  void Advance(TokenBucket::Clock::duration d) { now_ += d; }
  TokenBucket::NowFn Fn() {
    return [this] { return now_; };
  }

 private:
  TokenBucket::Clock::time_point now_{std::chrono::hours(1)};
};

TEST(TokenBucket, BurstIsAvailableAtOnce) {
  FakeSteadyClock clock;
  TokenBucket bucket(20, 30, clock.Fn());
  for (int i = 0; i < 30; ++i) EXPECT_EQ(bucket.Reserve(), TokenBucket::Clock::duration::zero()) << i;
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(bucket.Reserve()), milliseconds(50));
}

TEST(TokenBucket, WaitersQueueAtTheRate) {
  FakeSteadyClock clock;
  TokenBucket bucket(10, 1, clock.Fn());
  EXPECT_EQ(bucket.Reserve(), TokenBucket::Clock::duration::zero());
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(bucket.Reserve()), milliseconds(100));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(bucket.Reserve()), milliseconds(200));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(bucket.Reserve()), milliseconds(300));
}

TEST(TokenBucket, RefillsAtQpsUpToBurst) {
  FakeSteadyClock clock;
  TokenBucket bucket(20, 30, clock.Fn());
  for (int i = 0; i < 30; ++i) bucket.Reserve();
  clock.Advance(std::chrono::seconds(1));  // 20 tokens accrue
  for (int i = 0; i < 20; ++i) EXPECT_EQ(bucket.Reserve(), TokenBucket::Clock::duration::zero()) << i;
  EXPECT_GT(bucket.Reserve(), TokenBucket::Clock::duration::zero());

  clock.Advance(std::chrono::hours(1));  // never more than the burst
  for (int i = 0; i < 30; ++i) EXPECT_EQ(bucket.Reserve(), TokenBucket::Clock::duration::zero()) << i;
  EXPECT_GT(bucket.Reserve(), TokenBucket::Clock::duration::zero());
}

TEST(TokenBucket, SustainedRateMatchesQps) {
  FakeSteadyClock clock;
  TokenBucket bucket(5, 2, clock.Fn());
  const auto end = clock.Now() + milliseconds(10'100);
  int granted = 0;
  while (true) {  // a caller that waits out every reservation
    clock.Advance(bucket.Reserve());
    if (clock.Now() > end) break;
    ++granted;
  }
  EXPECT_EQ(granted, 2 + 50);  // the burst, then 5 a second for 10 s
}

TEST(TokenBucket, ZeroQpsIsUnlimited) {
  FakeSteadyClock clock;
  TokenBucket bucket(0, 1, clock.Fn());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(bucket.Reserve(), TokenBucket::Clock::duration::zero());
}

TEST(TokenBucket, TakeBlocksForTheRealInterval) {
  TokenBucket bucket(50, 1);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) bucket.Take();  // 1 at once, 5 at 20 ms each
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(95));
}

}  // namespace
}  // namespace pricing::op
