#include "engine/config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "test_util.h"

namespace pricing::engine {
namespace {

// An injected environment and file system.
struct World {
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> files;
  std::vector<std::string> reads;

  Result<EngineConfig> Load(const std::vector<std::string>& args) {
    return LoadConfig(
        args,
        [this](const std::string& name) -> std::optional<std::string> {
          auto it = env.find(name);
          if (it == env.end()) return std::nullopt;
          return it->second;
        },
        [this](const std::string& path) -> Result<std::string> {
          reads.push_back(path);
          auto it = files.find(path);
          if (it == files.end())
            return Fail(ErrorCode::kInvalidParameter, "No such file or directory");
          return it->second;
        });
  }
};

std::string ExpectError(World& world, const std::vector<std::string>& args) {
  const Result<EngineConfig> c = world.Load(args);
  EXPECT_FALSE(c.has_value());
  if (c.has_value()) return "";
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidParameter);
  EXPECT_EQ(c.error().message.find('\n'), std::string::npos) << "one line: " << c.error().message;
  return c.error().message;
}

TEST(Config, DefaultsMatchTheDesign) {
  World world;
  const Result<EngineConfig> c = world.Load({});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->listen_host, "0.0.0.0");
  EXPECT_EQ(c->listen_port, 8080);
  EXPECT_EQ(c->role, Role::kAll);
  EXPECT_EQ(c->database_url, "");
  EXPECT_EQ(c->redis_url, "");
  EXPECT_EQ(c->lender_api_url, "");
  EXPECT_EQ(c->data_file, "");
  EXPECT_EQ(c->api_timeout, std::chrono::milliseconds(1000));
  EXPECT_EQ(c->params.v0, Dec("20"));
  EXPECT_EQ(c->params.f_v, Dec("0.01"));
  EXPECT_EQ(c->params.f_e, Dec("0.05"));
  EXPECT_EQ(c->threads, 0);
  EXPECT_EQ(c->body_limit, 65536u);
  EXPECT_EQ(c->audit_min_free, 4u << 20);
  EXPECT_FALSE(c->show_help);
  EXPECT_TRUE(c->positional.empty());
  EXPECT_TRUE(world.reads.empty());
}

TEST(Config, ReadsEveryKeyFromTheEnvironment) {
  World world;
  world.env = {{"PRICING_LISTEN", "127.0.0.1:9090"},
               {"PRICING_ROLE", "calculation"},
               {"PRICING_DATABASE_URL", "postgresql://pricing@localhost:5432/pricing"},
               {"PRICING_REDIS_URL", "redis://localhost:6379/0"},
               {"PRICING_LENDER_API_URL", "http://lender:8000/"},
               {"PRICING_MARKET_API_URL", "https://market.example.com"},
               {"PRICING_EVENTS_API_URL", "http://events:8002"},
               {"PRICING_DATA", "/data/reference-data.yaml"},
               {"PRICING_API_TIMEOUT", "250ms"},
               {"PRICING_VOLATILITY_BASELINE", "18.5"},
               {"PRICING_VOLATILITY_FACTOR", "0.02"},
               {"PRICING_EVENT_FACTOR", "0.1"},
               {"PRICING_AUDIT_DIR", "/var/spool/pricing"},
               {"PRICING_THREADS", "2"},
               {"PRICING_BODY_LIMIT", "1024"},
               {"PRICING_AUDIT_MIN_FREE", "268435456"}};
  const Result<EngineConfig> c = world.Load({});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 9090);
  EXPECT_EQ(c->role, Role::kCalculation);
  EXPECT_EQ(c->database_url, "postgresql://pricing@localhost:5432/pricing");
  EXPECT_EQ(c->redis_url, "redis://localhost:6379/0");
  EXPECT_EQ(c->lender_api_url, "http://lender:8000");  // trailing '/' dropped
  EXPECT_EQ(c->market_api_url, "https://market.example.com");
  EXPECT_EQ(c->events_api_url, "http://events:8002");
  EXPECT_EQ(c->data_file, "/data/reference-data.yaml");
  EXPECT_EQ(c->api_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c->params.v0, Dec("18.5"));
  EXPECT_EQ(c->params.f_v, Dec("0.02"));
  EXPECT_EQ(c->params.f_e, Dec("0.1"));
  EXPECT_EQ(c->audit_dir, "/var/spool/pricing");
  EXPECT_EQ(c->threads, 2);
  EXPECT_EQ(c->body_limit, 1024u);
  EXPECT_EQ(c->audit_min_free, 268435456u);
}

TEST(Config, ConfigFileOverridesEnvironmentAndFlagsOverrideBoth) {
  World world;
  world.env = {
      {"PRICING_LISTEN", "127.0.0.1:1111"}, {"PRICING_ROLE", "gateway"}, {"PRICING_THREADS", "3"}};
  world.files["engine.yaml"] = "listen: 127.0.0.1:2222\nrole: data\n";
  const Result<EngineConfig> c = world.Load({"--config", "engine.yaml", "--role=audit", "serve"});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->listen_port, 2222);   // file beats environment
  EXPECT_EQ(c->role, Role::kAudit);  // flag beats file
  EXPECT_EQ(c->threads, 3);          // environment beats default
  EXPECT_EQ(c->config_file, "engine.yaml");
  EXPECT_EQ(world.reads, std::vector<std::string>{"engine.yaml"});
}

TEST(Config, FlagsOverrideTheEnvironmentWithoutAFile) {
  World world;
  world.env = {{"PRICING_LISTEN", "127.0.0.1:1111"}};
  const Result<EngineConfig> c = world.Load({"--listen", "[::1]:3333"});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->listen_host, "::1");
  EXPECT_EQ(c->listen_port, 3333);
}

TEST(Config, LaterFlagsWin) {
  World world;
  const Result<EngineConfig> c = world.Load({"--threads", "1", "--threads=4"});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->threads, 4);
}

TEST(Config, EmptyValuesUnsetOptionalSettings) {
  World world;
  world.env = {{"PRICING_DATABASE_URL", "postgresql://x"}, {"PRICING_LENDER_API_URL", "http://l"}};
  world.files["c.yaml"] = "database_url:\nlender_api_url: ''\n";
  const Result<EngineConfig> c = world.Load({"--config=c.yaml"});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->database_url, "");
  EXPECT_EQ(c->lender_api_url, "");
}

TEST(Config, CollectsPositionalArgumentsAndHelp) {
  World world;
  const Result<EngineConfig> c =
      world.Load({"seed", "--data", "x.yaml", "file.yaml", "-h", "--", "--not-a-flag", "-"});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->positional, (std::vector<std::string>{"seed", "file.yaml", "--not-a-flag", "-"}));
  EXPECT_TRUE(c->show_help);
  EXPECT_EQ(c->data_file, "x.yaml");
  EXPECT_NE(ConfigHelp().find("--listen"), std::string_view::npos);
  EXPECT_NE(ConfigHelp().find("PRICING_LISTEN"), std::string_view::npos);
}

TEST(ConfigErrors, NameTheFileLineAndKey) {
  World world;
  world.files["config.yaml"] = "# engine settings\nrole: all\n\nthreads: 2\n\n\nlisten: \"x\"\n";
  EXPECT_EQ(ExpectError(world, {"--config", "config.yaml"}),
            "config.yaml:7: listen: \"x\" is not host:port");
  const Result<EngineConfig> c = world.Load({"--config", "config.yaml"});
  EXPECT_EQ(c.error().field, "listen");
}

// Found by tests/fuzz (engine_config): a control character in a value or in
// yaml-cpp's message ("unknown escape character: " and the byte) split the
// one-line error that start-up prints.
TEST(ConfigErrors, StayOneLineWhateverTheValue) {
  World world;
  // ExpectError also checks that the message is one line.
  world.files["bytes.yaml"] = "audit_handoff_url: http://peer:80" + std::string(27, '\xff') +
                              std::string(1, '\0') + "\n" + std::string(18, '\xff') + "80\n";
  EXPECT_TRUE(ExpectError(world, {"--config", "bytes.yaml"}).starts_with("bytes.yaml:"));
  world.files["value.yaml"] = "listen: \"a\\nb\\x01\"\n";
  EXPECT_EQ(ExpectError(world, {"--config", "value.yaml"}),
            "value.yaml:1: listen: \"a\\nb\\x01\" is not host:port");
}

TEST(ConfigErrors, NameTheEnvironmentVariable) {
  World world;
  world.env = {{"PRICING_ROLE", "boss"}};
  EXPECT_EQ(ExpectError(world, {}),
            "environment PRICING_ROLE: \"boss\" is not one of all, gateway, calculation, data, "
            "cache, audit");
}

TEST(ConfigErrors, NameTheFlag) {
  World world;
  EXPECT_EQ(ExpectError(world, {"--threads", "-1"}),
            "--threads: \"-1\" is not an integer from 0 to 256");
  EXPECT_EQ(ExpectError(world, {"--bogus"}), "unknown flag --bogus (see --help)");
  EXPECT_EQ(ExpectError(world, {"-x"}), "unknown flag -x");
  EXPECT_EQ(ExpectError(world, {"--listen"}), "--listen needs a value");
  EXPECT_EQ(ExpectError(world, {"--config"}), "--config needs a value");
}

TEST(ConfigErrors, RejectBadValuesOfEveryKind) {
  World world;
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--listen", "8080"},
                                             {"--listen", "host:99999"},
                                             {"--listen", "::1:8080"},
                                             {"--listen", "host:"},
                                             {"--listen", "a b:80"},
                                             {"--redis-url", "localhost:6379"},
                                             {"--redis-url", "redis://"},
                                             {"--lender-api-url", "ftp://x"},
                                             {"--market-api-url", "http://"},
                                             {"--api-timeout", "0s"},
                                             {"--api-timeout", "61s"},
                                             {"--api-timeout", "1000"},
                                             {"--api-timeout", "0.0005s"},
                                             {"--api-timeout", "abc"},
                                             {"--volatility-baseline", "1000.5"},
                                             {"--volatility-factor", "1.01"},
                                             {"--event-factor", "-0.1"},
                                             {"--threads", "257"},
                                             {"--body-limit", "100"},
                                             {"--body-limit", "64KiB"},
                                             {"--audit-min-free", "65535"},
                                             {"--audit-min-free", "4MiB"},
                                             {"--role", "ALL"}}) {
    const Result<EngineConfig> c = world.Load(args);
    EXPECT_FALSE(c.has_value()) << args[0] << " " << args[1];
    if (!c.has_value()) {
      EXPECT_EQ(c.error().message.rfind(args[0] + ": ", 0), 0u) << c.error().message;
    }
  }
}

TEST(ConfigErrors, AcceptDurationsInSecondsAndMilliseconds) {
  World world;
  EXPECT_EQ(world.Load({"--api-timeout", "1.5s"})->api_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(world.Load({"--api-timeout", "60s"})->api_timeout, std::chrono::milliseconds(60000));
  EXPECT_EQ(world.Load({"--api-timeout", "1ms"})->api_timeout, std::chrono::milliseconds(1));
}

TEST(ConfigErrors, ReportUnreadableAndMalformedFiles) {
  World world;
  EXPECT_EQ(ExpectError(world, {"--config", "missing.yaml"}),
            "--config: cannot read missing.yaml: No such file or directory");
  world.files["list.yaml"] = "- listen\n";
  EXPECT_EQ(ExpectError(world, {"--config", "list.yaml"}),
            "list.yaml: must be a mapping of configuration keys");
  world.files["typo.yaml"] = "role: all\nlistn: 1.2.3.4:5\n";
  EXPECT_EQ(ExpectError(world, {"--config", "typo.yaml"}), "typo.yaml:2: unknown key \"listn\"");
  world.files["nested.yaml"] = "listen:\n  host: x\n";
  EXPECT_EQ(ExpectError(world, {"--config", "nested.yaml"}),
            "nested.yaml:1: listen: must be a single value");
  world.files["broken.yaml"] = "role: [all\n";
  EXPECT_EQ(ExpectError(world, {"--config", "broken.yaml"}).rfind("broken.yaml:", 0), 0u);
}

TEST(Config, AuditSyncDefaultsToFsyncAndAcceptsWrite) {
  World world;
  Result<EngineConfig> c = world.Load({});
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->audit_fsync);
  world.env["PRICING_AUDIT_SYNC"] = "write";
  c = world.Load({});
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->audit_fsync);
  c = world.Load({"--audit-sync", "fsync"});
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->audit_fsync);
  EXPECT_NE(ExpectError(world, {"--audit-sync", "sometimes"}).find("--audit-sync"), std::string::npos);
}

TEST(Roles, RoundTripTheirNames) {
  for (Role r :
       {Role::kAll, Role::kGateway, Role::kCalculation, Role::kData, Role::kCache, Role::kAudit}) {
    EXPECT_EQ(ParseRole(RoleName(r)), r);
  }
  EXPECT_FALSE(ParseRole("Gateway").has_value());
}

}  // namespace
}  // namespace pricing::engine
