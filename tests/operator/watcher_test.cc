#include "runtime/watcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fakes/op/fake_kube_client.h"
#include "op/kube.h"
#include "runtime/store.h"

namespace pricing::op {
namespace {

using fakes::FakeKubeClient;
using nlohmann::json;
using std::chrono::milliseconds;

// Returns whether `condition` became true within a generous deadline.
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

json Deployment(const std::string& name, int replicas) {
  return json{{"metadata", {{"name", name}, {"namespace", "prod"}}},
              {"spec", {{"replicas", replicas}}}};
}

json Service(const std::string& name) {
  return json{{"metadata", {{"name", name}, {"namespace", "prod"}}}};
}

// Records on_change calls; can hold the watcher inside on_change.
class Changes {
 public:
  void Record(const std::string& key, const json& object, bool deleted) {
    std::unique_lock lock(mu_);
    changes_.emplace_back(key, deleted ? std::nullopt : std::optional<json>(object));
    if (deleted) last_states_.insert_or_assign(key, object);
    while (hold_) {
      held_ = true;
      cv_.notify_all();
      cv_.wait(lock);
    }
    held_ = false;
  }

  // Makes the next on_change block until Release().
  void Hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }

  // Returns whether the watcher is blocked in on_change (waits up to 10 s).
  bool WaitHeld() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [this] { return held_; });
  }

  void Release() {
    std::lock_guard lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }

  size_t Count() const {
    std::lock_guard lock(mu_);
    return changes_.size();
  }

  std::vector<std::pair<std::string, std::optional<json>>> All() const {
    std::lock_guard lock(mu_);
    return changes_;
  }

  // Returns whether `key` was reported deleted.
  bool Deleted(const std::string& key) const {
    std::lock_guard lock(mu_);
    for (const auto& [k, object] : changes_) {
      if (k == key && !object) return true;
    }
    return false;
  }

  // Returns the last state reported with `key`'s deletion.
  std::optional<json> LastState(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = last_states_.find(key);
    if (it == last_states_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::optional<json>>> changes_;
  std::map<std::string, json> last_states_;
  bool hold_ = false;
  bool held_ = false;
};

class WatcherTest : public ::testing::Test {
 protected:
  ~WatcherTest() override { StopWatcher(); }

  WatcherOptions Options() const {
    WatcherOptions options;
    options.resource = kDeployments;
    options.backoff_initial = milliseconds(1);
    options.backoff_max = milliseconds(5);
    return options;
  }

  void Start(WatcherOptions options) {
    WatcherObserver observer;
    observer.on_error = [this](const KubeError& e) {
      std::lock_guard lock(mu_);
      errors_.push_back(e);
    };
    watcher_ = std::make_unique<Watcher>(
        kube_, store_, std::move(options),
        [this](const std::string& key, const json& object, bool deleted) {
          changes_.Record(key, object, deleted);
        },
        observer);
    thread_ = std::thread([this] { watcher_->Run(); });
  }

  void Start() { Start(Options()); }

  void StopWatcher() {
    if (!watcher_) return;
    changes_.Release();
    watcher_->Stop();
    if (thread_.joinable()) thread_.join();
  }

  std::vector<KubeError> Errors() const {
    std::lock_guard lock(mu_);
    return errors_;
  }

  // Returns whether the store holds exactly what the fake server holds.
  bool StoreMatchesServer() const {
    std::vector<json> server;
    for (const json& object : kube_.Objects(kDeployments)) server.push_back(SlimObject(object));
    return store_.List() == server;
  }

  FakeKubeClient kube_;
  Store store_;
  Changes changes_;
  std::unique_ptr<Watcher> watcher_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<KubeError> errors_;
};

TEST_F(WatcherTest, InitialListPopulatesTheStoreAndReportsEveryObject) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  kube_.Seed(kDeployments, Deployment("b", 2));
  kube_.Seed(kServices, Service("s"));
  Start();
  ASSERT_TRUE(Eventually([&] { return watcher_->Synced() && changes_.Count() == 2; }));
  EXPECT_EQ(store_.Keys(), (std::vector<std::string>{"prod/a", "prod/b"}));
  EXPECT_EQ(store_.ResourceVersion(), "3");
  const auto all = changes_.All();
  EXPECT_EQ(all[0].first, "prod/a");
  ASSERT_TRUE(all[0].second.has_value());
  EXPECT_EQ((*all[0].second)["spec"]["replicas"], 1);
  EXPECT_EQ(all[1].first, "prod/b");
  EXPECT_EQ(watcher_->Relists(), 0u);
}

TEST_F(WatcherTest, ListsThroughTheStoresProjection) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  Store slim([](const json& o) {
    return json{{"metadata", {{"name", o["metadata"]["name"]}, {"namespace", "prod"}}}};
  });
  std::vector<json> reported;
  Watcher watcher(kube_, slim, Options(), [&](const std::string&, const json& o, bool) {
    reported.push_back(o);
  });
  std::thread run([&] { watcher.Run(); });
  const bool synced = Eventually([&] { return watcher.Synced(); });
  watcher.Stop();
  run.join();
  ASSERT_TRUE(synced);
  // The fake applies a list's transform: without one the store would hold the
  // whole Deployment (Stage does not project again).
  const json projected = {{"metadata", {{"name", "a"}, {"namespace", "prod"}}}};
  EXPECT_EQ(slim.Get("prod/a"), projected);
  EXPECT_EQ(reported, std::vector<json>{projected});
}

TEST_F(WatcherTest, LiveEventsReachTheStoreAndTheCallback) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  kube_.Seed(kDeployments, Deployment("b", 1));
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  ASSERT_TRUE(kube_.Create(kDeployments, Deployment("c", 1)).has_value());
  ASSERT_TRUE(kube_.Apply(kDeployments, Deployment("a", 7), "op").has_value());
  ASSERT_TRUE(kube_.Delete(kDeployments, "prod", "b").has_value());
  ASSERT_TRUE(Eventually([&] { return changes_.Count() == 5; }));
  EXPECT_TRUE(StoreMatchesServer());
  EXPECT_EQ((*store_.Get("prod/a"))["spec"]["replicas"], 7);
  EXPECT_TRUE(changes_.Deleted("prod/b"));
  const std::optional<json> last = changes_.LastState("prod/b");  // the DELETED event's object
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ((*last)["metadata"]["name"], "b");
  EXPECT_EQ(store_.ResourceVersion(), kube_.ResourceVersion());
  EXPECT_EQ(kube_.Calls("List"), 1);
}

TEST_F(WatcherTest, RelistsAfterTheWatchExpiresAndReportsDeletionsInTheGap) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  kube_.Seed(kDeployments, Deployment("b", 1));
  kube_.Seed(kDeployments, Deployment("x", 1));
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1 && changes_.Count() == 3; }));

  changes_.Hold();
  kube_.Seed(kDeployments, Deployment("a", 2));
  ASSERT_TRUE(changes_.WaitHeld());
  ASSERT_TRUE(kube_.Delete(kDeployments, "prod", "b").has_value());
  ASSERT_TRUE(kube_.Create(kDeployments, Deployment("c", 1)).has_value());
  kube_.Compact();
  changes_.Release();

  ASSERT_TRUE(Eventually([&] { return watcher_->Relists() == 1 && kube_.OpenWatches() == 1; }));
  EXPECT_EQ(store_.Keys(), (std::vector<std::string>{"prod/a", "prod/c", "prod/x"}));
  EXPECT_TRUE(StoreMatchesServer());
  EXPECT_TRUE(changes_.Deleted("prod/b"));
  // Gone in the gap, so no DELETED event: its last state is what the store held.
  const std::optional<json> last = changes_.LastState("prod/b");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ((*last)["metadata"]["name"], "b");
  EXPECT_EQ((*last)["spec"]["replicas"], 1);
  EXPECT_EQ(store_.ResourceVersion(), kube_.ResourceVersion());
  EXPECT_EQ(kube_.Calls("List"), 2);
  ASSERT_FALSE(Errors().empty());
  EXPECT_EQ(Errors().back().kind, KubeError::Kind::kGone);

  ASSERT_TRUE(kube_.Create(kDeployments, Deployment("d", 1)).has_value());
  ASSERT_TRUE(Eventually([&] { return store_.Get("prod/d").has_value(); }));
  EXPECT_TRUE(StoreMatchesServer());
}

TEST_F(WatcherTest, RelistsWhenWatchReturnsGone) {
  kube_.SetGoneAsError(true);
  kube_.Seed(kDeployments, Deployment("a", 1));
  kube_.Seed(kDeployments, Deployment("b", 1));
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1 && changes_.Count() == 2; }));

  changes_.Hold();
  kube_.Seed(kDeployments, Deployment("a", 2));
  ASSERT_TRUE(changes_.WaitHeld());
  kube_.BreakWatches();
  ASSERT_TRUE(kube_.Delete(kDeployments, "prod", "b").has_value());
  kube_.Compact();
  changes_.Release();

  ASSERT_TRUE(Eventually([&] { return watcher_->Relists() == 1 && kube_.OpenWatches() == 1; }));
  EXPECT_EQ(store_.Keys(), std::vector<std::string>{"prod/a"});
  EXPECT_TRUE(StoreMatchesServer());
  EXPECT_TRUE(changes_.Deleted("prod/b"));
}

TEST_F(WatcherTest, ResumesFromTheBookmarkVersion) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  kube_.Seed(kServices, Service("s1"));
  kube_.Seed(kServices, Service("s2"));
  const std::string bookmark = kube_.ResourceVersion();
  ASSERT_EQ(bookmark, "3");
  kube_.SendBookmark();
  ASSERT_TRUE(Eventually([&] { return store_.ResourceVersion() == bookmark; }));
  kube_.CloseWatches();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));

  const std::vector<fakes::KubeWatchCall> calls = kube_.WatchCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].options.resource_version, "1");
  EXPECT_TRUE(calls[0].options.allow_bookmarks);
  EXPECT_EQ(calls[1].options.resource_version, bookmark);
  EXPECT_EQ(kube_.Calls("List"), 1);
}

TEST_F(WatcherTest, ReopensAnEndedWatchFromTheLastVersionWithoutListing) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  kube_.Seed(kDeployments, Deployment("a", 2));
  ASSERT_TRUE(Eventually([&] { return store_.ResourceVersion() == "2"; }));
  kube_.CloseWatches();
  ASSERT_TRUE(Eventually([&] { return kube_.WatchCalls().size() == 2; }));
  EXPECT_EQ(kube_.WatchCalls()[1].options.resource_version, "2");
  EXPECT_EQ(kube_.Calls("List"), 1);
  EXPECT_TRUE(Errors().empty());
}

TEST_F(WatcherTest, TransientWatchFailuresBackOffAndRecover) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  kube_.FailNext(3, "Watch");
  kube_.BreakWatches();
  ASSERT_TRUE(Eventually([&] { return kube_.Calls("Watch") == 5 && kube_.OpenWatches() == 1; }));
  EXPECT_EQ(Errors().size(), 4u);
  EXPECT_EQ(kube_.Calls("List"), 1);
  for (const fakes::KubeWatchCall& call : kube_.WatchCalls()) {
    EXPECT_EQ(call.options.resource_version, "1");
  }
  ASSERT_TRUE(kube_.Create(kDeployments, Deployment("b", 1)).has_value());
  ASSERT_TRUE(Eventually([&] { return store_.Get("prod/b").has_value(); }));
  EXPECT_TRUE(StoreMatchesServer());
}

TEST_F(WatcherTest, ANonExpiryErrorEventBacksOffAndReWatches) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  kube_.BreakWatches(KubeError{KubeError::Kind::kForbidden, 403, "Forbidden", "rbac"});
  ASSERT_TRUE(Eventually([&] { return kube_.Calls("Watch") == 2 && kube_.OpenWatches() == 1; }));
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_EQ(Errors()[0].kind, KubeError::Kind::kForbidden);
  EXPECT_EQ(watcher_->Relists(), 0u);
}

TEST_F(WatcherTest, ATooLargeResourceVersionListsAgain) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  // As a restored or lagging API server answers a watch from a version
  // ahead of its cache: re-watching from it cannot succeed, a list can.
  const KubeError too_large{KubeError::Kind::kTransient, 504, "Timeout",
                            "GET /apis/apps/v1/deployments: HTTP 504 Timeout: Too large resource "
                            "version: 9000, current: 12"};
  kube_.FailNext(1, "Watch", too_large);
  kube_.BreakWatches();
  ASSERT_TRUE(Eventually([&] { return watcher_->Relists() == 1 && kube_.OpenWatches() == 1; }));
  EXPECT_EQ(kube_.Calls("List"), 2);
  // The same answer as a watch's ERROR event.
  kube_.BreakWatches(too_large);
  ASSERT_TRUE(Eventually([&] { return watcher_->Relists() == 2 && kube_.OpenWatches() == 1; }));
}

TEST_F(WatcherTest, WatchTimeoutsAreSpreadOverOnceToTwiceTheSetting) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  WatcherOptions options = Options();
  options.watch_timeout = std::chrono::seconds(300);
  Start(options);
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
    kube_.CloseWatches();
    ASSERT_TRUE(Eventually([&] { return kube_.WatchCalls().size() == static_cast<size_t>(i + 2); }));
  }
  std::set<int64_t> seen;
  for (const fakes::KubeWatchCall& call : kube_.WatchCalls()) {
    EXPECT_GE(call.options.timeout, std::chrono::seconds(300));
    EXPECT_LT(call.options.timeout, std::chrono::seconds(600));
    seen.insert(call.options.timeout.count());
  }
  EXPECT_GT(seen.size(), 3u) << "13 watches, hardly any jitter";
}

TEST_F(WatcherTest, ARetryAfterIsWaitedOutWhateverTheBackoff) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  Start();  // backoff of 1..5 ms
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  KubeError throttled{KubeError::Kind::kTransient, 429, "TooManyRequests", "slow down"};
  throttled.retry_after = std::chrono::seconds(1);
  kube_.FailNext(1, "Watch", throttled);
  const auto broke = std::chrono::steady_clock::now();
  kube_.BreakWatches();
  ASSERT_TRUE(Eventually([&] { return kube_.Calls("Watch") == 3 && kube_.OpenWatches() == 1; }));
  // Watch 2 got the 429 at once; watch 3 waited for the Retry-After.
  EXPECT_GE(std::chrono::steady_clock::now() - broke, std::chrono::milliseconds(950));
}

TEST_F(WatcherTest, RetriesAFailedList) {
  kube_.Seed(kDeployments, Deployment("a", 1));
  kube_.FailNext(2, "List");
  Start();
  ASSERT_TRUE(Eventually([&] { return watcher_->Synced(); }));
  EXPECT_EQ(kube_.Calls("List"), 3);
  EXPECT_EQ(Errors().size(), 2u);
  EXPECT_EQ(watcher_->Relists(), 0u);
  EXPECT_EQ(store_.Keys(), std::vector<std::string>{"prod/a"});
}

TEST_F(WatcherTest, NotSyncedUntilTheFirstListSucceeds) {
  kube_.SetDown(true);
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.Calls("List") >= 3; }));
  EXPECT_FALSE(watcher_->Synced());
  kube_.SetDown(false);
  ASSERT_TRUE(Eventually([&] { return watcher_->Synced(); }));
}

TEST_F(WatcherTest, StopIsPromptWhileWatching) {
  Start();
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  StopWatcher();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(WatcherTest, StopIsPromptWhileBackingOff) {
  WatcherOptions options = Options();
  options.backoff_initial = milliseconds(60000);
  options.backoff_max = milliseconds(60000);
  kube_.SetDown(true);
  Start(options);
  ASSERT_TRUE(Eventually([&] { return Errors().size() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  StopWatcher();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(WatcherTest, RunReturnsAtOnceAfterStop) {
  Watcher watcher(kube_, store_, Options(), nullptr);
  watcher.Stop();
  watcher.Run();
  EXPECT_EQ(kube_.Calls(), 0);
}

// A fake server whose lists take a while, counting how many are in flight.
class SlowListKubeClient : public FakeKubeClient {
 public:
  KubeResult<ListResult> List(const Resource& resource, const ListOptions& options) override {
    const int now = ++in_flight_;
    int seen = most_.load();
    while (now > seen && !most_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(milliseconds(50));
    KubeResult<ListResult> result = FakeKubeClient::List(resource, options);
    --in_flight_;
    return result;
  }
  int MostInFlight() const { return most_.load(); }

 private:
  std::atomic<int> in_flight_{0};
  std::atomic<int> most_{0};
};

// Watchers list one at a time (a restart's five lists at once left the heap
// fragmented), and each still syncs.
TEST(WatcherLists, RunOneAtATimeInAProcess) {
  SlowListKubeClient kube;
  kube.Seed(kDeployments, Deployment("a", 1));
  kube.Seed(kServices, Service("s"));
  std::vector<std::unique_ptr<Store>> stores;
  std::vector<std::unique_ptr<Watcher>> watchers;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    WatcherOptions options;
    options.resource = i % 2 ? kServices : kDeployments;
    stores.push_back(std::make_unique<Store>());
    watchers.push_back(std::make_unique<Watcher>(kube, *stores.back(), options, nullptr));
  }
  for (auto& w : watchers) threads.emplace_back([&w] { w->Run(); });
  EXPECT_TRUE(Eventually([&] {
    for (auto& w : watchers) {
      if (!w->Synced()) return false;
    }
    return true;
  }));
  for (auto& w : watchers) w->Stop();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(kube.MostInFlight(), 1);
  EXPECT_EQ(stores[0]->Keys(), (std::vector<std::string>{"prod/a"}));
  EXPECT_EQ(stores[1]->Keys(), (std::vector<std::string>{"prod/s"}));
}

TEST_F(WatcherTest, WatchesOnlyTheSelectedNamespaceAndLabels) {
  json labelled = Deployment("a", 1);
  labelled["metadata"]["labels"] = json{{"app", "pricing"}};
  kube_.Seed(kDeployments, labelled);
  kube_.Seed(kDeployments, Deployment("b", 1));
  json other = labelled;
  other["metadata"]["namespace"] = "dev";
  kube_.Seed(kDeployments, other);
  WatcherOptions options = Options();
  options.namespace_name = "prod";
  options.label_selector = "app=pricing";
  Start(options);
  ASSERT_TRUE(Eventually([&] { return kube_.OpenWatches() == 1; }));
  EXPECT_EQ(store_.Keys(), std::vector<std::string>{"prod/a"});
  EXPECT_EQ(kube_.WatchCalls()[0].options.namespace_name, "prod");
  EXPECT_EQ(kube_.WatchCalls()[0].options.label_selector, "app=pricing");
}

}  // namespace
}  // namespace pricing::op
