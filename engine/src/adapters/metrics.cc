#include "adapters/metrics.h"

#include <prometheus/text_serializer.h>

#include <atomic>
#include <charconv>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

namespace pricing::engine {

// Open addressing over a fixed array of atomic node pointers. Readers probe
// without locks; nodes are only ever added (under mu_), published with a
// release store and never moved or freed before the table, so a reader that
// sees a pointer sees a complete node. Past 3/4 occupancy new keys go to an
// ordered map under the lock, which keeps the fast path bounded.
template <size_t N, typename V>
class Metrics::LabelTable {
 public:
  using Key = std::array<std::string_view, N>;

  // Returns the value for `key`, creating it with make(key) on first use.
  // The reference stays valid for the table's lifetime.
  template <typename Make>
  V& Get(const Key& key, Make&& make) {
    const size_t hash = Hash(key);
    if (Node* node = Find(key, hash)) return node->value;
    std::lock_guard lock(mu_);
    if (Node* node = Find(key, hash)) return node->value;
    std::array<std::string, N> labels;
    for (size_t i = 0; i < N; ++i) labels[i] = std::string(key[i]);
    if (used_ < kSlots / 4 * 3) {
      auto node = std::make_unique<Node>(Node{labels, hash, make(key)});
      Node* raw = node.get();
      owned_.push_back(std::move(node));
      for (size_t i = hash & kMask;; i = (i + 1) & kMask) {
        if (slots_[i].load(std::memory_order_relaxed) == nullptr) {
          slots_[i].store(raw, std::memory_order_release);
          break;
        }
      }
      ++used_;
      return raw->value;
    }
    auto it = overflow_.find(labels);
    if (it == overflow_.end()) it = overflow_.emplace(labels, make(key)).first;
    return it->second;
  }

 private:
  struct Node {
    std::array<std::string, N> labels;
    size_t hash;
    V value;
  };
  static constexpr size_t kSlots = 512;
  static constexpr size_t kMask = kSlots - 1;

  static size_t Hash(const Key& key) {
    size_t h = 0x9e3779b97f4a7c15ull;
    for (std::string_view part : key) {
      h ^= std::hash<std::string_view>{}(part) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    }
    return h;
  }

  static bool Equal(const Node& node, const Key& key) {
    for (size_t i = 0; i < N; ++i) {
      if (node.labels[i] != key[i]) return false;
    }
    return true;
  }

  // Returns the node of `key` among the slots, or null. Lock-free.
  Node* Find(const Key& key, size_t hash) const {
    for (size_t i = hash & kMask, probes = 0; probes < kSlots; i = (i + 1) & kMask, ++probes) {
      Node* node = slots_[i].load(std::memory_order_acquire);
      if (node == nullptr) return nullptr;
      if (node->hash == hash && Equal(*node, key)) return node;
    }
    return nullptr;
  }

  std::array<std::atomic<Node*>, kSlots> slots_{};
  std::mutex mu_;
  size_t used_ = 0;
  std::vector<std::unique_ptr<Node>> owned_;
  std::map<std::array<std::string, N>, V> overflow_;
};

namespace {

template <size_t N>
prometheus::Labels ToLabels(const std::array<const char*, N>& names,
                            const std::array<std::string_view, N>& values) {
  prometheus::Labels labels;
  for (size_t i = 0; i < N; ++i) labels.emplace(names[i], std::string(values[i]));
  return labels;
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& Metrics::LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
  return kBuckets;
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      http_series_(std::make_unique<LabelTable<3, HttpSeries>>()),
      http_route_duration_(std::make_unique<LabelTable<1, prometheus::Histogram*>>()),
      cache_hit_series_(std::make_unique<LabelTable<1, prometheus::Counter*>>()),
      cache_miss_series_(std::make_unique<LabelTable<1, prometheus::Counter*>>()),
      external_api_series_(std::make_unique<LabelTable<2, prometheus::Counter*>>()),
      fallback_series_(std::make_unique<LabelTable<1, prometheus::Counter*>>()),
      cache_operation_series_(std::make_unique<LabelTable<1, prometheus::Counter*>>()),
      parked_series_(std::make_unique<LabelTable<1, prometheus::Counter*>>()) {
  auto& r = *registry_;
  http_requests_ = &prometheus::BuildCounter()
                        .Name("http_requests_total")
                        .Help("HTTP requests served, by method, route template and status code.")
                        .Register(r);
  http_duration_ = &prometheus::BuildHistogram()
                        .Name("http_request_duration_seconds")
                        .Help("Time from request received to response handed to the server.")
                        .Register(r);
  calculations_ = &prometheus::BuildCounter()
                       .Name("calculations_total")
                       .Help("Locate fee calculations completed.")
                       .Register(r)
                       .Add({});
  calculation_duration_ = &prometheus::BuildHistogram()
                               .Name("calculation_duration_seconds")
                               .Help("Time to price one locate, inputs included.")
                               .Register(r)
                               .Add({}, LatencyBuckets());
  cache_hits_ = &prometheus::BuildCounter()
                     .Name("cache_hits_total")
                     .Help("Cache lookups answered from the cache, by cache.")
                     .Register(r);
  cache_misses_ = &prometheus::BuildCounter()
                       .Name("cache_misses_total")
                       .Help("Cache lookups not answered from the cache, by cache.")
                       .Register(r);
  external_api_ = &prometheus::BuildCounter()
                       .Name("external_api_requests_total")
                       .Help("Calls to external market APIs, by API and outcome.")
                       .Register(r);
  fallback_ = &prometheus::BuildCounter()
                   .Name("fallback_usage_total")
                   .Help("Prices computed with a fallback market input, by input.")
                   .Register(r);
  rate_limited_ = &prometheus::BuildCounter()
                       .Name("rate_limit_exceeded_total")
                       .Help("Requests refused by the per-key rate limit.")
                       .Register(r)
                       .Add({});
  parked_ = &prometheus::BuildCounter()
                 .Name("requests_parked_total")
                 .Help("Requests moved from an event loop to the blocking pool, by the stage "
                       "that had to wait.")
                 .Register(r);
  cache_operations_ =
      &prometheus::BuildCounter()
           .Name("cache_operations_total")
           .Help("Shared-cache operations of the cache role, by op (get, set, refresh).")
           .Register(r);
  // Finer at the low end than the request buckets: a healthy local disk
  // syncs in well under a millisecond, and the tail is what matters.
  audit_sync_duration_ =
      &prometheus::BuildHistogram()
           .Name("audit_spool_sync_duration_seconds")
           .Help(
               "Time of each group commit's fdatasync of the audit spool (every record of the "
               "commit waits for it before its price is answered).")
           .Register(r)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                            0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                            0.5, 1});
  audit_pending_ = &prometheus::BuildGauge()
                        .Name("audit_records_pending")
                        .Help("Audit records accepted but not yet in the audit store of record.")
                        .Register(r)
                        .Add({});
  audit_free_bytes_ = &prometheus::BuildGauge()
                           .Name("audit_spool_free_bytes")
                           .Help("Bytes free on the audit spool's file system; under "
                                 "audit_min_free the process is not ready.")
                           .Register(r)
                           .Add({});
  audit_dead_letters_ =
      &prometheus::BuildCounter()
           .Name("audit_dead_letters_total")
           .Help("Audit records the store refused (or that no longer parse), set aside in the "
                 "spool's dead letters for `pricing-engine audit redrive`.")
           .Register(r)
           .Add({});
  audit_damaged_bytes_ = &prometheus::BuildCounter()
                              .Name("audit_spool_damaged_bytes_total")
                              .Help("Unreadable bytes skipped inside audit spool segments.")
                              .Register(r)
                              .Add({});
  reply_lost_ = &prometheus::BuildCounter()
                     .Name("reply_ledger_writes_lost_total")
                     .Help("Answers (or released claims) the shared reply ledger could not "
                           "record: a retry on another process then waits for the claim to lapse.")
                     .Register(r)
                     .Add({});
  db_in_use_ = &prometheus::BuildGauge()
                    .Name("db_pool_connections_in_use")
                    .Help("PostgreSQL pool connections currently lent out.")
                    .Register(r)
                    .Add({});
  db_max_ = &prometheus::BuildGauge()
                 .Name("db_pool_connections_max")
                 .Help("PostgreSQL pool size.")
                 .Register(r)
                 .Add({});

  // Series of fixed label sets exist from the start, so rate() sees them at 0.
  for (std::string_view api : {"lender", "market", "events"}) {
    for (std::string_view outcome : {"success", "error", "timeout", "circuit_open"}) {
      external_api_series_->Get({api, outcome}, [this](const auto& key) {
        return &external_api_->Add(ToLabels<2>({"api", "outcome"}, key));
      });
    }
  }
  for (std::string_view input : {"base_rate", "volatility", "event_risk"}) {
    fallback_series_->Get(
        {input}, [this](const auto& key) { return &fallback_->Add(ToLabels<1>({"input"}, key)); });
  }
  for (std::string_view op : {"get", "set", "refresh"}) {
    cache_operation_series_->Get({op}, [this](const auto& key) {
      return &cache_operations_->Add(ToLabels<1>({"op"}, key));
    });
  }
}

Metrics::~Metrics() = default;

void Metrics::RecordHttpRequest(std::string_view method, std::string_view route, int code,
                                double seconds) {
  char code_text[12];
  auto [end, ec] = std::to_chars(code_text, code_text + sizeof(code_text), code);
  const std::string_view code_view(code_text, ec == std::errc() ? end - code_text : 0);
  HttpSeries& series = http_series_->Get({method, route, code_view}, [this](const auto& key) {
    HttpSeries s;
    s.requests = &http_requests_->Add(ToLabels<3>({"method", "route", "code"}, key));
    s.duration = http_route_duration_->Get({key[1]}, [this](const auto& route_key) {
      return &http_duration_->Add(ToLabels<1>({"route"}, route_key), LatencyBuckets());
    });
    return s;
  });
  series.requests->Increment();
  series.duration->Observe(seconds);
}

void Metrics::RecordCalculation(double seconds) {
  calculations_->Increment();
  calculation_duration_->Observe(seconds);
}

void Metrics::RecordCacheHit(std::string_view cache) {
  cache_hit_series_
      ->Get({cache},
            [this](const auto& key) { return &cache_hits_->Add(ToLabels<1>({"cache"}, key)); })
      ->Increment();
}

void Metrics::RecordCacheMiss(std::string_view cache) {
  cache_miss_series_
      ->Get({cache},
            [this](const auto& key) { return &cache_misses_->Add(ToLabels<1>({"cache"}, key)); })
      ->Increment();
}

void Metrics::RecordExternalApi(std::string_view api, std::string_view outcome) {
  external_api_series_
      ->Get({api, outcome},
            [this](const auto& key) {
              return &external_api_->Add(ToLabels<2>({"api", "outcome"}, key));
            })
      ->Increment();
}

void Metrics::RecordFallback(std::string_view input) {
  fallback_series_
      ->Get({input},
            [this](const auto& key) { return &fallback_->Add(ToLabels<1>({"input"}, key)); })
      ->Increment();
}

void Metrics::RecordRateLimitExceeded() { rate_limited_->Increment(); }

void Metrics::RecordParked(std::string_view stage) {
  parked_series_
      ->Get({stage},
            [this](const auto& key) { return &parked_->Add(ToLabels<1>({"stage"}, key)); })
      ->Increment();
}

void Metrics::RecordAuditSync(double seconds) { audit_sync_duration_->Observe(seconds); }

void Metrics::RecordCacheOperation(std::string_view op, int64_t n) {
  cache_operation_series_
      ->Get({op},
            [this](const auto& key) { return &cache_operations_->Add(ToLabels<1>({"op"}, key)); })
      ->Increment(static_cast<double>(n));
}

void Metrics::RecordAuditDeadLetter() { audit_dead_letters_->Increment(); }

void Metrics::RecordReplyLost() { reply_lost_->Increment(); }

void Metrics::DeclareParkedStage(std::string_view stage) {
  parked_series_->Get(
      {stage}, [this](const auto& key) { return &parked_->Add(ToLabels<1>({"stage"}, key)); });
}

void Metrics::RecordAuditDamage(int64_t bytes) {
  audit_damaged_bytes_->Increment(static_cast<double>(bytes));
}

void Metrics::SetAuditPendingSource(std::function<int64_t()> source) {
  std::lock_guard lock(sources_mu_);
  audit_pending_source_ = std::move(source);
}

void Metrics::SetAuditFreeBytesSource(std::function<int64_t()> source) {
  std::lock_guard lock(sources_mu_);
  audit_free_bytes_source_ = std::move(source);
}

void Metrics::SetDbPoolSources(std::function<int64_t()> in_use, std::function<int64_t()> max) {
  std::lock_guard lock(sources_mu_);
  db_in_use_source_ = std::move(in_use);
  db_max_source_ = std::move(max);
}

std::string Metrics::Serialize() {
  {
    std::lock_guard lock(sources_mu_);
    if (audit_pending_source_) audit_pending_->Set(static_cast<double>(audit_pending_source_()));
    if (audit_free_bytes_source_) {
      audit_free_bytes_->Set(static_cast<double>(audit_free_bytes_source_()));
    }
    if (db_in_use_source_) db_in_use_->Set(static_cast<double>(db_in_use_source_()));
    if (db_max_source_) db_max_->Set(static_cast<double>(db_max_source_()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace pricing::engine
