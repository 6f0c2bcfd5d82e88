#include "adapters/kubeconfig.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "adapters/tls_trust.h"
#include "common/time_text.h"

extern char** environ;

namespace pricing::op {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kExecV1 = "client.authentication.k8s.io/v1";
constexpr std::string_view kExecV1beta1 = "client.authentication.k8s.io/v1beta1";
constexpr std::string_view kExecInfoVariable = "KUBERNETES_EXEC_INFO";
// The cluster extension whose content is spec.cluster.config for the plugin.
constexpr std::string_view kExecExtension = "client.authentication.k8s.io/exec";
constexpr size_t kMaxPluginOutput = 1 << 20;

std::string ErrnoText(int error) { return std::generic_category().message(error); }

// Returns the contents of `path`, or a message saying why it cannot be read.
Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("", "cannot read \"" + path + "\": " + ErrnoText(errno));
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

// Returns `text` on one line: runs of whitespace become one space.
std::string OneLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string EncodeBase64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (i < data.size()) {
    unsigned n = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string Scalar(const YAML::Node& node) {
  if (!node || !node.IsScalar()) return "";
  return node.as<std::string>();
}

bool Absent(const YAML::Node& node) { return !node || node.IsNull(); }

// Returns the boolean at `node` (false when absent), or an error naming `field`.
Result<bool> Bool(const YAML::Node& node, const std::string& field) {
  if (Absent(node)) return false;
  bool value = false;
  if (node.IsScalar() && YAML::convert<bool>::decode(node, value)) return value;
  return Fail(field, "is not true or false");
}

// Returns `node` as JSON: a plain scalar as null, a boolean, a number or a
// string, as YAML resolves it; a quoted or tagged scalar as a string.
json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const YAML::Node& item : node) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& item : node) out[Scalar(item.first)] = ToJson(item.second);
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() != "?") return text;
      if (text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
      const char* end = text.data() + text.size();
      int64_t integer = 0;
      if (auto [p, ec] = std::from_chars(text.data(), end, integer);
          ec == std::errc() && p == end) {
        return integer;
      }
      double number = 0;
      if (auto [p, ec] = std::from_chars(text.data(), end, number);
          ec == std::errc() && p == end && std::isfinite(number)) {
        return number;
      }
      return text;
    }
    default:
      return nullptr;
  }
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

// One kubeconfig file as read.
struct KubeconfigFile {
  std::string path;
  fs::path dir;  // relative paths in the file resolve against it
  YAML::Node root;
};

// A cluster, context or user: the body of the named entry and where it is.
struct Entry {
  YAML::Node body;    // the entry's "cluster", "context" or "user"
  std::string field;  // "clusters[1].cluster"
  const KubeconfigFile* file = nullptr;
};

// Returns the exec plugin of users[].user.exec at `field`, whose relative
// command resolves against `dir`; sets `provide_cluster_info`.
Result<ExecConfig> ParseExec(const YAML::Node& node, const std::string& field, const fs::path& dir,
                             bool& provide_cluster_info) {
  if (!node.IsMap()) return Fail(field, "is not a map");
  ExecConfig exec;
  exec.field = field;
  exec.api_version = Scalar(node["apiVersion"]);
  if (exec.api_version.empty()) return Fail(field + ".apiVersion", "is not set");
  if (exec.api_version != kExecV1 && exec.api_version != kExecV1beta1) {
    return Fail(field + ".apiVersion", "\"" + exec.api_version + "\" is not supported (" +
                                           std::string(kExecV1) + " or " +
                                           std::string(kExecV1beta1) + ")");
  }
  exec.command = Scalar(node["command"]);
  if (exec.command.empty()) return Fail(field + ".command", "is not set");
  if (exec.command.find('/') != std::string::npos && fs::path(exec.command).is_relative()) {
    exec.command = (dir / exec.command).lexically_normal().string();
  }
  if (const YAML::Node args = node["args"]; !Absent(args)) {
    if (!args.IsSequence()) return Fail(field + ".args", "is not a list of strings");
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].IsScalar()) {
        return Fail(field + ".args[" + std::to_string(i) + "]", "is not a string");
      }
      exec.args.push_back(args[i].as<std::string>());
    }
  }
  if (const YAML::Node env = node["env"]; !Absent(env)) {
    if (!env.IsSequence()) return Fail(field + ".env", "is not a list of {name, value}");
    for (size_t i = 0; i < env.size(); ++i) {
      const std::string item = field + ".env[" + std::to_string(i) + "]";
      if (!env[i].IsMap()) return Fail(item, "is not a map of name and value");
      const std::string name = Scalar(env[i]["name"]);
      if (name.empty()) return Fail(item + ".name", "is not set");
      if (name.find('=') != std::string::npos) return Fail(item + ".name", "contains '='");
      exec.env.emplace_back(name, Scalar(env[i]["value"]));
    }
  }
  exec.install_hint = Scalar(node["installHint"]);
  auto provide = Bool(node["provideClusterInfo"], field + ".provideClusterInfo");
  if (!provide) return std::unexpected(std::move(provide.error()));
  provide_cluster_info = *provide;
  // The operator never has a terminal: a plugin may not insist on one.
  const std::string mode = Scalar(node["interactiveMode"]);
  if (mode.empty() && exec.api_version == kExecV1) {
    return Fail(field + ".interactiveMode",
                "is not set (" + std::string(kExecV1) + " requires it: Never or IfAvailable)");
  }
  if (mode == "Always") {
    return Fail(field + ".interactiveMode",
                "Always is not supported: the operator never runs a plugin interactively "
                "(use Never or IfAvailable)");
  }
  if (!mode.empty() && mode != "Never" && mode != "IfAvailable") {
    return Fail(field + ".interactiveMode", "\"" + mode + "\" is not Never, IfAvailable or Always");
  }
  return exec;
}

// The kubeconfig files of one load, their entries indexed by name: the first
// file that defines a name wins, as does the first that sets current-context.
class Kubeconfigs {
 public:
  // Reads `path` and adds its entries after those of the files before it.
  // When `merging`, a missing or empty file adds nothing.
  std::optional<Error> Read(const std::string& path, bool merging) {
    std::error_code ec;
    if (merging && !fs::exists(path, ec)) return std::nullopt;
    auto text = ReadFile(path);
    if (!text) return std::move(text.error());
    YAML::Node root;
    try {
      root = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      return Invalid("", "kubeconfig \"" + path + "\": " + e.what());
    }
    if (merging && root.IsNull()) return std::nullopt;
    if (!root.IsMap()) return Invalid("", "kubeconfig \"" + path + "\" is not a YAML map");
    files_.push_back(std::make_unique<KubeconfigFile>(
        KubeconfigFile{path, fs::absolute(fs::path(path)).parent_path(), root}));
    return Index(*files_.back());
  }

  bool empty() const { return files_.empty(); }

  // Returns the configuration of the current context.
  Result<ClusterConfig> Resolve() const {
    ClusterConfig config;
    if (current_file_ == nullptr) {
      return Fail("current-context", files_.size() > 1 ? "is not set in any file" : "is not set");
    }
    const auto context_entry = contexts_.find(current_);
    if (context_entry == contexts_.end()) {
      return std::unexpected(Located(
          Invalid("current-context", "names no context \"" + current_ + "\""), *current_file_));
    }
    const Entry& context = context_entry->second;
    auto fail = [&](const Entry& entry, std::string field, std::string message) {
      return std::unexpected(Located(Invalid(std::move(field), std::move(message)), *entry.file));
    };
    if (!context.body || !context.body.IsMap()) return fail(context, context.field, "is missing");
    if (const std::string ns = Scalar(context.body["namespace"]); !ns.empty()) {
      config.namespace_name = ns;
    }

    const std::string cluster_name = Scalar(context.body["cluster"]);
    if (cluster_name.empty()) return fail(context, context.field + ".cluster", "is not set");
    const auto cluster_entry = clusters_.find(cluster_name);
    if (cluster_entry == clusters_.end()) {
      return fail(context, context.field + ".cluster", "names no cluster \"" + cluster_name + "\"");
    }
    const Entry& cluster = cluster_entry->second;
    if (auto error = ParseCluster(cluster, config)) {
      return std::unexpected(Located(std::move(*error), *cluster.file));
    }

    const std::string user_name = Scalar(context.body["user"]);
    if (user_name.empty()) return config;
    const auto user_entry = users_.find(user_name);
    if (user_entry == users_.end()) {
      return fail(context, context.field + ".user", "names no user \"" + user_name + "\"");
    }
    const Entry& user = user_entry->second;
    bool provide_cluster_info = false;
    if (auto error = ParseUser(user, config, provide_cluster_info)) {
      return std::unexpected(Located(std::move(*error), *user.file));
    }
    if (config.exec && provide_cluster_info) {
      auto info = ClusterInfo(cluster, config);
      if (!info) return std::unexpected(Located(std::move(info.error()), *cluster.file));
      config.exec->cluster = std::move(*info);
    }
    return config;
  }

 private:
  std::optional<Error> Index(const KubeconfigFile& file) {
    struct List {
      const char* key;
      const char* kind;
      std::map<std::string, Entry>* entries;
    };
    for (const List& list :
         {List{"clusters", "cluster", &clusters_}, List{"contexts", "context", &contexts_},
          List{"users", "user", &users_}}) {
      const YAML::Node items = file.root[list.key];
      if (Absent(items)) continue;
      if (!items.IsSequence()) return Located(Invalid(list.key, "is not a list"), file);
      std::map<std::string, size_t> names;
      for (size_t i = 0; i < items.size(); ++i) {
        const std::string field = std::string(list.key) + "[" + std::to_string(i) + "]";
        const YAML::Node item = items[i];
        if (!item.IsMap()) return Located(Invalid(field, "is not a map"), file);
        const std::string name = Scalar(item["name"]);
        if (name.empty()) continue;
        if (const auto [other, added] = names.emplace(name, i); !added) {
          return Located(
              Invalid(field + ".name", "\"" + name + "\" is also the name of " + list.key + "[" +
                                           std::to_string(other->second) + "]"),
              file);
        }
        list.entries->emplace(name, Entry{item[list.kind], field + "." + list.kind, &file});
      }
    }
    if (current_file_ == nullptr) {
      if (std::string current = Scalar(file.root["current-context"]); !current.empty()) {
        current_ = std::move(current);
        current_file_ = &file;
      }
    }
    return std::nullopt;
  }

  // Returns `error` naming `file` when more than one file was read.
  Error Located(Error error, const KubeconfigFile& file) const {
    if (files_.size() > 1) error.message += " (in \"" + file.path + "\")";
    return error;
  }

  static std::optional<Error> ParseCluster(const Entry& entry, ClusterConfig& config) {
    const YAML::Node& cluster = entry.body;
    const std::string& path = entry.field;
    if (!cluster || !cluster.IsMap()) return Invalid(path, "is missing");
    config.server = Scalar(cluster["server"]);
    while (config.server.ends_with('/')) config.server.pop_back();
    if (config.server.empty()) return Invalid(path + ".server", "is not set");
    if (!config.server.starts_with("https://") && !config.server.starts_with("http://")) {
      return Invalid(path + ".server", "\"" + config.server + "\" is not an http(s) URL");
    }
    if (!Scalar(cluster["proxy-url"]).empty()) {
      return Invalid(path + ".proxy-url",
                     "is not supported: the operator connects to the API server directly");
    }
    auto insecure = Bool(cluster["insecure-skip-tls-verify"], path + ".insecure-skip-tls-verify");
    if (!insecure) return std::move(insecure.error());
    config.insecure_skip_tls_verify = *insecure;
    config.tls_server_name = Scalar(cluster["tls-server-name"]);
    return ReadFileOrData(cluster, path, "certificate-authority", entry.file->dir,
                          config.certificate_authority_pem);
  }

  static std::optional<Error> ParseUser(const Entry& entry, ClusterConfig& config,
                                        bool& provide_cluster_info) {
    const YAML::Node& user = entry.body;
    const std::string& path = entry.field;
    const fs::path& dir = entry.file->dir;
    if (Absent(user)) return std::nullopt;
    if (!user.IsMap()) return Invalid(path, "is not a map");
    if (user["auth-provider"]) {
      return Invalid(path + ".auth-provider", "is not supported: use an exec credential plugin");
    }
    if (user["username"]) {
      return Invalid(path + ".username", "is not supported (basic authentication)");
    }
    if (user["token"]) {
      config.token = Trim(Scalar(user["token"]));
      if (config.token.empty()) return Invalid(path + ".token", "is empty");
    } else if (const std::string file = Scalar(user["tokenFile"]); !file.empty()) {
      config.token_file = (dir / file).string();
      auto text = ReadFile(config.token_file);
      if (!text) return Invalid(path + ".tokenFile", text.error().message);
      if (Trim(*text).empty()) return Invalid(path + ".tokenFile", "\"" + file + "\" is empty");
    }
    if (auto error =
            ReadFileOrData(user, path, "client-certificate", dir, config.client_certificate_pem)) {
      return error;
    }
    if (auto error = ReadFileOrData(user, path, "client-key", dir, config.client_key_pem)) {
      return error;
    }
    if (config.client_certificate_pem.empty() != config.client_key_pem.empty()) {
      return Invalid(
          path + (config.client_key_pem.empty() ? ".client-key" : ".client-certificate"),
          "is required with " +
              std::string(config.client_key_pem.empty() ? "client-certificate" : "client-key"));
    }
    if (const YAML::Node exec = user["exec"]; !Absent(exec)) {
      auto parsed = ParseExec(exec, path + ".exec", dir, provide_cluster_info);
      if (!parsed) return std::move(parsed.error());
      // As in client-go, a token or certificate of the user's own wins.
      const bool static_credentials = !config.token.empty() || !config.token_file.empty() ||
                                      !config.client_certificate_pem.empty();
      if (!static_credentials) config.exec = std::move(*parsed);
    }
    return std::nullopt;
  }

  // Returns spec.cluster of the ExecCredential given to a plugin of `config`.
  static Result<json> ClusterInfo(const Entry& cluster, const ClusterConfig& config) {
    json info = {{"server", config.server}};
    if (!config.tls_server_name.empty()) info["tls-server-name"] = config.tls_server_name;
    if (config.insecure_skip_tls_verify) info["insecure-skip-tls-verify"] = true;
    if (!config.certificate_authority_pem.empty()) {
      info["certificate-authority-data"] = EncodeBase64(config.certificate_authority_pem);
    }
    auto compression =
        Bool(cluster.body["disable-compression"], cluster.field + ".disable-compression");
    if (!compression) return std::unexpected(std::move(compression.error()));
    if (*compression) info["disable-compression"] = true;
    if (const YAML::Node extensions = cluster.body["extensions"]; !Absent(extensions)) {
      if (!extensions.IsSequence()) return Fail(cluster.field + ".extensions", "is not a list");
      for (const YAML::Node& extension : extensions) {
        if (extension.IsMap() && Scalar(extension["name"]) == kExecExtension) {
          info["config"] = ToJson(extension["extension"]);
        }
      }
    }
    return info;
  }

  std::vector<std::unique_ptr<KubeconfigFile>> files_;
  std::map<std::string, Entry> clusters_;
  std::map<std::string, Entry> contexts_;
  std::map<std::string, Entry> users_;
  std::string current_;
  const KubeconfigFile* current_file_ = nullptr;
};

// Returns the configuration of `files`' current context; yaml-cpp's
// exceptions become errors of `what`.
Result<ClusterConfig> Resolve(const Kubeconfigs& files, const std::string& what) {
  try {
    return files.Resolve();
  } catch (const YAML::Exception& e) {
    return Fail("", what + ": " + e.what());
  }
}

// The value of KUBERNETES_EXEC_INFO for `exec`'s plugin.
std::string ExecInfo(const ExecConfig& exec) {
  json spec = {{"interactive", false}};
  if (!exec.cluster.is_null()) spec["cluster"] = exec.cluster;
  return json{{"apiVersion", exec.api_version}, {"kind", "ExecCredential"}, {"spec", spec}}.dump();
}

// The environment of `exec`'s plugin: the operator's, with SSL_CERT_FILE as
// the operator found it, `exec.env` over it and KUBERNETES_EXEC_INFO.
std::vector<std::string> PluginEnvironment(const ExecConfig& exec) {
  std::set<std::string, std::less<>> replaced{std::string(kExecInfoVariable)};
  for (const auto& [name, value] : exec.env) replaced.insert(name);
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!replaced.contains(text.substr(0, text.find('=')))) env.emplace_back(text);
  }
  RestoreCaBundleVariable(env);
  for (size_t i = 0; i < exec.env.size(); ++i) {
    const auto& [name, value] = exec.env[i];
    const bool overridden =
        std::any_of(exec.env.begin() + static_cast<std::ptrdiff_t>(i) + 1, exec.env.end(),
                    [&](const auto& later) { return later.first == name; });
    if (!overridden) env.push_back(name + "=" + value);
  }
  env.push_back(std::string(kExecInfoVariable) + "=" + ExecInfo(exec));
  return env;
}

std::string DescribeTimeout(std::chrono::milliseconds timeout) {
  if (timeout.count() % 1000 == 0) return std::to_string(timeout.count() / 1000) + " s";
  return std::to_string(timeout.count()) + " ms";
}

// Runs `exec`'s command and returns its standard output.
Result<std::string> RunCommand(const ExecConfig& exec, std::chrono::milliseconds timeout) {
  const std::string what = "command \"" + exec.command + "\"";
  std::vector<std::string> args{exec.command};
  args.insert(args.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = PluginEnvironment(exec);
  std::vector<char*> envp;
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return Fail(exec.field, "cannot run " + what + ": " + ErrnoText(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
#endif
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int signal : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) {
    sigaddset(&defaults, signal);
  }
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const bool search = exec.command.find('/') == std::string::npos;
  pid_t pid = 0;
  const int spawned = search ? posix_spawnp(&pid, exec.command.c_str(), &actions, &attributes,
                                            argv.data(), envp.data())
                             : posix_spawn(&pid, exec.command.c_str(), &actions, &attributes,
                                           argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(out[1]);
  if (spawned != 0) {
    close(out[0]);
    std::error_code ec;
    if (spawned == ENOENT && (search || !fs::exists(exec.command, ec))) {
      std::string message = what + " not found" + (search ? " in PATH" : "");
      if (const std::string hint = OneLine(exec.install_hint); !hint.empty()) {
        message += ": " + hint;
      }
      return Fail(exec.field, std::move(message));
    }
    return Fail(exec.field, "cannot run " + what + ": " + ErrnoText(spawned));
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string output;
  bool timed_out = false;
  bool too_long = false;
  while (true) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd readable{out[0], POLLIN, 0};
    const int ready = poll(&readable, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // end of output
    if (output.size() + static_cast<size_t>(n) > kMaxPluginOutput) {
      too_long = true;
      break;
    }
    output.append(buffer, static_cast<size_t>(n));
  }
  close(out[0]);
  if (timed_out || too_long) kill(pid, SIGKILL);

  // The output ended: the command exits now, or is killed at the deadline.
  int status = 0;
  bool reaped = false;
  while (true) {
    const pid_t done = waitpid(pid, &status, timed_out || too_long ? 0 : WNOHANG);
    if (done == pid) {
      reaped = true;
      break;
    }
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) break;  // reaped elsewhere (SIGCHLD ignored): the status is unknown
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      timed_out = true;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (timed_out) {
    return Fail(exec.field, what + " did not finish within " + DescribeTimeout(timeout));
  }
  if (too_long) {
    return Fail(exec.field,
                what + " printed more than " + std::to_string(kMaxPluginOutput >> 20) + " MiB");
  }
  if (reaped && WIFSIGNALED(status)) {
    return Fail(exec.field, what + " was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (reaped && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    return Fail(exec.field, what + " exited with status " + std::to_string(WEXITSTATUS(status)));
  }
  return output;
}

// Returns the credential of a plugin's `output`, an ExecCredential of
// exec.api_version. Errors never quote the output.
Result<ExecCredential> ParseExecCredential(std::string_view output, const ExecConfig& exec) {
  const std::string prefix = "the output of command \"" + exec.command + "\" ";
  auto fail = [&](const std::string& message) { return Fail(exec.field, prefix + message); };
  json document;
  try {
    document = json::parse(output);
  } catch (const json::parse_error& e) {
    return fail("is not JSON (syntax error at byte " + std::to_string(e.byte) + ")");
  }
  if (!document.is_object()) return fail("is not a JSON object");
  const auto kind = document.find("kind");
  if (kind == document.end() || *kind != "ExecCredential") {
    return fail("is not an ExecCredential (kind)");
  }
  const auto api_version = document.find("apiVersion");
  if (api_version == document.end() || *api_version != exec.api_version) {
    const std::string got =
        api_version != document.end() && api_version->is_string() &&
                api_version->get<std::string>().starts_with("client.authentication.k8s.io/")
            ? "is of " + api_version->get<std::string>()
            : "has no apiVersion of client.authentication.k8s.io";
    return fail(got + ", not the " + exec.api_version + " the kubeconfig asks for");
  }
  const auto status = document.find("status");
  if (status == document.end() || !status->is_object()) return fail("has no status");
  ExecCredential credential;
  for (const auto& [key, out] : {std::pair<const char*, std::string*>{"token", &credential.token},
                                 {"clientCertificateData", &credential.client_certificate_pem},
                                 {"clientKeyData", &credential.client_key_pem}}) {
    const auto value = status->find(key);
    if (value == status->end() || value->is_null()) continue;
    if (!value->is_string()) {
      return fail(std::string("has a status.") + key + " that is not a string");
    }
    *out = value->get<std::string>();
  }
  if (credential.token.empty() && credential.client_certificate_pem.empty() &&
      credential.client_key_pem.empty()) {
    return fail("has neither status.token nor status.clientCertificateData and clientKeyData");
  }
  if (credential.client_certificate_pem.empty() != credential.client_key_pem.empty()) {
    return fail(credential.client_key_pem.empty()
                    ? "has status.clientCertificateData without status.clientKeyData"
                    : "has status.clientKeyData without status.clientCertificateData");
  }
  if (const auto expiry = status->find("expirationTimestamp");
      expiry != status->end() && !expiry->is_null()) {
    const std::optional<WallTime> time =
        expiry->is_string() ? ParseRfc3339(expiry->get<std::string>()) : std::nullopt;
    if (!time) return fail("has a status.expirationTimestamp that is not an RFC 3339 time");
    credential.expiry = *time;
  }
  return credential;
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

Result<ExecCredential> RunExecPlugin(const ExecConfig& exec, std::chrono::milliseconds timeout) {
  auto output = RunCommand(exec, timeout);
  if (!output) return std::unexpected(std::move(output.error()));
  return ParseExecCredential(*output, exec);
}

ExecCredentials::ExecCredentials(ExecConfig exec, std::chrono::seconds refresh_before, NowFn now,
                                 std::chrono::milliseconds timeout)
    : exec_(std::move(exec)),
      refresh_before_(refresh_before),
      now_(now ? std::move(now) : NowFn([] { return WallClock::now(); })),
      timeout_(timeout) {}

bool ExecCredentials::Fresh(WallClock::time_point now) const {
  if (!current_ || invalidated_) return false;
  if (!current_->expiry) return true;
  const WallClock::duration lifetime = *current_->expiry - obtained_at_;
  const WallClock::duration margin = std::max(
      WallClock::duration::zero(), std::min<WallClock::duration>(refresh_before_, lifetime / 2));
  return now < *current_->expiry - margin;
}

Result<std::shared_ptr<const ExecCredential>> ExecCredentials::Get() {
  std::lock_guard lock(mu_);
  const WallClock::time_point now = now_();
  if (Fresh(now)) return current_;
  const bool usable = current_ && !invalidated_ && (!current_->expiry || now < *current_->expiry);
  if (usable && now < retry_at_) return current_;
  Result<ExecCredential> fresh = RunExecPlugin(exec_, timeout_);
  if (!fresh) {
    if (!usable) return std::unexpected(std::move(fresh.error()));
    retry_at_ = now + std::chrono::seconds(1);
    return current_;
  }
  current_ = std::make_shared<const ExecCredential>(std::move(*fresh));
  obtained_at_ = now;
  invalidated_ = false;
  return current_;
}

void ExecCredentials::Invalidate(const std::shared_ptr<const ExecCredential>& rejected) {
  std::lock_guard lock(mu_);
  if (rejected != nullptr && rejected == current_) invalidated_ = true;
}

Result<ClusterConfig> LoadKubeconfig(const std::string& path) {
  Kubeconfigs files;
  if (auto error = files.Read(path, false)) return std::unexpected(std::move(*error));
  return Resolve(files, "kubeconfig \"" + path + "\"");
}

Result<ClusterConfig> LoadMergedKubeconfig(const std::vector<std::string>& paths) {
  Kubeconfigs files;
  std::set<std::string> seen;
  for (const std::string& path : paths) {
    if (path.empty() || !seen.insert(path).second) continue;
    if (auto error = files.Read(path, true)) return std::unexpected(std::move(*error));
  }
  if (files.empty()) {
    return Fail("KUBECONFIG", "names no kubeconfig file that exists and is not empty");
  }
  return Resolve(files, "KUBECONFIG");
}

std::vector<std::string> SplitKubeconfigList(std::string_view value) {
  std::vector<std::string> paths;
  while (true) {
    const size_t colon = value.find(':');
    if (std::string_view path = value.substr(0, colon); !path.empty()) paths.emplace_back(path);
    if (colon == std::string_view::npos) break;
    value.remove_prefix(colon + 1);
  }
  return paths;
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
    return LoadMergedKubeconfig(SplitKubeconfigList(env));
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
