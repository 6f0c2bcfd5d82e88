#include "runtime/event_recorder.h"

#include <cstdio>
#include <utility>

namespace pricing::op {

namespace {

constexpr size_t kMaxNoteBytes = 1024;

// Returns `t` as a MicroTime: RFC 3339 in UTC with exactly six fraction digits.
std::string MicroTime(TimePoint t) {
  const auto micros = std::chrono::floor<std::chrono::microseconds>(t);
  const auto secs = std::chrono::floor<std::chrono::seconds>(micros);
  std::string text = FormatRfc3339(secs);  // ends in 'Z'
  char fraction[32];
  std::snprintf(fraction, sizeof fraction, ".%06lld",
                static_cast<long long>((micros - secs).count()));
  text.insert(text.size() - 1, fraction);
  return text;
}

}  // namespace

EventRecorder::EventRecorder(KubeClient& client, const Clock& clock, std::string instance)
    : client_(client), clock_(clock), instance_(std::move(instance)) {}

bool EventRecorder::Record(const nlohmann::json& regarding, std::string_view type,
                           std::string_view reason, std::string_view action,
                           std::string_view note) {
  const nlohmann::json& meta = regarding.at("metadata");
  const std::string name = meta.value("name", "");
  const std::string namespace_name = meta.value("namespace", "default");
  std::string cut(note.substr(0, kMaxNoteBytes));
  const TimePoint now = clock_.Now();
  uint64_t sequence = 0;
  {
    std::lock_guard lock(mu_);
    const std::string dedup_key = meta.value("uid", name) + "\n" + std::string(reason) + "\n" + cut;
    auto it = recent_.find(dedup_key);
    if (it != recent_.end() && now - it->second < kDedupWindow) return false;
    recent_[dedup_key] = now;
    for (auto old = recent_.begin(); old != recent_.end();) {
      old = now - old->second >= kDedupWindow ? recent_.erase(old) : std::next(old);
    }
    sequence = ++sequence_;
  }
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%llx%04llx",
                static_cast<unsigned long long>(now.time_since_epoch().count()),
                static_cast<unsigned long long>(sequence & 0xffff));
  nlohmann::json regarding_ref = {{"apiVersion", regarding.value("apiVersion", "")},
                                  {"kind", regarding.value("kind", "")},
                                  {"name", name},
                                  {"namespace", namespace_name}};
  if (meta.contains("uid")) regarding_ref["uid"] = meta["uid"];
  if (meta.contains("resourceVersion")) regarding_ref["resourceVersion"] = meta["resourceVersion"];
  const nlohmann::json event = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name + suffix}, {"namespace", namespace_name}}},
      {"eventTime", MicroTime(now)},
      {"reportingController", kReportingController},
      {"reportingInstance", instance_},
      {"action", action},
      {"reason", reason},
      {"type", type},
      {"note", cut},
      {"regarding", regarding_ref}};
  if (!client_.Create(kEvents, event)) {
    std::lock_guard lock(mu_);
    ++failures_;
    return false;
  }
  return true;
}

uint64_t EventRecorder::Failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

}  // namespace pricing::op
