#include "op/layers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::FullCrJson;
using testing::MustParse;

Disruption MinAvailable(int n, bool percent = false) {
  return Disruption{Disruption::Kind::kMinAvailable, {n, percent}};
}
Disruption MaxUnavailable(int n, bool percent = false) {
  return Disruption{Disruption::Kind::kMaxUnavailable, {n, percent}};
}

// A base layer for components "calc" (3..20, CPU 80, maxUnavailable 1) and
// "api" (2..10, CPU 70, minAvailable 1).
Layer Base() {
  Layer l;
  l.kind = LayerKind::kBase;
  l.min_replicas = {{"calc", 3}, {"api", 2}};
  l.max_replicas = {{"calc", 20}, {"api", 10}};
  l.target_cpu_utilization_percentage = {{"calc", 80}, {"api", 70}};
  l.disruption = {{"calc", MaxUnavailable(1)}, {"api", MinAvailable(1)}};
  return l;
}

Layer Make(LayerKind kind, std::string name, ComponentMap min, ComponentMap max,
           ComponentMap cpu = {}, std::map<std::string, Disruption> pdb = {}) {
  Layer l;
  l.kind = kind;
  l.name = std::move(name);
  l.min_replicas = std::move(min);
  l.max_replicas = std::move(max);
  l.target_cpu_utilization_percentage = std::move(cpu);
  l.disruption = std::move(pdb);
  return l;
}

EffectiveBounds Merge(const std::vector<Layer>& layers, const std::string& component) {
  const Result<EffectiveBounds> b = MergeLayers(layers, component);
  EXPECT_TRUE(b.has_value()) << (b ? "" : b.error().message);
  return b.value_or(EffectiveBounds{});
}

TEST(Layers, BaseAloneGivesTheBaseBounds) {
  const EffectiveBounds b = Merge({Base()}, "calc");
  EXPECT_EQ(b.min_replicas, 3);
  EXPECT_EQ(b.max_replicas, 20);
  EXPECT_EQ(b.target_cpu_utilization_percentage, 80);
  EXPECT_EQ(b.disruption, MaxUnavailable(1));
  EXPECT_EQ(Reasons(b),
            (std::vector<std::string>{"min=3 by base", "max=20 by base", "targetCPU=80 by base",
                                      "disruption maxUnavailable=1 by base"}));
}

TEST(Layers, EffectiveMinIsTheLargestMin) {
  const std::vector<Layer> layers = {
      Base(),
      Make(LayerKind::kPhase, "Regular", {{"calc", 10}}, {}),
      Make(LayerKind::kRegime, "Elevated", {{"calc", 8}}, {}),
      Make(LayerKind::kEvent, "onboarding", {{"calc", 12}, {"api", 1}}, {}),
  };
  const EffectiveBounds calc = Merge(layers, "calc");
  EXPECT_EQ(calc.min_replicas, 12);
  EXPECT_EQ(calc.min_from, "event onboarding");
  // A layer's smaller min never lowers the floor.
  const EffectiveBounds api = Merge(layers, "api");
  EXPECT_EQ(api.min_replicas, 2);
  EXPECT_EQ(api.min_from, "base");
}

TEST(Layers, EffectiveMaxIsTheLargestMax) {
  const std::vector<Layer> layers = {
      Base(),
      Make(LayerKind::kRegime, "High", {}, {{"calc", 40}}),
      Make(LayerKind::kEvent, "quiet", {}, {{"calc", 5}, {"api", 30}}),
  };
  const EffectiveBounds calc = Merge(layers, "calc");
  EXPECT_EQ(calc.max_replicas, 40);
  EXPECT_EQ(calc.max_from, "regime High");
  EXPECT_FALSE(calc.max_raised_to_min);
  EXPECT_EQ(Merge(layers, "api").max_replicas, 30);
}

TEST(Layers, MaxIsRaisedToAtLeastMin) {
  const std::vector<Layer> layers = {Base(),
                                     Make(LayerKind::kPhase, "Regular", {{"calc", 25}}, {})};
  const EffectiveBounds b = Merge(layers, "calc");
  EXPECT_EQ(b.min_replicas, 25);
  EXPECT_EQ(b.max_replicas, 25);
  EXPECT_TRUE(b.max_raised_to_min);
  EXPECT_EQ(b.max_from, "phase Regular");
  EXPECT_EQ(Reasons(b)[1], "max=25 by phase Regular (raised to min)");
}

TEST(Layers, CpuTargetIsTheLowest) {
  const std::vector<Layer> layers = {
      Base(),
      Make(LayerKind::kRegime, "High", {}, {}, {{"*", 60}}),
      Make(LayerKind::kPhase, "Regular", {}, {}, {{"calc", 90}, {"api", 65}}),
  };
  const EffectiveBounds calc = Merge(layers, "calc");
  EXPECT_EQ(calc.target_cpu_utilization_percentage, 60);
  EXPECT_EQ(calc.target_cpu_from, "regime High");
  const EffectiveBounds api = Merge(layers, "api");
  EXPECT_EQ(api.target_cpu_utilization_percentage, 60);
  EXPECT_EQ(Reasons(api)[2], "targetCPU=60 by regime High");
}

TEST(Layers, DisruptionIsTheActiveEventsElseTheBase) {
  const Layer regime = Make(LayerKind::kRegime, "High", {}, {}, {}, {{"*", MinAvailable(5)}});
  const Layer phase = Make(LayerKind::kPhase, "Regular", {}, {}, {}, {{"*", MinAvailable(4)}});
  // Phases and regimes cannot change the budget.
  EXPECT_EQ(Merge({Base(), phase, regime}, "calc").disruption, MaxUnavailable(1));
  const Layer rotation =
      Make(LayerKind::kEvent, "node-rotation", {}, {}, {}, {{"*", MinAvailable(70, true)}});
  const Layer later = Make(LayerKind::kEvent, "later", {}, {}, {}, {{"*", MaxUnavailable(2)}});
  const EffectiveBounds b = Merge({Base(), phase, rotation, later}, "calc");
  EXPECT_EQ(b.disruption, MinAvailable(70, true));
  EXPECT_EQ(b.disruption_from, "event node-rotation");
  EXPECT_EQ(Reasons(b)[3], "disruption minAvailable=70% by event node-rotation");
  // An event without a budget leaves the base one.
  const Layer no_pdb = Make(LayerKind::kEvent, "onboarding", {{"calc", 9}}, {});
  EXPECT_EQ(Merge({Base(), no_pdb}, "api").disruption, MinAvailable(1));
  EXPECT_EQ(Merge({Base(), no_pdb}, "api").disruption_from, "base");
}

TEST(Layers, OverrideReplacesMinAndMaxAndMayLowerThem) {
  const std::vector<Layer> layers = {
      Base(),
      Make(LayerKind::kPhase, "Regular", {{"calc", 10}}, {}),
      Make(LayerKind::kRegime, "High", {}, {{"calc", 40}}, {{"*", 60}}),
      Make(LayerKind::kOverride, "", {{"calc", 2}}, {{"calc", 2}}),
  };
  const EffectiveBounds calc = Merge(layers, "calc");
  EXPECT_EQ(calc.min_replicas, 2);
  EXPECT_EQ(calc.max_replicas, 2);
  EXPECT_EQ(calc.min_from, "override");
  EXPECT_EQ(calc.max_from, "override");
  // The override leaves the CPU target and the budget alone.
  EXPECT_EQ(calc.target_cpu_utilization_percentage, 60);
  EXPECT_EQ(calc.disruption, MaxUnavailable(1));
  // Components the override does not name keep the merged bounds.
  const EffectiveBounds api = Merge(layers, "api");
  EXPECT_EQ(api.min_replicas, 2);
  EXPECT_EQ(api.max_replicas, 10);
  EXPECT_EQ(api.min_from, "base");
}

TEST(Layers, OverrideAppliesWhereverItSitsInTheList) {
  const std::vector<Layer> layers = {
      Make(LayerKind::kOverride, "", {{"*", 7}}, {{"*", 7}}),
      Base(),
      Make(LayerKind::kEvent, "big", {{"*", 50}}, {{"*", 60}}),
  };
  const EffectiveBounds b = Merge(layers, "api");
  EXPECT_EQ(b.min_replicas, 7);
  EXPECT_EQ(b.max_replicas, 7);
}

TEST(Layers, AComponentsOwnEntryBeatsStar) {
  const std::vector<Layer> layers = {
      Base(),
      Make(LayerKind::kEvent, "maintenance", {{"*", 6}, {"calc", 4}}, {}),
  };
  EXPECT_EQ(Merge(layers, "calc").min_replicas, 4);
  EXPECT_EQ(Merge(layers, "calc").min_from, "event maintenance");
  EXPECT_EQ(Merge(layers, "api").min_replicas, 6);
}

TEST(Layers, TiesGoToTheEarliestLayer) {
  const std::vector<Layer> layers = {
      Base(),
      Make(LayerKind::kPhase, "Regular", {{"calc", 3}}, {{"calc", 20}}, {{"calc", 80}}),
  };
  const EffectiveBounds b = Merge(layers, "calc");
  EXPECT_EQ(b.min_from, "base");
  EXPECT_EQ(b.max_from, "base");
  EXPECT_EQ(b.target_cpu_from, "base");
}

TEST(Layers, FailsWhenNoLayerSetsABound) {
  const Layer phase = Make(LayerKind::kPhase, "Regular", {{"calc", 10}}, {});
  const Result<EffectiveBounds> b = MergeLayers({phase}, "calc");
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().message, "no active layer sets max for component \"calc\"");
  const Result<EffectiveBounds> unknown = MergeLayers({Base()}, "audit");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().message, "no active layer sets min for component \"audit\"");
}

TEST(Layers, PercentBoundsScaleTheBaseAndRoundUp) {
  const PricingEngine pe = MustParse(FullCrJson());
  ScalingRule rule;
  rule.min_replicas_percent = 150;
  rule.max_replicas_percent = 200;
  rule.target_cpu_utilization_percentage = {{"*", 65}};
  rule.disruption = MinAvailable(50, true);
  const Layer l = RuleLayer(LayerKind::kEvent, "onboarding-acme", rule, pe.spec);
  EXPECT_EQ(l.kind, LayerKind::kEvent);
  EXPECT_EQ(LayerLabel(l), "event onboarding-acme");
  // calculation 3..20, api-gateway 2..10: ceil(3 * 1.5) = 5, ceil(2 * 1.5) = 3.
  EXPECT_EQ(l.min_replicas, (ComponentMap{{"api-gateway", 3}, {"calculation", 5}}));
  EXPECT_EQ(l.max_replicas, (ComponentMap{{"api-gateway", 20}, {"calculation", 40}}));
  EXPECT_EQ(l.target_cpu_utilization_percentage, (ComponentMap{{"*", 65}}));
  EXPECT_EQ(l.disruption.at("*"), MinAvailable(50, true));

  ScalingRule huge;
  huge.max_replicas_percent = 10000;
  EXPECT_EQ(RuleLayer(LayerKind::kEvent, "x", huge, pe.spec).max_replicas.at("calculation"), 2000);
  PricingEngineSpec big = pe.spec;
  big.components[0].replicas = {5000, 9000};
  EXPECT_EQ(RuleLayer(LayerKind::kEvent, "x", huge, big).max_replicas.at("calculation"), 10000);
}

TEST(Layers, RuleLayerKeepsAbsoluteMaps) {
  const PricingEngine pe = MustParse(FullCrJson());
  const Regime& high = pe.spec.volatility->regimes[1];
  const Layer l = RuleLayer(LayerKind::kRegime, high.name, high.rule, pe.spec);
  EXPECT_EQ(LayerLabel(l), "regime High");
  EXPECT_EQ(l.min_replicas, (ComponentMap{{"calculation", 15}}));
  EXPECT_EQ(l.max_replicas, (ComponentMap{{"calculation", 40}}));
  EXPECT_EQ(l.target_cpu_utilization_percentage, (ComponentMap{{"*", 60}}));
  EXPECT_TRUE(l.disruption.empty());
}

TEST(Layers, BaseLayerCoversEveryComponent) {
  const PricingEngine pe = MustParse(FullCrJson());
  const Layer l = BaseLayer(pe.spec);
  EXPECT_EQ(LayerLabel(l), "base");
  EXPECT_EQ(l.min_replicas, (ComponentMap{{"api-gateway", 2}, {"calculation", 3}}));
  EXPECT_EQ(l.max_replicas, (ComponentMap{{"api-gateway", 10}, {"calculation", 20}}));
  EXPECT_EQ(l.target_cpu_utilization_percentage,
            (ComponentMap{{"api-gateway", 80}, {"calculation", 80}}));
  EXPECT_EQ(l.disruption.at("calculation"), MinAvailable(2));
  EXPECT_EQ(l.disruption.at("api-gateway"), MaxUnavailable(1));
}

TEST(Layers, RenderPicksTheHighestRegimeTheValueExceeds) {
  const PricingEngine pe = MustParse(FullCrJson());
  const Volatility& v = *pe.spec.volatility;  // Elevated > 25, High > 30
  EXPECT_EQ(RegimeForValue(v, 20), nullptr);
  EXPECT_EQ(RegimeForValue(v, 25), nullptr);
  EXPECT_EQ(RegimeForValue(v, 25.01)->name, "Elevated");
  EXPECT_EQ(RegimeForValue(v, 30)->name, "Elevated");
  EXPECT_EQ(RegimeForValue(v, 31.5)->name, "High");
  Volatility reversed = v;
  std::swap(reversed.regimes[0], reversed.regimes[1]);
  EXPECT_EQ(RegimeForValue(reversed, 80)->name, "High");
}

std::vector<std::string> Labels(const std::vector<Layer>& layers) {
  std::vector<std::string> labels;
  for (const Layer& l : layers) labels.push_back(LayerLabel(l));
  return labels;
}

TEST(Layers, ActiveLayersFollowEventWindowsAndOverrideExpiry) {
  const PricingEngine pe = MustParse(FullCrJson());
  // Override expires 2026-11-28T18:00Z; onboarding-acme [12-01T13:00Z, 12-08T00:00Z);
  // node-rotation [12-05T02:00Z, 12-05T06:00Z).
  EXPECT_EQ(Labels(ActiveLayers(pe.spec, At("2026-11-28T17:59:59Z"), std::nullopt)),
            (std::vector<std::string>{"base", "override"}));
  EXPECT_EQ(Labels(ActiveLayers(pe.spec, At("2026-11-28T18:00:00Z"), std::nullopt)),
            (std::vector<std::string>{"base"}));
  // Tuesday 2026-12-01 08:00 New York: PreMarket starts.
  EXPECT_EQ(Labels(ActiveLayers(pe.spec, At("2026-12-01T13:00:00Z"), 26.0)),
            (std::vector<std::string>{"base", "phase PreMarket", "regime Elevated",
                                      "event onboarding-acme"}));
  // Friday 2026-12-04 22:00 New York: Overnight.
  EXPECT_EQ(Labels(ActiveLayers(pe.spec, At("2026-12-05T03:00:00Z"), 35.0)),
            (std::vector<std::string>{"base", "phase Overnight", "regime High",
                                      "event onboarding-acme", "event node-rotation"}));
  EXPECT_EQ(Labels(ActiveLayers(pe.spec, At("2026-12-08T00:00:00Z"), 10.0)),
            (std::vector<std::string>{"base", "phase Overnight"}));
  // Sunday 2026-12-06 12:00 New York: no phase on a weekend.
  EXPECT_EQ(Labels(ActiveLayers(pe.spec, At("2026-12-06T17:00:00Z"), 10.0)),
            (std::vector<std::string>{"base", "event onboarding-acme"}));
}

TEST(Layers, NextTransitionIsTheEarliestBoundaryAhead) {
  const PricingEngine pe = MustParse(FullCrJson());
  // Saturday 07:00 New York: Friday's Overnight (after the 13:00 early close
  // of the day after Thanksgiving) ends at 08:00, before the override expires.
  EXPECT_EQ(NextTransition(pe.spec, At("2026-11-28T12:00:00Z")), At("2026-11-28T13:00:00Z"));
  EXPECT_EQ(NextTransition(pe.spec, At("2026-11-28T13:00:00Z")), At("2026-11-28T18:00:00Z"));
  // Then Monday's PreMarket lead time (10m before 08:00).
  EXPECT_EQ(NextTransition(pe.spec, At("2026-11-28T18:00:00Z")), At("2026-11-30T12:50:00Z"));
  EXPECT_EQ(NextTransition(pe.spec, At("2026-12-05T02:00:00Z")), At("2026-12-05T06:00:00Z"));
  json no_phases = FullCrJson();
  no_phases["spec"]["marketHours"].erase("phases");
  EXPECT_EQ(NextTransition(MustParse(no_phases).spec, At("2026-12-08T00:00:00Z")), std::nullopt);
  EXPECT_EQ(NextTransition(MustParse(no_phases).spec, At("2026-11-28T18:00:00Z")),
            At("2026-12-01T13:00:00Z"));
}

}  // namespace
}  // namespace pricing::op
