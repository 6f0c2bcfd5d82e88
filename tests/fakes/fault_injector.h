// Failure injection shared by the fakes of engine/ports.h (LevelDB's
// SpecialEnv idea): any call of a fake can be made to fail on demand, because
// a fake that cannot fail hides the paths users hit.
//
//   fake.FailNext(2);                      // the next 2 calls of any method fail
//   fake.FailNext(1, "GetStock");          // the next GetStock fails
//   fake.FailNext(1, "Get", Error{ErrorCode::kCalculationError, "boom", ""});
//   fake.SetDown(true);                    // every call fails until SetDown(false)
//   fake.Calls("GetStock");                // calls so far (failed ones included)
//   fake.Hold("GetApiKeyByHash");          // such calls wait until Release()
#pragma once

#include <cstdint>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/error.h"

namespace pricing::engine::fakes {

class FaultInjector {
 public:
  // The error an injected failure carries unless the test gives one:
  // kServiceUnavailable, like a real outage.
  static Error DefaultError(std::string_view method) {
    return Error{ErrorCode::kServiceUnavailable, "injected failure in " + std::string(method), ""};
  }

  // The next `n` calls of `method` (empty: of any method) fail with `error`
  // (default: DefaultError). Several requests queue up in order.
  void FailNext(int n, std::string method = {}, std::optional<Error> error = std::nullopt) {
    if (n <= 0) return;
    std::lock_guard lock(mu_);
    planned_.push_back(Planned{n, std::move(method), std::move(error)});
  }

  // While `down`, every call fails with `error` (default: DefaultError).
  void SetDown(bool down, std::optional<Error> error = std::nullopt) {
    std::lock_guard lock(mu_);
    down_ = down;
    down_error_ = std::move(error);
  }

  // Returns the number of calls of `method` so far (empty: of every method).
  int64_t Calls(std::string_view method = {}) const {
    std::lock_guard lock(mu_);
    if (method.empty()) {
      int64_t total = 0;
      for (const auto& [name, n] : calls_) total += n;
      return total;
    }
    auto it = calls_.find(std::string(method));
    return it == calls_.end() ? 0 : it->second;
  }

  // Calls of `method` wait inside the fake, counted, until Release(): a slow
  // dependency, for tests of what overlaps one call.
  void Hold(std::string method) {
    std::lock_guard lock(mu_);
    held_method_ = std::move(method);
  }
  // Lets held calls (and later ones) through.
  void Release() {
    {
      std::lock_guard lock(mu_);
      held_method_.clear();
    }
    cv_.notify_all();
  }
  // Returns true once `n` calls are waiting in Hold, false after `timeout`.
  bool WaitHeld(int n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return waiting_ >= n; });
  }

  // Forgets planned failures, the down state and the call counts.
  void ResetFaults() {
    std::lock_guard lock(mu_);
    planned_.clear();
    calls_.clear();
    down_ = false;
    down_error_.reset();
  }

 protected:
  // Counts a call of `method` and returns the error to fail it with, if any.
  std::optional<Error> Check(std::string_view method) {
    std::unique_lock lock(mu_);
    ++calls_[std::string(method)];
    if (!held_method_.empty() && held_method_ == method) {
      ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return held_method_ != method; });
      --waiting_;
    }
    if (down_) return down_error_.value_or(DefaultError(method));
    for (auto it = planned_.begin(); it != planned_.end(); ++it) {
      if (!it->method.empty() && it->method != method) continue;
      Error e = it->error.value_or(DefaultError(method));
      if (--it->remaining <= 0) planned_.erase(it);
      return e;
    }
    return std::nullopt;
  }

 private:
  struct Planned {
    int remaining = 0;
    std::string method;
    std::optional<Error> error;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string held_method_;  // empty: none
  int waiting_ = 0;
  std::vector<Planned> planned_;
  std::map<std::string, int64_t> calls_;
  bool down_ = false;
  std::optional<Error> down_error_;
};

}  // namespace pricing::engine::fakes
