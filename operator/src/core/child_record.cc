#include "op/child_record.h"

#include <array>
#include <climits>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace pricing::op {
namespace {

using nlohmann::json;

// The first byte of an encoded record.
constexpr std::uint8_t kCompact = 0x01;
constexpr std::uint8_t kCbor = 0x00;

// Texts written as an index: the apiVersion and kind a child's controller
// owner reference carries, and the types, statuses and usual reasons of the
// conditions a record keeps. Append only: the index is the encoding. At most
// 64, so that every index is one byte.
constexpr std::array<std::string_view, 30> kKnownTexts = {
    "pricing.borrowrate.io/v1alpha1",
    "PricingEngine",
    "True",
    "False",
    "Unknown",
    // Condition types.
    "Progressing",
    "AbleToScale",
    "ScalingActive",
    // A Deployment's Progressing reasons.
    "NewReplicaSetAvailable",
    "ReplicaSetUpdated",
    "NewReplicaSetCreated",
    "FoundNewReplicaSet",
    "ProgressDeadlineExceeded",
    // An HPA's AbleToScale reasons.
    "ReadyForNewScale",
    "SucceededRescale",
    "SucceededGetScale",
    "ScaleDownStabilized",
    "ScaleUpStabilized",
    "FailedGetScale",
    "FailedUpdateScale",
    "BackoffBoth",
    "BackoffDownscale",
    "BackoffUpscale",
    // An HPA's ScalingActive reasons.
    "ValidMetricFound",
    "FailedGetResourceMetric",
    "FailedGetContainerResourceMetric",
    "FailedGetPodsMetric",
    "FailedGetObjectMetric",
    "FailedGetExternalMetric",
    "ScalingDisabled",
};
static_assert(kKnownTexts.size() <= 64);

// Record field bits (the first varint of a compact record).
enum RecordBit : std::uint64_t {
  kHasMetadata = 1u << 0,
  kHasName = 1u << 1,
  kHasNamespace = 1u << 2,
  kHasUid = 1u << 3,
  kUidBinary = 1u << 4,
  kHasResourceVersion = 1u << 5,
  kResourceVersionNumber = 1u << 6,
  kHasDeletionTimestamp = 1u << 7,
  kHasOwners = 1u << 8,
  kHasStatus = 1u << 9,
  kHasReplicas = 1u << 10,
  kHasReadyReplicas = 1u << 11,
  kHasFingerprint = 1u << 12,
  kHasGeneration = 1u << 13,
  kHasObservedGeneration = 1u << 14,
  kHasUpdatedReplicas = 1u << 15,
  kHasAvailableReplicas = 1u << 16,
  kHasConditions = 1u << 17,
};

// Status condition field bits.
enum ConditionBit : std::uint64_t {
  kConditionType = 1u << 0,
  kConditionStatus = 1u << 1,
  kConditionReason = 1u << 2,
};

// The integer fields of a record's status, in the order of their bits.
constexpr std::array<std::pair<const char*, std::uint64_t>, 5> kStatusIntegers = {{
    {"replicas", kHasReplicas},
    {"readyReplicas", kHasReadyReplicas},
    {"observedGeneration", kHasObservedGeneration},
    {"updatedReplicas", kHasUpdatedReplicas},
    {"availableReplicas", kHasAvailableReplicas},
}};

// Owner reference field bits.
enum OwnerBit : std::uint64_t {
  kOwnerApiVersion = 1u << 0,
  kOwnerKind = 1u << 1,
  kOwnerName = 1u << 2,
  kOwnerUid = 1u << 3,
  kOwnerUidBinary = 1u << 4,
  kOwnerController = 1u << 5,
  kOwnerControllerTrue = 1u << 6,
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// True when `text` is a UUID in its canonical lowercase form (what the API
// server assigns), which then round-trips through its 16 bytes.
bool IsCanonicalUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : HexValue(text[i]) < 0) return false;
  }
  return true;
}

// True when `text` is a decimal number without leading zeros that fits in 64
// bits (etcd's revisions, which is what resourceVersions are today).
bool IsPlainNumber(std::string_view text, std::uint64_t* value) {
  if (text.empty() || text.size() > 19 || (text.size() > 1 && text[0] == '0')) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *value = v;
  return true;
}

bool IsText(const json& object, const char* field) {
  auto it = object.find(field);
  return it == object.end() || it->is_string();
}

bool IsInteger(const json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end()) return true;
  if (it->is_number_unsigned()) {  // kept as a signed varint
    return it->get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX);
  }
  return it->is_number_integer();
}

// True when every field of `object` is one of `fields`.
bool OnlyFields(const json& object, std::initializer_list<std::string_view> fields) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool known = false;
    for (std::string_view f : fields) known = known || it.key() == f;
    if (!known) return false;
  }
  return true;
}

// True when `record` has exactly the shape ChildCacheRecord gives, so the
// compact form holds all of it.
bool FitsCompact(const json& record) {
  if (!record.is_object() || !OnlyFields(record, {"metadata", "status", "appliedFingerprint"})) {
    return false;
  }
  if (auto f = record.find("appliedFingerprint"); f != record.end() && !f->is_number_unsigned()) {
    return false;
  }
  if (auto m = record.find("metadata"); m != record.end()) {
    if (!m->is_object() ||
        !OnlyFields(*m, {"name", "namespace", "uid", "resourceVersion", "generation",
                         "deletionTimestamp", "ownerReferences"})) {
      return false;
    }
    for (const char* field : {"name", "namespace", "uid", "resourceVersion", "deletionTimestamp"}) {
      if (!IsText(*m, field)) return false;
    }
    if (!IsInteger(*m, "generation")) return false;
    if (auto refs = m->find("ownerReferences"); refs != m->end()) {
      if (!refs->is_array()) return false;
      for (const json& ref : *refs) {
        if (!ref.is_object() ||
            !OnlyFields(ref, {"apiVersion", "kind", "name", "uid", "controller"})) {
          return false;
        }
        for (const char* field : {"apiVersion", "kind", "name", "uid"}) {
          if (!IsText(ref, field)) return false;
        }
        if (auto c = ref.find("controller"); c != ref.end() && !c->is_boolean()) return false;
      }
    }
  }
  if (auto s = record.find("status"); s != record.end()) {
    if (!s->is_object() ||
        !OnlyFields(*s, {"replicas", "readyReplicas", "observedGeneration", "updatedReplicas",
                         "availableReplicas", "conditions"})) {
      return false;
    }
    for (const auto& [field, bit] : kStatusIntegers) {
      if (!IsInteger(*s, field)) return false;
    }
    if (auto conditions = s->find("conditions"); conditions != s->end()) {
      if (!conditions->is_array()) return false;
      for (const json& c : *conditions) {
        if (!c.is_object() || !OnlyFields(c, {"type", "status", "reason"})) return false;
        for (const char* field : {"type", "status", "reason"}) {
          if (!IsText(c, field)) return false;
        }
      }
    }
  }
  return true;
}

class Writer {
 public:
  void Byte(std::uint8_t b) { out_.push_back(b); }

  void Varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<std::uint8_t>(v));
  }

  void Signed(std::int64_t v) {  // zigzag
    Varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }

  // A text: (index << 1 | 1) for a known text, else (length << 1) and the bytes.
  void Text(std::string_view text) {
    for (size_t i = 0; i < kKnownTexts.size(); ++i) {
      if (kKnownTexts[i] == text) {
        Varint((static_cast<std::uint64_t>(i) << 1) | 1);
        return;
      }
    }
    Varint(static_cast<std::uint64_t>(text.size()) << 1);
    out_.insert(out_.end(), text.begin(), text.end());
  }

  // REQUIRES: IsCanonicalUuid(uuid).
  void Uuid(std::string_view uuid) {
    int high = -1;
    for (char c : uuid) {
      if (c == '-') continue;
      if (high < 0) {
        high = HexValue(c);
      } else {
        out_.push_back(static_cast<std::uint8_t>(high << 4 | HexValue(c)));
        high = -1;
      }
    }
  }

  std::vector<std::uint8_t> Take() {
    out_.shrink_to_fit();
    return std::move(out_);
  }

 private:
  std::vector<std::uint8_t> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::uint8_t Byte() {
    Need(1);
    return bytes_[pos_++];
  }

  std::uint64_t Varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t b = Byte();
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    throw std::runtime_error("child record: varint too long");
  }

  std::int64_t Signed() {
    const std::uint64_t z = Varint();
    return static_cast<std::int64_t>(z >> 1) ^ -static_cast<std::int64_t>(z & 1);
  }

  std::string Text() {
    const std::uint64_t header = Varint();
    if (header & 1) {
      const std::uint64_t index = header >> 1;
      if (index >= kKnownTexts.size()) throw std::runtime_error("child record: unknown text index");
      return std::string(kKnownTexts[index]);
    }
    const size_t size = static_cast<size_t>(header >> 1);
    Need(size);
    std::string text(reinterpret_cast<const char*>(bytes_.data() + pos_), size);
    pos_ += size;
    return text;
  }

  std::string Uuid() {
    static constexpr char kHex[] = "0123456789abcdef";
    Need(16);
    std::string text;
    text.reserve(36);
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
      const std::uint8_t b = bytes_[pos_++];
      text.push_back(kHex[b >> 4]);
      text.push_back(kHex[b & 0x0f]);
    }
    return text;
  }

  std::span<const std::uint8_t> Rest() const { return bytes_.subspan(pos_); }

 private:
  void Need(size_t n) const {
    if (bytes_.size() - pos_ < n) throw std::runtime_error("child record: truncated");
  }

  std::span<const std::uint8_t> bytes_;
  size_t pos_ = 0;
};

// Returns `v` as JSON: integers read from JSON text are unsigned when not
// negative.
json Integer(std::int64_t v) { return v >= 0 ? json(static_cast<std::uint64_t>(v)) : json(v); }

// Writes object[field] as a text when it is there, setting `bit` in *mask.
void PutText(const json& object, const char* field, std::uint64_t bit, std::uint64_t* mask,
             Writer* out) {
  auto f = object.find(field);
  if (f == object.end()) return;
  *mask |= bit;
  out->Text(f->get_ref<const std::string&>());
}

// Writes `text` as a UUID when canonical: sets `binary` in *mask on the way.
void PutUid(const std::string& uid, std::uint64_t binary, std::uint64_t* mask, Writer* body) {
  if (IsCanonicalUuid(uid)) {
    *mask |= binary;
    body->Uuid(uid);
  } else {
    body->Text(uid);
  }
}

}  // namespace

std::vector<std::uint8_t> EncodeChildRecord(const json& record) {
  if (!FitsCompact(record)) {
    std::vector<std::uint8_t> out{kCbor};
    json::to_cbor(record, out);
    out.shrink_to_fit();
    return out;
  }
  std::uint64_t mask = 0;
  Writer body;  // the fields, after the mask
  if (auto m = record.find("metadata"); m != record.end()) {
    mask |= kHasMetadata;
    PutText(*m, "name", kHasName, &mask, &body);
    PutText(*m, "namespace", kHasNamespace, &mask, &body);
    if (auto f = m->find("uid"); f != m->end()) {
      mask |= kHasUid;
      PutUid(f->get_ref<const std::string&>(), kUidBinary, &mask, &body);
    }
    if (auto f = m->find("resourceVersion"); f != m->end()) {
      mask |= kHasResourceVersion;
      std::uint64_t number = 0;
      if (IsPlainNumber(f->get_ref<const std::string&>(), &number)) {
        mask |= kResourceVersionNumber;
        body.Varint(number);
      } else {
        body.Text(f->get_ref<const std::string&>());
      }
    }
    if (auto f = m->find("generation"); f != m->end()) {
      mask |= kHasGeneration;
      body.Signed(f->get<std::int64_t>());
    }
    PutText(*m, "deletionTimestamp", kHasDeletionTimestamp, &mask, &body);
    if (auto refs = m->find("ownerReferences"); refs != m->end()) {
      mask |= kHasOwners;
      body.Varint(refs->size());
      for (const json& ref : *refs) {
        std::uint64_t owner_mask = 0;
        Writer owner;
        PutText(ref, "apiVersion", kOwnerApiVersion, &owner_mask, &owner);
        PutText(ref, "kind", kOwnerKind, &owner_mask, &owner);
        PutText(ref, "name", kOwnerName, &owner_mask, &owner);
        if (auto f = ref.find("uid"); f != ref.end()) {
          owner_mask |= kOwnerUid;
          PutUid(f->get_ref<const std::string&>(), kOwnerUidBinary, &owner_mask, &owner);
        }
        if (auto f = ref.find("controller"); f != ref.end()) {
          owner_mask |=
              kOwnerController | (f->get<bool>() ? std::uint64_t{kOwnerControllerTrue} : 0);
        }
        body.Varint(owner_mask);
        for (std::uint8_t b : owner.Take()) body.Byte(b);
      }
    }
  }
  if (auto s = record.find("status"); s != record.end()) {
    mask |= kHasStatus;
    for (const auto& [field, bit] : kStatusIntegers) {
      if (auto f = s->find(field); f != s->end()) {
        mask |= bit;
        body.Signed(f->get<std::int64_t>());
      }
    }
    if (auto conditions = s->find("conditions"); conditions != s->end()) {
      mask |= kHasConditions;
      body.Varint(conditions->size());
      for (const json& c : *conditions) {
        std::uint64_t condition_mask = 0;
        Writer condition;
        PutText(c, "type", kConditionType, &condition_mask, &condition);
        PutText(c, "status", kConditionStatus, &condition_mask, &condition);
        PutText(c, "reason", kConditionReason, &condition_mask, &condition);
        body.Varint(condition_mask);
        for (std::uint8_t b : condition.Take()) body.Byte(b);
      }
    }
  }
  if (auto f = record.find("appliedFingerprint"); f != record.end()) {
    mask |= kHasFingerprint;
    body.Varint(f->get<std::uint64_t>());
  }
  Writer out;
  out.Byte(kCompact);
  out.Varint(mask);
  for (std::uint8_t b : body.Take()) out.Byte(b);
  return out.Take();
}

json DecodeChildRecord(std::span<const std::uint8_t> bytes) {
  Reader in(bytes);
  if (in.Byte() == kCbor) return json::from_cbor(in.Rest());
  const std::uint64_t mask = in.Varint();
  json record = json::object();
  if (mask & kHasMetadata) {
    json metadata = json::object();
    if (mask & kHasName) metadata["name"] = in.Text();
    if (mask & kHasNamespace) metadata["namespace"] = in.Text();
    if (mask & kHasUid) metadata["uid"] = (mask & kUidBinary) ? in.Uuid() : in.Text();
    if (mask & kHasResourceVersion) {
      metadata["resourceVersion"] =
          (mask & kResourceVersionNumber) ? std::to_string(in.Varint()) : in.Text();
    }
    if (mask & kHasGeneration) metadata["generation"] = Integer(in.Signed());
    if (mask & kHasDeletionTimestamp) metadata["deletionTimestamp"] = in.Text();
    if (mask & kHasOwners) {
      json refs = json::array();
      for (std::uint64_t n = in.Varint(); n > 0; --n) {
        const std::uint64_t owner_mask = in.Varint();
        json ref = json::object();
        if (owner_mask & kOwnerApiVersion) ref["apiVersion"] = in.Text();
        if (owner_mask & kOwnerKind) ref["kind"] = in.Text();
        if (owner_mask & kOwnerName) ref["name"] = in.Text();
        if (owner_mask & kOwnerUid)
          ref["uid"] = (owner_mask & kOwnerUidBinary) ? in.Uuid() : in.Text();
        if (owner_mask & kOwnerController)
          ref["controller"] = (owner_mask & kOwnerControllerTrue) != 0;
        refs.push_back(std::move(ref));
      }
      metadata["ownerReferences"] = std::move(refs);
    }
    record["metadata"] = std::move(metadata);
  }
  if (mask & kHasStatus) {
    json status = json::object();
    for (const auto& [field, bit] : kStatusIntegers) {
      if (mask & bit) status[field] = Integer(in.Signed());
    }
    if (mask & kHasConditions) {
      json conditions = json::array();
      for (std::uint64_t n = in.Varint(); n > 0; --n) {
        const std::uint64_t condition_mask = in.Varint();
        json condition = json::object();
        if (condition_mask & kConditionType) condition["type"] = in.Text();
        if (condition_mask & kConditionStatus) condition["status"] = in.Text();
        if (condition_mask & kConditionReason) condition["reason"] = in.Text();
        conditions.push_back(std::move(condition));
      }
      status["conditions"] = std::move(conditions);
    }
    record["status"] = std::move(status);
  }
  if (mask & kHasFingerprint) record["appliedFingerprint"] = in.Varint();
  return record;
}

}  // namespace pricing::op
