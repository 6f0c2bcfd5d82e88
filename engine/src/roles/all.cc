#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/audit_spool.h"
#include "common/log.h"
#include "adapters/pg_store.h"
#include "adapters/thread_name.h"
#include "engine/service.h"
#include "roles/common.h"
#include "roles/roles.h"

namespace pricing::engine {

int ServeAll(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;
  StoreParts store = OpenStore(cfg, metrics);
  RedisParts redis = OpenRedis(cfg);
  auto replies = OpenReplyLedger(redis, metrics);  // outlives the audit spool
  auto market = OpenMarket(cfg, metrics);

  // Audit: local spool, drained to PostgreSQL (or to a local JSONL file).
  const std::string audit_dir = AuditDir(cfg);
  std::unique_ptr<FileAuditStore> file_audit;
  AuditBatchSink sink;
  if (store.pg) {
    PgPool* raw = store.pg.get();
    sink = [raw](const std::vector<AuditRecord>& batch) { return InsertAuditBatch(*raw, batch); };
  } else {
    auto f = FileAuditStore::Open(audit_dir + "/audit-log.jsonl");
    if (!f) Die("audit: " + f.error().message);
    file_audit = std::move(*f);
    FileAuditStore* raw = file_audit.get();
    sink = [raw](const std::vector<AuditRecord>& batch) { return raw->InsertBatch(batch); };
    Log(LogLevel::kInfo, "embedded mode: audit records go to a local file",
        {{"file", audit_dir + "/audit-log.jsonl"}});
  }
  auto spool = OpenSpool(cfg, audit_dir, std::move(sink), metrics);

  MetricsObserver observer(metrics);
  ServiceDeps deps = BaseDeps(store.store.get(), redis.cache.get(), redis.limiter.get(),
                              market.get(), spool.get(), &clock, &observer, metrics);
  deps.replies = replies.get();
  RedisPool* redis_raw = redis.pool.get();
  const AuditSpool* spool_raw = spool.get();
  deps.dependency_status = [redis_raw, spool_raw] {
    auto out = RedisStatus(redis_raw);
    out.push_back(SpoolCheck(*spool_raw));
    return out;
  };
  PricingService service(deps, BaseOptions(cfg));

  // Requests that would block run here, never on an event loop.
  NamedThreadPool blocking(16, "blocking");
  CheckAuditHandoff(cfg);
  auto server = RunServer(
      cfg,
      WithAuditIntake(cfg, ServiceHandler(service, metrics, blocking), *spool, metrics, blocking),
      cfg.body_limit, [&](const std::string& listen) {
        Log(LogLevel::kInfo, "serving",
            {{"listen", listen},
             {"role", RoleName(cfg.role)},
             {"store", store.pg ? "postgresql" : "memory"},
             {"cache", redis.pool ? "redis" : "process"}});
      });
  blocking.join();
  StopAuditSpool(cfg, *spool);
  return 0;
}

}  // namespace pricing::engine
