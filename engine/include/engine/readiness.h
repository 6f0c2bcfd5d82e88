// Readiness with bounded staleness (docs/design.md §2.3, degraded service): while a
// dependency the process serves from last known good values is unreachable,
// the process stays ready but degraded, for up to a stale limit counted from
// the last time that dependency answered; after that, or if it never
// answered, the process is not ready.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pricing::engine {

using ReadinessTime = std::chrono::system_clock::time_point;

class Staleness {
 public:
  enum class State { kOk, kDegraded, kUnavailable };

  explicit Staleness(std::chrono::seconds limit) : limit_(limit) {}

  // Records a probe of dependency `name` at `now` and returns its state:
  // kOk when it answered, kDegraded when it did not but answered within the
  // limit, else kUnavailable. Thread-safe.
  State Observe(std::string_view name, bool ok, ReadinessTime now);
  // Records that `name` answered at `now` outside a probe (a lookup served
  // by it), so that a process not probed yet still knows it had answered.
  void Answered(std::string_view name, ReadinessTime now) { Observe(name, true, now); }

 private:
  std::chrono::seconds limit_;
  std::mutex mu_;
  std::unordered_map<std::string, ReadinessTime> last_ok_;  // guarded by mu_
};

// One dependency's probe for a readiness answer.
struct ReadinessCheck {
  std::string name;
  bool ok = false;
  // Failing makes the process not ready. A required check that `stale` may
  // bridge is degraded instead while it answered within the stale limit.
  bool required = true;
  bool stale_ok = false;
};

// The /health/ready answer: {"checks":{name: ok|degraded|unavailable},
// "status": ready|degraded|not_ready, "degraded":[names], "role": role},
// 200 unless not_ready (503).
struct ReadinessAnswer {
  int status = 200;
  std::string body;
};
ReadinessAnswer ReadinessOf(const std::vector<ReadinessCheck>& checks, Staleness& stale,
                            ReadinessTime now, std::string_view role);

}  // namespace pricing::engine
