// The operator's view of the Kubernetes API (controller-runtime's
// Reader/Writer split, kube-rs's Api): a small interface over JSON objects,
// implemented over HTTPS by adapters/kube_client.h and in memory by
// tests/fakes/fake_kube_client.h (which can fail any call on demand).
//
// Every call returns KubeResult: the value, or a KubeError that says whether
// retrying can help. Calls are synchronous and thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pricing::op {

// A resource type: the path segments of its REST endpoint.
struct Resource {
  std::string group;    // "" for the core API ("/api/v1"), else "/apis/<group>/<version>"
  std::string version;  // "v1", "v2", "v1alpha1"
  std::string plural;   // "deployments"
  std::string kind;     // "Deployment"
  bool namespaced = true;

  // Returns "apps/v1" or "v1".
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  bool operator==(const Resource&) const = default;
};

inline const Resource kPricingEngines{"pricing.borrowrate.io", "v1alpha1", "pricingengines",
                                      "PricingEngine", true};
inline const Resource kDeployments{"apps", "v1", "deployments", "Deployment", true};
inline const Resource kServices{"", "v1", "services", "Service", true};
inline const Resource kHorizontalPodAutoscalers{"autoscaling", "v2", "horizontalpodautoscalers",
                                                "HorizontalPodAutoscaler", true};
inline const Resource kPodDisruptionBudgets{"policy", "v1", "poddisruptionbudgets",
                                            "PodDisruptionBudget", true};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
inline const Resource kEvents{"events.k8s.io", "v1", "events", "Event", true};
inline const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};

// Returns the Resource of a child object by its apiVersion and kind (one of
// the four child kinds above), or nullptr.
const Resource* ResourceOfChild(std::string_view api_version, std::string_view kind);

struct KubeError {
  enum class Kind {
    kTransient,  // network failure, timeout, 429, 5xx: retry with backoff
    kNotFound,   // 404
    kConflict,   // 409 (resourceVersion precondition, or AlreadyExists)
    kGone,       // 410: the resourceVersion is too old; list again
    kInvalid,    // 400, 422: the request is wrong; retrying the same request cannot help
    kForbidden,  // 401, 403: credentials or RBAC; retry slowly, it may be fixed
    kTerminal,   // anything else that retrying cannot fix
  };
  Kind kind = Kind::kTransient;
  int http_status = 0;  // 0 when no response arrived
  std::string reason;   // the Status object's reason ("NotFound", "Conflict"...), if any
  std::string message;  // human-readable, includes the Status message when there is one
  // The answer's Retry-After (429, 503): wait at least this long before the
  // next attempt. nullopt when it had none.
  std::optional<std::chrono::seconds> retry_after = std::nullopt;

  bool Retryable() const { return kind == Kind::kTransient || kind == Kind::kForbidden; }
};

template <typename T>
using KubeResult = std::expected<T, KubeError>;

// Whether `error` is the API server's "Too large resource version" (a watch
// or list from a resourceVersion newer than its cache, as after a restore or
// behind a lagging apiserver): retrying from that version cannot succeed
// until it catches up; list again instead.
bool IsTooLargeResourceVersion(const KubeError& error);

// Parses an HTTP Retry-After value in seconds ("120"); nullopt for anything
// else (an HTTP date is not used by the API server). Capped at one hour.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value);

struct ListOptions {
  std::string namespace_name;  // "" = all namespaces (or a cluster-scoped resource)
  std::string label_selector;  // "" = everything
  std::string field_selector;  // "" = everything
  // When set, what the caller keeps of each item (client-go's informer
  // transform): applied as each page is read, after apiVersion and kind are
  // filled in, so a long list is never held whole as parsed objects.
  std::function<nlohmann::json(const nlohmann::json&)> transform;
};

struct ListResult {
  std::vector<nlohmann::json> items;  // each with apiVersion and kind filled in
  std::string resource_version;       // the list's metadata.resourceVersion
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  // The object; for kBookmark only metadata.resourceVersion is meaningful;
  // for kError a metav1.Status (code 410 means the resourceVersion expired).
  nlohmann::json object;
};

// An open watch. Next() blocks until an event arrives, the stream ends, or
// `idle_timeout` passes with no bytes from the server.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // Returns the next event; nullopt when the server ended the stream normally
  // (its timeoutSeconds elapsed) or Cancel() was called; a kTransient error
  // when the connection failed or stayed idle past the idle timeout.
  virtual KubeResult<std::optional<WatchEvent>> Next() = 0;
  // Makes a blocked or later Next() return nullopt promptly. Thread-safe.
  virtual void Cancel() = 0;
};

struct WatchOptions {
  std::string namespace_name;
  std::string label_selector;
  std::string resource_version;  // start after this version ("" = the current state, as ADDED events)
  bool allow_bookmarks = true;
  std::chrono::seconds timeout{300};       // server side: the server ends the watch after this
  std::chrono::seconds idle_timeout{330};  // client side: no bytes for this long = a dead connection
};

struct DeleteOptions {
  std::string propagation_policy = "Background";  // Background | Foreground | Orphan
  std::string precondition_uid;                   // "" = none
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  virtual KubeResult<nlohmann::json> Get(const Resource& resource, const std::string& namespace_name,
                                         const std::string& name) = 0;
  virtual KubeResult<ListResult> List(const Resource& resource, const ListOptions& options) = 0;
  virtual KubeResult<std::unique_ptr<WatchStream>> Watch(const Resource& resource,
                                                         const WatchOptions& options) = 0;
  // POST: creates `object` in its metadata.namespace. kConflict when it exists.
  virtual KubeResult<nlohmann::json> Create(const Resource& resource,
                                            const nlohmann::json& object) = 0;
  // PUT: replaces the object (optimistic concurrency: a stale
  // metadata.resourceVersion gives kConflict).
  virtual KubeResult<nlohmann::json> Update(const Resource& resource,
                                            const nlohmann::json& object) = 0;
  // PATCH application/apply-patch+yaml (server-side apply) of `object`, which
  // names itself (apiVersion, kind, metadata.name, metadata.namespace), with
  // fieldManager `field_manager` and force=true. `subresource` "" applies the
  // object, "status" its status. Returns the object as stored.
  virtual KubeResult<nlohmann::json> Apply(const Resource& resource, const nlohmann::json& object,
                                           std::string_view field_manager,
                                           std::string_view subresource = "") = 0;
  // DELETE. kNotFound when it is already gone.
  virtual KubeResult<void> Delete(const Resource& resource, const std::string& namespace_name,
                                  const std::string& name, const DeleteOptions& options = {}) = 0;

  // Get, Create and Update, each bounded by `timeout` from the call as well
  // as by the client's own request timeout (client-go's context deadline):
  // when `timeout` passes first, the call fails with kTransient. A Lease
  // holder bounds its calls by its renew deadline this way. The defaults make
  // the unbounded call, for clients that answer at once.
  virtual KubeResult<nlohmann::json> GetWithin(const Resource& resource,
                                               const std::string& namespace_name,
                                               const std::string& name,
                                               std::chrono::nanoseconds /*timeout*/) {
    return Get(resource, namespace_name, name);
  }
  virtual KubeResult<nlohmann::json> CreateWithin(const Resource& resource,
                                                  const nlohmann::json& object,
                                                  std::chrono::nanoseconds /*timeout*/) {
    return Create(resource, object);
  }
  virtual KubeResult<nlohmann::json> UpdateWithin(const Resource& resource,
                                                  const nlohmann::json& object,
                                                  std::chrono::nanoseconds /*timeout*/) {
    return Update(resource, object);
  }
};

}  // namespace pricing::op
