#include "op/desired.h"

#include <utility>

#include "op/children.h"

namespace pricing::op {

std::vector<nlohmann::json> Desired::Objects() const {
  std::vector<nlohmann::json> objects;
  objects.reserve(components.size() * 4);
  for (const ComponentDesired& c : components) {
    objects.push_back(c.deployment);
    objects.push_back(c.service);
    objects.push_back(c.horizontal_pod_autoscaler);
    objects.push_back(c.pod_disruption_budget);
  }
  return objects;
}

Result<Desired> DesiredFromLayers(const PricingEngine& pe, const std::vector<Layer>& layers) {
  Desired d;
  d.paused = pe.spec.paused;
  for (const Layer& layer : layers) {
    d.active_layers.push_back(LayerLabel(layer));
    switch (layer.kind) {
      case LayerKind::kRegime:
        d.regime = layer.name;
        break;
      case LayerKind::kEvent:
        d.active_events.push_back(layer.name);
        break;
      case LayerKind::kOverride:
        d.override_active = true;
        break;
      case LayerKind::kBase:
      case LayerKind::kPhase:
        break;
    }
  }
  for (const Component& component : pe.spec.components) {
    Result<EffectiveBounds> bounds = MergeLayers(layers, component.name);
    if (!bounds) return std::unexpected(bounds.error());
    ComponentDesired c;
    c.name = component.name;
    c.bounds = std::move(*bounds);
    c.reasons = Reasons(c.bounds);
    c.deployment = BuildDeployment(pe, component);
    c.service = BuildService(pe, component);
    c.horizontal_pod_autoscaler = BuildHorizontalPodAutoscaler(pe, component, c.bounds);
    c.pod_disruption_budget = BuildPodDisruptionBudget(pe, component, c.bounds);
    d.components.push_back(std::move(c));
  }
  return d;
}

Result<Desired> ComputeDesired(const PricingEngine& pe, TimePoint now,
                               std::optional<double> volatility) {
  Result<Desired> d = DesiredFromLayers(pe, ActiveLayers(pe.spec, now, volatility));
  if (!d) return d;
  if (pe.spec.emergency_override) d->override_expires = pe.spec.emergency_override->expires;
  d->next_transition = NextTransition(pe.spec, now);
  return d;
}

}  // namespace pricing::op
