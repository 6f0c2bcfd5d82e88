// Kubernetes resource quantities ("500m", "1Gi", "2", "1e3"): the grammar of
// k8s.io/apimachinery's resource.Quantity, so that a spec the API server would
// reject in a child object is rejected when the PricingEngine is read.
//
//   quantity ::= [+-] digits [. digits] [suffix]   (or [+-] . digits [suffix])
//   suffix   ::= Ki | Mi | Gi | Ti | Pi | Ei            binary, powers of 1024
//              | n | u | m | "" | k | M | G | T | P | E decimal, 10^-9 .. 10^18
//              | (e|E) [+-] digits                      decimal exponent
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pricing::op {

struct Quantity {
  std::string text;  // as written; children carry it unchanged
  // The amount, for comparisons (requests <= limits). Two spellings of one
  // amount ("0.5", "500m") give the same value when the mantissa has at most
  // 19 significant digits and the decimal exponent is within ±27.
  long double value = 0;
};

// Returns the quantity written as `text`, or nullopt when it does not follow
// the grammar above or is out of range (more than 30 digits, |exponent| > 60).
std::optional<Quantity> ParseQuantity(std::string_view text);

}  // namespace pricing::op
