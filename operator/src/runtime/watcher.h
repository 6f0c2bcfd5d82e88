// The controller's watcher (kube-rs's watcher, client-go's reflector): keeps a
// Store equal to the API server's view of one resource. It lists, then watches
// from the list's resourceVersion with bookmarks; re-opens a watch that ended
// from the last resourceVersion seen; lists again when the server says that
// version is gone (410) or too large for its cache; and backs off with full
// jitter after other errors, never sooner than a Retry-After.
// Each change is reported to a callback after the store has it, so the
// controller can enqueue the key.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "op/kube.h"
#include "runtime/store.h"

namespace pricing::op {

struct WatcherOptions {
  Resource resource;
  std::string namespace_name;  // "" = all namespaces
  std::string label_selector;  // "" = everything
  // Each watch asks the server to end it after this long times a random
  // factor in [1, 2).
  std::chrono::seconds watch_timeout{300};
  // A watch silent this long is dead (a lost connection, a stuck proxy):
  // the server sends a bookmark about every minute.
  std::chrono::seconds idle_timeout{90};
  // Whether on_change hears of MODIFIED events that change nothing the store
  // keeps but the resourceVersion (an HPA's status rewritten with new metric
  // readings every 15 s). The store takes them either way.
  bool report_unchanged = true;
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
};

// Hooks for logs and metrics; any may be empty. Called from the watcher's thread.
struct WatcherObserver {
  std::function<void(const KubeError&)> on_error;  // a list, watch or stream failed
  std::function<void()> on_relist;                 // a list after the first one succeeded
};

class Watcher {
 public:
  using OnChange = std::function<void(const std::string& key, const nlohmann::json& object,
                                      bool deleted)>;

  // `on_change(key, object, deleted)` is called from Run's thread after the
  // store changed for `key`. `object` is the watch event's object, or, for a
  // list, what the store keeps of it (its projection: lists are read through
  // it page by page). For a deletion it is the last state: the DELETED event's
  // object, or, for an object gone from a relist, what the store held of it.
  // `client` and `store` must outlive the watcher.
  Watcher(KubeClient& client, Store& store, WatcherOptions options, OnChange on_change,
          WatcherObserver observer = {});

  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Blocks until Stop(), keeping the store in sync:
  //   list → store.Stage, ReplaceStaged → on_change for every listed object and for every
  //   key that vanished → watch from the list's resourceVersion.
  // Events are applied to the store and reported; bookmarks advance the
  // resourceVersion. A watch that ends normally is re-opened from the last
  // resourceVersion. A 410 (an ERROR event with code 410, or KubeError kGone)
  // leads to a new list. Other errors sleep with exponential backoff and full
  // jitter (cut short by Stop), then re-watch from the last resourceVersion, or
  // list again if the list failed. The backoff resets after a successful list
  // or event. Returns at once if Stop() was already called.
  void Run();

  // Makes Run return promptly: interrupts its sleep and cancels its open
  // watch. Thread-safe; may be called before, during or after Run.
  void Stop();

  const Resource& resource() const { return options_.resource; }

  // Returns whether the first list has been stored.
  bool Synced() const;

  // Returns the number of successful lists after the first.
  uint64_t Relists() const;

  // Returns when Run last came back from the API server: a list, a watch
  // opened, an event or bookmark, a failure, or the end of a back-off (or
  // construction). A Run blocked longer than its idle timeout is stuck.
  std::chrono::steady_clock::time_point LastProgress() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(progress_.load()));
  }

  // Returns the number of events not reported (report_unchanged false).
  uint64_t Skipped() const { return skipped_.load(); }

 private:
  enum class WatchOutcome { kEnded, kGone, kFailed, kStopped };

  // Lists and replaces the store. Returns false when the list failed.
  bool List();
  // Opens one watch from resource_version_ and consumes it until it ends.
  WatchOutcome WatchOnce();
  // Reports `error`, then sleeps for the next backoff delay. Returns false when
  // stopped.
  bool Backoff(const KubeError& error);
  bool Stopped() const;

  KubeClient& client_;
  Store& store_;
  const WatcherOptions options_;
  const OnChange on_change_;
  const WatcherObserver observer_;

  // Touched only by Run's thread.
  std::string resource_version_;
  int failures_ = 0;
  uint64_t lists_ = 0;
  std::mt19937_64 random_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  WatchStream* stream_ = nullptr;  // the open watch, guarded by mu_

  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> relists_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<int64_t> progress_{std::chrono::steady_clock::now().time_since_epoch().count()};
  void Progressed() { progress_.store(std::chrono::steady_clock::now().time_since_epoch().count()); }
};

}  // namespace pricing::op
