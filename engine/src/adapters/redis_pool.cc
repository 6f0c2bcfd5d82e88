#include "adapters/redis_pool.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "engine/internal_api.h"

namespace pricing::engine {

struct RedisPool::Context {
  redisContext* c = nullptr;
  uint64_t generation = 0;

  ~Context() {
    if (c != nullptr) redisFree(c);
  }
};

namespace {

// Blocks SIGPIPE in this thread for its lifetime and swallows one raised
// meanwhile by a write to a closed socket (hiredis uses write(), not
// send(MSG_NOSIGNAL)). The technique libpq uses.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &saved_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        const timespec zero{0, 0};
        sigtimedwait(&pipe, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t saved_;
  bool was_pending_ = false;
};

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

bool ParseNumber(std::string_view s, int min, int max, int* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && *out >= min && *out <= max;
}

// Returns the reply's error text when it is an error reply.
std::optional<std::string> ErrorReply(const redisReply* r) {
  if (r->type != REDIS_REPLY_ERROR) return std::nullopt;
  return std::string(r->str, r->len);
}

// `url` with its credentials, if any, replaced by "***", for messages: a
// start-up error must not print the password.
std::string WithoutCredentials(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  const size_t end = std::min(url.find('/', start), url.size());
  const size_t at = url.substr(0, end).rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(url);
  return std::string(url.substr(0, start)) + "***" + std::string(url.substr(at));
}

}  // namespace

Result<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  auto bad = [url](std::string_view why) {
    return Fail(ErrorCode::kInvalidParameter,
                "redis URL '" + WithoutCredentials(url) + "': " + std::string(why), "redis_url");
  };
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return bad("must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisEndpoint ep;
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    auto user = PercentDecode(userinfo.substr(0, colon));
    auto pass = PercentDecode(colon == std::string_view::npos ? "" : userinfo.substr(colon + 1));
    if (!user || !pass) return bad("malformed %-escape in the credentials");
    if (colon == std::string_view::npos) {
      // redis://secret@host: a lone userinfo is the password.
      ep.password = *user;
    } else {
      ep.username = *user;
      ep.password = *pass;
    }
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6] host");
    ep.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return bad("junk after the [IPv6] host");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (ep.host.empty()) return bad("no host");
  if (!port_text.empty() && !ParseNumber(port_text, 1, 65535, &ep.port)) {
    return bad("port must be 1..65535");
  }
  if (!path.empty() && !ParseNumber(path, 0, 1 << 20, &ep.db)) {
    return bad("database must be a number, as in redis://host:6379/0");
  }
  return ep;
}

Result<std::unique_ptr<RedisPool>> RedisPool::Create(RedisPoolOptions options) {
  auto endpoint = ParseRedisUrl(options.url);
  if (!endpoint) return std::unexpected(endpoint.error());
  if (options.max_size < 1) {
    return Fail(ErrorCode::kInvalidParameter, "redis: pool max_size must be at least 1");
  }
  return std::unique_ptr<RedisPool>(new RedisPool(std::move(options), std::move(*endpoint)));
}

RedisPool::RedisPool(RedisPoolOptions options, RedisEndpoint endpoint)
    : options_(std::move(options)), endpoint_(std::move(endpoint)) {}

RedisPool::~RedisPool() = default;

Result<std::unique_ptr<RedisPool::Context>> RedisPool::Connect() {
  const std::string where = endpoint_.host + ":" + std::to_string(endpoint_.port);
  auto ctx = std::make_unique<Context>();
  ScopedSigpipeBlock no_sigpipe;
  ctx->c = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                   ToTimeval(options_.connect_timeout));
  if (ctx->c == nullptr) return Fail(ErrorCode::kServiceUnavailable, "redis: out of memory");
  if (ctx->c->err != 0) {
    return Fail(ErrorCode::kServiceUnavailable,
                "redis: connect to " + where + ": " + std::string(ctx->c->errstr));
  }
  if (redisSetTimeout(ctx->c, ToTimeval(options_.command_timeout)) != REDIS_OK) {
    return Fail(ErrorCode::kServiceUnavailable, "redis: cannot set the command timeout");
  }
  auto setup = [&](const std::vector<std::string>& args) -> Result<void> {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    RedisReplyPtr reply(static_cast<redisReply*>(
        redisCommandArgv(ctx->c, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (reply == nullptr) {
      return Fail(ErrorCode::kServiceUnavailable,
                  "redis: " + args[0] + " on " + where + ": " + std::string(ctx->c->errstr));
    }
    if (auto e = ErrorReply(reply.get())) {
      return Fail(ErrorCode::kServiceUnavailable, "redis: " + args[0] + " refused: " + *e);
    }
    return {};
  };
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!endpoint_.username.empty()) auth.push_back(endpoint_.username);
    auth.push_back(endpoint_.password);
    if (auto r = setup(auth); !r) return std::unexpected(r.error());
  }
  if (endpoint_.db != 0) {
    if (auto r = setup({"SELECT", std::to_string(endpoint_.db)}); !r) {
      return std::unexpected(r.error());
    }
  }
  return ctx;
}

void RedisPool::NoteFailure(const std::string& why) {
  failures_.fetch_add(1);
  std::lock_guard lock(mu_);
  backoff_until_ = std::chrono::steady_clock::now() + options_.reconnect_backoff;
  last_error_ = why;
}

Result<std::unique_ptr<RedisPool::Context>> RedisPool::Acquire(bool* reused) {
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  std::vector<std::unique_ptr<Context>> stale;  // freed outside the lock
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now < backoff_until_) {
      return Fail(ErrorCode::kServiceUnavailable,
                  "redis: unavailable, retrying shortly (" + last_error_ + ")");
    }
    while (!idle_.empty()) {
      std::unique_ptr<Context> ctx = std::move(idle_.back());
      idle_.pop_back();
      if (ctx->generation != generation_) {
        --open_;
        stale.push_back(std::move(ctx));
        continue;
      }
      ++in_use_;
      *reused = true;
      return ctx;
    }
    if (open_ < options_.max_size) {
      ++open_;
      ++in_use_;
      const uint64_t generation = generation_;
      lock.unlock();
      stale.clear();
      auto ctx = Connect();
      if (ctx) {
        (*ctx)->generation = generation;
        *reused = false;
        return ctx;
      }
      {
        std::lock_guard relock(mu_);
        --open_;
        --in_use_;
      }
      returned_.notify_one();
      NoteFailure(ctx.error().message);
      return std::unexpected(std::move(ctx.error()));
    }
    if (now >= deadline) {
      return Fail(ErrorCode::kServiceUnavailable,
                  "redis: no free connection within " +
                      std::to_string(options_.acquire_timeout.count()) + " ms");
    }
    returned_.wait_until(lock, deadline);
  }
}

void RedisPool::Release(std::unique_ptr<Context> ctx, bool ok) {
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (ok && ctx->generation == generation_) {
      idle_.push_back(std::move(ctx));
    } else {
      --open_;
      if (!ok) ++generation_;
    }
  }
  returned_.notify_one();
  ctx.reset();
}

Result<RedisReplyPtr> RedisPool::Command(const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  const std::string name = args.empty() ? std::string() : std::string(args[0]);
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    auto ctx = Acquire(&reused);
    if (!ctx) return std::unexpected(std::move(ctx.error()));
    void* raw = nullptr;
    int saved_errno = 0;
    {
      ScopedSigpipeBlock no_sigpipe;
      errno = 0;
      raw = redisCommandArgv((*ctx)->c, static_cast<int>(argv.size()), argv.data(), lens.data());
      saved_errno = errno;
    }
    if (raw != nullptr) {
      Release(std::move(*ctx), /*ok=*/true);
      return RedisReplyPtr(static_cast<redisReply*>(raw));
    }
    const int err = (*ctx)->c->err;
    std::string why = (*ctx)->c->errstr;
    if (err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
      why = "no reply within " + std::to_string(options_.command_timeout.count()) + " ms";
    }
    const bool closed_by_server =
        err == REDIS_ERR_EOF ||
        (err == REDIS_ERR_IO && (saved_errno == ECONNRESET || saved_errno == EPIPE));
    Release(std::move(*ctx), /*ok=*/false);
    if (attempt == 0 && reused && closed_by_server) continue;
    NoteFailure(why);
    return Fail(ErrorCode::kServiceUnavailable, "redis: " + name + ": " + why);
  }
}

Result<void> RedisPool::Ping() {
  auto reply = Command({"PING"});
  if (!reply) return std::unexpected(reply.error());
  const redisReply* r = reply->get();
  if (r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == "PONG") return {};
  return Fail(ErrorCode::kServiceUnavailable, "redis: PING: unexpected reply");
}

int RedisPool::InUse() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

}  // namespace pricing::engine
