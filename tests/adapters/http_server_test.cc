// HttpServer's graceful stop over real loopback sockets: a request already
// read is answered (with "Connection: close") before Stop() returns, an idle
// keep-alive connection is closed at once, the listener refuses new
// connections while the stop waits, and a response that never comes delays
// the stop by the drain timeout and no more. And a response's head: no header
// value a handler sets can end its line early.
#include "adapters/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "test_http_server.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

// A blocking client socket; -1 when the connection is refused.
int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{30, 0};  // a hung server fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void Send(int fd, const std::string& path) {
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
}

// Reads one response (the head and a Content-Length body).
std::string ReadResponse(int fd) {
  std::string in;
  char buf[4096];
  for (;;) {
    size_t head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t cl = in.find("Content-Length: ");
      size_t length = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
      if (in.size() >= head_end + 4 + length) return in.substr(0, head_end + 4 + length);
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return in;
    in.append(buf, static_cast<size_t>(n));
  }
}

// True when the peer closed the connection (recv returns 0 or a reset).
bool ClosedByPeer(int fd) {
  char c;
  ssize_t n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

TEST(HttpServerStop, AnswersARequestAlreadyReadThenClosesItsConnection) {
  TestServer s(0, 2, 60s);
  int fd = Connect(s.port());
  ASSERT_GE(fd, 0);
  Send(fd, "/hold");
  ASSERT_TRUE(s.WaitHeld(1));

  auto stopped = std::async(std::launch::async, [&] { s.server().Stop(); });
  // The stop waits for the held response.
  EXPECT_EQ(stopped.wait_for(300ms), std::future_status::timeout);
  // While it waits, the listener takes no new connection.
  int late = Connect(s.port());
  EXPECT_LT(late, 0) << "a connection was accepted during the stop";
  if (late >= 0) ::close(late);

  s.ReleaseHeld();
  const std::string res = ReadResponse(fd);
  EXPECT_NE(res.find("HTTP/1.1 200"), std::string::npos) << res;
  EXPECT_NE(res.find("\r\nConnection: close\r\n"), std::string::npos) << res;
  EXPECT_NE(res.find("released"), std::string::npos) << res;
  EXPECT_TRUE(ClosedByPeer(fd));
  EXPECT_EQ(stopped.wait_for(30s), std::future_status::ready);
  ::close(fd);
}

TEST(HttpServerStop, ClosesIdleKeepAliveConnectionsWithoutWaitingForThem) {
  TestServer s(0, 2, 60s);
  std::vector<int> fds;
  for (int i = 0; i < 6; ++i) {
    int fd = Connect(s.port());
    ASSERT_GE(fd, 0);
    Send(fd, "/ok");
    const std::string res = ReadResponse(fd);
    ASSERT_NE(res.find("HTTP/1.1 200"), std::string::npos) << res;
    ASSERT_EQ(res.find("Connection: close"), std::string::npos) << res;  // kept alive
    fds.push_back(fd);
  }
  // Idle keep-alive connections do not hold the stop for the 60 s timeout.
  auto stopped = std::async(std::launch::async, [&] { s.server().Stop(); });
  EXPECT_EQ(stopped.wait_for(20s), std::future_status::ready);
  for (int fd : fds) {
    EXPECT_TRUE(ClosedByPeer(fd));
    ::close(fd);
  }
}

TEST(HttpServerStop, AnswersTheBusyAndClosesTheIdleInOneStop) {
  TestServer s(0, 2, 60s);
  int busy = Connect(s.port());
  int idle = Connect(s.port());
  ASSERT_GE(busy, 0);
  ASSERT_GE(idle, 0);
  Send(idle, "/ok");
  ASSERT_NE(ReadResponse(idle).find("HTTP/1.1 200"), std::string::npos);
  Send(busy, "/hold");
  ASSERT_TRUE(s.WaitHeld(1));

  auto stopped = std::async(std::launch::async, [&] { s.server().Stop(); });
  EXPECT_TRUE(ClosedByPeer(idle));  // closed while the busy one still waits
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout);
  s.ReleaseHeld();
  const std::string res = ReadResponse(busy);
  EXPECT_NE(res.find("released"), std::string::npos) << res;
  EXPECT_EQ(stopped.wait_for(30s), std::future_status::ready);
  ::close(busy);
  ::close(idle);
}

TEST(HttpServerStop, GivesUpOnAResponseThatNeverComesAfterTheDrainTimeout) {
  TestServer s(0, 2, 400ms);
  int fd = Connect(s.port());
  ASSERT_GE(fd, 0);
  Send(fd, "/hold");
  ASSERT_TRUE(s.WaitHeld(1));
  auto stopped = std::async(std::launch::async, [&] { s.server().Stop(); });
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout);  // still draining
  EXPECT_EQ(stopped.wait_for(20s), std::future_status::ready);      // then gives up
  // A responder called after the stop is harmless (the destructor releases it).
  ::close(fd);
}

TEST(HttpServerStop, AServerWithNoConnectionsStopsAtOnce) {
  TestServer s(0, 2, 60s);
  auto stopped = std::async(std::launch::async, [&] { s.server().Stop(); });
  EXPECT_EQ(stopped.wait_for(20s), std::future_status::ready);
  s.server().Stop();  // idempotent
}

// A handler's header values and content type are its own text, but none of
// them may end its line early: CR and LF are dropped, the rest is kept whole.
TEST(HttpServerResponse, HeaderValuesCannotSplitTheResponse) {
  HttpServer server(
      LocalServerOptions(),
      [](HttpRequest&&, Responder respond) {
        HttpResponse res;
        res.body = "ok";
        res.content_type = "text/plain\r\nX-Injected: 1";
        res.headers.emplace_back("X-Id\n", "\rabc\r\n\r\nSet-Cookie: s=1\n");
        res.headers.emplace_back("X-Plain", "a b;c=d");
        respond(std::move(res));
      },
      [](int, std::string_view code, std::string_view) { return std::string(code); });
  ASSERT_EQ(server.Start(), "");
  int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  Send(fd, "/");
  const std::string res = ReadResponse(fd);
  ::close(fd);
  const size_t head_end = res.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << res;
  const std::string head = res.substr(0, head_end + 2);
  EXPECT_NE(head.find("\r\nContent-Type: text/plainX-Injected: 1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Id: abcSet-Cookie: s=1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Plain: a b;c=d\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nContent-Length: 2\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nX-Injected"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nSet-Cookie"), std::string::npos) << head;
  EXPECT_EQ(res.substr(head_end + 4), "ok");
  // Every line of the head ends in CR LF, and no CR or LF stands alone.
  size_t lines = 0;
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r') {
      ASSERT_EQ(head[i + 1], '\n') << head;
      ++lines;
    } else if (head[i] == '\n') {
      ASSERT_EQ(head[i - 1], '\r') << head;
    }
  }
  EXPECT_EQ(lines, 6u) << head;  // status, Server, Content-Type, Content-Length, X-Id, X-Plain
  server.Stop();
}


// The read deadline holds however the bytes of a request trickle in. Clients
// that keep sending a byte of a head that never ends get 408 at the deadline,
// round after round: the timer often fires while a read's completion is
// already queued (nothing then for its cancel to stop), and the next read
// must not start as if no deadline had passed, or that client waits forever.
TEST(HttpServerDeadline, ATrickledHeadGets408AtTheDeadlineWhateverTheTiming) {
  TestServer s(0, 1, 10s, 20ms);
  constexpr int kClients = 32;
  const std::string head = "GET /slow HTTP/1.1\r\nHost: t\r\nX-Slow: ";
  struct Client {
    int fd = -1;
    std::chrono::steady_clock::time_point since;
    int answers_before = 0;  // answers to all clients when this one connected
  };
  int answered = 0;
  const auto open = [&](Client& c) {
    c.fd = Connect(s.port());
    ASSERT_GE(c.fd, 0);
    ASSERT_EQ(::send(c.fd, head.data(), head.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(head.size()));
    c.since = std::chrono::steady_clock::now();
    c.answers_before = answered;
  };
  std::vector<Client> clients(kClients);
  for (Client& c : clients) open(c);
  int not_408 = 0;
  int stuck = 0;
  const auto end = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < end && stuck == 0) {
    for (Client& c : clients) {
      char buf[512];
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        ++answered;
        if (n <= 0 || std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 408", 0) != 0) {
          ++not_408;
        }
        ::close(c.fd);
        open(c);
        continue;
      }
      // Unanswered for 25 deadlines while every other client was answered
      // several times over: its deadline was lost. (Measured against the
      // others, so a slow machine or a sanitizer build, which delays every
      // answer alike, does not count.)
      if (std::chrono::steady_clock::now() - c.since > 500ms &&
          answered - c.answers_before > 8 * kClients) {
        ++stuck;
      }
      ::send(c.fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    std::this_thread::sleep_for(100us);
  }
  for (Client& c : clients) ::close(c.fd);
  EXPECT_EQ(stuck, 0) << "a connection unanswered while the others were answered 8 times each";
  EXPECT_EQ(not_408, 0) << "of " << answered << " answers";
  EXPECT_GT(answered, kClients * 10) << "the deadline should have come round many times";
}

}  // namespace
}  // namespace pricing::engine
