#include "op/status.h"

#include <gtest/gtest.h>

#include "op/desired.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::MustParseYaml;

constexpr const char* kEngine = R"(
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: pe, namespace: desk, uid: u-1, generation: 3}
spec:
  image: img:1
  components:
  - {name: api, replicas: {min: 2, max: 6}}
  - {name: calculation, replicas: {min: 1, max: 4}}
)";

struct Fixture {
  PricingEngine pe = MustParseYaml(kEngine);
  Desired desired;
  StatusInputs inputs;
  Fixture() {
    desired = *ComputeDesired(pe, At("2026-11-30T15:00:00Z"), std::nullopt);
    inputs.pe = &pe;
    inputs.desired = &desired;
    inputs.now = At("2026-11-30T15:00:00Z");
  }
};

json Condition(const json& status, std::string_view type) { return FindCondition(status, type); }

// A component whose Deployment (generation 2) and HPA show a finished
// rollout of `replicas` pods.
ComponentObservation RolledOut(const std::string& name, int32_t replicas) {
  ComponentObservation o;
  o.name = name;
  o.deployment_exists = true;
  o.generation = o.observed_generation = 2;
  o.replicas = o.ready_replicas = o.updated_replicas = o.available_replicas = replicas;
  o.hpa_exists = true;
  o.able_to_scale = {"True", "ReadyForNewScale"};
  o.scaling_active = {"True", "ValidMetricFound"};
  return o;
}

TEST(Status, ReportsBoundsReplicasAndObservedGeneration) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 3), RolledOut("calculation", 1)};
  f.inputs.observed[0].ready_replicas = 2;
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(s["observedGeneration"], 3);
  ASSERT_EQ(s["components"].size(), 2u);
  EXPECT_EQ(s["components"][0]["name"], "api");
  EXPECT_EQ(s["components"][0]["minReplicas"], 2);
  EXPECT_EQ(s["components"][0]["maxReplicas"], 6);
  EXPECT_EQ(s["components"][0]["replicas"], 3);
  EXPECT_EQ(s["components"][0]["readyReplicas"], 2);
  EXPECT_EQ(s["components"][0]["reasons"][0], "min=2 by base");
  EXPECT_EQ(Condition(s, "SpecValid")["status"], "True");
  EXPECT_EQ(Condition(s, "Degraded")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["observedGeneration"], 3);
  EXPECT_TRUE(Condition(s, "VolatilitySourceHealthy").is_null());
}

TEST(Status, ARolledOutEngineIsReady) {
  Fixture f;
  f.inputs.observed = {RolledOut("calculation", 1), RolledOut("api", 2)};  // any order
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "True");
  EXPECT_EQ(Condition(s, "Ready")["reason"], "RolledOut");
  EXPECT_EQ(Condition(s, "Ready")["message"], "every component is rolled out");
  EXPECT_EQ(Condition(s, "Ready")["observedGeneration"], 3);
  EXPECT_EQ(Condition(s, "Degraded")["status"], "False");
  EXPECT_EQ(Condition(s, "Degraded")["reason"], "AsDesired");
}

TEST(Status, ADeploymentThatHasNotObservedItsGenerationIsNotRolledOut) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 1)};
  f.inputs.observed[0].generation = 3;
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["reason"], "RolloutInProgress");
  EXPECT_EQ(Condition(s, "Ready")["message"],
            "api: Deployment generation 3 not observed yet (observed 2)");
  EXPECT_EQ(Condition(s, "Degraded")["status"], "False");
}

TEST(Status, FewerUpdatedReplicasThanReplicasIsNotRolledOut) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 2)};
  f.inputs.observed[1].updated_replicas = 1;
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["reason"], "RolloutInProgress");
  EXPECT_EQ(Condition(s, "Ready")["message"], "calculation: 1 of 2 replicas updated");
}

// updated = ready = available = replicas, and at least one replica; the
// message gives the first count that differs.
TEST(Status, EveryReplicaCountMustEqualTheReplicas) {
  struct Case {
    void (*change)(ComponentObservation&);
    const char* message;
  };
  const Case cases[] = {
      {[](ComponentObservation& o) { o.ready_replicas = 2; }, "api: 2 of 3 replicas ready"},
      {[](ComponentObservation& o) { o.available_replicas = 1; }, "api: 1 of 3 replicas available"},
      {[](ComponentObservation& o) { o.updated_replicas = 4; }, "api: 4 of 3 replicas updated"},
      {[](ComponentObservation& o) { o.replicas = 4; }, "api: 3 of 4 replicas updated"},
      {[](ComponentObservation& o) {
         o.replicas = o.ready_replicas = o.updated_replicas = o.available_replicas = 0;
       },
       "api: no replicas yet"},
      {[](ComponentObservation& o) { o.deployment_unapplied = true; },
       "api: Deployment not updated: apply failed"},
  };
  for (const Case& c : cases) {
    Fixture f;
    f.inputs.observed = {RolledOut("api", 3), RolledOut("calculation", 1)};
    c.change(f.inputs.observed[0]);
    const json s = BuildStatus(f.inputs, nullptr);
    EXPECT_EQ(Condition(s, "Ready")["status"], "False") << c.message;
    EXPECT_EQ(Condition(s, "Ready")["reason"], "RolloutInProgress") << c.message;
    EXPECT_EQ(Condition(s, "Ready")["message"], c.message);
  }
}

TEST(Status, ProgressDeadlineExceededIsNotReadyAndDegraded) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 1)};
  f.inputs.observed[1].progress_deadline_exceeded = true;
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(Condition(s, "Ready")["message"],
            "calculation: rollout exceeded its progress deadline");
  EXPECT_EQ(Condition(s, "Degraded")["status"], "True");
  EXPECT_EQ(Condition(s, "Degraded")["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(Condition(s, "Degraded")["message"], "rollout past its progress deadline: calculation");

  // It outranks the other reasons, and Degraded still names a component below its minimum.
  f.inputs.observed[0].ready_replicas = 1;
  f.inputs.observed[0].scaling_active = {"False", "FailedGetResourceMetric"};
  const json worse = BuildStatus(f.inputs, s);
  EXPECT_EQ(Condition(worse, "Ready")["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(Condition(worse, "Ready")["message"],
            "api: 1 of 2 replicas ready, HPA ScalingActive=False (FailedGetResourceMetric); "
            "calculation: rollout exceeded its progress deadline");
  EXPECT_EQ(Condition(worse, "Degraded")["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ(Condition(worse, "Degraded")["message"],
            "rollout past its progress deadline: calculation; fewer ready pods than the "
            "effective minimum: api (1/2 ready)");
}

TEST(Status, AnHpaThatIsNotScalingIsNotRolledOut) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 1)};
  f.inputs.observed[0].scaling_active = {"False", "FailedGetResourceMetric"};
  json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["reason"], "ScalingInactive");
  EXPECT_EQ(Condition(s, "Ready")["message"],
            "api: HPA ScalingActive=False (FailedGetResourceMetric)");
  EXPECT_EQ(Condition(s, "Degraded")["status"], "False");

  f.inputs.observed[0].scaling_active = {"True", "ValidMetricFound"};
  f.inputs.observed[1].able_to_scale = {"False", "FailedGetScale"};
  f.inputs.observed[1].scaling_active = {};  // the HPA controller has not said yet
  s = BuildStatus(f.inputs, s);
  EXPECT_EQ(Condition(s, "Ready")["reason"], "ScalingInactive");
  EXPECT_EQ(Condition(s, "Ready")["message"],
            "calculation: HPA AbleToScale=False (FailedGetScale), HPA ScalingActive not reported");

  f.inputs.observed[1].able_to_scale = {"Unknown", ""};
  f.inputs.observed[1].scaling_active = {"True", "ValidMetricFound"};
  s = BuildStatus(f.inputs, s);
  EXPECT_EQ(Condition(s, "Ready")["message"], "calculation: HPA AbleToScale=Unknown");
}

TEST(Status, AMissingHpaIsNotRolledOut) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 1)};
  f.inputs.observed[1].hpa_exists = false;
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["reason"], "ScalingInactive");
  EXPECT_EQ(Condition(s, "Ready")["message"], "calculation: no HorizontalPodAutoscaler");
}

TEST(Status, AMissingDeploymentIsNotRolledOut) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 1)};
  f.inputs.observed[1].deployment_exists = false;
  json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["reason"], "RolloutInProgress");
  EXPECT_EQ(Condition(s, "Ready")["message"], "calculation: no Deployment");

  f.inputs.observed.pop_back();  // nothing seen of it at all
  s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["message"],
            "calculation: no Deployment, no HorizontalPodAutoscaler");
}

// Components in spec order, each with the Deployment's first problem and
// each of the HPA's; the reason is the worst component's.
TEST(Status, TheMessageNamesEachComponentAndWhy) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 2)};
  f.inputs.observed[0].scaling_active = {"False", "FailedGetResourceMetric"};
  f.inputs.observed[1].updated_replicas = 1;
  f.inputs.observed[1].ready_replicas = 1;
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["reason"], "RolloutInProgress");
  EXPECT_EQ(Condition(s, "Ready")["message"],
            "api: HPA ScalingActive=False (FailedGetResourceMetric); "
            "calculation: 1 of 2 replicas updated");
}

// Paused: Degraded says Paused, whatever the children show; Ready still
// judges them.
TEST(Status, PausedIsNotDegradedButStillJudgesTheRollout) {
  Fixture f;
  f.desired.paused = true;
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 1)};
  f.inputs.observed[0].progress_deadline_exceeded = true;
  f.inputs.observed[1].ready_replicas = 0;
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Degraded")["status"], "False");
  EXPECT_EQ(Condition(s, "Degraded")["reason"], "Paused");
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["reason"], "ProgressDeadlineExceeded");
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 1)};
  EXPECT_EQ(Condition(BuildStatus(f.inputs, s), "Ready")["status"], "True");
}

TEST(Status, NotReadyAndDegradedNameTheComponents) {
  Fixture f;
  f.inputs.observed = {RolledOut("api", 2)};
  f.inputs.observed[0].ready_replicas = 1;
  f.inputs.observed[0].available_replicas = 1;
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["message"],
            "api: 1 of 2 replicas ready; calculation: no Deployment, no HorizontalPodAutoscaler");
  EXPECT_EQ(Condition(s, "Degraded")["status"], "True");
  EXPECT_EQ(Condition(s, "Degraded")["reason"], "BelowMinReplicas");
  EXPECT_EQ(Condition(s, "Degraded")["message"],
            "fewer ready pods than the effective minimum: api (1/2 ready), calculation (0/1 ready)");
}

TEST(Status, ApplyFailureKeepsTheOldObservedGeneration) {
  Fixture f;
  f.inputs.apply_error = "Deployment pe-api: forbidden";
  const json s = BuildStatus(f.inputs, json{{"observedGeneration", 2}});
  EXPECT_EQ(s["observedGeneration"], 2);
  EXPECT_EQ(Condition(s, "Degraded")["reason"], "ApplyFailed");
  EXPECT_EQ(Condition(s, "Degraded")["message"], "Deployment pe-api: forbidden");
}

TEST(Status, TransitionTimeMovesOnlyWhenTheStatusChanges) {
  Fixture f;
  const json first = BuildStatus(f.inputs, nullptr);  // not ready
  f.inputs.now = At("2026-11-30T15:05:00Z");
  const json second = BuildStatus(f.inputs, first);
  EXPECT_EQ(Condition(second, "Ready")["lastTransitionTime"], "2026-11-30T15:00:00Z");
  EXPECT_EQ(first, second);
  f.inputs.observed = {RolledOut("api", 2), RolledOut("calculation", 1)};
  f.inputs.now = At("2026-11-30T15:07:30Z");
  const json third = BuildStatus(f.inputs, second);
  EXPECT_EQ(Condition(third, "Ready")["status"], "True");
  EXPECT_EQ(Condition(third, "Ready")["lastTransitionTime"], "2026-11-30T15:07:30Z");
  EXPECT_EQ(Condition(third, "SpecValid")["lastTransitionTime"], "2026-11-30T15:00:00Z");
}

TEST(Status, InvalidSpecNamesTheFieldAndKeepsTheRest) {
  const json previous = {{"marketPhase", "Regular"}, {"observedGeneration", 1}};
  const json s = InvalidSpecStatus(previous, 4, Invalid("spec.components[0].replicas.min", "must be at least 1"),
                                   At("2026-11-30T15:00:00Z"));
  EXPECT_EQ(s["observedGeneration"], 4);
  EXPECT_EQ(s["marketPhase"], "Regular");
  EXPECT_EQ(Condition(s, "SpecValid")["status"], "False");
  EXPECT_EQ(Condition(s, "SpecValid")["reason"], "InvalidSpec");
  EXPECT_EQ(Condition(s, "SpecValid")["message"],
            "spec.components[0].replicas.min: must be at least 1");
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
}

TEST(Status, VolatilityConditionFollowsTheSource) {
  Fixture f;
  f.inputs.volatility = VolatilityObservation{31.5, "url", At("2026-11-30T14:59:00Z"), false,
                                              "GET http://vix: timeout"};
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(s["volatility"]["value"], 31.5);
  EXPECT_EQ(s["volatility"]["source"], "url");
  EXPECT_EQ(s["volatility"]["observedAt"], "2026-11-30T14:59:00Z");
  EXPECT_EQ(Condition(s, "VolatilitySourceHealthy")["status"], "False");
  EXPECT_EQ(Condition(s, "VolatilitySourceHealthy")["message"], "GET http://vix: timeout");
  f.inputs.volatility.reset();
  EXPECT_TRUE(Condition(BuildStatus(f.inputs, s), "VolatilitySourceHealthy").is_null());
}

// Time to scale: an event raises calculation's floor from 1 to 3 and api's
// from 2 to 3 at 15:00. The transition is recorded with the raised floors;
// each component's readyAfterSeconds appears once its Deployment has the new
// floor's pods available, is reported once, and is never revised.
TEST(Status, LastTransitionMeasuresTheTimeToScaleOfEachRaisedFloor) {
  PricingEngine pe = MustParseYaml(std::string(kEngine) + R"(
  events:
  - {name: open-burst, start: "2026-11-30T15:00:00Z", end: "2026-11-30T16:00:00Z",
     minReplicas: {"*": 3}}
)");
  const auto status_at = [&](const char* at, int32_t api_available, int32_t calc_available,
                             const json& previous) {
    const Desired desired = *ComputeDesired(pe, At(at), std::nullopt);
    StatusInputs in;
    in.pe = &pe;
    in.desired = &desired;
    in.now = At(at);
    in.observed = {RolledOut("api", api_available), RolledOut("calculation", calc_available)};
    return BuildStatus(in, previous);
  };
  const json first = status_at("2026-11-30T14:59:00Z", 2, 1, nullptr);
  EXPECT_FALSE(first.contains("lastTransition")) << "no transition before the first status";
  EXPECT_TRUE(TransitionsBetween(nullptr, first).empty());

  const json raised = status_at("2026-11-30T15:00:00Z", 2, 1, first);
  ASSERT_EQ(TransitionsBetween(first, raised).size(), 1u);
  EXPECT_EQ(TransitionsBetween(first, raised)[0].kind, "event");
  EXPECT_EQ(raised["lastTransition"]["at"], "2026-11-30T15:00:00Z");
  EXPECT_EQ(raised["lastTransition"]["description"], "active events [] -> [open-burst]");
  EXPECT_EQ(raised["lastTransition"]["components"],
            json::parse(R"([{"name":"api","fromMinReplicas":2,"minReplicas":3},
                            {"name":"calculation","fromMinReplicas":1,"minReplicas":3}])"));
  EXPECT_TRUE(TimesToScaleCompleted(first, raised).empty());

  // 45 s later api has 3 available pods, calculation 2.
  const json api_done = status_at("2026-11-30T15:00:45Z", 3, 2, raised);
  EXPECT_EQ(api_done["lastTransition"]["components"][0]["readyAfterSeconds"], 45);
  EXPECT_FALSE(api_done["lastTransition"]["components"][1].contains("readyAfterSeconds"));
  const std::vector<TimeToScale> api_times = TimesToScaleCompleted(raised, api_done);
  ASSERT_EQ(api_times.size(), 1u);
  EXPECT_EQ(api_times[0].component, "api");
  EXPECT_EQ(api_times[0].seconds, 45);

  // At 15:03 calculation has 3; api dropped to 2 meanwhile (its time stands).
  const json calc_done = status_at("2026-11-30T15:03:00Z", 2, 3, api_done);
  EXPECT_EQ(calc_done["lastTransition"]["components"][0]["readyAfterSeconds"], 45);
  EXPECT_EQ(calc_done["lastTransition"]["components"][1]["readyAfterSeconds"], 180);
  const std::vector<TimeToScale> calc_times = TimesToScaleCompleted(api_done, calc_done);
  ASSERT_EQ(calc_times.size(), 1u);
  EXPECT_EQ(calc_times[0].component, "calculation");
  EXPECT_EQ(calc_times[0].seconds, 180);
  EXPECT_TRUE(TimesToScaleCompleted(calc_done, status_at("2026-11-30T15:10:00Z", 3, 3, calc_done))
                  .empty());

  // The event ends: a transition that raises nothing, so nothing to measure.
  const json lowered = status_at("2026-11-30T16:00:00Z", 3, 3, calc_done);
  EXPECT_EQ(lowered["lastTransition"]["at"], "2026-11-30T16:00:00Z");
  EXPECT_EQ(lowered["lastTransition"]["components"], json::array());
  EXPECT_TRUE(TimesToScaleCompleted(calc_done, lowered).empty());
}

TEST(Contains, ExtraActualFieldsAreFine) {
  EXPECT_TRUE(Contains(json{{"a", 1}, {"b", {{"c", "x"}, {"d", 2}}}}, json{{"b", {{"c", "x"}}}}));
  EXPECT_FALSE(Contains(json{{"a", 1}}, json{{"a", 2}}));
  EXPECT_FALSE(Contains(json{{"a", 1}}, json{{"b", 1}}));
}

TEST(Contains, ArraysMustMatchInLengthAndOrder) {
  EXPECT_TRUE(Contains(json{{"l", {{{"n", 1}, {"x", 0}}, {{"n", 2}}}}}, json{{"l", {{{"n", 1}}, {{"n", 2}}}}}));
  EXPECT_FALSE(Contains(json{{"l", {1, 2, 3}}}, json{{"l", {1, 2}}}));
  EXPECT_FALSE(Contains(json{{"l", {2, 1}}}, json{{"l", {1, 2}}}));
}

TEST(Contains, NumbersCompareByValue) {
  EXPECT_TRUE(Contains(json(3), json(3u)));
  EXPECT_TRUE(Contains(json(3.0), json(3)));
  EXPECT_FALSE(Contains(json(-1), json(1u)));
  EXPECT_FALSE(Contains(json("3"), json(3)));
}

}  // namespace
}  // namespace pricing::op
