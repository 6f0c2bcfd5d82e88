// Reconcile(key, now) for PricingEngine (level-based, reads the
// current object from the store, never the event that woke it):
//
//   1. parse and validate the PricingEngine; an invalid spec gets
//      SpecValid=False naming the field and one Warning Event, and is not
//      retried (only a new spec can fix it);
//   2. desired = ComputeDesired(spec, now, volatility), the function
//      `pricing-operator render` prints;
//   3. unless spec.paused, server-side apply each child whose cached
//      fingerprint of the fields the operator owns differs from the desired
//      child's (a field added, changed, dropped from the spec, or taken over
//      by someone else), and delete the children of components the spec no
//      longer lists;
//   4. write the status if it changed (Ready when every component's
//      Deployment and HPA, as cached, show the desired spec rolled out), and
//      an Event for each policy transition (phase, regime, events, override);
//   5. ask to be called again at the next policy transition.
//
// Children are read from the watch caches, so a steady state costs no API
// call at all. The Deployment's spec.replicas is never written: the HPA owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "op/clock.h"
#include "op/kube.h"
#include "op/spec.h"
#include "op/status.h"
#include "runtime/event_recorder.h"
#include "runtime/store.h"

namespace pricing::op {

// Reads the volatility index a PricingEngine's spec.volatility.source names.
class VolatilityReader {
 public:
  virtual ~VolatilityReader() = default;
  // Returns the latest reading for `pe` at `now`. REQUIRES: pe.spec.volatility.
  virtual VolatilityObservation Read(const PricingEngine& pe, TimePoint now) = 0;
};

// Caches keyed "namespace/name" of the PricingEngines and of the four child
// kinds, kept by watchers. REQUIRES: all non-null.
struct ReconcilerStores {
  const Store* engines = nullptr;
  const Store* deployments = nullptr;
  const Store* services = nullptr;
  const Store* horizontal_pod_autoscalers = nullptr;
  const Store* pod_disruption_budgets = nullptr;
};

// The projection the child caches use: ChildCacheRecord for field manager
// pricing-operator (op/managed_fields.h).
Store::Projection ChildProjection();

// The codec the child caches hold those records in (op/child_record.h).
Store::Codec ChildCodec();

struct ReconcilerHooks {
  std::function<void(std::string_view kind)> child_applied;      // one per apply
  std::function<void(std::string_view kind)> policy_transition;  // "phase", "regime", "event", "override"
  // Once per component a transition raised the floor of, when its Deployment
  // first has that many available pods: the seconds since the transition.
  std::function<void(std::string_view component, int64_t seconds)> time_to_scale;
};

struct ReconcileOutcome {
  std::optional<std::chrono::nanoseconds> requeue_after;  // nullopt: wait for a change
};

class Reconciler {
 public:
  // A safety net: every PricingEngine is looked at again at least this often.
  static constexpr std::chrono::minutes kResync{10};
  // How often a PricingEngine whose child name is held by an object it may
  // not write looks again (the object is not watched).
  static constexpr std::chrono::seconds kConflictRecheck{30};
  // How often a PricingEngine whose write the API server refused for good
  // (403, 422, 500) tries again. Not a backoff: the refusal is said once, as
  // a condition and an Event. But a refusal can pass without any change the
  // operator watches: RBAC granted after the install, or the admission
  // plugin that checks blockOwnerDeletion not yet knowing a CRD created a
  // moment before (its REST mapping refreshes within 30 s).
  static constexpr std::chrono::seconds kRefusalRecheck{30};

  // `volatility` may be null: sources other than `value` then read as unknown.
  Reconciler(KubeClient& client, const Clock& clock, ReconcilerStores stores,
             EventRecorder& events, VolatilityReader* volatility = nullptr,
             ReconcilerHooks hooks = {});

  // Reconciles the PricingEngine `key` ("namespace/name"). Returns when to look
  // again, or the error of a call worth retrying (the caller backs off).
  KubeResult<ReconcileOutcome> Reconcile(const std::string& key);

  // Tells the reconciler that the caches have seen a change of the object
  // `key` ("plural/namespace/name", e.g. "deployments/prod/desk-api" or
  // "pricingengines/prod/desk"): what it wrote to that object before is now
  // in the cache (or overtaken). The controller calls it for every watch event.
  void Observed(const std::string& key);

  // Same as Observed for every object: the caches hold every write made so far.
  void ObservedAll();

  // The object `key` (as for Observed) was deleted: forgets everything kept
  // about it, so a process that sees thousands of objects come and go keeps
  // nothing for the departed.
  void Forget(const std::string& key);

  // Returns the number of entries kept about objects (tests).
  size_t Remembered() const;

 private:
  const Store& StoreOf(const Resource& resource) const;

  // The watch caches lag behind our own writes. So that a reconcile woken
  // before the cache has seen our last write neither repeats it nor reads a
  // stale status, each write is remembered with the resourceVersion the cache
  // held when it was made; the memory is dropped once the cache moves on or a
  // watch event for the object arrives (Observed).
  //
  // A memory must be read before the cache is: a watcher updates its store
  // first and calls Observed second, so a memory missing here was either
  // never there or dropped after the store took the event, which the cache
  // read that follows then shows. Read the other way round, a reconcile could
  // see the cache from before the event and no memory, and write again.
  using AppliedMemory = std::pair<std::string, uint64_t>;  // (cached rv, fingerprint)
  std::optional<AppliedMemory> AppliedMemoryOf(const std::string& child);
  // Returns true when `child` ("plural/ns/name") was applied with this
  // `fingerprint` while the cache held `cached_rv`, and still does; `memory`
  // is what AppliedMemoryOf returned before the cache was read.
  bool AwaitingCache(const std::string& child, const std::optional<AppliedMemory>& memory,
                     const std::string& cached_rv, uint64_t fingerprint);
  void ExpectApplied(const std::string& child, const std::string& cached_rv, uint64_t fingerprint);
  // The status reads a Deployment's and an HPA's rollout from the same
  // memory: RememberApplied keeps what an apply of `child` returned, made
  // while the cache held `cached_rv`, and CurrentRecord returns it in place
  // of the cached record of `resource` `child_key` ("namespace/name") until
  // the cache has seen that write (else the cached record; nullopt: none).
  void RememberApplied(const std::string& child, const std::string& cached_rv,
                       const nlohmann::json& live);
  std::optional<nlohmann::json> CurrentRecord(const Resource& resource,
                                              const std::string& child_key);

  // True when the child's cached record shows what `wanted` (the fingerprint
  // of the desired child's AppliedContent) would apply: the fingerprints are
  // equal, or our last apply of `wanted` read back as the cached fingerprint
  // (the API server normalised a value, e.g. a quantity "1000m" to "1").
  bool InSync(const std::string& child, const nlohmann::json& record, uint64_t wanted);
  // Remembers how an apply of `wanted` read back, when it differs.
  void LearnApplied(const std::string& child, uint64_t wanted, const nlohmann::json& live);
  void RememberStatus(const std::string& key, const std::string& cached_rv,
                      const nlohmann::json& status);
  void RecordTransitions(const nlohmann::json& object, const nlohmann::json& before,
                         const nlohmann::json& after);

  KubeClient& client_;
  const Clock& clock_;
  ReconcilerStores stores_;
  EventRecorder& events_;
  VolatilityReader* volatility_;
  ReconcilerHooks hooks_;

  mutable std::mutex mu_;
  // child "plural/ns/name" -> (cached resourceVersion at apply, fingerprint)
  std::unordered_map<std::string, AppliedMemory> applied_;
  // Deployment or HPA "plural/ns/name" -> (cached resourceVersion at apply,
  // EncodeChildRecord of what the apply returned); dropped with applied_
  std::unordered_map<std::string, std::pair<std::string, std::vector<std::uint8_t>>>
      applied_records_;
  // child "plural/ns/name" -> (desired fingerprint, its read-back fingerprint),
  // only for the children whose two differ
  std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> read_back_;
  // engine key -> (cached resourceVersion at write, status written); shared,
  // so that a reconcile takes it without copying a status it may discard
  std::unordered_map<std::string, std::pair<std::string, std::shared_ptr<const nlohmann::json>>>
      status_written_;
};

}  // namespace pricing::op
