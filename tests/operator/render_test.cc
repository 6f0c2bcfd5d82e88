#include "op/render.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

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

TEST(RenderCommandLine, RejectsBadUsage) {
  EXPECT_EQ(UsageError({}), "a command is required; see pricing-operator --help");
  EXPECT_EQ(UsageError({"run"}), "unknown command \"run\"; see pricing-operator --help");
  EXPECT_EQ(UsageError({"explain", "-f", "x"}),
            "unknown command \"explain\"; see pricing-operator --help");
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
  EXPECT_EQ((*docs)[2]["spec"]["minReplicas"], 3);
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
