#include "op/render.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "op/desired.h"
#include "op/yaml.h"
#include "test_util.h"

namespace pricing::op {
namespace {

using nlohmann::json;
using testing::At;
using testing::ReadTestFile;
using testing::TestdataPath;

Command MustParseArgs(const std::vector<std::string>& args) {
  const Result<Command> c = ParseCommandLine(args);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return c.value_or(Command{});
}

std::string UsageError(const std::vector<std::string>& args) {
  const Result<Command> c = ParseCommandLine(args);
  EXPECT_FALSE(c.has_value());
  return c ? "" : ToString(c.error());
}

TEST(RenderCommandLine, ReadsEveryFlag) {
  const Command c = MustParseArgs(
      {"render", "-f", "cr.yaml", "--at", "2026-11-27T15:00:00Z", "--vix", "31.5", "-o", "json"});
  EXPECT_EQ(c.kind, Command::Kind::kRender);
  EXPECT_EQ(c.render.file, "cr.yaml");
  EXPECT_EQ(c.render.at, At("2026-11-27T15:00:00Z"));
  EXPECT_EQ(c.render.vix, 31.5);
  EXPECT_EQ(c.render.format, OutputFormat::kJson);

  const Command eq = MustParseArgs(
      {"render", "--filename=-", "--at=2026-11-27T10:00:00-05:00", "--vix=20", "--output=yaml"});
  EXPECT_EQ(eq.render.file, "-");
  EXPECT_EQ(eq.render.at, At("2026-11-27T15:00:00Z"));
  EXPECT_EQ(eq.render.vix, 20.0);
  EXPECT_EQ(eq.render.format, OutputFormat::kYaml);

  const Command defaults = MustParseArgs({"render", "-f", "cr.yaml"});
  EXPECT_EQ(defaults.render.at, std::nullopt);
  EXPECT_EQ(defaults.render.vix, std::nullopt);
  EXPECT_EQ(defaults.render.format, OutputFormat::kYaml);
}

TEST(RenderCommandLine, HelpIsACommand) {
  EXPECT_EQ(MustParseArgs({"--help"}).kind, Command::Kind::kHelp);
  EXPECT_EQ(MustParseArgs({"-h"}).kind, Command::Kind::kHelp);
  EXPECT_EQ(MustParseArgs({"render", "--help"}).kind, Command::Kind::kHelp);
  EXPECT_NE(UsageText().find("render -f FILE [--at RFC3339] [--vix N] [-o yaml|json]"),
            std::string::npos);
}

TEST(RenderCommandLine, ReadsExplainFlags) {
  const Command c = MustParseArgs({"explain", "-f", "cr.yaml", "--at", "2026-11-27T15:00:00Z",
                                   "--vix", "31.5", "--horizon", "36h"});
  EXPECT_EQ(c.kind, Command::Kind::kExplain);
  EXPECT_EQ(c.explain.file, "cr.yaml");
  EXPECT_EQ(c.explain.at, At("2026-11-27T15:00:00Z"));
  EXPECT_EQ(c.explain.vix, 31.5);
  EXPECT_EQ(c.explain.horizon, std::chrono::hours{36});
  const Command defaults = MustParseArgs({"explain", "--filename=-"});
  EXPECT_EQ(defaults.explain.file, "-");
  EXPECT_EQ(defaults.explain.at, std::nullopt);
  EXPECT_EQ(defaults.explain.vix, std::nullopt);
  EXPECT_EQ(defaults.explain.horizon, std::chrono::hours{7 * 24});
  EXPECT_EQ(MustParseArgs({"explain", "--help"}).kind, Command::Kind::kHelp);
  EXPECT_NE(UsageText().find("explain -f FILE [--at RFC3339] [--vix N] [--horizon 7d]"),
            std::string::npos);
}

TEST(RenderCommandLine, ReadsHorizons) {
  using std::chrono::hours;
  using std::chrono::minutes;
  EXPECT_EQ(ParseHorizon("7d"), hours{168});
  EXPECT_EQ(ParseHorizon("1d12h"), hours{36});
  EXPECT_EQ(ParseHorizon("36h"), hours{36});
  EXPECT_EQ(ParseHorizon("90m"), minutes{90});
  EXPECT_EQ(ParseHorizon("366d"), hours{366 * 24});
  EXPECT_EQ(ParseHorizon("d"), std::nullopt);
  EXPECT_EQ(ParseHorizon("7 d"), std::nullopt);
  EXPECT_EQ(ParseHorizon("1d1d"), std::nullopt);
  EXPECT_EQ(ParseHorizon("-1d"), std::nullopt);
  EXPECT_EQ(ParseHorizon("1w"), std::nullopt);
}

TEST(RenderCommandLine, RejectsBadUsage) {
  EXPECT_EQ(UsageError({}), "a command is required; see pricing-operator --help");
  EXPECT_EQ(UsageError({"run"}), "unknown command \"run\"; see pricing-operator --help");
  EXPECT_EQ(UsageError({"explain", "-f", "x", "-o", "json"}), "explain: unknown flag \"-o\"");
  EXPECT_EQ(UsageError({"explain", "--at", "2026-11-27T15:00:00Z"}),
            "explain: -f FILE is required");
  EXPECT_EQ(UsageError({"explain", "-f", "x", "--horizon", "7 days"}),
            "explain: --horizon \"7 days\" is not a duration from 1s to 366d such as 7d, 36h or "
            "1d12h");
  EXPECT_EQ(UsageError({"explain", "-f", "x", "--horizon", "367d"}),
            "explain: --horizon \"367d\" is not a duration from 1s to 366d such as 7d, 36h or "
            "1d12h");
  EXPECT_EQ(UsageError({"explain", "-f", "x", "--horizon", "0d"}),
            "explain: --horizon \"0d\" is not a duration from 1s to 366d such as 7d, 36h or "
            "1d12h");
  EXPECT_EQ(UsageError({"render"}), "render: -f FILE is required");
  EXPECT_EQ(UsageError({"render", "-f"}), "render: -f needs a value");
  EXPECT_EQ(UsageError({"render", "-f", "a", "-f", "b"}), "render: -f is given more than once");
  EXPECT_EQ(UsageError({"render", "-f", "a", "--horizon", "7d"}),
            "render: unknown flag \"--horizon\"");
  EXPECT_EQ(UsageError({"render", "-f", "a", "--at", "yesterday"}),
            "render: --at \"yesterday\" is not an RFC 3339 time such as 2026-11-27T15:00:00Z");
  EXPECT_EQ(UsageError({"render", "-f", "a", "--vix", "-3"}),
            "render: --vix \"-3\" is not a non-negative number such as 31.5");
  EXPECT_EQ(UsageError({"render", "-f", "a", "--vix", "31x"}),
            "render: --vix \"31x\" is not a non-negative number such as 31.5");
  EXPECT_EQ(UsageError({"render", "-f", "a", "-o", "table"}),
            "render: -o \"table\" is not yaml or json");
  EXPECT_EQ(UsageError({"--help", "extra"}), "--help takes no arguments");
}

TEST(Render, PrintsFourDocumentsPerComponent) {
  const Result<Rendered> r = Render(ReadTestFile(TestdataPath("pricingengine.yaml")),
                                    At("2026-11-30T15:00:00Z"), std::nullopt, OutputFormat::kYaml);
  ASSERT_TRUE(r.has_value()) << ToString(r.error());
  EXPECT_TRUE(r->notes.empty());
  EXPECT_EQ(r->text.rfind("---\napiVersion: apps/v1\nkind: Deployment\n", 0), 0u);
  const Result<std::vector<json>> docs = ParseYamlStream(r->text);
  ASSERT_TRUE(docs.has_value());
  ASSERT_EQ(docs->size(), 8u);
  EXPECT_EQ((*docs)[2]["kind"], "HorizontalPodAutoscaler");
  // Monday 10:00 New York: the Regular phase raises calculation to 10.
  EXPECT_EQ((*docs)[2]["spec"]["minReplicas"], 10);
}

TEST(Render, PrintsAJsonList) {
  const Result<Rendered> r = Render(ReadTestFile(TestdataPath("pricingengine.yaml")),
                                    At("2026-11-28T12:00:00Z"), 35.0, OutputFormat::kJson);
  ASSERT_TRUE(r.has_value()) << ToString(r.error());
  const json list = json::parse(r->text);
  EXPECT_EQ(list["apiVersion"], "v1");
  EXPECT_EQ(list["kind"], "List");
  ASSERT_EQ(list["items"].size(), 8u);
  // Override active at 12:00Z: calculation pinned at 30.
  EXPECT_EQ(list["items"][2]["spec"]["minReplicas"], 30);
  EXPECT_EQ(list["items"][2]["spec"]["maxReplicas"], 30);
  EXPECT_EQ(r->text.back(), '\n');
}

TEST(Render, YamlAndJsonHoldTheSameObjects) {
  const std::string cr = ReadTestFile(TestdataPath("pricingengine.yaml"));
  const TimePoint at = At("2026-12-05T03:00:00Z");
  const Result<Rendered> yaml = Render(cr, at, 26.0, OutputFormat::kYaml);
  const Result<Rendered> list = Render(cr, at, 26.0, OutputFormat::kJson);
  ASSERT_TRUE(yaml.has_value());
  ASSERT_TRUE(list.has_value());
  const Result<std::vector<json>> docs = ParseYamlStream(yaml->text);
  ASSERT_TRUE(docs.has_value());
  EXPECT_EQ(json(*docs), json::parse(list->text)["items"]);
}

TEST(Render, AnInvalidCrNamesTheField) {
  const Result<Rendered> r = Render(ReadTestFile(TestdataPath("invalid-min-above-max.yaml")),
                                    At("2026-11-30T15:00:00Z"), std::nullopt, OutputFormat::kYaml);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(ToString(r.error()),
            "spec.components[0].replicas.min: min (5) is greater than max (3)");
}

TEST(Render, SeveralDocumentsRenderInOrderAndErrorsNameTheDocument) {
  const std::string cr = ReadTestFile(TestdataPath("pricingengine.yaml"));
  const std::string other = R"(
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: second}
spec:
  image: engine:2
  components: [{name: calc, replicas: {min: 1, max: 2}}]
)";
  const Result<Rendered> both =
      Render(cr + "---\n" + other, At("2026-11-30T15:00:00Z"), std::nullopt, OutputFormat::kJson);
  ASSERT_TRUE(both.has_value()) << ToString(both.error());
  const json items = json::parse(both->text)["items"];
  ASSERT_EQ(items.size(), 12u);
  EXPECT_EQ(items[8]["metadata"]["name"], "second-calc");

  const Result<Rendered> bad =
      Render(cr + "---\n" + other + "  paused: maybe\n", At("2026-11-30T15:00:00Z"), std::nullopt,
             OutputFormat::kYaml);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(ToString(bad.error()), "document 2: spec.paused: must be true or false");
}

TEST(Render, NotesAPausedCr) {
  const Result<Rendered> r = Render(R"(
metadata: {name: frozen}
spec:
  image: engine:1
  paused: true
  components: [{name: calc, replicas: {min: 1, max: 2}}]
)",
                                    At("2026-11-30T15:00:00Z"), std::nullopt, OutputFormat::kYaml);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0],
            "PricingEngine frozen is paused: the operator leaves its children as they are and "
            "applies none of these");
  EXPECT_FALSE(r->text.empty());
}

TEST(Render, RejectsFilesWithoutAPricingEngine) {
  const Result<Rendered> empty =
      Render("# nothing\n", At("2026-11-30T15:00:00Z"), std::nullopt, OutputFormat::kYaml);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().message, "the file holds no PricingEngine");
  const Result<Rendered> syntax =
      Render("spec: [\n", At("2026-11-30T15:00:00Z"), std::nullopt, OutputFormat::kYaml);
  ASSERT_FALSE(syntax.has_value());
  EXPECT_EQ(syntax.error().message.rfind("line ", 0), 0u) << syntax.error().message;
  const Result<Rendered> deployment =
      Render("apiVersion: apps/v1\nkind: Deployment\n", At("2026-11-30T15:00:00Z"), std::nullopt,
             OutputFormat::kYaml);
  ASSERT_FALSE(deployment.has_value());
  EXPECT_EQ(ToString(deployment.error()), "apiVersion: must be pricing.borrowrate.io/v1alpha1");
}

TEST(Explain, ShowsLayersReasonsAndUpcomingTransitions) {
  // Friday 2026-12-04 15:55 New York, VIX 31: Regular with PostMarket's
  // floors already applied (lead time 10m), regime High, onboarding-acme.
  const Result<std::string> r = Explain(ReadTestFile(TestdataPath("pricingengine.yaml")),
                                        At("2026-12-04T20:55:00Z"), 31.0, std::chrono::hours{24});
  ASSERT_TRUE(r.has_value()) << ToString(r.error());
  const std::string& text = *r;
  for (const char* line : {
           "PricingEngine trading/pricing at 2026-12-04T20:55:00Z (2026-12-04 15:55 EST, "
           "America/New_York)\n",
           "Market: Regular day (calendar NYSE), phase Regular\n",
           "Volatility: 31 selects regime High (no history: the highest regime whose enterAbove "
           "the value exceeds)\n",
           "Override: expired at 2026-11-28T18:00:00Z (traffic spike INC-1234)\n",
           "  base, phase Regular, phase PostMarket (lead time), regime High, event "
           "onboarding-acme\n",
           "  COMPONENT    MIN  MAX  CPU  PDB\n",
           "  calculation  15   40   60%  minAvailable=2\n",
           "  api-gateway  6    20   60%  maxUnavailable=1\n",
           "    min=6 by phase Regular\n",
           "    max=20 by event onboarding-acme\n",
           "Upcoming transitions within 1d (volatility assumed to stay at 31):\n",
           "  AT (UTC)              AT (America/New_York)  CHANGE                                "
           "         calculation     api-gateway\n",
           "  2026-12-04T21:00:00Z  2026-12-04 16:00 EST   phase Regular ends; phase PostMarket "
           "starts    15..40 cpu 60%  3..20 cpu 60%\n",
           "  2026-12-05T02:00:00Z  2026-12-04 21:00 EST   event node-rotation starts            "
           "         15..40 cpu 60%  6..20 cpu 60%\n",
           "  2026-12-05T13:00:00Z  2026-12-05 08:00 EST   phase Overnight ends                  "
           "         15..40 cpu 60%  3..20 cpu 60%\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing:\n" << line << "\nin:\n" << text;
  }
  // Overnight sets no floor: no lead-time row for it.
  EXPECT_EQ(text.find("Overnight lead time"), std::string::npos);
}

TEST(Explain, SaysWhenNothingChangesAndWhenPaused) {
  const std::string cr = R"(
metadata: {name: frozen}
spec:
  image: engine:1
  paused: true
  components: [{name: calc, replicas: {min: 1, max: 2}}]
)";
  const Result<std::string> r =
      Explain(cr, At("2026-11-29T15:00:00Z"), std::nullopt, std::chrono::hours{168});
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->find("Paused: the operator leaves the children as they are"), std::string::npos);
  EXPECT_NE(r->find("Market: Weekend day (calendar NYSE), phase Closed\n"), std::string::npos);
  EXPECT_NE(r->find("Volatility: no volatility policy\n"), std::string::npos);
  EXPECT_NE(r->find("Upcoming transitions within 7d:\n  none\n"), std::string::npos) << *r;
}

TEST(Explain, ExplainsEveryDocumentAndNamesTheBadOne) {
  const std::string cr = ReadTestFile(TestdataPath("pricingengine.yaml"));
  const std::string other =
      "metadata: {name: second}\nspec:\n  image: e:1\n  components: "
      "[{name: calc, replicas: {min: 1, max: 2}}]\n";
  const Result<std::string> both = Explain(cr + "---\n" + other, At("2026-11-29T15:00:00Z"),
                                           std::nullopt, std::chrono::hours{1});
  ASSERT_TRUE(both.has_value());
  EXPECT_NE(both->find("\n\nPricingEngine second at "), std::string::npos);
  const Result<std::string> bad =
      Explain(cr + "---\n" + other + "  paused: maybe\n", At("2026-11-29T15:00:00Z"), std::nullopt,
              std::chrono::hours{1});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(ToString(bad.error()), "document 2: spec.paused: must be true or false");
}

TEST(Explain, LimitsTheTable) {
  const Result<std::string> r =
      Explain(ReadTestFile(TestdataPath("pricingengine.yaml")), At("2026-11-29T15:00:00Z"),
              std::nullopt, std::chrono::hours{366 * 24});
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->find(" more within the horizon; use a shorter --horizon\n"), std::string::npos);
}

// The production example: the scaling guide as one resource.
TEST(Render, SeedProductionExampleIsValidAndEncodesTheGuide) {
  const std::filesystem::path seed =
      std::filesystem::path(PRICING_EXAMPLES_DIR) / "pricingengine-seed-production.yaml";
  if (!std::filesystem::exists(seed)) GTEST_SKIP() << seed << " is not in this checkout";
  const std::string text = ReadTestFile(seed.string());
  const Result<json> object = ParseYaml(text);
  ASSERT_TRUE(object.has_value());
  const Result<PricingEngine> pe = ParsePricingEngine(*object);
  ASSERT_TRUE(pe.has_value()) << ToString(pe.error());
  std::vector<std::string> roles;
  for (const Component& c : pe->spec.components) roles.push_back(c.name + "/" + c.role);
  EXPECT_EQ(roles, (std::vector<std::string>{"api-gateway/gateway", "calculation/calculation",
                                             "data/data", "cache/cache", "audit/audit"}));
  const Result<Rendered> r = Render(text, At("2027-01-08T15:00:00Z"), 32.0, OutputFormat::kJson);
  ASSERT_TRUE(r.has_value()) << ToString(r.error());
  const json items = json::parse(r->text)["items"];
  ASSERT_EQ(items.size(), 20u);
  // VIX 32: regime High pins calculation at 15..40 and CPU 60%.
  const json& calc_hpa = items[6]["spec"];
  EXPECT_EQ(calc_hpa["minReplicas"], 15);
  EXPECT_EQ(calc_hpa["maxReplicas"], 40);
  EXPECT_EQ(calc_hpa["metrics"][0]["resource"]["target"]["averageUtilization"], 60);
  // ... and, as the guide's `kubectl patch` of calculation's HPA alone, no
  // other component's target: every other HPA keeps its base CPU target.
  const std::map<std::string, int> base_cpu = {
      {"pricing-api-gateway", 70}, {"pricing-data", 70}, {"pricing-cache", 75}, {"pricing-audit", 80}};
  for (const json& item : items) {
    if (item["kind"] != "HorizontalPodAutoscaler") continue;
    const std::string name = item["metadata"]["name"];
    if (name == "pricing-calculation") continue;
    SCOPED_TRACE(name);
    ASSERT_EQ(base_cpu.count(name), 1u);
    EXPECT_EQ(item["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
              base_cpu.at(name));
  }
  // The guide's base numbers: calculation's CPU target 80; data 3..15 on CPU
  // 70 and its connection pools; api-gateway also on requests per pod.
  const auto find = [&](const std::string& name) -> const Component& {
    for (const Component& c : pe->spec.components) {
      if (c.name == name) return c;
    }
    ADD_FAILURE() << "no component " << name;
    return pe->spec.components[0];
  };
  EXPECT_EQ(find("calculation").autoscaling.target_cpu_utilization_percentage, 80);
  const Component& data = find("data");
  EXPECT_EQ(data.replicas.min, 3);
  EXPECT_EQ(data.replicas.max, 15);
  EXPECT_EQ(data.autoscaling.target_cpu_utilization_percentage, 70);
  ASSERT_EQ(data.autoscaling.pods_metrics.size(), 1u);
  EXPECT_EQ(data.autoscaling.pods_metrics[0].name, "database_connections_percentage");
  const Component& gateway = find("api-gateway");
  ASSERT_EQ(gateway.autoscaling.pods_metrics.size(), 1u);
  EXPECT_EQ(gateway.autoscaling.pods_metrics[0].name, "http_requests_per_second");
  EXPECT_EQ(gateway.autoscaling.pods_metrics[0].average_value.text, "800");
  // Every Deployment rolls one pod at a time without going below its count;
  // the critical services never share a node, calculation and cache prefer
  // not to. No node placement: every environment builds on this file.
  for (size_t i = 0; i < items.size(); i += 4) {
    const json& deployment = items[i];
    const std::string name = deployment["metadata"]["name"];
    ASSERT_EQ(deployment["kind"], "Deployment") << name;
    EXPECT_EQ(deployment["spec"]["strategy"]["rollingUpdate"],
              json({{"maxSurge", 1}, {"maxUnavailable", 0}}))
        << name;
    const json& pod = deployment["spec"]["template"]["spec"];
    const bool critical =
        name == "pricing-api-gateway" || name == "pricing-data" || name == "pricing-audit";
    EXPECT_EQ(pod["affinity"]["podAntiAffinity"].contains(
                  "requiredDuringSchedulingIgnoredDuringExecution"),
              critical)
        << name;
    EXPECT_FALSE(pod.contains("nodeSelector")) << name;
    EXPECT_FALSE(pod.contains("tolerations")) << name;
  }
  // During the node rotation: floors of 6 and a 70% budget everywhere.
  const Result<Desired> rotation =
      ComputeDesired(*pe, At("2027-01-09T03:00:00Z"), std::optional<double>{});
  ASSERT_TRUE(rotation.has_value());
  for (const ComponentDesired& c : rotation->components) {
    EXPECT_EQ(c.bounds.min_replicas, 6) << c.name;
    EXPECT_EQ(c.pod_disruption_budget["spec"]["minAvailable"], "70%") << c.name;
  }
  // 08:00 New York on a trading day: PreMarket.
  const Result<Desired> premarket =
      ComputeDesired(*pe, At("2027-01-08T13:00:00Z"), std::optional<double>{});
  ASSERT_TRUE(premarket.has_value());
  EXPECT_EQ(premarket->market_phase, "PreMarket");
  EXPECT_TRUE(Explain(text, At("2027-01-08T13:00:00Z"), 25.0, std::chrono::hours{168}).has_value());
}

// The planned-load example: from T-1d every floor +50 % (rounded up) and
// every ceiling +100 %, and at T+7d the base bounds again, with no one acting.
TEST(Render, PlannedOnboardingRaisesEveryBoundFromTMinusOneDayToTPlusSeven) {
  const std::filesystem::path file =
      std::filesystem::path(PRICING_EXAMPLES_DIR) / "planned-onboarding.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " is not in this checkout";
  const Result<json> object = ParseYaml(ReadTestFile(file.string()));
  ASSERT_TRUE(object.has_value());
  const Result<PricingEngine> pe = ParsePricingEngine(*object);
  ASSERT_TRUE(pe.has_value()) << ToString(pe.error());
  const auto bounds_at = [&](const char* at) {
    std::vector<std::string> out;
    const Result<Desired> d = ComputeDesired(*pe, At(at), std::optional<double>{});
    EXPECT_TRUE(d.has_value()) << at;
    if (!d) return out;
    for (const ComponentDesired& c : d->components) {
      out.push_back(c.name + " " + std::to_string(c.bounds.min_replicas) + ".." +
                    std::to_string(c.bounds.max_replicas));
    }
    return out;
  };
  const std::vector<std::string> base = {"api-gateway 3..20", "calculation 3..30", "data 2..8",
                                         "cache 2..6", "audit 2..4"};
  const std::vector<std::string> raised = {"api-gateway 5..40", "calculation 5..60",
                                           "data 3..16", "cache 3..12", "audit 3..8"};
  EXPECT_EQ(bounds_at("2027-01-31T14:29:59Z"), base);
  EXPECT_EQ(bounds_at("2027-01-31T14:30:00Z"), raised);
  EXPECT_EQ(bounds_at("2027-02-01T14:30:00Z"), raised);  // T: go-live at the open
  EXPECT_EQ(bounds_at("2027-02-08T14:29:59Z"), raised);
  EXPECT_EQ(bounds_at("2027-02-08T14:30:00Z"), base);
}

// The emergency example: the named components are pinned (HPA min = max)
// until expires, the others keep their bounds, and the pin lifts by itself.
TEST(Render, EmergencyOverridePinsTheNamedComponentsUntilItExpires) {
  const std::filesystem::path file =
      std::filesystem::path(PRICING_EXAMPLES_DIR) / "emergency-override.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " is not in this checkout";
  const std::string text = ReadTestFile(file.string());
  const auto hpa_bounds_at = [&](const char* at) {
    std::vector<std::string> out;
    const Result<Rendered> r = Render(text, At(at), std::nullopt, OutputFormat::kJson);
    EXPECT_TRUE(r.has_value()) << at << (r ? "" : ToString(r.error()));
    if (!r) return out;
    const json doc = json::parse(r->text);
    for (const json& item : doc["items"]) {
      if (item["kind"] != "HorizontalPodAutoscaler") continue;
      out.push_back(item["metadata"]["name"].get<std::string>() + " " +
                    std::to_string(item["spec"]["minReplicas"].get<int>()) + ".." +
                    std::to_string(item["spec"]["maxReplicas"].get<int>()));
    }
    return out;
  };
  const std::vector<std::string> pinned = {"emergency-api-gateway 12..12",
                                           "emergency-calculation 30..30", "emergency-data 3..15",
                                           "emergency-cache 2..6", "emergency-audit 2..4"};
  const std::vector<std::string> lifted = {"emergency-api-gateway 3..20",
                                           "emergency-calculation 3..30", "emergency-data 3..15",
                                           "emergency-cache 2..6", "emergency-audit 2..4"};
  EXPECT_EQ(hpa_bounds_at("2027-03-15T19:30:00Z"), pinned);
  EXPECT_EQ(hpa_bounds_at("2027-03-15T21:59:59Z"), pinned);
  EXPECT_EQ(hpa_bounds_at("2027-03-15T22:00:00Z"), lifted);
}

// The examples the CRD's author wrote: the minimal one renders, and every one
// under examples/invalid/ is rejected by the operator as well as by the CRD.
TEST(Render, RepositoryExamplesAreAcceptedOrRejectedAsLabelled) {
  const std::filesystem::path examples = PRICING_EXAMPLES_DIR;
  const std::filesystem::path minimal = examples / "pricingengine-minimal.yaml";
  if (!std::filesystem::exists(minimal)) GTEST_SKIP() << minimal << " is not in this checkout";
  const Result<Rendered> r = Render(ReadTestFile(minimal.string()), At("2026-11-30T15:00:00Z"),
                                    std::nullopt, OutputFormat::kYaml);
  ASSERT_TRUE(r.has_value()) << ToString(r.error());
  const Result<std::vector<json>> docs = ParseYamlStream(r->text);
  ASSERT_TRUE(docs.has_value());
  const Result<json> cr = ParseYaml(ReadTestFile(minimal.string()));
  ASSERT_TRUE(cr.has_value());
  EXPECT_EQ(docs->size(), 4 * (*cr)["spec"]["components"].size());

  const std::filesystem::path invalid = examples / "invalid";
  if (!std::filesystem::is_directory(invalid)) return;
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(invalid)) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    const Result<Rendered> rejected =
        Render(ReadTestFile(entry.path().string()), At("2026-11-30T15:00:00Z"), std::nullopt,
               OutputFormat::kYaml);
    EXPECT_FALSE(rejected.has_value()) << entry.path();
    if (!rejected) {
      EXPECT_FALSE(rejected.error().field.empty()) << entry.path();
    }
  }
  EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace pricing::op
