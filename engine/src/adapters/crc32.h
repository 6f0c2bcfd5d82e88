// CRC-32 (the IEEE/zlib polynomial, reflected 0xEDB88320) of the audit
// spool's frames. On x86-64 with PCLMULQDQ, buffers of 64 bytes and more are
// folded 64 bytes at a time with carry-less multiplies; the rest, and every
// buffer on other CPUs, goes through slice-by-8 tables. Both give the same
// value (tests hold both to a bit-at-a-time CRC).
#pragma once

#include <cstdint>
#include <string_view>

namespace pricing::engine {

uint32_t Crc32(std::string_view data);

// The table-driven CRC alone, whatever the CPU.
uint32_t Crc32Portable(std::string_view data);

// Whether Crc32 folds with PCLMULQDQ on this CPU.
bool Crc32UsesCarryLessMultiply();

}  // namespace pricing::engine
