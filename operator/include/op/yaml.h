// YAML <-> JSON for files the operator reads (`render -f CR.yaml`) and writes
// (`render -o yaml`). Reading resolves plain scalars by the YAML 1.2 core
// schema: null (~, null, empty), booleans (true/false in any of the three
// cases YAML allows), integers (decimal, 0x hex, 0o octal), floats
// (1.5, 1e3, .5); anything else, and every quoted or block scalar, is a
// string. Explicit !!str, !!int, !!float, !!bool and !!null tags are honoured;
// other tags, non-scalar or duplicate mapping keys, and .inf/.nan (which JSON
// cannot hold) are errors. Errors carry no field; their message starts with
// the 1-based line: "line 3, column 5: ...".
//
// Writing emits block style that reads back as the same JSON: mapping keys
// in the JSON's order, strings plain only when they cannot be mistaken for
// anything else (YAML 1.1 booleans such as "on" and "yes" included, for
// older readers), otherwise double-quoted with JSON escapes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "op/error.h"

namespace pricing::op {

// Returns the documents of the YAML stream `text`, skipping empty ones.
Result<std::vector<nlohmann::json>> ParseYamlStream(std::string_view text);

// Returns the single document of `text` (null when empty); more than one
// document is an error.
Result<nlohmann::json> ParseYaml(std::string_view text);

// Returns `value` as one YAML document, ending in a newline, without "---".
std::string ToYaml(const nlohmann::json& value);

// Returns a multi-document stream: each document preceded by a "---" line.
std::string ToYamlStream(const std::vector<nlohmann::json>& documents);

}  // namespace pricing::op
