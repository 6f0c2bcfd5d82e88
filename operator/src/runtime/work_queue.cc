#include "runtime/work_queue.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace pricing::op {
namespace {

double Seconds(TimePoint from, TimePoint to) {
  return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

}  // namespace

std::chrono::nanoseconds BackoffDelay(const BackoffPolicy& policy, int failures) {
  const std::chrono::nanoseconds base = policy.base;
  const std::chrono::nanoseconds max = policy.max;
  if (failures <= 1) return std::min(base, max);
  const int shift = failures - 1;
  if (base.count() <= 0) return std::chrono::nanoseconds(0);
  if (shift >= 62 || base.count() > (max.count() >> shift)) return max;
  return std::min(max, std::chrono::nanoseconds(base.count() << shift));
}

WorkQueue::WorkQueue(const Clock& clock, BackoffPolicy policy, WorkQueueObserver observer)
    : clock_(clock), policy_(policy), observer_(std::move(observer)) {}

void WorkQueue::Add(const std::string& key) { AddAfter(key, std::chrono::nanoseconds(0)); }

void WorkQueue::AddAfter(const std::string& key, std::chrono::nanoseconds delay) {
  Notes notes;
  {
    std::lock_guard lock(mu_);
    AddLocked(key, clock_.Now() + std::chrono::duration_cast<TimePoint::duration>(
                                      std::max(delay, std::chrono::nanoseconds(0))),
              notes);
  }
  Notify(notes);
}

void WorkQueue::AddRateLimited(const std::string& key, std::chrono::nanoseconds at_least) {
  Notes notes;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    const int failures = ++failures_[key];
    const std::chrono::nanoseconds delay =
        std::max<std::chrono::nanoseconds>(BackoffDelay(policy_, failures), at_least);
    AddLocked(key, clock_.Now() + std::chrono::duration_cast<TimePoint::duration>(delay),
              notes);
    notes.retried = true;
  }
  Notify(notes);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int WorkQueue::Failures(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::TryGet() {
  Notes notes;
  std::optional<std::string> key;
  {
    std::lock_guard lock(mu_);
    key = TryGetLocked(clock_.Now(), notes);
  }
  Notify(notes);
  return key;
}

std::optional<std::string> WorkQueue::Get() {
  Notes notes;
  std::optional<std::string> key;
  {
    std::unique_lock lock(mu_);
    while (true) {
      if (shut_down_) return std::nullopt;
      const TimePoint now = clock_.Now();
      key = TryGetLocked(now, notes);
      if (key) break;
      if (order_.empty()) {
        cv_.wait(lock);
      } else {
        cv_.wait_for(lock, order_.begin()->first - now);
      }
    }
  }
  Notify(notes);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  Notes notes;
  {
    std::lock_guard lock(mu_);
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) return;
    notes.work_seconds = Seconds(it->second, clock_.Now());
    in_flight_.erase(it);
    auto held = held_.find(key);
    if (held != held_.end()) {
      const TimePoint ready_at = held->second;
      held_.erase(held);
      if (!shut_down_) {
        waiting_[key] = ready_at;
        order_.emplace(ready_at, key);
        NoteDepthLocked(clock_.Now(), notes);
        cv_.notify_all();
      }
    }
  }
  Notify(notes);
}

std::optional<TimePoint> WorkQueue::NextReadyAt() const {
  std::lock_guard lock(mu_);
  if (order_.empty()) return std::nullopt;
  return order_.begin()->first;
}

size_t WorkQueue::Len() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

size_t WorkQueue::ReadyLen() const {
  std::lock_guard lock(mu_);
  return ReadyLocked(clock_.Now());
}

size_t WorkQueue::ReadyLocked(TimePoint now) const {
  size_t n = 0;
  for (auto it = order_.begin(); it != order_.end() && it->first <= now; ++it) ++n;
  return n;
}

void WorkQueue::NoteDepthLocked(TimePoint now, Notes& notes) {
  if (!observer_.on_depth) return;  // counting walks the ready keys
  const size_t depth = ReadyLocked(now);
  if (depth == reported_depth_) return;
  reported_depth_ = depth;
  notes.depth = depth;
}

void WorkQueue::Wake() {
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

void WorkQueue::ShutDown() {
  std::lock_guard lock(mu_);
  shut_down_ = true;
  cv_.notify_all();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard lock(mu_);
  return shut_down_;
}

void WorkQueue::AddLocked(const std::string& key, TimePoint ready_at, Notes& notes) {
  if (shut_down_) return;
  if (in_flight_.contains(key)) {
    auto [held, inserted] = held_.emplace(key, ready_at);
    if (inserted) {
      notes.added = true;
    } else if (ready_at < held->second) {
      held->second = ready_at;
    }
    return;
  }
  auto [it, inserted] = waiting_.emplace(key, ready_at);
  if (inserted) {
    notes.added = true;
  } else if (ready_at < it->second) {
    order_.erase({it->second, key});
    it->second = ready_at;
  } else {
    return;
  }
  order_.emplace(ready_at, key);
  NoteDepthLocked(clock_.Now(), notes);
  cv_.notify_all();
}

std::optional<std::string> WorkQueue::TryGetLocked(TimePoint now, Notes& notes) {
  if (shut_down_ || order_.empty() || order_.begin()->first > now) return std::nullopt;
  auto [ready_at, key] = *order_.begin();
  order_.erase(order_.begin());
  waiting_.erase(key);
  in_flight_.emplace(key, now);
  notes.queue_seconds = Seconds(ready_at, now);
  NoteDepthLocked(now, notes);
  return key;
}

void WorkQueue::Notify(const Notes& notes) const {
  if (notes.added && observer_.on_add) observer_.on_add();
  if (notes.retried && observer_.on_retry) observer_.on_retry();
  if (notes.depth && observer_.on_depth) observer_.on_depth(*notes.depth);
  if (notes.queue_seconds && observer_.on_queue_seconds) {
    observer_.on_queue_seconds(*notes.queue_seconds);
  }
  if (notes.work_seconds && observer_.on_work_seconds) {
    observer_.on_work_seconds(*notes.work_seconds);
  }
}

}  // namespace pricing::op
