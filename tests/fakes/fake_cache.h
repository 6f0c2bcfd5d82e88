// An in-memory Cache with per-entry TTL measured on an injected Clock, whose
// every call can fail on demand (FaultInjector: "Get", "Set", "Ping",
// "TimeLeft", "Claim"). It is also the CacheExpiry of its own entries; claims
// expire like entries. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/ports.h"
#include "fakes/fault_injector.h"

namespace pricing::engine::fakes {

class FakeCache : public Cache, public CacheExpiry, public FaultInjector {
 public:
  // Entries expire by `clock` (not owned; must outlive the cache); with no
  // clock they never expire.
  explicit FakeCache(const Clock* clock = nullptr) : clock_(clock) {}

  Result<std::optional<std::string>> Get(const std::string& key) override {
    if (auto e = Check("Get")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::optional<std::string>();
    if (clock_ != nullptr && clock_->Now() >= it->second.expires) {
      entries_.erase(it);
      return std::optional<std::string>();
    }
    return std::optional<std::string>(it->second.value);
  }

  Result<void> Set(const std::string& key, const std::string& value,
                   std::chrono::seconds ttl) override {
    if (auto e = Check("Set")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    const auto now = clock_ != nullptr ? clock_->Now() : std::chrono::system_clock::time_point();
    entries_[key] = Entry{value, now + ttl, ttl};
    return {};
  }

  Result<void> Ping() override {
    if (auto e = Check("Ping")) return std::unexpected(*e);
    return {};
  }

  Result<std::vector<std::optional<std::chrono::milliseconds>>> TimeLeft(
      const std::vector<std::string>& keys) override {
    if (auto e = Check("TimeLeft")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    const auto now = clock_ != nullptr ? clock_->Now() : std::chrono::system_clock::time_point();
    std::vector<std::optional<std::chrono::milliseconds>> out;
    for (const std::string& key : keys) {
      auto it = entries_.find(key);
      // Without a clock entries never expire, which the port reports as nullopt.
      if (it == entries_.end() || clock_ == nullptr || now >= it->second.expires) {
        out.emplace_back(std::nullopt);
        continue;
      }
      out.emplace_back(
          std::chrono::duration_cast<std::chrono::milliseconds>(it->second.expires - now));
    }
    return out;
  }

  Result<bool> Claim(const std::string& claim, std::chrono::milliseconds ttl) override {
    if (auto e = Check("Claim")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    const auto now = clock_ != nullptr ? clock_->Now() : std::chrono::system_clock::time_point();
    auto it = claims_.find(claim);
    if (it != claims_.end() && (clock_ == nullptr || now < it->second)) return false;
    claims_[claim] = now + ttl;
    return true;
  }

  // Test accessors; they bypass fault injection and expiry.
  std::optional<std::string> Peek(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second.value;
  }
  // The TTL the entry was last Set with.
  std::optional<std::chrono::seconds> TtlOf(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second.ttl;
  }
  size_t Size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    std::string value;
    std::chrono::system_clock::time_point expires;
    std::chrono::seconds ttl{0};
  };
  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::chrono::system_clock::time_point> claims_;
};

}  // namespace pricing::engine::fakes
