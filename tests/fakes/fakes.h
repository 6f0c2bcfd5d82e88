// Fakes of every port in engine/ports.h, each able to fail any call on demand
// (fault_injector.h). Header-only: add ${PROJECT_SOURCE_DIR}/tests to a test
// target's include directories and #include "fakes/fakes.h".
#pragma once

#include "fakes/fake_activity_log.h"
#include "fakes/fake_audit_sink.h"
#include "fakes/fake_cache.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_market_data.h"
#include "fakes/fake_rate_limiter.h"
#include "fakes/fake_reference_store.h"
#include "fakes/fake_reply_ledger.h"
#include "fakes/fault_injector.h"
