#include "op/run_options.h"

#include "op/host_allowlist.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "op/host_allowlist.h"
#include "op/time_text.h"

namespace pricing::op {

namespace {

Result<int> ParseInt(std::string_view flag, std::string_view text, int low, int high) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high) {
    return Fail("", "run: " + std::string(flag) + " wants an integer from " +
                        std::to_string(low) + " to " + std::to_string(high) + ", not \"" +
                        std::string(text) + "\"");
  }
  return value;
}

Result<std::chrono::nanoseconds> ParsePositiveDuration(std::string_view flag, std::string_view text) {
  const std::optional<std::chrono::nanoseconds> d = ParseDuration(text);
  if (!d || d->count() <= 0) {
    return Fail("", "run: " + std::string(flag) + " wants a duration such as 15s or 1m30s, not \"" +
                        std::string(text) + "\"");
  }
  return *d;
}

}  // namespace

std::string_view RunUsageText() {
  return R"(Usage: pricing-operator run [flags]

Runs the PricingEngine controller. Without --kubeconfig it uses $KUBECONFIG,
else the in-cluster service account (when KUBERNETES_SERVICE_HOST is set).

  --kubeconfig FILE                 kubeconfig to use
  --namespace NS                    watch only NS (default: every namespace)
  --leader-elect                    run only while holding the Lease (for replicas > 1)
  --leader-election-namespace NS    namespace of the Lease (default: the pod's or the context's)
  --leader-election-id NAME         name of the Lease (default pricing-operator)
  --lease-duration D                default 15s
  --renew-deadline D                default 10s
  --retry-period D                  default 2s
  --metrics-addr ADDR               /metrics listen address (default :8080; 0 disables)
  --health-addr ADDR                /healthz and /readyz listen address (default :8081; 0 disables)
  --workers N                       concurrent reconciles (default 2)
  --kube-api-qps Q                  client-side request rate limit (default 20)
  --kube-api-burst B                client-side burst (default 30)
  --identity ID                     leader-election identity (default: hostname and a random suffix)
  --log-level LEVEL                 debug, info, warn or error (default info)
  --metrics-bearer-token-file F     /metrics answers only "Authorization: Bearer <token>",
                                    the token being F's content (default: open)
  --volatility-allow LIST           hosts (name, .domain) and networks (CIDR) that url and
                                    prometheus volatility sources may name; repeatable
                                    (default: none)
  --volatility-allow-http           let those sources use http, not only https
  --volatility-engine-key-over-http send the engine API key to the engine Services the
                                    operator manages over plain HTTP (the engine source)
)";
}

Result<RunOptions> ParseRunOptions(const std::vector<std::string>& args) {
  RunOptions o;
  using Setter = std::function<Result<void>(std::string_view)>;
  const auto text_flag = [](std::string* out) -> Setter {
    return [out](std::string_view v) -> Result<void> {
      *out = std::string(v);
      return {};
    };
  };
  const auto duration_flag = [](std::string_view flag, std::chrono::nanoseconds* out) -> Setter {
    return [flag, out](std::string_view v) -> Result<void> {
      Result<std::chrono::nanoseconds> d = ParsePositiveDuration(flag, v);
      if (!d) return std::unexpected(d.error());
      *out = *d;
      return {};
    };
  };
  const std::map<std::string, Setter, std::less<>> with_value = {
      {"--kubeconfig", text_flag(&o.kubeconfig)},
      {"--namespace", text_flag(&o.namespace_name)},
      {"--leader-election-namespace", text_flag(&o.leader_election_namespace)},
      {"--leader-election-id", text_flag(&o.leader_election_id)},
      {"--lease-duration", duration_flag("--lease-duration", &o.lease_duration)},
      {"--renew-deadline", duration_flag("--renew-deadline", &o.renew_deadline)},
      {"--retry-period", duration_flag("--retry-period", &o.retry_period)},
      {"--metrics-addr", text_flag(&o.metrics_addr)},
      {"--health-addr", text_flag(&o.health_addr)},
      {"--identity", text_flag(&o.identity)},
      {"--metrics-bearer-token-file", text_flag(&o.metrics_bearer_token_file)},
      {"--volatility-allow",
       [&o](std::string_view v) -> Result<void> {
         Result<HostAllowList> checked = HostAllowList::Parse({std::string(v)});
         if (!checked) return Fail("", "run: " + checked.error().message);
         o.volatility_allow.emplace_back(v);
         return {};
       }},
      {"--log-level",
       [&o](std::string_view v) -> Result<void> {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") {
           return Fail("", "run: --log-level wants debug, info, warn or error, not \"" +
                               std::string(v) + "\"");
         }
         o.log_level = std::string(v);
         return {};
       }},
      {"--workers",
       [&o](std::string_view v) -> Result<void> {
         Result<int> n = ParseInt("--workers", v, 1, 64);
         if (!n) return std::unexpected(n.error());
         o.workers = *n;
         return {};
       }},
      {"--kube-api-burst",
       [&o](std::string_view v) -> Result<void> {
         Result<int> n = ParseInt("--kube-api-burst", v, 1, 10000);
         if (!n) return std::unexpected(n.error());
         o.kube_api_burst = *n;
         return {};
       }},
      {"--kube-api-qps",
       [&o](std::string_view v) -> Result<void> {
         double q = 0;
         const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), q);
         if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(q) || q <= 0 ||
             q > 10000) {
           return Fail("", "run: --kube-api-qps wants a number above 0 and at most 10000, not \"" +
                               std::string(v) + "\"");
         }
         o.kube_api_qps = q;
         return {};
       }},
  };
  // Flags that may be given more than once, each adding to the list.
  const std::set<std::string, std::less<>> repeatable = {"--volatility-allow"};
  std::map<std::string, bool, std::less<>> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      continue;
    }
    if (arg == "--leader-elect" || arg == "--leader-elect=true") {
      o.leader_elect = true;
      continue;
    }
    if (arg == "--leader-elect=false") {
      o.leader_elect = false;
      continue;
    }
    if (arg == "--volatility-allow-http") {
      o.volatility_allow_http = true;
      continue;
    }
    if (arg == "--volatility-engine-key-over-http") {
      o.volatility_engine_key_over_http = true;
      continue;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const auto it = with_value.find(name);
    if (it == with_value.end()) {
      return Fail("", "run: unknown flag \"" + std::string(arg) + "\" (see run --help)");
    }
    if (seen[std::string(name)] && !repeatable.contains(name)) {
      return Fail("", "run: " + std::string(name) + " is given twice");
    }
    seen[std::string(name)] = true;
    if (!value) {
      if (i + 1 >= args.size()) return Fail("", "run: " + std::string(name) + " needs a value");
      value = args[++i];
    }
    if (Result<void> r = it->second(*value); !r) return std::unexpected(r.error());
  }
  if (o.renew_deadline >= o.lease_duration) {
    return Fail("", "run: --renew-deadline must be shorter than --lease-duration");
  }
  if (o.retry_period >= o.renew_deadline) {
    return Fail("", "run: --retry-period must be shorter than --renew-deadline");
  }
  return o;
}

}  // namespace pricing::op
