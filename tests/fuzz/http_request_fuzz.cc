// HTTP/1.1 requests as a client sends them, through the engine's own server:
// each input is written to a fresh loopback connection (then half-closed),
// and the server must answer or close it, never hang or crash. The handler
// checks what the server hands it and answers with a small body.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "adapters/http_server.h"
#include "fuzz_check.h"

namespace engine = pricing::engine;
using pricing::fuzz::Check;

namespace {

void Handle(engine::HttpRequest&& request, engine::Responder respond) {
  Check(!request.method.empty(), "a request without a method");
  Check(request.path.find('?') == std::string::npos, "a path with its query", request.path);
  Check(request.target.starts_with(request.path), "a path that is not the target's",
        request.target);
  for (const auto& [name, value] : request.headers) {
    for (char c : name) Check(!(c >= 'A' && c <= 'Z'), "a header name not lower-cased", name);
  }
  engine::HttpResponse response;
  response.body = std::to_string(request.body.size());
  // A header value with control characters must not split the response.
  response.headers.emplace_back("x-echo", std::string(request.Header("x-echo")));
  respond(std::move(response));
}

uint16_t ServerPort() {
  // Lives for the whole run (libFuzzer exits without returning here).
  static engine::HttpServer* server = [] {
    engine::HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 1;
    // Small limits so that inputs of a few KiB reach the 413 and 431 paths.
    options.body_limit = 2048;
    options.header_limit = 1024;
    options.read_timeout = std::chrono::milliseconds(2000);
    options.linger_timeout = std::chrono::milliseconds(200);
    auto* s = new engine::HttpServer(
        options, Handle, [](int status, std::string_view code, std::string_view message) {
          return std::to_string(status) + " " + std::string(code) + " " + std::string(message);
        });
    const std::string error = s->Start();
    Check(error.empty(), "server did not start", error);
    return s;
  }();
  return server->port();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint16_t port = ServerPort();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Check(fd >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Check(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "connect");
  // The server must finish within its own read timeout; well past it is a hang.
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server answered early and closed: fine
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);

  std::string answer;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    Check(!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)),
          "the server neither answered nor closed the connection");
    break;  // closed (or reset after an early answer)
  }
  ::close(fd);
  if (!answer.empty()) {
    Check(answer.starts_with("HTTP/1.1 ") || answer.starts_with("HTTP/1.0 "),
          "an answer that is not HTTP", answer.substr(0, 64));
  }
  return 0;
}
