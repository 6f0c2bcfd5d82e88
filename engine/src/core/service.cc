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
// How long a process that claimed a request id in the shared ledger holds it
// while pricing: past any price's lookups, external calls and audit (each
// bounded well below it), so a claim lapses only when its holder died.
constexpr std::chrono::milliseconds kReplyClaim{10'000};

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

// A request in progress: the route it took, the stage it has reached and
// what the stages before it established. It lives on the stack of the pass
// that started it and moves to the heap only when it parks.
struct PricingService::Exchange {
  const ApiRequest* request = nullptr;
  Done done;
  const Route* route = nullptr;
  std::string_view arg;  // the path's last segment: {ticker} or {status}
  size_t stage = 0;
  bool may_block = false;
  // A key or reference row came from its last known good value: the store
  // did not answer.
  bool stale = false;
  SysTime now;
  std::chrono::steady_clock::time_point started;
  // admit
  std::string key_hash;
  std::optional<ApiKey> key;  // found and checked
  Headers rate_headers;       // of the one token the request spent
  // the request's own input
  std::optional<LocateRequest> locate;
  std::string ticker;  // GET /rates/{ticker}: the stock read (a price's is locate->ticker)
  std::optional<StatusPage> page;
  // A price with the client's request id: its name among the replies (the
  // principal, the id and the request's fields).
  std::string reply_name;
  // what was looked up
  std::optional<Stock> stock;
  std::optional<Broker> broker;
  int inputs_resolved = 0;  // of ResolveInputs' four steps
  std::optional<VolatilityRow> vol_row;
  MarketInputs inputs;

  Step Answer(ApiResponse r) {
    done(std::move(r));
    return Step::kAnswered;
  }
  // An error answer, with the rate-limit headers of the token spent, if any.
  Step Refuse(const Error& e) {
    ApiResponse r = ErrorResponse(e);
    r.headers.insert(r.headers.end(), rate_headers.begin(), rate_headers.end());
    return Answer(std::move(r));
  }
};

// One step of a route. A stage that `may_wait` (on Redis, PostgreSQL, an
// external API or another role) answers kWait, without waiting, where the
// exchange may not block; no other stage ever waits.
struct PricingService::Stage {
  std::string_view name;
  Step (PricingService::*run)(Exchange&);
  bool may_wait;
};

struct PricingService::Route {
  std::string_view path;  // exact, or with `segment` the prefix of one more
  bool segment;           // path segment (the {ticker} or {status})
  bool post;              // POST allowed besides GET and HEAD
  std::span<const Stage> stages;
};

PricingService::Parked::Parked() = default;
PricingService::Parked::Parked(Parked&&) noexcept = default;
PricingService::Parked& PricingService::Parked::operator=(Parked&&) noexcept = default;
PricingService::Parked::~Parked() = default;

std::string_view PricingService::Parked::stage() const {
  if (!exchange_) return {};
  return exchange_->route->stages[exchange_->stage].name;
}

// The service's one route table.
std::span<const PricingService::Route> PricingService::Routes() {
  using S = PricingService;
  static constexpr Stage kLive[] = {{"live", &S::AnswerLive, false}};
  static constexpr Stage kReady[] = {{"ready", &S::AnswerReady, true}};
  static constexpr Stage kMetrics[] = {{"metrics", &S::AnswerMetrics, false}};
  static constexpr Stage kOpenApi[] = {{"openapi", &S::AnswerOpenApi, false}};
  static constexpr Stage kLocate[] = {
      {"media_type", &S::CheckMediaType, false}, {"admit", &S::Admit, true},
      {"forward", &S::Forward, false},           {"parse", &S::ParseLocate, false},
      {"replay", &S::Replay, true},              {"stock", &S::FindStock, true},
      {"broker", &S::FindBroker, true},          {"inputs", &S::ResolveInputs, true},
      {"price", &S::PriceAndAudit, false}};
  static constexpr Stage kRate[] = {
      {"admit", &S::Admit, true},       {"forward", &S::Forward, false},
      {"parse", &S::ParseTicker, false}, {"stock", &S::FindStock, true},
      {"inputs", &S::ResolveInputs, true}, {"rate", &S::AnswerRate, false}};
  static constexpr Stage kStatus[] = {{"admit", &S::Admit, true},
                                      {"forward", &S::Forward, false},
                                      {"parse", &S::ParsePage, false},
                                      {"list", &S::AnswerStatusPage, true}};
  static constexpr Stage kVolatility[] = {{"admit", &S::Admit, true},
                                          {"forward", &S::Forward, false},
                                          {"market", &S::AnswerMarketVolatility, true}};
  // Status pages before single rates: "status" is not a ticker's route.
  static constexpr Route kRoutes[] = {
      {"/health/live", false, false, kLive},
      {"/health/ready", false, false, kReady},
      {"/metrics", false, false, kMetrics},
      {"/api/v1/openapi.yaml", false, false, kOpenApi},
      {"/api/v1/calculate-locate", false, true, kLocate},
      {"/api/v1/market/volatility", false, false, kVolatility},
      {"/api/v1/rates/status/", true, false, kStatus},
      {"/api/v1/rates/", true, false, kRate},
  };
  return kRoutes;
}

std::vector<std::string_view> PricingService::WaitingStages() {
  std::vector<std::string_view> out;
  for (const Route& route : Routes()) {
    for (const Stage& stage : route.stages) {
      if (stage.may_wait && std::ranges::find(out, stage.name) == out.end()) {
        out.push_back(stage.name);
      }
    }
  }
  return out;
}

PricingService::Parked PricingService::Handle(const ApiRequest& request, Done done,
                                              bool may_block) {
  const std::string_view path = request.path;
  const Route* route = nullptr;
  std::string_view arg;
  for (const Route& r : Routes()) {
    if (!r.segment) {
      if (path != r.path) continue;
    } else if (!path.starts_with(r.path) || path.size() == r.path.size() ||
               path.find('/', r.path.size()) != std::string_view::npos) {
      continue;
    } else {
      arg = path.substr(r.path.size());
    }
    route = &r;
    break;
  }
  if (!route) {
    done(ErrorResponse(Error{ErrorCode::kNotFound, "no route for " + std::string(path), ""}));
    return {};
  }
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (!get && !(route->post && request.method == "POST")) {
    auto r = ErrorResponse(Error{ErrorCode::kMethodNotAllowed,
                                 request.method + " is not allowed on " + std::string(path), ""});
    r.headers.emplace_back("Allow", route->post ? "GET, POST" : "GET");
    done(std::move(r));
    return {};
  }
  Exchange ex;
  ex.request = &request;
  ex.done = std::move(done);
  ex.route = route;
  ex.arg = arg;
  ex.may_block = may_block;
  ex.now = deps_.clock->Now();
  ex.started = std::chrono::steady_clock::now();
  return Run(ex);
}

void PricingService::Resume(Parked parked) {
  if (!parked) return;
  parked.exchange_->may_block = true;
  Parked again = Run(*parked.exchange_);
  (void)again;  // empty: where it may block, no stage parks
}

PricingService::Parked PricingService::Run(Exchange& ex) {
  const std::span<const Stage> stages = ex.route->stages;
  while (ex.stage < stages.size()) {
    const Stage& s = stages[ex.stage];
    const Step step = (this->*s.run)(ex);
    if (deps_.observer) deps_.observer->Stage(s.name, step == Step::kWait);
    switch (step) {
      case Step::kNext:
        ++ex.stage;
        continue;
      case Step::kAnswered:
        return {};
      case Step::kWait:
        if (!s.may_wait || ex.may_block) break;  // a stage broke its word
        Parked parked;
        parked.exchange_ = std::make_unique<Exchange>(std::move(ex));
        return parked;
    }
    break;
  }
  ex.Answer(ErrorResponse(Error{ErrorCode::kCalculationError,
                                "request stage '" + std::string(stages[std::min(
                                                        ex.stage, stages.size() - 1)].name) +
                                    "' did not answer",
                                ""}));
  return {};
}

PricingService::Step PricingService::AnswerLive(Exchange& ex) {
  return ex.Answer(Json(200, R"({"status":"ok"})"));
}

PricingService::Step PricingService::AnswerReady(Exchange& ex) {
  if (options_.readiness_interval.count() > 0) {
    std::optional<ApiResponse> answer;
    {
      std::lock_guard lock(ready_mu_);
      answer = last_ready_;
    }
    return ex.Answer(std::move(*answer));
  }
  if (!ex.may_block) return Step::kWait;
  return ex.Answer(Ready(ex.now));
}

PricingService::Step PricingService::AnswerMetrics(Exchange& ex) {
  ApiResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = deps_.metrics_text ? deps_.metrics_text() : std::string();
  return ex.Answer(std::move(r));
}

PricingService::Step PricingService::AnswerOpenApi(Exchange& ex) {
  ApiResponse r;
  r.content_type = "application/yaml";
  r.body = options_.openapi_yaml;
  return ex.Answer(std::move(r));
}

PricingService::Step PricingService::CheckMediaType(Exchange& ex) {
  if (ex.request->method != "POST") return Step::kNext;
  std::string_view ct = ex.request->Header("content-type");
  if (IsJsonContentType(ct)) return Step::kNext;
  return ex.Answer(ErrorResponse(Error{
      ErrorCode::kUnsupportedMediaType,
      "Content-Type must be application/json, got '" + std::string(ct) + "'", "Content-Type"}));
}

// Authenticates the key (or, behind the gateway, the principal it forwarded)
// and spends the request's one token. Waits only to look up a key this
// process does not hold, or for the limiter's round trip to Redis when its
// lease is spent; resumed, it starts where it parked.
PricingService::Step PricingService::Admit(Exchange& ex) {
  const ApiRequest& request = *ex.request;
  const auto invalid_key = [&ex] {
    return ex.Answer(
        ErrorResponse(Error{ErrorCode::kUnauthorized, "invalid API key", "X-API-Key"}));
  };
  if (!options_.internal_token.empty()) {
    auto principal = ForwardedPrincipal(request, options_.internal_token);
    if (!principal) return ex.Answer(ErrorResponse(principal.error()));
    ex.key = std::move(*principal);  // the gateway spent its token
    return Step::kNext;
  }
  if (!ex.key) {
    if (ex.key_hash.empty()) {
      std::string_view key = request.Header("x-api-key");
      if (key.empty()) {
        return ex.Answer(
            ErrorResponse(Error{ErrorCode::kUnauthorized, "missing X-API-Key header", "X-API-Key"}));
      }
      if (key.size() > 256) {
        return invalid_key();
      }
      ex.key_hash = deps_.hash_key(key);
    }
    const std::string& hash = ex.key_hash;
    bool wait = false;
    auto found = LookupKey(ex, hash, wait);
    if (wait) return Step::kWait;
    if (!found) return ex.Answer(ErrorResponse(found.error()));
    // The key was found by its hash; comparing the hash again in constant
    // time guards against a store that matched loosely.
    if (!*found || (*found)->key_hash.size() != hash.size()) {
      return invalid_key();
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < hash.size(); ++i) {
      diff |= static_cast<unsigned char>((*found)->key_hash[i] ^ hash[i]);
    }
    if (diff != 0) {
      return invalid_key();
    }
    ex.key = std::move(**found);
  }
  const ApiKey& api_key = *ex.key;
  // The limiter's round trip to Redis, when its lease is spent, is taken
  // where blocking is allowed, never on an event loop.
  std::optional<RateDecision> taken =
      ex.may_block ? deps_.limiter->Take(api_key.key_hash, api_key.rate_limit_per_minute)
                   : deps_.limiter->TryTake(api_key.key_hash, api_key.rate_limit_per_minute);
  if (!taken) return Step::kWait;
  RateDecision& d = *taken;
  // Built in place: an initializer list would copy each name and value again.
  Headers& rate_headers = ex.rate_headers;
  rate_headers.reserve(3);
  rate_headers.emplace_back("X-RateLimit-Limit", std::to_string(d.limit));
  rate_headers.emplace_back("X-RateLimit-Remaining", std::to_string(d.remaining));
  rate_headers.emplace_back("X-RateLimit-Reset", std::to_string(d.reset_seconds));
  if (!d.allowed) {
    if (deps_.observer) deps_.observer->RateLimited();
    ApiResponse out = ErrorResponse(Error{ErrorCode::kRateLimitExceeded,
                                          "rate limit of " + std::to_string(d.limit) +
                                              " requests per minute exceeded",
                                          ""});
    out.headers = std::move(rate_headers);
    out.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, d.reset_seconds)));
    return ex.Answer(std::move(out));
  }
  return Step::kNext;
}

// The gateway: an admitted request goes to the role that answers it.
PricingService::Step PricingService::Forward(Exchange& ex) {
  if (!deps_.forward) return Step::kNext;
  deps_.forward(*ex.request, *ex.key, std::move(ex.rate_headers), std::move(ex.done));
  return Step::kAnswered;
}

PricingService::Step PricingService::ParseLocate(Exchange& ex) {
  const ApiRequest& request = *ex.request;
  Result<LocateRequest> parsed = request.method == "POST" ? ParseLocateJson(request.body)
                                                          : ParseLocateQuery(request.query);
  if (!parsed) return ex.Refuse(parsed.error());
  if (ex.key->scope == KeyScope::kClient && ex.key->client_id != parsed->client_id) {
    return ex.Refuse(Error{ErrorCode::kForbidden,
                           "this API key may only price client_id '" + ex.key->client_id + "'",
                           "client_id"});
  }
  ex.locate = std::move(*parsed);
  return Step::kNext;
}

PricingService::Step PricingService::ParseTicker(Exchange& ex) {
  auto ticker = ValidateTicker(ToUpper(ex.arg));
  if (!ticker) return ex.Refuse(ticker.error());
  ex.ticker = std::move(*ticker);
  return Step::kNext;
}

PricingService::Step PricingService::ParsePage(Exchange& ex) {
  auto page = ParseStatusPage(ToUpper(ex.arg), ex.request->query);
  if (!page) return ex.Refuse(page.error());
  ex.page = *page;
  return Step::kNext;
}

PricingService::Step PricingService::FindStock(Exchange& ex) {
  const std::string& ticker = ex.locate ? ex.locate->ticker : ex.ticker;
  bool wait = false;
  auto stock = LookupStock(ex, ticker, wait);
  if (wait) return Step::kWait;
  if (!stock) return ex.Refuse(stock.error());
  if (!*stock) {
    return ex.Refuse(
        Error{ErrorCode::kTickerNotFound, "unknown ticker '" + ticker + "'", "ticker"});
  }
  ex.stock = std::move(*stock);
  return Step::kNext;
}

PricingService::Step PricingService::FindBroker(Exchange& ex) {
  const std::string& client = ex.locate->client_id;
  bool wait = false;
  auto broker = LookupBroker(ex, client, wait);
  if (wait) return Step::kWait;
  if (!broker) return ex.Refuse(broker.error());
  if (!*broker) {
    return ex.Refuse(
        Error{ErrorCode::kClientNotFound, "unknown client_id '" + client + "'", "client_id"});
  }
  ex.broker = std::move(*broker);
  return Step::kNext;
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
    // past its expiry (docs/design.md §2.3, degraded service).
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

Result<std::optional<ApiKey>> PricingService::LookupKey(Exchange& ex, const std::string& key_hash,
                                                        bool& wait) {
  // Keys are kept in-process only: the shared cache never holds credentials.
  if (auto hit = keys_.Get(key_hash, ex.now)) {
    if (deps_.observer) deps_.observer->CacheHit("api_key");
    return std::move(*hit);
  }
  if (unknown_keys_.Get(key_hash, ex.now)) {
    if (deps_.observer) deps_.observer->CacheHit("api_key");
    return std::optional<ApiKey>();
  }
  if (!ex.may_block) {
    wait = true;
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
          std::chrono::duration_cast<std::chrono::seconds>(ex.now.time_since_epoch()).count();
      if (second != key_lookup_second_) {
        key_lookup_second_ = second;
        key_lookups_this_second_ = 0;
      }
      if (key_lookups_this_second_ >= options_.key_lookups_per_second) {
        // A key this process has never seen, in a flood of them: the last
        // known good value if the store once knew it, else retry later.
        if (auto old = keys_.GetStale(key_hash, ex.now, options_.stale_limit)) {
          ex.stale = true;
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
    ex.stale = ex.stale || flight->stale;
    return flight->result;
  }
  Result<std::optional<ApiKey>> loaded = deps_.store->GetApiKeyByHash(key_hash);
  if (loaded) {
    stale_->Answered("reference_store", ex.now);
    if (*loaded) {
      keys_.Put(key_hash, *loaded, ex.now, options_.ttls.api_key);
    } else {
      unknown_keys_.Put(key_hash, true, ex.now, options_.ttls.unknown_api_key);
    }
  } else if (loaded.error().code == ErrorCode::kServiceUnavailable) {
    // The store is down: the last known good key, up to the stale limit past
    // its expiry (docs/design.md §2.3, degraded service).
    if (auto old = keys_.GetStale(key_hash, ex.now, options_.stale_limit)) {
      ex.stale = true;
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
    flight->stale = ex.stale;
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

Result<std::optional<Stock>> PricingService::LookupStock(Exchange& ex, const std::string& ticker,
                                                          bool& wait) {
  return Tiered<Stock>(stocks_, deps_.cache, deps_.observer, "stock", "stock:" + ticker, ex.now,
                       options_.ttls.stock, options_.ttls.stock / 6, ex.may_block,
                       wait, options_.stale_limit, ex.stale,
                       [&] { return Answered(deps_.store->GetStock(ticker), ex.now); },
                       EncodeStock, DecodeStock);
}

Result<std::optional<Broker>> PricingService::LookupBroker(Exchange& ex, const std::string& client,
                                                            bool& wait) {
  return Tiered<Broker>(brokers_, deps_.cache, deps_.observer, "broker", "broker:" + client,
                        ex.now, options_.ttls.broker, options_.ttls.broker / 6, ex.may_block,
                        wait, options_.stale_limit, ex.stale,
                        [&] { return Answered(deps_.store->GetBroker(client), ex.now); },
                        EncodeBroker, DecodeBroker);
}

Result<std::optional<VolatilityRow>> PricingService::LookupVolatility(Exchange& ex,
                                                                      const std::string& ticker,
                                                                      bool& wait) {
  return Tiered<VolatilityRow>(volatility_, deps_.cache, deps_.observer, "volatility",
                               "vol:" + ticker, ex.now, options_.ttls.volatility,
                               options_.ttls.volatility, ex.may_block, wait,
                               options_.stale_limit, ex.stale,
                               [&] { return Answered(deps_.store->GetVolatility(ticker), ex.now); },
                               EncodeVolatility, DecodeVolatility);
}


// r_base, V and E in four steps, each taken once: a request parked at one
// resumes there.
PricingService::Step PricingService::ResolveInputs(Exchange& ex) {
  MarketInputs& in = ex.inputs;
  const Stock& stock = *ex.stock;
  const std::string& t = stock.ticker;

  // r_base: a fresh lender answer (in-process, then shared cache, then the
  // lender API); when the API is unusable, the last good answer <= 24 h old;
  // else the stock's minimum rate.
  if (ex.inputs_resolved == 0) {
    const std::string rate_key = "rate:" + t;
    if (auto hit = rates_.Get(rate_key, ex.now)) {
      if (deps_.observer) deps_.observer->CacheHit("borrow_rate");
      in.base_rate = {*hit, Source::kLenderApi};
    } else if (auto degraded = degraded_rate_.Get(rate_key, ex.now)) {
      // The lender was unavailable moments ago: reuse that resolution
      // rather than asking again on every request (the breaker would refuse
      // anyway).
      in.base_rate = *degraded;
    } else if (!ex.may_block) {
      return Step::kWait;
    } else {
      const std::string last_key = "rate_last:" + t;
      std::optional<Decimal> shared_fresh;
      if (deps_.cache) {
        if (auto got = deps_.cache->Get(rate_key); got && *got) {
          if (auto cached = DecodeCachedRate(**got);
              cached && ex.now - cached->fetched_at < options_.ttls.borrow_rate &&
              IsValidBorrowRate(cached->rate)) {
            shared_fresh = cached->rate;
            auto left = std::chrono::duration_cast<std::chrono::seconds>(
                options_.ttls.borrow_rate - (ex.now - cached->fetched_at));
            rates_.Put(rate_key, cached->rate, ex.now, std::max(left, std::chrono::seconds(1)));
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
          CachedRate fresh{*lender, ex.now};
          rates_.Put(rate_key, *lender, ex.now, options_.ttls.borrow_rate);
          last_good_.Put(last_key, fresh, ex.now, options_.ttls.last_good_rate);
          if (deps_.cache) {
            std::string text = EncodeCachedRate(fresh);
            (void)deps_.cache->Set(rate_key, text, options_.ttls.borrow_rate);
            (void)deps_.cache->Set(last_key, text, options_.ttls.last_good_rate);
          }
        } else {
          last_good = last_good_.Get(last_key, ex.now);
          if (!last_good && deps_.cache) {
            if (auto got = deps_.cache->Get(last_key); got && *got) {
              last_good = DecodeCachedRate(**got);
            }
          }
        }
        in.base_rate = ResolveBaseRate(lender, last_good, stock, ex.now);
        if (in.base_rate.source != Source::kLenderApi) {
          degraded_rate_.Put(rate_key, in.base_rate, ex.now, options_.ttls.unavailable);
        }
      }
    }
    if (in.base_rate.source == Source::kFallback && deps_.observer) {
      deps_.observer->Fallback("base_rate");
    }
    ex.inputs_resolved = 1;
  }

  // The stock's volatility row, for V and E.
  if (ex.inputs_resolved == 1) {
    bool wait = false;
    auto row = LookupVolatility(ex, t, wait);
    if (wait) return Step::kWait;
    if (row) ex.vol_row = std::move(*row);  // a store that fails: no row
    ex.inputs_resolved = 2;
  }

  // V: the row's, else the market VIX.
  if (ex.inputs_resolved == 2) {
    Result<Decimal> vix = Fail(ErrorCode::kServiceUnavailable, "not consulted");
    if (!RowHasVolatility(ex.vol_row)) {
      if (auto hit = vix_.Get("vix", ex.now)) {
        if (*hit) vix = **hit;
      } else if (!ex.may_block) {
        return Step::kWait;
      } else {
        vix = deps_.market->MarketVix();
        bool ok = vix && IsValidVolatility(*vix);
        vix_.Put("vix", ok ? std::optional<Decimal>(*vix) : std::nullopt, ex.now,
                 ok ? options_.ttls.market_vix : options_.ttls.unavailable);
      }
    }
    in.volatility = ResolveVolatility(ex.vol_row, vix, options_.params);
    if (in.volatility.source == Source::kFallback && deps_.observer) {
      deps_.observer->Fallback("volatility");
    }
    ex.inputs_resolved = 3;
  }

  // E: the row's, else the events API.
  Result<int> events = Fail(ErrorCode::kServiceUnavailable, "not consulted");
  if (!RowHasEventRisk(ex.vol_row)) {
    const std::string event_key = "event:" + t;
    if (auto hit = event_risk_.Get(event_key, ex.now)) {
      if (*hit) events = **hit;
    } else if (!ex.may_block) {
      return Step::kWait;
    } else {
      events = deps_.market->EventRisk(t);
      if (events && IsValidEventRisk(*events)) {
        event_risk_.Put(event_key, *events, ex.now, options_.ttls.event_risk);
      } else {
        event_risk_.Put(event_key, std::nullopt, ex.now, options_.ttls.unavailable);
      }
    }
  }
  in.event_risk = ResolveEventRisk(ex.vol_row, events);
  if (in.event_risk.source == Source::kFallback && deps_.observer) {
    deps_.observer->Fallback("event_risk");
  }
  ex.inputs_resolved = 4;
  return Step::kNext;
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


PricingService::Step PricingService::Replay(Exchange& ex) {
  const ApiRequest& request = *ex.request;
  if (!request.request_id_given) return Step::kNext;
  // Behind the gateway (Admit checked its token), an id the gateway made up
  // identifies no retry: claiming it would cost every price a round trip.
  if (!options_.internal_token.empty() && RequestIdMadeUpstream(request)) return Step::kNext;
  // A request the client identified, seen again (a retry): the same answer,
  // not a second price. The request's fields are part of the name, so an id
  // reused for another request prices that one.
  if (ex.reply_name.empty()) {
    const LocateRequest& req = *ex.locate;
    std::string& name = ex.reply_name;
    name.reserve(128);
    name.append(ex.key->client_id).append("\n").append(request.request_id).append("\n");
    name.append(req.ticker).append("\n").append(req.position_value.ToString()).append("\n");
    name.append(std::to_string(req.loan_days)).append("\n").append(req.client_id);
    if (auto reply = replies_.Get(name, ex.now)) {
      if (deps_.observer) deps_.observer->CacheHit("reply");
      return ex.Answer(Json(200, std::move(*reply), std::move(ex.rate_headers)));
    }
  }
  if (!deps_.replies) return Step::kNext;
  if (!ex.may_block) return Step::kWait;
  // Another process may have priced it (the gateway sent it again there):
  // claim the name before pricing, so that only one process does.
  auto claim = deps_.replies->Claim(ex.reply_name, kReplyClaim);
  if (!claim) return Step::kNext;  // the ledger cannot say: priced here
  switch (claim->state) {
    case ReplyClaim::State::kAnswered:
      if (deps_.observer) deps_.observer->CacheHit("shared_reply");
      replies_.Put(ex.reply_name, claim->body, ex.now, kReplyTtl);
      return ex.Answer(Json(200, std::move(claim->body), std::move(ex.rate_headers)));
    case ReplyClaim::State::kInProgress:
      // Another process holds the claim and has not answered: it may still
      // be pricing, or it died (kill -9) holding it. Waiting or refusing
      // would fail a client that retries after a crash, so this process
      // prices too, without the claim; the audit store keeps one row under
      // the name-based calculation id, and the holder's answer, if it comes,
      // is what later retries get.
      if (deps_.observer) deps_.observer->CacheMiss("shared_reply");
      return Step::kNext;
    case ReplyClaim::State::kClaimed:
      break;
  }
  if (deps_.observer) deps_.observer->CacheMiss("shared_reply");
  // Whatever answers the request settles the claim: a price (only ever
  // answered once durable) is kept for its retries, a refusal gives it up.
  ex.done = [ledger = deps_.replies, name = ex.reply_name,
             done = std::move(ex.done)](ApiResponse r) mutable {
    ledger->Settle(name, r.status == 200 ? std::optional<std::string>(r.body) : std::nullopt,
                   kReplyTtl);
    done(std::move(r));
  };
  return Step::kNext;
}

PricingService::Step PricingService::PriceAndAudit(Exchange& ex) {
  const ApiRequest& request = *ex.request;
  const LocateRequest& req = *ex.locate;
  const ApiKey& key = *ex.key;
  std::string& name = ex.reply_name;  // empty without the client's request id

  auto quote = TryPrice(req, *ex.stock, *ex.broker, ex.inputs, options_.params);
  if (!quote) return ex.Refuse(quote.error());
  if (deps_.observer) {
    deps_.observer->Calculated(std::chrono::steady_clock::now() - ex.started);
  }

  AuditRecord record;
  record.calculation_id =
      !name.empty() && deps_.name_uuid ? deps_.name_uuid(name) : deps_.new_uuid();
  record.request_id = request.request_id;
  record.api_key_client = key.client_id;
  record.request = req;
  record.quote = *quote;
  record.inputs = ex.inputs;
  record.at = ex.now;

  std::string body;
  body.reserve(512);
  AppendLocateSuccessBody(&body, req, *quote, ex.inputs, record.calculation_id, ex.now, ex.stale);

  auto response = Json(200, std::move(body), std::move(ex.rate_headers));
  // The price is answered only once its audit record is durable.
  deps_.audit->Append(std::move(record), [this, done = std::move(ex.done),
                                          response = std::move(response), name = std::move(name),
                                          now = ex.now](Result<void> ok) mutable {
                        if (ok) {
                          if (!name.empty()) replies_.Put(name, response.body, now, kReplyTtl);
                          return done(std::move(response));
                        }
                        done(ErrorResponse(Error{ErrorCode::kServiceUnavailable,
                                                 "audit trail unavailable: " + ok.error().message,
                                                 ""}));
                      });
  return Step::kAnswered;
}

PricingService::Step PricingService::AnswerRate(Exchange& ex) {
  const Stock& stock = *ex.stock;
  const MarketInputs& in = ex.inputs;
  Decimal r = EffectiveRate(in.base_rate.value, in.volatility.value, in.event_risk.value,
                            stock.min_borrow_rate, options_.params);
  std::string body;
  JsonWriter w(&body);
  w.BeginObject()
      .Key("status").String("success")
      .Key("ticker").String(stock.ticker)
      .Key("borrow_status").String(BorrowStatusName(stock.borrow_status))
      .Key("borrow_rate").Number(r.RoundHalfUp(6))
      .Key("min_borrow_rate").Number(stock.min_borrow_rate)
      .Key("inputs").BeginObject()
      .Key("base_rate").Number(in.base_rate.value)
      .Key("volatility").Number(in.volatility.value)
      .Key("event_risk").Int(in.event_risk.value)
      .EndObject();
  WriteSources(w, in, ex.stale);
  w.Key("as_of").String(Iso8601(ex.now)).EndObject();
  if (deps_.rate_read) deps_.rate_read(stock.ticker);
  return ex.Answer(Json(200, std::move(body), std::move(ex.rate_headers)));
}

// Reads the store directly: always waits.
PricingService::Step PricingService::AnswerStatusPage(Exchange& ex) {
  if (!ex.may_block) return Step::kWait;
  const StatusPage& page = *ex.page;
  auto rows = deps_.store->ListStocks(page.status, page.limit, page.offset);
  if (!rows) return ex.Refuse(rows.error());
  std::string body;
  JsonWriter w(&body);
  w.BeginObject()
      .Key("status").String("success")
      .Key("borrow_status").String(BorrowStatusName(page.status))
      .Key("limit").Int(page.limit)
      .Key("offset").Int(page.offset)
      .Key("count").Int(static_cast<int64_t>(rows->size()))
      .Key("stocks").BeginArray();
  for (const Stock& s : *rows) {
    w.BeginObject().Key("ticker").String(s.ticker);
    w.Key("min_borrow_rate").Number(s.min_borrow_rate);
    if (auto fresh = rates_.Get("rate:" + s.ticker, ex.now)) {
      w.Key("base_rate").Number(*fresh).Key("base_rate_source").String("lender_api");
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
  return ex.Answer(Json(200, std::move(body), std::move(ex.rate_headers)));
}

// Asks the market API: always waits.
PricingService::Step PricingService::AnswerMarketVolatility(Exchange& ex) {
  if (!ex.may_block) return Step::kWait;
  Result<Decimal> vix = deps_.market->MarketVix();
  Sourced<Decimal> v = ResolveVolatility(std::nullopt, vix, options_.params);
  std::string body;
  JsonWriter w(&body);
  w.BeginObject()
      .Key("vix").Number(v.value)
      .Key("as_of").String(Iso8601(ex.now))
      .Key("source").String(SourceName(v.source))
      .EndObject();
  return ex.Answer(Json(200, std::move(body), std::move(ex.rate_headers)));
}

}  // namespace pricing::engine
