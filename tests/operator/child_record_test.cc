#include "op/child_record.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "op/managed_fields.h"
#include "runtime/reconciler.h"
#include "runtime/store.h"

namespace pricing::op {
namespace {

using nlohmann::json;

constexpr std::uint8_t kCompact = 0x01;
constexpr std::uint8_t kCbor = 0x00;

// A Deployment as the API server returns it, with what pricing-operator
// applied to it.
json LiveDeployment() {
  return json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {
      "name": "desk-a-api", "namespace": "pricing",
      "uid": "3f1c2a9e-7b4d-4e6f-9a0b-1c2d3e4f5a6b", "resourceVersion": "184467",
      "generation": 3, "labels": {"app.kubernetes.io/name": "pricing-engine"},
      "ownerReferences": [{"apiVersion": "pricing.borrowrate.io/v1alpha1",
        "kind": "PricingEngine", "name": "desk-a",
        "uid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "controller": true,
        "blockOwnerDeletion": true}],
      "managedFields": [{"manager": "pricing-operator", "operation": "Apply",
        "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}}]
    },
    "spec": {"template": {"spec": {"containers": [{"name": "engine", "image": "e:1"}]}}},
    "status": {"replicas": 4, "readyReplicas": 3, "updatedReplicas": 4, "availableReplicas": 3,
      "observedGeneration": 3,
      "conditions": [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
         "message": "Deployment has minimum availability.",
         "lastUpdateTime": "2026-03-02T14:30:00Z", "lastTransitionTime": "2026-03-02T14:30:00Z"},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
         "message": "ReplicaSet \"desk-a-api-7d9f8b6c5d\" has successfully progressed.",
         "lastUpdateTime": "2026-03-02T14:31:00Z", "lastTransitionTime": "2026-03-02T14:29:00Z"}]}
  })");
}

// An HPA as the API server returns it, with the HPA controller's conditions.
json LiveHpa() {
  return json::parse(R"({
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {
      "name": "desk-a-api", "namespace": "pricing",
      "uid": "5e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b", "resourceVersion": "184470",
      "generation": 2,
      "ownerReferences": [{"apiVersion": "pricing.borrowrate.io/v1alpha1",
        "kind": "PricingEngine", "name": "desk-a",
        "uid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "controller": true,
        "blockOwnerDeletion": true}],
      "managedFields": [{"manager": "pricing-operator", "operation": "Apply",
        "apiVersion": "autoscaling/v2", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:minReplicas": {}, "f:maxReplicas": {}}}}]
    },
    "spec": {"minReplicas": 2, "maxReplicas": 6},
    "status": {"currentReplicas": 4, "desiredReplicas": 4, "observedGeneration": 2,
      "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
        "current": {"averageUtilization": 41, "averageValue": "205m"}}}],
      "conditions": [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
         "message": "recommended size matches current size",
         "lastTransitionTime": "2026-03-02T14:30:00Z"},
        {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
         "message": "the HPA was unable to compute the replica count: failed to get cpu utilization",
         "lastTransitionTime": "2026-03-02T14:30:00Z"},
        {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange",
         "message": "the desired count is within the acceptable range",
         "lastTransitionTime": "2026-03-02T14:30:00Z"}]}
  })");
}

void ExpectRoundTrip(const json& record, std::uint8_t form) {
  const std::vector<std::uint8_t> bytes = EncodeChildRecord(record);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes[0], form) << record.dump();
  EXPECT_EQ(bytes.size(), bytes.capacity());
  EXPECT_EQ(DecodeChildRecord(bytes), record) << record.dump();
}

TEST(ChildRecord, ARecordOfALiveChildRoundTripsInAThirdOfItsCborSize) {
  for (const json& live : {LiveDeployment(), LiveHpa()}) {
    const json record = ChildCacheRecord(live, "pricing-operator");
    ASSERT_TRUE(record.contains("appliedFingerprint"));
    ASSERT_TRUE(record.contains(json::json_pointer("/status/conditions")));
    ExpectRoundTrip(record, kCompact);
    const size_t compact = EncodeChildRecord(record).size();
    const size_t cbor = json::to_cbor(record).size();
    EXPECT_LT(compact, 100u) << "cbor " << cbor;
    EXPECT_LT(compact * 3, cbor + 30) << "compact " << compact << ", cbor " << cbor;
  }
}

// Each kept condition costs a few bytes: its type, status and usual reasons
// are one-byte indexes.
TEST(ChildRecord, AKeptConditionWithKnownTextsTakesFourBytes) {
  json record = ChildCacheRecord(LiveDeployment(), "pricing-operator");
  json without = record;
  without["status"].erase("conditions");
  json two = record;
  two["status"]["conditions"].push_back(
      {{"type", "ScalingActive"}, {"status", "Unknown"}, {"reason", "FailedGetPodsMetric"}});
  const size_t one_size = EncodeChildRecord(record).size();
  EXPECT_EQ(one_size, EncodeChildRecord(without).size() + 1 + 4);  // the count, the condition
  EXPECT_EQ(EncodeChildRecord(two).size(), one_size + 4);
}

TEST(ChildRecord, EveryOptionalPartRoundTrips) {
  json record = ChildCacheRecord(LiveDeployment(), "pricing-operator");
  ExpectRoundTrip(json::object(), kCompact);
  ExpectRoundTrip(json{{"metadata", json::object()}}, kCompact);
  json deleting = record;
  deleting["metadata"]["deletionTimestamp"] = "2026-03-02T14:30:00Z";
  ExpectRoundTrip(deleting, kCompact);
  json no_status = record;
  no_status.erase("status");
  no_status.erase("appliedFingerprint");
  ExpectRoundTrip(no_status, kCompact);
  json empty_status = record;
  empty_status["status"] = json::object();
  ExpectRoundTrip(empty_status, kCompact);
  json negative = record;
  negative["status"]["replicas"] = -2;
  negative["status"]["observedGeneration"] = -1;
  negative["metadata"]["generation"] = -3;
  ExpectRoundTrip(negative, kCompact);
  for (const char* field : {"replicas", "readyReplicas", "updatedReplicas", "availableReplicas",
                            "observedGeneration"}) {
    json one = record;
    one["status"] = {{field, 7}};
    ExpectRoundTrip(one, kCompact);
  }
  json no_generation = record;
  no_generation["metadata"].erase("generation");
  ExpectRoundTrip(no_generation, kCompact);
  json no_conditions = record;
  no_conditions["status"]["conditions"] = json::array();
  ExpectRoundTrip(no_conditions, kCompact);
  json partial_conditions = record;
  partial_conditions["status"]["conditions"] = json::parse(
      R"([{}, {"type": "Progressing"}, {"status": "False"}, {"reason": "ProgressDeadlineExceeded"},
          {"type": "AbleToScale", "status": "Unknown", "reason": ""}])");
  ExpectRoundTrip(partial_conditions, kCompact);
  json no_owner = record;
  no_owner["metadata"].erase("ownerReferences");
  ExpectRoundTrip(no_owner, kCompact);
  json empty_owners = record;
  empty_owners["metadata"]["ownerReferences"] = json::array();
  ExpectRoundTrip(empty_owners, kCompact);
  json two_owners = record;
  two_owners["metadata"]["ownerReferences"].push_back(
      {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "x"}, {"controller", false}});
  two_owners["metadata"]["ownerReferences"].push_back(json::object());
  ExpectRoundTrip(two_owners, kCompact);
  json big = record;
  big["appliedFingerprint"] = UINT64_MAX;
  big["status"]["replicas"] = INT64_MAX;
  big["status"]["observedGeneration"] = INT64_MIN;
  big["metadata"]["generation"] = INT64_MAX;
  ExpectRoundTrip(big, kCompact);
  ExpectRoundTrip(ChildCacheRecord(LiveHpa(), "pricing-operator"), kCompact);
}

TEST(ChildRecord, TextsThatAreNotInTheirUsualFormRoundTripAsText) {
  json record = ChildCacheRecord(LiveDeployment(), "pricing-operator");
  for (const char* uid :
       {"3F1C2A9E-7B4D-4E6F-9A0B-1C2D3E4F5A6B", "not-a-uid", "",
        "3f1c2a9e-7b4d-4e6f-9a0b-1c2d3e4f5a6", "3f1c2a9e+7b4d-4e6f-9a0b-1c2d3e4f5a6b"}) {
    json r = record;
    r["metadata"]["uid"] = uid;
    r["metadata"]["ownerReferences"][0]["uid"] = uid;
    ExpectRoundTrip(r, kCompact);
  }
  for (const char* rv : {"0", "007", "", "12a", "99999999999999999999", "18446744073709551615"}) {
    json r = record;
    r["metadata"]["resourceVersion"] = rv;
    ExpectRoundTrip(r, kCompact);
  }
  json r = record;
  r["metadata"]["name"] = "PricingEngine";  // a known text, in another field
  r["metadata"]["ownerReferences"][0]["apiVersion"] = "pricing.borrowrate.io/v1beta1";
  ExpectRoundTrip(r, kCompact);
  r = record;  // condition texts nobody listed, and known ones in other places
  r["status"]["conditions"] = json::parse(
      R"([{"type": "Progressing", "status": "true", "reason": "TheReasonIsNew"},
          {"type": "ReplicaFailure", "status": "False", "reason": "True"},
          {"type": "ProgressDeadlineExceeded", "status": "Progressing", "reason": "caf\u00e9"}])");
  r["metadata"]["namespace"] = "ScalingActive";
  ExpectRoundTrip(r, kCompact);
}

TEST(ChildRecord, AnyOtherShapeIsKeptWhole) {
  const json record = ChildCacheRecord(LiveDeployment(), "pricing-operator");
  std::vector<json> others;
  others.push_back(json::array({1, 2}));
  others.push_back("text");
  json r = record;
  r["spec"] = {{"replicas", 2}};
  others.push_back(r);
  r = record;
  r["metadata"]["labels"] = {{"a", "b"}};
  others.push_back(r);
  r = record;
  r["metadata"]["name"] = 7;
  others.push_back(r);
  r = record;
  r["metadata"]["ownerReferences"][0]["controller"] = "yes";
  others.push_back(r);
  r = record;
  r["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = true;
  others.push_back(r);
  r = record;
  r["metadata"]["ownerReferences"] = json::object();
  others.push_back(r);
  r = record;
  r["status"]["replicas"] = 1.5;
  others.push_back(r);
  r = record;
  r["status"]["replicas"] = UINT64_MAX;
  others.push_back(r);
  r = record;
  r["status"]["unavailableReplicas"] = 1;
  others.push_back(r);
  r = record;
  r["status"]["observedGeneration"] = "3";
  others.push_back(r);
  r = record;
  r["status"]["updatedReplicas"] = 2.5;
  others.push_back(r);
  r = record;
  r["status"]["availableReplicas"] = UINT64_MAX;
  others.push_back(r);
  r = record;
  r["metadata"]["generation"] = "3";
  others.push_back(r);
  r = record;
  r["metadata"]["generation"] = nullptr;
  others.push_back(r);
  r = record;
  r["status"]["conditions"] = json::object();
  others.push_back(r);
  r = record;
  r["status"]["conditions"] = json::array({"Progressing"});
  others.push_back(r);
  r = record;
  r["status"]["conditions"][0]["message"] = "has successfully progressed";
  others.push_back(r);
  r = record;
  r["status"]["conditions"][0]["status"] = true;
  others.push_back(r);
  r = record;
  r["status"]["conditions"][0]["reason"] = nullptr;
  others.push_back(r);
  r = record;
  r["appliedFingerprint"] = -1;
  others.push_back(r);
  r = record;
  r["metadata"] = nullptr;
  others.push_back(r);
  for (const json& other : others) ExpectRoundTrip(other, kCbor);
}

// Random records of the compact shape, each part present or not, texts of
// every form: every one decodes to itself.
TEST(ChildRecord, RandomRecordsRoundTrip) {
  std::mt19937_64 random(20261202);
  auto coin = [&] { return random() % 2 == 0; };
  auto text = [&] {
    static const std::vector<std::string> samples = {"",
                                                     "a",
                                                     "pricing.borrowrate.io/v1alpha1",
                                                     "PricingEngine",
                                                     "desk-a-api",
                                                     "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                                                     "184467",
                                                     "0",
                                                     std::string(200, 'x'),
                                                     "caf\xc3\xa9",
                                                     "True",
                                                     "Unknown",
                                                     "ScalingActive",
                                                     "ProgressDeadlineExceeded",
                                                     "FailedGetResourceMetric"};
    return samples[random() % samples.size()];
  };
  for (int i = 0; i < 2000; ++i) {
    json record = json::object();
    if (coin()) {
      json metadata = json::object();
      for (const char* field :
           {"name", "namespace", "uid", "resourceVersion", "deletionTimestamp"}) {
        if (coin()) metadata[field] = text();
      }
      if (coin()) metadata["generation"] = static_cast<std::int64_t>(random());
      if (coin()) {
        json refs = json::array();
        for (int n = random() % 3; n > 0; --n) {
          json ref = json::object();
          for (const char* field : {"apiVersion", "kind", "name", "uid"}) {
            if (coin()) ref[field] = text();
          }
          if (coin()) ref["controller"] = coin();
          refs.push_back(ref);
        }
        metadata["ownerReferences"] = refs;
      }
      record["metadata"] = metadata;
    }
    if (coin()) {
      json status = json::object();
      if (coin()) status["replicas"] = static_cast<std::int64_t>(random() % 2000) - 1000;
      if (coin()) status["readyReplicas"] = static_cast<std::uint64_t>(random() % 50);
      if (coin()) status["updatedReplicas"] = static_cast<std::int64_t>(random() % 50);
      if (coin()) status["availableReplicas"] = static_cast<std::uint64_t>(random() % 50);
      if (coin()) status["observedGeneration"] = static_cast<std::int64_t>(random() >> 1);
      if (coin()) {
        json conditions = json::array();
        for (int n = random() % 4; n > 0; --n) {
          json condition = json::object();
          for (const char* field : {"type", "status", "reason"}) {
            if (coin()) condition[field] = text();
          }
          conditions.push_back(condition);
        }
        status["conditions"] = conditions;
      }
      record["status"] = status;
    }
    if (coin()) record["appliedFingerprint"] = static_cast<std::uint64_t>(random());
    ExpectRoundTrip(record, kCompact);
  }
}

TEST(ChildRecord, TheChildCachesHoldTheirRecordsInThisForm) {
  Store store(ChildProjection(), ChildCodec());
  const json live = LiveDeployment();
  EXPECT_EQ(store.Apply(WatchEvent{WatchEvent::Type::kAdded, live}), "pricing/desk-a-api");
  std::optional<json> cached = store.Get("pricing/desk-a-api");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(*cached, ChildCacheRecord(live, "pricing-operator"));
  EXPECT_EQ(store.List(), std::vector<json>{*cached});
}

}  // namespace
}  // namespace pricing::op
