// Request validation (docs/design.md §2.3): turns query strings and JSON bodies
// into validated values, or an INVALID_PARAMETER error whose `field` names the
// input at fault. Hand-written character checks, no std::regex: this runs on
// every request.
//
// Rules:
//   ticker          ^[A-Z][A-Z0-9.]{0,9}$ after ASCII upper-casing
//   position_value  0 < value <= 1e12, at most 2 significant decimals
//                   ("50000.500" is fine: its value has one)
//   loan_days       integer 1..365, written as an integer: "60" in a query,
//                   60 in JSON; "60.0", 6e1 and the JSON string "60" are
//                   rejected (leading zeros in a query, "060", are fine)
//   client_id       ^[A-Za-z0-9_-]{3,50}$
// Unknown query parameters and JSON members are ignored; a known one given
// twice is an error naming it; an empty value ("ticker=") counts as missing. Fields are checked in the order above and the
// first failure is returned.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/decimal.h"
#include "engine/error.h"
#include "engine/model.h"

namespace pricing::engine {

// URL-decoded query parameters, in request order.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Returns true when `ticker` (already upper-case) matches ^[A-Z][A-Z0-9.]{0,9}$.
bool IsValidTicker(std::string_view ticker);
// Returns true when `client_id` matches ^[A-Za-z0-9_-]{3,50}$.
bool IsValidClientId(std::string_view client_id);

// Returns true when `id` is 1-128 characters of [A-Za-z0-9._:-], the
// X-Request-Id a client may send: it reaches the audit record, so nothing the
// store could refuse may pass.
bool IsValidRequestId(std::string_view id);

// Returns `raw` upper-cased (ASCII) when it is then a valid ticker, else
// kInvalidParameter with field "ticker".
Result<std::string> ValidateTicker(std::string_view raw);
// Returns `raw` when it is a valid client id, else kInvalidParameter with
// field "client_id".
Result<std::string> ValidateClientId(std::string_view raw);
// Returns `value` when 0 < value <= 1e12 with at most 2 decimals, else
// kInvalidParameter with field "position_value".
Result<Decimal> ValidatePositionValue(Decimal value);
// Parses plain decimal text ("50000", "50000.00") and validates it as above.
Result<Decimal> ParsePositionValue(std::string_view text);
// Parses a string of ASCII digits with a value in 1..365, else
// kInvalidParameter with field "loan_days".
Result<int> ParseLoanDays(std::string_view text);

// Builds a request from the query parameters ticker, position_value,
// loan_days and client_id (GET /api/v1/calculate-locate).
Result<LocateRequest> ParseLocateQuery(const QueryParams& query_params);

// Builds a request from a JSON object body (POST /api/v1/calculate-locate):
// ticker and client_id strings, position_value a JSON number or a string of
// plain decimal text, loan_days a JSON integer. Malformed JSON and a body
// that is not an object fail with field "body"; a number too large for a
// double (1e400) is malformed JSON to the parser, so it too names "body".
Result<LocateRequest> ParseLocateJson(std::string_view body);

inline constexpr int kDefaultPageLimit = 100;
inline constexpr int kMaxPageLimit = 1000;
inline constexpr int kMaxPageOffset = 1000000000;

// One page of GET /api/v1/rates/status/{status}?limit=&offset=.
struct StatusPage {
  BorrowStatus status = BorrowStatus::kEasy;
  int limit = kDefaultPageLimit;
  int offset = 0;
};

// Parses the {status} path segment (EASY, MEDIUM or HARD, any case; field
// "status") and the optional limit (integer 1..1000, default 100; field
// "limit") and offset (integer 0..1e9, default 0; field "offset") parameters.
Result<StatusPage> ParseStatusPage(std::string_view status, const QueryParams& query_params);

}  // namespace pricing::engine
