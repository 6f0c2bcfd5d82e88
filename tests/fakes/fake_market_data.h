// MarketData with values the test sets; a value not set answers
// kServiceUnavailable like an unreachable API. Every call can also fail on
// demand (FaultInjector: "LenderRate", "MarketVix", "EventRisk") or be slowed
// down (SetDelay) to exercise timeouts. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/ports.h"
#include "fakes/fault_injector.h"

namespace pricing::engine::fakes {

class FakeMarketData : public MarketData, public FaultInjector {
 public:
  void SetLenderRate(const std::string& ticker, Decimal rate) {
    std::lock_guard lock(mu_);
    lender_[ticker] = rate;
  }
  void ClearLenderRate(const std::string& ticker) {
    std::lock_guard lock(mu_);
    lender_.erase(ticker);
  }
  void SetVix(std::optional<Decimal> vix) {
    std::lock_guard lock(mu_);
    vix_ = vix;
  }
  void SetEventRisk(const std::string& ticker, std::optional<int> risk) {
    std::lock_guard lock(mu_);
    if (risk) {
      events_[ticker] = *risk;
    } else {
      events_.erase(ticker);
    }
  }
  // Every call sleeps `delay` (real time) before answering.
  void SetDelay(std::chrono::milliseconds delay) {
    std::lock_guard lock(mu_);
    delay_ = delay;
  }

  Result<Decimal> LenderRate(const std::string& ticker) override {
    Pause();
    if (auto e = Check("LenderRate")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    auto it = lender_.find(ticker);
    if (it == lender_.end()) return Unavailable("lender API has no rate for " + ticker);
    return it->second;
  }

  Result<Decimal> MarketVix() override {
    Pause();
    if (auto e = Check("MarketVix")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    if (!vix_) return Unavailable("market API has no VIX");
    return *vix_;
  }

  Result<int> EventRisk(const std::string& ticker) override {
    Pause();
    if (auto e = Check("EventRisk")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    auto it = events_.find(ticker);
    if (it == events_.end()) return Unavailable("events API has no risk for " + ticker);
    return it->second;
  }

 private:
  static std::unexpected<Error> Unavailable(std::string message) {
    return std::unexpected(Error{ErrorCode::kServiceUnavailable, std::move(message), ""});
  }
  void Pause() {
    std::chrono::milliseconds d;
    {
      std::lock_guard lock(mu_);
      d = delay_;
    }
    if (d.count() > 0) std::this_thread::sleep_for(d);
  }

  std::mutex mu_;
  std::map<std::string, Decimal> lender_;
  std::optional<Decimal> vix_;
  std::map<std::string, int> events_;
  std::chrono::milliseconds delay_{0};
};

}  // namespace pricing::engine::fakes
