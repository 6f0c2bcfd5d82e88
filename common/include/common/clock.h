// The source of time of both programs, injected so that every timing decision
// (cache expiry, rate-limit windows, backoff, lease renewal, the requeue at a
// policy transition) can be tested with a clock that moves only when the test
// moves it. Wall time names instants (a price's calculated_at, a market phase,
// a lease's renewTime); monotonic time measures intervals and deadlines, which
// a wall clock stepped by NTP must not stretch or cut short.
#pragma once

#include <chrono>

namespace pricing {

using WallTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // The current instant (system_clock).
  virtual WallTime Now() const = 0;
  // A point on a clock that never jumps (steady_clock), for intervals only.
  virtual MonoTime Monotonic() const = 0;
};

// The real clocks.
class SystemClock final : public Clock {
 public:
  WallTime Now() const override { return std::chrono::system_clock::now(); }
  MonoTime Monotonic() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace pricing
