// The operator's YAML reader (`pricing-operator render -f FILE`): whatever
// ParseYamlStream accepts, ToYamlStream writes back as YAML that reads as the
// same documents.
#include <string>

#include "fuzz_check.h"
#include "op/yaml.h"

namespace op = pricing::op;
using pricing::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pricing::fuzz::Text(data, size);
  const auto docs = op::ParseYamlStream(text);
  if (!docs) {
    Check(docs.error().message.starts_with("line "), "an error without its line",
          docs.error().message);
    return 0;
  }
  const std::string written = op::ToYamlStream(*docs);
  // Aliases let a short file expand to the parser's node limit; reading such an
  // expansion back (without aliases) costs yaml-cpp gigabytes, which is the
  // harness's cost, not the operator's: render writes it but never reads it.
  if (written.size() > (256u << 10)) return 0;
  const auto again = op::ParseYamlStream(written);
  Check(again.has_value(), "written YAML does not read back",
        written + "\n--- error: " + (again ? std::string() : again.error().message));
  Check(*again == *docs, "written YAML reads as other documents", written);
  return 0;
}
