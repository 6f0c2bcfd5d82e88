// Where the Kubernetes API server is and how to authenticate to it: from a
// kubeconfig file (its current context) or from the service account that a
// pod runs as. The result, ClusterConfig, holds everything in memory except a
// token file, which BearerToken re-reads because bound tokens rotate.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "op/error.h"

namespace pricing::op {

struct ClusterConfig {
  std::string server;                     // "https://127.0.0.1:6443"
  std::string certificate_authority_pem;  // "" = the system's trusted roots
  bool insecure_skip_tls_verify = false;
  std::string token;       // bearer token; "" = none (or token_file)
  std::string token_file;  // when set, the token is read from this file, re-read as it changes
  std::string client_certificate_pem;  // client-certificate authentication, with the key
  std::string client_key_pem;
  std::string namespace_name = "default";  // the context's namespace
};

// Returns the configuration of `path`'s current context. File references
// (certificate-authority, client-certificate, client-key, tokenFile) are read
// now, relative ones resolved against the kubeconfig's directory. An error
// names the field at fault as a path into the file ("users[0].user.token",
// "current-context"); errors of the file itself have an empty field.
// exec and auth-provider users are not supported.
Result<ClusterConfig> LoadKubeconfig(const std::string& path);

// The service account directory mounted into every pod.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// Returns the configuration of a pod's own service account: the server from
// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, the CA certificate,
// token file and namespace from `service_account_dir`. An error names the
// variable or file at fault.
Result<ClusterConfig> InClusterConfig(const std::string& service_account_dir = kServiceAccountDir);

// Returns the configuration the way kubectl finds it: `kubeconfig` if not
// empty, else $KUBECONFIG (its first entry), else the in-cluster service
// account when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
Result<ClusterConfig> LoadClusterConfig(const std::string& kubeconfig = "");

// The bearer token of a ClusterConfig: its `token`, or the contents of its
// `token_file`, re-read at most once per `refresh` so that a rotated token is
// picked up. Thread-safe.
class BearerToken {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;

  // `now` defaults to steady_clock::now.
  explicit BearerToken(const ClusterConfig& config,
                       std::chrono::seconds refresh = std::chrono::seconds(60),
                       NowFn now = nullptr);

  // Returns the current token; "" when there is none. When re-reading the file
  // fails, returns the last token read.
  std::string Get();

 private:
  std::mutex mu_;
  const std::string file_;
  const std::chrono::seconds refresh_;
  const NowFn now_;
  std::string token_;
  bool read_ = false;
  Clock::time_point read_at_;
};

// Returns `text` decoded from base64 (standard alphabet, padding optional,
// whitespace ignored), or an error message.
Result<std::string> DecodeBase64(std::string_view text);

}  // namespace pricing::op
