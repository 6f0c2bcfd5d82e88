// The volatility sources over HTTP against a scripted peer: parsing of each
// answer, the poll interval, the engine source's URL and API key, and a
// failing source kept for a while, then reported stale.
#include "adapters/volatility_reader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <string>
#include <vector>

#include "http_peer.h"
#include "op/yaml.h"

namespace pricing::op {
namespace {

using namespace std::chrono_literals;
using testing_peer::Peer;
using testing_peer::Request;

TimePoint At(const std::string& rfc3339) { return ParseRfc3339(rfc3339).value(); }

PricingEngine EngineWith(const std::string& source_yaml) {
  const std::string text = R"(
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: desk, namespace: prod, generation: 1}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  components:
  - {name: calculation, role: calculation, replicas: {min: 3, max: 20}}
  - {name: api, role: gateway, replicas: {min: 2, max: 6}}
  volatility:
    pollInterval: 60s
    source: )" + source_yaml + R"(
    regimes:
    - {name: High, enterAbove: 30, exitBelow: 27, minReplicas: {calculation: 15}}
)";
  Result<nlohmann::json> doc = ParseYaml(text);
  EXPECT_TRUE(doc.has_value()) << (doc ? "" : ToString(doc.error()));
  Result<PricingEngine> pe = ParsePricingEngine(*doc);
  EXPECT_TRUE(pe.has_value()) << (pe ? "" : ToString(pe.error()));
  return *pe;
}

// What the tests' peers need: plain HTTP to this machine.
VolatilityReaderOptions Local() {
  VolatilityReaderOptions o;
  o.allow = HostAllowList::Parse({"127.0.0.1/32"}).value();
  o.allow_http = true;
  return o;
}

TEST(NumberAt, ReadsNumbersAndNumericStrings) {
  EXPECT_EQ(NumberAt(R"({"vix": 22.5})", "/vix").value(), 22.5);
  EXPECT_EQ(NumberAt(R"({"data": {"vix": "31.25"}})", "/data/vix").value(), 31.25);
  EXPECT_EQ(NumberAt(R"([1, 2, 3])", "/2").value(), 3);
  EXPECT_FALSE(NumberAt(R"({"vix": "high"})", "/vix").has_value());
  EXPECT_FALSE(NumberAt(R"({"vix": null})", "/vix").has_value());
  EXPECT_FALSE(NumberAt(R"({"other": 1})", "/vix").has_value());
  EXPECT_FALSE(NumberAt("not json", "/vix").has_value());
  EXPECT_FALSE(NumberAt(R"({"vix": 1})", "vix").has_value());  // not a pointer
}

TEST(PrometheusValue, ReadsVectorAndScalarAnswers) {
  EXPECT_EQ(PrometheusValue(R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"__name__":"vix"},"value":[1764000000.5,"24.75"]}]}})")
                .value(),
            24.75);
  EXPECT_EQ(PrometheusValue(
                R"({"status":"success","data":{"resultType":"scalar","result":[1764000000,"19"]}})")
                .value(),
            19);
  EXPECT_FALSE(
      PrometheusValue(R"({"status":"success","data":{"resultType":"vector","result":[]}})")
          .has_value());
  EXPECT_FALSE(PrometheusValue(R"({"status":"error","error":"parse error"})").has_value());
  EXPECT_FALSE(PrometheusValue(
                   R"({"status":"success","data":{"resultType":"matrix","result":[]}})")
                   .has_value());
}

TEST(EngineVolatilityUrl, PrefersTheGatewayService) {
  const PricingEngine pe = EngineWith("{engine: {}}");
  EXPECT_EQ(EngineVolatilityUrl(pe, {}),
            "http://desk-api.prod.svc:8080/api/v1/market/volatility");
}

TEST(HttpVolatilityReader, UrlSourcePollsOncePerInterval) {
  std::atomic<int> value{20};
  Peer peer([&](int fd, const Request&, Peer&) {
    Peer::Respond(fd, 200, R"({"market": {"vix": )" + std::to_string(value.load()) + "}}");
  });
  const PricingEngine pe =
      EngineWith("{url: {url: \"" + peer.Url() + "/vix\", jsonPointer: /market/vix}}");
  HttpVolatilityReader reader(Local());
  const TimePoint t0 = At("2026-11-30T15:00:00Z");
  VolatilityObservation o = reader.Read(pe, t0);
  EXPECT_TRUE(o.healthy) << o.message;
  EXPECT_EQ(o.value, 20);
  EXPECT_EQ(o.source, "url");
  EXPECT_EQ(o.observed_at, t0);
  value = 32;
  o = reader.Read(pe, t0 + 30s);  // within the poll interval: no request
  EXPECT_EQ(o.value, 20);
  EXPECT_EQ(peer.Requests().size(), 1u);
  o = reader.Read(pe, t0 + 60s);
  EXPECT_EQ(o.value, 32);
  EXPECT_EQ(peer.Requests().size(), 2u);
  EXPECT_EQ(peer.Requests()[0].target, "/vix");
}

TEST(HttpVolatilityReader, AFailingSourceKeepsItsLastReadingThenGoesStale) {
  std::atomic<bool> fail{false};
  Peer peer([&](int fd, const Request&, Peer&) {
    if (fail.load()) {
      Peer::Respond(fd, 500, R"({"error": "down"})");
    } else {
      Peer::Respond(fd, 200, R"({"value": 26.5})");
    }
  });
  const PricingEngine pe = EngineWith("{url: {url: \"" + peer.Url() + "/\"}}");
  HttpVolatilityReader reader(Local());
  const TimePoint t0 = At("2026-11-30T15:00:00Z");
  EXPECT_EQ(reader.Read(pe, t0).value, 26.5);
  fail = true;
  VolatilityObservation o = reader.Read(pe, t0 + 60s);
  EXPECT_TRUE(o.healthy);
  EXPECT_EQ(o.value, 26.5);
  EXPECT_EQ(o.observed_at, t0);
  EXPECT_NE(o.message.find("HTTP 500"), std::string::npos) << o.message;
  o = reader.Read(pe, t0 + 181s);  // older than 3 poll intervals
  EXPECT_FALSE(o.healthy);
  EXPECT_FALSE(o.value.has_value());
  EXPECT_NE(o.message.find("stale"), std::string::npos) << o.message;
  fail = false;
  o = reader.Read(pe, t0 + 241s);
  EXPECT_TRUE(o.healthy);
  EXPECT_EQ(o.value, 26.5);
}

TEST(HttpVolatilityReader, GarbageAndUnreachableSourcesAreUnhealthy) {
  Peer peer([&](int fd, const Request&, Peer&) { Peer::Respond(fd, 200, "<html>"); });
  HttpVolatilityReader reader(Local());
  const TimePoint t0 = At("2026-11-30T15:00:00Z");
  VolatilityObservation o = reader.Read(EngineWith("{url: {url: \"" + peer.Url() + "/\"}}"), t0);
  EXPECT_FALSE(o.healthy);
  EXPECT_NE(o.message.find("not JSON"), std::string::npos) << o.message;
  PricingEngine unreachable = EngineWith("{url: {url: \"http://127.0.0.1:1/\"}}");
  unreachable.metadata.name = "other";
  o = reader.Read(unreachable, t0);
  EXPECT_FALSE(o.healthy);
  EXPECT_NE(o.message.find("no reading yet"), std::string::npos) << o.message;
}

TEST(HttpVolatilityReader, PrometheusSourceSendsTheQuery) {
  Peer peer([&](int fd, const Request&, Peer&) {
    Peer::Respond(fd, 200,
                  R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"28.5"]}]}})");
  });
  const PricingEngine pe = EngineWith("{prometheus: {url: \"" + peer.Url() +
                                      "/\", query: \"max(vix_index{source=\\\"cboe\\\"})\"}}");
  HttpVolatilityReader reader(Local());
  VolatilityObservation o = reader.Read(pe, At("2026-11-30T15:00:00Z"));
  EXPECT_TRUE(o.healthy) << o.message;
  EXPECT_EQ(o.value, 28.5);
  ASSERT_EQ(peer.Requests().size(), 1u);
  EXPECT_EQ(peer.Requests()[0].target,
            "/api/v1/query?query=max(vix_index%7Bsource%3D%22cboe%22%7D)");
}

TEST(HttpVolatilityReader, EngineSourceSendsTheApiKey) {
  Peer peer([&](int fd, const Request&, Peer&) {
    Peer::Respond(fd, 200, R"({"vix": 33.1, "as_of": "2026-11-30T15:00:00Z", "source": "market_api"})");
  });
  VolatilityReaderOptions options;
  options.engine_api_key = "internal-key";
  options.engine_key_over_http = true;
  std::string asked;
  options.engine_authority = [&](const std::string& service, const std::string& ns) {
    asked = service + "." + ns;
    return peer.Url().substr(std::string("http://").size());
  };
  HttpVolatilityReader reader(options);
  VolatilityObservation o = reader.Read(EngineWith("{engine: {}}"), At("2026-11-30T15:00:00Z"));
  EXPECT_TRUE(o.healthy) << o.message;
  EXPECT_EQ(o.value, 33.1);
  EXPECT_EQ(o.source, "engine");
  EXPECT_EQ(asked, "desk-api.prod");
  ASSERT_EQ(peer.Requests().size(), 1u);
  EXPECT_EQ(peer.Requests()[0].target, "/api/v1/market/volatility");
  std::string headers = peer.Requests()[0].headers;
  for (char& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_NE(headers.find("\r\nx-api-key:internal-key"), std::string::npos) << headers;
}

TEST(HttpVolatilityReader, WithoutAnAllowListNoUrlIsFetched) {
  std::atomic<int> asked{0};
  Peer peer([&](int fd, const Request&, Peer&) {
    ++asked;
    Peer::Respond(fd, 200, R"({"value": 20})");
  });
  HttpVolatilityReader reader;  // the defaults: nothing allowed
  const TimePoint t0 = At("2026-11-30T15:00:00Z");
  for (const std::string& url :
       {peer.Url() + "/", std::string("http://169.254.169.254/latest/meta-data/iam"),
        std::string("https://kubernetes.default.svc/api"), std::string("https://10.96.0.1/")}) {
    PricingEngine pe = EngineWith("{url: {url: \"" + url + "\"}}");
    pe.metadata.name = "pe-" + std::to_string(url.size());
    const VolatilityObservation o = reader.Read(pe, t0);
    EXPECT_FALSE(o.healthy) << url;
    EXPECT_NE(o.message.find("--volatility-"), std::string::npos) << o.message;
  }
  EXPECT_EQ(asked.load(), 0);
}

TEST(CheckVolatilityUrl, HttpsOnlyAndHostsByNameOrByEveryAddress) {
  VolatilityReaderOptions o;
  o.allow = HostAllowList::Parse({"vix.example.com,192.0.2.0/24"}).value();
  o.resolve = [](const std::string& host) -> Result<std::vector<std::string>> {
    if (host == "inside.example.net") return std::vector<std::string>{"192.0.2.10"};
    if (host == "mixed.example.net") return std::vector<std::string>{"192.0.2.11", "10.0.0.5"};
    return Fail("", "cannot resolve " + host);
  };
  EXPECT_TRUE(CheckVolatilityUrl("https://vix.example.com/v", o).has_value());
  EXPECT_TRUE(CheckVolatilityUrl("https://192.0.2.4:8443/v", o).has_value());
  EXPECT_TRUE(CheckVolatilityUrl("https://inside.example.net/v", o).has_value());
  const auto refusal = [&](const std::string& url) {
    Result<void> r = CheckVolatilityUrl(url, o);
    return r ? std::string("allowed") : r.error().message;
  };
  EXPECT_EQ(refusal("http://vix.example.com/v"),
            "http://vix.example.com/v: the operator fetches volatility only over https "
            "(--volatility-allow-http allows http)");
  EXPECT_EQ(refusal("https://mixed.example.net/v"),
            "https://mixed.example.net/v: host mixed.example.net is not allowed for volatility "
            "sources (--volatility-allow); it resolves to 10.0.0.5, outside the allowed networks");
  EXPECT_EQ(refusal("https://198.51.100.1/"),
            "https://198.51.100.1/: host 198.51.100.1 is not allowed for volatility sources "
            "(--volatility-allow)");
  EXPECT_NE(refusal("file:///etc/passwd").find("only over https"), std::string::npos);
  o.allow_http = true;
  EXPECT_TRUE(CheckVolatilityUrl("http://vix.example.com/v", o).has_value());
}

TEST(HttpVolatilityReader, AnAnswerThatIsNotANumberIsNeverQuoted) {
  std::atomic<int> which{0};
  Peer peer([&](int fd, const Request&, Peer&) {
    switch (which.load()) {
      case 0:
        return Peer::Respond(fd, 200, R"({"value": "AKIAIOSFODNN7EXAMPLE"})");
      case 1:
        return Peer::Respond(fd, 200, R"({"value": {"password": "hunter2"}})");
      case 2:
        return Peer::Respond(fd, 200, std::string(kMaxAnswerBytes + 10, ' '));
      default:
        return Peer::Respond(fd, 200,
                             R"({"status":"error","errorType":"bad_data","error":"token=s3cr3t"})");
    }
  });
  HttpVolatilityReader reader(Local());
  const TimePoint t0 = At("2026-11-30T15:00:00Z");
  std::vector<std::string> messages;
  for (int i = 0; i < 4; ++i) {
    which = i;
    PricingEngine pe = i < 3 ? EngineWith("{url: {url: \"" + peer.Url() + "/\"}}")
                             : EngineWith("{prometheus: {url: \"" + peer.Url() +
                                          "\", query: vix}}");
    pe.metadata.name = "leak-" + std::to_string(i);
    const VolatilityObservation o = reader.Read(pe, t0);
    EXPECT_FALSE(o.healthy);
    messages.push_back(o.message);
  }
  EXPECT_NE(messages[0].find("a string that is not a number at /value"), std::string::npos)
      << messages[0];
  EXPECT_NE(messages[1].find("an object at /value"), std::string::npos) << messages[1];
  EXPECT_NE(messages[2].find("more than 1048576 bytes"), std::string::npos) << messages[2];
  EXPECT_NE(messages[3].find("the query failed (bad_data)"), std::string::npos) << messages[3];
  for (const std::string& m : messages) {
    for (const char* secret : {"AKIA", "hunter2", "s3cr3t", "password"}) {
      EXPECT_EQ(m.find(secret), std::string::npos) << m;
    }
  }
}

TEST(HttpVolatilityReader, TheEngineKeyIsNotSentInClearWithoutTheInstallersFlag) {
  std::atomic<int> asked{0};
  Peer peer([&](int fd, const Request&, Peer&) {
    ++asked;
    Peer::Respond(fd, 200, R"({"vix": 20})");
  });
  VolatilityReaderOptions options = Local();
  options.engine_api_key = "internal-key";
  options.engine_authority = [&](const std::string&, const std::string&) {
    return peer.Url().substr(std::string("http://").size());
  };
  HttpVolatilityReader reader(options);
  const VolatilityObservation o =
      reader.Read(EngineWith("{engine: {}}"), At("2026-11-30T15:00:00Z"));
  EXPECT_FALSE(o.healthy);
  EXPECT_NE(o.message.find("--volatility-engine-key-over-http"), std::string::npos) << o.message;
  EXPECT_EQ(asked.load(), 0);
}

}  // namespace
}  // namespace pricing::op
