// Helpers shared by the engine unit tests.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

#include "engine/decimal.h"
#include "engine/error.h"

namespace pricing::engine {

// Lets GoogleTest print Decimals and Errors in failure messages.
inline void PrintTo(Decimal d, std::ostream* os) { *os << d.ToString(); }
inline void PrintTo(const Error& e, std::ostream* os) {
  *os << ErrorCodeName(e.code) << " field=\"" << e.field << "\" message=\"" << e.message << "\"";
}

// Returns the value of decimal text. REQUIRES: `text` parses.
inline Decimal Dec(const std::string& text) {
  std::optional<Decimal> d = Decimal::Parse(text);
  EXPECT_TRUE(d.has_value()) << "bad decimal in test: " << text;
  return d.value_or(Decimal());
}

}  // namespace pricing::engine
