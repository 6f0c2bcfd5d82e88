// The operator's errors are the shared ones (common/error.h). A validation
// failure names the input at fault in `field` as a JSON path into the
// PricingEngine object ("spec.components[1].replicas.min").
#pragma once

#include <expected>
#include <string>
#include <utility>

#include "common/error.h"

namespace pricing::op {

using pricing::Error;
using pricing::ErrorCode;
using pricing::Result;
using pricing::ToString;

// An invalid input: `field` is its JSON path (empty when none applies).
inline Error Invalid(std::string field, std::string message) {
  return Error{ErrorCode::kInvalidParameter, std::move(message), std::move(field)};
}

inline std::unexpected<Error> Fail(std::string field, std::string message) {
  return std::unexpected(Invalid(std::move(field), std::move(message)));
}

}  // namespace pricing::op
