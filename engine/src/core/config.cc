#include "engine/config.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdint>
#include <utility>

#include "engine/decimal.h"
#include "engine/pricing.h"

namespace pricing::engine {
namespace {

// Applies `value` to `config`, or returns the problem, e.g.
// "\"x\" is not host:port" (the caller adds where the value came from).
using Setter = std::optional<std::string> (*)(std::string_view value, EngineConfig* config);

struct Key {
  std::string_view file_key;
  std::string_view env;
  std::string_view flag;  // without the leading "--"
  Setter set;
};

// Returns `s` with control characters written as \n, \r, \t or \xHH, so
// that an error naming a bad value stays one line.
std::string OneLine(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string Quoted(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  out.append(OneLine(s.substr(0, kMax)));
  if (s.size() > kMax) out += "...";
  out += "\"";
  return out;
}

std::optional<int64_t> ParseInteger(std::string_view s, int64_t lo, int64_t hi) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

bool HasSpace(std::string_view s) {
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  }
  return false;
}

std::optional<std::string> SetListen(std::string_view v, EngineConfig* c) {
  const std::string bad = Quoted(v) + " is not host:port";
  const size_t colon = v.rfind(':');
  if (colon == std::string_view::npos || HasSpace(v)) return bad;
  std::string_view host = v.substr(0, colon);
  const std::optional<int64_t> port = ParseInteger(v.substr(colon + 1), 0, 65535);
  if (!port) return bad;
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad;  // an IPv6 address must be bracketed: [::1]:8080
  }
  c->listen_host = host.empty() ? "0.0.0.0" : std::string(host);
  c->listen_port = static_cast<uint16_t>(*port);
  return std::nullopt;
}

std::optional<std::string> SetRole(std::string_view v, EngineConfig* c) {
  const std::optional<Role> role = ParseRole(v);
  if (!role) return Quoted(v) + " is not one of all, gateway, calculation, data, cache, audit";
  c->role = *role;
  return std::nullopt;
}

std::optional<std::string> SetDatabaseUrl(std::string_view v, EngineConfig* c) {
  c->database_url = v;
  return std::nullopt;
}

std::optional<std::string> SetRedisUrl(std::string_view v, EngineConfig* c) {
  constexpr std::string_view kScheme = "redis://";
  if (!v.empty() &&
      (v.substr(0, kScheme.size()) != kScheme || v.size() == kScheme.size() || HasSpace(v))) {
    return Quoted(v) + " is not a redis://host:port/db URL";
  }
  c->redis_url = v;
  return std::nullopt;
}

// Validates an http(s) base URL and drops trailing slashes.
std::optional<std::string> HttpUrl(std::string_view v, std::string* out) {
  if (!v.empty()) {
    const bool http = v.substr(0, 7) == "http://" && v.size() > 7;
    const bool https = v.substr(0, 8) == "https://" && v.size() > 8;
    if ((!http && !https) || HasSpace(v)) return Quoted(v) + " is not an http:// or https:// URL";
    while (v.back() == '/') v.remove_suffix(1);
  }
  *out = v;
  return std::nullopt;
}

// As HttpUrl, for the internal calls between roles, which speak plain HTTP
// (inside the cluster network) and need a host and port: http://host[:port].
std::optional<std::string> HttpOnlyUrl(std::string_view v, std::string* out) {
  if (!v.empty()) {
    std::string_view rest = v.substr(0, 7) == "http://" ? v.substr(7) : std::string_view();
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.empty() || HasSpace(v) || rest.find('/') != std::string_view::npos) {
      return Quoted(v) + " is not an http://host:port URL";
    }
    v = v.substr(0, 7 + rest.size());
  }
  *out = v;
  return std::nullopt;
}

std::optional<std::string> SetLenderUrl(std::string_view v, EngineConfig* c) {
  return HttpUrl(v, &c->lender_api_url);
}
std::optional<std::string> SetMarketUrl(std::string_view v, EngineConfig* c) {
  return HttpUrl(v, &c->market_api_url);
}
std::optional<std::string> SetEventsUrl(std::string_view v, EngineConfig* c) {
  return HttpUrl(v, &c->events_api_url);
}

std::optional<std::string> SetData(std::string_view v, EngineConfig* c) {
  c->data_file = v;
  return std::nullopt;
}

std::optional<std::string> SetAuditDir(std::string_view v, EngineConfig* c) {
  c->audit_dir = v;
  return std::nullopt;
}

// Returns the milliseconds of "250ms", "1.5s" or (when `minutes` is true)
// "10m", or nullopt when the text is not such a duration or is outside
// lo .. hi.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view v, bool minutes,
                                                       std::chrono::milliseconds lo,
                                                       std::chrono::milliseconds hi) {
  std::string_view number = v;
  Decimal per_unit_ms;
  if (v.ends_with("ms")) {
    number.remove_suffix(2);
    per_unit_ms = Decimal::FromInt(1);
  } else if (v.ends_with("s")) {
    number.remove_suffix(1);
    per_unit_ms = Decimal::FromInt(1000);
  } else if (minutes && v.ends_with("m")) {
    number.remove_suffix(1);
    per_unit_ms = Decimal::FromInt(60000);
  } else {
    return std::nullopt;
  }
  const std::optional<Decimal> amount = Decimal::Parse(number);
  if (!amount || *amount > Decimal::FromInt(hi.count())) return std::nullopt;
  const std::optional<int64_t> ms = (*amount * per_unit_ms).ToInt64();
  if (!ms || *ms < lo.count() || *ms > hi.count()) return std::nullopt;
  return std::chrono::milliseconds(*ms);
}

// "1s", "1.5s", "250ms": 1 ms .. 60 s in whole milliseconds.
std::optional<std::string> SetTimeout(std::string_view v, std::chrono::milliseconds* out) {
  const auto d = ParseDuration(v, false, std::chrono::milliseconds(1), std::chrono::seconds(60));
  if (!d) return Quoted(v) + " is not a duration from 1ms to 60s such as 1s or 250ms";
  *out = *d;
  return std::nullopt;
}

std::optional<std::string> SetApiTimeout(std::string_view v, EngineConfig* c) {
  return SetTimeout(v, &c->api_timeout);
}
std::optional<std::string> SetUpstreamTimeout(std::string_view v, EngineConfig* c) {
  return SetTimeout(v, &c->upstream_timeout);
}
std::optional<std::string> SetInternalTimeout(std::string_view v, EngineConfig* c) {
  return SetTimeout(v, &c->internal_timeout);
}

// Whole seconds from `lo` to `hi`, written as "30s", "10m" or "1500ms".
std::optional<std::string> SetSeconds(std::string_view v, std::chrono::seconds lo,
                                      std::chrono::seconds hi, std::string_view range,
                                      std::chrono::seconds* out) {
  const auto d = ParseDuration(v, true, lo, hi);
  if (!d || d->count() % 1000 != 0) {
    return Quoted(v) + " is not a whole number of seconds from " + std::string(range) +
           " such as 30s or 10m";
  }
  *out = std::chrono::duration_cast<std::chrono::seconds>(*d);
  return std::nullopt;
}

std::optional<std::string> SetCacheRefreshInterval(std::string_view v, EngineConfig* c) {
  return SetSeconds(v, std::chrono::seconds(1), std::chrono::hours(1), "1s to 1h",
                    &c->cache_refresh_interval);
}
std::optional<std::string> SetActiveWindow(std::string_view v, EngineConfig* c) {
  return SetSeconds(v, std::chrono::minutes(1), std::chrono::hours(24), "1m to 24h",
                    &c->active_window);
}
std::optional<std::string> SetActiveRecordInterval(std::string_view v, EngineConfig* c) {
  return SetSeconds(v, std::chrono::seconds(1), std::chrono::hours(1), "1s to 1h",
                    &c->active_record_interval);
}

std::optional<std::string> SetCalculationUrl(std::string_view v, EngineConfig* c) {
  return HttpOnlyUrl(v, &c->calculation_url);
}
std::optional<std::string> SetDataUrl(std::string_view v, EngineConfig* c) {
  return HttpOnlyUrl(v, &c->data_url);
}
std::optional<std::string> SetAuditUrl(std::string_view v, EngineConfig* c) {
  return HttpOnlyUrl(v, &c->audit_url);
}
std::optional<std::string> SetAuditHandoffUrl(std::string_view v, EngineConfig* c) {
  return HttpOnlyUrl(v, &c->audit_handoff_url);
}

// The token is a secret: problems are reported without echoing it.
std::optional<std::string> SetInternalToken(std::string_view v, EngineConfig* c) {
  if (!v.empty()) {
    bool printable = v.size() >= 16 && v.size() <= 256;
    for (char ch : v) printable = printable && ch > ' ' && ch < 0x7f;
    if (!printable) {
      return "must be 16 to 256 printable ASCII characters without spaces (value not shown)";
    }
  }
  c->internal_token = v;
  return std::nullopt;
}

std::optional<std::string> SetDecimal(std::string_view v, Decimal hi, std::string_view hi_text,
                                      Decimal* out) {
  const std::optional<Decimal> d = Decimal::Parse(v);
  if (!d || *d < Decimal() || *d > hi) {
    return Quoted(v) + " is not a decimal number from 0 to " + std::string(hi_text);
  }
  *out = *d;
  return std::nullopt;
}

std::optional<std::string> SetV0(std::string_view v, EngineConfig* c) {
  return SetDecimal(v, kMaxVolatilityIndex, "1000", &c->params.v0);
}
std::optional<std::string> SetFv(std::string_view v, EngineConfig* c) {
  return SetDecimal(v, kMaxSensitivity, "1", &c->params.f_v);
}
std::optional<std::string> SetFe(std::string_view v, EngineConfig* c) {
  return SetDecimal(v, kMaxSensitivity, "1", &c->params.f_e);
}

std::optional<std::string> SetThreads(std::string_view v, EngineConfig* c) {
  const std::optional<int64_t> n = ParseInteger(v, 0, 256);
  if (!n) return Quoted(v) + " is not an integer from 0 to 256";
  c->threads = static_cast<int>(*n);
  return std::nullopt;
}

std::optional<std::string> SetAuditSync(std::string_view v, EngineConfig* c) {
  if (v == "fsync") {
    c->audit_fsync = true;
  } else if (v == "write") {
    c->audit_fsync = false;
  } else {
    return Quoted(v) + " is not fsync or write";
  }
  return std::nullopt;
}

std::optional<std::string> SetBodyLimit(std::string_view v, EngineConfig* c) {
  const std::optional<int64_t> n = ParseInteger(v, 1024, 16 * 1024 * 1024);
  if (!n) return Quoted(v) + " is not a byte count from 1024 to 16777216";
  c->body_limit = static_cast<size_t>(*n);
  return std::nullopt;
}

std::optional<std::string> SetAuditMinFree(std::string_view v, EngineConfig* c) {
  const std::optional<int64_t> n = ParseInteger(v, 64 * 1024, int64_t{1} << 40);
  if (!n) return Quoted(v) + " is not a byte count from 65536 to 1099511627776";
  c->audit_min_free = static_cast<uint64_t>(*n);
  return std::nullopt;
}

std::optional<std::string> SetMaxConnections(std::string_view v, EngineConfig* c) {
  const std::optional<int64_t> n = ParseInteger(v, 1, 1000000);
  if (!n) return Quoted(v) + " is not an integer from 1 to 1000000";
  c->max_connections = static_cast<int>(*n);
  return std::nullopt;
}

std::optional<std::string> SetStaleLimit(std::string_view v, EngineConfig* c) {
  return SetSeconds(v, std::chrono::seconds(1), std::chrono::hours(24), "1s to 24h",
                    &c->stale_limit);
}

constexpr std::array<Key, 29> kKeys = {{
    {"listen", "PRICING_LISTEN", "listen", SetListen},
    {"role", "PRICING_ROLE", "role", SetRole},
    {"database_url", "PRICING_DATABASE_URL", "database-url", SetDatabaseUrl},
    {"redis_url", "PRICING_REDIS_URL", "redis-url", SetRedisUrl},
    {"lender_api_url", "PRICING_LENDER_API_URL", "lender-api-url", SetLenderUrl},
    {"market_api_url", "PRICING_MARKET_API_URL", "market-api-url", SetMarketUrl},
    {"events_api_url", "PRICING_EVENTS_API_URL", "events-api-url", SetEventsUrl},
    {"data", "PRICING_DATA", "data", SetData},
    {"api_timeout", "PRICING_API_TIMEOUT", "api-timeout", SetApiTimeout},
    {"volatility_baseline", "PRICING_VOLATILITY_BASELINE", "volatility-baseline", SetV0},
    {"volatility_factor", "PRICING_VOLATILITY_FACTOR", "volatility-factor", SetFv},
    {"event_factor", "PRICING_EVENT_FACTOR", "event-factor", SetFe},
    {"audit_dir", "PRICING_AUDIT_DIR", "audit-dir", SetAuditDir},
    {"audit_sync", "PRICING_AUDIT_SYNC", "audit-sync", SetAuditSync},
    {"audit_min_free", "PRICING_AUDIT_MIN_FREE", "audit-min-free", SetAuditMinFree},
    {"threads", "PRICING_THREADS", "threads", SetThreads},
    {"body_limit", "PRICING_BODY_LIMIT", "body-limit", SetBodyLimit},
    {"max_connections", "PRICING_MAX_CONNECTIONS", "max-connections", SetMaxConnections},
    {"stale_limit", "PRICING_STALE_LIMIT", "stale-limit", SetStaleLimit},
    {"calculation_url", "PRICING_CALCULATION_URL", "calculation-url", SetCalculationUrl},
    {"data_url", "PRICING_DATA_URL", "data-url", SetDataUrl},
    {"audit_url", "PRICING_AUDIT_URL", "audit-url", SetAuditUrl},
    {"audit_handoff_url", "PRICING_AUDIT_HANDOFF_URL", "audit-handoff-url", SetAuditHandoffUrl},
    {"internal_token", "PRICING_INTERNAL_TOKEN", "internal-token", SetInternalToken},
    {"upstream_timeout", "PRICING_UPSTREAM_TIMEOUT", "upstream-timeout", SetUpstreamTimeout},
    {"internal_timeout", "PRICING_INTERNAL_TIMEOUT", "internal-timeout", SetInternalTimeout},
    {"cache_refresh_interval", "PRICING_CACHE_REFRESH_INTERVAL", "cache-refresh-interval",
     SetCacheRefreshInterval},
    {"active_window", "PRICING_ACTIVE_WINDOW", "active-window", SetActiveWindow},
    {"active_record_interval", "PRICING_ACTIVE_RECORD_INTERVAL", "active-record-interval",
     SetActiveRecordInterval},
}};

const Key* FindByFlag(std::string_view flag) {
  for (const Key& k : kKeys) {
    if (k.flag == flag) return &k;
  }
  return nullptr;
}

const Key* FindByFileKey(std::string_view name) {
  for (const Key& k : kKeys) {
    if (k.file_key == name) return &k;
  }
  return nullptr;
}

std::unexpected<Error> Bad(std::string where, const Key* key, const std::string& problem) {
  return Fail(ErrorCode::kInvalidParameter, std::move(where) + ": " + problem,
              key ? std::string(key->file_key) : std::string());
}

// The flags of the command line, in order, before they are applied.
struct ParsedArgs {
  std::vector<std::pair<const Key*, std::string>> flags;
  std::optional<std::string> config_file;
  bool help = false;
  std::vector<std::string> positional;
};

Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + static_cast<long>(i) + 1,
                               args.end());
      break;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg[1] != '-') return Fail(ErrorCode::kInvalidParameter, "unknown flag " + arg);
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const Key* key = name == "config" ? nullptr : FindByFlag(name);
    if (name != "config" && key == nullptr) {
      return Fail(ErrorCode::kInvalidParameter, "unknown flag --" + name + " (see --help)");
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return Fail(ErrorCode::kInvalidParameter, "--" + name + " needs a value",
                    key ? std::string(key->file_key) : std::string());
      }
      value = args[++i];
    }
    if (key == nullptr) {
      if (value->empty()) return Fail(ErrorCode::kInvalidParameter, "--config needs a file name");
      parsed.config_file = std::move(*value);
    } else {
      parsed.flags.emplace_back(key, std::move(*value));
    }
  }
  return parsed;
}

Result<void> ApplyConfigFile(const std::string& path, const std::string& text,
                             EngineConfig* config) {
  try {
    const YAML::Node root = YAML::Load(text);
    if (!root.IsDefined() || root.IsNull()) return {};
    if (!root.IsMap()) {
      return Fail(ErrorCode::kInvalidParameter, path + ": must be a mapping of configuration keys");
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      const YAML::Node name_node = it->first;
      const YAML::Node value_node = it->second;
      const std::string where = path + ":" + std::to_string(name_node.Mark().line + 1);
      if (!name_node.IsScalar()) {
        return Fail(ErrorCode::kInvalidParameter, where + ": keys must be plain names");
      }
      const std::string& name = name_node.Scalar();
      const Key* key = FindByFileKey(name);
      if (key == nullptr) {
        return Fail(ErrorCode::kInvalidParameter, where + ": unknown key " + Quoted(name));
      }
      std::string value;
      if (!value_node.IsNull()) {
        if (!value_node.IsScalar()) return Bad(where, key, name + ": must be a single value");
        value = value_node.Scalar();
      }
      if (std::optional<std::string> problem = key->set(value, config)) {
        return Bad(where, key, name + ": " + *problem);
      }
    }
  } catch (const YAML::Exception& ex) {
    std::string where = path;
    if (!ex.mark.is_null()) where += ":" + std::to_string(ex.mark.line + 1);
    return Fail(ErrorCode::kInvalidParameter, where + ": " + OneLine(ex.msg));
  }
  return {};
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAll:
      return "all";
    case Role::kGateway:
      return "gateway";
    case Role::kCalculation:
      return "calculation";
    case Role::kData:
      return "data";
    case Role::kCache:
      return "cache";
    case Role::kAudit:
      return "audit";
  }
  return "all";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r :
       {Role::kAll, Role::kGateway, Role::kCalculation, Role::kData, Role::kCache, Role::kAudit}) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

Result<EngineConfig> LoadConfig(const std::vector<std::string>& args, const EnvLookup& env,
                                const FileReader& read_file) {
  Result<ParsedArgs> parsed = ParseArgs(args);
  if (!parsed) return std::unexpected(parsed.error());
  EngineConfig config;
  config.show_help = parsed->help;
  config.positional = std::move(parsed->positional);

  for (const Key& key : kKeys) {
    const std::optional<std::string> value = env(std::string(key.env));
    if (!value) continue;
    if (std::optional<std::string> problem = key.set(*value, &config)) {
      return Bad("environment " + std::string(key.env), &key, *problem);
    }
  }

  if (parsed->config_file) {
    const std::string& path = *parsed->config_file;
    Result<std::string> text = read_file(path);
    if (!text) {
      return Fail(ErrorCode::kInvalidParameter,
                  "--config: cannot read " + path + ": " + text.error().message);
    }
    if (Result<void> ok = ApplyConfigFile(path, *text, &config); !ok) {
      return std::unexpected(ok.error());
    }
    config.config_file = path;
  }

  for (const auto& [key, value] : parsed->flags) {
    if (std::optional<std::string> problem = key->set(value, &config)) {
      return Bad("--" + std::string(key->flag), key, *problem);
    }
  }
  return config;
}

Result<void> ValidateRoleConfig(const EngineConfig& config) {
  if (!config.audit_handoff_url.empty() && config.role != Role::kAll &&
      config.role != Role::kCalculation) {
    return Fail(ErrorCode::kInvalidParameter,
                "audit_handoff_url: role " + std::string(RoleName(config.role)) +
                    " keeps no audit spool (only all and calculation do)",
                "audit_handoff_url");
  }
  if (config.role == Role::kAll) return {};
  auto needs = [&](std::string_view file_key) -> Result<void> {
    const Key* key = FindByFileKey(file_key);
    return Fail(ErrorCode::kInvalidParameter,
                "role " + std::string(RoleName(config.role)) + " needs " + std::string(file_key) +
                    " (" + std::string(key->env) + " or --" + std::string(key->flag) + ")",
                std::string(file_key));
  };
  if (config.internal_token.empty()) return needs("internal_token");
  switch (config.role) {
    case Role::kGateway:
      if (config.calculation_url.empty()) return needs("calculation_url");
      if (config.data_url.empty()) return needs("data_url");
      break;
    case Role::kCalculation:
      if (config.data_url.empty()) return needs("data_url");
      if (config.audit_url.empty()) return needs("audit_url");
      break;
    case Role::kCache:
      if (config.data_url.empty()) return needs("data_url");
      if (config.redis_url.empty()) return needs("redis_url");
      break;
    case Role::kAudit:
      if (config.database_url.empty()) return needs("database_url");
      break;
    case Role::kData:
    case Role::kAll:
      break;
  }
  return {};
}

std::string_view ConfigHelp() {
  return R"(usage: pricing-engine [flags] [command [args]]

Each setting comes from, lowest precedence first: its default, the environment,
the --config file (a YAML mapping of the file keys below), then the flag.

  flag                        environment                   file key             default
  --listen HOST:PORT          PRICING_LISTEN                listen               0.0.0.0:8080
  --role ROLE                 PRICING_ROLE                  role                 all
                              (all|gateway|calculation|data|cache|audit)
  --database-url URL          PRICING_DATABASE_URL          database_url         none: in-memory store
  --redis-url URL             PRICING_REDIS_URL             redis_url            none: in-process cache
  --lender-api-url URL        PRICING_LENDER_API_URL        lender_api_url       none
  --market-api-url URL        PRICING_MARKET_API_URL        market_api_url       none
  --events-api-url URL        PRICING_EVENTS_API_URL        events_api_url       none
  --data FILE                 PRICING_DATA                  data                 none: needs a database URL
  --api-timeout DURATION      PRICING_API_TIMEOUT           api_timeout          1s (1ms..60s)
  --volatility-baseline V0    PRICING_VOLATILITY_BASELINE   volatility_baseline  20
  --volatility-factor F_V     PRICING_VOLATILITY_FACTOR     volatility_factor    0.01
  --event-factor F_E          PRICING_EVENT_FACTOR          event_factor         0.05
  --audit-dir DIR             PRICING_AUDIT_DIR             audit_dir            none
  --audit-sync MODE           PRICING_AUDIT_SYNC            audit_sync           fsync
                              (fsync: survives power loss; write: survives kill -9)
  --audit-min-free BYTES      PRICING_AUDIT_MIN_FREE        audit_min_free       4194304
                              (below this much free space on the spool's file
                              system /health/ready answers 503 audit_spool)
  --threads N                 PRICING_THREADS               threads              0 (one per core)
  --body-limit BYTES          PRICING_BODY_LIMIT            body_limit           65536
  --max-connections N         PRICING_MAX_CONNECTIONS       max_connections      10000
                              (open connections per process; over it: 503 and close)
  --stale-limit DURATION      PRICING_STALE_LIMIT           stale_limit          15m
                              (the reference store unreachable for up to this long:
                              /health/ready answers 200 "degraded", then 503)
  --audit-handoff-url URL     PRICING_AUDIT_HANDOFF_URL     audit_handoff_url    none
                              (all, calculation: on stop, records the store of
                              record did not take go to this peer's spool,
                              http://host:port; needs internal_token)

Split roles (each role but all needs internal_token):
  --calculation-url URL       PRICING_CALCULATION_URL       calculation_url      none
                              (gateway: the calculation role, http://host:port)
  --data-url URL              PRICING_DATA_URL              data_url             none
                              (gateway, calculation, cache: the data role)
  --audit-url URL             PRICING_AUDIT_URL             audit_url            none
                              (calculation: the audit role)
  --internal-token SECRET     PRICING_INTERNAL_TOKEN        internal_token       none
                              (shared by all roles; 16..256 printable characters)
  --upstream-timeout DURATION PRICING_UPSTREAM_TIMEOUT      upstream_timeout     5s
                              (gateway -> calculation, 1ms..60s)
  --internal-timeout DURATION PRICING_INTERNAL_TIMEOUT      internal_timeout     2s
                              (calls to data and audit, 1ms..60s)
  --cache-refresh-interval D  PRICING_CACHE_REFRESH_INTERVAL cache_refresh_interval 5s
                              (cache: how often to look for entries to refresh, 1s..1h)
  --active-window DURATION    PRICING_ACTIVE_WINDOW         active_window        10m
                              (cache: keep what was priced this recently warm, 1m..24h)
  --active-record-interval D  PRICING_ACTIVE_RECORD_INTERVAL active_record_interval 30s
                              (calculation: record a ticker active at most this often)
  gateway needs calculation_url and data_url; calculation needs data_url and
  audit_url; cache needs data_url and redis_url; audit needs database_url;
  data serves database_url (or --data) and the external API URLs.

  --config FILE.yaml          read settings from FILE.yaml
  -h, --help                  print this text
)";
}

}  // namespace pricing::engine
