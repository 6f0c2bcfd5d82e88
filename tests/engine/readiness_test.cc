// Readiness with bounded staleness (docs/design.md §2.3, degraded service).
#include "engine/readiness.h"

#include <gtest/gtest.h>

#include <chrono>

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;
using State = Staleness::State;

const ReadinessTime kT0 = ReadinessTime{} + 1000h;

TEST(Staleness, AnOutageIsDegradedWithinTheLimitFromTheLastAnswer) {
  Staleness s(15min);
  EXPECT_EQ(s.Observe("store", true, kT0), State::kOk);
  EXPECT_EQ(s.Observe("store", false, kT0 + 1s), State::kDegraded);
  EXPECT_EQ(s.Observe("store", false, kT0 + 15min), State::kDegraded);
  EXPECT_EQ(s.Observe("store", false, kT0 + 15min + 1s), State::kUnavailable);
  // An answer starts the limit again.
  EXPECT_EQ(s.Observe("store", true, kT0 + 20min), State::kOk);
  EXPECT_EQ(s.Observe("store", false, kT0 + 30min), State::kDegraded);
}

TEST(Staleness, ADependencyThatNeverAnsweredIsUnavailable) {
  Staleness s(15min);
  EXPECT_EQ(s.Observe("store", false, kT0), State::kUnavailable);
  EXPECT_EQ(s.Observe("other", true, kT0), State::kOk);
  EXPECT_EQ(s.Observe("store", false, kT0 + 1s), State::kUnavailable) << "names are separate";
}

TEST(ReadinessOf, ReadyDegradedAndNotReady) {
  Staleness s(1min);
  auto ready = ReadinessOf({{"reference_store", true, true, true}, {"redis", true, false}}, s, kT0,
                           "all");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body,
            R"({"checks":{"reference_store":"ok","redis":"ok"},"status":"ready","role":"all"})");

  auto degraded = ReadinessOf({{"reference_store", false, true, true}, {"redis", false, false}}, s,
                              kT0 + 30s, "gateway");
  EXPECT_EQ(degraded.status, 200);
  EXPECT_EQ(degraded.body,
            R"({"checks":{"reference_store":"degraded","redis":"unavailable"},"status":"degraded",)"
            R"("degraded":["reference_store"],"role":"gateway"})");

  auto stale = ReadinessOf({{"reference_store", false, true, true}}, s, kT0 + 61s, "gateway");
  EXPECT_EQ(stale.status, 503);
  EXPECT_EQ(stale.body,
            R"({"checks":{"reference_store":"unavailable"},"status":"not_ready","role":"gateway"})");

  // A required check without stale_ok is not ready at once.
  auto audit = ReadinessOf({{"postgresql", false, true, false}}, s, kT0, "audit");
  EXPECT_EQ(audit.status, 503);
}

}  // namespace
}  // namespace pricing::engine
