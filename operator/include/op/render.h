// The `pricing-operator` command line (docs/design.md §3.6) as pure functions:
// reading the arguments, rendering a PricingEngine file into the exact
// children the controller would apply at an instant, and explaining the
// policy behind them. main.cc only does the I/O around them (the file, the
// clock, printing, the exit status).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "op/error.h"
#include "op/time_text.h"

namespace pricing::op {

enum class OutputFormat { kYaml, kJson };

struct RenderOptions {
  std::string file;             // "-" reads standard input
  std::optional<TimePoint> at;  // nullopt: now
  std::optional<double> vix;    // nullopt: unknown (no volatility regime)
  OutputFormat format = OutputFormat::kYaml;
};

inline constexpr std::chrono::hours kDefaultExplainHorizon{7 * 24};
inline constexpr std::chrono::hours kMaxExplainHorizon{366 * 24};

struct ExplainOptions {
  std::string file;             // "-" reads standard input
  std::optional<TimePoint> at;  // nullopt: now
  std::optional<double> vix;    // nullopt: unknown (no volatility regime)
  std::chrono::nanoseconds horizon = kDefaultExplainHorizon;  // > 0, <= kMaxExplainHorizon
};

struct Command {
  enum class Kind { kHelp, kRender, kExplain };
  Kind kind = Kind::kHelp;
  RenderOptions render;    // kRender
  ExplainOptions explain;  // kExplain
};

// Parses the arguments after the program name:
//   --help | -h
//   render -f FILE [--at RFC3339] [--vix N] [-o yaml|json]   (or render --help)
//   explain -f FILE [--at RFC3339] [--vix N] [--horizon 7d]  (or explain --help)
// Flags take their value as the next argument or after '=' (--at=...); -f is
// also --filename, -o also --output. Returns a usage error (an Error without
// field, e.g. "render: -f FILE is required") for an unknown command or flag, a
// missing or repeated flag, or a bad value.
Result<Command> ParseCommandLine(const std::vector<std::string>& args);

// Parses an explain horizon: whole days "7d", optionally followed by a
// duration of ParseDuration ("1d12h"), or such a duration alone ("36h").
// Returns nullopt when malformed.
std::optional<std::chrono::nanoseconds> ParseHorizon(std::string_view text);

// Returns the text `--help` prints.
std::string_view UsageText();

struct Rendered {
  std::string text;                // the children, ready for standard output
  std::vector<std::string> notes;  // one line each, for standard error
};

// Returns the children of every PricingEngine in the YAML (or JSON) stream
// `file_text`, in document order, at `at` with volatility `vix`: a
// multi-document YAML stream ("---" before each object) or a JSON List
// {"apiVersion":"v1","kind":"List","items":[...]} (indented, ending in a
// newline). A PricingEngine with spec.paused adds a note saying the operator
// would leave its children alone. Fails with the first invalid document's
// error; when the stream has several documents, its message is prefixed
// "document N: " (1-based).
Result<Rendered> Render(std::string_view file_text, TimePoint at, std::optional<double> vix,
                        OutputFormat format);

inline constexpr size_t kMaxExplainRows = 200;

// Returns, for every PricingEngine in `file_text` (as Render reads it), a
// report of its policy at `at` with volatility `vix` (no history: the regime
// RegimeForValue picks):
//   - the market day and phase, the volatility regime, the active layers in
//     precedence order and the precedence rule;
//   - per component its effective min, max, CPU target and disruption budget,
//     with the layer that set each (Reasons);
//   - the transitions in (at, at + horizon] as a table: the instant in UTC
//     and on the market's wall clock, what changes, and every component's
//     resulting min..max and CPU target (the volatility assumed unchanged);
//     at most kMaxExplainRows rows, then a line saying how many more.
// Reports are separated by a blank line. Fails as Render does.
Result<std::string> Explain(std::string_view file_text, TimePoint at, std::optional<double> vix,
                            std::chrono::nanoseconds horizon);

// Returns `objects` as a YAML stream or a JSON List (see Render).
std::string FormatObjects(const std::vector<nlohmann::json>& objects, OutputFormat format);

}  // namespace pricing::op
