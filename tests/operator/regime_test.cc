// StepRegime: one volatility regime at a time, with enterAbove / exitBelow
// hysteresis and minHold (docs/design.md §3.2).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "op/layers.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using std::chrono::minutes;
using testing::At;

Volatility Regimes(double elevated_enter, double elevated_exit, double high_enter, double high_exit,
                   minutes min_hold = minutes{15}) {
  Volatility v;
  v.min_hold = min_hold;
  // Listed highest first: the order must not matter.
  v.regimes.push_back(Regime{"High", high_enter, high_exit, {}});
  v.regimes.push_back(Regime{"Elevated", elevated_enter, elevated_exit, {}});
  return v;
}

struct Step {
  minutes after;                // since the previous reading
  std::optional<double> value;  // nullopt: no fresh reading
  const char* regime;           // the regime after the reading ("" = none)
};

// Feeds `steps` to StepRegime from no regime and checks each result.
void Walk(const Volatility& v, const std::vector<Step>& steps) {
  RegimeState state{"", At("2027-03-15T13:00:00Z")};
  TimePoint now = state.since;
  for (size_t i = 0; i < steps.size(); ++i) {
    now += steps[i].after;
    const RegimeState next = StepRegime(v, state, steps[i].value, now);
    EXPECT_EQ(next.name, steps[i].regime)
        << "step " << i << ": value " << steps[i].value.value_or(-1) << " after "
        << steps[i].after.count() << "m, from \"" << state.name << "\"";
    if (next.name != state.name) {
      EXPECT_EQ(next.since, now) << "step " << i;
    } else {
      EXPECT_EQ(next.since, state.since) << "step " << i;
    }
    state = next;
  }
}

TEST(Regime, HysteresisWalks20To32To25To28To21) {
  // Elevated > 22 (leave below 20), High > 30 (leave below 27); readings
  // 20 minutes apart, beyond minHold.
  Walk(Regimes(22, 20, 30, 27), {
                                    {minutes{0}, 20, ""},
                                    {minutes{20}, 32, "High"},
                                    {minutes{20}, 25, "Elevated"},  // below 27: down one level
                                    {minutes{20}, 28, "Elevated"},  // not above 30: no re-entry
                                    {minutes{20}, 21, "Elevated"},  // not below 20: stays
                                    {minutes{20}, 19.9, ""},
                                });
  // The thresholds of docs/design.md §3.1 (Elevated 25/22, High 30/27): 25 does
  // not exceed Elevated's enterAbove, so leaving High lands on none.
  Walk(Regimes(25, 22, 30, 27), {
                                    {minutes{0}, 20, ""},
                                    {minutes{20}, 32, "High"},
                                    {minutes{20}, 25, ""},
                                    {minutes{20}, 28, "Elevated"},
                                    {minutes{20}, 21, ""},
                                });
}

TEST(Regime, ValuesBetweenTheThresholdsKeepTheCurrentRegime) {
  Walk(Regimes(25, 22, 30, 27), {
                                    {minutes{0}, 31, "High"},
                                    {minutes{20}, 27, "High"},  // equal to exitBelow: not below
                                    {minutes{20}, 29.9, "High"},
                                    {minutes{20}, 30, "High"},
                                    {minutes{20}, 26.99, "Elevated"},
                                    {minutes{20}, 22, "Elevated"},
                                    {minutes{20}, 24, "Elevated"},
                                });
}

TEST(Regime, MinHoldDelaysTheStepDown) {
  Walk(Regimes(25, 22, 30, 27), {
                                    {minutes{0}, 35, "High"},
                                    {minutes{5}, 10, "High"},  // 5m into the hold
                                    {minutes{9}, 10, "High"},  // 14m
                                    {minutes{1}, 10, ""},      // 15m: the hold is over
                                });
  // The hold counts from entering the regime, not from the first low value.
  Walk(Regimes(25, 22, 30, 27), {
                                    {minutes{0}, 35, "High"},
                                    {minutes{14}, 35, "High"},
                                    {minutes{1}, 20, ""},
                                });
  // minHold 0: no delay.
  Walk(Regimes(25, 22, 30, 27, minutes{0}), {
                                                {minutes{0}, 35, "High"},
                                                {minutes{0}, 20, ""},
                                            });
}

TEST(Regime, StepsDownSeveralLevelsAtOnce) {
  Walk(Regimes(25, 22, 30, 27),
       {
           {minutes{0}, 40, "High"}, {minutes{30}, 5, ""},  // past Elevated, straight to none
       });
}

TEST(Regime, StepsUpAtOnceEvenWhileHeld) {
  Walk(Regimes(25, 22, 30, 27), {
                                    {minutes{0}, 26, "Elevated"},
                                    {minutes{1}, 21, "Elevated"},  // held by minHold
                                    {minutes{1}, 35, "High"},      // up at once; since resets
                                    {minutes{14}, 21, "High"},     // High's own hold: 14m
                                    {minutes{1}, 21, ""},
                                });
  // From none straight to the highest regime the value exceeds.
  Walk(Regimes(25, 22, 30, 27), {{minutes{0}, 45, "High"}});
}

TEST(Regime, AMissingValueHoldsThePreviousRegime) {
  Walk(Regimes(25, 22, 30, 27), {
                                    {minutes{0}, 35, "High"},
                                    {minutes{30}, std::nullopt, "High"},
                                    {minutes{600}, std::nullopt, "High"},
                                    {minutes{1}, 10, ""},
                                    {minutes{1}, std::nullopt, ""},
                                });
}

TEST(Regime, ARegimeTheSpecNoLongerHasCountsAsNone) {
  const Volatility v = Regimes(25, 22, 30, 27);
  const TimePoint now = At("2027-03-15T13:00:00Z");
  const RegimeState gone{"Extreme", now - minutes{1}};
  EXPECT_EQ(StepRegime(v, gone, 26.0, now), (RegimeState{"Elevated", now}));
  EXPECT_EQ(StepRegime(v, gone, 10.0, now), (RegimeState{"", now}));
  EXPECT_EQ(StepRegime(v, gone, std::nullopt, now), gone);
  EXPECT_EQ(StepRegime(Volatility{}, RegimeState{"", now}, 99.0, now + minutes{1}),
            (RegimeState{"", now}));
}

TEST(Regime, FindRegimeLooksUpByName) {
  const Volatility v = Regimes(25, 22, 30, 27);
  EXPECT_EQ(FindRegime(v, "High")->enter_above, 30);
  EXPECT_EQ(FindRegime(v, "Low"), nullptr);
  EXPECT_EQ(FindRegime(v, ""), nullptr);
}

}  // namespace
}  // namespace pricing::op
