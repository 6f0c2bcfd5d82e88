#include "op/render.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>

#include "op/calendar.h"
#include "op/desired.h"
#include "op/layers.h"
#include "op/spec.h"
#include "op/yaml.h"

namespace pricing::op {
namespace {

std::unexpected<Error> Usage(std::string message) { return Fail("", std::move(message)); }

// Returns `value` as "31.5", "20".
std::string FormatNumber(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return buf;
}

// Returns `rows` as columns separated by two spaces, each line indented by
// `indent` and without trailing blanks.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        std::string_view indent) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent);
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// Returns "10..20 cpu 80%" or "10..20 cpu 80% mem 85%": the bounds an
// explain transition row shows.
std::string BriefBounds(const EffectiveBounds& b) {
  std::string text = std::to_string(b.min_replicas) + ".." + std::to_string(b.max_replicas) +
                     " cpu " + std::to_string(b.target_cpu_utilization_percentage) + "%";
  if (b.target_memory_utilization_percentage) {
    text += " mem " + std::to_string(*b.target_memory_utilization_percentage) + "%";
  }
  return text;
}

// Returns "85%", or "-" without a memory target.
std::string MemoryCell(const EffectiveBounds& b) {
  return b.target_memory_utilization_percentage
             ? std::to_string(*b.target_memory_utilization_percentage) + "%"
             : "-";
}

// Returns `d` as "7d", "36h", "90m" or "45s": in the largest unit that
// divides it (seconds rounded down).
std::string FormatHorizon(std::chrono::nanoseconds d) {
  using std::chrono::duration_cast;
  const auto exact = [d](auto unit) { return d % unit == std::chrono::nanoseconds::zero(); };
  if (exact(std::chrono::hours{24})) return std::to_string(d / std::chrono::hours{24}) + "d";
  if (exact(std::chrono::hours{1})) return std::to_string(d / std::chrono::hours{1}) + "h";
  if (exact(std::chrono::minutes{1})) return std::to_string(d / std::chrono::minutes{1}) + "m";
  return std::to_string(duration_cast<std::chrono::seconds>(d).count()) + "s";
}

// Returns the explain report of one PricingEngine (see Explain).
Result<std::string> ExplainOne(const PricingEngine& pe, TimePoint at, std::optional<double> vix,
                               std::chrono::nanoseconds horizon) {
  const PricingEngineSpec& spec = pe.spec;
  const MarketHours& market = spec.market_hours;
  const date::time_zone& zone = *market.zone;
  const Regime* regime = nullptr;
  if (spec.volatility && vix) regime = RegimeForValue(*spec.volatility, *vix);
  Result<Desired> desired = ComputeDesired(pe, at, PolicyInputs{vix, std::nullopt});
  if (!desired) return std::unexpected(desired.error());

  std::string out;
  const std::string name = pe.metadata.namespace_name.empty()
                               ? pe.metadata.name
                               : pe.metadata.namespace_name + "/" + pe.metadata.name;
  out += "PricingEngine " + name + " at " + FormatRfc3339(at) + " (" + FormatLocal(zone, at) +
         ", " + market.time_zone + ")\n";
  if (desired->paused) {
    out += "Paused: the operator leaves the children as they are and applies none of this\n";
  }
  const std::string calendar = market.calendar == CalendarKind::kNyse ? "NYSE" : "none";
  out += "Market: " + desired->market_day + " day (calendar " + calendar + "), phase " +
         desired->market_phase + "\n";
  if (!spec.volatility) {
    out += "Volatility: no volatility policy\n";
  } else if (!vix) {
    out += "Volatility: no value given (--vix N), so no regime\n";
  } else {
    out += "Volatility: " + FormatNumber(*vix) + " selects " +
           (regime != nullptr ? "regime " + regime->name : std::string("no regime")) +
           " (no history: the highest regime whose enterAbove the value exceeds)\n";
  }
  if (spec.emergency_override) {
    const bool active = at < spec.emergency_override->expires;
    out += std::string("Override: ") + (active ? "active until " : "expired at ") +
           FormatRfc3339(spec.emergency_override->expires);
    if (!spec.emergency_override->reason.empty()) {
      out += " (" + spec.emergency_override->reason + ")";
    }
    out += "\n";
  }
  out += "Active layers (base -> phase -> regime -> events -> override):\n  ";
  for (size_t i = 0; i < desired->active_layers.size(); ++i) {
    out += (i == 0 ? "" : ", ") + desired->active_layers[i];
  }
  out += "\n\nComponents (effective bounds and the layer that set each):\n";
  const bool any_memory =
      std::any_of(desired->components.begin(), desired->components.end(),
                  [](const ComponentDesired& c) {
                    return c.bounds.target_memory_utilization_percentage.has_value();
                  });
  std::vector<std::vector<std::string>> rows = {{"COMPONENT", "MIN", "MAX", "CPU", "PDB"}};
  if (any_memory) rows[0].insert(rows[0].begin() + 4, "MEMORY");
  for (const ComponentDesired& c : desired->components) {
    rows.push_back({c.name, std::to_string(c.bounds.min_replicas),
                    std::to_string(c.bounds.max_replicas),
                    std::to_string(c.bounds.target_cpu_utilization_percentage) + "%",
                    ToString(c.bounds.disruption)});
    if (any_memory) rows.back().insert(rows.back().begin() + 4, MemoryCell(c.bounds));
  }
  out += FormatTable(rows, "  ");
  for (const ComponentDesired& c : desired->components) {
    out += "  " + c.name + ":\n";
    for (const std::string& reason : c.reasons) out += "    " + reason + "\n";
  }

  const std::vector<Transition> transitions =
      Transitions(spec, at, at + std::chrono::duration_cast<TimePoint::duration>(horizon));
  out += "\nUpcoming transitions within " + FormatHorizon(horizon);
  if (spec.volatility && vix) out += " (volatility assumed to stay at " + FormatNumber(*vix) + ")";
  out += ":\n";
  if (transitions.empty()) {
    out += "  none\n";
    return out;
  }
  rows = {{"AT (UTC)", "AT (" + market.time_zone + ")", "CHANGE"}};
  for (const Component& c : spec.components) rows[0].push_back(c.name);
  const size_t shown = std::min(transitions.size(), kMaxExplainRows);
  for (size_t i = 0; i < shown; ++i) {
    const Transition& t = transitions[i];
    std::vector<std::string> row = {FormatRfc3339(t.at), FormatLocal(zone, t.at), t.description};
    const std::vector<Layer> layers = ActiveLayers(spec, t.at, regime);
    for (const Component& c : spec.components) {
      const Result<EffectiveBounds> b = MergeLayers(layers, c.name);
      if (!b) return std::unexpected(b.error());
      row.push_back(BriefBounds(*b));
    }
    rows.push_back(std::move(row));
  }
  out += FormatTable(rows, "  ");
  if (shown < transitions.size()) {
    out += "  ... " + std::to_string(transitions.size() - shown) +
           " more within the horizon; use a shorter --horizon\n";
  }
  return out;
}

// Parses every document of `file_text` as a PricingEngine and calls
// `each(pe)` on it, stopping at the first error. Errors are prefixed
// "document N: " when the stream has several documents.
template <typename Each>
Result<void> ForEachPricingEngine(std::string_view file_text, Each each) {
  Result<std::vector<nlohmann::json>> documents = ParseYamlStream(file_text);
  if (!documents) return std::unexpected(documents.error());
  if (documents->empty()) return Fail("", "the file holds no PricingEngine");
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
    if (Result<void> r = each(*pe); !r) return in_document(r.error());
  }
  return {};
}

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

// The flags of render and explain, as read.
struct Flags {
  std::string file;
  std::optional<TimePoint> at;
  std::optional<double> vix;
  std::optional<OutputFormat> format;
  std::optional<std::chrono::nanoseconds> horizon;
  bool help = false;
};

// Reads the flags of `command` ("render" or "explain") in args[start..].
// render takes -o, explain --horizon.
Result<Flags> ParseFlags(std::string_view command, const std::vector<std::string>& args,
                         size_t start) {
  const std::string prefix = std::string(command) + ": ";
  const bool is_render = command == "render";
  Flags flags;
  bool have_file = false, have_at = false, have_vix = false, have_output = false,
       have_horizon = false;
  for (size_t i = start; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> value;
    if (flag == "-h" || flag == "--help") {
      flags.help = true;
      return flags;
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
    } else if (is_render && (flag == "-o" || flag == "--output")) {
      seen = &have_output;
    } else if (!is_render && flag == "--horizon") {
      seen = &have_horizon;
    } else {
      return Usage(prefix + "unknown flag \"" + args[i] + "\"");
    }
    if (*seen) return Usage(prefix + flag + " is given more than once");
    *seen = true;
    if (!value) {
      if (i + 1 >= args.size()) return Usage(prefix + flag + " needs a value");
      value = args[++i];
    }
    if (flag == "-f" || flag == "--filename") {
      if (value->empty()) return Usage(prefix + flag + " needs a file name");
      flags.file = *value;
    } else if (flag == "--at") {
      flags.at = ParseRfc3339(*value);
      if (!flags.at) {
        return Usage(prefix + "--at \"" + *value +
                     "\" is not an RFC 3339 time such as 2026-11-27T15:00:00Z");
      }
    } else if (flag == "--vix") {
      flags.vix = ParseVix(*value);
      if (!flags.vix) {
        return Usage(prefix + "--vix \"" + *value + "\" is not a non-negative number such as 31.5");
      }
    } else if (flag == "--horizon") {
      flags.horizon = ParseHorizon(*value);
      if (!flags.horizon || *flags.horizon <= std::chrono::nanoseconds::zero() ||
          *flags.horizon > kMaxExplainHorizon) {
        return Usage(prefix + "--horizon \"" + *value +
                     "\" is not a duration from 1s to 366d such as 7d, 36h or 1d12h");
      }
    } else if (*value == "yaml") {
      flags.format = OutputFormat::kYaml;
    } else if (*value == "json") {
      flags.format = OutputFormat::kJson;
    } else {
      return Usage(prefix + flag + " \"" + *value + "\" is not yaml or json");
    }
  }
  if (!have_file) return Usage(prefix + "-f FILE is required");
  return flags;
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
  if (args[0] != "render" && args[0] != "explain") {
    return Usage("unknown command \"" + args[0] + "\"; see pricing-operator --help");
  }
  Result<Flags> flags = ParseFlags(args[0], args, 1);
  if (!flags) return std::unexpected(flags.error());
  if (flags->help) {
    command.kind = Command::Kind::kHelp;
    return command;
  }
  if (args[0] == "render") {
    command.kind = Command::Kind::kRender;
    command.render.file = flags->file;
    command.render.at = flags->at;
    command.render.vix = flags->vix;
    command.render.format = flags->format.value_or(OutputFormat::kYaml);
  } else {
    command.kind = Command::Kind::kExplain;
    command.explain.file = flags->file;
    command.explain.at = flags->at;
    command.explain.vix = flags->vix;
    command.explain.horizon = flags->horizon.value_or(kDefaultExplainHorizon);
  }
  return command;
}

std::optional<std::chrono::nanoseconds> ParseHorizon(std::string_view text) {
  const size_t d = text.find('d');
  if (d == std::string_view::npos) return ParseDuration(text);
  const std::string_view whole = text.substr(0, d);
  if (whole.empty() || whole.size() > 3) return std::nullopt;
  int days = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    days = days * 10 + (c - '0');
  }
  std::chrono::nanoseconds total = std::chrono::hours{24 * days};
  const std::string_view rest = text.substr(d + 1);
  if (!rest.empty()) {
    const std::optional<std::chrono::nanoseconds> more = ParseDuration(rest);
    if (!more || *more > std::chrono::hours{24 * 1000}) return std::nullopt;
    total += *more;
  }
  return total;
}

std::string_view UsageText() {
  return R"(pricing-operator: the Kubernetes operator of the pricing engine (PricingEngine,
pricing.borrowrate.io/v1alpha1).

Usage:
  pricing-operator run [flags]          (see pricing-operator run --help)
  pricing-operator render -f FILE [--at RFC3339] [--vix N] [-o yaml|json]
  pricing-operator explain -f FILE [--at RFC3339] [--vix N] [--horizon 7d]
  pricing-operator --help

Commands:
  run      Run the controller: reconcile every PricingEngine into its
           Deployments, Services, HorizontalPodAutoscalers and
           PodDisruptionBudgets, following its market-hours, volatility,
           event and override policy.
  render   Print the children the operator would apply for each PricingEngine
           in FILE at one instant: per component a Deployment, Service,
           HorizontalPodAutoscaler and PodDisruptionBudget, as a multi-document
           YAML stream or a JSON List. Uses the same desired-state function as
           the controller.
  explain  Print why: the market day and phase, the active policy layers, each
           component's effective min, max, CPU target and disruption budget
           with the layer that set it, and the upcoming transitions as a table
           (UTC and market time, what changes, the resulting bounds).

Flags of render and explain:
  -f, --filename FILE   PricingEngine YAML or JSON; "-" reads standard input
      --at RFC3339      the instant, e.g. 2026-11-27T15:00:00Z (default: now)
      --vix N           volatility index value; selects the highest regime whose
                        enterAbove it exceeds (default: none)
  -o, --output FORMAT   render: yaml (default) or json
      --horizon D       explain: how far ahead to list transitions, e.g. 7d
                        (default), 36h, 1d12h; at most 366d

Precedence, per component, over the layers active at the instant (base ->
market phase -> volatility regime -> events -> override): min is the largest
min, max the largest max raised to at least min, the CPU target the lowest,
the disruption budget the active event's else the base's; an unexpired
override replaces min and max of the components it names.

Exit status: 0 done; 1 the file is unreadable or a PricingEngine in it is
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
  Rendered rendered;
  std::vector<nlohmann::json> objects;
  const Result<void> done =
      ForEachPricingEngine(file_text, [&](const PricingEngine& pe) -> Result<void> {
        Result<Desired> desired = ComputeDesired(pe, at, vix);
        if (!desired) return std::unexpected(desired.error());
        if (desired->paused) {
          rendered.notes.push_back("PricingEngine " + pe.metadata.name +
                                   " is paused: the operator leaves its children as they are "
                                   "and applies none of these");
        }
        for (nlohmann::json& object : desired->Objects()) objects.push_back(std::move(object));
        return {};
      });
  if (!done) return std::unexpected(done.error());
  rendered.text = FormatObjects(objects, format);
  return rendered;
}

Result<std::string> Explain(std::string_view file_text, TimePoint at, std::optional<double> vix,
                            std::chrono::nanoseconds horizon) {
  std::string text;
  const Result<void> done =
      ForEachPricingEngine(file_text, [&](const PricingEngine& pe) -> Result<void> {
        Result<std::string> report = ExplainOne(pe, at, vix, horizon);
        if (!report) return std::unexpected(report.error());
        if (!text.empty()) text += "\n";
        text += *report;
        return {};
      });
  if (!done) return std::unexpected(done.error());
  return text;
}

}  // namespace pricing::op
