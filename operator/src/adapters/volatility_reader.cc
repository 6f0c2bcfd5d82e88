#include "adapters/volatility_reader.h"

#include <cpprest/http_client.h>
#include <cpprest/uri_builder.h>

#include <charconv>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "adapters/tls_trust.h"
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

// GETs `url` and returns the body of a 2xx answer.
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
    const std::string body = response.extract_utf8string(true).get();
    if (response.status_code() < 200 || response.status_code() >= 300) {
      return Fail("", "GET " + url + " answered HTTP " + std::to_string(response.status_code()));
    }
    return body;
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
  return Fail("", "the answer holds " + v.dump() + " at " + pointer + ", not a number");
}

Result<double> PrometheusValue(const std::string& document) {
  const json doc = json::parse(document, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Fail("", "the answer is not JSON");
  if (doc.value("status", "") != "success") {
    return Fail("", "the query failed: " + doc.value("error", doc.dump()));
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
      Result<std::string> body =
          HttpGet(EngineVolatilityUrl(pe, options_), options_.timeout, options_.engine_api_key);
      if (!body) return std::unexpected(body.error());
      return NumberAt(*body, "/vix");
    }
    case VolatilitySource::Kind::kUrl: {
      Result<std::string> body = HttpGet(source.url, options_.timeout, "");
      if (!body) return std::unexpected(body.error());
      return NumberAt(*body, source.json_pointer);
    }
    case VolatilitySource::Kind::kPrometheus: {
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
