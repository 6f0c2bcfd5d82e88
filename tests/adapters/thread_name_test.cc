// Thread names as the kernel reports them (/proc/self/task/*/comm).
#include "adapters/thread_name.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <initializer_list>
#include <set>
#include <string>
#include <thread>

#include "adapters/audit_spool.h"
#include "adapters/http_server.h"
#include "audit_test_util.h"
#include "test_http_server.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

// The names of this process's threads.
std::multiset<std::string> ThreadNames() {
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  return names;
}

// The names once all of `wanted` are among them (threads name themselves as
// they start), or after 5 s.
std::multiset<std::string> ThreadNamesOnce(std::initializer_list<std::string> wanted) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  auto names = ThreadNames();
  auto all = [&] {
    for (const std::string& name : wanted) {
      if (names.count(name) == 0) return false;
    }
    return true;
  };
  while (!all() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    names = ThreadNames();
  }
  return names;
}

TEST(ThreadName, NamesTheCallingThreadCutToFifteenBytes) {
  std::promise<std::string> seen;
  std::thread t([&] {
    NameThisThread("a-name-longer-than-fifteen");
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    seen.set_value(name);
  });
  t.join();
  EXPECT_EQ(seen.get_future().get(), "a-name-longer-t");
}

TEST(ThreadName, KeepsTheIndexWhenThePrefixIsLong) {
  EXPECT_EQ(IndexedThreadName("blocking", 3), "blocking-3");
  EXPECT_EQ(IndexedThreadName("a-very-long-prefix", 12), "a-very-long--12");
  EXPECT_EQ(IndexedThreadName("x", 7).size(), 3u);
}

TEST(ThreadName, NamesEveryThreadOfAPoolOnce) {
  NamedThreadPool pool(5, "pool");
  const auto names = ThreadNames();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(names.count("pool-" + std::to_string(i)), 1u) << "pool-" << i;
  }
  EXPECT_EQ(names.count("pool-5"), 0u);
  // The pool still runs work after naming.
  std::promise<void> ran;
  boost::asio::post(pool, [&] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(5s), std::future_status::ready);
  pool.join();
}

TEST(ThreadName, NamesTheAuditSpoolsThreads) {
  testing::ScratchDir dir;
  AuditSpoolOptions o;
  o.directory = dir.path();
  auto spool =
      AuditSpool::Open(o, [](const std::vector<AuditRecord>&) -> Result<void> { return {}; });
  ASSERT_TRUE(spool) << spool.error().message;
  const auto names = ThreadNamesOnce({"audit-writer", "audit-drainer"});
  EXPECT_EQ(names.count("audit-writer"), 1u);
  EXPECT_EQ(names.count("audit-drainer"), 1u);
}

TEST(ThreadName, NamesTheHttpServersEventLoops) {
  HttpServer server(
      LocalServerOptions(2), [](HttpRequest&&, Responder) {},
      [](int, std::string_view, std::string_view) { return std::string(); });
  ASSERT_EQ(server.Start(), "");
  const auto names = ThreadNamesOnce({"http-loop-0", "http-loop-1"});
  EXPECT_EQ(names.count("http-loop-0"), 1u);
  EXPECT_EQ(names.count("http-loop-1"), 1u);
  server.Stop();
}

}  // namespace
}  // namespace pricing::engine
