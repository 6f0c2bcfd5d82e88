// Values shared by the storage tests.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "engine/decimal.h"
#include "engine/model.h"
#include "engine/ports.h"

namespace pricing::engine::testing_support {

// Returns the decimal written as `text`. REQUIRES: well-formed text.
inline Decimal D(std::string_view text) {
  auto d = Decimal::Parse(text);
  if (!d) std::abort();
  return *d;
}

// A small reference data set in the shape of examples/data/reference-data.yaml.
inline ReferenceData SampleData() {
  ReferenceData data;
  data.stocks = {
      {"GME", BorrowStatus::kHard, D("0.05"), "SL-GME"},
      {"AAPL", BorrowStatus::kEasy, D("0.0025"), "SL-AAPL"},
      {"AMC", BorrowStatus::kHard, D("0.04"), ""},
      {"MSFT", BorrowStatus::kEasy, D("0.003"), "SL-MSFT"},
      {"TSLA", BorrowStatus::kMedium, D("0.015"), "SL-TSLA"},
  };
  data.brokers = {
      {"big_fund_007", D("5.0"), FeeType::kFlat, D("40.00"), 365},
      {"quant_desk_42", D("3.25"), FeeType::kPercentage, D("0.1"), 360},
  };
  data.volatility = {
      {"GME", D("32.5"), 6},
      {"AAPL", std::nullopt, 1},
      {"TSLA", D("41.25"), std::nullopt},
  };
  data.api_keys = {
      {"demo-key-123", "big_fund_007", 600, KeyScope::kClient},
      {"internal-ops-key-456", "", 6000, KeyScope::kInternal},
  };
  return data;
}

// A priced request as the service would audit it.
inline AuditRecord SampleAuditRecord(std::string calculation_id) {
  AuditRecord r;
  r.calculation_id = std::move(calculation_id);
  r.request_id = "req-" + r.calculation_id.substr(0, 8);
  r.api_key_client = "big_fund_007";
  r.request = LocateRequest{"GME", D("50000"), 60, "big_fund_007"};
  r.quote.rate = D("0.17325");
  r.quote.borrow_rate_used = D("0.17325");
  r.quote.borrow_cost = D("1423.97");
  r.quote.markup = D("71.20");
  r.quote.transaction_fees = D("40.00");
  r.quote.total_fee = D("1535.17");
  r.quote.day_count = 365;
  r.inputs.base_rate = {D("0.15"), Source::kLenderApi};
  r.inputs.volatility = {D("32.5"), Source::kDb};
  r.inputs.event_risk = {6, Source::kDb};
  r.at = std::chrono::system_clock::time_point(std::chrono::microseconds(1795789800123456));
  return r;
}

// Returns a random version-4 UUID (tests only; not cryptographic).
inline std::string TestUuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t hi = rng();
  const uint64_t lo = rng();
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0x0fff),
                static_cast<unsigned>(0x8000 | ((lo >> 48) & 0x3fff)),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

// Returns a name unique to this process and call, for Redis keys and ids.
inline std::string UniqueName(std::string_view prefix) {
  static std::atomic<int> n{0};
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

}  // namespace pricing::engine::testing_support
