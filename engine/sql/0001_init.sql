-- Reference data (docs/design.md §2.4) and the audit trail (§2.3).
-- Applied once by the engine's migration runner (RunMigrations), inside one
-- transaction, and recorded in schema_migrations. Never edit an applied
-- migration: add the next numbered file instead (the runner refuses a changed
-- checksum).

CREATE TABLE stocks (
  ticker          TEXT PRIMARY KEY CHECK (ticker ~ '^[A-Z][A-Z0-9.]{0,9}$'),
  borrow_status   TEXT NOT NULL CHECK (borrow_status IN ('EASY', 'MEDIUM', 'HARD')),
  min_borrow_rate NUMERIC(20, 12) NOT NULL CHECK (min_borrow_rate >= 0),
  lender_api_id   TEXT,
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Rates by tier: ORDER BY ticker within one borrow_status.
CREATE INDEX stocks_borrow_status_ticker_idx ON stocks (borrow_status, ticker);

CREATE TABLE brokers (
  client_id            TEXT PRIMARY KEY CHECK (client_id ~ '^[A-Za-z0-9_-]{3,50}$'),
  markup_percentage    NUMERIC NOT NULL CHECK (markup_percentage >= 0),
  transaction_fee_type TEXT NOT NULL CHECK (transaction_fee_type IN ('FLAT', 'PERCENTAGE')),
  transaction_amount   NUMERIC NOT NULL CHECK (transaction_amount >= 0),
  day_count            INTEGER NOT NULL DEFAULT 365 CHECK (day_count IN (360, 365)),
  updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE volatility (
  ticker            TEXT PRIMARY KEY REFERENCES stocks (ticker) ON DELETE CASCADE,
  vol_index         NUMERIC CHECK (vol_index >= 0),
  event_risk_factor INTEGER CHECK (event_risk_factor BETWEEN 0 AND 10),
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Only the lowercase hex SHA-256 of a key is stored, never the key.
CREATE TABLE api_keys (
  key_hash              TEXT PRIMARY KEY CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  client_id             TEXT,
  rate_limit_per_minute BIGINT NOT NULL CHECK (rate_limit_per_minute > 0),
  scope                 TEXT NOT NULL CHECK (scope IN ('client', 'internal')),
  created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
  disabled_at           TIMESTAMPTZ,
  CHECK (scope = 'internal' OR client_id IS NOT NULL)
);

-- One row per priced request; calculation_id makes inserts idempotent.
CREATE TABLE audit_log (
  calculation_id    UUID PRIMARY KEY,
  request_id        TEXT NOT NULL,
  client_id         TEXT NOT NULL,
  key_client_id     TEXT,
  ticker            TEXT NOT NULL,
  position_value    NUMERIC NOT NULL,
  loan_days         INTEGER NOT NULL,
  borrow_rate       NUMERIC NOT NULL,  -- r, full precision
  borrow_rate_used  NUMERIC NOT NULL,  -- r rounded half-up to 6 places
  base_rate         NUMERIC NOT NULL,
  base_rate_source  TEXT NOT NULL,
  volatility        NUMERIC NOT NULL,
  volatility_source TEXT NOT NULL,
  event_risk        INTEGER NOT NULL,
  event_risk_source TEXT NOT NULL,
  borrow_cost       NUMERIC(20, 2) NOT NULL,
  markup            NUMERIC(20, 2) NOT NULL,
  transaction_fees  NUMERIC(20, 2) NOT NULL,
  total_fee         NUMERIC(20, 2) NOT NULL,
  day_count         INTEGER NOT NULL,
  created_at        TIMESTAMPTZ NOT NULL,           -- when the request was priced
  recorded_at       TIMESTAMPTZ NOT NULL DEFAULT now()  -- when the row arrived
);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);
