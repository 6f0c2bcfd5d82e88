#include "runtime/store.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pricing::op {

nlohmann::json SlimObject(const nlohmann::json& original) {
  nlohmann::json object = original;
  if (!object.is_object()) return object;
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return object;
  metadata->erase("managedFields");
  auto annotations = metadata->find("annotations");
  if (annotations != metadata->end() && annotations->is_object()) {
    annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
    if (annotations->empty()) metadata->erase(annotations);
  }
  return object;
}

Store::Codec Store::CborCodec() {
  return Codec{
      .encode =
          [](const nlohmann::json& object) {
            std::vector<std::uint8_t> encoded = nlohmann::json::to_cbor(object);
            // to_cbor grows its buffer by doubling; a cache of thousands of
            // records would otherwise hold about a third more than it stores.
            encoded.shrink_to_fit();
            return encoded;
          },
      .decode =
          [](std::span<const std::uint8_t> bytes) { return nlohmann::json::from_cbor(bytes); },
  };
}

Store::Store() : Store(SlimObject) {}

Store::Store(Projection projection, Codec codec)
    : projection_(std::move(projection)), codec_(std::move(codec)) {}

std::vector<std::uint8_t> Store::Encode(const nlohmann::json& object) const {
  return EncodeProjected(projection_(object));
}

std::vector<std::uint8_t> Store::EncodeProjected(const nlohmann::json& projected) const {
  return codec_.encode(projected);
}

std::string ResourceVersionOf(const nlohmann::json& object) {
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto rv = metadata->find("resourceVersion");
  return rv != metadata->end() && rv->is_string() ? rv->get<std::string>() : "";
}

std::string KeyOf(const nlohmann::json& object) {
  std::string ns;
  std::string name;
  if (object.is_object()) {
    auto metadata = object.find("metadata");
    if (metadata != object.end() && metadata->is_object()) {
      auto n = metadata->find("namespace");
      if (n != metadata->end() && n->is_string()) ns = n->get<std::string>();
      auto m = metadata->find("name");
      if (m != metadata->end() && m->is_string()) name = m->get<std::string>();
    }
  }
  return ns.empty() ? name : ns + "/" + name;
}

std::vector<std::string> Store::Replace(const std::vector<nlohmann::json>& objects,
                                        const std::string& resource_version) {
  std::map<std::string, std::vector<std::uint8_t>> next;
  for (const nlohmann::json& object : objects) next.insert_or_assign(KeyOf(object), Encode(object));
  std::vector<std::string> keys;
  for (auto& [key, encoded] : Swap(std::move(next), resource_version)) keys.push_back(std::move(key));
  return keys;
}

std::string_view Store::Staged::Key(size_t i) const {
  const Entry& e = entries_[i];
  return {reinterpret_cast<const char*>(bytes_.data() + e.key_at), e.key_size};
}

std::span<const std::uint8_t> Store::Staged::Record(size_t i) const {
  const Entry& e = entries_[i];
  return std::span(bytes_).subspan(e.record_at, e.record_size);
}

nlohmann::json Store::Staged::Object(size_t i) const { return codec_->decode(Record(i)); }

Store::Staged Store::Stage(const std::vector<nlohmann::json>& projected) const {
  Staged staged;
  staged.codec_ = &codec_;
  staged.entries_.reserve(projected.size());
  for (const nlohmann::json& object : projected) {
    const std::string key = KeyOf(object);
    const std::vector<std::uint8_t> record = EncodeProjected(object);
    Staged::Entry e{staged.bytes_.size(), key.size(), staged.bytes_.size() + key.size(),
                    record.size()};
    staged.bytes_.insert(staged.bytes_.end(), key.begin(), key.end());
    staged.bytes_.insert(staged.bytes_.end(), record.begin(), record.end());
    staged.entries_.push_back(e);
  }
  return staged;
}

std::vector<std::pair<std::string, nlohmann::json>> Store::ReplaceStaged(
    const Staged& staged, const std::string& resource_version) {
  std::map<std::string, std::vector<std::uint8_t>> next;
  for (size_t i = 0; i < staged.size(); ++i) {
    const std::span<const std::uint8_t> record = staged.Record(i);
    next.insert_or_assign(std::string(staged.Key(i)),
                          std::vector<std::uint8_t>(record.begin(), record.end()));
  }
  std::vector<std::pair<std::string, nlohmann::json>> vanished;
  for (auto& [key, encoded] : Swap(std::move(next), resource_version)) {
    vanished.emplace_back(std::move(key), codec_.decode(encoded));
  }
  return vanished;
}

std::vector<std::pair<std::string, std::vector<std::uint8_t>>> Store::Swap(
    std::map<std::string, std::vector<std::uint8_t>> next, const std::string& resource_version) {
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> vanished;
  std::lock_guard lock(mu_);
  for (auto& [key, object] : objects_) {
    if (!next.contains(key)) vanished.emplace_back(key, std::move(object));
  }
  objects_.swap(next);
  resource_version_ = resource_version;
  return vanished;  // the rest of the old content goes with `next`, outside the lock
}

namespace {

// Whether two records are equal but for metadata.resourceVersion.
bool SameButVersion(nlohmann::json a, nlohmann::json b) {
  for (nlohmann::json* r : {&a, &b}) {
    if (r->is_object() && r->contains("metadata") && (*r)["metadata"].is_object()) {
      (*r)["metadata"].erase("resourceVersion");
    }
  }
  return a == b;
}

}  // namespace

std::string Store::Apply(const WatchEvent& event, bool* changed) {
  if (changed != nullptr) *changed = event.type != WatchEvent::Type::kBookmark &&
                                     event.type != WatchEvent::Type::kError;
  std::vector<std::uint8_t> encoded;
  if (event.type == WatchEvent::Type::kAdded || event.type == WatchEvent::Type::kModified) {
    encoded = Encode(event.object);  // outside the lock: readers need not wait for it
  }
  std::lock_guard lock(mu_);
  switch (event.type) {
    case WatchEvent::Type::kAdded:
    case WatchEvent::Type::kModified: {
      std::string key = KeyOf(event.object);
      if (changed != nullptr) {
        if (auto it = objects_.find(key); it != objects_.end()) {
          *changed = !SameButVersion(codec_.decode(it->second), codec_.decode(encoded));
        }
      }
      objects_.insert_or_assign(key, std::move(encoded));
      resource_version_ = ResourceVersionOf(event.object);
      return key;
    }
    case WatchEvent::Type::kDeleted: {
      std::string key = KeyOf(event.object);
      objects_.erase(key);
      resource_version_ = ResourceVersionOf(event.object);
      return key;
    }
    case WatchEvent::Type::kBookmark: {
      std::string rv = ResourceVersionOf(event.object);
      if (!rv.empty()) resource_version_ = std::move(rv);
      return "";
    }
    case WatchEvent::Type::kError:
      return "";
  }
  return "";
}

std::optional<nlohmann::json> Store::Get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  return codec_.decode(it->second);
}

std::vector<nlohmann::json> Store::List() const {
  std::lock_guard lock(mu_);
  std::vector<nlohmann::json> out;
  out.reserve(objects_.size());
  for (const auto& [key, object] : objects_) out.push_back(codec_.decode(object));
  return out;
}

std::vector<nlohmann::json> Store::ListPrefix(std::string_view prefix) const {
  std::lock_guard lock(mu_);
  std::vector<nlohmann::json> out;
  for (auto it = objects_.lower_bound(std::string(prefix));
       it != objects_.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(codec_.decode(it->second));
  }
  return out;
}

std::vector<std::string> Store::Keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys;
  keys.reserve(objects_.size());
  for (const auto& [key, object] : objects_) keys.push_back(key);
  return keys;
}

std::string Store::ResourceVersion() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

size_t Store::Size() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

}  // namespace pricing::op
