// The reference-data file (docs/design.md §2.4): stocks, brokers, volatility rows
// and API keys as YAML, read by `pricing-engine seed FILE` and by the
// in-memory store. Parsing validates everything, so whatever it returns is
// safe to price with.
//
// File format (every top-level key optional, each a list of mappings):
//
//   stocks:     [{ticker: GME, borrow_status: HARD, min_borrow_rate: 0.05, lender_api_id: SL-GME}]
//   brokers:    [{client_id: big_fund_007, markup_percentage: 5.0, transaction_fee_type: FLAT,
//                 transaction_amount: 40.00, day_count: 365}]
//   volatility: [{ticker: GME, vol_index: 32.5, event_risk_factor: 6}]
//   api_keys:   [{key: demo-key-123, client_id: big_fund_007, rate_limit_per_minute: 600,
//                 scope: client}]
//
// Rules (numbers are read from the scalar text, exactly; never as double):
//   stocks      ticker (required; the request rule, upper-cased), borrow_status
//               EASY|MEDIUM|HARD (required), min_borrow_rate 0..10 (required),
//               lender_api_id (optional; 1..64 printable ASCII characters)
//   brokers     client_id (required; the request rule), markup_percentage
//               0..1000 (required), transaction_fee_type FLAT|PERCENTAGE
//               (required), transaction_amount >= 0 (required; at most 1e9 for
//               FLAT and 100 for PERCENTAGE: the formula's domain), day_count
//               360|365 (default 365)
//   volatility  ticker (required, must be a stock of this file), vol_index
//               0..1000 and event_risk_factor integer 0..10 (each optional)
//   api_keys    key (required; 8..256 printable ASCII characters, no spaces),
//               rate_limit_per_minute integer 1..1000000000 (required), scope
//               client|internal (default client), client_id (required for a
//               client key and must be a broker of this file; optional for an
//               internal key, well-formed when given)
// A null value counts as absent. Unknown keys, a key repeated within one
// mapping, and a repeated ticker / client_id / key within one list are errors.
// References are resolved within the file on purpose: a typo in a ticker or
// client id fails the load instead of seeding a row nothing can use.
#pragma once

#include <string_view>

#include "engine/error.h"
#include "engine/model.h"

namespace pricing::engine {

// Parses and validates `yaml_text`. On error returns kInvalidParameter whose
// message locates the fault, e.g.
//   "reference-data.yaml: brokers[2].day_count: must be 360 or 365 (line 14)"
// (`source_name` first, 1-based line of the offending node last) and whose
// `field` is the path, e.g. "brokers[2].day_count". Lists keep file order;
// API keys stay plain (ApiKeySeed) for the caller to hash.
Result<ReferenceData> ParseReferenceData(std::string_view yaml_text, std::string_view source_name);

}  // namespace pricing::engine
