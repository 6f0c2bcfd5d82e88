// What the calculation role prices, recorded for the cache role (ActivityLog,
// ports.h): each ticker and client is queued at most once per interval per
// process, so the hot path costs one map lookup and the shared log sees a few
// writes per interval; a background thread flushes the queue.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "engine/ports.h"

namespace pricing::engine {

// The ActivityLog sets the calculation role writes and the cache role reads.
inline constexpr std::string_view kActiveTickers = "tickers";
inline constexpr std::string_view kActiveClients = "clients";

class ActivityTracker {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // REQUIRES: interval > 0.
  explicit ActivityTracker(std::chrono::seconds interval);

  // Notes `name` of `set` seen at `now`: queues it unless it was queued less
  // than `interval` before `now`. Thread-safe; never blocks on I/O.
  void Note(std::string_view set, std::string_view name, TimePoint now);

  // Hands the queued names to `log`, one Record per set stamped `now`. The
  // names of a set whose Record fails stay queued for the next Flush; the
  // first failure is returned. Names noted longer than `interval` ago are
  // forgotten (a later Note queues them again).
  Result<void> Flush(ActivityLog& log, TimePoint now);

  // Returns the number of names waiting for Flush.
  size_t Queued() const;

 private:
  const std::chrono::seconds interval_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, TimePoint, std::less<>>, std::less<>> noted_;
  std::map<std::string, std::vector<std::string>, std::less<>> queued_;
};

// An AuditSink that notes the ticker and client of every record it is given
// in `tracker`, then appends the record to `inner` (both not owned).
class ActivityRecordingSink : public AuditSink {
 public:
  ActivityRecordingSink(AuditSink* inner, ActivityTracker* tracker)
      : inner_(inner), tracker_(tracker) {}

  void Append(AuditRecord record, std::function<void(Result<void>)> done) override;
  int64_t Pending() const override { return inner_->Pending(); }

 private:
  AuditSink* inner_;
  ActivityTracker* tracker_;
};

}  // namespace pricing::engine
