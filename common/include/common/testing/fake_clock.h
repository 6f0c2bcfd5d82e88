// A Clock for the tests of both programs that stands still until the test
// moves it. Advance moves wall and monotonic time together; Set and StepWall
// move the wall clock alone, as an NTP step or an operator's date command
// would, leaving intervals measured on the monotonic clock untouched.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

#include "common/clock.h"

namespace pricing::fakes {

class FakeClock : public Clock {
 public:
  using TimePoint = WallTime;

  // 2026-11-27T14:30:00Z, a weekday afternoon.
  static constexpr WallTime kDefaultStart = WallTime(std::chrono::seconds(1795789800));

  explicit FakeClock(WallTime start = kDefaultStart) : wall_(start.time_since_epoch().count()) {}

  WallTime Now() const override { return WallTime(WallTime::duration(wall_.load())); }
  MonoTime Monotonic() const override { return MonoTime(MonoTime::duration(mono_.load())); }

  // Sets the wall clock to `t`; monotonic time does not move.
  void Set(WallTime t) { wall_.store(t.time_since_epoch().count()); }

  // Moves both clocks forward by `d` (the wall clock alone back, for a
  // negative `d`: monotonic time never goes back).
  template <typename Rep, typename Period>
  void Advance(std::chrono::duration<Rep, Period> d) {
    wall_.fetch_add(std::chrono::duration_cast<WallTime::duration>(d).count());
    if (d.count() > 0) mono_.fetch_add(std::chrono::duration_cast<MonoTime::duration>(d).count());
  }

  // Moves the wall clock alone by `d`.
  template <typename Rep, typename Period>
  void StepWall(std::chrono::duration<Rep, Period> d) {
    wall_.fetch_add(std::chrono::duration_cast<WallTime::duration>(d).count());
  }

 private:
  std::atomic<WallTime::rep> wall_;
  // Starts well past zero so that "a time point minus an interval" stays
  // meaningful in tests.
  std::atomic<MonoTime::rep> mono_{
      std::chrono::duration_cast<MonoTime::duration>(std::chrono::hours(24 * 365)).count()};
};

}  // namespace pricing::fakes
