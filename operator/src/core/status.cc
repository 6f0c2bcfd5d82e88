#include "op/status.h"

#include <algorithm>
#include <utility>

#include "op/managed_fields.h"

namespace pricing::op {

namespace {

using nlohmann::json;

const ComponentObservation* Observed(const StatusInputs& in, const std::string& name) {
  for (const ComponentObservation& o : in.observed) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

json Conditions(const json& previous) {
  if (previous.is_object() && previous.contains("conditions") && previous["conditions"].is_array()) {
    return previous["conditions"];
  }
  return json::array();
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += separator;
    out += p;
  }
  return out;
}

std::string JoinNames(const std::vector<std::string>& names) { return Join(names, ", "); }

// Why a component is not rolled out, by severity (the last is the worst):
// Ready's reason is that of the worst component.
enum class RolloutProblem {
  kNone,
  kScalingInactive,
  kRolloutInProgress,
  kProgressDeadlineExceeded
};

std::string_view ReasonOf(RolloutProblem p) {
  switch (p) {
    case RolloutProblem::kProgressDeadlineExceeded:
      return "ProgressDeadlineExceeded";
    case RolloutProblem::kRolloutInProgress:
      return "RolloutInProgress";
    case RolloutProblem::kScalingInactive:
      return "ScalingInactive";
    case RolloutProblem::kNone:
      break;
  }
  return "RolledOut";
}

struct Rollout {
  RolloutProblem problem = RolloutProblem::kNone;
  std::vector<std::string> why;  // the Deployment's first problem, then each of the HPA's
};

std::string OfReplicas(int32_t count, int32_t replicas, std::string_view what) {
  return std::to_string(count) + " of " + std::to_string(replicas) + " replicas " +
         std::string(what);
}

// Returns "HPA <type>=<status> (<reason>)", or "HPA <type> not reported".
std::string HpaCondition(std::string_view type, const ChildCondition& c) {
  std::string out = "HPA " + std::string(type);
  if (c.status.empty()) return out + " not reported";
  out += "=" + c.status;
  if (!c.reason.empty()) out += " (" + c.reason + ")";
  return out;
}

// Returns whether the component observed in `o` (null: nothing seen) is
// rolled out, and if not why.
Rollout RolloutOf(const ComponentObservation* o) {
  Rollout r;
  const auto deployment = [&r](RolloutProblem problem, std::string why) {
    r.problem = problem;
    r.why.push_back(std::move(why));
  };
  if (o == nullptr || !o->deployment_exists) {
    deployment(RolloutProblem::kRolloutInProgress, "no Deployment");
  } else if (o->deployment_unapplied) {
    deployment(RolloutProblem::kRolloutInProgress, "Deployment not updated: apply failed");
  } else if (o->progress_deadline_exceeded) {
    deployment(RolloutProblem::kProgressDeadlineExceeded, "rollout exceeded its progress deadline");
  } else if (o->observed_generation < o->generation) {
    deployment(RolloutProblem::kRolloutInProgress,
               "Deployment generation " + std::to_string(o->generation) +
                   " not observed yet (observed " + std::to_string(o->observed_generation) + ")");
  } else if (o->replicas < 1) {
    deployment(RolloutProblem::kRolloutInProgress, "no replicas yet");
  } else if (o->updated_replicas != o->replicas) {
    deployment(RolloutProblem::kRolloutInProgress,
               OfReplicas(o->updated_replicas, o->replicas, "updated"));
  } else if (o->ready_replicas != o->replicas) {
    deployment(RolloutProblem::kRolloutInProgress,
               OfReplicas(o->ready_replicas, o->replicas, "ready"));
  } else if (o->available_replicas != o->replicas) {
    deployment(RolloutProblem::kRolloutInProgress,
               OfReplicas(o->available_replicas, o->replicas, "available"));
  }
  std::vector<std::string> hpa;
  if (o == nullptr || !o->hpa_exists) {
    hpa.push_back("no HorizontalPodAutoscaler");
  } else {
    if (o->able_to_scale.status != "True") {
      hpa.push_back(HpaCondition(kAbleToScaleCondition, o->able_to_scale));
    }
    if (o->scaling_active.status != "True") {
      hpa.push_back(HpaCondition(kScalingActiveCondition, o->scaling_active));
    }
  }
  if (!hpa.empty()) {
    r.problem = std::max(r.problem, RolloutProblem::kScalingInactive);
    r.why.insert(r.why.end(), hpa.begin(), hpa.end());
  }
  return r;
}

}  // namespace

json FindCondition(const json& status, std::string_view type) {
  if (!status.is_object() || !status.contains("conditions") || !status["conditions"].is_array()) {
    return nullptr;
  }
  for (const json& c : status["conditions"]) {
    if (c.is_object() && c.value("type", "") == type) return c;
  }
  return nullptr;
}

json SetCondition(const json& conditions, std::string_view type, std::string_view status,
                  std::string_view reason, std::string_view message, int64_t generation,
                  TimePoint now) {
  json out = conditions.is_array() ? conditions : json::array();
  json condition = {{"type", type},
                    {"status", status},
                    {"reason", reason},
                    {"message", message},
                    {"observedGeneration", generation},
                    {"lastTransitionTime", FormatRfc3339(std::chrono::floor<std::chrono::seconds>(now))}};
  for (json& c : out) {
    if (!c.is_object() || c.value("type", "") != type) continue;
    if (c.value("status", "") == status && c.contains("lastTransitionTime")) {
      condition["lastTransitionTime"] = c["lastTransitionTime"];
    }
    c = std::move(condition);
    return out;
  }
  out.push_back(std::move(condition));
  return out;
}

bool Contains(const json& actual, const json& wanted) {
  if (wanted.is_object()) {
    if (!actual.is_object()) return false;
    for (auto it = wanted.begin(); it != wanted.end(); ++it) {
      auto found = actual.find(it.key());
      if (found == actual.end() || !Contains(*found, it.value())) return false;
    }
    return true;
  }
  if (wanted.is_array()) {
    if (!actual.is_array() || actual.size() != wanted.size()) return false;
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (!Contains(actual[i], wanted[i])) return false;
    }
    return true;
  }
  if (wanted.is_number() && actual.is_number()) {
    if (wanted.is_number_float() || actual.is_number_float()) {
      return wanted.get<double>() == actual.get<double>();
    }
    if (wanted.is_number_unsigned() || actual.is_number_unsigned()) {
      return wanted.get<int64_t>() >= 0 && actual.get<int64_t>() >= 0 &&
             wanted.get<uint64_t>() == actual.get<uint64_t>();
    }
    return wanted.get<int64_t>() == actual.get<int64_t>();
  }
  return actual == wanted;
}

namespace {

std::string StringAt(const json& object, const json::json_pointer& at) {
  return object.is_object() && object.contains(at) && object.at(at).is_string()
             ? object.at(at).get<std::string>()
             : std::string();
}

bool TrueAt(const json& object, const json::json_pointer& at) {
  return object.is_object() && object.contains(at) && object.at(at).is_boolean() &&
         object.at(at).get<bool>();
}

std::vector<std::string> NamesIn(const json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const json& v : list) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

int32_t MinReplicasOf(const json& status, const std::string& component) {
  if (!status.is_object() || !status.contains("components") || !status["components"].is_array()) {
    return -1;
  }
  for (const json& c : status["components"]) {
    if (c.is_object() && c.value("name", "") == component && c.contains("minReplicas") &&
        c["minReplicas"].is_number_integer()) {
      return c["minReplicas"].get<int32_t>();
    }
  }
  return -1;
}

// The lastTransition of the status being built (see BuildStatus).
json LastTransition(const StatusInputs& in, const json& previous, const json& status) {
  json last = previous.is_object() ? previous.value("lastTransition", json(nullptr)) : json(nullptr);
  const std::vector<PolicyTransition> transitions = TransitionsBetween(previous, status);
  if (!transitions.empty()) {
    std::vector<std::string> notes;
    for (const PolicyTransition& t : transitions) notes.push_back(t.note);
    json raised = json::array();
    for (const json& c : status["components"]) {
      const std::string name = c["name"].get<std::string>();
      const int32_t before = MinReplicasOf(previous, name);
      const int32_t after = c["minReplicas"].get<int32_t>();
      if (before >= 0 && after > before) {
        raised.push_back({{"name", name}, {"fromMinReplicas", before}, {"minReplicas", after}});
      }
    }
    // Two event lists of 32 names of 63 characters fit the CRD's 8192.
    std::string description = Join(notes, "; ");
    if (description.size() > 8192) description.resize(8192);
    last = {{"at", FormatRfc3339(std::chrono::floor<std::chrono::seconds>(in.now))},
            {"description", std::move(description)},
            {"components", std::move(raised)}};
  }
  if (!last.is_object() || !last.contains("components") || !last["components"].is_array()) {
    return last;
  }
  const std::optional<TimePoint> at = ParseRfc3339(last.value("at", ""));
  if (!at) return last;
  for (json& c : last["components"]) {
    if (!c.is_object() || c.contains("readyAfterSeconds")) continue;
    const ComponentObservation* o = Observed(in, c.value("name", ""));
    if (o == nullptr || o->available_replicas < c.value("minReplicas", int32_t{0})) continue;
    c["readyAfterSeconds"] = std::max<int64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(in.now - *at).count(), 0);
  }
  return last;
}

}  // namespace

std::vector<PolicyTransition> TransitionsBetween(const json& before, const json& after) {
  std::vector<PolicyTransition> out;
  if (!before.is_object() || !before.contains("observedGeneration")) return out;
  const std::string phase_before = before.value("marketPhase", "");
  const std::string phase_after = after.value("marketPhase", "");
  if (phase_before != phase_after) {
    out.push_back({"phase", "market phase " + phase_before + " -> " + phase_after});
  }
  const json::json_pointer regime("/volatility/regime");
  const std::string regime_before = StringAt(before, regime);
  const std::string regime_after = StringAt(after, regime);
  if (regime_before != regime_after) {
    out.push_back({"regime", "volatility regime " +
                                 (regime_before.empty() ? std::string("(none)") : regime_before) +
                                 " -> " +
                                 (regime_after.empty() ? std::string("(none)") : regime_after)});
  }
  const json events_before = before.value("activeEvents", json::array());
  const json events_after = after.value("activeEvents", json::array());
  if (events_before != events_after) {
    out.push_back({"event", "active events [" + JoinNames(NamesIn(events_before)) + "] -> [" +
                                JoinNames(NamesIn(events_after)) + "]"});
  }
  const json::json_pointer active("/override/active");
  const bool override_before = TrueAt(before, active);
  const bool override_after = TrueAt(after, active);
  if (override_before != override_after) {
    out.push_back({"override", override_after ? "emergency override applied"
                                              : "emergency override expired or removed"});
  }
  return out;
}

std::vector<TimeToScale> TimesToScaleCompleted(const json& before, const json& after) {
  std::vector<TimeToScale> out;
  const json last = after.is_object() ? after.value("lastTransition", json(nullptr)) : json(nullptr);
  if (!last.is_object() || !last.contains("components") || !last["components"].is_array()) {
    return out;
  }
  const json earlier =
      before.is_object() ? before.value("lastTransition", json(nullptr)) : json(nullptr);
  const bool same = earlier.is_object() && earlier.value("at", "") == last.value("at", "") &&
                    earlier.value("description", "") == last.value("description", "");
  for (const json& c : last["components"]) {
    if (!c.is_object() || !c.contains("readyAfterSeconds")) continue;
    const std::string name = c.value("name", "");
    bool known = false;
    if (same && earlier.contains("components") && earlier["components"].is_array()) {
      for (const json& e : earlier["components"]) {
        if (e.is_object() && e.value("name", "") == name && e.contains("readyAfterSeconds")) {
          known = true;
        }
      }
    }
    if (!known) out.push_back({name, c.value("readyAfterSeconds", int64_t{0})});
  }
  return out;
}

json BuildStatus(const StatusInputs& in, const json& previous) {
  const PricingEngine& pe = *in.pe;
  const Desired& d = *in.desired;
  const int64_t generation = pe.metadata.generation;
  json status = json::object();
  if (in.apply_error) {
    status["observedGeneration"] =
        previous.is_object() ? previous.value("observedGeneration", int64_t{0}) : int64_t{0};
  } else {
    status["observedGeneration"] = generation;
  }
  status["marketPhase"] = in.market_phase;
  if (!in.market_day.empty()) status["marketDay"] = in.market_day;

  if (in.volatility) {
    json v = json::object();
    if (in.volatility->value) v["value"] = *in.volatility->value;
    v["source"] = in.volatility->source;
    if (in.volatility->observed_at) v["observedAt"] = FormatRfc3339(*in.volatility->observed_at);
    v["regime"] = d.regime;
    if (in.regime) v["regimeSince"] = FormatRfc3339(in.regime->since);
    status["volatility"] = std::move(v);
  }
  status["activeEvents"] = d.active_events;
  if (pe.spec.emergency_override) {
    status["override"] = {{"active", d.override_active},
                          {"expires", FormatRfc3339(pe.spec.emergency_override->expires)}};
  }

  RolloutProblem worst = RolloutProblem::kNone;
  std::vector<std::string> not_rolled_out;  // "<component>: <why>"
  std::vector<std::string> past_deadline;
  std::vector<std::string> below_min;
  json components = json::array();
  for (const ComponentDesired& c : d.components) {
    const ComponentObservation* o = Observed(in, c.name);
    const int32_t replicas = o != nullptr ? o->replicas : 0;
    const int32_t ready = o != nullptr ? o->ready_replicas : 0;
    json component = {{"name", c.name},
                      {"minReplicas", c.bounds.min_replicas},
                      {"maxReplicas", c.bounds.max_replicas},
                      {"targetCPUUtilizationPercentage",
                       c.bounds.target_cpu_utilization_percentage},
                      {"replicas", replicas},
                      {"readyReplicas", ready},
                      {"reasons", c.reasons}};
    if (c.bounds.target_memory_utilization_percentage) {
      component["targetMemoryUtilizationPercentage"] = *c.bounds.target_memory_utilization_percentage;
    }
    components.push_back(std::move(component));
    const Rollout rollout = RolloutOf(o);
    if (rollout.problem != RolloutProblem::kNone) {
      worst = std::max(worst, rollout.problem);
      not_rolled_out.push_back(c.name + ": " + JoinNames(rollout.why));
    }
    if (rollout.problem == RolloutProblem::kProgressDeadlineExceeded) {
      past_deadline.push_back(c.name);
    }
    if (ready < c.bounds.min_replicas) {
      below_min.push_back(c.name + " (" + std::to_string(ready) + "/" +
                          std::to_string(c.bounds.min_replicas) + " ready)");
    }
  }
  status["components"] = std::move(components);

  json transitions = json::array();
  for (const auto& [at, description] : in.next_transitions) {
    transitions.push_back({{"at", FormatRfc3339(at)}, {"description", description}});
  }
  status["nextTransitions"] = std::move(transitions);
  if (json last = LastTransition(in, previous, status); last.is_object()) {
    status["lastTransition"] = std::move(last);
  }

  json conditions = Conditions(previous);
  conditions = SetCondition(conditions, kConditionSpecValid, "True", "Valid",
                            "the spec passed validation", generation, in.now);
  if (!in.conflicts.empty()) {
    std::string message = Join(in.conflicts, "; ");
    if (!not_rolled_out.empty()) message += "; " + Join(not_rolled_out, "; ");
    conditions = SetCondition(conditions, kConditionReady, "False", "ChildConflict", message,
                              generation, in.now);
  } else if (worst == RolloutProblem::kNone) {
    conditions = SetCondition(conditions, kConditionReady, "True", ReasonOf(worst),
                              "every component is rolled out", generation, in.now);
  } else {
    conditions = SetCondition(conditions, kConditionReady, "False", ReasonOf(worst),
                              Join(not_rolled_out, "; "), generation, in.now);
  }
  if (in.apply_error) {
    conditions = SetCondition(conditions, kConditionDegraded, "True",
                              in.apply_refused ? "ApplyRefused" : "ApplyFailed", *in.apply_error,
                              generation, in.now);
  } else if (d.paused) {
    conditions = SetCondition(conditions, kConditionDegraded, "False", "Paused",
                              "spec.paused: children are left as they are", generation, in.now);
  } else if (!past_deadline.empty()) {
    std::string message = "rollout past its progress deadline: " + JoinNames(past_deadline);
    if (!below_min.empty()) {
      message += "; fewer ready pods than the effective minimum: " + JoinNames(below_min);
    }
    conditions = SetCondition(conditions, kConditionDegraded, "True", "ProgressDeadlineExceeded",
                              message, generation, in.now);
  } else if (!below_min.empty()) {
    conditions = SetCondition(conditions, kConditionDegraded, "True", "BelowMinReplicas",
                              "fewer ready pods than the effective minimum: " +
                                  JoinNames(below_min),
                              generation, in.now);
  } else {
    conditions = SetCondition(conditions, kConditionDegraded, "False", "AsDesired",
                              "every component is at or above its effective minimum",
                              generation, in.now);
  }
  if (in.volatility) {
    conditions = SetCondition(conditions, kConditionVolatilitySourceHealthy,
                              in.volatility->healthy ? "True" : "False",
                              in.volatility->healthy ? "SourceAnswering" : "SourceUnavailable",
                              in.volatility->message, generation, in.now);
  } else {
    json kept = json::array();
    for (const json& c : conditions) {
      if (c.value("type", "") != kConditionVolatilitySourceHealthy) kept.push_back(c);
    }
    conditions = std::move(kept);
  }
  status["conditions"] = std::move(conditions);
  return status;
}

json InvalidSpecStatus(const json& previous, int64_t generation, const Error& error,
                       TimePoint now) {
  json status = previous.is_object() ? previous : json::object();
  status["observedGeneration"] = generation;
  json conditions = Conditions(previous);
  conditions = SetCondition(conditions, kConditionSpecValid, "False", "InvalidSpec",
                            ToString(error), generation, now);
  conditions = SetCondition(conditions, kConditionReady, "False", "InvalidSpec",
                            "the spec is invalid; children are left as they were", generation,
                            now);
  status["conditions"] = std::move(conditions);
  return status;
}

}  // namespace pricing::op
