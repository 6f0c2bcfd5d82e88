// The engine's start-up configuration (docs/design.md §2.5): one value per key,
// each settable four ways. Later sources override earlier ones:
//
//   defaults  <  environment (PRICING_*)  <  --config FILE.yaml  <  flags
//
// (The file sits above the environment because it is the explicit, reviewed
// artefact an operator points at; flags are the per-invocation override.)
//
//   file key             environment                   flag                  default
//   listen               PRICING_LISTEN                --listen              0.0.0.0:8080
//   role                 PRICING_ROLE                  --role                all
//   database_url         PRICING_DATABASE_URL          --database-url        (none: in-memory)
//   redis_url            PRICING_REDIS_URL             --redis-url           (none)
//   lender_api_url       PRICING_LENDER_API_URL        --lender-api-url      (none)
//   market_api_url       PRICING_MARKET_API_URL        --market-api-url      (none)
//   events_api_url       PRICING_EVENTS_API_URL        --events-api-url      (none)
//   data                 PRICING_DATA                  --data                (none: embedded)
//   api_timeout          PRICING_API_TIMEOUT           --api-timeout         1s
//   volatility_baseline  PRICING_VOLATILITY_BASELINE   --volatility-baseline 20    (V0)
//   volatility_factor    PRICING_VOLATILITY_FACTOR     --volatility-factor   0.01  (f_v)
//   event_factor         PRICING_EVENT_FACTOR          --event-factor        0.05  (f_e)
//   audit_dir            PRICING_AUDIT_DIR             --audit-dir           (none)
//   audit_sync           PRICING_AUDIT_SYNC            --audit-sync          fsync (or write)
//   audit_min_free       PRICING_AUDIT_MIN_FREE        --audit-min-free      4194304
//   threads              PRICING_THREADS               --threads             0 (one per core)
//   body_limit           PRICING_BODY_LIMIT            --body-limit          65536
//   max_connections      PRICING_MAX_CONNECTIONS       --max-connections     10000
//   stale_limit          PRICING_STALE_LIMIT           --stale-limit         15m
//   calculation_url      PRICING_CALCULATION_URL       --calculation-url     (none)
//   data_url             PRICING_DATA_URL              --data-url            (none)
//   audit_url            PRICING_AUDIT_URL             --audit-url           (none)
//   audit_handoff_url    PRICING_AUDIT_HANDOFF_URL     --audit-handoff-url   (none)
//   internal_token       PRICING_INTERNAL_TOKEN        --internal-token      (none)
//   upstream_timeout     PRICING_UPSTREAM_TIMEOUT      --upstream-timeout    5s
//   internal_timeout     PRICING_INTERNAL_TIMEOUT      --internal-timeout    2s
//   cache_refresh_interval PRICING_CACHE_REFRESH_INTERVAL --cache-refresh-interval 5s
//   active_window        PRICING_ACTIVE_WINDOW         --active-window       10m
//   active_record_interval PRICING_ACTIVE_RECORD_INTERVAL --active-record-interval 30s
//
// Flags are `--name value` or `--name=value`; `--config FILE` names the YAML
// file (a flat mapping of the file keys above); `-h`/`--help` sets show_help;
// `--` ends the flags. Other arguments (the subcommand and its operands, e.g.
// `seed FILE`) are returned in order in `positional`. An empty value means
// "unset" for the optional URLs and paths. All I/O is injected, so loading is
// a pure function of its inputs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "engine/model.h"

namespace pricing::engine {

// Which part of the engine a process runs (`--role`; the operator starts one
// Deployment per role).
enum class Role { kAll, kGateway, kCalculation, kData, kCache, kAudit };

std::string_view RoleName(
    Role role);  // "all" | "gateway" | "calculation" | "data" | "cache" | "audit"
std::optional<Role> ParseRole(std::string_view name);

struct EngineConfig {
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 8080;  // 0 picks a free port
  Role role = Role::kAll;
  std::string database_url;    // libpq conninfo or URI; empty: in-memory store
  std::string redis_url;       // redis://host:port[/db]; empty: in-process cache
  std::string lender_api_url;  // http(s)://..., no trailing '/'; empty: not called
  std::string market_api_url;
  std::string events_api_url;
  std::string data_file;  // reference data for the in-memory store; empty: embedded
  std::chrono::milliseconds api_timeout{1000};  // 1 ms .. 60 s
  PricingParams params;                         // V0 0..1000, f_v and f_e 0..1
  std::string audit_dir;                        // audit spool directory
  // true: a price is answered after its audit record is fdatasync'ed (survives
  // power loss); false: after write() (survives a crash of the process).
  bool audit_fsync = true;
  // The spool's file system must keep this many bytes free for /health/ready
  // (64 KiB .. 1 TiB): below it the process is taken out of service.
  uint64_t audit_min_free = 4u << 20;
  int threads = 0;                              // 0..256; 0 = one per core
  size_t body_limit = 64 * 1024;                // bytes, 1 KiB .. 16 MiB
  int max_connections = 10000;                  // per process, 1 .. 1,000,000
  // How long /health/ready stays 200 "degraded" while the reference store is
  // unreachable (1s .. 24h).
  std::chrono::seconds stale_limit{15 * 60};
  // Split roles (see ValidateRoleConfig). Base URLs of the other roles,
  // http://host:port, no trailing '/'; empty: unset.
  std::string calculation_url;  // gateway -> calculation
  std::string data_url;         // gateway, calculation, cache -> data
  std::string audit_url;        // calculation -> audit
  // Roles all and calculation: at stop, the audit records their store of
  // record (PostgreSQL, or the audit role) has not taken are handed to this
  // peer engine's spool (normally the component's own Service), so that a
  // deleted pod takes none with it. Used only with internal_token.
  std::string audit_handoff_url;
  // The secret every internal call carries (X-Internal-Token); 16..256
  // printable ASCII characters, no spaces; empty: unset.
  std::string internal_token;
  std::chrono::milliseconds upstream_timeout{5000};  // gateway -> calculation, 1 ms .. 60 s
  std::chrono::milliseconds internal_timeout{2000};  // calls to data and audit, 1 ms .. 60 s
  // Cache role: how often it looks for entries to refresh (1 s .. 1 h), and
  // how recently a ticker or client must have been priced to be kept warm
  // (1 min .. 24 h).
  std::chrono::seconds cache_refresh_interval{5};
  std::chrono::seconds active_window{600};
  // Calculation role: a ticker or client is recorded as active at most once
  // per this interval per process (1 s .. 1 h).
  std::chrono::seconds active_record_interval{30};
  std::string config_file;                      // the --config file read, if any
  bool show_help = false;
  std::vector<std::string> positional;
};

// Returns the value of environment variable `name`, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// Returns the contents of the file at `path`, or an error whose message says
// why it could not be read.
using FileReader = std::function<Result<std::string>(const std::string& path)>;

// Builds the configuration from `args` (argv without the program name), the
// environment and the --config file. On the first bad value returns
// kInvalidParameter with one line naming the key and where it came from, e.g.
//   config.yaml:7: listen: "x" is not host:port
//   environment PRICING_ROLE: "boss" is not one of all, gateway, ...
//   --threads: "-1" is not an integer from 0 to 256
// and `field` set to the file key ("listen").
Result<EngineConfig> LoadConfig(const std::vector<std::string>& args, const EnvLookup& env,
                                const FileReader& read_file);

// Returns ok when `config` has what its role needs, else kInvalidParameter with
// one line naming the first missing key, e.g.
//   role gateway needs calculation_url (PRICING_CALCULATION_URL or --calculation-url)
// and `field` set to that file key. Every role but `all` needs internal_token;
// gateway needs calculation_url and data_url; calculation needs data_url and
// audit_url; cache needs data_url and redis_url; audit needs database_url.
Result<void> ValidateRoleConfig(const EngineConfig& config);

// Returns the usage text: every flag with its environment variable and default.
std::string_view ConfigHelp();

}  // namespace pricing::engine
