// A component's HPA metrics beyond the CPU target: the memory target, the
// autoscaling/v2 MetricSpec list, and utilization targets that phases,
// regimes and events set for every component or per component
// (docs/design.md §3.1, §3.2).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "op/desired.h"
#include "op/layers.h"
#include "op/render.h"
#include "op/spec.h"
#include "op/yaml.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::FullCrJson;
using testing::MustParse;

// testdata/pricingengine.yaml with `patch` (a JSON Patch) applied.
json Patched(const std::string& patch) { return FullCrJson().patch(json::parse(patch)); }

const ComponentDesired& Find(const Desired& d, const std::string& name) {
  for (const ComponentDesired& c : d.components) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << "no component " << name;
  static const ComponentDesired none;
  return none;
}

// Saturday 2026-12-12 noon UTC: no phase, no event of the test file active.
const char* const kQuietMoment = "2026-12-12T12:00:00Z";

TEST(AutoscalingMetrics, LayerTargetsAreOneNumberOrAMapByComponent) {
  const PricingEngine pe = MustParse(Patched(R"([
      {"op":"replace","path":"/spec/volatility/regimes/1/targetCPUUtilizationPercentage",
       "value":{"calculation":60}},
      {"op":"add","path":"/spec/volatility/regimes/0/targetCPUUtilizationPercentage",
       "value":{"calculation":70,"*":75}},
      {"op":"add","path":"/spec/marketHours/phases/1/targetCPUUtilizationPercentage","value":72}])"));
  const auto& regimes = pe.spec.volatility->regimes;
  EXPECT_EQ(regimes[1].rule.target_cpu_utilization_percentage, (ComponentMap{{"calculation", 60}}));
  EXPECT_EQ(regimes[0].rule.target_cpu_utilization_percentage,
            (ComponentMap{{"*", 75}, {"calculation", 70}}));
  EXPECT_EQ(pe.spec.market_hours.phases[1].rule.target_cpu_utilization_percentage,
            (ComponentMap{{"*", 72}}));
}

// The guide's "kubectl patch hpa pricing-calculation ... CPU 60%": the High
// regime lowers calculation's target and leaves api-gateway's alone.
TEST(AutoscalingMetrics, ARegimeCanLowerOnlyOneComponentsCpuTarget) {
  const PricingEngine pe = MustParse(Patched(R"([
      {"op":"replace","path":"/spec/volatility/regimes/1/targetCPUUtilizationPercentage",
       "value":{"calculation":60}},
      {"op":"add","path":"/spec/components/1/autoscaling",
       "value":{"targetCPUUtilizationPercentage":70}}])"));
  const Result<Desired> calm = ComputeDesired(pe, At(kQuietMoment), std::optional<double>{});
  const Result<Desired> high = ComputeDesired(pe, At(kQuietMoment), std::optional<double>{35});
  ASSERT_TRUE(calm.has_value() && high.has_value());
  EXPECT_EQ(Find(*calm, "calculation").bounds.target_cpu_utilization_percentage, 80);
  EXPECT_EQ(Find(*high, "calculation").bounds.target_cpu_utilization_percentage, 60);
  EXPECT_EQ(Find(*high, "calculation").bounds.target_cpu_from, "regime High");
  EXPECT_EQ(Find(*high, "api-gateway").bounds.target_cpu_utilization_percentage, 70);
  EXPECT_EQ(Find(*high, "api-gateway").bounds.target_cpu_from, "base");
  const json& hpa = Find(*high, "calculation").horizontal_pod_autoscaler;
  EXPECT_EQ(hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 60);
  EXPECT_EQ(Find(*high, "api-gateway")
                .horizontal_pod_autoscaler["spec"]["metrics"][0]["resource"]["target"]
                                          ["averageUtilization"],
            70);
}

TEST(AutoscalingMetrics, AComponentsOwnEntryBeatsStarAndTheLowestTargetWins) {
  Layer base;
  base.kind = LayerKind::kBase;
  base.min_replicas = {{"calc", 2}, {"api", 2}};
  base.max_replicas = {{"calc", 10}, {"api", 10}};
  base.target_cpu_utilization_percentage = {{"calc", 80}, {"api", 80}};
  base.target_memory_utilization_percentage = {{"calc", 90}};
  base.disruption = {{"calc", Disruption{}}, {"api", Disruption{}}};
  Layer regime;
  regime.kind = LayerKind::kRegime;
  regime.name = "High";
  regime.target_cpu_utilization_percentage = {{"calc", 85}, {"*", 65}};
  regime.target_memory_utilization_percentage = {{"*", 95}};
  Layer event;
  event.kind = LayerKind::kEvent;
  event.name = "onboarding";
  event.target_memory_utilization_percentage = {{"api", 70}, {"calc", 75}};

  const Result<EffectiveBounds> calc = MergeLayers({base, regime, event}, "calc");
  ASSERT_TRUE(calc.has_value());
  // calc's own entry (85) beats the regime's "*" (65) and is above base: 80 stays.
  EXPECT_EQ(calc->target_cpu_utilization_percentage, 80);
  EXPECT_EQ(calc->target_cpu_from, "base");
  EXPECT_EQ(calc->target_memory_utilization_percentage, 75);
  EXPECT_EQ(calc->target_memory_from, "event onboarding");
  const Result<EffectiveBounds> api = MergeLayers({base, regime}, "api");
  ASSERT_TRUE(api.has_value());
  EXPECT_EQ(api->target_cpu_utilization_percentage, 65);
  // No base memory target for api: the regime's is the only one.
  EXPECT_EQ(api->target_memory_utilization_percentage, 95);
  EXPECT_EQ(Reasons(*api)[3], "targetMemory=95 by regime High");
  const Result<EffectiveBounds> api_base = MergeLayers({base}, "api");
  ASSERT_TRUE(api_base.has_value());
  EXPECT_FALSE(api_base->target_memory_utilization_percentage.has_value());
  EXPECT_EQ(Reasons(*api_base).size(), 4u);
}

TEST(AutoscalingMetrics, TheHpaGetsMemoryThenPodsThenTheListAsWritten) {
  const PricingEngine pe = MustParse(Patched(R"([
      {"op":"add","path":"/spec/components/0/autoscaling/targetMemoryUtilizationPercentage",
       "value":85},
      {"op":"add","path":"/spec/components/0/autoscaling/metrics","value":[
        {"type":"External","external":{"metric":{"name":"queue_depth",
           "selector":{"matchLabels":{"queue":"locates"}}},
         "target":{"type":"AverageValue","averageValue":30}}},
        {"type":"Object","object":{"describedObject":{"apiVersion":"networking.k8s.io/v1",
           "kind":"Ingress","name":"pricing"},"metric":{"name":"requests_per_second"},
         "target":{"type":"Value","value":"2k"}}},
        {"type":"ContainerResource","containerResource":{"name":"cpu","container":"engine",
         "target":{"type":"Utilization","averageUtilization":75}}},
        {"type":"Pods","pods":{"metric":{"name":"locates_per_second"},
         "target":{"type":"AverageValue","averageValue":"250"}}}]}])"));
  const Result<Desired> d = ComputeDesired(pe, At(kQuietMoment), std::optional<double>{});
  ASSERT_TRUE(d.has_value());
  const json metrics = Find(*d, "calculation").horizontal_pod_autoscaler["spec"]["metrics"];
  ASSERT_EQ(metrics.size(), 7u);
  EXPECT_EQ(metrics[0]["resource"]["name"], "cpu");
  EXPECT_EQ(metrics[1], json::parse(R"({"type":"Resource","resource":{"name":"memory",
      "target":{"type":"Utilization","averageUtilization":85}}})"));
  EXPECT_EQ(metrics[2]["pods"]["metric"]["name"], "calculations_per_second");
  // A quantity written as a number is kept as the text the API server returns.
  EXPECT_EQ(metrics[3], json::parse(R"({"type":"External","external":{"metric":{
      "name":"queue_depth","selector":{"matchLabels":{"queue":"locates"}}},
      "target":{"type":"AverageValue","averageValue":"30"}}})"));
  EXPECT_EQ(metrics[4]["object"]["describedObject"]["kind"], "Ingress");
  EXPECT_EQ(metrics[4]["object"]["target"], json::parse(R"({"type":"Value","value":"2k"})"));
  EXPECT_EQ(metrics[5]["containerResource"]["container"], "engine");
  EXPECT_EQ(metrics[6]["pods"]["metric"]["name"], "locates_per_second");
  // api-gateway has neither: CPU and nothing else.
  EXPECT_EQ(Find(*d, "api-gateway").horizontal_pod_autoscaler["spec"]["metrics"].size(), 1u);
}

TEST(AutoscalingMetrics, AnEventsMemoryTargetAddsTheMetricOnlyWhileActive) {
  const PricingEngine pe = MustParse(Patched(R"([
      {"op":"add","path":"/spec/events/1/targetMemoryUtilizationPercentage","value":{"calculation":70}}])"));
  const Result<Desired> during =
      ComputeDesired(pe, At("2026-12-05T03:00:00Z"), std::optional<double>{});
  const Result<Desired> after = ComputeDesired(pe, At(kQuietMoment), std::optional<double>{});
  ASSERT_TRUE(during.has_value() && after.has_value());
  const ComponentDesired& calc = Find(*during, "calculation");
  EXPECT_EQ(calc.bounds.target_memory_utilization_percentage, 70);
  EXPECT_EQ(calc.horizontal_pod_autoscaler["spec"]["metrics"][1]["resource"]["name"], "memory");
  EXPECT_FALSE(Find(*during, "api-gateway").bounds.target_memory_utilization_percentage);
  EXPECT_FALSE(Find(*after, "calculation").bounds.target_memory_utilization_percentage);
  EXPECT_EQ(Find(*after, "calculation").horizontal_pod_autoscaler["spec"]["metrics"].size(), 2u);
}

TEST(AutoscalingMetrics, APhaseLeadLayerCarriesNoTargets) {
  const PricingEngine pe = MustParse(Patched(R"([
      {"op":"add","path":"/spec/marketHours/phases/1/targetMemoryUtilizationPercentage","value":60},
      {"op":"add","path":"/spec/marketHours/phases/1/targetCPUUtilizationPercentage","value":50}])"));
  const Layer lead = PhaseLeadLayer(pe.spec.market_hours.phases[1], pe.spec);
  EXPECT_TRUE(lead.target_cpu_utilization_percentage.empty());
  EXPECT_TRUE(lead.target_memory_utilization_percentage.empty());
  EXPECT_FALSE(lead.min_replicas.empty());
}

// explain shows a MEMORY column, and the layer that set each target, once
// some component has a memory target; without one the table is unchanged.
TEST(AutoscalingMetrics, ExplainShowsMemoryTargetsOnlyWhenThereAreAny) {
  const std::string with_memory = R"(
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: p}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  components:
  - name: calc
    replicas: {min: 2, max: 8}
    resources: {requests: {cpu: 500m, memory: 1Gi}}
    autoscaling: {targetMemoryUtilizationPercentage: 90}
  - name: api
    replicas: {min: 2, max: 4}
  volatility:
    source: {value: 35}
    regimes:
    - {name: High, enterAbove: 30, exitBelow: 27, targetMemoryUtilizationPercentage: {calc: 70},
       targetCPUUtilizationPercentage: {calc: 60}}
)";
  const Result<std::string> high =
      Explain(with_memory, At(kQuietMoment), 35.0, std::chrono::hours{24});
  ASSERT_TRUE(high.has_value()) << ToString(high.error());
  EXPECT_NE(high->find("COMPONENT  MIN  MAX  CPU  MEMORY  PDB\n"), std::string::npos) << *high;
  EXPECT_NE(high->find("  calc       2    8    60%  70%     maxUnavailable=1\n"), std::string::npos)
      << *high;
  EXPECT_NE(high->find("  api        2    4    80%  -       maxUnavailable=1\n"), std::string::npos)
      << *high;
  EXPECT_NE(high->find("    targetMemory=70 by regime High\n"), std::string::npos) << *high;
  const Result<std::string> calm =
      Explain(with_memory, At(kQuietMoment), 10.0, std::chrono::hours{24});
  ASSERT_TRUE(calm.has_value());
  EXPECT_NE(calm->find("    targetMemory=90 by base\n"), std::string::npos) << *calm;

  std::string without = with_memory;
  without.replace(without.find("    autoscaling: {targetMemoryUtilizationPercentage: 90}\n"),
                  std::string("    autoscaling: {targetMemoryUtilizationPercentage: 90}\n").size(),
                  "");
  const Result<std::string> none = Explain(without, At(kQuietMoment), 10.0, std::chrono::hours{24});
  ASSERT_TRUE(none.has_value());
  EXPECT_NE(none->find("COMPONENT  MIN  MAX  CPU  PDB\n"), std::string::npos) << *none;
  EXPECT_EQ(none->find("targetMemory"), std::string::npos) << *none;
}

struct InvalidCase {
  std::string name;
  std::string patch;
  std::string field;
  std::string message;  // a substring of the error's message
};

TEST(AutoscalingMetrics, EachInvalidTargetOrMetricNamesTheFieldAtFault) {
  // Component 0 is calculation (memory request 1Gi), 1 api-gateway (256Mi, no limit).
  const auto metric = [](const std::string& value) {
    return R"([{"op":"add","path":"/spec/components/0/autoscaling/metrics","value":[)" + value +
           "]}]";
  };
  const std::string m = "spec.components[0].autoscaling.metrics[0]";
  const std::vector<InvalidCase> cases = {
      {"memory target without a memory request",
       R"([{"op":"replace","path":"/spec/components/1/resources","value":{"requests":{"cpu":"1"}}},
           {"op":"add","path":"/spec/components/1/autoscaling","value":{"targetMemoryUtilizationPercentage":80}}])",
       "spec.components[1].autoscaling.targetMemoryUtilizationPercentage",
       "needs resources.requests.memory"},
      {"memory target above 100",
       R"([{"op":"add","path":"/spec/components/0/autoscaling/targetMemoryUtilizationPercentage","value":101}])",
       "spec.components[0].autoscaling.targetMemoryUtilizationPercentage", "from 1 to 100"},
      {"regime target above 100",
       R"([{"op":"replace","path":"/spec/volatility/regimes/1/targetCPUUtilizationPercentage","value":150}])",
       "spec.volatility.regimes[1].targetCPUUtilizationPercentage", "from 1 to 100, not 150"},
      {"regime map target above 100",
       R"([{"op":"replace","path":"/spec/volatility/regimes/1/targetCPUUtilizationPercentage","value":{"calculation":0}}])",
       "spec.volatility.regimes[1].targetCPUUtilizationPercentage[calculation]", "from 1 to 100"},
      {"event target for an unknown component",
       R"([{"op":"add","path":"/spec/events/0/targetCPUUtilizationPercentage","value":{"calculator":60}}])",
       "spec.events[0].targetCPUUtilizationPercentage[calculator]", "unknown component"},
      {"phase target as a string",
       R"([{"op":"add","path":"/spec/marketHours/phases/0/targetCPUUtilizationPercentage","value":"60"}])",
       "spec.marketHours.phases[0].targetCPUUtilizationPercentage",
       "must be an integer 1..100 or a map of component name to an integer 1..100"},
      {"phase map value as a string",
       R"([{"op":"add","path":"/spec/marketHours/phases/0/targetMemoryUtilizationPercentage","value":{"calculation":"60"}}])",
       "spec.marketHours.phases[0].targetMemoryUtilizationPercentage[calculation]",
       "must be an integer"},
      {"layer memory target reaching a component without a memory request",
       R"([{"op":"replace","path":"/spec/components/1/resources","value":{"requests":{"cpu":"1"}}},
           {"op":"add","path":"/spec/volatility/regimes/0/targetMemoryUtilizationPercentage","value":80}])",
       "spec.volatility.regimes[0].targetMemoryUtilizationPercentage[*]",
       "reaches component \"api-gateway\", which needs resources.requests.memory"},
      {"layer memory target on a component with its own memory metric",
       R"([{"op":"add","path":"/spec/components/0/autoscaling/metrics","value":[{"type":"Resource",
             "resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"3Gi"}}}]},
           {"op":"add","path":"/spec/events/0/targetMemoryUtilizationPercentage","value":{"calculation":80}}])",
       "spec.events[0].targetMemoryUtilizationPercentage[calculation]",
       "has a Resource metric for memory"},
      {"metrics not a list",
       R"([{"op":"add","path":"/spec/components/0/autoscaling/metrics","value":{}}])",
       "spec.components[0].autoscaling.metrics", "must be a list"},
      {"metric type unknown", metric(R"({"type":"Custom"})"), m + ".type",
       "\"Custom\" is not one of Resource, ContainerResource, Pods, Object, External"},
      {"metric type without its member", metric(R"({"type":"Pods"})"), m + ".pods",
       "is required when type is Pods"},
      {"metric with the member of another type",
       metric(R"({"type":"Pods","pods":{"metric":{"name":"x"},"target":{"type":"AverageValue","averageValue":"1"}},
                  "external":{"metric":{"name":"x"},"target":{"type":"Value","value":"1"}}})"),
       m + ".external", "must not be set when type is Pods"},
      {"utilization on a Pods metric",
       metric(R"({"type":"Pods","pods":{"metric":{"name":"x"},"target":{"type":"Utilization","averageUtilization":50}}})"),
       m + ".pods.target.type", "a Pods metric's target must be AverageValue, not Utilization"},
      {"Value on a Resource metric",
       metric(R"({"type":"Resource","resource":{"name":"nvidia.com/gpu","target":{"type":"Value","value":"1"}}})"),
       m + ".resource.target.type", "must be Utilization or AverageValue, not Value"},
      {"utilization without averageUtilization",
       metric(R"({"type":"ContainerResource","containerResource":{"name":"memory","container":"engine","target":{"type":"Utilization"}}})"),
       m + ".containerResource.target.averageUtilization", "is required when type is Utilization"},
      {"AverageValue target with value",
       metric(R"({"type":"External","external":{"metric":{"name":"x"},"target":{"type":"AverageValue","value":"1"}}})"),
       m + ".external.target.value", "must not be set when type is AverageValue"},
      {"zero averageValue",
       metric(R"({"type":"External","external":{"metric":{"name":"x"},"target":{"type":"AverageValue","averageValue":"0"}}})"),
       m + ".external.target.averageValue", "must be greater than zero"},
      {"negative value",
       metric(R"({"type":"Object","object":{"describedObject":{"kind":"Service","name":"a"},"metric":{"name":"x"},"target":{"type":"Value","value":"-5"}}})"),
       m + ".object.target.value", "must be greater than zero"},
      {"Object without describedObject",
       metric(R"({"type":"Object","object":{"metric":{"name":"x"},"target":{"type":"Value","value":"5"}}})"),
       m + ".object.describedObject", "is required"},
      {"Object's describedObject without a name",
       metric(R"({"type":"Object","object":{"describedObject":{"kind":"Service"},"metric":{"name":"x"},"target":{"type":"Value","value":"5"}}})"),
       m + ".object.describedObject.name", "is required"},
      {"metric name with a slash",
       metric(R"({"type":"External","external":{"metric":{"name":"queue/depth"},"target":{"type":"Value","value":"5"}}})"),
       m + ".external.metric.name", "may not contain '/' or '%'"},
      {"described object named ..",
       metric(R"({"type":"Object","object":{"describedObject":{"kind":"Service","name":".."},"metric":{"name":"x"},"target":{"type":"Value","value":"5"}}})"),
       m + ".object.describedObject.name", "\"..\" may not be a name"},
      {"Pods metric without a name",
       metric(R"({"type":"Pods","pods":{"metric":{},"target":{"type":"AverageValue","averageValue":"5"}}})"),
       m + ".pods.metric.name", "is required"},
      {"container name invalid",
       metric(R"({"type":"ContainerResource","containerResource":{"name":"cpu","container":"Engine","target":{"type":"Utilization","averageUtilization":50}}})"),
       m + ".containerResource.container", "is not a container name"},
      {"misspelt target member",
       metric(R"({"type":"Resource","resource":{"name":"memory","target":{"type":"Utilization","averageUtilisation":50}}})"),
       m + ".resource.target.averageUtilisation", "unknown field"},
      {"selector with a bad operator",
       metric(R"({"type":"External","external":{"metric":{"name":"x","selector":{"matchExpressions":[{"key":"a","operator":"Has"}]}},"target":{"type":"Value","value":"5"}}})"),
       m + ".external.metric.selector.matchExpressions[0].operator", "Has"},
      {"Resource cpu in metrics",
       metric(R"({"type":"Resource","resource":{"name":"cpu","target":{"type":"AverageValue","averageValue":"500m"}}})"),
       m + ".resource.name", "use autoscaling.targetCPUUtilizationPercentage for cpu"},
      {"Resource memory next to the memory shorthand",
       R"([{"op":"add","path":"/spec/components/0/autoscaling/targetMemoryUtilizationPercentage","value":80},
           {"op":"add","path":"/spec/components/0/autoscaling/metrics","value":[{"type":"Resource",
             "resource":{"name":"memory","target":{"type":"Utilization","averageUtilization":70}}}]}])",
       m + ".resource.name", "duplicates autoscaling.targetMemoryUtilizationPercentage"},
      {"Pods metric repeating podsMetrics",
       metric(R"({"type":"Pods","pods":{"metric":{"name":"calculations_per_second"},"target":{"type":"AverageValue","averageValue":"500"}}})"),
       m + ".pods.metric.name", "already in autoscaling.podsMetrics"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Result<PricingEngine> pe = ParsePricingEngine(Patched(c.patch));
    ASSERT_FALSE(pe.has_value());
    EXPECT_EQ(pe.error().field, c.field) << ToString(pe.error());
    EXPECT_NE(pe.error().message.find(c.message), std::string::npos) << ToString(pe.error());
  }
}

TEST(AutoscalingMetrics, MemoryTargetsNeedOnlyALimitAndMetricsMayBeEmpty) {
  // Kubernetes copies a memory limit to the request, so a limit suffices.
  const PricingEngine pe = MustParse(Patched(R"([
      {"op":"replace","path":"/spec/components/1/resources","value":{"limits":{"cpu":"1","memory":"1Gi"}}},
      {"op":"add","path":"/spec/components/1/autoscaling","value":{"targetMemoryUtilizationPercentage":80}},
      {"op":"add","path":"/spec/components/0/autoscaling/metrics","value":[]},
      {"op":"add","path":"/spec/volatility/regimes/0/targetMemoryUtilizationPercentage","value":70}])"));
  EXPECT_EQ(pe.spec.components[1].autoscaling.target_memory_utilization_percentage, 80);
  EXPECT_TRUE(pe.spec.components[0].autoscaling.metrics.empty());
  EXPECT_EQ(pe.spec.volatility->regimes[0].rule.target_memory_utilization_percentage,
            (ComponentMap{{"*", 70}}));
}

}  // namespace
}  // namespace pricing::op
