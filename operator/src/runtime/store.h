// The controller's cache of one resource (kube-rs's reflector store,
// client-go's indexer): the objects as last seen by the watcher, keyed
// "namespace/name" ("name" when cluster-scoped). Reconcilers read the current
// object from here instead of asking the API server. What is kept of each
// object is its projection (by default: without metadata.managedFields and
// kubectl's last-applied annotation, which the reconciler never reads), held
// encoded (by default as CBOR), a fraction of the size of a parsed JSON tree;
// readers get a parsed copy. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "op/kube.h"

namespace pricing::op {

// Returns "namespace/name" of `object`, or "name" when it has no namespace.
std::string KeyOf(const nlohmann::json& object);

// Returns metadata.resourceVersion of `object`, or "" when it has none.
std::string ResourceVersionOf(const nlohmann::json& object);

// The default projection: `object` without metadata.managedFields and
// kubectl's last-applied annotation.
nlohmann::json SlimObject(const nlohmann::json& object);

class Store {
 public:
  // Returns what to keep of an object (at least metadata.name, namespace and
  // resourceVersion).
  using Projection = std::function<nlohmann::json(const nlohmann::json&)>;

  // How a projected object is held: encode gives its bytes, decode gives the
  // object back. The default is CBOR.
  struct Codec {
    std::function<std::vector<std::uint8_t>(const nlohmann::json&)> encode;
    std::function<nlohmann::json(std::span<const std::uint8_t>)> decode;
  };
  static Codec CborCodec();

  Store();
  explicit Store(Projection projection, Codec codec = CborCodec());

  // Makes `objects` the whole content (after a list) and returns the keys that
  // were stored before and are not in `objects`, sorted. The resourceVersion
  // becomes `resource_version`.
  std::vector<std::string> Replace(const std::vector<nlohmann::json>& objects,
                                   const std::string& resource_version = "");

  // A list's content, encoded into one buffer: what ReplaceStaged makes the
  // store's content. Staging lets the caller free the list's parsed objects
  // before the store allocates its records, so that thousands of small
  // records are not left scattered between freed JSON nodes, where no whole
  // page is free for the system to take back.
  class Staged {
   public:
    size_t size() const { return entries_.size(); }
    std::string_view Key(size_t i) const;
    // The i-th object as the store will hold it.
    nlohmann::json Object(size_t i) const;

   private:
    friend class Store;
    struct Entry {
      size_t key_at, key_size, record_at, record_size;
    };
    // The i-th record's bytes in bytes_.
    std::span<const std::uint8_t> Record(size_t i) const;
    const Codec* codec_ = nullptr;
    std::vector<std::uint8_t> bytes_;
    std::vector<Entry> entries_;
  };

  // Encodes `projected` (objects already projected with Project) for
  // ReplaceStaged. The result refers to this store's codec.
  Staged Stage(const std::vector<nlohmann::json>& projected) const;

  // Makes the staged objects the whole content; returns each vanished key
  // with what the store held of it, sorted by key.
  std::vector<std::pair<std::string, nlohmann::json>> ReplaceStaged(
      const Staged& staged, const std::string& resource_version = "");

  // Returns what the store keeps of `object`.
  nlohmann::json Project(const nlohmann::json& object) const { return projection_(object); }

  // Applies a watch event: ADDED / MODIFIED store the object, DELETED removes
  // it, BOOKMARK only advances the resourceVersion; ERROR is ignored. Returns
  // the key the event changed, or "" for a bookmark or error. With `changed`,
  // sets it to whether what the store keeps of the object changed beyond its
  // resourceVersion (false for a MODIFIED event whose changes the projection
  // drops, such as an HPA's metric readings).
  std::string Apply(const WatchEvent& event, bool* changed = nullptr);

  // Returns the object stored under `key`.
  std::optional<nlohmann::json> Get(const std::string& key) const;

  // Returns every object, sorted by key.
  std::vector<nlohmann::json> List() const;

  // Returns the objects whose key starts with `prefix`, sorted by key.
  std::vector<nlohmann::json> ListPrefix(std::string_view prefix) const;

  // Returns every key, sorted.
  std::vector<std::string> Keys() const;

  // Returns the resourceVersion of the last list or event ("" before any).
  std::string ResourceVersion() const;

  size_t Size() const;

 private:
  std::vector<std::uint8_t> Encode(const nlohmann::json& object) const;
  std::vector<std::uint8_t> EncodeProjected(const nlohmann::json& projected) const;
  // Makes `next` the content; returns the vanished entries, encoded.
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> Swap(
      std::map<std::string, std::vector<std::uint8_t>> next, const std::string& resource_version);

  Projection projection_;
  Codec codec_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::uint8_t>> objects_;
  std::string resource_version_;
};

}  // namespace pricing::op
