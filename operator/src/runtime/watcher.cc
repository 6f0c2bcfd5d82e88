#include "runtime/watcher.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/free_memory.h"

namespace pricing::op {
namespace {


// Returns the KubeError an ERROR watch event stands for.
KubeError ErrorOfStatus(const nlohmann::json& status) {
  KubeError error;
  error.http_status = status.is_object() ? status.value("code", 0) : 0;
  error.reason = status.is_object() ? status.value("reason", "") : "";
  error.message = "watch error event: " +
                  (status.is_object() ? status.value("message", status.dump()) : status.dump());
  if (error.http_status == 410 || IsTooLargeResourceVersion(error)) {
    // Gone, or ahead of the server's cache: either way, list again.
    error.kind = KubeError::Kind::kGone;
  } else if (error.http_status == 401 || error.http_status == 403) {
    error.kind = KubeError::Kind::kForbidden;
  } else {
    error.kind = KubeError::Kind::kTransient;
  }
  return error;
}

}  // namespace

Watcher::Watcher(KubeClient& client, Store& store, WatcherOptions options, OnChange on_change,
                 WatcherObserver observer)
    : client_(client),
      store_(store),
      options_(std::move(options)),
      on_change_(std::move(on_change)),
      observer_(std::move(observer)),
      random_(std::random_device{}()) {}

void Watcher::Run() {
  bool need_list = true;
  while (!Stopped()) {
    Progressed();
    if (need_list) {
      if (!List()) continue;
      need_list = false;
    }
    switch (WatchOnce()) {
      case WatchOutcome::kEnded:
        break;
      case WatchOutcome::kGone:
        need_list = true;
        break;
      case WatchOutcome::kFailed:
        break;
      case WatchOutcome::kStopped:
        return;
    }
  }
}

void Watcher::Stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  if (stream_ != nullptr) stream_->Cancel();
  cv_.notify_all();
}

bool Watcher::Synced() const { return synced_.load(); }

uint64_t Watcher::Relists() const { return relists_.load(); }

namespace {

// Held by a watcher from its list request until its store holds the result:
// one list at a time in the process. Lists run at start and after a 410, so
// serializing them costs little time, and it keeps one watcher's records
// from being allocated between another's page buffers (a restart over 1000
// PricingEngines listed 12,000 children in five watchers at once).
std::mutex& ListGate() {
  static std::mutex gate;
  return gate;
}

}  // namespace

bool Watcher::List() {
  std::unique_lock gate(ListGate());
  ListOptions list_options;
  list_options.namespace_name = options_.namespace_name;
  list_options.label_selector = options_.label_selector;
  // Each item is cut down to what the store keeps as its page arrives: a
  // relist of thousands of Deployments never exists whole as parsed JSON.
  list_options.transform = [this](const nlohmann::json& object) { return store_.Project(object); };
  KubeResult<ListResult> list = client_.List(options_.resource, list_options);
  Progressed();
  if (!list) {
    gate.unlock();
    Backoff(list.error());
    return false;
  }
  failures_ = 0;
  resource_version_ = list->resource_version;
  // The parsed items are freed, and their heap handed back, before the store
  // allocates its records (Store::Staged).
  const Store::Staged staged = store_.Stage(list->items);
  list->items.clear();
  list->items.shrink_to_fit();
  ReleaseFreeMemory();  // what the pages parsed left behind
  // Objects the list no longer has come back with what the store held of
  // them, for their callbacks.
  const std::vector<std::pair<std::string, nlohmann::json>> vanished =
      store_.ReplaceStaged(staged, list->resource_version);
  gate.unlock();
  synced_.store(true);
  if (lists_++ > 0) {
    relists_.fetch_add(1);
    if (observer_.on_relist) observer_.on_relist();
  }
  if (on_change_) {
    for (const auto& [key, last] : vanished) on_change_(key, last, true);
    for (size_t i = 0; i < staged.size(); ++i) {
      on_change_(std::string(staged.Key(i)), staged.Object(i), false);
    }
  }
  return true;
}

Watcher::WatchOutcome Watcher::WatchOnce() {
  WatchOptions watch_options;
  watch_options.namespace_name = options_.namespace_name;
  watch_options.label_selector = options_.label_selector;
  watch_options.resource_version = resource_version_;
  watch_options.allow_bookmarks = true;
  // Jittered, as client-go's reflector does (its minimum to twice it), so
  // that watchers started together do not all re-open at the same moment.
  std::uniform_real_distribution<double> spread(1.0, 2.0);
  watch_options.timeout = std::chrono::seconds(static_cast<int64_t>(
      static_cast<double>(options_.watch_timeout.count()) * spread(random_)));
  watch_options.idle_timeout = options_.idle_timeout;
  KubeResult<std::unique_ptr<WatchStream>> opened = client_.Watch(options_.resource, watch_options);
  Progressed();
  if (!opened) {
    if (opened.error().kind == KubeError::Kind::kGone ||
        IsTooLargeResourceVersion(opened.error())) {
      if (observer_.on_error) observer_.on_error(opened.error());
      return WatchOutcome::kGone;
    }
    return Backoff(opened.error()) ? WatchOutcome::kFailed : WatchOutcome::kStopped;
  }
  std::unique_ptr<WatchStream> stream = std::move(*opened);
  {
    std::lock_guard lock(mu_);
    if (stopped_) return WatchOutcome::kStopped;
    stream_ = stream.get();
  }
  struct Unregister {
    Watcher* watcher;
    ~Unregister() {
      std::lock_guard lock(watcher->mu_);
      watcher->stream_ = nullptr;
    }
  } unregister{this};

  while (true) {
    KubeResult<std::optional<WatchEvent>> next = stream->Next();
    Progressed();
    if (Stopped()) return WatchOutcome::kStopped;
    if (!next) {
      if (IsTooLargeResourceVersion(next.error())) {
        if (observer_.on_error) observer_.on_error(next.error());
        return WatchOutcome::kGone;
      }
      return Backoff(next.error()) ? WatchOutcome::kFailed : WatchOutcome::kStopped;
    }
    if (!next->has_value()) return WatchOutcome::kEnded;
    const WatchEvent& event = **next;
    switch (event.type) {
      case WatchEvent::Type::kError: {
        const KubeError error = ErrorOfStatus(event.object);
        if (error.kind == KubeError::Kind::kGone) {
          if (observer_.on_error) observer_.on_error(error);
          return WatchOutcome::kGone;
        }
        return Backoff(error) ? WatchOutcome::kFailed : WatchOutcome::kStopped;
      }
      case WatchEvent::Type::kBookmark: {
        std::string rv = ResourceVersionOf(event.object);
        if (!rv.empty()) resource_version_ = std::move(rv);
        store_.Apply(event);
        failures_ = 0;
        break;
      }
      case WatchEvent::Type::kAdded:
      case WatchEvent::Type::kModified:
      case WatchEvent::Type::kDeleted: {
        std::string rv = ResourceVersionOf(event.object);
        if (!rv.empty()) resource_version_ = std::move(rv);
        // Only a watcher that skips unchanged events pays for telling them apart.
        bool changed = true;
        const std::string key =
            store_.Apply(event, options_.report_unchanged ? nullptr : &changed);
        failures_ = 0;
        if (!changed && !options_.report_unchanged) {
          skipped_.fetch_add(1);
          break;
        }
        if (on_change_) on_change_(key, event.object, event.type == WatchEvent::Type::kDeleted);
        break;
      }
    }
  }
}

bool Watcher::Backoff(const KubeError& error) {
  if (observer_.on_error) observer_.on_error(error);
  const int shift = std::min(failures_, 30);
  ++failures_;
  const double cap = std::min(static_cast<double>(options_.backoff_max.count()),
                              static_cast<double>(options_.backoff_initial.count()) *
                                  static_cast<double>(uint64_t{1} << shift));
  std::uniform_real_distribution<double> jitter(0.0, std::max(0.0, cap));
  auto delay = std::chrono::duration<double, std::milli>(jitter(random_));
  // The server said how long to wait (429, 503): never come back sooner.
  if (error.retry_after) {
    delay = std::max(delay, std::chrono::duration<double, std::milli>(*error.retry_after));
  }
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, delay, [this] { return stopped_; });
  Progressed();
  return !stopped_;
}

bool Watcher::Stopped() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

}  // namespace pricing::op
