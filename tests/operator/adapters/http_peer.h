// A scripted HTTP/1.1 peer on loopback for the adapter tests: each
// connection carries one request, served by the test's handler on its own
// thread; the requests are recorded.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pricing::op::testing_peer {

using namespace std::chrono_literals;

struct Request {
  std::string method;
  std::string target;  // path and query
  std::string headers;
  std::string body;
};

// An HTTP/1.1 peer that serves each connection with `handler` (one request
// per connection) on its own thread.
class Peer {
 public:
  using Handler = std::function<void(int fd, const Request&, Peer&)>;

  explicit Peer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~Peer() {
    stop_.store(true);
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    for (std::thread& t : connections_) t.join();
  }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool Stopped() const { return stop_.load(); }

  std::vector<Request> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

  static void Send(int fd, const std::string& text) {
    size_t sent = 0;
    while (sent < text.size()) {
      const ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  static void Respond(int fd, int status, const std::string& body) {
    Send(fd, "HTTP/1.1 " + std::to_string(status) +
                 " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  static void StartChunked(int fd) {
    Send(fd,
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
         "Transfer-Encoding: chunked\r\n\r\n");
  }

  static void Chunk(int fd, const std::string& data) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    Send(fd, size + data + "\r\n");
  }

  // Waits until the test calls Release() or the peer stops, at most `limit`.
  void AwaitRelease(std::chrono::milliseconds limit = 5000ms) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return released_ || stop_.load(); });
    released_ = false;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  void AcceptLoop() {
    while (!stop_.load()) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      connections_.emplace_back([this, fd] {
        Request request;
        if (ReadRequest(fd, request)) {
          {
            std::lock_guard lock(mu_);
            requests_.push_back(request);
          }
          handler_(fd, request, *this);
        }
        close(fd);
      });
    }
  }

  static bool ReadRequest(int fd, Request& request) {
    std::string data;
    char buf[4096];
    size_t header_end;
    while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
    }
    request.headers = data.substr(0, header_end);
    const size_t sp1 = request.headers.find(' ');
    const size_t sp2 = request.headers.find(' ', sp1 + 1);
    request.method = request.headers.substr(0, sp1);
    request.target = request.headers.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t length = 0;
    std::string lower = request.headers;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (const size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
      length = std::stoul(lower.substr(at + 17));
    }
    request.body = data.substr(header_end + 4);
    while (request.body.size() < length) {
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      request.body.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<Request> requests_;
};

}  // namespace pricing::op::testing_peer
