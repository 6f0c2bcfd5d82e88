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

TEST(Status, ReportsBoundsReplicasAndObservedGeneration) {
  Fixture f;
  f.inputs.observed = {{"api", true, 3, 2}, {"calculation", true, 1, 1}};
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(s["observedGeneration"], 3);
  ASSERT_EQ(s["components"].size(), 2u);
  EXPECT_EQ(s["components"][0]["name"], "api");
  EXPECT_EQ(s["components"][0]["minReplicas"], 2);
  EXPECT_EQ(s["components"][0]["maxReplicas"], 6);
  EXPECT_EQ(s["components"][0]["replicas"], 3);
  EXPECT_EQ(s["components"][0]["readyReplicas"], 2);
  EXPECT_EQ(s["components"][0]["reasons"][0], "min=2 by base");
  EXPECT_EQ(Condition(s, "Ready")["status"], "True");
  EXPECT_EQ(Condition(s, "SpecValid")["status"], "True");
  EXPECT_EQ(Condition(s, "Degraded")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["observedGeneration"], 3);
  EXPECT_TRUE(Condition(s, "VolatilitySourceHealthy").is_null());
}

TEST(Status, NotReadyAndDegradedNameTheComponents) {
  Fixture f;
  f.inputs.observed = {{"api", true, 2, 1}};
  const json s = BuildStatus(f.inputs, nullptr);
  EXPECT_EQ(Condition(s, "Ready")["status"], "False");
  EXPECT_EQ(Condition(s, "Ready")["message"], "no ready pod yet: calculation");
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
  f.inputs.observed = {{"api", true, 2, 2}, {"calculation", true, 1, 1}};
  f.inputs.now = At("2026-11-30T15:07:30Z");
  const json third = BuildStatus(f.inputs, second);
  EXPECT_EQ(Condition(third, "Ready")["status"], "True");
  EXPECT_EQ(Condition(third, "Ready")["lastTransitionTime"], "2026-11-30T15:07:30Z");
  EXPECT_EQ(Condition(third, "SpecValid")["lastTransitionTime"], "2026-11-30T15:00:00Z");
}

TEST(Status, InvalidSpecNamesTheFieldAndKeepsTheRest) {
  const json previous = {{"marketPhase", "Regular"}, {"observedGeneration", 1}};
  const json s = InvalidSpecStatus(previous, 4, Error{"spec.components[0].replicas.min", "must be at least 1"},
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
