// Structured JSON logs on stdout: one object per line with ts, level, msg and
// any extra string fields. Lines are written with one write() so concurrent
// threads never interleave within a line.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pricing::engine {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string_view>;

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Returns a random (version 4) UUID in canonical text form.
std::string NewUuid();

// Returns a time-ordered (version 7, RFC 9562 §5.7) UUID in canonical text
// form: 48 bits of Unix time in milliseconds, then 74 random bits. Used for
// calculation ids, the primary key of audit_log: ids issued later sort later,
// so inserts land on the index's newest pages instead of random ones.
std::string NewTimeOrderedUuid();

// As above at the given Unix time in milliseconds (for tests).
std::string TimeOrderedUuidAt(uint64_t unix_ms);

// The canonical 8-4-4-4-12 lower-case hex text of the 128 bits hi:lo.
std::string UuidText(uint64_t hi, uint64_t lo);

}  // namespace pricing::engine
