#include "adapters/thread_name.h"

#include <boost/asio/post.hpp>
#include <latch>
#include <memory>
#include <string>

namespace pricing::engine {

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
