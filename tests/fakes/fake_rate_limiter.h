// A RateLimiter that counts grants per key until the test calls NewWindow(),
// and can be forced to refuse everything (SetDenyAll) to exercise the 429
// path. Take never fails, like the real limiters. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "engine/ports.h"

namespace pricing::engine::fakes {

class FakeRateLimiter : public RateLimiter {
 public:
  // Decisions report `reset_seconds` until the (notional) window ends.
  explicit FakeRateLimiter(int64_t reset_seconds = 30) : reset_seconds_(reset_seconds) {}

  RateDecision Take(const std::string& key_id, int64_t limit_per_minute) override {
    std::lock_guard lock(mu_);
    ++calls_;
    RateDecision d;
    d.limit = limit_per_minute;
    d.reset_seconds = reset_seconds_;
    int64_t& used = used_[key_id];
    if (!deny_all_ && used < limit_per_minute) {
      ++used;
      d.allowed = true;
    }
    d.remaining = limit_per_minute > used ? limit_per_minute - used : 0;
    return d;
  }

  // While set, TryTake answers nullopt (its decision would need a round
  // trip), spending nothing.
  std::optional<RateDecision> TryTake(const std::string& key_id, int64_t limit) override {
    {
      std::lock_guard lock(mu_);
      if (needs_round_trip_) {
        ++deferred_;
        return std::nullopt;
      }
    }
    return Take(key_id, limit);
  }
  void SetNeedsRoundTrip(bool needs) {
    std::lock_guard lock(mu_);
    needs_round_trip_ = needs;
  }
  int64_t Deferred() const {
    std::lock_guard lock(mu_);
    return deferred_;
  }

  void SetDenyAll(bool deny) {
    std::lock_guard lock(mu_);
    deny_all_ = deny;
  }
  // Starts a new window: every key's count goes back to zero.
  void NewWindow() {
    std::lock_guard lock(mu_);
    used_.clear();
  }
  int64_t Calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  const int64_t reset_seconds_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> used_;
  bool deny_all_ = false;
  bool needs_round_trip_ = false;
  int64_t deferred_ = 0;
  int64_t calls_ = 0;
};

}  // namespace pricing::engine::fakes
