// The engine's tests use the shared FakeClock (common/testing/fake_clock.h).
#pragma once

#include "common/testing/fake_clock.h"

namespace pricing::engine::fakes {
using pricing::fakes::FakeClock;
}  // namespace pricing::engine::fakes
