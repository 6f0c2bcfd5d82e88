// The flags of `pricing-operator run` (docs/design.md §3.6), parsed without I/O.
//
//   pricing-operator run [--kubeconfig FILE] [--namespace NS] [--leader-elect]
//       [--leader-election-namespace NS] [--leader-election-id NAME]
//       [--lease-duration 15s] [--renew-deadline 10s] [--retry-period 2s]
//       [--metrics-addr :8080] [--health-addr :8081] [--workers 2]
//       [--kube-api-qps 20] [--kube-api-burst 30] [--identity ID] [--log-level info]
//       [--volatility-allow HOSTS|CIDRS]... [--volatility-allow-http]
//       [--volatility-engine-key-over-http] [--metrics-bearer-token-file FILE]
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "op/error.h"

namespace pricing::op {

struct RunOptions {
  std::string kubeconfig;       // "": $KUBECONFIG, else in-cluster config
  std::string namespace_name;   // "": watch every namespace
  bool leader_elect = false;
  std::string leader_election_namespace;  // "": the namespace of the operator's pod / kubeconfig
  std::string leader_election_id = "pricing-operator";
  std::chrono::nanoseconds lease_duration = std::chrono::seconds(15);
  std::chrono::nanoseconds renew_deadline = std::chrono::seconds(10);
  std::chrono::nanoseconds retry_period = std::chrono::seconds(2);
  std::string metrics_addr = ":8080";  // "0" disables the endpoint
  std::string health_addr = ":8081";   // "0" disables the endpoint
  int workers = 2;                     // 1..64
  double kube_api_qps = 20;            // > 0
  int kube_api_burst = 30;             // >= 1
  std::string identity;                // "": hostname and a random suffix
  std::string log_level = "info";      // debug|info|warn|error
  // Volatility sources (docs/design.md §3.5a): the allowed hosts and networks of
  // url and prometheus sources (op/host_allowlist.h entries), whether they
  // may use http, and whether the engine source may send its key in clear.
  std::vector<std::string> volatility_allow;
  bool volatility_allow_http = false;
  bool volatility_engine_key_over_http = false;
  // A file holding the bearer token /metrics requires; "" = /metrics is open.
  std::string metrics_bearer_token_file;
  bool help = false;
};

// Parses the arguments after "run". Flags take their value as the next
// argument or after '='. Returns a usage error naming the flag for an unknown
// flag, a missing value, or a value out of range (renew-deadline must be
// shorter than lease-duration, retry-period shorter than renew-deadline).
Result<RunOptions> ParseRunOptions(const std::vector<std::string>& args);

// Returns the text `run --help` prints.
std::string_view RunUsageText();

}  // namespace pricing::op
