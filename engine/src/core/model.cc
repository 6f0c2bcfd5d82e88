#include "engine/model.h"

namespace pricing::engine {

std::string_view BorrowStatusName(BorrowStatus s) {
  switch (s) {
    case BorrowStatus::kEasy:
      return "EASY";
    case BorrowStatus::kMedium:
      return "MEDIUM";
    case BorrowStatus::kHard:
      return "HARD";
  }
  return "EASY";
}

std::optional<BorrowStatus> ParseBorrowStatus(std::string_view s) {
  if (s == "EASY") return BorrowStatus::kEasy;
  if (s == "MEDIUM") return BorrowStatus::kMedium;
  if (s == "HARD") return BorrowStatus::kHard;
  return std::nullopt;
}

std::string_view FeeTypeName(FeeType t) {
  switch (t) {
    case FeeType::kFlat:
      return "FLAT";
    case FeeType::kPercentage:
      return "PERCENTAGE";
  }
  return "FLAT";
}

std::optional<FeeType> ParseFeeType(std::string_view s) {
  if (s == "FLAT") return FeeType::kFlat;
  if (s == "PERCENTAGE") return FeeType::kPercentage;
  return std::nullopt;
}

std::string_view KeyScopeName(KeyScope s) {
  switch (s) {
    case KeyScope::kClient:
      return "client";
    case KeyScope::kInternal:
      return "internal";
  }
  return "client";
}

std::optional<KeyScope> ParseKeyScope(std::string_view s) {
  if (s == "client") return KeyScope::kClient;
  if (s == "internal") return KeyScope::kInternal;
  return std::nullopt;
}

std::string_view SourceName(Source s) {
  switch (s) {
    case Source::kLenderApi:
      return "lender_api";
    case Source::kCache:
      return "cache";
    case Source::kFallback:
      return "fallback";
    case Source::kDb:
      return "db";
    case Source::kMarketApi:
      return "market_api";
    case Source::kEventsApi:
      return "events_api";
  }
  return "fallback";
}

std::optional<Source> ParseSource(std::string_view s) {
  for (Source source : {Source::kLenderApi, Source::kCache, Source::kFallback, Source::kDb,
                        Source::kMarketApi, Source::kEventsApi}) {
    if (SourceName(source) == s) return source;
  }
  return std::nullopt;
}

}  // namespace pricing::engine
