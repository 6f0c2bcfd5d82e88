// A circuit breaker for one remote dependency (docs/design.md §2.2): after
// `failure_threshold` consecutive failures it opens and refuses calls for
// `cool_down`, then lets exactly one probe through (half-open); the probe's
// success closes it, its failure opens it again. Pure logic over an injected
// monotonic clock; safe to share between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

namespace pricing::engine {

enum class BreakerState { kClosed, kOpen, kHalfOpen };

// Returns "closed" | "open" | "half_open".
std::string_view BreakerStateName(BreakerState state);

struct CircuitBreakerOptions {
  int failure_threshold = 5;                    // consecutive failures that open it; >= 1
  std::chrono::milliseconds cool_down{10'000};  // open → half-open after this long
};

class CircuitBreaker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // Returns the current monotonic time. Tests pass a fake one.
  using NowFn = std::function<TimePoint()>;
  // Called after every state change, outside the breaker's lock, with the
  // states before and after. Must not call back into the breaker synchronously
  // in a way that expects a particular state.
  using Listener = std::function<void(BreakerState from, BreakerState to)>;

  // A grant to make one call. Report its outcome with Record() exactly once.
  // Outcomes of permits granted before the latest state change are ignored, so
  // a slow call that started while closed cannot close an open breaker.
  struct Permit {
    bool allowed = false;
    bool probe = false;  // the single half-open trial call
    uint64_t generation = 0;
    explicit operator bool() const { return allowed; }
  };

  // `now` defaults to std::chrono::steady_clock::now.
  explicit CircuitBreaker(CircuitBreakerOptions options = {}, NowFn now = nullptr,
                          Listener listener = nullptr);
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Returns an allowed permit when a call may proceed now: always while closed,
  // never while open (until the cool-down has passed), and only for the one
  // probe while half-open. A probe whose outcome is not recorded within another
  // cool-down is presumed lost and a new probe is allowed.
  Permit Allow();

  // Records the outcome of the call made under `permit`. REQUIRES: permit was
  // returned by Allow() of this breaker and allowed.
  void Record(const Permit& permit, bool success);

  // Returns the current state; an open breaker whose cool-down has passed
  // reports kHalfOpen.
  BreakerState State() const;

  // Returns the number of consecutive failures counted while closed.
  int ConsecutiveFailures() const;

 private:
  // REQUIRES: mu_ held. Moves open → half-open once the cool-down has passed.
  void AdvanceLocked(TimePoint now, BreakerState* from, BreakerState* to);
  void TransitionLocked(BreakerState next, TimePoint now, BreakerState* from, BreakerState* to);
  void Notify(BreakerState from, BreakerState to) const;

  const CircuitBreakerOptions options_;
  const NowFn now_;
  const Listener listener_;

  mutable std::mutex mu_;
  BreakerState state_ = BreakerState::kClosed;
  uint64_t generation_ = 0;
  int failures_ = 0;
  TimePoint opened_at_{};
  bool probe_in_flight_ = false;
  TimePoint probe_started_{};
};

}  // namespace pricing::engine
