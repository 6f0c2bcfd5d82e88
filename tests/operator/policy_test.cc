// The precedence rule of docs/design.md §3.2 end to end, with market phases: a
// spec, an instant and a volatility in; each component's bounds and the layer
// that set them out.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "op/desired.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::MustParse;
using testing::MustParseYaml;

// New York, NYSE. Monday 2027-03-15 is a trading day (EDT: open 13:30Z).
constexpr const char* kSpec = R"(
metadata: {name: p}
spec:
  image: engine:1
  components:
  - {name: calc, replicas: {min: 3, max: 20}, disruption: {minAvailable: 2}}
  - {name: api, replicas: {min: 2, max: 10}, autoscaling: {targetCPUUtilizationPercentage: 90}}
  marketHours:
    phases:
    - {name: Regular, start: open, end: close, minReplicas: {calc: 10, api: 12}, maxReplicas: {calc: 25}, targetCPUUtilizationPercentage: 70}
  volatility:
    minHold: 15m
    regimes:
    - {name: Elevated, enterAbove: 25, exitBelow: 22, minReplicas: {calc: 8}, targetCPUUtilizationPercentage: 75}
    - {name: High, enterAbove: 30, exitBelow: 27, minReplicas: {calc: 15}, maxReplicas: {calc: 40}, targetCPUUtilizationPercentage: 60}
  events:
  - {name: onboarding, start: "2027-03-16T00:00:00Z", end: "2027-03-18T00:00:00Z", minReplicasPercent: 500, maxReplicasPercent: 200}
  - {name: rotation, start: "2027-03-17T14:00:00Z", end: "2027-03-17T16:00:00Z", minReplicas: {"*": 6}, disruption: {minAvailable: "70%"}}
  override: {replicas: {calc: 4}, expires: "2027-03-15T12:00:00Z", reason: test}
)";

struct Case {
  const char* rule;
  const char* instant;
  std::optional<double> vix;
  const char* component;
  std::vector<std::string> reasons;
};

TEST(Policy, EveryPrecedenceRuleWithPhases) {
  const PricingEngine pe = MustParseYaml(kSpec);
  const std::vector<Case> cases = {
      {"base alone outside the phase",
       "2027-03-15T13:00:00Z",
       std::nullopt,
       "calc",
       {"min=3 by base", "max=20 by base", "targetCPU=80 by base",
        "disruption minAvailable=2 by base"}},
      {"the phase raises min and max and lowers the CPU target",
       "2027-03-15T14:00:00Z",
       std::nullopt,
       "calc",
       {"min=10 by phase Regular", "max=25 by phase Regular", "targetCPU=70 by phase Regular",
        "disruption minAvailable=2 by base"}},
      {"max is raised to at least min",
       "2027-03-15T14:00:00Z",
       std::nullopt,
       "api",
       {"min=12 by phase Regular", "max=12 by phase Regular (raised to min)",
        "targetCPU=70 by phase Regular", "disruption maxUnavailable=1 by base"}},
      {"a higher regime beats the phase on every bound",
       "2027-03-15T14:00:00Z",
       35.0,
       "calc",
       {"min=15 by regime High", "max=40 by regime High", "targetCPU=60 by regime High",
        "disruption minAvailable=2 by base"}},
      {"a regime's smaller floor and larger CPU target lose",
       "2027-03-15T14:00:00Z",
       26.0,
       "calc",
       {"min=10 by phase Regular", "max=25 by phase Regular", "targetCPU=70 by phase Regular",
        "disruption minAvailable=2 by base"}},
      {"a regime applies outside the phase too",
       "2027-03-15T22:00:00Z",
       26.0,
       "calc",
       {"min=8 by regime Elevated", "max=20 by base", "targetCPU=75 by regime Elevated",
        "disruption minAvailable=2 by base"}},
      {"percent fields scale the base bound, rounded up",
       "2027-03-16T14:00:00Z",
       std::nullopt,
       "calc",
       {"min=15 by event onboarding", "max=40 by event onboarding", "targetCPU=70 by phase Regular",
        "disruption minAvailable=2 by base"}},
      {"the phase's floor beats a smaller percent floor",
       "2027-03-16T14:00:00Z",
       std::nullopt,
       "api",
       {"min=12 by phase Regular", "max=20 by event onboarding", "targetCPU=70 by phase Regular",
        "disruption maxUnavailable=1 by base"}},
      {"the active event's budget replaces the base's",
       "2027-03-17T14:30:00Z",
       std::nullopt,
       "api",
       {"min=12 by phase Regular", "max=20 by event onboarding", "targetCPU=70 by phase Regular",
        "disruption minAvailable=70% by event rotation"}},
      {"no phase on a weekend; the regime still applies",
       "2027-03-20T14:00:00Z",
       26.0,
       "api",
       {"min=2 by base", "max=10 by base", "targetCPU=75 by regime Elevated",
        "disruption maxUnavailable=1 by base"}},
      {"no phase on a holiday (Good Friday)",
       "2027-03-26T14:00:00Z",
       std::nullopt,
       "calc",
       {"min=3 by base", "max=20 by base", "targetCPU=80 by base",
        "disruption minAvailable=2 by base"}},
  };
  for (const Case& c : cases) {
    const Result<Desired> d = ComputeDesired(pe, At(c.instant), c.vix);
    ASSERT_TRUE(d.has_value()) << c.rule;
    const ComponentDesired* found = nullptr;
    for (const ComponentDesired& component : d->components) {
      if (component.name == c.component) found = &component;
    }
    ASSERT_NE(found, nullptr) << c.rule;
    EXPECT_EQ(found->reasons, c.reasons) << c.rule;
  }
}

TEST(Policy, AnUnexpiredOverrideReplacesMinAndMaxEvenBelowThePhase) {
  json object = *ParseYaml(kSpec);
  object["spec"]["override"]["expires"] = "2027-03-15T15:00:00Z";
  const PricingEngine pe = MustParse(object);
  const Result<Desired> during = ComputeDesired(pe, At("2027-03-15T14:00:00Z"), 35.0);
  ASSERT_TRUE(during.has_value());
  EXPECT_EQ(during->active_layers,
            (std::vector<std::string>{"base", "phase Regular", "regime High", "override"}));
  EXPECT_EQ(during->components[0].reasons,
            (std::vector<std::string>{"min=4 by override", "max=4 by override",
                                      "targetCPU=60 by regime High",
                                      "disruption minAvailable=2 by base"}));
  EXPECT_EQ(during->components[1].bounds.min_replicas, 12);  // not named by the override
  EXPECT_EQ(during->next_transition, At("2027-03-15T15:00:00Z"));
  const Result<Desired> after = ComputeDesired(pe, At("2027-03-15T15:00:00Z"), 35.0);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->components[0].bounds.min_replicas, 15);
  EXPECT_FALSE(after->override_active);
}

TEST(Policy, PausedStillComputesPhasesForStatus) {
  json object = *ParseYaml(kSpec);
  object["spec"]["paused"] = true;
  const Result<Desired> d =
      ComputeDesired(MustParse(object), At("2027-03-15T14:00:00Z"), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->paused);
  EXPECT_EQ(d->market_phase, "Regular");
  EXPECT_EQ(d->components[0].bounds.min_replicas, 10);
}

TEST(Policy, TheControllersRegimeStateDecidesTheRegimeLayer) {
  const PricingEngine pe = MustParseYaml(kSpec);
  const TimePoint now = At("2027-03-15T22:00:00Z");  // no phase
  // Held in High although the value alone would select nothing.
  PolicyInputs held{10.0, RegimeState{"High", now - std::chrono::minutes{5}}};
  Result<Desired> d = ComputeDesired(pe, now, held);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->regime, "High");
  EXPECT_EQ(d->components[0].bounds.min_replicas, 15);
  // The hold ends in 10 minutes: a transition, and the requeue instant.
  EXPECT_EQ(d->next_transition, now + std::chrono::minutes{10});
  ASSERT_FALSE(d->next_transitions.empty());
  EXPECT_EQ(d->next_transitions[0], std::make_pair(now + std::chrono::minutes{10},
                                                   std::string("regime High minHold ends")));
  // No regime in the state: none, whatever the value.
  d = ComputeDesired(pe, now, PolicyInputs{35.0, RegimeState{"", now}});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->regime, "");
  // No state: the value picks (render).
  d = ComputeDesired(pe, now, PolicyInputs{35.0, std::nullopt});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->regime, "High");
  // A value at or above exitBelow: no hold to wait for.
  d = ComputeDesired(pe, now, PolicyInputs{28.0, RegimeState{"High", now}});
  ASSERT_TRUE(d.has_value());
  for (const auto& [at, description] : d->next_transitions) {
    EXPECT_EQ(description.find("minHold"), std::string::npos) << description;
  }
}

TEST(Policy, DesiredReportsMarketAndUpcomingTransitions) {
  const PricingEngine pe = MustParseYaml(kSpec);
  const Result<Desired> d = ComputeDesired(pe, At("2027-03-15T14:00:00Z"), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->market_phase, "Regular");
  EXPECT_EQ(d->market_day, "Regular");
  EXPECT_EQ(d->next_transition, At("2027-03-15T20:00:00Z"));
  std::vector<std::string> listed;
  for (const auto& [at, description] : d->next_transitions) {
    listed.push_back(FormatRfc3339(at) + " " + description);
  }
  EXPECT_EQ(listed, (std::vector<std::string>{
                        "2027-03-15T20:00:00Z phase Regular ends",
                        "2027-03-16T00:00:00Z event onboarding starts",
                        "2027-03-16T13:30:00Z phase Regular starts",
                        "2027-03-16T20:00:00Z phase Regular ends",
                        "2027-03-17T13:30:00Z phase Regular starts",
                        "2027-03-17T14:00:00Z event rotation starts",
                        "2027-03-17T16:00:00Z event rotation ends",
                        "2027-03-17T20:00:00Z phase Regular ends",
                    }));
  EXPECT_EQ(d->next_transitions.size(), kMaxNextTransitions);
  const Result<Desired> saturday = ComputeDesired(pe, At("2027-03-20T14:00:00Z"), std::nullopt);
  ASSERT_TRUE(saturday.has_value());
  EXPECT_EQ(saturday->market_phase, "Closed");
  EXPECT_EQ(saturday->market_day, "Weekend");
  const Result<Desired> early = ComputeDesired(pe, At("2027-11-26T15:00:00Z"), std::nullopt);
  ASSERT_TRUE(early.has_value());
  EXPECT_EQ(early->market_day, "EarlyClose");
  EXPECT_EQ(early->next_transition, At("2027-11-26T18:00:00Z"));  // 13:00 EST
}

TEST(Policy, CoincidingBoundariesShareOneTransition) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: p}
spec:
  image: engine:1
  components: [{name: calc, replicas: {min: 1, max: 9}}]
  marketHours:
    phases:
    - {name: Regular, start: open, end: close, minReplicas: {calc: 4}}
    - {name: PostMarket, start: close, end: "18:00", minReplicas: {calc: 2}}
  events:
  - {name: ends-at-close, start: "2027-03-15T19:00:00Z", end: "2027-03-15T20:00:00Z", minReplicas: {calc: 5}}
  override: {replicas: {calc: 3}, expires: "2027-03-15T20:00:00Z"}
)");
  const std::vector<Transition> t =
      Transitions(pe.spec, At("2027-03-15T19:30:00Z"), At("2027-03-15T23:00:00Z"));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].at, At("2027-03-15T20:00:00Z"));
  EXPECT_EQ(t[0].description,
            "phase Regular ends; phase PostMarket starts; event ends-at-close ends; override "
            "expires");
  EXPECT_EQ(t[1].description, "phase PostMarket ends");
}

}  // namespace
}  // namespace pricing::op
