#include "adapters/log.h"

#include <unistd.h>

#include <chrono>
#include <random>
#include <string>

#include "engine/json_text.h"
#include "engine/time_text.h"

namespace pricing::engine {

namespace {

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string NowText() { return Rfc3339Utc(std::chrono::system_clock::now(), 6); }

}  // namespace

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  std::string line;
  line.reserve(128);
  JsonWriter w(&line);
  w.BeginObject().Key("ts").String(NowText()).Key("level").String(LevelName(level));
  w.Key("msg").String(msg);
  for (const auto& [k, v] : fields) w.Key(k).String(v);
  w.EndObject();
  line.push_back('\n');
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDOUT_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

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
