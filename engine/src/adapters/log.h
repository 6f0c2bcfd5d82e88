// Structured JSON logs on stdout: one object per line with ts, level, msg and
// any extra string fields. Lines are written with one write() so concurrent
// threads never interleave within a line.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pricing::engine {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string_view>;

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Returns a random (version 4) UUID in canonical text form.
std::string NewUuid();

}  // namespace pricing::engine
