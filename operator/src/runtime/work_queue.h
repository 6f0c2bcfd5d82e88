// The controller's work queue (client-go's rate-limited delaying queue,
// kube-rs's scheduler): keys ("namespace/name") waiting to be reconciled,
// de-duplicated, each ready now or at a later time, with per-key exponential
// backoff after failures. A key is handed to at most one worker at a time: a
// key added again while in flight is held until Done.
//
// Time comes from the injected Clock, so tests move a fake clock and call
// Wake() instead of sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "op/clock.h"

namespace pricing::op {

// The delay before retrying a key that failed `n` times in a row is
// base * 2^(n-1), capped at max.
struct BackoffPolicy {
  std::chrono::milliseconds base{5};
  std::chrono::milliseconds max{std::chrono::seconds(300)};
};

// Returns the delay after `failures` consecutive failures (>= 1) under `policy`.
std::chrono::nanoseconds BackoffDelay(const BackoffPolicy& policy, int failures);

// Hooks for metrics; any may be empty. They are called without the queue's
// lock held, from the thread that made the call.
struct WorkQueueObserver {
  std::function<void()> on_add;                       // a key entered the queue
  std::function<void(size_t depth)> on_depth;         // ReadyLen() changed
  std::function<void(double seconds)> on_queue_seconds;  // ready → handed to a worker
  std::function<void(double seconds)> on_work_seconds;   // handed to a worker → Done
  std::function<void()> on_retry;                     // AddRateLimited was called
};

class WorkQueue {
 public:
  explicit WorkQueue(const Clock& clock, BackoffPolicy policy = {},
                     WorkQueueObserver observer = {});

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Makes `key` ready now. Same as AddAfter(key, 0).
  void Add(const std::string& key);

  // Makes `key` ready after `delay`. A key has at most one entry: an earlier
  // ready time replaces a later one, a later one is ignored. If `key` is in
  // flight, the entry is held until Done. Ignored after ShutDown.
  void AddAfter(const std::string& key, std::chrono::nanoseconds delay);

  // Counts a failure of `key` and adds it after BackoffDelay(policy,
  // failures), or after `at_least` when that is longer (a Retry-After).
  void AddRateLimited(const std::string& key, std::chrono::nanoseconds at_least = {});

  // Resets the failure count of `key` (call after a successful reconcile).
  void Forget(const std::string& key);

  // Returns the number of consecutive failures counted for `key`.
  int Failures(const std::string& key) const;

  // Returns the ready key (ready time <= now) with the earliest ready time and
  // marks it in flight, or nullopt when none is ready or after ShutDown.
  // REQUIRES: the caller calls Done(key) when it has finished with the key.
  std::optional<std::string> TryGet();

  // Blocks until a key is ready, then behaves as TryGet. Returns nullopt once
  // ShutDown has been called. Waits until the earliest ready time; Add and
  // Wake make it look again.
  std::optional<std::string> Get();

  // Ends the processing of `key`. If it was added while in flight, it now
  // waits (or is ready) per that add.
  void Done(const std::string& key);

  // Returns the earliest ready time of the keys not in flight.
  std::optional<TimePoint> NextReadyAt() const;

  // Returns the number of keys waiting or ready (not in flight).
  size_t Len() const;

  // Returns the number of keys ready now: not in flight and not waiting out a
  // delay (workqueue_depth, as client-go counts it: its delaying queue holds
  // a key back until its time comes). Reported to on_depth when it changes at
  // an add or a hand-out; a delay running out is seen at the next of those.
  // Counting walks the ready keys, so with an observer every add and hand-out
  // costs one walk; a caller that only needs the figure now and then (a
  // metrics scrape) should call ReadyLen then and set no on_depth.
  size_t ReadyLen() const;

  // Makes blocked Get calls read the clock again (after a fake clock moved).
  void Wake();

  // Makes Get return nullopt, now and from then on, and ignores later adds.
  void ShutDown();

  // Returns whether ShutDown has been called.
  bool ShuttingDown() const;

 private:
  // Callbacks to run after the lock is released.
  struct Notes {
    bool added = false;
    bool retried = false;
    std::optional<size_t> depth;
    std::optional<double> queue_seconds;
    std::optional<double> work_seconds;
  };

  // REQUIRES: mu_ held.
  void AddLocked(const std::string& key, TimePoint ready_at, Notes& notes);
  std::optional<std::string> TryGetLocked(TimePoint now, Notes& notes);
  size_t ReadyLocked(TimePoint now) const;
  // Notes the ready count for on_depth if it changed since the last report.
  void NoteDepthLocked(TimePoint now, Notes& notes);
  void Notify(const Notes& notes) const;

  const Clock& clock_;
  const BackoffPolicy policy_;
  const WorkQueueObserver observer_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, TimePoint> waiting_;         // not in flight: key → ready time
  std::set<std::pair<TimePoint, std::string>> order_;  // waiting_, by ready time
  std::map<std::string, TimePoint> in_flight_;       // key → when it was handed out
  std::map<std::string, TimePoint> held_;            // in flight and added again
  std::map<std::string, int> failures_;
  size_t reported_depth_ = 0;  // the last ReadyLen() given to on_depth
  bool shut_down_ = false;
};

}  // namespace pricing::op
