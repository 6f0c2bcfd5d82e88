// The status of a PricingEngine (docs/design.md §3.5) as a pure function of what
// the reconciler decided and observed, and the rule that decides whether a
// child needs applying. Conditions follow metav1.Condition: lastTransitionTime
// changes only when a condition's status does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "op/desired.h"
#include "op/error.h"
#include "op/spec.h"
#include "op/time_text.h"

namespace pricing::op {

inline constexpr std::string_view kConditionReady = "Ready";
inline constexpr std::string_view kConditionSpecValid = "SpecValid";
inline constexpr std::string_view kConditionVolatilitySourceHealthy = "VolatilitySourceHealthy";
inline constexpr std::string_view kConditionDegraded = "Degraded";

// A condition of a child as the reconciler saw it.
struct ChildCondition {
  std::string status;  // "True", "False", "Unknown"; "" when the child does not report it
  std::string reason;
};

// What the reconciler saw of one component's Deployment and HPA. The
// component is rolled out (docs/design.md §3.5) when its Deployment exists, is the
// one the reconciler wants (not unapplied), has observed its generation, has
// at least one replica with updated = ready = available = replicas, and has
// not exceeded its progress deadline; and its HPA exists and is AbleToScale
// and ScalingActive.
struct ComponentObservation {
  std::string name;
  // The Deployment.
  bool deployment_exists = false;
  // The reconciler failed to apply the Deployment it wants: what was seen of
  // it is an older one.
  bool deployment_unapplied = false;
  int64_t generation = 0;           // metadata.generation
  int64_t observed_generation = 0;  // status.observedGeneration
  int32_t replicas = 0;             // status.replicas
  int32_t ready_replicas = 0;       // status.readyReplicas
  int32_t updated_replicas = 0;     // status.updatedReplicas
  int32_t available_replicas = 0;   // status.availableReplicas
  // The Progressing condition has reason ProgressDeadlineExceeded.
  bool progress_deadline_exceeded = false;
  // The HorizontalPodAutoscaler.
  bool hpa_exists = false;
  ChildCondition able_to_scale;
  ChildCondition scaling_active;
};

// The volatility reading the policy used, if any.
struct VolatilityObservation {
  std::optional<double> value;  // nullopt: no reading
  std::string source;           // "engine", "url", "prometheus", "value"
  std::optional<TimePoint> observed_at;
  bool healthy = true;   // false: the source failed or its reading is stale
  std::string message;   // why not healthy; or a note
};

struct StatusInputs {
  const PricingEngine* pe = nullptr;  // REQUIRES: non-null
  const Desired* desired = nullptr;   // REQUIRES: non-null
  std::vector<ComponentObservation> observed;  // by component, any order
  std::optional<VolatilityObservation> volatility;  // nullopt: the spec has no volatility block
  // The first child the reconciler failed to apply or delete, if any: Degraded
  // then says so, and observedGeneration keeps its previous value (the spec is
  // not fully applied yet).
  std::optional<std::string> apply_error;
  // The API server refused a write for good (RBAC, validation): Degraded's
  // reason is ApplyRefused rather than ApplyFailed.
  bool apply_refused = false;
  // Objects holding a child's name that the operator does not control and
  // may not adopt, each as the sentence that names it: Ready is then False
  // (ChildConflict) whatever the rollout says.
  std::vector<std::string> conflicts;
  // The regime state after this reading (status.volatility.regime and
  // regimeSince), when the spec has a volatility block.
  std::optional<RegimeState> regime;
  std::string market_phase = "Closed";  // the active phase's name, or Closed
  std::string market_day;               // Regular|EarlyClose|Holiday|Weekend; "" to leave out
  std::vector<std::pair<TimePoint, std::string>> next_transitions;
  TimePoint now;
};

// A policy transition between two statuses: its kind ("phase", "regime",
// "event", "override") and a sentence, e.g. "market phase PreMarket -> Regular".
struct PolicyTransition {
  std::string kind;
  std::string note;
};

// Returns the transitions from status `before` to `after`, in the order
// phase, regime, events, override; none when `before` has never been written
// (no observedGeneration).
std::vector<PolicyTransition> TransitionsBetween(const nlohmann::json& before,
                                                 const nlohmann::json& after);

// A component's time to scale that `after` completes: lastTransition's
// component entries that have readyAfterSeconds in `after` and did not in
// `before` (same transition).
struct TimeToScale {
  std::string component;
  int64_t seconds = 0;
};
std::vector<TimeToScale> TimesToScaleCompleted(const nlohmann::json& before,
                                               const nlohmann::json& after);

// Returns the new status given the previous one (`previous`: the object's
// current .status, or null). Ready is True (RolledOut) when every component
// is rolled out; else False with the reason of the worst component
// (ProgressDeadlineExceeded, then RolloutInProgress for any other Deployment
// problem, then ScalingInactive for an HPA problem) and a message naming each
// component that is not rolled out and why, e.g. "calculation: 1 of 2
// replicas updated; api: HPA ScalingActive=False (FailedGetResourceMetric)".
// A child name held by an object the operator may not write (conflicts)
// makes Ready False with reason ChildConflict, naming each object first.
// Degraded is True when a child failed to apply; else, unless paused, when a
// Deployment exceeded its progress deadline or a component has fewer ready
// pods than its effective minimum.
// lastTransition is the latest policy transition: when this status makes
// one (TransitionsBetween), {at: now, description, components: each
// component whose floor it raised, with fromMinReplicas and minReplicas};
// else the previous one. A listed component gets readyAfterSeconds (whole
// seconds since `at`) once its Deployment has minReplicas available pods:
// the time to scale, which is never revised afterwards.
nlohmann::json BuildStatus(const StatusInputs& inputs, const nlohmann::json& previous);

// Returns the status of a PricingEngine whose spec failed validation:
// SpecValid=False naming the field, Ready=False, observedGeneration =
// `generation`; everything else kept from `previous`.
nlohmann::json InvalidSpecStatus(const nlohmann::json& previous, int64_t generation,
                                 const Error& error, TimePoint now);

// Returns `conditions` (a JSON array, or null) with the condition `type` set;
// its lastTransitionTime is `now` when the status changed or the condition is
// new, and kept otherwise.
nlohmann::json SetCondition(const nlohmann::json& conditions, std::string_view type,
                            std::string_view status, std::string_view reason,
                            std::string_view message, int64_t generation, TimePoint now);

// Returns the condition `type` from a status, or null.
nlohmann::json FindCondition(const nlohmann::json& status, std::string_view type);

// Returns true when every field of `wanted` is in `actual` with an equal
// value: objects compare key by key (extra keys in `actual` are fine, since
// the API server adds defaults), arrays element by element with equal length,
// numbers by value.
bool Contains(const nlohmann::json& actual, const nlohmann::json& wanted);

}  // namespace pricing::op
