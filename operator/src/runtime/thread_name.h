// Thread names, so that `top -H`, `perf` and `gdb` tell the operator's threads
// apart: watch-<resource>, worker-N, leader-elect, ops-http. Linux keeps at
// most 15 bytes; a longer name is cut.
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace pricing::op {

inline void NameThisThread(std::string_view name) {
  const std::string text(name.substr(0, 15));
  pthread_setname_np(pthread_self(), text.c_str());
}

}  // namespace pricing::op
