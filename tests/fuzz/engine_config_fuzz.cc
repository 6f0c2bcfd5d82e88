// The engine's configuration: a --config YAML file, and the command line.
// Input: the file's text, then optionally a line "%%" followed by one
// command-line argument per line (before the implied --config).
#include <optional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "fuzz_check.h"

namespace engine = pricing::engine;
using pricing::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [file, rest] = pricing::fuzz::SplitOnce(pricing::fuzz::Text(data, size), "\n%%\n");
  std::vector<std::string> args;
  for (std::string_view r = rest; !r.empty();) {
    const auto [arg, tail] = pricing::fuzz::SplitOnce(r, "\n");
    args.emplace_back(arg);
    r = tail;
  }
  args.emplace_back("--config");
  args.emplace_back("engine.yaml");

  const std::string text(file);
  const auto no_env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  const auto read = [&text](const std::string& path) -> engine::Result<std::string> {
    if (path == "engine.yaml") return text;
    return std::unexpected(engine::Error{engine::ErrorCode::kInvalidParameter, "no such file", {}});
  };
  const auto config = engine::LoadConfig(args, no_env, read);
  if (!config) {
    Check(!config.error().message.empty(), "an error without a message");
    Check(config.error().message.find('\n') == std::string::npos,
          "a configuration error is more than one line", config.error().message);
    return 0;
  }
  Check(config->threads >= 0 && config->threads <= 256, "threads out of range");
  Check(config->body_limit >= 1024 && config->body_limit <= 16u << 20, "body_limit out of range");
  (void)engine::ValidateRoleConfig(*config);
  return 0;
}
