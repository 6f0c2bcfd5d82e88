// A client-side rate limiter (client-go's flowcontrol token bucket): `qps`
// tokens a second accrue up to `burst`; every request takes one. Callers that
// find the bucket empty wait their turn, in order of arrival.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>

namespace pricing::op {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;

  // A full bucket. `qps` <= 0 means no limit. `now` defaults to
  // steady_clock::now. REQUIRES: burst >= 1 when qps > 0.
  TokenBucket(double qps, int burst, NowFn now = nullptr);

  // Takes one token, possibly one that has not accrued yet, and returns how
  // long the caller must wait before using it: zero when a token was in the
  // bucket. Thread-safe.
  Clock::duration Reserve();

  // Blocks until a token is available and takes it. Thread-safe.
  void Take();

 private:
  std::mutex mu_;
  const double qps_;
  const double burst_;
  const NowFn now_;
  double tokens_;  // negative: tokens already promised to waiting callers
  Clock::time_point last_;
};

}  // namespace pricing::op
