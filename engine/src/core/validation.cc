#include "engine/validation.h"

#include <cstdint>
#include <optional>

#include "engine/json_text.h"
#include "engine/pricing.h"

namespace pricing::engine {
namespace {

constexpr std::string_view kTickerRule =
    "ticker must be a letter followed by at most 9 letters, digits or '.'";
constexpr std::string_view kClientIdRule =
    "client_id must be 3 to 50 characters, each a letter, digit, '_' or '-'";
constexpr std::string_view kLoanDaysRule = "loan_days must be an integer from 1 to 365";

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Returns the value of `s` when it is one or more ASCII digits with a value of
// at most `max`, else nullopt.
std::optional<int64_t> ParseBoundedDigits(std::string_view s, int64_t max) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
    if (v > max) return std::nullopt;
  }
  return v;
}

std::unexpected<Error> Invalid(std::string_view field, std::string message) {
  return Fail(ErrorCode::kInvalidParameter, std::move(message), std::string(field));
}

std::unexpected<Error> Required(std::string_view field) {
  return Invalid(field, std::string(field) + " is required");
}

// The four raw inputs of a locate request, as found in a query or a body.
struct RawLocate {
  std::optional<std::string> ticker;
  std::optional<std::string> position_value;
  std::optional<std::string> loan_days;
  std::optional<std::string> client_id;
};

// Returns the slot of `name` in `raw`, or nullptr for an unknown name.
std::optional<std::string>* Slot(RawLocate* raw, std::string_view name) {
  if (name == "ticker") return &raw->ticker;
  if (name == "position_value") return &raw->position_value;
  if (name == "loan_days") return &raw->loan_days;
  if (name == "client_id") return &raw->client_id;
  return nullptr;
}

Result<std::string> RequiredTicker(const std::optional<std::string>& raw) {
  if (!raw || raw->empty()) return Required("ticker");
  return ValidateTicker(*raw);
}

Result<std::string> RequiredClientId(const std::optional<std::string>& raw) {
  if (!raw || raw->empty()) return Required("client_id");
  return ValidateClientId(*raw);
}

Result<std::string> StringMember(const FlatJsonObject& body, std::string_view field) {
  const JsonToken* token = body.Find(field);
  if (token == nullptr) return Required(field);
  if (token->type != JsonType::kString) {
    return Invalid(field, std::string(field) + " must be a string, not " +
                              std::string(JsonTypeName(token->type)));
  }
  return token->text;
}

Result<Decimal> JsonPositionValue(const FlatJsonObject& body) {
  constexpr std::string_view kField = "position_value";
  const JsonToken* token = body.Find(kField);
  if (token == nullptr) return Required(kField);
  if (token->type == JsonType::kString) return ParsePositionValue(token->text);
  if (token->type != JsonType::kNumber) {
    return Invalid(kField, "position_value must be a number or a numeric string, not " +
                               std::string(JsonTypeName(token->type)));
  }
  const std::optional<Decimal> value = Decimal::ParseJsonNumber(token->text);
  if (!value) {
    return Invalid(kField,
                   "position_value must be greater than 0 and at most 1000000000000, "
                   "with at most 2 decimal places");
  }
  return ValidatePositionValue(*value);
}

Result<int> JsonLoanDays(const FlatJsonObject& body) {
  constexpr std::string_view kField = "loan_days";
  const JsonToken* token = body.Find(kField);
  if (token == nullptr) return Required(kField);
  if (token->type != JsonType::kNumber) {
    return Invalid(kField, "loan_days must be an integer number, not " +
                               std::string(JsonTypeName(token->type)));
  }
  // An integer token: optional '-' and digits, no fraction, no exponent.
  std::string_view text = token->text;
  if (!text.empty() && text.front() == '-') return Invalid(kField, std::string(kLoanDaysRule));
  return ParseLoanDays(text);
}

}  // namespace

bool IsValidTicker(std::string_view ticker) {
  if (ticker.empty() || ticker.size() > 10 || !IsUpper(ticker.front())) return false;
  for (char c : ticker.substr(1)) {
    if (!IsUpper(c) && !IsDigit(c) && c != '.') return false;
  }
  return true;
}

bool IsValidClientId(std::string_view client_id) {
  if (client_id.size() < 3 || client_id.size() > 50) return false;
  for (char c : client_id) {
    if (!IsUpper(c) && !IsLower(c) && !IsDigit(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!IsUpper(c) && !IsLower(c) && !IsDigit(c) && c != '.' && c != '_' && c != ':' && c != '-')
      return false;
  }
  return true;
}

Result<std::string> ValidateTicker(std::string_view raw) {
  if (raw.empty() || raw.size() > 10) return Invalid("ticker", std::string(kTickerRule));
  std::string upper(raw);
  for (char& c : upper) {
    if (IsLower(c)) c = static_cast<char>(c - 'a' + 'A');
  }
  if (!IsValidTicker(upper)) return Invalid("ticker", std::string(kTickerRule));
  return upper;
}

Result<std::string> ValidateClientId(std::string_view raw) {
  if (!IsValidClientId(raw)) return Invalid("client_id", std::string(kClientIdRule));
  return std::string(raw);
}

Result<Decimal> ValidatePositionValue(Decimal value) {
  constexpr std::string_view kField = "position_value";
  if (value <= Decimal()) return Invalid(kField, "position_value must be greater than 0");
  if (value > kMaxPositionValue) {
    return Invalid(kField, "position_value must be at most 1000000000000");
  }
  if (value.FractionalDigits() > kMaxPositionValuePlaces) {
    return Invalid(kField, "position_value must have at most 2 decimal places");
  }
  return value;
}

Result<Decimal> ParsePositionValue(std::string_view text) {
  if (text.empty()) return Required("position_value");
  const std::optional<Decimal> value = Decimal::Parse(text);
  if (!value) {
    return Invalid("position_value",
                   "position_value must be a plain decimal number such as 50000 or 50000.00");
  }
  return ValidatePositionValue(*value);
}

Result<int> ParseLoanDays(std::string_view text) {
  if (text.empty()) return Required("loan_days");
  const std::optional<int64_t> days = ParseBoundedDigits(text, kMaxLoanDays);
  if (!days || *days < kMinLoanDays) return Invalid("loan_days", std::string(kLoanDaysRule));
  return static_cast<int>(*days);
}

Result<LocateRequest> ParseLocateQuery(const QueryParams& query_params) {
  RawLocate raw;
  for (const auto& [name, value] : query_params) {
    std::optional<std::string>* slot = Slot(&raw, name);
    if (slot == nullptr) continue;
    if (slot->has_value()) return Invalid(name, name + " is given more than once");
    *slot = value;
  }
  LocateRequest request;
  Result<std::string> ticker = RequiredTicker(raw.ticker);
  if (!ticker) return std::unexpected(ticker.error());
  request.ticker = std::move(*ticker);
  if (!raw.position_value) return Required("position_value");
  Result<Decimal> position = ParsePositionValue(*raw.position_value);
  if (!position) return std::unexpected(position.error());
  request.position_value = *position;
  if (!raw.loan_days) return Required("loan_days");
  Result<int> days = ParseLoanDays(*raw.loan_days);
  if (!days) return std::unexpected(days.error());
  request.loan_days = *days;
  Result<std::string> client = RequiredClientId(raw.client_id);
  if (!client) return std::unexpected(client.error());
  request.client_id = std::move(*client);
  return request;
}

Result<LocateRequest> ParseLocateJson(std::string_view body) {
  Result<FlatJsonObject> object = ParseFlatJsonObject(body);
  if (!object) return std::unexpected(object.error());
  LocateRequest request;
  Result<std::string> ticker = StringMember(*object, "ticker");
  if (!ticker) return std::unexpected(ticker.error());
  Result<std::string> valid_ticker = RequiredTicker(*ticker);
  if (!valid_ticker) return std::unexpected(valid_ticker.error());
  request.ticker = std::move(*valid_ticker);
  Result<Decimal> position = JsonPositionValue(*object);
  if (!position) return std::unexpected(position.error());
  request.position_value = *position;
  Result<int> days = JsonLoanDays(*object);
  if (!days) return std::unexpected(days.error());
  request.loan_days = *days;
  Result<std::string> client = StringMember(*object, "client_id");
  if (!client) return std::unexpected(client.error());
  Result<std::string> valid_client = RequiredClientId(*client);
  if (!valid_client) return std::unexpected(valid_client.error());
  request.client_id = std::move(*valid_client);
  return request;
}

Result<StatusPage> ParseStatusPage(std::string_view status, const QueryParams& query_params) {
  StatusPage page;
  std::string upper(status);
  for (char& c : upper) {
    if (IsLower(c)) c = static_cast<char>(c - 'a' + 'A');
  }
  const std::optional<BorrowStatus> parsed = ParseBorrowStatus(upper);
  if (!parsed) return Invalid("status", "status must be EASY, MEDIUM or HARD");
  page.status = *parsed;
  bool seen_limit = false;
  bool seen_offset = false;
  for (const auto& [name, value] : query_params) {
    if (name == "limit") {
      if (seen_limit) return Invalid(name, "limit is given more than once");
      seen_limit = true;
      const std::optional<int64_t> limit = ParseBoundedDigits(value, kMaxPageLimit);
      if (!limit || *limit < 1) return Invalid(name, "limit must be an integer from 1 to 1000");
      page.limit = static_cast<int>(*limit);
    } else if (name == "offset") {
      if (seen_offset) return Invalid(name, "offset is given more than once");
      seen_offset = true;
      const std::optional<int64_t> offset = ParseBoundedDigits(value, kMaxPageOffset);
      if (!offset) return Invalid(name, "offset must be an integer from 0 to 1000000000");
      page.offset = static_cast<int>(*offset);
    }
  }
  return page;
}

}  // namespace pricing::engine
