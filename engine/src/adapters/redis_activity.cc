#include "adapters/redis_activity.h"

#include <algorithm>
#include <string_view>

namespace pricing::engine {
namespace {

constexpr char kTimeLeftScript[] = R"lua(
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('PTTL', key) end
return out
)lua";

std::unexpected<Error> Unexpected(std::string_view what, const redisReply* r) {
  std::string detail = r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len)
                                                    : "reply of type " + std::to_string(r->type);
  return Fail(ErrorCode::kServiceUnavailable, "redis: " + std::string(what) + ": " + detail);
}

int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

Result<RedisReplyPtr> Command(RedisPool& pool, const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  return pool.Command(views);
}

}  // namespace

RedisActivityLog::RedisActivityLog(RedisPool& pool, std::string key_prefix)
    : pool_(pool), prefix_(std::move(key_prefix)) {}

Result<void> RedisActivityLog::Record(const std::string& set, const std::vector<std::string>& names,
                                      std::chrono::system_clock::time_point at) {
  if (names.empty()) return {};
  const std::string score = std::to_string(UnixSeconds(at));
  std::vector<std::string> args = {"ZADD", prefix_ + set};
  args.reserve(2 + 2 * names.size());
  for (const std::string& name : names) {
    args.push_back(score);
    args.push_back(name);
  }
  auto reply = Command(pool_, args);
  if (!reply) return std::unexpected(reply.error());
  if ((*reply)->type != REDIS_REPLY_INTEGER) return Unexpected("ZADD", reply->get());
  return {};
}

Result<std::vector<std::string>> RedisActivityLog::Since(
    const std::string& set, std::chrono::system_clock::time_point since) {
  const std::string key = prefix_ + set;
  const std::string from = std::to_string(UnixSeconds(since));
  auto trimmed = Command(pool_, {"ZREMRANGEBYSCORE", key, "-inf", "(" + from});
  if (!trimmed) return std::unexpected(trimmed.error());
  if ((*trimmed)->type != REDIS_REPLY_INTEGER)
    return Unexpected("ZREMRANGEBYSCORE", trimmed->get());
  auto reply = Command(pool_, {"ZRANGEBYSCORE", key, from, "+inf"});
  if (!reply) return std::unexpected(reply.error());
  const redisReply* r = reply->get();
  if (r->type != REDIS_REPLY_ARRAY) return Unexpected("ZRANGEBYSCORE", r);
  std::vector<std::string> names;
  names.reserve(r->elements);
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    if (e->type != REDIS_REPLY_STRING) return Unexpected("ZRANGEBYSCORE", e);
    names.emplace_back(e->str, e->len);
  }
  return names;
}

RedisCacheExpiry::RedisCacheExpiry(RedisPool& pool, std::string key_prefix)
    : pool_(pool), prefix_(std::move(key_prefix)) {}

Result<std::vector<std::optional<std::chrono::milliseconds>>> RedisCacheExpiry::TimeLeft(
    const std::vector<std::string>& keys) {
  std::vector<std::optional<std::chrono::milliseconds>> out;
  if (keys.empty()) return out;
  std::vector<std::string> args = {"EVAL", kTimeLeftScript, std::to_string(keys.size())};
  args.reserve(3 + keys.size());
  for (const std::string& key : keys) args.push_back(prefix_ + key);
  auto reply = Command(pool_, args);
  if (!reply) return std::unexpected(reply.error());
  const redisReply* r = reply->get();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != keys.size()) return Unexpected("EVAL PTTL", r);
  out.reserve(keys.size());
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    if (e->type != REDIS_REPLY_INTEGER) return Unexpected("EVAL PTTL", e);
    if (e->integer < 0) {
      out.emplace_back(std::nullopt);
    } else {
      out.emplace_back(std::chrono::milliseconds(e->integer));
    }
  }
  return out;
}

Result<bool> RedisCacheExpiry::Claim(const std::string& claim, std::chrono::milliseconds ttl) {
  auto reply = Command(pool_, {"SET", prefix_ + claim, "1", "NX", "PX",
                               std::to_string(std::max<int64_t>(ttl.count(), 1))});
  if (!reply) return std::unexpected(reply.error());
  const redisReply* r = reply->get();
  if (r->type == REDIS_REPLY_NIL) return false;
  if (r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == "OK") return true;
  return Unexpected("SET NX", r);
}

}  // namespace pricing::engine
