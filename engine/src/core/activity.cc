#include "engine/activity.h"

#include <utility>

namespace pricing::engine {

ActivityTracker::ActivityTracker(std::chrono::seconds interval) : interval_(interval) {}

void ActivityTracker::Note(std::string_view set, std::string_view name, TimePoint now) {
  std::lock_guard lock(mu_);
  auto by_set = noted_.find(set);
  if (by_set == noted_.end())
    by_set =
        noted_.emplace(std::string(set), std::map<std::string, TimePoint, std::less<>>()).first;
  auto it = by_set->second.find(name);
  if (it != by_set->second.end() && now - it->second < interval_ && now >= it->second) return;
  by_set->second.insert_or_assign(std::string(name), now);
  auto queue = queued_.find(set);
  if (queue == queued_.end())
    queue = queued_.emplace(std::string(set), std::vector<std::string>()).first;
  queue->second.emplace_back(name);
}

Result<void> ActivityTracker::Flush(ActivityLog& log, TimePoint now) {
  std::map<std::string, std::vector<std::string>, std::less<>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(queued_);
    for (auto& [set, names] : noted_) {
      std::erase_if(names, [&](const auto& entry) { return now - entry.second >= interval_; });
    }
  }
  Result<void> first_failure;
  for (auto& [set, names] : batch) {
    if (names.empty()) continue;
    if (auto ok = log.Record(set, names, now); !ok) {
      if (first_failure) first_failure = std::unexpected(ok.error());
      std::lock_guard lock(mu_);
      auto& queue = queued_[set];
      queue.insert(queue.end(), std::make_move_iterator(names.begin()),
                   std::make_move_iterator(names.end()));
    }
  }
  return first_failure;
}

size_t ActivityTracker::Queued() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [set, names] : queued_) n += names.size();
  return n;
}

void ActivityRecordingSink::Append(AuditRecord record, std::function<void(Result<void>)> done) {
  tracker_->Note(kActiveTickers, record.request.ticker, record.at);
  tracker_->Note(kActiveClients, record.request.client_id, record.at);
  inner_->Append(std::move(record), std::move(done));
}

}  // namespace pricing::engine
