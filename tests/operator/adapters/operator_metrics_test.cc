#include "adapters/operator_metrics.h"

#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace pricing::op {
namespace {

// Returns the value of the sample `series` (name and labels exactly as
// exposed, e.g. `workqueue_depth{name="x"}`) in `text`, or nullopt.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

TEST(OperatorMetrics, ReconcileCountsByResultAndCreatesTheOtherResultsAtZero) {
  OperatorMetrics metrics;
  metrics.RecordReconcile("pricingengine", "success", 0.02);
  metrics.RecordReconcile("pricingengine", "success", 0.03);
  metrics.RecordReconcile("pricingengine", "requeue_after", 0.5);
  const std::string text = metrics.Text();
  const std::string prefix = "controller_runtime_reconcile_total{controller=\"pricingengine\",";
  EXPECT_EQ(Sample(text, prefix + "result=\"success\"}"), 2.0);
  EXPECT_EQ(Sample(text, prefix + "result=\"requeue_after\"}"), 1.0);
  EXPECT_EQ(Sample(text, prefix + "result=\"error\"}"), 0.0);
  EXPECT_EQ(Sample(text, prefix + "result=\"requeue\"}"), 0.0);
  EXPECT_EQ(Sample(text, "controller_runtime_reconcile_errors_total{controller=\"pricingengine\"}"),
            0.0);
  EXPECT_NE(text.find("# TYPE controller_runtime_reconcile_time_seconds histogram"),
            std::string::npos);
  EXPECT_EQ(Sample(text,
                   "controller_runtime_reconcile_time_seconds_count{controller="
                   "\"pricingengine\"}"),
            3.0);
  EXPECT_DOUBLE_EQ(*Sample(text,
                           "controller_runtime_reconcile_time_seconds_sum{controller="
                           "\"pricingengine\"}"),
                   0.55);
  EXPECT_EQ(Sample(text,
                   "controller_runtime_reconcile_time_seconds_bucket{controller="
                   "\"pricingengine\",le=\"0.025\"}"),
            1.0);
  EXPECT_EQ(Sample(text,
                   "controller_runtime_reconcile_time_seconds_bucket{controller="
                   "\"pricingengine\",le=\"60\"}"),
            3.0);
}

TEST(OperatorMetrics, ReconcileErrorsCountSeparately) {
  OperatorMetrics metrics;
  metrics.RecordReconcile("pricingengine", "error", 0.1);
  metrics.RecordReconcileError("pricingengine");
  const std::string text = metrics.Text();
  EXPECT_EQ(Sample(text,
                   "controller_runtime_reconcile_total{controller=\"pricingengine\","
                   "result=\"error\"}"),
            1.0);
  EXPECT_EQ(Sample(text, "controller_runtime_reconcile_errors_total{controller=\"pricingengine\"}"),
            1.0);
}

TEST(OperatorMetrics, WorkQueueFamilies) {
  OperatorMetrics metrics;
  metrics.QueueAdd("pricingengine");
  metrics.QueueAdd("pricingengine");
  metrics.QueueDepth("pricingengine", 7);
  metrics.QueueDepth("pricingengine", 3);
  metrics.QueueWait("pricingengine", 0.002);
  metrics.QueueWork("pricingengine", 0.2);
  metrics.QueueWork("pricingengine", 20.0);
  metrics.QueueRetry("pricingengine");
  const std::string text = metrics.Text();
  EXPECT_EQ(Sample(text, "workqueue_adds_total{name=\"pricingengine\"}"), 2.0);
  EXPECT_EQ(Sample(text, "workqueue_depth{name=\"pricingengine\"}"), 3.0);
  EXPECT_NE(text.find("# TYPE workqueue_depth gauge"), std::string::npos);
  EXPECT_EQ(Sample(text, "workqueue_queue_duration_seconds_count{name=\"pricingengine\"}"), 1.0);
  EXPECT_EQ(Sample(text,
                   "workqueue_queue_duration_seconds_bucket{name=\"pricingengine\","
                   "le=\"0.01\"}"),
            1.0);
  EXPECT_EQ(Sample(text,
                   "workqueue_queue_duration_seconds_bucket{name=\"pricingengine\","
                   "le=\"0.001\"}"),
            0.0);
  EXPECT_EQ(Sample(text, "workqueue_work_duration_seconds_count{name=\"pricingengine\"}"), 2.0);
  EXPECT_EQ(Sample(text,
                   "workqueue_work_duration_seconds_bucket{name=\"pricingengine\","
                   "le=\"1\"}"),
            1.0);
  EXPECT_EQ(Sample(text, "workqueue_retries_total{name=\"pricingengine\"}"), 1.0);
}

TEST(OperatorMetrics, RestRequestsByCodeAndMethodWithErrorForNoResponse) {
  OperatorMetrics metrics;
  metrics.RestRequest("GET", 200);
  metrics.RestRequest("GET", 200);
  metrics.RestRequest("PUT", 409);
  metrics.RestRequest("PATCH", 0);
  const std::string text = metrics.Text();
  EXPECT_EQ(Sample(text, "rest_client_requests_total{code=\"200\",method=\"GET\"}"), 2.0);
  EXPECT_EQ(Sample(text, "rest_client_requests_total{code=\"409\",method=\"PUT\"}"), 1.0);
  EXPECT_EQ(Sample(text, "rest_client_requests_total{code=\"<error>\",method=\"PATCH\"}"), 1.0);
  EXPECT_EQ(Sample(text, "rest_client_requests_total{code=\"0\",method=\"PATCH\"}"), std::nullopt);
}

TEST(OperatorMetrics, LeaderStatusIsZeroOrOne) {
  OperatorMetrics metrics;
  metrics.SetLeader("pricing-operator", true);
  EXPECT_EQ(Sample(metrics.Text(), "leader_election_master_status{name=\"pricing-operator\"}"),
            1.0);
  metrics.SetLeader("pricing-operator", false);
  EXPECT_EQ(Sample(metrics.Text(), "leader_election_master_status{name=\"pricing-operator\"}"),
            0.0);
}

TEST(OperatorMetrics, OperatorCountersByKind) {
  OperatorMetrics metrics;
  metrics.PolicyTransition("marketHours");
  metrics.ChildApplied("Deployment");
  metrics.ChildApplied("Deployment");
  metrics.ChildApplied("Service");
  const std::string text = metrics.Text();
  EXPECT_EQ(Sample(text, "pricing_operator_policy_transitions_total{kind=\"marketHours\"}"), 1.0);
  EXPECT_EQ(Sample(text, "pricing_operator_children_applied_total{kind=\"Deployment\"}"), 2.0);
  EXPECT_EQ(Sample(text, "pricing_operator_children_applied_total{kind=\"Service\"}"), 1.0);
}

TEST(OperatorMetrics, EveryFamilyHasHelpAndType) {
  OperatorMetrics metrics;
  metrics.RecordReconcile("c", "success", 0);
  metrics.QueueAdd("q");
  metrics.QueueDepth("q", 0);
  metrics.QueueWait("q", 0);
  metrics.QueueWork("q", 0);
  metrics.QueueRetry("q");
  metrics.RestRequest("GET", 200);
  metrics.SetLeader("l", false);
  metrics.PolicyTransition("k");
  metrics.ChildApplied("k");
  const std::string text = metrics.Text();
  for (const char* family :
       {"controller_runtime_reconcile_total counter",
        "controller_runtime_reconcile_errors_total counter",
        "controller_runtime_reconcile_time_seconds histogram", "workqueue_depth gauge",
        "workqueue_adds_total counter", "workqueue_queue_duration_seconds histogram",
        "workqueue_work_duration_seconds histogram", "workqueue_retries_total counter",
        "rest_client_requests_total counter", "leader_election_master_status gauge",
        "pricing_operator_policy_transitions_total counter",
        "pricing_operator_children_applied_total counter"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + "\n"), std::string::npos) << family;
  }
}

TEST(OperatorMetrics, ConcurrentRecordingLosesNothing) {
  OperatorMetrics metrics;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < 1000; ++i) {
        metrics.RecordReconcile("pricingengine", "success", 0.001);
        metrics.QueueAdd("pricingengine");
        metrics.RestRequest("GET", 200);
        if (i % 100 == 0) (void)metrics.Text();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string text = metrics.Text();
  EXPECT_EQ(Sample(text,
                   "controller_runtime_reconcile_total{controller=\"pricingengine\","
                   "result=\"success\"}"),
            4000.0);
  EXPECT_EQ(Sample(text, "workqueue_adds_total{name=\"pricingengine\"}"), 4000.0);
  EXPECT_EQ(Sample(text, "rest_client_requests_total{code=\"200\",method=\"GET\"}"), 4000.0);
}

}  // namespace
}  // namespace pricing::op
