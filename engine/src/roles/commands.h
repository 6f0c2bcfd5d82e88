// The engine's subcommands other than `serve`: each runs once over the
// configuration and returns the process's exit status; a bad configuration
// or a failure ends the process with one line (Die).
#pragma once

#include "engine/config.h"

namespace pricing::engine {

// `pricing-engine migrate`: applies the database migrations to
// cfg.database_url. Returns 0 once they are applied.
int Migrate(const EngineConfig& cfg);

// `pricing-engine seed FILE`: applies the migrations, then upserts the
// reference-data YAML file cfg.positional[1] into cfg.database_url. Returns 0
// once it is stored.
int Seed(const EngineConfig& cfg);

// `pricing-engine audit redrive`: sends the spool's dead letters to the audit
// store of record again: PostgreSQL with a database URL, else the audit role
// (audit_url), else the embedded mode's local file. Exits 0 when none is left.
int Audit(const EngineConfig& cfg);

}  // namespace pricing::engine
