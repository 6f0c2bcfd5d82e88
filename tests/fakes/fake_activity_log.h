// An in-memory ActivityLog (name -> last time seen, per set) whose every call
// can fail on demand (FaultInjector: "Record", "Since"). Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/ports.h"
#include "fakes/fault_injector.h"

namespace pricing::engine::fakes {

class FakeActivityLog : public ActivityLog, public FaultInjector {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  Result<void> Record(const std::string& set, const std::vector<std::string>& names,
                      TimePoint at) override {
    if (auto e = Check("Record")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    for (const std::string& name : names) sets_[set][name] = at;
    return {};
  }

  Result<std::vector<std::string>> Since(const std::string& set, TimePoint since) override {
    if (auto e = Check("Since")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    auto& names = sets_[set];
    for (auto it = names.begin(); it != names.end();) {
      if (it->second < since) {
        it = names.erase(it);
      } else {
        out.push_back(it->first);
        ++it;
      }
    }
    return out;
  }

  // Test accessor: when `name` of `set` was last recorded, bypassing faults.
  std::optional<TimePoint> LastSeen(const std::string& set, const std::string& name) const {
    std::lock_guard lock(mu_);
    auto s = sets_.find(set);
    if (s == sets_.end()) return std::nullopt;
    auto it = s->second.find(name);
    if (it == s->second.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, TimePoint>> sets_;
};

}  // namespace pricing::engine::fakes
