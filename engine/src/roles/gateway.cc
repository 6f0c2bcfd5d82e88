#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "adapters/role_clients.h"
#include "adapters/thread_name.h"
#include "engine/internal_api.h"
#include "engine/service.h"
#include "roles/common.h"
#include "roles/roles.h"

namespace pricing::engine {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The gateway prices nothing: its service forwards every admitted request, so
// its audit sink is never reached.
class NoAuditSink : public AuditSink {
 public:
  void Append(AuditRecord, std::function<void(Result<void>)> done) override {
    done(Fail(ErrorCode::kServiceUnavailable, "this role keeps no audit trail"));
  }
  int64_t Pending() const override { return 0; }
};

int EventLoops(const EngineConfig& cfg) {
  return cfg.threads > 0 ? cfg.threads
                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

int ServeGateway(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;
  const int loops = EventLoops(cfg);
  auto data = OpenRoleClient(cfg.data_url, "data", 1, cfg.internal_timeout);
  // One client loop per server loop: measured faster than a single loop.
  auto calculation =
      OpenRoleClient(cfg.calculation_url, "calculation", loops, cfg.upstream_timeout);
  RemoteReferenceStore store(*data, cfg.internal_token);
  RedisParts redis = OpenRedis(cfg);
  HttpMarketDataOptions no_apis;
  auto market = HttpMarketData::Create(no_apis);
  if (!market) Die("market data: " + market.error().message);
  NoAuditSink no_audit;
  MetricsObserver observer(metrics);
  // Keys are cached in-process only, so the gateway needs no shared cache.
  ServiceDeps deps = BaseDeps(&store, nullptr, redis.limiter.get(), market->get(), &no_audit,
                              &clock, &observer, metrics);
  RedisPool* redis_raw = redis.pool.get();
  HttpClient* calc = calculation.get();
  const std::string token = cfg.internal_token;
  deps.dependency_status = [redis_raw, calc, token] {
    auto out = RedisStatus(redis_raw);
    // Reported, not required: while calculation is away the gateway stays in
    // service and answers 503 itself, rather than vanishing from the Service.
    out.push_back(
        {"calculation", ProbeRole(*calc, "/health/live", token).has_value(), false, false});
    return out;
  };
  auto upstream_log = std::make_shared<ThrottledLog>(std::chrono::seconds(5));
  deps.forward = [calc, token, upstream_log](const ApiRequest& req, const ApiKey& key,
                                             Headers rate_headers,
                                             std::function<void(ApiResponse)> done) {
    HttpClientRequest up;
    up.method = req.method;
    up.target = TargetWithQuery(req.path, req.query);
    up.headers = ForwardHeaders(req, key, token);
    up.body = req.body;
    calc->Send(std::move(up), [rate_headers = std::move(rate_headers), done = std::move(done),
                               upstream_log](Result<HttpClientResponse> r) mutable {
      ApiResponse out;
      if (!r || r->status == 401) {
        // 401 from calculation means it refused the gateway's token (a
        // misconfiguration), not the client's key.
        const std::string detail = r ? "calculation refused the internal token" : r.error().message;
        upstream_log->Warn("calculation unavailable", {{"error", detail}});
        out = PricingService::ErrorResponse(
            Error{ErrorCode::kServiceUnavailable,
                  "the calculation service is unavailable; retry later", ""});
      } else {
        out.status = r->status;
        out.body = std::move(r->body);
        if (std::string_view ct = r->Header("content-type"); !ct.empty()) out.content_type = ct;
        for (auto& [name, value] : r->headers) {
          if (IsForwardedResponseHeader(name)) out.headers.emplace_back(name, std::move(value));
        }
      }
      out.headers.insert(out.headers.end(), std::make_move_iterator(rate_headers.begin()),
                         std::make_move_iterator(rate_headers.end()));
      done(std::move(out));
    });
  };
  PricingService service(deps, BaseOptions(cfg));

  NamedThreadPool blocking(16, "blocking");
  auto server = RunServer(cfg, ServiceHandler(service, metrics, blocking), cfg.body_limit,
                          [&](const std::string& listen) {
                            Log(LogLevel::kInfo, "serving",
                                {{"listen", listen},
                                 {"role", RoleName(cfg.role)},
                                 {"calculation", cfg.calculation_url},
                                 {"data", cfg.data_url},
                                 {"rate_limits", redis.pool ? "redis" : "process"}});
                          });
  blocking.join();
  calculation->Close();
  data->Close();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace pricing::engine
