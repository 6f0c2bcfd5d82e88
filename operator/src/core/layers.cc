#include "op/layers.h"

#include <algorithm>
#include <utility>

namespace pricing::op {
namespace {

template <typename Map>
auto LookupIn(const Map& map, const std::string& component) -> const typename Map::mapped_type* {
  auto it = map.find(component);
  if (it == map.end()) it = map.find(std::string(kEveryComponent));
  return it == map.end() ? nullptr : &it->second;
}

// ceil(base * percent / 100), at most kMaxReplicas.
int32_t ScaleBound(int32_t base, int32_t percent) {
  const int64_t scaled = (static_cast<int64_t>(base) * percent + 99) / 100;
  return static_cast<int32_t>(std::min<int64_t>(scaled, kMaxReplicas));
}

Error NoLayerSets(std::string_view what, const std::string& component) {
  return Invalid(
      "", "no active layer sets " + std::string(what) + " for component \"" + component + "\"");
}

}  // namespace

std::string_view LayerKindName(LayerKind kind) {
  // In the enum's order; the assertion fails when a kind is added.
  static constexpr std::array<std::string_view, 5> kNames = {"base", "phase", "regime", "event",
                                                             "override"};
  static_assert(kNames.size() == static_cast<size_t>(LayerKind::kOverride) + 1);
  const auto i = static_cast<size_t>(kind);
  return i < kNames.size() ? kNames[i] : kNames[0];
}

std::string LayerLabel(const Layer& layer) {
  std::string label(LayerKindName(layer.kind));
  if (!layer.name.empty()) label += " " + layer.name;
  if (layer.lead) label += " (lead time)";
  return label;
}

Result<EffectiveBounds> MergeLayers(const std::vector<Layer>& layers,
                                    const std::string& component) {
  EffectiveBounds b;
  bool have_min = false;
  bool have_max = false;
  bool have_cpu = false;
  for (const Layer& layer : layers) {
    if (layer.kind == LayerKind::kOverride) continue;
    if (const int32_t* v = LookupIn(layer.min_replicas, component);
        v && (!have_min || *v > b.min_replicas)) {
      b.min_replicas = *v;
      b.min_from = LayerLabel(layer);
      have_min = true;
    }
    if (const int32_t* v = LookupIn(layer.max_replicas, component);
        v && (!have_max || *v > b.max_replicas)) {
      b.max_replicas = *v;
      b.max_from = LayerLabel(layer);
      have_max = true;
    }
    if (const int32_t* v = LookupIn(layer.target_cpu_utilization_percentage, component);
        v && (!have_cpu || *v < b.target_cpu_utilization_percentage)) {
      b.target_cpu_utilization_percentage = *v;
      b.target_cpu_from = LayerLabel(layer);
      have_cpu = true;
    }
    if (const int32_t* v = LookupIn(layer.target_memory_utilization_percentage, component);
        v && (!b.target_memory_utilization_percentage ||
              *v < *b.target_memory_utilization_percentage)) {
      b.target_memory_utilization_percentage = *v;
      b.target_memory_from = LayerLabel(layer);
    }
  }
  for (const Layer& layer : layers) {
    if (layer.kind != LayerKind::kOverride) continue;
    if (const int32_t* v = LookupIn(layer.min_replicas, component)) {
      b.min_replicas = *v;
      b.min_from = LayerLabel(layer);
      have_min = true;
    }
    if (const int32_t* v = LookupIn(layer.max_replicas, component)) {
      b.max_replicas = *v;
      b.max_from = LayerLabel(layer);
      have_max = true;
    }
  }
  if (!have_min) return std::unexpected(NoLayerSets("min", component));
  if (!have_max) return std::unexpected(NoLayerSets("max", component));
  if (!have_cpu) return std::unexpected(NoLayerSets("a CPU target", component));
  if (b.max_replicas < b.min_replicas) {
    b.max_replicas = b.min_replicas;
    b.max_from = b.min_from;
    b.max_raised_to_min = true;
  }

  const Disruption* pdb = nullptr;
  for (LayerKind kind : {LayerKind::kEvent, LayerKind::kBase}) {
    for (const Layer& layer : layers) {
      if (layer.kind != kind) continue;
      if (const Disruption* d = LookupIn(layer.disruption, component)) {
        pdb = d;
        b.disruption_from = LayerLabel(layer);
        break;
      }
    }
    if (pdb != nullptr) break;
  }
  if (pdb == nullptr) return std::unexpected(NoLayerSets("a disruption budget", component));
  b.disruption = *pdb;
  return b;
}

std::vector<std::string> Reasons(const EffectiveBounds& b) {
  std::vector<std::string> reasons;
  reasons.push_back("min=" + std::to_string(b.min_replicas) + " by " + b.min_from);
  reasons.push_back("max=" + std::to_string(b.max_replicas) + " by " + b.max_from +
                    (b.max_raised_to_min ? " (raised to min)" : ""));
  reasons.push_back("targetCPU=" + std::to_string(b.target_cpu_utilization_percentage) + " by " +
                    b.target_cpu_from);
  if (b.target_memory_utilization_percentage) {
    reasons.push_back("targetMemory=" + std::to_string(*b.target_memory_utilization_percentage) +
                      " by " + b.target_memory_from);
  }
  reasons.push_back("disruption " + ToString(b.disruption) + " by " + b.disruption_from);
  return reasons;
}

Layer BaseLayer(const PricingEngineSpec& spec) {
  Layer layer;
  layer.kind = LayerKind::kBase;
  for (const Component& c : spec.components) {
    layer.min_replicas[c.name] = c.replicas.min;
    layer.max_replicas[c.name] = c.replicas.max;
    layer.target_cpu_utilization_percentage[c.name] =
        c.autoscaling.target_cpu_utilization_percentage;
    if (c.autoscaling.target_memory_utilization_percentage) {
      layer.target_memory_utilization_percentage[c.name] =
          *c.autoscaling.target_memory_utilization_percentage;
    }
    layer.disruption[c.name] = c.disruption;
  }
  return layer;
}

Layer RuleLayer(LayerKind kind, std::string name, const ScalingRule& rule,
                const PricingEngineSpec& spec) {
  Layer layer;
  layer.kind = kind;
  layer.name = std::move(name);
  layer.min_replicas = rule.min_replicas;
  layer.max_replicas = rule.max_replicas;
  for (const Component& c : spec.components) {
    if (rule.min_replicas_percent) {
      layer.min_replicas[c.name] = ScaleBound(c.replicas.min, *rule.min_replicas_percent);
    }
    if (rule.max_replicas_percent) {
      layer.max_replicas[c.name] = ScaleBound(c.replicas.max, *rule.max_replicas_percent);
    }
  }
  layer.target_cpu_utilization_percentage = rule.target_cpu_utilization_percentage;
  layer.target_memory_utilization_percentage = rule.target_memory_utilization_percentage;
  if (rule.disruption) layer.disruption[std::string(kEveryComponent)] = *rule.disruption;
  return layer;
}

Layer PhaseLeadLayer(const Phase& phase, const PricingEngineSpec& spec) {
  Layer layer = RuleLayer(LayerKind::kPhase, phase.name, phase.rule, spec);
  layer.lead = true;
  layer.max_replicas.clear();
  layer.target_cpu_utilization_percentage.clear();
  layer.target_memory_utilization_percentage.clear();
  layer.disruption.clear();
  return layer;
}

Layer OverrideLayer(const Override& override_spec) {
  Layer layer;
  layer.kind = LayerKind::kOverride;
  layer.min_replicas = override_spec.replicas;
  layer.max_replicas = override_spec.replicas;
  return layer;
}

const Regime* RegimeForValue(const Volatility& volatility, double value) {
  const Regime* best = nullptr;
  for (const Regime& r : volatility.regimes) {
    if (value > r.enter_above && (best == nullptr || r.enter_above > best->enter_above)) best = &r;
  }
  return best;
}

const Regime* FindRegime(const Volatility& volatility, std::string_view name) {
  if (name.empty()) return nullptr;
  for (const Regime& r : volatility.regimes) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

RegimeState StepRegime(const Volatility& volatility, const RegimeState& previous,
                       std::optional<double> value, TimePoint now) {
  if (!value) return previous;
  const Regime* current = FindRegime(volatility, previous.name);
  const Regime* selected = RegimeForValue(volatility, *value);
  auto become = [now](const Regime* regime) {
    return RegimeState{regime == nullptr ? "" : regime->name, now};
  };
  if (current == nullptr) {
    if (selected == nullptr) return previous.name.empty() ? previous : become(nullptr);
    return become(selected);
  }
  if (selected != nullptr && selected->enter_above > current->enter_above) return become(selected);
  const bool below_exit = *value < current->exit_below;
  const bool held = now - previous.since < volatility.min_hold;
  if (!below_exit || held) return previous;
  return become(selected);
}

std::vector<Layer> ActiveLayers(const PricingEngineSpec& spec, TimePoint now,
                                const Regime* regime) {
  std::vector<Layer> layers;
  layers.push_back(BaseLayer(spec));
  for (const PhaseWindow& w : PhaseWindowsAt(spec.market_hours, now)) {
    if (now < w.start) {
      layers.push_back(PhaseLeadLayer(*w.phase, spec));
    } else {
      layers.push_back(RuleLayer(LayerKind::kPhase, w.phase->name, w.phase->rule, spec));
    }
  }
  if (regime != nullptr) {
    layers.push_back(RuleLayer(LayerKind::kRegime, regime->name, regime->rule, spec));
  }
  for (const Event& e : spec.events) {
    if (e.start <= now && now < e.end) {
      layers.push_back(RuleLayer(LayerKind::kEvent, e.name, e.rule, spec));
    }
  }
  if (spec.emergency_override && now < spec.emergency_override->expires) {
    layers.push_back(OverrideLayer(*spec.emergency_override));
  }
  return layers;
}

std::vector<Layer> ActiveLayers(const PricingEngineSpec& spec, TimePoint now,
                                std::optional<double> volatility) {
  const Regime* regime = nullptr;
  if (spec.volatility && volatility) regime = RegimeForValue(*spec.volatility, *volatility);
  return ActiveLayers(spec, now, regime);
}

std::optional<TimePoint> NextTransition(const PricingEngineSpec& spec, TimePoint now) {
  std::optional<TimePoint> next = NextPhaseBoundary(spec.market_hours, now);
  auto consider = [&next, now](TimePoint t) {
    if (t > now && (!next || t < *next)) next = t;
  };
  for (const Event& e : spec.events) {
    consider(e.start);
    consider(e.end);
  }
  if (spec.emergency_override) consider(spec.emergency_override->expires);
  return next;
}

std::vector<Transition> Transitions(const PricingEngineSpec& spec, TimePoint after,
                                    TimePoint until) {
  std::vector<std::pair<TimePoint, std::string>> changes;
  for (const PhaseBoundary& b : PhaseBoundaries(spec.market_hours, after, until)) {
    changes.emplace_back(b.at, Describe(b));
  }
  auto consider = [&changes, after, until](TimePoint t, std::string description) {
    if (t > after && t <= until) changes.emplace_back(t, std::move(description));
  };
  for (const Event& e : spec.events) {
    consider(e.start, "event " + e.name + " starts");
    consider(e.end, "event " + e.name + " ends");
  }
  if (spec.emergency_override) consider(spec.emergency_override->expires, "override expires");
  std::stable_sort(changes.begin(), changes.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Transition> transitions;
  for (auto& [at, description] : changes) {
    if (!transitions.empty() && transitions.back().at == at) {
      transitions.back().description += "; " + description;
    } else {
      transitions.push_back(Transition{at, std::move(description)});
    }
  }
  return transitions;
}

}  // namespace pricing::op
