// A fixed-size pool of libpq connections to PostgreSQL, shared by the
// reference store, the seeder, the migration runner and the audit writer.
//
// Connections are opened lazily (an engine starts while the database is down)
// with a connect timeout, TCP keep-alives and user timeout, and a server-side
// statement_timeout. Acquire() waits at most `acquire_timeout` for a free connection. A connection
// found broken (PQstatus) is closed instead of returned, and every idle
// connection opened before it is dropped too, since a server restart breaks
// them all. After a failed connect, Acquire() fails fast for
// `reconnect_backoff` instead of paying a connect timeout per request.
//
// Every statement is parameterized: values travel as text parameters
// ($1, $2, ...), decimals as Decimal::ToString() text, never spliced into SQL.
// Failures map to ErrorCode::kServiceUnavailable ("postgres: ..."), except data
// errors the server reports for a statement's values (SQLSTATE classes 22 and
// 23: invalid text, out of range, constraint violations), which map to
// kInvalidParameter because retrying cannot fix them. Thread-safe.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/error.h"

namespace pricing::engine {

struct PgPoolOptions {
  // libpq conninfo ("host=... dbname=...") or URI ("postgresql://..."). The
  // settings below apply unless the conninfo sets the same libpq keyword.
  std::string conninfo;
  int max_size = 8;
  std::chrono::milliseconds acquire_timeout{2000};
  std::chrono::seconds connect_timeout{2};  // libpq rounds 1 s up to 2 s
  std::chrono::milliseconds statement_timeout{5000};
  std::chrono::milliseconds reconnect_backoff{500};
  std::string application_name = "pricing-engine";
};

// Text parameters of one statement; nullopt is SQL NULL.
using PgParams = std::vector<std::optional<std::string>>;

// One result set. Values are the server's text form.
class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result) {}

  int rows() const { return PQntuples(result_.get()); }
  int columns() const { return PQnfields(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  // Returns the value's text; empty for NULL.
  std::string_view Get(int row, int column) const {
    return {PQgetvalue(result_.get(), row, column),
            static_cast<size_t>(PQgetlength(result_.get(), row, column))};
  }
  // Returns the value's text, or nullopt for NULL.
  std::optional<std::string_view> GetOptional(int row, int column) const {
    if (IsNull(row, column)) return std::nullopt;
    return Get(row, column);
  }
  // Rows inserted, updated or deleted by the statement.
  int64_t affected_rows() const;

 private:
  struct Deleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Deleter> result_;
};

class PgPool;

// A connection leased from a PgPool; returned to it on destruction. Use from
// one thread at a time.
class PgConnection {
 public:
  PgConnection(PgConnection&& other) noexcept;
  PgConnection& operator=(PgConnection&&) = delete;
  ~PgConnection();

  // Runs `sql` with parameters $1..$n.
  Result<PgResult> Exec(const std::string& sql, const PgParams& params = {});
  // Like Exec, preparing `sql` under `name` on first use on this connection.
  // REQUIRES: one `sql` per `name`.
  Result<PgResult> ExecPrepared(const std::string& name, const std::string& sql,
                                const PgParams& params = {});
  // Runs a script of one or more parameterless statements (migrations only).
  Result<void> ExecScript(const std::string& sql);
  // Runs `copy_sql` (a `COPY ... FROM STDIN` statement) and streams `rows`,
  // COPY text format, to it. Returns the number of rows copied. On failure,
  // `*sqlstate` (when given) receives the server's SQLSTATE, or "" if none.
  Result<int64_t> CopyIn(const std::string& copy_sql, std::string_view rows,
                         std::string* sqlstate = nullptr);
  // Runs `body` between BEGIN and COMMIT; rolls back when it fails.
  Result<void> Transaction(const std::function<Result<void>()>& body);

  // True once the connection to the server is lost.
  bool broken() const;
  // True when the connection came from the idle list rather than a new connect.
  bool reused() const { return reused_; }
  // Closes the connection instead of returning it to the pool (e.g. after
  // changing session settings).
  void Discard() { discard_ = true; }

 private:
  friend class PgPool;
  struct Conn;
  PgConnection(PgPool* pool, std::unique_ptr<Conn> conn, bool reused);
  Error Failure(std::string_view what, const PGresult* result);
  // Returns `raw` as a result when the statement succeeded; else clears it.
  Result<PgResult> Check(std::string_view what, PGresult* raw);

  PgPool* pool_;
  std::unique_ptr<Conn> conn_;
  bool reused_;
  bool discard_ = false;
};

class PgPool {
 public:
  // Validates the options and the conninfo syntax (kInvalidParameter); opens
  // no connection.
  static Result<std::unique_ptr<PgPool>> Create(PgPoolOptions options);

  // REQUIRES: no PgConnection of this pool is alive.
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Returns an idle connection, or a new one while fewer than max_size are
  // open, or waits up to acquire_timeout for one to be returned.
  // kServiceUnavailable on timeout, connect failure, or during the backoff
  // after a connect failure.
  Result<PgConnection> Acquire();

  // Runs fn(PgConnection&) -> Result<T> on a leased connection. When it fails
  // because a pooled connection turned out to be dead (the server restarted),
  // runs it once more on a new connection.
  // REQUIRES: fn is safe to run twice (a read, a transaction, or idempotent).
  template <typename F>
  std::invoke_result_t<F&, PgConnection&> Run(F&& fn);

  // Metrics: leased connections, the maximum, open connections (leased + idle),
  // and counters of acquire timeouts and failed connects since creation.
  int InUse() const;
  int MaxSize() const { return options_.max_size; }
  int Open() const;
  int64_t AcquireTimeouts() const { return acquire_timeouts_.load(); }
  int64_t ConnectFailures() const { return connect_failures_.load(); }

  const PgPoolOptions& options() const { return options_; }

 private:
  friend class PgConnection;
  explicit PgPool(PgPoolOptions options, std::vector<std::pair<std::string, std::string>> params);
  Result<std::unique_ptr<PgConnection::Conn>> Connect();
  void Release(std::unique_ptr<PgConnection::Conn> conn, bool keep, bool lost);

  const PgPoolOptions options_;
  // libpq keyword/value pairs: the conninfo's plus the pool's defaults.
  const std::vector<std::pair<std::string, std::string>> params_;

  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<PgConnection::Conn>> idle_;  // guarded by mu_
  int open_ = 0;                                           // guarded by mu_
  int in_use_ = 0;                                         // guarded by mu_
  uint64_t generation_ = 0;  // guarded by mu_; bumped when a connection is lost
  std::chrono::steady_clock::time_point backoff_until_{};  // guarded by mu_
  std::string last_connect_error_;                         // guarded by mu_
  std::atomic<int64_t> acquire_timeouts_{0};
  std::atomic<int64_t> connect_failures_{0};
};

template <typename F>
std::invoke_result_t<F&, PgConnection&> PgPool::Run(F&& fn) {
  for (int attempt = 0;; ++attempt) {
    auto conn = Acquire();
    if (!conn) return std::unexpected(std::move(conn.error()));
    auto result = fn(*conn);
    if (result.has_value() || attempt > 0 || !conn->reused() || !conn->broken()) return result;
  }
}

}  // namespace pricing::engine
