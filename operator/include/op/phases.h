// Market phases (docs/design.md §3.1, §3.3): the named windows of each trading day
// in spec.marketHours.phases, placed on the timeline by the exchange calendar
// of op/calendar.h.
//
// A phase occurs once on every trading day D. Its start and end are wall-clock
// times on D in the market's time zone: "HH:MM" as written, `open` / `close`
// as D's session has them (so `close` follows an early close) plus the offset.
// When the end's wall-clock time is not after the start's, the end falls on
// the next calendar day: a phase starting at 20:00 on D and ending at 02:00
// runs into D+1, and belongs to D (a phase never starts on a non-trading day).
// The occurrence is active in [start, end); with spec.marketHours.leadTime, its
// floors (minReplicas) already apply in [start - leadTime, start). A phase
// without floors has no lead time.
//
// A MarketHours whose zone is null (one that did not come from
// ParsePricingEngine) has no occurrences.
#pragma once

#include <date/date.h>

#include <chrono>
#include <string>
#include <vector>

#include "op/calendar.h"
#include "op/spec.h"
#include "op/time_text.h"

namespace pricing::op {

// The name status.marketPhase reports when no phase is active.
inline constexpr std::string_view kClosedPhase = "Closed";

// One occurrence of a phase.
struct PhaseWindow {
  const Phase* phase = nullptr;  // points into the MarketHours it came from
  date::year_month_day day;      // the trading day it belongs to
  TimePoint lead_start;          // start - leadTime; start when the phase has no floors
  TimePoint start;
  TimePoint end;  // after start
};

// Returns the minutes after local midnight of `session`'s day at which `time`
// falls: the clock time, or the session's open or close plus the offset.
std::chrono::minutes ResolvePhaseTime(const PhaseTime& time, const Session& session);

// Returns the occurrences of every phase of `market` on the trading days from
// `first` to `last` (inclusive), ordered by start, then by spec order. An
// occurrence that a DST gap leaves empty (start and end both in the gap) is
// left out.
std::vector<PhaseWindow> PhaseWindows(const MarketHours& market, date::year_month_day first,
                                      date::year_month_day last);

// Returns the occurrences whose [lead_start, end) contains `now`, ordered as
// PhaseWindows orders them.
std::vector<PhaseWindow> PhaseWindowsAt(const MarketHours& market, TimePoint now);

// The market as status reports it (status.marketPhase, status.marketDay).
struct MarketState {
  // The active phase: of the occurrences with start <= now < end, the one
  // that started last (ties: spec order); kClosedPhase when none.
  std::string phase{kClosedPhase};
  date::year_month_day day;  // the market's local date at now
  DayKind day_kind = DayKind::kRegular;
};

// Returns the market state at `now`.
// REQUIRES: market.zone is not null.
MarketState MarketAt(const MarketHours& market, TimePoint now);

// A phase boundary: where a phase's lead time, or the phase itself, starts
// or ends.
struct PhaseBoundary {
  enum class Kind { kLeadStarts, kStarts, kEnds };
  TimePoint at;
  Kind kind = Kind::kStarts;
  const Phase* phase = nullptr;
};

// Returns "phase Regular lead time starts", "phase Regular starts" or
// "phase Regular ends".
std::string Describe(const PhaseBoundary& boundary);

// Returns the phase boundaries in (after, until], ordered by instant, then
// as PhaseWindows orders their occurrences. An occurrence without lead time
// has no kLeadStarts boundary (it would equal the start).
std::vector<PhaseBoundary> PhaseBoundaries(const MarketHours& market, TimePoint after,
                                           TimePoint until);

// Returns the earliest phase boundary after `now`, or nullopt when there is
// none within the next two years (no phases, or no trading day).
std::optional<TimePoint> NextPhaseBoundary(const MarketHours& market, TimePoint now);

}  // namespace pricing::op
