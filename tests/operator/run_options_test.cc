#include "op/run_options.h"

#include <gtest/gtest.h>

namespace pricing::op {
namespace {

TEST(RunOptions, DefaultsMatchTheDesign) {
  const Result<RunOptions> o = ParseRunOptions({});
  ASSERT_TRUE(o.has_value());
  EXPECT_FALSE(o->leader_elect);
  EXPECT_EQ(o->lease_duration, std::chrono::seconds(15));
  EXPECT_EQ(o->renew_deadline, std::chrono::seconds(10));
  EXPECT_EQ(o->retry_period, std::chrono::seconds(2));
  EXPECT_EQ(o->metrics_addr, ":8080");
  EXPECT_EQ(o->health_addr, ":8081");
  EXPECT_EQ(o->workers, 2);
  EXPECT_TRUE(o->volatility_allow.empty());  // no volatility host is allowed
  EXPECT_FALSE(o->volatility_allow_http);
  EXPECT_FALSE(o->volatility_engine_key_over_http);
}

TEST(RunOptions, VolatilityAllowIsRepeatableAndCheckedWhenParsed) {
  const Result<RunOptions> o = ParseRunOptions(
      {"--volatility-allow", "market.example.com,.feeds.example.com", "--volatility-allow=10.0.0.0/8",
       "--volatility-allow-http", "--volatility-engine-key-over-http"});
  ASSERT_TRUE(o.has_value()) << ToString(o.error());
  EXPECT_EQ(o->volatility_allow,
            (std::vector<std::string>{"market.example.com,.feeds.example.com", "10.0.0.0/8"}));
  EXPECT_TRUE(o->volatility_allow_http);
  EXPECT_TRUE(o->volatility_engine_key_over_http);
  const Result<RunOptions> bad = ParseRunOptions({"--volatility-allow", "10.0.0.0/33"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message,
            "run: --volatility-allow: \"10.0.0.0/33\" has a prefix length that is not 0..32");
}

TEST(RunOptions, ReadsEveryFlagInBothForms) {
  const Result<RunOptions> o = ParseRunOptions(
      {"--kubeconfig", "k.yaml", "--namespace=desk", "--leader-elect", "--lease-duration", "4s",
       "--renew-deadline=3s", "--retry-period", "500ms", "--metrics-addr", "127.0.0.1:0",
       "--health-addr=0", "--workers", "4", "--kube-api-qps", "50.5", "--kube-api-burst=80",
       "--identity", "op-a", "--log-level", "debug", "--leader-election-id", "pe-lock"});
  ASSERT_TRUE(o.has_value()) << ToString(o.error());
  EXPECT_EQ(o->kubeconfig, "k.yaml");
  EXPECT_EQ(o->namespace_name, "desk");
  EXPECT_TRUE(o->leader_elect);
  EXPECT_EQ(o->lease_duration, std::chrono::seconds(4));
  EXPECT_EQ(o->renew_deadline, std::chrono::seconds(3));
  EXPECT_EQ(o->retry_period, std::chrono::milliseconds(500));
  EXPECT_EQ(o->metrics_addr, "127.0.0.1:0");
  EXPECT_EQ(o->health_addr, "0");
  EXPECT_EQ(o->workers, 4);
  EXPECT_DOUBLE_EQ(o->kube_api_qps, 50.5);
  EXPECT_EQ(o->kube_api_burst, 80);
  EXPECT_EQ(o->identity, "op-a");
  EXPECT_EQ(o->log_level, "debug");
  EXPECT_EQ(o->leader_election_id, "pe-lock");
}

TEST(RunOptions, BadInputNamesTheFlag) {
  const auto message = [](std::vector<std::string> args) {
    const Result<RunOptions> o = ParseRunOptions(args);
    return o ? std::string("accepted") : o.error().message;
  };
  EXPECT_EQ(message({"--bogus"}), "run: unknown flag \"--bogus\" (see run --help)");
  EXPECT_EQ(message({"--workers", "0"}), "run: --workers wants an integer from 1 to 64, not \"0\"");
  EXPECT_EQ(message({"--workers"}), "run: --workers needs a value");
  EXPECT_EQ(message({"--lease-duration", "soon"}),
            "run: --lease-duration wants a duration such as 15s or 1m30s, not \"soon\"");
  EXPECT_EQ(message({"--lease-duration", "5s", "--renew-deadline", "5s"}),
            "run: --renew-deadline must be shorter than --lease-duration");
  EXPECT_EQ(message({"--retry-period", "10s"}),
            "run: --retry-period must be shorter than --renew-deadline");
  EXPECT_EQ(message({"--log-level", "loud"}),
            "run: --log-level wants debug, info, warn or error, not \"loud\"");
  EXPECT_EQ(message({"--namespace", "a", "--namespace", "b"}), "run: --namespace is given twice");
  EXPECT_EQ(message({"--kube-api-qps", "0"}),
            "run: --kube-api-qps wants a number above 0 and at most 10000, not \"0\"");
}

}  // namespace
}  // namespace pricing::op
