// The operator's spec decoder, as the API server hands it an object (JSON)
// and as `pricing-operator render` reads a file (YAML): decoding never breaks,
// nor does computing the children of a PricingEngine it accepts.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.h"
#include "op/desired.h"
#include "op/render.h"
#include "op/spec.h"

namespace op = pricing::op;
using pricing::fuzz::Check;

namespace {

// A fixed instant, a weekday during US market hours: deterministic runs.
op::TimePoint At() { return op::TimePoint(std::chrono::seconds(1795446000)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pricing::fuzz::Text(data, size);
  if (!text.empty() && text.front() == '{') {
    const nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded()) return 0;
    const auto pe = op::ParsePricingEngine(object);
    if (!pe) return 0;
    // Layers that cannot merge at this instant fail with an error (a status
    // condition), which is fine; only a crash is not.
    const auto desired = op::ComputeDesired(*pe, At(), std::optional<double>(25.0));
    if (!desired) Check(!desired.error().message.empty(), "an error without a message");
    return 0;
  }
  (void)op::Render(text, At(), std::nullopt, op::OutputFormat::kYaml);
  return 0;
}
