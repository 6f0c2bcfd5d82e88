// Decimal text as clients, files and upstream APIs write it: Parse and
// ParseJsonNumber must agree with each other and with ToString, and the exact
// arithmetic of two parsed values must stay exact.
#include <string>

#include "engine/decimal.h"
#include "fuzz_check.h"

using pricing::engine::Decimal;
using pricing::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pricing::fuzz::Text(data, size);
  const auto plain = Decimal::Parse(text);
  const auto json = Decimal::ParseJsonNumber(text);
  if (plain) {
    Check(json && *json == *plain, "ParseJsonNumber refuses or differs from Parse", text);
    const std::string canonical = plain->ToString();
    const auto again = Decimal::Parse(canonical);
    Check(again && *again == *plain, "ToString does not read back", canonical);
    Check(plain->ToString(2) == Decimal::Parse(plain->ToString(2))->ToString(2),
          "ToString(2) is not stable", canonical);
    const int places = plain->FractionalDigits();
    Check(places >= 0 && places <= Decimal::kScale, "FractionalDigits out of range", canonical);
    Check(plain->RoundHalfUp(places) == *plain, "rounding at its own places changes it",
          canonical);
    if (auto i = plain->ToInt64()) Check(Decimal::FromInt(*i) == *plain, "ToInt64", canonical);
  }
  if (json) {
    const auto again = Decimal::Parse(json->ToString());
    Check(again && *again == *json, "ParseJsonNumber's value does not print back", text);
  }

  // Two values separated by a space: the exact product/quotient of small
  // values (inputs validated to the ranges the engine allows) must not abort.
  const auto [a_text, b_text] = pricing::fuzz::SplitOnce(text, " ");
  const auto a = Decimal::ParseJsonNumber(a_text);
  const auto b = Decimal::ParseJsonNumber(b_text);
  if (a && b) {
    const Decimal limit = Decimal::FromInt(1'000'000'000);
    if (-limit <= *a && *a <= limit && -limit <= *b && *b <= limit) {
      Check(*a + *b - *b == *a, "addition is not exact", text);
      (void)(*a * *b);
      const Decimal micro = *Decimal::Parse("0.000001");
      if (*b >= micro || *b <= -micro) {
        const auto q = pricing::engine::TryExactProductQuotient({*a}, *b, 2);
        Check(q.has_value(), "small quotient out of range", text);
      }
    }
  }
  return 0;
}
