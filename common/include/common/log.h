// Structured JSON logs, one object per line: {"ts", "level", "msg",
// "logger", then the caller's fields}, the shape controller-runtime's zap
// logger writes. Each line goes out in a single write(), so lines from
// concurrent threads never interleave.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pricing {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string_view>;

// Where Log writes (a file descriptor; initially standard output) and the
// program it names in "logger" (initially none, and then no "logger" key).
// Call once at start, before other threads log.
void SetLogOutput(int fd, std::string_view logger);

// Writes one line at `level`, unless `level` is below the level set by
// SetLogLevel. Keys and values may hold any bytes: they are JSON-escaped, and
// bytes that are not valid UTF-8 become U+FFFD. Thread-safe.
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Sets the lowest level Log writes (initially kInfo). Thread-safe.
void SetLogLevel(LogLevel level);

// Parses "debug" | "info" | "warn" | "error"; returns false for anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);

// Returns the line Log writes for an entry made at `ts` (microseconds),
// newline included.
std::string FormatLogLine(std::chrono::system_clock::time_point ts, LogLevel level,
                          std::string_view msg, std::initializer_list<LogField> fields);

}  // namespace pricing
