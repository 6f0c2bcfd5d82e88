// LoadKubeconfig, InClusterConfig and BearerToken over files in a temporary
// directory.
#include "adapters/kubeconfig.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

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

  const Result<ClusterConfig> exec = LoadKubeconfig(
      Kubeconfig(kServer, "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n"));
  ASSERT_FALSE(exec.has_value());
  EXPECT_EQ(exec.error().field, "users[0].user.exec");
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
