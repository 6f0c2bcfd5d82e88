// RFC 3339 and the other time texts of a PricingEngine spec (dates, wall-clock
// times, durations, phase times) and the command line: parsing never breaks,
// and what parses prints back to the same instant, by both the operator's
// formatter and the engine's writer.
#include <chrono>
#include <string>

#include "engine/time_text.h"
#include "fuzz_check.h"
#include "op/quantity.h"
#include "op/spec.h"
#include "op/time_text.h"

namespace op = pricing::op;
using pricing::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pricing::fuzz::Text(data, size);

  if (auto t = op::ParseRfc3339(text)) {
    const std::string formatted = op::FormatRfc3339(*t);
    const auto again = op::ParseRfc3339(formatted);
    Check(again && *again == *t, "FormatRfc3339 does not read back", formatted);
    // The engine writes the same instant (nanoseconds since 1970 as int64:
    // inside the years it can print).
    const auto ns = std::chrono::time_point_cast<std::chrono::nanoseconds>(*t);
    const std::string engine_text = pricing::engine::Rfc3339Utc(ns, 9);
    const auto engine_again = op::ParseRfc3339(engine_text);
    Check(engine_again && *engine_again == *t, "the engine's RFC 3339 does not read back",
          engine_text);
  }
  (void)op::ParseDate(text);
  if (auto minutes = op::ParseClockTime(text)) {
    Check(minutes->count() >= 0 && minutes->count() < 24 * 60, "clock time out of range");
  }
  if (auto d = op::ParseDuration(text)) {
    Check(d->count() >= 0, "negative duration");
  }
  (void)op::ParsePhaseTime(text);
  (void)op::ParseQuantity(text);
  return 0;
}
