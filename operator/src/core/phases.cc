#include "op/phases.h"

#include <algorithm>

namespace pricing::op {
namespace {

using date::days;
using date::sys_days;
using date::year_month_day;

// Every boundary of the occurrences that belong to day D lies within
// [D - kReach, D + kReach] (D's midnight in UTC): phase times reach from
// open - 24h to close + 24h, an end may fall a day after its start, the lead
// time is at most a day, and zone offsets stay within a day.
constexpr days kReach{4};

// How far NextPhaseBoundary looks for a trading day.
constexpr days kSearch{2 * 366};

sys_days UtcDay(TimePoint t) { return date::floor<days>(t); }

bool HasFloors(const ScalingRule& rule) {
  return !rule.min_replicas.empty() || rule.min_replicas_percent.has_value();
}

size_t SpecIndex(const MarketHours& market, const Phase* phase) {
  return static_cast<size_t>(phase - market.phases.data());
}

// Appends the occurrences of every phase on `day` (unsorted).
void AppendWindows(const MarketHours& market, year_month_day day,
                   std::vector<PhaseWindow>& windows) {
  if (market.zone == nullptr) return;
  const std::optional<Session> session = SessionOf(market, day);
  if (!session) return;
  const auto lead = std::chrono::duration_cast<TimePoint::duration>(market.lead_time);
  for (const Phase& phase : market.phases) {
    const std::chrono::minutes start = ResolvePhaseTime(phase.start, *session);
    std::chrono::minutes end = ResolvePhaseTime(phase.end, *session);
    if (end <= start) end += std::chrono::hours{24};
    PhaseWindow w;
    w.phase = &phase;
    w.day = day;
    w.start = LocalToInstant(*market.zone, day, start);
    w.end = LocalToInstant(*market.zone, day, end);
    w.lead_start = HasFloors(phase.rule) ? w.start - lead : w.start;
    if (w.start < w.end) windows.push_back(w);
  }
}

void SortWindows(const MarketHours& market, std::vector<PhaseWindow>& windows) {
  std::sort(windows.begin(), windows.end(), [&market](const PhaseWindow& a, const PhaseWindow& b) {
    if (a.start != b.start) return a.start < b.start;
    return SpecIndex(market, a.phase) < SpecIndex(market, b.phase);
  });
}

// Appends the boundaries of `w`: its lead time's start (when it has one), its
// start and its end.
void AppendBoundaries(const PhaseWindow& w, std::vector<PhaseBoundary>& out) {
  if (w.lead_start < w.start) {
    out.push_back(PhaseBoundary{w.lead_start, PhaseBoundary::Kind::kLeadStarts, w.phase});
  }
  out.push_back(PhaseBoundary{w.start, PhaseBoundary::Kind::kStarts, w.phase});
  out.push_back(PhaseBoundary{w.end, PhaseBoundary::Kind::kEnds, w.phase});
}

}  // namespace

std::chrono::minutes ResolvePhaseTime(const PhaseTime& time, const Session& session) {
  switch (time.anchor) {
    case PhaseTime::Anchor::kClock:
      return time.minutes;
    case PhaseTime::Anchor::kOpen:
      return session.open + time.minutes;
    case PhaseTime::Anchor::kClose:
      return session.close + time.minutes;
  }
  return time.minutes;
}

std::vector<PhaseWindow> PhaseWindows(const MarketHours& market, year_month_day first,
                                      year_month_day last) {
  std::vector<PhaseWindow> windows;
  if (market.phases.empty()) return windows;
  for (sys_days d{first}; d <= sys_days{last}; d += days{1}) {
    AppendWindows(market, year_month_day{d}, windows);
  }
  SortWindows(market, windows);
  return windows;
}

std::vector<PhaseWindow> PhaseWindowsAt(const MarketHours& market, TimePoint now) {
  std::vector<PhaseWindow> windows =
      PhaseWindows(market, UtcDay(now) - kReach, UtcDay(now) + kReach);
  std::erase_if(windows,
                [now](const PhaseWindow& w) { return now < w.lead_start || now >= w.end; });
  return windows;
}

MarketState MarketAt(const MarketHours& market, TimePoint now) {
  MarketState state;
  state.day = LocalDate(*market.zone, now);
  state.day_kind = DayOf(market, state.day);
  const PhaseWindow* active = nullptr;
  const std::vector<PhaseWindow> windows = PhaseWindowsAt(market, now);
  for (const PhaseWindow& w : windows) {
    if (w.start <= now && (active == nullptr || w.start > active->start)) active = &w;
  }
  if (active != nullptr) state.phase = active->phase->name;
  return state;
}

std::string Describe(const PhaseBoundary& boundary) {
  std::string text = "phase " + boundary.phase->name;
  switch (boundary.kind) {
    case PhaseBoundary::Kind::kLeadStarts:
      return text + " lead time starts";
    case PhaseBoundary::Kind::kStarts:
      return text + " starts";
    case PhaseBoundary::Kind::kEnds:
      return text + " ends";
  }
  return text;
}

std::vector<PhaseBoundary> PhaseBoundaries(const MarketHours& market, TimePoint after,
                                           TimePoint until) {
  std::vector<PhaseBoundary> boundaries;
  if (until <= after) return boundaries;
  for (const PhaseWindow& w :
       PhaseWindows(market, UtcDay(after) - kReach, UtcDay(until) + kReach)) {
    AppendBoundaries(w, boundaries);
  }
  std::erase_if(boundaries,
                [after, until](const PhaseBoundary& b) { return b.at <= after || b.at > until; });
  std::stable_sort(boundaries.begin(), boundaries.end(),
                   [](const PhaseBoundary& a, const PhaseBoundary& b) { return a.at < b.at; });
  return boundaries;
}

std::optional<TimePoint> NextPhaseBoundary(const MarketHours& market, TimePoint now) {
  if (market.phases.empty()) return std::nullopt;
  std::optional<TimePoint> next;
  std::vector<PhaseWindow> windows;
  std::vector<PhaseBoundary> boundaries;
  const sys_days first = UtcDay(now) - kReach;
  for (sys_days d = first; d <= UtcDay(now) + kSearch; d += days{1}) {
    if (next && d - kReach > *next) break;
    windows.clear();
    AppendWindows(market, year_month_day{d}, windows);
    boundaries.clear();
    for (const PhaseWindow& w : windows) AppendBoundaries(w, boundaries);
    for (const PhaseBoundary& b : boundaries) {
      if (b.at > now && (!next || b.at < *next)) next = b.at;
    }
  }
  return next;
}

}  // namespace pricing::op
