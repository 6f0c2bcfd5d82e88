// Recording what the calculation role prices for the cache role: at most once
// per name per interval, flushed in one Record per set, kept on failure.
#include "engine/activity.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "fakes/fakes.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

TEST(ActivityTracker, QueuesANameAtMostOncePerInterval) {
  fakes::FakeClock clock;
  fakes::FakeActivityLog log;
  ActivityTracker tracker(30s);
  tracker.Note(kActiveTickers, "GME", clock.Now());
  tracker.Note(kActiveTickers, "GME", clock.Now() + 1s);
  tracker.Note(kActiveTickers, "AMC", clock.Now());
  tracker.Note(kActiveClients, "big_fund_007", clock.Now());
  EXPECT_EQ(tracker.Queued(), 3u);
  ASSERT_TRUE(tracker.Flush(log, clock.Now()));
  EXPECT_EQ(log.Calls("Record"), 2) << "one write per set";
  EXPECT_EQ(tracker.Queued(), 0u);
  EXPECT_TRUE(log.LastSeen("tickers", "GME"));
  EXPECT_TRUE(log.LastSeen("clients", "big_fund_007"));

  clock.Advance(29s);
  tracker.Note(kActiveTickers, "GME", clock.Now());
  EXPECT_EQ(tracker.Queued(), 0u) << "noted 29 s ago";
  clock.Advance(1s);
  tracker.Note(kActiveTickers, "GME", clock.Now());
  EXPECT_EQ(tracker.Queued(), 1u);
}

TEST(ActivityTracker, KeepsNamesQueuedWhileTheLogIsDown) {
  fakes::FakeClock clock;
  fakes::FakeActivityLog log;
  ActivityTracker tracker(30s);
  tracker.Note(kActiveTickers, "GME", clock.Now());
  log.SetDown(true);
  EXPECT_FALSE(tracker.Flush(log, clock.Now()));
  EXPECT_EQ(tracker.Queued(), 1u);
  log.SetDown(false);
  ASSERT_TRUE(tracker.Flush(log, clock.Now() + 1s));
  EXPECT_EQ(log.LastSeen("tickers", "GME"), clock.Now() + 1s);
  EXPECT_EQ(tracker.Queued(), 0u);
}

TEST(ActivityRecordingSink, NotesTickerAndClientThenAppends) {
  fakes::FakeClock clock;
  fakes::FakeAuditSink audit;
  ActivityTracker tracker(30s);
  ActivityRecordingSink sink(&audit, &tracker);
  AuditRecord record;
  record.calculation_id = "id-1";
  record.request.ticker = "GME";
  record.request.client_id = "big_fund_007";
  record.at = clock.Now();
  bool durable = false;
  sink.Append(record, [&](Result<void> ok) { durable = ok.has_value(); });
  EXPECT_TRUE(durable);
  ASSERT_EQ(audit.records().size(), 1u);
  EXPECT_EQ(tracker.Queued(), 2u);
  EXPECT_EQ(sink.Pending(), 0);
}

}  // namespace
}  // namespace pricing::engine
