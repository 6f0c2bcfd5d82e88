#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/audit_spool.h"
#include "common/log.h"
#include "adapters/pg_store.h"
#include "adapters/thread_name.h"
#include "engine/internal_api.h"
#include "roles/common.h"
#include "roles/roles.h"

namespace pricing::engine {

int ServeAudit(const EngineConfig& cfg) {
  Metrics metrics;
  auto pg = OpenPostgres(cfg, metrics);
  auto store = std::make_shared<PgReferenceStore>(*pg);
  PgPool* raw = pg.get();
  auto api = std::make_shared<AuditApi>(
      [](std::string_view line) { return ParseAuditRecord(line); },
      [raw](const std::vector<AuditRecord>& batch) { return InsertAuditBatch(*raw, batch); },
      cfg.internal_token);
  RoleRoutes routes;
  // Batches it cannot store stay in the caller's spool: not ready at once.
  routes.checks = [store] { return std::vector<Check>{{"postgresql", store->Ping().has_value()}}; };
  routes.owns = [](std::string_view path) { return path == kAuditBatchPath; };
  routes.handle = [api](const ApiRequest& req) { return api->Handle(req); };
  // Batches of the spool (hundreds of records) exceed the client API's limit.
  constexpr size_t kBatchLimit = 32u << 20;
  NamedThreadPool blocking(8, "blocking");
  auto server =
      RunServer(cfg, RoleHandler(std::move(routes), "audit", cfg.stale_limit, metrics, blocking),
                std::max(cfg.body_limit, kBatchLimit), [&](const std::string& listen) {
                  Log(LogLevel::kInfo, "serving",
                      {{"listen", listen}, {"role", RoleName(cfg.role)}, {"store", "postgresql"}});
                });
  blocking.join();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace pricing::engine
