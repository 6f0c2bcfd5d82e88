#include "common/error.h"

namespace pricing {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidParameter:
      return "INVALID_PARAMETER";
    case ErrorCode::kUnauthorized:
      return "UNAUTHORIZED";
    case ErrorCode::kForbidden:
      return "FORBIDDEN";
    case ErrorCode::kTickerNotFound:
      return "TICKER_NOT_FOUND";
    case ErrorCode::kClientNotFound:
      return "CLIENT_NOT_FOUND";
    case ErrorCode::kNotFound:
      return "NOT_FOUND";
    case ErrorCode::kMethodNotAllowed:
      return "METHOD_NOT_ALLOWED";
    case ErrorCode::kPayloadTooLarge:
      return "PAYLOAD_TOO_LARGE";
    case ErrorCode::kUnsupportedMediaType:
      return "UNSUPPORTED_MEDIA_TYPE";
    case ErrorCode::kRateLimitExceeded:
      return "RATE_LIMIT_EXCEEDED";
    case ErrorCode::kCalculationError:
      return "CALCULATION_ERROR";
    case ErrorCode::kServiceUnavailable:
      return "SERVICE_UNAVAILABLE";
  }
  return "CALCULATION_ERROR";
}

int HttpStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidParameter:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kTickerNotFound:
    case ErrorCode::kClientNotFound:
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMediaType:
      return 415;
    case ErrorCode::kRateLimitExceeded:
      return 429;
    case ErrorCode::kCalculationError:
      return 500;
    case ErrorCode::kServiceUnavailable:
      return 503;
  }
  return 500;
}

std::string ToString(const Error& error) {
  if (error.field.empty()) return error.message;
  return error.field + ": " + error.message;
}

}  // namespace pricing
