#include "runtime/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fakes/op/fake_clock.h"

namespace pricing::op {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using fakes::FakeClock;

constexpr auto kDeadline = seconds(10);

TEST(WorkQueue, DeduplicatesAKeyAddedTwice) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.Add("prod/a");
  queue.Add("prod/a");
  queue.Add("prod/b");
  EXPECT_EQ(queue.Len(), 2u);
  EXPECT_EQ(queue.TryGet(), "prod/a");
  EXPECT_EQ(queue.TryGet(), "prod/b");
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST(WorkQueue, DelayedKeysBecomeReadyInTimeOrder) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("prod/late", seconds(20));
  queue.AddAfter("prod/early", seconds(10));
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  EXPECT_EQ(queue.NextReadyAt(), clock.Now() + seconds(10));
  clock.Advance(seconds(10));
  EXPECT_EQ(queue.TryGet(), "prod/early");
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock.Advance(seconds(10));
  EXPECT_EQ(queue.TryGet(), "prod/late");
}

TEST(WorkQueue, TheEarliestReadyTimeWins) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("prod/a", seconds(30));
  queue.AddAfter("prod/a", seconds(5));
  EXPECT_EQ(queue.NextReadyAt(), clock.Now() + seconds(5));
  queue.AddAfter("prod/a", seconds(60));
  EXPECT_EQ(queue.NextReadyAt(), clock.Now() + seconds(5));
  EXPECT_EQ(queue.Len(), 1u);
  queue.Add("prod/a");
  EXPECT_EQ(queue.TryGet(), "prod/a");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueue, ReadyKeysComeOutEarliestReadyFirst) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("prod/b", seconds(2));
  queue.AddAfter("prod/a", seconds(3));
  queue.AddAfter("prod/c", seconds(1));
  clock.Advance(seconds(5));
  EXPECT_EQ(queue.TryGet(), "prod/c");
  EXPECT_EQ(queue.TryGet(), "prod/b");
  EXPECT_EQ(queue.TryGet(), "prod/a");
}

TEST(WorkQueue, AKeyAddedWhileInFlightWaitsForDone) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.Add("prod/a");
  ASSERT_EQ(queue.TryGet(), "prod/a");
  queue.Add("prod/a");
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  queue.Done("prod/a");
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(queue.TryGet(), "prod/a");
  queue.Done("prod/a");
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST(WorkQueue, ADelayedReAddWhileInFlightKeepsItsDelayAfterDone) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.Add("prod/a");
  ASSERT_EQ(queue.TryGet(), "prod/a");
  queue.AddAfter("prod/a", seconds(30));
  queue.AddAfter("prod/a", seconds(10));
  queue.Done("prod/a");
  EXPECT_EQ(queue.NextReadyAt(), clock.Now() + seconds(10));
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock.Advance(seconds(10));
  EXPECT_EQ(queue.TryGet(), "prod/a");
}

TEST(WorkQueue, BackoffDoublesFromTheBaseAndIsCapped) {
  FakeClock clock;
  WorkQueue queue(clock, BackoffPolicy{milliseconds(5), milliseconds(100)});
  const std::vector<milliseconds> expected = {milliseconds(5),  milliseconds(10), milliseconds(20),
                                              milliseconds(40), milliseconds(80), milliseconds(100),
                                              milliseconds(100)};
  for (size_t i = 0; i < expected.size(); ++i) {
    const TimePoint start = clock.Now();
    queue.AddRateLimited("prod/a");
    EXPECT_EQ(queue.Failures("prod/a"), static_cast<int>(i + 1));
    EXPECT_EQ(queue.NextReadyAt(), start + expected[i]) << "failure " << i + 1;
    clock.Advance(expected[i] - milliseconds(1));
    EXPECT_EQ(queue.TryGet(), std::nullopt);
    clock.Advance(milliseconds(1));
    ASSERT_EQ(queue.TryGet(), "prod/a");
    queue.Done("prod/a");
  }
}

TEST(WorkQueue, BackoffDelayNeverOverflows) {
  const BackoffPolicy policy;
  EXPECT_EQ(BackoffDelay(policy, 1), milliseconds(5));
  EXPECT_EQ(BackoffDelay(policy, 2), milliseconds(10));
  EXPECT_EQ(BackoffDelay(policy, 17), seconds(300));
  EXPECT_EQ(BackoffDelay(policy, 1000), seconds(300));
}

TEST(WorkQueue, ForgetResetsTheBackoff) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.AddRateLimited("prod/a");
  queue.AddRateLimited("prod/a");
  queue.AddRateLimited("prod/a");
  EXPECT_EQ(queue.Failures("prod/a"), 3);
  queue.Forget("prod/a");
  EXPECT_EQ(queue.Failures("prod/a"), 0);
  clock.Advance(seconds(1));
  ASSERT_EQ(queue.TryGet(), "prod/a");
  queue.Done("prod/a");
  const TimePoint start = clock.Now();
  queue.AddRateLimited("prod/a");
  EXPECT_EQ(queue.NextReadyAt(), start + milliseconds(5));
}

TEST(WorkQueue, ObserverSeesAddsDepthRetriesAndTimings) {
  FakeClock clock;
  int adds = 0;
  int retries = 0;
  std::vector<size_t> depths;
  std::vector<double> queued;
  std::vector<double> worked;
  WorkQueueObserver observer{[&] { ++adds; }, [&](size_t d) { depths.push_back(d); },
                             [&](double s) { queued.push_back(s); },
                             [&](double s) { worked.push_back(s); }, [&] { ++retries; }};
  WorkQueue queue(clock, {}, observer);
  queue.Add("prod/a");
  queue.Add("prod/a");
  queue.AddRateLimited("prod/b");
  clock.Advance(seconds(2));
  ASSERT_EQ(queue.TryGet(), "prod/a");
  clock.Advance(seconds(3));
  queue.Done("prod/a");
  EXPECT_EQ(adds, 2);
  EXPECT_EQ(retries, 1);
  // prod/b waits out its backoff, then is ready in place of prod/a: the
  // ready count stays 1, reported once.
  EXPECT_EQ(depths, (std::vector<size_t>{1}));
  EXPECT_EQ(queued, std::vector<double>{2.0});
  EXPECT_EQ(worked, std::vector<double>{3.0});
}

TEST(WorkQueue, DepthCountsReadyKeysNotDelayedOnes) {
  FakeClock clock;
  std::vector<size_t> depths;
  WorkQueueObserver observer;
  observer.on_depth = [&](size_t d) { depths.push_back(d); };
  WorkQueue queue(clock, {}, observer);
  queue.AddAfter("prod/expiry", seconds(60));  // e.g. an override's expiry
  queue.AddAfter("prod/phase", seconds(30));
  EXPECT_EQ(queue.Len(), 2u);
  EXPECT_EQ(queue.ReadyLen(), 0u);
  EXPECT_TRUE(depths.empty());
  queue.Add("prod/edit");
  EXPECT_EQ(queue.ReadyLen(), 1u);
  ASSERT_EQ(queue.TryGet(), "prod/edit");
  EXPECT_EQ(queue.ReadyLen(), 0u);
  EXPECT_EQ(depths, (std::vector<size_t>{1, 0}));
  clock.Advance(seconds(61));
  EXPECT_EQ(queue.ReadyLen(), 2u);  // both delays ran out
  ASSERT_EQ(queue.TryGet(), "prod/phase");
  EXPECT_EQ(depths, (std::vector<size_t>{1, 0, 1}));  // seen at the hand-out
  EXPECT_EQ(queue.Len(), 1u);
}

TEST(WorkQueue, GetBlocksUntilAKeyIsAdded) {
  FakeClock clock;
  WorkQueue queue(clock);
  std::future<std::optional<std::string>> got =
      std::async(std::launch::async, [&] { return queue.Get(); });
  EXPECT_EQ(got.wait_for(milliseconds(20)), std::future_status::timeout);
  queue.Add("prod/a");
  ASSERT_EQ(got.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(got.get(), "prod/a");
}

TEST(WorkQueue, GetWaitsForTheClockAndIsWoken) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("prod/a", seconds(60));
  std::future<std::optional<std::string>> got =
      std::async(std::launch::async, [&] { return queue.Get(); });
  EXPECT_EQ(got.wait_for(milliseconds(20)), std::future_status::timeout);
  clock.Advance(seconds(60));
  queue.Wake();
  ASSERT_EQ(got.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(got.get(), "prod/a");
}

TEST(WorkQueue, GetReturnsADelayedKeyOnTheRealClock) {
  SystemClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("prod/a", milliseconds(20));
  std::future<std::optional<std::string>> got =
      std::async(std::launch::async, [&] { return queue.Get(); });
  ASSERT_EQ(got.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(got.get(), "prod/a");
}

TEST(WorkQueue, ShutDownUnblocksGetAndIgnoresLaterAdds) {
  FakeClock clock;
  WorkQueue queue(clock);
  std::future<std::optional<std::string>> got =
      std::async(std::launch::async, [&] { return queue.Get(); });
  queue.ShutDown();
  ASSERT_EQ(got.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(got.get(), std::nullopt);
  queue.Add("prod/a");
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.Get(), std::nullopt);
  EXPECT_TRUE(queue.ShuttingDown());
}

TEST(WorkQueue, NoKeyIsProcessedByTwoWorkersAtOnce) {
  SystemClock clock;
  WorkQueue queue(clock, BackoffPolicy{milliseconds(1), milliseconds(2)});
  constexpr int kWorkers = 8;
  constexpr int kKeys = 16;
  constexpr int kRounds = 200;
  std::mutex mu;
  std::set<std::string> busy;
  std::atomic<int> overlaps{0};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (std::optional<std::string> key = queue.Get()) {
        {
          std::lock_guard lock(mu);
          if (!busy.insert(*key).second) ++overlaps;
        }
        std::this_thread::yield();
        {
          std::lock_guard lock(mu);
          busy.erase(*key);
        }
        if (processed.fetch_add(1) % 7 == 0) queue.AddRateLimited(*key);
        queue.Done(*key);
      }
    });
  }
  for (int round = 0; round < kRounds; ++round) {
    for (int k = 0; k < kKeys; ++k) queue.Add("ns/key-" + std::to_string(k));
  }
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while ((queue.Len() > 0 || queue.NextReadyAt()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  queue.ShutDown();
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GE(processed.load(), kKeys);
}

TEST(WorkQueue, ARateLimitedKeyWaitsAtLeastTheRetryAfter) {
  FakeClock clock;
  WorkQueue queue(clock);  // the first failure's backoff is 5 ms
  queue.AddRateLimited("k", std::chrono::seconds(7));
  clock.Advance(std::chrono::milliseconds(6900));
  EXPECT_FALSE(queue.TryGet().has_value()) << "sooner than the server asked";
  clock.Advance(std::chrono::milliseconds(200));
  EXPECT_EQ(queue.TryGet(), "k");
}

}  // namespace
}  // namespace pricing::op
