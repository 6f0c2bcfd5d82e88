#include "op/desired.h"

#include <algorithm>
#include <utility>

#include "op/calendar.h"
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
      case LayerKind::kPhase:
        if (!layer.lead) d.market_phase = layer.name;
        break;
      case LayerKind::kBase:
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

Result<Desired> ComputeDesired(const PricingEngine& pe, TimePoint now, const PolicyInputs& inputs) {
  const PricingEngineSpec& spec = pe.spec;
  if (spec.market_hours.zone == nullptr) {
    return Fail("spec.marketHours.timeZone", "time zone " + spec.market_hours.time_zone +
                                                 " was not located (parse the "
                                                 "PricingEngine with ParsePricingEngine)");
  }
  const Regime* regime = nullptr;
  if (spec.volatility) {
    if (inputs.regime) {
      regime = FindRegime(*spec.volatility, inputs.regime->name);
    } else if (inputs.volatility) {
      regime = RegimeForValue(*spec.volatility, *inputs.volatility);
    }
  }
  Result<Desired> d = DesiredFromLayers(pe, ActiveLayers(spec, now, regime));
  if (!d) return d;
  d->market_day =
      std::string(DayKindName(DayOf(spec.market_hours, LocalDate(*spec.market_hours.zone, now))));
  if (spec.emergency_override) d->override_expires = spec.emergency_override->expires;
  d->next_transition = NextTransition(spec, now);

  const TimePoint until = now + kTransitionHorizon;
  std::vector<Transition> transitions = Transitions(spec, now, until);
  // A regime held only by minHold steps down when the hold ends, if the
  // value stays below its exitBelow.
  if (inputs.regime && regime != nullptr && inputs.volatility &&
      *inputs.volatility < regime->exit_below) {
    const auto held_for = now - inputs.regime->since;
    if (held_for < spec.volatility->min_hold) {
      const TimePoint hold_ends = now + std::chrono::duration_cast<TimePoint::duration>(
                                            spec.volatility->min_hold - held_for);
      if (!d->next_transition || hold_ends < *d->next_transition) d->next_transition = hold_ends;
      if (hold_ends <= until) {
        const std::string description = "regime " + regime->name + " minHold ends";
        const auto at =
            std::lower_bound(transitions.begin(), transitions.end(), hold_ends,
                             [](const Transition& t, TimePoint instant) { return t.at < instant; });
        if (at != transitions.end() && at->at == hold_ends) {
          at->description += "; " + description;
        } else {
          transitions.insert(at, Transition{hold_ends, description});
        }
      }
    }
  }
  for (Transition& t : transitions) {
    if (d->next_transitions.size() == kMaxNextTransitions) break;
    d->next_transitions.emplace_back(t.at, std::move(t.description));
  }
  return d;
}

Result<Desired> ComputeDesired(const PricingEngine& pe, TimePoint now,
                               std::optional<double> volatility) {
  return ComputeDesired(pe, now, PolicyInputs{volatility, std::nullopt});
}

}  // namespace pricing::op
