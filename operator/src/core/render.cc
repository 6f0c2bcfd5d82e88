#include "op/render.h"

#include <charconv>
#include <cmath>
#include <utility>

#include "op/desired.h"
#include "op/spec.h"
#include "op/yaml.h"

namespace pricing::op {
namespace {

std::unexpected<Error> Usage(std::string message) { return Fail("", std::move(message)); }

// Parses a non-negative decimal number such as "31.5".
std::optional<double> ParseVix(std::string_view text) {
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  double value = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

Result<RenderOptions> ParseRenderFlags(const std::vector<std::string>& args, size_t start,
                                       bool& help) {
  RenderOptions options;
  bool have_file = false, have_at = false, have_vix = false, have_output = false;
  for (size_t i = start; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> value;
    if (flag == "-h" || flag == "--help") {
      help = true;
      return options;
    }
    if (flag.starts_with("--")) {
      const size_t eq = flag.find('=');
      if (eq != std::string::npos) {
        value = flag.substr(eq + 1);
        flag = flag.substr(0, eq);
      }
    }
    bool* seen = nullptr;
    if (flag == "-f" || flag == "--filename") {
      seen = &have_file;
    } else if (flag == "--at") {
      seen = &have_at;
    } else if (flag == "--vix") {
      seen = &have_vix;
    } else if (flag == "-o" || flag == "--output") {
      seen = &have_output;
    } else {
      return Usage("render: unknown flag \"" + args[i] + "\"");
    }
    if (*seen) return Usage("render: " + flag + " is given more than once");
    *seen = true;
    if (!value) {
      if (i + 1 >= args.size()) return Usage("render: " + flag + " needs a value");
      value = args[++i];
    }
    if (flag == "-f" || flag == "--filename") {
      if (value->empty()) return Usage("render: " + flag + " needs a file name");
      options.file = *value;
    } else if (flag == "--at") {
      options.at = ParseRfc3339(*value);
      if (!options.at) {
        return Usage("render: --at \"" + *value +
                     "\" is not an RFC 3339 time such as 2026-11-27T15:00:00Z");
      }
    } else if (flag == "--vix") {
      options.vix = ParseVix(*value);
      if (!options.vix) {
        return Usage("render: --vix \"" + *value + "\" is not a non-negative number such as 31.5");
      }
    } else if (*value == "yaml") {
      options.format = OutputFormat::kYaml;
    } else if (*value == "json") {
      options.format = OutputFormat::kJson;
    } else {
      return Usage("render: " + flag + " \"" + *value + "\" is not yaml or json");
    }
  }
  if (!have_file) return Usage("render: -f FILE is required");
  return options;
}

}  // namespace

Result<Command> ParseCommandLine(const std::vector<std::string>& args) {
  Command command;
  if (args.empty()) return Usage("a command is required; see pricing-operator --help");
  if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    if (args.size() > 1) return Usage("--help takes no arguments");
    command.kind = Command::Kind::kHelp;
    return command;
  }
  if (args[0] != "render") {
    return Usage("unknown command \"" + args[0] + "\"; see pricing-operator --help");
  }
  bool help = false;
  Result<RenderOptions> options = ParseRenderFlags(args, 1, help);
  if (!options) return std::unexpected(options.error());
  command.kind = help ? Command::Kind::kHelp : Command::Kind::kRender;
  command.render = std::move(*options);
  return command;
}

std::string_view UsageText() {
  return R"(pricing-operator: the Kubernetes operator of the pricing engine (PricingEngine,
pricing.borrowrate.io/v1alpha1).

Usage:
  pricing-operator render -f FILE [--at RFC3339] [--vix N] [-o yaml|json]
  pricing-operator --help

Commands:
  render  Print the children the operator would apply for each PricingEngine in
          FILE at one instant: per component a Deployment, Service,
          HorizontalPodAutoscaler and PodDisruptionBudget, as a multi-document
          YAML stream or a JSON List. Uses the same desired-state function as
          the controller.

Flags of render:
  -f, --filename FILE   PricingEngine YAML or JSON; "-" reads standard input
      --at RFC3339      the instant, e.g. 2026-11-27T15:00:00Z (default: now)
      --vix N           volatility index value; selects the highest regime whose
                        enterAbove it exceeds (default: none)
  -o, --output FORMAT   yaml (default) or json

Exit status: 0 rendered; 1 the file is unreadable or a PricingEngine in it is
invalid (one line names the field); 2 usage error.
)";
}

std::string FormatObjects(const std::vector<nlohmann::json>& objects, OutputFormat format) {
  if (format == OutputFormat::kYaml) return ToYamlStream(objects);
  nlohmann::json list = {
      {"apiVersion", "v1"},
      {"kind", "List"},
      {"items", objects},
  };
  return list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<Rendered> Render(std::string_view file_text, TimePoint at, std::optional<double> vix,
                        OutputFormat format) {
  Result<std::vector<nlohmann::json>> documents = ParseYamlStream(file_text);
  if (!documents) return std::unexpected(documents.error());
  if (documents->empty()) return Fail("", "the file holds no PricingEngine");
  Rendered rendered;
  std::vector<nlohmann::json> objects;
  for (size_t i = 0; i < documents->size(); ++i) {
    auto in_document = [&](Error e) {
      if (documents->size() > 1) {
        e.message = "document " + std::to_string(i + 1) + ": " + ToString(e);
        e.field.clear();
      }
      return std::unexpected(std::move(e));
    };
    Result<PricingEngine> pe = ParsePricingEngine((*documents)[i]);
    if (!pe) return in_document(pe.error());
    Result<Desired> desired = ComputeDesired(*pe, at, vix);
    if (!desired) return in_document(desired.error());
    if (desired->paused) {
      rendered.notes.push_back("PricingEngine " + pe->metadata.name +
                               " is paused: the operator leaves its children as they are and "
                               "applies none of these");
    }
    for (nlohmann::json& object : desired->Objects()) objects.push_back(std::move(object));
  }
  rendered.text = FormatObjects(objects, format);
  return rendered;
}

}  // namespace pricing::op
