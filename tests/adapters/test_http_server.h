// A local HttpServer for the adapters' tests, on a free 127.0.0.1 port.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adapters/http_server.h"

namespace pricing::engine {

// Options for a server on a free 127.0.0.1 port with `threads` event loops.
inline HttpServerOptions LocalServerOptions(int threads = 1) {
  HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = threads;
  return o;
}

// A local server whose handler echoes "<method> <target> <body>" and the
// X-Test header, or holds the request when the path is /hold.
class TestServer {
 public:
  explicit TestServer(uint16_t port = 0, int threads = 1,
                      std::chrono::milliseconds drain_timeout = std::chrono::seconds(10),
                      std::chrono::milliseconds read_timeout = std::chrono::seconds(10)) {
    HttpServerOptions o = LocalServerOptions(threads);
    o.port = port;
    o.drain_timeout = drain_timeout;
    o.read_timeout = read_timeout;
    server_ = std::make_unique<HttpServer>(
        o,
        [this](HttpRequest&& req, Responder respond) {
          ++requests_;
          if (req.path == "/hold") {
            std::lock_guard lock(mu_);
            held_.push_back(std::move(respond));
            cv_.notify_all();
            return;
          }
          HttpResponse res;
          res.status = req.path == "/missing" ? 404 : 200;
          res.body = req.method + " " + req.target + " " + req.body;
          res.headers.emplace_back("X-Echo", std::string(req.Header("x-test")));
          respond(std::move(res));
        },
        [](int, std::string_view code, std::string_view) { return std::string(code); });
    EXPECT_EQ(server_->Start(), "");
  }
  ~TestServer() {
    ReleaseHeld();
    server_->Stop();
  }

  HttpServer& server() { return *server_; }
  uint16_t port() const { return server_->port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  int requests() const { return requests_.load(); }

  bool WaitHeld(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return held_.size() >= n; });
  }
  void ReleaseHeld() {
    std::vector<Responder> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
    }
    for (auto& r : held) r(HttpResponse{200, "released", "text/plain", {}});
  }

 private:
  std::unique_ptr<HttpServer> server_;
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Responder> held_;
};

}  // namespace pricing::engine
