// desired(spec, now, volatility) -> objects (docs/design.md §3.6): the one pure
// function that both the controller and `pricing-operator render` use to
// decide what the children of a PricingEngine should be at an instant.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
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
  // The active market phase's name (MarketAt), or "Closed" when none.
  std::string market_phase{kClosedPhase};
  // The kind of the market's local date at now: DayKindName ("Regular",
  // "EarlyClose", "Holiday", "Weekend"); empty from DesiredFromLayers.
  std::string market_day;
  std::vector<std::string> active_events;  // names, in spec order
  bool override_active = false;
  std::optional<TimePoint> override_expires;  // spec.override.expires, active or not
  // When the answer can next change without the spec changing; the controller
  // requeues then (see NextTransition).
  std::optional<TimePoint> next_transition;
  // The next transitions within kTransitionHorizon of now, at most
  // kMaxNextTransitions, in time order, one per instant, each with what
  // changes ("phase Regular starts", "event node-rotation ends",
  // "override expires", "regime High minHold ends"; see Transitions).
  std::vector<std::pair<TimePoint, std::string>> next_transitions;
  std::vector<ComponentDesired> components;  // in spec order

  // Returns every child in apply order: for each component its Deployment,
  // Service, HorizontalPodAutoscaler and PodDisruptionBudget.
  std::vector<nlohmann::json> Objects() const;
};

inline constexpr std::chrono::hours kTransitionHorizon{7 * 24};
inline constexpr size_t kMaxNextTransitions = 8;

// What the policy knows of volatility at an instant.
struct PolicyInputs {
  // The latest reading; nullopt when there is none (no source, or stale).
  std::optional<double> volatility;
  // The controller's regime state (StepRegime's result). When given, it alone
  // decides the regime layer; when nullopt, RegimeForValue(volatility) does
  // (`render --vix`: no history).
  std::optional<RegimeState> regime;
};

// Returns the children of `pe` given the policy `layers` (see layers.h for the
// merge rule), with market_phase the name of the last phase layer that is not
// a lead layer (layers are ordered by start), else "Closed". Fails only when
// the layers leave a bound of some component unset, which cannot happen when
// layers[0] is BaseLayer(pe.spec).
Result<Desired> DesiredFromLayers(const PricingEngine& pe, const std::vector<Layer>& layers);

// Returns the children of `pe` at `now` given `inputs`: DesiredFromLayers over
// ActiveLayers(pe.spec, now, regime), with market_day, override_expires,
// next_transition and next_transitions filled in. When inputs.regime names a
// regime held only by minHold (the value is below its exitBelow), the end of
// the hold is a transition too. Deterministic: equal inputs give equal JSON.
// Fails when pe.spec.market_hours.zone is null (a PricingEngine that did not
// come from ParsePricingEngine).
Result<Desired> ComputeDesired(const PricingEngine& pe, TimePoint now, const PolicyInputs& inputs);

// Returns ComputeDesired with no regime history: the regime is
// RegimeForValue(volatility) (nullopt: unknown, no regime).
Result<Desired> ComputeDesired(const PricingEngine& pe, TimePoint now,
                               std::optional<double> volatility);

}  // namespace pricing::op
