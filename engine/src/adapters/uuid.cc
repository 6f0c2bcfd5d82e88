#include "adapters/uuid.h"

#include <chrono>
#include <random>
#include <string>

#include "common/text.h"

namespace pricing::engine {

namespace {

std::mt19937_64& UuidRng() {
  thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }()};
  return rng;
}

constexpr uint64_t kVariantMask = 0x3FFFFFFFFFFFFFFFULL;  // keeps 62 random bits
constexpr uint64_t kVariantBits = 0x8000000000000000ULL;  // RFC 9562 variant 10

}  // namespace

std::string UuidText(uint64_t hi, uint64_t lo) {
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    bytes[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  // 8-4-4-4-12 digits: 4, 2, 2, 2 and 6 bytes.
  char text[36];
  char* p = WriteHex(text, bytes, 4);
  *p++ = '-';
  p = WriteHex(p, bytes + 4, 2);
  *p++ = '-';
  p = WriteHex(p, bytes + 6, 2);
  *p++ = '-';
  p = WriteHex(p, bytes + 8, 2);
  *p++ = '-';
  WriteHex(p, bytes + 10, 6);
  return std::string(text, sizeof text);
}

std::string NewUuid() {
  uint64_t hi = UuidRng()();
  uint64_t lo = UuidRng()();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & kVariantMask) | kVariantBits;
  return UuidText(hi, lo);
}

std::string TimeOrderedUuidAt(uint64_t unix_ms) {
  const uint64_t rand_a = UuidRng()() & 0xFFF;
  const uint64_t hi = ((unix_ms & 0xFFFFFFFFFFFFULL) << 16) | 0x7000 | rand_a;  // version 7
  const uint64_t lo = (UuidRng()() & kVariantMask) | kVariantBits;
  return UuidText(hi, lo);
}

std::string NewTimeOrderedUuid() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return TimeOrderedUuidAt(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count()));
}

}  // namespace pricing::engine
