#include "op/phases.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "op/desired.h"
#include "op/layers.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::MustParseYaml;

// Phases on the NYSE calendar in New York, with a 10-minute lead time and an
// extra early close on Thursday 2027-12-23 at 12:00.
constexpr const char* kSpec = R"(
metadata: {name: p}
spec:
  image: engine:1
  components:
  - {name: calc, replicas: {min: 2, max: 20}}
  - {name: api, replicas: {min: 1, max: 5}, disruption: {maxUnavailable: 1}}
  marketHours:
    leadTime: 10m
    extraEarlyCloses: [{date: "2027-12-23", close: "12:00"}]
    phases:
    - {name: PreMarket, start: "08:00", end: open, minReplicas: {calc: 6}}
    - {name: Regular, start: open, end: close, minReplicas: {calc: 10, api: 3}, targetCPUUtilizationPercentage: 60}
    - {name: PostMarket, start: close, end: "18:00", minReplicas: {calc: 5}}
    - {name: Overnight, start: "20:00", end: "02:00", minReplicas: {calc: 3}}
)";

std::vector<std::string> Labels(const std::vector<Layer>& layers) {
  std::vector<std::string> labels;
  for (const Layer& l : layers) labels.push_back(LayerLabel(l));
  return labels;
}

std::string PhaseAt(const PricingEngine& pe, const char* instant) {
  return MarketAt(pe.spec.market_hours, At(instant)).phase;
}

TEST(Phases, PhaseTimesResolveAgainstTheDaysSession) {
  Session s;
  s.close = std::chrono::minutes{13 * 60};
  EXPECT_EQ(ResolvePhaseTime(*ParsePhaseTime("08:00"), s), std::chrono::minutes{8 * 60});
  EXPECT_EQ(ResolvePhaseTime(*ParsePhaseTime("open-90m"), s), std::chrono::minutes{8 * 60});
  EXPECT_EQ(ResolvePhaseTime(*ParsePhaseTime("close"), s), std::chrono::minutes{13 * 60});
  EXPECT_EQ(ResolvePhaseTime(*ParsePhaseTime("close+2h"), s), std::chrono::minutes{15 * 60});
  EXPECT_EQ(ResolvePhaseTime(*ParsePhaseTime("open+1h30m"), s), std::chrono::minutes{11 * 60});
}

TEST(Phases, MarketPhaseFollowsTheSessionAcrossDst) {
  const PricingEngine pe = MustParseYaml(kSpec);
  struct Case {
    const char* instant;
    const char* phase;
  };
  const std::vector<Case> cases = {
      // Friday 2027-03-12 (EST, UTC-5).
      {"2027-03-12T12:59:59Z", "Closed"},      // 07:59:59
      {"2027-03-12T13:00:00Z", "PreMarket"},   // 08:00
      {"2027-03-12T14:29:59Z", "PreMarket"},   // 09:29:59
      {"2027-03-12T14:30:00Z", "Regular"},     // 09:30
      {"2027-03-12T21:00:00Z", "PostMarket"},  // 16:00
      {"2027-03-12T23:00:00Z", "Closed"},      // 18:00
      {"2027-03-13T01:00:00Z", "Overnight"},   // 20:00 Friday
      {"2027-03-13T06:59:59Z", "Overnight"},   // 01:59:59 Saturday
      {"2027-03-13T07:00:00Z", "Closed"},      // 02:00 Saturday
      {"2027-03-13T15:00:00Z", "Closed"},      // Saturday: no phase
      // Monday 2027-03-15 (EDT, UTC-4).
      {"2027-03-15T12:00:00Z", "PreMarket"},  // 08:00
      {"2027-03-15T13:29:59Z", "PreMarket"},
      {"2027-03-15T13:30:00Z", "Regular"},  // 09:30
      {"2027-03-15T14:30:00Z", "Regular"},
      {"2027-03-15T20:00:00Z", "PostMarket"},  // 16:00
      // Fall back: Friday 2027-11-05 is EDT, Monday 2027-11-08 EST.
      {"2027-11-05T13:30:00Z", "Regular"},
      {"2027-11-08T13:30:00Z", "PreMarket"},
      {"2027-11-08T14:30:00Z", "Regular"},
  };
  for (const Case& c : cases) EXPECT_EQ(PhaseAt(pe, c.instant), c.phase) << c.instant;
}

TEST(Phases, APhaseStraddlingMidnightBelongsToTheDayItStarts) {
  const PricingEngine pe = MustParseYaml(kSpec);
  const std::vector<PhaseWindow> windows =
      PhaseWindowsAt(pe.spec.market_hours, At("2027-03-13T03:00:00Z"));  // 22:00 Friday
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].phase->name, "Overnight");
  EXPECT_EQ(windows[0].day, date::year{2027} / 3 / 12);
  EXPECT_EQ(windows[0].start, At("2027-03-13T01:00:00Z"));
  EXPECT_EQ(windows[0].end, At("2027-03-13T07:00:00Z"));
  // On Saturday it runs into, the market day is Weekend.
  const MarketState sat = MarketAt(pe.spec.market_hours, At("2027-03-13T06:00:00Z"));
  EXPECT_EQ(sat.phase, "Overnight");
  EXPECT_EQ(sat.day_kind, DayKind::kWeekend);
  EXPECT_EQ(sat.day, date::year{2027} / 3 / 13);
  // Thursday's Overnight runs into Good Friday 2027-03-26, a holiday with no
  // phase of its own.
  EXPECT_EQ(PhaseAt(pe, "2027-03-26T05:00:00Z"), "Overnight");  // 01:00 Friday
  EXPECT_EQ(PhaseAt(pe, "2027-03-26T14:00:00Z"), "Closed");     // 10:00 Good Friday
  EXPECT_EQ(PhaseAt(pe, "2027-03-27T01:00:00Z"), "Closed");     // 21:00 Good Friday
}

TEST(Phases, EarlyClosesMoveCloseAnchoredPhasesButNotClockTimes) {
  const PricingEngine pe = MustParseYaml(kSpec);
  // Day after Thanksgiving 2027-11-26: close 13:00 EST = 18:00Z.
  EXPECT_EQ(PhaseAt(pe, "2027-11-26T17:59:00Z"), "Regular");
  EXPECT_EQ(PhaseAt(pe, "2027-11-26T18:00:00Z"), "PostMarket");
  EXPECT_EQ(PhaseAt(pe, "2027-11-26T22:59:00Z"), "PostMarket");  // "18:00" does not move
  EXPECT_EQ(PhaseAt(pe, "2027-11-26T23:00:00Z"), "Closed");
  // The spec's extra early close, 2027-12-23 at 12:00 EST = 17:00Z.
  EXPECT_EQ(PhaseAt(pe, "2027-12-23T16:59:00Z"), "Regular");
  EXPECT_EQ(PhaseAt(pe, "2027-12-23T17:00:00Z"), "PostMarket");
  EXPECT_EQ(MarketAt(pe.spec.market_hours, At("2027-12-23T17:00:00Z")).day_kind,
            DayKind::kEarlyClose);
  // Christmas Eve 2027 is a holiday (Christmas on Saturday).
  EXPECT_EQ(PhaseAt(pe, "2027-12-24T15:00:00Z"), "Closed");
  EXPECT_EQ(MarketAt(pe.spec.market_hours, At("2027-12-24T15:00:00Z")).day_kind, DayKind::kHoliday);
}

TEST(Phases, AnExtraHolidayOnAMondayHasNoPhases) {
  json object = testing::FullCrJson();
  object["spec"]["marketHours"]["extraHolidays"] = {"2027-03-15"};
  const PricingEngine pe = testing::MustParse(object);
  EXPECT_EQ(PhaseAt(pe, "2027-03-15T14:00:00Z"), "Closed");
  EXPECT_EQ(MarketAt(pe.spec.market_hours, At("2027-03-15T14:00:00Z")).day_kind, DayKind::kHoliday);
  EXPECT_EQ(PhaseAt(pe, "2027-03-16T14:00:00Z"), "Regular");
  // After Friday's Overnight (close+2h to open-90m: Saturday 08:00 EST), the
  // next boundary is Tuesday's PreMarket lead time, 07:50 EDT.
  EXPECT_EQ(NextTransition(pe.spec, At("2027-03-13T13:00:00Z")), At("2027-03-16T11:50:00Z"));
}

TEST(Phases, LeadTimeAppliesOnlyTheFloorsEarly) {
  const PricingEngine pe = MustParseYaml(kSpec);
  // Monday 2027-03-15 07:50 EDT: PreMarket's floors, but no phase yet.
  const std::vector<Layer> before = ActiveLayers(pe.spec, At("2027-03-15T11:50:00Z"), std::nullopt);
  EXPECT_EQ(Labels(before), (std::vector<std::string>{"base", "phase PreMarket (lead time)"}));
  EXPECT_EQ(MergeLayers(before, "calc")->min_replicas, 6);
  EXPECT_EQ(MarketAt(pe.spec.market_hours, At("2027-03-15T11:50:00Z")).phase, "Closed");
  EXPECT_EQ(Labels(ActiveLayers(pe.spec, At("2027-03-15T11:49:59Z"), std::nullopt)),
            std::vector<std::string>{"base"});
  // 09:20 EDT: PreMarket, and Regular's floors ahead of the open; Regular's
  // CPU target waits for the open.
  const std::vector<Layer> lead = ActiveLayers(pe.spec, At("2027-03-15T13:20:00Z"), std::nullopt);
  EXPECT_EQ(Labels(lead),
            (std::vector<std::string>{"base", "phase PreMarket", "phase Regular (lead time)"}));
  const EffectiveBounds calc = *MergeLayers(lead, "calc");
  EXPECT_EQ(calc.min_replicas, 10);
  EXPECT_EQ(calc.min_from, "phase Regular (lead time)");
  EXPECT_EQ(calc.target_cpu_utilization_percentage, 80);
  EXPECT_EQ(MergeLayers(lead, "api")->min_replicas, 3);
  const Result<Desired> d = ComputeDesired(pe, At("2027-03-15T13:20:00Z"), std::nullopt);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->market_phase, "PreMarket");
  EXPECT_EQ(d->components[0].reasons[0], "min=10 by phase Regular (lead time)");
  // 09:30: Regular in full.
  const EffectiveBounds open =
      *MergeLayers(ActiveLayers(pe.spec, At("2027-03-15T13:30:00Z"), std::nullopt), "calc");
  EXPECT_EQ(open.min_from, "phase Regular");
  EXPECT_EQ(open.target_cpu_utilization_percentage, 60);
}

TEST(Phases, BoundariesListLeadTimeStartAndEndInOrder) {
  const PricingEngine pe = MustParseYaml(kSpec);
  std::vector<std::string> got;
  for (const PhaseBoundary& b : PhaseBoundaries(pe.spec.market_hours, At("2027-03-15T11:00:00Z"),
                                                At("2027-03-15T14:00:00Z"))) {
    got.push_back(FormatRfc3339(b.at) + " " + Describe(b));
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "2027-03-15T11:50:00Z phase PreMarket lead time starts",
                     "2027-03-15T12:00:00Z phase PreMarket starts",
                     "2027-03-15T13:20:00Z phase Regular lead time starts",
                     "2027-03-15T13:30:00Z phase PreMarket ends",
                     "2027-03-15T13:30:00Z phase Regular starts",
                 }));
}

TEST(Phases, APhaseWithoutFloorsHasNoLeadTime) {
  const PricingEngine pe = MustParseYaml(R"(
metadata: {name: p}
spec:
  image: engine:1
  components: [{name: calc, replicas: {min: 2, max: 20}}]
  marketHours:
    leadTime: 30m
    phases: [{name: Quiet, start: "20:00", end: "22:00", maxReplicas: {calc: 30}}]
)");
  EXPECT_EQ(NextTransition(pe.spec, At("2027-03-15T12:00:00Z")), At("2027-03-16T00:00:00Z"));
  EXPECT_EQ(Labels(ActiveLayers(pe.spec, At("2027-03-15T23:45:00Z"), std::nullopt)),
            std::vector<std::string>{"base"});
}

TEST(Phases, WalkingFridayEveningToMondayVisitsEveryBoundaryInOrder) {
  const PricingEngine pe = MustParseYaml(kSpec);
  const TimePoint from = At("2027-03-12T21:05:00Z");  // Friday 16:05 EST
  const TimePoint to = At("2027-03-15T12:00:00Z");    // Monday 08:00 EDT (DST began Sunday)
  std::vector<std::string> walked;
  std::vector<std::string> phases;
  Result<Desired> last = ComputeDesired(pe, from, std::nullopt);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->market_phase, "PostMarket");
  for (TimePoint t = from;;) {
    const std::optional<TimePoint> next = NextTransition(pe.spec, t);
    ASSERT_TRUE(next.has_value());
    if (*next > to) break;
    ASSERT_GT(*next, t);
    walked.push_back(FormatRfc3339(*next));
    last = ComputeDesired(pe, *next, std::nullopt);
    ASSERT_TRUE(last.has_value());
    phases.push_back(last->market_phase + " " +
                     std::to_string(last->components[0].bounds.min_replicas));
    t = *next;
  }
  EXPECT_EQ(walked, (std::vector<std::string>{
                        "2027-03-12T23:00:00Z",  // 18:00 PostMarket ends
                        "2027-03-13T00:50:00Z",  // 19:50 Overnight lead time
                        "2027-03-13T01:00:00Z",  // 20:00 Overnight starts
                        "2027-03-13T07:00:00Z",  // Saturday 02:00 Overnight ends
                        "2027-03-15T11:50:00Z",  // Monday 07:50 EDT PreMarket lead time
                        "2027-03-15T12:00:00Z",  // 08:00 PreMarket starts
                    }));
  EXPECT_EQ(phases, (std::vector<std::string>{"Closed 2", "Closed 3", "Overnight 3", "Closed 2",
                                              "Closed 6", "PreMarket 6"}));
  // The same boundaries, listed at once, with what changes.
  std::vector<std::string> listed;
  for (const Transition& tr : Transitions(pe.spec, from, to)) {
    listed.push_back(FormatRfc3339(tr.at) + " " + tr.description);
  }
  EXPECT_EQ(listed, (std::vector<std::string>{
                        "2027-03-12T23:00:00Z phase PostMarket ends",
                        "2027-03-13T00:50:00Z phase Overnight lead time starts",
                        "2027-03-13T01:00:00Z phase Overnight starts",
                        "2027-03-13T07:00:00Z phase Overnight ends",
                        "2027-03-15T11:50:00Z phase PreMarket lead time starts",
                        "2027-03-15T12:00:00Z phase PreMarket starts",
                    }));
  // Level-based: jumping three days (an operator outage) lands on the state
  // that walking reached, and on the same next step.
  const Result<Desired> jumped = ComputeDesired(pe, to, std::nullopt);
  ASSERT_TRUE(jumped.has_value());
  EXPECT_EQ(jumped->Objects(), last->Objects());
  EXPECT_EQ(jumped->active_layers, last->active_layers);
  EXPECT_EQ(jumped->market_phase, "PreMarket");
  EXPECT_EQ(jumped->next_transition, At("2027-03-15T13:20:00Z"));  // Regular's lead time
  // Jumping from Friday 16:05 straight to Monday 16:05 (72 hours) answers as
  // if the operator had run all along: PostMarket, next its end at 18:00 EDT.
  const Result<Desired> monday = ComputeDesired(pe, from + std::chrono::hours{72}, std::nullopt);
  ASSERT_TRUE(monday.has_value());
  EXPECT_EQ(monday->market_phase, "PostMarket");
  EXPECT_EQ(monday->next_transition, At("2027-03-15T22:00:00Z"));
}

}  // namespace
}  // namespace pricing::op
