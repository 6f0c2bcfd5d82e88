// The operator's health and metrics endpoints (controller-runtime's
// --health-probe-bind-address and --metrics-bind-address): a small HTTP/1.1
// server on Boost.Beast with one thread of its own.
//
//   GET|HEAD /healthz  200 "ok", or 503 "not healthy" when `healthy` says no
//   GET|HEAD /readyz   200 "ok", or 503 "not ready" when `ready` says no
//   GET|HEAD /metrics  200, the `metrics` text (Prometheus exposition 0.0.4);
//                      with a `metrics_token`, 401 unless the request carries
//                      "Authorization: Bearer <token>"
//   anything else      404 (405 for another method on one of these paths)
//
// Keep-alive is honoured; requests larger than a few kilobytes, malformed
// requests and idle connections are answered with an error or closed, never
// allowed to hold the server.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "op/error.h"

namespace pricing::op {

class OpsServer {
 public:
  // The server's view of the operator. Each is called on the server's thread
  // for every request to its route and should return promptly; an unset
  // `healthy` or `ready` counts as true, an unset `metrics` as no text. An
  // exception thrown by one gives a 500.
  struct Handlers {
    std::function<bool()> healthy;
    std::function<bool()> ready;
    std::function<std::string()> metrics;
    // When not empty, /metrics answers only requests bearing this token
    // (compared in constant time); /healthz and /readyz stay open to probes.
    std::string metrics_token = {};
  };

  // `address` is "[host]:port" as the command-line flags take it: ":8080"
  // (every interface), "127.0.0.1:8080", "[::1]:8080", "localhost:0" (port 0
  // picks a free port).
  OpsServer(std::string address, Handlers handlers);
  // Stops the server.
  ~OpsServer();
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  // Binds and starts serving. Returns the bound port, or an error naming the
  // address when it is malformed, cannot be resolved or cannot be bound (a
  // port in use). Fails when the server is already running.
  Result<int> Start();

  // Closes the listener and every connection and joins the server's thread.
  // Returns promptly, without waiting for clients. Idempotent; the server may
  // be started again afterwards. Not to be called from a handler.
  void Stop();

 private:
  struct Impl;

  const std::string address_;
  Handlers handlers_;
  std::mutex mu_;
  std::unique_ptr<Impl> impl_;  // null when stopped; guarded by mu_
};

}  // namespace pricing::op
