// Policy layers and the one precedence rule that merges them (docs/design.md §3.2).
//
// A layer is what one active source of policy says about each component:
// the base spec, the market phase (op/phases.h), the volatility regime, each
// planned event, the emergency override. For one component, over the layers
// active now:
//
//   min        = the largest min of the non-override layers
//   max        = the largest max of the non-override layers, raised to at
//                least min
//   CPU target = the lowest target of the layers
//   memory target = the lowest target of the layers that set one; none when
//                no layer does
//   PDB        = the first event layer's disruption, else the base layer's
//   override   = an override layer then replaces min and max for the
//                components it names (it may lower them); its other members
//                are ignored
//
// Each map is keyed by component name or "*" (every component; a name's own
// entry wins). Ties go to the earliest layer in the vector, so a reason does
// not change when a later layer merely repeats a bound; callers pass layers in
// precedence order (base, phase, regime, events, override).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "op/error.h"
#include "op/phases.h"
#include "op/spec.h"
#include "op/time_text.h"

namespace pricing::op {

enum class LayerKind { kBase, kPhase, kRegime, kEvent, kOverride };

// Returns "base", "phase", "regime", "event" or "override".
std::string_view LayerKindName(LayerKind kind);

struct Layer {
  LayerKind kind = LayerKind::kBase;
  std::string name;  // the phase, regime or event name; empty for base and override
  // kPhase only: the phase has not started yet and applies ahead of its start
  // (spec.marketHours.leadTime); such a layer holds only the phase's floors.
  bool lead = false;
  ComponentMap min_replicas;
  ComponentMap max_replicas;
  ComponentMap target_cpu_utilization_percentage;
  ComponentMap target_memory_utilization_percentage;
  std::map<std::string, Disruption> disruption;
};

// Returns how reasons name `layer`: "base", "phase Regular",
// "phase Regular (lead time)", "regime High", "event node-rotation",
// "override".
std::string LayerLabel(const Layer& layer);

// One component's bounds after the merge, with the layer that set each.
struct EffectiveBounds {
  int32_t min_replicas = 0;
  int32_t max_replicas = 0;
  int32_t target_cpu_utilization_percentage = 0;
  std::optional<int32_t> target_memory_utilization_percentage;  // nullopt: no memory metric
  Disruption disruption;
  std::string min_from;  // LayerLabel of the deciding layer
  std::string max_from;  // when max_raised_to_min, the layer that set min
  std::string target_cpu_from;
  std::string target_memory_from;  // empty without a memory target
  std::string disruption_from;
  bool max_raised_to_min = false;
};

// Returns the merged bounds of `component` (rule above). Fails when no layer
// sets one of min, max, CPU target or disruption for it (a base layer from
// BaseLayer sets all four for every component of its spec).
Result<EffectiveBounds> MergeLayers(const std::vector<Layer>& layers, const std::string& component);

// Returns one line per bound saying which layer set it:
//   "min=10 by phase Regular", "max=20 by base",
//   "max=15 by regime High (raised to min)", "targetCPU=60 by regime High",
//   "targetMemory=85 by event onboarding" (only with a memory target),
//   "disruption minAvailable=70% by event node-rotation".
std::vector<std::string> Reasons(const EffectiveBounds& bounds);

// Returns the base layer: every component's replicas, CPU target, memory
// target (when it has one) and disruption, keyed by its name.
Layer BaseLayer(const PricingEngineSpec& spec);

// Returns the layer of an active phase, regime or event `name` with `rule`.
// Percent bounds become per-component entries: ceil(base bound * percent /
// 100), capped at kMaxReplicas. A rule's targets are its maps ("*" for a
// number); its disruption applies to every component.
// REQUIRES: kind is kPhase, kRegime or kEvent.
Layer RuleLayer(LayerKind kind, std::string name, const ScalingRule& rule,
                const PricingEngineSpec& spec);

// Returns the layer of `phase` ahead of its start (lead time): its floors
// only, with `lead` set.
Layer PhaseLeadLayer(const Phase& phase, const PricingEngineSpec& spec);

// Returns the override's layer: each named component's min and max are its
// replicas.
Layer OverrideLayer(const Override& override_spec);

// Returns the regime that `value` selects without history (`render --vix`):
// the one with the highest enterAbove that value exceeds; nullptr when none.
const Regime* RegimeForValue(const Volatility& volatility, double value);

// Returns the regime of `volatility` named `name`; nullptr when none is
// (including an empty name).
const Regime* FindRegime(const Volatility& volatility, std::string_view name);

// The volatility regime a controller holds between readings (kept in status so
// that a restart keeps it).
struct RegimeState {
  std::string name;  // the active regime; "" = none
  TimePoint since;   // when it became active; for none, when the last one ended
  bool operator==(const RegimeState&) const = default;
};

// Returns the regime state after a reading `value` at `now` (docs/design.md §3.2),
// given the state before it:
//   - nullopt (no fresh reading: the source failed or is stale) keeps
//     `previous` unchanged;
//   - a value above the enterAbove of a regime higher than the current one
//     steps up at once to the highest such regime, minHold or not;
//   - the current regime stays until the value is below its exitBelow and
//     minHold has passed since `previous.since`;
//   - then the state drops to RegimeForValue(value): the highest regime whose
//     enterAbove the value exceeds (a lower one, since exitBelow <=
//     enterAbove), or none; several levels at once when the value fell that
//     far.
// A change sets `since` to `now`. A previous regime that the spec no longer
// has counts as none.
RegimeState StepRegime(const Volatility& volatility, const RegimeState& previous,
                       std::optional<double> value, TimePoint now);

// Returns the layers active at `now`, in precedence order: base; the phase
// layers of PhaseWindowsAt(spec.market_hours, now) in its order (a phase
// ahead of its start as PhaseLeadLayer); `regime`'s layer when not null; every
// event with start <= now < end, in spec order; the override while now <
// expires.
// REQUIRES: regime is null or points into spec.volatility->regimes.
std::vector<Layer> ActiveLayers(const PricingEngineSpec& spec, TimePoint now, const Regime* regime);

// Returns ActiveLayers with the regime that RegimeForValue picks for
// `volatility` (none when nullopt or the spec has no regimes).
std::vector<Layer> ActiveLayers(const PricingEngineSpec& spec, TimePoint now,
                                std::optional<double> volatility);

// Returns the earliest instant after `now` at which ActiveLayers' answer can
// change for a given regime (a phase's lead time, start or end; an event's
// start or end; the override's expiry), or nullopt when none is ahead.
std::optional<TimePoint> NextTransition(const PricingEngineSpec& spec, TimePoint now);

// A moment at which the active layers change, and what changes.
struct Transition {
  TimePoint at;
  // What changes, "; "-separated when several things change at once:
  // "phase Regular ends; phase PostMarket starts", "event node-rotation
  // starts", "override expires".
  std::string description;
  bool operator==(const Transition&) const = default;
};

// Returns the transitions in (after, until], in time order, one per instant.
// Where several phase, event and override boundaries coincide, phases come
// first, then events in spec order, then the override.
std::vector<Transition> Transitions(const PricingEngineSpec& spec, TimePoint after,
                                    TimePoint until);

}  // namespace pricing::op
