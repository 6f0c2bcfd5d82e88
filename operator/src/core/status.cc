#include "op/status.h"

#include <algorithm>
#include <utility>

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

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
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

  std::vector<std::string> not_serving;
  std::vector<std::string> below_min;
  json components = json::array();
  for (const ComponentDesired& c : d.components) {
    const ComponentObservation* o = Observed(in, c.name);
    const int32_t replicas = o != nullptr ? o->replicas : 0;
    const int32_t ready = o != nullptr ? o->ready_replicas : 0;
    components.push_back({{"name", c.name},
                          {"minReplicas", c.bounds.min_replicas},
                          {"maxReplicas", c.bounds.max_replicas},
                          {"targetCPUUtilizationPercentage",
                           c.bounds.target_cpu_utilization_percentage},
                          {"replicas", replicas},
                          {"readyReplicas", ready},
                          {"reasons", c.reasons}});
    if (ready < 1) not_serving.push_back(c.name);
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

  json conditions = Conditions(previous);
  conditions = SetCondition(conditions, kConditionSpecValid, "True", "Valid",
                            "the spec passed validation", generation, in.now);
  if (not_serving.empty()) {
    conditions = SetCondition(conditions, kConditionReady, "True", "ComponentsServing",
                              "every component has a ready pod", generation, in.now);
  } else {
    conditions = SetCondition(conditions, kConditionReady, "False", "ComponentsNotReady",
                              "no ready pod yet: " + JoinNames(not_serving), generation, in.now);
  }
  if (in.apply_error) {
    conditions = SetCondition(conditions, kConditionDegraded, "True", "ApplyFailed",
                              *in.apply_error, generation, in.now);
  } else if (d.paused) {
    conditions = SetCondition(conditions, kConditionDegraded, "False", "Paused",
                              "spec.paused: children are left as they are", generation, in.now);
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
