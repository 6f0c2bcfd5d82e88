// Server-side apply field ownership (metadata.managedFields, fieldsV1), used
// to keep a child in the cache as one fingerprint of the fields the operator
// owns instead of the whole object.
//
// After the operator applies a child, the API server records the set of
// fields it applied under its field manager. Projecting the live object onto
// that set gives back what the operator applied, with the API server's
// defaults (fields nobody applied) left out; a field someone else took over
// (kubectl edit, patch, another apply with force) leaves the set, so the
// projection no longer matches and the child is applied again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace pricing::op {

// Returns the fieldsV1 of `manager`'s Apply entry for the main resource (not a
// subresource such as status), or nullopt when it has none.
std::optional<nlohmann::json> AppliedFieldsOf(const nlohmann::json& object,
                                              std::string_view manager);

// Returns the part of `value` named by `fields` (a fieldsV1 set): "f:<name>"
// selects a member, "k:<json>" the list items whose key fields match,
// "v:<json>" the set items equal to the value, "i:<n>" an index; "." marks
// the field itself. A field whose set names nothing below it is taken whole.
nlohmann::json ProjectOntoFields(const nlohmann::json& value, const nlohmann::json& fields);

// Returns `desired` as field ownership sees it: without apiVersion, kind,
// metadata.name and metadata.namespace (identity, not owned fields) and
// without null members (an applied null unsets a field).
nlohmann::json AppliedContent(const nlohmann::json& desired);

// A 64-bit fingerprint (FNV-1a) of the canonical JSON text of `value`
// (members sorted, numbers in their shortest form).
uint64_t Fingerprint(const nlohmann::json& value);

// The fingerprint of what `manager` applied to `object`, read back from the
// live object: Fingerprint(ProjectOntoFields(object, AppliedFieldsOf(...))).
// Nullopt when `manager` has applied nothing to it.
std::optional<uint64_t> AppliedFingerprint(const nlohmann::json& object,
                                           std::string_view manager);

// The condition types a ChildCacheRecord keeps: what decides whether a
// component is rolled out (a Deployment's Progressing, an HPA's AbleToScale
// and ScalingActive).
inline constexpr std::string_view kProgressingCondition = "Progressing";
inline constexpr std::string_view kAbleToScaleCondition = "AbleToScale";
inline constexpr std::string_view kScalingActiveCondition = "ScalingActive";

// A kept condition's reason is cut to at most this many bytes (at a UTF-8
// character boundary): enough for every reason Kubernetes' controllers set.
inline constexpr size_t kMaxKeptReasonBytes = 64;

// What the controller caches of a child it manages, instead of the object:
// metadata (name, namespace, uid, resourceVersion, generation, the controller
// owner reference); of status, when present, replicas, readyReplicas,
// updatedReplicas, availableReplicas, observedGeneration and the conditions
// of the types above (type, status and reason only; no message or times);
// and "appliedFingerprint" (the AppliedFingerprint for `manager`) when
// `manager` has applied to it. A few hundred bytes where the object is
// kilobytes.
nlohmann::json ChildCacheRecord(const nlohmann::json& child, std::string_view manager);

// Returns the "appliedFingerprint" of a ChildCacheRecord, or nullopt.
std::optional<uint64_t> CachedAppliedFingerprint(const nlohmann::json& record);

}  // namespace pricing::op
