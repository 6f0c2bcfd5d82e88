// RestKubeClient against a scripted HTTP peer on loopback: request shape
// (method, path, query, headers, body), error mapping, deadlines, and watch
// streaming (events delivered as they are written, idle timeout, Cancel).
#include "adapters/kube_client.h"

#include "http_peer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pricing::op {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

using testing_peer::Peer;
using testing_peer::Request;

const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};

std::unique_ptr<RestKubeClient> ClientFor(const Peer& peer, RestClientOptions options = {}) {
  ClusterConfig config;
  config.server = peer.Url();
  config.token = "secret-token";
  auto client = RestKubeClient::FromConfig(config, std::move(options));
  EXPECT_TRUE(client.has_value()) << (client ? "" : ToString(client.error()));
  return client ? std::move(*client) : nullptr;
}

TEST(ResourcePath, CoreGroupsNamespacesAndSubresources) {
  EXPECT_EQ(ResourcePath(kConfigMaps, "ns", "a"), "/api/v1/namespaces/ns/configmaps/a");
  EXPECT_EQ(ResourcePath(kPricingEngines, "ns", "pe", "status"),
            "/apis/pricing.borrowrate.io/v1alpha1/namespaces/ns/pricingengines/pe/status");
  EXPECT_EQ(ResourcePath(kDeployments, ""), "/apis/apps/v1/deployments");
  EXPECT_EQ(ResourcePath(kNamespaces, "ignored", "team"), "/api/v1/namespaces/team");
  EXPECT_EQ(WithQuery("/p", {{"labelSelector", "app=x,tier in (a,b)"}, {"limit", ""}, {"w", "1"}}),
            "/p?labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29&w=1");
}

TEST(ErrorFromResponse, MapsStatusCodesAndReadsTheStatusObject) {
  const KubeError conflict = ErrorFromResponse(
      409, R"({"kind":"Status","reason":"AlreadyExists","message":"configmaps \"a\" already exists"})",
      "POST /x");
  EXPECT_EQ(conflict.kind, KubeError::Kind::kConflict);
  EXPECT_EQ(conflict.http_status, 409);
  EXPECT_EQ(conflict.reason, "AlreadyExists");
  EXPECT_NE(conflict.message.find("already exists"), std::string::npos);
  EXPECT_NE(conflict.message.find("POST /x"), std::string::npos);

  EXPECT_EQ(ErrorFromResponse(404, "", "").kind, KubeError::Kind::kNotFound);
  EXPECT_EQ(ErrorFromResponse(410, "", "").kind, KubeError::Kind::kGone);
  EXPECT_EQ(ErrorFromResponse(422, "", "").kind, KubeError::Kind::kInvalid);
  EXPECT_EQ(ErrorFromResponse(400, "", "").kind, KubeError::Kind::kInvalid);
  EXPECT_EQ(ErrorFromResponse(401, "", "").kind, KubeError::Kind::kForbidden);
  EXPECT_EQ(ErrorFromResponse(403, "", "").kind, KubeError::Kind::kForbidden);
  EXPECT_EQ(ErrorFromResponse(429, "", "").kind, KubeError::Kind::kTransient);
  EXPECT_EQ(ErrorFromResponse(503, "<html>", "").kind, KubeError::Kind::kTransient);
  EXPECT_EQ(ErrorFromResponse(405, "", "").kind, KubeError::Kind::kTerminal);
}

TEST(RestKubeClient, ApplySendsAServerSidePatchWithTheToken) {
  Peer peer([](int fd, const Request& request, Peer&) { Peer::Respond(fd, 200, request.body); });
  std::vector<std::pair<std::string, int>> seen;
  RestClientOptions options;
  options.on_request = [&](std::string_view method, int code) {
    seen.emplace_back(std::string(method), code);
  };
  auto client = ClientFor(peer, options);
  const json object = {{"metadata", {{"name", "a"}, {"namespace", "ns"}}}, {"data", {{"k", "v"}}}};
  const KubeResult<json> applied = client->Apply(kConfigMaps, object, "pricing operator", "status");
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  EXPECT_EQ((*applied)["kind"], "ConfigMap");
  EXPECT_EQ((*applied)["apiVersion"], "v1");

  const std::vector<Request> requests = peer.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].target,
            "/api/v1/namespaces/ns/configmaps/a/status?fieldManager=pricing%20operator&force=true");
  EXPECT_NE(requests[0].headers.find("Content-Type:application/apply-patch+yaml"),
            std::string::npos)
      << requests[0].headers;
  EXPECT_NE(requests[0].headers.find("Authorization:Bearer secret-token"), std::string::npos);
  EXPECT_NE(requests[0].headers.find("User-Agent:pricing-operator"), std::string::npos)
      << requests[0].headers;
  EXPECT_EQ(json::parse(requests[0].body)["data"]["k"], "v");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], (std::pair<std::string, int>("PATCH", 200)));
}

TEST(RestKubeClient, DeleteSendsDeleteOptions) {
  Peer peer([](int fd, const Request&, Peer&) { Peer::Respond(fd, 200, R"({"kind":"Status"})"); });
  auto client = ClientFor(peer);
  ASSERT_TRUE(client->Delete(kDeployments, "ns", "d", {"Foreground", "uid-1"}).has_value());
  const std::vector<Request> requests = peer.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "DELETE");
  EXPECT_EQ(requests[0].target, "/apis/apps/v1/namespaces/ns/deployments/d");
  ASSERT_FALSE(requests[0].body.empty()) << requests[0].headers;
  const json body = json::parse(requests[0].body);
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["preconditions"]["uid"], "uid-1");
}

TEST(RestKubeClient, ListPagesAndFillsTypeMeta) {
  Peer peer([](int fd, const Request& request, Peer&) {
    if (request.target.find("continue=") == std::string::npos) {
      Peer::Respond(fd, 200,
                    R"({"metadata":{"resourceVersion":"7","continue":"tok/1"},"items":[{"metadata":{"name":"a"}}]})");
    } else {
      Peer::Respond(fd, 200, R"({"metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"b"}}]})");
    }
  });
  RestClientOptions options;
  options.list_page_size = 1;
  auto client = ClientFor(peer, options);
  ListOptions list_options;
  list_options.namespace_name = "ns";
  list_options.label_selector = "app=x";
  const KubeResult<ListResult> list = client->List(kConfigMaps, list_options);
  ASSERT_TRUE(list.has_value()) << list.error().message;
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->resource_version, "7");
  EXPECT_EQ(list->items[1]["metadata"]["name"], "b");
  EXPECT_EQ(list->items[1]["kind"], "ConfigMap");
  EXPECT_EQ(list->items[1]["apiVersion"], "v1");
  const std::vector<Request> requests = peer.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dx&limit=1");
  EXPECT_EQ(requests[1].target,
            "/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dx&limit=1&continue=tok%2F1");
}

TEST(RestKubeClient, StatusObjectBecomesTheError) {
  Peer peer([](int fd, const Request&, Peer&) {
    Peer::Respond(fd, 404, R"({"kind":"Status","reason":"NotFound","message":"configmaps \"a\" not found"})");
  });
  auto client = ClientFor(peer);
  const KubeResult<json> got = client->Get(kConfigMaps, "ns", "a");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kNotFound);
  EXPECT_EQ(got.error().reason, "NotFound");
  EXPECT_NE(got.error().message.find("configmaps \"a\" not found"), std::string::npos);
}

TEST(RestKubeClient, NoAnswerWithinTheTimeoutIsTransient) {
  Peer peer([](int, const Request&, Peer& self) { self.AwaitRelease(); });
  std::vector<int> codes;
  RestClientOptions options;
  options.timeout = 1s;
  options.on_request = [&](std::string_view, int code) { codes.push_back(code); };
  auto client = ClientFor(peer, options);
  const auto start = std::chrono::steady_clock::now();
  const KubeResult<json> got = client->Get(kConfigMaps, "ns", "a");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kTransient);
  EXPECT_EQ(got.error().http_status, 0);
  EXPECT_EQ(codes, std::vector<int>{0});
  peer.Release();
}

TEST(RestKubeClient, ConnectionRefusedIsTransient) {
  int port;
  {
    Peer peer([](int, const Request&, Peer&) {});
    port = std::stoi(peer.Url().substr(peer.Url().rfind(':') + 1));
  }
  ClusterConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(port);
  auto client = RestKubeClient::FromConfig(config);
  ASSERT_TRUE(client.has_value());
  const KubeResult<json> got = (*client)->Get(kConfigMaps, "ns", "a");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kTransient);
  EXPECT_EQ(got.error().http_status, 0);
}

TEST(RestKubeClient, BadConfigurationNamesTheSetting) {
  ClusterConfig config;
  config.server = "ftp://x";
  auto bad_server = RestKubeClient::FromConfig(config);
  ASSERT_FALSE(bad_server.has_value());
  EXPECT_EQ(bad_server.error().field, "server");
  config.server = "https://127.0.0.1:1";
  config.certificate_authority_pem = "not a certificate";
  auto bad_ca = RestKubeClient::FromConfig(config);
  ASSERT_FALSE(bad_ca.has_value());
  EXPECT_EQ(bad_ca.error().field, "certificate_authority_pem");
}

std::string Event(const std::string& type, const std::string& name) {
  return json({{"type", type}, {"object", {{"metadata", {{"name", name}}}}}}).dump() + "\n";
}

TEST(RestKubeClient, WatchDeliversEachEventAsItArrives) {
  Peer peer([](int fd, const Request&, Peer& self) {
    Peer::StartChunked(fd);
    Peer::Chunk(fd, Event("ADDED", "a"));
    self.AwaitRelease();  // the test has read "a" before "b" exists
    const std::string b = Event("MODIFIED", "b");
    Peer::Chunk(fd, b.substr(0, 10));  // one event split across chunks
    Peer::Chunk(fd, b.substr(10) + Event("DELETED", "c"));
    Peer::Send(fd, "0\r\n\r\n");
  });
  auto client = ClientFor(peer);
  WatchOptions options;
  options.namespace_name = "ns";
  options.resource_version = "42";
  options.timeout = 60s;
  auto stream = client->Watch(kConfigMaps, options);
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  auto first = (*stream)->Next();
  ASSERT_TRUE(first.has_value() && first->has_value());
  EXPECT_EQ((*first)->type, WatchEvent::Type::kAdded);
  EXPECT_EQ((*first)->object["metadata"]["name"], "a");
  EXPECT_EQ((*first)->object["kind"], "ConfigMap");
  peer.Release();
  auto second = (*stream)->Next();
  ASSERT_TRUE(second.has_value() && second->has_value());
  EXPECT_EQ((*second)->type, WatchEvent::Type::kModified);
  auto third = (*stream)->Next();
  ASSERT_TRUE(third.has_value() && third->has_value());
  EXPECT_EQ((*third)->type, WatchEvent::Type::kDeleted);
  auto end = (*stream)->Next();
  ASSERT_TRUE(end.has_value()) << end.error().message;
  EXPECT_FALSE(end->has_value());

  const std::vector<Request> requests = peer.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target,
            "/api/v1/namespaces/ns/configmaps?watch=1&allowWatchBookmarks=true&"
            "resourceVersion=42&timeoutSeconds=60");
}

// The keepalive settings of this process's end of the connection whose
// server side is `server_fd`: the socket whose local address is the peer
// address of `server_fd`. All -1 when there is none.
struct KeepAliveSeen {
  int on = -1, idle = -1, interval = -1, probes = -1;
};
KeepAliveSeen ClientEndOf(int server_fd) {
  KeepAliveSeen seen;
  sockaddr_in client{};
  socklen_t len = sizeof client;
  if (getpeername(server_fd, reinterpret_cast<sockaddr*>(&client), &len) != 0) return seen;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return seen;
  while (dirent* entry = readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == server_fd || fd == dirfd(dir)) continue;
    sockaddr_in local{};
    socklen_t local_len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        local.sin_family != AF_INET || local.sin_port != client.sin_port ||
        local.sin_addr.s_addr != client.sin_addr.s_addr) {
      continue;
    }
    socklen_t n = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &seen.on, &n);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seen.idle, &n);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &seen.interval, &n);
    getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &seen.probes, &n);
    break;
  }
  closedir(dir);
  return seen;
}

TEST(RestKubeClient, EveryConnectionCarriesTcpKeepalive) {
  std::mutex mu;
  std::vector<KeepAliveSeen> seen;
  Peer peer([&](int fd, const Request& request, Peer& self) {
    {
      std::lock_guard lock(mu);
      seen.push_back(ClientEndOf(fd));
    }
    if (request.target.find("watch=1") == std::string::npos) {
      Peer::Respond(fd, 200, R"({"metadata":{"name":"a"}})");
      return;
    }
    Peer::StartChunked(fd);
    Peer::Chunk(fd, Event("ADDED", "a"));
    self.AwaitRelease(10s);
  });
  RestClientOptions options;
  options.keepalive_idle = 17s;
  options.keepalive_interval = 4s;
  options.keepalive_probes = 5;
  auto client = ClientFor(peer, options);
  // A request on a new connection, and a watch (each watch has a client and
  // a connection of its own).
  ASSERT_TRUE(client->Get(kConfigMaps, "ns", "a").has_value());
  auto stream = client->Watch(kConfigMaps, {});
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  auto first = (*stream)->Next();
  ASSERT_TRUE(first.has_value() && first->has_value());
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 2u);
  for (const KeepAliveSeen& s : seen) {
    EXPECT_EQ(s.on, 1);
    EXPECT_EQ(s.idle, 17);
    EXPECT_EQ(s.interval, 4);
    EXPECT_EQ(s.probes, 5);
  }
  peer.Release();
}

TEST(RestKubeClient, SilentWatchEndsWithTransientAfterTheIdleTimeout) {
  Peer peer([](int fd, const Request&, Peer& self) {
    Peer::StartChunked(fd);
    Peer::Chunk(fd, Event("ADDED", "a"));
    self.AwaitRelease(10s);
  });
  auto client = ClientFor(peer);
  WatchOptions options;
  options.idle_timeout = 1s;
  auto stream = client->Watch(kConfigMaps, options);
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  auto first = (*stream)->Next();
  ASSERT_TRUE(first.has_value() && first->has_value());
  const auto start = std::chrono::steady_clock::now();
  auto silent = (*stream)->Next();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(silent.has_value());
  EXPECT_EQ(silent.error().kind, KubeError::Kind::kTransient);
  EXPECT_NE(silent.error().message.find("no data"), std::string::npos) << silent.error().message;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 3s);
  peer.Release();
}

TEST(RestKubeClient, CancelUnblocksNext) {
  Peer peer([](int fd, const Request&, Peer& self) {
    Peer::StartChunked(fd);
    self.AwaitRelease(10s);
  });
  auto client = ClientFor(peer);
  auto stream = client->Watch(kConfigMaps, {});
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    (*stream)->Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  auto next = (*stream)->Next();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  canceller.join();
  ASSERT_TRUE(next.has_value()) << next.error().message;
  EXPECT_FALSE(next->has_value());
  auto again = (*stream)->Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->has_value());
  peer.Release();
}

TEST(RestKubeClient, WatchRefusedWithGone) {
  Peer peer([](int fd, const Request&, Peer&) {
    Peer::Respond(fd, 410, R"({"kind":"Status","reason":"Expired","message":"too old resource version"})");
  });
  auto client = ClientFor(peer);
  auto stream = client->Watch(kConfigMaps, {});
  ASSERT_FALSE(stream.has_value());
  EXPECT_EQ(stream.error().kind, KubeError::Kind::kGone);
  EXPECT_EQ(stream.error().reason, "Expired");
}

// What a throttled API server (API Priority and Fairness) answers.
void RespondThrottled(int fd) {
  const std::string body =
      R"({"kind":"Status","reason":"TooManyRequests","message":"too many requests, please try again later"})";
  Peer::Send(fd, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                 "Retry-After: 7\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST(RestKubeClient, A429CarriesItsRetryAfterForRequestsAndWatches) {
  Peer peer([](int fd, const Request&, Peer&) { RespondThrottled(fd); });
  auto client = ClientFor(peer);
  const KubeResult<json> got = client->Get(kConfigMaps, "ns", "a");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, KubeError::Kind::kTransient);
  ASSERT_TRUE(got.error().retry_after.has_value());
  EXPECT_EQ(*got.error().retry_after, std::chrono::seconds(7));
  auto stream = client->Watch(kConfigMaps, {});
  ASSERT_FALSE(stream.has_value());
  ASSERT_TRUE(stream.error().retry_after.has_value());
  EXPECT_EQ(*stream.error().retry_after, std::chrono::seconds(7));
}

TEST(RestKubeClient, AWatchFromATooLargeVersionIsToldApart) {
  Peer peer([](int fd, const Request&, Peer&) {
    Peer::Respond(fd, 504, R"({"kind":"Status","reason":"Timeout","message":"Too large resource version: 9000, current: 12","details":{"causes":[{"reason":"ResourceVersionTooLarge","message":"Too large resource version"}]}})");
  });
  auto client = ClientFor(peer);
  WatchOptions options;
  options.resource_version = "9000";
  auto stream = client->Watch(kConfigMaps, options);
  ASSERT_FALSE(stream.has_value());
  EXPECT_TRUE(IsTooLargeResourceVersion(stream.error())) << stream.error().message;
}

TEST(ParseRetryAfter, TakesSecondsOnly) {
  EXPECT_EQ(ParseRetryAfter("7"), std::chrono::seconds(7));
  EXPECT_EQ(ParseRetryAfter(" 120 "), std::chrono::seconds(120));
  EXPECT_EQ(ParseRetryAfter("86400"), std::chrono::seconds(3600));  // capped at an hour
  EXPECT_FALSE(ParseRetryAfter("").has_value());
  EXPECT_FALSE(ParseRetryAfter("-1").has_value());
  EXPECT_FALSE(ParseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT").has_value());
}

}  // namespace
}  // namespace pricing::op
