#include "adapters/pg_pool.h"

#include <algorithm>
#include <cstdlib>

namespace pricing::engine {

struct PgConnection::Conn {
  PGconn* pg = nullptr;
  uint64_t generation = 0;
  std::unordered_set<std::string> prepared;

  ~Conn() {
    if (pg != nullptr) PQfinish(pg);
  }
};

namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return std::string(s);
}

bool IsDataError(const PGresult* result) {
  if (result == nullptr) return false;
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (state == nullptr) return false;
  std::string_view s(state);
  return s.starts_with("22") || s.starts_with("23");
}

}  // namespace

int64_t PgResult::affected_rows() const {
  const char* n = PQcmdTuples(result_.get());
  return (n == nullptr || *n == '\0') ? 0 : std::strtoll(n, nullptr, 10);
}

// PgConnection -------------------------------------------------------------

PgConnection::PgConnection(PgPool* pool, std::unique_ptr<Conn> conn, bool reused)
    : pool_(pool), conn_(std::move(conn)), reused_(reused) {}

PgConnection::PgConnection(PgConnection&& other) noexcept
    : pool_(other.pool_),
      conn_(std::move(other.conn_)),
      reused_(other.reused_),
      discard_(other.discard_) {}

PgConnection::~PgConnection() {
  if (conn_ == nullptr) return;
  const bool lost = broken();
  const bool keep = !lost && !discard_ && PQtransactionStatus(conn_->pg) == PQTRANS_IDLE;
  pool_->Release(std::move(conn_), keep, lost);
}

bool PgConnection::broken() const {
  return conn_ == nullptr || PQstatus(conn_->pg) != CONNECTION_OK;
}

Error PgConnection::Failure(std::string_view what, const PGresult* result) {
  std::string detail = result != nullptr ? Trim(PQresultErrorMessage(result)) : "";
  if (detail.empty()) detail = Trim(PQerrorMessage(conn_->pg));
  if (detail.empty()) detail = "no answer";
  const ErrorCode code = IsDataError(result) && !broken() ? ErrorCode::kInvalidParameter
                                                          : ErrorCode::kServiceUnavailable;
  return Error{code, "postgres: " + std::string(what) + ": " + detail, ""};
}

Result<PgResult> PgConnection::Check(std::string_view what, PGresult* raw) {
  const ExecStatusType status = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    Error e = Failure(what, raw);
    PQclear(raw);
    return std::unexpected(std::move(e));
  }
  return PgResult(raw);
}

namespace {

std::vector<const char*> ParamValues(const PgParams& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return values;
}

}  // namespace

Result<PgResult> PgConnection::Exec(const std::string& sql, const PgParams& params) {
  const std::vector<const char*> values = ParamValues(params);
  return Check("query", PQexecParams(conn_->pg, sql.c_str(), static_cast<int>(values.size()),
                                     nullptr, values.data(), nullptr, nullptr, 0));
}

Result<PgResult> PgConnection::ExecPrepared(const std::string& name, const std::string& sql,
                                            const PgParams& params) {
  if (!conn_->prepared.contains(name)) {
    auto prepared =
        Check("prepare " + name, PQprepare(conn_->pg, name.c_str(), sql.c_str(), 0, nullptr));
    if (!prepared) return std::unexpected(std::move(prepared.error()));
    conn_->prepared.insert(name);
  }
  const std::vector<const char*> values = ParamValues(params);
  return Check(name, PQexecPrepared(conn_->pg, name.c_str(), static_cast<int>(values.size()),
                                    values.data(), nullptr, nullptr, 0));
}

Result<void> PgConnection::ExecScript(const std::string& sql) {
  auto result = Check("script", PQexec(conn_->pg, sql.c_str()));
  if (!result) return std::unexpected(std::move(result.error()));
  return {};
}

Result<int64_t> PgConnection::CopyIn(const std::string& copy_sql, std::string_view rows,
                                     std::string* sqlstate) {
  if (sqlstate != nullptr) sqlstate->clear();
  auto fail = [&](PGresult* raw) -> Result<int64_t> {
    if (sqlstate != nullptr && raw != nullptr) {
      if (const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE)) *sqlstate = state;
    }
    Error e = Failure("copy", raw);
    PQclear(raw);
    // Drain whatever else the server sends for this statement.
    while (PGresult* more = PQgetResult(conn_->pg)) PQclear(more);
    return std::unexpected(std::move(e));
  };
  PGresult* start = PQexec(conn_->pg, copy_sql.c_str());
  if (start == nullptr || PQresultStatus(start) != PGRES_COPY_IN) return fail(start);
  PQclear(start);
  // libpq buffers the data; hand it over in slices of at most 1 MiB.
  constexpr size_t kSlice = 1 << 20;
  for (size_t at = 0; at < rows.size(); at += kSlice) {
    const size_t n = std::min(kSlice, rows.size() - at);
    if (PQputCopyData(conn_->pg, rows.data() + at, static_cast<int>(n)) != 1) {
      (void)PQputCopyEnd(conn_->pg, "client failed to send data");
      return fail(PQgetResult(conn_->pg));
    }
  }
  if (PQputCopyEnd(conn_->pg, nullptr) != 1) return fail(PQgetResult(conn_->pg));
  PGresult* end = PQgetResult(conn_->pg);
  if (end == nullptr || PQresultStatus(end) != PGRES_COMMAND_OK) return fail(end);
  PgResult done(end);
  while (PGresult* more = PQgetResult(conn_->pg)) PQclear(more);
  return done.affected_rows();
}

Result<void> PgConnection::Transaction(const std::function<Result<void>()>& body) {
  if (auto r = ExecScript("BEGIN"); !r) return r;
  Result<void> result = body();
  if (result) result = ExecScript("COMMIT");
  if (!result && !broken() && PQtransactionStatus(conn_->pg) != PQTRANS_IDLE) {
    (void)ExecScript("ROLLBACK");
  }
  return result;
}

// PgPool -------------------------------------------------------------------

Result<std::unique_ptr<PgPool>> PgPool::Create(PgPoolOptions options) {
  if (options.conninfo.empty()) {
    return Fail(ErrorCode::kInvalidParameter, "postgres: empty connection string", "database_url");
  }
  if (options.max_size < 1) {
    return Fail(ErrorCode::kInvalidParameter, "postgres: pool max_size must be at least 1");
  }
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string why = err != nullptr ? Trim(err) : "out of memory";
    PQfreemem(err);
    return Fail(ErrorCode::kInvalidParameter, "postgres: malformed connection string: " + why,
                "database_url");
  }
  std::vector<std::pair<std::string, std::string>> params;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) params.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(parsed);

  auto set_default = [&params](const std::string& key, const std::string& value) {
    for (const auto& [k, v] : params) {
      if (k == key) return;
    }
    params.emplace_back(key, value);
  };
  set_default("connect_timeout", std::to_string(options.connect_timeout.count()));
  set_default("application_name", options.application_name);
  set_default("keepalives", "1");
  set_default("keepalives_idle", "30");
  set_default("keepalives_interval", "10");
  set_default("keepalives_count", "3");
  // A server that vanishes mid-query (no RST) is given up on soon after the
  // statement timeout would have fired, instead of after TCP's ~15 minutes.
  set_default("tcp_user_timeout", std::to_string(options.statement_timeout.count() + 5000));
  // Server-side settings of every session: the statement timeout, and no
  // NOTICE chatter (e.g. "relation already exists, skipping") on stderr.
  const std::string timeout =
      "-c statement_timeout=" + std::to_string(options.statement_timeout.count()) +
      " -c client_min_messages=warning";
  bool has_options = false;
  for (auto& [k, v] : params) {
    if (k == "options") {
      v += " " + timeout;
      has_options = true;
    }
  }
  if (!has_options) params.emplace_back("options", timeout);
  return std::unique_ptr<PgPool>(new PgPool(std::move(options), std::move(params)));
}

PgPool::PgPool(PgPoolOptions options, std::vector<std::pair<std::string, std::string>> params)
    : options_(std::move(options)), params_(std::move(params)) {}

PgPool::~PgPool() = default;

Result<std::unique_ptr<PgConnection::Conn>> PgPool::Connect() {
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [k, v] : params_) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  auto conn = std::make_unique<PgConnection::Conn>();
  conn->pg = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
  if (conn->pg == nullptr) {
    return Fail(ErrorCode::kServiceUnavailable, "postgres: connect: out of memory");
  }
  if (PQstatus(conn->pg) != CONNECTION_OK) {
    std::string why = Trim(PQerrorMessage(conn->pg));
    return Fail(ErrorCode::kServiceUnavailable, "postgres: connect: " + why);
  }
  return conn;
}

Result<PgConnection> PgPool::Acquire() {
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  std::vector<std::unique_ptr<PgConnection::Conn>> stale;  // closed outside the lock
  std::unique_lock lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<PgConnection::Conn> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->generation != generation_ || PQstatus(c->pg) != CONNECTION_OK) {
        --open_;
        stale.push_back(std::move(c));
        continue;
      }
      ++in_use_;
      lock.unlock();
      stale.clear();
      return PgConnection(this, std::move(c), /*reused=*/true);
    }
    const auto now = std::chrono::steady_clock::now();
    if (open_ < options_.max_size) {
      if (now < backoff_until_) {
        return Fail(ErrorCode::kServiceUnavailable,
                    "postgres: unavailable, retrying shortly (" + last_connect_error_ + ")");
      }
      ++open_;
      ++in_use_;
      const uint64_t generation = generation_;
      lock.unlock();
      stale.clear();
      auto c = Connect();
      if (c) {
        (*c)->generation = generation;
        return PgConnection(this, std::move(*c), /*reused=*/false);
      }
      connect_failures_.fetch_add(1);
      lock.lock();
      --open_;
      --in_use_;
      backoff_until_ = std::chrono::steady_clock::now() + options_.reconnect_backoff;
      last_connect_error_ = c.error().message;
      lock.unlock();
      returned_.notify_one();
      return std::unexpected(std::move(c.error()));
    }
    if (now >= deadline) {
      acquire_timeouts_.fetch_add(1);
      return Fail(ErrorCode::kServiceUnavailable,
                  "postgres: no free connection within " +
                      std::to_string(options_.acquire_timeout.count()) + " ms (pool of " +
                      std::to_string(options_.max_size) + " busy)");
    }
    returned_.wait_until(lock, deadline);
  }
}

void PgPool::Release(std::unique_ptr<PgConnection::Conn> conn, bool keep, bool lost) {
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (lost) ++generation_;
    if (keep && conn->generation == generation_) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  returned_.notify_one();
  conn.reset();  // closes a connection that was not kept, outside the lock
}

int PgPool::InUse() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

int PgPool::Open() const {
  std::lock_guard lock(mu_);
  return open_;
}

}  // namespace pricing::engine
