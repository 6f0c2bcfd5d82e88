#include "op/desired.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "op/children.h"
#include "op/render.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::FullCrJson;
using testing::MustParse;
using testing::MustParseYaml;

// An instant with no phase, no event and the override expired: Sunday
// 2026-11-29, 10:00 in New York.
constexpr const char* kQuiet = "2026-11-29T15:00:00Z";

Desired MustCompute(const PricingEngine& pe, TimePoint now,
                    std::optional<double> vix = std::nullopt) {
  Result<Desired> d = ComputeDesired(pe, now, vix);
  EXPECT_TRUE(d.has_value()) << (d ? "" : ToString(d.error()));
  return d.value_or(Desired{});
}

const ComponentDesired& Find(const Desired& d, const std::string& name) {
  for (const ComponentDesired& c : d.components) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << "no component " << name;
  static const ComponentDesired kNone;
  return kNone;
}

const json kLabels = {
    {"app.kubernetes.io/name", "pricing-engine"},
    {"app.kubernetes.io/instance", "pricing"},
    {"app.kubernetes.io/component", "calculation"},
    {"app.kubernetes.io/managed-by", "pricing-operator"},
};
const json kSelector = {
    {"app.kubernetes.io/name", "pricing-engine"},
    {"app.kubernetes.io/instance", "pricing"},
    {"app.kubernetes.io/component", "calculation"},
};

TEST(Desired, FourChildrenPerComponentNamedAfterTheCrAndComponent) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  const std::vector<json> objects = d.Objects();
  ASSERT_EQ(objects.size(), 8u);
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"apps/v1", "Deployment"},
      {"v1", "Service"},
      {"autoscaling/v2", "HorizontalPodAutoscaler"},
      {"policy/v1", "PodDisruptionBudget"},
  };
  for (size_t i = 0; i < objects.size(); ++i) {
    const json& o = objects[i];
    EXPECT_EQ(o["apiVersion"], kinds[i % 4].first);
    EXPECT_EQ(o["kind"], kinds[i % 4].second);
    EXPECT_EQ(o["metadata"]["name"], i < 4 ? "pricing-calculation" : "pricing-api-gateway");
    EXPECT_EQ(o["metadata"]["namespace"], "trading");
  }
}

TEST(Desired, EveryChildIsLabelledAndOwnedByTheCr) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  const json owner = {
      {"apiVersion", "pricing.borrowrate.io/v1alpha1"},
      {"kind", "PricingEngine"},
      {"name", "pricing"},
      {"uid", "0b6f0ad4-5c2e-4d7e-9a43-2f7c1b1d9e11"},
      {"controller", true},
      {"blockOwnerDeletion", true},
  };
  const ComponentDesired& calc = Find(d, "calculation");
  for (const json* o : {&calc.deployment, &calc.service, &calc.horizontal_pod_autoscaler,
                        &calc.pod_disruption_budget}) {
    EXPECT_EQ((*o)["metadata"]["labels"], kLabels) << (*o)["kind"];
    EXPECT_EQ((*o)["metadata"]["ownerReferences"], json::array({owner})) << (*o)["kind"];
  }
  json gateway_labels = kLabels;
  gateway_labels["app.kubernetes.io/component"] = "api-gateway";
  EXPECT_EQ(Find(d, "api-gateway").service["metadata"]["labels"], gateway_labels);
}

TEST(Desired, DeploymentLeavesReplicasToTheHpa) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  for (const ComponentDesired& c : d.components) {
    ASSERT_TRUE(c.deployment["spec"].is_object());
    EXPECT_FALSE(c.deployment["spec"].contains("replicas")) << c.name;
  }
}

TEST(Desired, DeploymentRunsTheEngineHardened) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  const json& spec = Find(d, "calculation").deployment["spec"];
  EXPECT_EQ(spec["selector"]["matchLabels"], kSelector);
  const json& tmpl = spec["template"];
  EXPECT_EQ(tmpl["metadata"]["labels"], kLabels);
  EXPECT_EQ(tmpl["metadata"]["annotations"], json({{"prometheus.io/scrape", "true"},
                                                   {"prometheus.io/port", "8080"},
                                                   {"prometheus.io/path", "/metrics"}}));
  const json& pod = tmpl["spec"];
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(pod["automountServiceAccountToken"], false);
  EXPECT_EQ(pod["enableServiceLinks"], false);
  ASSERT_EQ(pod["containers"].size(), 1u);
  const json& c = pod["containers"][0];
  EXPECT_EQ(c["name"], "engine");
  EXPECT_EQ(c["image"], "registry.example.com/pricing-engine:1.0.0");
  EXPECT_EQ(c["args"], json::array({"--role", "calculation"}));
  EXPECT_EQ(c["env"], json::parse(R"([{"name": "PRICING_ROLE", "value": "calculation"},
                                       {"name": "PRICING_AUDIT_DIR", "value": "/var/lib/pricing"},
                                       {"name": "PRICING_AUDIT_HANDOFF_URL",
                                        "value": "http://pricing-calculation:8080"}])"));
  EXPECT_EQ(c["ports"],
            json::parse(R"([{"name": "http", "containerPort": 8080, "protocol": "TCP"}])"));
  EXPECT_EQ(c["resources"], json::parse(R"({"requests": {"cpu": "500m", "memory": "1Gi"},
                                             "limits": {"cpu": "2", "memory": "4Gi"}})"));
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/health/ready");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["port"], "http");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/health/live");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["port"], "http");
  EXPECT_EQ(c["lifecycle"]["preStop"]["sleep"]["seconds"], 5);
  EXPECT_EQ(pod["terminationGracePeriodSeconds"], 40) << "preStop, drain, spool drain, handoff";
  const json& sc = c["securityContext"];
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["runAsUser"], 65532);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_EQ(sc["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(sc["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(c["volumeMounts"],
            json::parse(R"([{"name": "audit-spool", "mountPath": "/var/lib/pricing"}])"));
  EXPECT_EQ(pod["volumes"], json::parse(R"([{"name": "audit-spool", "emptyDir": {}}])"));
  const json& terms =
      pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
  ASSERT_EQ(terms.size(), 2u);
  std::set<std::string> topology_keys;
  for (const json& t : terms) {
    topology_keys.insert(t["podAffinityTerm"]["topologyKey"].get<std::string>());
    EXPECT_EQ(t["podAffinityTerm"]["labelSelector"]["matchLabels"], kSelector);
  }
  EXPECT_EQ(topology_keys,
            (std::set<std::string>{"topology.kubernetes.io/zone", "kubernetes.io/hostname"}));
  // The gateway component runs its own role.
  const json& gw = Find(d, "api-gateway").deployment["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(gw["args"], json::array({"--role", "gateway"}));
  EXPECT_EQ(gw["resources"], json::parse(R"({"requests": {"cpu": "250m", "memory": "256Mi"}})"));
}

// The engine's split roles find each other through the components'
// Services; spec.env and spec.envFrom reach every container after the
// operator's own variables.
TEST(Desired, SplitRolesAreWiredToTheServicesOfTheRolesTheyCall) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: desk, namespace: prod}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  env:
  - {name: PRICING_LENDER_API_URL, value: "http://lender.example:8080"}
  - name: PRICING_INTERNAL_TOKEN
    valueFrom: {secretKeyRef: {name: engine-internal, key: token}}
  envFrom:
  - secretRef: {name: engine-connections}
  components:
  - {name: api, role: gateway, replicas: {min: 1, max: 2}}
  - {name: calc, role: calculation, replicas: {min: 1, max: 2}}
  - {name: db, role: data, replicas: {min: 1, max: 2}}
  - {name: warm, role: cache, replicas: {min: 1, max: 2}}
  - {name: trail, role: audit, replicas: {min: 1, max: 2}}
)");
  const Desired d = MustCompute(pe, At(kQuiet));
  auto env_of = [&](const std::string& component) {
    std::map<std::string, std::string> out;
    const json& c = Find(d, component).deployment["spec"]["template"]["spec"]["containers"][0];
    for (const json& var : c["env"]) {
      out[var["name"]] = var.contains("value") ? var["value"].get<std::string>() : "(from)";
    }
    EXPECT_EQ(c["envFrom"], json::parse(R"([{"secretRef": {"name": "engine-connections"}}])"));
    return out;
  };
  using Env = std::map<std::string, std::string>;
  const Env common = {{"PRICING_AUDIT_DIR", "/var/lib/pricing"},
                      {"PRICING_LENDER_API_URL", "http://lender.example:8080"},
                      {"PRICING_INTERNAL_TOKEN", "(from)"}};
  auto with = [&](Env extra) {
    extra.insert(common.begin(), common.end());
    return extra;
  };
  EXPECT_EQ(env_of("api"), with({{"PRICING_ROLE", "gateway"},
                                 {"PRICING_CALCULATION_URL", "http://desk-calc:8080"},
                                 {"PRICING_DATA_URL", "http://desk-db:8080"}}));
  EXPECT_EQ(env_of("calc"), with({{"PRICING_ROLE", "calculation"},
                                  {"PRICING_DATA_URL", "http://desk-db:8080"},
                                  {"PRICING_AUDIT_URL", "http://desk-trail:8080"},
                                  {"PRICING_AUDIT_HANDOFF_URL", "http://desk-calc:8080"}}));
  EXPECT_EQ(env_of("db"), with({{"PRICING_ROLE", "data"}}));
  EXPECT_EQ(env_of("warm"),
            with({{"PRICING_ROLE", "cache"}, {"PRICING_DATA_URL", "http://desk-db:8080"}}));
  EXPECT_EQ(env_of("trail"), with({{"PRICING_ROLE", "audit"}}));
  // The operator's variables come first, the spec's after them, in order.
  const json& env = Find(d, "api").deployment["spec"]["template"]["spec"]["containers"][0]["env"];
  EXPECT_EQ(env[0]["name"], "PRICING_ROLE");
  EXPECT_EQ(env[env.size() - 1]["name"], "PRICING_INTERNAL_TOKEN");
}

// placement.* reaches the pod template: nodeSelector, tolerations, affinity
// (with the operator's anti-affinity added), topology spread constraints
// (selecting the component's pods unless they name a selector) and the
// priority class.
TEST(Desired, DeploymentCarriesThePlacement) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: pricing, namespace: trading}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  components:
  - name: calculation
    role: calculation
    replicas: {min: 3, max: 20}
    placement:
      nodeSelector: {node-group: compute}
      tolerations: [{key: spot, operator: Equal, value: "true", effect: NoSchedule}]
      priorityClassName: pricing-standard
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - {weight: 50, preference: {matchExpressions: [{key: capacity-type, operator: In, values: [spot]}]}}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway}
      - {maxSkew: 2, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app.kubernetes.io/name: pricing-engine}},
         matchLabelKeys: [pod-template-hash]}
)");
  const Desired d = MustCompute(pe, At(kQuiet));
  const json& pod = Find(d, "calculation").deployment["spec"]["template"]["spec"];
  EXPECT_EQ(pod["nodeSelector"], json({{"node-group", "compute"}}));
  EXPECT_EQ(pod["tolerations"], json::parse(R"([{"key": "spot", "operator": "Equal",
                                                  "value": "true", "effect": "NoSchedule"}])"));
  EXPECT_EQ(pod["priorityClassName"], "pricing-standard");
  EXPECT_EQ(pod["affinity"]["nodeAffinity"], json::parse(R"({
      "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "preference": {
          "matchExpressions": [{"key": "capacity-type", "operator": "In", "values": ["spot"]}]}}]})"));
  // The operator's anti-affinity is still there, next to the node affinity.
  EXPECT_EQ(
      pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"].size(),
      2u);
  EXPECT_EQ(pod["topologySpreadConstraints"], json::parse(R"([
      {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
       "whenUnsatisfiable": "ScheduleAnyway",
       "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "pricing-engine",
                                         "app.kubernetes.io/instance": "pricing",
                                         "app.kubernetes.io/component": "calculation"}}},
      {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
       "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "pricing-engine"}},
       "matchLabelKeys": ["pod-template-hash"]}])"));
}

// Nothing placement-related is written that the spec does not ask for: an
// empty field would read back absent and make the child look changed.
TEST(Desired, DeploymentWithoutPlacementHasOnlyTheOperatorsAffinity) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  const json& pod = Find(d, "calculation").deployment["spec"]["template"]["spec"];
  for (const char* field :
       {"nodeSelector", "tolerations", "topologySpreadConstraints", "priorityClassName"}) {
    EXPECT_FALSE(pod.contains(field)) << field;
  }
  EXPECT_EQ(pod["affinity"].size(), 1u);
  EXPECT_TRUE(pod["affinity"].contains("podAntiAffinity"));
}

TEST(Desired, RequiredAntiAffinityIsOnePodPerNodeWithZonesPreferred) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: pricing}
spec:
  image: engine:1
  components:
  - {name: calculation, replicas: {min: 1, max: 2}}
  - {name: data, replicas: {min: 1, max: 2}, placement: {podAntiAffinity: preferred}}
  - {name: audit, replicas: {min: 1, max: 2}, placement: {podAntiAffinity: required}}
)");
  const Desired d = MustCompute(pe, At(kQuiet));
  const auto anti_affinity = [&](const std::string& component) {
    return Find(d, component).deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
  };
  auto selector = [](const std::string& component) {
    return json({{"app.kubernetes.io/name", "pricing-engine"},
                 {"app.kubernetes.io/instance", "pricing"},
                 {"app.kubernetes.io/component", component}});
  };
  const auto term = [&](const std::string& component, const char* topology_key) {
    return json(
        {{"labelSelector", {{"matchLabels", selector(component)}}}, {"topologyKey", topology_key}});
  };
  // preferred, also when not written: zones (100) and nodes (50), no hard rule.
  for (const char* component : {"calculation", "data"}) {
    EXPECT_EQ(
        anti_affinity(component),
        json({{"preferredDuringSchedulingIgnoredDuringExecution",
               json::array({
                   {{"weight", 100},
                    {"podAffinityTerm", term(component, "topology.kubernetes.io/zone")}},
                   {{"weight", 50}, {"podAffinityTerm", term(component, "kubernetes.io/hostname")}},
               })}}))
        << component;
  }
  // required: never two on a node; zones still preferred.
  EXPECT_EQ(
      anti_affinity("audit"),
      json({{"requiredDuringSchedulingIgnoredDuringExecution",
             json::array({term("audit", "kubernetes.io/hostname")})},
            {"preferredDuringSchedulingIgnoredDuringExecution",
             json::array({{{"weight", 100},
                           {"podAffinityTerm", term("audit", "topology.kubernetes.io/zone")}}})}}));
}

TEST(Desired, AnExplicitPodAntiAffinityReplacesTheOperators) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: pricing}
spec:
  image: engine:1
  components:
  - name: calc
    replicas: {min: 1, max: 2}
    placement:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - {topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {tier: hot}}}
  - name: free
    replicas: {min: 1, max: 2}
    placement: {affinity: {podAntiAffinity: {}}}
)");
  const Desired d = MustCompute(pe, At(kQuiet));
  EXPECT_EQ(Find(d, "calc").deployment["spec"]["template"]["spec"]["affinity"],
            json::parse(R"({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "topology.kubernetes.io/zone",
                 "labelSelector": {"matchLabels": {"tier": "hot"}}}]}})"));
  // An empty one asks for none: the pod template has no affinity at all.
  EXPECT_FALSE(Find(d, "free").deployment["spec"]["template"]["spec"].contains("affinity"));
}

TEST(Desired, StrategyDefaultsToA25PercentSurgeAndNoneUnavailable) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: pricing}
spec:
  image: engine:1
  components:
  - {name: calc, replicas: {min: 1, max: 2}}
  - {name: one, replicas: {min: 1, max: 2}, strategy: {maxSurge: 1, maxUnavailable: 0}}
  - {name: down, replicas: {min: 1, max: 2}, strategy: {maxSurge: "0%", maxUnavailable: "50%"}}
)");
  const Desired d = MustCompute(pe, At(kQuiet));
  const auto strategy = [&](const std::string& component) {
    return Find(d, component).deployment["spec"]["strategy"];
  };
  EXPECT_EQ(strategy("calc"), json::parse(R"({"type": "RollingUpdate",
      "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}})"));
  EXPECT_EQ(strategy("one"), json::parse(R"({"type": "RollingUpdate",
      "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})"));
  EXPECT_EQ(strategy("down"), json::parse(R"({"type": "RollingUpdate",
      "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "50%"}})"));
}

// The children are compared by fingerprint: the same placement written in
// another member order gives the same Deployment, byte for byte.
TEST(Desired, PlacementRendersTheSameWhateverTheMemberOrder) {
  const PricingEngine a = MustParseYaml(R"(
metadata: {name: pricing}
spec:
  image: engine:1
  components:
  - name: calc
    replicas: {min: 1, max: 2}
    strategy: {maxSurge: 1, maxUnavailable: 0}
    placement:
      tolerations: [{key: spot, operator: Equal, value: "true", effect: NoSchedule}]
      nodeSelector: {node-group: compute, zone: a}
      topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway}]
      podAntiAffinity: required
)");
  const PricingEngine b = MustParseYaml(R"(
metadata: {name: pricing}
spec:
  image: engine:1
  components:
  - placement:
      podAntiAffinity: required
      topologySpreadConstraints: [{whenUnsatisfiable: ScheduleAnyway, topologyKey: zone, maxSkew: 1}]
      nodeSelector: {zone: a, node-group: compute}
      tolerations: [{effect: NoSchedule, value: "true", operator: Equal, key: spot}]
    strategy: {maxUnavailable: 0, maxSurge: 1}
    replicas: {max: 2, min: 1}
    name: calc
)");
  EXPECT_EQ(MustCompute(a, At(kQuiet)).components[0].deployment.dump(),
            MustCompute(b, At(kQuiet)).components[0].deployment.dump());
}

// The decoder checks topology spread constraints' matchLabelKeys against the
// selector the operator gives them; both must name the same labels.
TEST(Desired, SelectorLabelKeysAreTheSelectorsKeys) {
  const PricingEngine pe = MustParse(FullCrJson());
  const json selector = SelectorLabels(pe.metadata, pe.spec.components[0]);
  std::set<std::string> keys;
  for (auto it = selector.begin(); it != selector.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys,
            std::set<std::string>(std::begin(kSelectorLabelKeys), std::end(kSelectorLabelKeys)));
}

TEST(Desired, ServiceExposesHttpToTheComponentsPods) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  const json& spec = Find(d, "calculation").service["spec"];
  EXPECT_EQ(spec["type"], "ClusterIP");
  EXPECT_EQ(spec["selector"], kSelector);
  EXPECT_EQ(spec["ports"], json::parse(R"([{"name": "http", "port": 8080, "targetPort": "http",
                                            "protocol": "TCP"}])"));
}

TEST(Desired, HpaScalesTheDeploymentWithinTheEffectiveBounds) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  const json& spec = Find(d, "calculation").horizontal_pod_autoscaler["spec"];
  EXPECT_EQ(spec["scaleTargetRef"], json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
                                                     "name": "pricing-calculation"})"));
  EXPECT_EQ(spec["minReplicas"], 3);
  EXPECT_EQ(spec["maxReplicas"], 20);
  EXPECT_EQ(spec["metrics"], json::parse(R"([
    {"type": "Resource", "resource": {"name": "cpu",
      "target": {"type": "Utilization", "averageUtilization": 80}}},
    {"type": "Pods", "pods": {"metric": {"name": "calculations_per_second"},
      "target": {"type": "AverageValue", "averageValue": "700"}}}])"));
  // The component's behavior passes through unchanged...
  EXPECT_EQ(spec["behavior"], json::parse(R"({"scaleDown": {"stabilizationWindowSeconds": 600,
                                               "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]}})"));
  // ...and one without gets the scaling guide's: up by max(3 pods, 50 %)
  // per 60 s after 60 s, down by min(1 pod, 20 %) per 60 s after 300 s.
  const json& gw = Find(d, "api-gateway").horizontal_pod_autoscaler["spec"];
  EXPECT_EQ(gw["behavior"], DefaultHpaBehavior());
  EXPECT_EQ(gw["behavior"], json::parse(R"({
      "scaleUp": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [
          {"type": "Pods", "value": 3, "periodSeconds": 60},
          {"type": "Percent", "value": 50, "periodSeconds": 60}]},
      "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Min", "policies": [
          {"type": "Pods", "value": 1, "periodSeconds": 60},
          {"type": "Percent", "value": 20, "periodSeconds": 60}]}})"));
  EXPECT_EQ(gw["metrics"].size(), 1u);
  EXPECT_EQ(gw["minReplicas"], 2);
  EXPECT_EQ(gw["maxReplicas"], 10);
}

TEST(Desired, PdbTakesMinAvailableOrMaxUnavailable) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  const json& calc = Find(d, "calculation").pod_disruption_budget["spec"];
  EXPECT_EQ(calc["minAvailable"], 2);
  EXPECT_FALSE(calc.contains("maxUnavailable"));
  EXPECT_EQ(calc["selector"]["matchLabels"], kSelector);
  EXPECT_EQ(calc["unhealthyPodEvictionPolicy"], "AlwaysAllow");
  const json& gw = Find(d, "api-gateway").pod_disruption_budget["spec"];
  EXPECT_EQ(gw["maxUnavailable"], 1);
  EXPECT_FALSE(gw.contains("minAvailable"));
}

TEST(Desired, ReasonsSayWhichLayerSetEachBound) {
  const Desired d = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  EXPECT_EQ(Find(d, "calculation").reasons,
            (std::vector<std::string>{"min=3 by base", "max=20 by base", "targetCPU=80 by base",
                                      "disruption minAvailable=2 by base"}));
  EXPECT_EQ(d.active_layers, std::vector<std::string>{"base"});
  EXPECT_FALSE(d.override_active);
  EXPECT_TRUE(d.regime.empty());
  EXPECT_TRUE(d.active_events.empty());
}

TEST(Desired, OverrideAppliesUntilItExpires) {
  const PricingEngine pe = MustParse(FullCrJson());  // calculation: 30 until 2026-11-28T18:00Z
  const Desired before = MustCompute(pe, At("2026-11-28T17:59:59Z"));
  EXPECT_TRUE(before.override_active);
  EXPECT_EQ(before.override_expires, At("2026-11-28T18:00:00Z"));
  EXPECT_EQ(before.next_transition, At("2026-11-28T18:00:00Z"));
  const ComponentDesired& calc = Find(before, "calculation");
  EXPECT_EQ(calc.horizontal_pod_autoscaler["spec"]["minReplicas"], 30);
  EXPECT_EQ(calc.horizontal_pod_autoscaler["spec"]["maxReplicas"], 30);
  EXPECT_EQ(calc.reasons[0], "min=30 by override");
  EXPECT_EQ(calc.reasons[1], "max=30 by override");
  // The override names only calculation.
  EXPECT_EQ(Find(before, "api-gateway").horizontal_pod_autoscaler["spec"]["minReplicas"], 2);

  const Desired after = MustCompute(pe, At("2026-11-28T18:00:00Z"));
  EXPECT_FALSE(after.override_active);
  EXPECT_EQ(after.override_expires, At("2026-11-28T18:00:00Z"));
  EXPECT_EQ(Find(after, "calculation").horizontal_pod_autoscaler["spec"]["minReplicas"], 3);
  EXPECT_EQ(Find(after, "calculation").horizontal_pod_autoscaler["spec"]["maxReplicas"], 20);
}

TEST(Desired, OverrideMayLowerMinAndMax) {
  json object = FullCrJson();
  object["spec"]["override"]["replicas"] = {{"calculation", 2}, {"api-gateway", 1}};
  const Desired d = MustCompute(MustParse(object), At("2026-11-28T12:00:00Z"), 35.0);
  // Regime High would raise calculation to 15..40; the override pins it at 2.
  EXPECT_EQ(d.regime, "High");
  const json& calc = Find(d, "calculation").horizontal_pod_autoscaler["spec"];
  EXPECT_EQ(calc["minReplicas"], 2);
  EXPECT_EQ(calc["maxReplicas"], 2);
  EXPECT_EQ(calc["metrics"][0]["resource"]["target"]["averageUtilization"], 60);
  const json& gw = Find(d, "api-gateway").horizontal_pod_autoscaler["spec"];
  EXPECT_EQ(gw["minReplicas"], 1);
  EXPECT_EQ(gw["maxReplicas"], 1);
}

TEST(Desired, PausedIsReportedAndTheChildrenStillComputed) {
  json object = FullCrJson();
  object["spec"]["paused"] = true;
  const Desired paused = MustCompute(MustParse(object), At(kQuiet));
  EXPECT_TRUE(paused.paused);
  const Desired running = MustCompute(MustParse(FullCrJson()), At(kQuiet));
  EXPECT_FALSE(running.paused);
  EXPECT_EQ(paused.Objects(), running.Objects());
}

TEST(Desired, EventsAndRegimesRaiseBoundsAndSwapTheBudget) {
  const PricingEngine pe = MustParse(FullCrJson());
  // Both events active; VIX 26 selects Elevated (calculation min 8).
  const Desired d = MustCompute(pe, At("2026-12-05T03:00:00Z"), 26.0);
  EXPECT_EQ(d.regime, "Elevated");
  EXPECT_EQ(d.active_events, (std::vector<std::string>{"onboarding-acme", "node-rotation"}));
  // Friday 2026-12-04, 22:00 in New York: the Overnight phase (close+2h to
  // open-90m) is active; its ceiling of 4 never lowers the max.
  EXPECT_EQ(d.market_phase, "Overnight");
  EXPECT_EQ(d.active_layers,
            (std::vector<std::string>{"base", "phase Overnight", "regime Elevated",
                                      "event onboarding-acme", "event node-rotation"}));
  EXPECT_EQ(d.next_transition, At("2026-12-05T06:00:00Z"));
  const ComponentDesired& calc = Find(d, "calculation");
  // min: max(3, 8, ceil(3*1.5)=5, 6) = 8; max: max(20, 40) = 40.
  EXPECT_EQ(calc.bounds.min_replicas, 8);
  EXPECT_EQ(calc.bounds.max_replicas, 40);
  EXPECT_EQ(calc.reasons,
            (std::vector<std::string>{"min=8 by regime Elevated", "max=40 by event onboarding-acme",
                                      "targetCPU=80 by base",
                                      "disruption minAvailable=70% by event node-rotation"}));
  EXPECT_EQ(calc.pod_disruption_budget["spec"]["minAvailable"], "70%");
  const ComponentDesired& gw = Find(d, "api-gateway");
  EXPECT_EQ(gw.bounds.min_replicas, 6);
  EXPECT_EQ(gw.bounds.min_from, "event node-rotation");
  EXPECT_EQ(gw.bounds.max_replicas, 20);
}

TEST(Desired, ChildrenOfAFileCrHaveNoNamespaceOrUid) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: local}
spec:
  image: engine:1
  components: [{name: calc, replicas: {min: 1, max: 2}}]
)");
  const Desired d = MustCompute(pe, At(kQuiet));
  for (const json& o : d.Objects()) {
    EXPECT_FALSE(o["metadata"].contains("namespace"));
    const json& ref = o["metadata"]["ownerReferences"][0];
    EXPECT_FALSE(ref.contains("uid"));
    EXPECT_EQ(ref["name"], "local");
    EXPECT_EQ(ref["controller"], true);
  }
  EXPECT_EQ(d.next_transition, std::nullopt);
  EXPECT_EQ(d.override_expires, std::nullopt);
}

TEST(Desired, SameInputGivesByteIdenticalOutput) {
  const std::string yaml = testing::ReadTestFile(testing::TestdataPath("pricingengine.yaml"));
  for (OutputFormat format : {OutputFormat::kYaml, OutputFormat::kJson}) {
    const Result<Rendered> first = Render(yaml, At(kQuiet), 31.0, format);
    const Result<Rendered> second = Render(yaml, At(kQuiet), 31.0, format);
    // The same CR written as one line of JSON, members in another order.
    const Result<Rendered> as_json = Render(FullCrJson().dump(), At(kQuiet), 31.0, format);
    ASSERT_TRUE(first.has_value());
    ASSERT_TRUE(second.has_value());
    ASSERT_TRUE(as_json.has_value());
    EXPECT_EQ(first->text, second->text);
    EXPECT_EQ(first->text, as_json->text);
  }
  const PricingEngine pe = MustParse(FullCrJson());
  EXPECT_EQ(MustCompute(pe, At(kQuiet), 31.0).Objects(),
            MustCompute(pe, At(kQuiet), 31.0).Objects());
}

TEST(Desired, DesiredFromLayersMergesSyntheticLayers) {
  const PricingEngine pe = MustParse(FullCrJson());
  Layer phase;
  phase.kind = LayerKind::kPhase;
  phase.name = "Regular";
  phase.min_replicas = {{"calculation", 10}, {"api-gateway", 6}};
  const Result<Desired> d = DesiredFromLayers(pe, {BaseLayer(pe.spec), phase});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->active_layers, (std::vector<std::string>{"base", "phase Regular"}));
  EXPECT_EQ(Find(*d, "calculation").horizontal_pod_autoscaler["spec"]["minReplicas"], 10);
  EXPECT_EQ(Find(*d, "api-gateway").reasons[0], "min=6 by phase Regular");
  const Result<Desired> none = DesiredFromLayers(pe, {phase});
  ASSERT_FALSE(none.has_value());
}

}  // namespace
}  // namespace pricing::op
