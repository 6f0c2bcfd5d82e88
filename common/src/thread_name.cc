#include "common/thread_name.h"

#include <pthread.h>

namespace pricing {
namespace {
constexpr size_t kMaxNameBytes = 15;  // TASK_COMM_LEN - 1
}  // namespace

void NameThisThread(std::string_view name) {
  const std::string text(name.substr(0, kMaxNameBytes));
  pthread_setname_np(pthread_self(), text.c_str());
}

std::string IndexedThreadName(std::string_view prefix, int index) {
  const std::string suffix = "-" + std::to_string(index);
  if (suffix.size() >= kMaxNameBytes) return suffix.substr(suffix.size() - kMaxNameBytes);
  return std::string(prefix.substr(0, kMaxNameBytes - suffix.size())) + suffix;
}

}  // namespace pricing
