#include <gtest/gtest.h>

#include <set>
#include <string>

#include "engine/error.h"
#include "engine/model.h"

namespace pricing::engine {
namespace {

TEST(ErrorCodes, MapToTheDesignNamesAndStatuses) {
  const struct {
    ErrorCode code;
    const char* name;
    int status;
  } kTable[] = {
      {ErrorCode::kInvalidParameter, "INVALID_PARAMETER", 400},
      {ErrorCode::kUnauthorized, "UNAUTHORIZED", 401},
      {ErrorCode::kForbidden, "FORBIDDEN", 403},
      {ErrorCode::kTickerNotFound, "TICKER_NOT_FOUND", 404},
      {ErrorCode::kClientNotFound, "CLIENT_NOT_FOUND", 404},
      {ErrorCode::kNotFound, "NOT_FOUND", 404},
      {ErrorCode::kMethodNotAllowed, "METHOD_NOT_ALLOWED", 405},
      {ErrorCode::kPayloadTooLarge, "PAYLOAD_TOO_LARGE", 413},
      {ErrorCode::kUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", 415},
      {ErrorCode::kRateLimitExceeded, "RATE_LIMIT_EXCEEDED", 429},
      {ErrorCode::kCalculationError, "CALCULATION_ERROR", 500},
      {ErrorCode::kServiceUnavailable, "SERVICE_UNAVAILABLE", 503},
  };
  for (const auto& row : kTable) {
    EXPECT_EQ(ErrorCodeName(row.code), row.name);
    EXPECT_EQ(HttpStatus(row.code), row.status) << row.name;
  }
}

TEST(ErrorCodes, FailBuildsAnUnexpectedError) {
  const Result<int> r =
      Fail(ErrorCode::kForbidden, "a client key prices only its own client", "client_id");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(r.error().field, "client_id");
}

TEST(ModelNames, RoundTripAndRejectOtherSpellings) {
  for (BorrowStatus s : {BorrowStatus::kEasy, BorrowStatus::kMedium, BorrowStatus::kHard}) {
    EXPECT_EQ(ParseBorrowStatus(BorrowStatusName(s)), s);
  }
  EXPECT_EQ(BorrowStatusName(BorrowStatus::kHard), "HARD");
  EXPECT_FALSE(ParseBorrowStatus("hard").has_value());
  for (FeeType t : {FeeType::kFlat, FeeType::kPercentage})
    EXPECT_EQ(ParseFeeType(FeeTypeName(t)), t);
  EXPECT_EQ(FeeTypeName(FeeType::kPercentage), "PERCENTAGE");
  EXPECT_FALSE(ParseFeeType("Flat").has_value());
  for (KeyScope s : {KeyScope::kClient, KeyScope::kInternal}) {
    EXPECT_EQ(ParseKeyScope(KeyScopeName(s)), s);
  }
  EXPECT_FALSE(ParseKeyScope("CLIENT").has_value());
}

TEST(ModelNames, SourcesUseTheWireNames) {
  EXPECT_EQ(SourceName(Source::kLenderApi), "lender_api");
  EXPECT_EQ(SourceName(Source::kCache), "cache");
  EXPECT_EQ(SourceName(Source::kFallback), "fallback");
  EXPECT_EQ(SourceName(Source::kDb), "db");
  EXPECT_EQ(SourceName(Source::kMarketApi), "market_api");
  EXPECT_EQ(SourceName(Source::kEventsApi), "events_api");
  for (Source s : {Source::kLenderApi, Source::kCache, Source::kFallback, Source::kDb,
                   Source::kMarketApi, Source::kEventsApi}) {
    EXPECT_EQ(ParseSource(SourceName(s)), s);
  }
  EXPECT_FALSE(ParseSource("redis").has_value());
}

}  // namespace
}  // namespace pricing::engine
