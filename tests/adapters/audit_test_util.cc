#include "audit_test_util.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

namespace pricing::engine::testing {

namespace {

Decimal D(const std::string& text) {
  auto d = Decimal::Parse(text);
  if (!d) throw std::invalid_argument("bad decimal in test: " + text);
  return *d;
}

}  // namespace

AuditRecord MakeAuditRecord(const std::string& calculation_id, int n) {
  AuditRecord r;
  r.calculation_id = calculation_id;
  r.request_id = "req-" + std::to_string(n) + "-\"quoted\"\\ünï";
  r.api_key_client = "big_fund_007";
  r.request.ticker = n % 2 ? "GME" : "BRK.B";
  r.request.position_value = D(std::to_string(50000 + n) + ".25");
  r.request.loan_days = 1 + n % 365;
  r.request.client_id = "client_" + std::to_string(n % 7);
  r.quote.rate = D("0.173250000000000001");
  r.quote.borrow_rate_used = D("0.17325");
  r.quote.borrow_cost = D("1423.97");
  r.quote.markup = D("71.20");
  r.quote.transaction_fees = D(std::to_string(40 + n % 3) + ".00");
  r.quote.total_fee = r.quote.borrow_cost + r.quote.markup + r.quote.transaction_fees;
  r.quote.day_count = n % 2 ? 360 : 365;
  r.inputs.base_rate = {D("0.15"), Source::kLenderApi};
  r.inputs.volatility = {D("32.5"), n % 2 ? Source::kDb : Source::kMarketApi};
  r.inputs.event_risk = {n % 11, n % 2 ? Source::kEventsApi : Source::kFallback};
  r.at = std::chrono::system_clock::time_point(
      std::chrono::nanoseconds(int64_t{1'795'000'000'123'456'789} + int64_t{n} * 1'000'000'007));
  return r;
}

std::string DiffAuditRecords(const AuditRecord& a, const AuditRecord& b) {
#define PRICING_CHECK_FIELD(f) \
  if (!(a.f == b.f)) return #f;
  PRICING_CHECK_FIELD(calculation_id)
  PRICING_CHECK_FIELD(request_id)
  PRICING_CHECK_FIELD(api_key_client)
  PRICING_CHECK_FIELD(request.ticker)
  PRICING_CHECK_FIELD(request.position_value)
  PRICING_CHECK_FIELD(request.loan_days)
  PRICING_CHECK_FIELD(request.client_id)
  PRICING_CHECK_FIELD(quote.rate)
  PRICING_CHECK_FIELD(quote.borrow_rate_used)
  PRICING_CHECK_FIELD(quote.borrow_cost)
  PRICING_CHECK_FIELD(quote.markup)
  PRICING_CHECK_FIELD(quote.transaction_fees)
  PRICING_CHECK_FIELD(quote.total_fee)
  PRICING_CHECK_FIELD(quote.day_count)
  PRICING_CHECK_FIELD(inputs.base_rate.value)
  PRICING_CHECK_FIELD(inputs.base_rate.source)
  PRICING_CHECK_FIELD(inputs.volatility.value)
  PRICING_CHECK_FIELD(inputs.volatility.source)
  PRICING_CHECK_FIELD(inputs.event_risk.value)
  PRICING_CHECK_FIELD(inputs.event_risk.source)
  PRICING_CHECK_FIELD(at)
#undef PRICING_CHECK_FIELD
  return {};
}

ScratchDir::ScratchDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/pricing-audit-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace pricing::engine::testing
