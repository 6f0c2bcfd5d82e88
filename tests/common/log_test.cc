#include "common/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "common/time_text.h"

namespace pricing {
namespace {

TEST(Log, LineIsOneJsonObjectWithTheStandardKeys) {
  SetLogOutput(STDERR_FILENO, "pricing-operator");
  const WallTime ts = *ParseRfc3339("2026-11-28T18:00:00.123456Z");
  const std::string line = FormatLogLine(ts, LogLevel::kWarn, "lease lost",
                                         {{"lease", "pricing-system/pricing-operator"}});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["ts"], "2026-11-28T18:00:00.123456Z");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "lease lost");
  EXPECT_EQ(j["logger"], "pricing-operator");
  EXPECT_EQ(j["lease"], "pricing-system/pricing-operator");
  EXPECT_EQ(line.find("{\"ts\":"), 0u);
}

TEST(Log, EscapesQuotesControlCharactersAndInvalidUtf8) {
  const std::string value = std::string("a\"b\\c\nd\te\x01") + "\xff" + "\xc3\xa9" + "\xe2\x82";
  const std::string line = FormatLogLine(std::chrono::system_clock::time_point{}, LogLevel::kInfo,
                                         "m", {{"k\"ey", value}});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["ts"], "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(j["k\"ey"], "a\"b\\c\nd\te\x01\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(Log, ParsesLevels) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_EQ(level, LogLevel::kError);
}

// Runs `body` with stderr redirected to a temporary file; returns what it wrote.
template <typename Body>
std::string CaptureStderr(Body body) {
  char path[] = "/tmp/common_log_test_XXXXXX";
  const int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fd, STDERR_FILENO);
  body();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out;
  ::lseek(fd, 0, SEEK_SET);
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  ::unlink(path);
  return out;
}

// Without a logger set there is no "logger" key.
TEST(Log, NamesNoLoggerUntilOneIsSet) {
  SetLogOutput(STDERR_FILENO, "");
  const nlohmann::json j =
      nlohmann::json::parse(FormatLogLine(WallTime{}, LogLevel::kInfo, "m", {}));
  EXPECT_FALSE(j.contains("logger")) << j.dump();
}

TEST(Log, WritesToItsOutputAtOrAboveTheLevel) {
  SetLogOutput(STDERR_FILENO, "pricing-operator");
  const std::string out = CaptureStderr([] {
    SetLogLevel(LogLevel::kInfo);
    Log(LogLevel::kDebug, "hidden");
    Log(LogLevel::kInfo, "shown", {{"controller", "pricingengine"}});
    SetLogLevel(LogLevel::kDebug);
    Log(LogLevel::kDebug, "now shown");
    SetLogLevel(LogLevel::kInfo);
  });
  std::istringstream lines(out);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  const nlohmann::json first = nlohmann::json::parse(line);
  EXPECT_EQ(first["msg"], "shown");
  EXPECT_EQ(first["controller"], "pricingengine");
  EXPECT_EQ(first["level"], "info");
  EXPECT_NE(ParseRfc3339(first["ts"].get<std::string>()), std::nullopt);
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(nlohmann::json::parse(line)["msg"], "now shown");
  EXPECT_FALSE(std::getline(lines, line));
}

}  // namespace
}  // namespace pricing
