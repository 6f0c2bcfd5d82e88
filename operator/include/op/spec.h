// The PricingEngine resource (docs/design.md §3.1), pricing.borrowrate.io/v1alpha1:
// a typed model of its spec and the function that reads and validates one.
//
// ParsePricingEngine is the single gate between untrusted JSON (an object from
// the API server, or a YAML file given to `render`) and the rest of the
// operator: a PricingEngine value that it returns is semantically valid, so
// ComputeDesired never has to re-check it. It enforces what the CRD's schema
// and CEL rules enforce (crds/pricingengines.pricing.borrowrate.io.yaml), so
// that `render` rejects what `kubectl apply` would, plus what only the
// operator can check (a time zone tzdata knows). The first fault is returned
// as an Error whose `field` is a path into the object in Kubernetes' field
// path notation: "spec.components[1].replicas.min",
// "spec.marketHours.phases[0].minReplicas[calculation]".
//
// Defaults (the CRD's, applied here too so that a file renders as the API
// server would store it): role "all"; autoscaling.targetCPUUtilizationPercentage
// 80 (no memory target); disruption {maxUnavailable: 1}; requests.cpu = limits.cpu when only the
// limit is given (as Kubernetes does), else "500m" (the HPA's CPU target is a
// percentage of the request); strategy {maxSurge: 25%, maxUnavailable: 0};
// placement.podAntiAffinity preferred; marketHours {timeZone:
// America/New_York, calendar: NYSE, leadTime: 0s}; volatility.source
// {engine: {}}, pollInterval 60s, minHold 15m; url.jsonPointer "/value".
//
// Unknown fields are errors (the API server prunes them, so they can only come
// from a file: almost always a typo). `status` and metadata other than name,
// namespace, uid and generation are ignored.
#pragma once

#include <date/date.h>
#include <date/tz.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "op/error.h"
#include "op/quantity.h"
#include "op/time_text.h"

namespace pricing::op {

inline constexpr std::string_view kGroup = "pricing.borrowrate.io";
inline constexpr std::string_view kApiVersion = "pricing.borrowrate.io/v1alpha1";
inline constexpr std::string_view kKind = "PricingEngine";

// The component key that means "every component" in replica maps.
inline constexpr std::string_view kEveryComponent = "*";

inline constexpr int32_t kMaxReplicas = 10000;
inline constexpr int32_t kDefaultTargetCpuUtilization = 80;
inline constexpr std::string_view kDefaultCpuRequest = "500m";
inline constexpr std::chrono::nanoseconds kMaxLeadTime = std::chrono::hours{24};

// Replica counts (or other per-component integers) keyed by component name or
// "*". Ordered, so that everything built from it is deterministic.
using ComponentMap = std::map<std::string, int32_t>;

// Returns the entry for `component`, else the "*" entry, else nullopt.
std::optional<int32_t> Lookup(const ComponentMap& map, const std::string& component);

// An int-or-string of a PodDisruptionBudget: 2 or "70%".
struct IntOrPercent {
  int32_t value = 0;     // >= 0; 0..100 when percent
  bool percent = false;  // true: value is a percentage
  bool operator==(const IntOrPercent&) const = default;
};

// A PodDisruptionBudget's one constraint.
struct Disruption {
  enum class Kind { kMinAvailable, kMaxUnavailable };
  Kind kind = Kind::kMaxUnavailable;
  IntOrPercent amount{1, false};
  bool operator==(const Disruption&) const = default;
};

// Returns "minAvailable=2" or "maxUnavailable=70%".
std::string ToString(const Disruption& disruption);

// Returns how many of `replicas` healthy pods `disruption` lets an eviction
// take down, percentages rounded up as the disruption controller does:
// minAvailable 2 of 2 allows 0, minAvailable "70%" of 4 allows 1.
int32_t DisruptionsAllowed(const Disruption& disruption, int32_t replicas);
// Returns 2 or "70%" as JSON (the int-or-string Kubernetes expects).
nlohmann::json ToJson(const IntOrPercent& amount);

struct ReplicaBounds {
  int32_t min = 1;  // 1..kMaxReplicas
  int32_t max = 1;  // min..kMaxReplicas
};

struct Resources {
  std::map<std::string, Quantity> requests;  // resource name -> quantity; has "cpu"
  std::map<std::string, Quantity> limits;
};

// An autoscaling/v2 Pods metric target: the per-pod average of `name`.
struct PodsMetric {
  std::string name;
  Quantity average_value;
};

struct Autoscaling {
  int32_t target_cpu_utilization_percentage = kDefaultTargetCpuUtilization;  // 1..100
  // Percent of the memory request (1..100); nullopt: no memory metric. Set
  // only on a component with a memory request or limit.
  std::optional<int32_t> target_memory_utilization_percentage;
  std::vector<PodsMetric> pods_metrics;
  // autoscaling/v2 MetricSpec objects (Resource, ContainerResource, Pods,
  // Object, External), checked against the API server's rules and kept with
  // every quantity as its text: the HPA gets them after the shorthand's
  // metrics. None is a Resource metric for cpu, none for memory when
  // target_memory_utilization_percentage is set, and no Pods metric repeats
  // a pods_metrics name.
  std::vector<nlohmann::json> metrics;
  // autoscaling/v2 HorizontalPodAutoscalerBehavior as written (an object);
  // nullopt: the operator's defaults (see children.h).
  std::optional<nlohmann::json> behavior;
};

// The labels that select a component's pods (SelectorLabels in children.h):
// a topology spread constraint that names no labelSelector is given them, so
// its matchLabelKeys may not repeat them.
inline constexpr std::string_view kSelectorLabelKeys[] = {
    "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"};

// How a component's pods keep apart from one another (placement.podAntiAffinity).
enum class PodAntiAffinity {
  // The operator's default: preferably not in the same zone (weight 100) or
  // on the same node (weight 50).
  kPreferred,
  // Never two on one node (kubernetes.io/hostname); zones still preferred.
  kRequired,
  // placement.affinity.podAntiAffinity as written, in place of the operator's
  // (an empty one means none).
  kAsWritten,
};

// Where a component's pods run: the pod template's scheduling fields
// (core/v1). The objects are kept in the form the API server stores them
// (optional members that are "", [] or {} left out, since Go's omitempty
// drops them; labelSelectors kept even when empty, since {} selects every
// pod), so that the Deployment read back holds exactly what was applied and
// its fingerprint matches (managed_fields.h).
struct Placement {
  std::map<std::string, std::string> node_selector;  // label key -> label value
  std::vector<nlohmann::json> tolerations;           // core/v1 Toleration
  // core/v1 Affinity without empty members; nullopt or {} when none. Its
  // podAntiAffinity is set only with PodAntiAffinity::kAsWritten.
  std::optional<nlohmann::json> affinity;
  // core/v1 TopologySpreadConstraint, unique by (topologyKey,
  // whenUnsatisfiable); labelSelector as written, absent when not given.
  std::vector<nlohmann::json> topology_spread_constraints;
  std::string priority_class_name;  // empty: none
  PodAntiAffinity pod_anti_affinity = PodAntiAffinity::kPreferred;
};

// The Deployment's rolling update (apps/v1 RollingUpdateDeployment): the
// pods a rollout may start above the replica count and keep unavailable
// below it. Not both zero; percentages 0..100, integers 0..kMaxReplicas.
struct RollingUpdate {
  IntOrPercent max_surge{25, true};
  IntOrPercent max_unavailable{0, false};
  bool operator==(const RollingUpdate&) const = default;
};

struct Component {
  std::string name;  // DNS-1123 label; children are <metadata.name>-<name>
  std::string role = "all";
  ReplicaBounds replicas;
  Resources resources;
  Autoscaling autoscaling;
  Disruption disruption;
  Placement placement;
  RollingUpdate strategy;
};

// The bounds a policy layer (phase, regime, event) contributes while active.
// Which members a kind may set follows the CRD: phases and regimes take the
// maps and utilization targets; events take the maps or percents, targets
// and a disruption.
struct ScalingRule {
  ComponentMap min_replicas;  // floors, 1..kMaxReplicas
  ComponentMap max_replicas;  // ceilings, 1..kMaxReplicas
  // Percent of each component's base min / max, rounded up (1..10000); never
  // set together with the map of the same bound.
  std::optional<int32_t> min_replicas_percent;
  std::optional<int32_t> max_replicas_percent;
  // Utilization targets (1..100) by component name or "*"; written as one
  // number, the target is the "*" entry. A memory target reaches only
  // components with a memory request or limit.
  ComponentMap target_cpu_utilization_percentage;
  ComponentMap target_memory_utilization_percentage;
  std::optional<Disruption> disruption;  // every component
};

// A phase boundary: a wall-clock time, or the session's open or close plus
// a signed offset.
struct PhaseTime {
  enum class Anchor { kClock, kOpen, kClose };
  Anchor anchor = Anchor::kClock;
  // kClock: minutes since midnight (0..1439); kOpen / kClose: the offset
  // (-24h..+24h).
  std::chrono::minutes minutes{0};
  std::string text;  // as written: "08:00", "open", "close+2h", "open-90m"
};

// Parses "HH:MM" or open|close with an optional offset "+2h", "-90m",
// "+1h30m" (hours 0..99, minutes 0..999 after hours or 0..9999 alone, the
// offset at most 24h). Returns nullopt for anything else.
std::optional<PhaseTime> ParsePhaseTime(std::string_view text);

struct Phase {
  std::string name;  // unique; "Closed" is reserved
  PhaseTime start;
  PhaseTime end;  // may be before start: the phase straddles midnight
  ScalingRule rule;
};

struct EarlyClose {
  date::year_month_day date;
  std::chrono::minutes close{0};  // minutes since midnight
};

enum class CalendarKind { kNyse, kNone };

struct MarketHours {
  std::string time_zone = "America/New_York";
  const date::time_zone* zone = nullptr;  // time_zone located in tzdata; never null once parsed
  CalendarKind calendar = CalendarKind::kNyse;
  std::vector<date::year_month_day> extra_holidays;
  std::vector<EarlyClose> extra_early_closes;
  std::chrono::nanoseconds lead_time{0};  // 0..kMaxLeadTime
  std::vector<Phase> phases;
};

struct VolatilitySource {
  enum class Kind { kEngine, kUrl, kPrometheus, kValue };
  Kind kind = Kind::kEngine;
  std::string url;                      // kUrl: the document; kPrometheus: the server's base URL
  std::string json_pointer = "/value";  // kUrl
  std::string query;                    // kPrometheus: PromQL instant query
  double value = 0;                     // kValue
};

struct Regime {
  std::string name;
  double enter_above = 0;
  double exit_below = 0;  // <= enter_above
  ScalingRule rule;
};

struct Volatility {
  VolatilitySource source;
  std::chrono::nanoseconds poll_interval = std::chrono::seconds{60};  // >= 1s
  std::chrono::nanoseconds min_hold = std::chrono::minutes{15};
  std::vector<Regime> regimes;  // in spec order; enter_above values are distinct
};

struct Event {
  std::string name;
  TimePoint start;
  TimePoint end;  // after start; the event is active in [start, end)
  ScalingRule rule;
};

// An emergency override: while now < expires, replicas[c] is both the min and
// the max of component c.
struct Override {
  ComponentMap replicas;  // at least one entry
  TimePoint expires;
  std::string reason;
};

struct ObjectMeta {
  std::string name;            // DNS-1035 label
  std::string namespace_name;  // empty when the object names none (a file)
  std::string uid;             // empty when the object has none (a file)
  int64_t generation = 0;
};

// The engine's roles (`pricing-engine --role`); "all" runs every part in one
// process.
inline constexpr std::string_view kRoles[] = {"all",  "gateway", "calculation",
                                              "data", "cache",   "audit"};

// Environment variables the operator sets on every engine container itself
// (the role and its audit spool) or derives from the components (the
// addresses of the roles a split role calls); spec.env may not set them.
inline constexpr std::string_view kOperatorEnv[] = {
    "PRICING_ROLE",     "PRICING_AUDIT_DIR", "PRICING_CALCULATION_URL",
    "PRICING_DATA_URL", "PRICING_AUDIT_URL", "PRICING_AUDIT_HANDOFF_URL"};

struct PricingEngineSpec {
  std::string image;
  bool paused = false;
  // Passed through to every engine container: Kubernetes EnvVar and
  // EnvFromSource objects (e.g. PRICING_DATABASE_URL from a Secret).
  std::vector<nlohmann::json> env;
  std::vector<nlohmann::json> env_from;
  std::vector<Component> components;  // at least one; names unique
  MarketHours market_hours;
  std::optional<Volatility> volatility;
  std::vector<Event> events;
  std::optional<Override> emergency_override;  // spec.override
};

struct PricingEngine {
  ObjectMeta metadata;
  PricingEngineSpec spec;
};

// Reads a PricingEngine object (apiVersion, kind, metadata, spec; status is
// ignored). apiVersion and kind may be absent but, when present, must be
// pricing.borrowrate.io/v1alpha1 and PricingEngine. Returns the first fault,
// in document order, as described at the top of this file.
Result<PricingEngine> ParsePricingEngine(const nlohmann::json& object);

}  // namespace pricing::op
