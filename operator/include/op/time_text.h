// The operator reads instants, dates, wall-clock times and durations with the
// shared parsers (common/time_text.h).
#pragma once

#include "common/time_text.h"

namespace pricing::op {

using TimePoint = WallTime;
using pricing::FormatRfc3339;
using pricing::ParseClockTime;
using pricing::ParseDate;
using pricing::ParseDuration;
using pricing::ParseRfc3339;

}  // namespace pricing::op
