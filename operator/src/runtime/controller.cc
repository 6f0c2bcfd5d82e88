#include "runtime/controller.h"

#include <chrono>
#include <string>
#include <utility>

#include "op/children.h"
#include "runtime/free_memory.h"
#include "common/thread_name.h"

namespace pricing::op {

using nlohmann::json;

std::string OwnerKeyOf(const json& child) {
  if (!child.is_object() || !child.contains("metadata")) return "";
  const json& meta = child["metadata"];
  if (!meta.is_object() || !meta.contains("ownerReferences") ||
      !meta["ownerReferences"].is_array()) {
    return "";
  }
  const std::string ns = meta.value("namespace", "");
  for (const json& ref : meta["ownerReferences"]) {
    if (!ref.is_object() || !ref.value("controller", false)) continue;
    if (ref.value("kind", "") != kKind) continue;
    const std::string api_version = ref.value("apiVersion", "");
    if (api_version.rfind(kPricingEngines.group + "/", 0) != 0) continue;
    const std::string name = ref.value("name", "");
    if (name.empty() || ns.empty()) return "";
    return ns + "/" + name;
  }
  return "";
}

Controller::Controller(KubeClient& client, const Clock& clock, EventRecorder& events,
                       VolatilityReader* volatility, ControllerOptions options,
                       ControllerHooks hooks)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      queue_(clock, options_.backoff, hooks_.queue),
      reconciler_(client, clock,
                  ReconcilerStores{&engines_, &deployments_, &services_, &hpas_, &pdbs_}, events,
                  volatility, hooks_.reconciler) {
  const auto watcher = [this](const Resource& resource, Store& store, std::string selector,
                              Watcher::OnChange on_change) {
    WatcherOptions wo;
    wo.resource = resource;
    wo.namespace_name = options_.namespace_name;
    wo.label_selector = std::move(selector);
    wo.watch_timeout = options_.watch_timeout;
    wo.idle_timeout = options_.idle_timeout;
    // A child's event that changes nothing the reconciler reads (an HPA's
    // status rewritten with new metric readings every 15 s) wakes no one.
    wo.report_unchanged = resource == kPricingEngines;
    WatcherObserver observer;
    if (hooks_.watch_error) {
      observer.on_error = [this, plural = resource.plural](const KubeError& error) {
        hooks_.watch_error(plural, error);
      };
    }
    watchers_.push_back(std::make_unique<Watcher>(client_, store, std::move(wo),
                                                  std::move(on_change), std::move(observer)));
  };
  watcher(kPricingEngines, engines_, "",
          [this](const std::string& key, const json&, bool deleted) { OnEngine(key, deleted); });
  for (auto [resource, store] :
       {std::pair<const Resource*, Store*>{&kDeployments, &deployments_},
        {&kServices, &services_},
        {&kHorizontalPodAutoscalers, &hpas_},
        {&kPodDisruptionBudgets, &pdbs_}}) {
    // Keys of different kinds may coincide ("ns/desk-api" is a Deployment
    // and a Service), so the owner map is keyed by plural too.
    watcher(*resource, *store, std::string(kManagedBySelector),
            [this, plural = resource->plural](const std::string& key, const json& object,
                                              bool deleted) {
              OnChild(object, plural + "/" + key, deleted);
            });
  }
}

Controller::~Controller() { Stop(); }

void Controller::OnEngine(const std::string& key, bool deleted) {
  if (deleted) {
    reconciler_.Forget(kPricingEngines.plural + "/" + key);
  } else {
    reconciler_.Observed(kPricingEngines.plural + "/" + key);
  }
  queue_.Add(key);
}

void Controller::OnChild(const json& object, const std::string& key, bool deleted) {
  // A deleted child comes with its last state, so its owner is known then too.
  if (deleted) {
    reconciler_.Forget(key);
  } else {
    reconciler_.Observed(key);
  }
  const std::string owner = OwnerKeyOf(object);
  if (!owner.empty()) queue_.Add(owner);
}

void Controller::Start() {
  if (running_.exchange(true) || stopped_.load()) return;
  for (const std::unique_ptr<Watcher>& w : watchers_) {
    threads_.emplace_back([w = w.get()] {
      NameThisThread("watch-" + w->resource().plural);
      w->Run();
    });
  }
  const int workers = options_.workers < 1 ? 1 : options_.workers;
  busy_since_ = std::make_unique<std::atomic<int64_t>[]>(static_cast<size_t>(workers));
  for (int i = 0; i < workers; ++i) {
    threads_.emplace_back([this, i] {
      NameThisThread("worker-" + std::to_string(i));
      Work(busy_since_[static_cast<size_t>(i)]);
    });
  }
}

void Controller::Stop() {
  if (stopped_.exchange(true)) return;
  for (const std::unique_ptr<Watcher>& w : watchers_) w->Stop();
  queue_.ShutDown();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  running_.store(false);
}

bool Controller::Synced() const {
  for (const std::unique_ptr<Watcher>& w : watchers_) {
    if (!w->Synced()) return false;
  }
  return true;
}

std::string Controller::Unhealthy() const {
  if (!running_.load() || stopped_.load()) return "";
  const auto now = std::chrono::steady_clock::now();
  const auto seconds = [](std::chrono::steady_clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
  };
  const int workers = options_.workers < 1 ? 1 : options_.workers;
  for (int i = 0; i < workers; ++i) {
    const int64_t since = busy_since_[static_cast<size_t>(i)].load();
    if (since == 0) continue;
    const auto busy = now - std::chrono::steady_clock::time_point(
                                std::chrono::steady_clock::duration(since));
    if (busy > options_.stuck_after) {
      return "worker-" + std::to_string(i) + " has been in one reconcile for " + seconds(busy);
    }
  }
  for (const std::unique_ptr<Watcher>& w : watchers_) {
    const auto quiet = now - w->LastProgress();
    if (quiet > options_.stuck_after) {
      return "watch-" + w->resource().plural + " has not heard from the API server for " +
             seconds(quiet);
    }
  }
  return "";
}

void Controller::Work(std::atomic<int64_t>& busy_since) {
  // Wait for every cache to be listed once.
  while (!Synced()) {
    if (queue_.ShuttingDown()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  while (std::optional<std::string> key = queue_.Get()) {
    const auto started = std::chrono::steady_clock::now();
    busy_since.store(started.time_since_epoch().count());
    KubeResult<ReconcileOutcome> outcome = reconciler_.Reconcile(*key);
    busy_since.store(0);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (outcome) {
      queue_.Forget(*key);
      if (outcome->requeue_after) queue_.AddAfter(*key, *outcome->requeue_after);
      if (hooks_.reconciled) {
        hooks_.reconciled(*key, outcome->requeue_after ? "requeue_after" : "success", seconds,
                          nullptr);
      }
    } else {
      // A server that said how long to wait (429, 503) is not asked sooner.
      queue_.AddRateLimited(*key, outcome.error().retry_after.value_or(std::chrono::seconds(0)));
      if (hooks_.reconciled) hooks_.reconciled(*key, "error", seconds, &outcome.error());
    }
    queue_.Done(*key);
    reconciles_.fetch_add(1);
    const std::optional<TimePoint> next = queue_.NextReadyAt();
    if (!next || *next > clock_.Now()) ReleaseAfterBurst();  // nothing ready: the burst is over
  }
}

void Controller::ReleaseAfterBurst() {
  // Once the queue runs dry after 100 or more reconciles (a start, a relist,
  // a policy boundary for every PricingEngine), at most every 10 s.
  const int64_t done = reconciles_.load();
  std::lock_guard lock(release_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (done - reconciles_at_release_ < 100 || now - released_at_ < std::chrono::seconds(10)) return;
  reconciles_at_release_ = done;
  released_at_ = now;
  ReleaseFreeMemory();
}

}  // namespace pricing::op
