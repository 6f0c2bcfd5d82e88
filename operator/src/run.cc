#include "run.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/kube_client.h"
#include "adapters/kubeconfig.h"
#include "common/log.h"
#include "adapters/operator_metrics.h"
#include "adapters/ops_server.h"
#include "adapters/tls_trust.h"
#include "adapters/volatility_reader.h"
#include "op/clock.h"
#include "op/run_options.h"
#include "runtime/controller.h"
#include "runtime/event_recorder.h"
#include "runtime/leader_elector.h"
#include "common/thread_name.h"

namespace pricing::op {
namespace {

constexpr std::string_view kControllerName = "pricingengine";
// The environment variable holding the `internal` API key the `engine`
// volatility source sends (mount it from a Secret).
constexpr const char* kEngineApiKeyVariable = "PRICING_OPERATOR_ENGINE_API_KEY";

std::string ErrorText(const Error& error) { return pricing::ToString(error); }

}  // namespace

int RunOperator(const std::vector<std::string>& args) {
  Result<RunOptions> parsed = ParseRunOptions(args);
  if (!parsed) {
    std::cerr << "pricing-operator: " << ToString(parsed.error()) << "\n";
    return 2;
  }
  const RunOptions& options = *parsed;
  if (options.help) {
    std::cout << RunUsageText();
    return 0;
  }
  SetLogOutput(STDERR_FILENO, "pricing-operator");
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(options.log_level, &level);
  SetLogLevel(level);
#ifdef __GLIBC__
  // glibc gives each thread that allocates its own arena (up to 8 per core),
  // and freed memory fragments across them; the operator's threads are mostly
  // idle network waits, so two arenas keep its resident size close to its data.
  ::mallopt(M_ARENA_MAX, 2);
  // A fixed threshold: response bodies and list pages of more than 128 KiB
  // are mapped and unmapped, never left in the heap (glibc would otherwise
  // raise the threshold after the first large free).
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
  // Before any thread: the system CA bundle is loaded only where it is trusted
  // (adapters/tls_trust.h).
  DeferDefaultCaBundle();

  // Every thread started from here on inherits the mask; the main thread
  // takes the signals with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Result<ClusterConfig> cluster = LoadClusterConfig(options.kubeconfig);
  if (!cluster) {
    Log(LogLevel::kError, "cannot load the cluster configuration",
        {{"error", ErrorText(cluster.error())}});
    return 1;
  }
  const std::string own_namespace = cluster->namespace_name;
  const std::string server = cluster->server;

  // The Lease's own client (client-go gives leader election a client of its
  // own too): its calls never wait behind the controllers' rate limit, and
  // none outlives the renew deadline.
  std::optional<ClusterConfig> lease_cluster;
  if (options.leader_elect) lease_cluster = *cluster;

  OperatorMetrics metrics;
  RestClientOptions rest;
  rest.qps = options.kube_api_qps;
  rest.burst = options.kube_api_burst;
  rest.on_request = [&metrics](std::string_view method, int code) {
    metrics.RestRequest(method, code);
  };
  Result<std::unique_ptr<RestKubeClient>> client =
      RestKubeClient::FromConfig(std::move(*cluster), rest);
  if (!client) {
    Log(LogLevel::kError, "cannot create the Kubernetes client",
        {{"error", ErrorText(client.error())}});
    return 1;
  }

  SystemClock clock;
  const std::string identity =
      options.identity.empty() ? DefaultLeaderIdentity() : options.identity;
  EventRecorder events(**client, clock, identity);

  VolatilityReaderOptions volatility_options;
  if (const char* key = std::getenv(kEngineApiKeyVariable)) volatility_options.engine_api_key = key;
  volatility_options.engine_key_over_http = options.volatility_engine_key_over_http;
  volatility_options.allow_http = options.volatility_allow_http;
  // Checked when the flags were parsed.
  volatility_options.allow = HostAllowList::Parse(options.volatility_allow).value();
  HttpVolatilityReader volatility(volatility_options);

  ControllerOptions controller_options;
  controller_options.namespace_name = options.namespace_name;
  controller_options.workers = options.workers;
  ControllerHooks hooks;
  hooks.queue.on_add = [&metrics] { metrics.QueueAdd(kControllerName); };
  hooks.queue.on_queue_seconds = [&metrics](double s) { metrics.QueueWait(kControllerName, s); };
  hooks.queue.on_work_seconds = [&metrics](double s) { metrics.QueueWork(kControllerName, s); };
  hooks.queue.on_retry = [&metrics] { metrics.QueueRetry(kControllerName); };
  hooks.watch_error = [](std::string_view resource, const KubeError& error) {
    Log(error.kind == KubeError::Kind::kGone ? LogLevel::kInfo : LogLevel::kWarn,
        "watch interrupted", {{"resource", resource}, {"error", error.message}});
  };
  hooks.reconciled = [&metrics](const std::string& key, std::string_view result, double seconds,
                                const KubeError* error) {
    metrics.RecordReconcile(kControllerName, result, seconds);
    if (error != nullptr) {
      metrics.RecordReconcileError(kControllerName);
      Log(LogLevel::kError, "reconcile failed; retrying with backoff",
          {{"pricingengine", key}, {"error", error->message}});
    } else {
      Log(LogLevel::kDebug, "reconciled", {{"pricingengine", key}});
    }
  };
  hooks.reconciler.child_applied = [&metrics](std::string_view kind) {
    metrics.ChildApplied(kind);
    Log(LogLevel::kDebug, "child applied", {{"kind", kind}});
  };
  hooks.reconciler.policy_transition = [&metrics](std::string_view kind) {
    metrics.PolicyTransition(kind);
  };
  hooks.reconciler.time_to_scale = [&metrics](std::string_view component, int64_t seconds) {
    metrics.TimeToScale(component, static_cast<double>(seconds));
  };
  Controller controller(**client, clock, events, &volatility, controller_options, hooks);

  std::atomic<bool> leading{!options.leader_elect};
  OpsServer::Handlers handlers;
  // Healthy while every worker and watcher makes progress: a stuck one is
  // what a restart mends (a standby's controller is not running: healthy).
  auto unhealthy_log = std::make_shared<std::atomic<int64_t>>(0);
  handlers.healthy = [&controller, unhealthy_log] {
    const std::string problem = controller.Unhealthy();
    if (problem.empty()) return true;
    const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    const int64_t every = std::chrono::steady_clock::duration(std::chrono::seconds(30)).count();
    if (now - unhealthy_log->load() > every) {
      unhealthy_log->store(now);
      Log(LogLevel::kError, "not healthy", {{"reason", problem}});
    }
    return false;
  };
  if (!options.metrics_bearer_token_file.empty()) {
    std::ifstream in(options.metrics_bearer_token_file);
    std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
    if (!in.good() && !in.eof()) token.clear();
    if (token.empty()) {
      Log(LogLevel::kError, "cannot read the metrics token",
          {{"flag", "--metrics-bearer-token-file"}, {"file", options.metrics_bearer_token_file}});
      return 1;
    }
    handlers.metrics_token = std::move(token);
  }
  // A standby is ready (it has nothing to sync); the leader once its caches are.
  handlers.ready = [&] { return !leading.load() || controller.Synced(); };
  handlers.metrics = [&metrics, &controller] {
    // workqueue_depth is counted here, at the scrape, rather than on every
    // add and hand-out (a relist of N engines would walk the queue N times).
    metrics.QueueDepth(kControllerName, controller.queue().ReadyLen());
    return metrics.Text();
  };
  std::vector<std::unique_ptr<OpsServer>> servers;
  for (const std::string& address : {options.health_addr, options.metrics_addr}) {
    if (address == "0" || address.empty()) continue;
    if (!servers.empty() && address == options.health_addr) continue;  // same address: one server
    auto s = std::make_unique<OpsServer>(address, handlers);
    Result<int> port = s->Start();
    if (!port) {
      Log(LogLevel::kError, "cannot serve", {{"address", address}, {"error", ErrorText(port.error())}});
      return 1;
    }
    Log(LogLevel::kInfo, "serving", {{"address", address}, {"port", std::to_string(*port)}});
    servers.push_back(std::move(s));
  }

  Log(LogLevel::kInfo, "starting",
      {{"server", server},
       {"namespace", options.namespace_name.empty() ? "(all)" : options.namespace_name},
       {"identity", identity},
       {"leaderElection", options.leader_elect ? "true" : "false"},
       {"workers", std::to_string(options.workers)}});

  std::unique_ptr<RestKubeClient> lease_client;
  std::unique_ptr<LeaderElector> elector;
  std::thread elector_thread;
  if (options.leader_elect) {
    LeaderElectionConfig config;
    config.namespace_name = options.leader_election_namespace.empty()
                                ? own_namespace
                                : options.leader_election_namespace;
    config.lease_name = options.leader_election_id;
    config.identity = identity;
    config.lease_duration = options.lease_duration;
    config.renew_deadline = options.renew_deadline;
    config.retry_period = options.retry_period;
    if (Result<void> valid = ValidateLeaderElectionConfig(config); !valid) {
      Log(LogLevel::kError, "bad leader election settings", {{"error", ErrorText(valid.error())}});
      return 2;
    }
    // An attempt makes two requests (Get, then Update or Create) every
    // retry period; a bucket of its own lets it make them at once.
    RestClientOptions lease_rest;
    lease_rest.qps =
        std::max(5.0, 4.0 / std::chrono::duration<double>(config.retry_period).count());
    lease_rest.burst = 10;
    lease_rest.timeout = std::chrono::ceil<std::chrono::seconds>(config.renew_deadline);
    lease_rest.user_agent = "pricing-operator/leader-election";
    lease_rest.on_request = rest.on_request;
    Result<std::unique_ptr<RestKubeClient>> made =
        RestKubeClient::FromConfig(std::move(*lease_cluster), lease_rest);
    if (!made) {
      Log(LogLevel::kError, "cannot create the Kubernetes client",
          {{"error", ErrorText(made.error())}});
      return 1;
    }
    lease_client = std::move(*made);
    metrics.SetLeader(options.leader_election_id, false);
    const std::string lease = config.namespace_name + "/" + config.lease_name;
    elector = std::make_unique<LeaderElector>(
        *lease_client, clock, config,
        [&, lease] {
          Log(LogLevel::kInfo, "became the leader; starting the controller", {{"lease", lease}});
          leading.store(true);
          controller.Start();
        },
        [lease] {
          // At once, as controller-runtime does: another replica may take the
          // Lease from now on, so nothing is finished, drained or released.
          Log(LogLevel::kError, "lost the lease; exiting", {{"lease", lease}});
          std::_Exit(1);
        },
        [&metrics, id = options.leader_election_id](bool leader) { metrics.SetLeader(id, leader); },
        [lease](const LeaseFailure& failure) {
          const std::string repeated = std::to_string(failure.repeated);
          Log(LogLevel::kWarn,
              failure.leading ? "cannot renew the lease" : "cannot acquire the lease",
              {{"lease", lease},
               {"error", failure.error.message},
               {"unreportedRepeats", repeated}});
        });
    Log(LogLevel::kInfo, "waiting for the lease", {{"lease", lease}});
    elector_thread = std::thread([&elector] {
      NameThisThread("leader-elect");
      elector->Run();
    });
  } else {
    controller.Start();
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  Log(LogLevel::kInfo, "shutting down", {{"signal", strsignal(signal_number)}});
  // Stop writing before the Lease is released, so that the next leader never
  // overlaps with this one.
  controller.Stop();
  if (elector) {
    elector->Stop();
    elector_thread.join();
  }
  for (std::unique_ptr<OpsServer>& s : servers) s->Stop();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace pricing::op
