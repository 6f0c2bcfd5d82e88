// The operator's structured logs: one JSON object per line on stderr, in the
// shape controller-runtime's zap logger writes ({"ts", "level", "msg",
// "logger", then the caller's fields}). Each line goes out in a single
// write(), so lines from concurrent threads never interleave.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pricing::op {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string_view>;

// Writes one line at `level` to stderr, unless `level` is below the level set
// by SetLogLevel. Keys and values may hold any bytes: they are JSON-escaped,
// and bytes that are not valid UTF-8 become U+FFFD. Thread-safe.
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Sets the lowest level Log writes (initially kInfo). Thread-safe.
void SetLogLevel(LogLevel level);

// Parses "debug" | "info" | "warn" | "error"; returns false for anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);

// Returns the line Log writes for an entry made at `ts`, newline included.
std::string FormatLogLine(std::chrono::system_clock::time_point ts, LogLevel level,
                          std::string_view msg, std::initializer_list<LogField> fields);

}  // namespace pricing::op
