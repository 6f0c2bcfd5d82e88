// The FakeClock both programs' tests use, and the shared error text.
#include <gtest/gtest.h>

#include <chrono>

#include "common/error.h"
#include "common/testing/fake_clock.h"

namespace pricing {
namespace {

using namespace std::chrono_literals;

TEST(FakeClock, AdvanceMovesWallAndMonotonicTimeTogether) {
  fakes::FakeClock clock;
  const WallTime wall = clock.Now();
  const MonoTime mono = clock.Monotonic();
  clock.Advance(1500ms);
  EXPECT_EQ(clock.Now() - wall, 1500ms);
  EXPECT_EQ(clock.Monotonic() - mono, 1500ms);
}

TEST(FakeClock, AWallClockStepLeavesMonotonicTimeAlone) {
  fakes::FakeClock clock;
  const MonoTime mono = clock.Monotonic();
  clock.StepWall(-30s);  // an NTP step back
  clock.Set(clock.Now() + 1h);
  clock.Advance(-5s);  // the wall clock only: monotonic time never goes back
  EXPECT_EQ(clock.Monotonic(), mono);
  EXPECT_EQ(clock.Now(), fakes::FakeClock::kDefaultStart - 30s + 1h - 5s);
}

TEST(Error, NamesTheFieldBeforeTheMessage) {
  EXPECT_EQ(
      ToString(Error{ErrorCode::kInvalidParameter, "must be at least 1", "spec.replicas.min"}),
      "spec.replicas.min: must be at least 1");
  EXPECT_EQ(ToString(Error{ErrorCode::kServiceUnavailable, "store down", ""}), "store down");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kRateLimitExceeded), "RATE_LIMIT_EXCEEDED");
  EXPECT_EQ(HttpStatus(ErrorCode::kClientNotFound), 404);
}

}  // namespace
}  // namespace pricing
