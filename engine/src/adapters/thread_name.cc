#include "adapters/thread_name.h"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <latch>
#include <memory>
#include <string>

namespace pricing::engine {

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

void NameThreadsOf(boost::asio::any_io_executor executor, int threads, std::string_view prefix) {
  // Each task holds its thread until all have started, so every thread runs
  // exactly one of them. Shared: a task may still be leaving the latch when
  // this returns.
  auto all_named = std::make_shared<std::latch>(threads);
  for (int i = 0; i < threads; ++i) {
    boost::asio::post(executor, [all_named, name = IndexedThreadName(prefix, i)] {
      NameThisThread(name);
      all_named->arrive_and_wait();
    });
  }
  all_named->wait();
}

NamedThreadPool::NamedThreadPool(int threads, std::string_view prefix)
    : boost::asio::thread_pool(static_cast<size_t>(threads)) {
  NameThreadsOf(get_executor(), threads, prefix);
}

}  // namespace pricing::engine
