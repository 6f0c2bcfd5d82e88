#include "engine/validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace pricing::engine {
namespace {

QueryParams Query(std::string ticker = "GME", std::string position = "50000",
                  std::string days = "60", std::string client = "big_fund_007") {
  return {
      {"ticker", ticker}, {"position_value", position}, {"loan_days", days}, {"client_id", client}};
}

QueryParams Without(QueryParams q, const std::string& name) {
  std::erase_if(q, [&](const auto& p) { return p.first == name; });
  return q;
}

// Expects `r` to fail with INVALID_PARAMETER on `field`; returns the message.
template <typename T>
std::string ExpectInvalid(const Result<T>& r, const std::string& field) {
  EXPECT_FALSE(r.has_value()) << "expected an error on " << field;
  if (r.has_value()) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParameter);
  EXPECT_EQ(r.error().field, field) << r.error().message;
  EXPECT_FALSE(r.error().message.empty());
  return r.error().message;
}

TEST(Ticker, AcceptsTheDesignPatternAfterUpperCasing) {
  for (const char* ok : {"GME", "gme", "Brk.b", "A", "ABCDEFGHIJ", "X1", "A.B.C"}) {
    EXPECT_TRUE(ValidateTicker(ok).has_value()) << ok;
  }
  EXPECT_EQ(*ValidateTicker("brk.b"), "BRK.B");
}

TEST(Ticker, RejectsEverythingElse) {
  for (const char* bad : {"", "1GME", ".GME", "ABCDEFGHIJK", "GM E", "GME-", "GME_", "GÉ",
                          "G\xC3\xA9", "GME\n", "GME/1"}) {
    ExpectInvalid(ValidateTicker(bad), "ticker");
  }
  EXPECT_TRUE(IsValidTicker("GME"));
  EXPECT_FALSE(IsValidTicker("gme"));
}

TEST(ClientId, AcceptsLettersDigitsUnderscoreAndDash) {
  for (const std::string& ok : {std::string("big_fund_007"), std::string("abc"), std::string("A-B"),
                                std::string(50, 'x')}) {
    EXPECT_TRUE(ValidateClientId(ok).has_value()) << ok;
  }
}

TEST(ClientId, RejectsWrongLengthsAndCharacters) {
  const std::string too_long(51, 'x');
  for (const std::string& bad :
       {std::string("ab"), too_long, std::string("big fund"), std::string("fund.007"),
        std::string("fünd"), std::string("fund/1"), std::string("")}) {
    ExpectInvalid(ValidateClientId(bad), "client_id");
  }
}

TEST(RequestId, AcceptsOneTo128OfTheDesignCharacters) {
  for (const std::string& ok :
       std::vector<std::string>{"a", "req-1", "2026-12-07T01:02:03.456Z", "svc:node_7.abc-DEF",
                                "550e8400-e29b-41d4-a716-446655440000", std::string(128, 'x')}) {
    EXPECT_TRUE(IsValidRequestId(ok)) << ok;
  }
}

TEST(RequestId, RejectsWhatAStoreCouldRefuseOrAttackerCouldInject) {
  for (const std::string& bad : {std::string(), std::string(129, 'x'), std::string("caf\xc3\xa9"),
                          std::string("\xff\xfe"), std::string("a b"), std::string("a\tb"),
                          std::string("a\r\nX-Evil: 1"), std::string("a\0b", 3), std::string("id/1"),
                          std::string("{\"json\"}"), std::string("a'b")}) {
    EXPECT_FALSE(IsValidRequestId(bad)) << bad;
  }
}

TEST(PositionValue, AcceptsUpToTwoDecimalsAndOneTrillion) {
  EXPECT_EQ(*ParsePositionValue("50000"), Dec("50000"));
  EXPECT_EQ(*ParsePositionValue("50000.25"), Dec("50000.25"));
  EXPECT_EQ(*ParsePositionValue("0.01"), Dec("0.01"));
  EXPECT_EQ(*ParsePositionValue("1000000000000"), Dec("1000000000000"));
  EXPECT_EQ(*ParsePositionValue("1000000000000.00"), Dec("1000000000000"));
  // Trailing zeros do not count as decimals: the value has one.
  EXPECT_EQ(*ParsePositionValue("50000.500"), Dec("50000.5"));
}

TEST(PositionValue, RejectsZeroNegativeTooLargeAndTooPrecise) {
  EXPECT_NE(ExpectInvalid(ParsePositionValue("0"), "position_value").find("greater than 0"),
            std::string::npos);
  ExpectInvalid(ParsePositionValue("-5"), "position_value");
  EXPECT_NE(ExpectInvalid(ParsePositionValue("1000000000000.01"), "position_value")
                .find("at most 1000000000000"),
            std::string::npos);
  EXPECT_NE(ExpectInvalid(ParsePositionValue("0.001"), "position_value").find("2 decimal"),
            std::string::npos);
  for (const char* bad : {"abc", "5e4", "1,000", "+5", " 5", "NaN", "Infinity", "0x10", "."}) {
    ExpectInvalid(ParsePositionValue(bad), "position_value");
  }
}

TEST(LoanDays, AcceptsIntegersFromOneTo365) {
  EXPECT_EQ(*ParseLoanDays("1"), 1);
  EXPECT_EQ(*ParseLoanDays("365"), 365);
  EXPECT_EQ(*ParseLoanDays("060"), 60);
}

TEST(LoanDays, RejectsFractionsSignsAndOutOfRange) {
  for (const char* bad :
       {"0", "366", "-1", "60.0", "6e1", "+60", " 60", "sixty", "99999999999999999999999"}) {
    ExpectInvalid(ParseLoanDays(bad), "loan_days");
  }
}

TEST(LocateQuery, BuildsAValidatedRequest) {
  const Result<LocateRequest> r = ParseLocateQuery(Query("gme", "50000.00", "60", "big_fund_007"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->ticker, "GME");
  EXPECT_EQ(r->position_value, Dec("50000"));
  EXPECT_EQ(r->loan_days, 60);
  EXPECT_EQ(r->client_id, "big_fund_007");
}

TEST(LocateQuery, NamesEachMissingField) {
  for (const char* field : {"ticker", "position_value", "loan_days", "client_id"}) {
    const std::string message = ExpectInvalid(ParseLocateQuery(Without(Query(), field)), field);
    EXPECT_EQ(message, std::string(field) + " is required");
  }
}

TEST(LocateQuery, TreatsEmptyValuesAsMissing) {
  EXPECT_EQ(ExpectInvalid(ParseLocateQuery(Query("")), "ticker"), "ticker is required");
  EXPECT_EQ(ExpectInvalid(ParseLocateQuery(Query("GME", "")), "position_value"),
            "position_value is required");
}

TEST(LocateQuery, NamesEachInvalidField) {
  ExpectInvalid(ParseLocateQuery(Query("1GME")), "ticker");
  ExpectInvalid(ParseLocateQuery(Query("GME", "-1")), "position_value");
  ExpectInvalid(ParseLocateQuery(Query("GME", "50000", "400")), "loan_days");
  ExpectInvalid(ParseLocateQuery(Query("GME", "50000", "60", "x")), "client_id");
}

TEST(LocateQuery, ReportsTheFirstInvalidFieldInOrder) {
  ExpectInvalid(ParseLocateQuery(Query("1GME", "-1", "0", "x")), "ticker");
  ExpectInvalid(ParseLocateQuery(Query("GME", "-1", "0", "x")), "position_value");
}

TEST(LocateQuery, RejectsRepeatedFieldsAndIgnoresUnknownOnes) {
  QueryParams q = Query();
  q.emplace_back("loan_days", "30");
  EXPECT_NE(ExpectInvalid(ParseLocateQuery(q), "loan_days").find("more than once"),
            std::string::npos);
  QueryParams extra = Query();
  extra.emplace_back("_", "1700000000");
  EXPECT_TRUE(ParseLocateQuery(extra).has_value());
}

TEST(LocateJson, BuildsAValidatedRequest) {
  const Result<LocateRequest> r = ParseLocateJson(
      R"({"ticker":"gme","position_value":50000,"loan_days":60,"client_id":"big_fund_007"})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->ticker, "GME");
  EXPECT_EQ(r->position_value, Dec("50000"));
  EXPECT_EQ(r->loan_days, 60);
  EXPECT_EQ(r->client_id, "big_fund_007");
}

TEST(LocateJson, ReadsPositionValueFromTheNumberTextExactly) {
  // 0.1 + 0.2 style values that binary floating point cannot hold exactly.
  auto position = [](const std::string& json_value) {
    return ParseLocateJson(R"({"ticker":"GME","position_value":)" + json_value +
                           R"(,"loan_days":60,"client_id":"big_fund_007"})");
  };
  EXPECT_EQ(position("50000.10")->position_value, Dec("50000.1"));
  EXPECT_EQ(position("999999999999.99")->position_value, Dec("999999999999.99"));
  EXPECT_EQ(position("5e4")->position_value, Dec("50000"));
  EXPECT_EQ(position("\"1234.56\"")->position_value, Dec("1234.56"));
  EXPECT_EQ(position("1000000000000")->position_value, Dec("1000000000000"));
  ExpectInvalid(position("1000000000000.01"), "position_value");
  ExpectInvalid(position("0.001"), "position_value");
  ExpectInvalid(position("0"), "position_value");
  ExpectInvalid(position("-0"), "position_value");
  ExpectInvalid(position("-1"), "position_value");
  ExpectInvalid(position("99999999999999999999999999"), "position_value");
  ExpectInvalid(position("1e-30"), "position_value");
  ExpectInvalid(position("\"5e4\""), "position_value");
  ExpectInvalid(position("\"\""), "position_value");
  ExpectInvalid(position("true"), "position_value");
  ExpectInvalid(position("null"), "position_value");
  ExpectInvalid(position("[50000]"), "position_value");
  ExpectInvalid(position("{\"v\":1}"), "position_value");
}

TEST(LocateJson, RequiresLoanDaysAsAJsonInteger) {
  auto days = [](const std::string& json_value) {
    return ParseLocateJson(R"({"ticker":"GME","position_value":50000,"loan_days":)" + json_value +
                           R"(,"client_id":"big_fund_007"})");
  };
  EXPECT_EQ(days("1")->loan_days, 1);
  EXPECT_EQ(days("365")->loan_days, 365);
  for (const char* bad : {"0", "366", "-1", "60.0", "6e1", "60.5", "\"60\"", "null", "true",
                          "18446744073709551616", "[]"}) {
    ExpectInvalid(days(bad), "loan_days");
  }
  EXPECT_NE(ExpectInvalid(days("\"60\""), "loan_days").find("not string"), std::string::npos);
}

TEST(LocateJson, RequiresStringsForTickerAndClientId) {
  ExpectInvalid(
      ParseLocateJson(R"({"ticker":7,"position_value":1,"loan_days":1,"client_id":"abc"})"),
      "ticker");
  ExpectInvalid(
      ParseLocateJson(R"({"ticker":"GME","position_value":1,"loan_days":1,"client_id":["abc"]})"),
      "client_id");
  EXPECT_EQ(
      ExpectInvalid(
          ParseLocateJson(R"({"ticker":null,"position_value":1,"loan_days":1,"client_id":"abc"})"),
          "ticker"),
      "ticker must be a string, not null");
}

TEST(LocateJson, NamesEachMissingField) {
  EXPECT_EQ(
      ExpectInvalid(ParseLocateJson(R"({"position_value":1,"loan_days":1,"client_id":"abc"})"),
                    "ticker"),
      "ticker is required");
  ExpectInvalid(ParseLocateJson(R"({"ticker":"GME","loan_days":1,"client_id":"abc"})"),
                "position_value");
  ExpectInvalid(ParseLocateJson(R"({"ticker":"GME","position_value":1,"client_id":"abc"})"),
                "loan_days");
  ExpectInvalid(ParseLocateJson(R"({"ticker":"GME","position_value":1,"loan_days":1})"),
                "client_id");
  ExpectInvalid(ParseLocateJson("{}"), "ticker");
}

TEST(LocateJson, RejectsMalformedJsonAsBody) {
  for (const char* bad : {"", "{", "{\"ticker\":\"GME\",}", "{'ticker':'GME'}", "nul",
                          "{\"ticker\":\"GME\"} trailing", "{\"a\":1}{\"b\":2}", "\xff\xfe{}",
                          "{\"ticker\":\"G\xffME\"}", "{\"position_value\":1e400}"}) {
    const std::string message = ExpectInvalid(ParseLocateJson(bad), "body");
    EXPECT_EQ(message.rfind("malformed JSON", 0), 0u) << message;
  }
}

TEST(LocateJson, RejectsBodiesThatAreNotObjects) {
  for (const char* bad : {"[]", "\"GME\"", "42", "null", "true"}) {
    const std::string message = ExpectInvalid(ParseLocateJson(bad), "body");
    EXPECT_EQ(message.rfind("body must be a JSON object", 0), 0u) << message;
  }
}

TEST(LocateJson, RejectsDuplicateKeys) {
  const std::string message = ExpectInvalid(
      ParseLocateJson(
          R"({"ticker":"GME","ticker":"AMC","position_value":1,"loan_days":1,"client_id":"abc"})"),
      "ticker");
  EXPECT_NE(message.find("duplicate key"), std::string::npos);
}

TEST(LocateJson, IgnoresUnknownMembersOfAnyShape) {
  EXPECT_TRUE(ParseLocateJson(R"({"ticker":"GME","position_value":1,"loan_days":1,)"
                              R"("client_id":"abc","note":{"a":[1,{"b":null}],"a":2},"x":[]})")
                  .has_value());
}

TEST(StatusPage, DefaultsLimitAndOffset) {
  const Result<StatusPage> page = ParseStatusPage("HARD", {});
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->status, BorrowStatus::kHard);
  EXPECT_EQ(page->limit, 100);
  EXPECT_EQ(page->offset, 0);
}

TEST(StatusPage, ReadsStatusInAnyCaseAndTheBounds) {
  const Result<StatusPage> page = ParseStatusPage("medium", {{"limit", "1000"}, {"offset", "40"}});
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->status, BorrowStatus::kMedium);
  EXPECT_EQ(page->limit, 1000);
  EXPECT_EQ(page->offset, 40);
  EXPECT_EQ(ParseStatusPage("Easy", {{"limit", "1"}})->limit, 1);
}

TEST(StatusPage, RejectsBadStatusLimitAndOffset) {
  ExpectInvalid(ParseStatusPage("IMPOSSIBLE", {}), "status");
  ExpectInvalid(ParseStatusPage("", {}), "status");
  for (const char* bad : {"0", "1001", "-1", "ten", "", "1.5"}) {
    ExpectInvalid(ParseStatusPage("HARD", {{"limit", bad}}), "limit");
  }
  for (const char* bad : {"-1", "x", "", "1000000001"}) {
    ExpectInvalid(ParseStatusPage("HARD", {{"offset", bad}}), "offset");
  }
  ExpectInvalid(ParseStatusPage("HARD", {{"limit", "5"}, {"limit", "6"}}), "limit");
  ExpectInvalid(ParseStatusPage("HARD", {{"offset", "5"}, {"offset", "6"}}), "offset");
}

}  // namespace
}  // namespace pricing::engine
