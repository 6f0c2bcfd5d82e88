// Redis behind the ActivityLog and CacheExpiry ports (ports.h), over a
// RedisPool: the active tickers and clients shared by the calculation and
// cache roles, and the expiry probes and refresh claims of the cache role.
//
// ActivityLog: set S is the sorted set `<prefix>S` of name -> last seen (Unix
// seconds); Record is one ZADD, Since one ZREMRANGEBYSCORE (dropping names
// older than `since`) and one ZRANGEBYSCORE.
// CacheExpiry: TimeLeft is one EVAL returning PTTL of every key; Claim is
// SET claim 1 NX PX ttl.
// Any outage is kServiceUnavailable. Thread-safe.
#pragma once

#include <string>

#include "adapters/redis_pool.h"
#include "engine/ports.h"

namespace pricing::engine {

class RedisActivityLog : public ActivityLog {
 public:
  // `pool` must outlive the log.
  explicit RedisActivityLog(RedisPool& pool, std::string key_prefix = "active:");

  Result<void> Record(const std::string& set, const std::vector<std::string>& names,
                      std::chrono::system_clock::time_point at) override;
  Result<std::vector<std::string>> Since(const std::string& set,
                                         std::chrono::system_clock::time_point since) override;

 private:
  RedisPool& pool_;
  const std::string prefix_;
};

class RedisCacheExpiry : public CacheExpiry {
 public:
  // `pool` must outlive it. Keys are looked up as key_prefix + key, like
  // RedisCache's.
  explicit RedisCacheExpiry(RedisPool& pool, std::string key_prefix = "");

  Result<std::vector<std::optional<std::chrono::milliseconds>>> TimeLeft(
      const std::vector<std::string>& keys) override;
  Result<bool> Claim(const std::string& claim, std::chrono::milliseconds ttl) override;

 private:
  RedisPool& pool_;
  const std::string prefix_;
};

}  // namespace pricing::engine
