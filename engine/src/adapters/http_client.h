// An HTTP/1.1 client for calls between the engine's roles, on Boost.Beast:
// its own event loops, each with a pool of keep-alive connections to one
// upstream (http://host:port), and a hard deadline per exchange that covers
// waiting for a connection, connecting, writing and reading.
//
// Outages are cheap and heal by themselves: after a failed connect no new
// connection is tried for `reconnect_backoff` (calls that would need one fail
// at once), then the next call connects again. A call on a pooled connection
// that the upstream closed before sending a byte of the answer (an idle close,
// a restart) is sent once more on a new connection, and the other idle
// connections are dropped; a call is never sent twice otherwise. Every failure
// is kServiceUnavailable, with a message that starts with the client's name.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/error.h"

namespace pricing::engine {

struct HttpClientOptions {
  std::string base_url;  // http://host[:port] (host may be a name or an IP; [v6] bracketed)
  std::string name = "upstream";                     // prefix of error messages, e.g. "calculation"
  int threads = 1;                                   // event loops; >= 1
  int max_connections = 256;                         // per loop; further calls wait for a free one
  std::chrono::milliseconds timeout{5000};           // per call, end to end
  std::chrono::milliseconds idle_timeout{30000};     // idle connections are closed after this
  std::chrono::milliseconds reconnect_backoff{250};  // after a failed connect
  size_t max_response_bytes = 16u << 20;
};

struct HttpClientRequest {
  std::string method = "GET";
  std::string target;  // origin form: "/path?query"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The call's deadline when shorter than the client's timeout (e.g. a
  // readiness probe); zero: the client's.
  std::chrono::milliseconds timeout{0};
};

struct HttpClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  // Returns the first header named `lower_name`, or an empty view.
  std::string_view Header(std::string_view lower_name) const;
};

class HttpClient {
 public:
  using Callback = std::function<void(Result<HttpClientResponse>)>;

  struct Stats {
    int64_t connects = 0;  // connections opened
    int64_t reused = 0;    // calls served on a pooled connection
    int64_t resent = 0;    // calls sent again after a stale pooled connection
    int64_t failures = 0;  // calls that ended in an error
  };

  // Validates the options (kInvalidParameter naming a bad base_url) and
  // starts the loops; connects lazily.
  static Result<std::unique_ptr<HttpClient>> Create(HttpClientOptions options);

  // Close().
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request`; `done` runs exactly once, on one of the client's loops
  // (or inline once the client is closed), and must not block.
  void Send(HttpClientRequest request, Callback done);

  // Sends `request` and waits for the answer. REQUIRES: not called from a
  // callback of this client (its loops would wait on themselves).
  Result<HttpClientResponse> SendSync(HttpClientRequest request);

  // Fails calls in flight and waiting ones, closes every connection and
  // joins the loops. Later calls fail at once. Idempotent.
  void Close();

  Stats stats() const;

 private:
  struct Impl;
  explicit HttpClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace pricing::engine
