#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "common/time_text.h"

namespace pricing {
namespace {

using std::chrono::system_clock;

system_clock::time_point At(int64_t ns) {
  return system_clock::time_point(std::chrono::nanoseconds(ns));
}

// The same text from gmtime_r and snprintf.
std::string Reference(int64_t ns, int digits) {
  int64_t secs = ns / 1'000'000'000;
  int64_t frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  const time_t t = static_cast<time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out = buf;
  if (digits > 0) {
    std::snprintf(buf, sizeof(buf), "%09lld", static_cast<long long>(frac));
    out += "." + std::string(buf, static_cast<size_t>(digits));
  }
  return out + "Z";
}

TEST(TimeText, WritesRfc3339UtcWithTheFractionTruncated) {
  const int64_t ns = 1'795'000'003'123'456'810;
  EXPECT_EQ(Rfc3339Utc(At(ns), 9), "2026-11-18T11:06:43.123456810Z");
  EXPECT_EQ(Rfc3339Utc(At(ns), 6), "2026-11-18T11:06:43.123456Z");
  EXPECT_EQ(Rfc3339Utc(At(ns), 3), "2026-11-18T11:06:43.123Z");
  EXPECT_EQ(Rfc3339Utc(At(ns), 0), "2026-11-18T11:06:43Z");
  EXPECT_EQ(Rfc3339Utc(At(ns), 12), "2026-11-18T11:06:43.123456810Z");
  EXPECT_EQ(Rfc3339Utc(At(0), 3), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Rfc3339Utc(At(-1), 9), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(Rfc3339Utc(At(951'782'400'000'000'000), 0), "2000-02-29T00:00:00Z");
  std::string out = "at ";
  AppendRfc3339Utc(&out, At(0), 0);
  EXPECT_EQ(out, "at 1970-01-01T00:00:00Z");
}

// Across the whole range of nanosecond time points, leap days included.
TEST(TimeText, AgreesWithGmtime) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> points = {
      0, -1, 1, 4'107'542'399'999'999'999, INT64_MAX, INT64_MIN + 1'000'000'000};
  for (int i = 0; i < 20000; ++i) points.push_back(static_cast<int64_t>(rng()));
  for (int64_t ns : points) {
    for (int digits : {0, 3, 6, 9}) {
      ASSERT_EQ(Rfc3339Utc(At(ns), digits), Reference(ns, digits)) << ns << " " << digits;
    }
  }
}

}  // namespace
}  // namespace pricing
