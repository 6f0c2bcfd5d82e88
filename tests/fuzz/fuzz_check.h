// What the fuzz targets share: a check that ends the run with a message when
// a parser breaks its own contract (libFuzzer then keeps the input as a crash),
// and reading the input as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

namespace pricing::fuzz {

// Aborts with `what` (and `detail`) when `ok` is false.
inline void Check(bool ok, std::string_view what, std::string_view detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %.*s\n  %.*s\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline std::string_view Text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits `text` at the first occurrence of `separator`: {before, after}; no
// separator gives {text, ""}.
inline std::pair<std::string_view, std::string_view> SplitOnce(std::string_view text,
                                                               std::string_view separator) {
  const size_t at = text.find(separator);
  if (at == std::string_view::npos) return {text, {}};
  return {text.substr(0, at), text.substr(at + separator.size())};
}

}  // namespace pricing::fuzz
