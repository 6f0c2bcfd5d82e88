// Named threads of the engine's Boost.Asio pools: http-loop-N, http-client-N,
// blocking-N, cpprest-N. Single threads (audit-writer, audit-drainer,
// cache-refresh, activity-flush, signals) name themselves with
// common/thread_name.h. A library's helper thread started from a cpprest pool
// thread shows as that pool thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>
#include <string_view>

#include "common/thread_name.h"

namespace pricing::engine {

// Names each of the `threads` threads that run `executor` "<prefix>-<i>" and
// returns once all are named. REQUIRES: exactly that many threads run it, and
// they are idle (each takes one naming task and holds it until all have).
void NameThreadsOf(boost::asio::any_io_executor executor, int threads, std::string_view prefix);

// A boost::asio::thread_pool whose threads are named "<prefix>-<i>". The
// constructor returns once every thread has taken its name.
class NamedThreadPool : public boost::asio::thread_pool {
 public:
  NamedThreadPool(int threads, std::string_view prefix);
};

}  // namespace pricing::engine
