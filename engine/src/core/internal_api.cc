#include "engine/internal_api.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "engine/json_text.h"

namespace pricing::engine {
namespace {

using nlohmann::json;

constexpr std::string_view kTokenLower = "x-internal-token";
constexpr std::string_view kClientLower = "x-pricing-client-id";
constexpr std::string_view kScopeLower = "x-pricing-key-scope";
constexpr std::string_view kKeyLower = "x-pricing-key-id";
constexpr std::string_view kIdOriginLower = "x-pricing-request-id-origin";
constexpr size_t kKeyIdDigits = 16;
constexpr size_t kMaxSegment = 256;

ApiResponse JsonResponse(int status, std::string body) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::unexpected<Error> Malformed(std::string_view what) {
  return Fail(ErrorCode::kServiceUnavailable,
              "data role: malformed answer (" + std::string(what) + ")");
}

// Parses `body` as a JSON object; nullopt when it is not one.
std::optional<json> ParseObject(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  return doc;
}

std::optional<std::string> StringMember(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<Decimal> DecimalMember(const json& obj, const char* name) {
  auto text = StringMember(obj, name);
  if (!text) return std::nullopt;
  return Decimal::Parse(*text);
}

std::optional<int64_t> IntMember(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

void WriteStock(JsonWriter& w, const Stock& s) {
  w.BeginObject()
      .Key("ticker")
      .String(s.ticker)
      .Key("borrow_status")
      .String(BorrowStatusName(s.borrow_status))
      .Key("min_borrow_rate")
      .String(s.min_borrow_rate.ToString())
      .Key("lender_api_id")
      .String(s.lender_api_id)
      .EndObject();
}

std::optional<Stock> ReadStock(const json& obj) {
  if (!obj.is_object()) return std::nullopt;
  auto ticker = StringMember(obj, "ticker");
  auto status_text = StringMember(obj, "borrow_status");
  auto min = DecimalMember(obj, "min_borrow_rate");
  auto lender = StringMember(obj, "lender_api_id");
  if (!ticker || !status_text || !min || !lender) return std::nullopt;
  auto status = ParseBorrowStatus(*status_text);
  if (!status) return std::nullopt;
  return Stock{*ticker, *status, *min, *lender};
}

// Decodes {"<member>": row | null} with `read`.
template <typename T, typename Read>
Result<std::optional<T>> DecodeOptionalRow(std::string_view body, const char* member, Read read) {
  auto doc = ParseObject(body);
  if (!doc) return Malformed("not a JSON object");
  auto it = doc->find(member);
  if (it == doc->end()) return Malformed(std::string("no ") + member);
  if (it->is_null()) return std::optional<T>();
  std::optional<T> row = read(*it);
  if (!row) return Malformed(std::string("bad ") + member);
  return row;
}

std::optional<int64_t> ParseNonNegative(std::string_view s, int64_t hi) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0 || v > hi) {
    return std::nullopt;
  }
  return v;
}

std::string_view QueryValue(const ApiRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.query) {
    if (k == name) return v;
  }
  return {};
}

ApiResponse Refuse(const Error& e) { return PricingService::ErrorResponse(e); }

ApiResponse MethodNotAllowed(const ApiRequest& r, std::string_view allow) {
  auto out =
      Refuse(Error{ErrorCode::kMethodNotAllowed, r.method + " is not allowed on " + r.path, ""});
  out.headers.emplace_back("Allow", std::string(allow));
  return out;
}

// The collections of the data API addressed as /internal/v1/<name>/<segment>,
// with the route template of each.
struct Collection {
  std::string_view name;
  std::string_view route;
};
constexpr std::array<Collection, 6> kCollections = {{
    {"stocks", "/internal/v1/stocks/{ticker}"},
    {"brokers", "/internal/v1/brokers/{client_id}"},
    {"volatility", "/internal/v1/volatility/{ticker}"},
    {"api-keys", "/internal/v1/api-keys/{key_hash}"},
    {"lender-rates", "/internal/v1/lender-rates/{ticker}"},
    {"event-risks", "/internal/v1/event-risks/{ticker}"},
}};

constexpr std::array<std::string_view, 4> kFixedRoutes = {
    "/internal/v1/ping", "/internal/v1/market/vix", "/internal/v1/stocks", kAuditBatchPath};

// Splits /internal/v1/<collection>/<segment>; nullopt for any other path.
std::optional<std::pair<const Collection*, std::string_view>> SplitCollectionPath(
    std::string_view path) {
  if (!path.starts_with(kInternalPrefix)) return std::nullopt;
  std::string_view rest = path.substr(kInternalPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view name = rest.substr(0, slash);
  std::string_view segment = rest.substr(slash + 1);
  if (segment.empty() || segment.find('/') != std::string_view::npos) return std::nullopt;
  for (const Collection& c : kCollections) {
    if (c.name == name) return std::make_pair(&c, segment);
  }
  return std::nullopt;
}

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

Result<void> CheckInternalToken(const ApiRequest& request, std::string_view token) {
  if (!ConstantTimeEquals(request.Header(kTokenLower), token)) {
    return Fail(ErrorCode::kUnauthorized, "missing or invalid internal token",
                std::string(kInternalTokenHeader));
  }
  return {};
}

HeaderList ForwardHeaders(const ApiRequest& request, const ApiKey& key, std::string_view token) {
  HeaderList out;
  out.reserve(7);
  if (std::string_view ct = request.Header("content-type"); !ct.empty()) {
    out.emplace_back("Content-Type", std::string(ct));
  }
  if (!request.request_id.empty()) {
    out.emplace_back("X-Request-Id", request.request_id);
    if (!request.request_id_given) out.emplace_back(std::string(kRequestIdOriginHeader), "gateway");
  }
  out.emplace_back(std::string(kInternalTokenHeader), std::string(token));
  out.emplace_back(std::string(kPrincipalClientHeader), PercentEncode(key.client_id));
  out.emplace_back(std::string(kPrincipalScopeHeader), std::string(KeyScopeName(key.scope)));
  out.emplace_back(std::string(kPrincipalKeyHeader), key.key_hash.substr(0, kKeyIdDigits));
  return out;
}

bool RequestIdMadeUpstream(const ApiRequest& request) {
  return request.Header(kIdOriginLower) == "gateway";
}

Result<ApiKey> ForwardedPrincipal(const ApiRequest& request, std::string_view token) {
  if (auto ok = CheckInternalToken(request, token); !ok) return std::unexpected(ok.error());
  auto malformed = [] {
    return Fail(ErrorCode::kUnauthorized, "missing or malformed forwarded principal",
                std::string(kPrincipalScopeHeader));
  };
  std::optional<KeyScope> scope = ParseKeyScope(request.Header(kScopeLower));
  std::optional<std::string> client = PercentDecode(request.Header(kClientLower));
  std::string_view key_id = request.Header(kKeyLower);
  if (!scope || !client || key_id.empty() || key_id.size() > 64 || !IsHex(key_id)) {
    return malformed();
  }
  if (*scope == KeyScope::kClient && client->empty()) return malformed();
  return ApiKey{std::string(key_id), std::move(*client), 0, *scope};
}

bool IsForwardedResponseHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 13> kDropped = {"connection",
                                                                "keep-alive",
                                                                "transfer-encoding",
                                                                "content-length",
                                                                "content-type",
                                                                "server",
                                                                "date",
                                                                "x-request-id",
                                                                "te",
                                                                "trailer",
                                                                "upgrade",
                                                                "proxy-authenticate",
                                                                "proxy-connection"};
  const std::string lower = AsciiLower(name);
  for (std::string_view d : kDropped) {
    if (lower == d) return false;
  }
  return true;
}

std::string TargetWithQuery(std::string_view path, const HeaderList& query) {
  std::string out(path);
  char sep = '?';
  for (const auto& [k, v] : query) {
    out.push_back(sep);
    out += PercentEncode(k);
    out.push_back('=');
    out += PercentEncode(v);
    sep = '&';
  }
  return out;
}

std::string_view InternalRouteOf(std::string_view path) {
  for (std::string_view r : kFixedRoutes) {
    if (path == r) return r;
  }
  if (auto split = SplitCollectionPath(path)) return split->first->route;
  return {};
}

std::string EncodeStockBody(const std::optional<Stock>& stock) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("stock");
  if (stock) {
    WriteStock(w, *stock);
  } else {
    w.Null();
  }
  w.EndObject();
  return out;
}

Result<std::optional<Stock>> DecodeStockBody(std::string_view body) {
  return DecodeOptionalRow<Stock>(body, "stock", ReadStock);
}

std::string EncodeStockListBody(const std::vector<Stock>& stocks) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("stocks").BeginArray();
  for (const Stock& s : stocks) WriteStock(w, s);
  w.EndArray().EndObject();
  return out;
}

Result<std::vector<Stock>> DecodeStockListBody(std::string_view body) {
  auto doc = ParseObject(body);
  if (!doc) return Malformed("not a JSON object");
  auto it = doc->find("stocks");
  if (it == doc->end() || !it->is_array()) return Malformed("no stocks");
  std::vector<Stock> out;
  out.reserve(it->size());
  for (const json& row : *it) {
    auto stock = ReadStock(row);
    if (!stock) return Malformed("bad stock");
    out.push_back(std::move(*stock));
  }
  return out;
}

std::string EncodeBrokerBody(const std::optional<Broker>& broker) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("broker");
  if (broker) {
    w.BeginObject()
        .Key("client_id")
        .String(broker->client_id)
        .Key("markup_percentage")
        .String(broker->markup_percentage.ToString())
        .Key("transaction_fee_type")
        .String(FeeTypeName(broker->transaction_fee_type))
        .Key("transaction_amount")
        .String(broker->transaction_amount.ToString())
        .Key("day_count")
        .Int(broker->day_count)
        .EndObject();
  } else {
    w.Null();
  }
  w.EndObject();
  return out;
}

Result<std::optional<Broker>> DecodeBrokerBody(std::string_view body) {
  return DecodeOptionalRow<Broker>(body, "broker", [](const json& obj) -> std::optional<Broker> {
    if (!obj.is_object()) return std::nullopt;
    auto client = StringMember(obj, "client_id");
    auto markup = DecimalMember(obj, "markup_percentage");
    auto fee_text = StringMember(obj, "transaction_fee_type");
    auto amount = DecimalMember(obj, "transaction_amount");
    auto days = IntMember(obj, "day_count");
    if (!client || !markup || !fee_text || !amount || !days) return std::nullopt;
    auto fee = ParseFeeType(*fee_text);
    if (!fee || *days < 0 || *days > 100000) return std::nullopt;
    return Broker{*client, *markup, *fee, *amount, static_cast<int>(*days)};
  });
}

std::string EncodeVolatilityBody(const std::optional<VolatilityRow>& row) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("volatility");
  if (row) {
    w.BeginObject().Key("ticker").String(row->ticker);
    if (row->vol_index) w.Key("vol_index").String(row->vol_index->ToString());
    if (row->event_risk_factor) w.Key("event_risk_factor").Int(*row->event_risk_factor);
    w.EndObject();
  } else {
    w.Null();
  }
  w.EndObject();
  return out;
}

Result<std::optional<VolatilityRow>> DecodeVolatilityBody(std::string_view body) {
  return DecodeOptionalRow<VolatilityRow>(body, "volatility",
                                          [](const json& obj) -> std::optional<VolatilityRow> {
                                            if (!obj.is_object()) return std::nullopt;
                                            auto ticker = StringMember(obj, "ticker");
                                            if (!ticker) return std::nullopt;
                                            VolatilityRow row{*ticker, std::nullopt, std::nullopt};
                                            if (obj.contains("vol_index")) {
                                              row.vol_index = DecimalMember(obj, "vol_index");
                                              if (!row.vol_index) return std::nullopt;
                                            }
                                            if (obj.contains("event_risk_factor")) {
                                              auto risk = IntMember(obj, "event_risk_factor");
                                              if (!risk || *risk < -1000000 || *risk > 1000000)
                                                return std::nullopt;
                                              row.event_risk_factor = static_cast<int>(*risk);
                                            }
                                            return row;
                                          });
}

std::string EncodeApiKeyBody(const std::optional<ApiKey>& key) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("api_key");
  if (key) {
    w.BeginObject()
        .Key("key_hash")
        .String(key->key_hash)
        .Key("client_id")
        .String(key->client_id)
        .Key("rate_limit_per_minute")
        .Int(key->rate_limit_per_minute)
        .Key("scope")
        .String(KeyScopeName(key->scope))
        .EndObject();
  } else {
    w.Null();
  }
  w.EndObject();
  return out;
}

Result<std::optional<ApiKey>> DecodeApiKeyBody(std::string_view body) {
  return DecodeOptionalRow<ApiKey>(body, "api_key", [](const json& obj) -> std::optional<ApiKey> {
    if (!obj.is_object()) return std::nullopt;
    auto hash = StringMember(obj, "key_hash");
    auto client = StringMember(obj, "client_id");
    auto limit = IntMember(obj, "rate_limit_per_minute");
    auto scope_text = StringMember(obj, "scope");
    if (!hash || !client || !limit || !scope_text) return std::nullopt;
    auto scope = ParseKeyScope(*scope_text);
    if (!scope) return std::nullopt;
    return ApiKey{*hash, *client, *limit, *scope};
  });
}

std::string EncodeRateBody(Decimal rate) {
  std::string out;
  JsonWriter(&out).BeginObject().Key("rate").String(rate.ToString()).EndObject();
  return out;
}

Result<Decimal> DecodeRateBody(std::string_view body) {
  auto doc = ParseObject(body);
  if (!doc) return Malformed("not a JSON object");
  auto rate = DecimalMember(*doc, "rate");
  if (!rate) return Malformed("bad rate");
  return *rate;
}

std::string EncodeVixBody(Decimal vix) {
  std::string out;
  JsonWriter(&out).BeginObject().Key("value").String(vix.ToString()).EndObject();
  return out;
}

Result<Decimal> DecodeVixBody(std::string_view body) {
  auto doc = ParseObject(body);
  if (!doc) return Malformed("not a JSON object");
  auto vix = DecimalMember(*doc, "value");
  if (!vix) return Malformed("bad value");
  return *vix;
}

std::string EncodeEventRiskBody(int risk) {
  std::string out;
  JsonWriter(&out).BeginObject().Key("risk_factor").Int(risk).EndObject();
  return out;
}

Result<int> DecodeEventRiskBody(std::string_view body) {
  auto doc = ParseObject(body);
  if (!doc) return Malformed("not a JSON object");
  auto risk = IntMember(*doc, "risk_factor");
  if (!risk || *risk < -1000000 || *risk > 1000000) return Malformed("bad risk_factor");
  return static_cast<int>(*risk);
}

Error DecodeErrorBody(int status, std::string_view body) {
  if (auto doc = ParseObject(body)) {
    auto it = doc->find("error");
    if (it != doc->end() && it->is_object()) {
      auto code = StringMember(*it, "code");
      auto message = StringMember(*it, "message");
      std::string field = StringMember(*it, "field").value_or("");
      for (ErrorCode c :
           {ErrorCode::kInvalidParameter, ErrorCode::kUnauthorized, ErrorCode::kForbidden,
            ErrorCode::kTickerNotFound, ErrorCode::kClientNotFound, ErrorCode::kNotFound,
            ErrorCode::kMethodNotAllowed, ErrorCode::kPayloadTooLarge,
            ErrorCode::kUnsupportedMediaType, ErrorCode::kRateLimitExceeded,
            ErrorCode::kCalculationError, ErrorCode::kServiceUnavailable}) {
        // An error with an empty message is read as one without a body.
        if (code && message && !message->empty() && ErrorCodeName(c) == *code) {
          return Error{c, std::move(*message), std::move(field)};
        }
      }
    }
  }
  ErrorCode code = ErrorCode::kServiceUnavailable;
  if (status == 400) code = ErrorCode::kInvalidParameter;
  if (status == 401) code = ErrorCode::kUnauthorized;
  if (status == 404) code = ErrorCode::kNotFound;
  return Error{code, "HTTP " + std::to_string(status) + " without an error body", ""};
}

DataApi::DataApi(ReferenceStore* store, MarketData* market, std::string internal_token)
    : store_(store), market_(market), token_(std::move(internal_token)) {}

bool DataApi::Owns(std::string_view path) {
  std::string_view route = InternalRouteOf(path);
  return !route.empty() && route != kAuditBatchPath;
}

ApiResponse DataApi::Handle(const ApiRequest& request) {
  if (auto ok = CheckInternalToken(request, token_); !ok) return Refuse(ok.error());
  if (request.method != "GET") return MethodNotAllowed(request, "GET");
  const std::string_view path = request.path;

  if (path == "/internal/v1/ping") {
    auto ok = store_->Ping();
    if (!ok) return Refuse(ok.error());
    return JsonResponse(200, R"({"status":"ok"})");
  }
  if (path == "/internal/v1/market/vix") {
    auto vix = market_->MarketVix();
    if (!vix) return Refuse(vix.error());
    return JsonResponse(200, EncodeVixBody(*vix));
  }
  if (path == "/internal/v1/stocks") {
    auto status = ParseBorrowStatus(QueryValue(request, "status"));
    auto limit = ParseNonNegative(QueryValue(request, "limit"), 100000);
    auto offset = ParseNonNegative(QueryValue(request, "offset"), 1000000000);
    if (!status || !limit || !offset) {
      return Refuse(Error{ErrorCode::kInvalidParameter,
                          "status (EASY|MEDIUM|HARD), limit and offset are required", "status"});
    }
    auto rows = store_->ListStocks(*status, static_cast<int>(*limit), static_cast<int>(*offset));
    if (!rows) return Refuse(rows.error());
    return JsonResponse(200, EncodeStockListBody(*rows));
  }

  auto split = SplitCollectionPath(path);
  std::optional<std::string> segment;
  if (split) segment = PercentDecode(split->second);
  if (!split || !segment || segment->empty() || segment->size() > kMaxSegment) {
    return Refuse(Error{ErrorCode::kNotFound, "no route for " + request.path, ""});
  }
  const std::string_view name = split->first->name;
  const std::string& id = *segment;
  if (name == "stocks") {
    auto row = store_->GetStock(id);
    if (!row) return Refuse(row.error());
    return JsonResponse(200, EncodeStockBody(*row));
  }
  if (name == "brokers") {
    auto row = store_->GetBroker(id);
    if (!row) return Refuse(row.error());
    return JsonResponse(200, EncodeBrokerBody(*row));
  }
  if (name == "volatility") {
    auto row = store_->GetVolatility(id);
    if (!row) return Refuse(row.error());
    return JsonResponse(200, EncodeVolatilityBody(*row));
  }
  if (name == "api-keys") {
    auto row = store_->GetApiKeyByHash(id);
    if (!row) return Refuse(row.error());
    return JsonResponse(200, EncodeApiKeyBody(*row));
  }
  if (name == "lender-rates") {
    auto rate = market_->LenderRate(id);
    if (!rate) return Refuse(rate.error());
    return JsonResponse(200, EncodeRateBody(*rate));
  }
  auto risk = market_->EventRisk(id);
  if (!risk) return Refuse(risk.error());
  return JsonResponse(200, EncodeEventRiskBody(*risk));
}

AuditApi::AuditApi(Parse parse, Store store, std::string internal_token)
    : parse_(std::move(parse)), store_(std::move(store)), token_(std::move(internal_token)) {}

ApiResponse AuditApi::Handle(const ApiRequest& request) {
  if (auto ok = CheckInternalToken(request, token_); !ok) return Refuse(ok.error());
  if (request.method != "POST") return MethodNotAllowed(request, "POST");
  std::vector<AuditRecord> records;
  std::string_view body = request.body;
  size_t line_no = 0;
  while (!body.empty()) {
    const size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    auto record = parse_(line);
    if (!record) {
      return Refuse(Error{ErrorCode::kInvalidParameter,
                          "line " + std::to_string(line_no) + ": " + record.error().message,
                          "body"});
    }
    records.push_back(std::move(*record));
  }
  if (!records.empty()) {
    if (auto stored = store_(records); !stored) {
      // Anything but a refusal of the values is transient: the sender retries.
      Error e = stored.error();
      if (e.code != ErrorCode::kInvalidParameter) e.code = ErrorCode::kServiceUnavailable;
      return Refuse(e);
    }
  }
  std::string out;
  JsonWriter(&out)
      .BeginObject()
      .Key("status")
      .String("ok")
      .Key("accepted")
      .Int(static_cast<int64_t>(records.size()))
      .EndObject();
  return JsonResponse(200, std::move(out));
}

}  // namespace pricing::engine
