// The engine's roles (docs/design.md §2), each a composition of the adapters and
// the shared parts of common.h, served until the process is told to stop
// (RequestStop). `all` does everything in one process; the split roles are
// gateway, calculation, data, cache and audit. Each Serve function returns
// the process's exit status once it has stopped, and ends the process with
// one line (Die) when its start-up configuration cannot be used.
// REQUIRES (all of them): ValidateRoleConfig(cfg) succeeded.
#pragma once

#include "engine/config.h"

namespace pricing::engine {

// --role all: everything in one process.
int ServeAll(const EngineConfig& cfg);

// --role gateway: authenticates and rate-limits, then forwards to calculation.
int ServeGateway(const EngineConfig& cfg);

// --role calculation: prices over the data role, Redis and the audit role.
int ServeCalculation(const EngineConfig& cfg);

// --role data: PostgreSQL and the external APIs behind the internal API.
int ServeData(const EngineConfig& cfg);

// --role cache: keeps the shared cache's entries of active tickers warm.
int ServeCache(const EngineConfig& cfg);

// --role audit: audit batches into PostgreSQL.
int ServeAudit(const EngineConfig& cfg);

}  // namespace pricing::engine
