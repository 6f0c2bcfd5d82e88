// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
// leaderelection semantics, so that of several operator replicas exactly one
// reconciles at a time and a standby takes over when the leader goes away.
//
// The holder renews the Lease every retry period. A standby takes the Lease
// only after it has watched the record stay unchanged for a whole lease
// duration, measured on its own clock from the moment it saw the record
// change (never from the renewTime written by another machine, whose clock
// may differ). Every write is an Update with the resourceVersion last read,
// so when two standbys race for an expired Lease one wins and the other gets
// a conflict.
//
// Intervals (the lease duration a standby waits, the renew deadline) are
// measured on Clock::Monotonic(), so a step of the wall clock neither
// extends nor cuts a leadership; the wall clock only writes renewTime and
// acquireTime. The holder gives up leading once renew_deadline has passed
// since the start of its last successful attempt, and each request of an
// attempt is bounded by the time left until then (KubeClient::GetWithin...),
// so a slow API server cannot keep it leading past that point.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "op/clock.h"
#include "op/error.h"
#include "op/kube.h"

namespace pricing::op {

struct LeaderElectionConfig {
  std::string namespace_name;
  std::string lease_name = "pricing-operator";
  // This replica's name in the Lease; empty means DefaultLeaderIdentity().
  std::string identity;
  // How long a standby waits, after the record last changed, before it takes
  // the Lease. Written to the Lease in whole seconds.
  std::chrono::nanoseconds lease_duration = std::chrono::seconds(15);
  // How long the leader keeps trying to renew before it gives up leading.
  std::chrono::nanoseconds renew_deadline = std::chrono::seconds(10);
  // The interval between attempts to acquire (with jitter) or renew.
  std::chrono::nanoseconds retry_period = std::chrono::seconds(2);
};

// Returns an error unless the namespace and lease name are set and
// lease_duration > renew_deadline > 1.2 * retry_period > 0 (client-go's
// rules), with lease_duration at least one second.
Result<void> ValidateLeaderElectionConfig(const LeaderElectionConfig& config);

// Returns "<hostname>_<random UUID>", unique to this process.
std::string DefaultLeaderIdentity();

// Formats `t` as a Kubernetes MicroTime: "2026-11-28T18:00:00.000000Z".
std::string FormatMicroTime(TimePoint t);

// A failed attempt to acquire or renew the Lease, for the log.
struct LeaseFailure {
  bool leading = false;  // renewing a Lease held, rather than acquiring one
  KubeError error;       // the API call's error, or kConflict when another holds the Lease
  // How many failures equal to the previous report (kind, status and
  // message) were left unreported between it and this one.
  int64_t repeated = 0;
};

class LeaderElector {
 public:
  // REQUIRES: ValidateLeaderElectionConfig(config) succeeds. `client` and
  // `clock` must outlive the elector; `client` should be the elector's own,
  // so that its calls never queue behind the controllers' rate limit.
  // `on_started_leading` is called when Run acquires the Lease and must
  // return promptly (start the controllers, don't run them).
  // `on_stopped_leading` is called when Run gives up a Lease it could not
  // renew; the process should then exit at once, without finishing its work,
  // as controller-runtime's does. It is not called when Run returns because
  // of Stop(). `on_status`, if set, is told false when Run starts, true when
  // it acquires the Lease and false when it stops leading for any reason
  // (leader_election_master_status). `on_failure`, if set, is told of every
  // failed renewal, and of every failed acquisition except one equal to the
  // last reported less than a minute before (counted in the next report); a
  // Lease held by another is a failure only for the holder that lost it.
  // Callbacks run on Run's thread.
  LeaderElector(KubeClient& client, const Clock& clock, LeaderElectionConfig config,
                std::function<void()> on_started_leading, std::function<void()> on_stopped_leading,
                std::function<void(bool)> on_status = {},
                std::function<void(const LeaseFailure&)> on_failure = {});
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Makes one attempt now, its requests bounded by renew_deadline: creates
  // the Lease when it does not exist; takes it when it is free (no holder)
  // or has expired; renews it when this elector holds it. Returns whether
  // the attempt succeeded, i.e. this elector holds the Lease as of now.
  // Returns false, without retrying, when the Lease is held by another, or on
  // any API error (a conflict means another replica wrote first).
  // Thread-safe; attempts are serialized.
  bool TryAcquireOrRenew();

  // Acquires the Lease (an attempt every retry_period plus up to 1.2 times
  // that in jitter), calls on_started_leading, then renews every
  // retry_period. Returns when renew_deadline has passed since the start of
  // the last successful attempt or another replica is seen holding the
  // Lease (after calling on_stopped_leading), or when Stop() is called
  // (after releasing the Lease if held: holderIdentity "" and
  // leaseDurationSeconds 1, so another replica can take it at once). Waits
  // on the steady clock; measures on clock.Monotonic(). Call at most once.
  void Run();

  // Makes Run return promptly: it interrupts Run's waits, but not an API
  // call in flight (which ends by the renew deadline). Thread-safe; may
  // precede Run, which then returns at once.
  void Stop();

  // Returns whether the last Lease record this elector saw names it as the
  // holder (false once Run has given up or released the Lease). Thread-safe.
  bool IsLeader() const;

  // Returns this elector's identity (the configured one or the default).
  const std::string& identity() const { return config_.identity; }

 private:
  // The Lease record as last seen: its spec, and when (by
  // clock_.Monotonic()) it was seen to change.
  struct Observed {
    nlohmann::json lease;  // the whole object, for its resourceVersion
    nlohmann::json spec;
    MonoTime time;
  };

  // The outcome of one attempt.
  struct Attempt {
    bool held = false;               // this elector holds the Lease as of the attempt
    std::optional<KubeError> error;  // why an API call failed, if one did
  };

  // TryAcquireOrRenew with every request bounded by `deadline`: a request
  // gets the time left until it, and none is made once it has passed.
  Attempt TryAcquireOrRenewBy(MonoTime deadline);
  // Returns the time left until `deadline`, or an error naming `what` when
  // none is.
  KubeResult<std::chrono::nanoseconds> TimeLeft(MonoTime deadline, std::string_view what) const;
  // Records `lease` as seen now; the observation time moves only when the
  // spec differs from the one seen before. REQUIRES: mu_ held.
  void ObserveLocked(const nlohmann::json& lease);
  bool IsLeaderLocked() const;
  // Returns the Lease object to write to hold it from `now`, based on the
  // stored `current` (nullptr: a new Lease).
  nlohmann::json LeaseForUs(const nlohmann::json* current, TimePoint now) const;
  // Gives up the Lease if this elector holds it, the request bounded by
  // renew_deadline. Returns whether it no longer does (released, or never
  // held).
  bool Release();
  // Tells on_failure_ of `error` (subject to its throttle for acquisitions).
  void Failed(bool leading, const KubeError& error);
  // Forgets the observed record, so that IsLeader() is false.
  void Forget();
  // Waits `d` on the steady clock. Returns false when Stop() was called.
  bool Sleep(std::chrono::nanoseconds d);
  bool Stopped() const;
  void Status(bool leading);

  KubeClient& client_;
  const Clock& clock_;
  LeaderElectionConfig config_;
  std::function<void()> on_started_leading_;
  std::function<void()> on_stopped_leading_;
  std::function<void(bool)> on_status_;
  std::function<void(const LeaseFailure&)> on_failure_;

  std::mutex attempt_mu_;  // serializes TryAcquireOrRenew and Release
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;    // guarded by mu_
  Observed observed_;    // guarded by mu_
  std::mt19937_64 rng_;  // used by Run's thread only
  // The last failure reported, when, and how many equal ones since (Run's
  // thread only).
  std::optional<KubeError> reported_;
  MonoTime reported_at_;
  int64_t repeated_ = 0;
};

}  // namespace pricing::op
