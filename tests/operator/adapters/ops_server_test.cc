#include "adapters/ops_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <random>
#include <string>

namespace pricing::op {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A blocking client connection whose reads give up after two seconds, so a
// server that never answers fails the test instead of hanging it.
class Client {
 public:
  explicit Client(int port) : socket_(ioc_) {
    socket_.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
    timeval tv{2, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  http::response<http::string_body> Send(http::verb method, const std::string& target,
                                         bool keep_alive = true,
                                         const std::string& authorization = "") {
    http::request<http::string_body> request(method, target, 11);
    request.set(http::field::host, "127.0.0.1");
    if (!authorization.empty()) request.set(http::field::authorization, authorization);
    request.keep_alive(keep_alive);
    http::write(socket_, request);
    http::response_parser<http::string_body> parser;
    parser.skip(method == http::verb::head);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }

  void SendRaw(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Returns everything the server sends until it closes the connection.
  std::string ReadToClose() {
    std::string out;
    char buf[4096];
    for (;;) {
      beast::error_code ec;
      const size_t n = socket_.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) return out;
    }
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

class OpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<OpsServer>(
        "127.0.0.1:0",
        OpsServer::Handlers{[this] { return healthy_.load(); }, [this] { return ready_.load(); },
                            [] { return std::string("# TYPE up gauge\nup 1\n"); }});
    auto port = server_->Start();
    ASSERT_TRUE(port.has_value()) << ToString(port.error());
    port_ = *port;
    ASSERT_GT(port_, 0);
  }

  std::atomic<bool> healthy_{true};
  std::atomic<bool> ready_{true};
  std::unique_ptr<OpsServer> server_;
  int port_ = 0;
};

TEST_F(OpsServerTest, HealthzAndReadyzAnswerOk) {
  Client client(port_);
  auto healthz = client.Send(http::verb::get, "/healthz");
  EXPECT_EQ(healthz.result_int(), 200);
  EXPECT_EQ(healthz.body(), "ok");
  auto readyz = client.Send(http::verb::get, "/readyz?verbose");
  EXPECT_EQ(readyz.result_int(), 200);
  EXPECT_EQ(readyz.body(), "ok");
}

TEST_F(OpsServerTest, Answers503WhenNotReadyOrNotHealthy) {
  ready_ = false;
  Client client(port_);
  auto readyz = client.Send(http::verb::get, "/readyz");
  EXPECT_EQ(readyz.result_int(), 503);
  EXPECT_EQ(readyz.body(), "not ready");
  EXPECT_EQ(client.Send(http::verb::get, "/healthz").result_int(), 200);
  healthy_ = false;
  EXPECT_EQ(client.Send(http::verb::get, "/healthz").result_int(), 503);
  ready_ = true;
  EXPECT_EQ(client.Send(http::verb::get, "/readyz").result_int(), 200);
}

TEST_F(OpsServerTest, MetricsServesTheExpositionText) {
  Client client(port_);
  auto metrics = client.Send(http::verb::get, "/metrics");
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_EQ(metrics.body(), "# TYPE up gauge\nup 1\n");
  EXPECT_EQ(metrics[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
}

TEST(OpsServer, WithATokenMetricsNeedsItAndTheProbesDoNot) {
  OpsServer::Handlers handlers;
  handlers.metrics = [] { return std::string("up 1\n"); };
  handlers.metrics_token = "s3cr3t-token-of-forty-bytes-0123456789ab";
  OpsServer server("127.0.0.1:0", handlers);
  auto port = server.Start();
  ASSERT_TRUE(port.has_value()) << ToString(port.error());
  Client client(*port);
  for (const std::string& auth : {std::string(), std::string("Bearer wrong"),
                                 std::string("Bearer s3cr3t-token-of-forty-bytes-0123456789a"),
                                 std::string("Basic czNjcjN0"),
                                 std::string("Bearer s3cr3t-token-of-forty-bytes-0123456789abc")}) {
    auto refused = client.Send(http::verb::get, "/metrics", true, auth);
    EXPECT_EQ(refused.result_int(), 401) << auth;
    EXPECT_EQ(refused.body().find("up 1"), std::string::npos);
    EXPECT_NE(std::string(refused[http::field::www_authenticate]).find("Bearer"),
              std::string::npos);
  }
  auto served = client.Send(http::verb::get, "/metrics", true,
                            "bearer s3cr3t-token-of-forty-bytes-0123456789ab");
  EXPECT_EQ(served.result_int(), 200);
  EXPECT_EQ(served.body(), "up 1\n");
  EXPECT_EQ(client.Send(http::verb::get, "/healthz").result_int(), 200);
  EXPECT_EQ(client.Send(http::verb::get, "/readyz").result_int(), 200);
  server.Stop();
}

TEST_F(OpsServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  Client client(port_);
  EXPECT_EQ(client.Send(http::verb::get, "/").result_int(), 404);
  EXPECT_EQ(client.Send(http::verb::get, "/healthz/extra").result_int(), 404);
  EXPECT_EQ(client.Send(http::verb::post, "/nothing").result_int(), 404);
  auto post = client.Send(http::verb::post, "/metrics");
  EXPECT_EQ(post.result_int(), 405);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
}

TEST_F(OpsServerTest, HeadAnswersHeadersWithoutABody) {
  Client client(port_);
  auto head = client.Send(http::verb::head, "/metrics");
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head[http::field::content_length], "21");
  EXPECT_TRUE(head.body().empty());
  auto get = client.Send(http::verb::get, "/healthz");
  EXPECT_EQ(get.body(), "ok");
}

TEST_F(OpsServerTest, KeepAliveServesManyRequestsOnOneConnectionAndHonoursClose) {
  Client client(port_);
  for (int i = 0; i < 20; ++i) {
    auto response = client.Send(http::verb::get, i % 2 ? "/healthz" : "/metrics");
    ASSERT_EQ(response.result_int(), 200);
    EXPECT_TRUE(response.keep_alive());
  }
  auto last = client.Send(http::verb::get, "/readyz", /*keep_alive=*/false);
  EXPECT_EQ(last.result_int(), 200);
  EXPECT_FALSE(last.keep_alive());
  EXPECT_EQ(client.ReadToClose(), "");
}

TEST_F(OpsServerTest, GarbageRequestGets400AndTheServerCarriesOn) {
  {
    Client client(port_);
    client.SendRaw(std::string("\x01\x02 not http at all\r\n\r\n", 22));
    EXPECT_EQ(client.ReadToClose().rfind("HTTP/1.1 400", 0), 0u);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 100; ++i) {
    Client client(port_);
    std::string bytes(1 + rng() % 300, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (i % 3 == 0) bytes = "GET /" + bytes + " HTTP/1.1\r\n" + bytes + "\r\n\r\n";
    client.SendRaw(bytes);
  }
  Client client(port_);
  EXPECT_EQ(client.Send(http::verb::get, "/healthz").result_int(), 200);
}

TEST_F(OpsServerTest, OversizedRequestIsRefused) {
  Client client(port_);
  client.SendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') +
                 "\r\n\r\n");
  EXPECT_EQ(client.ReadToClose().rfind("HTTP/1.1 413", 0), 0u);
  Client big_body(port_);
  big_body.SendRaw("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                   std::string(32 * 1024, 'b'));
  EXPECT_EQ(big_body.ReadToClose().rfind("HTTP/1.1 413", 0), 0u);
}

TEST_F(OpsServerTest, AddressInUseIsAnErrorNamingTheAddress) {
  const std::string address = "127.0.0.1:" + std::to_string(port_);
  OpsServer second(address, {});
  auto port = second.Start();
  ASSERT_FALSE(port.has_value());
  EXPECT_NE(port.error().message.find("\"" + address + "\""), std::string::npos)
      << port.error().message;
}

TEST(OpsServer, MalformedAddressesAreErrorsNamingTheAddress) {
  for (const char* address : {"8080", "127.0.0.1:http", "127.0.0.1:70000", "127.0.0.1:", "::1:80",
                              "no-such-host.invalid:0", "256.1.1.1:0"}) {
    OpsServer server(address, {});
    auto port = server.Start();
    ASSERT_FALSE(port.has_value()) << address;
    EXPECT_NE(port.error().message.find(std::string("\"") + address + "\""), std::string::npos)
        << port.error().message;
  }
}

TEST(OpsServer, EmptyHostListensOnEveryInterface) {
  OpsServer any(":0", {});
  auto port = any.Start();
  ASSERT_TRUE(port.has_value()) << ToString(port.error());
  Client client(*port);
  EXPECT_EQ(client.Send(http::verb::get, "/healthz").result_int(), 200);
}

TEST_F(OpsServerTest, StopIsPromptWithIdleAndHalfSentConnectionsOpen) {
  Client idle(port_);
  EXPECT_EQ(idle.Send(http::verb::get, "/healthz").result_int(), 200);
  Client half(port_);
  half.SendRaw("GET /healthz HTTP/1.1\r\nHost:");
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(idle.ReadToClose(), "");
  server_->Stop();
}

TEST_F(OpsServerTest, CanStartAgainAfterStop) {
  server_->Stop();
  auto port = server_->Start();
  ASSERT_TRUE(port.has_value()) << ToString(port.error());
  Client client(*port);
  EXPECT_EQ(client.Send(http::verb::get, "/readyz").result_int(), 200);
  EXPECT_FALSE(server_->Start().has_value());
}

}  // namespace
}  // namespace pricing::op
