// Tests of the in-memory API server the controller tests rely on: if the fake
// lies, every test built on it lies too.
#include "fakes/op/fake_kube_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fakes/op/fake_clock.h"
#include "op/kube.h"

namespace pricing::op {
namespace {

using fakes::FakeClock;
using fakes::FakeKubeClient;
using nlohmann::json;

json Deployment(const std::string& name, int replicas, const std::string& ns = "prod") {
  return json{{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
              {"spec", {{"replicas", replicas}}}};
}

WatchOptions WatchFrom(const std::string& resource_version, bool bookmarks = true) {
  WatchOptions options;
  options.resource_version = resource_version;
  options.allow_bookmarks = bookmarks;
  return options;
}

ListOptions ListIn(const std::string& namespace_name, const std::string& selector = "") {
  ListOptions options;
  options.namespace_name = namespace_name;
  options.label_selector = selector;
  return options;
}

std::string Rv(const json& object) { return object["metadata"]["resourceVersion"]; }
int64_t Generation(const json& object) { return object["metadata"]["generation"]; }

// Returns the next event of `stream`, failing the test when there is none.
WatchEvent MustNext(WatchStream& stream) {
  KubeResult<std::optional<WatchEvent>> next = stream.Next();
  EXPECT_TRUE(next.has_value()) << (next ? "" : next.error().message);
  if (!next || !next->has_value()) {
    ADD_FAILURE() << "the stream ended";
    return WatchEvent{WatchEvent::Type::kError, json()};
  }
  return **next;
}

TEST(FakeKubeClient, FakeClockStartsAtTheDefaultInstantAndMovesOnlyWhenTold) {
  FakeClock clock;
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-11-27T14:30:00Z");
  clock.Advance(std::chrono::minutes(90));
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2026-11-27T16:00:00Z");
  clock.Set(*ParseRfc3339("2027-01-01T00:00:00Z"));
  EXPECT_EQ(FormatRfc3339(clock.Now()), "2027-01-01T00:00:00Z");
}

TEST(FakeKubeClient, CreateFillsServerFieldsAndGetReturnsTheObject) {
  FakeClock clock;
  FakeKubeClient kube(&clock);
  KubeResult<json> created = kube.Create(kDeployments, Deployment("api", 2));
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(Rv(*created), "1");
  EXPECT_EQ(Generation(*created), 1);
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ((*created)["metadata"]["creationTimestamp"], "2026-11-27T14:30:00Z");
  KubeResult<json> got = kube.Get(kDeployments, "prod", "api");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, *created);
  EXPECT_EQ(kube.Get(kDeployments, "other", "api").error().kind, KubeError::Kind::kNotFound);
}

TEST(FakeKubeClient, CreateOfAnExistingObjectIsAlreadyExists) {
  FakeKubeClient kube;
  ASSERT_TRUE(kube.Create(kDeployments, Deployment("api", 2)).has_value());
  KubeResult<json> again = kube.Create(kDeployments, Deployment("api", 3));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().kind, KubeError::Kind::kConflict);
  EXPECT_EQ(again.error().reason, "AlreadyExists");
  EXPECT_EQ(kube.ResourceVersion(), "1");
}

TEST(FakeKubeClient, ListFiltersByNamespaceAndLabelsAndCarriesTypeAndVersion) {
  FakeKubeClient kube;
  kube.Seed(kDeployments, Deployment("a", 1, "prod"));
  kube.Seed(kDeployments, Deployment("b", 1, "prod"));
  kube.Seed(kDeployments, Deployment("a", 1, "dev"));
  kube.Seed(kServices, json{{"metadata", {{"name", "a"}, {"namespace", "prod"}}}});

  KubeResult<ListResult> all = kube.List(kDeployments, {});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->items.size(), 3u);
  EXPECT_EQ(all->resource_version, "4");
  for (const json& item : all->items) {
    EXPECT_EQ(item["apiVersion"], "apps/v1");
    EXPECT_EQ(item["kind"], "Deployment");
  }
  KubeResult<ListResult> prod = kube.List(kDeployments, ListIn("prod"));
  ASSERT_TRUE(prod.has_value());
  EXPECT_EQ(prod->items.size(), 2u);
  KubeResult<ListResult> labelled =
      kube.List(kDeployments, ListIn("prod", "app=b"));
  ASSERT_TRUE(labelled.has_value());
  ASSERT_EQ(labelled->items.size(), 1u);
  EXPECT_EQ(labelled->items[0]["metadata"]["name"], "b");
  KubeResult<ListResult> none = kube.List(kDeployments, ListIn("", "app=a,tier=web"));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->items.empty());
}

TEST(FakeKubeClient, UpdateWithAStaleResourceVersionIsAConflict) {
  FakeKubeClient kube;
  json v1 = *kube.Create(kDeployments, Deployment("api", 2));
  json mine = v1;
  mine["spec"]["replicas"] = 3;
  KubeResult<json> updated = kube.Update(kDeployments, mine);
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(Rv(*updated), "2");
  EXPECT_EQ(Generation(*updated), 2);

  json stale = v1;
  stale["spec"]["replicas"] = 4;
  KubeResult<json> conflict = kube.Update(kDeployments, stale);
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().kind, KubeError::Kind::kConflict);
  EXPECT_EQ((*kube.Object(kDeployments, "prod", "api"))["spec"]["replicas"], 3);
}

TEST(FakeKubeClient, ApplyCreatesThenMergesAndANoOpApplyKeepsTheResourceVersion) {
  FakeKubeClient kube;
  KubeResult<json> created = kube.Apply(kDeployments, Deployment("api", 2), "pricing-operator");
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(Rv(*created), "1");

  KubeResult<json> same = kube.Apply(kDeployments, Deployment("api", 2), "pricing-operator");
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(Rv(*same), "1");
  EXPECT_EQ(kube.ResourceVersion(), "1");
  ASSERT_EQ(kube.Writes().size(), 2u);
  EXPECT_FALSE(kube.Writes()[1].changed);

  json more = Deployment("api", 5);
  more["spec"]["template"] = json{{"spec", {{"containers", json::array({{{"name", "x"}}})}}}};
  more["metadata"]["labels"] = json{{"tier", "web"}};
  KubeResult<json> merged = kube.Apply(kDeployments, more, "pricing-operator");
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Rv(*merged), "2");
  EXPECT_EQ(Generation(*merged), 2);
  EXPECT_EQ((*merged)["spec"]["replicas"], 5);
  EXPECT_EQ((*merged)["metadata"]["labels"], (json{{"app", "api"}, {"tier", "web"}}));

  json fewer = more;
  fewer["spec"]["template"]["spec"]["containers"] = json::array();
  KubeResult<json> replaced = kube.Apply(kDeployments, fewer, "pricing-operator");
  ASSERT_TRUE(replaced.has_value());
  EXPECT_TRUE((*replaced)["spec"]["template"]["spec"]["containers"].empty());
}

TEST(FakeKubeClient, StatusApplyReplacesOnlyStatusAndNeverBumpsGeneration) {
  FakeKubeClient kube;
  ASSERT_TRUE(kube.Apply(kDeployments, Deployment("api", 2), "op").has_value());
  json status = Deployment("api", 99);
  status["status"] = json{{"readyReplicas", 2}};
  KubeResult<json> after = kube.Apply(kDeployments, status, "op", "status");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ((*after)["status"]["readyReplicas"], 2);
  EXPECT_EQ((*after)["spec"]["replicas"], 2);
  EXPECT_EQ(Generation(*after), 1);
  EXPECT_EQ(Rv(*after), "2");

  KubeResult<json> again = kube.Apply(kDeployments, status, "op", "status");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(Rv(*again), "2");

  json plain = Deployment("api", 2);
  plain["status"] = json{{"readyReplicas", 0}};
  KubeResult<json> ignored = kube.Apply(kDeployments, plain, "op");
  ASSERT_TRUE(ignored.has_value());
  EXPECT_EQ((*ignored)["status"]["readyReplicas"], 2);
  EXPECT_EQ(Rv(*ignored), "2");

  EXPECT_EQ(kube.Apply(kDeployments, Deployment("nope", 1), "op", "status").error().kind,
            KubeError::Kind::kNotFound);
}

TEST(FakeKubeClient, DeleteHonoursTheUidPreconditionAndReportsNotFound) {
  FakeKubeClient kube;
  json created = *kube.Create(kDeployments, Deployment("api", 2));
  KubeResult<void> wrong =
      kube.Delete(kDeployments, "prod", "api", DeleteOptions{"Background", "other"});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().kind, KubeError::Kind::kConflict);
  ASSERT_TRUE(kube.Delete(kDeployments, "prod", "api",
                          DeleteOptions{"Background", created["metadata"]["uid"]})
                  .has_value());
  EXPECT_FALSE(kube.Object(kDeployments, "prod", "api").has_value());
  EXPECT_EQ(kube.Delete(kDeployments, "prod", "api").error().kind, KubeError::Kind::kNotFound);
}

TEST(FakeKubeClient, WatchReplaysTheLogAfterTheResourceVersionThenStreamsLiveEvents) {
  FakeKubeClient kube;
  ASSERT_TRUE(kube.Create(kDeployments, Deployment("a", 1)).has_value());  // rv 1
  ASSERT_TRUE(kube.Create(kDeployments, Deployment("b", 1)).has_value());  // rv 2
  ASSERT_TRUE(kube.Apply(kDeployments, Deployment("a", 2), "op").has_value());  // rv 3
  kube.Seed(kServices, json{{"metadata", {{"name", "s"}, {"namespace", "prod"}}}});  // rv 4

  KubeResult<std::unique_ptr<WatchStream>> stream =
      kube.Watch(kDeployments, WatchFrom("1"));
  ASSERT_TRUE(stream.has_value());
  WatchEvent e = MustNext(**stream);
  EXPECT_EQ(e.type, WatchEvent::Type::kAdded);
  EXPECT_EQ(e.object["metadata"]["name"], "b");
  e = MustNext(**stream);
  EXPECT_EQ(e.type, WatchEvent::Type::kModified);
  EXPECT_EQ(Rv(e.object), "3");

  std::thread writer([&] { ASSERT_TRUE(kube.Delete(kDeployments, "prod", "b").has_value()); });
  e = MustNext(**stream);
  writer.join();
  EXPECT_EQ(e.type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(e.object["metadata"]["name"], "b");
  EXPECT_EQ(Rv(e.object), "5");
}

TEST(FakeKubeClient, WatchWithoutAResourceVersionStartsWithTheCurrentObjects) {
  FakeKubeClient kube;
  kube.Seed(kDeployments, Deployment("a", 1));
  kube.Seed(kDeployments, Deployment("b", 1, "dev"));
  KubeResult<std::unique_ptr<WatchStream>> stream =
      kube.Watch(kDeployments, [] {
        WatchOptions o;
        o.namespace_name = "prod";
        return o;
      }());
  ASSERT_TRUE(stream.has_value());
  WatchEvent e = MustNext(**stream);
  EXPECT_EQ(e.type, WatchEvent::Type::kAdded);
  EXPECT_EQ(e.object["metadata"]["name"], "a");
  kube.Seed(kDeployments, Deployment("c", 1, "dev"));
  kube.Seed(kDeployments, Deployment("d", 1));
  e = MustNext(**stream);
  EXPECT_EQ(e.object["metadata"]["name"], "d");
}

TEST(FakeKubeClient, WatchFromACompactedVersionIsExpired) {
  FakeKubeClient kube;
  kube.Seed(kDeployments, Deployment("a", 1));
  kube.Seed(kDeployments, Deployment("b", 1));
  kube.Compact();
  KubeResult<std::unique_ptr<WatchStream>> old =
      kube.Watch(kDeployments, WatchFrom("1"));
  ASSERT_TRUE(old.has_value());
  WatchEvent e = MustNext(**old);
  EXPECT_EQ(e.type, WatchEvent::Type::kError);
  EXPECT_EQ(e.object["code"], 410);
  EXPECT_EQ(e.object["reason"], "Expired");
  KubeResult<std::optional<WatchEvent>> end = (*old)->Next();
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(end->has_value());

  KubeResult<std::unique_ptr<WatchStream>> current =
      kube.Watch(kDeployments, WatchFrom("2"));
  ASSERT_TRUE(current.has_value());
  kube.Seed(kDeployments, Deployment("c", 1));
  EXPECT_EQ(MustNext(**current).object["metadata"]["name"], "c");

  kube.SetGoneAsError(true);
  KubeResult<std::unique_ptr<WatchStream>> gone =
      kube.Watch(kDeployments, WatchFrom("1"));
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().kind, KubeError::Kind::kGone);
}

TEST(FakeKubeClient, AnOpenStreamThatFallsBehindACompactionExpires) {
  FakeKubeClient kube;
  KubeResult<std::unique_ptr<WatchStream>> stream =
      kube.Watch(kDeployments, WatchFrom("0"));
  ASSERT_TRUE(stream.has_value());
  kube.Seed(kDeployments, Deployment("a", 1));
  kube.Compact();
  EXPECT_EQ(MustNext(**stream).type, WatchEvent::Type::kError);
}

TEST(FakeKubeClient, BookmarksGoOnlyToStreamsThatAskedAfterPendingEvents) {
  FakeKubeClient kube;
  KubeResult<std::unique_ptr<WatchStream>> with =
      kube.Watch(kDeployments, WatchFrom("0"));
  KubeResult<std::unique_ptr<WatchStream>> without = kube.Watch(
      kDeployments, WatchFrom("0", false));
  ASSERT_TRUE(with.has_value());
  ASSERT_TRUE(without.has_value());
  kube.Seed(kDeployments, Deployment("a", 1));
  kube.Seed(kServices, json{{"metadata", {{"name", "s"}, {"namespace", "prod"}}}});
  kube.SendBookmark();
  kube.CloseWatches();

  EXPECT_EQ(MustNext(**with).type, WatchEvent::Type::kAdded);
  WatchEvent bookmark = MustNext(**with);
  EXPECT_EQ(bookmark.type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(Rv(bookmark.object), "2");
  KubeResult<std::optional<WatchEvent>> end = (*with)->Next();
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(end->has_value());

  EXPECT_EQ(MustNext(**without).type, WatchEvent::Type::kAdded);
  end = (*without)->Next();
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(end->has_value());
}

TEST(FakeKubeClient, ClosedStreamsSeeNoLaterEvents) {
  FakeKubeClient kube;
  KubeResult<std::unique_ptr<WatchStream>> stream =
      kube.Watch(kDeployments, WatchFrom("0"));
  ASSERT_TRUE(stream.has_value());
  EXPECT_EQ(kube.OpenWatches(), 1u);
  kube.CloseWatches();
  EXPECT_EQ(kube.OpenWatches(), 0u);
  kube.Seed(kDeployments, Deployment("a", 1));
  KubeResult<std::optional<WatchEvent>> end = (*stream)->Next();
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(end->has_value());
}

TEST(FakeKubeClient, CancelUnblocksAWaitingNext) {
  FakeKubeClient kube;
  KubeResult<std::unique_ptr<WatchStream>> stream = kube.Watch(kDeployments, WatchOptions{});
  ASSERT_TRUE(stream.has_value());
  WatchStream* s = stream->get();
  std::thread canceller([s] { s->Cancel(); });
  KubeResult<std::optional<WatchEvent>> end = s->Next();
  canceller.join();
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(end->has_value());
}

TEST(FakeKubeClient, BrokenWatchesReturnTheErrorOnce) {
  FakeKubeClient kube;
  KubeResult<std::unique_ptr<WatchStream>> stream = kube.Watch(kDeployments, WatchOptions{});
  ASSERT_TRUE(stream.has_value());
  kube.BreakWatches();
  KubeResult<std::optional<WatchEvent>> broken = (*stream)->Next();
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().kind, KubeError::Kind::kTransient);
  KubeResult<std::optional<WatchEvent>> end = (*stream)->Next();
  ASSERT_TRUE(end.has_value());
  EXPECT_FALSE(end->has_value());
}

TEST(FakeKubeClient, InjectedFailuresAreCountedAndNotWritten) {
  FakeKubeClient kube;
  kube.FailNext(1, "Apply");
  KubeResult<json> failed = kube.Apply(kDeployments, Deployment("api", 1), "op");
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().kind, KubeError::Kind::kTransient);
  EXPECT_EQ(failed.error().http_status, 503);
  EXPECT_TRUE(kube.Writes().empty());
  EXPECT_TRUE(kube.Apply(kDeployments, Deployment("api", 1), "op").has_value());
  EXPECT_EQ(kube.Calls("Apply"), 2);
  ASSERT_EQ(kube.Writes().size(), 1u);
  EXPECT_EQ(kube.Writes()[0].method, "Apply");
  EXPECT_EQ(kube.Writes()[0].resource, "deployments");
  EXPECT_EQ(kube.Writes()[0].name, "api");

  kube.FailNext(1, "Get",
                KubeError{KubeError::Kind::kForbidden, 403, "Forbidden", "rbac says no"});
  EXPECT_EQ(kube.List(kDeployments, {}).has_value(), true);
  EXPECT_EQ(kube.Get(kDeployments, "prod", "api").error().kind, KubeError::Kind::kForbidden);
  EXPECT_TRUE(kube.Get(kDeployments, "prod", "api").has_value());

  kube.SetDown(true);
  EXPECT_FALSE(kube.List(kDeployments, {}).has_value());
  EXPECT_FALSE(kube.Watch(kDeployments, {}).has_value());
  kube.SetDown(false);
  EXPECT_TRUE(kube.List(kDeployments, {}).has_value());

  kube.FailNext(2);
  EXPECT_FALSE(kube.List(kDeployments, {}).has_value());
  EXPECT_FALSE(kube.Get(kDeployments, "prod", "api").has_value());
  EXPECT_TRUE(kube.Get(kDeployments, "prod", "api").has_value());
}

TEST(FakeKubeClient, SeedIsNotAWriteButIsSeenByWatches) {
  FakeKubeClient kube;
  json seeded = kube.Seed(kDeployments, Deployment("api", 1));
  EXPECT_EQ(Rv(seeded), "1");
  EXPECT_TRUE(kube.Writes().empty());
  EXPECT_EQ(kube.Calls(), 0);
  KubeResult<std::unique_ptr<WatchStream>> stream =
      kube.Watch(kDeployments, WatchFrom(Rv(seeded)));
  ASSERT_TRUE(stream.has_value());
  json status = seeded;
  status["status"] = json{{"observedGeneration", 1}};
  kube.Seed(kDeployments, status);
  WatchEvent e = MustNext(**stream);
  EXPECT_EQ(e.type, WatchEvent::Type::kModified);
  EXPECT_EQ(e.object["status"]["observedGeneration"], 1);
  EXPECT_EQ(Generation(e.object), 1);
}

TEST(FakeKubeClient, ClusterScopedObjectsHaveNoNamespace) {
  FakeKubeClient kube;
  ASSERT_TRUE(kube.Create(kNamespaces, json{{"metadata", {{"name", "prod"}}}}).has_value());
  KubeResult<json> got = kube.Get(kNamespaces, "", "prod");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE((*got)["metadata"].contains("namespace"));
}

}  // namespace
}  // namespace pricing::op
