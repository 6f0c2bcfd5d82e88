// Runs the built `pricing-operator` binary (PRICING_OPERATOR_BINARY, set by
// CMake to the target's path) the way a user does, and checks exit status and
// output.
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common/testing/shell.h"
#include "op/yaml.h"

namespace {

struct Outcome {
  int status = -1;
  std::string out;
  std::string err;
};

std::string Quote(const std::string& s) { return pricing::testing_shell::ShellQuote(s); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the binary with `args` (already quoted where needed); `input` is
// redirected to standard input when not empty.
Outcome Operator(const std::string& args, const std::string& input = "") {
  const std::string dir = ::testing::TempDir();
  const std::string out = dir + "/cli_out_" + std::to_string(::getpid());
  const std::string err = dir + "/cli_err_" + std::to_string(::getpid());
  std::string command =
      Quote(PRICING_OPERATOR_BINARY) + " " + args + " >" + Quote(out) + " 2>" + Quote(err);
  if (!input.empty()) command += " <" + Quote(input);
  const int raw = std::system(command.c_str());
  Outcome r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = Slurp(out);
  r.err = Slurp(err);
  std::remove(out.c_str());
  std::remove(err.c_str());
  return r;
}

std::string Testdata(const std::string& name) {
  return Quote(std::string(PRICING_OPERATOR_TESTDATA_DIR) + "/" + name);
}

size_t DocumentSeparators(const std::string& yaml) {
  size_t n = 0;
  std::istringstream lines(yaml);
  for (std::string line; std::getline(lines, line);) n += line == "---";
  return n;
}

TEST(RenderCli, PrintsFourYamlDocumentsPerComponent) {
  const Outcome r =
      Operator("render -f " + Testdata("pricingengine.yaml") + " --at 2026-11-30T15:00:00Z");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(DocumentSeparators(r.out), 8u);
  const pricing::op::Result<std::vector<nlohmann::json>> docs = pricing::op::ParseYamlStream(r.out);
  ASSERT_TRUE(docs.has_value()) << docs.error().message;
  ASSERT_EQ(docs->size(), 8u);
  const char* kinds[] = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"};
  for (size_t i = 0; i < docs->size(); ++i) EXPECT_EQ((*docs)[i]["kind"], kinds[i % 4]);
}

TEST(RenderCli, RendersTheSameBytesTwice) {
  const std::string args =
      "render -f " + Testdata("pricingengine.yaml") + " --at 2026-12-05T03:00:00Z --vix 31";
  const Outcome first = Operator(args);
  const Outcome second = Operator(args);
  EXPECT_EQ(first.status, 0);
  EXPECT_EQ(first.out, second.out);
  EXPECT_FALSE(first.out.empty());
}

TEST(RenderCli, PrintsAJsonList) {
  const Outcome r = Operator("render -f " + Testdata("pricingengine.yaml") +
                             " --at=2026-11-30T15:00:00Z -o json");
  EXPECT_EQ(r.status, 0) << r.err;
  const nlohmann::json list = nlohmann::json::parse(r.out);
  EXPECT_EQ(list["kind"], "List");
  EXPECT_EQ(list["items"].size(), 8u);
}

TEST(RenderCli, ReadsStandardInput) {
  const Outcome r = Operator("render -f - --at 2026-11-30T15:00:00Z",
                             std::string(PRICING_OPERATOR_TESTDATA_DIR) + "/pricingengine.yaml");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(DocumentSeparators(r.out), 8u);
}

TEST(RenderCli, AnInvalidCrExitsOneNamingTheField) {
  const Outcome r = Operator("render -f " + Testdata("invalid-min-above-max.yaml"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "pricing-operator: spec.components[0].replicas.min: min (5) is greater than max (3)\n");
}

TEST(RenderCli, AMissingFileExitsOne) {
  const Outcome r = Operator("render -f " + Testdata("no-such-file.yaml"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
}

TEST(RunCli, ABadKubeconfigStopsWithOneLineNamingIt) {
  const Outcome r = Operator("run --kubeconfig " + Testdata("no-such-kubeconfig"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot load the cluster configuration"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no-such-kubeconfig"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(RunCli, HelpListsTheFlags) {
  const Outcome r = Operator("run --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--leader-elect"), std::string::npos) << r.out;
}

TEST(RenderCli, UsageErrorsExitTwo) {
  Outcome r = Operator("serve");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "pricing-operator: unknown command \"serve\"; see pricing-operator --help\n");
  r = Operator("run --workers 0");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--workers"), std::string::npos) << r.err;
  r = Operator("render --vix 20");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "pricing-operator: render: -f FILE is required\n");
  r = Operator("");
  EXPECT_EQ(r.status, 2);
}

TEST(ExplainCli, PrintsTheReport) {
  const Outcome r = Operator("explain -f " + Testdata("pricingengine.yaml") +
                             " --at 2026-12-04T20:55:00Z --vix 31 --horizon 1d");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.rfind("PricingEngine trading/pricing at 2026-12-04T20:55:00Z", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("phase Regular ends; phase PostMarket starts"), std::string::npos);
}

TEST(ExplainCli, BadInputExitsOneAndUsageTwo) {
  Outcome r = Operator("explain -f " + Testdata("invalid-min-above-max.yaml"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "pricing-operator: spec.components[0].replicas.min: min (5) is greater than max (3)\n");
  r = Operator("explain -f " + Testdata("no-such-file.yaml"));
  EXPECT_EQ(r.status, 1);
  r = Operator("explain -f " + Testdata("pricingengine.yaml") + " --horizon 7w");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err,
            "pricing-operator: explain: --horizon \"7w\" is not a duration from 1s to 366d such "
            "as 7d, 36h or 1d12h\n");
  r = Operator("explain");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "pricing-operator: explain: -f FILE is required\n");
}

TEST(RenderCli, HelpExitsZero) {
  const Outcome r = Operator("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("pricing-operator render -f FILE"), std::string::npos);
  EXPECT_NE(r.out.find("pricing-operator explain -f FILE"), std::string::npos);
  EXPECT_EQ(r.err, "");
}

}  // namespace
