#include "engine/json_text.h"

#include <charconv>
#include <cstddef>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "engine/pricing.h"

namespace pricing::engine {
namespace {



// Turns nlohmann's "[json.exception.parse_error.101] parse error at line 1,
// column 2: syntax error ..." into "line 1, column 2: syntax error ...",
// bounded in length because it may quote the input.
std::string DescribeParseError(const std::string& what) {
  std::string_view s = what;
  if (const size_t bracket = s.find("] "); bracket != std::string_view::npos) {
    s.remove_prefix(bracket + 2);
  }
  constexpr std::string_view kPrefix = "parse error at ";
  if (s.substr(0, kPrefix.size()) == kPrefix) s.remove_prefix(kPrefix.size());
  constexpr size_t kMaxLength = 200;
  std::string out(s.substr(0, kMaxLength));
  if (s.size() > kMaxLength) out += "...";
  return out;
}

// SAX consumer that keeps the top-level members of one object. Nested values
// are skipped (only their type is recorded).
class FlatObjectHandler {
 public:
  using json = nlohmann::json;

  explicit FlatObjectHandler(FlatJsonObject* out) : out_(out) {}

  const std::optional<Error>& error() const { return error_; }

  bool null() { return Value(JsonType::kNull, "null"); }
  bool boolean(bool v) { return Value(JsonType::kBool, v ? "true" : "false"); }
  bool number_integer(json::number_integer_t v) {
    return Value(JsonType::kNumber, std::to_string(v));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    return Value(JsonType::kNumber, std::to_string(v));
  }
  bool number_float(json::number_float_t /*binary value, unused*/, const json::string_t& raw) {
    return Value(JsonType::kNumber, raw);
  }
  bool string(json::string_t& v) { return Value(JsonType::kString, std::move(v)); }
  bool binary(json::binary_t& /*unused*/) { return Value(JsonType::kString, ""); }

  bool start_object(std::size_t /*unused*/) {
    if (depth_ == 0) {
      ++depth_;
      return true;
    }
    if (!Value(JsonType::kObject, "")) return false;
    ++depth_;
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool start_array(std::size_t /*unused*/) {
    if (!Value(JsonType::kArray, "")) return false;
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }

  bool key(json::string_t& k) {
    if (depth_ != 1) return true;
    if (!keys_.insert(k).second) {
      error_ =
          Error{ErrorCode::kInvalidParameter, "duplicate key \"" + k + "\" in the JSON object", k};
      return false;
    }
    current_key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    error_ = Error{ErrorCode::kInvalidParameter, "malformed JSON: " + DescribeParseError(ex.what()),
                   "body"};
    return false;
  }

 private:
  // Records a value seen at the current depth.
  bool Value(JsonType type, std::string text) {
    if (depth_ == 0) {
      error_ = Error{ErrorCode::kInvalidParameter,
                     "body must be a JSON object, got " + std::string(JsonTypeName(type)), "body"};
      return false;
    }
    if (depth_ == 1)
      out_->members.emplace_back(std::move(current_key_), JsonToken{type, std::move(text)});
    return true;
  }

  FlatJsonObject* out_;
  int depth_ = 0;
  std::string current_key_;
  std::unordered_set<std::string> keys_;
  std::optional<Error> error_;
};

std::unexpected<Error> Unavailable(std::string_view api, std::string message) {
  return Fail(ErrorCode::kServiceUnavailable, std::string(api) + ": " + message);
}

// Parses `body` as a flat object and returns its number member `key` as exact
// decimal text, or an Unavailable error prefixed with `api`.
Result<Decimal> NumberMember(std::string_view api, const FlatJsonObject& object,
                             std::string_view key) {
  const JsonToken* token = object.Find(key);
  if (token == nullptr) return Unavailable(api, "answer has no \"" + std::string(key) + "\"");
  if (token->type != JsonType::kNumber) {
    return Unavailable(api, "\"" + std::string(key) + "\" is a " +
                                std::string(JsonTypeName(token->type)) + ", not a number");
  }
  const std::optional<Decimal> value = Decimal::ParseJsonNumber(token->text);
  if (!value) {
    return Unavailable(api, "\"" + std::string(key) + "\" " + token->text +
                                " is not exact at 18 decimal places or is out of range");
  }
  return *value;
}

Result<FlatJsonObject> ParseAnswer(std::string_view api, std::string_view body) {
  Result<FlatJsonObject> object = ParseFlatJsonObject(body);
  if (!object) return Unavailable(api, object.error().message);
  return object;
}

Result<void> CheckTicker(std::string_view api, const FlatJsonObject& object,
                         std::string_view ticker) {
  const JsonToken* token = object.Find("ticker");
  if (token == nullptr) return {};
  if (token->type != JsonType::kString) return Unavailable(api, "\"ticker\" is not a string");
  if (!EqualsIgnoreCase(token->text, ticker)) {
    std::string got;
    AppendJsonString(&got, token->text);
    return Unavailable(api, "answer is for ticker " + got + ", not " + std::string(ticker));
  }
  return {};
}

}  // namespace



void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_in_container_.empty()) {
    if (!first_in_container_.back()) out_->push_back(',');
    first_in_container_.back() = false;
  }
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_->push_back('{');
  first_in_container_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  first_in_container_.pop_back();
  out_->push_back('}');
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_->push_back('[');
  first_in_container_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  first_in_container_.pop_back();
  out_->push_back(']');
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendJsonString(out_, key);
  out_->push_back(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendJsonString(out_, value);
  return *this;
}

JsonWriter& JsonWriter::Number(Decimal value, int min_places) {
  BeforeValue();
  value.AppendTo(out_, min_places);
  return *this;
}






JsonWriter& JsonWriter::Int(int64_t value) {
  BeforeValue();
  AppendInt(out_, value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_->append(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_->append("null");
  return *this;
}

JsonWriter& JsonWriter::RawValue(std::string_view json) {
  BeforeValue();
  out_->append(json);
  return *this;
}

std::string_view JsonTypeName(JsonType type) {
  switch (type) {
    case JsonType::kNull:
      return "null";
    case JsonType::kBool:
      return "boolean";
    case JsonType::kNumber:
      return "number";
    case JsonType::kString:
      return "string";
    case JsonType::kObject:
      return "object";
    case JsonType::kArray:
      return "array";
  }
  return "null";
}

const JsonToken* FlatJsonObject::Find(std::string_view key) const {
  for (const auto& [k, token] : members) {
    if (k == key) return &token;
  }
  return nullptr;
}

namespace {

// The common shape of a request body, read front to back: one object whose
// members are plain ASCII strings (no escapes), numbers without exponent,
// true, false or null, with distinct keys, at most kFastMembers of them.
// Returns nullopt for anything else (nested values, escapes, non-ASCII, "-0",
// exponents, bad syntax), which the general parser then reads, with its
// error messages. Where it answers, the answer equals the general parser's
// (json_text_test checks both ways).
constexpr size_t kFastMembers = 32;

class FastFlatReader {
 public:
  explicit FastFlatReader(std::string_view text) : t_(text) {}

  std::optional<FlatJsonObject> Read() {
    FlatJsonObject object;
    SkipSpace();
    if (!Eat('{')) return std::nullopt;
    SkipSpace();
    if (Eat('}')) return End(std::move(object));
    // One allocation for a request body's few members instead of regrowing.
    object.members.reserve(8);
    for (;;) {
      std::string key;
      if (!PlainString(&key)) return std::nullopt;
      if (object.members.size() >= kFastMembers) return std::nullopt;
      for (const auto& member : object.members) {
        if (member.first == key) return std::nullopt;  // the general path names it
      }
      SkipSpace();
      if (!Eat(':')) return std::nullopt;
      SkipSpace();
      JsonToken value;
      if (!Value(&value)) return std::nullopt;
      object.members.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Eat(',')) {
        SkipSpace();
        continue;
      }
      if (Eat('}')) return End(std::move(object));
      return std::nullopt;
    }
  }

 private:
  std::optional<FlatJsonObject> End(FlatJsonObject object) {
    SkipSpace();
    if (i_ != t_.size()) return std::nullopt;
    return object;
  }

  void SkipSpace() {
    while (i_ < t_.size() &&
           (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t')) {
      ++i_;
    }
  }

  bool Eat(char c) {
    if (i_ >= t_.size() || t_[i_] != c) return false;
    ++i_;
    return true;
  }

  bool Digit() const { return i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9'; }

  bool PlainString(std::string* out) {
    if (!Eat('"')) return false;
    const size_t start = i_;
    while (i_ < t_.size()) {
      const auto c = static_cast<unsigned char>(t_[i_]);
      if (c == '"') {
        out->assign(t_.data() + start, i_ - start);
        ++i_;
        return true;
      }
      if (c < 0x20 || c >= 0x80 || c == '\\') return false;
      ++i_;
    }
    return false;
  }

  // RFC 8259 number without exponent: -?(0|[1-9][0-9]*)(\.[0-9]+)?
  bool Number(std::string* out) {
    const size_t start = i_;
    Eat('-');
    if (Eat('0')) {
      if (Digit()) return false;
    } else {
      if (!Digit()) return false;
      while (Digit()) ++i_;
    }
    if (Eat('.')) {
      if (!Digit()) return false;
      while (Digit()) ++i_;
    }
    // The general parser refuses a number whose double overflows; without an
    // exponent and with at most 300 digits none can.
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) return false;
    const std::string_view text = t_.substr(start, i_ - start);
    if (text.size() > 300) return false;
    if (text == "-0") return false;  // the general parser reads it as the integer 0
    out->assign(text);
    return true;
  }

  bool Literal(std::string_view word) {
    if (t_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool Value(JsonToken* out) {
    if (i_ >= t_.size()) return false;
    const char c = t_[i_];
    if (c == '"') {
      out->type = JsonType::kString;
      return PlainString(&out->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      out->type = JsonType::kNumber;
      return Number(&out->text);
    }
    for (const auto& [word, type] : {std::pair{std::string_view("true"), JsonType::kBool},
                                     std::pair{std::string_view("false"), JsonType::kBool},
                                     std::pair{std::string_view("null"), JsonType::kNull}}) {
      if (Literal(word)) {
        out->type = type;
        out->text = word;
        return true;
      }
    }
    return false;
  }

  std::string_view t_;
  size_t i_ = 0;
};

}  // namespace

Result<FlatJsonObject> ParseFlatJsonObject(std::string_view text) {
  if (std::optional<FlatJsonObject> fast = FastFlatReader(text).Read()) return std::move(*fast);
  return ParseFlatJsonObjectGeneral(text);
}

Result<FlatJsonObject> ParseFlatJsonObjectGeneral(std::string_view text) {
  FlatJsonObject object;
  FlatObjectHandler handler(&object);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &handler,
                                   nlohmann::json::input_format_t::json, /*strict=*/true);
  } catch (const nlohmann::json::exception& ex) {
    return Fail(ErrorCode::kInvalidParameter, "malformed JSON: " + DescribeParseError(ex.what()),
                "body");
  }
  if (!ok) {
    if (handler.error()) return std::unexpected(*handler.error());
    return Fail(ErrorCode::kInvalidParameter, "malformed JSON", "body");
  }
  return object;
}

Result<Decimal> ParseLenderRate(std::string_view body, std::string_view ticker) {
  constexpr std::string_view kApi = "lender API";
  Result<FlatJsonObject> object = ParseAnswer(kApi, body);
  if (!object) return std::unexpected(object.error());
  if (Result<void> t = CheckTicker(kApi, *object, ticker); !t) return std::unexpected(t.error());
  Result<Decimal> rate = NumberMember(kApi, *object, "rate");
  if (!rate) return rate;
  if (!IsValidBorrowRate(*rate)) {
    return Unavailable(kApi, "rate " + rate->ToString() + " is outside 0..10");
  }
  return rate;
}

Result<Decimal> ParseVix(std::string_view body) {
  constexpr std::string_view kApi = "market API";
  Result<FlatJsonObject> object = ParseAnswer(kApi, body);
  if (!object) return std::unexpected(object.error());
  Result<Decimal> vix = NumberMember(kApi, *object, "value");
  if (!vix) return vix;
  if (!IsValidVolatility(*vix)) {
    return Unavailable(kApi, "value " + vix->ToString() + " is outside 0..1000");
  }
  return vix;
}

Result<int> ParseEventRisk(std::string_view body, std::string_view ticker) {
  constexpr std::string_view kApi = "events API";
  Result<FlatJsonObject> object = ParseAnswer(kApi, body);
  if (!object) return std::unexpected(object.error());
  if (Result<void> t = CheckTicker(kApi, *object, ticker); !t) return std::unexpected(t.error());
  Result<Decimal> risk = NumberMember(kApi, *object, "risk_factor");
  if (!risk) return std::unexpected(risk.error());
  const std::optional<int64_t> whole = risk->ToInt64();
  if (!whole) return Unavailable(kApi, "risk_factor " + risk->ToString() + " is not an integer");
  if (*whole < 0 || *whole > kMaxEventRisk) {
    return Unavailable(kApi, "risk_factor " + risk->ToString() + " is outside 0..10");
  }
  return static_cast<int>(*whole);
}

}  // namespace pricing::engine
