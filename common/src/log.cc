#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "common/text.h"
#include "common/time_text.h"

namespace pricing {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
int g_fd = STDOUT_FILENO;
std::string* g_logger = nullptr;  // set once by SetLogOutput, never freed

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void AppendField(std::string* out, std::string_view key, std::string_view value) {
  out->push_back(',');
  AppendJsonString(out, key);
  out->push_back(':');
  AppendJsonString(out, value);
}

}  // namespace

void SetLogOutput(int fd, std::string_view logger) {
  g_fd = fd;
  if (g_logger == nullptr) g_logger = new std::string;
  g_logger->assign(logger);
}

std::string FormatLogLine(std::chrono::system_clock::time_point ts, LogLevel level,
                          std::string_view msg, std::initializer_list<LogField> fields) {
  std::string line;
  line.reserve(128 + msg.size());
  line.append("{\"ts\":\"");
  AppendRfc3339Utc(&line, ts, 6);
  line.push_back('"');
  AppendField(&line, "level", LevelName(level));
  AppendField(&line, "msg", msg);
  if (g_logger != nullptr && !g_logger->empty()) AppendField(&line, "logger", *g_logger);
  for (const auto& [key, value] : fields) AppendField(&line, key, value);
  line.append("}\n");
  return line;
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  const std::string line = FormatLogLine(std::chrono::system_clock::now(), level, msg, fields);
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(g_fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

void SetLogLevel(LogLevel level) {
  g_min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == LevelName(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

}  // namespace pricing
