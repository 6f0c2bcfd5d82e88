// PostgreSQL as the store of record: schema migrations, the reference-data
// seed, the ReferenceStore the pricing service reads, and the audit log
// (schema in engine/sql/). All statements are parameterized; decimals travel
// as exact decimal text (Decimal::ToString / Decimal::Parse), never as double.
// Errors: kServiceUnavailable when the database cannot answer,
// kInvalidParameter when it refuses the values (see pg_pool.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "adapters/pg_pool.h"
#include "engine/error.h"
#include "engine/model.h"
#include "engine/ports.h"

namespace pricing::engine {

// Applies the embedded migrations (sql_migrations.h) that the database lacks,
// in version order, each in its own transaction together with its row in
// schema_migrations (version, name, checksum, applied_at). A session advisory
// lock serialises concurrent runners (several engines starting at once): the
// later ones wait, then find nothing to do. Fails with kCalculationError if an
// applied migration's checksum differs from the embedded file (an applied
// migration was edited) or the database has a version this binary lacks.
// Returns the number of migrations applied by this call.
Result<int> RunMigrations(PgPool& pool);

// Rows inserted or changed by a seed; rows already equal are not counted.
struct SeedStats {
  int stocks = 0;
  int brokers = 0;
  int volatility = 0;
  int api_keys = 0;
};

// Upserts `data` (INSERT ... ON CONFLICT DO UPDATE) in one transaction:
// either all of it is stored or none. Idempotent; rows absent from `data` are
// left alone. API keys are stored as Sha256Hex(key) only; an existing key keeps
// its created_at and disabled_at. kInvalidParameter (nothing stored) if the
// database refuses a value, e.g. a min_borrow_rate with more than 12 decimal
// places (the column is NUMERIC(20,12)) or a volatility row of an unknown
// ticker. REQUIRES: RunMigrations succeeded.
Result<SeedStats> SeedReferenceData(PgPool& pool, const ReferenceData& data);

// Inserts `records` into audit_log in one transaction, streamed with COPY
// (the values travel as data, never as SQL text), skipping calculation_ids
// already present, so a re-sent batch is harmless: a batch that collides
// with stored rows is copied again into a session's staging table and merged
// with ON CONFLICT DO NOTHING. kInvalidParameter when the database refuses a
// record's values (e.g. a calculation_id that is not a UUID): terminal for the
// audit spool; kServiceUnavailable otherwise: retried.
Result<void> InsertAuditBatch(PgPool& pool, const std::vector<AuditRecord>& records);

// ReferenceStore over the tables of engine/sql/0001_init.sql. Each lookup is
// one prepared statement on a pooled connection. API keys with disabled_at set
// are not found. Thread-safe.
class PgReferenceStore : public ReferenceStore {
 public:
  // `pool` must outlive the store.
  explicit PgReferenceStore(PgPool& pool);

  Result<std::optional<Stock>> GetStock(const std::string& ticker) override;
  Result<std::optional<Broker>> GetBroker(const std::string& client_id) override;
  Result<std::optional<VolatilityRow>> GetVolatility(const std::string& ticker) override;
  Result<std::optional<ApiKey>> GetApiKeyByHash(const std::string& key_hash) override;
  Result<std::vector<Stock>> ListStocks(BorrowStatus status, int limit, int offset) override;
  Result<void> Ping() override;

 private:
  PgPool& pool_;
};

}  // namespace pricing::engine
