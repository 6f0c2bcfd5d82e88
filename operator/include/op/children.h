// The child objects of a PricingEngine (docs/design.md §3.4), built as JSON ready
// for server-side apply: one Deployment, Service, HorizontalPodAutoscaler
// (autoscaling/v2) and PodDisruptionBudget (policy/v1) per component, all
// named <metadata.name>-<component>, labelled, and owned by the PricingEngine
// (controller=true, blockOwnerDeletion=true).
//
// Each object holds exactly the fields the operator owns, so that applying it
// with field manager "pricing-operator" claims nothing else: in particular a
// Deployment never has spec.replicas (its HPA owns the replica count).
// Builders are pure; the same input gives the same JSON (nlohmann::json keeps
// keys sorted, so its text is byte-identical too).
//
// Pods run the engine hardened: non-root (UID/GID 65532), read-only root file
// system, no privilege escalation, every capability dropped, seccomp
// RuntimeDefault, no service-account token, no service-link environment
// variables. The engine's audit spool (PRICING_AUDIT_DIR) is an emptyDir at
// /var/lib/pricing, the one writable path. Probes: readiness GET
// /health/ready, liveness GET /health/live, and a startup probe on
// /health/live that allows 60 s before liveness applies. Pod anti-affinity
// spreads a component's pods over zones (preferred, weight 100) and nodes
// (preferred, weight 50; or required with placement.podAntiAffinity
// required), unless placement.affinity.podAntiAffinity replaces it; the rest
// of placement (nodeSelector, tolerations, affinity, topology spread
// constraints, which select the component's pods unless they name a
// labelSelector, and priorityClassName) goes to the pod template as read.
// Rolling updates use the component's strategy (default maxSurge 25%,
// maxUnavailable 0).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "op/layers.h"
#include "op/spec.h"

namespace pricing::op {

inline constexpr std::string_view kFieldManager = "pricing-operator";
// An object holding a child's name that no controller owns is adopted (the
// operator applies to it, taking the fields it sets and adding its owner
// reference) only when it carries this annotation with the value "true".
inline constexpr std::string_view kAdoptAnnotation = "pricing.borrowrate.io/adopt";
inline constexpr int kHttpPort = 8080;
inline constexpr std::string_view kAuditDir = "/var/lib/pricing";
inline constexpr int64_t kPodUser = 65532;
// The engine container's preStop sleep: time for the endpoints to drop a
// terminating pod before it stops accepting.
inline constexpr int kPreStopSleepSeconds = 5;
// The engine pod's grace period: the preStop sleep, the engine's drain of
// what it has read (10 s), of its audit spool (5 s) and its audit handoff to
// a peer (10 s), with time to spare.
inline constexpr int kTerminationGraceSeconds = 40;

// Returns "<metadata.name>-<component>", the name of every child of `component`.
std::string ChildName(const ObjectMeta& owner, const Component& component);

// Returns the labels of every child and pod: app.kubernetes.io/name
// (pricing-engine), instance (the PricingEngine), component, managed-by
// (pricing-operator).
nlohmann::json ChildLabels(const ObjectMeta& owner, const Component& component);

// Returns the labels that select a component's pods: ChildLabels without
// managed-by (selectors are immutable on Deployments, so they hold only what
// identifies the pods).
nlohmann::json SelectorLabels(const ObjectMeta& owner, const Component& component);

// Returns the owner reference to the PricingEngine. Its uid is left out when
// the owner has none (a CR read from a file, before the API server created it).
nlohmann::json OwnerReference(const ObjectMeta& owner);

// Returns the HPA behavior used when a component sets none, the scaling
// guide's:
//   scaleUp:   60 s stabilization window; per 60 s, add the larger of 3 pods
//              and 50 %
//   scaleDown: 300 s stabilization window; per 60 s, remove the smaller of
//              1 pod and 20 % (a lull between bursts does not drain warm
//              capacity)
nlohmann::json DefaultHpaBehavior();

nlohmann::json BuildDeployment(const PricingEngine& pe, const Component& component);
nlohmann::json BuildService(const PricingEngine& pe, const Component& component);
// The HPA's minReplicas / maxReplicas and CPU target come from `bounds`.
nlohmann::json BuildHorizontalPodAutoscaler(const PricingEngine& pe, const Component& component,
                                            const EffectiveBounds& bounds);
// The PDB's constraint comes from `bounds` (an event's, else the base one).
nlohmann::json BuildPodDisruptionBudget(const PricingEngine& pe, const Component& component,
                                        const EffectiveBounds& bounds);

}  // namespace pricing::op
