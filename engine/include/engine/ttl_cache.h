// An in-process, thread-safe TTL map: the first cache level in front of Redis
// and the reference store. Sharded so that the engine's event loops rarely
// contend; time comes from the caller, so tests control expiry exactly.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace pricing::engine {

template <typename V>
class TtlCache {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // REQUIRES: max_entries > 0. When a shard is full, expired entries are
  // dropped first, then the shard is cleared (a coarse but bounded policy).
  explicit TtlCache(size_t max_entries = 1 << 20) : max_per_shard_(max_entries / kShards + 1) {}

  // Returns the value stored under `key` if it has not expired at `now`.
  std::optional<V> Get(const std::string& key, TimePoint now) const {
    const Shard& s = ShardFor(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end() || it->second.expires <= now) return std::nullopt;
    return it->second.value;
  }

  // Returns the value stored under `key`, expired or not, if it expired less
  // than `grace` before `now`: the last known good value, for a caller whose
  // source of truth is unavailable.
  std::optional<V> GetStale(const std::string& key, TimePoint now,
                            std::chrono::seconds grace) const {
    const Shard& s = ShardFor(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end() || it->second.expires + grace <= now) return std::nullopt;
    return it->second.value;
  }

  // Stores `value` under `key` until now + ttl.
  void Put(const std::string& key, V value, TimePoint now, std::chrono::seconds ttl) {
    Shard& s = ShardFor(key);
    std::lock_guard lock(s.mu);
    if (s.map.size() >= max_per_shard_ && !s.map.contains(key)) Evict(s, now);
    s.map.insert_or_assign(key, Entry{std::move(value), now + ttl});
  }

  void Erase(const std::string& key) {
    Shard& s = ShardFor(key);
    std::lock_guard lock(s.mu);
    s.map.erase(key);
  }

  size_t Size() const {
    size_t n = 0;
    for (const Shard& s : shards_) {
      std::lock_guard lock(s.mu);
      n += s.map.size();
    }
    return n;
  }

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    V value;
    TimePoint expires;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry> map;
  };

  Shard& ShardFor(const std::string& key) { return shards_[std::hash<std::string>{}(key) % kShards]; }
  const Shard& ShardFor(const std::string& key) const {
    return shards_[std::hash<std::string>{}(key) % kShards];
  }

  // Drops expired entries, then everything if the shard is still full.
  void Evict(Shard& s, TimePoint now) {
    std::erase_if(s.map, [now](const auto& kv) { return kv.second.expires <= now; });
    if (s.map.size() >= max_per_shard_) s.map.clear();
  }

  size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace pricing::engine
