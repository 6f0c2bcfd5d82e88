#include "engine/json_text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace pricing::engine {
namespace {

std::string Escaped(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Escaped("GME"), "\"GME\"");
  EXPECT_EQ(Escaped("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Escaped("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(Escaped(std::string_view("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(Escaped("/ and \x7f stay"), "\"/ and \x7f stay\"");
}

TEST(JsonString, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(Escaped("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\x88"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\x88\"");
  EXPECT_EQ(Escaped("a\xFF"
                    "b"),
            "\"a\xEF\xBF\xBD"
            "b\"");
  EXPECT_EQ(Escaped("\xC3"), "\"\xEF\xBF\xBD\"");                  // truncated sequence
  EXPECT_EQ(Escaped("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
  EXPECT_EQ(Escaped("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
  EXPECT_EQ(Escaped("\xF4\x90\x80\x80").find("\xF4"), std::string::npos);          // > U+10FFFF
}

TEST(JsonString, OutputAlwaysParsesBackToTheSameText) {
  std::string all;
  for (int c = 1; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  all += "\xC3\xA9";
  EXPECT_EQ(nlohmann::json::parse(Escaped(all)).get<std::string>(), all);
}

// The byte-at-a-time definition of PlainRunEnd.
size_t PlainRunEndByBytes(std::string_view s, size_t i) {
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
    ++i;
  }
  return i;
}

// Escapes text of printable ASCII, the specials below and "\xC3\xA9" one
// character at a time.
std::string EscapedByCharacters(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0xC3 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA9) {
      out += "\xC3\xA9";
      ++i;
    } else if (c >= 0x80) {
      out += "\xEF\xBF\xBD";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Every length to 70, one special byte at every position (and none), every
// start: the run ends where the byte-at-a-time scan says, and the escaped
// text is the character-at-a-time one.
TEST(JsonString, RunsEndAtTheFirstSpecialByteWhereverItIs) {
  const std::string specials[] = {"\"",   "\\",      std::string(1, '\0'), "\x1f", "\n", "\x80",
                                  "\xFF", "\xC3\xA9"};
  for (size_t length = 0; length <= 70; ++length) {
    std::string plain;
    for (size_t k = 0; k < length; ++k) plain.push_back(static_cast<char>(0x20 + (k * 7) % 95));
    std::vector<std::string> cases = {plain};
    for (const std::string& special : specials) {
      for (size_t at = 0; at < length; ++at) {
        std::string s = plain;
        s.replace(at, std::min(special.size(), length - at), special.substr(0, length - at));
        cases.push_back(s);
      }
    }
    for (const std::string& s : cases) {
      for (size_t i = 0; i <= s.size(); ++i) {
        ASSERT_EQ(PlainRunEnd(s, i), PlainRunEndByBytes(s, i)) << length << " " << i;
      }
      ASSERT_EQ(Escaped(s), EscapedByCharacters(s)) << length;
    }
  }
  // DEL (0x7f) is printable enough for JSON: it stays in the run.
  EXPECT_EQ(PlainRunEnd(std::string(20, '\x7f'), 0), 20u);
}

TEST(JsonWriter, WritesTheDesignSuccessBody) {
  std::string body;
  JsonWriter w(&body);
  // clang-format off
  w.BeginObject()
      .Key("status").String("success")
      .Key("ticker").String("GME")
      .Key("client_id").String("big_fund_007")
      .Key("total_fee").Number(Dec("1535.17"), 2)
      .Key("breakdown").BeginObject()
          .Key("borrow_cost").Number(Dec("1423.97"), 2)
          .Key("markup").Number(Dec("71.2"), 2)
          .Key("transaction_fees").Number(Dec("40"), 2)
      .EndObject()
      .Key("borrow_rate_used").Number(Dec("0.17325"))
      .Key("day_count").Int(365)
      .Key("sources").BeginObject()
          .Key("base_rate").String("lender_api")
          .Key("volatility").String("db")
          .Key("event_risk").String("db")
      .EndObject()
      .EndObject();
  // clang-format on
  EXPECT_EQ(body,
            R"({"status":"success","ticker":"GME","client_id":"big_fund_007","total_fee":1535.17,)"
            R"("breakdown":{"borrow_cost":1423.97,"markup":71.20,"transaction_fees":40.00},)"
            R"("borrow_rate_used":0.17325,"day_count":365,"sources":{"base_rate":"lender_api",)"
            R"("volatility":"db","event_risk":"db"}})");
  EXPECT_NO_THROW(nlohmann::json::parse(body));
}

TEST(JsonWriter, SeparatesArrayElementsAndNestedContainers) {
  std::string body;
  JsonWriter w(&body);
  // clang-format off
  w.BeginArray()
      .Int(-1).Bool(true).Bool(false).Null().String("x")
      .BeginObject().EndObject()
      .BeginArray().EndArray()
      .RawValue(R"({"pre":"made"})")
      .Number(Dec("-0.5"))
      .EndArray();
  // clang-format on
  EXPECT_EQ(body, R"([-1,true,false,null,"x",{},[],{"pre":"made"},-0.5])");
}

TEST(JsonWriter, AppendsToExistingText) {
  std::string body = "prefix:";
  JsonWriter(&body).BeginObject().Key("a\"b").Int(1).EndObject();
  EXPECT_EQ(body, R"(prefix:{"a\"b":1})");
}

TEST(FlatJson, KeepsMembersInOrderWithNumberText) {
  const Result<FlatJsonObject> o = ParseFlatJsonObject(
      R"({"s":"a\u00e9\n","i":-42,"u":18446744073709551615,"f":0.15,"e":1.5E+2,)"
      R"("big":123456789012345678901234567890,"t":true,"n":null,"o":{"x":1},"a":[1,2]})");
  ASSERT_TRUE(o.has_value()) << o.error().message;
  ASSERT_EQ(o->members.size(), 10u);
  EXPECT_EQ(o->members[0].first, "s");
  auto expect = [&](const char* key, JsonType type, const std::string& text) {
    const JsonToken* t = o->Find(key);
    ASSERT_NE(t, nullptr) << key;
    EXPECT_EQ(t->type, type) << key;
    EXPECT_EQ(t->text, text) << key;
  };
  expect("s", JsonType::kString, "a\xC3\xA9\n");
  expect("i", JsonType::kNumber, "-42");
  expect("u", JsonType::kNumber, "18446744073709551615");
  expect("f", JsonType::kNumber, "0.15");
  expect("e", JsonType::kNumber, "1.5E+2");
  expect("big", JsonType::kNumber, "123456789012345678901234567890");
  expect("t", JsonType::kBool, "true");
  expect("n", JsonType::kNull, "null");
  expect("o", JsonType::kObject, "");
  expect("a", JsonType::kArray, "");
  EXPECT_EQ(o->Find("missing"), nullptr);
}

TEST(FlatJson, KeepsNumberTextThatADoubleWouldChange) {
  const Result<FlatJsonObject> o =
      ParseFlatJsonObject(R"({"rate":0.1000000000000000055511151231257827})");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->Find("rate")->text, "0.1000000000000000055511151231257827");
}

TEST(FlatJson, RejectsDuplicateTopLevelKeysOnly) {
  const Result<FlatJsonObject> dup = ParseFlatJsonObject(R"({"a":1,"b":2,"a":3})");
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().field, "a");
  EXPECT_EQ(dup.error().code, ErrorCode::kInvalidParameter);
  EXPECT_TRUE(ParseFlatJsonObject(R"({"a":{"k":1,"k":2},"b":[{"k":1,"k":2}]})").has_value());
}

TEST(FlatJson, RejectsMalformedTextAndNonObjects) {
  for (const char* bad :
       {"", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{a:1}", "{\"a\":1,}", "{\"a\":01}", "{\"a\":.5}",
        "{\"a\":NaN}", "{\"a\":1} x", "[1,2]", "7", "\"s\"", "null"}) {
    const Result<FlatJsonObject> r = ParseFlatJsonObject(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().field, "body") << bad;
  }
}

TEST(FlatJson, ToleratesDeepNestingWithoutRecursion) {
  std::string deep = "{\"a\":";
  for (int i = 0; i < 100000; ++i) deep += "[";
  for (int i = 0; i < 100000; ++i) deep += "]";
  deep += "}";
  const Result<FlatJsonObject> r = ParseFlatJsonObject(deep);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Find("a")->type, JsonType::kArray);
}

// ParseFlatJsonObject's own reader and the general parser must give the
// same answer (members, or error code, field and message) for any text.
void ExpectSameAsGeneral(const std::string& text) {
  const Result<FlatJsonObject> got = ParseFlatJsonObject(text);
  const Result<FlatJsonObject> want = ParseFlatJsonObjectGeneral(text);
  ASSERT_EQ(got.has_value(), want.has_value()) << text;
  if (!want) {
    EXPECT_EQ(got.error().code, want.error().code) << text;
    EXPECT_EQ(got.error().field, want.error().field) << text;
    EXPECT_EQ(got.error().message, want.error().message) << text;
    return;
  }
  ASSERT_EQ(got->members.size(), want->members.size()) << text;
  for (size_t i = 0; i < want->members.size(); ++i) {
    EXPECT_EQ(got->members[i].first, want->members[i].first) << text;
    EXPECT_EQ(got->members[i].second.type, want->members[i].second.type) << text;
    EXPECT_EQ(got->members[i].second.text, want->members[i].second.text) << text;
  }
}

TEST(FlatJson, RequestReaderAgreesWithTheGeneralParserOnEdgeCases) {
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + "1";
  many += "}";
  const std::string long_number = "{\"a\":" + std::string(310, '9') + "}";
  const std::string long_fraction = "{\"a\":0." + std::string(400, '1') + "}";
  for (const std::string& text : std::initializer_list<std::string>{
           R"({"ticker":"GME","position_value":50000,"loan_days":60,"client_id":"big_fund_007"})",
           " \t\r\n{ \"a\" : 1 , \"b\" :\"x\" }\n ",
           "{}",
           " { } ",
           R"({"a":-0})",
           R"({"a":-0.0})",
           R"({"a":0})",
           R"({"a":-1})",
           R"({"a":1.5e-3})",
           R"({"a":1E+2})",
           R"({"a":2e5})",
           R"({"a":-9223372036854775808})",
           R"({"a":-9223372036854775809})",
           R"({"a":18446744073709551615})",
           R"({"a":18446744073709551616})",
           R"({"a":123456789012345678901234567890.5})",
           R"({"a":true,"b":false,"c":null})",
           R"({"a":tru})",
           R"({"a":nul})",
           R"({"a":01})",
           R"({"a":1.})",
           R"({"a":1e})",
           R"({"a":+1})",
           R"({"a":.5})",
           R"({"a":1,})",
           R"({"a":1 "b":2})",
           R"({"a" 1})",
           R"({"a":1}})",
           R"({"a":1}x)",
           R"({"a":"\u0041"})",
           R"({"a\n":1})",
           "{\"a\":\"\x7f\"}",
           "{\"a\":\"caf\xC3\xA9\"}",
           "{\"a\":\"\xFF\"}",
           "{\"a\":\"tab\there\"}",
           R"({"a":1,"a":2})",
           R"({"a":1,"b":2,"a":3})",
           R"({"o":{"a":1}})",
           R"({"l":[1]})",
           R"({"a":"unterminated)",
           "{\"a\":1",
           "",
           " ",
           "[]",
           "1",
           "\"s\"",
           "null",
           R"({"a":1e400})",
           R"({"a":1E-400})",
           many,
           long_number,
           long_fraction}) {
    ExpectSameAsGeneral(text);
  }
}

TEST(FlatJson, RequestReaderAgreesWithTheGeneralParserOnRandomText) {
  std::mt19937 rng(20261202);
  auto pick = [&](std::initializer_list<std::string_view> options) {
    return std::string(*(options.begin() + rng() % options.size()));
  };
  for (int round = 0; round < 20000; ++round) {
    std::string text = pick({"{", " {", "{\n"});
    const int members = static_cast<int>(rng() % 6);
    for (int m = 0; m < members; ++m) {
      if (m > 0) text += pick({",", " , ", ",\t"});
      text += "\"" + pick({"ticker", "client_id", "loan_days", "a", "b", "position_value"}) + "\"";
      text += pick({":", " : "});
      text += pick({"\"GME\"", "\"big_fund_007\"", "0", "-0", "60", "-12.5", "1e3", "0.15",
                    "50000.125", "1234567890123456789012", "true", "false", "null", "\"\"",
                    "\"a\\\"b\"", "{}", "[1]", "\"\xC3\xA9\""});
    }
    text += pick({"}", " }", "}\n"});
    // Then damage some of them: drop, insert or replace one character.
    if (round % 2 == 1 && !text.empty()) {
      const size_t at = rng() % text.size();
      const char c = pick({"{", "}", "\"", ":", ",", "-", "0", "e", ".", " ", "x", "\\"})[0];
      switch (rng() % 3) {
        case 0:
          text.erase(at, 1);
          break;
        case 1:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          text[at] = c;
      }
    }
    ExpectSameAsGeneral(text);
    if (HasFailure()) return;
  }
}

TEST(LenderApi, ReadsTheRateExactly) {
  const Result<Decimal> r =
      ParseLenderRate(R"({"ticker":"GME","rate":0.15,"status":"HARD"})", "GME");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, Dec("0.15"));
  EXPECT_EQ(*ParseLenderRate(R"({"rate":1.5e-1})", "GME"), Dec("0.15"));
  EXPECT_EQ(*ParseLenderRate(R"({"ticker":"gme","rate":10})", "GME"), Dec("10"));
  EXPECT_EQ(*ParseLenderRate(R"({"ticker":"GME","rate":0})", "GME"), Dec("0"));
}

TEST(LenderApi, RejectsGarbageAsUnavailable) {
  for (const char* bad :
       {"<html>502</html>", "", R"({"ticker":"GME"})", R"({"rate":"0.15"})", R"({"rate":null})",
        R"({"rate":-0.01})", R"({"rate":10.5})", R"({"rate":1e-30})", R"({"rate":[0.15]})",
        R"({"ticker":"AMC","rate":0.15})", R"({"ticker":7,"rate":0.15})",
        R"({"rate":0.15,"rate":0.2})", "[0.15]"}) {
    const Result<Decimal> r = ParseLenderRate(bad, "GME");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable) << bad;
    EXPECT_EQ(r.error().message.rfind("lender API: ", 0), 0u) << r.error().message;
  }
}

TEST(MarketApi, ReadsTheVix) {
  EXPECT_EQ(*ParseVix(R"({"value":22.4})"), Dec("22.4"));
  EXPECT_EQ(*ParseVix(R"({"value":1000,"as_of":"2026-01-01T00:00:00Z"})"), Dec("1000"));
  for (const char* bad : {R"({"value":1000.01})", R"({"value":-1})", R"({"vix":22.4})",
                          R"({"value":"22.4"})", "22.4", "{"}) {
    const Result<Decimal> r = ParseVix(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
    EXPECT_EQ(r.error().message.rfind("market API: ", 0), 0u) << r.error().message;
  }
}

TEST(HexText, WritesTwoLowercaseDigitsPerByte) {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff, 0x10};
  EXPECT_EQ(HexText(bytes, sizeof bytes), "000fa5ff10");
  EXPECT_EQ(HexText(bytes, 0), "");
}

TEST(AsciiLower, FoldsOnlyAsciiCapitals) {
  EXPECT_EQ(AsciiLower("X-API-Key"), "x-api-key");
  EXPECT_EQ(AsciiLower("Content-Type: @[`{"), "content-type: @[`{");
  EXPECT_EQ(AsciiLower(""), "");
  // Bytes past ASCII pass through unchanged, whatever the locale.
  EXPECT_EQ(AsciiLower("\xC3\x89T\xC9"), "\xC3\x89t\xC9");
}

TEST(EventsApi, ReadsAnIntegerRiskFactor) {
  EXPECT_EQ(*ParseEventRisk(R"({"ticker":"GME","risk_factor":6})", "GME"), 6);
  EXPECT_EQ(*ParseEventRisk(R"({"risk_factor":6.0})", "GME"), 6);
  EXPECT_EQ(*ParseEventRisk(R"({"risk_factor":0})", "GME"), 0);
  EXPECT_EQ(*ParseEventRisk(R"({"risk_factor":10})", "GME"), 10);
  for (const char* bad :
       {R"({"risk_factor":6.5})", R"({"risk_factor":11})", R"({"risk_factor":-1})",
        R"({"risk_factor":"6"})", R"({"ticker":"AMC","risk_factor":6})", R"({"risk":6})",
        R"({"risk_factor":99999999999999999999})", "oops"}) {
    const Result<int> r = ParseEventRisk(bad, "GME");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
    EXPECT_EQ(r.error().message.rfind("events API: ", 0), 0u) << r.error().message;
  }
}

}  // namespace
}  // namespace pricing::engine
