// Thread names, so that `top -H`, `perf` and `gdb` tell the engine's threads
// apart: http-loop-N, http-client-N, blocking-N, audit-writer, audit-drainer,
// cache-refresh, activity-flush, signals, cpprest-N. Linux keeps at most 15 bytes.
// A thread started later by a named one inherits its name (a library's helper
// thread started from a cpprest pool thread shows as that pool thread).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>
#include <string_view>

namespace pricing::engine {

// Names the calling thread `name`, cut to 15 bytes.
void NameThisThread(std::string_view name);

// "<prefix>-<index>", cut to 15 bytes from the front of the prefix so the
// index survives.
std::string IndexedThreadName(std::string_view prefix, int index);

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
