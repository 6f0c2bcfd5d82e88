#include "engine/reference_data.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "test_util.h"

namespace pricing::engine {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const char kValid[] = R"(stocks:
  - {ticker: GME, borrow_status: HARD, min_borrow_rate: 0.05, lender_api_id: SL-GME}
  - {ticker: aapl, borrow_status: EASY, min_borrow_rate: "0.0025"}
brokers:
  - {client_id: big_fund_007, markup_percentage: 5.0, transaction_fee_type: FLAT, transaction_amount: 40.00, day_count: 365}
  - {client_id: hedge-alpha, markup_percentage: 7.5, transaction_fee_type: PERCENTAGE, transaction_amount: 0.05}
volatility:
  - {ticker: GME, vol_index: 32.5, event_risk_factor: 6}
  - {ticker: AAPL, vol_index: ~}
api_keys:
  - {key: demo-key-123, client_id: big_fund_007, rate_limit_per_minute: 600, scope: client}
  - {key: internal-key-1, rate_limit_per_minute: 6000, scope: internal}
  - {key: hedge-key-0001, client_id: hedge-alpha, rate_limit_per_minute: 60}
)";

// Expects parsing `yaml` to fail with exactly `message` (after the
// "test.yaml: " prefix) and `field`.
void ExpectError(const std::string& yaml, const std::string& field, const std::string& message) {
  const Result<ReferenceData> r = ParseReferenceData(yaml, "test.yaml");
  ASSERT_FALSE(r.has_value()) << yaml;
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParameter);
  EXPECT_EQ(r.error().field, field);
  EXPECT_EQ(r.error().message, "test.yaml: " + message);
}

std::string OneStock(const std::string& fields) { return "stocks:\n  - {" + fields + "}\n"; }

std::string OneBroker(const std::string& fields) {
  return "brokers:\n  - {client_id: big_fund_007, markup_percentage: 5.0, " + fields + "}\n";
}

TEST(ReferenceData, ParsesEveryListWithDefaults) {
  const Result<ReferenceData> r = ParseReferenceData(kValid, "test.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->stocks.size(), 2u);
  EXPECT_EQ(r->stocks[0].ticker, "GME");
  EXPECT_EQ(r->stocks[0].borrow_status, BorrowStatus::kHard);
  EXPECT_EQ(r->stocks[0].min_borrow_rate, Dec("0.05"));
  EXPECT_EQ(r->stocks[0].lender_api_id, "SL-GME");
  EXPECT_EQ(r->stocks[1].ticker, "AAPL");  // upper-cased
  EXPECT_EQ(r->stocks[1].min_borrow_rate, Dec("0.0025"));
  EXPECT_EQ(r->stocks[1].lender_api_id, "");

  ASSERT_EQ(r->brokers.size(), 2u);
  EXPECT_EQ(r->brokers[0].client_id, "big_fund_007");
  EXPECT_EQ(r->brokers[0].markup_percentage, Dec("5"));
  EXPECT_EQ(r->brokers[0].transaction_fee_type, FeeType::kFlat);
  EXPECT_EQ(r->brokers[0].transaction_amount, Dec("40"));
  EXPECT_EQ(r->brokers[0].day_count, 365);
  EXPECT_EQ(r->brokers[1].transaction_fee_type, FeeType::kPercentage);
  EXPECT_EQ(r->brokers[1].day_count, 365);  // default

  ASSERT_EQ(r->volatility.size(), 2u);
  EXPECT_EQ(r->volatility[0].vol_index, Dec("32.5"));
  EXPECT_EQ(r->volatility[0].event_risk_factor, 6);
  EXPECT_FALSE(r->volatility[1].vol_index.has_value());
  EXPECT_FALSE(r->volatility[1].event_risk_factor.has_value());

  ASSERT_EQ(r->api_keys.size(), 3u);
  EXPECT_EQ(r->api_keys[0].key, "demo-key-123");
  EXPECT_EQ(r->api_keys[0].client_id, "big_fund_007");
  EXPECT_EQ(r->api_keys[0].rate_limit_per_minute, 600);
  EXPECT_EQ(r->api_keys[0].scope, KeyScope::kClient);
  EXPECT_EQ(r->api_keys[1].scope, KeyScope::kInternal);
  EXPECT_EQ(r->api_keys[1].client_id, "");
  EXPECT_EQ(r->api_keys[2].scope, KeyScope::kClient);  // default
}

TEST(ReferenceData, EmptyDocumentsHoldNothing) {
  for (const char* empty : {"", "# nothing\n", "{}", "stocks:\nbrokers: []\n"}) {
    const Result<ReferenceData> r = ParseReferenceData(empty, "test.yaml");
    ASSERT_TRUE(r.has_value()) << empty << ": " << r.error().message;
    EXPECT_TRUE(r->stocks.empty());
    EXPECT_TRUE(r->brokers.empty());
  }
}

TEST(ReferenceData, SampleFileIsValidAndMatchesTheExample) {
  const std::string sample = ReadFile(PRICING_TESTDATA_DIR "/reference-data.yaml");
  EXPECT_EQ(sample, ReadFile(PRICING_EXAMPLES_DIR "/data/reference-data.yaml"));
  const Result<ReferenceData> r = ParseReferenceData(sample, "reference-data.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_GE(r->stocks.size(), 10u);
  EXPECT_LE(r->stocks.size(), 20u);
  int tiers[3] = {0, 0, 0};
  for (const Stock& s : r->stocks) ++tiers[static_cast<int>(s.borrow_status)];
  EXPECT_GT(tiers[0], 0);
  EXPECT_GT(tiers[1], 0);
  EXPECT_GT(tiers[2], 0);

  const auto gme = std::find_if(r->stocks.begin(), r->stocks.end(),
                                [](const Stock& s) { return s.ticker == "GME"; });
  ASSERT_NE(gme, r->stocks.end());
  EXPECT_EQ(gme->borrow_status, BorrowStatus::kHard);
  EXPECT_EQ(gme->min_borrow_rate, Dec("0.05"));
  EXPECT_EQ(gme->lender_api_id, "SL-GME");

  const auto fund = std::find_if(r->brokers.begin(), r->brokers.end(),
                                 [](const Broker& b) { return b.client_id == "big_fund_007"; });
  ASSERT_NE(fund, r->brokers.end());
  EXPECT_EQ(fund->markup_percentage, Dec("5.0"));
  EXPECT_EQ(fund->transaction_fee_type, FeeType::kFlat);
  EXPECT_EQ(fund->transaction_amount, Dec("40.00"));
  EXPECT_EQ(fund->day_count, 365);
  EXPECT_TRUE(std::any_of(r->brokers.begin(), r->brokers.end(), [](const Broker& b) {
    return b.transaction_fee_type == FeeType::kPercentage;
  }));
  EXPECT_TRUE(std::any_of(r->brokers.begin(), r->brokers.end(),
                          [](const Broker& b) { return b.day_count == 360; }));

  const auto vol = std::find_if(r->volatility.begin(), r->volatility.end(),
                                [](const VolatilityRow& v) { return v.ticker == "GME"; });
  ASSERT_NE(vol, r->volatility.end());
  EXPECT_EQ(vol->vol_index, Dec("32.5"));
  EXPECT_EQ(vol->event_risk_factor, 6);

  const auto demo = std::find_if(r->api_keys.begin(), r->api_keys.end(),
                                 [](const ApiKeySeed& k) { return k.key == "demo-key-123"; });
  ASSERT_NE(demo, r->api_keys.end());
  EXPECT_EQ(demo->client_id, "big_fund_007");
  EXPECT_EQ(demo->rate_limit_per_minute, 600);
  EXPECT_EQ(demo->scope, KeyScope::kClient);
  EXPECT_TRUE(std::any_of(r->api_keys.begin(), r->api_keys.end(),
                          [](const ApiKeySeed& k) { return k.scope == KeyScope::kInternal; }));
}

TEST(ReferenceDataErrors, NameTheEntryFieldAndLine) {
  ExpectError(R"(brokers:
  - {client_id: a_fund, markup_percentage: 1, transaction_fee_type: FLAT, transaction_amount: 1}
  - {client_id: b_fund, markup_percentage: 1, transaction_fee_type: FLAT, transaction_amount: 1}
  - client_id: c_fund
    markup_percentage: 1
    transaction_fee_type: FLAT
    transaction_amount: 1
    day_count: 366
)",
              "brokers[2].day_count", "brokers[2].day_count: must be 360 or 365 (line 8)");
}

TEST(ReferenceDataErrors, MissingRequiredFieldsPointAtTheEntry) {
  ExpectError("stocks:\n  - {ticker: GME, min_borrow_rate: 0.05}\n", "stocks[0].borrow_status",
              "stocks[0].borrow_status: is required (line 2)");
  ExpectError("stocks:\n  - {ticker: GME, borrow_status: HARD, min_borrow_rate: ~}\n",
              "stocks[0].min_borrow_rate", "stocks[0].min_borrow_rate: is required (line 2)");
  ExpectError("brokers:\n  - {client_id: big_fund_007}\n", "brokers[0].markup_percentage",
              "brokers[0].markup_percentage: is required (line 2)");
  ExpectError("volatility:\n  - {vol_index: 3}\n", "volatility[0].ticker",
              "volatility[0].ticker: is required (line 2)");
  ExpectError("api_keys:\n  - {key: abcdefgh}\n", "api_keys[0].rate_limit_per_minute",
              "api_keys[0].rate_limit_per_minute: is required (line 2)");
  ExpectError("api_keys:\n  - {key: abcdefgh, rate_limit_per_minute: 5}\n", "api_keys[0].client_id",
              "api_keys[0].client_id: is required for a client key (line 2)");
}

TEST(ReferenceDataErrors, ValidateEveryStockField) {
  ExpectError(
      OneStock("ticker: 1GME, borrow_status: HARD, min_borrow_rate: 0.05"), "stocks[0].ticker",
      "stocks[0].ticker: must be a letter followed by at most 9 letters, digits or '.' (line 2)");
  ExpectError(OneStock("ticker: GME, borrow_status: hard, min_borrow_rate: 0.05"),
              "stocks[0].borrow_status",
              "stocks[0].borrow_status: must be EASY, MEDIUM or HARD (line 2)");
  ExpectError(
      OneStock("ticker: GME, borrow_status: HARD, min_borrow_rate: 10.01"),
      "stocks[0].min_borrow_rate",
      "stocks[0].min_borrow_rate: must be from 0 to 10 (an annual fraction: 0.05 = 5 %) (line 2)");
  ExpectError(
      OneStock("ticker: GME, borrow_status: HARD, min_borrow_rate: -0.01"),
      "stocks[0].min_borrow_rate",
      "stocks[0].min_borrow_rate: must be from 0 to 10 (an annual fraction: 0.05 = 5 %) (line 2)");
  for (const char* not_decimal : {"5e-2", ".05", "five", "0x1", "[0.05]", "0.05.1"}) {
    const Result<ReferenceData> r = ParseReferenceData(
        OneStock(std::string("ticker: GME, borrow_status: HARD, min_borrow_rate: ") + not_decimal),
        "test.yaml");
    ASSERT_FALSE(r.has_value()) << not_decimal;
    EXPECT_EQ(r.error().field, "stocks[0].min_borrow_rate") << not_decimal;
  }
  ExpectError(
      OneStock("ticker: GME, borrow_status: HARD, min_borrow_rate: 0.05, lender_api_id: 'a b'"),
      "stocks[0].lender_api_id",
      "stocks[0].lender_api_id: must be 1 to 64 printable characters without spaces (line 2)");
}

TEST(ReferenceDataErrors, ValidateEveryBrokerField) {
  ExpectError("brokers:\n  - {client_id: ab, markup_percentage: 5}\n", "brokers[0].client_id",
              "brokers[0].client_id: must be 3 to 50 characters, each a letter, digit, '_' or '-' "
              "(line 2)");
  ExpectError(
      "brokers:\n  - {client_id: abc, markup_percentage: 1000.5}\n", "brokers[0].markup_percentage",
      "brokers[0].markup_percentage: must be from 0 to 1000 (a percent: 5.0 = 5 %) (line 2)");
  ExpectError(OneBroker("transaction_fee_type: flat, transaction_amount: 1"),
              "brokers[0].transaction_fee_type",
              "brokers[0].transaction_fee_type: must be FLAT or PERCENTAGE (line 2)");
  ExpectError(OneBroker("transaction_fee_type: FLAT, transaction_amount: -1"),
              "brokers[0].transaction_amount",
              "brokers[0].transaction_amount: must be from 0 to 1000000000 (USD) (line 2)");
  ExpectError(
      OneBroker("transaction_fee_type: PERCENTAGE, transaction_amount: 100.5"),
      "brokers[0].transaction_amount",
      "brokers[0].transaction_amount: must be from 0 to 100 (a percent of the position) (line 2)");
  ExpectError(OneBroker("transaction_fee_type: FLAT, transaction_amount: 1, day_count: 365.0"),
              "brokers[0].day_count", "brokers[0].day_count: must be 360 or 365 (line 2)");
  const Result<ReferenceData> r = ParseReferenceData(
      OneBroker("transaction_fee_type: FLAT, transaction_amount: 0, day_count: 360"), "test.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->brokers[0].day_count, 360);
}

TEST(ReferenceDataErrors, ValidateEveryVolatilityField) {
  const std::string stock = OneStock("ticker: GME, borrow_status: HARD, min_borrow_rate: 0.05");
  ExpectError(stock + "volatility:\n  - {ticker: GME, vol_index: 1000.1}\n",
              "volatility[0].vol_index",
              "volatility[0].vol_index: must be from 0 to 1000 (line 4)");
  ExpectError(stock + "volatility:\n  - {ticker: GME, event_risk_factor: 11}\n",
              "volatility[0].event_risk_factor",
              "volatility[0].event_risk_factor: must be an integer from 0 to 10 (line 4)");
  ExpectError(stock + "volatility:\n  - {ticker: GME, event_risk_factor: 5.5}\n",
              "volatility[0].event_risk_factor",
              "volatility[0].event_risk_factor: must be an integer from 0 to 10 (line 4)");
  ExpectError(stock + "volatility:\n  - {ticker: AMC, vol_index: 3}\n", "volatility[0].ticker",
              "volatility[0].ticker: \"AMC\" is not a stock of this file (line 4)");
}

TEST(ReferenceDataErrors, ValidateEveryApiKeyField) {
  const std::string broker = OneBroker("transaction_fee_type: FLAT, transaction_amount: 1");
  ExpectError(
      broker + "api_keys:\n  - {key: short, client_id: big_fund_007, rate_limit_per_minute: 5}\n",
      "api_keys[0].key",
      "api_keys[0].key: must be 8 to 256 printable characters without spaces (line 4)");
  ExpectError(
      broker +
          "api_keys:\n  - {key: abcdefgh, client_id: big_fund_007, rate_limit_per_minute: 0}\n",
      "api_keys[0].rate_limit_per_minute",
      "api_keys[0].rate_limit_per_minute: must be an integer from 1 to 1000000000 (line 4)");
  ExpectError(broker +
                  "api_keys:\n  - {key: abcdefgh, client_id: big_fund_007, rate_limit_per_minute: "
                  "5, scope: admin}\n",
              "api_keys[0].scope", "api_keys[0].scope: must be client or internal (line 4)");
  ExpectError(
      broker + "api_keys:\n  - {key: abcdefgh, client_id: other_fund, rate_limit_per_minute: 5}\n",
      "api_keys[0].client_id",
      "api_keys[0].client_id: \"other_fund\" is not a broker of this file (line 4)");
  ExpectError(broker +
                  "api_keys:\n  - {key: abcdefgh, client_id: 'x y', rate_limit_per_minute: 5, "
                  "scope: internal}\n",
              "api_keys[0].client_id",
              "api_keys[0].client_id: must be 3 to 50 characters, each a letter, digit, '_' or '-' "
              "(line 4)");
  // An internal key may name any well-formed client (e.g. a team), in or out of the file.
  EXPECT_TRUE(ParseReferenceData(broker + "api_keys:\n  - {key: abcdefgh, client_id: ops_team, "
                                          "rate_limit_per_minute: 5, scope: internal}\n",
                                 "test.yaml")
                  .has_value());
}

TEST(ReferenceDataErrors, RejectDuplicates) {
  ExpectError(
      "stocks:\n  - {ticker: GME, borrow_status: HARD, min_borrow_rate: 0.05}\n"
      "  - {ticker: gme, borrow_status: EASY, min_borrow_rate: 0.01}\n",
      "stocks[1].ticker", "stocks[1].ticker: repeats \"GME\" of an earlier entry (line 3)");
  ExpectError(OneBroker("transaction_fee_type: FLAT, transaction_amount: 1") +
                  "  - {client_id: big_fund_007, markup_percentage: 1, transaction_fee_type: FLAT, "
                  "transaction_amount: 1}\n",
              "brokers[1].client_id",
              "brokers[1].client_id: repeats \"big_fund_007\" of an earlier entry (line 3)");
  const Result<ReferenceData> keys = ParseReferenceData(
      "api_keys:\n  - {key: secret-key-1, rate_limit_per_minute: 5, scope: internal}\n"
      "  - {key: secret-key-1, rate_limit_per_minute: 9, scope: internal}\n",
      "test.yaml");
  ASSERT_FALSE(keys.has_value());
  EXPECT_EQ(keys.error().message, "test.yaml: api_keys[1].key: repeats an earlier key (line 3)");
  EXPECT_EQ(keys.error().message.find("secret-key-1"), std::string::npos);
}

TEST(ReferenceDataErrors, RejectUnknownAndRepeatedKeys) {
  ExpectError("stock:\n  - {ticker: GME}\n", "(top level)",
              "(top level): unknown key \"stock\" (line 1)");
  ExpectError(
      "stocks:\n  - {ticker: GME, borrow_status: HARD, min_borrow_rate: 0.05, colour: red}\n",
      "stocks[0]", "stocks[0]: unknown key \"colour\" (line 2)");
  ExpectError("stocks:\n  - ticker: GME\n    ticker: AMC\n", "stocks[0]",
              "stocks[0]: key \"ticker\" is repeated (line 3)");
}

TEST(ReferenceDataErrors, RejectWrongShapes) {
  ExpectError("- a\n- b\n", "(top level)",
              "(top level): must be a mapping with the keys stocks, brokers, volatility, api_keys "
              "(line 1)");
  ExpectError("stocks: 5\n", "stocks", "stocks: must be a list (line 1)");
  ExpectError("stocks:\n  - GME\n", "stocks[0]", "stocks[0]: must be a mapping (line 2)");
  ExpectError("stocks:\n  - {ticker: [GME], borrow_status: HARD, min_borrow_rate: 0.05}\n",
              "stocks[0].ticker", "stocks[0].ticker: must be a single value (line 2)");
}

TEST(ReferenceDataErrors, ReportYamlSyntaxErrorsWithLineAndColumn) {
  const Result<ReferenceData> r =
      ParseReferenceData("stocks:\n  - {ticker: GME\n  - {ticker: AMC}\n", "bad.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidParameter);
  EXPECT_EQ(r.error().message.rfind("bad.yaml: line ", 0), 0u) << r.error().message;
  EXPECT_NE(r.error().message.find("column"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace pricing::engine
