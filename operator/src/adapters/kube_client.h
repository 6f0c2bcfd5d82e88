// KubeClient over the Kubernetes REST API (HTTPS, JSON), on cpprestsdk's
// http_client: TLS verified against the cluster's CA, bearer-token or
// client-certificate authentication, a client-side token-bucket rate limit,
// a per-request deadline, and watches read incrementally from the chunked
// response body.
//
// Credentials from an exec plugin (ClusterConfig::exec) are fetched on the
// first request and cached until they near their expiry (ExecCredentials).
// When the API server answers 401 to them, the plugin runs again and, if it
// gives a different credential, the request is sent once more with it. A
// client certificate from the plugin is presented by new connections: each
// new certificate gets an http_client (a connection pool) of its own. A
// failing plugin makes the request fail with kTransient.
//
// tls-server-name (ClusterConfig::tls_server_name) is sent as the requests'
// Host header: cpprestsdk takes the SNI name, and the name the server's
// certificate is verified against, from that header. The API server does not
// route by Host, so the connection is the one kubectl would make; only a
// proxy in front of it that routes by Host would see the difference.
//
// Watch streaming: the API server writes every watch event as one HTTP chunk
// and flushes it; cpprestsdk's Boost.Asio client copies each chunk into the
// response body's producer/consumer buffer as it arrives, and restarts its
// inactivity timer on every chunk. The stream reads the body one available
// run of bytes at a time (never waiting for a fixed amount), so an event is
// returned as soon as its line is complete; the http_client of each watch has
// the watch's idle_timeout as its timeout, so a silent connection is closed by
// cpprestsdk and Next() reports kTransient; Cancel() cancels the request's
// cancellation token, which closes the socket and unblocks Next().
//
// cpprestsdk runs its I/O on its shared thread pool; the first RestKubeClient
// sizes it to 4 threads unless the program has initialized it already
// (crossplat::threadpool::initialize_with_threads before any request).
// Exceptions of cpprestsdk, Boost and nlohmann/json are caught inside and
// returned as KubeError.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/kubeconfig.h"
#include "common/text.h"
#include "op/error.h"
#include "op/kube.h"

namespace pricing::op {

struct RestClientOptions {
  double qps = 20;  // client-side rate limit; <= 0 disables it
  int burst = 30;
  std::chrono::seconds timeout{30};  // deadline of one request, from sending to the parsed answer
  std::string user_agent = "pricing-operator";
  // Called once per HTTP request, after it ends, with its method and status
  // code (0 when no response arrived), for rest_client_requests_total. May run
  // on any thread; must be cheap.
  std::function<void(std::string_view method, int code)> on_request;
  // Items per page of a List (limit/continue); 0 = one unpaged request.
  // Small pages bound what a list holds parsed at once (a Deployment parses
  // to tens of KB): with ListOptions::transform and one list at a time, a
  // start over 1000 PricingEngines peaks at about 26 MiB with pages of 50,
  // where keeping every listed object whole until its list ended peaked at
  // 205 MB.
  int list_page_size = 50;
  // TCP keepalive on every connection to the API server: probes after
  // `keepalive_idle` without traffic, `keepalive_probes` of them
  // `keepalive_interval` apart, so a peer that vanished (a node gone, a NAT
  // entry dropped) is noticed in about a minute even on an idle connection.
  // keepalive_idle 0 leaves the system's defaults.
  std::chrono::seconds keepalive_idle{30};
  std::chrono::seconds keepalive_interval{10};
  int keepalive_probes = 3;
};

class RestKubeClient : public KubeClient {
 public:
  // Returns a client of the cluster `config` describes, or an error naming
  // the bad setting ("server", "certificate_authority_pem",
  // "client_certificate_pem", "client_key_pem"). Makes no request.
  static Result<std::unique_ptr<RestKubeClient>> FromConfig(ClusterConfig config,
                                                            RestClientOptions options = {});
  ~RestKubeClient() override;
  RestKubeClient(const RestKubeClient&) = delete;
  RestKubeClient& operator=(const RestKubeClient&) = delete;

  KubeResult<nlohmann::json> Get(const Resource& resource, const std::string& namespace_name,
                                 const std::string& name) override;
  // Pages through the collection options.list_page_size items at a time; the
  // items carry apiVersion and kind. kGone when a continue token expired.
  KubeResult<ListResult> List(const Resource& resource, const ListOptions& options) override;
  // Returns once the server answered the watch request (within the request
  // timeout); kGone when it refused the resourceVersion with HTTP 410.
  // Consumes one rate-limit token.
  KubeResult<std::unique_ptr<WatchStream>> Watch(const Resource& resource,
                                                 const WatchOptions& options) override;
  KubeResult<nlohmann::json> Create(const Resource& resource,
                                    const nlohmann::json& object) override;
  KubeResult<nlohmann::json> Update(const Resource& resource,
                                    const nlohmann::json& object) override;
  // Fills in apiVersion and kind from `resource` when `object` lacks them.
  KubeResult<nlohmann::json> Apply(const Resource& resource, const nlohmann::json& object,
                                   std::string_view field_manager,
                                   std::string_view subresource = "") override;
  KubeResult<void> Delete(const Resource& resource, const std::string& namespace_name,
                          const std::string& name, const DeleteOptions& options = {}) override;
  // The bound counts from the call: a wait for a rate-limit token is part of
  // it, and a call whose bound has passed sends nothing.
  KubeResult<nlohmann::json> GetWithin(const Resource& resource, const std::string& namespace_name,
                                       const std::string& name,
                                       std::chrono::nanoseconds timeout) override;
  KubeResult<nlohmann::json> CreateWithin(const Resource& resource, const nlohmann::json& object,
                                          std::chrono::nanoseconds timeout) override;
  KubeResult<nlohmann::json> UpdateWithin(const Resource& resource, const nlohmann::json& object,
                                          std::chrono::nanoseconds timeout) override;

 private:
  struct Impl;
  explicit RestKubeClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Returns the request path of `resource`: its collection when `name` is
// empty, else the named object, else its `subresource` ("status");
// "/namespaces/<ns>" is included for a namespaced resource when
// `namespace_name` is not empty. Path segments are percent-encoded.
std::string ResourcePath(const Resource& resource, std::string_view namespace_name,
                         std::string_view name = "", std::string_view subresource = "");

// Returns `path` with the query `params` (name, value) appended, values
// percent-encoded; pairs with an empty value are left out.
std::string WithQuery(std::string path,
                      const std::vector<std::pair<std::string, std::string>>& params);

using pricing::PercentEncode;  // for a URL query value or path segment

// Returns the KubeError of an HTTP answer that is not a success: its kind by
// `http_status`, reason and message from the metav1.Status in `body` when
// there is one. `what` ("GET /api/v1/...") prefixes the message.
KubeError ErrorFromResponse(int http_status, std::string_view body, std::string_view what);

}  // namespace pricing::op
