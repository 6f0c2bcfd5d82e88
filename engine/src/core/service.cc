#include "engine/service.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>

#include "engine/internal_api.h"
#include "engine/json_text.h"
#include "engine/pricing.h"
#include "engine/shared_cache.h"
#include "engine/time_text.h"
#include "engine/validation.h"

namespace pricing::engine {

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using SysTime = std::chrono::system_clock::time_point;

constexpr std::string_view kApiPrefix = "/api/v1/";

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Iso8601(SysTime t) { return Rfc3339Utc(t, 3); }

ApiResponse Json(int status, std::string body, Headers headers = {}) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

}  // namespace

// How long the answer to a request with the client's request id is kept for
// its retries.
constexpr std::chrono::seconds kReplyTtl{600};

// Cache text of the reference rows kept in the shared cache. Decimals travel as
// their exact text; "-" marks a row that does not exist (negative caching).
constexpr std::string_view kAbsent = "-";

std::string EncodeStock(const std::optional<Stock>& s) {
  if (!s) return std::string(kAbsent);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("t").String(s->ticker)
      .Key("s").String(BorrowStatusName(s->borrow_status))
      .Key("m").String(s->min_borrow_rate.ToString())
      .Key("l").String(s->lender_api_id)
      .EndObject();
  return out;
}

std::optional<std::optional<Stock>> DecodeStock(std::string_view text) {
  if (text == kAbsent) return std::optional<Stock>();
  auto obj = ParseFlatJsonObject(text);
  if (!obj) return std::nullopt;
  const JsonToken* t = obj->Find("t");
  const JsonToken* s = obj->Find("s");
  const JsonToken* m = obj->Find("m");
  const JsonToken* l = obj->Find("l");
  if (!t || !s || !m || !l) return std::nullopt;
  auto status = ParseBorrowStatus(s->text);
  auto min = Decimal::Parse(m->text);
  if (!status || !min) return std::nullopt;
  return std::optional<Stock>(Stock{t->text, *status, *min, l->text});
}

std::string EncodeBroker(const std::optional<Broker>& b) {
  if (!b) return std::string(kAbsent);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("c").String(b->client_id)
      .Key("m").String(b->markup_percentage.ToString())
      .Key("f").String(FeeTypeName(b->transaction_fee_type))
      .Key("a").String(b->transaction_amount.ToString())
      .Key("d").Int(b->day_count)
      .EndObject();
  return out;
}

std::optional<std::optional<Broker>> DecodeBroker(std::string_view text) {
  if (text == kAbsent) return std::optional<Broker>();
  auto obj = ParseFlatJsonObject(text);
  if (!obj) return std::nullopt;
  const JsonToken* c = obj->Find("c");
  const JsonToken* m = obj->Find("m");
  const JsonToken* f = obj->Find("f");
  const JsonToken* a = obj->Find("a");
  const JsonToken* d = obj->Find("d");
  if (!c || !m || !f || !a || !d) return std::nullopt;
  auto markup = Decimal::Parse(m->text);
  auto fee = ParseFeeType(f->text);
  auto amount = Decimal::Parse(a->text);
  int days = 0;
  auto [p, ec] = std::from_chars(d->text.data(), d->text.data() + d->text.size(), days);
  if (!markup || !fee || !amount || ec != std::errc() || p != d->text.data() + d->text.size()) {
    return std::nullopt;
  }
  return std::optional<Broker>(Broker{c->text, *markup, *fee, *amount, days});
}

std::string EncodeVolatility(const std::optional<VolatilityRow>& v) {
  if (!v) return std::string(kAbsent);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("t").String(v->ticker);
  if (v->vol_index) w.Key("v").String(v->vol_index->ToString());
  if (v->event_risk_factor) w.Key("e").Int(*v->event_risk_factor);
  w.EndObject();
  return out;
}

std::optional<std::optional<VolatilityRow>> DecodeVolatility(std::string_view text) {
  if (text == kAbsent) return std::optional<VolatilityRow>();
  auto obj = ParseFlatJsonObject(text);
  if (!obj) return std::nullopt;
  const JsonToken* t = obj->Find("t");
  if (!t) return std::nullopt;
  VolatilityRow row{t->text, std::nullopt, std::nullopt};
  if (const JsonToken* v = obj->Find("v")) {
    row.vol_index = Decimal::Parse(v->text);
    if (!row.vol_index) return std::nullopt;
  }
  if (const JsonToken* e = obj->Find("e")) {
    int risk = 0;
    auto [p, ec] = std::from_chars(e->text.data(), e->text.data() + e->text.size(), risk);
    if (ec != std::errc() || p != e->text.data() + e->text.size()) return std::nullopt;
    row.event_risk_factor = risk;
  }
  return std::optional<VolatilityRow>(std::move(row));
}

namespace {

bool IsJsonContentType(std::string_view ct) {
  size_t semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  if (media.size() != kJson.size()) return false;
  for (size_t i = 0; i < kJson.size(); ++i) {
    if (AsciiLowerChar(media[i]) != kJson[i]) return false;
  }
  return true;
}

}  // namespace

std::string_view ApiRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

// Per-request state: whether blocking is allowed, and whether a lookup wanted
// to block while it was not.
struct PricingService::Ctx {
  bool may_block = false;
  bool would_block = false;
  // A key or reference row came from its last known good value: the store
  // did not answer.
  bool stale = false;
  SysTime now;
};

namespace {

// Keeps a request's admission when the pass that admitted it returns to be
// run again where it may block (a later stage would wait), so the request
// is admitted, and spends its token, once. Allocates only then.
class KeepAdmission {
 public:
  KeepAdmission(const bool& would_block, const ApiRequest& request, std::optional<ApiKey>& key,
                Headers& rate_headers)
      : would_block_(would_block), request_(request), key_(key), rate_headers_(rate_headers) {}
  KeepAdmission(const KeepAdmission&) = delete;
  KeepAdmission& operator=(const KeepAdmission&) = delete;
  ~KeepAdmission() {
    if (!would_block_ || !key_ || request_.admitted) return;
    request_.admitted =
        std::make_shared<const Admission>(Admission{std::move(*key_), std::move(rate_headers_)});
  }

 private:
  const bool& would_block_;
  const ApiRequest& request_;
  std::optional<ApiKey>& key_;
  Headers& rate_headers_;
};

}  // namespace

PricingService::PricingService(ServiceDeps deps, ServiceOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      stale_(std::make_unique<Staleness>(options_.stale_limit)) {
  if (options_.readiness_interval.count() <= 0) return;
  last_ready_ = Ready(deps_.clock->Now());
  prober_ = std::thread([this] {
    std::unique_lock lock(ready_mu_);
    while (!ready_cv_.wait_for(lock, options_.readiness_interval, [&] { return stopping_; })) {
      lock.unlock();
      ApiResponse answer = Ready(deps_.clock->Now());
      lock.lock();
      last_ready_ = std::move(answer);
    }
  });
}

PricingService::~PricingService() {
  if (!prober_.joinable()) return;
  {
    std::lock_guard lock(ready_mu_);
    stopping_ = true;
  }
  ready_cv_.notify_all();
  prober_.join();
}

std::string PricingService::ErrorBody(const Error& error) {
  std::string out;
  out.reserve(160);
  JsonWriter w(&out);
  w.BeginObject().Key("status").String("error").Key("error").BeginObject();
  w.Key("code").String(ErrorCodeName(error.code)).Key("message").String(error.message);
  if (!error.field.empty()) w.Key("field").String(error.field);
  w.EndObject().EndObject();
  return out;
}

ApiResponse PricingService::ErrorResponse(const Error& error) {
  return Json(HttpStatus(error.code), ErrorBody(error));
}

bool PricingService::Handle(const ApiRequest& request, Done done, bool may_block) {
  Ctx ctx{may_block, false, false, deps_.clock->Now()};
  const std::string_view path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  auto method_not_allowed = [&](std::string_view allow) {
    auto r = ErrorResponse(Error{ErrorCode::kMethodNotAllowed,
                                 request.method + " is not allowed on " + std::string(path), ""});
    r.headers.emplace_back("Allow", std::string(allow));
    done(std::move(r));
    return true;
  };

  if (path == "/health/live") {
    if (!get) return method_not_allowed("GET");
    done(Json(200, R"({"status":"ok"})"));
    return true;
  }
  if (path == "/health/ready") {
    if (!get) return method_not_allowed("GET");
    if (options_.readiness_interval.count() > 0) {
      std::optional<ApiResponse> answer;
      {
        std::lock_guard lock(ready_mu_);
        answer = last_ready_;
      }
      done(std::move(*answer));
      return true;
    }
    if (!ctx.may_block) return false;
    done(Ready(ctx.now));
    return true;
  }
  if (path == "/metrics") {
    if (!get) return method_not_allowed("GET");
    ApiResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = deps_.metrics_text ? deps_.metrics_text() : std::string();
    done(std::move(r));
    return true;
  }
  if (path == "/api/v1/openapi.yaml") {
    if (!get) return method_not_allowed("GET");
    ApiResponse r;
    r.content_type = "application/yaml";
    r.body = options_.openapi_yaml;
    done(std::move(r));
    return true;
  }
  if (path == "/api/v1/calculate-locate") {
    if (!get && !post) return method_not_allowed("GET, POST");
    return CalculateLocate(ctx, request, done);
  }
  if (path == "/api/v1/market/volatility") {
    if (!get) return method_not_allowed("GET");
    return MarketVolatility(ctx, request, done);
  }
  constexpr std::string_view kStatus = "/api/v1/rates/status/";
  constexpr std::string_view kRates = "/api/v1/rates/";
  if (path.starts_with(kStatus) && path.size() > kStatus.size() &&
      path.find('/', kStatus.size()) == std::string_view::npos) {
    if (!get) return method_not_allowed("GET");
    return RatesByStatus(ctx, request, path.substr(kStatus.size()), done);
  }
  if (path.starts_with(kRates) && path.size() > kRates.size() &&
      path.find('/', kRates.size()) == std::string_view::npos) {
    if (!get) return method_not_allowed("GET");
    return GetRate(ctx, request, path.substr(kRates.size()), done);
  }
  done(ErrorResponse(Error{ErrorCode::kNotFound, "no route for " + std::string(path), ""}));
  return true;
}

// Ready while the reference store answers; degraded (still 200) while it has
// not answered for up to the stale limit, the process serving what it has
// cached; then not ready. The role's other dependencies say whether they are
// required (the audit spool's disk) or only reported (without Redis the
// limits and the cache are per process).
ApiResponse PricingService::Ready(SysTime now) {
  std::vector<ReadinessCheck> checks;
  checks.push_back({"reference_store", deps_.store->Ping().has_value(), true, true});
  if (deps_.dependency_status) {
    for (ReadinessCheck& c : deps_.dependency_status()) checks.push_back(std::move(c));
  }
  ReadinessAnswer a = ReadinessOf(checks, *stale_, now, options_.role);
  return Json(a.status, std::move(a.body));
}

std::optional<ApiKey> PricingService::Admit(Ctx& ctx, const ApiRequest& request,
                                            ApiResponse& out, Headers& rate_headers) {
  if (request.admitted) {
    rate_headers = request.admitted->rate_headers;
    return request.admitted->key;
  }
  if (!options_.internal_token.empty()) {
    auto principal = ForwardedPrincipal(request, options_.internal_token);
    if (!principal) {
      out = ErrorResponse(principal.error());
      return std::nullopt;
    }
    return *principal;
  }
  std::string_view key = request.Header("x-api-key");
  if (key.empty()) {
    out = ErrorResponse(Error{ErrorCode::kUnauthorized, "missing X-API-Key header", "X-API-Key"});
    return std::nullopt;
  }
  if (key.size() > 256) {
    out = ErrorResponse(Error{ErrorCode::kUnauthorized, "invalid API key", "X-API-Key"});
    return std::nullopt;
  }
  std::string hash = deps_.hash_key(key);
  auto found = LookupKey(ctx, hash);
  if (ctx.would_block) return std::nullopt;
  if (!found) {
    out = ErrorResponse(found.error());
    return std::nullopt;
  }
  // The key was found by its hash; comparing the hash again in constant time
  // guards against a store that matched loosely.
  if (!*found || (*found)->key_hash.size() != hash.size()) {
    out = ErrorResponse(Error{ErrorCode::kUnauthorized, "invalid API key", "X-API-Key"});
    return std::nullopt;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < hash.size(); ++i) {
    diff |= static_cast<unsigned char>((*found)->key_hash[i] ^ hash[i]);
  }
  if (diff != 0) {
    out = ErrorResponse(Error{ErrorCode::kUnauthorized, "invalid API key", "X-API-Key"});
    return std::nullopt;
  }
  ApiKey& api_key = **found;
  // The limiter's round trip to Redis, when its lease is spent, is taken
  // where blocking is allowed, never on an event loop.
  std::optional<RateDecision> taken =
      ctx.may_block ? deps_.limiter->Take(api_key.key_hash, api_key.rate_limit_per_minute)
                    : deps_.limiter->TryTake(api_key.key_hash, api_key.rate_limit_per_minute);
  if (!taken) {
    ctx.would_block = true;
    return std::nullopt;
  }
  RateDecision& d = *taken;
  // Built in place: an initializer list would copy each name and value again.
  rate_headers.clear();
  rate_headers.reserve(3);
  rate_headers.emplace_back("X-RateLimit-Limit", std::to_string(d.limit));
  rate_headers.emplace_back("X-RateLimit-Remaining", std::to_string(d.remaining));
  rate_headers.emplace_back("X-RateLimit-Reset", std::to_string(d.reset_seconds));
  if (!d.allowed) {
    if (deps_.observer) deps_.observer->RateLimited();
    out = ErrorResponse(Error{ErrorCode::kRateLimitExceeded,
                              "rate limit of " + std::to_string(d.limit) +
                                  " requests per minute exceeded",
                              ""});
    out.headers = rate_headers;
    out.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, d.reset_seconds)));
    return std::nullopt;
  }
  return std::move(api_key);
}

// Tiered lookup shared by keys and reference rows: in-process level, then the
// shared cache, then the store; results (including "absent") are cached.
namespace {

template <typename T, typename Load, typename Encode, typename Decode>
Result<std::optional<T>> Tiered(TtlCache<std::optional<T>>& l1, Cache* shared,
                                ServiceObserver* observer, std::string_view cache_name,
                                const std::string& key, SysTime now, std::chrono::seconds ttl,
                                std::chrono::seconds absent_ttl, bool may_block, bool& would_block,
                                std::chrono::seconds stale_limit, bool& stale, Load load,
                                Encode encode, Decode decode) {
  if (auto hit = l1.Get(key, now)) {
    if (observer) observer->CacheHit(cache_name);
    return std::move(*hit);
  }
  if (!may_block) {
    would_block = true;
    return std::optional<T>();
  }
  if (shared) {
    auto got = shared->Get(key);
    if (got && *got) {
      if (auto decoded = decode(**got)) {
        if (observer) observer->CacheHit(cache_name);
        l1.Put(key, *decoded, now, *decoded ? ttl : absent_ttl);
        return *decoded;
      }
    }
  }
  if (observer) observer->CacheMiss(cache_name);
  auto loaded = load();
  if (!loaded) {
    // The store is down: the last known good value, up to the stale limit
    // past its expiry (DESIGN.md §2.3, degraded service).
    if (loaded.error().code == ErrorCode::kServiceUnavailable) {
      if (auto old = l1.GetStale(key, now, stale_limit)) {
        stale = true;
        return std::move(*old);
      }
    }
    return std::unexpected(loaded.error());
  }
  std::chrono::seconds keep = *loaded ? ttl : absent_ttl;
  l1.Put(key, *loaded, now, keep);
  if (shared && encode) (void)shared->Set(key, encode(*loaded), keep);
  return *loaded;
}

}  // namespace

// One store lookup of a key, shared by the requests that need it meanwhile.
struct PricingService::KeyFlight {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool stale = false;
  Result<std::optional<ApiKey>> result;
};

Result<std::optional<ApiKey>> PricingService::LookupKey(Ctx& ctx, const std::string& key_hash) {
  // Keys are kept in-process only: the shared cache never holds credentials.
  if (auto hit = keys_.Get(key_hash, ctx.now)) {
    if (deps_.observer) deps_.observer->CacheHit("api_key");
    return std::move(*hit);
  }
  if (unknown_keys_.Get(key_hash, ctx.now)) {
    if (deps_.observer) deps_.observer->CacheHit("api_key");
    return std::optional<ApiKey>();
  }
  if (!ctx.may_block) {
    ctx.would_block = true;
    return std::optional<ApiKey>();
  }
  if (deps_.observer) deps_.observer->CacheMiss("api_key");
  std::shared_ptr<KeyFlight> flight;
  bool leader = false;
  {
    std::lock_guard lock(key_lookups_mu_);
    auto it = key_flights_.find(key_hash);
    if (it != key_flights_.end()) {
      flight = it->second;
    } else {
      const int64_t second =
          std::chrono::duration_cast<std::chrono::seconds>(ctx.now.time_since_epoch()).count();
      if (second != key_lookup_second_) {
        key_lookup_second_ = second;
        key_lookups_this_second_ = 0;
      }
      if (key_lookups_this_second_ >= options_.key_lookups_per_second) {
        // A key this process has never seen, in a flood of them: the last
        // known good value if the store once knew it, else retry later.
        if (auto old = keys_.GetStale(key_hash, ctx.now, options_.stale_limit)) {
          ctx.stale = true;
          return *old;
        }
        return Fail(ErrorCode::kServiceUnavailable,
                    "too many lookups of unknown API keys; retry in a second");
      }
      ++key_lookups_this_second_;
      flight = std::make_shared<KeyFlight>();
      key_flights_.emplace(key_hash, flight);
      leader = true;
    }
  }
  if (!leader) {
    std::unique_lock lock(flight->mu);
    flight->cv.wait(lock, [&] { return flight->done; });
    ctx.stale = ctx.stale || flight->stale;
    return flight->result;
  }
  Result<std::optional<ApiKey>> loaded = deps_.store->GetApiKeyByHash(key_hash);
  if (loaded) {
    stale_->Answered("reference_store", ctx.now);
    if (*loaded) {
      keys_.Put(key_hash, *loaded, ctx.now, options_.ttls.api_key);
    } else {
      unknown_keys_.Put(key_hash, true, ctx.now, options_.ttls.unknown_api_key);
    }
  } else if (loaded.error().code == ErrorCode::kServiceUnavailable) {
    // The store is down: the last known good key, up to the stale limit past
    // its expiry (DESIGN.md §2.3, degraded service).
    if (auto old = keys_.GetStale(key_hash, ctx.now, options_.stale_limit)) {
      ctx.stale = true;
      loaded = std::move(*old);
    }
  }
  {
    std::lock_guard lock(key_lookups_mu_);
    key_flights_.erase(key_hash);
  }
  {
    std::lock_guard lock(flight->mu);
    flight->result = loaded;
    flight->stale = ctx.stale;
    flight->done = true;
  }
  flight->cv.notify_all();
  return loaded;
}

template <typename T>
T PricingService::Answered(T result, SysTime now) {
  if (result) stale_->Answered("reference_store", now);
  return result;
}

Result<std::optional<Stock>> PricingService::LookupStock(Ctx& ctx, const std::string& ticker) {
  return Tiered<Stock>(stocks_, deps_.cache, deps_.observer, "stock", "stock:" + ticker, ctx.now,
                       options_.ttls.stock, options_.ttls.stock / 6, ctx.may_block,
                       ctx.would_block, options_.stale_limit, ctx.stale,
                       [&] { return Answered(deps_.store->GetStock(ticker), ctx.now); },
                       EncodeStock, DecodeStock);
}

Result<std::optional<Broker>> PricingService::LookupBroker(Ctx& ctx, const std::string& client) {
  return Tiered<Broker>(brokers_, deps_.cache, deps_.observer, "broker", "broker:" + client,
                        ctx.now, options_.ttls.broker, options_.ttls.broker / 6, ctx.may_block,
                        ctx.would_block, options_.stale_limit, ctx.stale,
                        [&] { return Answered(deps_.store->GetBroker(client), ctx.now); },
                        EncodeBroker, DecodeBroker);
}

Result<std::optional<VolatilityRow>> PricingService::LookupVolatility(Ctx& ctx,
                                                                      const std::string& ticker) {
  return Tiered<VolatilityRow>(volatility_, deps_.cache, deps_.observer, "volatility",
                               "vol:" + ticker, ctx.now, options_.ttls.volatility,
                               options_.ttls.volatility, ctx.may_block, ctx.would_block,
                               options_.stale_limit, ctx.stale,
                               [&] { return Answered(deps_.store->GetVolatility(ticker), ctx.now); },
                               EncodeVolatility, DecodeVolatility);
}

Result<MarketInputs> PricingService::ResolveInputs(Ctx& ctx, const Stock& stock) {
  MarketInputs in;
  const std::string& t = stock.ticker;

  // r_base: a fresh lender answer (in-process, then shared cache, then the
  // lender API); when the API is unusable, the last good answer <= 24 h old;
  // else the stock's minimum rate.
  const std::string rate_key = "rate:" + t;
  const std::string last_key = "rate_last:" + t;
  if (auto hit = rates_.Get(rate_key, ctx.now)) {
    if (deps_.observer) deps_.observer->CacheHit("borrow_rate");
    in.base_rate = {*hit, Source::kLenderApi};
  } else if (auto degraded = degraded_rate_.Get(rate_key, ctx.now)) {
    // The lender was unavailable moments ago: reuse that resolution rather
    // than asking again on every request (the breaker would refuse anyway).
    in.base_rate = *degraded;
  } else if (!ctx.may_block) {
    ctx.would_block = true;
    return in;
  } else {
    std::optional<Decimal> shared_fresh;
    if (deps_.cache) {
      if (auto got = deps_.cache->Get(rate_key); got && *got) {
        if (auto cached = DecodeCachedRate(**got);
            cached && ctx.now - cached->fetched_at < options_.ttls.borrow_rate &&
            IsValidBorrowRate(cached->rate)) {
          shared_fresh = cached->rate;
          auto left = std::chrono::duration_cast<std::chrono::seconds>(
              options_.ttls.borrow_rate - (ctx.now - cached->fetched_at));
          rates_.Put(rate_key, cached->rate, ctx.now, std::max(left, std::chrono::seconds(1)));
        }
      }
    }
    if (shared_fresh) {
      if (deps_.observer) deps_.observer->CacheHit("borrow_rate");
      in.base_rate = {*shared_fresh, Source::kLenderApi};
    } else {
      if (deps_.observer) deps_.observer->CacheMiss("borrow_rate");
      Result<Decimal> lender = deps_.market->LenderRate(t);
      std::optional<CachedRate> last_good;
      if (IsUsableLenderRate(lender)) {
        CachedRate fresh{*lender, ctx.now};
        rates_.Put(rate_key, *lender, ctx.now, options_.ttls.borrow_rate);
        last_good_.Put(last_key, fresh, ctx.now, options_.ttls.last_good_rate);
        if (deps_.cache) {
          std::string text = EncodeCachedRate(fresh);
          (void)deps_.cache->Set(rate_key, text, options_.ttls.borrow_rate);
          (void)deps_.cache->Set(last_key, text, options_.ttls.last_good_rate);
        }
      } else {
        last_good = last_good_.Get(last_key, ctx.now);
        if (!last_good && deps_.cache) {
          if (auto got = deps_.cache->Get(last_key); got && *got) last_good = DecodeCachedRate(**got);
        }
      }
      in.base_rate = ResolveBaseRate(lender, last_good, stock, ctx.now);
      if (in.base_rate.source != Source::kLenderApi) {
        degraded_rate_.Put(rate_key, in.base_rate, ctx.now, options_.ttls.unavailable);
      }
    }
  }
  if (in.base_rate.source == Source::kFallback && deps_.observer) {
    deps_.observer->Fallback("base_rate");
  }

  // V and E: the stock's volatility row, then the market / events APIs.
  auto row = LookupVolatility(ctx, t);
  if (ctx.would_block) return in;
  std::optional<VolatilityRow> vol_row = row ? *row : std::nullopt;
  Result<Decimal> vix = Fail(ErrorCode::kServiceUnavailable, "not consulted");
  if (!RowHasVolatility(vol_row)) {
    if (auto hit = vix_.Get("vix", ctx.now)) {
      if (*hit) vix = **hit;
    } else if (!ctx.may_block) {
      ctx.would_block = true;
      return in;
    } else {
      vix = deps_.market->MarketVix();
      bool ok = vix && IsValidVolatility(*vix);
      vix_.Put("vix", ok ? std::optional<Decimal>(*vix) : std::nullopt, ctx.now,
               ok ? options_.ttls.market_vix : options_.ttls.unavailable);
    }
  }
  in.volatility = ResolveVolatility(vol_row, vix, options_.params);
  if (in.volatility.source == Source::kFallback && deps_.observer) {
    deps_.observer->Fallback("volatility");
  }

  Result<int> events = Fail(ErrorCode::kServiceUnavailable, "not consulted");
  if (!RowHasEventRisk(vol_row)) {
    const std::string event_key = "event:" + t;
    if (auto hit = event_risk_.Get(event_key, ctx.now)) {
      if (*hit) events = **hit;
    } else if (!ctx.may_block) {
      ctx.would_block = true;
      return in;
    } else {
      events = deps_.market->EventRisk(t);
      if (events && IsValidEventRisk(*events)) {
        event_risk_.Put(event_key, *events, ctx.now, options_.ttls.event_risk);
      } else {
        event_risk_.Put(event_key, std::nullopt, ctx.now, options_.ttls.unavailable);
      }
    }
  }
  in.event_risk = ResolveEventRisk(vol_row, events);
  if (in.event_risk.source == Source::kFallback && deps_.observer) {
    deps_.observer->Fallback("event_risk");
  }
  return in;
}

namespace {

void WriteSources(JsonWriter& w, const MarketInputs& in, bool stale_reference) {
  w.Key("sources")
      .BeginObject()
      .Key("base_rate").String(SourceName(in.base_rate.source))
      .Key("volatility").String(SourceName(in.volatility.source))
      .Key("event_risk").String(SourceName(in.event_risk.source));
  if (stale_reference) w.Key("reference_data").String("stale");
  w.EndObject();
}

}  // namespace

void AppendLocateSuccessBody(std::string* out, const LocateRequest& req, const Quote& quote,
                             const MarketInputs& inputs, std::string_view calculation_id,
                             SysTime calculated_at, bool stale_reference) {
  auto number = [out](std::string_view key, const Decimal& d, int places) {
    out->append(key);
    d.AppendTo(out, places);
  };
  auto integer = [out](std::string_view key, int64_t v) {
    out->append(key);
    AppendInt(out, v);
  };
  auto string = [out](std::string_view key, std::string_view v) {
    out->append(key);
    AppendJsonString(out, v);
  };
  string(R"({"status":"success","ticker":)", req.ticker);
  string(R"(,"client_id":)", req.client_id);
  number(R"(,"position_value":)", req.position_value, 2);
  integer(R"(,"loan_days":)", req.loan_days);
  number(R"(,"total_fee":)", quote.total_fee, 2);
  number(R"(,"breakdown":{"borrow_cost":)", quote.borrow_cost, 2);
  number(R"(,"markup":)", quote.markup, 2);
  number(R"(,"transaction_fees":)", quote.transaction_fees, 2);
  number(R"(},"borrow_rate_used":)", quote.borrow_rate_used, 0);
  integer(R"(,"day_count":)", quote.day_count);
  number(R"(,"inputs":{"base_rate":)", inputs.base_rate.value, 0);
  number(R"(,"volatility":)", inputs.volatility.value, 0);
  integer(R"(,"event_risk":)", inputs.event_risk.value);
  string(R"(},"sources":{"base_rate":)", SourceName(inputs.base_rate.source));
  string(R"(,"volatility":)", SourceName(inputs.volatility.source));
  string(R"(,"event_risk":)", SourceName(inputs.event_risk.source));
  if (stale_reference) out->append(R"(,"reference_data":"stale")");
  string(R"(},"calculation_id":)", calculation_id);
  out->append(R"(,"calculated_at":")");
  AppendRfc3339Utc(out, calculated_at, 3);
  out->append(R"("})");
}

bool PricingService::CalculateLocate(Ctx& ctx, const ApiRequest& request, Done& done) {
  auto started = std::chrono::steady_clock::now();
  ApiResponse out;
  Headers rate_headers;
  if (request.method == "POST") {
    std::string_view ct = request.Header("content-type");
    if (!IsJsonContentType(ct)) {
      done(ErrorResponse(Error{ErrorCode::kUnsupportedMediaType,
                               "Content-Type must be application/json, got '" + std::string(ct) + "'",
                               "Content-Type"}));
      return true;
    }
  }
  auto key = Admit(ctx, request, out, rate_headers);
  if (ctx.would_block) return false;
  if (!key) {
    done(std::move(out));
    return true;
  }
  KeepAdmission keep(ctx.would_block, request, key, rate_headers);
  if (deps_.forward) {
    deps_.forward(request, *key, std::move(rate_headers), std::move(done));
    return true;
  }
  auto fail = [&](const Error& e) {
    auto r = ErrorResponse(e);
    r.headers.insert(r.headers.end(), rate_headers.begin(), rate_headers.end());
    done(std::move(r));
    return true;
  };

  Result<LocateRequest> parsed = request.method == "POST" ? ParseLocateJson(request.body)
                                                          : ParseLocateQuery(request.query);
  if (!parsed) return fail(parsed.error());
  const LocateRequest& req = *parsed;
  if (key->scope == KeyScope::kClient && key->client_id != req.client_id) {
    return fail(Error{ErrorCode::kForbidden,
                      "this API key may only price client_id '" + key->client_id + "'",
                      "client_id"});
  }

  auto stock = LookupStock(ctx, req.ticker);
  if (ctx.would_block) return false;
  if (!stock) return fail(stock.error());
  if (!*stock) {
    return fail(Error{ErrorCode::kTickerNotFound, "unknown ticker '" + req.ticker + "'", "ticker"});
  }
  auto broker = LookupBroker(ctx, req.client_id);
  if (ctx.would_block) return false;
  if (!broker) return fail(broker.error());
  if (!*broker) {
    return fail(Error{ErrorCode::kClientNotFound, "unknown client_id '" + req.client_id + "'",
                      "client_id"});
  }
  auto inputs = ResolveInputs(ctx, **stock);
  if (ctx.would_block) return false;
  if (!inputs) return fail(inputs.error());

  // A request the client identified, seen again (a retry): the same answer,
  // not a second price. The request's fields are part of the name, so an id
  // reused for another request prices that one.
  std::string name;
  if (request.request_id_given) {
    name.reserve(128);
    name.append(key->client_id).append("\n").append(request.request_id).append("\n");
    name.append(req.ticker).append("\n").append(req.position_value.ToString()).append("\n");
    name.append(std::to_string(req.loan_days)).append("\n").append(req.client_id);
    if (auto reply = replies_.Get(name, ctx.now)) {
      done(Json(200, std::move(*reply), std::move(rate_headers)));
      return true;
    }
  }

  auto quote = TryPrice(req, **stock, **broker, *inputs, options_.params);
  if (!quote) return fail(quote.error());
  if (deps_.observer) {
    deps_.observer->Calculated(std::chrono::steady_clock::now() - started);
  }

  AuditRecord record;
  record.calculation_id =
      !name.empty() && deps_.name_uuid ? deps_.name_uuid(name) : deps_.new_uuid();
  record.request_id = request.request_id;
  record.api_key_client = key->client_id;
  record.request = req;
  record.quote = *quote;
  record.inputs = *inputs;
  record.at = ctx.now;

  std::string body;
  body.reserve(512);
  AppendLocateSuccessBody(&body, req, *quote, *inputs, record.calculation_id, ctx.now, ctx.stale);

  auto response = Json(200, std::move(body), std::move(rate_headers));
  // The price is answered only once its audit record is durable.
  deps_.audit->Append(std::move(record), [this, done = std::move(done),
                                          response = std::move(response), name = std::move(name),
                                          now = ctx.now](Result<void> ok) mutable {
                        if (ok) {
                          if (!name.empty()) replies_.Put(name, response.body, now, kReplyTtl);
                          return done(std::move(response));
                        }
                        done(ErrorResponse(Error{ErrorCode::kServiceUnavailable,
                                                 "audit trail unavailable: " + ok.error().message,
                                                 ""}));
                      });
  return true;
}

bool PricingService::GetRate(Ctx& ctx, const ApiRequest& request, std::string_view raw_ticker,
                             Done& done) {
  ApiResponse out;
  Headers rate_headers;
  auto key = Admit(ctx, request, out, rate_headers);
  if (ctx.would_block) return false;
  if (!key) {
    done(std::move(out));
    return true;
  }
  KeepAdmission keep(ctx.would_block, request, key, rate_headers);
  if (deps_.forward) {
    deps_.forward(request, *key, std::move(rate_headers), std::move(done));
    return true;
  }
  auto fail = [&](const Error& e) {
    auto r = ErrorResponse(e);
    r.headers.insert(r.headers.end(), rate_headers.begin(), rate_headers.end());
    done(std::move(r));
    return true;
  };
  auto ticker = ValidateTicker(ToUpper(raw_ticker));
  if (!ticker) return fail(ticker.error());
  auto stock = LookupStock(ctx, *ticker);
  if (ctx.would_block) return false;
  if (!stock) return fail(stock.error());
  if (!*stock) return fail(Error{ErrorCode::kTickerNotFound, "unknown ticker '" + *ticker + "'", "ticker"});
  auto inputs = ResolveInputs(ctx, **stock);
  if (ctx.would_block) return false;
  if (!inputs) return fail(inputs.error());
  Decimal r = EffectiveRate(inputs->base_rate.value, inputs->volatility.value,
                            inputs->event_risk.value, (*stock)->min_borrow_rate, options_.params);
  std::string body;
  JsonWriter w(&body);
  w.BeginObject()
      .Key("status").String("success")
      .Key("ticker").String((*stock)->ticker)
      .Key("borrow_status").String(BorrowStatusName((*stock)->borrow_status))
      .Key("borrow_rate").Number(r.RoundHalfUp(6))
      .Key("min_borrow_rate").Number((*stock)->min_borrow_rate)
      .Key("inputs").BeginObject()
      .Key("base_rate").Number(inputs->base_rate.value)
      .Key("volatility").Number(inputs->volatility.value)
      .Key("event_risk").Int(inputs->event_risk.value)
      .EndObject();
  WriteSources(w, *inputs, ctx.stale);
  w.Key("as_of").String(Iso8601(ctx.now)).EndObject();
  if (deps_.rate_read) deps_.rate_read((*stock)->ticker);
  done(Json(200, std::move(body), std::move(rate_headers)));
  return true;
}

bool PricingService::RatesByStatus(Ctx& ctx, const ApiRequest& request, std::string_view status,
                                   Done& done) {
  if (!ctx.may_block) return false;  // reads the store directly
  ApiResponse out;
  Headers rate_headers;
  auto key = Admit(ctx, request, out, rate_headers);
  if (!key) {
    done(std::move(out));
    return true;
  }
  if (deps_.forward) {
    deps_.forward(request, *key, std::move(rate_headers), std::move(done));
    return true;
  }
  auto fail = [&](const Error& e) {
    auto r = ErrorResponse(e);
    r.headers.insert(r.headers.end(), rate_headers.begin(), rate_headers.end());
    done(std::move(r));
    return true;
  };
  auto page = ParseStatusPage(ToUpper(status), request.query);
  if (!page) return fail(page.error());
  auto rows = deps_.store->ListStocks(page->status, page->limit, page->offset);
  if (!rows) return fail(rows.error());
  std::string body;
  JsonWriter w(&body);
  w.BeginObject()
      .Key("status").String("success")
      .Key("borrow_status").String(BorrowStatusName(page->status))
      .Key("limit").Int(page->limit)
      .Key("offset").Int(page->offset)
      .Key("count").Int(static_cast<int64_t>(rows->size()))
      .Key("stocks").BeginArray();
  for (const Stock& s : *rows) {
    w.BeginObject().Key("ticker").String(s.ticker);
    w.Key("min_borrow_rate").Number(s.min_borrow_rate);
    if (auto fresh = rates_.Get("rate:" + s.ticker, ctx.now)) {
      w.Key("base_rate").Number(*fresh).Key("base_rate_source").String("lender_api");
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
  done(Json(200, std::move(body), std::move(rate_headers)));
  return true;
}

bool PricingService::MarketVolatility(Ctx& ctx, const ApiRequest& request, Done& done) {
  if (!ctx.may_block) return false;  // may call the market API
  ApiResponse out;
  Headers rate_headers;
  auto key = Admit(ctx, request, out, rate_headers);
  if (!key) {
    done(std::move(out));
    return true;
  }
  if (deps_.forward) {
    deps_.forward(request, *key, std::move(rate_headers), std::move(done));
    return true;
  }
  Result<Decimal> vix = deps_.market->MarketVix();
  Sourced<Decimal> v = ResolveVolatility(std::nullopt, vix, options_.params);
  std::string body;
  JsonWriter w(&body);
  w.BeginObject()
      .Key("vix").Number(v.value)
      .Key("as_of").String(Iso8601(ctx.now))
      .Key("source").String(SourceName(v.source))
      .EndObject();
  done(Json(200, std::move(body), std::move(rate_headers)));
  return true;
}

}  // namespace pricing::engine
