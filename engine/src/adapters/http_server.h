// The engine's HTTP/1.1 server on Boost.Beast: one event loop per thread, each
// with its own SO_REUSEPORT acceptor on the shared port, keep-alive, request
// header/body size limits and read/idle timeouts. Handlers answer through a
// Responder that may be called later from any thread (e.g. once an audit record
// is durable), so no event loop ever blocks on it. Each event loop is its
// thread's CallbackHome (callback_home.h) while it runs, so work a handler
// starts elsewhere can be finished back on the loop; the server must outlive
// every callback handed to a loop, as it must outlive every Responder call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pricing::engine {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received, e.g. "/api/v1/rates/GME?x=1"
  std::string path;    // target without the query string, not decoded
  std::vector<std::pair<std::string, std::string>> query;  // URL-decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;  // peer address

  // Returns the first header named `lower_name`, or an empty view.
  std::string_view Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// Delivers the response of one request. Call exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&&, Responder)>;
// Builds the body of a response the server produces itself (413, 400 on a
// malformed request, 408 on a slow one): (status, code, message) -> body.
using ErrorBodyFn = std::function<std::string(int, std::string_view, std::string_view)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;  // 0 picks a free port; see HttpServer::port()
  int threads = 0;       // 0 = one per core
  size_t body_limit = 64 * 1024;
  size_t header_limit = 16 * 1024;
  // Bounds on what a client controls (docs/design.md §2.3). The request line and
  // headers, each chunk header with its extensions, and the trailers must fit
  // header_limit (else 431); bytes of a request are never buffered beyond it
  // and the body limit.
  std::chrono::milliseconds read_timeout{10000};  // whole request, from its first byte
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive wait for that first byte
  int max_connections = 10000;  // open at once; the next is answered 503 and closed
  // After an error answered before the request was read whole (413, 431,
  // 408), the connection reads and discards for up to this long, or until
  // the client stops sending, so the client sees the answer and not a reset.
  std::chrono::milliseconds linger_timeout{2000};
  // How long Stop() waits for the responses of requests already read.
  std::chrono::milliseconds drain_timeout{10000};
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler, ErrorBodyFn error_body);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the event loops. Returns an error message on failure
  // (e.g. the address is in use), empty on success.
  std::string Start();
  // Stops gracefully: stops accepting, closes idle keep-alive connections,
  // delivers the response of every request already read (with
  // "Connection: close") and closes each connection after it, waiting at most
  // drain_timeout for them; then joins the loops. Idempotent.
  void Stop();
  // The bound port (after Start).
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Decodes %XX escapes and '+' (as space) of one query component.
std::string UrlDecode(std::string_view s);
// Splits "a=1&b=two" into decoded pairs.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

}  // namespace pricing::engine
