#include "op/managed_fields.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pricing::op {
namespace {

using nlohmann::json;

// An HPA and a Deployment as the API server returns them after the operator
// applied them: server defaults, another manager's fields, and fieldsV1 with
// "k:" list keys, "." markers and an atomic list.
const json kLiveDeployment = json::parse(R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {
    "name": "desk-api", "namespace": "prod", "uid": "u-1", "resourceVersion": "42",
    "generation": 8,
    "labels": {"app.kubernetes.io/name": "pricing-engine", "team": "added-by-hand"},
    "ownerReferences": [{"apiVersion": "pricing.borrowrate.io/v1alpha1", "kind": "PricingEngine",
                         "name": "desk", "uid": "pe-1", "controller": true}],
    "managedFields": [
      {"manager": "pricing-operator", "operation": "Apply", "apiVersion": "apps/v1",
       "fieldsType": "FieldsV1", "fieldsV1": {
         "f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}},
                        "f:ownerReferences": {"k:{\"uid\":\"pe-1\"}": {}}},
         "f:spec": {"f:selector": {}, "f:template": {"f:spec": {
           "f:containers": {"k:{\"name\":\"engine\"}": {".": {}, "f:name": {}, "f:image": {}, "f:args": {},
                                                        "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}}},
      {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1",
       "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}},
      {"manager": "pricing-operator", "operation": "Apply", "subresource": "status",
       "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}
    ]},
  "spec": {
    "replicas": 3,
    "selector": {"matchLabels": {"app": "x"}},
    "progressDeadlineSeconds": 600,
    "template": {"spec": {
      "dnsPolicy": "ClusterFirst",
      "containers": [
        {"name": "engine", "image": "e:1", "args": ["--role", "gateway"],
         "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
         "ports": [{"containerPort": 8080, "protocol": "TCP"}]},
        {"name": "sidecar", "image": "s:1"}
      ]}}},
  "status": {"replicas": 3, "readyReplicas": 2, "observedGeneration": 7}
})");

const json kDesiredDeployment = json::parse(R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {
    "name": "desk-api", "namespace": "prod",
    "labels": {"app.kubernetes.io/name": "pricing-engine"},
    "ownerReferences": [{"apiVersion": "pricing.borrowrate.io/v1alpha1", "kind": "PricingEngine",
                         "name": "desk", "uid": "pe-1", "controller": true}]},
  "spec": {
    "selector": {"matchLabels": {"app": "x"}},
    "template": {"spec": {"containers": [
      {"name": "engine", "image": "e:1", "args": ["--role", "gateway"],
       "ports": [{"containerPort": 8080}]}]}}}
})");

TEST(ManagedFields, AppliedFieldsAreTheManagersApplyEntryForTheMainResource) {
  const std::optional<json> fields = AppliedFieldsOf(kLiveDeployment, "pricing-operator");
  ASSERT_TRUE(fields.has_value());
  EXPECT_TRUE(fields->contains("f:spec"));
  EXPECT_FALSE(fields->contains("f:status"));
  EXPECT_FALSE(AppliedFieldsOf(kLiveDeployment, "someone-else").has_value());
  EXPECT_FALSE(AppliedFieldsOf(json::object(), "pricing-operator").has_value());
}

TEST(ManagedFields, ProjectionKeepsExactlyTheOwnedFields) {
  const json projected = ProjectOntoFields(kLiveDeployment,
                                           *AppliedFieldsOf(kLiveDeployment, "pricing-operator"));
  // Defaults, other managers' fields, other list items and status are gone.
  EXPECT_FALSE(projected["metadata"]["labels"].contains("team"));
  EXPECT_FALSE(projected["spec"].contains("replicas"));
  EXPECT_FALSE(projected["spec"].contains("progressDeadlineSeconds"));
  EXPECT_FALSE(projected.contains("status"));
  ASSERT_EQ(projected["spec"]["template"]["spec"]["containers"].size(), 1u);
  const json& engine = projected["spec"]["template"]["spec"]["containers"][0];
  EXPECT_FALSE(engine.contains("imagePullPolicy"));
  EXPECT_EQ(engine["args"], json::parse(R"(["--role", "gateway"])"));
  EXPECT_EQ(engine["ports"], json::parse(R"([{"containerPort": 8080}])"));
}

TEST(ManagedFields, WhatWasAppliedReadsBackAsTheSameFingerprint) {
  EXPECT_EQ(AppliedFingerprint(kLiveDeployment, "pricing-operator"),
            Fingerprint(AppliedContent(kDesiredDeployment)));
}

TEST(ManagedFields, AnyChangeToAnOwnedFieldChangesTheFingerprint) {
  const uint64_t desired = Fingerprint(AppliedContent(kDesiredDeployment));
  json edited = kLiveDeployment;
  edited["spec"]["template"]["spec"]["containers"][0]["image"] = "e:2";
  EXPECT_NE(AppliedFingerprint(edited, "pricing-operator"), desired);

  json wanted = kDesiredDeployment;  // the spec now asks for less: a field to drop
  wanted["spec"]["template"]["spec"]["containers"][0].erase("args");
  EXPECT_NE(AppliedFingerprint(kLiveDeployment, "pricing-operator"),
            Fingerprint(AppliedContent(wanted)));
}

TEST(ManagedFields, ChangesOutsideTheOwnedFieldsDoNot) {
  json edited = kLiveDeployment;
  edited["spec"]["replicas"] = 9;  // the HPA's
  edited["metadata"]["labels"]["team"] = "other";
  edited["metadata"]["resourceVersion"] = "43";
  edited["spec"]["template"]["spec"]["containers"][1]["image"] = "s:2";
  edited["status"]["readyReplicas"] = 3;
  EXPECT_EQ(AppliedFingerprint(edited, "pricing-operator"),
            AppliedFingerprint(kLiveDeployment, "pricing-operator"));
}

TEST(ManagedFields, SetListsMatchByValue) {
  const json object = json::parse(R"({"finalizers": ["a", "b", "c"]})");
  const json fields = json::parse(R"({"f:finalizers": {"v:\"a\"": {}, "v:\"c\"": {}}})");
  EXPECT_EQ(ProjectOntoFields(object, fields), json::parse(R"({"finalizers": ["a", "c"]})"));
}

TEST(ManagedFields, AppliedContentDropsIdentityAndNulls) {
  const json content = AppliedContent(json::parse(
      R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "b"},
          "spec": {"type": "ClusterIP", "clusterIP": null, "ports": [{"port": 80, "name": null}]}})"));
  EXPECT_EQ(content, json::parse(R"({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}})"));
}

TEST(ManagedFields, ChildCacheRecordIsSmallAndKeepsWhatTheReconcilerReads) {
  json record = ChildCacheRecord(kLiveDeployment, "pricing-operator");
  EXPECT_EQ(record["metadata"]["name"], "desk-api");
  EXPECT_EQ(record["metadata"]["namespace"], "prod");
  EXPECT_EQ(record["metadata"]["uid"], "u-1");
  EXPECT_EQ(record["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(record["metadata"]["generation"], 8);
  EXPECT_EQ(record["metadata"]["ownerReferences"][0]["uid"], "pe-1");
  EXPECT_EQ(record["status"],
            json::parse(R"({"replicas": 3, "readyReplicas": 2, "observedGeneration": 7})"));
  EXPECT_EQ(CachedAppliedFingerprint(record), AppliedFingerprint(kLiveDeployment, "pricing-operator"));
  EXPECT_FALSE(record.contains("spec"));
  EXPECT_LT(json::to_cbor(record).size(), json::to_cbor(kLiveDeployment).size() / 3);

  // Of the owner references, only the controller's, and only what identifies it.
  json shared = kLiveDeployment;
  shared["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = true;
  shared["metadata"]["ownerReferences"].push_back(
      json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "other"}, {"uid", "cm-1"}});
  EXPECT_EQ(ChildCacheRecord(shared, "pricing-operator")["metadata"]["ownerReferences"],
            json::parse(R"([{"apiVersion": "pricing.borrowrate.io/v1alpha1", "kind": "PricingEngine",
                             "name": "desk", "uid": "pe-1", "controller": true}])"));

  json unowned = kLiveDeployment;
  unowned["metadata"].erase("managedFields");
  EXPECT_FALSE(CachedAppliedFingerprint(ChildCacheRecord(unowned, "pricing-operator")).has_value());
}

// What decides whether a component is rolled out: a Deployment's generations,
// replica counts and Progressing condition, an HPA's AbleToScale and
// ScalingActive; of each condition its type, status and reason.
TEST(ManagedFields, ChildCacheRecordKeepsWhatDecidesARollout) {
  json deployment = kLiveDeployment;
  deployment["status"] = json::parse(R"({
    "replicas": 4, "readyReplicas": 3, "updatedReplicas": 2, "availableReplicas": 3,
    "unavailableReplicas": 1, "observedGeneration": 7, "collisionCount": 1,
    "conditions": [
      {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
       "message": "Deployment has minimum availability.",
       "lastTransitionTime": "2026-03-02T14:30:00Z"},
      {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
       "message": "pods \"desk-api-1\" is forbidden: exceeded quota"},
      {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
       "message": "ReplicaSet \"desk-api-7d9f\" has timed out progressing.",
       "lastUpdateTime": "2026-03-02T14:40:00Z", "lastTransitionTime": "2026-03-02T14:40:00Z"}]})");
  EXPECT_EQ(ChildCacheRecord(deployment, "pricing-operator")["status"], json::parse(R"({
    "replicas": 4, "readyReplicas": 3, "updatedReplicas": 2, "availableReplicas": 3,
    "observedGeneration": 7,
    "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
  })"));

  const json hpa = json::parse(R"({
    "metadata": {"name": "desk-api", "namespace": "prod", "generation": 2},
    "spec": {"minReplicas": 2, "maxReplicas": 6},
    "status": {"currentReplicas": 2, "desiredReplicas": 2, "observedGeneration": 2,
      "conditions": [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
         "message": "recommended size matches current size"},
        {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
         "message": "the HPA was unable to compute the replica count"},
        {"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas"}]}})");
  json record = ChildCacheRecord(hpa, "pricing-operator");
  EXPECT_EQ(record["metadata"]["generation"], 2);
  EXPECT_EQ(record["status"], json::parse(R"({"observedGeneration": 2, "conditions": [
    {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
    {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric"}]})"));
}

TEST(ManagedFields, ChildCacheRecordKeepsShortReasonsAndOnlyWellFormedConditions) {
  json hpa = json::parse(R"({"metadata": {"name": "desk-api"}, "status": {"conditions": [
    "AbleToScale", {"status": "True"}, {"type": 7, "status": "True"},
    {"type": "AbleToScale", "status": true, "reason": ["x"], "message": "m"}]}})");
  std::string long_reason(kMaxKeptReasonBytes - 1, 'R');
  long_reason += "\xc3\xa9Tail";  // a two-byte character across the cut
  hpa["status"]["conditions"].push_back(
      {{"type", "ScalingActive"}, {"status", "False"}, {"reason", long_reason}});
  json record = ChildCacheRecord(hpa, "pricing-operator");
  ASSERT_EQ(record["status"]["conditions"].size(), 2u) << record.dump();
  EXPECT_EQ(record["status"]["conditions"][0], json::parse(R"({"type": "AbleToScale"})"));
  EXPECT_EQ(record["status"]["conditions"][1]["reason"], std::string(kMaxKeptReasonBytes - 1, 'R'));
  const std::string exact(kMaxKeptReasonBytes, 'R');
  hpa["status"]["conditions"][4]["reason"] = exact;
  record = ChildCacheRecord(hpa, "pricing-operator");
  ASSERT_EQ(record["status"]["conditions"].size(), 2u) << record.dump();
  EXPECT_EQ(record["status"]["conditions"][1]["reason"], exact);

  json none = hpa;  // no condition of a kept type: no conditions at all
  none["status"]["conditions"] = json::parse(R"([{"type": "ScalingLimited", "status": "True"}])");
  EXPECT_FALSE(ChildCacheRecord(none, "pricing-operator")["status"].contains("conditions"));
  EXPECT_FALSE(ChildCacheRecord(none, "pricing-operator").contains("status"));
}

}  // namespace
}  // namespace pricing::op
