// LoadKubeconfig, LoadMergedKubeconfig, InClusterConfig and BearerToken over
// files in a temporary directory. Exec plugins run in kubeconfig_exec_test.cc.
#include "adapters/kubeconfig.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pricing::op {
namespace {

namespace fs = std::filesystem;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "kubeconfig-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  // A kubeconfig of one cluster, context and user with `cluster` and `user`
  // as the stanzas' bodies (indented by the caller).
  std::string Kubeconfig(const std::string& cluster, const std::string& user,
                         const std::string& current = "ctx") {
    return Write("config", "apiVersion: v1\nkind: Config\n"
                           "current-context: " + current + "\n"
                           "clusters:\n- name: other\n  cluster: {server: https://other:1}\n"
                           "- name: c\n  cluster:\n" + cluster +
                           "contexts:\n- name: ctx\n  context: {cluster: c, user: u, namespace: team}\n"
                           "users:\n- name: u\n  user:\n" + user);
  }

  fs::path dir_;
};

constexpr const char* kServer = "    server: https://127.0.0.1:6443/\n";

TEST_F(KubeconfigTest, TokenUser) {
  const Result<ClusterConfig> config =
      LoadKubeconfig(Kubeconfig(std::string(kServer) + "    insecure-skip-tls-verify: true\n",
                                "    token: abc123\n"));
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->token, "abc123");
  EXPECT_EQ(config->namespace_name, "team");
  EXPECT_TRUE(config->certificate_authority_pem.empty());
}

TEST_F(KubeconfigTest, CertificateAndKeyData) {
  // "CA-PEM", "CERT-PEM", "KEY-PEM" in base64.
  const Result<ClusterConfig> config = LoadKubeconfig(Kubeconfig(
      std::string(kServer) + "    certificate-authority-data: Q0EtUEVN\n",
      "    client-certificate-data: Q0VSVC1QRU0=\n    client-key-data: S0VZLVBFTQ==\n"));
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->certificate_authority_pem, "CA-PEM");
  EXPECT_EQ(config->client_certificate_pem, "CERT-PEM");
  EXPECT_EQ(config->client_key_pem, "KEY-PEM");
  EXPECT_TRUE(config->token.empty());
}

TEST_F(KubeconfigTest, RelativeFilesResolveAgainstTheKubeconfigDirectory) {
  Write("pki/ca.crt", "ca");
  Write("pki/admin.crt", "cert");
  Write("pki/admin.key", "key");
  Write("secrets/token", "tok\n");
  const Result<ClusterConfig> config = LoadKubeconfig(
      Kubeconfig(std::string(kServer) + "    certificate-authority: pki/ca.crt\n",
                 "    client-certificate: pki/admin.crt\n    client-key: pki/admin.key\n"
                 "    tokenFile: secrets/token\n"));
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->certificate_authority_pem, "ca");
  EXPECT_EQ(config->client_certificate_pem, "cert");
  EXPECT_EQ(config->client_key_pem, "key");
  EXPECT_EQ(config->token_file, (dir_ / "secrets/token").string());
  EXPECT_EQ(BearerToken(*config).Get(), "tok");
}

TEST_F(KubeconfigTest, AbsoluteFilesAreUsedAsTheyAre) {
  const std::string ca = Write("elsewhere/ca.crt", "ca");
  const Result<ClusterConfig> config = LoadKubeconfig(
      Kubeconfig(std::string(kServer) + "    certificate-authority: " + ca + "\n",
                 "    token: t\n"));
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->certificate_authority_pem, "ca");
}

TEST_F(KubeconfigTest, MissingContextNamesCurrentContext) {
  const Result<ClusterConfig> config =
      LoadKubeconfig(Kubeconfig(kServer, "    token: t\n", "nope"));
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().field, "current-context");
  EXPECT_NE(config.error().message.find("nope"), std::string::npos);
}

TEST_F(KubeconfigTest, UnreadableFileNamesTheField) {
  const Result<ClusterConfig> config = LoadKubeconfig(Kubeconfig(
      std::string(kServer) + "    certificate-authority: missing/ca.crt\n", "    token: t\n"));
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().field, "clusters[1].cluster.certificate-authority");
  EXPECT_NE(config.error().message.find("missing/ca.crt"), std::string::npos)
      << config.error().message;

  const Result<ClusterConfig> token =
      LoadKubeconfig(Kubeconfig(kServer, "    tokenFile: /nonexistent/token\n"));
  ASSERT_FALSE(token.has_value());
  EXPECT_EQ(token.error().field, "users[0].user.tokenFile");
}

TEST_F(KubeconfigTest, BadValuesNameTheField) {
  const Result<ClusterConfig> empty_token = LoadKubeconfig(Kubeconfig(kServer, "    token: \"\"\n"));
  ASSERT_FALSE(empty_token.has_value());
  EXPECT_EQ(empty_token.error().field, "users[0].user.token");

  const Result<ClusterConfig> bad_data = LoadKubeconfig(
      Kubeconfig(std::string(kServer) + "    certificate-authority-data: '!!!'\n", "    token: t\n"));
  ASSERT_FALSE(bad_data.has_value());
  EXPECT_EQ(bad_data.error().field, "clusters[1].cluster.certificate-authority-data");

  const Result<ClusterConfig> no_key =
      LoadKubeconfig(Kubeconfig(kServer, "    client-certificate-data: Q0VSVC1QRU0=\n"));
  ASSERT_FALSE(no_key.has_value());
  EXPECT_EQ(no_key.error().field, "users[0].user.client-key");

  const Result<ClusterConfig> no_server =
      LoadKubeconfig(Kubeconfig("    insecure-skip-tls-verify: true\n", "    token: t\n"));
  ASSERT_FALSE(no_server.has_value());
  EXPECT_EQ(no_server.error().field, "clusters[1].cluster.server");

  const Result<ClusterConfig> auth_provider =
      LoadKubeconfig(Kubeconfig(kServer, "    auth-provider: {name: gcp}\n"));
  ASSERT_FALSE(auth_provider.has_value());
  EXPECT_EQ(auth_provider.error().field, "users[0].user.auth-provider");

  const Result<ClusterConfig> not_bool = LoadKubeconfig(
      Kubeconfig(std::string(kServer) + "    insecure-skip-tls-verify: maybe\n", "    token: t\n"));
  ASSERT_FALSE(not_bool.has_value());
  EXPECT_EQ(not_bool.error().field, "clusters[1].cluster.insecure-skip-tls-verify");
}

TEST_F(KubeconfigTest, TlsServerNameIsTheNameToVerify) {
  const Result<ClusterConfig> config = LoadKubeconfig(Kubeconfig(
      std::string(kServer) + "    tls-server-name: kubernetes.default.svc\n", "    token: t\n"));
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->tls_server_name, "kubernetes.default.svc");
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
}

TEST_F(KubeconfigTest, ProxyUrlIsRefusedNamingTheField) {
  const Result<ClusterConfig> config = LoadKubeconfig(Kubeconfig(
      std::string(kServer) + "    proxy-url: http://proxy.internal:3128\n", "    token: t\n"));
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().field, "clusters[1].cluster.proxy-url");
  EXPECT_NE(config.error().message.find("not supported"), std::string::npos);
}

TEST_F(KubeconfigTest, ExecUserIsReadWithItsCommandResolvedLikeKubectl) {
  const Result<ClusterConfig> config = LoadKubeconfig(Kubeconfig(
      kServer,
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1\n"
      "      command: ./bin/../plugins/credential\n"
      "      args: [get-token, --cluster, \"c 1\"]\n"
      "      env: [{name: REGION, value: eu-west-1}, {name: EMPTY}]\n"
      "      installHint: |\n        Install it with\n        the package manager.\n"
      "      interactiveMode: Never\n"));
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  ASSERT_TRUE(config->exec.has_value());
  const ExecConfig& exec = *config->exec;
  EXPECT_EQ(exec.field, "users[0].user.exec");
  EXPECT_EQ(exec.api_version, "client.authentication.k8s.io/v1");
  EXPECT_EQ(exec.command, (dir_ / "plugins/credential").string());
  EXPECT_EQ(exec.args, (std::vector<std::string>{"get-token", "--cluster", "c 1"}));
  EXPECT_EQ(exec.env, (std::vector<std::pair<std::string, std::string>>{{"REGION", "eu-west-1"},
                                                                         {"EMPTY", ""}}));
  EXPECT_EQ(exec.install_hint, "Install it with\nthe package manager.\n");
  EXPECT_TRUE(exec.cluster.is_null());  // provideClusterInfo is not set
  EXPECT_TRUE(config->token.empty());

  // A bare name is looked up in PATH when run; an absolute path is kept.
  for (const std::string command : {"aws", "/usr/local/bin/gke-gcloud-auth-plugin"}) {
    const Result<ClusterConfig> other = LoadKubeconfig(Kubeconfig(
        kServer, "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: " +
                     command + "}\n"));
    ASSERT_TRUE(other.has_value()) << ToString(other.error());
    ASSERT_TRUE(other->exec.has_value());
    EXPECT_EQ(other->exec->command, command);
  }
}

TEST_F(KubeconfigTest, ExecSettingsAreCheckedAsKubectlChecksThem) {
  struct Case {
    std::string exec;
    std::string field;
    std::string says;
  };
  const Case cases[] = {
      {"{command: p, interactiveMode: Never}", "users[0].user.exec.apiVersion", "not set"},
      {"{apiVersion: client.authentication.k8s.io/v1alpha1, command: p}",
       "users[0].user.exec.apiVersion", "v1alpha1"},
      {"{apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}",
       "users[0].user.exec.command", "not set"},
      // v1 has no default interactiveMode; v1beta1 defaults to IfAvailable.
      {"{apiVersion: client.authentication.k8s.io/v1, command: p}",
       "users[0].user.exec.interactiveMode", "not set"},
      {"{apiVersion: client.authentication.k8s.io/v1, command: p, interactiveMode: Always}",
       "users[0].user.exec.interactiveMode", "Always is not supported"},
      {"{apiVersion: client.authentication.k8s.io/v1beta1, command: p, interactiveMode: Always}",
       "users[0].user.exec.interactiveMode", "Always is not supported"},
      {"{apiVersion: client.authentication.k8s.io/v1, command: p, interactiveMode: Sometimes}",
       "users[0].user.exec.interactiveMode", "Sometimes"},
      {"{apiVersion: client.authentication.k8s.io/v1beta1, command: p, env: [{value: x}]}",
       "users[0].user.exec.env[0].name", "not set"},
      {"{apiVersion: client.authentication.k8s.io/v1beta1, command: p, args: [[a]]}",
       "users[0].user.exec.args[0]", "not a string"},
      {"{apiVersion: client.authentication.k8s.io/v1beta1, command: p, provideClusterInfo: 3}",
       "users[0].user.exec.provideClusterInfo", "true or false"},
  };
  for (const Case& c : cases) {
    const Result<ClusterConfig> config =
        LoadKubeconfig(Kubeconfig(kServer, "    exec: " + c.exec + "\n"));
    ASSERT_FALSE(config.has_value()) << c.exec;
    EXPECT_EQ(config.error().field, c.field) << c.exec;
    EXPECT_NE(config.error().message.find(c.says), std::string::npos)
        << c.exec << ": " << config.error().message;
    EXPECT_EQ(ToString(config.error()).find('\n'), std::string::npos) << c.exec;
  }
  const Result<ClusterConfig> beta = LoadKubeconfig(Kubeconfig(
      kServer, "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: p}\n"));
  ASSERT_TRUE(beta.has_value()) << ToString(beta.error());
  EXPECT_TRUE(beta->exec.has_value());
}

TEST_F(KubeconfigTest, AStaticTokenOrCertificateWinsOverExec) {
  const std::string exec =
      "    exec: {apiVersion: client.authentication.k8s.io/v1, command: p, "
      "interactiveMode: Never}\n";
  const Result<ClusterConfig> token = LoadKubeconfig(Kubeconfig(kServer, "    token: t\n" + exec));
  ASSERT_TRUE(token.has_value()) << ToString(token.error());
  EXPECT_EQ(token->token, "t");
  EXPECT_FALSE(token->exec.has_value());

  const Result<ClusterConfig> cert = LoadKubeconfig(Kubeconfig(
      kServer,
      "    client-certificate-data: Q0VSVC1QRU0=\n    client-key-data: S0VZLVBFTQ==\n" + exec));
  ASSERT_TRUE(cert.has_value()) << ToString(cert.error());
  EXPECT_FALSE(cert->exec.has_value());
}

TEST_F(KubeconfigTest, ProvideClusterInfoDescribesTheCluster) {
  Write("pki/ca.crt", "CA-PEM");
  const Result<ClusterConfig> config = LoadKubeconfig(Kubeconfig(
      std::string(kServer) +
          "    certificate-authority: pki/ca.crt\n"
          "    tls-server-name: api.internal\n"
          "    extensions:\n"
          "    - name: unrelated\n      extension: {a: 1}\n"
          "    - name: client.authentication.k8s.io/exec\n"
          "      extension: {audience: pricing, retries: 3, verbose: true, quoted: \"3\"}\n",
      "    exec: {apiVersion: client.authentication.k8s.io/v1, command: p, "
      "interactiveMode: IfAvailable, provideClusterInfo: true}\n"));
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  ASSERT_TRUE(config->exec.has_value());
  EXPECT_EQ(config->exec->cluster,
            nlohmann::json::parse(R"({"server": "https://127.0.0.1:6443",
                                     "tls-server-name": "api.internal",
                                     "certificate-authority-data": "Q0EtUEVN",
                                     "config": {"audience": "pricing", "retries": 3,
                                                "verbose": true, "quoted": "3"}})"));
}

TEST_F(KubeconfigTest, DuplicateNamesInOneFileAreAnError) {
  const std::string path = Write(
      "config",
      "current-context: ctx\n"
      "clusters:\n- name: c\n  cluster: {server: https://a:1}\n"
      "- name: c\n  cluster: {server: https://b:1}\n"
      "contexts:\n- name: ctx\n  context: {cluster: c}\n");
  const Result<ClusterConfig> config = LoadKubeconfig(path);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().field, "clusters[1].name");
  EXPECT_NE(config.error().message.find("clusters[0]"), std::string::npos);
}

// $KUBECONFIG merging, after kubectl's documented rules: the first file to set
// a value or define a name wins, entries are taken whole, and each file's
// relative paths resolve against its own directory.
class MergedKubeconfigTest : public KubeconfigTest {
 protected:
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
};

TEST_F(MergedKubeconfigTest, TheFirstFileToDefineANameOrSetTheContextWins) {
  Write("a/config",
        "current-context: dev\n"
        "clusters:\n- name: shared\n  cluster: {server: https://first:6443}\n"
        "users:\n- name: alice\n  user: {token: alice-from-a}\n");
  Write("b/config",
        "current-context: prod\n"
        "clusters:\n- name: shared\n  cluster: {server: https://second:6443, "
        "insecure-skip-tls-verify: true}\n"
        "- name: prod\n  cluster: {server: https://prod:6443}\n"
        "contexts:\n- name: dev\n  context: {cluster: shared, user: alice, namespace: dev}\n"
        "- name: prod\n  context: {cluster: prod, user: bob}\n"
        "users:\n- name: alice\n  user:\n    client-certificate-data: Q0VSVC1QRU0=\n"
        "    client-key-data: S0VZLVBFTQ==\n"
        "- name: bob\n  user: {token: bob}\n");
  const Result<ClusterConfig> config =
      LoadMergedKubeconfig({Path("a/config"), Path("b/config")});
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->server, "https://first:6443");      // a's cluster, whole:
  EXPECT_FALSE(config->insecure_skip_tls_verify);       // nothing of b's "shared"
  EXPECT_EQ(config->namespace_name, "dev");             // the context only b defines
  EXPECT_EQ(config->token, "alice-from-a");             // a's user, whole:
  EXPECT_TRUE(config->client_certificate_pem.empty());  // nothing of b's "alice"

  const Result<ClusterConfig> reversed =
      LoadMergedKubeconfig({Path("b/config"), Path("a/config")});
  ASSERT_TRUE(reversed.has_value()) << ToString(reversed.error());
  EXPECT_EQ(reversed->server, "https://prod:6443");
  EXPECT_EQ(reversed->token, "bob");
}

TEST_F(MergedKubeconfigTest, MissingEmptyAndRepeatedFilesAreSkipped) {
  Write("empty", "");
  Write("only-users", "users:\n- name: u\n  user: {token: from-only-users}\n");
  Write("main", "current-context: ctx\n"
                "clusters:\n- name: c\n  cluster: {server: https://main:6443}\n"
                "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n"
                "users:\n- name: u\n  user: {token: from-main}\n");
  const Result<ClusterConfig> config = LoadMergedKubeconfig(
      {Path("absent"), Path("empty"), "", Path("only-users"), Path("main"), Path("only-users")});
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->server, "https://main:6443");
  EXPECT_EQ(config->token, "from-only-users");

  const Result<ClusterConfig> none = LoadMergedKubeconfig({Path("absent"), Path("empty")});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().field, "KUBECONFIG");
}

TEST_F(MergedKubeconfigTest, RelativePathsResolveAgainstTheirOwnFile) {
  Write("team/pki/ca.crt", "team-ca");
  Write("team/config", "current-context: ctx\n"
                       "clusters:\n- name: c\n  cluster:\n    server: https://team:6443\n"
                       "    certificate-authority: pki/ca.crt\n"
                       "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n");
  Write("home/secrets/token", "home-token\n");
  Write("home/config",
        "users:\n- name: u\n  user:\n    tokenFile: secrets/token\n"
        "- name: e\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
        "command: bin/plugin}\n"
        "contexts:\n- name: exec\n  context: {cluster: c, user: e}\n");
  const Result<ClusterConfig> config =
      LoadMergedKubeconfig({Path("team/config"), Path("home/config")});
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->certificate_authority_pem, "team-ca");
  EXPECT_EQ(config->token_file, (dir_ / "home/secrets/token").string());
  EXPECT_EQ(BearerToken(*config).Get(), "home-token");

  Write("pick-exec", "current-context: exec\n");
  const Result<ClusterConfig> exec = LoadMergedKubeconfig(
      {Path("pick-exec"), Path("team/config"), Path("home/config")});
  ASSERT_TRUE(exec.has_value()) << ToString(exec.error());
  ASSERT_TRUE(exec->exec.has_value());
  EXPECT_EQ(exec->exec->command, (dir_ / "home/bin/plugin").string());
}

TEST_F(MergedKubeconfigTest, AnErrorNamesTheFieldInItsOwnFileAndTheFile) {
  Write("a", "current-context: ctx\n"
             "clusters:\n- name: c\n  cluster: {server: https://a:6443}\n"
             "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n");
  Write("b", "users:\n- name: other\n  user: {token: x}\n- name: u\n  user: {token: \"\"}\n");
  const Result<ClusterConfig> config = LoadMergedKubeconfig({Path("a"), Path("b")});
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().field, "users[1].user.token");
  EXPECT_NE(config.error().message.find(Path("b")), std::string::npos) << config.error().message;

  Write("not-a-map", "- just\n- a list\n");
  const Result<ClusterConfig> bad = LoadMergedKubeconfig({Path("a"), Path("not-a-map")});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("not-a-map"), std::string::npos);
}

TEST(SplitKubeconfigList, SplitsAtColonsAndDropsEmptyEntries) {
  EXPECT_EQ(SplitKubeconfigList("a:b/c::d:"), (std::vector<std::string>{"a", "b/c", "d"}));
  EXPECT_EQ(SplitKubeconfigList("only"), (std::vector<std::string>{"only"}));
  EXPECT_TRUE(SplitKubeconfigList(":").empty());
}

// Sets an environment variable for a scope; restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_F(MergedKubeconfigTest, LoadClusterConfigMergesKubeconfigButNotAnExplicitPath) {
  Write("first", "current-context: ctx\n"
                 "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n");
  Write("second", "clusters:\n- name: c\n  cluster: {server: https://merged:6443}\n"
                  "users:\n- name: u\n  user: {token: merged}\n");
  ScopedEnv kubeconfig("KUBECONFIG", Path("missing") + ":" + Path("first") + "::" + Path("second"));
  const Result<ClusterConfig> merged = LoadClusterConfig();
  ASSERT_TRUE(merged.has_value()) << ToString(merged.error());
  EXPECT_EQ(merged->server, "https://merged:6443");
  EXPECT_EQ(merged->token, "merged");

  // --kubeconfig: that file alone.
  const Result<ClusterConfig> explicit_path = LoadClusterConfig(Path("first"));
  ASSERT_FALSE(explicit_path.has_value());
  EXPECT_EQ(explicit_path.error().field, "contexts[0].context.cluster");
  const Result<ClusterConfig> missing = LoadClusterConfig(Path("missing"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos);
}

TEST_F(KubeconfigTest, UnreadableOrMalformedKubeconfig) {
  const Result<ClusterConfig> missing = LoadKubeconfig((dir_ / "absent").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("absent"), std::string::npos);

  const Result<ClusterConfig> malformed = LoadKubeconfig(Write("bad", "clusters: [\n"));
  ASSERT_FALSE(malformed.has_value());
  EXPECT_NE(malformed.error().message.find("bad"), std::string::npos);
}

TEST_F(KubeconfigTest, InClusterConfigReadsTheServiceAccount) {
  Write("sa/token", "sa-token\n");
  Write("sa/ca.crt", "ca");
  Write("sa/namespace", "pricing");
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  const Result<ClusterConfig> config = InClusterConfig((dir_ / "sa").string());
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(config.has_value()) << ToString(config.error());
  EXPECT_EQ(config->server, "https://10.0.0.1:443");
  EXPECT_EQ(config->certificate_authority_pem, "ca");
  EXPECT_EQ(config->namespace_name, "pricing");
  EXPECT_EQ(BearerToken(*config).Get(), "sa-token");
}

TEST_F(KubeconfigTest, InClusterConfigOutsideAPod) {
  unsetenv("KUBERNETES_SERVICE_HOST");
  const Result<ClusterConfig> config = InClusterConfig((dir_ / "sa").string());
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().field, "KUBERNETES_SERVICE_HOST");
}

TEST_F(KubeconfigTest, BearerTokenRereadsARotatedFileAtMostOncePerRefresh) {
  const std::string file = Write("token", "first");
  ClusterConfig config;
  config.token_file = file;
  BearerToken::Clock::time_point now{std::chrono::hours(1)};
  BearerToken token(config, std::chrono::seconds(60), [&] { return now; });
  EXPECT_EQ(token.Get(), "first");
  Write("token", "second");
  now += std::chrono::seconds(59);
  EXPECT_EQ(token.Get(), "first");
  now += std::chrono::seconds(1);
  EXPECT_EQ(token.Get(), "second");
  fs::remove(file);  // a failed re-read keeps the last token
  now += std::chrono::seconds(60);
  EXPECT_EQ(token.Get(), "second");
}

TEST(DecodeBase64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(DecodeBase64("aGVsbG8=").value_or("?"), "hello");
  EXPECT_EQ(DecodeBase64("aGVsbG8").value_or("?"), "hello");
  EXPECT_EQ(DecodeBase64("aGVs\nbG8h").value_or("?"), "hello!");
  EXPECT_FALSE(DecodeBase64("aGV*").has_value());
}

}  // namespace
}  // namespace pricing::op
