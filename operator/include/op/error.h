// Error values of the operator's core. Every validation failure names the
// input at fault in `field` as a JSON path into the PricingEngine object
// ("spec.components[1].replicas.min"), so that `render` and the SpecValid
// condition can say exactly what to fix.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace pricing::op {

struct Error {
  std::string field;    // JSON path of the offending input; empty when none applies
  std::string message;  // what is wrong, e.g. "min (5) is greater than max (3)"
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> Fail(std::string field, std::string message) {
  return std::unexpected(Error{std::move(field), std::move(message)});
}

// Returns "field: message", or the message alone when `field` is empty.
inline std::string ToString(const Error& error) {
  if (error.field.empty()) return error.message;
  return error.field + ": " + error.message;
}

}  // namespace pricing::op
