// Error values of both programs. An error that reaches a client of the engine
// maps to one code of the API's error table and, where one input is at fault,
// names that input in `field`; the operator's validation errors name the
// input as a JSON path into the PricingEngine object
// ("spec.components[1].replicas.min") so that `render` and the SpecValid
// condition can say exactly what to fix.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace pricing {

enum class ErrorCode {
  kInvalidParameter,      // 400
  kUnauthorized,          // 401
  kForbidden,             // 403
  kTickerNotFound,        // 404
  kClientNotFound,        // 404
  kNotFound,              // 404 (route)
  kMethodNotAllowed,      // 405
  kPayloadTooLarge,       // 413
  kUnsupportedMediaType,  // 415
  kRateLimitExceeded,     // 429
  kCalculationError,      // 500
  kServiceUnavailable,    // 503
};

struct Error {
  ErrorCode code = ErrorCode::kCalculationError;
  std::string message;
  std::string field;  // empty when no single input is at fault
};

template <typename T>
using Result = std::expected<T, Error>;

// Returns the wire name of `code`, e.g. "INVALID_PARAMETER".
std::string_view ErrorCodeName(ErrorCode code);

// Returns the HTTP status that carries `code`.
int HttpStatus(ErrorCode code);

inline std::unexpected<Error> Fail(ErrorCode code, std::string message, std::string field = {}) {
  return std::unexpected(Error{code, std::move(message), std::move(field)});
}

// Returns "field: message", or the message alone when `field` is empty.
std::string ToString(const Error& error);

}  // namespace pricing
