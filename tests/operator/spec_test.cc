#include "op/spec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
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
  EXPECT_EQ(v.regimes[1].rule.target_cpu_utilization_percentage, (ComponentMap{{"*", 60}}));

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

TEST(Spec, ReadsPlacementAndStrategy) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: placed}
spec:
  image: engine:1
  components:
  - name: calc
    replicas: {min: 3, max: 20}
    placement:
      nodeSelector: {node-group: compute, example.com/pool: spot}
      priorityClassName: pricing-standard
      podAntiAffinity: required
      tolerations:
      - {key: spot, operator: Equal, value: "true", effect: NoSchedule}
      - {operator: Exists, effect: NoExecute, tolerationSeconds: 300}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway}
      - maxSkew: 2
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        minDomains: 3
        nodeAffinityPolicy: Honor
        nodeTaintsPolicy: Ignore
        matchLabelKeys: [pod-template-hash]
        labelSelector:
          matchLabels: {app.kubernetes.io/component: calc}
          matchExpressions: [{key: tier, operator: In, values: [a, b]}]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: example.com/cores, operator: Gt, values: ["4"]}]
              matchFields: [{key: metadata.name, operator: NotIn, values: [node-7]}]
          preferredDuringSchedulingIgnoredDuringExecution:
          - {weight: 50, preference: {matchExpressions: [{key: node-group, operator: In, values: [compute]}]}}
        podAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 20
            podAffinityTerm:
              topologyKey: topology.kubernetes.io/zone
              labelSelector: {matchLabels: {app.kubernetes.io/component: data}}
              namespaces: [trading]
              namespaceSelector: {matchExpressions: [{key: team, operator: Exists}]}
              matchLabelKeys: [app.kubernetes.io/instance]
              mismatchLabelKeys: [tenant]
    strategy: {maxSurge: 1, maxUnavailable: "10%"}
)");
  const Component& c = pe.spec.components[0];
  const Placement& p = c.placement;
  EXPECT_EQ(p.node_selector, (std::map<std::string, std::string>{{"example.com/pool", "spot"},
                                                                 {"node-group", "compute"}}));
  EXPECT_EQ(p.priority_class_name, "pricing-standard");
  EXPECT_EQ(p.pod_anti_affinity, PodAntiAffinity::kRequired);
  EXPECT_EQ(json(p.tolerations), json::parse(R"([
      {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
      {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}])"));
  EXPECT_EQ(json(p.topology_spread_constraints), json::parse(R"([
      {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
       "whenUnsatisfiable": "ScheduleAnyway"},
      {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
       "minDomains": 3, "nodeAffinityPolicy": "Honor", "nodeTaintsPolicy": "Ignore",
       "matchLabelKeys": ["pod-template-hash"],
       "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "calc"},
                         "matchExpressions": [{"key": "tier", "operator": "In",
                                               "values": ["a", "b"]}]}}])"));
  ASSERT_TRUE(p.affinity.has_value());
  EXPECT_EQ(*p.affinity, json::parse(R"({
      "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
          "matchExpressions": [{"key": "example.com/cores", "operator": "Gt", "values": ["4"]}],
          "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-7"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "preference": {
          "matchExpressions": [{"key": "node-group", "operator": "In", "values": ["compute"]}]}}]},
      "podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 20, "podAffinityTerm": {
          "topologyKey": "topology.kubernetes.io/zone",
          "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "data"}},
          "namespaces": ["trading"],
          "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
          "matchLabelKeys": ["app.kubernetes.io/instance"],
          "mismatchLabelKeys": ["tenant"]}}]}})"));
  EXPECT_EQ(c.strategy, (RollingUpdate{{1, false}, {10, true}}));
}

TEST(Spec, PlacementAndStrategyDefaultToTodaysBehaviour) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: plain}
spec:
  image: engine:1
  components:
  - {name: calc, replicas: {min: 1, max: 2}}
  - {name: surge, replicas: {min: 1, max: 2}, strategy: {maxUnavailable: 1}}
  - {name: keep, replicas: {min: 1, max: 2}, strategy: {maxSurge: "50%"}}
)");
  const Component& c = pe.spec.components[0];
  EXPECT_EQ(c.placement.pod_anti_affinity, PodAntiAffinity::kPreferred);
  EXPECT_TRUE(c.placement.node_selector.empty());
  EXPECT_TRUE(c.placement.tolerations.empty());
  EXPECT_FALSE(c.placement.affinity.has_value());
  EXPECT_TRUE(c.placement.topology_spread_constraints.empty());
  EXPECT_TRUE(c.placement.priority_class_name.empty());
  EXPECT_EQ(c.strategy, (RollingUpdate{{25, true}, {0, false}}));
  // A member left out keeps its default, as the CRD's defaults fill it in.
  EXPECT_EQ(pe.spec.components[1].strategy, (RollingUpdate{{25, true}, {1, false}}));
  EXPECT_EQ(pe.spec.components[2].strategy, (RollingUpdate{{50, true}, {0, false}}));
}

// The API server drops empty optional members (Go's omitempty) from what it
// stores; the decoder does too, so that the applied Deployment reads back as
// applied. A labelSelector stays even when empty: {} selects every pod.
TEST(Spec, PlacementIsKeptInTheFormTheApiServerStores) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: sparse}
spec:
  image: engine:1
  components:
  - name: calc
    replicas: {min: 1, max: 2}
    placement:
      nodeSelector: {}
      tolerations:
      - {key: "", operator: Exists, value: "", effect: ""}
      - {key: spot, operator: "", value: "true"}
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {}}, matchLabelKeys: []}
      affinity:
        nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: []}
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - {topologyKey: zone, labelSelector: {}, namespaces: [], matchLabelKeys: []}
        podAntiAffinity: {}
)");
  const Placement& p = pe.spec.components[0].placement;
  EXPECT_TRUE(p.node_selector.empty());
  EXPECT_EQ(json(p.tolerations),
            json::parse(R"([{"operator": "Exists"}, {"key": "spot", "value": "true"}])"));
  EXPECT_EQ(json(p.topology_spread_constraints), json::parse(R"([{"maxSkew": 1,
      "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}}])"));
  // An explicit podAntiAffinity, even an empty one, replaces the operator's.
  EXPECT_EQ(p.pod_anti_affinity, PodAntiAffinity::kAsWritten);
  EXPECT_EQ(p.affinity, json::parse(R"({"podAffinity": {
      "requiredDuringSchedulingIgnoredDuringExecution": [
          {"topologyKey": "zone", "labelSelector": {}}]}})"));
}

TEST(Spec, EachInvalidPlacementOrStrategyNamesTheFieldAtFault) {
  // Each patch sets spec.components[1] (api-gateway)'s placement or strategy.
  const auto placement = [](const std::string& value) {
    return R"([{"op":"add","path":"/spec/components/1/placement","value":)" + value + "}]";
  };
  const auto strategy = [](const std::string& value) {
    return R"([{"op":"add","path":"/spec/components/1/strategy","value":)" + value + "}]";
  };
  const std::string p = "spec.components[1].placement";
  const std::string required_node = p + ".affinity.nodeAffinity."
                                        "requiredDuringSchedulingIgnoredDuringExecution";
  const std::string pod_term =
      p + ".affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]";
  const std::vector<InvalidCase> cases = {
      {"placement with a misspelt field", placement(R"({"tolerance":[]})"), p + ".tolerance",
       "unknown field"},
      {"tolerations not a list", placement(R"({"tolerations":{}})"), p + ".tolerations",
       "must be a list"},
      {"toleration effect misspelt",
       placement(R"({"tolerations":[{"key":"spot","value":"true","effect":"NoScheduel"}]})"),
       p + ".tolerations[0].effect",
       "\"NoScheduel\" is not one of NoSchedule, PreferNoSchedule, NoExecute"},
      {"toleration operator unknown", placement(R"({"tolerations":[{"key":"a","operator":"In"}]})"),
       p + ".tolerations[0].operator", "\"In\" is not one of Equal, Exists"},
      {"toleration without a key, not Exists",
       placement(R"({"tolerations":[{"operator":"Equal","value":"x"}]})"),
       p + ".tolerations[0].operator", "must be Exists when key is empty"},
      {"toleration Exists with a value",
       placement(R"({"tolerations":[{"key":"spot","operator":"Exists","value":"true"}]})"),
       p + ".tolerations[0].value", "must be empty when operator is Exists"},
      {"tolerationSeconds without NoExecute",
       placement(R"({"tolerations":[{"key":"a","operator":"Exists","effect":"NoSchedule","tolerationSeconds":60}]})"),
       p + ".tolerations[0].effect", "must be NoExecute when tolerationSeconds is set"},
      {"toleration key not a label key", placement(R"({"tolerations":[{"key":"spot taint"}]})"),
       p + ".tolerations[0].key", "\"spot taint\" is not a label key"},
      {"toleration value not a label value",
       placement(R"({"tolerations":[{"key":"spot","value":"yes please"}]})"),
       p + ".tolerations[0].value", "is not a label value"},
      {"toleration with a misspelt field",
       placement(R"({"tolerations":[{"key":"spot","efect":"NoSchedule"}]})"),
       p + ".tolerations[0].efect", "unknown field"},
      {"nodeSelector key not a label key", placement(R"({"nodeSelector":{"node group":"a"}})"),
       p + ".nodeSelector[node group]", "is not a label key"},
      {"nodeSelector key with a bad prefix",
       placement(R"({"nodeSelector":{"Example.com/pool":"a"}})"),
       p + ".nodeSelector[Example.com/pool]", "is not a label key"},
      {"nodeSelector value not a string", placement(R"({"nodeSelector":{"spot":true}})"),
       p + ".nodeSelector[spot]", "must be a string"},
      {"nodeSelector value not a label value", placement(R"({"nodeSelector":{"pool":"-x"}})"),
       p + ".nodeSelector[pool]", "is not a label value"},
      {"priorityClassName not a DNS subdomain",
       placement(R"({"priorityClassName":"Pricing_Critical"})"), p + ".priorityClassName",
       "\"Pricing_Critical\" is not a PriorityClass name"},
      {"podAntiAffinity unknown", placement(R"({"podAntiAffinity":"hard"})"),
       p + ".podAntiAffinity", "\"hard\" is not one of preferred, required"},
      {"podAntiAffinity shorthand and explicit",
       placement(R"({"podAntiAffinity":"preferred","affinity":{"podAntiAffinity":{}}})"),
       p + ".podAntiAffinity", "set at most one of podAntiAffinity and affinity.podAntiAffinity"},
      {"affinity with a misspelt field", placement(R"({"affinity":{"nodeAfinity":{}}})"),
       p + ".affinity.nodeAfinity", "unknown field"},
      {"required node affinity without terms",
       placement(R"({"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[]}}}})"),
       required_node + ".nodeSelectorTerms", "must have at least one term"},
      {"node requirement In without values",
       placement(R"({"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"pool","operator":"In"}]}]}}}})"),
       required_node + ".nodeSelectorTerms[0].matchExpressions[0].values",
       "must not be empty when operator is In"},
      {"node requirement Gt with two values",
       placement(R"({"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"cores","operator":"Gt","values":["4","8"]}]}]}}}})"),
       required_node + ".nodeSelectorTerms[0].matchExpressions[0].values",
       "must be one integer such as [\"4\"] when operator is Gt"},
      {"node requirement operator unknown",
       placement(R"({"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"pool","operator":"Equals","values":["a"]}]}]}}}})"),
       required_node + ".nodeSelectorTerms[0].matchExpressions[0].operator",
       "\"Equals\" is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt"},
      {"node field other than metadata.name",
       placement(R"({"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"spec.unschedulable","operator":"In","values":["x"]}]}]}}}})"),
       required_node + ".nodeSelectorTerms[0].matchFields[0].key", "is not metadata.name"},
      {"preferred node term weight 0",
       placement(R"({"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":0,"preference":{}}]}}})"),
       p + ".affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
       "from 1 to 100"},
      {"preferred node term without a preference",
       placement(R"({"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10}]}}})"),
       p + ".affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference",
       "is required"},
      {"pod affinity term without a topologyKey",
       placement(R"({"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{}}]}}})"),
       pod_term + ".topologyKey", "is required"},
      {"label selector Exists with values",
       placement(R"({"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"zone","labelSelector":{"matchExpressions":[{"key":"a","operator":"Exists","values":["b"]}]}}]}}})"),
       pod_term + ".labelSelector.matchExpressions[0].values",
       "must be empty when operator is Exists"},
      {"matchLabelKeys without a labelSelector",
       placement(R"({"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"zone","matchLabelKeys":["a"]}]}}})"),
       pod_term + ".matchLabelKeys", "needs a labelSelector"},
      {"matchLabelKeys key also in mismatchLabelKeys",
       placement(R"({"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"zone","labelSelector":{},"matchLabelKeys":["a"],"mismatchLabelKeys":["a"]}]}}})"),
       pod_term + ".matchLabelKeys[0]", "\"a\" is in mismatchLabelKeys too"},
      {"matchLabelKeys key in the labelSelector",
       placement(R"({"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"zone","labelSelector":{"matchLabels":{"a":"b"}},"matchLabelKeys":["a"]}]}}})"),
       pod_term + ".matchLabelKeys[0]", "\"a\" is a key of labelSelector too"},
      {"namespace not a namespace name",
       placement(R"({"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"zone","namespaces":["Trading"]}]}}})"),
       pod_term + ".namespaces[0]", "\"Trading\" is not a namespace name"},
      {"weighted pod affinity term weight above 100",
       placement(R"({"affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":101,"podAffinityTerm":{"topologyKey":"zone"}}]}}})"),
       p + ".affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
       "from 1 to 100"},
      {"spread maxSkew 0",
       placement(R"({"topologySpreadConstraints":[{"maxSkew":0,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]})"),
       p + ".topologySpreadConstraints[0].maxSkew", "must be an integer from 1"},
      {"spread whenUnsatisfiable missing",
       placement(R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone"}]})"),
       p + ".topologySpreadConstraints[0].whenUnsatisfiable", "is required"},
      {"spread whenUnsatisfiable unknown",
       placement(R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"Never"}]})"),
       p + ".topologySpreadConstraints[0].whenUnsatisfiable",
       "\"Never\" is not one of DoNotSchedule, ScheduleAnyway"},
      {"spread minDomains with ScheduleAnyway",
       placement(R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"ScheduleAnyway","minDomains":2}]})"),
       p + ".topologySpreadConstraints[0].minDomains", "needs whenUnsatisfiable DoNotSchedule"},
      {"spread node policy in lower case",
       placement(R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","nodeTaintsPolicy":"honor"}]})"),
       p + ".topologySpreadConstraints[0].nodeTaintsPolicy", "\"honor\" is not one of Honor, Ignore"},
      {"spread matchLabelKeys repeating the default selector",
       placement(R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","matchLabelKeys":["pod-template-hash","app.kubernetes.io/instance"]}]})"),
       p + ".topologySpreadConstraints[0].matchLabelKeys[1]",
       "is a key of labelSelector too (by default the component's selector labels)"},
      {"spread matchLabelKeys repeating its selector",
       placement(R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchExpressions":[{"key":"tier","operator":"Exists"}]},"matchLabelKeys":["tier"]}]})"),
       p + ".topologySpreadConstraints[0].matchLabelKeys[0]", "\"tier\" is a key of labelSelector too"},
      {"spread constraints with the same key and action",
       placement(R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"},{"maxSkew":1,"topologyKey":"host","whenUnsatisfiable":"DoNotSchedule"},{"maxSkew":2,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]})"),
       p + ".topologySpreadConstraints[2]",
       "duplicate constraint for topologyKey zone and whenUnsatisfiable DoNotSchedule"},
      {"strategy with both at 0", strategy(R"({"maxSurge":0,"maxUnavailable":"0%"})"),
       "spec.components[1].strategy", "maxSurge and maxUnavailable must not both be 0"},
      {"strategy maxSurge 0 with the default maxUnavailable", strategy(R"({"maxSurge":"0%"})"),
       "spec.components[1].strategy", "must not both be 0"},
      {"strategy percent above 100", strategy(R"({"maxSurge":"150%"})"),
       "spec.components[1].strategy.maxSurge", "\"150%\" is not a percentage from \"0%\" to \"100%\""},
      {"strategy number as a string", strategy(R"({"maxSurge":"1"})"),
       "spec.components[1].strategy.maxSurge", "is not a percentage"},
      {"strategy negative", strategy(R"({"maxUnavailable":-1})"),
       "spec.components[1].strategy.maxUnavailable", "from 0 to 10000, not -1"},
      {"strategy with a misspelt field", strategy(R"({"maxSurg":1})"),
       "spec.components[1].strategy.maxSurg", "unknown field"},
  };
  const json base = FullCrJson();
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Result<PricingEngine> pe = ParsePricingEngine(base.patch(json::parse(c.patch)));
    ASSERT_FALSE(pe.has_value());
    EXPECT_EQ(pe.error().field, c.field) << ToString(pe.error());
    EXPECT_NE(pe.error().message.find(c.message), std::string::npos) << ToString(pe.error());
  }
}

TEST(Spec, RejectsANonObject) {
  const Result<PricingEngine> pe = ParsePricingEngine(json::array());
  ASSERT_FALSE(pe.has_value());
  EXPECT_EQ(pe.error().field, "");
}

}  // namespace
}  // namespace pricing::op
