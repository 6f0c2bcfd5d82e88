// pricing-operator: the command line (see op/render.h for render and explain,
// run.h for the controller).
// Everything here is I/O around the pure core: reading the file, the clock,
// printing, and the exit status (0 ok, 1 bad input, 2 usage error).
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "op/error.h"
#include "op/render.h"
#include "run.h"

namespace {

constexpr size_t kMaxFileBytes = 16 * 1024 * 1024;

// Reads all of `path` ("-": standard input) into `out`, or returns why not.
std::string ReadFile(const std::string& path, std::string& out) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::strerror(errno);
  char buf[65536];
  std::string error;
  while (true) {
    const size_t n = std::fread(buf, 1, sizeof buf, f);
    out.append(buf, n);
    if (out.size() > kMaxFileBytes) {
      error = "larger than 16 MiB";
      break;
    }
    if (n < sizeof buf) {
      if (std::ferror(f)) error = std::strerror(errno);
      break;
    }
  }
  if (f != stdin) std::fclose(f);
  return error;
}

}  // namespace

int main(int argc, char** argv) {
  using pricing::op::Command;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "run") {
    return pricing::op::RunOperator(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  const pricing::op::Result<Command> command = pricing::op::ParseCommandLine(args);
  if (!command) {
    std::cerr << "pricing-operator: " << pricing::ToString(command.error()) << "\n";
    return 2;
  }
  if (command->kind == Command::Kind::kHelp) {
    std::cout << pricing::op::UsageText();
    return std::cout.flush() ? 0 : 1;
  }
  if (command->kind == Command::Kind::kExplain) {
    const pricing::op::ExplainOptions& options = command->explain;
    std::string text;
    if (const std::string error = ReadFile(options.file, text); !error.empty()) {
      std::cerr << "pricing-operator: cannot read " << options.file << ": " << error << "\n";
      return 1;
    }
    const pricing::op::TimePoint at = options.at.value_or(std::chrono::system_clock::now());
    const pricing::op::Result<std::string> report =
        pricing::op::Explain(text, at, options.vix, options.horizon);
    if (!report) {
      std::cerr << "pricing-operator: " << pricing::ToString(report.error()) << "\n";
      return 1;
    }
    std::cout << *report;
    return std::cout.flush() ? 0 : 1;
  }
  const pricing::op::RenderOptions& options = command->render;
  std::string text;
  if (const std::string error = ReadFile(options.file, text); !error.empty()) {
    std::cerr << "pricing-operator: cannot read " << options.file << ": " << error << "\n";
    return 1;
  }
  const pricing::op::TimePoint at = options.at.value_or(std::chrono::system_clock::now());
  const pricing::op::Result<pricing::op::Rendered> rendered =
      pricing::op::Render(text, at, options.vix, options.format);
  if (!rendered) {
    std::cerr << "pricing-operator: " << pricing::ToString(rendered.error()) << "\n";
    return 1;
  }
  for (const std::string& note : rendered->notes) std::cerr << "pricing-operator: " << note << "\n";
  std::cout << rendered->text;
  return std::cout.flush() ? 0 : 1;
}
