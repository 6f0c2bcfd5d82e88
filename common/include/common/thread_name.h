// Thread names, so that `top -H`, `perf` and `gdb` tell a program's threads
// apart (the engine's http-loop-N, blocking-N, audit-writer, ...; the
// operator's watch-<resource>, worker-N, leader-elect, ops-http). Linux keeps
// at most 15 bytes; a longer name is cut. A thread started later by a named
// one inherits its name.
#pragma once

#include <string>
#include <string_view>

namespace pricing {

// Names the calling thread `name`, cut to 15 bytes.
void NameThisThread(std::string_view name);

// "<prefix>-<index>", cut to 15 bytes from the front of the prefix so the
// index survives.
std::string IndexedThreadName(std::string_view prefix, int index);

}  // namespace pricing
