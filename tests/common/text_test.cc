// The shared text helpers beyond what the JSON writers' tests cover: UTF-8
// checks against every one-, two-, three- and four-byte boundary, and cuts
// that never split a character; percent-encoding of every byte.
#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace pricing {
namespace {

TEST(Text, IsUtf8AcceptsWellFormedTextAndNothingElse) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("plain \"ascii\" \\ with\ncontrols\x01\x7f"));
  EXPECT_TRUE(IsUtf8("\xc2\x80"));                  // U+0080
  EXPECT_TRUE(IsUtf8("\xdf\xbf"));                  // U+07FF
  EXPECT_TRUE(IsUtf8("\xe0\xa0\x80"));              // U+0800
  EXPECT_TRUE(IsUtf8("\xed\x9f\xbf"));              // U+D7FF
  EXPECT_TRUE(IsUtf8("\xee\x80\x80"));              // U+E000
  EXPECT_TRUE(IsUtf8("\xf0\x90\x80\x80"));          // U+10000
  EXPECT_TRUE(IsUtf8("\xf4\x8f\xbf\xbf"));          // U+10FFFF
  EXPECT_TRUE(IsUtf8("caf\xc3\xa9 \xe2\x82\xac"));  // café €
  EXPECT_FALSE(IsUtf8("\x80"));                     // a lone continuation byte
  EXPECT_FALSE(IsUtf8("\xc0\xaf"));                 // overlong '/'
  EXPECT_FALSE(IsUtf8("\xc1\xbf"));                 // overlong
  EXPECT_FALSE(IsUtf8("\xe0\x9f\xbf"));             // overlong U+07FF
  EXPECT_FALSE(IsUtf8("\xed\xa0\x80"));             // surrogate U+D800
  EXPECT_FALSE(IsUtf8("\xf0\x8f\xbf\xbf"));         // overlong U+FFFF
  EXPECT_FALSE(IsUtf8("\xf4\x90\x80\x80"));         // U+110000
  EXPECT_FALSE(IsUtf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(IsUtf8("\xff"));
  EXPECT_FALSE(IsUtf8("ok\xe2\x82"));  // cut short at the end
  EXPECT_FALSE(IsUtf8(std::string("a\0\xc3", 3)));
}

TEST(Text, CutUtf8NeverSplitsACharacter) {
  const std::string s = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // a b é € 😀
  EXPECT_EQ(CutUtf8(s, 100), s);
  EXPECT_EQ(CutUtf8(s, s.size()), s);
  EXPECT_EQ(CutUtf8(s, 2), "ab");
  EXPECT_EQ(CutUtf8(s, 3), "ab");
  EXPECT_EQ(CutUtf8(s, 4), "ab\xc3\xa9");
  EXPECT_EQ(CutUtf8(s, 5), "ab\xc3\xa9");
  EXPECT_EQ(CutUtf8(s, 6), "ab\xc3\xa9");
  EXPECT_EQ(CutUtf8(s, 7), "ab\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(CutUtf8(s, 10), "ab\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(CutUtf8(s, 0), "");
  for (size_t n = 0; n <= s.size(); ++n) EXPECT_TRUE(IsUtf8(CutUtf8(s, n))) << n;
}

TEST(Text, JsonStringsAreValidUtf8WhateverTheInput) {
  std::string out;
  AppendJsonString(&out, std::string("a\"\\\n\x01\xff\xc3\xa9", 8));
  EXPECT_EQ(out, "\"a\\\"\\\\\\n\\u0001\xef\xbf\xbd\xc3\xa9\"");
  EXPECT_TRUE(IsUtf8(out));
}

TEST(Text, FoldsAsciiCaseOnly) {
  EXPECT_EQ(AsciiLower("Content-TYPE \xc3\x89"), "content-type \xc3\x89");
  EXPECT_TRUE(EqualsIgnoreCase("gme", "GmE"));
  EXPECT_FALSE(EqualsIgnoreCase("gme", "gmx"));
  EXPECT_FALSE(EqualsIgnoreCase("gme", "gm"));
}

TEST(Text, PercentEncodingRoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string encoded = PercentEncode(all);
  for (char c : encoded) {
    EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '%' || c == '-' || c == '.' ||
                c == '_' || c == '~')
        << c;
  }
  for (char c : std::string_view(" /?&=#+")) {
    EXPECT_EQ(PercentEncode(std::string(1, c)).front(), '%');
  }
  EXPECT_EQ(PercentDecode(encoded), all);
  EXPECT_EQ(PercentEncode("BRK.B"), "BRK.B");
  EXPECT_FALSE(PercentDecode("%4"));
  EXPECT_FALSE(PercentDecode("%zz"));
  EXPECT_EQ(PercentDecode("a+b"), "a+b") << "'+' is a plus in a path";
}

}  // namespace
}  // namespace pricing
