// The PricingEngine controller (controller-runtime's Controller): five
// watchers keep the caches of the PricingEngines and of the four child kinds;
// every change is turned into the key of the PricingEngine it concerns (a
// child's controlling owner reference names it) and put on the work queue;
// N workers take keys, one worker per key at a time, and run the Reconciler.
// A failed reconcile is retried with per-key exponential backoff; a
// successful one is looked at again when the Reconciler asks (the next policy
// transition, the next volatility poll, or the resync safety net).
//
// Workers start only after every cache has been listed once, so that the
// first reconcile never mistakes a child that is merely not cached yet for a
// missing one.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "op/clock.h"
#include "op/kube.h"
#include "runtime/event_recorder.h"
#include "runtime/reconciler.h"
#include "runtime/store.h"
#include "runtime/watcher.h"
#include "runtime/work_queue.h"

namespace pricing::op {

// The label every child carries; the child watchers select on it.
inline constexpr std::string_view kManagedBySelector =
    "app.kubernetes.io/managed-by=pricing-operator";

// Returns the key ("namespace/name") of the PricingEngine that controls
// `child` (its ownerReference with controller=true and kind PricingEngine), or
// "" when none does.
std::string OwnerKeyOf(const nlohmann::json& child);

struct ControllerOptions {
  std::string namespace_name;  // "" = every namespace
  int workers = 2;
  BackoffPolicy backoff;
  std::chrono::seconds watch_timeout{300};  // times a random factor in [1, 2)
  // A watch with bookmarks hears from the server about once a minute; one
  // silent for this long is dead and is re-opened.
  std::chrono::seconds idle_timeout{90};
  // /healthz: a reconcile running this long, or a watcher that has not come
  // back from the server (an event, a bookmark, a list, a failure, the end of
  // a back-off) for this long, is stuck and the process should be restarted.
  // Every request has a timeout and a silent watch ends after idle_timeout,
  // so a healthy one never comes near.
  std::chrono::nanoseconds stuck_after = std::chrono::minutes(5);
};

// Hooks for logs and metrics; any may be empty.
struct ControllerHooks {
  WorkQueueObserver queue;
  // A watcher's list or watch failed; `resource` is its plural.
  std::function<void(std::string_view resource, const KubeError&)> watch_error;
  // One reconcile ended: result is "success", "requeue_after" or "error";
  // `error` is set for "error".
  std::function<void(const std::string& key, std::string_view result, double seconds,
                     const KubeError* error)>
      reconciled;
  ReconcilerHooks reconciler;
};

class Controller {
 public:
  // `client`, `clock`, `events` and `volatility` (may be null) must outlive
  // the controller.
  Controller(KubeClient& client, const Clock& clock, EventRecorder& events,
             VolatilityReader* volatility, ControllerOptions options, ControllerHooks hooks = {});
  // Stops the controller.
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the watcher and worker threads and returns. Call at most once.
  void Start();

  // Stops the watchers, shuts the queue down and joins every thread; a
  // reconcile in progress finishes first. Idempotent.
  void Stop();

  // Returns whether every cache has been listed once.
  bool Synced() const;

  // Returns whether Start has been called and Stop has not.
  bool Running() const { return running_.load(); }

  // For /healthz: "" while every worker and watcher is making progress (or
  // the controller is not running); otherwise what is stuck and for how long.
  std::string Unhealthy() const;

  WorkQueue& queue() { return queue_; }
  const Reconciler& reconciler() const { return reconciler_; }

 private:
  // A worker's loop; `busy_since` is its slot in busy_since_.
  void Work(std::atomic<int64_t>& busy_since);
  // Hands freed heap back to the system when the queue has just run dry after
  // a burst of reconciles.
  void ReleaseAfterBurst();
  void OnEngine(const std::string& key, bool deleted);
  // `key` is "plural/namespace/name".
  void OnChild(const nlohmann::json& object, const std::string& key, bool deleted);

  KubeClient& client_;
  const Clock& clock_;
  const ControllerOptions options_;
  const ControllerHooks hooks_;

  Store engines_;
  // Children are cached as ChildCacheRecords (see op/managed_fields.h), in
  // their binary form (op/child_record.h).
  Store deployments_{ChildProjection(), ChildCodec()};
  Store services_{ChildProjection(), ChildCodec()};
  Store hpas_{ChildProjection(), ChildCodec()};
  Store pdbs_{ChildProjection(), ChildCodec()};
  WorkQueue queue_;
  Reconciler reconciler_;
  std::vector<std::unique_ptr<Watcher>> watchers_;
  std::vector<std::thread> threads_;
  // Per worker: when its current reconcile started (steady_clock ticks), 0
  // while it waits for work.
  std::unique_ptr<std::atomic<int64_t>[]> busy_since_;
  std::atomic<int64_t> reconciles_{0};
  std::mutex release_mu_;
  int64_t reconciles_at_release_ = 0;                   // guarded by release_mu_
  std::chrono::steady_clock::time_point released_at_;  // guarded by release_mu_
  std::atomic<bool> running_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace pricing::op
