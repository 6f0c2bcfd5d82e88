// Hands freed heap back to the system after a burst of work (a list of
// thousands of objects, a thousand reconciles after a start), so the resident
// size reflects the cache, not the biggest burst so far. glibc keeps freed
// pages below live allocations; malloc_trim releases every whole free page.
#pragma once

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#include <malloc.h>
#endif

namespace pricing::op {

inline void ReleaseFreeMemory() {
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  // (Under AddressSanitizer glibc's heap is not the one in use: trimming it
  // walks arenas that were never set up.)
  ::malloc_trim(0);
#endif
}

}  // namespace pricing::op
