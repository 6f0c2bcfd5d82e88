#include "runtime/controller.h"

#include <gtest/gtest.h>

#include <condition_variable>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "fakes/op/fake_clock.h"
#include "fakes/op/fake_kube_client.h"
#include "op/yaml.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::kDeskEngineYaml;
using testing::YamlJson;


// Waits up to 10 s of real time for `done`.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST(OwnerKeyOfTest, NamesTheControllingPricingEngine) {
  json child = {{"metadata",
                 {{"name", "desk-api"},
                  {"namespace", "prod"},
                  {"ownerReferences",
                   {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "x"},
                     {"controller", false}},
                    {{"apiVersion", "pricing.borrowrate.io/v1alpha1"},
                     {"kind", "PricingEngine"},
                     {"name", "desk"},
                     {"uid", "u1"},
                     {"controller", true}}}}}}};
  EXPECT_EQ(OwnerKeyOf(child), "prod/desk");
  child["metadata"]["ownerReferences"][1]["controller"] = false;
  EXPECT_EQ(OwnerKeyOf(child), "");
  child["metadata"]["ownerReferences"][1]["controller"] = true;
  child["metadata"]["ownerReferences"][1]["apiVersion"] = "example.com/v1";
  EXPECT_EQ(OwnerKeyOf(child), "");
  EXPECT_EQ(OwnerKeyOf(json::object()), "");
  EXPECT_EQ(OwnerKeyOf(json("text")), "");
}

// A volatility source whose reads wait until released: a reconcile stuck
// on a call that never returns.
class BlockingVolatility : public VolatilityReader {
 public:
  VolatilityObservation Read(const PricingEngine&, TimePoint) override {
    std::unique_lock lock(mu_);
    reading_ = true;
    cv_.wait(lock, [&] { return released_; });
    return VolatilityObservation{20.0, "url", std::nullopt, true, ""};
  }
  bool Reading() {
    std::lock_guard lock(mu_);
    return reading_;
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  ~BlockingVolatility() override { Release(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool reading_ = false;
  bool released_ = false;
};

// The desk engine with a url volatility source.
const std::string kVolatileDeskYaml = std::string(kDeskEngineYaml) + R"(
  volatility:
    source: {url: {url: "https://vix.example.com/v"}}
    regimes:
    - {name: High, enterAbove: 30, exitBelow: 27, minReplicas: {calculation: 4}}
)";

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest()
      : clock_(At("2026-11-30T15:00:00Z")),
        client_(&clock_),
        events_(client_, clock_, "test-operator") {}

  ~ControllerTest() override {
    if (controller_) controller_->Stop();
  }

  void Start(int workers = 2) {
    ControllerOptions options;
    options.workers = workers;
    options.backoff.base = std::chrono::milliseconds(1);
    options.backoff.max = std::chrono::milliseconds(50);
    ControllerHooks hooks;
    hooks.reconciled = [this](const std::string&, std::string_view result, double,
                              const KubeError*) {
      std::lock_guard lock(mu_);
      ++(result == "error" ? errors_ : reconciles_);
    };
    controller_ = std::make_unique<Controller>(client_, clock_, events_, nullptr, options, hooks);
    controller_->Start();
  }

  bool ChildrenExist() {
    for (const Resource* r :
         {&kDeployments, &kServices, &kHorizontalPodAutoscalers, &kPodDisruptionBudgets}) {
      for (const char* name : {"desk-api", "desk-calculation"}) {
        if (!client_.Object(*r, "prod", name)) return false;
      }
    }
    return true;
  }

  bool StatusObserved() {
    std::optional<json> pe = client_.Object(kPricingEngines, "prod", "desk");
    return pe && pe->contains("status") &&
           (*pe)["status"].value("observedGeneration", int64_t{-1}) ==
               (*pe)["metadata"].value("generation", int64_t{0});
  }

  int Reconciles() {
    std::lock_guard lock(mu_);
    return reconciles_;
  }

  fakes::FakeClock clock_;
  fakes::FakeKubeClient client_;
  EventRecorder events_;
  std::unique_ptr<Controller> controller_;
  std::mutex mu_;
  int reconciles_ = 0;
  int errors_ = 0;
};

TEST_F(ControllerTest, CreatesTheChildrenOfAnExistingEngineAfterTheCachesSync) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Start();
  EXPECT_TRUE(Eventually([&] { return controller_->Synced(); }));
  EXPECT_TRUE(Eventually([&] { return ChildrenExist(); }));
  EXPECT_TRUE(Eventually([&] { return StatusObserved(); }));
}

TEST_F(ControllerTest, ReachesASteadyStateThatWritesNothing) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Start();
  ASSERT_TRUE(Eventually([&] { return ChildrenExist() && StatusObserved(); }));
  // Let the echoes of our own writes come back through the watches.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<fakes::KubeWrite> seen = client_.Writes();
  const size_t writes = seen.size();
  std::string listing;
  for (const fakes::KubeWrite& w : seen) {
    listing += w.method + " " + w.resource + "/" + w.name +
               (w.subresource.empty() ? "" : "/" + w.subresource) + "\n";
  }
  // 8 children and one status write; nothing was written twice.
  EXPECT_EQ(writes, 9u) << listing;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(client_.Writes().size(), writes);
}

TEST_F(ControllerTest, NamesItsWatcherAndWorkerThreads) {
  Start(/*workers=*/3);
  // Each thread names itself as it starts.
  std::multiset<std::string> names;
  auto named = [&] {
    names.clear();
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      names.insert(name);
    }
    for (const char* name :
         {"worker-0", "worker-1", "worker-2", "watch-pricingen", "watch-deploymen"}) {
      if (names.count(name) == 0) return false;
    }
    return true;
  };
  ASSERT_TRUE(Eventually(named));
  for (const char* worker : {"worker-0", "worker-1", "worker-2"}) {
    EXPECT_EQ(names.count(worker), 1u) << worker;
  }
  EXPECT_EQ(names.count("worker-3"), 0u);
  EXPECT_EQ(names.count("watch-pricingen"), 1u);  // "watch-pricingengines", cut to 15 bytes
  EXPECT_EQ(names.count("watch-deploymen"), 1u);
}

TEST_F(ControllerTest, AnEngineCreatedLaterIsReconciled) {
  Start();
  ASSERT_TRUE(Eventually([&] { return controller_->Synced(); }));
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  EXPECT_TRUE(Eventually([&] { return ChildrenExist() && StatusObserved(); }));
}

TEST_F(ControllerTest, ADeletedChildIsRecreatedThroughItsOwner) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Start();
  ASSERT_TRUE(Eventually([&] { return ChildrenExist() && StatusObserved(); }));
  ASSERT_TRUE(client_.Delete(kServices, "prod", "desk-calculation").has_value());
  EXPECT_TRUE(Eventually([&] { return client_.Object(kServices, "prod", "desk-calculation").has_value(); }));
}

TEST_F(ControllerTest, AHandEditedChildIsPutBack) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Start();
  ASSERT_TRUE(Eventually([&] { return ChildrenExist() && StatusObserved(); }));
  json hpa = *client_.Object(kHorizontalPodAutoscalers, "prod", "desk-api");
  hpa["spec"]["minReplicas"] = 1;
  client_.Seed(kHorizontalPodAutoscalers, hpa);
  EXPECT_TRUE(Eventually([&] {
    return client_.Object(kHorizontalPodAutoscalers, "prod", "desk-api")->at("spec").value(
               "minReplicas", 0) == 2;
  }));
}

TEST_F(ControllerTest, RecoversFromAnApiServerOutageAndExpiredWatches) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Start();
  ASSERT_TRUE(Eventually([&] { return ChildrenExist() && StatusObserved(); }));
  client_.SetDown(true);
  client_.BreakWatches();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  client_.Compact();
  client_.SetDown(false);
  json pe = *client_.Object(kPricingEngines, "prod", "desk");
  pe["spec"]["components"][0]["replicas"]["max"] = 9;
  pe["metadata"]["generation"] = pe["metadata"].value("generation", int64_t{1}) + 1;
  client_.Seed(kPricingEngines, pe);
  EXPECT_TRUE(Eventually([&] {
    return client_.Object(kHorizontalPodAutoscalers, "prod", "desk-api")->at("spec").value(
               "maxReplicas", 0) == 9;
  }));
}

TEST_F(ControllerTest, FailedWritesAreRetriedWithBackoff) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  client_.FailNext(3, "Apply");
  Start();
  EXPECT_TRUE(Eventually([&] { return ChildrenExist() && StatusObserved(); }));
  std::lock_guard lock(mu_);
  EXPECT_GE(errors_, 1);
}

TEST_F(ControllerTest, AChildsStatusOnlyUpdateWakesNoReconcileUnlessItMatters) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Start();
  ASSERT_TRUE(Eventually([&] { return ChildrenExist() && StatusObserved(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // our writes' echoes
  const int before = Reconciles();
  // The HPA controller rewrites each HPA's status every 15 s with new
  // readings: 20 such writes.
  for (int i = 0; i < 20; ++i) {
    json hpa = *client_.Object(kHorizontalPodAutoscalers, "prod", "desk-calculation");
    hpa["status"]["currentMetrics"] = json::parse(
        R"([{"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":)" +
        std::to_string(40 + i) + "}}}]");
    hpa["status"]["lastScaleTime"] = "2026-11-30T15:00:" + std::to_string(10 + i) + "Z";
    client_.Seed(kHorizontalPodAutoscalers, hpa);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Reconciles(), before) << "status-only updates woke reconciles";
  // A condition the status reads (ScalingActive) does wake one.
  json hpa = *client_.Object(kHorizontalPodAutoscalers, "prod", "desk-calculation");
  hpa["status"]["conditions"] = json::parse(
      R"([{"type":"ScalingActive","status":"False","reason":"FailedGetResourceMetric"}])");
  client_.Seed(kHorizontalPodAutoscalers, hpa);
  EXPECT_TRUE(Eventually([&] { return Reconciles() > before; }));
}

TEST_F(ControllerTest, NothingIsKeptAboutAnEngineOnceItAndItsChildrenAreGone) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Start();
  ASSERT_TRUE(Eventually([&] { return ChildrenExist() && StatusObserved(); }));
  ASSERT_TRUE(client_.Delete(kPricingEngines, "prod", "desk").has_value());
  // The garbage collector: it deletes the children, and again any that a
  // reconcile already running when the engine went re-applied.
  const auto collect_garbage = [&] {
    for (const Resource* r :
         {&kDeployments, &kServices, &kHorizontalPodAutoscalers, &kPodDisruptionBudgets}) {
      for (const char* name : {"desk-api", "desk-calculation"}) {
        if (client_.Object(*r, "prod", name)) (void)client_.Delete(*r, "prod", name);
      }
    }
  };
  EXPECT_TRUE(Eventually([&] {
    collect_garbage();
    return controller_->reconciler().Remembered() == 0;
  }));
}

TEST_F(ControllerTest, AWorkerStuckInAReconcileMakesTheProcessUnhealthy) {
  ControllerOptions options;
  options.workers = 1;
  options.stuck_after = std::chrono::milliseconds(200);
  BlockingVolatility volatility;
  client_.Seed(kPricingEngines, YamlJson(kVolatileDeskYaml.c_str()));
  controller_ = std::make_unique<Controller>(client_, clock_, events_, &volatility, options);
  EXPECT_EQ(controller_->Unhealthy(), "") << "not running yet";
  controller_->Start();
  ASSERT_TRUE(Eventually([&] { return volatility.Reading(); }));
  EXPECT_TRUE(Eventually([&] {
    return controller_->Unhealthy().starts_with("worker-0 has been in one reconcile for");
  }));
  volatility.Release();
  EXPECT_TRUE(Eventually([&] { return controller_->Unhealthy().empty(); }));
  controller_->Stop();  // before `volatility` goes
}

TEST_F(ControllerTest, StopReturnsPromptlyAndIsIdempotent) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Start();
  ASSERT_TRUE(Eventually([&] { return ChildrenExist(); }));
  const auto started = std::chrono::steady_clock::now();
  controller_->Stop();
  controller_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_FALSE(controller_->Running());
}

}  // namespace
}  // namespace pricing::op
