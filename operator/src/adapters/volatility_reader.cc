#include "adapters/volatility_reader.h"

#include <cpprest/http_client.h>
#include <cpprest/containerstream.h>
#include <cpprest/uri_builder.h>

#include <netdb.h>
#include <sys/socket.h>

#include <charconv>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "adapters/tls_trust.h"
#include "common/text.h"
#include "op/children.h"

namespace pricing::op {
namespace {

using nlohmann::json;

std::optional<double> ParseNumber(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

std::string SourceName(VolatilitySource::Kind kind) {
  switch (kind) {
    case VolatilitySource::Kind::kEngine:
      return "engine";
    case VolatilitySource::Kind::kUrl:
      return "url";
    case VolatilitySource::Kind::kPrometheus:
      return "prometheus";
    case VolatilitySource::Kind::kValue:
      return "value";
  }
  return "";
}

// The kind of a JSON value, for a message that must not repeat the value.
std::string KindOf(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_string()) return "a string that is not a number";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "a value";
}

Result<std::vector<std::string>> Resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) return Fail("", "cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::vector<std::string> out;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[NI_MAXHOST];
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, nullptr, 0,
                      NI_NUMERICHOST) == 0) {
      out.emplace_back(text);
    }
  }
  ::freeaddrinfo(found);
  return out;
}

// GETs `url` and returns the body of a 2xx answer, of at most kMaxAnswerBytes.
Result<std::string> HttpGet(const std::string& url, std::chrono::milliseconds timeout,
                            const std::string& api_key) {
  try {
    web::http::client::http_client_config config;
    config.set_timeout(timeout);
    config.set_ssl_context_callback(
        [](boost::asio::ssl::context& context) { TrustDefaultCaBundle(context); });
    web::http::client::http_client client(web::uri(utility::conversions::to_string_t(url)),
                                          config);
    web::http::http_request request(web::http::methods::GET);
    request.headers().add("Accept", "application/json");
    if (!api_key.empty()) request.headers().add("X-API-Key", api_key);
    web::http::http_response response = client.request(request).get();
    if (response.status_code() < 200 || response.status_code() >= 300) {
      return Fail("", "GET " + url + " answered HTTP " + std::to_string(response.status_code()));
    }
    // Read up to one byte past the cap, whatever the framing says.
    concurrency::streams::container_buffer<std::string> buffer;
    concurrency::streams::istream body = response.body();
    size_t total = 0;
    while (total <= kMaxAnswerBytes) {
      const size_t n = body.read(buffer, kMaxAnswerBytes + 1 - total).get();
      if (n == 0) break;
      total += n;
    }
    if (total > kMaxAnswerBytes) {
      return Fail("", "GET " + url + " answered more than " + std::to_string(kMaxAnswerBytes) +
                          " bytes");
    }
    std::string out = std::move(buffer.collection());
    out.resize(total);  // the buffer may have grown ahead of what was written
    return out;
  } catch (const std::exception& e) {
    return Fail("", "GET " + url + " failed: " + e.what());
  }
}

}  // namespace

Result<double> NumberAt(const std::string& document, const std::string& pointer) {
  const json doc = json::parse(document, nullptr, false);
  if (doc.is_discarded()) return Fail("", "the answer is not JSON");
  json::json_pointer p;
  try {
    p = json::json_pointer(pointer);
  } catch (const std::exception&) {
    return Fail("", "jsonPointer " + pointer + " is not a JSON pointer");
  }
  if (!doc.contains(p)) return Fail("", "the answer has nothing at " + pointer);
  const json& v = doc.at(p);
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    if (std::optional<double> d = ParseNumber(v.get<std::string>())) return *d;
  }
  return Fail("", "the answer holds " + KindOf(v) + " at " + pointer + ", not a number");
}

Result<double> PrometheusValue(const std::string& document) {
  const json doc = json::parse(document, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Fail("", "the answer is not JSON");
  if (doc.value("status", "") != "success") {
    // errorType is one of a few words (bad_data, timeout, ...); the error
    // text may quote anything, so it is left out.
    const json type = doc.value("errorType", json());
    bool word = type.is_string() && !type.get<std::string>().empty() &&
                type.get<std::string>().size() <= 32;
    if (word) {
      for (char ch : type.get<std::string>()) word = word && ((ch >= 'a' && ch <= 'z') || ch == '_');
    }
    return Fail("", word ? "the query failed (" + type.get<std::string>() + ")"
                         : std::string("the query failed"));
  }
  const json::json_pointer type_at("/data/resultType");
  const json::json_pointer result_at("/data/result");
  if (!doc.contains(type_at) || !doc.contains(result_at)) {
    return Fail("", "the answer has no data.result");
  }
  const std::string type = doc.at(type_at).is_string() ? doc.at(type_at).get<std::string>() : "";
  const json& result = doc.at(result_at);
  const json* sample = nullptr;
  if (type == "vector") {
    if (!result.is_array() || result.empty()) return Fail("", "the query returned no sample");
    if (result[0].is_object() && result[0].contains("value")) sample = &result[0]["value"];
  } else if (type == "scalar") {
    sample = &result;
  } else {
    return Fail("", "the query returned a " + type + ", not a vector or scalar");
  }
  if (sample == nullptr || !sample->is_array() || sample->size() != 2 || !(*sample)[1].is_string()) {
    return Fail("", "the sample is malformed");
  }
  const std::optional<double> v = ParseNumber((*sample)[1].get<std::string>());
  if (!v) return Fail("", "the sample value is not a number");
  return *v;
}

Result<void> CheckVolatilityUrl(const std::string& url, const VolatilityReaderOptions& options) {
  std::string scheme;
  std::string host;
  try {
    const web::uri uri(utility::conversions::to_string_t(url));
    scheme = utility::conversions::to_utf8string(uri.scheme());
    host = utility::conversions::to_utf8string(uri.host());
  } catch (const std::exception&) {
    return Fail("", url + " is not a URL");
  }
  scheme = AsciiLower(scheme);
  if (scheme != "https" && !(scheme == "http" && options.allow_http)) {
    return Fail("", url + ": the operator fetches volatility only over https" +
                        std::string(scheme == "http" ? " (--volatility-allow-http allows http)"
                                                     : ""));
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string refused = url + ": host " + host +
                              " is not allowed for volatility sources (--volatility-allow)";
  if (host.empty()) return Fail("", url + " names no host");
  if (options.allow.AllowsName(host)) return {};
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  if (ParseIpAddress(host, &v6, &bytes)) {
    if (options.allow.AllowsAddress(host)) return {};
    return Fail("", refused);
  }
  if (options.allow.empty()) return Fail("", refused);
  Result<std::vector<std::string>> addresses =
      options.resolve ? options.resolve(host) : Resolve(host);
  if (!addresses) return Fail("", url + ": " + addresses.error().message);
  if (addresses->empty()) return Fail("", url + ": " + host + " resolves to no address");
  for (const std::string& a : *addresses) {
    if (!options.allow.AllowsAddress(a)) {
      return Fail("", refused + "; it resolves to " + a + ", outside the allowed networks");
    }
  }
  return {};
}

std::string EngineVolatilityUrl(const PricingEngine& pe, const VolatilityReaderOptions& options) {
  const Component* chosen = nullptr;
  for (const std::string_view role : {"gateway", "all"}) {
    for (const Component& c : pe.spec.components) {
      if (chosen == nullptr && c.role == role) chosen = &c;
    }
  }
  if (chosen == nullptr && !pe.spec.components.empty()) chosen = &pe.spec.components.front();
  const std::string service = pe.metadata.name + "-" + (chosen ? chosen->name : "");
  const std::string authority =
      options.engine_authority
          ? options.engine_authority(service, pe.metadata.namespace_name)
          : service + "." + pe.metadata.namespace_name + ".svc:" + std::to_string(kHttpPort);
  return "http://" + authority + "/api/v1/market/volatility";
}

HttpVolatilityReader::HttpVolatilityReader(VolatilityReaderOptions options)
    : options_(std::move(options)) {}

Result<double> HttpVolatilityReader::Poll(const PricingEngine& pe) const {
  const VolatilitySource& source = pe.spec.volatility->source;
  switch (source.kind) {
    case VolatilitySource::Kind::kValue:
      return source.value;
    case VolatilitySource::Kind::kEngine: {
      if (!options_.engine_api_key.empty() && !options_.engine_key_over_http) {
        return Fail("", "the engine source needs the operator's engine API key, which it sends "
                        "over plain HTTP to the engine Service only with "
                        "--volatility-engine-key-over-http");
      }
      Result<std::string> body =
          HttpGet(EngineVolatilityUrl(pe, options_), options_.timeout, options_.engine_api_key);
      if (!body) return std::unexpected(body.error());
      return NumberAt(*body, "/vix");
    }
    case VolatilitySource::Kind::kUrl: {
      if (Result<void> ok = CheckVolatilityUrl(source.url, options_); !ok) {
        return std::unexpected(ok.error());
      }
      Result<std::string> body = HttpGet(source.url, options_.timeout, "");
      if (!body) return std::unexpected(body.error());
      return NumberAt(*body, source.json_pointer);
    }
    case VolatilitySource::Kind::kPrometheus: {
      if (Result<void> ok = CheckVolatilityUrl(source.url, options_); !ok) {
        return std::unexpected(ok.error());
      }
      std::string base = source.url;
      while (!base.empty() && base.back() == '/') base.pop_back();
      web::uri_builder builder(utility::conversions::to_string_t(base + "/api/v1/query"));
      builder.append_query(U("query"), utility::conversions::to_string_t(source.query), true);
      Result<std::string> body =
          HttpGet(utility::conversions::to_utf8string(builder.to_string()), options_.timeout, "");
      if (!body) return std::unexpected(body.error());
      return PrometheusValue(*body);
    }
  }
  return Fail("", "unknown source");
}

VolatilityObservation HttpVolatilityReader::Read(const PricingEngine& pe, TimePoint now) {
  const VolatilitySource& source = pe.spec.volatility->source;
  const std::string fingerprint = SourceName(source.kind) + " " + source.url + " " +
                                  source.json_pointer + " " + source.query;
  const std::string key = pe.metadata.namespace_name + "/" + pe.metadata.name;
  {
    std::lock_guard lock(mu_);
    Entry& entry = entries_[key];
    if (entry.source != fingerprint) {
      entry = Entry();
      entry.source = fingerprint;
    }
    if (entry.polled_at && now - *entry.polled_at < pe.spec.volatility->poll_interval &&
        now >= *entry.polled_at) {
      return Observe(entry, pe, now);
    }
  }
  // Poll without the lock: it may take up to the timeout.
  Result<double> reading = Poll(pe);
  std::lock_guard lock(mu_);
  Entry& entry = entries_[key];
  if (entry.source != fingerprint) {
    entry = Entry();
    entry.source = fingerprint;
  }
  entry.polled_at = now;
  if (reading) {
    entry.value = *reading;
    entry.value_at = now;
    entry.error.clear();
  } else {
    entry.error = reading.error().message;
  }
  return Observe(entry, pe, now);
}

VolatilityObservation HttpVolatilityReader::Observe(const Entry& entry, const PricingEngine& pe,
                                                    TimePoint now) const {
  VolatilityObservation o;
  o.source = SourceName(pe.spec.volatility->source.kind);
  o.observed_at = entry.value_at;
  const auto stale_after = pe.spec.volatility->poll_interval * kStaleAfterPolls;
  if (entry.value && entry.value_at && now - *entry.value_at <= stale_after) {
    o.value = entry.value;
    o.healthy = true;
    o.message = entry.error.empty() ? "the source answered"
                                    : "the last poll failed (" + entry.error +
                                          "); using the reading of " +
                                          FormatRfc3339(*entry.value_at);
    return o;
  }
  o.healthy = false;
  o.message = entry.value ? "stale: no good reading since " + FormatRfc3339(*entry.value_at) +
                                (entry.error.empty() ? "" : " (" + entry.error + ")")
                          : "no reading yet" + (entry.error.empty() ? std::string()
                                                                    : " (" + entry.error + ")");
  return o;
}

}  // namespace pricing::op
