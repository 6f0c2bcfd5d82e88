#include "roles/commands.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/audit_spool.h"
#include "adapters/http_client.h"
#include "common/log.h"
#include "adapters/pg_pool.h"
#include "adapters/pg_store.h"
#include "adapters/role_clients.h"
#include "adapters/sql_migrations.h"
#include "engine/reference_data.h"
#include "roles/common.h"

namespace pricing::engine {

int Migrate(const EngineConfig& cfg) {
  if (cfg.database_url.empty())
    Die("migrate needs a database URL (PRICING_DATABASE_URL or --database-url)");
  auto pool = PgPool::Create(PgPoolOptions{cfg.database_url});
  if (!pool) Die("database: " + pool.error().message);
  auto applied = RunMigrations(**pool);
  if (!applied) Die("migrate: " + applied.error().message);
  Log(LogLevel::kInfo, "migrations applied", {{"applied", std::to_string(*applied)}});
  return 0;
}

int Seed(const EngineConfig& cfg) {
  if (cfg.positional.size() < 2) Die("usage: pricing-engine seed FILE");
  if (cfg.database_url.empty())
    Die("seed needs a database URL (PRICING_DATABASE_URL or --database-url)");
  const std::string& file = cfg.positional[1];
  auto text = ReadFile(file);
  if (!text) Die(text.error().message);
  auto data = ParseReferenceData(*text, file);
  if (!data) Die(data.error().message);
  auto pool = PgPool::Create(PgPoolOptions{cfg.database_url});
  if (!pool) Die("database: " + pool.error().message);
  if (auto m = RunMigrations(**pool); !m) Die("migrate: " + m.error().message);
  auto stats = SeedReferenceData(**pool, *data);
  if (!stats) Die("seed: " + stats.error().message);
  Log(LogLevel::kInfo, "reference data seeded",
      {{"file", file},
       {"stocks", std::to_string(data->stocks.size())},
       {"brokers", std::to_string(data->brokers.size())},
       {"volatility", std::to_string(data->volatility.size())},
       {"api_keys", std::to_string(data->api_keys.size())}});
  return 0;
}

int Audit(const EngineConfig& cfg) {
  if (cfg.positional.size() != 2 || cfg.positional[1] != "redrive")
    Die("usage: pricing-engine audit redrive [--audit-dir DIR]");
  const std::string audit_dir = AuditDir(cfg);
  std::unique_ptr<PgPool> pool;
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<FileAuditStore> file;
  AuditBatchSink sink;
  std::string to;
  if (!cfg.database_url.empty()) {
    auto p = PgPool::Create(PgPoolOptions{cfg.database_url});
    if (!p) Die("database: " + p.error().message);
    pool = std::move(*p);
    sink = [raw = pool.get()](const std::vector<AuditRecord>& b) {
      return InsertAuditBatch(*raw, b);
    };
    to = "postgresql";
  } else if (!cfg.audit_url.empty()) {
    if (cfg.internal_token.empty()) Die("audit redrive: audit_url needs internal_token");
    client = OpenRoleClient(cfg.audit_url, "audit", 1, cfg.internal_timeout);
    sink = RemoteAuditSink(*client, cfg.internal_token);
    to = cfg.audit_url;
  } else {
    auto f = FileAuditStore::Open(audit_dir + "/audit-log.jsonl");
    if (!f) Die("audit: " + f.error().message);
    file = std::move(*f);
    sink = [raw = file.get()](const std::vector<AuditRecord>& b) { return raw->InsertBatch(b); };
    to = audit_dir + "/audit-log.jsonl";
  }
  auto stats = RedriveDeadLetters(audit_dir + "/spool", sink, cfg.audit_fsync);
  if (!stats) Die(stats.error().message);
  Log(stats->refused + stats->unreadable == 0 ? LogLevel::kInfo : LogLevel::kWarn,
      "audit dead letters redriven",
      {{"to", to},
       {"redriven", std::to_string(stats->redriven)},
       {"refused_again", std::to_string(stats->refused)},
       {"unreadable", std::to_string(stats->unreadable)}});
  return stats->refused + stats->unreadable == 0 ? 0 : 1;
}

}  // namespace pricing::engine
