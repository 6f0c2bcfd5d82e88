#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "adapters/redis_activity.h"
#include "adapters/role_clients.h"
#include "adapters/thread_name.h"
#include "engine/cache_warmer.h"
#include "roles/common.h"
#include "roles/roles.h"

namespace pricing::engine {

int ServeCache(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;
  auto data = OpenRoleClient(cfg.data_url, "data", 1, cfg.internal_timeout);
  RemoteReferenceStore store(*data, cfg.internal_token);
  RemoteMarketData market(*data, cfg.internal_token);
  RedisParts redis = OpenRedis(cfg);
  RedisActivityLog activity(*redis.pool);
  RedisCacheExpiry expiry(*redis.pool);

  CacheWarmer::Deps wdeps;
  wdeps.activity = &activity;
  wdeps.expiry = &expiry;
  wdeps.cache = redis.cache.get();
  wdeps.store = &store;
  wdeps.market = &market;
  wdeps.count = [&metrics](std::string_view op, int64_t n) { metrics.RecordCacheOperation(op, n); };
  CacheWarmerOptions wopts;
  wopts.interval = cfg.cache_refresh_interval;
  wopts.window = cfg.active_window;
  CacheWarmer warmer(wdeps, wopts);
  std::thread worker([&warmer, &clock, interval = cfg.cache_refresh_interval] {
    NameThisThread("cache-refresh");
    ThrottledLog failures(std::chrono::seconds(60));
    do {
      auto report = warmer.RunOnce(clock.Now());
      if (!report) {
        failures.Warn("cache not refreshed", {{"error", report.error().message}});
      } else if (report->failed > 0) {
        failures.Warn("cache entries not refreshed",
                      {{"failed", std::to_string(report->failed)},
                       {"refreshed", std::to_string(report->refreshed)}});
      }
    } while (SleepUnlessStopped(interval));
  });

  RedisPool* redis_raw = redis.pool.get();
  RoleRoutes routes;
  routes.checks = [redis_raw, &store] {
    return std::vector<Check>{{"redis", redis_raw->Ping().has_value()},
                              {"reference_store", store.Ping().has_value(), true, true}};
  };
  NamedThreadPool blocking(4, "blocking");
  auto server =
      RunServer(cfg, RoleHandler(std::move(routes), "cache", cfg.stale_limit, metrics, blocking),
                cfg.body_limit, [&](const std::string& listen) {
                  Log(LogLevel::kInfo, "serving",
                      {{"listen", listen},
                       {"role", RoleName(cfg.role)},
                       {"data", cfg.data_url},
                       {"interval_s", std::to_string(cfg.cache_refresh_interval.count())},
                       {"window_s", std::to_string(cfg.active_window.count())}});
                });
  blocking.join();
  worker.join();
  data->Close();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace pricing::engine
