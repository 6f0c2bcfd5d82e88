// Redis behind the engine's Cache and RateLimiter ports (docs/design.md §2.3),
// over a RedisPool (redis_pool.h).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "adapters/memory_store.h"
#include "adapters/redis_pool.h"
#include "engine/ports.h"

namespace pricing::engine {

// Cache over Redis strings: GET, and SET with EX. Any outage is an error
// (kServiceUnavailable), returned fast while the pool backs off. Thread-safe.
class RedisCache : public Cache {
 public:
  // `pool` must outlive the cache. Entries are stored under key_prefix + key.
  explicit RedisCache(RedisPool& pool, std::string key_prefix = "");

  Result<std::optional<std::string>> Get(const std::string& key) override;
  // A TTL under one second is stored as one second.
  Result<void> Set(const std::string& key, const std::string& value,
                   std::chrono::seconds ttl) override;
  Result<void> Ping() override;

 private:
  RedisPool& pool_;
  const std::string prefix_;
};

// Per key, per calendar minute (of `clock`) rate limits that hold across every
// process sharing the Redis (docs/design.md §2.3).
//
// Shared mode: the count of a key's window lives in Redis under
// rl:{key_id}:<minutes since the epoch>. A Lua script (EVALSHA, falling back
// to EVAL on NOSCRIPT) atomically grants up to LeaseSize(limit) tokens
// without ever taking the count past the limit, sets the key's expiry at the
// window's end (+10 s), and returns the tokens granted, the count and the TTL.
// The process keeps a lease's unused tokens in memory and spends them without
// a round trip until the window ends (tokens left then are forfeited, so all
// processes together never grant more than the limit). Once Redis grants
// nothing for a window, the key is refused locally until the window ends.
//
// Degraded mode: while Redis cannot be reached each process limits on its
// own: at most `limit` grants per key per window by this process (shared and
// local grants together), which is the full limit per process. degraded()
// reports it; the first successful round trip returns to shared mode.
//
// TryTake never waits on Redis: it spends the unspent lease, and once that
// falls to half a lease it asks a background thread to lease more ahead of
// need, so an event loop rarely finds it empty (then TryTake answers nullopt
// and the caller takes the round trip with Take where it may block). While
// degraded it decides locally and the refiller probes Redis.
//
// RateDecision::remaining is this process's view: tokens left in Redis at its
// last round trip plus its unspent lease. Thread-safe: keys are spread over
// mutex-guarded shards, each key's state has its own mutex.
class RedisRateLimiter : public RateLimiter {
 public:
  // `pool` and `clock` (not owned; the system clock when null) must outlive
  // the limiter.
  explicit RedisRateLimiter(RedisPool& pool, const Clock* clock = nullptr);
  ~RedisRateLimiter() override;
  RedisRateLimiter(const RedisRateLimiter&) = delete;
  RedisRateLimiter& operator=(const RedisRateLimiter&) = delete;

  RateDecision Take(const std::string& key_id, int64_t limit_per_minute) override;
  std::optional<RateDecision> TryTake(const std::string& key_id,
                                      int64_t limit_per_minute) override;

  // Leases taken ahead of need by the background refiller so far.
  int64_t refills() const { return refills_.load(); }

  // True while the latest attempt to reach Redis failed.
  bool degraded() const { return degraded_.load(); }

  // Tokens leased per round trip: 1 % of `limit`, at least 1.
  static int64_t LeaseSize(int64_t limit);
  // The Redis key that counts `key_id`'s grants in window `window_index`.
  static std::string CounterKey(const std::string& key_id, int64_t window_index);

 private:
  struct Entry {
    std::mutex mu;
    int64_t window = -1;           // the window the fields below describe
    int64_t leased = 0;            // unspent tokens granted by Redis
    int64_t shared_remaining = 0;  // limit - count at the last round trip
    int64_t granted = 0;           // grants by this process in the window
    int64_t exhausted_limit = 0;   // >0: Redis granted nothing at this limit
    bool refill_queued = false;    // a background lease is queued or running
    bool refill_leasing = false;   // ...and its round trip has begun
    std::condition_variable landed;  // notified when a background lease lands
  };
  struct Refill {
    std::string key_id;
    int64_t limit = 0;
    std::shared_ptr<Entry> entry;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<Entry>> entries;  // guarded by mu
    int64_t swept_window = 0;                                         // guarded by mu
  };
  struct Grant {
    int64_t granted = 0;
    int64_t count = 0;
  };
  static constexpr size_t kShards = 16;

  std::shared_ptr<Entry> EntryFor(const std::string& key_id, int64_t window);
  // Starts `e`'s window over if `window` is a new one. REQUIRES: e.mu held.
  static void Roll(Entry& e, int64_t window, int64_t limit);
  // Spends a token of `e` without Redis if it can: from the lease, or
  // refused (exhausted), or locally while degraded. REQUIRES: e.mu held.
  std::optional<RateDecision> TakeLocally(Entry& e, RateDecision d);
  // Queues a background lease for `key_id` unless one is queued.
  // REQUIRES: entry->mu held.
  void QueueRefill(const std::string& key_id, int64_t limit, const std::shared_ptr<Entry>& entry);
  void RefillLoop();
  // Asks Redis for up to `want` tokens of `key_id` in `window`.
  Result<Grant> Lease(const std::string& key_id, const RateWindow& window, int64_t limit,
                      int64_t want);

  RedisPool& pool_;
  const Clock* clock_;
  const std::string script_sha_;
  std::array<Shard, kShards> shards_;
  std::atomic<bool> degraded_{false};
  std::atomic<int64_t> refills_{0};

  std::mutex refill_mu_;
  std::condition_variable refill_cv_;
  std::deque<Refill> refill_queue_;  // guarded by refill_mu_
  bool stopping_ = false;            // guarded by refill_mu_
  std::thread refiller_;
};

// The shared reply ledger over Redis strings, one per name under
// "reply:" + a name-based UUID of the name: "" while claimed, the answer's
// body once settled. Claim is one EVAL (GET, then SET PX when absent, or PTTL
// of a claim in progress). Settle queues its write for a background thread
// (SET PX of the body, or an EVAL that deletes the key if it is still a
// claim), so the caller never waits on Redis; a write that fails, or that
// finds the queue full, is given to `on_lost` and the claim lapses on its
// own. Thread-safe.
class RedisReplyLedger : public ReplyLedger {
 public:
  // `pool` must outlive the ledger. `key_of` maps a name to its key suffix.
  RedisReplyLedger(RedisPool& pool, std::function<std::string(std::string_view)> key_of,
                   std::function<void()> on_lost = nullptr, size_t max_queued = 4096);
  ~RedisReplyLedger() override;
  RedisReplyLedger(const RedisReplyLedger&) = delete;
  RedisReplyLedger& operator=(const RedisReplyLedger&) = delete;

  Result<ReplyClaim> Claim(const std::string& name, std::chrono::milliseconds ttl) override;
  void Settle(const std::string& name, std::optional<std::string> body,
              std::chrono::seconds ttl) override;

  // Waits until every queued write has been tried (tests).
  void Flush();

 private:
  struct Write {
    std::string key;
    std::optional<std::string> body;
    std::chrono::seconds ttl{0};
  };
  void WriteLoop();
  void Lost();

  RedisPool& pool_;
  const std::function<std::string(std::string_view)> key_of_;
  const std::function<void()> on_lost_;
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Write> queue_;  // guarded by mu_
  bool writing_ = false;     // guarded by mu_
  bool stopping_ = false;    // guarded by mu_
  std::thread writer_;
};

}  // namespace pricing::engine
