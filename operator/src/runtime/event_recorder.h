// Kubernetes Events (events.k8s.io/v1) about the objects the operator
// manages: what `kubectl describe pe` and `kubectl events` show. An Event that
// cannot be written is counted and dropped; it never fails a reconcile.
// Identical events (same object, reason and note) within kDedupWindow are
// written once, so a loop that keeps finding the same fault cannot flood the
// API server.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "op/clock.h"
#include "op/kube.h"

namespace pricing::op {

inline constexpr std::string_view kReportingController = "pricing.borrowrate.io/pricing-operator";

class EventRecorder {
 public:
  static constexpr std::chrono::minutes kDedupWindow{10};

  // `instance` names this operator process (reportingInstance), e.g. its pod name.
  EventRecorder(KubeClient& client, const Clock& clock, std::string instance);

  // Writes an Event about `regarding` (an object with apiVersion, kind and
  // metadata). `type` is "Normal" or "Warning"; `reason` and `action` are
  // CamelCase words; `note` is cut to 1 kB. Returns false when the Event was
  // suppressed as a duplicate or could not be written.
  bool Record(const nlohmann::json& regarding, std::string_view type, std::string_view reason,
              std::string_view action, std::string_view note);

  uint64_t Failures() const;

 private:
  KubeClient& client_;
  const Clock& clock_;
  std::string instance_;
  mutable std::mutex mu_;
  std::map<std::string, TimePoint> recent_;  // object uid + reason + note -> when written
  uint64_t sequence_ = 0;
  uint64_t failures_ = 0;
};

}  // namespace pricing::op
