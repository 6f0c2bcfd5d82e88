// The engine's UUIDs: random version 4 for request ids, time-ordered
// version 7 for calculation ids (adapters/log.h).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <regex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "adapters/uuid.h"
#include "common/log.h"

namespace {

using pricing::engine::NewTimeOrderedUuid;
using pricing::engine::NewUuid;
using pricing::engine::TimeOrderedUuidAt;
using pricing::engine::UuidText;

const std::regex kCanonical(
    "^[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-([89ab])[0-9a-f]{3}-"
    "[0-9a-f]{12}$");

// The 48-bit millisecond timestamp of a version 7 UUID's text.
uint64_t TimestampOf(const std::string& uuid) {
  return std::stoull(uuid.substr(0, 8) + uuid.substr(9, 4), nullptr, 16);
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Every bit lands in its place: against snprintf's hex of the five groups.
TEST(Uuid, TextIsTheBitsInTheCanonicalGroups) {
  std::mt19937_64 rng(11);
  std::vector<std::pair<uint64_t, uint64_t>> values = {
      {0, 0}, {UINT64_MAX, UINT64_MAX}, {0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL}};
  for (int i = 0; i < 10000; ++i) values.emplace_back(rng(), rng());
  for (const auto& [hi, lo] : values) {
    char want[40];
    std::snprintf(want, sizeof want, "%08llx-%04llx-%04llx-%04llx-%012llx",
                  static_cast<unsigned long long>(hi >> 32),
                  static_cast<unsigned long long>((hi >> 16) & 0xFFFF),
                  static_cast<unsigned long long>(hi & 0xFFFF),
                  static_cast<unsigned long long>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
    ASSERT_EQ(UuidText(hi, lo), want) << hi << " " << lo;
  }
}

TEST(Uuid, RandomIsCanonicalVersion4) {
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewUuid();
    std::smatch m;
    ASSERT_TRUE(std::regex_match(id, m, kCanonical)) << id;
    EXPECT_EQ(m[1], "4") << id;
  }
}

TEST(Uuid, TimeOrderedCarriesTheMillisecondsAndVersion7) {
  const std::string id = TimeOrderedUuidAt(0x0123456789ABULL);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(id, m, kCanonical)) << id;
  EXPECT_EQ(m[1], "7") << id;
  EXPECT_EQ(id.substr(0, 14), "01234567-89ab-") << id;
  EXPECT_EQ(TimestampOf(id), 0x0123456789ABULL);
  // Only 48 bits of time are kept.
  EXPECT_EQ(TimestampOf(TimeOrderedUuidAt(0xFFFF000000000005ULL)), 5u);
}

TEST(Uuid, NewTimeOrderedIsNow) {
  const uint64_t before = NowMs();
  const std::string id = NewTimeOrderedUuid();
  const uint64_t after = NowMs();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(id, m, kCanonical)) << id;
  EXPECT_EQ(m[1], "7");
  EXPECT_GE(TimestampOf(id), before);
  EXPECT_LE(TimestampOf(id), after);
}

TEST(Uuid, LaterMillisecondsSortLater) {
  // Text order is time order, whatever the random bits.
  for (uint64_t t = 1'700'000'000'000ULL; t < 1'700'000'000'000ULL + 5000; ++t) {
    ASSERT_LT(TimeOrderedUuidAt(t), TimeOrderedUuidAt(t + 1)) << t;
  }
  ASSERT_LT(TimeOrderedUuidAt(0x00FFFFFFFFFFULL), TimeOrderedUuidAt(0x010000000000ULL));
}

TEST(Uuid, TimeOrderedIdsWithinOneMillisecondAreDistinct) {
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 100'000; ++i) {
    ASSERT_TRUE(seen.insert(TimeOrderedUuidAt(42)).second) << i;
  }
}

}  // namespace
