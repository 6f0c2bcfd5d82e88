#include "runtime/reconciler.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "op/child_record.h"
#include "op/children.h"
#include "op/desired.h"
#include "op/managed_fields.h"

namespace pricing::op {

namespace {

// Whether sending the same write again cannot help: the API server refused
// it for RBAC (401, 403: a missing permission, such as update on
// pricingengines/finalizers where OwnerReferencesPermissionEnforcement is
// on), as invalid (400, 422), or with a 500 from decoding the object (a
// misspelt field in a pass-through HPA behavior). Retrying it with backoff
// would only storm the API server; the refusal is a condition and an Event
// naming the object and the permission, and the next change of the
// PricingEngine, or the periodic resync, tries again.
bool RefusedForGood(const KubeError& e) {
  return e.kind == KubeError::Kind::kForbidden || e.kind == KubeError::Kind::kInvalid ||
         e.kind == KubeError::Kind::kTerminal || e.http_status == 500;
}

using nlohmann::json;

// Returns true when `child` names `uid` as its controlling owner.
bool ControlledBy(const json& child, const std::string& uid) {
  const json* meta = child.contains("metadata") ? &child["metadata"] : nullptr;
  if (meta == nullptr || !meta->contains("ownerReferences")) return false;
  for (const json& ref : (*meta)["ownerReferences"]) {
    if (ref.value("uid", "") == uid && ref.value("controller", false)) return true;
  }
  return false;
}


// Why the operator may not write `child` (the live object holding a child's
// name) for the PricingEngine `uid`: nullopt when it may (it controls it, or
// the object consents to adoption and has no other controller); otherwise
// the sentence naming the object and what to do.
std::optional<std::string> RefusedAdoption(const json& child, const std::string& uid,
                                           const std::string& what) {
  if (ControlledBy(child, uid)) return std::nullopt;
  const json& meta = child["metadata"];
  std::string controller;
  for (const json& ref : meta.value("ownerReferences", json::array())) {
    if (ref.value("controller", false)) {
      controller = ref.value("kind", "") + " " + ref.value("name", "");
    }
  }
  if (!controller.empty()) {
    return what + " is controlled by " + controller + "; the operator does not take it over";
  }
  const json annotations = meta.value("annotations", json::object());
  if (annotations.value(std::string(kAdoptAnnotation), "") == "true") return std::nullopt;
  return what + " exists and is not controlled by this PricingEngine; remove it, or annotate it " +
         std::string(kAdoptAnnotation) + "=\"true\" for the operator to adopt it";
}

// The regime state the last status recorded; none since `now` when there is none.
RegimeState PreviousRegime(const json& status, TimePoint now) {
  RegimeState state{"", now};
  if (!status.is_object() || !status.contains("volatility")) return state;
  const json& v = status["volatility"];
  if (!v.is_object()) return state;
  if (v.contains("regime") && v["regime"].is_string()) state.name = v["regime"].get<std::string>();
  if (v.contains("regimeSince") && v["regimeSince"].is_string()) {
    if (std::optional<TimePoint> t = ParseRfc3339(v["regimeSince"].get<std::string>())) {
      state.since = *t;
    }
  }
  return state;
}

int64_t Int64At(const json& object, const char* pointer) {
  const json::json_pointer p(pointer);
  if (!object.contains(p) || !object.at(p).is_number_integer()) return 0;
  return object.at(p).get<int64_t>();
}

int32_t IntAt(const json& object, const char* pointer) {
  const json::json_pointer p(pointer);
  if (!object.contains(p) || !object.at(p).is_number_integer()) return 0;
  return object.at(p).get<int32_t>();
}

// Returns the status condition `type` of a child's record (empty when it has none).
ChildCondition ConditionOf(const json& record, std::string_view type) {
  const json::json_pointer p("/status/conditions");
  if (!record.contains(p) || !record.at(p).is_array()) return {};
  for (const json& c : record.at(p)) {
    if (!c.is_object() || c.value("type", "") != type) continue;
    return ChildCondition{c.value("status", ""), c.value("reason", "")};
  }
  return {};
}

// Returns what `deployment` and `hpa` (records of a component's children, or
// nullopt when there are none) say of whether the component is rolled out;
// `deployment_unapplied`: the reconciler failed to apply the Deployment.
ComponentObservation Observe(std::string name, const std::optional<json>& deployment,
                             bool deployment_unapplied, const std::optional<json>& hpa) {
  ComponentObservation o;
  o.name = std::move(name);
  if (deployment) {
    o.deployment_exists = true;
    o.deployment_unapplied = deployment_unapplied;
    o.generation = Int64At(*deployment, "/metadata/generation");
    o.observed_generation = Int64At(*deployment, "/status/observedGeneration");
    o.replicas = IntAt(*deployment, "/status/replicas");
    o.ready_replicas = IntAt(*deployment, "/status/readyReplicas");
    o.updated_replicas = IntAt(*deployment, "/status/updatedReplicas");
    o.available_replicas = IntAt(*deployment, "/status/availableReplicas");
    o.progress_deadline_exceeded =
        ConditionOf(*deployment, kProgressingCondition).reason == "ProgressDeadlineExceeded";
  }
  if (hpa) {
    o.hpa_exists = true;
    o.able_to_scale = ConditionOf(*hpa, kAbleToScaleCondition);
    o.scaling_active = ConditionOf(*hpa, kScalingActiveCondition);
  }
  return o;
}

// Forgets the memory of our write to `key` in `memories` (each entry: the
// cache's resourceVersion when the write was made, then what was written)
// if it is still the one made while the cache held `cached_rv`: the cache has
// moved on since, and no later write has taken its place. Call with the
// reconciler's lock held.
template <typename Memories>
void ForgetOvertakenLocked(Memories& memories, const std::string& key,
                           const std::string& cached_rv) {
  if (auto it = memories.find(key); it != memories.end() && it->second.first == cached_rv) {
    memories.erase(it);
  }
}

}  // namespace

Reconciler::Reconciler(KubeClient& client, const Clock& clock, ReconcilerStores stores,
                       EventRecorder& events, VolatilityReader* volatility,
                       ReconcilerHooks hooks)
    : client_(client),
      clock_(clock),
      stores_(stores),
      events_(events),
      volatility_(volatility),
      hooks_(std::move(hooks)) {}

const Store& Reconciler::StoreOf(const Resource& resource) const {
  if (resource == kDeployments) return *stores_.deployments;
  if (resource == kServices) return *stores_.services;
  if (resource == kHorizontalPodAutoscalers) return *stores_.horizontal_pod_autoscalers;
  return *stores_.pod_disruption_budgets;
}

KubeResult<ReconcileOutcome> Reconciler::Reconcile(const std::string& key) {
  // Our last status write, read before the cache (see AppliedMemoryOf).
  std::optional<std::pair<std::string, std::shared_ptr<const json>>> written_status;
  {
    std::lock_guard lock(mu_);
    if (auto it = status_written_.find(key); it != status_written_.end()) {
      written_status = it->second;
    }
  }
  const std::optional<json> found = stores_.engines->Get(key);
  if (!found) {
    // Deleted: the garbage collector removes the children. A status write of
    // a reconcile that ran while the deletion arrived may have been
    // remembered after Forget; this reconcile, queued by the deletion, comes
    // after it and drops it.
    std::lock_guard lock(mu_);
    status_written_.erase(key);
    return ReconcileOutcome{};
  }
  const json& object = *found;
  if (object.contains("metadata") && object["metadata"].contains("deletionTimestamp")) {
    return ReconcileOutcome{};
  }
  const TimePoint now = clock_.Now();
  const std::string engine_rv = ResourceVersionOf(object);
  json previous = object.value("status", json::object());
  if (written_status) {
    if (written_status->first == engine_rv) {
      previous = *written_status->second;  // our last write, not in the cache yet
    } else {
      std::lock_guard lock(mu_);
      ForgetOvertakenLocked(status_written_, key, written_status->first);
    }
  }
  const json status_ref = {{"apiVersion", kApiVersion},
                           {"kind", kKind},
                           {"metadata",
                            {{"name", object["metadata"].value("name", "")},
                             {"namespace", object["metadata"].value("namespace", "")}}}};

  Result<PricingEngine> parsed = ParsePricingEngine(object);
  if (!parsed) {
    const int64_t generation = object["metadata"].value("generation", int64_t{0});
    const json before = FindCondition(previous, kConditionSpecValid);
    const std::string message = ToString(parsed.error());
    if (before.is_null() || before.value("status", "") != "False" ||
        before.value("message", "") != message) {
      events_.Record(object, "Warning", "InvalidSpec", "Validate", message);
    }
    const json status = InvalidSpecStatus(previous, generation, parsed.error(), now);
    if (status != previous) {
      json body = status_ref;
      body["status"] = status;
      KubeResult<json> r = client_.Apply(kPricingEngines, body, kFieldManager, "status");
      if (!r) {
        if (r.error().Retryable()) return std::unexpected(r.error());
      } else {
        RememberStatus(key, engine_rv, status);
      }
    }
    return ReconcileOutcome{};
  }
  const PricingEngine& pe = *parsed;

  std::optional<VolatilityObservation> volatility;
  std::optional<RegimeState> regime;
  PolicyInputs policy;
  if (pe.spec.volatility) {
    if (pe.spec.volatility->source.kind == VolatilitySource::Kind::kValue) {
      volatility = VolatilityObservation{pe.spec.volatility->source.value, "value", now, true,
                                         "a fixed value from the spec"};
    } else if (volatility_ != nullptr) {
      volatility = volatility_->Read(pe, now);
    } else {
      volatility = VolatilityObservation{std::nullopt, "", std::nullopt, false,
                                         "no reader for this source in this process"};
    }
    const std::optional<double> reading =
        volatility->healthy ? volatility->value : std::optional<double>();
    regime = StepRegime(*pe.spec.volatility, PreviousRegime(previous, now), reading, now);
    policy.volatility = reading;
    policy.regime = regime;
    if (!reading) {
      // Hold the last regime and say so; keep the last good reading on show.
      const json& pv = previous.contains("volatility") ? previous["volatility"] : json();
      if (pv.is_object()) {
        if (!volatility->value && pv.contains("value") && pv["value"].is_number()) {
          volatility->value = pv["value"].get<double>();
        }
        if (!volatility->observed_at && pv.contains("observedAt") &&
            pv["observedAt"].is_string()) {
          volatility->observed_at = ParseRfc3339(pv["observedAt"].get<std::string>());
        }
      }
      volatility->message += std::string(volatility->message.empty() ? "" : "; ") +
                             "holding regime " +
                             (regime->name.empty() ? std::string("(none)") : regime->name) +
                             " from the last good reading";
    }
  }
  Result<Desired> desired = ComputeDesired(pe, now, policy);
  if (!desired) {
    // Only a spec ParsePricingEngine should have refused gets here.
    events_.Record(object, "Warning", "InvalidSpec", "Validate", ToString(desired.error()));
    return ReconcileOutcome{};
  }

  std::optional<std::string> apply_error;  // the first write that failed, and why
  std::optional<KubeError> retry_error;    // the first failure worth retrying
  bool refused = false;                    // a write the API server refused for good
  // A write to a child failed: the first is shown, and it is retried with
  // backoff unless the API server refused it for good.
  const auto failed = [&](const std::string& what, const KubeError& e) {
    if (!apply_error) apply_error = what + ": " + e.message;
    if (RefusedForGood(e)) {
      refused = true;
    } else if (e.Retryable() && !retry_error) {
      retry_error = e;
    }
  };
  // The Deployments ("namespace/name") this reconcile failed to apply: what
  // the cache shows of them is not the spec it wants.
  std::set<std::string> unapplied_deployments;
  // Objects holding a child's name that the operator may not write.
  std::vector<std::string> conflicts;
  if (!desired->paused) {
    std::set<std::string> wanted;  // "plural/name"
    for (const json& child : desired->Objects()) {
      const Resource* resource =
          ResourceOfChild(child.value("apiVersion", ""), child.value("kind", ""));
      if (resource == nullptr) continue;
      const std::string name = child["metadata"].value("name", "");
      wanted.insert(resource->plural + "/" + name);
      const std::string child_key = pe.metadata.namespace_name + "/" + name;
      const std::string expectation_key = resource->plural + "/" + child_key;
      const std::optional<AppliedMemory> memory = AppliedMemoryOf(expectation_key);
      const std::optional<json> current = StoreOf(*resource).Get(child_key);
      const std::string current_rv = current ? ResourceVersionOf(*current) : "";
      const uint64_t fingerprint = Fingerprint(AppliedContent(child));
      if (AwaitingCache(expectation_key, memory, current_rv, fingerprint)) continue;
      if (current && InSync(expectation_key, *current, fingerprint)) continue;
      // An object the cache does not show as ours may be someone else's:
      // read it whole (the cache keeps no annotations) before writing.
      if (!current || !ControlledBy(*current, pe.metadata.uid)) {
        KubeResult<json> live = client_.Get(*resource, pe.metadata.namespace_name, name);
        if (!live && live.error().kind != KubeError::Kind::kNotFound) {
          if (*resource == kDeployments) unapplied_deployments.insert(child_key);
          failed("reading " + resource->kind + " " + name, live.error());
          continue;
        }
        if (live) {
          if (std::optional<std::string> refusal = RefusedAdoption(
                  *live, pe.metadata.uid, resource->kind + " " + child_key)) {
            conflicts.push_back(std::move(*refusal));
            continue;
          }
        }
      }
      KubeResult<json> applied = client_.Apply(*resource, child, kFieldManager);
      if (applied) {
        ExpectApplied(expectation_key, current_rv, fingerprint);
        LearnApplied(expectation_key, fingerprint, *applied);
        if (*resource == kDeployments || *resource == kHorizontalPodAutoscalers) {
          RememberApplied(expectation_key, current_rv, *applied);
        }
      }
      if (!applied) {
        if (*resource == kDeployments) unapplied_deployments.insert(child_key);
        failed(resource->kind + " " + name, applied.error());
        continue;
      }
      if (hooks_.child_applied) hooks_.child_applied(resource->kind);
    }
    for (const Resource* resource : {&kDeployments, &kServices, &kHorizontalPodAutoscalers,
                                     &kPodDisruptionBudgets}) {
      for (const json& child : StoreOf(*resource).ListPrefix(pe.metadata.namespace_name + "/" +
                                                             pe.metadata.name + "-")) {
        const json& meta = child["metadata"];
        if (meta.value("namespace", "") != pe.metadata.namespace_name) continue;
        if (!ControlledBy(child, pe.metadata.uid)) continue;
        const std::string name = meta.value("name", "");
        if (wanted.contains(resource->plural + "/" + name)) continue;
        DeleteOptions options;
        options.precondition_uid = meta.value("uid", "");
        KubeResult<void> deleted =
            client_.Delete(*resource, pe.metadata.namespace_name, name, options);
        if (!deleted && deleted.error().kind != KubeError::Kind::kNotFound) {
          failed("deleting " + resource->kind + " " + name, deleted.error());
        }
      }
    }
  }

  StatusInputs inputs;
  inputs.pe = &pe;
  inputs.desired = &*desired;
  inputs.volatility = volatility;
  inputs.apply_error = apply_error;
  inputs.regime = regime;
  inputs.market_phase = desired->market_phase;
  inputs.market_day = desired->market_day;
  inputs.next_transitions = desired->next_transitions;
  inputs.now = now;
  for (const ComponentDesired& c : desired->components) {
    const std::string child_key =
        pe.metadata.namespace_name + "/" + pe.metadata.name + "-" + c.name;
    inputs.observed.push_back(Observe(c.name, CurrentRecord(kDeployments, child_key),
                                      unapplied_deployments.contains(child_key),
                                      CurrentRecord(kHorizontalPodAutoscalers, child_key)));
  }
  inputs.apply_refused = refused && !retry_error;
  inputs.conflicts = conflicts;
  const json status = BuildStatus(inputs, previous);
  if (!conflicts.empty()) {
    // Once per conflict: Ready's message names the objects until it changes.
    const json ready = FindCondition(previous, kConditionReady);
    const std::string before = ready.is_object() ? ready.value("message", "") : "";
    for (const std::string& conflict : conflicts) {
      if (before.find(conflict) == std::string::npos) {
        events_.Record(object, "Warning", "ChildConflict", "Apply", conflict);
      }
    }
  }
  if (apply_error && refused) {
    // Once per refusal: the condition's message says it until it changes.
    const json before = FindCondition(previous, kConditionDegraded);
    if (before.is_null() || before.value("message", "") != *apply_error) {
      events_.Record(object, "Warning", "ApplyRefused", "Apply", *apply_error);
    }
  }
  if (status != previous) {
    json body = status_ref;
    body["status"] = status;
    KubeResult<json> written = client_.Apply(kPricingEngines, body, kFieldManager, "status");
    if (!written) {
      if (written.error().Retryable()) return std::unexpected(written.error());
    } else {
      RememberStatus(key, engine_rv, status);
      if (previous.contains("observedGeneration")) RecordTransitions(object, previous, status);
    }
  }
  if (retry_error) return std::unexpected(*retry_error);

  ReconcileOutcome outcome;
  std::chrono::nanoseconds wait = kResync;
  if (desired->next_transition) {
    wait = std::min<std::chrono::nanoseconds>(
        wait, std::max<std::chrono::nanoseconds>(*desired->next_transition - now,
                                                 std::chrono::nanoseconds{0}));
  }
  if (pe.spec.volatility && pe.spec.volatility->source.kind != VolatilitySource::Kind::kValue) {
    wait = std::min<std::chrono::nanoseconds>(wait, pe.spec.volatility->poll_interval);
  }
  // A conflicting object carries none of the labels the watches select, so
  // its removal or its adoption annotation is noticed by looking again.
  if (!conflicts.empty()) wait = std::min<std::chrono::nanoseconds>(wait, kConflictRecheck);
  if (refused) wait = std::min<std::chrono::nanoseconds>(wait, kRefusalRecheck);
  outcome.requeue_after = wait;
  return outcome;
}

void Reconciler::Observed(const std::string& key) {
  std::lock_guard lock(mu_);
  const bool child = applied_.erase(key) > 0;
  if (applied_records_.erase(key) > 0 || child) return;
  const std::string prefix = kPricingEngines.plural + "/";
  if (key.starts_with(prefix)) status_written_.erase(key.substr(prefix.size()));
}

void Reconciler::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  applied_.erase(key);
  applied_records_.erase(key);
  read_back_.erase(key);
  const std::string prefix = kPricingEngines.plural + "/";
  if (key.starts_with(prefix)) status_written_.erase(key.substr(prefix.size()));
}

size_t Reconciler::Remembered() const {
  std::lock_guard lock(mu_);
  return applied_.size() + applied_records_.size() + read_back_.size() + status_written_.size();
}

void Reconciler::ObservedAll() {
  std::lock_guard lock(mu_);
  applied_.clear();
  applied_records_.clear();
  status_written_.clear();
}

Store::Projection ChildProjection() {
  return [](const json& child) { return ChildCacheRecord(child, kFieldManager); };
}

Store::Codec ChildCodec() {
  return Store::Codec{.encode = EncodeChildRecord, .decode = DecodeChildRecord};
}

bool Reconciler::InSync(const std::string& child, const json& record, uint64_t wanted) {
  const std::optional<uint64_t> cached = CachedAppliedFingerprint(record);
  if (!cached) return false;
  if (*cached == wanted) return true;
  std::lock_guard lock(mu_);
  auto it = read_back_.find(child);
  return it != read_back_.end() && it->second == std::make_pair(wanted, *cached);
}

void Reconciler::LearnApplied(const std::string& child, uint64_t wanted, const json& live) {
  const std::optional<uint64_t> read_back = AppliedFingerprint(live, kFieldManager);
  std::lock_guard lock(mu_);
  if (read_back && *read_back != wanted) {
    read_back_.insert_or_assign(child, std::make_pair(wanted, *read_back));
  } else {
    read_back_.erase(child);
  }
}

std::optional<Reconciler::AppliedMemory> Reconciler::AppliedMemoryOf(const std::string& child) {
  std::lock_guard lock(mu_);
  auto it = applied_.find(child);
  if (it == applied_.end()) return std::nullopt;
  return it->second;
}

bool Reconciler::AwaitingCache(const std::string& child, const std::optional<AppliedMemory>& memory,
                               const std::string& cached_rv, uint64_t fingerprint) {
  if (!memory) return false;
  if (memory->first != cached_rv) {
    std::lock_guard lock(mu_);
    ForgetOvertakenLocked(applied_, child, memory->first);
    return false;
  }
  return memory->second == fingerprint;
}

void Reconciler::ExpectApplied(const std::string& child, const std::string& cached_rv,
                               uint64_t fingerprint) {
  std::lock_guard lock(mu_);
  applied_.insert_or_assign(child, std::make_pair(cached_rv, fingerprint));
}

void Reconciler::RememberApplied(const std::string& child, const std::string& cached_rv,
                                 const json& live) {
  std::vector<std::uint8_t> record = EncodeChildRecord(ChildCacheRecord(live, kFieldManager));
  std::lock_guard lock(mu_);
  applied_records_.insert_or_assign(child, std::make_pair(cached_rv, std::move(record)));
}

std::optional<json> Reconciler::CurrentRecord(const Resource& resource,
                                              const std::string& child_key) {
  const std::string child = resource.plural + "/" + child_key;
  std::optional<std::pair<std::string, std::vector<std::uint8_t>>> written;
  {
    std::lock_guard lock(mu_);  // before the cache: see AppliedMemoryOf
    if (auto it = applied_records_.find(child); it != applied_records_.end()) written = it->second;
  }
  std::optional<json> cached = StoreOf(resource).Get(child_key);
  if (!written) return cached;
  if (written->first == (cached ? ResourceVersionOf(*cached) : "")) {
    return DecodeChildRecord(written->second);  // our last write, not in the cache yet
  }
  std::lock_guard lock(mu_);
  ForgetOvertakenLocked(applied_records_, child, written->first);
  return cached;
}

void Reconciler::RememberStatus(const std::string& key, const std::string& cached_rv,
                                const json& status) {
  auto written = std::make_shared<const json>(status);
  std::lock_guard lock(mu_);
  status_written_.insert_or_assign(key, std::make_pair(cached_rv, std::move(written)));
}

void Reconciler::RecordTransitions(const json& object, const json& before, const json& after) {
  for (const PolicyTransition& t : TransitionsBetween(before, after)) {
    events_.Record(object, "Normal", "PolicyTransition", "Scale", t.note);
    if (hooks_.policy_transition) hooks_.policy_transition(t.kind);
  }
  for (const TimeToScale& t : TimesToScaleCompleted(before, after)) {
    if (hooks_.time_to_scale) hooks_.time_to_scale(t.component, t.seconds);
  }
}

}  // namespace pricing::op
