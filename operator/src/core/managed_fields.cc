#include "op/managed_fields.h"

#include <string>
#include <utility>

#include "common/text.h"

namespace pricing::op {
namespace {

using nlohmann::json;

// True when `fields` names something below the field itself.
bool HasChildren(const json& fields) {
  if (!fields.is_object()) return false;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (it.key() != ".") return true;
  }
  return false;
}

// True when list item `item` has every key field of `key` (a "k:" selector).
bool KeyMatches(const json& item, const json& key) {
  if (!item.is_object() || !key.is_object()) return false;
  for (auto it = key.begin(); it != key.end(); ++it) {
    auto found = item.find(it.key());
    if (found == item.end()) return false;
    // Key values may differ in number representation only.
    if (found->is_number() && it.value().is_number()) {
      if (found->dump() != it.value().dump()) return false;
    } else if (*found != it.value()) {
      return false;
    }
  }
  return true;
}

json WithoutNulls(const json& value) {
  if (value.is_object()) {
    json out = json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!it.value().is_null()) out[it.key()] = WithoutNulls(it.value());
    }
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const json& item : value) out.push_back(WithoutNulls(item));
    return out;
  }
  return value;
}

json Select(const json& value, const json& fields) {
  return HasChildren(fields) ? ProjectOntoFields(value, fields) : value;
}

// Returns `reason` cut to kMaxKeptReasonBytes, at a character boundary.
std::string ShortReason(const std::string& reason) {
  return std::string(CutUtf8(reason, kMaxKeptReasonBytes));
}

// Returns the conditions of the kept types in `conditions`, in their order,
// each with its type and, when they are texts, its status and short reason.
json KeptConditions(const json& conditions) {
  json kept = json::array();
  for (const json& c : conditions) {
    if (!c.is_object()) continue;
    auto type = c.find("type");
    if (type == c.end() || !type->is_string()) continue;
    const std::string& name = type->get_ref<const std::string&>();
    if (name != kProgressingCondition && name != kAbleToScaleCondition &&
        name != kScalingActiveCondition) {
      continue;
    }
    json condition = {{"type", name}};
    if (auto s = c.find("status"); s != c.end() && s->is_string()) condition["status"] = *s;
    if (auto r = c.find("reason"); r != c.end() && r->is_string()) {
      condition["reason"] = ShortReason(r->get_ref<const std::string&>());
    }
    kept.push_back(std::move(condition));
  }
  return kept;
}

}  // namespace

std::optional<json> AppliedFieldsOf(const json& object, std::string_view manager) {
  if (!object.is_object()) return std::nullopt;
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return std::nullopt;
  auto managed = metadata->find("managedFields");
  if (managed == metadata->end() || !managed->is_array()) return std::nullopt;
  for (const json& entry : *managed) {
    if (!entry.is_object()) continue;
    if (entry.value("manager", "") != manager || entry.value("operation", "") != "Apply") continue;
    if (!entry.value("subresource", "").empty()) continue;
    auto fields = entry.find("fieldsV1");
    if (fields == entry.end() || !fields->is_object()) continue;
    return *fields;
  }
  return std::nullopt;
}

json ProjectOntoFields(const json& value, const json& fields) {
  if (!fields.is_object()) return value;
  if (value.is_object()) {
    json out = json::object();
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      const std::string& selector = it.key();
      if (!selector.starts_with("f:")) continue;
      auto found = value.find(selector.substr(2));
      if (found == value.end()) continue;
      out[selector.substr(2)] = Select(*found, it.value());
    }
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (size_t i = 0; i < value.size(); ++i) {
      const json& item = value[i];
      for (auto it = fields.begin(); it != fields.end(); ++it) {
        const std::string& selector = it.key();
        bool match = false;
        if (selector.starts_with("k:")) {
          const json key = json::parse(selector.substr(2), nullptr, false);
          match = !key.is_discarded() && KeyMatches(item, key);
        } else if (selector.starts_with("v:")) {
          const json v = json::parse(selector.substr(2), nullptr, false);
          match = !v.is_discarded() && v == item;
        } else if (selector.starts_with("i:")) {
          match = selector.substr(2) == std::to_string(i);
        }
        if (match) {
          out.push_back(Select(item, it.value()));
          break;
        }
      }
    }
    return out;
  }
  return value;
}

json AppliedContent(const json& desired) {
  json out = WithoutNulls(desired);
  if (!out.is_object()) return out;
  out.erase("apiVersion");
  out.erase("kind");
  if (auto metadata = out.find("metadata"); metadata != out.end() && metadata->is_object()) {
    metadata->erase("name");
    metadata->erase("namespace");
    if (metadata->empty()) out.erase(metadata);
  }
  return out;
}

uint64_t Fingerprint(const json& value) {
  uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : value.dump()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::optional<uint64_t> AppliedFingerprint(const json& object, std::string_view manager) {
  std::optional<json> fields = AppliedFieldsOf(object, manager);
  if (!fields) return std::nullopt;
  return Fingerprint(ProjectOntoFields(object, *fields));
}

json ChildCacheRecord(const json& child, std::string_view manager) {
  json record = json::object();
  if (!child.is_object()) return record;
  json metadata = json::object();
  if (auto m = child.find("metadata"); m != child.end() && m->is_object()) {
    for (const char* field :
         {"name", "namespace", "uid", "resourceVersion", "generation", "deletionTimestamp"}) {
      if (auto f = m->find(field); f != m->end()) metadata[field] = *f;
    }
    if (auto refs = m->find("ownerReferences"); refs != m->end() && refs->is_array()) {
      json kept = json::array();
      for (const json& ref : *refs) {
        if (!ref.is_object() || !ref.value("controller", false)) continue;
        json owner = json::object();
        for (const char* field : {"apiVersion", "kind", "name", "uid", "controller"}) {
          if (auto f = ref.find(field); f != ref.end()) owner[field] = *f;
        }
        kept.push_back(std::move(owner));
      }
      if (!kept.empty()) metadata["ownerReferences"] = std::move(kept);
    }
  }
  record["metadata"] = std::move(metadata);
  if (auto status = child.find("status"); status != child.end() && status->is_object()) {
    json kept = json::object();
    for (const char* field : {"replicas", "readyReplicas", "updatedReplicas", "availableReplicas",
                              "observedGeneration"}) {
      if (auto f = status->find(field); f != status->end()) kept[field] = *f;
    }
    if (auto conditions = status->find("conditions");
        conditions != status->end() && conditions->is_array()) {
      json kept_conditions = KeptConditions(*conditions);
      if (!kept_conditions.empty()) kept["conditions"] = std::move(kept_conditions);
    }
    if (!kept.empty()) record["status"] = std::move(kept);
  }
  if (std::optional<uint64_t> fingerprint = AppliedFingerprint(child, manager)) {
    record["appliedFingerprint"] = *fingerprint;
  }
  return record;
}

std::optional<uint64_t> CachedAppliedFingerprint(const json& record) {
  if (!record.is_object()) return std::nullopt;
  auto f = record.find("appliedFingerprint");
  if (f == record.end() || !f->is_number_unsigned()) return std::nullopt;
  return f->get<uint64_t>();
}

}  // namespace pricing::op
