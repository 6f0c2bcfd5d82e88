#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/log.h"
#include "adapters/thread_name.h"
#include "engine/internal_api.h"
#include "roles/common.h"
#include "roles/roles.h"

namespace pricing::engine {

int ServeData(const EngineConfig& cfg) {
  Metrics metrics;
  StoreParts store = OpenStore(cfg, metrics);
  auto market = OpenMarket(cfg, metrics);
  auto api = std::make_shared<DataApi>(store.store.get(), market.get(), cfg.internal_token);
  ReferenceStore* raw = store.store.get();
  RoleRoutes routes;
  routes.checks = [raw] {
    // Its callers cache what it served them, so an outage is degraded first.
    return std::vector<Check>{{"reference_store", raw->Ping().has_value(), true, true}};
  };
  routes.owns = [](std::string_view path) { return DataApi::Owns(path); };
  routes.handle = [api](const ApiRequest& req) { return api->Handle(req); };
  NamedThreadPool blocking(16, "blocking");
  auto server =
      RunServer(cfg, RoleHandler(std::move(routes), "data", cfg.stale_limit, metrics, blocking),
                cfg.body_limit, [&](const std::string& listen) {
                  Log(LogLevel::kInfo, "serving",
                      {{"listen", listen},
                       {"role", RoleName(cfg.role)},
                       {"store", store.pg ? "postgresql" : "memory"}});
                });
  blocking.join();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace pricing::engine
