// The configuration of the split roles: their keys, and what each role
// refuses to start without.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "engine/config.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

Result<EngineConfig> Load(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env = {}) {
  return LoadConfig(
      args,
      [&](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      },
      [](const std::string&) -> Result<std::string> {
        return Fail(ErrorCode::kInvalidParameter, "no files");
      });
}

constexpr char kToken[] = "0123456789abcdef";

TEST(RoleConfig, DefaultsOfTheNewKeys) {
  auto c = Load({});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->calculation_url, "");
  EXPECT_EQ(c->data_url, "");
  EXPECT_EQ(c->audit_url, "");
  EXPECT_EQ(c->audit_handoff_url, "");
  EXPECT_EQ(c->internal_token, "");
  EXPECT_EQ(c->upstream_timeout, 5s);
  EXPECT_EQ(c->internal_timeout, 2s);
  EXPECT_EQ(c->cache_refresh_interval, 5s);
  EXPECT_EQ(c->active_window, 10min);
  EXPECT_EQ(c->active_record_interval, 30s);
  EXPECT_TRUE(ValidateRoleConfig(*c)) << "all needs none of them";
}

TEST(RoleConfig, ReadsEveryKeyFromTheEnvironmentAndFlags) {
  auto c = Load({"--upstream-timeout", "750ms", "--active-window=2m"},
                {{"PRICING_CALCULATION_URL", "http://calculation:8080/"},
                 {"PRICING_DATA_URL", "http://data:8080"},
                 {"PRICING_AUDIT_URL", "http://[::1]:9000"},
                 {"PRICING_INTERNAL_TOKEN", kToken},
                 {"PRICING_INTERNAL_TIMEOUT", "1.5s"},
                 {"PRICING_CACHE_REFRESH_INTERVAL", "10s"},
                 {"PRICING_ACTIVE_RECORD_INTERVAL", "1m"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->calculation_url, "http://calculation:8080");
  EXPECT_EQ(c->data_url, "http://data:8080");
  EXPECT_EQ(c->audit_url, "http://[::1]:9000");
  EXPECT_EQ(c->internal_token, kToken);
  EXPECT_EQ(c->upstream_timeout, 750ms);
  EXPECT_EQ(c->internal_timeout, 1500ms);
  EXPECT_EQ(c->cache_refresh_interval, 10s);
  EXPECT_EQ(c->active_window, 2min);
  EXPECT_EQ(c->active_record_interval, 60s);
  EXPECT_NE(ConfigHelp().find("PRICING_CALCULATION_URL"), std::string_view::npos);
  EXPECT_NE(ConfigHelp().find("--internal-token"), std::string_view::npos);
  EXPECT_NE(ConfigHelp().find("PRICING_ACTIVE_RECORD_INTERVAL"), std::string_view::npos);
}

TEST(RoleConfig, RejectsBadValuesNamingTheFlag) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--calculation-url", "https://calculation:8443"},
                                             {"--data-url", "http://data:8080/api"},
                                             {"--audit-url", "audit:8080"},
                                             {"--upstream-timeout", "0ms"},
                                             {"--internal-timeout", "2m"},
                                             {"--cache-refresh-interval", "500ms"},
                                             {"--cache-refresh-interval", "2h"},
                                             {"--active-window", "30s"},
                                             {"--active-record-interval", "1.5s"},
                                             {"--internal-token", "short"},
                                             {"--internal-token", "has a space in it!!"}}) {
    auto c = Load(args);
    EXPECT_FALSE(c) << args[0] << " " << args[1];
    if (!c) {
      EXPECT_EQ(c.error().message.rfind(args[0] + ": ", 0), 0u) << c.error().message;
    }
  }
}

TEST(RoleConfig, NeverEchoesTheToken) {
  auto c = Load({}, {{"PRICING_INTERNAL_TOKEN", "tiny-secret"}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message.find("tiny-secret"), std::string::npos) << c.error().message;
  EXPECT_EQ(c.error().field, "internal_token");
}

TEST(RoleConfig, SplitRolesRefuseToStartWithoutWhatTheyNeed) {
  struct Case {
    std::vector<std::string> args;
    std::string missing;
  };
  const std::string token = std::string("--internal-token=") + kToken;
  for (const Case& k : std::vector<Case>{
           {{"--role", "gateway"}, "internal_token"},
           {{"--role", "gateway", token}, "calculation_url"},
           {{"--role", "gateway", token, "--calculation-url", "http://c:1"}, "data_url"},
           {{"--role", "calculation", token}, "data_url"},
           {{"--role", "calculation", token, "--data-url", "http://d:1"}, "audit_url"},
           {{"--role", "cache", token, "--data-url", "http://d:1"}, "redis_url"},
           {{"--role", "audit", token}, "database_url"},
           {{"--role", "data"}, "internal_token"},
       }) {
    auto c = Load(k.args);
    ASSERT_TRUE(c) << c.error().message;
    auto ok = ValidateRoleConfig(*c);
    ASSERT_FALSE(ok) << k.args[1] << " without " << k.missing;
    EXPECT_EQ(ok.error().field, k.missing);
    EXPECT_EQ(ok.error().message.rfind("role " + k.args[1] + " needs " + k.missing, 0), 0u)
        << ok.error().message;
  }
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--role", "gateway", token, "--calculation-url", "http://c:1", "--data-url",
            "http://d:1"},
           {"--role", "calculation", token, "--data-url", "http://d:1", "--audit-url",
            "http://a:1"},
           {"--role", "data", token},
           {"--role", "cache", token, "--data-url", "http://d:1", "--redis-url",
            "redis://r:6379/0"},
           {"--role", "audit", token, "--database-url", "postgresql://x/y"}}) {
    auto c = Load(args);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_TRUE(ValidateRoleConfig(*c)) << args[1];
  }
}

TEST(RoleConfig, AuditHandoffUrlIsForTheRolesWithASpool) {
  const std::string token = std::string("--internal-token=") + kToken;
  auto c = Load({}, {{"PRICING_AUDIT_HANDOFF_URL", "http://pe-engine:8080/"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->audit_handoff_url, "http://pe-engine:8080");
  EXPECT_TRUE(ValidateRoleConfig(*c)) << "all: allowed (unused without a token)";
  auto calc = Load({"--role", "calculation", token, "--data-url", "http://d:1", "--audit-url",
                    "http://a:1", "--audit-handoff-url", "http://calc:8080"});
  ASSERT_TRUE(calc) << calc.error().message;
  EXPECT_TRUE(ValidateRoleConfig(*calc));
  auto bad = Load({"--audit-handoff-url", "https://peer:8080"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "audit_handoff_url");
  auto data = Load({"--role", "data", token, "--audit-handoff-url", "http://p:1"});
  ASSERT_TRUE(data) << data.error().message;
  auto refused = ValidateRoleConfig(*data);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "audit_handoff_url");
  EXPECT_NE(refused.error().message.find("keeps no audit spool"), std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace pricing::engine
