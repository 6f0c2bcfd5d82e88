// The operator's clock is the shared one (common/clock.h): policy
// transitions and lease timestamps are wall-clock instants; renew deadlines
// and backoff are monotonic intervals.
#pragma once

#include "common/clock.h"
#include "op/time_text.h"

namespace pricing::op {

using pricing::Clock;
using pricing::SystemClock;

}  // namespace pricing::op
