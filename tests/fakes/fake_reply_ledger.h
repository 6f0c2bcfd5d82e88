// An in-memory ReplyLedger whose claims lapse on an injected Clock and whose
// every call can fail on demand (FaultInjector: "Claim", "Settle"; a failed
// Settle records nothing, as a lost write would). Several services sharing
// one stand for engine processes sharing Redis. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "engine/ports.h"
#include "fakes/fault_injector.h"

namespace pricing::engine::fakes {

class FakeReplyLedger : public ReplyLedger, public FaultInjector {
 public:
  // Claims and answers expire by `clock` (not owned; must outlive the ledger).
  explicit FakeReplyLedger(const Clock* clock) : clock_(clock) {}

  Result<ReplyClaim> Claim(const std::string& name, std::chrono::milliseconds ttl) override {
    if (auto e = Check("Claim")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    const auto now = clock_->Now();
    auto it = entries_.find(name);
    if (it != entries_.end() && now >= it->second.expires) {
      entries_.erase(it);
      it = entries_.end();
    }
    ReplyClaim out;
    if (it == entries_.end()) {
      entries_[name] = Entry{std::nullopt, now + ttl};
      return out;  // kClaimed
    }
    if (it->second.body) {
      out.state = ReplyClaim::State::kAnswered;
      out.body = *it->second.body;
    } else {
      out.state = ReplyClaim::State::kInProgress;
      out.left = std::chrono::duration_cast<std::chrono::milliseconds>(it->second.expires - now);
    }
    return out;
  }

  void Settle(const std::string& name, std::optional<std::string> body,
              std::chrono::seconds ttl) override {
    if (Check("Settle")) return;
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    if (!body) {
      if (it != entries_.end() && !it->second.body) entries_.erase(it);
      return;
    }
    entries_[name] = Entry{std::move(body), clock_->Now() + ttl};
  }

  // Test accessors; they bypass fault injection and expiry.
  size_t Size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }
  // The answer recorded under `name`; nullopt for none or a claim.
  std::optional<std::string> Answer(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return std::nullopt;
    return it->second.body;
  }

 private:
  struct Entry {
    std::optional<std::string> body;  // nullopt: claimed, not answered
    std::chrono::system_clock::time_point expires;
  };
  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace pricing::engine::fakes
