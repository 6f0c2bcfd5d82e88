// The operator's Prometheus metrics on prometheus-cpp core, under the names
// controller-runtime and client-go export (so existing dashboards and alerts
// work unchanged), plus the operator's own pricing_operator_* counters. Text()
// renders them for GET /metrics (served by adapters/ops_server.h).
//
// Label values must come from small fixed sets (controller and queue names,
// result names, HTTP methods and codes, child kinds), never from object names,
// or the series count grows without bound.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace pricing::op {

class OperatorMetrics {
 public:
  // Bucket bounds (seconds) of controller_runtime_reconcile_time_seconds, as
  // controller-runtime's: 5 ms to 60 s.
  static const prometheus::Histogram::BucketBoundaries& ReconcileBuckets();
  // Bucket bounds (seconds) of the work queue histograms, as client-go's:
  // powers of ten from 10 ns to 1000 s.
  static const prometheus::Histogram::BucketBoundaries& QueueBuckets();
  // Bucket bounds (seconds) of pricing_operator_time_to_scale_seconds: 5 s
  // to an hour, around the minutes a node and its pods take to come up.
  static const prometheus::Histogram::BucketBoundaries& TimeToScaleBuckets();

  OperatorMetrics();
  OperatorMetrics(const OperatorMetrics&) = delete;
  OperatorMetrics& operator=(const OperatorMetrics&) = delete;

  // Every method below is thread-safe.

  // controller_runtime_reconcile_total{controller,result} += 1 and
  // controller_runtime_reconcile_time_seconds{controller} observes `seconds`.
  // `result` is "success" | "error" | "requeue" | "requeue_after". The first
  // call for a controller also creates its other result series and its error
  // counter at 0, as controller-runtime does. Does not count an error in
  // controller_runtime_reconcile_errors_total: see RecordReconcileError.
  void RecordReconcile(std::string_view controller, std::string_view result, double seconds);
  // controller_runtime_reconcile_errors_total{controller} += 1.
  void RecordReconcileError(std::string_view controller);

  // workqueue_adds_total{name} += 1.
  void QueueAdd(std::string_view name);
  // workqueue_depth{name} = depth.
  void QueueDepth(std::string_view name, size_t depth);
  // workqueue_queue_duration_seconds{name} observes `seconds`: how long an
  // item waited in the queue before a worker took it.
  void QueueWait(std::string_view name, double seconds);
  // workqueue_work_duration_seconds{name} observes `seconds`: how long a
  // worker spent on an item.
  void QueueWork(std::string_view name, double seconds);
  // workqueue_retries_total{name} += 1.
  void QueueRetry(std::string_view name);

  // rest_client_requests_total{code,method} += 1; `code` is the HTTP status,
  // 0 when no response arrived (label "<error>"). `method` is "GET", "PUT"...
  void RestRequest(std::string_view method, int code);

  // leader_election_master_status{name} = 1 when `leader`, else 0.
  void SetLeader(std::string_view name, bool leader);

  // pricing_operator_policy_transitions_total{kind} += 1.
  void PolicyTransition(std::string_view kind);
  // pricing_operator_time_to_scale_seconds{component}: from a policy
  // transition that raised the component's floor to its Deployment having
  // that many available pods.
  void TimeToScale(std::string_view component, double seconds);
  // pricing_operator_children_applied_total{kind} += 1; `kind` is the child's
  // kind ("Deployment", "Service", ...).
  void ChildApplied(std::string_view kind);

  // Returns every metric in the Prometheus text exposition format (0.0.4).
  std::string Text() const;

  // The registry, for callers that add metrics of their own.
  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>* reconcile_total_;
  prometheus::Family<prometheus::Counter>* reconcile_errors_;
  prometheus::Family<prometheus::Histogram>* reconcile_time_;
  prometheus::Family<prometheus::Gauge>* queue_depth_;
  prometheus::Family<prometheus::Counter>* queue_adds_;
  prometheus::Family<prometheus::Histogram>* queue_duration_;
  prometheus::Family<prometheus::Histogram>* work_duration_;
  prometheus::Family<prometheus::Counter>* queue_retries_;
  prometheus::Family<prometheus::Counter>* rest_requests_;
  prometheus::Family<prometheus::Gauge>* leader_status_;
  prometheus::Family<prometheus::Counter>* policy_transitions_;
  prometheus::Family<prometheus::Histogram>* time_to_scale_;
  prometheus::Family<prometheus::Counter>* children_applied_;

  std::mutex mu_;
  std::set<std::string> known_controllers_;  // guarded by mu_
};

}  // namespace pricing::op
