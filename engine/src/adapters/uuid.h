// UUIDs: random (version 4) and time-ordered (version 7) ones, as text.
#pragma once

#include <cstdint>
#include <string>

namespace pricing::engine {

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
