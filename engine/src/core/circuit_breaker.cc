#include "engine/circuit_breaker.h"

#include <algorithm>
#include <utility>

namespace pricing::engine {

std::string_view BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options, NowFn now, Listener listener)
    : options_{std::max(1, options.failure_threshold), options.cool_down},
      now_(now ? std::move(now) : NowFn([] { return std::chrono::steady_clock::now(); })),
      listener_(std::move(listener)) {}

void CircuitBreaker::TransitionLocked(BreakerState next, TimePoint now, BreakerState* from,
                                      BreakerState* to) {
  if (state_ == next) return;
  *from = state_;
  *to = next;
  state_ = next;
  ++generation_;
  failures_ = 0;
  probe_in_flight_ = false;
  if (next == BreakerState::kOpen) opened_at_ = now;
}

void CircuitBreaker::AdvanceLocked(TimePoint now, BreakerState* from, BreakerState* to) {
  if (state_ == BreakerState::kOpen && now - opened_at_ >= options_.cool_down) {
    TransitionLocked(BreakerState::kHalfOpen, now, from, to);
  }
}

void CircuitBreaker::Notify(BreakerState from, BreakerState to) const {
  if (listener_ && from != to) listener_(from, to);
}

CircuitBreaker::Permit CircuitBreaker::Allow() {
  const TimePoint now = now_();
  Permit permit;
  BreakerState from = BreakerState::kClosed;
  BreakerState to = BreakerState::kClosed;
  {
    std::lock_guard lock(mu_);
    AdvanceLocked(now, &from, &to);
    switch (state_) {
      case BreakerState::kClosed:
        permit = Permit{true, false, generation_};
        break;
      case BreakerState::kOpen:
        break;
      case BreakerState::kHalfOpen:
        if (probe_in_flight_ && now - probe_started_ >= options_.cool_down) {
          // The previous probe never reported back; retire it.
          ++generation_;
          probe_in_flight_ = false;
        }
        if (!probe_in_flight_) {
          probe_in_flight_ = true;
          probe_started_ = now;
          permit = Permit{true, true, generation_};
        }
        break;
    }
  }
  Notify(from, to);
  return permit;
}

void CircuitBreaker::Record(const Permit& permit, bool success) {
  if (!permit.allowed) return;
  const TimePoint now = now_();
  BreakerState from = BreakerState::kClosed;
  BreakerState to = BreakerState::kClosed;
  {
    std::lock_guard lock(mu_);
    if (permit.generation != generation_) return;
    switch (state_) {
      case BreakerState::kClosed:
        if (success) {
          failures_ = 0;
        } else if (++failures_ >= options_.failure_threshold) {
          TransitionLocked(BreakerState::kOpen, now, &from, &to);
        }
        break;
      case BreakerState::kHalfOpen:
        if (!permit.probe) break;
        TransitionLocked(success ? BreakerState::kClosed : BreakerState::kOpen, now, &from, &to);
        break;
      case BreakerState::kOpen:
        break;
    }
  }
  Notify(from, to);
}

BreakerState CircuitBreaker::State() const {
  const TimePoint now = now_();
  std::lock_guard lock(mu_);
  if (state_ == BreakerState::kOpen && now - opened_at_ >= options_.cool_down) {
    return BreakerState::kHalfOpen;
  }
  return state_;
}

int CircuitBreaker::ConsecutiveFailures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

}  // namespace pricing::engine
