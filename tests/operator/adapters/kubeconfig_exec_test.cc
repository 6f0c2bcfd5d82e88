// Exec credential plugins: RunExecPlugin, ExecCredentials' cache and the
// REST client's renewal after a 401, with plugins that are shell scripts the
// tests write into a temporary directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/kube_client.h"
#include "adapters/kubeconfig.h"
#include "adapters/tls_trust.h"
#include "common/time_text.h"
#include "http_peer.h"

namespace pricing::op {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;
using testing_peer::Peer;
using testing_peer::Request;

constexpr const char* kV1 = "client.authentication.k8s.io/v1";
constexpr const char* kV1beta1 = "client.authentication.k8s.io/v1beta1";

WallTime At(const char* rfc3339) { return ParseRfc3339(rfc3339).value(); }

class ExecPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "exec-plugin-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::string Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  std::string Read(const std::string& name) const {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Writes an executable /bin/sh script `name` with `body`; returns its path.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = Write(name, "#!/bin/sh\n" + body);
    chmod(path.c_str(), 0755);
    return path;
  }

  // A script that counts its runs in the file "runs" and prints the
  // credential `token-<run>` of `api_version`, expiring at the time in the
  // file "expiry" when there is one; it fails when the file "fail" exists.
  std::string CountingScript(const std::string& api_version = kV1) {
    const std::string dir = dir_.string();
    return Script("counting.sh",
                  "n=$(cat '" + dir +
                      "/runs' 2>/dev/null || echo 0)\n"
                      "n=$((n + 1))\n"
                      "echo $n > '" +
                      dir +
                      "/runs'\n"
                      "[ -e '" +
                      dir +
                      "/fail' ] && exit 1\n"
                      "expiry=\n"
                      "[ -e '" +
                      dir +
                      "/expiry' ] && "
                      "expiry=\",\\\"expirationTimestamp\\\":\\\"$(cat '" +
                      dir +
                      "/expiry')\\\"\"\n"
                      "printf '{\"apiVersion\":\"" +
                      api_version +
                      "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"token-%s\"%s}}\\n' "
                      "\"$n\" \"$expiry\"\n");
  }

  int Runs() const {
    const std::string text = Read("runs");
    return text.empty() ? 0 : std::stoi(text);
  }

  ExecConfig Exec(const std::string& command, const std::string& api_version = kV1) const {
    ExecConfig exec;
    exec.field = "users[2].user.exec";
    exec.api_version = api_version;
    exec.command = command;
    return exec;
  }

  fs::path dir_;
};

TEST_F(ExecPluginTest, V1PluginGivesAToken) {
  const ExecConfig exec = Exec(Script(
      "token.sh",
      "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"token\":\"my-bearer-token\","
      "\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}}'\n"));
  const Result<ExecCredential> credential = RunExecPlugin(exec);
  ASSERT_TRUE(credential.has_value()) << ToString(credential.error());
  EXPECT_EQ(credential->token, "my-bearer-token");
  EXPECT_TRUE(credential->client_certificate_pem.empty());
  ASSERT_TRUE(credential->expiry.has_value());
  EXPECT_EQ(*credential->expiry, At("2030-01-02T03:04:05Z"));
}

TEST_F(ExecPluginTest, V1beta1PluginGivesAClientCertificate) {
  const json output = {{"apiVersion", kV1beta1},
                       {"kind", "ExecCredential"},
                       {"status",
                        {{"clientCertificateData", "-----BEGIN CERTIFICATE-----\nAAA\n"},
                         {"clientKeyData", "-----BEGIN PRIVATE KEY-----\nBBB\n"}}}};
  Write("credential.json", output.dump());
  const ExecConfig exec =
      Exec(Script("cert.sh", "cat '" + Path("credential.json") + "'\n"), kV1beta1);
  const Result<ExecCredential> credential = RunExecPlugin(exec);
  ASSERT_TRUE(credential.has_value()) << ToString(credential.error());
  EXPECT_TRUE(credential->token.empty());
  EXPECT_EQ(credential->client_certificate_pem, "-----BEGIN CERTIFICATE-----\nAAA\n");
  EXPECT_EQ(credential->client_key_pem, "-----BEGIN PRIVATE KEY-----\nBBB\n");
  EXPECT_FALSE(credential->expiry.has_value());
}

TEST_F(ExecPluginTest, ArgsEnvAndExecInfoReachThePluginWithoutAShell) {
  const std::string dir = dir_.string();
  ExecConfig exec = Exec(Script(
      "record.sh",
      "for a in \"$@\"; do echo \"[$a]\"; done > '" + dir +
          "/args'\n"
          "printf '%s' \"$REGION|$OVERRIDDEN|$HOME\" > '" +
          dir +
          "/env'\n"
          "printf '%s' \"$KUBERNETES_EXEC_INFO\" > '" +
          dir +
          "/info'\n"
          "[ -t 0 ] && echo tty > '" +
          dir +
          "/stdin'\n"
          "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
          "\"status\":{\"token\":\"t\"}}'\n"));
  exec.args = {"get-token", "two words", "$HOME", "*"};
  exec.env = {{"REGION", "eu-west-1"}, {"OVERRIDDEN", "first"}, {"OVERRIDDEN", "second"}};
  const Result<ExecCredential> credential = RunExecPlugin(exec);
  ASSERT_TRUE(credential.has_value()) << ToString(credential.error());
  EXPECT_EQ(Read("args"), "[get-token]\n[two words]\n[$HOME]\n[*]\n");
  const char* home = std::getenv("HOME");
  EXPECT_EQ(Read("env"), "eu-west-1|second|" + std::string(home ? home : ""));
  EXPECT_EQ(Read("stdin"), "");
  EXPECT_EQ(json::parse(Read("info")),
            json::parse(R"({"apiVersion": "client.authentication.k8s.io/v1",
                            "kind": "ExecCredential", "spec": {"interactive": false}})"));

  exec.cluster = {{"server", "https://127.0.0.1:6443"}, {"certificate-authority-data", "Q0E="}};
  ASSERT_TRUE(RunExecPlugin(exec).has_value());
  const json info = json::parse(Read("info"));
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"], exec.cluster);
}

TEST_F(ExecPluginTest, ProvideClusterInfoFromAKubeconfigReachesThePlugin) {
  const std::string dir = dir_.string();
  Script("conf/plugins/info.sh",
         "printf '%s' \"$KUBERNETES_EXEC_INFO\" > '" + dir +
             "/info'\n"
             "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
             "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n");
  const std::string kubeconfig =
      Write("conf/config",
            "current-context: ctx\n"
            "clusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:443\n"
            "    tls-server-name: kubernetes\n"
            "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n"
            "users:\n- name: u\n  user:\n    exec:\n"
            "      apiVersion: client.authentication.k8s.io/v1beta1\n"
            "      command: ./plugins/info.sh\n"  // relative to conf/, not to the working directory
            "      provideClusterInfo: true\n");
  const Result<ClusterConfig> config = LoadKubeconfig(kubeconfig);
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  ASSERT_TRUE(config->exec.has_value());
  const Result<ExecCredential> credential = RunExecPlugin(*config->exec);
  ASSERT_TRUE(credential.has_value()) << ToString(credential.error());
  EXPECT_EQ(credential->token, "t");
  EXPECT_EQ(json::parse(Read("info"))["spec"],
            json::parse(R"({"interactive": false, "cluster": {"server": "https://10.0.0.1:443",
                                                              "tls-server-name": "kubernetes"}})"));
}

TEST_F(ExecPluginTest, FailingPluginNamesTheUserAndTheStatusButNotTheOutput) {
  const ExecConfig exec = Exec(Script(
      "fail.sh",
      "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"token\":\"leaked-secret\"}}'\n"
      "exit 3\n"));
  const Result<ExecCredential> credential = RunExecPlugin(exec);
  ASSERT_FALSE(credential.has_value());
  EXPECT_EQ(credential.error().field, "users[2].user.exec");
  EXPECT_NE(credential.error().message.find("exited with status 3"), std::string::npos)
      << credential.error().message;
  EXPECT_NE(credential.error().message.find("fail.sh"), std::string::npos);
  EXPECT_EQ(ToString(credential.error()).find("leaked-secret"), std::string::npos);
}

TEST_F(ExecPluginTest, MalformedOutputSaysWhatIsWrongWithoutQuotingIt) {
  struct Case {
    std::string output;
    std::string says;
  };
  // An ExecCredential of `api_version` and `kind` with `status` (none when null).
  auto printed = [](const char* api_version, const char* kind, const json& status) {
    json out = {{"apiVersion", api_version}, {"kind", kind}};
    if (!status.is_null()) out["status"] = status;
    return out.dump();
  };
  const Case cases[] = {
      {"token: super-secret-1\n", "not JSON"},
      {"[\"super-secret-2\"]", "not a JSON object"},
      {printed(kV1, "Secret", {{"token", "super-secret-3"}}), "not an ExecCredential"},
      {printed(kV1beta1, "ExecCredential", {{"token", "super-secret-4"}}),
       "is of client.authentication.k8s.io/v1beta1, not the client.authentication.k8s.io/v1"},
      {printed(kV1, "ExecCredential", nullptr), "has no status"},
      {printed(kV1, "ExecCredential", json::object()), "neither status.token nor"},
      {printed(kV1, "ExecCredential", {{"clientCertificateData", "super-secret-5"}}),
       "without status.clientKeyData"},
      {printed(kV1, "ExecCredential",
               {{"token", "super-secret-6"}, {"expirationTimestamp", "tomorrow"}}),
       "status.expirationTimestamp that is not an RFC 3339 time"},
      {printed(kV1, "ExecCredential", {{"token", 7}}), "status.token that is not a string"},
      {"", "not JSON"},
  };
  for (const Case& c : cases) {
    Write("output", c.output);
    const ExecConfig exec = Exec(Script("garbage.sh", "cat '" + Path("output") + "'\n"));
    const Result<ExecCredential> credential = RunExecPlugin(exec);
    ASSERT_FALSE(credential.has_value()) << c.output;
    EXPECT_EQ(credential.error().field, "users[2].user.exec");
    EXPECT_NE(credential.error().message.find(c.says), std::string::npos)
        << c.output << " -> " << credential.error().message;
    EXPECT_EQ(credential.error().message.find("super-secret"), std::string::npos)
        << credential.error().message;
    EXPECT_EQ(credential.error().message.find('\n'), std::string::npos);
  }
}

TEST_F(ExecPluginTest, MissingCommandGivesTheInstallHintOnOneLine) {
  ExecConfig exec = Exec("pricing-test-no-such-credential-plugin");
  exec.install_hint = "Install the plugin:\n  apt-get install the-plugin\n";
  const Result<ExecCredential> credential = RunExecPlugin(exec);
  ASSERT_FALSE(credential.has_value());
  EXPECT_EQ(credential.error().field, "users[2].user.exec");
  EXPECT_EQ(credential.error().message,
            "command \"pricing-test-no-such-credential-plugin\" not found in PATH: "
            "Install the plugin: apt-get install the-plugin");

  const Result<ExecCredential> by_path = RunExecPlugin(Exec(Path("bin/absent")));
  ASSERT_FALSE(by_path.has_value());
  EXPECT_NE(by_path.error().message.find("not found"), std::string::npos);
}

TEST_F(ExecPluginTest, APluginThatHangsIsKilledAtTheTimeout) {
  const ExecConfig exec = Exec(Script("hang.sh", "exec sleep 30\n"));
  const auto start = std::chrono::steady_clock::now();
  const Result<ExecCredential> credential = RunExecPlugin(exec, 300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_FALSE(credential.has_value());
  EXPECT_NE(credential.error().message.find("did not finish within 300 ms"), std::string::npos)
      << credential.error().message;

  // One that closes its output but goes on running is killed too.
  const ExecConfig detached = Exec(Script("detached.sh", "exec >&-\nexec sleep 30\n"));
  const auto again = std::chrono::steady_clock::now();
  const Result<ExecCredential> second = RunExecPlugin(detached, 300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - again, 5s);
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("did not finish"), std::string::npos);
}

TEST_F(ExecPluginTest, StandardErrorIsPassedThrough) {
  const ExecConfig exec = Exec(Script(
      "noisy.sh",
      "echo 'plugin: refreshing the session' >&2\n"
      "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"token\":\"t\"}}'\n"));
  fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  const int file = open(Path("stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(file, 0);
  dup2(file, STDERR_FILENO);
  close(file);
  const Result<ExecCredential> credential = RunExecPlugin(exec);
  dup2(saved, STDERR_FILENO);
  close(saved);
  ASSERT_TRUE(credential.has_value()) << ToString(credential.error());
  EXPECT_EQ(credential->token, "t");
  EXPECT_EQ(Read("stderr"), "plugin: refreshing the session\n");
}

// DeferDefaultCaBundle changes the process for good, so each case runs in a
// process of its own (a death test that exits normally).
TEST_F(ExecPluginTest, PluginSeesTheCaBundleVariableTheOperatorStartedWith) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const ExecConfig exec = Exec(Script(
      "ca.sh",
      "printf '%s' \"${SSL_CERT_FILE-unset}\" > '" + Path("ca") +
          "'\n"
          "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
          "\"status\":{\"token\":\"t\"}}'\n"));
  // Runs the plugin after the operator's start-up deferral; exits 0 and says
  // what the plugin saw.
  auto run = [&](const char* bundle) {
    if (bundle != nullptr) {
      ::setenv(X509_get_default_cert_file_env(), bundle, 1);
    } else {
      ::unsetenv(X509_get_default_cert_file_env());
    }
    DeferDefaultCaBundle();
    const std::string deferred = std::getenv(X509_get_default_cert_file_env());
    std::vector<std::string> env = {std::string(X509_get_default_cert_file_env()) + "=" + deferred};
    RestoreCaBundleVariable(env);
    const bool restored = env.empty() || env[0].find(deferred) == std::string::npos;
    const bool ran = RunExecPlugin(exec).has_value();
    std::fprintf(stderr, "ran=%d restored=%d plugin saw [%s]\n", ran, restored, Read("ca").c_str());
    fs::remove_all(dir_);
    std::exit(0);
  };
  EXPECT_EXIT(run("test-ca-bundle.pem"), ::testing::ExitedWithCode(0),
              "ran=1 restored=1 plugin saw \\[test-ca-bundle.pem\\]");
  EXPECT_EXIT(run(nullptr), ::testing::ExitedWithCode(0),
              "ran=1 restored=1 plugin saw \\[unset\\]");
}

TEST_F(ExecPluginTest, CredentialsAreCachedUntilShortlyBeforeTheyExpire) {
  Write("expiry", "2030-01-01T00:00:00Z");
  WallTime now = At("2029-12-31T23:00:00Z");
  ExecCredentials credentials(Exec(CountingScript()), 10s, [&] { return now; });
  for (int i = 0; i < 3; ++i) {
    auto credential = credentials.Get();
    ASSERT_TRUE(credential.has_value()) << ToString(credential.error());
    EXPECT_EQ((*credential)->token, "token-1");
  }
  EXPECT_EQ(Runs(), 1);

  now = At("2029-12-31T23:59:49Z");  // 11 s left: still cached
  EXPECT_EQ(credentials.Get().value()->token, "token-1");
  EXPECT_EQ(Runs(), 1);

  Write("expiry", "2030-01-01T01:00:00Z");
  now = At("2029-12-31T23:59:50Z");  // 10 s left: refreshed
  EXPECT_EQ(credentials.Get().value()->token, "token-2");
  EXPECT_EQ(credentials.Get().value()->token, "token-2");
  EXPECT_EQ(Runs(), 2);

  now = At("2030-01-01T00:30:00Z");  // past the first expiry, before the second
  EXPECT_EQ(credentials.Get().value()->token, "token-2");
  now = At("2030-01-01T02:00:00Z");  // long expired
  EXPECT_EQ(credentials.Get().value()->token, "token-3");
  EXPECT_EQ(Runs(), 3);
}

TEST_F(ExecPluginTest, ACredentialWithoutExpiryIsKeptUntilInvalidated) {
  ExecCredentials credentials(Exec(CountingScript(kV1beta1), kV1beta1));
  auto first = credentials.Get();
  ASSERT_TRUE(first.has_value()) << ToString(first.error());
  EXPECT_EQ((*first)->token, "token-1");
  EXPECT_EQ(credentials.Get().value(), *first);
  EXPECT_EQ(Runs(), 1);

  credentials.Invalidate(*first);  // the API server said 401
  auto second = credentials.Get();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ((*second)->token, "token-2");
  credentials.Invalidate(*first);  // a late 401 to the old one changes nothing
  EXPECT_EQ(credentials.Get().value()->token, "token-2");
  EXPECT_EQ(Runs(), 2);
}

TEST_F(ExecPluginTest, AFailedRefreshKeepsTheCredentialUntilItExpires) {
  Write("expiry", "2030-01-01T00:00:00Z");
  WallTime now = At("2029-12-31T23:00:00Z");
  ExecCredentials credentials(Exec(CountingScript()), 10s, [&] { return now; });
  EXPECT_EQ(credentials.Get().value()->token, "token-1");

  Write("fail", "");
  now = At("2029-12-31T23:59:55Z");  // due, but the plugin fails: the old one still works
  EXPECT_EQ(credentials.Get().value()->token, "token-1");
  EXPECT_EQ(credentials.Get().value()->token, "token-1");
  EXPECT_EQ(Runs(), 2);  // and is not retried within a second
  now = At("2029-12-31T23:59:57Z");
  EXPECT_EQ(credentials.Get().value()->token, "token-1");
  EXPECT_EQ(Runs(), 3);

  now = At("2030-01-01T00:00:00Z");  // expired: the failure is the answer
  const auto expired = credentials.Get();
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().field, "users[2].user.exec");
  EXPECT_NE(expired.error().message.find("exited with status 1"), std::string::npos);

  fs::remove(dir_ / "fail");
  EXPECT_EQ(credentials.Get().value()->token, "token-5");
}

// An API server that accepts only the bearer token "token-2".
Peer AcceptOnlySecondToken() {
  return Peer([](int fd, const Request& request, Peer&) {
    if (request.headers.find("Bearer token-2") != std::string::npos) {
      Peer::Respond(fd, 200, R"({"kind":"ConfigMap","metadata":{"name":"a"}})");
    } else {
      Peer::Respond(fd, 401,
                    R"({"kind":"Status","reason":"Unauthorized","message":"Unauthorized"})");
    }
  });
}

std::unique_ptr<RestKubeClient> ExecClientFor(const Peer& peer, const ExecConfig& exec) {
  ClusterConfig config;
  config.server = peer.Url();
  config.exec = exec;
  auto client = RestKubeClient::FromConfig(config);
  EXPECT_TRUE(client.has_value()) << (client ? "" : ToString(client.error()));
  return client ? std::move(*client) : nullptr;
}

const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};

TEST_F(ExecPluginTest, ClientRunsThePluginAgainAfterA401AndResends) {
  Peer peer = AcceptOnlySecondToken();
  std::unique_ptr<RestKubeClient> client = ExecClientFor(peer, Exec(CountingScript()));
  ASSERT_NE(client, nullptr);
  const KubeResult<json> got = client->Get(kConfigMaps, "ns", "a");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(Runs(), 2);
  const std::vector<Request> requests = peer.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0].headers.find("Bearer token-1"), std::string::npos);
  EXPECT_NE(requests[1].headers.find("Bearer token-2"), std::string::npos);

  // The renewed credential is cached.
  ASSERT_TRUE(client->Get(kConfigMaps, "ns", "a").has_value());
  EXPECT_EQ(Runs(), 2);
}

TEST_F(ExecPluginTest, WatchRunsThePluginAgainAfterA401) {
  Peer peer([](int fd, const Request& request, Peer&) {
    if (request.headers.find("Bearer token-2") == std::string::npos) {
      Peer::Respond(fd, 401, R"({"kind":"Status","reason":"Unauthorized"})");
      return;
    }
    Peer::StartChunked(fd);
    Peer::Send(fd, "0\r\n\r\n");
  });
  std::unique_ptr<RestKubeClient> client = ExecClientFor(peer, Exec(CountingScript()));
  ASSERT_NE(client, nullptr);
  WatchOptions options;
  options.namespace_name = "ns";
  auto stream = client->Watch(kConfigMaps, options);
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  EXPECT_EQ(Runs(), 2);
  EXPECT_EQ(peer.Requests().size(), 2u);
}

TEST_F(ExecPluginTest, ClientDoesNotResendWhenThePluginGivesTheSameCredential) {
  Peer peer = AcceptOnlySecondToken();
  const std::string dir = dir_.string();
  const ExecConfig exec = Exec(Script(
      "same.sh",
      "echo run >> '" + dir +
          "/same-runs'\n"
          "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
          "\"status\":{\"token\":\"always-wrong\"}}'\n"));
  std::unique_ptr<RestKubeClient> client = ExecClientFor(peer, exec);
  ASSERT_NE(client, nullptr);
  const KubeResult<json> got = client->Get(kConfigMaps, "ns", "a");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kForbidden);
  EXPECT_EQ(got.error().http_status, 401);
  EXPECT_EQ(Read("same-runs"), "run\nrun\n");  // run again after the 401...
  EXPECT_EQ(peer.Requests().size(), 1u);       // ...but nothing new to send
}

TEST_F(ExecPluginTest, AFailingPluginFailsTheRequestAsTransient) {
  Peer peer = AcceptOnlySecondToken();
  std::unique_ptr<RestKubeClient> client =
      ExecClientFor(peer, Exec(Script("fail.sh",
                                      "echo 'cannot reach the identity provider' >&2\n"
                                      "exit 2\n")));
  ASSERT_NE(client, nullptr);
  const KubeResult<json> got = client->Get(kConfigMaps, "ns", "a");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kTransient);
  EXPECT_NE(got.error().message.find("users[2].user.exec"), std::string::npos)
      << got.error().message;
  EXPECT_NE(got.error().message.find("exited with status 2"), std::string::npos);
  EXPECT_TRUE(peer.Requests().empty());
}

}  // namespace
}  // namespace pricing::op
