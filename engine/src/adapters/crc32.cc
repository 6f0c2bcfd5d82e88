#include "adapters/crc32.h"

#include <array>
#include <cstddef>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace pricing::engine {
namespace {

constexpr uint32_t kPoly = 0xEDB88320u;  // reflected x^32 + x^26 + ... + 1

// Slicing-by-8: table k maps a byte k positions back.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;
constexpr CrcTables MakeCrcTables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? kPoly ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  }
  return t;
}
constexpr CrcTables kCrc = MakeCrcTables();

// Runs the CRC register `c` (not inverted) over n bytes.
uint32_t UpdateTables(uint32_t c, const unsigned char* p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    const uint32_t lo =
        c ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    c = kCrc[7][lo & 0xFF] ^ kCrc[6][(lo >> 8) & 0xFF] ^ kCrc[5][(lo >> 16) & 0xFF] ^
        kCrc[4][lo >> 24] ^ kCrc[3][p[4]] ^ kCrc[2][p[5]] ^ kCrc[1][p[6]] ^ kCrc[0][p[7]];
  }
  for (; n > 0; ++p, --n) c = kCrc[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)

// x^n mod P in the folding constants' form: the 32 remainder bits reflected,
// shifted left by one (a 33-bit value, as the reflected product needs).
constexpr uint64_t FoldConstant(int n) {
  uint64_t r = 1;  // x^0, coefficients of x^31..x^0 in bits 31..0
  for (int i = 0; i < n; ++i) {
    r <<= 1;
    if (r & (uint64_t{1} << 32)) r ^= 0x104C11DB7ull;  // P, unreflected
  }
  uint64_t reflected = 0;
  for (int i = 0; i < 32; ++i) {
    if (r & (uint64_t{1} << i)) reflected |= uint64_t{1} << (31 - i);
  }
  return reflected << 1;
}
// Folding a 128-bit lane forward by d bits multiplies its low half (the
// earlier bytes) by x^(d+32) and its high half by x^(d-32), modulo P.
constexpr uint64_t kFold512Lo = FoldConstant(512 + 32);
constexpr uint64_t kFold512Hi = FoldConstant(512 - 32);
constexpr uint64_t kFold128Lo = FoldConstant(128 + 32);
constexpr uint64_t kFold128Hi = FoldConstant(128 - 32);
static_assert(kFold512Lo == 0x154442bd4ull && kFold128Hi == 0xccaa009eull);

__attribute__((target("pclmul,sse2"))) inline __m128i Fold(__m128i x, __m128i k, __m128i next) {
  const __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);  // x.lo * k.lo
  const __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);  // x.hi * k.hi
  return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

// Runs the register `c` over n >= 64 bytes. The folds reduce the bytes read
// so far to 16 bytes that leave the same CRC when followed by the rest of the
// buffer; those 16 and the tail (under 16 bytes) go through the tables.
__attribute__((target("pclmul,sse2"))) uint32_t UpdateCarryLess(uint32_t c, const unsigned char* p,
                                                                size_t n) {
  auto load = [](const unsigned char* at) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
  };
  __m128i x0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(c)));
  __m128i x1 = load(p + 16);
  __m128i x2 = load(p + 32);
  __m128i x3 = load(p + 48);
  p += 64;
  n -= 64;
  const __m128i k512 =
      _mm_set_epi64x(static_cast<int64_t>(kFold512Hi), static_cast<int64_t>(kFold512Lo));
  for (; n >= 64; p += 64, n -= 64) {
    x0 = Fold(x0, k512, load(p));
    x1 = Fold(x1, k512, load(p + 16));
    x2 = Fold(x2, k512, load(p + 32));
    x3 = Fold(x3, k512, load(p + 48));
  }
  const __m128i k128 =
      _mm_set_epi64x(static_cast<int64_t>(kFold128Hi), static_cast<int64_t>(kFold128Lo));
  __m128i x = Fold(x0, k128, x1);
  x = Fold(x, k128, x2);
  x = Fold(x, k128, x3);
  for (; n >= 16; p += 16, n -= 16) x = Fold(x, k128, load(p));
  unsigned char folded[16];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(folded), x);
  return UpdateTables(UpdateTables(0, folded, sizeof folded), p, n);
}

bool HasCarryLess() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2");
  }();
  return has;
}

#else

bool HasCarryLess() { return false; }

#endif

}  // namespace

uint32_t Crc32Portable(std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  return UpdateTables(0xFFFFFFFFu, p, data.size()) ^ 0xFFFFFFFFu;
}

uint32_t Crc32(std::string_view data) {
#if defined(__x86_64__)
  if (data.size() >= 64 && HasCarryLess()) {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    return UpdateCarryLess(0xFFFFFFFFu, p, data.size()) ^ 0xFFFFFFFFu;
  }
#endif
  return Crc32Portable(data);
}

bool Crc32UsesCarryLessMultiply() { return HasCarryLess(); }

}  // namespace pricing::engine
