// Helpers shared by the operator's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "op/spec.h"
#include "op/time_text.h"
#include "op/yaml.h"

namespace pricing::op::testing {

// A PricingEngine "desk" in namespace "prod" with two components (api:
// gateway 2..6, calculation 3..20) and no policy: what the reconciler and
// controller tests manage.
inline constexpr const char* kDeskEngineYaml = R"(
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: desk, namespace: prod}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  components:
  - name: api
    role: gateway
    replicas: {min: 2, max: 6}
  - name: calculation
    role: calculation
    replicas: {min: 3, max: 20}
)";

// Returns YAML `text` (one document) as JSON, failing the test when it is malformed.
inline nlohmann::json YamlJson(const char* text) {
  Result<nlohmann::json> doc = ParseYaml(text);
  EXPECT_TRUE(doc.has_value()) << (doc ? "" : doc.error().message);
  return doc.value_or(nlohmann::json());
}

inline std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::string TestdataPath(const std::string& name) {
  return std::string(PRICING_OPERATOR_TESTDATA_DIR) + "/" + name;
}

// The full PricingEngine of testdata/pricingengine.yaml as JSON.
inline nlohmann::json FullCrJson() {
  const Result<nlohmann::json> doc = ParseYaml(ReadTestFile(TestdataPath("pricingengine.yaml")));
  EXPECT_TRUE(doc.has_value()) << (doc ? "" : doc.error().message);
  return doc.value_or(nlohmann::json());
}

// Parses `object`, failing the test with the error when it is invalid.
inline PricingEngine MustParse(const nlohmann::json& object) {
  Result<PricingEngine> pe = ParsePricingEngine(object);
  EXPECT_TRUE(pe.has_value()) << (pe ? "" : ToString(pe.error()));
  return pe.value_or(PricingEngine{});
}

inline PricingEngine MustParseYaml(const std::string& yaml) {
  const Result<nlohmann::json> doc = ParseYaml(yaml);
  EXPECT_TRUE(doc.has_value()) << (doc ? "" : doc.error().message);
  return MustParse(doc.value_or(nlohmann::json()));
}

inline TimePoint At(const std::string& rfc3339) {
  const std::optional<TimePoint> t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(TimePoint{});
}

}  // namespace pricing::op::testing
