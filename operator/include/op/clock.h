// The operator's source of time, injected so that every timing decision (work
// queue delays, backoff, lease renewal, requeue at a policy transition) can be
// tested with a clock that only moves when the test moves it.
#pragma once

#include <chrono>

#include "op/time_text.h"

namespace pricing::op {

class Clock {
 public:
  virtual ~Clock() = default;
  // Returns the current instant. Wall-clock time (system_clock), because
  // policy transitions and lease timestamps are wall-clock instants.
  virtual TimePoint Now() const = 0;
};

// The real clock.
class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace pricing::op
