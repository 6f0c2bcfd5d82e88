// An AuditSink that keeps records in memory. By default Append stores the
// record and calls `done` at once; in deferred mode it holds them until the
// test calls CompleteAll() or FailAll(), so tests can observe requests
// waiting on durability. Append can fail on demand (FaultInjector: "Append"):
// the record is then not stored and `done` gets the error. Thread-safe;
// `done` never runs under the fake's lock.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "engine/ports.h"
#include "fakes/fault_injector.h"

namespace pricing::engine::fakes {

class FakeAuditSink : public AuditSink, public FaultInjector {
 public:
  using Done = std::function<void(Result<void>)>;

  void Append(AuditRecord record, Done done) override {
    if (auto e = Check("Append")) {
      done(std::unexpected(*e));
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (deferred_) {
        pending_.emplace_back(std::move(record), std::move(done));
        return;
      }
      records_.push_back(std::move(record));
    }
    done({});
  }

  int64_t Pending() const override {
    std::lock_guard lock(mu_);
    return static_cast<int64_t>(pending_.size());
  }

  // true: hold appended records until CompleteAll / FailAll.
  void SetDeferred(bool deferred) {
    std::lock_guard lock(mu_);
    deferred_ = deferred;
  }

  // Stores every held record and reports it durable.
  void CompleteAll() {
    std::vector<std::pair<AuditRecord, Done>> held;
    {
      std::lock_guard lock(mu_);
      held.swap(pending_);
      for (auto& [record, done] : held) records_.push_back(record);
    }
    for (auto& [record, done] : held) done({});
  }

  // Drops every held record, reporting `error` to its `done`.
  void FailAll(const Error& error) {
    std::vector<std::pair<AuditRecord, Done>> held;
    {
      std::lock_guard lock(mu_);
      held.swap(pending_);
    }
    for (auto& [record, done] : held) done(std::unexpected(error));
  }

  // The records stored so far, in order.
  std::vector<AuditRecord> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }

 private:
  mutable std::mutex mu_;
  bool deferred_ = false;
  std::vector<AuditRecord> records_;
  std::vector<std::pair<AuditRecord, Done>> pending_;
};

}  // namespace pricing::engine::fakes
