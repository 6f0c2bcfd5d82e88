#include "op/spec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::FullCrJson;
using testing::MustParse;
using testing::MustParseYaml;

TEST(Spec, ReadsEveryFieldOfTheFullExample) {
  const PricingEngine pe = MustParse(FullCrJson());
  EXPECT_EQ(pe.metadata.name, "pricing");
  EXPECT_EQ(pe.metadata.namespace_name, "trading");
  EXPECT_EQ(pe.metadata.uid, "0b6f0ad4-5c2e-4d7e-9a43-2f7c1b1d9e11");
  EXPECT_EQ(pe.metadata.generation, 7);

  const PricingEngineSpec& s = pe.spec;
  EXPECT_EQ(s.image, "registry.example.com/pricing-engine:1.0.0");
  EXPECT_FALSE(s.paused);
  ASSERT_EQ(s.components.size(), 2u);
  const Component& calc = s.components[0];
  EXPECT_EQ(calc.name, "calculation");
  EXPECT_EQ(calc.role, "calculation");
  EXPECT_EQ(calc.replicas.min, 3);
  EXPECT_EQ(calc.replicas.max, 20);
  EXPECT_EQ(calc.resources.requests.at("cpu").text, "500m");
  EXPECT_EQ(calc.resources.requests.at("memory").text, "1Gi");
  EXPECT_EQ(calc.resources.limits.at("cpu").text, "2");
  EXPECT_EQ(calc.resources.limits.at("memory").text, "4Gi");
  EXPECT_EQ(calc.autoscaling.target_cpu_utilization_percentage, 80);
  ASSERT_EQ(calc.autoscaling.pods_metrics.size(), 1u);
  EXPECT_EQ(calc.autoscaling.pods_metrics[0].name, "calculations_per_second");
  EXPECT_EQ(calc.autoscaling.pods_metrics[0].average_value.text, "700");
  ASSERT_TRUE(calc.autoscaling.behavior.has_value());
  EXPECT_EQ((*calc.autoscaling.behavior)["scaleDown"]["stabilizationWindowSeconds"], 600);
  EXPECT_EQ(calc.disruption, (Disruption{Disruption::Kind::kMinAvailable, {2, false}}));
  EXPECT_EQ(s.components[1].role, "gateway");

  const MarketHours& m = s.market_hours;
  EXPECT_EQ(m.time_zone, "America/New_York");
  ASSERT_NE(m.zone, nullptr);
  EXPECT_EQ(m.zone->name(), "America/New_York");
  EXPECT_EQ(m.calendar, CalendarKind::kNyse);
  ASSERT_EQ(m.extra_holidays.size(), 1u);
  EXPECT_EQ(m.extra_holidays[0], date::year{2027} / 1 / 9);
  ASSERT_EQ(m.extra_early_closes.size(), 1u);
  EXPECT_EQ(m.extra_early_closes[0].date, date::year{2027} / 12 / 23);
  EXPECT_EQ(m.extra_early_closes[0].close, std::chrono::minutes{13 * 60});
  EXPECT_EQ(m.lead_time, std::chrono::minutes{10});
  ASSERT_EQ(m.phases.size(), 4u);
  EXPECT_EQ(m.phases[0].name, "PreMarket");
  EXPECT_EQ(m.phases[0].start.anchor, PhaseTime::Anchor::kClock);
  EXPECT_EQ(m.phases[0].start.minutes, std::chrono::minutes{8 * 60});
  EXPECT_EQ(m.phases[0].end.anchor, PhaseTime::Anchor::kOpen);
  EXPECT_EQ(m.phases[1].rule.min_replicas, (ComponentMap{{"api-gateway", 6}, {"calculation", 10}}));
  EXPECT_EQ(m.phases[3].start.anchor, PhaseTime::Anchor::kClose);
  EXPECT_EQ(m.phases[3].start.minutes, std::chrono::minutes{120});
  EXPECT_EQ(m.phases[3].end.anchor, PhaseTime::Anchor::kOpen);
  EXPECT_EQ(m.phases[3].end.minutes, std::chrono::minutes{-90});
  EXPECT_EQ(m.phases[3].rule.max_replicas, (ComponentMap{{"*", 4}}));

  ASSERT_TRUE(s.volatility.has_value());
  const Volatility& v = *s.volatility;
  EXPECT_EQ(v.source.kind, VolatilitySource::Kind::kUrl);
  EXPECT_EQ(v.source.url, "http://vix.example.com/latest");
  EXPECT_EQ(v.source.json_pointer, "/vix");
  EXPECT_EQ(v.poll_interval, std::chrono::seconds{60});
  EXPECT_EQ(v.min_hold, std::chrono::minutes{15});
  ASSERT_EQ(v.regimes.size(), 2u);
  EXPECT_EQ(v.regimes[1].name, "High");
  EXPECT_EQ(v.regimes[1].enter_above, 30);
  EXPECT_EQ(v.regimes[1].exit_below, 27);
  EXPECT_EQ(v.regimes[1].rule.max_replicas, (ComponentMap{{"calculation", 40}}));
  EXPECT_EQ(v.regimes[1].rule.target_cpu_utilization_percentage, 60);

  ASSERT_EQ(s.events.size(), 2u);
  EXPECT_EQ(s.events[0].name, "onboarding-acme");
  EXPECT_EQ(s.events[0].start, At("2026-12-01T13:00:00Z"));
  EXPECT_EQ(s.events[0].end, At("2026-12-08T00:00:00Z"));
  EXPECT_EQ(s.events[0].rule.min_replicas_percent, 150);
  EXPECT_EQ(s.events[0].rule.max_replicas_percent, 200);
  EXPECT_EQ(s.events[1].rule.disruption, (Disruption{Disruption::Kind::kMinAvailable, {70, true}}));

  ASSERT_TRUE(s.emergency_override.has_value());
  EXPECT_EQ(s.emergency_override->replicas, (ComponentMap{{"calculation", 30}}));
  EXPECT_EQ(s.emergency_override->expires, At("2026-11-28T18:00:00Z"));
  EXPECT_EQ(s.emergency_override->reason, "traffic spike INC-1234");
}

TEST(Spec, AppliesTheCrdDefaults) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: tiny}
spec:
  image: engine:1
  components:
  - {name: calc, replicas: {min: 1, max: 2}}
  - {name: capped, replicas: {min: 1, max: 2}, resources: {limits: {cpu: 750m}}}
)");
  ASSERT_EQ(pe.spec.components.size(), 2u);
  const Component& c = pe.spec.components[0];
  EXPECT_EQ(c.role, "all");
  EXPECT_EQ(c.autoscaling.target_cpu_utilization_percentage, 80);
  EXPECT_TRUE(c.autoscaling.pods_metrics.empty());
  EXPECT_FALSE(c.autoscaling.behavior.has_value());
  EXPECT_EQ(c.disruption, (Disruption{Disruption::Kind::kMaxUnavailable, {1, false}}));
  EXPECT_EQ(c.resources.requests.at("cpu").text, "500m");
  // As Kubernetes does, a request defaults to its limit.
  EXPECT_EQ(pe.spec.components[1].resources.requests.at("cpu").text, "750m");
  EXPECT_FALSE(pe.spec.paused);
  EXPECT_EQ(pe.spec.market_hours.time_zone, "America/New_York");
  ASSERT_NE(pe.spec.market_hours.zone, nullptr);
  EXPECT_EQ(pe.spec.market_hours.calendar, CalendarKind::kNyse);
  EXPECT_EQ(pe.spec.market_hours.lead_time, std::chrono::nanoseconds{0});
  EXPECT_FALSE(pe.spec.volatility.has_value());
  EXPECT_TRUE(pe.spec.events.empty());
  EXPECT_FALSE(pe.spec.emergency_override.has_value());
  EXPECT_TRUE(pe.metadata.namespace_name.empty());
  EXPECT_TRUE(pe.metadata.uid.empty());
}

TEST(Spec, VolatilitySourceDefaultsToTheEngine) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: v}
spec:
  image: engine:1
  components: [{name: calc, replicas: {min: 1, max: 2}}]
  volatility:
    regimes: [{name: High, enterAbove: 30, exitBelow: 27.5}]
)");
  ASSERT_TRUE(pe.spec.volatility.has_value());
  EXPECT_EQ(pe.spec.volatility->source.kind, VolatilitySource::Kind::kEngine);
  EXPECT_EQ(pe.spec.volatility->poll_interval, std::chrono::seconds{60});
  EXPECT_EQ(pe.spec.volatility->min_hold, std::chrono::minutes{15});
  EXPECT_EQ(pe.spec.volatility->regimes[0].exit_below, 27.5);
}

TEST(Spec, ReadsEachVolatilitySource) {
  const std::string head = R"(
metadata: {name: v}
spec:
  image: engine:1
  components: [{name: calc, replicas: {min: 1, max: 2}}]
  volatility:
)";
  PricingEngine pe = MustParseYaml(head + "    source: {engine: {}}\n");
  EXPECT_EQ(pe.spec.volatility->source.kind, VolatilitySource::Kind::kEngine);
  pe = MustParseYaml(head + "    source: {url: {url: \"https://x.example/v\"}}\n");
  EXPECT_EQ(pe.spec.volatility->source.kind, VolatilitySource::Kind::kUrl);
  EXPECT_EQ(pe.spec.volatility->source.json_pointer, "/value");
  pe = MustParseYaml(head +
                     "    source: {prometheus: {url: \"http://prom:9090\", query: \"vix\"}}\n");
  EXPECT_EQ(pe.spec.volatility->source.kind, VolatilitySource::Kind::kPrometheus);
  EXPECT_EQ(pe.spec.volatility->source.url, "http://prom:9090");
  EXPECT_EQ(pe.spec.volatility->source.query, "vix");
  pe = MustParseYaml(head + "    source: {value: 31.5}\n");
  EXPECT_EQ(pe.spec.volatility->source.kind, VolatilitySource::Kind::kValue);
  EXPECT_EQ(pe.spec.volatility->source.value, 31.5);
}

TEST(Spec, EveryComponentKeyIsAccepted) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: star}
spec:
  image: engine:1
  components: [{name: calc, replicas: {min: 1, max: 2}}]
  override: {replicas: {"*": 4}, expires: "2030-01-01T00:00:00Z"}
)");
  EXPECT_EQ(pe.spec.emergency_override->replicas, (ComponentMap{{"*", 4}}));
}

TEST(Spec, LookupPrefersTheComponentsOwnEntryOverStar) {
  const ComponentMap map = {{"*", 4}, {"calc", 9}};
  EXPECT_EQ(Lookup(map, "calc"), 9);
  EXPECT_EQ(Lookup(map, "api"), 4);
  EXPECT_EQ(Lookup(ComponentMap{{"calc", 9}}, "api"), std::nullopt);
}

struct PhaseTimeCase {
  std::string text;
  bool valid;
  PhaseTime::Anchor anchor;
  int minutes;
};

TEST(Spec, PhaseTimesAreClockTimesOrOpenCloseWithAnOffset) {
  using A = PhaseTime::Anchor;
  const std::vector<PhaseTimeCase> cases = {
      {"08:00", true, A::kClock, 480},
      {"00:00", true, A::kClock, 0},
      {"23:59", true, A::kClock, 1439},
      {"open", true, A::kOpen, 0},
      {"close", true, A::kClose, 0},
      {"close+2h", true, A::kClose, 120},
      {"open-90m", true, A::kOpen, -90},
      {"open+1h30m", true, A::kOpen, 90},
      {"close-1h", true, A::kClose, -60},
      {"open+24h", true, A::kOpen, 1440},
      {"open-1440m", true, A::kOpen, -1440},
      {"8:00", false, A::kClock, 0},
      {"24:00", false, A::kClock, 0},
      {"08:60", false, A::kClock, 0},
      {"9am", false, A::kClock, 0},
      {"open+", false, A::kClock, 0},
      {"open-90", false, A::kClock, 0},
      {"close+2h30", false, A::kClock, 0},
      {"opening", false, A::kClock, 0},
      {"OPEN", false, A::kClock, 0},
      {"open+25h", false, A::kClock, 0},
      {"open+1441m", false, A::kClock, 0},
      {"open+100h", false, A::kClock, 0},
      {"open+1h1000m", false, A::kClock, 0},
      {"open+90s", false, A::kClock, 0},
      {"open 90m", false, A::kClock, 0},
      {"", false, A::kClock, 0},
      // Found by tests/fuzz (rfc3339): a long run of digits overflowed int
      // (undefined behaviour) before its length was checked.
      {"close+10500033333", false, A::kClock, 0},
      {"open-99999999999h", false, A::kClock, 0},
  };
  for (const PhaseTimeCase& c : cases) {
    const std::optional<PhaseTime> t = ParsePhaseTime(c.text);
    ASSERT_EQ(t.has_value(), c.valid) << c.text;
    if (!t) continue;
    EXPECT_EQ(t->anchor, c.anchor) << c.text;
    EXPECT_EQ(t->minutes, std::chrono::minutes{c.minutes}) << c.text;
    EXPECT_EQ(t->text, c.text);
  }
}

// One invalid spec: a JSON patch (RFC 6902) applied to testdata/pricingengine.yaml
// and the error it must produce.
struct InvalidCase {
  std::string name;
  std::string patch;
  std::string field;
  std::string message;  // a substring of the error's message
};

TEST(Spec, EachInvalidSpecNamesTheFieldAtFault) {
  const std::vector<InvalidCase> cases = {
      {"missing image", R"([{"op":"remove","path":"/spec/image"}])", "spec.image", "is required"},
      {"empty image", R"([{"op":"replace","path":"/spec/image","value":""}])", "spec.image",
       "must not be empty"},
      {"image with a space", R"([{"op":"replace","path":"/spec/image","value":"a b"}])",
       "spec.image", "whitespace"},
      {"no components", R"([{"op":"replace","path":"/spec/components","value":[]}])",
       "spec.components", "at least one component"},
      {"components missing", R"([{"op":"remove","path":"/spec/components"}])", "spec.components",
       "is required"},
      {"duplicate component names",
       R"([{"op":"replace","path":"/spec/components/1/name","value":"calculation"}])",
       "spec.components[1].name", "duplicate component \"calculation\""},
      {"min greater than max",
       R"([{"op":"replace","path":"/spec/components/1/replicas/min","value":11}])",
       "spec.components[1].replicas.min", "min (11) is greater than max (10)"},
      {"min below zero",
       R"([{"op":"replace","path":"/spec/components/0/replicas/min","value":-1}])",
       "spec.components[0].replicas.min", "from 1 to 10000, not -1"},
      {"min zero", R"([{"op":"replace","path":"/spec/components/0/replicas/min","value":0}])",
       "spec.components[0].replicas.min", "from 1 to 10000"},
      {"max missing", R"([{"op":"remove","path":"/spec/components/0/replicas/max"}])",
       "spec.components[0].replicas.max", "is required"},
      {"min not an integer",
       R"([{"op":"replace","path":"/spec/components/0/replicas/min","value":"3"}])",
       "spec.components[0].replicas.min", "must be an integer"},
      {"min a fraction",
       R"([{"op":"replace","path":"/spec/components/0/replicas/min","value":2.5}])",
       "spec.components[0].replicas.min", "must be an integer"},
      {"max above the limit",
       R"([{"op":"replace","path":"/spec/components/0/replicas/max","value":10001}])",
       "spec.components[0].replicas.max", "from 1 to 10000"},
      {"replicas missing", R"([{"op":"remove","path":"/spec/components/0/replicas"}])",
       "spec.components[0].replicas", "is required"},
      {"component name not a DNS label",
       R"([{"op":"replace","path":"/spec/components/0/name","value":"Calc"}])",
       "spec.components[0].name", "DNS-1123"},
      {"role with upper case",
       R"([{"op":"replace","path":"/spec/components/0/role","value":"Calc"}])",
       "spec.components[0].role", "is not one of all, gateway, calculation, data, cache, audit"},
      {"role the engine does not have",
       R"([{"op":"replace","path":"/spec/components/0/role","value":"api"}])",
       "spec.components[0].role", "is not one of all"},
      {"env item without a name", R"([{"op":"add","path":"/spec/env","value":[{"value":"x"}]}])",
       "spec.env[0].name", "is required"},
      {"env name that is no variable name",
       R"([{"op":"add","path":"/spec/env","value":[{"name":"1X","value":"x"}]}])",
       "spec.env[0].name", "is not an environment variable name"},
      {"env setting what the operator sets",
       R"([{"op":"add","path":"/spec/env","value":[{"name":"A","value":"1"},{"name":"PRICING_ROLE","value":"all"}]}])",
       "spec.env[1].name", "is set by the operator"},
      {"env name twice",
       R"([{"op":"add","path":"/spec/env","value":[{"name":"A","value":"1"},{"name":"A","value":"2"}]}])",
       "spec.env[1].name", "duplicate"},
      {"env with value and valueFrom",
       R"([{"op":"add","path":"/spec/env","value":[{"name":"A","value":"1","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}}]}])",
       "spec.env[0]", "exactly one of value and valueFrom"},
      {"env secretKeyRef without a key",
       R"([{"op":"add","path":"/spec/env","value":[{"name":"A","valueFrom":{"secretKeyRef":{"name":"s"}}}]}])",
       "spec.env[0].valueFrom.secretKeyRef.key", "is required"},
      {"env valueFrom of another kind",
       R"([{"op":"add","path":"/spec/env","value":[{"name":"A","valueFrom":{"fieldRef":{"fieldPath":"x"}}}]}])",
       "spec.env[0].valueFrom.fieldRef", "unknown field"},
      {"envFrom with both references",
       R"([{"op":"add","path":"/spec/envFrom","value":[{"secretRef":{"name":"a"},"configMapRef":{"name":"b"}}]}])",
       "spec.envFrom[0]", "exactly one of secretRef and configMapRef"},
      {"envFrom secret with a bad name",
       R"([{"op":"add","path":"/spec/envFrom","value":[{"secretRef":{"name":"Bad_Name"}}]}])",
       "spec.envFrom[0].secretRef.name", "is not an object name"},
      {"component name over 32 characters",
       R"([{"op":"replace","path":"/spec/components/0/name","value":"calculation-calculation-calculation-c"}])",
       "spec.components[0].name", "must be at most 32 characters"},
      {"child name over 63 characters",
       R"([{"op":"replace","path":"/metadata/name","value":"pricing-engine-for-the-equity-finance-desk-primary-x"}])",
       "spec.components[0].name",
       "\"pricing-engine-for-the-equity-finance-desk-primary-x-calculation\" is longer than 63"},
      {"unknown component in a phase's minReplicas",
       R"([{"op":"add","path":"/spec/marketHours/phases/1/minReplicas/pricing","value":3}])",
       "spec.marketHours.phases[1].minReplicas[pricing]", "unknown component \"pricing\""},
      {"unknown component in a phase's maxReplicas",
       R"([{"op":"add","path":"/spec/marketHours/phases/3/maxReplicas/calc","value":3}])",
       "spec.marketHours.phases[3].maxReplicas[calc]", "unknown component"},
      {"unknown component in a regime's maxReplicas",
       R"([{"op":"add","path":"/spec/volatility/regimes/1/maxReplicas/api","value":3}])",
       "spec.volatility.regimes[1].maxReplicas[api]", "unknown component"},
      {"unknown component in an event's minReplicas",
       R"([{"op":"replace","path":"/spec/events/1/minReplicas","value":{"gateway":3}}])",
       "spec.events[1].minReplicas[gateway]", "unknown component"},
      {"unknown component in the override",
       R"([{"op":"add","path":"/spec/override/replicas/calculaton","value":3}])",
       "spec.override.replicas[calculaton]", "unknown component"},
      {"replica map value zero",
       R"([{"op":"replace","path":"/spec/override/replicas/calculation","value":0}])",
       "spec.override.replicas[calculation]", "from 1 to 10000"},
      {"bad time zone",
       R"([{"op":"replace","path":"/spec/marketHours/timeZone","value":"America/Gotham"}])",
       "spec.marketHours.timeZone", "\"America/Gotham\" is not a time zone"},
      {"unknown calendar",
       R"([{"op":"replace","path":"/spec/marketHours/calendar","value":"LSE"}])",
       "spec.marketHours.calendar", "not one of NYSE, none"},
      {"phase start neither clock nor anchor",
       R"([{"op":"replace","path":"/spec/marketHours/phases/0/start","value":"9am"}])",
       "spec.marketHours.phases[0].start", "is neither \"HH:MM\" nor open or close"},
      {"phase end offset without unit",
       R"([{"op":"replace","path":"/spec/marketHours/phases/3/end","value":"open-90"}])",
       "spec.marketHours.phases[3].end", "is neither"},
      {"phase start equals end",
       R"([{"op":"replace","path":"/spec/marketHours/phases/1/end","value":"open+0m"}])",
       "spec.marketHours.phases[1].end", "must differ from start"},
      {"phase named Closed",
       R"([{"op":"replace","path":"/spec/marketHours/phases/0/name","value":"Closed"}])",
       "spec.marketHours.phases[0].name", "reserved"},
      {"duplicate phase names",
       R"([{"op":"replace","path":"/spec/marketHours/phases/2/name","value":"Regular"}])",
       "spec.marketHours.phases[2].name", "duplicate phase"},
      {"phase with a percent bound",
       R"([{"op":"add","path":"/spec/marketHours/phases/0/minReplicasPercent","value":150}])",
       "spec.marketHours.phases[0].minReplicasPercent", "unknown field"},
      {"bad lead time",
       R"([{"op":"replace","path":"/spec/marketHours/leadTime","value":"10 minutes"}])",
       "spec.marketHours.leadTime", "is not a duration"},
      {"lead time over a day",
       R"([{"op":"replace","path":"/spec/marketHours/leadTime","value":"24h1s"}])",
       "spec.marketHours.leadTime", "must be at most 24h"},
      {"impossible extra holiday",
       R"([{"op":"replace","path":"/spec/marketHours/extraHolidays/0","value":"2027-02-30"}])",
       "spec.marketHours.extraHolidays[0]", "is not a date"},
      {"bad early close time",
       R"([{"op":"replace","path":"/spec/marketHours/extraEarlyCloses/0/close","value":"25:00"}])",
       "spec.marketHours.extraEarlyCloses[0].close", "is not a time"},
      {"exitBelow above enterAbove",
       R"([{"op":"replace","path":"/spec/volatility/regimes/0/exitBelow","value":26}])",
       "spec.volatility.regimes[0].exitBelow", "exitBelow (26) is greater than enterAbove (25)"},
      {"regimes with the same enterAbove",
       R"([{"op":"replace","path":"/spec/volatility/regimes/1/enterAbove","value":25},
            {"op":"replace","path":"/spec/volatility/regimes/1/exitBelow","value":20}])",
       "spec.volatility.regimes[1].enterAbove", "equals the enterAbove of"},
      {"regime enterAbove missing",
       R"([{"op":"remove","path":"/spec/volatility/regimes/0/enterAbove"}])",
       "spec.volatility.regimes[0].enterAbove", "is required"},
      {"two volatility sources",
       R"([{"op":"add","path":"/spec/volatility/source/value","value":20}])",
       "spec.volatility.source", "exactly one of"},
      {"volatility URL not http",
       R"([{"op":"replace","path":"/spec/volatility/source/url/url","value":"ftp://x"}])",
       "spec.volatility.source.url.url", "not an http"},
      {"bad JSON pointer",
       R"([{"op":"replace","path":"/spec/volatility/source/url/jsonPointer","value":"vix"}])",
       "spec.volatility.source.url.jsonPointer", "not a JSON pointer"},
      {"poll interval below a second",
       R"([{"op":"replace","path":"/spec/volatility/pollInterval","value":"500ms"}])",
       "spec.volatility.pollInterval", "at least 1s"},
      {"override without expires", R"([{"op":"remove","path":"/spec/override/expires"}])",
       "spec.override.expires", "is required: an override must expire"},
      {"override expires not a time",
       R"([{"op":"replace","path":"/spec/override/expires","value":"tomorrow"}])",
       "spec.override.expires", "is not an RFC 3339 time"},
      {"override naming no component",
       R"([{"op":"replace","path":"/spec/override/replicas","value":{}}])",
       "spec.override.replicas", "at least one component"},
      {"event ending before it starts",
       R"([{"op":"replace","path":"/spec/events/0/end","value":"2026-11-01T00:00:00Z"}])",
       "spec.events[0].end", "must be after start"},
      {"event with both a min map and a min percent",
       R"([{"op":"add","path":"/spec/events/0/minReplicas","value":{"calculation":4}}])",
       "spec.events[0].minReplicasPercent", "at most one of minReplicas and minReplicasPercent"},
      {"event percent zero",
       R"([{"op":"replace","path":"/spec/events/0/maxReplicasPercent","value":0}])",
       "spec.events[0].maxReplicasPercent", "from 1 to 10000"},
      {"event name with a space",
       R"([{"op":"replace","path":"/spec/events/0/name","value":"acme onboarding"}])",
       "spec.events[0].name", "must hold only"},
      {"malformed cpu request",
       R"([{"op":"replace","path":"/spec/components/0/resources/requests/cpu","value":"500x"}])",
       "spec.components[0].resources.requests[cpu]", "\"500x\" is not a quantity"},
      {"quantity as a float",
       R"([{"op":"replace","path":"/spec/components/0/resources/requests/cpu","value":0.5}])",
       "spec.components[0].resources.requests[cpu]", "must be a quantity"},
      {"negative memory limit",
       R"([{"op":"replace","path":"/spec/components/0/resources/limits/memory","value":"-1Gi"}])",
       "spec.components[0].resources.limits[memory]", "must not be negative"},
      {"request above limit",
       R"([{"op":"replace","path":"/spec/components/0/resources/requests/memory","value":"5Gi"}])",
       "spec.components[0].resources.requests[memory]",
       "request (5Gi) is greater than limit (4Gi)"},
      {"malformed pods metric target",
       R"([{"op":"replace","path":"/spec/components/0/autoscaling/podsMetrics/0/averageValue","value":"seven"}])",
       "spec.components[0].autoscaling.podsMetrics[0].averageValue", "is not a quantity"},
      {"CPU target zero",
       R"([{"op":"replace","path":"/spec/components/0/autoscaling/targetCPUUtilizationPercentage","value":0}])",
       "spec.components[0].autoscaling.targetCPUUtilizationPercentage", "from 1 to 100"},
      {"behavior not an object",
       R"([{"op":"replace","path":"/spec/components/0/autoscaling/behavior","value":"fast"}])",
       "spec.components[0].autoscaling.behavior", "must be an object"},
      {"behavior with a misspelt direction",
       R"([{"op":"add","path":"/spec/components/0/autoscaling/behavior/scaleUpp","value":{}}])",
       "spec.components[0].autoscaling.behavior.scaleUpp", "unknown field"},
      {"behavior period above 1800 s",
       R"([{"op":"replace","path":"/spec/components/0/autoscaling/behavior/scaleDown/policies/0/periodSeconds","value":3600}])",
       "spec.components[0].autoscaling.behavior.scaleDown.policies[0].periodSeconds",
       "from 1 to 1800, not 3600"},
      {"behavior policy type unknown",
       R"([{"op":"replace","path":"/spec/components/0/autoscaling/behavior/scaleDown/policies/0/type","value":"Replicas"}])",
       "spec.components[0].autoscaling.behavior.scaleDown.policies[0].type",
       "\"Replicas\" is not one of Pods, Percent"},
      {"behavior policy value zero",
       R"([{"op":"replace","path":"/spec/components/0/autoscaling/behavior/scaleDown/policies/0/value","value":0}])",
       "spec.components[0].autoscaling.behavior.scaleDown.policies[0].value", "from 1 to 10000"},
      {"behavior without policies",
       R"([{"op":"replace","path":"/spec/components/0/autoscaling/behavior/scaleDown/policies","value":[]}])",
       "spec.components[0].autoscaling.behavior.scaleDown.policies", "1 to 10 entries"},
      {"behavior stabilization above an hour",
       R"([{"op":"replace","path":"/spec/components/0/autoscaling/behavior/scaleDown/stabilizationWindowSeconds","value":3601}])",
       "spec.components[0].autoscaling.behavior.scaleDown.stabilizationWindowSeconds",
       "from 0 to 3600"},
      {"behavior selectPolicy unknown",
       R"([{"op":"add","path":"/spec/components/0/autoscaling/behavior/scaleDown/selectPolicy","value":"Most"}])",
       "spec.components[0].autoscaling.behavior.scaleDown.selectPolicy",
       "\"Most\" is not one of Max, Min, Disabled"},
      {"minAvailable at replicas.min: a drain would block",
       R"([{"op":"replace","path":"/spec/components/0/disruption/minAvailable","value":3}])",
       "spec.components[0].disruption.minAvailable",
       "minAvailable=3 allows no pod to be evicted at replicas.min (3)"},
      {"minAvailable above replicas.min",
       R"([{"op":"replace","path":"/spec/components/0/disruption/minAvailable","value":5}])",
       "spec.components[0].disruption.minAvailable", "every node drain would wait for ever"},
      {"minAvailable 70% of 3 rounds up to 3",
       R"([{"op":"replace","path":"/spec/components/0/disruption/minAvailable","value":"70%"}])",
       "spec.components[0].disruption.minAvailable",
       "minAvailable=70% allows no pod to be evicted at replicas.min (3)"},
      {"maxUnavailable 0",
       R"([{"op":"replace","path":"/spec/components/0/disruption","value":{"maxUnavailable":0}}])",
       "spec.components[0].disruption.maxUnavailable", "allow at least 1"},
      {"maxUnavailable 0%",
       R"([{"op":"replace","path":"/spec/components/0/disruption","value":{"maxUnavailable":"0%"}}])",
       "spec.components[0].disruption.maxUnavailable", "allows no pod to be evicted"},
      {"disruption with both constraints",
       R"([{"op":"add","path":"/spec/components/0/disruption/maxUnavailable","value":1}])",
       "spec.components[0].disruption", "exactly one of minAvailable or maxUnavailable"},
      {"disruption percent above 100",
       R"([{"op":"replace","path":"/spec/components/0/disruption/minAvailable","value":"150%"}])",
       "spec.components[0].disruption.minAvailable", "not a percentage"},
      {"disruption number as a string",
       R"([{"op":"replace","path":"/spec/components/0/disruption/minAvailable","value":"2"}])",
       "spec.components[0].disruption.minAvailable", "not a percentage"},
      {"paused not a boolean", R"([{"op":"replace","path":"/spec/paused","value":"yes"}])",
       "spec.paused", "true or false"},
      {"unknown spec field", R"([{"op":"add","path":"/spec/replicas","value":3}])", "spec.replicas",
       "unknown field"},
      {"misspelt component field",
       R"([{"op":"add","path":"/spec/components/0/replica","value":{}}])",
       "spec.components[0].replica", "unknown field"},
      {"metadata name not a DNS-1035 label",
       R"([{"op":"replace","path":"/metadata/name","value":"1pricing"}])", "metadata.name",
       "DNS-1035"},
      {"metadata name missing", R"([{"op":"remove","path":"/metadata/name"}])", "metadata.name",
       "is required"},
      {"spec missing", R"([{"op":"remove","path":"/spec"}])", "spec", "is required"},
      {"wrong apiVersion",
       R"([{"op":"replace","path":"/apiVersion","value":"pricing.borrowrate.io/v1"}])",
       "apiVersion", "must be pricing.borrowrate.io/v1alpha1"},
      {"wrong kind", R"([{"op":"replace","path":"/kind","value":"Deployment"}])", "kind",
       "must be PricingEngine"},
  };
  const json base = FullCrJson();
  ASSERT_TRUE(ParsePricingEngine(base).has_value());
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    const json object = base.patch(json::parse(c.patch));
    const Result<PricingEngine> pe = ParsePricingEngine(object);
    ASSERT_FALSE(pe.has_value());
    EXPECT_EQ(pe.error().field, c.field) << ToString(pe.error());
    EXPECT_NE(pe.error().message.find(c.message), std::string::npos) << ToString(pe.error());
  }
}

// Evictions a budget allows at a replica count, rounded as the disruption
// controller rounds (percentages up).
TEST(Spec, DisruptionsAllowedRoundsPercentagesUp) {
  using K = Disruption::Kind;
  EXPECT_EQ(DisruptionsAllowed({K::kMinAvailable, {2, false}}, 3), 1);
  EXPECT_EQ(DisruptionsAllowed({K::kMinAvailable, {2, false}}, 2), 0);
  EXPECT_EQ(DisruptionsAllowed({K::kMinAvailable, {5, false}}, 2), 0);
  EXPECT_EQ(DisruptionsAllowed({K::kMinAvailable, {70, true}}, 4), 1);  // ceil(2.8) = 3
  EXPECT_EQ(DisruptionsAllowed({K::kMinAvailable, {70, true}}, 3), 0);  // ceil(2.1) = 3
  EXPECT_EQ(DisruptionsAllowed({K::kMinAvailable, {0, true}}, 3), 3);
  EXPECT_EQ(DisruptionsAllowed({K::kMaxUnavailable, {1, false}}, 1), 1);
  EXPECT_EQ(DisruptionsAllowed({K::kMaxUnavailable, {0, false}}, 5), 0);
  EXPECT_EQ(DisruptionsAllowed({K::kMaxUnavailable, {10, true}}, 3), 1);  // ceil(0.3)
  EXPECT_EQ(DisruptionsAllowed({K::kMaxUnavailable, {7, false}}, 3), 3);
}

TEST(Spec, IgnoresStatusAndOtherMetadata) {
  json object = FullCrJson();
  object["status"] = {{"observedGeneration", 3}, {"anything", "goes"}};
  object["metadata"]["labels"] = {{"team", "equity-finance"}};
  object["metadata"]["resourceVersion"] = "12345";
  EXPECT_TRUE(ParsePricingEngine(object).has_value());
}

TEST(Spec, NullMembersCountAsAbsent) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: nulls}
spec:
  image: engine:1
  paused:
  override:
  components:
  - {name: calc, replicas: {min: 1, max: 2}, disruption: null}
)");
  EXPECT_FALSE(pe.spec.paused);
  EXPECT_FALSE(pe.spec.emergency_override.has_value());
}

TEST(Spec, RejectsANonObject) {
  const Result<PricingEngine> pe = ParsePricingEngine(json::array());
  ASSERT_FALSE(pe.has_value());
  EXPECT_EQ(pe.error().field, "");
}

}  // namespace
}  // namespace pricing::op
