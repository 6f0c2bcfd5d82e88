// RestKubeClient against a real API server (run.sh starts it, installs crds/
// and exports KUBECONFIG): every KubeClient call, its error kinds, watches,
// both kinds of credentials, also from exec plugins, and tls-server-name.
// Each test works in a namespace of its own.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "adapters/kube_client.h"
#include "adapters/kubeconfig.h"
#include "common/testing/shell.h"
#include "op/desired.h"
#include "op/managed_fields.h"
#include "op/spec.h"
#include "op/yaml.h"

namespace pricing::op {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
constexpr const char* kManager = "pricing-operator-test";

std::string Kubeconfig() {
  const char* path = std::getenv("KUBECONFIG");
  return path == nullptr ? "" : path;
}

ListOptions ListIn(const std::string& ns, const std::string& selector) {
  ListOptions options;
  options.namespace_name = ns;
  options.label_selector = selector;
  return options;
}

std::unique_ptr<RestKubeClient> ClientOf(const std::string& kubeconfig, int list_page_size = 500) {
  const Result<ClusterConfig> config = LoadKubeconfig(kubeconfig);
  EXPECT_TRUE(config.has_value()) << (config ? "" : ToString(config.error()));
  if (!config) return nullptr;
  RestClientOptions options;
  options.qps = 100;
  options.burst = 100;
  options.list_page_size = list_page_size;
  auto client = RestKubeClient::FromConfig(*config, options);
  EXPECT_TRUE(client.has_value()) << (client ? "" : ToString(client.error()));
  return client ? std::move(*client) : nullptr;
}

json ConfigMap(const std::string& ns, const std::string& name, const std::string& value,
               json labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"data", {{"key", value}}}};
}

json ExampleObject(const std::string& file, const std::string& ns) {
  std::ifstream in(std::string(PRICING_REPO_DIR) + "/examples/" + file);
  std::ostringstream text;
  text << in.rdbuf();
  Result<json> object = ParseYaml(text.str());
  EXPECT_TRUE(object.has_value()) << (object ? "" : object.error().message);
  json pe = object.value_or(json::object());
  pe["metadata"]["namespace"] = ns;
  return pe;
}

json MinimalPricingEngine(const std::string& ns) {
  return ExampleObject("pricingengine-minimal.yaml", ns);
}

std::string Rv(const json& object) {
  return object.at("metadata").at("resourceVersion").get<std::string>();
}

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Kubeconfig().empty()) << "KUBECONFIG is not set; run through run.sh";
    client_ = ClientOf(Kubeconfig());
    ASSERT_NE(client_, nullptr);
    static std::atomic<int> counter{0};
    ns_ = "kc-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    const KubeResult<json> created =
        client_->Create(kNamespaces, {{"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created.has_value()) << created.error().message;
  }

  void TearDown() override {
    if (client_) (void)client_->Delete(kNamespaces, "", ns_);
  }

  std::unique_ptr<RestKubeClient> client_;
  std::string ns_;
};

TEST_F(KubeClientTest, ApplyThenGetReturnsTheObject) {
  const KubeResult<json> applied = client_->Apply(kConfigMaps, ConfigMap(ns_, "a", "1"), kManager);
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  const KubeResult<json> got = client_->Get(kConfigMaps, ns_, "a");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ((*got)["data"]["key"], "1");
  EXPECT_EQ((*got)["kind"], "ConfigMap");
  EXPECT_EQ((*got)["apiVersion"], "v1");
  EXPECT_EQ(Rv(*got), Rv(*applied));
}

TEST_F(KubeClientTest, ApplyTwiceIsIdempotent) {
  const KubeResult<json> first = client_->Apply(kConfigMaps, ConfigMap(ns_, "a", "1"), kManager);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  const KubeResult<json> second = client_->Apply(kConfigMaps, ConfigMap(ns_, "a", "1"), kManager);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(Rv(*first), Rv(*second));
  const KubeResult<json> changed = client_->Apply(kConfigMaps, ConfigMap(ns_, "a", "2"), kManager);
  ASSERT_TRUE(changed.has_value()) << changed.error().message;
  EXPECT_NE(Rv(*first), Rv(*changed));
}

TEST_F(KubeClientTest, ClientCertificateCredentialsWork) {
  const fs::path cert_config = fs::path(Kubeconfig()).parent_path() / "kubeconfig-cert";
  std::unique_ptr<RestKubeClient> client = ClientOf(cert_config.string());
  ASSERT_NE(client, nullptr);
  const KubeResult<json> applied = client->Apply(kConfigMaps, ConfigMap(ns_, "c", "x"), kManager);
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  const KubeResult<json> ns = client->Get(kNamespaces, "", ns_);
  ASSERT_TRUE(ns.has_value()) << ns.error().message;
  EXPECT_EQ((*ns)["kind"], "Namespace");
}

TEST_F(KubeClientTest, PricingEngineAndItsStatusSubresource) {
  const json pe = MinimalPricingEngine(ns_);
  const KubeResult<json> applied = client_->Apply(kPricingEngines, pe, kManager);
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  EXPECT_EQ((*applied)["spec"]["components"][0]["name"], "api");

  const json status = {{"apiVersion", pe["apiVersion"]},
                       {"kind", "PricingEngine"},
                       {"metadata", {{"name", "minimal"}, {"namespace", ns_}}},
                       {"status", {{"observedGeneration", 1}, {"marketDay", "Regular"}}}};
  const KubeResult<json> with_status = client_->Apply(kPricingEngines, status, kManager, "status");
  ASSERT_TRUE(with_status.has_value()) << with_status.error().message;

  const KubeResult<json> got = client_->Get(kPricingEngines, ns_, "minimal");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ((*got)["status"]["observedGeneration"], 1);
  EXPECT_EQ((*got)["status"]["marketDay"], "Regular");
  EXPECT_EQ((*got)["spec"], (*applied)["spec"]);
  EXPECT_EQ((*got)["metadata"]["generation"], (*applied)["metadata"]["generation"]);
}

TEST_F(KubeClientTest, InvalidPricingEngineIsInvalidWithTheServersMessage) {
  json pe = MinimalPricingEngine(ns_);
  pe["spec"]["components"][0]["replicas"]["min"] = 0;
  const KubeResult<json> applied = client_->Apply(kPricingEngines, pe, kManager);
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().kind, KubeError::Kind::kInvalid) << applied.error().message;
  EXPECT_EQ(applied.error().http_status, 422);
  EXPECT_EQ(applied.error().reason, "Invalid");
  EXPECT_NE(applied.error().message.find("replicas.min"), std::string::npos)
      << applied.error().message;
}

TEST_F(KubeClientTest, MissingObjectIsNotFound) {
  const KubeResult<json> got = client_->Get(kConfigMaps, ns_, "absent");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kNotFound);
  EXPECT_EQ(got.error().http_status, 404);
  EXPECT_EQ(got.error().reason, "NotFound");
  const KubeResult<void> deleted = client_->Delete(kConfigMaps, ns_, "absent");
  ASSERT_FALSE(deleted.has_value());
  EXPECT_EQ(deleted.error().kind, KubeError::Kind::kNotFound);
}

TEST_F(KubeClientTest, StaleUpdateAndDuplicateCreateConflict) {
  const KubeResult<json> created = client_->Create(kConfigMaps, ConfigMap(ns_, "a", "1"));
  ASSERT_TRUE(created.has_value()) << created.error().message;
  const KubeResult<json> again = client_->Create(kConfigMaps, ConfigMap(ns_, "a", "1"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().kind, KubeError::Kind::kConflict);
  EXPECT_EQ(again.error().reason, "AlreadyExists");

  json update = *created;
  update["data"]["key"] = "2";
  const KubeResult<json> updated = client_->Update(kConfigMaps, update);
  ASSERT_TRUE(updated.has_value()) << updated.error().message;
  update["data"]["key"] = "3";  // still carries the first resourceVersion
  const KubeResult<json> stale = client_->Update(kConfigMaps, update);
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().kind, KubeError::Kind::kConflict);
  EXPECT_EQ(stale.error().reason, "Conflict");
}

TEST_F(KubeClientTest, DeleteHonoursTheUidPrecondition) {
  const KubeResult<json> created = client_->Create(kConfigMaps, ConfigMap(ns_, "a", "1"));
  ASSERT_TRUE(created.has_value()) << created.error().message;
  const KubeResult<void> wrong = client_->Delete(kConfigMaps, ns_, "a", {"Background", "not-the-uid"});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().kind, KubeError::Kind::kConflict) << wrong.error().message;
  const std::string uid = (*created)["metadata"]["uid"];
  ASSERT_TRUE(client_->Delete(kConfigMaps, ns_, "a", {"Background", uid}).has_value());
  EXPECT_EQ(client_->Get(kConfigMaps, ns_, "a").error().kind, KubeError::Kind::kNotFound);
}

TEST_F(KubeClientTest, ListFiltersByLabelAndFillsTypeMeta) {
  for (const char* name : {"x1", "x2"}) {
    ASSERT_TRUE(client_->Apply(kConfigMaps, ConfigMap(ns_, name, "v", {{"app", "x"}}), kManager));
  }
  ASSERT_TRUE(client_->Apply(kConfigMaps, ConfigMap(ns_, "y", "v", {{"app", "y"}}), kManager));
  const KubeResult<ListResult> list = client_->List(kConfigMaps, ListIn(ns_, "app=x"));
  ASSERT_TRUE(list.has_value()) << list.error().message;
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_FALSE(list->resource_version.empty());
  for (const json& item : list->items) {
    EXPECT_EQ(item["kind"], "ConfigMap");
    EXPECT_EQ(item["apiVersion"], "v1");
    EXPECT_EQ(item["metadata"]["labels"]["app"], "x");
  }
  const KubeResult<ListResult> none = client_->List(kConfigMaps, ListIn(ns_, "app in (z,w)"));
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_TRUE(none->items.empty());
}

TEST_F(KubeClientTest, ListPagesThroughTheTransform) {
  for (const char* name : {"p1", "p2", "p3"}) {
    ASSERT_TRUE(client_->Apply(kConfigMaps, ConfigMap(ns_, name, "v", {{"app", "p"}}), kManager));
  }
  const std::unique_ptr<RestKubeClient> paged = ClientOf(Kubeconfig(), 1);  // a page per item
  ASSERT_NE(paged, nullptr);
  ListOptions options = ListIn(ns_, "app=p");
  int seen = 0;
  options.transform = [&](const json& item) {
    ++seen;
    EXPECT_EQ(item["kind"], "ConfigMap");  // type meta is filled in before the transform
    EXPECT_TRUE(item["metadata"].contains("managedFields"));
    return json{{"metadata", {{"name", item["metadata"]["name"]}}}};
  };
  const KubeResult<ListResult> list = paged->List(kConfigMaps, options);
  ASSERT_TRUE(list.has_value()) << list.error().message;
  EXPECT_EQ(seen, 3);
  ASSERT_EQ(list->items.size(), 3u);
  for (const json& item : list->items) {
    EXPECT_EQ(item, json({{"metadata", {{"name", item["metadata"]["name"]}}}}));
  }
  EXPECT_FALSE(list->resource_version.empty());
}

TEST_F(KubeClientTest, WatchDeliversEventsInOrderAsTheyHappen) {
  const KubeResult<ListResult> list = client_->List(kConfigMaps, ListIn(ns_, ""));
  ASSERT_TRUE(list.has_value()) << list.error().message;
  WatchOptions options;
  options.namespace_name = ns_;
  options.resource_version = list->resource_version;
  options.timeout = 30s;
  options.idle_timeout = 20s;
  KubeResult<std::unique_ptr<WatchStream>> stream = client_->Watch(kConfigMaps, options);
  ASSERT_TRUE(stream.has_value()) << stream.error().message;

  std::atomic<int> written{0};
  std::thread writer([&] {
    std::unique_ptr<RestKubeClient> other = ClientOf(Kubeconfig());
    (void)other->Create(kConfigMaps, ConfigMap(ns_, "w", "1"));
    written = 1;
    std::this_thread::sleep_for(300ms);
    (void)other->Apply(kConfigMaps, ConfigMap(ns_, "w", "2"), kManager);
    written = 2;
    std::this_thread::sleep_for(300ms);
    (void)other->Delete(kConfigMaps, ns_, "w");
    written = 3;
  });
  const WatchEvent::Type expected[] = {WatchEvent::Type::kAdded, WatchEvent::Type::kModified,
                                       WatchEvent::Type::kDeleted};
  for (int i = 0; i < 3; ++i) {
    KubeResult<std::optional<WatchEvent>> event;
    do {
      event = (*stream)->Next();
      ASSERT_TRUE(event.has_value()) << event.error().message;
      ASSERT_TRUE(event->has_value()) << "the watch ended early";
    } while ((*event)->type == WatchEvent::Type::kBookmark);
    EXPECT_EQ((*event)->type, expected[i]) << i;
    EXPECT_EQ((*event)->object["metadata"]["name"], "w");
    EXPECT_EQ((*event)->object["kind"], "ConfigMap");
    // Delivered while the writer is still at (or just past) this step: streamed, not buffered.
    EXPECT_LE(written.load(), i + 1) << "event " << i << " arrived only after later writes";
    if (i == 1) {
      EXPECT_EQ((*event)->object["data"]["key"], "2");
    }
  }
  writer.join();
  (*stream)->Cancel();
}

TEST_F(KubeClientTest, WatchEndsWhenTheServerTimeoutElapses) {
  WatchOptions options;
  options.namespace_name = ns_;
  options.timeout = 1s;
  options.idle_timeout = 10s;
  KubeResult<std::unique_ptr<WatchStream>> stream = client_->Watch(kConfigMaps, options);
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    KubeResult<std::optional<WatchEvent>> event = (*stream)->Next();
    ASSERT_TRUE(event.has_value()) << event.error().message;
    if (!event->has_value()) break;
    EXPECT_NE((*event)->type, WatchEvent::Type::kError);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(KubeClientTest, CancelUnblocksNextPromptly) {
  WatchOptions options;
  options.namespace_name = ns_;
  options.timeout = 60s;
  options.allow_bookmarks = false;
  KubeResult<std::unique_ptr<WatchStream>> stream = client_->Watch(kConfigMaps, options);
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    (*stream)->Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  KubeResult<std::optional<WatchEvent>> event = (*stream)->Next();
  const auto waited = std::chrono::steady_clock::now() - start;
  canceller.join();
  ASSERT_TRUE(event.has_value()) << event.error().message;
  EXPECT_FALSE(event->has_value());
  EXPECT_LT(waited, 1300ms);
}

TEST_F(KubeClientTest, CreatesAnEventsV1Event) {
  const json event = {
      {"metadata", {{"name", "pe.1"}, {"namespace", ns_}}},
      {"eventTime", "2026-01-05T14:30:00.000000Z"},
      {"reportingController", "pricing.borrowrate.io/operator"},
      {"reportingInstance", "operator-0"},
      {"action", "Reconcile"},
      {"reason", "Scaled"},
      {"type", "Normal"},
      {"note", "api scaled to 3"},
      {"regarding",
       {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "pe"}, {"namespace", ns_}}}};
  const KubeResult<json> created = client_->Create(kEvents, event);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_EQ((*created)["kind"], "Event");
  EXPECT_EQ((*created)["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ((*created)["note"], "api scaled to 3");
}

TEST_F(KubeClientTest, BogusTokenIsForbidden) {
  const Result<ClusterConfig> real = LoadKubeconfig(Kubeconfig());
  ASSERT_TRUE(real.has_value());
  ClusterConfig config = *real;
  config.token = "bogus-token";
  auto client = RestKubeClient::FromConfig(config);
  ASSERT_TRUE(client.has_value());
  const KubeResult<json> got = (*client)->Get(kNamespaces, "", ns_);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kForbidden);
  EXPECT_EQ(got.error().http_status, 401);
  EXPECT_TRUE(got.error().Retryable());
}

// A directory of kubeconfigs whose users are exec plugins (shell scripts)
// printing the credentials of run.sh's real users; removed at the end.
class ExecKubeconfigs {
 public:
  ExecKubeconfigs() {
    std::string pattern = (fs::temp_directory_path() / "exec-kubeconfig-XXXXXX").string();
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    const Result<ClusterConfig> real = LoadKubeconfig(Kubeconfig());
    EXPECT_TRUE(real.has_value());
    if (real) real_ = *real;
    Write("pki/ca.crt", real_.certificate_authority_pem);
  }
  ~ExecKubeconfigs() { fs::remove_all(dir_); }

  const ClusterConfig& real() const { return real_; }
  const fs::path& dir() const { return dir_; }

  // Writes the ExecCredential `status` of `api_version` as the output of
  // plugin `name`, which counts its runs in "<name>.runs"; after `switch_after`
  // runs (when not 0) the plugin prints `then` instead.
  void Plugin(const std::string& name, const std::string& api_version, const json& status,
              int switch_after = 0, const json& then = nullptr) {
    const json credential = {{"apiVersion", api_version}, {"kind", "ExecCredential"},
                             {"status", status}};
    Write("plugins/" + name + ".json", credential.dump());
    std::string script = "#!/bin/sh\n"
                         "here=$(dirname \"$0\")\n"
                         "n=$(cat \"$here/" + name + ".runs\" 2>/dev/null || echo 0)\n"
                         "n=$((n + 1))\n"
                         "echo $n > \"$here/" + name + ".runs\"\n";
    if (switch_after > 0) {
      json later = credential;
      later["status"] = then;
      Write("plugins/" + name + ".then.json", later.dump());
      script += "[ $n -gt " + std::to_string(switch_after) + " ] && exec cat \"$here/" + name +
                ".then.json\"\n";
    }
    script += "exec cat \"$here/" + name + ".json\"\n";
    const std::string path = Write("plugins/" + name, script);
    fs::permissions(path, fs::perms::owner_all);
  }

  int Runs(const std::string& name) const {
    std::ifstream in(dir_ / "plugins" / (name + ".runs"));
    int runs = 0;
    in >> runs;
    return runs;
  }

  // Writes a kubeconfig of the real cluster (its CA by a relative path) whose
  // user runs plugin `name` by a relative path; returns its path.
  std::string ExecKubeconfig(const std::string& name, const std::string& api_version,
                             const std::string& cluster_extra = "") {
    return Write(name + ".kubeconfig",
                 "apiVersion: v1\nkind: Config\ncurrent-context: exec\n"
                 "clusters:\n- name: local\n  cluster:\n    server: " + real_.server + "\n"
                 "    certificate-authority: pki/ca.crt\n" + cluster_extra +
                 "contexts:\n- name: exec\n  context: {cluster: local, user: exec}\n"
                 "users:\n- name: exec\n  user:\n    exec:\n"
                 "      apiVersion: " + api_version + "\n"
                 "      command: ./plugins/" + name + "\n"
                 "      interactiveMode: Never\n"
                 "      provideClusterInfo: true\n");
  }

 private:
  std::string Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  fs::path dir_;
  ClusterConfig real_;
};

constexpr const char* kExecV1 = "client.authentication.k8s.io/v1";
constexpr const char* kExecV1beta1 = "client.authentication.k8s.io/v1beta1";

TEST_F(KubeClientTest, ExecPluginTokenWorksAndIsCached) {
  ExecKubeconfigs kubeconfigs;
  ASSERT_FALSE(kubeconfigs.real().token.empty()) << "run.sh's kubeconfig has a token user";
  kubeconfigs.Plugin("token", kExecV1, {{"token", kubeconfigs.real().token}});
  std::unique_ptr<RestKubeClient> client = ClientOf(kubeconfigs.ExecKubeconfig("token", kExecV1));
  ASSERT_NE(client, nullptr);
  const KubeResult<json> ns = client->Get(kNamespaces, "", ns_);
  ASSERT_TRUE(ns.has_value()) << ns.error().message;
  EXPECT_EQ((*ns)["metadata"]["name"], ns_);
  const KubeResult<ListResult> namespaces = client->List(kNamespaces, ListIn("", ""));
  ASSERT_TRUE(namespaces.has_value()) << namespaces.error().message;
  EXPECT_GE(namespaces->items.size(), 2u);
  ASSERT_TRUE(client->Apply(kConfigMaps, ConfigMap(ns_, "exec", "1"), kManager));
  EXPECT_EQ(kubeconfigs.Runs("token"), 1);  // no expiry: one run serves every request
}

TEST_F(KubeClientTest, ExecPluginClientCertificateWorks) {
  ExecKubeconfigs kubeconfigs;
  const fs::path cert_kubeconfig = fs::path(Kubeconfig()).parent_path() / "kubeconfig-cert";
  const Result<ClusterConfig> cert = LoadKubeconfig(cert_kubeconfig.string());
  ASSERT_TRUE(cert.has_value()) << ToString(cert.error());
  kubeconfigs.Plugin("cert", kExecV1beta1,
                     {{"clientCertificateData", cert->client_certificate_pem},
                      {"clientKeyData", cert->client_key_pem},
                      {"expirationTimestamp", "2099-01-01T00:00:00Z"}});
  std::unique_ptr<RestKubeClient> client =
      ClientOf(kubeconfigs.ExecKubeconfig("cert", kExecV1beta1));
  ASSERT_NE(client, nullptr);
  const KubeResult<json> applied = client->Apply(kConfigMaps, ConfigMap(ns_, "c", "x"), kManager);
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  const KubeResult<ListResult> namespaces = client->List(kNamespaces, ListIn("", ""));
  ASSERT_TRUE(namespaces.has_value()) << namespaces.error().message;
  EXPECT_EQ(kubeconfigs.Runs("cert"), 1);
}

TEST_F(KubeClientTest, ExecPluginWithAWrongTokenIsUnauthorized) {
  ExecKubeconfigs kubeconfigs;
  kubeconfigs.Plugin("wrong", kExecV1, {{"token", "not-a-token-of-this-cluster"}});
  std::unique_ptr<RestKubeClient> client = ClientOf(kubeconfigs.ExecKubeconfig("wrong", kExecV1));
  ASSERT_NE(client, nullptr);
  const KubeResult<json> got = client->Get(kNamespaces, "", ns_);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kForbidden) << got.error().message;
  EXPECT_EQ(got.error().http_status, 401);
  EXPECT_EQ(got.error().reason, "Unauthorized");
  EXPECT_EQ(kubeconfigs.Runs("wrong"), 2);  // run again after the 401, to no avail
}

TEST_F(KubeClientTest, ExecPluginRunsAgainAfterA401AndTheRequestSucceeds) {
  ExecKubeconfigs kubeconfigs;
  kubeconfigs.Plugin("rotated", kExecV1, {{"token", "revoked-token"}}, 1,
                     {{"token", kubeconfigs.real().token}});
  std::unique_ptr<RestKubeClient> client = ClientOf(kubeconfigs.ExecKubeconfig("rotated", kExecV1));
  ASSERT_NE(client, nullptr);
  const KubeResult<json> got = client->Get(kNamespaces, "", ns_);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(kubeconfigs.Runs("rotated"), 2);
  WatchOptions options;
  options.namespace_name = ns_;
  options.timeout = 1s;
  KubeResult<std::unique_ptr<WatchStream>> stream = client->Watch(kConfigMaps, options);
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  EXPECT_EQ(kubeconfigs.Runs("rotated"), 2);
}

// Kubeconfigs as kubectl itself writes them (`kubectl config set-*`: an
// embedded CA, tls-server-name, an exec user, a context namespace), in one
// file and split across a KUBECONFIG list: kubectl and the operator must
// both reach the cluster with each, as the same user in the same namespace.
TEST_F(KubeClientTest, KubeconfigsKubectlWritesWorkAlsoAsAList) {
  using testing_shell::ShellQuote;
  ExecKubeconfigs kubeconfigs;
  kubeconfigs.Plugin("token", kExecV1, {{"token", kubeconfigs.real().token}});
  const std::string dir = kubeconfigs.dir().string();
  const std::string whole = dir + "/kubectl.kubeconfig";
  const std::string clusters = dir + "/clusters.kubeconfig";
  const std::string users = dir + "/users.kubeconfig";
  const auto config = [](const std::string& file, const std::string& args) {
    return "kubectl config --kubeconfig " + ShellQuote(file) + " " + args + " >/dev/null";
  };
  const std::string set_cluster =
      "set-cluster local --server " + ShellQuote(kubeconfigs.real().server) +
      " --certificate-authority " + ShellQuote(dir + "/pki/ca.crt") +
      " --embed-certs=true --tls-server-name kubernetes.default.svc";
  const std::string set_user = "set-credentials exec --exec-api-version " +
                               std::string(kExecV1) + " --exec-command " +
                               ShellQuote(dir + "/plugins/token") +
                               " --exec-interactive-mode Never";
  const std::string set_context = "set-context exec --cluster local --user exec --namespace " + ns_;
  for (const std::string& command :
       {config(whole, set_cluster), config(whole, set_user), config(whole, set_context),
        config(whole, "use-context exec"), config(clusters, set_cluster),
        config(clusters, set_context), config(clusters, "use-context exec"),
        config(users, set_user)}) {
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  const std::string list = clusters + ":" + users;
  for (const std::string& kubectl :
       {"kubectl --kubeconfig " + ShellQuote(whole), "KUBECONFIG=" + ShellQuote(list) + " kubectl"}) {
    const std::string command = kubectl + " get configmaps -o name >/dev/null";
    EXPECT_EQ(std::system(command.c_str()), 0) << "kubectl itself reads it: " << command;
  }
  const int kubectl_runs = kubeconfigs.Runs("token");
  const Result<ClusterConfig> merged = LoadMergedKubeconfig(SplitKubeconfigList(list));
  ASSERT_TRUE(merged.has_value()) << ToString(merged.error());
  for (const auto& [what, loaded] :
       {std::pair{"one file", LoadKubeconfig(whole)}, std::pair{"a list", merged}}) {
    ASSERT_TRUE(loaded.has_value()) << what << ": " << ToString(loaded.error());
    EXPECT_EQ(loaded->namespace_name, ns_) << what;
    EXPECT_EQ(loaded->tls_server_name, "kubernetes.default.svc") << what;
    auto client = RestKubeClient::FromConfig(*loaded);
    ASSERT_TRUE(client.has_value()) << what;
    ASSERT_TRUE((*client)->Apply(kConfigMaps, ConfigMap(ns_, "kubectl-written", what), kManager))
        << what;
  }
  EXPECT_EQ(kubeconfigs.Runs("token") - kubectl_runs, 2) << "one plugin run per client";
}

TEST_F(KubeClientTest, TlsServerNameIsTheNameTheCertificateIsCheckedAgainst) {
  ExecKubeconfigs kubeconfigs;
  kubeconfigs.Plugin("token", kExecV1, {{"token", kubeconfigs.real().token}});
  // The API server's certificate names 127.0.0.1, localhost and kubernetes.*.
  std::unique_ptr<RestKubeClient> named = ClientOf(kubeconfigs.ExecKubeconfig(
      "token", kExecV1, "    tls-server-name: kubernetes.default.svc\n"));
  ASSERT_NE(named, nullptr);
  const KubeResult<json> got = named->Get(kNamespaces, "", ns_);
  ASSERT_TRUE(got.has_value()) << got.error().message;

  std::unique_ptr<RestKubeClient> misnamed = ClientOf(kubeconfigs.ExecKubeconfig(
      "token", kExecV1, "    tls-server-name: not-the-api-server.test\n"));
  ASSERT_NE(misnamed, nullptr);
  const KubeResult<json> refused = misnamed->Get(kNamespaces, "", ns_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().kind, KubeError::Kind::kTransient);
  EXPECT_EQ(refused.error().http_status, 0) << refused.error().message;
}

TEST_F(KubeClientTest, OnRequestSeesEveryRequestWithItsCode) {
  const Result<ClusterConfig> config = LoadKubeconfig(Kubeconfig());
  ASSERT_TRUE(config.has_value());
  std::mutex mu;
  std::vector<std::pair<std::string, int>> seen;
  RestClientOptions options;
  options.on_request = [&](std::string_view method, int code) {
    std::lock_guard lock(mu);
    seen.emplace_back(std::string(method), code);
  };
  auto client = RestKubeClient::FromConfig(*config, options);
  ASSERT_TRUE(client.has_value());
  (void)(*client)->Get(kConfigMaps, ns_, "absent");
  (void)(*client)->Apply(kConfigMaps, ConfigMap(ns_, "m", "1"), kManager);
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, int>>{{"GET", 404}, {"PATCH", 201}}));
}

// The operator caches a child as the fingerprint of the fields it owns, read
// back through managedFields. For every child of the full production example
// (five components: probes, resources, pod metrics, behaviours, percentage
// PDBs), what the API server records of the apply must read back as exactly
// what was applied, or the operator would need one extra apply per child to
// learn the server's normal form.
TEST_F(KubeClientTest, EveryAppliedChildReadsBackAsItsFingerprint) {
  json object = ExampleObject("pricingengine-seed-production.yaml", ns_);
  object["metadata"]["uid"] = "00000000-0000-4000-8000-000000000001";
  object["metadata"]["generation"] = 1;
  const Result<PricingEngine> pe = ParsePricingEngine(object);
  ASSERT_TRUE(pe.has_value()) << ToString(pe.error());
  const Result<Desired> desired =
      ComputeDesired(*pe, std::chrono::system_clock::now(), std::optional<double>());
  ASSERT_TRUE(desired.has_value()) << ToString(desired.error());
  int checked = 0;
  for (const json& child : desired->Objects()) {
    const Resource* resource =
        ResourceOfChild(child.value("apiVersion", ""), child.value("kind", ""));
    ASSERT_NE(resource, nullptr) << child.dump();
    const std::string what = child["kind"].get<std::string>() + " " +
                             child["metadata"]["name"].get<std::string>();
    const KubeResult<json> applied = client_->Apply(*resource, child, kManager);
    ASSERT_TRUE(applied.has_value()) << what << ": " << applied.error().message;
    const std::optional<json> fields = AppliedFieldsOf(*applied, kManager);
    ASSERT_TRUE(fields.has_value()) << what;
    EXPECT_EQ(ProjectOntoFields(*applied, *fields), AppliedContent(child)) << what;
    EXPECT_EQ(AppliedFingerprint(*applied, kManager), Fingerprint(AppliedContent(child))) << what;
    ++checked;
  }
  EXPECT_EQ(checked, 20);
}

// The same for HPAs with every kind of metric: a memory target from the
// component and from a policy layer, and an autoscaling.metrics list with
// each MetricSpec type (label selectors, an Object reference, quantities
// written as numbers). The API server accepts each HPA as the operator
// builds it, and each reads back as what was applied.
TEST_F(KubeClientTest, HpasWithEveryMetricKindAreAcceptedAndReadBackAsApplied) {
  json object = ExampleObject("pricingengine-seed-production.yaml", ns_);
  object["metadata"]["uid"] = "00000000-0000-4000-8000-000000000003";
  object["metadata"]["generation"] = 1;
  json& components = object["spec"]["components"];
  ASSERT_EQ(components[1]["name"], "calculation");
  components[1]["autoscaling"]["targetMemoryUtilizationPercentage"] = 85;
  components[1]["autoscaling"]["metrics"] = json::parse(R"([
      {"type": "External", "external": {
         "metric": {"name": "locate_queue_depth", "selector": {
           "matchLabels": {"queue": "locates"},
           "matchExpressions": [{"key": "desk", "operator": "In", "values": ["emea", "us"]}]}},
         "target": {"type": "AverageValue", "averageValue": 30}}},
      {"type": "Object", "object": {
         "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "pricing"},
         "metric": {"name": "requests_per_second"},
         "target": {"type": "Value", "value": "2k"}}},
      {"type": "ContainerResource", "containerResource": {
         "name": "memory", "container": "engine",
         "target": {"type": "Utilization", "averageUtilization": 90}}},
      {"type": "Pods", "pods": {"metric": {"name": "locates_per_second"},
         "target": {"type": "AverageValue", "averageValue": "250m"}}}])");
  ASSERT_EQ(components[3]["name"], "cache");
  components[3]["autoscaling"]["metrics"] = json::parse(R"([
      {"type": "Resource", "resource": {"name": "memory",
         "target": {"type": "AverageValue", "averageValue": "1536Mi"}}}])");
  // The High regime (VIX 32 below) also asks for a memory target on data.
  object["spec"]["volatility"]["regimes"][1]["targetMemoryUtilizationPercentage"] =
      json{{"data", 75}};
  const Result<PricingEngine> pe = ParsePricingEngine(object);
  ASSERT_TRUE(pe.has_value()) << ToString(pe.error());
  const Result<Desired> desired =
      ComputeDesired(*pe, std::chrono::system_clock::now(), std::optional<double>(32));
  ASSERT_TRUE(desired.has_value()) << ToString(desired.error());
  std::map<std::string, size_t> metric_counts;
  for (const json& child : desired->Objects()) {
    if (child["kind"] != "HorizontalPodAutoscaler") continue;
    const std::string name = child["metadata"]["name"];
    const KubeResult<json> applied = client_->Apply(kHorizontalPodAutoscalers, child, kManager);
    ASSERT_TRUE(applied.has_value()) << name << ": " << applied.error().message;
    const std::optional<json> fields = AppliedFieldsOf(*applied, kManager);
    ASSERT_TRUE(fields.has_value()) << name;
    EXPECT_EQ(ProjectOntoFields(*applied, *fields), AppliedContent(child)) << name;
    EXPECT_EQ(AppliedFingerprint(*applied, kManager), Fingerprint(AppliedContent(child))) << name;
    metric_counts[name] = (*applied)["spec"]["metrics"].size();
  }
  // cpu + memory + calculations_per_second + 4; cpu + connections + the
  // regime's memory; cpu + the Resource memory metric.
  EXPECT_EQ(metric_counts["pricing-calculation"], 7u);
  EXPECT_EQ(metric_counts["pricing-data"], 3u);
  EXPECT_EQ(metric_counts["pricing-cache"], 2u);
  EXPECT_EQ(metric_counts["pricing-api-gateway"], 2u);
}

// kubectl patch (an Update by another manager) takes a field the operator
// owned: it leaves the operator's set, so the read-back no longer matches.
TEST_F(KubeClientTest, AFieldTakenOverByAnotherWriterChangesTheFingerprint) {
  json object = ExampleObject("pricingengine-minimal.yaml", ns_);
  object["metadata"]["uid"] = "00000000-0000-4000-8000-000000000002";
  const Result<PricingEngine> pe = ParsePricingEngine(object);
  ASSERT_TRUE(pe.has_value()) << ToString(pe.error());
  const Result<Desired> desired =
      ComputeDesired(*pe, std::chrono::system_clock::now(), std::optional<double>());
  ASSERT_TRUE(desired.has_value());
  for (const json& child : desired->Objects()) {
    if (child["kind"] != "HorizontalPodAutoscaler") continue;
    const KubeResult<json> applied = client_->Apply(kHorizontalPodAutoscalers, child, kManager);
    ASSERT_TRUE(applied.has_value()) << applied.error().message;
    // The HPA controller writes the object's status meanwhile: retry on conflict.
    KubeResult<json> updated = std::unexpected(KubeError{});
    for (int attempt = 0; attempt < 10 && !updated; ++attempt) {
      KubeResult<json> current = client_->Get(kHorizontalPodAutoscalers, ns_,
                                              child["metadata"]["name"].get<std::string>());
      ASSERT_TRUE(current.has_value()) << current.error().message;
      json edited = *current;
      edited["spec"]["minReplicas"] = child["spec"]["minReplicas"].get<int>() + 1;
      updated = client_->Update(kHorizontalPodAutoscalers, edited);
      if (!updated && updated.error().kind != KubeError::Kind::kConflict) break;
    }
    ASSERT_TRUE(updated.has_value()) << updated.error().message;
    EXPECT_NE(AppliedFingerprint(*updated, kManager), Fingerprint(AppliedContent(child)));
    return;
  }
  FAIL() << "the minimal example has no HPA";
}

}  // namespace
}  // namespace pricing::op
