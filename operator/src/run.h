// `pricing-operator run`: the controller process. Connects to the cluster,
// serves /healthz, /readyz and /metrics, optionally takes part in leader
// election, runs the PricingEngine controller while it leads, and on SIGTERM
// or SIGINT stops reconciling, releases the Lease and exits 0. Exits 1 when it
// loses a Lease it held (another replica leads now) or cannot start.
#pragma once

#include <string>
#include <vector>

namespace pricing::op {

// Runs the operator with the arguments after "run". Returns the exit status.
int RunOperator(const std::vector<std::string>& args);

}  // namespace pricing::op
