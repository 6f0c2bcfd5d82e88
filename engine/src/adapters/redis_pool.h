// A pool of synchronous hiredis connections with connect and command
// timeouts, shared by the Redis cache and the Redis rate limiter.
//
// Outages are cheap for callers: a context that fails (I/O error, timeout,
// server gone) is discarded, together with every idle context opened before
// it, and recreated on next use; after a failed connect or command the pool
// answers kServiceUnavailable immediately for `reconnect_backoff` (default
// 1 s) instead of paying a timeout per request. A command that fails because a
// pooled connection was closed by the server (a restart) is retried once on a
// new connection. SIGPIPE from writing to a closed socket is suppressed per
// call, whatever the process's disposition. Thread-safe.
#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"

namespace pricing::engine {

struct RedisPoolOptions {
  std::string url;  // redis://[[user]:password@]host[:port][/db]
  int max_size = 8;
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{500};
  std::chrono::milliseconds acquire_timeout{500};
  std::chrono::milliseconds reconnect_backoff{1000};
};

struct RedisEndpoint {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string username;  // empty: none (Redis < 6 style AUTH)
  std::string password;  // empty: no AUTH
};

// Parses redis://[[user]:password@]host[:port][/db] (the host may be an
// IPv6 literal in brackets; user and password are percent-decoded).
// kInvalidParameter with field "redis_url" on anything else.
Result<RedisEndpoint> ParseRedisUrl(std::string_view url);

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

class RedisPool {
 public:
  // Validates the options and the URL; connects lazily.
  static Result<std::unique_ptr<RedisPool>> Create(RedisPoolOptions options);

  ~RedisPool();
  RedisPool(const RedisPool&) = delete;
  RedisPool& operator=(const RedisPool&) = delete;

  // Runs one command with binary-safe arguments. The reply may be an error
  // reply (type REDIS_REPLY_ERROR: the server refused the command, the
  // connection is fine). An Error (kServiceUnavailable) means no reply:
  // connect failure, I/O error or timeout, no free connection within
  // acquire_timeout, or the backoff after a recent failure.
  Result<RedisReplyPtr> Command(const std::vector<std::string_view>& args);

  // Returns ok when the server answers PING with PONG.
  Result<void> Ping();

  // Metrics: leased contexts, the maximum, and failures (connects and
  // commands without a reply) since creation.
  int InUse() const;
  int MaxSize() const { return options_.max_size; }
  int64_t Failures() const { return failures_.load(); }

  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  struct Context;
  RedisPool(RedisPoolOptions options, RedisEndpoint endpoint);
  // Returns a pooled or new context; `reused` tells which.
  Result<std::unique_ptr<Context>> Acquire(bool* reused);
  Result<std::unique_ptr<Context>> Connect();
  void Release(std::unique_ptr<Context> ctx, bool ok);
  void NoteFailure(const std::string& why);

  const RedisPoolOptions options_;
  const RedisEndpoint endpoint_;

  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Context>> idle_;             // guarded by mu_
  int open_ = 0;                                           // guarded by mu_
  int in_use_ = 0;                                         // guarded by mu_
  uint64_t generation_ = 0;                                // guarded by mu_
  std::chrono::steady_clock::time_point backoff_until_{};  // guarded by mu_
  std::string last_error_;                                 // guarded by mu_
  std::atomic<int64_t> failures_{0};
};

}  // namespace pricing::engine
