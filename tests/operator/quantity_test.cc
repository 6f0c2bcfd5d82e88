#include "op/quantity.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pricing::op {
namespace {

long double ValueOf(const std::string& text) {
  const std::optional<Quantity> q = ParseQuantity(text);
  EXPECT_TRUE(q.has_value()) << text;
  return q ? q->value : -1;
}

TEST(Quantity, AcceptsKubernetesQuantities) {
  for (const char* text : {"2",    "500m", "0.5", "1Gi", "4Gi", "256Mi", "1k",   "1e3", "1E3",
                           "1e-3", "+1",   "-1",  ".5",  "5.",  "1.5Gi", "100n", "10u", "1M",
                           "1T",   "1P",   "1E",  "1Ki", "1Ti", "1Pi",   "1Ei",  "0"}) {
    const std::optional<Quantity> q = ParseQuantity(text);
    ASSERT_TRUE(q.has_value()) << text;
    EXPECT_EQ(q->text, text);
  }
}

TEST(Quantity, RejectsMalformedText) {
  for (const char* text :
       {"", "m", "500x", "1gi", "1GB", "1 Gi", "1Gi ", "--1", "1e", "1e+", "1.2.3", "Gi", "1Zi",
        "1e3.5", "0x10", "1mi", ".", "1e61", "1234567890123456789012345678901"}) {
    EXPECT_FALSE(ParseQuantity(text).has_value()) << text;
  }
}

TEST(Quantity, EqualAmountsCompareEqualAcrossSpellings) {
  EXPECT_EQ(ValueOf("500m"), ValueOf("0.5"));
  EXPECT_EQ(ValueOf("1Gi"), ValueOf("1024Mi"));
  EXPECT_EQ(ValueOf("1k"), ValueOf("1e3"));
  EXPECT_EQ(ValueOf("1000m"), ValueOf("1"));
  EXPECT_EQ(ValueOf("0.1"), ValueOf("100m"));
  EXPECT_EQ(ValueOf("2"), 2);
  EXPECT_LT(ValueOf("1G"), ValueOf("1Gi"));
  EXPECT_LT(ValueOf("999m"), ValueOf("1"));
  EXPECT_LT(ValueOf("-1"), ValueOf("0"));
  EXPECT_GT(ValueOf("1.5Gi"), ValueOf("1536Mi") - 1);
  EXPECT_EQ(ValueOf("1.5Gi"), ValueOf("1536Mi"));
}

}  // namespace
}  // namespace pricing::op
