// JSON bodies: a client's POST /api/v1/calculate-locate and the answers of the
// lender, market and events APIs. The engine's own front-to-back reader and
// the general parser must agree on every input, and the decoders built on
// them must keep their documented ranges.
#include <string>

#include "engine/json_text.h"
#include "engine/validation.h"
#include "fuzz_check.h"

namespace engine = pricing::engine;
using pricing::fuzz::Check;

namespace {

std::string Describe(const engine::Result<engine::FlatJsonObject>& r) {
  if (!r) return "error " + r.error().field + ": " + r.error().message;
  std::string out;
  for (const auto& [key, token] : r->members) {
    out += key;
    out += '=';
    out += engine::JsonTypeName(token.type);
    out += ':';
    out += token.text;
    out += '\n';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body = pricing::fuzz::Text(data, size);

  const auto fast = engine::ParseFlatJsonObject(body);
  const auto general = engine::ParseFlatJsonObjectGeneral(body);
  Check(fast.has_value() == general.has_value(), "fast and general parsers disagree on validity",
        Describe(fast) + "\n--- general:\n" + Describe(general));
  if (fast) {
    Check(Describe(fast) == Describe(general), "fast and general parsers disagree on members",
          Describe(fast) + "\n--- general:\n" + Describe(general));
    // What the parser read must survive the writer and a second parse.
    std::string written;
    engine::JsonWriter w(&written);
    w.BeginObject();
    for (const auto& [key, token] : fast->members) {
      w.Key(key);
      switch (token.type) {
        case engine::JsonType::kString:
          w.String(token.text);
          break;
        case engine::JsonType::kObject:
        case engine::JsonType::kArray:
        case engine::JsonType::kNull:
          w.Null();
          break;
        default:
          w.RawValue(token.text);
      }
    }
    w.EndObject();
    Check(engine::ParseFlatJsonObject(written).has_value(), "writer output does not parse",
          written);
  }

  if (auto request = engine::ParseLocateJson(body)) {
    Check(engine::IsValidTicker(request->ticker), "accepted an invalid ticker", request->ticker);
    Check(engine::IsValidClientId(request->client_id), "accepted an invalid client id",
          request->client_id);
    Check(request->loan_days >= 1 && request->loan_days <= 365, "loan_days out of range");
    Check(engine::ValidatePositionValue(request->position_value).has_value(),
          "accepted an invalid position value", request->position_value.ToString());
  }
  if (auto rate = engine::ParseLenderRate(body, "GME")) {
    Check(*rate >= engine::Decimal() && *rate <= engine::Decimal::FromInt(10), "rate range");
  }
  if (auto vix = engine::ParseVix(body)) {
    Check(*vix >= engine::Decimal() && *vix <= engine::Decimal::FromInt(1000), "vix range");
  }
  if (auto risk = engine::ParseEventRisk(body, "GME")) {
    Check(*risk >= 0 && *risk <= 10, "risk range");
  }
  return 0;
}
