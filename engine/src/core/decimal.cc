#include "engine/decimal.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pricing::engine {
namespace {

using u128 = unsigned __int128;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "pricing::engine::Decimal: %s\n", what);
  std::abort();
}

constexpr std::array<u128, 39> kPowersOf10 = [] {
  std::array<u128, 39> p{};
  p[0] = 1;
  for (size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * 10;
  return p;
}();

// Returns 10^n. REQUIRES: 0 <= n <= 38.
constexpr u128 Pow10(int n) { return kPowersOf10[static_cast<size_t>(n)]; }

constexpr u128 kOneU = static_cast<u128>(Decimal::kOne);
constexpr u128 kMaxRawU = static_cast<u128>(Decimal::kMaxRaw);
constexpr uint64_t kTen19 = 10000000000000000000ULL;

u128 Magnitude(__int128 v) {
  return v < 0 ? static_cast<u128>(0) - static_cast<u128>(v) : static_cast<u128>(v);
}

// Returns the signed value of magnitude `m`, negated when `negative`.
// REQUIRES: m <= kMaxRawU.
__int128 Signed(u128 m, bool negative) {
  const __int128 v = static_cast<__int128>(m);
  return negative ? -v : v;
}

// A fixed-width unsigned integer of N 64-bit limbs, little-endian. Just enough
// arithmetic for exact product/quotient: multiply, compare, subtract, shift and
// shift-subtract long division. Every operation that could overflow reports it.
template <int N>
class BigUint {
 public:
  BigUint() : limbs_{} {}

  static BigUint FromU128(u128 v) {
    BigUint b;
    b.limbs_[0] = static_cast<uint64_t>(v);
    if constexpr (N > 1) b.limbs_[1] = static_cast<uint64_t>(v >> 64);
    return b;
  }

  bool IsZero() const {
    for (uint64_t l : limbs_) {
      if (l != 0) return false;
    }
    return true;
  }

  // *this *= m. Returns false (leaving *this unspecified) on overflow.
  [[nodiscard]] bool MulSmall(uint64_t m) {
    u128 carry = 0;
    for (int i = 0; i < N; ++i) {
      const u128 t = static_cast<u128>(limbs_[i]) * m + carry;
      limbs_[i] = static_cast<uint64_t>(t);
      carry = t >> 64;
    }
    return carry == 0;
  }

  // *this *= 10^n. Returns false on overflow.
  [[nodiscard]] bool MulPow10(int n) {
    while (n >= 19) {
      if (!MulSmall(kTen19)) return false;
      n -= 19;
    }
    return MulSmall(static_cast<uint64_t>(Pow10(n)));
  }

  // *this *= b (schoolbook). Returns false on overflow.
  [[nodiscard]] bool Mul(const BigUint& b) {
    std::array<uint64_t, 2 * N> wide{};
    for (int i = 0; i < N; ++i) {
      if (limbs_[i] == 0) continue;
      u128 carry = 0;
      for (int j = 0; j < N; ++j) {
        const u128 t = static_cast<u128>(limbs_[i]) * b.limbs_[j] + wide[i + j] + carry;
        wide[i + j] = static_cast<uint64_t>(t);
        carry = t >> 64;
      }
      wide[i + N] = static_cast<uint64_t>(carry);
    }
    for (int i = N; i < 2 * N; ++i) {
      if (wide[i] != 0) return false;
    }
    for (int i = 0; i < N; ++i) limbs_[i] = wide[i];
    return true;
  }

  int BitLength() const {
    for (int i = N - 1; i >= 0; --i) {
      if (limbs_[i] != 0) return i * 64 + (64 - __builtin_clzll(limbs_[i]));
    }
    return 0;
  }

  int Compare(const BigUint& b) const {
    for (int i = N - 1; i >= 0; --i) {
      if (limbs_[i] != b.limbs_[i]) return limbs_[i] < b.limbs_[i] ? -1 : 1;
    }
    return 0;
  }

  // *this -= b. REQUIRES: *this >= b.
  void Sub(const BigUint& b) {
    uint64_t borrow = 0;
    for (int i = 0; i < N; ++i) {
      const uint64_t x = limbs_[i];
      const uint64_t d1 = x - b.limbs_[i];
      const uint64_t borrow1 = x < b.limbs_[i] ? 1 : 0;
      const uint64_t d2 = d1 - borrow;
      const uint64_t borrow2 = d1 < borrow ? 1 : 0;
      limbs_[i] = d2;
      borrow = borrow1 | borrow2;
    }
  }

  // *this <<= n. REQUIRES: no set bit is shifted out.
  void ShiftLeft(int n) {
    const int words = n / 64;
    const int bits = n % 64;
    for (int i = N - 1; i >= 0; --i) {
      uint64_t v = 0;
      const int src = i - words;
      if (src >= 0) {
        v = limbs_[src] << bits;
        if (bits != 0 && src - 1 >= 0) v |= limbs_[src - 1] >> (64 - bits);
      }
      limbs_[i] = v;
    }
  }

  void ShiftRight1() {
    for (int i = 0; i < N; ++i) {
      limbs_[i] >>= 1;
      if (i + 1 < N) limbs_[i] |= limbs_[i + 1] << 63;
    }
  }

  void SetBit(int i) { limbs_[i / 64] |= static_cast<uint64_t>(1) << (i % 64); }

  bool FitsU128() const {
    for (int i = 2; i < N; ++i) {
      if (limbs_[i] != 0) return false;
    }
    return true;
  }

  u128 ToU128() const {
    u128 v = limbs_[0];
    if constexpr (N > 1) v |= static_cast<u128>(limbs_[1]) << 64;
    return v;
  }

  // Sets *quotient = num / den and *remainder = num % den.
  // REQUIRES: den != 0 and den.BitLength() < N * 64.
  static void DivMod(const BigUint& num, const BigUint& den, BigUint* quotient,
                     BigUint* remainder) {
    *quotient = BigUint();
    *remainder = num;
    if (num.Compare(den) < 0) return;
    const int shift = num.BitLength() - den.BitLength();
    BigUint d = den;
    d.ShiftLeft(shift);
    for (int i = shift; i >= 0; --i) {
      if (remainder->Compare(d) >= 0) {
        remainder->Sub(d);
        quotient->SetBit(i);
      }
      d.ShiftRight1();
    }
  }

 private:
  std::array<uint64_t, N> limbs_;
};

// Returns round_half_up(num / den) when it fits in u128, else nullopt.
// REQUIRES: den != 0, and den.BitLength() < N * 64 - 1.
template <int N>
std::optional<u128> DivRoundHalfUp(const BigUint<N>& num, const BigUint<N>& den) {
  BigUint<N> q;
  BigUint<N> r;
  BigUint<N>::DivMod(num, den, &q, &r);
  r.ShiftLeft(1);
  if (!q.FitsU128()) return std::nullopt;
  u128 result = q.ToU128();
  if (r.Compare(den) >= 0) {
    if (result == ~static_cast<u128>(0)) return std::nullopt;
    ++result;
  }
  return result;
}

// Returns round_half_up(num / den) for u128 operands (no overflow possible:
// the remainder is < den <= 2^127 so doubling it fits).
u128 DivRoundHalfUp128(u128 num, u128 den) {
  u128 q = num / den;
  const u128 r = num % den;
  if (r >= den - r) ++q;
  return q;
}

// Divides factors of 10^N off `*v` while it has them, adding N to `*count`.
template <int N>
void StripPow10(uint64_t* v, int* count) {
  constexpr uint64_t kP = static_cast<uint64_t>(kPowersOf10[N]);
  while (*v % kP == 0) {
    *v /= kP;
    *count += N;
  }
}

// How many of the 18 fractional digits of `frac` (units of 10^-18, below
// 10^18) remain once its trailing zeros are dropped; 0 for 0.
int SignificantFractionDigits(uint64_t frac) {
  if (frac == 0) return 0;
  int zeros = 0;
  StripPow10<16>(&frac, &zeros);
  StripPow10<8>(&frac, &zeros);
  StripPow10<4>(&frac, &zeros);
  StripPow10<2>(&frac, &zeros);
  StripPow10<1>(&frac, &zeros);
  return Decimal::kScale - zeros;
}

// Divides the decimal zeros off the end of `*m` and returns how many there
// were. REQUIRES: *m != 0.
int StripTens(u128* m) {
  int count = 0;
  constexpr u128 k64 = static_cast<u128>(1) << 64;
  while (*m >= k64 && *m % Pow10(16) == 0) {
    *m /= Pow10(16);
    count += 16;
  }
  if (*m >= k64) {
    for (int step : {8, 4, 2, 1}) {
      while (*m % Pow10(step) == 0) {
        *m /= Pow10(step);
        count += step;
      }
    }
    return count;
  }
  uint64_t v = static_cast<uint64_t>(*m);
  StripPow10<16>(&v, &count);
  StripPow10<8>(&v, &count);
  StripPow10<4>(&v, &count);
  StripPow10<2>(&v, &count);
  StripPow10<1>(&v, &count);
  *m = v;
  return count;
}

// Returns round_half_up(prod(magnitudes) × 10^exp10 / divisor) when every
// intermediate fits in 128 bits, which is the usual case once the decimal
// zeros of the operands are cancelled (50000 × 0.17325 × 60 / 365 becomes
// 5 × 17325 × 6 × 10^2 / 365); nullopt means "use the wide path".
// REQUIRES: no magnitude and not the divisor is 0.
std::optional<u128> FastProductQuotient(const u128* magnitudes, size_t n, u128 divisor, int exp10) {
  u128 num = 1;
  for (size_t i = 0; i < n; ++i) {
    u128 m = magnitudes[i];
    exp10 += StripTens(&m);
    if (__builtin_mul_overflow(num, m, &num)) return std::nullopt;
  }
  u128 den = divisor;
  exp10 -= StripTens(&den);
  constexpr int kMaxPow10 = 38;
  if (exp10 > kMaxPow10 || exp10 < -kMaxPow10) return std::nullopt;
  const bool overflow = exp10 >= 0 ? __builtin_mul_overflow(num, Pow10(exp10), &num)
                                   : __builtin_mul_overflow(den, Pow10(-exp10), &den);
  if (overflow) return std::nullopt;
  return DivRoundHalfUp128(num, den);
}

// Parses decimal text (and an exponent when `allow_exponent`) into raw units.
std::optional<Decimal> ParseDecimalText(std::string_view text, bool allow_exponent) {
  size_t i = 0;
  const size_t n = text.size();
  bool negative = false;
  if (i < n && text[i] == '-') {
    negative = true;
    ++i;
  }
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const size_t int_begin = i;
  while (i < n && is_digit(text[i])) ++i;
  const std::string_view int_part = text.substr(int_begin, i - int_begin);
  if (int_part.empty()) return std::nullopt;
  std::string_view frac_part;
  if (i < n && text[i] == '.') {
    ++i;
    const size_t frac_begin = i;
    while (i < n && is_digit(text[i])) ++i;
    frac_part = text.substr(frac_begin, i - frac_begin);
    if (frac_part.empty()) return std::nullopt;
  }
  int64_t exponent = 0;
  if (allow_exponent && i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < n && (text[i] == '+' || text[i] == '-')) {
      exp_negative = text[i] == '-';
      ++i;
    }
    const size_t exp_begin = i;
    while (i < n && is_digit(text[i])) {
      // Saturate: any exponent this large is out of range or inexact anyway,
      // unless the mantissa is zero, which the saturated value preserves.
      if (exponent < 1000000) exponent = exponent * 10 + (text[i] - '0');
      ++i;
    }
    if (i == exp_begin) return std::nullopt;
    if (exp_negative) exponent = -exponent;
  }
  if (i != n) return std::nullopt;

  // The value is digits(int_part ++ frac_part) × 10^(exponent - |frac_part|).
  // Drop leading and trailing zeros of the digit string, then scale to units.
  const size_t total = int_part.size() + frac_part.size();
  auto digit_at = [&](size_t k) {
    return k < int_part.size() ? int_part[k] : frac_part[k - int_part.size()];
  };
  size_t first = 0;
  while (first < total && digit_at(first) == '0') ++first;
  if (first == total) return Decimal();
  size_t last = total;  // one past the last significant digit
  while (digit_at(last - 1) == '0') --last;
  const int64_t exp10 =
      exponent - static_cast<int64_t>(frac_part.size()) + static_cast<int64_t>(total - last);
  const int64_t scale = exp10 + Decimal::kScale;
  if (scale < 0) return std::nullopt;  // needs more than kScale places
  if (static_cast<int64_t>(last - first) + scale > 39) return std::nullopt;
  u128 v = 0;
  constexpr u128 kMaxU = ~static_cast<u128>(0);
  for (size_t k = first; k < last; ++k) {
    const unsigned d = static_cast<unsigned>(digit_at(k) - '0');
    if (v > (kMaxU - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  for (int64_t s = 0; s < scale; ++s) {
    if (v > kMaxU / 10) return std::nullopt;
    v *= 10;
  }
  if (v > kMaxRawU) return std::nullopt;
  return Decimal::FromRaw(Signed(v, negative));
}

}  // namespace

Decimal Decimal::FromInt(int64_t v) { return Decimal(static_cast<__int128>(v) * kOne); }

std::optional<Decimal> Decimal::Parse(std::string_view text) {
  return ParseDecimalText(text, /*allow_exponent=*/false);
}

std::optional<Decimal> Decimal::ParseJsonNumber(std::string_view text) {
  return ParseDecimalText(text, /*allow_exponent=*/true);
}

int Decimal::FractionalDigits() const {
  // Below 10^18: 64-bit steps, not 128-bit divisions.
  return SignificantFractionDigits(static_cast<uint64_t>(Magnitude(units_) % kOneU));
}

std::optional<int64_t> Decimal::ToInt64() const {
  if (units_ % kOne != 0) return std::nullopt;
  const __int128 v = units_ / kOne;
  if (v < INT64_MIN || v > INT64_MAX) return std::nullopt;
  return static_cast<int64_t>(v);
}

Decimal Decimal::RoundHalfUp(int places) const {
  if (places < 0) Die("RoundHalfUp: negative places");
  if (places >= kScale) return *this;
  const u128 step = Pow10(kScale - places);
  u128 m = Magnitude(units_);
  const u128 r = m % step;
  m -= r;
  if (r >= step - r) {
    if (m > kMaxRawU - step) Die("RoundHalfUp: result out of range");
    m += step;
  }
  return Decimal(Signed(m, units_ < 0));
}

namespace {

// Writes `v` as exactly `width` digits, zero-padded on the left, at `p`;
// returns the end. REQUIRES: v < 10^width, width <= 20.
char* WritePadded(char* p, uint64_t v, int width) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char* q = p + width;
  for (; q - p >= 2; v /= 100) {
    q -= 2;
    std::memcpy(q, kPairs + 2 * (v % 100), 2);
  }
  if (q > p) *--q = static_cast<char>('0' + v % 10);
  return p + width;
}

}  // namespace

void Decimal::AppendTo(std::string* out, int min_places) const {
  if (min_places < 0) min_places = 0;
  if (min_places > kScale) min_places = kScale;
  const u128 m = Magnitude(units_);
  const u128 int_part = m / kOneU;
  // frac < 10^18 fits in 64 bits, and so does the integer part below 2^64;
  // std::to_chars takes no 128-bit value in standard C++.
  const uint64_t frac = static_cast<uint64_t>(m - int_part * kOneU);
  // '-', up to 21 integer digits (|raw| < 2^127), '.', kScale fractional digits.
  char buf[1 + 21 + 1 + kScale];
  char* p = buf;
  if (units_ < 0) *p++ = '-';
  if (int_part <= UINT64_MAX) {
    p = std::to_chars(p, buf + sizeof buf, static_cast<uint64_t>(int_part)).ptr;
  } else {
    // The digits above the low 19 fit in 64 bits too.
    constexpr uint64_t k10e19 = 10000000000000000000ull;
    const u128 high = int_part / k10e19;
    p = std::to_chars(p, buf + sizeof buf, static_cast<uint64_t>(high)).ptr;
    p = WritePadded(p, static_cast<uint64_t>(int_part - high * k10e19), 19);
  }
  // Only the digits kept are written (most amounts are cents: 2 of 18).
  const int frac_len = std::max(min_places, SignificantFractionDigits(frac));
  if (frac_len > 0) {
    *p++ = '.';
    // 10^(18 - frac_len) < 2^64: a 64-bit division, not libgcc's 128-bit one.
    const uint64_t kept = frac / static_cast<uint64_t>(Pow10(kScale - frac_len));
    p = WritePadded(p, kept, frac_len);  // zero-padded to exactly frac_len digits
  }
  out->append(buf, static_cast<size_t>(p - buf));
}

std::string Decimal::ToString(int min_places) const {
  std::string out;
  AppendTo(&out, min_places);
  return out;
}

Decimal operator+(Decimal a, Decimal b) {
  __int128 r;
  if (__builtin_add_overflow(a.units_, b.units_, &r) || r < -Decimal::kMaxRaw) {
    Die("operator+: result out of range");
  }
  return Decimal(r);
}

Decimal operator-(Decimal a, Decimal b) {
  __int128 r;
  if (__builtin_sub_overflow(a.units_, b.units_, &r) || r < -Decimal::kMaxRaw) {
    Die("operator-: result out of range");
  }
  return Decimal(r);
}

Decimal operator*(Decimal a, Decimal b) {
  const bool negative = (a.units_ < 0) != (b.units_ < 0);
  const u128 x = Magnitude(a.units_);
  const u128 y = Magnitude(b.units_);
  u128 m;
  u128 product;
  if (!__builtin_mul_overflow(x, y, &product)) {
    m = DivRoundHalfUp128(product, kOneU);
  } else {
    BigUint<4> num = BigUint<4>::FromU128(x);
    if (!num.Mul(BigUint<4>::FromU128(y))) Die("operator*: overflow");  // unreachable: 256 bits
    const std::optional<u128> q = DivRoundHalfUp(num, BigUint<4>::FromU128(kOneU));
    if (!q) Die("operator*: result out of range");
    m = *q;
  }
  if (m > kMaxRawU) Die("operator*: result out of range");
  return Decimal(Signed(m, negative));
}

Decimal operator/(Decimal a, Decimal b) {
  if (b.units_ == 0) Die("operator/: division by zero");
  const bool negative = (a.units_ < 0) != (b.units_ < 0);
  const u128 x = Magnitude(a.units_);
  const u128 y = Magnitude(b.units_);
  u128 m;
  if (x <= ~static_cast<u128>(0) / kOneU) {
    m = DivRoundHalfUp128(x * kOneU, y);
  } else {
    BigUint<4> num = BigUint<4>::FromU128(x);
    if (!num.MulSmall(static_cast<uint64_t>(kOneU))) Die("operator/: overflow");  // unreachable
    const std::optional<u128> q = DivRoundHalfUp(num, BigUint<4>::FromU128(y));
    if (!q) Die("operator/: result out of range");
    m = *q;
  }
  if (m > kMaxRawU) Die("operator/: result out of range");
  return Decimal(Signed(m, negative));
}

std::optional<Decimal> TryExactProductQuotient(std::initializer_list<Decimal> factors,
                                               Decimal divisor, int places) {
  constexpr int kMaxFactors = 4;
  if (factors.size() > kMaxFactors) Die("ExactProductQuotient: more than 4 factors");
  if (divisor.raw() == 0) Die("ExactProductQuotient: division by zero");
  if (places < 0 || places > Decimal::kScale) Die("ExactProductQuotient: places out of 0..18");

  bool negative = divisor.raw() < 0;
  std::array<u128, kMaxFactors> magnitudes{};
  size_t n = 0;
  for (Decimal f : factors) {
    if (f.raw() == 0) return Decimal();
    negative = negative != (f.raw() < 0);
    magnitudes[n++] = Magnitude(f.raw());
  }
  const u128 divisor_magnitude = Magnitude(divisor.raw());
  // With factors F_i / 10^18 and divisor D / 10^18, the result in units of
  // 10^-places is prod(F_i) × 10^(18 + places - 18 n) / D.
  const int exp10 = Decimal::kScale + places - Decimal::kScale * static_cast<int>(n);
  std::optional<u128> q = FastProductQuotient(magnitudes.data(), n, divisor_magnitude, exp10);
  if (!q) {
    // Limbs: 4 factors of < 2^127 need 508 bits; the scaled divisor < 2^127 ×
    // 10^54 needs 307 bits; 12 limbs (768 bits) leave ample headroom.
    using Big = BigUint<12>;
    Big num = Big::FromU128(1);
    for (size_t i = 0; i < n; ++i) {
      if (!num.Mul(Big::FromU128(magnitudes[i]))) Die("ExactProductQuotient: overflow");
    }
    Big den = Big::FromU128(divisor_magnitude);
    const bool ok = exp10 >= 0 ? num.MulPow10(exp10) : den.MulPow10(-exp10);
    if (!ok) Die("ExactProductQuotient: overflow");  // unreachable by the sizing above
    q = DivRoundHalfUp(num, den);
    if (!q) return std::nullopt;
  }
  const u128 step = Pow10(Decimal::kScale - places);
  if (*q > kMaxRawU / step) return std::nullopt;
  return Decimal::FromRaw(Signed(*q * step, negative));
}

Decimal ExactProductQuotient(std::initializer_list<Decimal> factors, Decimal divisor, int places) {
  const std::optional<Decimal> r = TryExactProductQuotient(factors, divisor, places);
  if (!r) Die("ExactProductQuotient: result out of range");
  return *r;
}

}  // namespace pricing::engine
