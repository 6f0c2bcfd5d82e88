// A Clock for the operator's tests that stands still until the test moves it.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

#include "op/clock.h"

namespace pricing::op::fakes {

class FakeClock : public Clock {
 public:
  // 2026-11-27T14:30:00Z, a weekday afternoon.
  static constexpr TimePoint kDefaultStart = TimePoint(std::chrono::seconds(1795789800));

  explicit FakeClock(TimePoint start = kDefaultStart) : now_(start.time_since_epoch().count()) {}

  TimePoint Now() const override { return TimePoint(TimePoint::duration(now_.load())); }

  void Set(TimePoint t) { now_.store(t.time_since_epoch().count()); }

  // Moves the clock forward (or back, for a negative `d`).
  template <typename Rep, typename Period>
  void Advance(std::chrono::duration<Rep, Period> d) {
    now_.fetch_add(std::chrono::duration_cast<TimePoint::duration>(d).count());
  }

 private:
  std::atomic<TimePoint::rep> now_;
};

}  // namespace pricing::op::fakes
