#include "op/spec.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <initializer_list>
#include <limits>
#include <set>
#include <utility>

#include "common/text.h"

namespace pricing::op {
namespace {

using nlohmann::json;

// The T-or-return-error idiom: assigns the value of `expr` to `var` or
// returns its error from the enclosing function.
#define OP_ASSIGN_OR_RETURN(var, expr)                             \
  auto var##_result = (expr);                                      \
  if (!var##_result) return std::unexpected(var##_result.error()); \
  auto var = std::move(*var##_result)

#define OP_RETURN_IF_ERROR(expr)                           \
  do {                                                     \
    auto status_ = (expr);                                 \
    if (!status_) return std::unexpected(status_.error()); \
  } while (false)

using Status = Result<void>;

std::string Field(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string Key(const std::string& path, std::string_view key) {
  return path + "[" + std::string(key) + "]";
}

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsLower(c) || IsUpper(c) || IsDigit(c); }

// ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ (DNS-1123 label, without the length limit).
bool IsDns1123Label(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsLower(c) && !IsDigit(c) && c != '-') return false;
  }
  return s.front() != '-' && s.back() != '-';
}

// ^[a-z]([-a-z0-9]*[a-z0-9])?$ (DNS-1035 label, without the length limit).
bool IsDns1035Label(std::string_view s) { return IsDns1123Label(s) && IsLower(s.front()); }

// ^[A-Za-z][A-Za-z0-9_-]*$
bool IsPolicyName(std::string_view s) {
  if (s.empty() || !(IsLower(s.front()) || IsUpper(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAlnum(c) || c == '_' || c == '-'; });
}

// ^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$
bool IsEventName(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A DNS-1123 subdomain: dot-separated DNS-1123 labels (a Secret's or
// ConfigMap's name), without the length limit.
bool IsDns1123Subdomain(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  for (;;) {
    const size_t dot = s.find('.', start);
    if (!IsDns1123Label(s.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// A label value: empty, or at most 63 letters, digits, '-', '_' and '.',
// starting and ending with a letter or digit.
bool IsLabelValue(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A label key (a Kubernetes qualified name): an optional DNS-1123 subdomain
// of at most 253 characters and '/', then a non-empty label value:
// "node-group", "topology.kubernetes.io/zone".
bool IsLabelKey(std::string_view s) {
  if (const size_t slash = s.find('/'); slash != std::string_view::npos) {
    const std::string_view prefix = s.substr(0, slash);
    if (prefix.size() > 253 || !IsDns1123Subdomain(prefix)) return false;
    s.remove_prefix(slash + 1);
  }
  return !s.empty() && IsLabelValue(s);
}

// A decimal integer, as a node selector's Gt and Lt compare: "4", "-1".
bool IsDecimalInteger(std::string_view s) {
  if (s.starts_with('-')) s.remove_prefix(1);
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), IsDigit);
}

// ^[a-zA-Z_:][a-zA-Z0-9_:]*$ (a Prometheus metric name).
bool IsMetricName(std::string_view s) {
  if (s.empty() || IsDigit(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAlnum(c) || c == '_' || c == ':'; });
}

// A resource name such as "cpu", "memory", "nvidia.com/gpu".
bool IsResourceName(std::string_view s) {
  if (s.empty() || s.size() > 253 || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return IsAlnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

bool HasWhitespace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  });
}

// ^(/([^~/]|~[01])*)*$ (an RFC 6901 JSON pointer).
bool IsJsonPointer(std::string_view s) {
  if (!s.empty() && s.front() != '/') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~' && (i + 1 >= s.size() || (s[i + 1] != '0' && s[i + 1] != '1'))) return false;
  }
  return true;
}

// ^https?://\S+$
bool IsHttpUrl(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else {
    return false;
  }
  return !rest.empty() && !HasWhitespace(rest);
}

// ---- Reading JSON members --------------------------------------------------

// An object member that is absent or null counts as absent.
const json* Member(const json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Status CheckObject(const json& value, const std::string& path) {
  if (!value.is_object()) return Fail(path, "must be an object");
  return {};
}

// Fails on the first member of `object` whose key is not in `allowed`.
Status CheckKeys(const json& object, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  OP_RETURN_IF_ERROR(CheckObject(object, path));
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      return Fail(Field(path, it.key()), "unknown field");
    }
  }
  return {};
}

// Checks that `list` (at `path`) is an array of at most `max_items`.
Status CheckList(const json& list, const std::string& path, size_t max_items) {
  if (!list.is_array()) return Fail(path, "must be a list");
  if (list.size() > max_items) {
    return Fail(path, "must have at most " + std::to_string(max_items) + " entries");
  }
  return {};
}

Result<std::string> ReadString(const json& value, const std::string& path, size_t max_length) {
  if (!value.is_string()) return Fail(path, "must be a string");
  std::string s = value.get<std::string>();
  if (s.size() > max_length) {
    return Fail(path, "must be at most " + std::to_string(max_length) + " characters");
  }
  return s;
}

Result<std::string> RequiredString(const json& object, const std::string& path,
                                   std::string_view key, size_t max_length) {
  const json* v = Member(object, key);
  if (v == nullptr) return Fail(Field(path, key), "is required");
  OP_ASSIGN_OR_RETURN(s, ReadString(*v, Field(path, key), max_length));
  if (s.empty()) return Fail(Field(path, key), "must not be empty");
  return s;
}

Result<int64_t> ReadInteger(const json& value, const std::string& path, int64_t lo, int64_t hi) {
  const std::string range = "from " + std::to_string(lo) + " to " + std::to_string(hi);
  int64_t v = 0;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) {
      return Fail(path, "must be an integer " + range + ", not " + std::to_string(u));
    }
    v = static_cast<int64_t>(u);
  } else if (value.is_number_integer()) {
    v = value.get<int64_t>();
  } else {
    return Fail(path, "must be an integer " + range);
  }
  if (v < lo || v > hi) {
    return Fail(path, "must be an integer " + range + ", not " + std::to_string(v));
  }
  return v;
}

Result<int32_t> ReadInt32(const json& value, const std::string& path, int32_t lo, int32_t hi) {
  OP_ASSIGN_OR_RETURN(v, ReadInteger(value, path, lo, hi));
  return static_cast<int32_t>(v);
}

Result<std::optional<int32_t>> OptionalInt32(const json& object, const std::string& path,
                                             std::string_view key, int32_t lo, int32_t hi) {
  const json* v = Member(object, key);
  if (v == nullptr) return std::nullopt;
  OP_ASSIGN_OR_RETURN(n, ReadInt32(*v, Field(path, key), lo, hi));
  return n;
}

Result<double> ReadNumber(const json& value, const std::string& path) {
  if (!value.is_number()) return Fail(path, "must be a number");
  const double v = value.get<double>();
  if (!std::isfinite(v)) return Fail(path, "must be a finite number");
  return v;
}

Result<TimePoint> ReadTimestamp(const json& value, const std::string& path) {
  OP_ASSIGN_OR_RETURN(text, ReadString(value, path, 64));
  const std::optional<TimePoint> t = ParseRfc3339(text);
  if (!t) {
    return Fail(path, Quoted(text) + " is not an RFC 3339 time such as \"2026-11-28T18:00:00Z\"");
  }
  return *t;
}

Result<std::chrono::nanoseconds> ReadDuration(const json& value, const std::string& path) {
  OP_ASSIGN_OR_RETURN(text, ReadString(value, path, 32));
  const std::optional<std::chrono::nanoseconds> d = ParseDuration(text);
  if (!d) {
    return Fail(path, Quoted(text) + " is not a duration such as \"90s\", \"15m\" or \"1h30m\"");
  }
  return *d;
}

// A Kubernetes quantity written as a string or an integer (int-or-string).
Result<Quantity> ReadQuantity(const json& value, const std::string& path) {
  std::string text;
  if (value.is_string()) {
    text = value.get<std::string>();
  } else if (value.is_number_integer()) {
    text = value.dump();
  } else {
    return Fail(path,
                "must be a quantity such as \"500m\", \"1Gi\" or \"2\" (a string or an integer)");
  }
  std::optional<Quantity> q = text.size() <= 32 ? ParseQuantity(text) : std::nullopt;
  if (!q) {
    return Fail(path, Quoted(text) + " is not a quantity such as \"500m\", \"1Gi\" or \"2\"");
  }
  return std::move(*q);
}

// ---- Parts of the spec -----------------------------------------------------

// A map by component: keys "*" or a name in `components`, values 1..max
// (a replica map's kMaxReplicas, a utilization target's 100).
Result<ComponentMap> ReadComponentMap(const json& value, const std::string& path,
                                      const std::set<std::string>& components,
                                      int32_t max = kMaxReplicas) {
  OP_RETURN_IF_ERROR(CheckObject(value, path));
  ComponentMap map;
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string& key = it.key();
    if (key != kEveryComponent && components.count(key) == 0) {
      return Fail(Key(path, key), "unknown component " + Quoted(key) +
                                      ": keys must be \"*\" or a name in spec.components");
    }
    OP_ASSIGN_OR_RETURN(n, ReadInt32(*it, Key(path, key), 1, max));
    map.emplace(key, n);
  }
  return map;
}

// A policy layer's utilization target: one integer 1..100 for every
// component (the "*" entry), or a map keyed by "*" or a name in `components`.
Result<ComponentMap> ReadTargetMap(const json& value, const std::string& path,
                                   const std::set<std::string>& components) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    OP_ASSIGN_OR_RETURN(n, ReadInt32(value, path, 1, 100));
    return ComponentMap{{std::string(kEveryComponent), n}};
  }
  if (!value.is_object()) {
    return Fail(path,
                "must be an integer 1..100 or a map of component name to an integer 1..100");
  }
  return ReadComponentMap(value, path, components, 100);
}

Result<IntOrPercent> ReadIntOrPercent(const json& value, const std::string& path) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    OP_ASSIGN_OR_RETURN(n, ReadInt32(value, path, 0, kMaxReplicas));
    return IntOrPercent{n, false};
  }
  if (value.is_string()) {
    const std::string s = value.get<std::string>();
    const std::string_view digits = std::string_view(s).substr(0, s.empty() ? 0 : s.size() - 1);
    const bool well_formed = s.size() >= 2 && s.size() <= 4 && s.back() == '%' &&
                             std::all_of(digits.begin(), digits.end(), IsDigit) &&
                             !(digits.size() > 1 && digits.front() == '0');
    if (well_formed) {
      const int n = std::stoi(std::string(digits));
      if (n <= 100) return IntOrPercent{n, true};
    }
    return Fail(path, Quoted(s) + " is not a percentage from \"0%\" to \"100%\"");
  }
  return Fail(path, "must be an integer or a percentage such as \"70%\"");
}

Result<Disruption> ReadDisruption(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {"minAvailable", "maxUnavailable"}));
  const json* min_available = Member(value, "minAvailable");
  const json* max_unavailable = Member(value, "maxUnavailable");
  if ((min_available == nullptr) == (max_unavailable == nullptr)) {
    return Fail(path, "must set exactly one of minAvailable or maxUnavailable");
  }
  Disruption d;
  if (min_available != nullptr) {
    d.kind = Disruption::Kind::kMinAvailable;
    OP_ASSIGN_OR_RETURN(amount, ReadIntOrPercent(*min_available, Field(path, "minAvailable")));
    d.amount = amount;
  } else {
    d.kind = Disruption::Kind::kMaxUnavailable;
    OP_ASSIGN_OR_RETURN(amount, ReadIntOrPercent(*max_unavailable, Field(path, "maxUnavailable")));
    d.amount = amount;
  }
  return d;
}

Result<std::map<std::string, Quantity>> ReadResourceList(const json& value,
                                                         const std::string& path) {
  OP_RETURN_IF_ERROR(CheckObject(value, path));
  if (value.size() > 8) return Fail(path, "must name at most 8 resources");
  std::map<std::string, Quantity> list;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!IsResourceName(it.key())) {
      return Fail(Key(path, it.key()), "is not a resource name such as cpu or memory");
    }
    OP_ASSIGN_OR_RETURN(q, ReadQuantity(*it, Key(path, it.key())));
    if (q.value < 0) return Fail(Key(path, it.key()), "must not be negative");
    list.emplace(it.key(), std::move(q));
  }
  return list;
}

Result<Resources> ReadResources(const json* value, const std::string& path) {
  Resources r;
  if (value != nullptr) {
    OP_RETURN_IF_ERROR(CheckKeys(*value, path, {"requests", "limits"}));
    if (const json* v = Member(*value, "requests")) {
      OP_ASSIGN_OR_RETURN(requests, ReadResourceList(*v, Field(path, "requests")));
      r.requests = std::move(requests);
    }
    if (const json* v = Member(*value, "limits")) {
      OP_ASSIGN_OR_RETURN(limits, ReadResourceList(*v, Field(path, "limits")));
      r.limits = std::move(limits);
    }
  }
  for (const auto& [name, request] : r.requests) {
    const auto limit = r.limits.find(name);
    if (limit != r.limits.end() && request.value > limit->second.value) {
      return Fail(
          Key(Field(path, "requests"), name),
          "request (" + request.text + ") is greater than limit (" + limit->second.text + ")");
    }
  }
  if (r.requests.count("cpu") == 0) {
    const auto limit = r.limits.find("cpu");
    if (limit != r.limits.end()) {
      r.requests.emplace("cpu", limit->second);
    } else {
      r.requests.emplace("cpu", *ParseQuantity(kDefaultCpuRequest));
    }
  }
  return r;
}

// A quantity above zero (a metric target).
Result<Quantity> ReadPositiveQuantity(const json& value, const std::string& path) {
  OP_ASSIGN_OR_RETURN(q, ReadQuantity(value, path));
  if (q.value <= 0) return Fail(path, "must be greater than zero");
  return q;
}

// True when a memory utilization target has something to be a percentage
// of: a memory request, or a limit (which Kubernetes copies to the request).
bool HasMemoryRequest(const Resources& r) {
  return r.requests.count("memory") != 0 || r.limits.count("memory") != 0;
}

// One direction of an autoscaling/v2 HorizontalPodAutoscalerBehavior, with
// the API server's bounds (as the CRD's schema has them): passed to the HPA
// as written, so what the HPA would refuse is refused here, by render too.
Status CheckScalingRules(const json& rules, const std::string& path) {
  OP_RETURN_IF_ERROR(
      CheckKeys(rules, path, {"stabilizationWindowSeconds", "selectPolicy", "tolerance", "policies"}));
  OP_RETURN_IF_ERROR(OptionalInt32(rules, path, "stabilizationWindowSeconds", 0, 3600));
  if (const json* select = Member(rules, "selectPolicy")) {
    OP_ASSIGN_OR_RETURN(s, ReadString(*select, Field(path, "selectPolicy"), 16));
    if (s != "Max" && s != "Min" && s != "Disabled") {
      return Fail(Field(path, "selectPolicy"), Quoted(s) + " is not one of Max, Min, Disabled");
    }
  }
  if (const json* tolerance = Member(rules, "tolerance")) {
    OP_ASSIGN_OR_RETURN(q, ReadQuantity(*tolerance, Field(path, "tolerance")));
    if (q.value < 0) return Fail(Field(path, "tolerance"), "must not be negative");
  }
  if (const json* policies = Member(rules, "policies")) {
    const std::string list = Field(path, "policies");
    if (!policies->is_array()) return Fail(list, "must be a list");
    if (policies->empty() || policies->size() > 10) return Fail(list, "must have 1 to 10 entries");
    for (size_t i = 0; i < policies->size(); ++i) {
      const std::string item = Index(list, i);
      const json& p = (*policies)[i];
      OP_RETURN_IF_ERROR(CheckKeys(p, item, {"type", "value", "periodSeconds"}));
      OP_ASSIGN_OR_RETURN(type, RequiredString(p, item, "type", 16));
      if (type != "Pods" && type != "Percent") {
        return Fail(Field(item, "type"), Quoted(type) + " is not one of Pods, Percent");
      }
      const json* v = Member(p, "value");
      if (v == nullptr) return Fail(Field(item, "value"), "is required");
      OP_RETURN_IF_ERROR(ReadInt32(*v, Field(item, "value"), 1, 10000));
      const json* period = Member(p, "periodSeconds");
      if (period == nullptr) return Fail(Field(item, "periodSeconds"), "is required");
      OP_RETURN_IF_ERROR(ReadInt32(*period, Field(item, "periodSeconds"), 1, 1800));
    }
  }
  return {};
}

Status CheckBehavior(const json& behavior, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(behavior, path, {"scaleUp", "scaleDown"}));
  for (const char* direction : {"scaleUp", "scaleDown"}) {
    if (const json* rules = Member(behavior, direction)) {
      OP_RETURN_IF_ERROR(CheckScalingRules(*rules, Field(path, direction)));
    }
  }
  return {};
}

Result<Autoscaling> ReadAutoscaling(const json* value, const std::string& path) {
  Autoscaling a;
  if (value == nullptr) return a;
  // "metrics" is read by ReadComponent (ReadMetrics), after the label
  // selector readers it needs.
  OP_RETURN_IF_ERROR(CheckKeys(*value, path,
                               {"targetCPUUtilizationPercentage",
                                "targetMemoryUtilizationPercentage", "podsMetrics", "metrics",
                                "behavior"}));
  OP_ASSIGN_OR_RETURN(cpu, OptionalInt32(*value, path, "targetCPUUtilizationPercentage", 1, 100));
  if (cpu) a.target_cpu_utilization_percentage = *cpu;
  OP_ASSIGN_OR_RETURN(memory,
                      OptionalInt32(*value, path, "targetMemoryUtilizationPercentage", 1, 100));
  a.target_memory_utilization_percentage = memory;
  if (const json* metrics = Member(*value, "podsMetrics")) {
    const std::string metrics_path = Field(path, "podsMetrics");
    OP_RETURN_IF_ERROR(CheckList(*metrics, metrics_path, 8));
    std::set<std::string> seen;
    for (size_t i = 0; i < metrics->size(); ++i) {
      const std::string item = Index(metrics_path, i);
      const json& m = (*metrics)[i];
      OP_RETURN_IF_ERROR(CheckKeys(m, item, {"name", "averageValue"}));
      OP_ASSIGN_OR_RETURN(name, RequiredString(m, item, "name", 128));
      if (!IsMetricName(name)) {
        return Fail(Field(item, "name"), Quoted(name) + " is not a metric name");
      }
      if (!seen.insert(name).second) {
        return Fail(Field(item, "name"), "duplicate metric " + Quoted(name));
      }
      const json* average = Member(m, "averageValue");
      if (average == nullptr) return Fail(Field(item, "averageValue"), "is required");
      OP_ASSIGN_OR_RETURN(q, ReadPositiveQuantity(*average, Field(item, "averageValue")));
      a.pods_metrics.push_back(PodsMetric{std::move(name), std::move(q)});
    }
  }
  if (const json* behavior = Member(*value, "behavior")) {
    OP_RETURN_IF_ERROR(CheckBehavior(*behavior, Field(path, "behavior")));
    a.behavior = *behavior;
  }
  return a;
}

// ---- Placement: core/v1 scheduling fields of the pod template --------------
//
// Each reader refuses what the API server's validation of the Deployment's
// pod template would (so that the mistake is reported on the PricingEngine,
// and by render, rather than when the Deployment is applied), and returns the
// object in the form the API server stores it: optional members that are "",
// [] or {} left out, as Go's omitempty drops them (a labelSelector is kept
// even when empty: {} selects every pod, an absent one none). What the
// operator applies then reads back unchanged.

constexpr size_t kMaxLabelKey = 317;  // a 253-character prefix, '/', a 63-character name

std::string NotALabelKey(const std::string& key) {
  return Quoted(key) + " is not a label key such as \"node-group\" or \"example.com/pool\"";
}

Result<std::string> ReadLabelKey(const json& value, const std::string& path) {
  OP_ASSIGN_OR_RETURN(key, ReadString(value, path, kMaxLabelKey));
  if (!IsLabelKey(key)) return Fail(path, NotALabelKey(key));
  return key;
}

Result<std::string> RequiredLabelKey(const json& object, const std::string& path,
                                     std::string_view key) {
  const json* v = Member(object, key);
  if (v == nullptr) return Fail(Field(path, key), "is required");
  return ReadLabelKey(*v, Field(path, key));
}

Result<std::string> ReadLabelValue(const json& value, const std::string& path) {
  OP_ASSIGN_OR_RETURN(v, ReadString(value, path, 63));
  if (!IsLabelValue(v)) {
    return Fail(path, Quoted(v) +
                          " is not a label value (at most 63 letters, digits, '-', '_' and '.', "
                          "starting and ending with a letter or digit)");
  }
  return v;
}

// Reads the string member `key` of `object`, which must be one of `allowed`;
// "" when absent.
Result<std::string> ReadEnum(const json& object, const std::string& path, std::string_view key,
                             std::initializer_list<std::string_view> allowed) {
  const json* v = Member(object, key);
  if (v == nullptr) return std::string();
  OP_ASSIGN_OR_RETURN(s, ReadString(*v, Field(path, key), 32));
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
    std::string names;
    for (std::string_view a : allowed) {
      if (a.empty()) continue;
      names += (names.empty() ? "" : ", ") + std::string(a);
    }
    return Fail(Field(path, key), Quoted(s) + " is not one of " + names);
  }
  return s;
}

// A map of label keys to label values (nodeSelector, matchLabels).
Result<json> ReadLabels(const json& value, const std::string& path, size_t max_entries) {
  OP_RETURN_IF_ERROR(CheckObject(value, path));
  if (value.size() > max_entries) {
    return Fail(path, "must have at most " + std::to_string(max_entries) + " entries");
  }
  json labels = json::object();
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!IsLabelKey(it.key())) return Fail(Key(path, it.key()), NotALabelKey(it.key()));
    OP_ASSIGN_OR_RETURN(v, ReadLabelValue(*it, Key(path, it.key())));
    labels[it.key()] = std::move(v);
  }
  return labels;
}

// A list of at most 8 label keys (matchLabelKeys, mismatchLabelKeys).
Result<std::vector<std::string>> ReadLabelKeys(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckList(value, path, 8));
  std::vector<std::string> keys;
  for (size_t i = 0; i < value.size(); ++i) {
    OP_ASSIGN_OR_RETURN(key, ReadLabelKey(value[i], Index(path, i)));
    keys.push_back(std::move(key));
  }
  return keys;
}

// The `values` of a label or node selector requirement with `op`: In and
// NotIn need some, Exists and DoesNotExist none, Gt and Lt one integer.
Result<json> ReadRequirementValues(const json* value, const std::string& path,
                                   const std::string& op) {
  json values = json::array();
  if (value != nullptr) {
    OP_RETURN_IF_ERROR(CheckList(*value, path, 64));
    for (size_t i = 0; i < value->size(); ++i) {
      OP_ASSIGN_OR_RETURN(v, ReadLabelValue((*value)[i], Index(path, i)));
      values.push_back(std::move(v));
    }
  }
  if ((op == "In" || op == "NotIn") && values.empty()) {
    return Fail(path, "must not be empty when operator is " + op);
  }
  if ((op == "Exists" || op == "DoesNotExist") && !values.empty()) {
    return Fail(path, "must be empty when operator is " + op);
  }
  if ((op == "Gt" || op == "Lt") &&
      (values.size() != 1 || !IsDecimalInteger(values[0].get<std::string>()))) {
    return Fail(path, "must be one integer such as [\"4\"] when operator is " + op);
  }
  return values;
}

// A metav1 LabelSelectorRequirement.
Result<json> ReadLabelSelectorRequirement(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {"key", "operator", "values"}));
  OP_ASSIGN_OR_RETURN(key, RequiredLabelKey(value, path, "key"));
  if (Member(value, "operator") == nullptr) return Fail(Field(path, "operator"), "is required");
  OP_ASSIGN_OR_RETURN(op,
                      ReadEnum(value, path, "operator", {"In", "NotIn", "Exists", "DoesNotExist"}));
  OP_ASSIGN_OR_RETURN(values,
                      ReadRequirementValues(Member(value, "values"), Field(path, "values"), op));
  json out = {{"key", std::move(key)}, {"operator", std::move(op)}};
  if (!values.empty()) out["values"] = std::move(values);
  return out;
}

// A metav1 LabelSelector.
Result<json> ReadLabelSelector(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {"matchLabels", "matchExpressions"}));
  json out = json::object();
  if (const json* labels = Member(value, "matchLabels")) {
    OP_ASSIGN_OR_RETURN(l, ReadLabels(*labels, Field(path, "matchLabels"), 16));
    if (!l.empty()) out["matchLabels"] = std::move(l);
  }
  if (const json* expressions = Member(value, "matchExpressions")) {
    const std::string list = Field(path, "matchExpressions");
    OP_RETURN_IF_ERROR(CheckList(*expressions, list, 16));
    json requirements = json::array();
    for (size_t i = 0; i < expressions->size(); ++i) {
      OP_ASSIGN_OR_RETURN(r, ReadLabelSelectorRequirement((*expressions)[i], Index(list, i)));
      requirements.push_back(std::move(r));
    }
    if (!requirements.empty()) out["matchExpressions"] = std::move(requirements);
  }
  return out;
}

// True when label selector `selector` (as ReadLabelSelector returns it)
// names label `key`.
bool SelectsOnKey(const json& selector, const std::string& key) {
  if (auto labels = selector.find("matchLabels");
      labels != selector.end() && labels->contains(key)) {
    return true;
  }
  if (auto expressions = selector.find("matchExpressions"); expressions != selector.end()) {
    for (const json& e : *expressions) {
      if (e["key"] == key) return true;
    }
  }
  return false;
}

// A core/v1 NodeSelectorTerm: label requirements (matchExpressions) and the
// node's name (matchFields: metadata.name In or NotIn one node).
Result<json> ReadNodeSelectorTerm(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {"matchExpressions", "matchFields"}));
  json out = json::object();
  if (const json* expressions = Member(value, "matchExpressions")) {
    const std::string list = Field(path, "matchExpressions");
    OP_RETURN_IF_ERROR(CheckList(*expressions, list, 16));
    json requirements = json::array();
    for (size_t i = 0; i < expressions->size(); ++i) {
      const std::string item = Index(list, i);
      const json& r = (*expressions)[i];
      OP_RETURN_IF_ERROR(CheckKeys(r, item, {"key", "operator", "values"}));
      OP_ASSIGN_OR_RETURN(key, RequiredLabelKey(r, item, "key"));
      if (Member(r, "operator") == nullptr) return Fail(Field(item, "operator"), "is required");
      OP_ASSIGN_OR_RETURN(
          op, ReadEnum(r, item, "operator", {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}));
      OP_ASSIGN_OR_RETURN(values,
                          ReadRequirementValues(Member(r, "values"), Field(item, "values"), op));
      json requirement = {{"key", std::move(key)}, {"operator", std::move(op)}};
      if (!values.empty()) requirement["values"] = std::move(values);
      requirements.push_back(std::move(requirement));
    }
    if (!requirements.empty()) out["matchExpressions"] = std::move(requirements);
  }
  if (const json* fields = Member(value, "matchFields")) {
    const std::string list = Field(path, "matchFields");
    OP_RETURN_IF_ERROR(CheckList(*fields, list, 16));
    json requirements = json::array();
    for (size_t i = 0; i < fields->size(); ++i) {
      const std::string item = Index(list, i);
      const json& r = (*fields)[i];
      OP_RETURN_IF_ERROR(CheckKeys(r, item, {"key", "operator", "values"}));
      OP_ASSIGN_OR_RETURN(key, RequiredString(r, item, "key", 32));
      if (key != "metadata.name") {
        return Fail(Field(item, "key"),
                    Quoted(key) + " is not metadata.name, the one node field a selector takes");
      }
      if (Member(r, "operator") == nullptr) return Fail(Field(item, "operator"), "is required");
      OP_ASSIGN_OR_RETURN(op, ReadEnum(r, item, "operator", {"In", "NotIn"}));
      const json* values = Member(r, "values");
      if (values == nullptr || !values->is_array() || values->size() != 1) {
        return Fail(Field(item, "values"), "must hold exactly one node name");
      }
      OP_ASSIGN_OR_RETURN(node, ReadString((*values)[0], Index(Field(item, "values"), 0), 253));
      if (!IsDns1123Subdomain(node)) {
        return Fail(Index(Field(item, "values"), 0), Quoted(node) + " is not a node name");
      }
      requirements.push_back(
          {{"key", std::move(key)}, {"operator", std::move(op)}, {"values", json::array({node})}});
    }
    if (!requirements.empty()) out["matchFields"] = std::move(requirements);
  }
  return out;
}

Result<int32_t> RequiredWeight(const json& object, const std::string& path) {
  const json* weight = Member(object, "weight");
  if (weight == nullptr) return Fail(Field(path, "weight"), "is required");
  return ReadInt32(*weight, Field(path, "weight"), 1, 100);
}

// A preferred list of node or pod (anti-)affinity: at most 8 items of
// {weight 1..100, <term_key>: a term read by `read_term`}.
Result<json> ReadWeightedTerms(const json& value, const std::string& list,
                               const std::string& term_key,
                               Result<json> (*read_term)(const json&, const std::string&)) {
  OP_RETURN_IF_ERROR(CheckList(value, list, 8));
  json read = json::array();
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item = Index(list, i);
    const json& p = value[i];
    OP_RETURN_IF_ERROR(CheckKeys(p, item, {"weight", term_key}));
    OP_ASSIGN_OR_RETURN(weight, RequiredWeight(p, item));
    const json* term = Member(p, term_key);
    if (term == nullptr) return Fail(Field(item, term_key), "is required");
    OP_ASSIGN_OR_RETURN(t, read_term(*term, Field(item, term_key)));
    read.push_back({{"weight", weight}, {term_key, std::move(t)}});
  }
  return read;
}

// A core/v1 NodeAffinity.
Result<json> ReadNodeAffinity(const json& value, const std::string& path) {
  constexpr std::string_view kRequired = "requiredDuringSchedulingIgnoredDuringExecution";
  constexpr std::string_view kPreferred = "preferredDuringSchedulingIgnoredDuringExecution";
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {kRequired, kPreferred}));
  json out = json::object();
  if (const json* required = Member(value, kRequired)) {
    const std::string selector_path = Field(path, kRequired);
    OP_RETURN_IF_ERROR(CheckKeys(*required, selector_path, {"nodeSelectorTerms"}));
    const std::string list = Field(selector_path, "nodeSelectorTerms");
    const json* terms = Member(*required, "nodeSelectorTerms");
    if (terms == nullptr) return Fail(list, "is required");
    OP_RETURN_IF_ERROR(CheckList(*terms, list, 8));
    if (terms->empty()) return Fail(list, "must have at least one term");
    json read = json::array();
    for (size_t i = 0; i < terms->size(); ++i) {
      OP_ASSIGN_OR_RETURN(term, ReadNodeSelectorTerm((*terms)[i], Index(list, i)));
      read.push_back(std::move(term));
    }
    out[kRequired] = {{"nodeSelectorTerms", std::move(read)}};
  }
  if (const json* preferred = Member(value, kPreferred)) {
    OP_ASSIGN_OR_RETURN(read, ReadWeightedTerms(*preferred, Field(path, kPreferred), "preference",
                                                ReadNodeSelectorTerm));
    if (!read.empty()) out[kPreferred] = std::move(read);
  }
  return out;
}

// A core/v1 PodAffinityTerm. matchLabelKeys and mismatchLabelKeys need a
// labelSelector; a matchLabelKeys key may be neither a mismatchLabelKeys key
// nor one the labelSelector names.
Result<json> ReadPodAffinityTerm(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path,
                               {"labelSelector", "namespaceSelector", "namespaces", "topologyKey",
                                "matchLabelKeys", "mismatchLabelKeys"}));
  json out = json::object();
  if (const json* selector = Member(value, "labelSelector")) {
    OP_ASSIGN_OR_RETURN(s, ReadLabelSelector(*selector, Field(path, "labelSelector")));
    out["labelSelector"] = std::move(s);
  }
  if (const json* namespaces = Member(value, "namespaces")) {
    const std::string list = Field(path, "namespaces");
    OP_RETURN_IF_ERROR(CheckList(*namespaces, list, 16));
    json names = json::array();
    for (size_t i = 0; i < namespaces->size(); ++i) {
      OP_ASSIGN_OR_RETURN(name, ReadString((*namespaces)[i], Index(list, i), 63));
      if (!IsDns1123Label(name))
        return Fail(Index(list, i), Quoted(name) + " is not a namespace name");
      names.push_back(std::move(name));
    }
    if (!names.empty()) out["namespaces"] = std::move(names);
  }
  OP_ASSIGN_OR_RETURN(topology_key, RequiredLabelKey(value, path, "topologyKey"));
  out["topologyKey"] = std::move(topology_key);
  if (const json* selector = Member(value, "namespaceSelector")) {
    OP_ASSIGN_OR_RETURN(s, ReadLabelSelector(*selector, Field(path, "namespaceSelector")));
    out["namespaceSelector"] = std::move(s);
  }
  std::vector<std::string> match;
  std::vector<std::string> mismatch;
  if (const json* keys = Member(value, "matchLabelKeys")) {
    OP_ASSIGN_OR_RETURN(k, ReadLabelKeys(*keys, Field(path, "matchLabelKeys")));
    match = std::move(k);
  }
  if (const json* keys = Member(value, "mismatchLabelKeys")) {
    OP_ASSIGN_OR_RETURN(k, ReadLabelKeys(*keys, Field(path, "mismatchLabelKeys")));
    mismatch = std::move(k);
  }
  if (!out.contains("labelSelector") && (!match.empty() || !mismatch.empty())) {
    return Fail(Field(path, match.empty() ? "mismatchLabelKeys" : "matchLabelKeys"),
                "needs a labelSelector");
  }
  for (size_t i = 0; i < match.size(); ++i) {
    const std::string item = Index(Field(path, "matchLabelKeys"), i);
    if (std::find(mismatch.begin(), mismatch.end(), match[i]) != mismatch.end()) {
      return Fail(item, Quoted(match[i]) + " is in mismatchLabelKeys too");
    }
    if (SelectsOnKey(out["labelSelector"], match[i])) {
      return Fail(item, Quoted(match[i]) + " is a key of labelSelector too");
    }
  }
  if (!match.empty()) out["matchLabelKeys"] = match;
  if (!mismatch.empty()) out["mismatchLabelKeys"] = mismatch;
  return out;
}

// A core/v1 PodAffinity or PodAntiAffinity.
Result<json> ReadPodAffinity(const json& value, const std::string& path) {
  constexpr std::string_view kRequired = "requiredDuringSchedulingIgnoredDuringExecution";
  constexpr std::string_view kPreferred = "preferredDuringSchedulingIgnoredDuringExecution";
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {kRequired, kPreferred}));
  json out = json::object();
  if (const json* required = Member(value, kRequired)) {
    const std::string list = Field(path, kRequired);
    OP_RETURN_IF_ERROR(CheckList(*required, list, 8));
    json terms = json::array();
    for (size_t i = 0; i < required->size(); ++i) {
      OP_ASSIGN_OR_RETURN(term, ReadPodAffinityTerm((*required)[i], Index(list, i)));
      terms.push_back(std::move(term));
    }
    if (!terms.empty()) out[kRequired] = std::move(terms);
  }
  if (const json* preferred = Member(value, kPreferred)) {
    OP_ASSIGN_OR_RETURN(terms, ReadWeightedTerms(*preferred, Field(path, kPreferred),
                                                 "podAffinityTerm", ReadPodAffinityTerm));
    if (!terms.empty()) out[kPreferred] = std::move(terms);
  }
  return out;
}

// A core/v1 Affinity; a kind of affinity that is empty is left out (it
// constrains nothing).
Result<json> ReadAffinity(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {"nodeAffinity", "podAffinity", "podAntiAffinity"}));
  json out = json::object();
  if (const json* node = Member(value, "nodeAffinity")) {
    OP_ASSIGN_OR_RETURN(a, ReadNodeAffinity(*node, Field(path, "nodeAffinity")));
    if (!a.empty()) out["nodeAffinity"] = std::move(a);
  }
  for (const char* kind : {"podAffinity", "podAntiAffinity"}) {
    if (const json* pod = Member(value, kind)) {
      OP_ASSIGN_OR_RETURN(a, ReadPodAffinity(*pod, Field(path, kind)));
      if (!a.empty()) out[kind] = std::move(a);
    }
  }
  return out;
}

// A core/v1 Toleration. Without a key it must be operator Exists (it then
// tolerates every taint); Exists takes no value; tolerationSeconds only
// applies to NoExecute.
Result<json> ReadToleration(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(
      CheckKeys(value, path, {"key", "operator", "value", "effect", "tolerationSeconds"}));
  json out = json::object();
  std::string key;
  if (const json* k = Member(value, "key")) {
    OP_ASSIGN_OR_RETURN(s, ReadString(*k, Field(path, "key"), kMaxLabelKey));
    if (!s.empty() && !IsLabelKey(s)) return Fail(Field(path, "key"), NotALabelKey(s));
    key = std::move(s);
  }
  OP_ASSIGN_OR_RETURN(op, ReadEnum(value, path, "operator", {"", "Equal", "Exists"}));
  if (key.empty() && op != "Exists") {
    return Fail(Field(path, "operator"),
                "must be Exists when key is empty (the toleration then tolerates every taint)");
  }
  std::string v;
  if (const json* given = Member(value, "value")) {
    OP_ASSIGN_OR_RETURN(s, ReadLabelValue(*given, Field(path, "value")));
    v = std::move(s);
  }
  if (op == "Exists" && !v.empty()) {
    return Fail(Field(path, "value"), "must be empty when operator is Exists");
  }
  OP_ASSIGN_OR_RETURN(
      effect, ReadEnum(value, path, "effect", {"", "NoSchedule", "PreferNoSchedule", "NoExecute"}));
  if (const json* seconds = Member(value, "tolerationSeconds")) {
    OP_ASSIGN_OR_RETURN(
        n, ReadInteger(*seconds, Field(path, "tolerationSeconds"),
                       std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
    if (effect != "NoExecute") {
      return Fail(Field(path, "effect"), "must be NoExecute when tolerationSeconds is set");
    }
    out["tolerationSeconds"] = n;
  }
  if (!key.empty()) out["key"] = std::move(key);
  if (!op.empty()) out["operator"] = std::move(op);
  if (!v.empty()) out["value"] = std::move(v);
  if (!effect.empty()) out["effect"] = std::move(effect);
  return out;
}

// A core/v1 TopologySpreadConstraint. minDomains needs DoNotSchedule; a
// matchLabelKeys key may not be one the labelSelector names (without one,
// the component's selector labels, which the operator then gives it).
Result<json> ReadTopologySpreadConstraint(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(
      CheckKeys(value, path,
                {"maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector", "minDomains",
                 "nodeAffinityPolicy", "nodeTaintsPolicy", "matchLabelKeys"}));
  const json* max_skew = Member(value, "maxSkew");
  if (max_skew == nullptr) return Fail(Field(path, "maxSkew"), "is required");
  OP_ASSIGN_OR_RETURN(
      skew, ReadInt32(*max_skew, Field(path, "maxSkew"), 1, std::numeric_limits<int32_t>::max()));
  OP_ASSIGN_OR_RETURN(topology_key, RequiredLabelKey(value, path, "topologyKey"));
  if (Member(value, "whenUnsatisfiable") == nullptr) {
    return Fail(Field(path, "whenUnsatisfiable"), "is required");
  }
  OP_ASSIGN_OR_RETURN(
      when, ReadEnum(value, path, "whenUnsatisfiable", {"DoNotSchedule", "ScheduleAnyway"}));
  json out = {
      {"maxSkew", skew}, {"topologyKey", std::move(topology_key)}, {"whenUnsatisfiable", when}};
  if (const json* selector = Member(value, "labelSelector")) {
    OP_ASSIGN_OR_RETURN(s, ReadLabelSelector(*selector, Field(path, "labelSelector")));
    out["labelSelector"] = std::move(s);
  }
  OP_ASSIGN_OR_RETURN(min_domains, OptionalInt32(value, path, "minDomains", 1,
                                                 std::numeric_limits<int32_t>::max()));
  if (min_domains) {
    if (when != "DoNotSchedule") {
      return Fail(Field(path, "minDomains"), "needs whenUnsatisfiable DoNotSchedule");
    }
    out["minDomains"] = *min_domains;
  }
  for (const char* policy : {"nodeAffinityPolicy", "nodeTaintsPolicy"}) {
    OP_ASSIGN_OR_RETURN(p, ReadEnum(value, path, policy, {"Honor", "Ignore"}));
    if (!p.empty()) out[policy] = std::move(p);
  }
  if (const json* keys = Member(value, "matchLabelKeys")) {
    const std::string list = Field(path, "matchLabelKeys");
    OP_ASSIGN_OR_RETURN(match, ReadLabelKeys(*keys, list));
    for (size_t i = 0; i < match.size(); ++i) {
      const bool in_selector =
          out.contains("labelSelector")
              ? SelectsOnKey(out["labelSelector"], match[i])
              : std::find(std::begin(kSelectorLabelKeys), std::end(kSelectorLabelKeys), match[i]) !=
                    std::end(kSelectorLabelKeys);
      if (in_selector) {
        return Fail(Index(list, i),
                    Quoted(match[i]) + " is a key of labelSelector too" +
                        (out.contains("labelSelector") ? ""
                                                       : " (by default the component's "
                                                         "selector labels)"));
      }
    }
    if (!match.empty()) out["matchLabelKeys"] = match;
  }
  return out;
}

// spec.components[].placement.
Result<Placement> ReadPlacement(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(
      CheckKeys(value, path,
                {"nodeSelector", "tolerations", "affinity", "topologySpreadConstraints",
                 "priorityClassName", "podAntiAffinity"}));
  Placement p;
  if (const json* selector = Member(value, "nodeSelector")) {
    OP_ASSIGN_OR_RETURN(labels, ReadLabels(*selector, Field(path, "nodeSelector"), 32));
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      p.node_selector.emplace(it.key(), it->get<std::string>());
    }
  }
  if (const json* tolerations = Member(value, "tolerations")) {
    const std::string list = Field(path, "tolerations");
    OP_RETURN_IF_ERROR(CheckList(*tolerations, list, 32));
    for (size_t i = 0; i < tolerations->size(); ++i) {
      OP_ASSIGN_OR_RETURN(t, ReadToleration((*tolerations)[i], Index(list, i)));
      p.tolerations.push_back(std::move(t));
    }
  }
  bool explicit_anti_affinity = false;
  if (const json* affinity = Member(value, "affinity")) {
    OP_ASSIGN_OR_RETURN(a, ReadAffinity(*affinity, Field(path, "affinity")));
    p.affinity = std::move(a);
    explicit_anti_affinity = Member(*affinity, "podAntiAffinity") != nullptr;
  }
  if (const json* constraints = Member(value, "topologySpreadConstraints")) {
    const std::string list = Field(path, "topologySpreadConstraints");
    OP_RETURN_IF_ERROR(CheckList(*constraints, list, 8));
    for (size_t i = 0; i < constraints->size(); ++i) {
      OP_ASSIGN_OR_RETURN(c, ReadTopologySpreadConstraint((*constraints)[i], Index(list, i)));
      // The pod template keeps them as a map keyed by this pair: a second
      // one would be refused when the Deployment is applied.
      for (const json& seen : p.topology_spread_constraints) {
        if (seen["topologyKey"] == c["topologyKey"] &&
            seen["whenUnsatisfiable"] == c["whenUnsatisfiable"]) {
          return Fail(Index(list, i), "duplicate constraint for topologyKey " +
                                          c["topologyKey"].get<std::string>() +
                                          " and whenUnsatisfiable " +
                                          c["whenUnsatisfiable"].get<std::string>());
        }
      }
      p.topology_spread_constraints.push_back(std::move(c));
    }
  }
  if (const json* name = Member(value, "priorityClassName")) {
    OP_ASSIGN_OR_RETURN(n, ReadString(*name, Field(path, "priorityClassName"), 253));
    if (!IsDns1123Subdomain(n)) {
      return Fail(Field(path, "priorityClassName"),
                  Quoted(n) + " is not a PriorityClass name (a DNS-1123 subdomain)");
    }
    p.priority_class_name = std::move(n);
  }
  if (explicit_anti_affinity) p.pod_anti_affinity = PodAntiAffinity::kAsWritten;
  if (Member(value, "podAntiAffinity") != nullptr) {
    // One of the two, so that which one applies is never a question.
    if (explicit_anti_affinity) {
      return Fail(Field(path, "podAntiAffinity"),
                  "set at most one of podAntiAffinity and affinity.podAntiAffinity");
    }
    OP_ASSIGN_OR_RETURN(mode, ReadEnum(value, path, "podAntiAffinity", {"preferred", "required"}));
    p.pod_anti_affinity =
        mode == "required" ? PodAntiAffinity::kRequired : PodAntiAffinity::kPreferred;
  }
  return p;
}

// spec.components[].strategy: the Deployment's rolling update.
Result<RollingUpdate> ReadStrategy(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {"maxSurge", "maxUnavailable"}));
  RollingUpdate r;
  if (const json* surge = Member(value, "maxSurge")) {
    OP_ASSIGN_OR_RETURN(amount, ReadIntOrPercent(*surge, Field(path, "maxSurge")));
    r.max_surge = amount;
  }
  if (const json* unavailable = Member(value, "maxUnavailable")) {
    OP_ASSIGN_OR_RETURN(amount, ReadIntOrPercent(*unavailable, Field(path, "maxUnavailable")));
    r.max_unavailable = amount;
  }
  if (r.max_surge.value == 0 && r.max_unavailable.value == 0) {
    return Fail(path,
                "maxSurge and maxUnavailable must not both be 0 (defaults 25% and 0): a rollout "
                "could neither start a new pod nor stop an old one");
  }
  return r;
}

// ---- Autoscaling metrics: autoscaling/v2 MetricSpec ------------------------
//
// Checked as the API server checks an HPA's metrics, so that a mistake is
// reported on the PricingEngine (and by render) rather than when the HPA is
// applied; quantities are kept as text, as the API server returns them.

// What the API server requires of a name that becomes a URL path segment (a
// metric's name, a described object's kind and name): not "." or "..", and
// no '/' or '%'.
Status CheckPathSegment(const std::string& text, const std::string& path) {
  if (text == "." || text == "..") return Fail(path, Quoted(text) + " may not be a name");
  if (text.find_first_of("/%") != std::string::npos) {
    return Fail(path, Quoted(text) + " may not contain '/' or '%'");
  }
  return {};
}

// The member of a MetricSpec that its type names.
std::optional<std::string_view> MetricSourceMember(std::string_view type) {
  if (type == "Resource") return "resource";
  if (type == "ContainerResource") return "containerResource";
  if (type == "Pods") return "pods";
  if (type == "Object") return "object";
  if (type == "External") return "external";
  return std::nullopt;
}

// An autoscaling/v2 MetricTarget for a metric of `metric_type`.
Result<json> ReadMetricTarget(const json* value, const std::string& path,
                              std::string_view metric_type) {
  if (value == nullptr) return Fail(path, "is required");
  OP_RETURN_IF_ERROR(
      CheckKeys(*value, path, {"type", "value", "averageValue", "averageUtilization"}));
  OP_ASSIGN_OR_RETURN(type, RequiredString(*value, path, "type", 16));
  std::string_view member;
  if (type == "Utilization") {
    member = "averageUtilization";
  } else if (type == "Value") {
    member = "value";
  } else if (type == "AverageValue") {
    member = "averageValue";
  } else {
    return Fail(Field(path, "type"), Quoted(type) + " is not one of Utilization, Value, AverageValue");
  }
  const bool resource = metric_type == "Resource" || metric_type == "ContainerResource";
  const bool allowed = type == "AverageValue" || (type == "Utilization" && resource) ||
                       (type == "Value" && (metric_type == "Object" || metric_type == "External"));
  if (!allowed) {
    const char* which = resource                  ? "Utilization or AverageValue"
                        : metric_type == "Pods"   ? "AverageValue"
                                                  : "Value or AverageValue";
    return Fail(Field(path, "type"), "a " + std::string(metric_type) + " metric's target must be " +
                                         which + ", not " + type);
  }
  for (const char* other : {"value", "averageValue", "averageUtilization"}) {
    if (other != member && Member(*value, other) != nullptr) {
      return Fail(Field(path, other), "must not be set when type is " + type);
    }
  }
  const json* amount = Member(*value, member);
  if (amount == nullptr) return Fail(Field(path, member), "is required when type is " + type);
  json out = {{"type", type}};
  if (type == "Utilization") {
    OP_ASSIGN_OR_RETURN(n, ReadInt32(*amount, Field(path, member), 1,
                                     std::numeric_limits<int32_t>::max()));
    out[std::string(member)] = n;
  } else {
    OP_ASSIGN_OR_RETURN(q, ReadPositiveQuantity(*amount, Field(path, member)));
    out[std::string(member)] = std::move(q.text);
  }
  return out;
}

// An autoscaling/v2 MetricIdentifier: a name and an optional label selector.
Result<json> ReadMetricIdentifier(const json* value, const std::string& path) {
  if (value == nullptr) return Fail(path, "is required");
  OP_RETURN_IF_ERROR(CheckKeys(*value, path, {"name", "selector"}));
  OP_ASSIGN_OR_RETURN(name, RequiredString(*value, path, "name", 253));
  if (name.empty()) return Fail(Field(path, "name"), "must not be empty");
  OP_RETURN_IF_ERROR(CheckPathSegment(name, Field(path, "name")));
  json out = {{"name", std::move(name)}};
  if (const json* selector = Member(*value, "selector")) {
    OP_ASSIGN_OR_RETURN(sel, ReadLabelSelector(*selector, Field(path, "selector")));
    out["selector"] = std::move(sel);
  }
  return out;
}

// An autoscaling/v2 MetricSpec.
Result<json> ReadMetricSpec(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(
      value, path, {"type", "resource", "containerResource", "pods", "object", "external"}));
  OP_ASSIGN_OR_RETURN(type, RequiredString(value, path, "type", 32));
  const std::optional<std::string_view> member = MetricSourceMember(type);
  if (!member) {
    return Fail(Field(path, "type"),
                Quoted(type) + " is not one of Resource, ContainerResource, Pods, Object, External");
  }
  for (const char* other : {"resource", "containerResource", "pods", "object", "external"}) {
    if (other != *member && Member(value, other) != nullptr) {
      return Fail(Field(path, other), "must not be set when type is " + type);
    }
  }
  const std::string source_path = Field(path, *member);
  const json* source = Member(value, *member);
  if (source == nullptr) return Fail(source_path, "is required when type is " + type);
  json out_source = json::object();
  if (type == "Resource" || type == "ContainerResource") {
    if (type == "Resource") {
      OP_RETURN_IF_ERROR(CheckKeys(*source, source_path, {"name", "target"}));
    } else {
      OP_RETURN_IF_ERROR(CheckKeys(*source, source_path, {"name", "container", "target"}));
      OP_ASSIGN_OR_RETURN(container, RequiredString(*source, source_path, "container", 63));
      if (!IsDns1123Label(container)) {
        return Fail(Field(source_path, "container"), Quoted(container) + " is not a container name");
      }
      out_source["container"] = std::move(container);
    }
    OP_ASSIGN_OR_RETURN(name, RequiredString(*source, source_path, "name", 253));
    if (!IsResourceName(name)) {
      return Fail(Field(source_path, "name"), Quoted(name) + " is not a resource name such as cpu or memory");
    }
    out_source["name"] = std::move(name);
  } else if (type == "Object") {
    OP_RETURN_IF_ERROR(CheckKeys(*source, source_path, {"describedObject", "metric", "target"}));
    const std::string described_path = Field(source_path, "describedObject");
    const json* described = Member(*source, "describedObject");
    if (described == nullptr) return Fail(described_path, "is required");
    OP_RETURN_IF_ERROR(CheckKeys(*described, described_path, {"apiVersion", "kind", "name"}));
    json object_ref = json::object();
    for (const char* key : {"kind", "name"}) {
      OP_ASSIGN_OR_RETURN(text, RequiredString(*described, described_path, key, 253));
      if (text.empty()) return Fail(Field(described_path, key), "must not be empty");
      OP_RETURN_IF_ERROR(CheckPathSegment(text, Field(described_path, key)));
      object_ref[key] = std::move(text);
    }
    if (const json* api_version = Member(*described, "apiVersion")) {
      OP_ASSIGN_OR_RETURN(text, ReadString(*api_version, Field(described_path, "apiVersion"), 253));
      if (!text.empty()) object_ref["apiVersion"] = std::move(text);
    }
    out_source["describedObject"] = std::move(object_ref);
  } else {
    OP_RETURN_IF_ERROR(CheckKeys(*source, source_path, {"metric", "target"}));
  }
  if (type == "Pods" || type == "Object" || type == "External") {
    OP_ASSIGN_OR_RETURN(metric,
                        ReadMetricIdentifier(Member(*source, "metric"), Field(source_path, "metric")));
    out_source["metric"] = std::move(metric);
  }
  OP_ASSIGN_OR_RETURN(target,
                      ReadMetricTarget(Member(*source, "target"), Field(source_path, "target"), type));
  out_source["target"] = std::move(target);
  return json{{"type", type}, {std::string(*member), std::move(out_source)}};
}

// True when `metric` (as ReadMetricSpec returns it) is a Resource metric
// for `resource`.
bool IsResourceMetric(const json& metric, std::string_view resource) {
  return metric["type"] == "Resource" && metric["resource"]["name"] == resource;
}

// autoscaling.metrics, given the rest of `autoscaling`: the shorthand owns
// the cpu (and, when set, memory) Resource metric, since policy layers
// adjust its target, and podsMetrics' names.
Result<std::vector<json>> ReadMetrics(const json& value, const std::string& path,
                                      const Autoscaling& autoscaling) {
  OP_RETURN_IF_ERROR(CheckList(value, path, 8));
  std::vector<json> metrics;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item = Index(path, i);
    OP_ASSIGN_OR_RETURN(m, ReadMetricSpec(value[i], item));
    if (IsResourceMetric(m, "cpu")) {
      return Fail(Field(item, "resource.name"),
                  "a Resource metric for cpu: use autoscaling.targetCPUUtilizationPercentage "
                  "for cpu, which phases, regimes and events adjust");
    }
    if (IsResourceMetric(m, "memory") && autoscaling.target_memory_utilization_percentage) {
      return Fail(Field(item, "resource.name"),
                  "a Resource metric for memory duplicates "
                  "autoscaling.targetMemoryUtilizationPercentage");
    }
    if (m["type"] == "Pods") {
      const std::string name = m["pods"]["metric"]["name"].get<std::string>();
      for (const PodsMetric& p : autoscaling.pods_metrics) {
        if (p.name == name) {
          return Fail(Field(item, "pods.metric.name"),
                      Quoted(name) + " is already in autoscaling.podsMetrics");
        }
      }
    }
    metrics.push_back(std::move(m));
  }
  return metrics;
}

Result<Component> ReadComponent(const json& value, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path,
                               {"name", "role", "replicas", "resources", "autoscaling",
                                "disruption", "placement", "strategy"}));
  Component c;
  OP_ASSIGN_OR_RETURN(name, RequiredString(value, path, "name", 32));
  if (!IsDns1123Label(name)) {
    return Fail(Field(path, "name"),
                Quoted(name) +
                    " is not a DNS-1123 label (lower case letters, digits and '-', "
                    "starting and ending with a letter or digit)");
  }
  c.name = std::move(name);
  if (const json* role = Member(value, "role")) {
    OP_ASSIGN_OR_RETURN(r, ReadString(*role, Field(path, "role"), 63));
    if (std::find(std::begin(kRoles), std::end(kRoles), r) == std::end(kRoles)) {
      return Fail(Field(path, "role"),
                  Quoted(r) + " is not one of all, gateway, calculation, data, cache, audit");
    }
    c.role = std::move(r);
  }
  const std::string replicas_path = Field(path, "replicas");
  const json* replicas = Member(value, "replicas");
  if (replicas == nullptr) return Fail(replicas_path, "is required");
  OP_RETURN_IF_ERROR(CheckKeys(*replicas, replicas_path, {"min", "max"}));
  const json* min = Member(*replicas, "min");
  if (min == nullptr) return Fail(Field(replicas_path, "min"), "is required");
  const json* max = Member(*replicas, "max");
  if (max == nullptr) return Fail(Field(replicas_path, "max"), "is required");
  OP_ASSIGN_OR_RETURN(min_value, ReadInt32(*min, Field(replicas_path, "min"), 1, kMaxReplicas));
  OP_ASSIGN_OR_RETURN(max_value, ReadInt32(*max, Field(replicas_path, "max"), 1, kMaxReplicas));
  if (min_value > max_value) {
    return Fail(Field(replicas_path, "min"), "min (" + std::to_string(min_value) +
                                                 ") is greater than max (" +
                                                 std::to_string(max_value) + ")");
  }
  c.replicas = ReplicaBounds{min_value, max_value};
  OP_ASSIGN_OR_RETURN(resources,
                      ReadResources(Member(value, "resources"), Field(path, "resources")));
  c.resources = std::move(resources);
  const std::string autoscaling_path = Field(path, "autoscaling");
  const json* autoscaling_value = Member(value, "autoscaling");
  OP_ASSIGN_OR_RETURN(autoscaling, ReadAutoscaling(autoscaling_value, autoscaling_path));
  c.autoscaling = std::move(autoscaling);
  if (c.autoscaling.target_memory_utilization_percentage && !HasMemoryRequest(c.resources)) {
    return Fail(Field(autoscaling_path, "targetMemoryUtilizationPercentage"),
                "needs resources.requests.memory (the target is a percentage of it)");
  }
  if (const json* m = autoscaling_value != nullptr ? Member(*autoscaling_value, "metrics")
                                                   : nullptr) {
    OP_ASSIGN_OR_RETURN(metrics, ReadMetrics(*m, Field(autoscaling_path, "metrics"), c.autoscaling));
    c.autoscaling.metrics = std::move(metrics);
  }
  if (const json* d = Member(value, "disruption")) {
    OP_ASSIGN_OR_RETURN(disruption, ReadDisruption(*d, Field(path, "disruption")));
    c.disruption = disruption;
    // The HPA may take the component down to replicas.min, where a budget
    // that allows no disruption makes every node drain wait for ever.
    if (DisruptionsAllowed(disruption, min_value) == 0) {
      const bool min_available = disruption.kind == Disruption::Kind::kMinAvailable;
      return Fail(Field(Field(path, "disruption"), min_available ? "minAvailable" : "maxUnavailable"),
                  ToString(disruption) + " allows no pod to be evicted at replicas.min (" +
                      std::to_string(min_value) + "): every node drain would wait for ever" +
                      (min_available ? "; set it below replicas.min or use maxUnavailable"
                                     : "; allow at least 1"));
    }
  }
  if (const json* p = Member(value, "placement")) {
    OP_ASSIGN_OR_RETURN(placement, ReadPlacement(*p, Field(path, "placement")));
    c.placement = std::move(placement);
  }
  if (const json* s = Member(value, "strategy")) {
    OP_ASSIGN_OR_RETURN(strategy, ReadStrategy(*s, Field(path, "strategy")));
    c.strategy = strategy;
  }
  return c;
}

// The members of a phase, regime or event that make its ScalingRule. Which
// are allowed is decided by the caller's CheckKeys.
Result<ScalingRule> ReadScalingRule(const json& value, const std::string& path,
                                    const std::set<std::string>& components) {
  ScalingRule rule;
  if (const json* v = Member(value, "minReplicas")) {
    OP_ASSIGN_OR_RETURN(map, ReadComponentMap(*v, Field(path, "minReplicas"), components));
    rule.min_replicas = std::move(map);
  }
  if (const json* v = Member(value, "maxReplicas")) {
    OP_ASSIGN_OR_RETURN(map, ReadComponentMap(*v, Field(path, "maxReplicas"), components));
    rule.max_replicas = std::move(map);
  }
  OP_ASSIGN_OR_RETURN(min_percent, OptionalInt32(value, path, "minReplicasPercent", 1, 10000));
  rule.min_replicas_percent = min_percent;
  OP_ASSIGN_OR_RETURN(max_percent, OptionalInt32(value, path, "maxReplicasPercent", 1, 10000));
  rule.max_replicas_percent = max_percent;
  if (min_percent && Member(value, "minReplicas") != nullptr) {
    return Fail(Field(path, "minReplicasPercent"),
                "set at most one of minReplicas and minReplicasPercent");
  }
  if (max_percent && Member(value, "maxReplicas") != nullptr) {
    return Fail(Field(path, "maxReplicasPercent"),
                "set at most one of maxReplicas and maxReplicasPercent");
  }
  if (const json* v = Member(value, "targetCPUUtilizationPercentage")) {
    OP_ASSIGN_OR_RETURN(
        map, ReadTargetMap(*v, Field(path, "targetCPUUtilizationPercentage"), components));
    rule.target_cpu_utilization_percentage = std::move(map);
  }
  if (const json* v = Member(value, "targetMemoryUtilizationPercentage")) {
    OP_ASSIGN_OR_RETURN(
        map, ReadTargetMap(*v, Field(path, "targetMemoryUtilizationPercentage"), components));
    rule.target_memory_utilization_percentage = std::move(map);
  }
  if (const json* d = Member(value, "disruption")) {
    OP_ASSIGN_OR_RETURN(disruption, ReadDisruption(*d, Field(path, "disruption")));
    rule.disruption = disruption;
  }
  return rule;
}

Result<PhaseTime> ReadPhaseTime(const json& object, const std::string& path, std::string_view key) {
  OP_ASSIGN_OR_RETURN(text, RequiredString(object, path, key, 16));
  std::optional<PhaseTime> t = ParsePhaseTime(text);
  if (!t) {
    return Fail(Field(path, key),
                Quoted(text) +
                    " is neither \"HH:MM\" nor open or close with an optional "
                    "offset such as \"open-90m\", \"close+2h\" or \"open+1h30m\"");
  }
  return std::move(*t);
}

Result<MarketHours> ReadMarketHours(const json* value, const std::string& path,
                                    const std::set<std::string>& components) {
  MarketHours m;
  const json empty = json::object();
  const json& object = value != nullptr ? *value : empty;
  OP_RETURN_IF_ERROR(CheckKeys(
      object, path,
      {"timeZone", "calendar", "extraHolidays", "extraEarlyCloses", "leadTime", "phases"}));
  if (const json* tz = Member(object, "timeZone")) {
    OP_ASSIGN_OR_RETURN(name, ReadString(*tz, Field(path, "timeZone"), 64));
    m.time_zone = std::move(name);
  }
  try {
    m.zone = date::locate_zone(m.time_zone);
  } catch (const std::exception&) {
    m.zone = nullptr;
  }
  if (m.zone == nullptr) {
    return Fail(Field(path, "timeZone"), Quoted(m.time_zone) +
                                             " is not a time zone in the tz database (e.g. "
                                             "America/New_York)");
  }
  if (const json* cal = Member(object, "calendar")) {
    OP_ASSIGN_OR_RETURN(name, ReadString(*cal, Field(path, "calendar"), 16));
    if (name == "NYSE") {
      m.calendar = CalendarKind::kNyse;
    } else if (name == "none") {
      m.calendar = CalendarKind::kNone;
    } else {
      return Fail(Field(path, "calendar"), Quoted(name) + " is not one of NYSE, none");
    }
  }
  if (const json* holidays = Member(object, "extraHolidays")) {
    const std::string list_path = Field(path, "extraHolidays");
    OP_RETURN_IF_ERROR(CheckList(*holidays, list_path, 366));
    for (size_t i = 0; i < holidays->size(); ++i) {
      OP_ASSIGN_OR_RETURN(text, ReadString((*holidays)[i], Index(list_path, i), 10));
      const std::optional<date::year_month_day> day = ParseDate(text);
      if (!day) return Fail(Index(list_path, i), Quoted(text) + " is not a date \"YYYY-MM-DD\"");
      if (std::find(m.extra_holidays.begin(), m.extra_holidays.end(), *day) !=
          m.extra_holidays.end()) {
        return Fail(Index(list_path, i), "duplicate date " + Quoted(text));
      }
      m.extra_holidays.push_back(*day);
    }
  }
  if (const json* closes = Member(object, "extraEarlyCloses")) {
    const std::string list_path = Field(path, "extraEarlyCloses");
    OP_RETURN_IF_ERROR(CheckList(*closes, list_path, 366));
    for (size_t i = 0; i < closes->size(); ++i) {
      const std::string item = Index(list_path, i);
      OP_RETURN_IF_ERROR(CheckKeys((*closes)[i], item, {"date", "close"}));
      OP_ASSIGN_OR_RETURN(date_text, RequiredString((*closes)[i], item, "date", 10));
      const std::optional<date::year_month_day> day = ParseDate(date_text);
      if (!day) {
        return Fail(Field(item, "date"), Quoted(date_text) + " is not a date \"YYYY-MM-DD\"");
      }
      for (const EarlyClose& seen : m.extra_early_closes) {
        if (seen.date == *day)
          return Fail(Field(item, "date"), "duplicate date " + Quoted(date_text));
      }
      OP_ASSIGN_OR_RETURN(close_text, RequiredString((*closes)[i], item, "close", 5));
      const std::optional<std::chrono::minutes> close = ParseClockTime(close_text);
      if (!close) {
        return Fail(Field(item, "close"), Quoted(close_text) + " is not a time \"HH:MM\"");
      }
      m.extra_early_closes.push_back(EarlyClose{*day, *close});
    }
  }
  if (const json* lead = Member(object, "leadTime")) {
    OP_ASSIGN_OR_RETURN(d, ReadDuration(*lead, Field(path, "leadTime")));
    if (d > kMaxLeadTime) return Fail(Field(path, "leadTime"), "must be at most 24h");
    m.lead_time = d;
  }
  if (const json* phases = Member(object, "phases")) {
    const std::string list_path = Field(path, "phases");
    OP_RETURN_IF_ERROR(CheckList(*phases, list_path, 16));
    for (size_t i = 0; i < phases->size(); ++i) {
      const std::string item = Index(list_path, i);
      const json& p = (*phases)[i];
      OP_RETURN_IF_ERROR(CheckKeys(p, item,
                                   {"name", "start", "end", "minReplicas", "maxReplicas",
                                    "targetCPUUtilizationPercentage",
                                    "targetMemoryUtilizationPercentage"}));
      Phase phase;
      OP_ASSIGN_OR_RETURN(name, RequiredString(p, item, "name", 32));
      if (!IsPolicyName(name)) {
        return Fail(Field(item, "name"),
                    Quoted(name) +
                        " must start with a letter and hold only letters, digits, "
                        "'_' and '-'");
      }
      if (name == "Closed") {
        return Fail(Field(item, "name"), "\"Closed\" is reserved for \"no phase active\"");
      }
      for (const Phase& seen : m.phases) {
        if (seen.name == name) return Fail(Field(item, "name"), "duplicate phase " + Quoted(name));
      }
      phase.name = std::move(name);
      OP_ASSIGN_OR_RETURN(start, ReadPhaseTime(p, item, "start"));
      OP_ASSIGN_OR_RETURN(end, ReadPhaseTime(p, item, "end"));
      if (start.anchor == end.anchor && start.minutes == end.minutes) {
        return Fail(Field(item, "end"), "must differ from start (" + Quoted(start.text) + ")");
      }
      phase.start = std::move(start);
      phase.end = std::move(end);
      OP_ASSIGN_OR_RETURN(rule, ReadScalingRule(p, item, components));
      phase.rule = std::move(rule);
      m.phases.push_back(std::move(phase));
    }
  }
  return m;
}

Result<VolatilitySource> ReadVolatilitySource(const json* value, const std::string& path) {
  VolatilitySource s;
  if (value == nullptr) return s;
  OP_RETURN_IF_ERROR(CheckKeys(*value, path, {"engine", "url", "prometheus", "value"}));
  int kinds = 0;
  for (std::string_view k : {"engine", "url", "prometheus", "value"}) {
    if (Member(*value, k) != nullptr) ++kinds;
  }
  if (kinds != 1) return Fail(path, "must set exactly one of engine, url, prometheus or value");
  if (const json* engine = Member(*value, "engine")) {
    OP_RETURN_IF_ERROR(CheckKeys(*engine, Field(path, "engine"), {}));
    s.kind = VolatilitySource::Kind::kEngine;
  } else if (const json* url = Member(*value, "url")) {
    const std::string url_path = Field(path, "url");
    OP_RETURN_IF_ERROR(CheckKeys(*url, url_path, {"url", "jsonPointer"}));
    s.kind = VolatilitySource::Kind::kUrl;
    OP_ASSIGN_OR_RETURN(address, RequiredString(*url, url_path, "url", 2048));
    if (!IsHttpUrl(address)) {
      return Fail(Field(url_path, "url"), Quoted(address) + " is not an http:// or https:// URL");
    }
    s.url = std::move(address);
    if (const json* pointer = Member(*url, "jsonPointer")) {
      OP_ASSIGN_OR_RETURN(p, ReadString(*pointer, Field(url_path, "jsonPointer"), 256));
      if (!IsJsonPointer(p)) {
        return Fail(Field(url_path, "jsonPointer"),
                    Quoted(p) + " is not a JSON pointer (RFC 6901) such as \"/vix\"");
      }
      s.json_pointer = std::move(p);
    }
  } else if (const json* prometheus = Member(*value, "prometheus")) {
    const std::string prom_path = Field(path, "prometheus");
    OP_RETURN_IF_ERROR(CheckKeys(*prometheus, prom_path, {"url", "query"}));
    s.kind = VolatilitySource::Kind::kPrometheus;
    OP_ASSIGN_OR_RETURN(address, RequiredString(*prometheus, prom_path, "url", 2048));
    if (!IsHttpUrl(address)) {
      return Fail(Field(prom_path, "url"), Quoted(address) + " is not an http:// or https:// URL");
    }
    s.url = std::move(address);
    OP_ASSIGN_OR_RETURN(query, RequiredString(*prometheus, prom_path, "query", 4096));
    s.query = std::move(query);
  } else {
    s.kind = VolatilitySource::Kind::kValue;
    OP_ASSIGN_OR_RETURN(v, ReadNumber(*Member(*value, "value"), Field(path, "value")));
    if (v < 0) return Fail(Field(path, "value"), "must not be negative");
    s.value = v;
  }
  return s;
}

Result<Volatility> ReadVolatility(const json& value, const std::string& path,
                                  const std::set<std::string>& components) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {"source", "pollInterval", "minHold", "regimes"}));
  Volatility v;
  OP_ASSIGN_OR_RETURN(source, ReadVolatilitySource(Member(value, "source"), Field(path, "source")));
  v.source = std::move(source);
  if (const json* poll = Member(value, "pollInterval")) {
    OP_ASSIGN_OR_RETURN(d, ReadDuration(*poll, Field(path, "pollInterval")));
    if (d < std::chrono::seconds{1})
      return Fail(Field(path, "pollInterval"), "must be at least 1s");
    v.poll_interval = d;
  }
  if (const json* hold = Member(value, "minHold")) {
    OP_ASSIGN_OR_RETURN(d, ReadDuration(*hold, Field(path, "minHold")));
    v.min_hold = d;
  }
  if (const json* regimes = Member(value, "regimes")) {
    const std::string list_path = Field(path, "regimes");
    OP_RETURN_IF_ERROR(CheckList(*regimes, list_path, 16));
    for (size_t i = 0; i < regimes->size(); ++i) {
      const std::string item = Index(list_path, i);
      const json& r = (*regimes)[i];
      OP_RETURN_IF_ERROR(CheckKeys(r, item,
                                   {"name", "enterAbove", "exitBelow", "minReplicas", "maxReplicas",
                                    "targetCPUUtilizationPercentage",
                                    "targetMemoryUtilizationPercentage"}));
      Regime regime;
      OP_ASSIGN_OR_RETURN(name, RequiredString(r, item, "name", 32));
      if (!IsPolicyName(name)) {
        return Fail(Field(item, "name"),
                    Quoted(name) +
                        " must start with a letter and hold only letters, digits, "
                        "'_' and '-'");
      }
      for (const Regime& seen : v.regimes) {
        if (seen.name == name) return Fail(Field(item, "name"), "duplicate regime " + Quoted(name));
      }
      regime.name = std::move(name);
      const json* enter = Member(r, "enterAbove");
      if (enter == nullptr) return Fail(Field(item, "enterAbove"), "is required");
      OP_ASSIGN_OR_RETURN(enter_above, ReadNumber(*enter, Field(item, "enterAbove")));
      const json* exit = Member(r, "exitBelow");
      if (exit == nullptr) return Fail(Field(item, "exitBelow"), "is required");
      OP_ASSIGN_OR_RETURN(exit_below, ReadNumber(*exit, Field(item, "exitBelow")));
      if (exit_below > enter_above) {
        return Fail(
            Field(item, "exitBelow"),
            "exitBelow (" + exit->dump() + ") is greater than enterAbove (" + enter->dump() + ")");
      }
      for (size_t j = 0; j < v.regimes.size(); ++j) {
        if (v.regimes[j].enter_above == enter_above) {
          return Fail(Field(item, "enterAbove"), "equals the enterAbove of " + Index(list_path, j) +
                                                     " (" + enter->dump() +
                                                     "); regimes must have distinct thresholds");
        }
      }
      regime.enter_above = enter_above;
      regime.exit_below = exit_below;
      OP_ASSIGN_OR_RETURN(rule, ReadScalingRule(r, item, components));
      regime.rule = std::move(rule);
      v.regimes.push_back(std::move(regime));
    }
  }
  return v;
}

Result<std::vector<Event>> ReadEvents(const json& value, const std::string& path,
                                      const std::set<std::string>& components) {
  OP_RETURN_IF_ERROR(CheckList(value, path, 32));
  std::vector<Event> events;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item = Index(path, i);
    const json& e = value[i];
    OP_RETURN_IF_ERROR(CheckKeys(e, item,
                                 {"name", "start", "end", "minReplicas", "minReplicasPercent",
                                  "maxReplicas", "maxReplicasPercent",
                                  "targetCPUUtilizationPercentage",
                                  "targetMemoryUtilizationPercentage", "disruption"}));
    Event event;
    OP_ASSIGN_OR_RETURN(name, RequiredString(e, item, "name", 63));
    if (!IsEventName(name)) {
      return Fail(Field(item, "name"),
                  Quoted(name) +
                      " must hold only letters, digits, '-', '_' and '.', starting and "
                      "ending with a letter or digit");
    }
    for (const Event& seen : events) {
      if (seen.name == name) return Fail(Field(item, "name"), "duplicate event " + Quoted(name));
    }
    event.name = std::move(name);
    const json* start = Member(e, "start");
    if (start == nullptr) return Fail(Field(item, "start"), "is required");
    OP_ASSIGN_OR_RETURN(start_time, ReadTimestamp(*start, Field(item, "start")));
    const json* end = Member(e, "end");
    if (end == nullptr) return Fail(Field(item, "end"), "is required");
    OP_ASSIGN_OR_RETURN(end_time, ReadTimestamp(*end, Field(item, "end")));
    if (end_time <= start_time) return Fail(Field(item, "end"), "must be after start");
    event.start = start_time;
    event.end = end_time;
    OP_ASSIGN_OR_RETURN(rule, ReadScalingRule(e, item, components));
    event.rule = std::move(rule);
    events.push_back(std::move(event));
  }
  return events;
}

Result<Override> ReadOverride(const json& value, const std::string& path,
                              const std::set<std::string>& components) {
  OP_RETURN_IF_ERROR(CheckKeys(value, path, {"replicas", "expires", "reason"}));
  Override o;
  const json* replicas = Member(value, "replicas");
  if (replicas == nullptr) return Fail(Field(path, "replicas"), "is required");
  OP_ASSIGN_OR_RETURN(map, ReadComponentMap(*replicas, Field(path, "replicas"), components));
  if (map.empty()) return Fail(Field(path, "replicas"), "must name at least one component");
  o.replicas = std::move(map);
  const json* expires = Member(value, "expires");
  if (expires == nullptr) {
    return Fail(Field(path, "expires"), "is required: an override must expire (an RFC 3339 time)");
  }
  OP_ASSIGN_OR_RETURN(t, ReadTimestamp(*expires, Field(path, "expires")));
  o.expires = t;
  if (const json* reason = Member(value, "reason")) {
    OP_ASSIGN_OR_RETURN(r, ReadString(*reason, Field(path, "reason"), 256));
    o.reason = std::move(r);
  }
  return o;
}

Result<ObjectMeta> ReadMetadata(const json* value) {
  if (value == nullptr) return Fail("metadata.name", "is required");
  OP_RETURN_IF_ERROR(CheckObject(*value, "metadata"));
  ObjectMeta m;
  OP_ASSIGN_OR_RETURN(name, RequiredString(*value, "metadata", "name", 63));
  if (!IsDns1035Label(name)) {
    return Fail("metadata.name",
                Quoted(name) +
                    " is not a DNS-1035 label (lower case letters, digits and '-', "
                    "starting with a letter): the child Services are named "
                    "<name>-<component>");
  }
  m.name = std::move(name);
  if (const json* ns = Member(*value, "namespace")) {
    OP_ASSIGN_OR_RETURN(n, ReadString(*ns, "metadata.namespace", 63));
    if (!IsDns1123Label(n))
      return Fail("metadata.namespace", Quoted(n) + " is not a namespace name");
    m.namespace_name = std::move(n);
  }
  if (const json* uid = Member(*value, "uid")) {
    OP_ASSIGN_OR_RETURN(u, ReadString(*uid, "metadata.uid", 128));
    m.uid = std::move(u);
  }
  if (const json* generation = Member(*value, "generation")) {
    OP_ASSIGN_OR_RETURN(
        g, ReadInteger(*generation, "metadata.generation", 0, std::numeric_limits<int64_t>::max()));
    m.generation = g;
  }
  return m;
}

// ^[A-Za-z_][A-Za-z0-9_]*$
bool IsEnvName(std::string_view s) {
  if (s.empty() || IsDigit(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAlnum(c) || c == '_'; });
}

// Reads the name of a ConfigMap or Secret reference at `path`.
Status CheckObjectRef(const json& ref, const std::string& path) {
  if (!ref.is_object()) return Fail(path, "must be an object");
  OP_RETURN_IF_ERROR(CheckKeys(ref, path, {"name", "key", "optional"}));
  OP_ASSIGN_OR_RETURN(name, RequiredString(ref, path, "name", 253));
  if (!IsDns1123Subdomain(name))
    return Fail(Field(path, "name"), Quoted(name) + " is not an object name");
  if (const json* optional = Member(ref, "optional"); optional && !optional->is_boolean()) {
    return Fail(Field(path, "optional"), "must be true or false");
  }
  return {};
}

// spec.env: Kubernetes EnvVar objects, {name, value} or {name, valueFrom:
// {secretKeyRef|configMapKeyRef: {name, key}}}; names unique and not set by
// the operator itself.
Result<std::vector<json>> ReadEnv(const json& list, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckList(list, path, 64));
  std::vector<json> out;
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = Index(path, i);
    const json& var = list[i];
    if (!var.is_object()) return Fail(item, "must be an object");
    OP_RETURN_IF_ERROR(CheckKeys(var, item, {"name", "value", "valueFrom"}));
    OP_ASSIGN_OR_RETURN(name, RequiredString(var, item, "name", 128));
    if (!IsEnvName(name)) {
      return Fail(Field(item, "name"),
                  Quoted(name) + " is not an environment variable name (letters, digits, '_')");
    }
    if (std::find(std::begin(kOperatorEnv), std::end(kOperatorEnv), name) !=
        std::end(kOperatorEnv)) {
      return Fail(Field(item, "name"), Quoted(name) + " is set by the operator");
    }
    if (!names.insert(name).second) return Fail(Field(item, "name"), "duplicate " + Quoted(name));
    const json* v = Member(var, "value");
    const json* from = Member(var, "valueFrom");
    if ((v == nullptr) == (from == nullptr)) {
      return Fail(item, "needs exactly one of value and valueFrom");
    }
    if (v != nullptr && !v->is_string()) return Fail(Field(item, "value"), "must be a string");
    if (from != nullptr) {
      const std::string from_path = Field(item, "valueFrom");
      if (!from->is_object() || from->size() != 1) {
        return Fail(from_path, "needs exactly one of secretKeyRef and configMapKeyRef");
      }
      OP_RETURN_IF_ERROR(CheckKeys(*from, from_path, {"secretKeyRef", "configMapKeyRef"}));
      const auto first = from->begin();
      const json& ref = first.value();
      const std::string ref_path = Field(from_path, first.key());
      OP_RETURN_IF_ERROR(CheckObjectRef(ref, ref_path));
      OP_ASSIGN_OR_RETURN(key, RequiredString(ref, ref_path, "key", 253));
      (void)key;
    }
    out.push_back(var);
  }
  return out;
}

// spec.envFrom: Kubernetes EnvFromSource objects, {secretRef|configMapRef:
// {name}, prefix?}.
Result<std::vector<json>> ReadEnvFrom(const json& list, const std::string& path) {
  OP_RETURN_IF_ERROR(CheckList(list, path, 16));
  std::vector<json> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = Index(path, i);
    const json& source = list[i];
    if (!source.is_object()) return Fail(item, "must be an object");
    OP_RETURN_IF_ERROR(CheckKeys(source, item, {"secretRef", "configMapRef", "prefix"}));
    const json* secret = Member(source, "secretRef");
    const json* config = Member(source, "configMapRef");
    if ((secret == nullptr) == (config == nullptr)) {
      return Fail(item, "needs exactly one of secretRef and configMapRef");
    }
    const std::string ref_path = Field(item, secret ? "secretRef" : "configMapRef");
    OP_RETURN_IF_ERROR(CheckObjectRef(secret ? *secret : *config, ref_path));
    if (Member(secret ? *secret : *config, "key")) {
      return Fail(Field(ref_path, "key"), "is not a field of an envFrom reference");
    }
    if (const json* prefix = Member(source, "prefix")) {
      OP_ASSIGN_OR_RETURN(p, ReadString(*prefix, Field(item, "prefix"), 64));
      if (!p.empty() && !IsEnvName(p)) {
        return Fail(Field(item, "prefix"), Quoted(p) + " is not an environment variable prefix");
      }
    }
    out.push_back(source);
  }
  return out;
}

// A policy layer's memory target reaches every component its map names ("*"
// the others): each must have a memory request for the HPA to take a
// percentage of, and no memory metric of its own in autoscaling.metrics.
Status CheckMemoryTarget(const ScalingRule& rule, const std::string& path,
                         const std::vector<Component>& components) {
  const std::string field = Field(path, "targetMemoryUtilizationPercentage");
  const ComponentMap& targets = rule.target_memory_utilization_percentage;
  for (const Component& c : components) {
    if (!Lookup(targets, c.name)) continue;
    const std::string at = Key(field, targets.contains(c.name) ? c.name : kEveryComponent);
    if (!HasMemoryRequest(c.resources)) {
      return Fail(at, "reaches component " + Quoted(c.name) +
                          ", which needs resources.requests.memory (the target is a "
                          "percentage of it)");
    }
    const std::vector<json>& metrics = c.autoscaling.metrics;
    if (std::any_of(metrics.begin(), metrics.end(),
                    [](const json& m) { return IsResourceMetric(m, "memory"); })) {
      return Fail(at, "reaches component " + Quoted(c.name) +
                          ", whose autoscaling.metrics has a Resource metric for memory; "
                          "use its autoscaling.targetMemoryUtilizationPercentage instead");
    }
  }
  return {};
}

Status CheckMemoryTargets(const PricingEngineSpec& spec) {
  for (size_t i = 0; i < spec.market_hours.phases.size(); ++i) {
    OP_RETURN_IF_ERROR(CheckMemoryTarget(spec.market_hours.phases[i].rule,
                                         Index("spec.marketHours.phases", i), spec.components));
  }
  if (spec.volatility) {
    for (size_t i = 0; i < spec.volatility->regimes.size(); ++i) {
      OP_RETURN_IF_ERROR(CheckMemoryTarget(spec.volatility->regimes[i].rule,
                                           Index("spec.volatility.regimes", i), spec.components));
    }
  }
  for (size_t i = 0; i < spec.events.size(); ++i) {
    OP_RETURN_IF_ERROR(
        CheckMemoryTarget(spec.events[i].rule, Index("spec.events", i), spec.components));
  }
  return {};
}

Result<PricingEngineSpec> ReadSpec(const json* value, const ObjectMeta& metadata) {
  const std::string path = "spec";
  if (value == nullptr) return Fail(path, "is required");
  OP_RETURN_IF_ERROR(CheckKeys(*value, path,
                               {"image", "paused", "env", "envFrom", "components", "marketHours",
                                "volatility", "events", "override"}));
  PricingEngineSpec spec;
  OP_ASSIGN_OR_RETURN(image, RequiredString(*value, path, "image", 512));
  if (HasWhitespace(image)) return Fail("spec.image", "must not contain whitespace");
  spec.image = std::move(image);
  if (const json* paused = Member(*value, "paused")) {
    if (!paused->is_boolean()) return Fail("spec.paused", "must be true or false");
    spec.paused = paused->get<bool>();
  }
  if (const json* env = Member(*value, "env")) {
    OP_ASSIGN_OR_RETURN(vars, ReadEnv(*env, "spec.env"));
    spec.env = std::move(vars);
  }
  if (const json* env_from = Member(*value, "envFrom")) {
    OP_ASSIGN_OR_RETURN(sources, ReadEnvFrom(*env_from, "spec.envFrom"));
    spec.env_from = std::move(sources);
  }
  const json* components = Member(*value, "components");
  if (components == nullptr) return Fail("spec.components", "is required");
  OP_RETURN_IF_ERROR(CheckList(*components, "spec.components", 16));
  if (components->empty()) return Fail("spec.components", "must list at least one component");
  std::set<std::string> names;
  for (size_t i = 0; i < components->size(); ++i) {
    const std::string item = Index("spec.components", i);
    OP_ASSIGN_OR_RETURN(c, ReadComponent((*components)[i], item));
    if (!names.insert(c.name).second) {
      return Fail(Field(item, "name"), "duplicate component " + Quoted(c.name));
    }
    const std::string child = metadata.name + "-" + c.name;
    if (child.size() > 63) {
      return Fail(Field(item, "name"), "child name \"" + child + "\"" +
                                           " is longer than 63 characters; shorten "
                                           "metadata.name or the component name");
    }
    spec.components.push_back(std::move(c));
  }
  OP_ASSIGN_OR_RETURN(market,
                      ReadMarketHours(Member(*value, "marketHours"), "spec.marketHours", names));
  spec.market_hours = std::move(market);
  if (const json* v = Member(*value, "volatility")) {
    OP_ASSIGN_OR_RETURN(volatility, ReadVolatility(*v, "spec.volatility", names));
    spec.volatility = std::move(volatility);
  }
  if (const json* v = Member(*value, "events")) {
    OP_ASSIGN_OR_RETURN(events, ReadEvents(*v, "spec.events", names));
    spec.events = std::move(events);
  }
  if (const json* v = Member(*value, "override")) {
    OP_ASSIGN_OR_RETURN(o, ReadOverride(*v, "spec.override", names));
    spec.emergency_override = std::move(o);
  }
  OP_RETURN_IF_ERROR(CheckMemoryTargets(spec));
  return spec;
}

// Reads the offset after open/close: "+2h", "-90m", "+1h30m".
std::optional<std::chrono::minutes> ParseOffset(std::string_view s) {
  if (s.empty()) return std::chrono::minutes{0};
  const int sign = s[0] == '-' ? -1 : (s[0] == '+' ? 1 : 0);
  if (sign == 0) return std::nullopt;
  s.remove_prefix(1);
  // Reads 1..max_digits digits followed by `unit`.
  auto term = [&s](size_t max_digits, char unit) -> std::optional<int> {
    size_t n = 0;
    int v = 0;
    while (n < s.size() && IsDigit(s[n])) {
      if (n == max_digits) return std::nullopt;  // before `v` can overflow
      v = v * 10 + (s[n] - '0');
      ++n;
    }
    if (n == 0 || n >= s.size() || s[n] != unit) return std::nullopt;
    s.remove_prefix(n + 1);
    return v;
  };
  int minutes = 0;
  if (s.find('h') != std::string_view::npos) {
    const std::optional<int> hours = term(2, 'h');
    if (!hours) return std::nullopt;
    minutes = *hours * 60;
    if (!s.empty()) {
      const std::optional<int> m = term(3, 'm');
      if (!m) return std::nullopt;
      minutes += *m;
    }
  } else {
    const std::optional<int> m = term(4, 'm');
    if (!m) return std::nullopt;
    minutes = *m;
  }
  if (!s.empty() || minutes > 24 * 60) return std::nullopt;
  return std::chrono::minutes{sign * minutes};
}

}  // namespace

std::optional<int32_t> Lookup(const ComponentMap& map, const std::string& component) {
  auto it = map.find(component);
  if (it == map.end()) it = map.find(std::string(kEveryComponent));
  if (it == map.end()) return std::nullopt;
  return it->second;
}

int32_t DisruptionsAllowed(const Disruption& disruption, int32_t replicas) {
  // As the disruption controller scales a percentage: rounded up.
  const IntOrPercent& a = disruption.amount;
  const int64_t scaled =
      a.percent ? (int64_t{replicas} * a.value + 99) / 100 : int64_t{a.value};
  const int64_t allowed =
      disruption.kind == Disruption::Kind::kMinAvailable ? replicas - scaled : scaled;
  return static_cast<int32_t>(std::clamp<int64_t>(allowed, 0, replicas));
}

std::string ToString(const Disruption& disruption) {
  std::string out =
      disruption.kind == Disruption::Kind::kMinAvailable ? "minAvailable=" : "maxUnavailable=";
  out += std::to_string(disruption.amount.value);
  if (disruption.amount.percent) out += "%";
  return out;
}

nlohmann::json ToJson(const IntOrPercent& amount) {
  if (amount.percent) return std::to_string(amount.value) + "%";
  return amount.value;
}

std::optional<PhaseTime> ParsePhaseTime(std::string_view text) {
  PhaseTime t;
  t.text = std::string(text);
  if (const std::optional<std::chrono::minutes> clock = ParseClockTime(text)) {
    t.anchor = PhaseTime::Anchor::kClock;
    t.minutes = *clock;
    return t;
  }
  std::string_view rest;
  if (text.starts_with("open")) {
    t.anchor = PhaseTime::Anchor::kOpen;
    rest = text.substr(4);
  } else if (text.starts_with("close")) {
    t.anchor = PhaseTime::Anchor::kClose;
    rest = text.substr(5);
  } else {
    return std::nullopt;
  }
  const std::optional<std::chrono::minutes> offset = ParseOffset(rest);
  if (!offset) return std::nullopt;
  t.minutes = *offset;
  return t;
}

Result<PricingEngine> ParsePricingEngine(const nlohmann::json& object) {
  if (!object.is_object()) return Fail("", "a PricingEngine must be an object");
  OP_RETURN_IF_ERROR(CheckKeys(object, "", {"apiVersion", "kind", "metadata", "spec", "status"}));
  if (const json* api_version = Member(object, "apiVersion")) {
    if (!api_version->is_string() || api_version->get<std::string>() != kApiVersion) {
      return Fail("apiVersion", "must be " + std::string(kApiVersion));
    }
  }
  if (const json* kind = Member(object, "kind")) {
    if (!kind->is_string() || kind->get<std::string>() != kKind) {
      return Fail("kind", "must be " + std::string(kKind));
    }
  }
  PricingEngine pe;
  OP_ASSIGN_OR_RETURN(metadata, ReadMetadata(Member(object, "metadata")));
  pe.metadata = std::move(metadata);
  OP_ASSIGN_OR_RETURN(spec, ReadSpec(Member(object, "spec"), pe.metadata));
  pe.spec = std::move(spec);
  return pe;
}

}  // namespace pricing::op
