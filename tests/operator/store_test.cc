#include "runtime/store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "op/kube.h"

namespace pricing::op {
namespace {

using nlohmann::json;

json Object(const std::string& ns, const std::string& name, const std::string& rv,
            int replicas = 1) {
  json metadata = {{"name", name}, {"resourceVersion", rv}};
  if (!ns.empty()) metadata["namespace"] = ns;
  return json{{"metadata", metadata}, {"spec", {{"replicas", replicas}}}};
}

TEST(Store, KeyIsNamespaceSlashNameOrNameWhenClusterScoped) {
  EXPECT_EQ(KeyOf(Object("prod", "api", "1")), "prod/api");
  EXPECT_EQ(KeyOf(Object("", "prod", "1")), "prod");
  EXPECT_EQ(KeyOf(json::object()), "");
}

TEST(Store, ReplaceReturnsTheKeysThatVanished) {
  Store store;
  EXPECT_TRUE(store.Replace({Object("prod", "a", "1"), Object("prod", "b", "2"),
                             Object("dev", "c", "3")},
                            "3")
                  .empty());
  EXPECT_EQ(store.ResourceVersion(), "3");
  std::vector<std::string> vanished =
      store.Replace({Object("prod", "b", "2"), Object("prod", "d", "9")}, "9");
  EXPECT_EQ(vanished, (std::vector<std::string>{"dev/c", "prod/a"}));
  EXPECT_EQ(store.Keys(), (std::vector<std::string>{"prod/b", "prod/d"}));
  EXPECT_EQ(store.ResourceVersion(), "9");
  EXPECT_EQ(store.Size(), 2u);
}

TEST(Store, AppliesWatchEvents) {
  Store store;
  store.Replace({Object("prod", "a", "1")}, "1");
  EXPECT_EQ(store.Apply({WatchEvent::Type::kAdded, Object("prod", "b", "2")}), "prod/b");
  EXPECT_EQ(store.Apply({WatchEvent::Type::kModified, Object("prod", "a", "3", 5)}), "prod/a");
  EXPECT_EQ((*store.Get("prod/a"))["spec"]["replicas"], 5);
  EXPECT_EQ(store.ResourceVersion(), "3");
  EXPECT_EQ(store.Apply({WatchEvent::Type::kDeleted, Object("prod", "b", "4")}), "prod/b");
  EXPECT_FALSE(store.Get("prod/b").has_value());
  EXPECT_EQ(store.ResourceVersion(), "4");
  EXPECT_EQ(store.List().size(), 1u);
}

TEST(Store, BookmarksAdvanceTheVersionAndErrorsChangeNothing) {
  Store store;
  store.Replace({Object("prod", "a", "1")}, "1");
  EXPECT_EQ(store.Apply({WatchEvent::Type::kBookmark, json{{"metadata", {{"resourceVersion", "7"}}}}}),
            "");
  EXPECT_EQ(store.ResourceVersion(), "7");
  EXPECT_EQ(store.Apply({WatchEvent::Type::kError, json{{"code", 410}}}), "");
  EXPECT_EQ(store.ResourceVersion(), "7");
  EXPECT_EQ(store.Keys(), std::vector<std::string>{"prod/a"});
}

TEST(Store, ListIsSortedByKey) {
  Store store;
  store.Replace({Object("prod", "b", "1"), Object("dev", "z", "2"), Object("prod", "a", "3")});
  std::vector<json> objects = store.List();
  ASSERT_EQ(objects.size(), 3u);
  EXPECT_EQ(KeyOf(objects[0]), "dev/z");
  EXPECT_EQ(KeyOf(objects[1]), "prod/a");
  EXPECT_EQ(KeyOf(objects[2]), "prod/b");
}

TEST(Store, ConcurrentReadersSeeWholeObjects) {
  Store store;
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      store.Apply({WatchEvent::Type::kModified, Object("prod", "a", std::to_string(i), i)});
    }
  });
  for (int i = 0; i < 2000; ++i) {
    std::optional<json> a = store.Get("prod/a");
    if (a) {
      EXPECT_EQ((*a)["metadata"]["resourceVersion"],
                std::to_string((*a)["spec"]["replicas"].get<int>()));
    }
  }
  writer.join();
  EXPECT_EQ(store.ResourceVersion(), "1999");
}

TEST(Store, KeepsOnlyTheProjectionOfEachObject) {
  Store store([](const json& object) {
    return json{{"metadata", object["metadata"]}, {"replicas", object["spec"]["replicas"]}};
  });
  store.Replace({Object("prod", "a", "1", 4)}, "1");
  store.Apply({WatchEvent::Type::kAdded, Object("prod", "b", "2", 7)});
  EXPECT_EQ(*store.Get("prod/a"), json::parse(R"({"metadata": {"name": "a", "namespace": "prod",
      "resourceVersion": "1"}, "replicas": 4})"));
  EXPECT_EQ((*store.Get("prod/b"))["replicas"], 7);
  EXPECT_FALSE(store.Get("prod/b")->contains("spec"));
}

TEST(Store, TheDefaultProjectionDropsManagedFieldsAndTheLastAppliedAnnotation) {
  json object = Object("prod", "a", "1");
  object["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}}});
  object["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", "{}"}, {"keep", "me"}};
  Store store;
  store.Replace({object}, "1");
  const json stored = *store.Get("prod/a");
  EXPECT_FALSE(stored["metadata"].contains("managedFields"));
  EXPECT_EQ(stored["metadata"]["annotations"], json({{"keep", "me"}}));
  EXPECT_EQ(stored["spec"], object["spec"]);
}

TEST(Store, AStagedListBecomesTheContentAndReportsWhatVanished) {
  Store store;
  store.Replace({Object("prod", "a", "1"), Object("prod", "b", "2")}, "2");
  const std::vector<json> projected = {store.Project(Object("prod", "b", "5", 3)),
                                       store.Project(Object("dev", "c", "6"))};
  const Store::Staged staged = store.Stage(projected);
  ASSERT_EQ(staged.size(), 2u);
  EXPECT_EQ(staged.Key(0), "prod/b");
  EXPECT_EQ(staged.Key(1), "dev/c");
  EXPECT_EQ(staged.Object(0), projected[0]);
  EXPECT_EQ(staged.Object(1), projected[1]);
  EXPECT_EQ(store.Keys(), (std::vector<std::string>{"prod/a", "prod/b"}))
      << "staging changes nothing";

  const auto vanished = store.ReplaceStaged(staged, "6");
  ASSERT_EQ(vanished.size(), 1u);
  EXPECT_EQ(vanished[0].first, "prod/a");
  EXPECT_EQ(vanished[0].second, Object("prod", "a", "1"));
  EXPECT_EQ(store.Keys(), (std::vector<std::string>{"dev/c", "prod/b"}));
  EXPECT_EQ(store.Get("prod/b"), projected[0]);
  EXPECT_EQ(store.ResourceVersion(), "6");
}

}  // namespace
}  // namespace pricing::op
