// desired(spec, now, volatility) -> objects (DESIGN.md §3.6): the one pure
// function that both the controller and `pricing-operator render` use to
// decide what the children of a PricingEngine should be at an instant.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "op/error.h"
#include "op/layers.h"
#include "op/spec.h"
#include "op/time_text.h"

namespace pricing::op {

struct ComponentDesired {
  std::string name;
  EffectiveBounds bounds;
  std::vector<std::string> reasons;  // Reasons(bounds), for status.components[].reasons
  nlohmann::json deployment;
  nlohmann::json service;
  nlohmann::json horizontal_pod_autoscaler;
  nlohmann::json pod_disruption_budget;
};

struct Desired {
  // spec.paused: everything below is still computed (status stays fresh),
  // but the controller must not apply the children.
  bool paused = false;
  std::vector<std::string> active_layers;  // LayerLabel of each, in precedence order
  std::string regime;                      // the active regime's name; empty when none
  std::vector<std::string> active_events;  // names, in spec order
  bool override_active = false;
  std::optional<TimePoint> override_expires;  // spec.override.expires, active or not
  // When the answer can next change without the spec changing; the controller
  // requeues then (see NextTransition).
  std::optional<TimePoint> next_transition;
  std::vector<ComponentDesired> components;  // in spec order

  // Returns every child in apply order: for each component its Deployment,
  // Service, HorizontalPodAutoscaler and PodDisruptionBudget.
  std::vector<nlohmann::json> Objects() const;
};

// Returns the children of `pe` given the policy `layers` (see layers.h for the
// merge rule). Fails only when the layers leave a bound of some component
// unset, which cannot happen when layers[0] is BaseLayer(pe.spec).
Result<Desired> DesiredFromLayers(const PricingEngine& pe, const std::vector<Layer>& layers);

// Returns the children of `pe` at `now` with the volatility index at
// `volatility` (nullopt: unknown, no regime): DesiredFromLayers over
// ActiveLayers(pe.spec, now, volatility), with override_expires and
// next_transition filled in. Deterministic: equal inputs give equal JSON.
Result<Desired> ComputeDesired(const PricingEngine& pe, TimePoint now,
                               std::optional<double> volatility);

}  // namespace pricing::op
