#include "adapters/token_bucket.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace pricing::op {

TokenBucket::TokenBucket(double qps, int burst, NowFn now)
    : qps_(qps),
      burst_(std::max(1, burst)),
      now_(now ? std::move(now) : NowFn([] { return Clock::now(); })),
      tokens_(burst_),
      last_(now_()) {}

TokenBucket::Clock::duration TokenBucket::Reserve() {
  if (qps_ <= 0) return Clock::duration::zero();
  std::lock_guard lock(mu_);
  const Clock::time_point now = now_();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1;
  if (tokens_ >= 0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / qps_));
}

void TokenBucket::Take() {
  const Clock::duration wait = Reserve();
  if (wait > Clock::duration::zero()) std::this_thread::sleep_for(wait);
}

}  // namespace pricing::op
