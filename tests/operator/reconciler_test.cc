#include "runtime/reconciler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fakes/op/fake_clock.h"
#include "fakes/op/fake_kube_client.h"
#include "op/children.h"
#include "op/status.h"
#include "op/time_text.h"
#include "op/yaml.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::kDeskEngineYaml;
using testing::YamlJson;


// A reconciler over the fake API server, with stores the test refreshes from
// the fake (as the watchers would) before each reconcile.
class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest()
      : clock_(At("2026-11-30T15:00:00Z")),
        client_(&clock_),
        events_(client_, clock_, "test-operator"),
        reconciler_(client_, clock_,
                    ReconcilerStores{&engines_, &deployments_, &services_, &hpas_, &pdbs_}, events_,
                    nullptr,
                    ReconcilerHooks{[this](std::string_view kind) { applied_.emplace_back(kind); },
                                    [this](std::string_view kind) {
                                      transitions_.emplace_back(kind);
                                    },
                                    [this](std::string_view component, int64_t seconds) {
                                      scaled_.emplace_back(std::string(component), seconds);
                                    }}) {}

  void Sync() {
    engines_.Replace(client_.Objects(kPricingEngines));
    deployments_.Replace(client_.Objects(kDeployments));
    services_.Replace(client_.Objects(kServices));
    hpas_.Replace(client_.Objects(kHorizontalPodAutoscalers));
    pdbs_.Replace(client_.Objects(kPodDisruptionBudgets));
    reconciler_.ObservedAll();
  }

  KubeResult<ReconcileOutcome> Reconcile() {
    Sync();
    KubeResult<ReconcileOutcome> r = reconciler_.Reconcile("prod/desk");
    Sync();
    return r;
  }

  json Engine() { return *client_.Object(kPricingEngines, "prod", "desk"); }
  void ExpectRefusedForGood(const KubeError& refusal);
  json Ready() { return FindCondition(Engine()["status"], kConditionReady); }

  // Makes the fake's Deployment and HPA of `component` show a finished
  // rollout of `replicas` pods, as their controllers would.
  void RollOut(const std::string& component, int replicas) {
    json deployment = *client_.Object(kDeployments, "prod", "desk-" + component);
    deployment["status"] = json::parse(R"({"conditions": [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]})");
    deployment["status"]["observedGeneration"] = deployment["metadata"]["generation"];
    for (const char* field :
         {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas"}) {
      deployment["status"][field] = replicas;
    }
    client_.Seed(kDeployments, deployment);
    json hpa = Hpa("desk-" + component);
    hpa["status"] = json::parse(R"({"conditions": [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
        {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
        {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"}]})");
    hpa["status"]["currentReplicas"] = hpa["status"]["desiredReplicas"] = replicas;
    client_.Seed(kHorizontalPodAutoscalers, hpa);
  }

  void RollOutAll() {
    RollOut("api", 2);
    RollOut("calculation", 3);
  }

  // The desk engine applied and its children rolled out, not reconciled since.
  void ApplyDeskAndRollOut() {
    client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
    ASSERT_TRUE(Reconcile().has_value());
    RollOutAll();
  }

  // ... and reconciled again: Ready=True.
  void DeskReady() {
    ASSERT_NO_FATAL_FAILURE(ApplyDeskAndRollOut());
    ASSERT_TRUE(Reconcile().has_value());
    ASSERT_EQ(Ready()["status"], "True");
  }

  // A new image in the desk engine's spec.
  void ChangeDeskImage() {
    json cr = Engine();
    cr["spec"]["image"] = "registry.example.com/pricing-engine:1.1.0";
    client_.Seed(kPricingEngines, cr);
  }

  // Sets status.conditions[type] of the fake's child `name` of `resource`.
  void SetChildCondition(const Resource& resource, const std::string& name, const char* type,
                         const char* status, const char* reason) {
    json child = *client_.Object(resource, "prod", name);
    for (json& c : child["status"]["conditions"]) {
      if (c["type"] == type) c = {{"type", type}, {"status", status}, {"reason", reason}};
    }
    client_.Seed(resource, child);
  }
  json Hpa(const std::string& name) { return *client_.Object(kHorizontalPodAutoscalers, "prod", name); }

  std::vector<fakes::KubeWrite> WritesTo(const std::string& resource) {
    std::vector<fakes::KubeWrite> out;
    for (const fakes::KubeWrite& w : client_.Writes()) {
      if (w.resource == resource) out.push_back(w);
    }
    return out;
  }

  std::vector<json> EventsWithReason(const std::string& reason) {
    std::vector<json> out;
    for (const json& e : client_.Objects(kEvents)) {
      if (e.value("reason", "") == reason) out.push_back(e);
    }
    return out;
  }

  fakes::FakeClock clock_;
  fakes::FakeKubeClient client_;
  Store engines_;
  Store deployments_{ChildProjection(), ChildCodec()}, services_{ChildProjection(), ChildCodec()},
      hpas_{ChildProjection(), ChildCodec()}, pdbs_{ChildProjection(), ChildCodec()};
  EventRecorder events_;
  Reconciler reconciler_;
  std::vector<std::string> applied_;
  std::vector<std::string> transitions_;
  std::vector<std::pair<std::string, int64_t>> scaled_;  // time_to_scale hook calls
};

TEST_F(ReconcilerTest, CreatesEveryChildOwnedByTheEngineAndWritesStatus) {
  const json cr = client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  const KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  for (const std::string name : {"desk-api", "desk-calculation"}) {
    for (const Resource* res : {&kDeployments, &kServices, &kHorizontalPodAutoscalers,
                                &kPodDisruptionBudgets}) {
      const std::optional<json> child = client_.Object(*res, "prod", name);
      ASSERT_TRUE(child.has_value()) << res->kind << " " << name;
      const json& owner = (*child)["metadata"]["ownerReferences"][0];
      EXPECT_EQ(owner["uid"], cr["metadata"]["uid"]);
      EXPECT_EQ(owner["controller"], true);
      EXPECT_EQ((*child)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "pricing-operator");
    }
  }
  EXPECT_FALSE(client_.Object(kDeployments, "prod", "desk-api")->at("spec").contains("replicas"));
  EXPECT_EQ(Hpa("desk-calculation")["spec"]["minReplicas"], 3);
  EXPECT_EQ(Hpa("desk-calculation")["spec"]["maxReplicas"], 20);
  EXPECT_EQ(applied_.size(), 8u);
  for (const fakes::KubeWrite& w : client_.Writes()) {
    if (w.method == "Apply" && w.resource != "pricingengines") {
      EXPECT_EQ(w.subresource, "");
    }
  }
  const json status = Engine()["status"];
  EXPECT_EQ(status["observedGeneration"], 1);
  EXPECT_EQ(FindCondition(status, kConditionSpecValid)["status"], "True");
  EXPECT_EQ(FindCondition(status, kConditionReady)["status"], "False");
  EXPECT_EQ(status["components"][1]["minReplicas"], 3);
  ASSERT_TRUE(r->requeue_after.has_value());
  EXPECT_LE(*r->requeue_after, Reconciler::kResync);
}

TEST_F(ReconcilerTest, SteadyStateWritesNothing) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  client_.ClearWrites();
  ASSERT_TRUE(Reconcile().has_value());
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_TRUE(client_.Writes().empty());
}

TEST_F(ReconcilerTest, AReconcileBeforeTheCachesCatchUpDoesNotRepeatItsWrites) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Sync();
  ASSERT_TRUE(reconciler_.Reconcile("prod/desk").has_value());
  const size_t writes = client_.Writes().size();
  EXPECT_EQ(writes, 9u);  // 8 children and the status
  // The watch caches have not seen those writes yet.
  ASSERT_TRUE(reconciler_.Reconcile("prod/desk").has_value());
  EXPECT_EQ(client_.Writes().size(), writes);
  // A watch event for one child says the cache has it (or something newer):
  // still nothing to write, since the cache shows what was applied.
  Sync();
  ASSERT_TRUE(reconciler_.Reconcile("prod/desk").has_value());
  EXPECT_EQ(client_.Writes().size(), writes);
}

TEST_F(ReconcilerTest, PutsBackAChildEditedByHand) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  json hpa = Hpa("desk-api");
  hpa["spec"]["minReplicas"] = 1;
  client_.Seed(kHorizontalPodAutoscalers, hpa);
  client_.ClearWrites();
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Hpa("desk-api")["spec"]["minReplicas"], 2);
  ASSERT_EQ(WritesTo("horizontalpodautoscalers").size(), 1u);
  EXPECT_TRUE(WritesTo("deployments").empty());
}

TEST_F(ReconcilerTest, RecreatesADeletedChild) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  ASSERT_TRUE(client_.Delete(kServices, "prod", "desk-calculation").has_value());
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_TRUE(client_.Object(kServices, "prod", "desk-calculation").has_value());
}

TEST_F(ReconcilerTest, LeavesTheHpasReplicaCountAlone) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  json deployment = *client_.Object(kDeployments, "prod", "desk-calculation");
  deployment["spec"]["replicas"] = 11;  // what the HPA controller writes
  client_.Seed(kDeployments, deployment);
  client_.ClearWrites();
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_TRUE(WritesTo("deployments").empty());
  EXPECT_EQ(client_.Object(kDeployments, "prod", "desk-calculation")->at("spec")["replicas"], 11);
}

TEST_F(ReconcilerTest, ASpecChangeReachesTheChildren) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  json cr = Engine();
  cr["spec"]["image"] = "registry.example.com/pricing-engine:1.1.0";
  cr["spec"]["components"][1]["replicas"]["max"] = 25;
  client_.Seed(kPricingEngines, cr);
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(client_.Object(kDeployments, "prod", "desk-api")
                ->at("spec")["template"]["spec"]["containers"][0]["image"],
            "registry.example.com/pricing-engine:1.1.0");
  EXPECT_EQ(Hpa("desk-calculation")["spec"]["maxReplicas"], 25);
  EXPECT_EQ(Engine()["status"]["observedGeneration"], 2);
}

// No more writes than changes: one bound of one component moves, one HPA is applied.
TEST_F(ReconcilerTest, AnEditAppliesOnlyTheChildItChanges) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  const size_t before = client_.Writes().size();
  json cr = Engine();
  cr["spec"]["components"][1]["replicas"]["max"] = 25;
  client_.Seed(kPricingEngines, cr);
  ASSERT_TRUE(Reconcile().has_value());
  std::vector<std::string> written;
  const std::vector<fakes::KubeWrite> writes = client_.Writes();
  for (size_t i = before; i < writes.size(); ++i) {
    const fakes::KubeWrite& w = writes[i];
    written.push_back(w.resource + "/" + w.name + (w.subresource.empty() ? "" : "/status"));
  }
  EXPECT_EQ(written, (std::vector<std::string>{"horizontalpodautoscalers/desk-calculation",
                                               "pricingengines/desk/status"}));
}

// A field the spec no longer asks for is still among the operator's fields,
// so the child is applied again (and the apply drops it).
TEST_F(ReconcilerTest, AFieldDroppedFromTheSpecIsAppliedAway) {
  json cr = YamlJson(kDeskEngineYaml);
  cr["spec"]["components"][1]["autoscaling"] = {
      {"podsMetrics", json::array({{{"name", "calculations_per_second"}, {"averageValue", "700"}}})}};
  client_.Seed(kPricingEngines, cr);
  ASSERT_TRUE(Reconcile().has_value());
  ASSERT_EQ(Hpa("desk-calculation")["spec"]["metrics"].size(), 2u);
  cr = Engine();
  cr["spec"]["components"][1].erase("autoscaling");
  client_.Seed(kPricingEngines, cr);
  const size_t before = WritesTo("horizontalpodautoscalers").size();
  ASSERT_TRUE(Reconcile().has_value());
  const std::vector<fakes::KubeWrite> hpa_writes = WritesTo("horizontalpodautoscalers");
  ASSERT_EQ(hpa_writes.size(), before + 1);
  EXPECT_EQ(hpa_writes.back().name, "desk-calculation");
  EXPECT_EQ(hpa_writes.back().body["spec"]["metrics"].size(), 1u);
}

TEST_F(ReconcilerTest, DeletesTheChildrenOfARemovedComponent) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  json cr = Engine();
  cr["spec"]["components"].erase(1);
  client_.Seed(kPricingEngines, cr);
  ASSERT_TRUE(Reconcile().has_value());
  for (const Resource* res : {&kDeployments, &kServices, &kHorizontalPodAutoscalers,
                              &kPodDisruptionBudgets}) {
    EXPECT_FALSE(client_.Object(*res, "prod", "desk-calculation").has_value()) << res->kind;
    EXPECT_TRUE(client_.Object(*res, "prod", "desk-api").has_value()) << res->kind;
  }
}

TEST_F(ReconcilerTest, InvalidSpecGetsAConditionAndOneEventAndNoRetry) {
  json cr = YamlJson(kDeskEngineYaml);
  cr["spec"]["components"][0]["replicas"]["min"] = 9;  // above max 6: CEL would refuse it
  client_.Seed(kPricingEngines, cr);
  const KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->requeue_after.has_value());
  const json valid = FindCondition(Engine()["status"], kConditionSpecValid);
  EXPECT_EQ(valid["status"], "False");
  EXPECT_EQ(valid["reason"], "InvalidSpec");
  EXPECT_NE(valid["message"].get<std::string>().find("spec.components[0].replicas"),
            std::string::npos)
      << valid;
  EXPECT_FALSE(client_.Object(kDeployments, "prod", "desk-api").has_value());
  ASSERT_EQ(EventsWithReason("InvalidSpec").size(), 1u);
  EXPECT_EQ(EventsWithReason("InvalidSpec")[0]["type"], "Warning");
  EXPECT_EQ(EventsWithReason("InvalidSpec")[0]["note"], valid["message"]);
  client_.ClearWrites();
  clock_.Advance(std::chrono::minutes(30));  // past the recorder's de-duplication window
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_TRUE(client_.Writes().empty());
  EXPECT_EQ(EventsWithReason("InvalidSpec").size(), 1u);
}

TEST_F(ReconcilerTest, PausedKeepsStatusFreshButLeavesChildrenAlone) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  json cr = Engine();
  cr["spec"]["paused"] = true;
  cr["spec"]["components"][0]["replicas"]["max"] = 9;
  client_.Seed(kPricingEngines, cr);
  json hpa = Hpa("desk-api");
  hpa["spec"]["minReplicas"] = 1;
  client_.Seed(kHorizontalPodAutoscalers, hpa);
  client_.ClearWrites();
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Hpa("desk-api")["spec"]["minReplicas"], 1);
  EXPECT_EQ(Hpa("desk-api")["spec"]["maxReplicas"], 6);
  for (const fakes::KubeWrite& w : client_.Writes()) {
    EXPECT_EQ(w.resource, "pricingengines");
  }
  const json status = Engine()["status"];
  EXPECT_EQ(status["components"][0]["maxReplicas"], 9);
  EXPECT_EQ(FindCondition(status, kConditionDegraded)["reason"], "Paused");
}

TEST_F(ReconcilerTest, OverrideAppliesUntilItsExpiryAndRequeuesExactlyThen) {
  json cr = YamlJson(kDeskEngineYaml);
  cr["spec"]["override"] = {{"replicas", {{"calculation", 30}}},
                            {"expires", "2026-11-30T15:01:30Z"},
                            {"reason", "INC-1234"}};
  client_.Seed(kPricingEngines, cr);
  KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(Hpa("desk-calculation")["spec"]["minReplicas"], 30);
  EXPECT_EQ(Hpa("desk-calculation")["spec"]["maxReplicas"], 30);
  EXPECT_EQ(Engine()["status"]["override"]["active"], true);
  ASSERT_TRUE(r->requeue_after.has_value());
  EXPECT_EQ(*r->requeue_after, std::chrono::seconds(90));

  clock_.Advance(std::chrono::seconds(90));
  r = Reconcile();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(Hpa("desk-calculation")["spec"]["minReplicas"], 3);
  EXPECT_EQ(Hpa("desk-calculation")["spec"]["maxReplicas"], 20);
  EXPECT_EQ(Engine()["status"]["override"]["active"], false);
  EXPECT_EQ(transitions_, std::vector<std::string>{"override"});
  const std::vector<json> events = EventsWithReason("PolicyTransition");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["note"], "emergency override expired or removed");
  EXPECT_EQ(events[0]["regarding"]["name"], "desk");
}

TEST_F(ReconcilerTest, ATransientApplyFailureIsRetriedAndShownAsDegraded) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  client_.FailNext(1, "Apply");
  const KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().Retryable());
  const json status = Engine()["status"];
  EXPECT_EQ(FindCondition(status, kConditionDegraded)["reason"], "ApplyFailed");
  EXPECT_EQ(status["observedGeneration"], 0);
  // The retry applies everything and clears the condition.
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Engine()["status"]["observedGeneration"], 1);
  EXPECT_EQ(FindCondition(Engine()["status"], kConditionDegraded)["reason"], "BelowMinReplicas");
  EXPECT_TRUE(client_.Object(kDeployments, "prod", "desk-api").has_value());
}

// A write the API server refuses for good (RBAC, validation, a 500 from
// decoding the object) is not retried with backoff: Degraded=True
// ApplyRefused and one Warning Event name the object and the server's
// reason (for a 403, the permission), and the PricingEngine is looked at
// again within kRefusalRecheck, not only at the 10-minute resync (a 403 can
// pass with no change the operator watches: RBAC granted later, or the
// admission plugin's REST mapping catching up with a new CRD).
void ReconcilerTest::ExpectRefusedForGood(const KubeError& refusal) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  client_.FailNext(1, "Apply", refusal);  // the first child: the api Deployment
  const KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_TRUE(r.has_value()) << "a refusal for good was returned for a retry";
  ASSERT_TRUE(r->requeue_after.has_value());
  EXPECT_LE(*r->requeue_after, Reconciler::kRefusalRecheck);
  const json degraded = FindCondition(Engine()["status"], kConditionDegraded);
  EXPECT_EQ(degraded["status"], "True");
  EXPECT_EQ(degraded["reason"], "ApplyRefused");
  EXPECT_NE(degraded["message"].get<std::string>().find("Deployment desk-api: " + refusal.message),
            std::string::npos)
      << degraded;
  ASSERT_EQ(EventsWithReason("ApplyRefused").size(), 1u);
  EXPECT_EQ(EventsWithReason("ApplyRefused")[0]["type"], "Warning");
  EXPECT_EQ(EventsWithReason("ApplyRefused")[0]["note"], degraded["message"]);
  EXPECT_TRUE(client_.Object(kServices, "prod", "desk-api").has_value())
      << "the other children are still applied";
  // The next reconcile (the recheck, or a change) tries again, and heals.
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_TRUE(client_.Object(kDeployments, "prod", "desk-api").has_value());
  EXPECT_NE(FindCondition(Engine()["status"], kConditionDegraded)["reason"], "ApplyRefused");
  EXPECT_EQ(EventsWithReason("ApplyRefused").size(), 1u);
}

TEST_F(ReconcilerTest, AnApplyForbiddenIsAConditionAndOneEventNotARetry) {
  ExpectRefusedForGood(KubeError{
      KubeError::Kind::kForbidden, 403, "Forbidden",
      "deployments.apps \"desk-api\" is forbidden: cannot set blockOwnerDeletion if an "
      "ownerReference refers to a resource you can't set finalizers on: User "
      "\"system:serviceaccount:pricing-system:pricing-operator\" cannot update resource "
      "\"pricingengines/finalizers\" in API group \"pricing.borrowrate.io\""});
}

TEST_F(ReconcilerTest, AnApplyRejectedAsInvalidIsAConditionAndOneEventNotARetry) {
  ExpectRefusedForGood(
      KubeError{KubeError::Kind::kInvalid, 422, "Invalid", "spec.behavior: Invalid value"});
}

TEST_F(ReconcilerTest, AnApplyAnsweredWith500IsAConditionAndOneEventNotARetry) {
  ExpectRefusedForGood(KubeError{KubeError::Kind::kTransient, 500, "InternalError",
                                 "unknown field \"scaleUpp\" in HorizontalPodAutoscalerBehavior"});
}

// A Service named like a child, made by someone else: its selector picks
// another team's pods.
json ForeignService(const std::string& name, json annotations = json::object(),
                    json owners = json::array()) {
  json s = {{"apiVersion", "v1"},
            {"kind", "Service"},
            {"metadata", {{"name", name}, {"namespace", "prod"}, {"uid", "foreign-uid"}}},
            {"spec", {{"selector", {{"app", "their-app"}}}, {"ports", {{{"port", 80}}}}}}};
  if (!annotations.empty()) s["metadata"]["annotations"] = std::move(annotations);
  if (!owners.empty()) s["metadata"]["ownerReferences"] = std::move(owners);
  return s;
}

TEST_F(ReconcilerTest, AnObjectHoldingAChildsNameIsNeverWrittenWithoutConsent) {
  client_.Seed(kServices, ForeignService("desk-api"));
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  const KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  // Not one write to it: its selector and owners are as they were.
  for (const fakes::KubeWrite& w : WritesTo("services")) EXPECT_NE(w.name, "desk-api");
  const json service = *client_.Object(kServices, "prod", "desk-api");
  EXPECT_EQ(service["spec"]["selector"], json({{"app", "their-app"}}));
  EXPECT_FALSE(service["metadata"].contains("ownerReferences"));
  // The other children are applied; the CR says what is wrong, once.
  EXPECT_TRUE(client_.Object(kServices, "prod", "desk-calculation").has_value());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "ChildConflict");
  const std::string message = Ready()["message"];
  EXPECT_NE(message.find("Service prod/desk-api exists and is not controlled by this "
                         "PricingEngine"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("pricing.borrowrate.io/adopt"), std::string::npos) << message;
  ASSERT_EQ(EventsWithReason("ChildConflict").size(), 1u);
  EXPECT_NE(EventsWithReason("ChildConflict")[0].value("note", "").find("desk-api"),
            std::string::npos);
  // The object is not watched: the engine looks again soon, not at resync.
  ASSERT_TRUE(r->requeue_after.has_value());
  EXPECT_LE(*r->requeue_after, Reconciler::kConflictRecheck);

  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(EventsWithReason("ChildConflict").size(), 1u) << "one Event per conflict";
  for (const fakes::KubeWrite& w : WritesTo("services")) EXPECT_NE(w.name, "desk-api");
}

TEST_F(ReconcilerTest, AnObjectThatConsentsIsAdoptedUnlessAnotherControllerOwnsIt) {
  client_.Seed(kServices, ForeignService("desk-api", {{"pricing.borrowrate.io/adopt", "true"}}));
  json owned = ForeignService("desk-calculation", {{"pricing.borrowrate.io/adopt", "true"}},
                              json::array({{{"apiVersion", "apps/v1"},
                                            {"kind", "ReplicaSet"},
                                            {"name", "theirs"},
                                            {"uid", "theirs-uid"},
                                            {"controller", true}}}));
  client_.Seed(kServices, owned);
  const json cr = client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  // Consent: applied, now controlled by the engine, its selector ours.
  const json adopted = *client_.Object(kServices, "prod", "desk-api");
  bool ours = false;
  for (const json& ref : adopted["metadata"]["ownerReferences"]) {
    ours |= ref["uid"] == cr["metadata"]["uid"] && ref["controller"] == true;
  }
  EXPECT_TRUE(ours) << adopted.dump();
  EXPECT_NE(adopted["spec"]["selector"], json({{"app", "their-app"}}));
  // Another controller's object stays its own, consent or not.
  for (const fakes::KubeWrite& w : WritesTo("services")) EXPECT_NE(w.name, "desk-calculation");
  EXPECT_EQ(Ready()["reason"], "ChildConflict");
  EXPECT_NE(Ready()["message"].get<std::string>().find(
                "Service prod/desk-calculation is controlled by ReplicaSet theirs"),
            std::string::npos)
      << Ready()["message"];
}

TEST_F(ReconcilerTest, WhatIsKeptAboutAnObjectGoesWhenItIsDeleted) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  Sync();
  // Applied, and not yet in the caches: each write is remembered.
  ASSERT_TRUE(reconciler_.Reconcile("prod/desk").has_value());
  ASSERT_GT(reconciler_.Remembered(), 8u);
  // The engine and its children are deleted before their watch events of
  // those writes arrive: their deletions are all that comes.
  for (const Resource* r :
       {&kDeployments, &kServices, &kHorizontalPodAutoscalers, &kPodDisruptionBudgets}) {
    for (const char* name : {"desk-api", "desk-calculation"}) {
      reconciler_.Forget(r->plural + "/prod/" + name);
    }
  }
  reconciler_.Forget("pricingengines/prod/desk");
  EXPECT_EQ(reconciler_.Remembered(), 0u);
}

TEST_F(ReconcilerTest, ADeletedEngineNeedsNothing) {
  const KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->requeue_after.has_value());
  EXPECT_TRUE(client_.Writes().empty());
}

TEST_F(ReconcilerTest, AFailedStatusWriteIsRetried) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  json deployment = *client_.Object(kDeployments, "prod", "desk-api");
  deployment["status"] = {{"replicas", 2}, {"readyReplicas", 2}};
  client_.Seed(kDeployments, deployment);
  client_.FailNext(1, "Apply");
  const KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_FALSE(r.has_value());
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Engine()["status"]["components"][0]["readyReplicas"], 2);
}

// The desk engine with market phases on the NYSE calendar (no lead time, so
// each floor changes exactly at its boundary).
json PhasedDeskEngine() {
  json cr = YamlJson(kDeskEngineYaml);
  cr["spec"]["marketHours"] = YamlJson(R"(
timeZone: America/New_York
calendar: NYSE
phases:
- {name: PreMarket, start: "08:00", end: open, minReplicas: {calculation: 6}}
- {name: Regular, start: open, end: close, minReplicas: {api: 4, calculation: 10}}
- {name: PostMarket, start: close, end: "18:00", minReplicas: {calculation: 5}}
)");
  return cr;
}

struct Visit {
  std::string at;     // RFC 3339, UTC
  std::string phase;  // status.marketPhase after the reconcile
  int calculation_min = 0;
};

// Monday 08:00 New York: PreMarket raises calculation's floor from 3 to 6.
// The status records the transition; when the Deployment has 6 available
// pods (75 s later) the time to scale is in the status and reported once.
TEST_F(ReconcilerTest, ATransitionsTimeToScaleIsRecordedOnceThePodsAreAvailable) {
  client_.Seed(kPricingEngines, PhasedDeskEngine());
  clock_.Set(At("2026-12-07T12:59:00Z"));
  ASSERT_TRUE(Reconcile().has_value());
  RollOut("api", 2);
  RollOut("calculation", 3);
  clock_.Set(At("2026-12-07T13:00:00Z"));
  ASSERT_TRUE(Reconcile().has_value());
  json last = Engine()["status"]["lastTransition"];
  EXPECT_EQ(last["at"], "2026-12-07T13:00:00Z");
  EXPECT_EQ(last["description"], "market phase Closed -> PreMarket");
  ASSERT_EQ(last["components"].size(), 1u) << last;
  EXPECT_EQ(last["components"][0]["name"], "calculation");
  EXPECT_EQ(last["components"][0]["minReplicas"], 6);
  EXPECT_FALSE(last["components"][0].contains("readyAfterSeconds"));
  EXPECT_TRUE(scaled_.empty());

  clock_.Set(At("2026-12-07T13:01:15Z"));
  RollOut("calculation", 6);
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Engine()["status"]["lastTransition"]["components"][0]["readyAfterSeconds"], 75);
  clock_.Set(At("2026-12-07T13:02:00Z"));
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(scaled_, (std::vector<std::pair<std::string, int64_t>>{{"calculation", 75}}));
}

// Friday 2026-12-04 16:05 New York (EST, UTC-5) to Monday 08:00: the operator
// wakes only when a reconcile asks to be requeued, and each wake-up changes
// the floors exactly at the boundary, in order.
TEST_F(ReconcilerTest, FridayCloseToMondayPreMarketByRequeuesAlone) {
  client_.Seed(kPricingEngines, PhasedDeskEngine());
  clock_.Set(At("2026-12-04T21:05:00Z"));
  std::vector<Visit> visits;
  int wakeups = 0;
  while (clock_.Now() <= At("2026-12-07T13:00:00Z")) {
    const KubeResult<ReconcileOutcome> r = Reconcile();
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const std::string phase = Engine()["status"].value("marketPhase", "");
    const int floor = Hpa("desk-calculation")["spec"]["minReplicas"].get<int>();
    if (visits.empty() || visits.back().phase != phase) {
      visits.push_back({FormatRfc3339(clock_.Now()), phase, floor});
    }
    ASSERT_TRUE(r->requeue_after.has_value());
    ASSERT_GT(*r->requeue_after, std::chrono::nanoseconds{0});
    clock_.Advance(*r->requeue_after);
    ASSERT_LT(++wakeups, 1000);
  }
  ASSERT_EQ(visits.size(), 3u);
  EXPECT_EQ(visits[0].at, "2026-12-04T21:05:00Z");
  EXPECT_EQ(visits[0].phase, "PostMarket");
  EXPECT_EQ(visits[0].calculation_min, 5);
  EXPECT_EQ(visits[1].at, "2026-12-04T23:00:00Z");  // Friday 18:00 EST
  EXPECT_EQ(visits[1].phase, "Closed");
  EXPECT_EQ(visits[1].calculation_min, 3);
  EXPECT_EQ(visits[2].at, "2026-12-07T13:00:00Z");  // Monday 08:00 EST
  EXPECT_EQ(visits[2].phase, "PreMarket");
  EXPECT_EQ(visits[2].calculation_min, 6);
  // Two transitions, each announced once.
  EXPECT_EQ(transitions_, (std::vector<std::string>{"phase", "phase"}));
  const std::vector<json> events = EventsWithReason("PolicyTransition");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["note"], "market phase PostMarket -> Closed");
  EXPECT_EQ(events[1]["note"], "market phase Closed -> PreMarket");
}

// The operator was down from Friday 16:05 until Monday 09:45: its first
// reconcile applies the phase in force now (level-based), announces one
// transition, and does not replay the weekend.
TEST_F(ReconcilerTest, AThreeDayOutageResumesAtTheCurrentPhaseWithNothingSkipped) {
  client_.Seed(kPricingEngines, PhasedDeskEngine());
  clock_.Set(At("2026-12-04T21:05:00Z"));
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Engine()["status"]["marketPhase"], "PostMarket");

  clock_.Set(At("2026-12-07T14:45:00Z"));  // Monday 09:45 EST, Regular session
  const KubeResult<ReconcileOutcome> r = Reconcile();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(Engine()["status"]["marketPhase"], "Regular");
  EXPECT_EQ(Engine()["status"]["marketDay"], "Regular");
  EXPECT_EQ(Hpa("desk-calculation")["spec"]["minReplicas"], 10);
  EXPECT_EQ(Hpa("desk-api")["spec"]["minReplicas"], 4);
  ASSERT_TRUE(r->requeue_after.has_value());
  EXPECT_EQ(*r->requeue_after, std::chrono::minutes(10));  // the resync; the close is at 16:00
  // One transition for the state that is true now, not a replay of the weekend.
  const std::vector<json> events = EventsWithReason("PolicyTransition");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["note"], "market phase PostMarket -> Regular");
}

TEST_F(ReconcilerTest, ReadyOnceEveryDeploymentAndHpaShowsTheRolloutDone) {
  client_.Seed(kPricingEngines, YamlJson(kDeskEngineYaml));
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "RolloutInProgress");
  RollOut("api", 2);
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["message"],
            "calculation: Deployment generation 1 not observed yet (observed 0), "
            "HPA AbleToScale not reported, HPA ScalingActive not reported");
  RollOut("calculation", 3);
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Ready()["status"], "True") << Ready();
  EXPECT_EQ(Ready()["reason"], "RolledOut");
  EXPECT_EQ(FindCondition(Engine()["status"], kConditionDegraded)["reason"], "AsDesired");
  EXPECT_EQ(Engine()["status"]["components"][1]["readyReplicas"], 3);
}

// A spec change is not rolled out until each Deployment has observed its new
// generation: not in the reconcile that applies it (the caches still show the
// old Deployments, rolled out), nor in those before the watches deliver it.
TEST_F(ReconcilerTest, ASpecChangeIsNotReadyUntilTheDeploymentsObserveIt) {
  ASSERT_NO_FATAL_FAILURE(DeskReady());
  ChangeDeskImage();
  const std::string not_observed =
      "api: Deployment generation 2 not observed yet (observed 1); "
      "calculation: Deployment generation 2 not observed yet (observed 1)";
  Sync();
  ASSERT_TRUE(reconciler_.Reconcile("prod/desk").has_value());
  EXPECT_EQ(client_.Object(kDeployments, "prod", "desk-api")->at("metadata")["generation"], 2);
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "RolloutInProgress");
  EXPECT_EQ(Ready()["message"], not_observed);
  EXPECT_EQ(Engine()["status"]["observedGeneration"], 2);
  const size_t writes = client_.Writes().size();
  ASSERT_TRUE(reconciler_.Reconcile("prod/desk").has_value());  // the caches have not caught up
  EXPECT_EQ(Ready()["message"], not_observed);
  Sync();
  ASSERT_TRUE(reconciler_.Reconcile("prod/desk").has_value());
  EXPECT_EQ(Ready()["message"], not_observed);
  EXPECT_EQ(client_.Writes().size(), writes);
  RollOutAll();
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Ready()["status"], "True");
}

// The cache shows the old Deployment, rolled out; but it is not the one the
// spec asks for.
TEST_F(ReconcilerTest, ADeploymentThatFailedToApplyIsNotReady) {
  ASSERT_NO_FATAL_FAILURE(DeskReady());
  ChangeDeskImage();
  client_.FailNext(1, "Apply");  // the first child: the api Deployment
  ASSERT_FALSE(Reconcile().has_value());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["message"],
            "api: Deployment not updated: apply failed; "
            "calculation: Deployment generation 2 not observed yet (observed 1)");
  EXPECT_EQ(FindCondition(Engine()["status"], kConditionDegraded)["reason"], "ApplyFailed");
}

TEST_F(ReconcilerTest, FewerUpdatedReplicasThanReplicasIsNotReady) {
  ASSERT_NO_FATAL_FAILURE(ApplyDeskAndRollOut());
  json deployment = *client_.Object(kDeployments, "prod", "desk-calculation");
  deployment["status"]["replicas"] = 4;  // one new pod surged, three old ones left
  deployment["status"]["updatedReplicas"] = 1;
  client_.Seed(kDeployments, deployment);
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "RolloutInProgress");
  EXPECT_EQ(Ready()["message"], "calculation: 1 of 4 replicas updated");
}

TEST_F(ReconcilerTest, ProgressDeadlineExceededIsNotReadyAndDegraded) {
  ASSERT_NO_FATAL_FAILURE(ApplyDeskAndRollOut());
  SetChildCondition(kDeployments, "desk-api", "Progressing", "False", "ProgressDeadlineExceeded");
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(Ready()["message"], "api: rollout exceeded its progress deadline");
  const json degraded = FindCondition(Engine()["status"], kConditionDegraded);
  EXPECT_EQ(degraded["status"], "True");
  EXPECT_EQ(degraded["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(degraded["message"], "rollout past its progress deadline: api");
}

TEST_F(ReconcilerTest, AnHpaWhoseScalingIsNotActiveIsNotReady) {
  ASSERT_NO_FATAL_FAILURE(ApplyDeskAndRollOut());
  SetChildCondition(kHorizontalPodAutoscalers, "desk-api", "ScalingActive", "False",
                    "FailedGetResourceMetric");
  ASSERT_TRUE(Reconcile().has_value());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "ScalingInactive");
  EXPECT_EQ(Ready()["message"], "api: HPA ScalingActive=False (FailedGetResourceMetric)");
  EXPECT_EQ(FindCondition(Engine()["status"], kConditionDegraded)["status"], "False");
}

TEST_F(ReconcilerTest, AMissingHpaIsNotReady) {
  ASSERT_NO_FATAL_FAILURE(DeskReady());
  ASSERT_TRUE(client_.Delete(kHorizontalPodAutoscalers, "prod", "desk-calculation").has_value());
  client_.FailNext(1, "Apply");  // recreating it
  ASSERT_FALSE(Reconcile().has_value());
  EXPECT_FALSE(client_.Object(kHorizontalPodAutoscalers, "prod", "desk-calculation").has_value());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "ScalingInactive");
  EXPECT_EQ(Ready()["message"], "calculation: no HorizontalPodAutoscaler");
  ASSERT_TRUE(Reconcile().has_value());  // recreated, without conditions yet
  EXPECT_EQ(Ready()["message"],
            "calculation: HPA AbleToScale not reported, HPA ScalingActive not reported");
}

}  // namespace
}  // namespace pricing::op
