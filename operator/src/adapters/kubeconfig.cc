#include "adapters/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>

namespace pricing::op {

namespace {

namespace fs = std::filesystem;

// Returns the contents of `path`, or a message saying why it cannot be read.
Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("", "cannot read \"" + path + "\": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Fail("", "cannot read \"" + path + "\"");
  return text.str();
}

std::string Trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// Returns the index of the entry of `list` (a sequence of {name, <kind>})
// named `name`.
std::optional<size_t> FindNamed(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node entry = list[i];
    if (entry.IsMap() && entry["name"] && entry["name"].as<std::string>() == name) return i;
  }
  return std::nullopt;
}

std::string Scalar(const YAML::Node& node) {
  if (!node || !node.IsScalar()) return "";
  return node.as<std::string>();
}

// Reads `<prefix>.<key>` (a file, relative to `dir`) or `<prefix>.<key>-data`
// (base64) into `out`; leaves it empty when neither is present.
std::optional<Error> ReadFileOrData(const YAML::Node& map, const std::string& prefix,
                                    const std::string& key, const fs::path& dir, std::string& out) {
  const std::string data = Scalar(map[key + "-data"]);
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded) return Invalid(prefix + "." + key + "-data", decoded.error().message);
    out = std::move(*decoded);
    return std::nullopt;
  }
  const std::string file = Scalar(map[key]);
  if (file.empty()) return std::nullopt;
  auto text = ReadFile((dir / file).string());
  if (!text) return Invalid(prefix + "." + key, text.error().message);
  out = std::move(*text);
  return std::nullopt;
}

Result<ClusterConfig> ParseKubeconfig(const YAML::Node& root, const fs::path& dir) {
  ClusterConfig config;
  const std::string current = Scalar(root["current-context"]);
  if (current.empty()) return Fail("current-context", "is not set");

  const auto context_index = FindNamed(root["contexts"], current);
  if (!context_index) return Fail("current-context", "names no context \"" + current + "\"");
  const std::string context_path = "contexts[" + std::to_string(*context_index) + "].context";
  const YAML::Node context = root["contexts"][*context_index]["context"];
  if (!context || !context.IsMap()) return Fail(context_path, "is missing");
  if (const std::string ns = Scalar(context["namespace"]); !ns.empty()) config.namespace_name = ns;

  const std::string cluster_name = Scalar(context["cluster"]);
  if (cluster_name.empty()) return Fail(context_path + ".cluster", "is not set");
  const auto cluster_index = FindNamed(root["clusters"], cluster_name);
  if (!cluster_index) {
    return Fail(context_path + ".cluster", "names no cluster \"" + cluster_name + "\"");
  }
  const std::string cluster_path = "clusters[" + std::to_string(*cluster_index) + "].cluster";
  const YAML::Node cluster = root["clusters"][*cluster_index]["cluster"];
  if (!cluster || !cluster.IsMap()) return Fail(cluster_path, "is missing");
  config.server = Scalar(cluster["server"]);
  while (config.server.ends_with('/')) config.server.pop_back();
  if (config.server.empty()) return Fail(cluster_path + ".server", "is not set");
  if (!config.server.starts_with("https://") && !config.server.starts_with("http://")) {
    return Fail(cluster_path + ".server", "\"" + config.server + "\" is not an http(s) URL");
  }
  if (cluster["insecure-skip-tls-verify"]) {
    config.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>();
  }
  if (auto error = ReadFileOrData(cluster, cluster_path, "certificate-authority", dir,
                                  config.certificate_authority_pem)) {
    return std::unexpected(std::move(*error));
  }

  const std::string user_name = Scalar(context["user"]);
  if (user_name.empty()) return config;
  const auto user_index = FindNamed(root["users"], user_name);
  if (!user_index) return Fail(context_path + ".user", "names no user \"" + user_name + "\"");
  const std::string user_path = "users[" + std::to_string(*user_index) + "].user";
  const YAML::Node user = root["users"][*user_index]["user"];
  if (!user) return config;
  if (!user.IsMap()) return Fail(user_path, "is not a map");
  for (const char* unsupported : {"exec", "auth-provider", "username"}) {
    if (user[unsupported]) return Fail(user_path + "." + unsupported, "is not supported");
  }
  if (user["token"]) {
    config.token = Trim(Scalar(user["token"]));
    if (config.token.empty()) return Fail(user_path + ".token", "is empty");
  } else if (const std::string file = Scalar(user["tokenFile"]); !file.empty()) {
    config.token_file = (dir / file).string();
    auto text = ReadFile(config.token_file);
    if (!text) return Fail(user_path + ".tokenFile", text.error().message);
    if (Trim(*text).empty()) return Fail(user_path + ".tokenFile", "\"" + file + "\" is empty");
  }
  if (auto error = ReadFileOrData(user, user_path, "client-certificate", dir,
                                  config.client_certificate_pem)) {
    return std::unexpected(std::move(*error));
  }
  if (auto error = ReadFileOrData(user, user_path, "client-key", dir, config.client_key_pem)) {
    return std::unexpected(std::move(*error));
  }
  if (config.client_certificate_pem.empty() != config.client_key_pem.empty()) {
    return Fail(user_path + (config.client_key_pem.empty() ? ".client-key" : ".client-certificate"),
                "is required with " +
                    std::string(config.client_key_pem.empty() ? "client-certificate"
                                                              : "client-key"));
  }
  return config;
}

}  // namespace

Result<std::string> DecodeBase64(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  bool padding = false;
  for (const char c : text) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '+') {
      value = 62;
    } else if (c == '/') {
      value = 63;
    } else if (c == '=') {
      padding = true;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return Fail("", "is not valid base64 (unexpected character)");
    }
    if (padding) return Fail("", "is not valid base64 (data after padding)");
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return Fail("", "is not valid base64 (truncated)");
  return out;
}

Result<ClusterConfig> LoadKubeconfig(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return std::unexpected(std::move(text.error()));
  try {
    const YAML::Node root = YAML::Load(*text);
    if (!root.IsMap()) return Fail("", "kubeconfig \"" + path + "\" is not a YAML map");
    return ParseKubeconfig(root, fs::absolute(fs::path(path)).parent_path());
  } catch (const YAML::Exception& e) {
    return Fail("", "kubeconfig \"" + path + "\": " + e.what());
  }
}

Result<ClusterConfig> InClusterConfig(const std::string& service_account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0') {
    return Fail("KUBERNETES_SERVICE_HOST", "is not set (not running in a pod)");
  }
  if (port == nullptr || *port == '\0') return Fail("KUBERNETES_SERVICE_PORT", "is not set");
  ClusterConfig config;
  const std::string_view host_text(host);
  config.server = host_text.find(':') == std::string_view::npos
                      ? "https://" + std::string(host_text) + ":" + port
                      : "https://[" + std::string(host_text) + "]:" + port;
  const fs::path dir(service_account_dir);
  config.token_file = (dir / "token").string();
  auto token = ReadFile(config.token_file);
  if (!token) return Fail(config.token_file, token.error().message);
  if (Trim(*token).empty()) return Fail(config.token_file, "is empty");
  auto ca = ReadFile((dir / "ca.crt").string());
  if (!ca) return Fail((dir / "ca.crt").string(), ca.error().message);
  config.certificate_authority_pem = std::move(*ca);
  if (auto ns = ReadFile((dir / "namespace").string()); ns && !Trim(*ns).empty()) {
    config.namespace_name = Trim(*ns);
  }
  return config;
}

Result<ClusterConfig> LoadClusterConfig(const std::string& kubeconfig) {
  if (!kubeconfig.empty()) return LoadKubeconfig(kubeconfig);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    const std::string_view list(env);
    return LoadKubeconfig(std::string(list.substr(0, list.find(':'))));
  }
  if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST"); host != nullptr && *host != '\0') {
    return InClusterConfig();
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    return Fail("KUBECONFIG", "is not set, and neither is HOME nor KUBERNETES_SERVICE_HOST");
  }
  return LoadKubeconfig((fs::path(home) / ".kube" / "config").string());
}

BearerToken::BearerToken(const ClusterConfig& config, std::chrono::seconds refresh, NowFn now)
    : file_(config.token_file),
      refresh_(refresh),
      now_(now ? std::move(now) : NowFn([] { return Clock::now(); })),
      token_(config.token) {}

std::string BearerToken::Get() {
  if (file_.empty()) return token_;
  std::lock_guard lock(mu_);
  const Clock::time_point now = now_();
  if (!read_ || now - read_at_ >= refresh_) {
    if (auto text = ReadFile(file_); text && !Trim(*text).empty()) token_ = Trim(std::move(*text));
    read_ = true;
    read_at_ = now;
  }
  return token_;
}

}  // namespace pricing::op
