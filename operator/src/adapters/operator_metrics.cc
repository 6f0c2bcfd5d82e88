#include "adapters/operator_metrics.h"

#include <prometheus/text_serializer.h>

#include <array>

namespace pricing::op {
namespace {

using prometheus::Labels;

std::string Str(std::string_view s) { return std::string(s); }

constexpr std::array<std::string_view, 4> kReconcileResults = {"success", "error", "requeue",
                                                               "requeue_after"};

}  // namespace

const prometheus::Histogram::BucketBoundaries& OperatorMetrics::ReconcileBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3,  0.35, 0.4,  0.45, 0.5, 0.6,
      0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5,  3.0,  3.5,  4.0,  4.5, 5.0,
      6.0,   7.0,  8.0,   9.0,  10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0};
  return buckets;
}

const prometheus::Histogram::BucketBoundaries& OperatorMetrics::QueueBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0};
  return buckets;
}

const prometheus::Histogram::BucketBoundaries& OperatorMetrics::TimeToScaleBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      5, 10, 15, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 3600};
  return buckets;
}

OperatorMetrics::OperatorMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  reconcile_total_ = &prometheus::BuildCounter()
                          .Name("controller_runtime_reconcile_total")
                          .Help("Total number of reconciliations per controller")
                          .Register(*registry_);
  reconcile_errors_ = &prometheus::BuildCounter()
                           .Name("controller_runtime_reconcile_errors_total")
                           .Help("Total number of reconciliation errors per controller")
                           .Register(*registry_);
  reconcile_time_ = &prometheus::BuildHistogram()
                         .Name("controller_runtime_reconcile_time_seconds")
                         .Help("Length of time per reconciliation per controller")
                         .Register(*registry_);
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("workqueue_depth")
                      .Help("Current depth of workqueue")
                      .Register(*registry_);
  queue_adds_ = &prometheus::BuildCounter()
                     .Name("workqueue_adds_total")
                     .Help("Total number of adds handled by workqueue")
                     .Register(*registry_);
  queue_duration_ = &prometheus::BuildHistogram()
                         .Name("workqueue_queue_duration_seconds")
                         .Help(
                             "How long in seconds an item stays in workqueue before being "
                             "requested")
                         .Register(*registry_);
  work_duration_ = &prometheus::BuildHistogram()
                        .Name("workqueue_work_duration_seconds")
                        .Help("How long in seconds processing an item from workqueue takes")
                        .Register(*registry_);
  queue_retries_ = &prometheus::BuildCounter()
                        .Name("workqueue_retries_total")
                        .Help("Total number of retries handled by workqueue")
                        .Register(*registry_);
  rest_requests_ = &prometheus::BuildCounter()
                        .Name("rest_client_requests_total")
                        .Help("Number of HTTP requests, partitioned by status code and method")
                        .Register(*registry_);
  leader_status_ = &prometheus::BuildGauge()
                        .Name("leader_election_master_status")
                        .Help(
                            "Gauge of if the reporting system is master of the relevant lease, "
                            "0 indicates backup, 1 indicates master. 'name' is the string used "
                            "to identify the lease")
                        .Register(*registry_);
  policy_transitions_ = &prometheus::BuildCounter()
                             .Name("pricing_operator_policy_transitions_total")
                             .Help("Number of policy transitions applied, by policy kind")
                             .Register(*registry_);
  time_to_scale_ = &prometheus::BuildHistogram()
                        .Name("pricing_operator_time_to_scale_seconds")
                        .Help("Seconds from a policy transition that raised a component's "
                              "floor to its Deployment having that many available pods")
                        .Register(*registry_);
  children_applied_ = &prometheus::BuildCounter()
                           .Name("pricing_operator_children_applied_total")
                           .Help("Number of child objects applied, by kind")
                           .Register(*registry_);
}

void OperatorMetrics::RecordReconcile(std::string_view controller, std::string_view result,
                                      double seconds) {
  {
    std::lock_guard lock(mu_);
    if (known_controllers_.insert(std::string(controller)).second) {
      for (std::string_view r : kReconcileResults) {
        reconcile_total_->Add(Labels{{"controller", Str(controller)}, {"result", Str(r)}});
      }
      reconcile_errors_->Add(Labels{{"controller", Str(controller)}});
    }
  }
  reconcile_total_->Add(Labels{{"controller", Str(controller)}, {"result", Str(result)}})
      .Increment();
  reconcile_time_->Add(Labels{{"controller", Str(controller)}}, ReconcileBuckets())
      .Observe(seconds);
}

void OperatorMetrics::RecordReconcileError(std::string_view controller) {
  reconcile_errors_->Add(Labels{{"controller", Str(controller)}}).Increment();
}

void OperatorMetrics::QueueAdd(std::string_view name) {
  queue_adds_->Add(Labels{{"name", Str(name)}}).Increment();
}

void OperatorMetrics::QueueDepth(std::string_view name, size_t depth) {
  queue_depth_->Add(Labels{{"name", Str(name)}}).Set(static_cast<double>(depth));
}

void OperatorMetrics::QueueWait(std::string_view name, double seconds) {
  queue_duration_->Add(Labels{{"name", Str(name)}}, QueueBuckets()).Observe(seconds);
}

void OperatorMetrics::QueueWork(std::string_view name, double seconds) {
  work_duration_->Add(Labels{{"name", Str(name)}}, QueueBuckets()).Observe(seconds);
}

void OperatorMetrics::QueueRetry(std::string_view name) {
  queue_retries_->Add(Labels{{"name", Str(name)}}).Increment();
}

void OperatorMetrics::RestRequest(std::string_view method, int code) {
  const std::string code_text = code == 0 ? std::string("<error>") : std::to_string(code);
  rest_requests_->Add(Labels{{"code", code_text}, {"method", Str(method)}}).Increment();
}

void OperatorMetrics::SetLeader(std::string_view name, bool leader) {
  leader_status_->Add(Labels{{"name", Str(name)}}).Set(leader ? 1.0 : 0.0);
}

void OperatorMetrics::PolicyTransition(std::string_view kind) {
  policy_transitions_->Add(Labels{{"kind", Str(kind)}}).Increment();
}

void OperatorMetrics::TimeToScale(std::string_view component, double seconds) {
  time_to_scale_->Add(Labels{{"component", Str(component)}}, TimeToScaleBuckets()).Observe(seconds);
}

void OperatorMetrics::ChildApplied(std::string_view kind) {
  children_applied_->Add(Labels{{"kind", Str(kind)}}).Increment();
}

std::string OperatorMetrics::Text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace pricing::op
