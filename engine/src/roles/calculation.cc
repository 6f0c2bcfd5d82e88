#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "adapters/audit_spool.h"
#include "common/log.h"
#include "adapters/redis_activity.h"
#include "adapters/role_clients.h"
#include "adapters/thread_name.h"
#include "engine/activity.h"
#include "engine/service.h"
#include "roles/common.h"
#include "roles/roles.h"

namespace pricing::engine {

int ServeCalculation(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;
  auto data = OpenRoleClient(cfg.data_url, "data", 1, cfg.internal_timeout);
  auto audit_client = OpenRoleClient(cfg.audit_url, "audit", 1, cfg.internal_timeout);
  RemoteReferenceStore store(*data, cfg.internal_token);
  RemoteMarketData market(*data, cfg.internal_token);
  RedisParts redis = OpenRedis(cfg);
  auto replies = OpenReplyLedger(redis, metrics);  // outlives the audit spool

  // Audit: local spool (durable before a price is answered), drained to the
  // audit role.
  const std::string audit_dir = AuditDir(cfg);
  auto spool =
      OpenSpool(cfg, audit_dir, RemoteAuditSink(*audit_client, cfg.internal_token), metrics);

  // Active tickers and clients, for the cache role.
  ActivityTracker tracker(cfg.active_record_interval);
  ActivityRecordingSink recording(spool.get(), &tracker);
  std::unique_ptr<RedisActivityLog> activity;
  std::thread flusher;
  if (redis.pool) {
    activity = std::make_unique<RedisActivityLog>(*redis.pool);
    flusher = std::thread([&tracker, &clock, log = activity.get()] {
      NameThisThread("activity-flush");
      ThrottledLog failures(std::chrono::seconds(60));
      while (SleepUnlessStopped(std::chrono::seconds(1))) {
        if (auto ok = tracker.Flush(*log, clock.Now()); !ok) {
          failures.Warn("active tickers not recorded", {{"error", ok.error().message}});
        }
      }
    });
  }

  MetricsObserver observer(metrics);
  AuditSink* sink = activity ? static_cast<AuditSink*>(&recording) : spool.get();
  ServiceDeps deps = BaseDeps(&store, redis.cache.get(), redis.limiter.get(), &market, sink, &clock,
                              &observer, metrics);
  if (activity) {
    deps.rate_read = [&tracker, &clock](const std::string& ticker) {
      tracker.Note(kActiveTickers, ticker, clock.Now());
    };
  }
  deps.replies = replies.get();
  RedisPool* redis_raw = redis.pool.get();
  HttpClient* audit_raw = audit_client.get();
  const std::string token = cfg.internal_token;
  const AuditSpool* spool_raw = spool.get();
  deps.dependency_status = [redis_raw, audit_raw, spool_raw, token] {
    auto out = RedisStatus(redis_raw);
    // Reported, not required: the spool holds records while audit is away.
    out.push_back(
        {"audit", ProbeRole(*audit_raw, "/health/ready", token).has_value(), false, false});
    out.push_back(SpoolCheck(*spool_raw));
    return out;
  };
  ServiceOptions sopts = BaseOptions(cfg);
  sopts.internal_token = cfg.internal_token;
  PricingService service(deps, sopts);

  NamedThreadPool blocking(16, "blocking");
  CheckAuditHandoff(cfg);
  auto server = RunServer(
      cfg,
      WithAuditIntake(cfg, ServiceHandler(service, metrics, blocking), *spool, metrics, blocking),
      cfg.body_limit, [&](const std::string& listen) {
        Log(LogLevel::kInfo, "serving",
            {{"listen", listen},
             {"role", RoleName(cfg.role)},
             {"data", cfg.data_url},
             {"audit", cfg.audit_url},
             {"cache", redis.pool ? "redis" : "process"}});
      });
  blocking.join();
  if (flusher.joinable()) flusher.join();
  if (activity) (void)tracker.Flush(*activity, clock.Now());
  StopAuditSpool(cfg, *spool);
  audit_client->Close();
  data->Close();
  return 0;
}

}  // namespace pricing::engine
