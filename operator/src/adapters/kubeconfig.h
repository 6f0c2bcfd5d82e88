// Where the Kubernetes API server is and how to authenticate to it: from
// kubeconfig files (their current context, merged as kubectl merges
// $KUBECONFIG) or from the service account that a pod runs as. The result,
// ClusterConfig, holds everything in memory except what changes while the
// operator runs: a token file, which BearerToken re-reads because bound tokens
// rotate, and an exec credential plugin, which ExecCredentials runs and
// re-runs as its credentials expire.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "op/error.h"

namespace pricing::op {

// A user's exec credential plugin (users[].user.exec): a command that prints
// an ExecCredential (client.authentication.k8s.io) with a bearer token or a
// client certificate and key.
struct ExecConfig {
  std::string field;        // where it came from, for errors: "users[0].user.exec"
  std::string api_version;  // "client.authentication.k8s.io/v1" or ".../v1beta1"
  // A name looked up in PATH, or a path; a relative path with a slash is
  // already resolved against its kubeconfig's directory.
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // set over the operator's environment
  std::string install_hint;                              // said when the command is not found
  // spec.cluster of the ExecCredential in KUBERNETES_EXEC_INFO
  // (provideClusterInfo: true); null when the plugin is not given it.
  nlohmann::json cluster;
};

struct ClusterConfig {
  std::string server;                     // "https://127.0.0.1:6443"
  std::string certificate_authority_pem;  // "" = the system's trusted roots
  bool insecure_skip_tls_verify = false;
  // The name sent as SNI and that the server's certificate must carry; "" =
  // the host of `server`.
  std::string tls_server_name;
  std::string token;       // bearer token; "" = none (or token_file)
  std::string token_file;  // when set, the token is read from this file, re-read as it changes
  std::string client_certificate_pem;  // client-certificate authentication, with the key
  std::string client_key_pem;
  // Credentials from a plugin; only when the user has no token, token file or
  // client certificate (which take precedence, as in kubectl).
  std::optional<ExecConfig> exec;
  std::string namespace_name = "default";  // the context's namespace
};

// Returns the configuration of `path`'s current context. File references
// (certificate-authority, client-certificate, client-key, tokenFile, an exec
// command with a slash) are read or resolved now, relative ones against the
// kubeconfig's directory. An error names the field at fault as a path into
// the file ("users[0].user.token", "current-context"); errors of the file
// itself have an empty field. auth-provider and username/password users, and
// clusters with a proxy-url, are refused.
Result<ClusterConfig> LoadKubeconfig(const std::string& path);

// Returns the configuration of the current context of `paths` merged as
// kubectl merges the files of $KUBECONFIG: missing and empty files, and
// repeated paths, are skipped; a cluster, context or user is taken whole from
// the first file that defines its name; current-context from the first file
// that sets it; relative paths in an entry resolve against the directory of
// the file it came from. An error names the field as a path into its own
// file and, when more than one file was read, the file. An error with the
// field "KUBECONFIG" when no file exists.
Result<ClusterConfig> LoadMergedKubeconfig(const std::vector<std::string>& paths);

// Returns the entries of a $KUBECONFIG value: split at ':', empty ones left
// out.
std::vector<std::string> SplitKubeconfigList(std::string_view value);

// The service account directory mounted into every pod.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// Returns the configuration of a pod's own service account: the server from
// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, the CA certificate,
// token file and namespace from `service_account_dir`. An error names the
// variable or file at fault.
Result<ClusterConfig> InClusterConfig(const std::string& service_account_dir = kServiceAccountDir);

// Returns the configuration the way kubectl finds it: `kubeconfig` alone if
// not empty, else the files of $KUBECONFIG merged, else the in-cluster
// service account when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
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

// What an exec credential plugin printed: a bearer token, a client
// certificate and key (PEM), or both.
struct ExecCredential {
  std::string token;
  std::string client_certificate_pem;
  std::string client_key_pem;
  // status.expirationTimestamp; nullopt when the credential does not expire.
  std::optional<std::chrono::system_clock::time_point> expiry;

  bool operator==(const ExecCredential&) const = default;
};

// Runs `exec`'s plugin once, as client-go does: with its args, the operator's
// environment plus its env and KUBERNETES_EXEC_INFO (an ExecCredential with
// spec.interactive false, and spec.cluster when provideClusterInfo), stdin
// from /dev/null and stderr passed through; no shell. Killed past `timeout`.
// Returns the credential of its standard output. An error has exec.field as
// its field and says what went wrong (command not found, with the install
// hint; exit status; timeout; malformed output), never the output's content.
Result<ExecCredential> RunExecPlugin(const ExecConfig& exec,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The credentials of an exec plugin, cached until they are about to expire:
// the plugin runs on the first Get, again when the credential is within
// `refresh_before` of its expiry (or half its lifetime, when that is
// shorter), and again after Invalidate. Thread-safe; one run at a time.
class ExecCredentials {
 public:
  using WallClock = std::chrono::system_clock;
  using NowFn = std::function<WallClock::time_point()>;

  // `now` defaults to system_clock::now (expiry times are wall-clock times).
  explicit ExecCredentials(ExecConfig exec,
                           std::chrono::seconds refresh_before = std::chrono::seconds(10),
                           NowFn now = nullptr,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Returns the current credential, running the plugin when it is due. When
  // a run before expiry fails, returns the credential it would have replaced
  // (and tries again no sooner than a second later); once that has expired,
  // or after Invalidate, a failed run is the error.
  Result<std::shared_ptr<const ExecCredential>> Get();

  // Says that the API server refused `rejected` (HTTP 401): the next Get runs
  // the plugin, unless the credential was replaced already.
  void Invalidate(const std::shared_ptr<const ExecCredential>& rejected);

  const ExecConfig& config() const { return exec_; }

 private:
  bool Fresh(WallClock::time_point now) const;

  const ExecConfig exec_;
  const std::chrono::seconds refresh_before_;
  const NowFn now_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::shared_ptr<const ExecCredential> current_;  // guarded by mu_
  WallClock::time_point obtained_at_;              // guarded by mu_
  WallClock::time_point retry_at_;                 // guarded by mu_
  bool invalidated_ = false;                       // guarded by mu_
};

// Returns `text` decoded from base64 (standard alphabet, padding optional,
// whitespace ignored), or an error message.
Result<std::string> DecodeBase64(std::string_view text);

}  // namespace pricing::op
