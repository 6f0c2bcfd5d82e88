// The operator's tests use the shared FakeClock (common/testing/fake_clock.h).
#pragma once

#include "common/testing/fake_clock.h"

namespace pricing::op::fakes {
using pricing::fakes::FakeClock;
}  // namespace pricing::op::fakes
