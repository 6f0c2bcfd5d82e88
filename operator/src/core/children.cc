#include "op/children.h"

namespace pricing::op {
namespace {

using nlohmann::json;

constexpr std::string_view kAuditVolume = "audit-spool";

json ObjectMetadata(const PricingEngine& pe, const Component& component) {
  json meta = {
      {"name", ChildName(pe.metadata, component)},
      {"labels", ChildLabels(pe.metadata, component)},
      {"ownerReferences", json::array({OwnerReference(pe.metadata)})},
  };
  if (!pe.metadata.namespace_name.empty()) meta["namespace"] = pe.metadata.namespace_name;
  return meta;
}

json ResourceList(const std::map<std::string, Quantity>& list) {
  json out = json::object();
  for (const auto& [name, quantity] : list) out[name] = quantity.text;
  return out;
}

json HttpProbe(std::string_view path, int period_seconds, int failure_threshold) {
  return {
      {"httpGet", {{"path", path}, {"port", "http"}, {"scheme", "HTTP"}}},
      {"periodSeconds", period_seconds},
      {"timeoutSeconds", 2},
      {"failureThreshold", failure_threshold},
  };
}

// A PodAffinityTerm for the component's own pods (`selector`) over `topology_key`.
json OwnPodsTerm(const json& selector, std::string_view topology_key) {
  return {{"labelSelector", {{"matchLabels", selector}}}, {"topologyKey", topology_key}};
}

json AntiAffinityTerm(const json& selector, std::string_view topology_key, int weight) {
  return {{"weight", weight}, {"podAffinityTerm", OwnPodsTerm(selector, topology_key)}};
}

// The pod template's affinity: placement.affinity as written plus, unless it
// has its own podAntiAffinity, the operator's. Preferred spreads the pods
// over zones (weight 100) and nodes (weight 50); required puts at most one
// on a node and still prefers to spread them over zones. Empty when there is
// none (an explicitly empty podAntiAffinity and nothing else).
json PodTemplateAffinity(const Component& component, const json& selector) {
  json affinity = component.placement.affinity.value_or(json::object());
  switch (component.placement.pod_anti_affinity) {
    case PodAntiAffinity::kPreferred:
      affinity["podAntiAffinity"] = {
          {"preferredDuringSchedulingIgnoredDuringExecution",
           json::array({
               AntiAffinityTerm(selector, "topology.kubernetes.io/zone", 100),
               AntiAffinityTerm(selector, "kubernetes.io/hostname", 50),
           })},
      };
      break;
    case PodAntiAffinity::kRequired:
      affinity["podAntiAffinity"] = {
          {"requiredDuringSchedulingIgnoredDuringExecution",
           json::array({OwnPodsTerm(selector, "kubernetes.io/hostname")})},
          {"preferredDuringSchedulingIgnoredDuringExecution",
           json::array({AntiAffinityTerm(selector, "topology.kubernetes.io/zone", 100)})},
      };
      break;
    case PodAntiAffinity::kAsWritten:
      break;
  }
  return affinity;
}

// placement.topologySpreadConstraints, each without a labelSelector given
// the component's own pods.
json TopologySpreadConstraints(const Component& component, const json& selector) {
  json constraints = json::array();
  for (json c : component.placement.topology_spread_constraints) {
    if (!c.contains("labelSelector")) c["labelSelector"] = {{"matchLabels", selector}};
    constraints.push_back(std::move(c));
  }
  return constraints;
}

// The in-cluster address of `component`'s Service.
std::string ServiceUrl(const PricingEngine& pe, const Component& component) {
  return "http://" + ChildName(pe.metadata, component) + ":" + std::to_string(kHttpPort);
}

// The in-cluster address of the first component with `role`, or empty.
std::string RoleUrl(const PricingEngine& pe, std::string_view role) {
  for (const Component& c : pe.spec.components) {
    if (c.role == role) return ServiceUrl(pe, c);
  }
  return {};
}

// The role, the audit spool, the addresses of the roles this one calls
// (gateway -> calculation and data, for API keys; calculation -> data and
// audit; cache -> data), then spec.env.
json EngineEnv(const PricingEngine& pe, const Component& component) {
  json env = json::array({
      {{"name", "PRICING_ROLE"}, {"value", component.role}},
      {{"name", "PRICING_AUDIT_DIR"}, {"value", kAuditDir}},
  });
  auto link = [&](std::string_view name, std::string_view role) {
    if (std::string url = RoleUrl(pe, role); !url.empty()) {
      env.push_back({{"name", name}, {"value", std::move(url)}});
    }
  };
  if (component.role == "gateway") {
    link("PRICING_CALCULATION_URL", "calculation");
    link("PRICING_DATA_URL", "data");
  }
  if (component.role == "calculation") {
    link("PRICING_DATA_URL", "data");
    link("PRICING_AUDIT_URL", "audit");
  }
  if (component.role == "cache") link("PRICING_DATA_URL", "data");
  if (component.role == "all" || component.role == "calculation") {
    // A stopping pod hands the audit records its store of record has not
    // taken to a peer behind its own Service (the engine needs
    // PRICING_INTERNAL_TOKEN for it), so that a deleted pod's emptyDir takes
    // none with it.
    env.push_back({{"name", "PRICING_AUDIT_HANDOFF_URL"}, {"value", ServiceUrl(pe, component)}});
  }
  for (const json& var : pe.spec.env) env.push_back(var);
  return env;
}

json EngineContainer(const PricingEngine& pe, const Component& component) {
  json container = {
      {"name", "engine"},
      {"image", pe.spec.image},
      {"args", json::array({"--role", component.role})},
      {"env", EngineEnv(pe, component)},
      {"ports",
       json::array({{{"name", "http"}, {"containerPort", kHttpPort}, {"protocol", "TCP"}}})},
      {"readinessProbe", HttpProbe("/health/ready", 5, 3)},
      {"livenessProbe", HttpProbe("/health/live", 10, 3)},
      {"startupProbe", HttpProbe("/health/live", 2, 30)},
      // On termination the kubelet waits here before SIGTERM, so that the
      // endpoints stop sending to this pod before the engine stops accepting;
      // the engine then answers what it has read (up to 10 s), drains its
      // audit spool (up to 5 s) and hands what is left to a peer (up to
      // 10 s), inside the pod's grace period (kTerminationGraceSeconds).
      {"lifecycle", {{"preStop", {{"sleep", {{"seconds", kPreStopSleepSeconds}}}}}}},
      {"securityContext",
       {
           {"runAsNonRoot", true},
           {"runAsUser", kPodUser},
           {"runAsGroup", kPodUser},
           {"readOnlyRootFilesystem", true},
           {"allowPrivilegeEscalation", false},
           {"capabilities", {{"drop", json::array({"ALL"})}}},
           {"seccompProfile", {{"type", "RuntimeDefault"}}},
       }},
      {"volumeMounts", json::array({{{"name", kAuditVolume}, {"mountPath", kAuditDir}}})},
  };
  if (!pe.spec.env_from.empty()) container["envFrom"] = pe.spec.env_from;
  json resources = json::object();
  if (!component.resources.requests.empty()) {
    resources["requests"] = ResourceList(component.resources.requests);
  }
  if (!component.resources.limits.empty()) {
    resources["limits"] = ResourceList(component.resources.limits);
  }
  container["resources"] = std::move(resources);
  return container;
}

}  // namespace

std::string ChildName(const ObjectMeta& owner, const Component& component) {
  return owner.name + "-" + component.name;
}

json ChildLabels(const ObjectMeta& owner, const Component& component) {
  json labels = SelectorLabels(owner, component);
  labels["app.kubernetes.io/managed-by"] = "pricing-operator";
  return labels;
}

// The keys are kSelectorLabelKeys (spec.h), which the decoder checks
// topology spread constraints against.
json SelectorLabels(const ObjectMeta& owner, const Component& component) {
  return {
      {"app.kubernetes.io/name", "pricing-engine"},
      {"app.kubernetes.io/instance", owner.name},
      {"app.kubernetes.io/component", component.name},
  };
}

json OwnerReference(const ObjectMeta& owner) {
  json ref = {
      {"apiVersion", kApiVersion},  {"kind", kKind}, {"name", owner.name}, {"controller", true},
      {"blockOwnerDeletion", true},
  };
  if (!owner.uid.empty()) ref["uid"] = owner.uid;
  return ref;
}

// The scaling guide's behaviour, for a component that sets none: up after a
// 60 s window by the larger of 3 pods and 50 % per 60 s; down after 300 s
// by the smaller of 1 pod and 20 % per 60 s.
json DefaultHpaBehavior() {
  return {
      {"scaleUp",
       {
           {"stabilizationWindowSeconds", 60},
           {"selectPolicy", "Max"},
           {"policies", json::array({
                            {{"type", "Pods"}, {"value", 3}, {"periodSeconds", 60}},
                            {{"type", "Percent"}, {"value", 50}, {"periodSeconds", 60}},
                        })},
       }},
      {"scaleDown",
       {
           {"stabilizationWindowSeconds", 300},
           {"selectPolicy", "Min"},
           {"policies", json::array({
                            {{"type", "Pods"}, {"value", 1}, {"periodSeconds", 60}},
                            {{"type", "Percent"}, {"value", 20}, {"periodSeconds", 60}},
                        })},
       }},
  };
}

json BuildDeployment(const PricingEngine& pe, const Component& component) {
  const json selector = SelectorLabels(pe.metadata, component);
  json pod_spec = {
      {"terminationGracePeriodSeconds", kTerminationGraceSeconds},
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"securityContext",
       {
           {"runAsNonRoot", true},
           {"runAsUser", kPodUser},
           {"runAsGroup", kPodUser},
           {"seccompProfile", {{"type", "RuntimeDefault"}}},
       }},
      {"containers", json::array({EngineContainer(pe, component)})},
      {"volumes", json::array({{{"name", kAuditVolume}, {"emptyDir", json::object()}}})},
  };
  // Only what is set: an applied empty field would read back absent, and the
  // child would look changed on every pass.
  const Placement& placement = component.placement;
  if (json affinity = PodTemplateAffinity(component, selector); !affinity.empty()) {
    pod_spec["affinity"] = std::move(affinity);
  }
  if (!placement.node_selector.empty()) pod_spec["nodeSelector"] = placement.node_selector;
  if (!placement.tolerations.empty()) pod_spec["tolerations"] = placement.tolerations;
  if (!placement.topology_spread_constraints.empty()) {
    pod_spec["topologySpreadConstraints"] = TopologySpreadConstraints(component, selector);
  }
  if (!placement.priority_class_name.empty()) {
    pod_spec["priorityClassName"] = placement.priority_class_name;
  }
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", ObjectMetadata(pe, component)},
      {"spec",
       {
           {"selector", {{"matchLabels", selector}}},
           {"strategy",
            {{"type", "RollingUpdate"},
             {"rollingUpdate",
              {{"maxSurge", ToJson(component.strategy.max_surge)},
               {"maxUnavailable", ToJson(component.strategy.max_unavailable)}}}}},
           {"template",
            {
                {"metadata",
                 {
                     {"labels", ChildLabels(pe.metadata, component)},
                     {"annotations",
                      {
                          {"prometheus.io/scrape", "true"},
                          {"prometheus.io/port", std::to_string(kHttpPort)},
                          {"prometheus.io/path", "/metrics"},
                      }},
                 }},
                {"spec", std::move(pod_spec)},
            }},
       }},
  };
}

json BuildService(const PricingEngine& pe, const Component& component) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", ObjectMetadata(pe, component)},
      {"spec",
       {
           {"type", "ClusterIP"},
           {"selector", SelectorLabels(pe.metadata, component)},
           {"ports", json::array({{{"name", "http"},
                                   {"port", kHttpPort},
                                   {"targetPort", "http"},
                                   {"protocol", "TCP"}}})},
       }},
  };
}

// An autoscaling/v2 Resource metric: average utilization of `resource`, in
// percent of the pods' requests.
json ResourceUtilizationMetric(std::string_view resource, int32_t percent) {
  return {
      {"type", "Resource"},
      {"resource",
       {{"name", resource},
        {"target", {{"type", "Utilization"}, {"averageUtilization", percent}}}}},
  };
}

json BuildHorizontalPodAutoscaler(const PricingEngine& pe, const Component& component,
                                  const EffectiveBounds& bounds) {
  json metrics = json::array();
  metrics.push_back(ResourceUtilizationMetric("cpu", bounds.target_cpu_utilization_percentage));
  if (bounds.target_memory_utilization_percentage) {
    metrics.push_back(
        ResourceUtilizationMetric("memory", *bounds.target_memory_utilization_percentage));
  }
  for (const PodsMetric& m : component.autoscaling.pods_metrics) {
    metrics.push_back({
        {"type", "Pods"},
        {"pods",
         {{"metric", {{"name", m.name}}},
          {"target", {{"type", "AverageValue"}, {"averageValue", m.average_value.text}}}}},
    });
  }
  for (const json& m : component.autoscaling.metrics) metrics.push_back(m);
  return {
      {"apiVersion", "autoscaling/v2"},
      {"kind", "HorizontalPodAutoscaler"},
      {"metadata", ObjectMetadata(pe, component)},
      {"spec",
       {
           {"scaleTargetRef",
            {{"apiVersion", "apps/v1"},
             {"kind", "Deployment"},
             {"name", ChildName(pe.metadata, component)}}},
           {"minReplicas", bounds.min_replicas},
           {"maxReplicas", bounds.max_replicas},
           {"metrics", std::move(metrics)},
           {"behavior", component.autoscaling.behavior.value_or(DefaultHpaBehavior())},
       }},
  };
}

json BuildPodDisruptionBudget(const PricingEngine& pe, const Component& component,
                              const EffectiveBounds& bounds) {
  json spec = {
      {"selector", {{"matchLabels", SelectorLabels(pe.metadata, component)}}},
      {"unhealthyPodEvictionPolicy", "AlwaysAllow"},
  };
  const char* key =
      bounds.disruption.kind == Disruption::Kind::kMinAvailable ? "minAvailable" : "maxUnavailable";
  spec[key] = ToJson(bounds.disruption.amount);
  return {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", ObjectMetadata(pe, component)},
      {"spec", std::move(spec)},
  };
}

}  // namespace pricing::op
