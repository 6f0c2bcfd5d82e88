#include "runtime/leader_elector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fakes/op/fake_clock.h"
#include "fakes/op/fake_kube_client.h"

namespace pricing::op {
namespace {

using namespace std::chrono_literals;
using fakes::FakeClock;
using fakes::FakeKubeClient;
using nlohmann::json;

constexpr char kNamespace[] = "pricing-system";
constexpr char kLeaseName[] = "pricing-operator";

LeaderElectionConfig Config(std::string identity) {
  LeaderElectionConfig config;
  config.namespace_name = kNamespace;
  config.identity = std::move(identity);
  return config;
}

// A config for Run(): fast retries (waited on the steady clock), a short
// deadline (measured on the fake clock's monotonic time).
LeaderElectionConfig FastConfig(std::string identity) {
  LeaderElectionConfig config = Config(std::move(identity));
  config.lease_duration = 1s;
  config.renew_deadline = 100ms;
  config.retry_period = 10ms;
  return config;
}

// A KubeClient that forwards to a FakeKubeClient and runs a hook before each
// Update reaches it, so a test can slip another write (or a step of the
// clock) in between an elector's Get and its Update.
class InterposingClient : public KubeClient {
 public:
  explicit InterposingClient(KubeClient& inner) : inner_(inner) {}

  std::function<void()> before_update;
  std::function<void()> after_get;

  KubeResult<json> Get(const Resource& r, const std::string& ns, const std::string& name) override {
    return inner_.Get(r, ns, name);
  }
  KubeResult<ListResult> List(const Resource& r, const ListOptions& o) override {
    return inner_.List(r, o);
  }
  KubeResult<std::unique_ptr<WatchStream>> Watch(const Resource& r,
                                                 const WatchOptions& o) override {
    return inner_.Watch(r, o);
  }
  KubeResult<json> Create(const Resource& r, const json& object) override {
    return inner_.Create(r, object);
  }
  KubeResult<json> Update(const Resource& r, const json& object) override {
    if (before_update) std::exchange(before_update, nullptr)();
    return inner_.Update(r, object);
  }
  KubeResult<json> Apply(const Resource& r, const json& object, std::string_view manager,
                         std::string_view subresource) override {
    return inner_.Apply(r, object, manager, subresource);
  }
  KubeResult<void> Delete(const Resource& r, const std::string& ns, const std::string& name,
                          const DeleteOptions& o) override {
    return inner_.Delete(r, ns, name, o);
  }
  KubeResult<json> GetWithin(const Resource& r, const std::string& ns, const std::string& name,
                             std::chrono::nanoseconds timeout) override {
    KubeResult<json> got = inner_.GetWithin(r, ns, name, timeout);
    if (after_get) std::exchange(after_get, nullptr)();
    return got;
  }
  KubeResult<json> CreateWithin(const Resource& r, const json& object,
                                std::chrono::nanoseconds timeout) override {
    return inner_.CreateWithin(r, object, timeout);
  }
  KubeResult<json> UpdateWithin(const Resource& r, const json& object,
                                std::chrono::nanoseconds timeout) override {
    if (before_update) std::exchange(before_update, nullptr)();
    return inner_.UpdateWithin(r, object, timeout);
  }

 private:
  KubeClient& inner_;
};

// Records the callbacks of one elector.
struct Events {
  std::mutex mu;
  int started = 0;
  int stopped = 0;
  std::vector<bool> status;
  std::vector<LeaseFailure> failures;

  std::function<void()> Started() {
    return [this] {
      std::lock_guard lock(mu);
      ++started;
    };
  }
  std::function<void()> Stopped() {
    return [this] {
      std::lock_guard lock(mu);
      ++stopped;
    };
  }
  std::function<void(bool)> Status() {
    return [this](bool leading) {
      std::lock_guard lock(mu);
      status.push_back(leading);
    };
  }
  std::function<void(const LeaseFailure&)> Failure() {
    return [this](const LeaseFailure& failure) {
      std::lock_guard lock(mu);
      failures.push_back(failure);
    };
  }
  size_t Failures() {
    std::lock_guard lock(mu);
    return failures.size();
  }
  int StoppedCount() {
    std::lock_guard lock(mu);
    return stopped;
  }
};

// Runs an elector's Run() on a thread; the destructor stops and joins it.
class Running {
 public:
  explicit Running(LeaderElector& elector)
      : elector_(elector), thread_([this] {
          elector_.Run();
          returned_.store(true);
        }) {}
  ~Running() {
    elector_.Stop();
    thread_.join();
  }

  bool Returned() const { return returned_.load(); }

 private:
  LeaderElector& elector_;
  std::atomic<bool> returned_{false};
  std::thread thread_;
};

// Waits up to `limit` for `condition`.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class LeaderElectorTest : public ::testing::Test {
 protected:
  json Lease() const { return kube_.Object(kLeases, kNamespace, kLeaseName).value_or(json()); }
  json Spec() const { return Lease().value("spec", json::object()); }

  std::unique_ptr<LeaderElector> Elector(std::string identity, KubeClient* client = nullptr) {
    return std::make_unique<LeaderElector>(client ? *client : kube_, clock_,
                                           Config(std::move(identity)), nullptr, nullptr);
  }

  FakeClock clock_;
  FakeKubeClient kube_{&clock_};
};

TEST_F(LeaderElectorTest, AcquiresAFreeLeaseByCreatingIt) {
  auto a = Elector("a");
  EXPECT_FALSE(a->IsLeader());
  EXPECT_TRUE(a->TryAcquireOrRenew());
  EXPECT_TRUE(a->IsLeader());
  EXPECT_EQ(kube_.Calls("Create"), 1);
  const json lease = Lease();
  EXPECT_EQ(lease["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ(lease["kind"], "Lease");
  const json spec = Spec();
  EXPECT_EQ(spec["holderIdentity"], "a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  EXPECT_EQ(spec["acquireTime"], "2026-11-27T14:30:00.000000Z");
  EXPECT_EQ(spec["renewTime"], "2026-11-27T14:30:00.000000Z");
}

TEST_F(LeaderElectorTest, RenewalMovesRenewTimeAndKeepsAcquireTime) {
  auto a = Elector("a");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  clock_.Advance(2s + 250us);
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_EQ(kube_.Calls("Update"), 1);
  EXPECT_EQ(Spec()["acquireTime"], "2026-11-27T14:30:00.000000Z");
  EXPECT_EQ(Spec()["renewTime"], "2026-11-27T14:30:02.000250Z");
  EXPECT_EQ(Spec()["leaseTransitions"], 0);
}

TEST_F(LeaderElectorTest, OfTwoElectorsOnlyOneLeads) {
  auto a = Elector("a");
  auto b = Elector("b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  for (int i = 0; i < 30; ++i) {
    EXPECT_FALSE(b->TryAcquireOrRenew()) << i;
    EXPECT_FALSE(b->IsLeader());
    clock_.Advance(2s);
    EXPECT_TRUE(a->TryAcquireOrRenew()) << i;
  }
  EXPECT_TRUE(a->IsLeader());
  EXPECT_EQ(Spec()["holderIdentity"], "a");
}

TEST_F(LeaderElectorTest, FollowerTakesOverOnlyAfterALeaseDurationWithoutRenewal) {
  auto a = Elector("a");
  auto b = Elector("b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.Advance(10s);
  ASSERT_TRUE(a->TryAcquireOrRenew());
  clock_.Advance(4s);
  EXPECT_FALSE(b->TryAcquireOrRenew());  // sees the renewal now: 15 s from here
  clock_.Advance(14s);
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.Advance(1s);
  EXPECT_TRUE(b->TryAcquireOrRenew());
  EXPECT_TRUE(b->IsLeader());
  EXPECT_EQ(Spec()["holderIdentity"], "b");
  EXPECT_EQ(Spec()["acquireTime"], FormatMicroTime(clock_.Now()));
  EXPECT_FALSE(a->TryAcquireOrRenew());
  EXPECT_FALSE(a->IsLeader());
}

TEST_F(LeaderElectorTest, ExpiryIsMeasuredFromOwnObservationNotFromRenewTime) {
  clock_.Set(*ParseRfc3339("2026-11-28T18:00:00Z"));
  kube_.Seed(kLeases, {{"apiVersion", "coordination.k8s.io/v1"},
                       {"kind", "Lease"},
                       {"metadata", {{"name", kLeaseName}, {"namespace", kNamespace}}},
                       {"spec",
                        {{"holderIdentity", "gone"},
                         {"leaseDurationSeconds", 15},
                         {"renewTime", "2026-11-28T17:00:00.000000Z"},
                         {"acquireTime", "2026-11-28T17:00:00.000000Z"},
                         {"leaseTransitions", 4}}}});
  auto b = Elector("b");
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.Advance(14s);
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.Advance(1s);
  EXPECT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(Spec()["leaseTransitions"], 5);
}

TEST_F(LeaderElectorTest, AFreeLeaseIsTakenAtOnce) {
  kube_.Seed(kLeases, {{"metadata", {{"name", kLeaseName}, {"namespace", kNamespace}}},
                       {"spec", {{"holderIdentity", ""}, {"leaseDurationSeconds", 1}}}});
  auto b = Elector("b");
  EXPECT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(Spec()["holderIdentity"], "b");
  EXPECT_EQ(Spec()["leaseDurationSeconds"], 15);
}

TEST_F(LeaderElectorTest, InjectedConflictOnUpdateMeansNotLeader) {
  auto a = Elector("a");
  auto b = Elector("b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.Advance(15s);
  kube_.FailNext(1, "Update", KubeError{KubeError::Kind::kConflict, 409, "Conflict", "stale"});
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_FALSE(b->IsLeader());
  EXPECT_EQ(Spec()["holderIdentity"], "a");
  EXPECT_TRUE(b->TryAcquireOrRenew());
}

TEST_F(LeaderElectorTest, RacingForAnExpiredLeaseTheLaterWriterGetsAConflict) {
  InterposingClient interposed(kube_);
  auto a = Elector("a");
  auto b = Elector("b", &interposed);
  auto c = Elector("c");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_FALSE(c->TryAcquireOrRenew());
  clock_.Advance(15s);
  interposed.before_update = [&] { EXPECT_TRUE(c->TryAcquireOrRenew()); };
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_FALSE(b->IsLeader());
  EXPECT_TRUE(c->IsLeader());
  EXPECT_EQ(Spec()["holderIdentity"], "c");
  EXPECT_EQ(Spec()["leaseTransitions"], 1);
}

TEST_F(LeaderElectorTest, LeaseTransitionsCountHolderChanges) {
  auto a = Elector("a");
  auto b = Elector("b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_FALSE(b->TryAcquireOrRenew());
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(2s);
    ASSERT_TRUE(a->TryAcquireOrRenew());
  }
  EXPECT_EQ(Spec()["leaseTransitions"], 0);
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.Advance(15s);
  ASSERT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(Spec()["leaseTransitions"], 1);
  clock_.Advance(2s);
  ASSERT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(Spec()["leaseTransitions"], 1);
  EXPECT_FALSE(a->TryAcquireOrRenew());
  clock_.Advance(15s);
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_EQ(Spec()["leaseTransitions"], 2);
  EXPECT_EQ(Spec()["holderIdentity"], "a");
}

TEST_F(LeaderElectorTest, ApiErrorsFailTheAttemptWithoutChangingTheLease) {
  auto a = Elector("a");
  kube_.FailNext(1, "Get");
  EXPECT_FALSE(a->TryAcquireOrRenew());
  kube_.FailNext(1, "Create");
  EXPECT_FALSE(a->TryAcquireOrRenew());
  EXPECT_FALSE(a->IsLeader());
  ASSERT_TRUE(a->TryAcquireOrRenew());
  kube_.SetDown(true);
  clock_.Advance(2s);
  EXPECT_FALSE(a->TryAcquireOrRenew());
  EXPECT_TRUE(a->IsLeader());
  kube_.SetDown(false);
  EXPECT_TRUE(a->TryAcquireOrRenew());
}

TEST_F(LeaderElectorTest, ExpiryIsMeasuredOnMonotonicTimeWhateverTheWallClockDoes) {
  auto a = Elector("a");
  auto b = Elector("b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.StepWall(1h);  // a step forward does not expire the Lease early
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.Advance(14s);
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock_.StepWall(-2h);  // nor does a step back keep it valid longer
  clock_.Advance(1s);
  EXPECT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(Spec()["holderIdentity"], "b");
  EXPECT_EQ(Spec()["acquireTime"], FormatMicroTime(clock_.Now()));  // the wall clock names instants
}

TEST_F(LeaderElectorTest, EachRequestGetsTheTimeLeftBeforeTheRenewDeadline) {
  InterposingClient interposed(kube_);
  auto a = Elector("a", &interposed);  // renew_deadline 10 s
  ASSERT_TRUE(a->TryAcquireOrRenew());
  using Timeouts = std::vector<std::chrono::nanoseconds>;
  EXPECT_EQ(kube_.CallTimeouts("Get"), Timeouts{10s});
  EXPECT_EQ(kube_.CallTimeouts("Create"), Timeouts{10s});
  interposed.after_get = [&] { clock_.Advance(3s); };
  ASSERT_TRUE(a->TryAcquireOrRenew());
  EXPECT_EQ(kube_.CallTimeouts("Get"), (Timeouts{10s, 10s}));
  EXPECT_EQ(kube_.CallTimeouts("Update"), Timeouts{7s});
}

TEST_F(LeaderElectorTest, NoRequestIsMadeOnceTheRenewDeadlineHasPassed) {
  InterposingClient interposed(kube_);
  auto a = Elector("a", &interposed);
  ASSERT_TRUE(a->TryAcquireOrRenew());
  const json before = Spec();
  interposed.after_get = [&] { clock_.Advance(10s); };
  EXPECT_FALSE(a->TryAcquireOrRenew());
  EXPECT_EQ(kube_.Calls("Update"), 0);
  EXPECT_EQ(Spec(), before);
}

TEST_F(LeaderElectorTest, RunLeadsUntilRenewalFailsForTheRenewDeadline) {
  Events events;
  LeaderElector a(kube_, clock_, FastConfig("a"), events.Started(), events.Stopped(),
                  events.Status(), events.Failure());
  Running run(a);
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Update") >= 2; }));
  kube_.SetDown(true);
  // Failed attempts every retry period (10 ms), for longer than the renew
  // deadline (100 ms) of real time: only the fake clock's time counts.
  const int64_t gets = kube_.Calls("Get");
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Get") >= gets + 15; }));
  clock_.Advance(99ms);
  const int64_t later = kube_.Calls("Get");
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Get") >= later + 5; }));
  EXPECT_TRUE(a.IsLeader());
  EXPECT_EQ(events.StoppedCount(), 0);
  clock_.Advance(1ms);
  EXPECT_TRUE(WaitFor([&] { return run.Returned(); }));
  EXPECT_FALSE(a.IsLeader());
  std::lock_guard lock(events.mu);
  EXPECT_EQ(events.started, 1);
  EXPECT_EQ(events.stopped, 1);
  EXPECT_EQ(events.status, (std::vector<bool>{false, true, false}));
  // Every failed renewal is reported, equal ones included: at least the 20
  // Gets counted above.
  int gets_reported = 0;
  for (const LeaseFailure& f : events.failures) {
    EXPECT_TRUE(f.leading);
    EXPECT_EQ(f.repeated, 0);
    if (f.error.message == "injected failure in Get") ++gets_reported;
  }
  EXPECT_GE(gets_reported, 20);
  kube_.SetDown(false);
  EXPECT_EQ(Spec()["holderIdentity"], "a");
}

TEST_F(LeaderElectorTest, WallClockStepsNeitherExtendNorCutLeadership) {
  Events events;
  LeaderElector a(kube_, clock_, FastConfig("a"), events.Started(), events.Stopped());
  Running run(a);
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Update") >= 2; }));
  kube_.SetDown(true);
  clock_.StepWall(1h);
  const int64_t gets = kube_.Calls("Get");
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Get") >= gets + 15; }));
  EXPECT_TRUE(a.IsLeader());
  clock_.StepWall(-2h);
  clock_.Advance(99ms);
  const int64_t later = kube_.Calls("Get");
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Get") >= later + 5; }));
  EXPECT_TRUE(a.IsLeader());
  EXPECT_EQ(events.StoppedCount(), 0);
  clock_.Advance(1ms);
  EXPECT_TRUE(WaitFor([&] { return run.Returned(); }));
  EXPECT_EQ(events.StoppedCount(), 1);
}

TEST_F(LeaderElectorTest, ARenewalHeldByASlowServerEndsAtTheRenewDeadline) {
  Events events;
  LeaderElector a(kube_, clock_, FastConfig("a"), events.Started(), events.Stopped(),
                  events.Status(), events.Failure());
  Running run(a);
  // Declared after `run`, so a call still held when the test ends is let go
  // before Run is joined.
  struct LetGo {
    FakeKubeClient& kube;
    ~LetGo() { kube.SetDelay("Get", 0ns); }
  } let_go{kube_};
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Update") >= 2; }));
  kube_.SetDelay("Get", 1h);
  ASSERT_TRUE(WaitFor([&] { return kube_.HeldCalls() == 1; }));
  // The fake clock has not moved since the last renewal began: the whole
  // renew deadline is left, and no more.
  EXPECT_EQ(kube_.CallTimeouts("Get").back(), 100ms);
  clock_.Advance(60ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(kube_.HeldCalls(), 1);
  EXPECT_TRUE(a.IsLeader());
  clock_.Advance(40ms);
  EXPECT_TRUE(WaitFor([&] { return run.Returned(); }));
  EXPECT_EQ(kube_.HeldCalls(), 0);
  std::lock_guard lock(events.mu);
  EXPECT_EQ(events.stopped, 1);
  ASSERT_FALSE(events.failures.empty());
  EXPECT_TRUE(events.failures.back().leading);
  EXPECT_NE(events.failures.back().error.message.find("no answer within"), std::string::npos)
      << events.failures.back().error.message;
}

TEST_F(LeaderElectorTest, EveryDistinctAcquireFailureIsReported) {
  const KubeError a{KubeError::Kind::kTransient, 503, "ServiceUnavailable", "a"};
  const KubeError b{KubeError::Kind::kForbidden, 403, "Forbidden", "b"};
  const KubeError c{KubeError::Kind::kTransient, 0, "", "c"};
  kube_.FailNext(1, "Get", a);
  kube_.FailNext(1, "Get", b);
  kube_.FailNext(3, "Get", a);
  kube_.FailNext(1, "Get", c);
  Events events;
  LeaderElector e(kube_, clock_, FastConfig("e"), events.Started(), events.Stopped(),
                  events.Status(), events.Failure());
  Running run(e);
  ASSERT_TRUE(WaitFor([&] { return e.IsLeader(); }));
  std::lock_guard lock(events.mu);
  ASSERT_EQ(events.failures.size(), 4u);
  const std::vector<std::string> messages = {"a", "b", "a", "c"};
  const std::vector<int64_t> repeated = {0, 0, 0, 2};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_FALSE(events.failures[i].leading) << i;
    EXPECT_EQ(events.failures[i].error.message, messages[i]) << i;
    EXPECT_EQ(events.failures[i].repeated, repeated[i]) << i;
  }
  EXPECT_EQ(events.failures[1].error.http_status, 403);
}

TEST_F(LeaderElectorTest, AnAcquireFailureThatPersistsIsReportedAgainAfterAMinute) {
  kube_.SetDown(true);
  Events events;
  LeaderElector e(kube_, clock_, FastConfig("e"), events.Started(), events.Stopped(),
                  events.Status(), events.Failure());
  Running run(e);
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Get") >= 5; }));
  EXPECT_EQ(events.Failures(), 1u);
  clock_.Advance(1min);
  ASSERT_TRUE(WaitFor([&] { return events.Failures() == 2; }));
  std::lock_guard lock(events.mu);
  EXPECT_EQ(events.failures[1].error.message, "injected failure in Get");
  EXPECT_GE(events.failures[1].repeated, 3);
}

TEST_F(LeaderElectorTest, RunStopsLeadingAtOnceWhenAnotherHoldsTheLease) {
  Events events;
  LeaderElector a(kube_, clock_, FastConfig("a"), events.Started(), events.Stopped(),
                  events.Status(), events.Failure());
  std::thread run([&] { a.Run(); });
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  json lease = Lease();
  lease["spec"]["holderIdentity"] = "intruder";
  kube_.Seed(kLeases, lease);
  run.join();
  std::lock_guard lock(events.mu);
  EXPECT_EQ(events.stopped, 1);
  EXPECT_EQ(Spec()["holderIdentity"], "intruder");
  ASSERT_EQ(events.failures.size(), 1u);
  EXPECT_TRUE(events.failures[0].leading);
  EXPECT_EQ(events.failures[0].error.message, "the Lease is held by \"intruder\"");
}

TEST_F(LeaderElectorTest, StopReleasesTheLeasePromptlySoAnotherAcquiresAtOnce) {
  Events events;
  LeaderElector a(kube_, clock_, Config("a"), events.Started(), events.Stopped(), events.Status());
  std::thread run([&] { a.Run(); });
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(events.mu);
    return events.started == 1;
  }));
  const auto stop = std::chrono::steady_clock::now();
  a.Stop();
  run.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 1s);  // retry_period is 2 s
  EXPECT_FALSE(a.IsLeader());
  EXPECT_EQ(Spec()["holderIdentity"], "");
  EXPECT_EQ(Spec()["leaseDurationSeconds"], 1);
  {
    std::lock_guard lock(events.mu);
    EXPECT_EQ(events.stopped, 0);
    EXPECT_EQ(events.status, (std::vector<bool>{false, true, false}));
  }
  auto b = Elector("b");
  EXPECT_TRUE(b->TryAcquireOrRenew());
  EXPECT_EQ(Spec()["holderIdentity"], "b");
  EXPECT_EQ(Spec()["leaseTransitions"], 1);
}

TEST_F(LeaderElectorTest, StopWhileWaitingToAcquireReturnsPromptlyWithoutLeading) {
  auto holder = Elector("holder");
  ASSERT_TRUE(holder->TryAcquireOrRenew());
  Events events;
  LeaderElector a(kube_, clock_, Config("a"), events.Started(), events.Stopped(), events.Status());
  std::thread run([&] { a.Run(); });
  ASSERT_TRUE(WaitFor([&] { return kube_.Calls("Get") >= 2; }));
  const auto stop = std::chrono::steady_clock::now();
  a.Stop();
  run.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 1s);
  std::lock_guard lock(events.mu);
  EXPECT_EQ(events.started, 0);
  EXPECT_EQ(events.stopped, 0);
  EXPECT_EQ(events.status, std::vector<bool>{false});
  EXPECT_EQ(Spec()["holderIdentity"], "holder");
}

TEST_F(LeaderElectorTest, StopBeforeRunMakesRunReturnAtOnce) {
  Events events;
  LeaderElector a(kube_, clock_, Config("a"), events.Started(), events.Stopped());
  a.Stop();
  a.Run();
  EXPECT_EQ(kube_.Calls(), 0);
  EXPECT_EQ(events.started, 0);
}

TEST(LeaderElectionConfig, ValidatesClientGoRules) {
  LeaderElectionConfig config = Config("a");
  EXPECT_TRUE(ValidateLeaderElectionConfig(config).has_value());
  config.renew_deadline = 15s;
  EXPECT_FALSE(ValidateLeaderElectionConfig(config).has_value());
  config = Config("a");
  config.retry_period = 9s;
  EXPECT_FALSE(ValidateLeaderElectionConfig(config).has_value());
  config = Config("a");
  config.namespace_name.clear();
  EXPECT_FALSE(ValidateLeaderElectionConfig(config).has_value());
  config = Config("a");
  config.retry_period = 0s;
  EXPECT_FALSE(ValidateLeaderElectionConfig(config).has_value());
}

TEST(LeaderElectionConfig, DefaultIdentityIsHostnameAndAUniqueSuffix) {
  const std::string one = DefaultLeaderIdentity();
  const std::string two = DefaultLeaderIdentity();
  EXPECT_NE(one, two);
  const size_t underscore = one.rfind('_');
  ASSERT_NE(underscore, std::string::npos);
  EXPECT_EQ(one.size() - underscore - 1, 36u);
  FakeClock clock;
  FakeKubeClient kube(&clock);
  LeaderElector elector(kube, clock, Config(""), nullptr, nullptr);
  EXPECT_NE(elector.identity().find('_'), std::string::npos);
}

TEST(LeaderElectionConfig, MicroTimeHasSixFractionDigits) {
  EXPECT_EQ(FormatMicroTime(*ParseRfc3339("2026-11-28T18:00:00Z")), "2026-11-28T18:00:00.000000Z");
  EXPECT_EQ(FormatMicroTime(*ParseRfc3339("2026-11-28T18:00:00.1234567Z")),
            "2026-11-28T18:00:00.123456Z");
}

}  // namespace
}  // namespace pricing::op
