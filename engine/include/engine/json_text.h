// JSON text in and out without binary floating point. JsonWriter appends a
// document to a std::string and prints Decimal numbers from their decimal text;
// ParseFlatJsonObject reads one JSON object's top-level members keeping every
// number's original text, for request bodies and external API answers
// (docs/design.md §2.2), which ParseLenderRate / ParseVix / ParseEventRisk decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/text.h"
#include "engine/decimal.h"
#include "engine/error.h"

namespace pricing::engine {

// Writes one JSON value into a string, inserting commas and colons itself:
//
//   std::string body;
//   JsonWriter w(&body);
//   w.BeginObject().Key("total_fee").Number(fee, 2).Key("ok").Bool(true).EndObject();
//
// REQUIRES: calls form one well-nested value, with exactly one Key before
// each member value inside an object.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  // Writes `value` as a JSON number with at least `min_places` fractional
  // digits: Number(71.2, 2) -> 71.20, Number(0.17325) -> 0.17325.
  JsonWriter& Number(Decimal value, int min_places = 0);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Writes `json`, which must already be one serialized JSON value, verbatim.
  JsonWriter& RawValue(std::string_view json);

 private:
  void BeforeValue();

  std::string* out_;
  std::vector<bool> first_in_container_;
  bool after_key_ = false;
};

enum class JsonType { kNull, kBool, kNumber, kString, kObject, kArray };

// Returns "null", "boolean", "number", "string", "object" or "array".
std::string_view JsonTypeName(JsonType type);

// One member value of a flat object. `text` is the unescaped string for
// kString, the number's original text for kNumber ("0.15", "1.5e2",
// "-0" reads as "0"), "true"/"false" for kBool, "null" for kNull, and empty
// for kObject and kArray (nested values are only typed, never kept).
struct JsonToken {
  JsonType type = JsonType::kNull;
  std::string text;
};

// The top-level members of a JSON object, in document order.
struct FlatJsonObject {
  std::vector<std::pair<std::string, JsonToken>> members;

  // Returns the member named `key`, or nullptr.
  const JsonToken* Find(std::string_view key) const;
};

// Parses `text` as one JSON object (RFC 8259, UTF-8). Errors, all
// kInvalidParameter: malformed JSON or empty text (field "body", message
// names line and column), a value that is not an object (field "body"), and a
// repeated top-level key (field = that key).
Result<FlatJsonObject> ParseFlatJsonObject(std::string_view text);

// The same, always through the general (nlohmann SAX) parser. ParseFlatJsonObject
// reads the common shape of a request body with a front-to-back reader of
// its own and hands everything else to this; tests check the two agree.
Result<FlatJsonObject> ParseFlatJsonObjectGeneral(std::string_view text);

// Decodes the lender API's answer {"ticker":"GME","rate":0.15,"status":"HARD"}
// for `ticker`: returns the rate. Errors (kServiceUnavailable, message starting
// "lender API: "): malformed JSON, "rate" missing, not a JSON number, not
// exact at 18 places, or outside 0..10, or a "ticker" member that names
// another ticker (compared case-insensitively).
Result<Decimal> ParseLenderRate(std::string_view body, std::string_view ticker);

// Decodes the market API's answer {"value":22.4}: returns the VIX. Errors
// (kServiceUnavailable, "market API: "): malformed, "value" missing, not a
// JSON number, or outside 0..1000.
Result<Decimal> ParseVix(std::string_view body);

// Decodes the events API's answer {"ticker":"GME","risk_factor":6} for
// `ticker`: returns the risk factor. Errors (kServiceUnavailable,
// "events API: "): malformed, "risk_factor" missing, not a JSON number with an
// integer value (6 and 6.0 are fine, 6.5 is not), outside 0..10, or a "ticker"
// member that names another ticker.
Result<int> ParseEventRisk(std::string_view body, std::string_view ticker);

}  // namespace pricing::engine
