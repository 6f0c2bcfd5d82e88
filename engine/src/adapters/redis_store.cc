#include "adapters/redis_store.h"

#include "adapters/thread_name.h"

#include <openssl/evp.h>

#include <algorithm>
#include <functional>

#include "engine/json_text.h"

namespace pricing::engine {
namespace {

// KEYS[1]: the window's counter. ARGV: limit, tokens wanted, expiry seconds.
// Returns {granted, count after the grant, TTL of the counter}.
constexpr char kLeaseScript[] = R"lua(
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = limit - used
if grant > want then grant = want end
if grant < 0 then grant = 0 end
if grant > 0 then
  used = redis.call('INCRBY', KEYS[1], grant)
  if redis.call('TTL', KEYS[1]) < 0 then
    redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
  end
end
return {grant, used, redis.call('TTL', KEYS[1])}
)lua";

// KEYS[1]: a reply's key. ARGV[1]: the claim's TTL in ms. Returns {0, ""}
// when it was free and is now claimed, {1, body} when settled, {2, PTTL} when
// claimed by another.
constexpr char kClaimScript[] = R"lua(
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], '', 'PX', tonumber(ARGV[1]))
  return {0, ''}
end
if v == '' then return {2, redis.call('PTTL', KEYS[1])} end
return {1, v}
)lua";

// KEYS[1]: a reply's key. Deletes it if it is still a claim (never an answer).
constexpr char kReleaseScript[] = R"lua(
if redis.call('GET', KEYS[1]) == '' then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

std::string Sha1Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha1(), nullptr) != 1) return {};
  return HexText(digest, length);
}

std::unexpected<Error> Unexpected(std::string_view what, const redisReply* r) {
  std::string detail = r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len)
                                                    : "reply of type " + std::to_string(r->type);
  return Fail(ErrorCode::kServiceUnavailable, "redis: " + std::string(what) + ": " + detail);
}

}  // namespace

// RedisCache -------------------------------------------------------------------

RedisCache::RedisCache(RedisPool& pool, std::string key_prefix)
    : pool_(pool), prefix_(std::move(key_prefix)) {}

Result<std::optional<std::string>> RedisCache::Get(const std::string& key) {
  const std::string k = prefix_ + key;
  auto reply = pool_.Command({"GET", k});
  if (!reply) return std::unexpected(reply.error());
  const redisReply* r = reply->get();
  if (r->type == REDIS_REPLY_NIL) return std::optional<std::string>();
  if (r->type == REDIS_REPLY_STRING) return std::optional<std::string>(std::string(r->str, r->len));
  return Unexpected("GET", r);
}

Result<void> RedisCache::Set(const std::string& key, const std::string& value,
                             std::chrono::seconds ttl) {
  const std::string k = prefix_ + key;
  const std::string seconds = std::to_string(std::max<int64_t>(ttl.count(), 1));
  auto reply = pool_.Command({"SET", k, value, "EX", seconds});
  if (!reply) return std::unexpected(reply.error());
  const redisReply* r = reply->get();
  if (r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == "OK") return {};
  return Unexpected("SET", r);
}

Result<void> RedisCache::Ping() { return pool_.Ping(); }

// RedisRateLimiter ---------------------------------------------------------------

RedisRateLimiter::RedisRateLimiter(RedisPool& pool, const Clock* clock)
    : pool_(pool), clock_(clock), script_sha_(Sha1Hex(kLeaseScript)) {
  refiller_ = std::thread([this] {
    NameThisThread("rate-refill");
    RefillLoop();
  });
}

RedisRateLimiter::~RedisRateLimiter() {
  {
    std::lock_guard lock(refill_mu_);
    stopping_ = true;
  }
  refill_cv_.notify_all();
  refiller_.join();
}

int64_t RedisRateLimiter::LeaseSize(int64_t limit) { return std::max<int64_t>(limit / 100, 1); }

std::string RedisRateLimiter::CounterKey(const std::string& key_id, int64_t window_index) {
  // The braces make key_id the Redis Cluster hash tag.
  return "rl:{" + key_id + "}:" + std::to_string(window_index);
}

std::shared_ptr<RedisRateLimiter::Entry> RedisRateLimiter::EntryFor(const std::string& key_id,
                                                                    int64_t window) {
  Shard& shard = shards_[std::hash<std::string>{}(key_id) % kShards];
  std::lock_guard lock(shard.mu);
  if (shard.swept_window != window) {
    // Drops keys idle since before the previous window (a busy one is kept; a
    // thread still holding a dropped one keeps it alive through its shared_ptr).
    std::erase_if(shard.entries, [&](const auto& e) {
      std::unique_lock entry_lock(e.second->mu, std::try_to_lock);
      return entry_lock.owns_lock() && e.second->window < window - 1;
    });
    shard.swept_window = window;
  }
  std::shared_ptr<Entry>& entry = shard.entries[key_id];
  if (entry == nullptr) entry = std::make_shared<Entry>();
  return entry;
}

Result<RedisRateLimiter::Grant> RedisRateLimiter::Lease(const std::string& key_id,
                                                        const RateWindow& window, int64_t limit,
                                                        int64_t want) {
  const std::string key = CounterKey(key_id, window.index);
  const std::string limit_text = std::to_string(limit);
  const std::string want_text = std::to_string(want);
  const std::string ttl_text = std::to_string(window.reset_seconds + 10);
  auto reply = pool_.Command({"EVALSHA", script_sha_, "1", key, limit_text, want_text, ttl_text});
  if (reply && (*reply)->type == REDIS_REPLY_ERROR &&
      std::string_view((*reply)->str, (*reply)->len).starts_with("NOSCRIPT")) {
    reply = pool_.Command({"EVAL", kLeaseScript, "1", key, limit_text, want_text, ttl_text});
  }
  if (!reply) return std::unexpected(reply.error());
  const redisReply* r = reply->get();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
      r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
    return Unexpected("rate-limit script", r);
  }
  return Grant{r->element[0]->integer, r->element[1]->integer};
}

void RedisRateLimiter::Roll(Entry& e, int64_t window, int64_t limit) {
  if (e.window == window) return;
  e.window = window;
  e.leased = 0;
  e.shared_remaining = limit;
  e.granted = 0;
  e.exhausted_limit = 0;
}

std::optional<RateDecision> RedisRateLimiter::TakeLocally(Entry& e, RateDecision d) {
  if (e.leased > 0) {
    --e.leased;
    ++e.granted;
    d.allowed = true;
    d.remaining = e.shared_remaining + e.leased;
    return d;
  }
  if (e.exhausted_limit == d.limit) return d;  // Redis has nothing left this window
  if (degraded_.load()) {
    // This process limits on its own, with the full limit.
    if (e.granted < d.limit) {
      ++e.granted;
      d.allowed = true;
    }
    d.remaining = d.limit - e.granted;
    return d;
  }
  return std::nullopt;
}

std::optional<RateDecision> RedisRateLimiter::TryTake(const std::string& key_id,
                                                      int64_t limit_per_minute) {
  const auto now = clock_ != nullptr ? clock_->Now() : std::chrono::system_clock::now();
  const RateWindow window = RateWindowAt(now);
  RateDecision d;
  d.limit = std::max<int64_t>(limit_per_minute, 0);
  d.reset_seconds = window.reset_seconds;
  if (d.limit == 0) return d;

  std::shared_ptr<Entry> entry = EntryFor(key_id, window.index);
  // Take holds the key's lock across its round trip: waiting for it here
  // would be waiting for Redis.
  std::unique_lock lock(entry->mu, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;
  Roll(*entry, window.index, d.limit);
  auto decided = TakeLocally(*entry, d);
  // Ahead of need: at half a lease left (or none, or while degraded, to find
  // Redis again), unless Redis has nothing left this window.
  const int64_t lease = LeaseSize(d.limit);
  if (entry->exhausted_limit != d.limit && (entry->leased * 2 < lease || degraded_.load())) {
    QueueRefill(key_id, d.limit, entry);
  }
  return decided;
}

void RedisRateLimiter::QueueRefill(const std::string& key_id, int64_t limit,
                                   const std::shared_ptr<Entry>& entry) {
  if (entry->refill_queued) return;
  entry->refill_queued = true;
  {
    std::lock_guard lock(refill_mu_);
    refill_queue_.push_back(Refill{key_id, limit, entry});
  }
  refill_cv_.notify_one();
}

void RedisRateLimiter::RefillLoop() {
  for (;;) {
    Refill job;
    {
      std::unique_lock lock(refill_mu_);
      refill_cv_.wait(lock, [&] { return stopping_ || !refill_queue_.empty(); });
      if (stopping_) return;
      job = std::move(refill_queue_.front());
      refill_queue_.pop_front();
    }
    {
      std::lock_guard lock(job.entry->mu);
      job.entry->refill_leasing = true;
    }
    const auto now = clock_ != nullptr ? clock_->Now() : std::chrono::system_clock::now();
    const RateWindow window = RateWindowAt(now);
    auto grant = Lease(job.key_id, window, job.limit, LeaseSize(job.limit));
    std::lock_guard lock(job.entry->mu);
    Entry& e = *job.entry;
    e.refill_queued = false;
    e.refill_leasing = false;
    e.landed.notify_all();  // the waiter runs once this iteration lets go of the lock
    if (!grant) {
      degraded_.store(true);
      continue;
    }
    degraded_.store(false);
    refills_.fetch_add(1);
    Roll(e, window.index, job.limit);
    // Tokens of a window that ended meanwhile are forfeited, as a lease's are.
    if (e.window != window.index) continue;
    e.shared_remaining = std::max<int64_t>(job.limit - grant->count, 0);
    e.leased += grant->granted;
    if (grant->granted == 0) e.exhausted_limit = job.limit;
  }
}

RateDecision RedisRateLimiter::Take(const std::string& key_id, int64_t limit_per_minute) {
  const auto now = clock_ != nullptr ? clock_->Now() : std::chrono::system_clock::now();
  const RateWindow window = RateWindowAt(now);
  RateDecision d;
  d.limit = std::max<int64_t>(limit_per_minute, 0);
  d.reset_seconds = window.reset_seconds;
  if (d.limit == 0) return d;

  std::shared_ptr<Entry> entry = EntryFor(key_id, window.index);
  std::unique_lock lock(entry->mu);
  Entry& e = *entry;
  // Tokens on their way to this process are its own: leasing beside them,
  // Redis could answer "none left" while they are in flight, and the client
  // would get a 429 before the next one got a 200.
  e.landed.wait(lock, [&] { return !e.refill_leasing; });
  Roll(e, window.index, d.limit);
  if (e.leased > 0 || e.exhausted_limit == d.limit) return *TakeLocally(e, d);

  auto grant = Lease(key_id, window, d.limit, LeaseSize(d.limit));
  if (!grant) {
    // Degraded: this process limits on its own, with the full limit.
    degraded_.store(true);
    if (e.granted < d.limit) {
      ++e.granted;
      d.allowed = true;
    }
    d.remaining = d.limit - e.granted;
    return d;
  }
  degraded_.store(false);
  e.shared_remaining = std::max<int64_t>(d.limit - grant->count, 0);
  if (grant->granted > 0) {
    e.leased = grant->granted - 1;
    ++e.granted;
    d.allowed = true;
    d.remaining = e.shared_remaining + e.leased;
  } else {
    e.exhausted_limit = d.limit;
  }
  return d;
}

// RedisReplyLedger -------------------------------------------------------------

RedisReplyLedger::RedisReplyLedger(RedisPool& pool,
                                   std::function<std::string(std::string_view)> key_of,
                                   std::function<void()> on_lost, size_t max_queued)
    : pool_(pool),
      key_of_(std::move(key_of)),
      on_lost_(std::move(on_lost)),
      max_queued_(std::max<size_t>(max_queued, 1)) {
  writer_ = std::thread([this] {
    NameThisThread("replies");
    WriteLoop();
  });
}

RedisReplyLedger::~RedisReplyLedger() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  writer_.join();
}

Result<ReplyClaim> RedisReplyLedger::Claim(const std::string& name,
                                           std::chrono::milliseconds ttl) {
  const std::string key = "reply:" + key_of_(name);
  auto reply = pool_.Command(
      {"EVAL", kClaimScript, "1", key, std::to_string(std::max<int64_t>(ttl.count(), 1))});
  if (!reply) return std::unexpected(reply.error());
  const redisReply* r = reply->get();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_INTEGER) {
    return Unexpected("reply claim script", r);
  }
  const redisReply* v = r->element[1];
  ReplyClaim out;
  switch (r->element[0]->integer) {
    case 0:
      out.state = ReplyClaim::State::kClaimed;
      return out;
    case 1:
      if (v->type != REDIS_REPLY_STRING) break;
      out.state = ReplyClaim::State::kAnswered;
      out.body.assign(v->str, v->len);
      return out;
    case 2:
      if (v->type != REDIS_REPLY_INTEGER) break;
      out.state = ReplyClaim::State::kInProgress;
      out.left = std::chrono::milliseconds(std::max<long long>(v->integer, 0));
      return out;
  }
  return Unexpected("reply claim script", r);
}

void RedisReplyLedger::Settle(const std::string& name, std::optional<std::string> body,
                              std::chrono::seconds ttl) {
  Write w{"reply:" + key_of_(name), std::move(body), ttl};
  {
    std::lock_guard lock(mu_);
    if (queue_.size() < max_queued_) {
      queue_.push_back(std::move(w));
      cv_.notify_one();
      return;
    }
  }
  Lost();
}

void RedisReplyLedger::Flush() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

void RedisReplyLedger::Lost() {
  if (on_lost_) on_lost_();
}

void RedisReplyLedger::WriteLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    Write w = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    Result<RedisReplyPtr> reply =
        w.body ? pool_.Command({"SET", w.key, *w.body, "PX",
                                std::to_string(std::max<int64_t>(
                                    std::chrono::milliseconds(w.ttl).count(), 1))})
               : pool_.Command({"EVAL", kReleaseScript, "1", w.key});
    if (!reply || (*reply)->type == REDIS_REPLY_ERROR) Lost();
    lock.lock();
    writing_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace pricing::engine
