#include "runtime/leader_elector.h"

#include <date/date.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

namespace pricing::op {
namespace {

using nlohmann::json;

std::string HolderOf(const json& spec) {
  const auto it = spec.find("holderIdentity");
  return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t IntOf(const json& spec, const char* key) {
  const auto it = spec.find(key);
  return it != spec.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string DurationText(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration<double>(d).count()) + "s";
}

}  // namespace

Result<void> ValidateLeaderElectionConfig(const LeaderElectionConfig& config) {
  if (config.namespace_name.empty()) return Fail("", "leader election needs a namespace");
  if (config.lease_name.empty()) return Fail("", "leader election needs a lease name");
  if (config.retry_period <= std::chrono::nanoseconds::zero()) {
    return Fail("", "leader election retry period must be positive");
  }
  if (config.renew_deadline * 10 <= config.retry_period * 12) {
    return Fail("", "leader election renew deadline (" + DurationText(config.renew_deadline) +
                        ") must be greater than 1.2 times the retry period (" +
                        DurationText(config.retry_period) + ")");
  }
  if (config.lease_duration <= config.renew_deadline) {
    return Fail("", "leader election lease duration (" + DurationText(config.lease_duration) +
                        ") must be greater than the renew deadline (" +
                        DurationText(config.renew_deadline) + ")");
  }
  if (config.lease_duration < std::chrono::seconds(1)) {
    return Fail("", "leader election lease duration must be at least 1s");
  }
  return {};
}

std::string DefaultLeaderIdentity() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::random_device rd;
  std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
  std::mt19937_64 rng(seq);
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string uuid;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) uuid.push_back('-');
    const uint64_t word = i < 8 ? hi : lo;
    const auto byte = static_cast<unsigned>((word >> (56 - 8 * (i % 8))) & 0xFF);
    uuid.push_back(kHex[byte >> 4]);
    uuid.push_back(kHex[byte & 15]);
  }
  return std::string(host.data()) + "_" + uuid;
}

std::string FormatMicroTime(TimePoint t) {
  return date::format("%FT%TZ", std::chrono::floor<std::chrono::microseconds>(t));
}

LeaderElector::LeaderElector(KubeClient& client, const Clock& clock, LeaderElectionConfig config,
                             std::function<void()> on_started_leading,
                             std::function<void()> on_stopped_leading,
                             std::function<void(bool)> on_status,
                             std::function<void(const LeaseFailure&)> on_failure)
    : client_(client),
      clock_(clock),
      config_(std::move(config)),
      on_started_leading_(std::move(on_started_leading)),
      on_stopped_leading_(std::move(on_stopped_leading)),
      on_status_(std::move(on_status)),
      on_failure_(std::move(on_failure)),
      rng_(std::random_device{}()) {
  if (config_.identity.empty()) config_.identity = DefaultLeaderIdentity();
}

bool LeaderElector::TryAcquireOrRenew() {
  return TryAcquireOrRenewBy(clock_.Monotonic() + config_.renew_deadline).held;
}

KubeResult<std::chrono::nanoseconds> LeaderElector::TimeLeft(MonoTime deadline,
                                                             std::string_view what) const {
  const std::chrono::nanoseconds left = deadline - clock_.Monotonic();
  if (left > std::chrono::nanoseconds::zero()) return left;
  return std::unexpected(
      KubeError{KubeError::Kind::kTransient, 0, "",
                "the renew deadline passed before " + std::string(what) + " the Lease"});
}

LeaderElector::Attempt LeaderElector::TryAcquireOrRenewBy(MonoTime deadline) {
  std::lock_guard attempt(attempt_mu_);
  const auto failed = [](KubeError error) { return Attempt{false, std::move(error)}; };
  const TimePoint now = clock_.Now();
  KubeResult<std::chrono::nanoseconds> left = TimeLeft(deadline, "reading");
  if (!left) return failed(std::move(left.error()));
  KubeResult<json> current =
      client_.GetWithin(kLeases, config_.namespace_name, config_.lease_name, *left);
  if (!current) {
    if (current.error().kind != KubeError::Kind::kNotFound) {
      return failed(std::move(current.error()));
    }
    left = TimeLeft(deadline, "creating");
    if (!left) return failed(std::move(left.error()));
    KubeResult<json> created = client_.CreateWithin(kLeases, LeaseForUs(nullptr, now), *left);
    if (!created) return failed(std::move(created.error()));
    std::lock_guard lock(mu_);
    ObserveLocked(*created);
    return Attempt{true, std::nullopt};
  }
  {
    std::lock_guard lock(mu_);
    ObserveLocked(*current);
    const bool valid =
        observed_.time + std::chrono::seconds(IntOf(observed_.spec, "leaseDurationSeconds")) >
        clock_.Monotonic();
    if (!HolderOf(observed_.spec).empty() && valid && !IsLeaderLocked()) return Attempt{};
  }
  left = TimeLeft(deadline, "updating");
  if (!left) return failed(std::move(left.error()));
  KubeResult<json> updated = client_.UpdateWithin(kLeases, LeaseForUs(&*current, now), *left);
  if (!updated) return failed(std::move(updated.error()));
  std::lock_guard lock(mu_);
  ObserveLocked(*updated);
  return Attempt{true, std::nullopt};
}

json LeaderElector::LeaseForUs(const json* current, TimePoint now) const {
  json lease;
  if (current != nullptr) {
    lease = *current;
  } else {
    lease = {{"apiVersion", kLeases.ApiVersion()},
             {"kind", kLeases.kind},
             {"metadata", {{"name", config_.lease_name}, {"namespace", config_.namespace_name}}}};
  }
  json old_spec =
      lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : json::object();
  json& spec = lease["spec"];
  if (!spec.is_object()) spec = json::object();
  const std::string now_text = FormatMicroTime(now);
  const bool ours = current != nullptr && HolderOf(old_spec) == config_.identity;
  spec["holderIdentity"] = config_.identity;
  spec["leaseDurationSeconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count();
  spec["renewTime"] = now_text;
  if (ours && old_spec.contains("acquireTime")) {
    spec["acquireTime"] = old_spec["acquireTime"];
  } else {
    spec["acquireTime"] = now_text;
  }
  const int64_t transitions = IntOf(old_spec, "leaseTransitions");
  spec["leaseTransitions"] = current == nullptr ? 0 : ours ? transitions : transitions + 1;
  return lease;
}

void LeaderElector::ObserveLocked(const json& lease) {
  const json spec =
      lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : json::object();
  if (observed_.lease.is_null() || spec != observed_.spec) {
    observed_.spec = spec;
    observed_.time = clock_.Monotonic();
  }
  observed_.lease = lease;
}

bool LeaderElector::IsLeaderLocked() const {
  return !observed_.lease.is_null() && HolderOf(observed_.spec) == config_.identity;
}

bool LeaderElector::IsLeader() const {
  std::lock_guard lock(mu_);
  return IsLeaderLocked();
}

bool LeaderElector::Release() {
  std::lock_guard attempt(attempt_mu_);
  json lease;
  {
    std::lock_guard lock(mu_);
    if (!IsLeaderLocked()) return true;
    lease = observed_.lease;
  }
  const std::string now_text = FormatMicroTime(clock_.Now());
  json& spec = lease["spec"];
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["acquireTime"] = now_text;
  spec["renewTime"] = now_text;
  KubeResult<json> updated = client_.UpdateWithin(kLeases, lease, config_.renew_deadline);
  std::lock_guard lock(mu_);
  if (!updated) {
    observed_ = Observed{};
    return false;
  }
  ObserveLocked(*updated);
  return true;
}

void LeaderElector::Failed(bool leading, const KubeError& error) {
  if (!on_failure_) return;
  const MonoTime now = clock_.Monotonic();
  const bool same = reported_ && reported_->kind == error.kind &&
                    reported_->http_status == error.http_status &&
                    reported_->message == error.message;
  if (!leading && same && now - reported_at_ < std::chrono::minutes(1)) {
    ++repeated_;
    return;
  }
  on_failure_(LeaseFailure{leading, error, repeated_});
  reported_ = error;
  reported_at_ = now;
  repeated_ = 0;
}

void LeaderElector::Forget() {
  std::lock_guard lock(mu_);
  observed_ = Observed{};
}

bool LeaderElector::Sleep(std::chrono::nanoseconds d) {
  std::unique_lock lock(mu_);
  return !stop_cv_.wait_until(lock, std::chrono::steady_clock::now() + d, [this] { return stop_; });
}

bool LeaderElector::Stopped() const {
  std::lock_guard lock(mu_);
  return stop_;
}

void LeaderElector::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
}

void LeaderElector::Status(bool leading) {
  if (on_status_) on_status_(leading);
}

void LeaderElector::Run() {
  Status(false);
  std::uniform_real_distribution<double> jitter(0.0, 1.2);
  MonoTime renewed;  // the start of the last successful attempt
  for (;;) {
    if (Stopped()) return;
    const MonoTime start = clock_.Monotonic();
    const Attempt attempt = TryAcquireOrRenewBy(start + config_.renew_deadline);
    if (attempt.held) {
      renewed = start;
      break;
    }
    if (attempt.error) Failed(false, *attempt.error);
    const auto wait = config_.retry_period + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 config_.retry_period * jitter(rng_));
    if (!Sleep(wait)) return;
  }
  if (Stopped()) {
    Release();
    return;
  }
  reported_.reset();
  repeated_ = 0;
  Status(true);
  if (on_started_leading_) on_started_leading_();
  for (;;) {
    const MonoTime deadline = renewed + config_.renew_deadline;
    const std::chrono::nanoseconds until_deadline = deadline - clock_.Monotonic();
    if (!Sleep(
            std::clamp(until_deadline, std::chrono::nanoseconds::zero(), config_.retry_period))) {
      Release();
      Status(false);
      return;
    }
    const MonoTime start = clock_.Monotonic();
    const Attempt attempt = TryAcquireOrRenewBy(deadline);
    if (attempt.held) {
      renewed = start;
      continue;
    }
    const bool lost = !IsLeader();
    if (attempt.error) {
      Failed(true, *attempt.error);
    } else if (lost) {
      std::string holder;
      {
        std::lock_guard lock(mu_);
        holder = HolderOf(observed_.spec);
      }
      Failed(true, KubeError{KubeError::Kind::kConflict, 0, "",
                             "the Lease is held by \"" + holder + "\""});
    }
    if (lost || clock_.Monotonic() >= deadline) {
      Forget();
      Status(false);
      if (on_stopped_leading_) on_stopped_leading_();
      return;
    }
  }
}

}  // namespace pricing::op
