// HttpClient against the engine's own HTTP server on a free 127.0.0.1 port:
// keep-alive reuse, the connection limit, the deadline, failing fast while the
// upstream is down and reconnecting once it is back, the one re-send after a
// stale pooled connection, and Close.
#include "adapters/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http_server.h"
#include "test_http_server.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<HttpClient> MakeClient(const std::string& url, int max_connections = 16,
                                       std::chrono::milliseconds timeout = 2s) {
  HttpClientOptions o;
  o.base_url = url;
  o.name = "calculation";
  o.max_connections = max_connections;
  o.timeout = timeout;
  o.reconnect_backoff = 100ms;
  auto c = HttpClient::Create(o);
  EXPECT_TRUE(c) << c.error().message;
  return std::move(*c);
}

HttpClientRequest Req(std::string target, std::string method = "GET", std::string body = "") {
  HttpClientRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers = {{"X-Test", "yes"}};
  return r;
}

uint16_t FreePort() {
  TestServer probe;
  return probe.port();
}

TEST(HttpClient, RejectsBadBaseUrls) {
  for (const char* url : {"https://x:1", "http://", "http://host:0", "http://host:99999",
                          "http://host/path", "ftp://x", "http://a:b:c"}) {
    HttpClientOptions o;
    o.base_url = url;
    auto c = HttpClient::Create(o);
    ASSERT_FALSE(c) << url;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidParameter);
  }
}

TEST(HttpClient, SendsAndReusesOneKeepAliveConnection) {
  TestServer server;
  auto client = MakeClient(server.url());
  for (int i = 0; i < 20; ++i) {
    auto r = client->SendSync(Req("/echo?i=" + std::to_string(i), "POST", "body"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "POST /echo?i=" + std::to_string(i) + " body");
    EXPECT_EQ(r->Header("x-echo"), "yes");
  }
  auto missing = client->SendSync(Req("/missing"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404) << "an HTTP status is an answer, not a failure";
  EXPECT_EQ(client->stats().connects, 1);
  EXPECT_EQ(client->stats().reused, 20);
}

TEST(HttpClient, QueuesCallsBeyondTheConnectionLimit) {
  TestServer server;
  auto client = MakeClient(server.url(), /*max_connections=*/2);
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 2; ++i) {
    client->Send(Req("/hold"), [&](Result<HttpClientResponse> r) {
      ok += r.has_value();
      ++done;
    });
  }
  ASSERT_TRUE(server.WaitHeld(2));
  for (int i = 0; i < 8; ++i) {
    client->Send(Req("/echo"), [&](Result<HttpClientResponse> r) {
      ok += r.has_value();
      ++done;
    });
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server.requests(), 2) << "both connections are busy";
  server.ReleaseHeld();
  for (int i = 0; i < 200 && done < 10; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(ok.load(), 10);
  EXPECT_LE(client->stats().connects, 2);
}

TEST(HttpClient, GivesUpAtTheDeadline) {
  TestServer server;
  auto client = MakeClient(server.url(), 16, /*timeout=*/150ms);
  auto started = std::chrono::steady_clock::now();
  auto r = client->SendSync(Req("/hold"));
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_EQ(r.error().message, "calculation: no answer within 150 ms");
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(client->stats().resent, 0) << "a timed-out call is never sent again";
}

TEST(HttpClient, HonoursAShorterDeadlinePerCall) {
  TestServer server;
  auto client = MakeClient(server.url(), 16, 10s);
  HttpClientRequest probe = Req("/hold");
  probe.timeout = 100ms;
  auto started = std::chrono::steady_clock::now();
  auto r = client->SendSync(probe);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "calculation: no answer within 100 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(HttpClient, ReadsAnswersToHeadAndKeepsTheConnection) {
  TestServer server;
  auto client = MakeClient(server.url());
  auto head = client->SendSync(Req("/echo", "HEAD"));
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
  auto get = client->SendSync(Req("/echo"));
  ASSERT_TRUE(get) << get.error().message;
  EXPECT_EQ(get->body, "GET /echo ");
  EXPECT_EQ(client->stats().connects, 1);
}

TEST(HttpClient, FailsFastWhileTheUpstreamIsDownAndReconnectsWhenItIsBack) {
  const uint16_t port = FreePort();
  auto client = MakeClient("http://127.0.0.1:" + std::to_string(port));
  auto r = client->SendSync(Req("/echo"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_EQ(r.error().message.rfind("calculation: cannot connect to 127.0.0.1:", 0), 0u)
      << r.error().message;
  r = client->SendSync(Req("/echo"));
  ASSERT_FALSE(r) << "within the back-off no connect is tried";

  TestServer server(port);
  std::this_thread::sleep_for(150ms);
  r = client->SendSync(Req("/echo"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST(HttpClient, ResendsOnceWhenThePooledConnectionWasClosedByARestart) {
  auto first = std::make_unique<TestServer>();
  const uint16_t port = first->port();
  auto client = MakeClient(first->url());
  ASSERT_TRUE(client->SendSync(Req("/echo")));
  first.reset();  // closes the pooled connection's other end
  TestServer second(port);
  auto r = client->SendSync(Req("/echo", "POST", "x"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "POST /echo x");
  EXPECT_EQ(client->stats().resent, 1);
  EXPECT_EQ(second.requests(), 1) << "sent once to the upstream that answered";
}

TEST(HttpClient, SpreadsCallsOverSeveralLoops) {
  TestServer server;
  HttpClientOptions o;
  o.base_url = server.url();
  o.threads = 3;
  auto client = std::move(*HttpClient::Create(o));
  for (int i = 0; i < 9; ++i) ASSERT_TRUE(client->SendSync(Req("/echo")));
  EXPECT_EQ(client->stats().connects, 3) << "one pool per loop";
}

TEST(HttpClient, SendSyncFromACallbackFailsInsteadOfDeadlocking) {
  TestServer server;
  auto client = MakeClient(server.url());
  std::promise<Result<HttpClientResponse>> inner;
  client->Send(Req("/echo"), [&](Result<HttpClientResponse>) {
    inner.set_value(client->SendSync(Req("/echo")));
  });
  auto r = inner.get_future().get();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("own loop"), std::string::npos);
}

TEST(HttpClient, CloseFailsCallsInFlightAndLaterOnes) {
  TestServer server;
  auto client = MakeClient(server.url(), 16, 10s);
  std::promise<Result<HttpClientResponse>> held;
  client->Send(Req("/hold"), [&](Result<HttpClientResponse> r) { held.set_value(std::move(r)); });
  ASSERT_TRUE(server.WaitHeld(1));
  auto started = std::chrono::steady_clock::now();
  client->Close();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  auto r = held.get_future().get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "calculation: client closed");
  r = client->SendSync(Req("/echo"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kServiceUnavailable);
}

}  // namespace
}  // namespace pricing::engine
