#include "op/yaml.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pricing::op {
namespace {

using nlohmann::json;

json MustParse(const std::string& yaml) {
  const Result<json> doc = ParseYaml(yaml);
  EXPECT_TRUE(doc.has_value()) << (doc ? "" : doc.error().message);
  return doc.value_or(json());
}

// Returns the JSON value of `scalar` as the value of key "v".
json ScalarValue(const std::string& scalar) { return MustParse("v: " + scalar + "\n")["v"]; }

TEST(Yaml, PlainScalarsResolveByTheCoreSchema) {
  struct Case {
    std::string yaml;
    json expected;
  };
  const std::vector<Case> cases = {
      {"80", 80},
      {"-3", -3},
      {"+7", 7},
      {"0x1F", 31},
      {"0o17", 15},
      {"31.5", 31.5},
      {"1e3", 1000.0},
      {".5", 0.5},
      {"-2.5E-1", -0.25},
      {"true", true},
      {"False", false},
      {"TRUE", true},
      {"~", nullptr},
      {"null", nullptr},
      {"", nullptr},
      {"500m", "500m"},
      {"1Gi", "1Gi"},
      {"yes", "yes"},
      {"on", "on"},
      {"open-90m", "open-90m"},
      {"08:00", "08:00"},
      {"2026-11-28T18:00:00Z", "2026-11-28T18:00:00Z"},
      {"registry.example.com/pricing-engine:1.0.0", "registry.example.com/pricing-engine:1.0.0"},
      {"9223372036854775807", int64_t{9223372036854775807}},
      {"18446744073709551615", uint64_t{18446744073709551615u}},
      {"-9223372036854775808", INT64_MIN},
  };
  for (const Case& c : cases) {
    const json v = ScalarValue(c.yaml);
    EXPECT_EQ(v, c.expected) << c.yaml << " gave " << v.dump();
    EXPECT_EQ(v.type(), c.expected.type()) << c.yaml;
  }
  EXPECT_TRUE(ScalarValue("99999999999999999999999").is_number_float());
}

TEST(Yaml, QuotedAndBlockScalarsStayStrings) {
  // Each quoted scalar, and the string it must stay.
  for (const auto& [quoted, text] : std::vector<std::pair<std::string, std::string>>{
           {"\"80\"", "80"}, {"'true'", "true"}, {"'null'", "null"}, {"''", ""}, {"\"2\"", "2"}}) {
    EXPECT_EQ(ScalarValue(quoted), text) << quoted;
  }
  EXPECT_EQ(MustParse("v: |\n  12\n")["v"], "12\n");
  EXPECT_EQ(MustParse("v: >-\n  a\n  b\n")["v"], "a b");
}

TEST(Yaml, ExplicitTagsAreHonoured) {
  EXPECT_EQ(ScalarValue("!!str 12"), "12");
  EXPECT_EQ(ScalarValue("!!str true"), "true");
  EXPECT_EQ(ScalarValue("!!int \"12\""), 12);
  EXPECT_EQ(ScalarValue("!!float 2"), 2.0);
  EXPECT_TRUE(ScalarValue("!!float 2").is_number_float());
  EXPECT_EQ(ScalarValue("!!bool \"true\""), true);
  EXPECT_EQ(ScalarValue("!!null ''"), nullptr);
  const Result<json> bad_int = ParseYaml("v: !!int twelve\n");
  ASSERT_FALSE(bad_int.has_value());
  EXPECT_NE(bad_int.error().message.find("is not a valid !!int"), std::string::npos);
  const Result<json> custom = ParseYaml("v: !thing x\n");
  ASSERT_FALSE(custom.has_value());
  EXPECT_NE(custom.error().message.find("unsupported tag"), std::string::npos);
}

TEST(Yaml, ConvertsCollectionsAndAliases) {
  const json doc = MustParse(R"(
list: [1, two, {three: 3}]
empty_list: []
empty_map: {}
base: &b {cpu: 500m}
copy: *b
nested:
  - - a
    - b
  - []
)");
  EXPECT_EQ(doc["list"], json::parse(R"([1, "two", {"three": 3}])"));
  EXPECT_EQ(doc["empty_list"], json::array());
  EXPECT_EQ(doc["empty_map"], json::object());
  EXPECT_EQ(doc["copy"], doc["base"]);
  EXPECT_EQ(doc["nested"], json::parse(R"([["a", "b"], []])"));
}

// A raw control character or a byte that is not valid UTF-8 is refused with its
// place, and a stream holds 10 000 documents at most: a NUL or a stray
// continuation byte once made yaml-cpp's LoadAll produce documents until
// memory ran out (found by the operator_yaml fuzz target: 10 bytes took 2 GB).
TEST(Yaml, UnprintableTextIsRefusedWithItsPlace) {
  const std::string nul = std::string(", \\u00e8\t\"\n-data\n ") + '\0' + "foldedo";
  const auto refused = ParseYamlStream(nul);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message,
            "line 3, column 2: control character U+0000 (YAML allows only printable UTF-8 text, "
            "tabs and line breaks)");
  const auto bell = ParseYamlStream("a: 1\nb: x\x07y\n");
  ASSERT_FALSE(bell.has_value());
  EXPECT_EQ(bell.error().message.rfind("line 2, column 5: control character U+0007", 0), 0u)
      << bell.error().message;
  // A stray continuation byte (the fuzzer's second find), a C1 control; NEL
  // and other text pass.
  const auto stray = ParseYamlStream(", 31\n2a\n\n\x8d");
  ASSERT_FALSE(stray.has_value());
  EXPECT_EQ(stray.error().message.rfind("line 4, column 1: a byte that is not valid UTF-8", 0), 0u)
      << stray.error().message;
  const auto c1 = ParseYamlStream("a: \xc3\xa9\xc2\x9b\n");
  ASSERT_FALSE(c1.has_value());
  EXPECT_EQ(c1.error().message.rfind("line 1, column 5: control character U+009B", 0), 0u)
      << c1.error().message;
  EXPECT_TRUE(ParseYamlStream("a: caf\xc3\xa9 \xe2\x82\xac\xc2\x85\n").has_value());
  std::string many;
  for (int i = 0; i < 10'001; ++i) many += "---\n";
  const auto docs = ParseYamlStream(many);
  ASSERT_FALSE(docs.has_value());
  EXPECT_EQ(docs.error().message, "line 10001, column 1: more than 10000 YAML documents");
  // Text on which yaml-cpp's parser starts document after document without
  // moving on (the fuzzer's third find).
  const auto stuck = ParseYamlStream(",a:nin:");
  ASSERT_FALSE(stuck.has_value());
  EXPECT_EQ(stuck.error().message.rfind("line 1, column ", 0), 0u) << stuck.error().message;
  EXPECT_NE(stuck.error().message.find("cannot read past this point"), std::string::npos)
      << stuck.error().message;
  const auto fine = ParseYamlStream("a:\t1\r\nb: \"\\x07 \\0\"\n");
  ASSERT_TRUE(fine.has_value()) << fine.error().message;
  EXPECT_EQ((*fine)[0]["b"], std::string("\x07 ") + '\0') << "escapes are not raw bytes";
}

// YAML allows implicit keys of 1024 characters at most: longer keys are
// written as explicit entries and read back (the fuzzer's fourth find).
TEST(Yaml, KeysLongerThanAnImplicitKeyRoundTrip) {
  const std::string long_key(2000, 'k');
  json doc = {{long_key, "v"},
              {"short", {{long_key, {{"x", 1}}}}},
              {"list", json::array({json{{long_key, json::array({1, 2})}, {"b", true}}})},
              {std::string(1100, 'q') + " \"quoted\": #", nullptr}};
  const std::string written = ToYamlStream({doc});
  EXPECT_NE(written.find("? "), std::string::npos) << written;
  const auto again = ParseYamlStream(written);
  ASSERT_TRUE(again.has_value()) << again.error().message << "\n" << written;
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0], doc) << written;
}

TEST(Yaml, ErrorsNameTheLine) {
  const Result<json> dup = ParseYaml("a: 1\nb: 2\na: 3\n");
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().message, "line 3, column 1: duplicate key \"a\"");
  EXPECT_EQ(dup.error().field, "");

  const Result<json> syntax = ParseYaml("a: [1, 2\nb: 3\n");
  ASSERT_FALSE(syntax.has_value());
  EXPECT_EQ(syntax.error().message.rfind("line ", 0), 0u) << syntax.error().message;

  const Result<json> key = ParseYaml("? [a, b]\n: 1\n");
  ASSERT_FALSE(key.has_value());
  EXPECT_NE(key.error().message.find("mapping keys must be scalars"), std::string::npos);

  const Result<json> inf = ParseYaml("v: .inf\n");
  ASSERT_FALSE(inf.has_value());
  EXPECT_NE(inf.error().message.find("cannot be represented in JSON"), std::string::npos);

  const Result<json> huge = ParseYaml("v: 1e400\n");
  ASSERT_FALSE(huge.has_value());
  EXPECT_NE(huge.error().message.find("cannot be represented in JSON"), std::string::npos);
}

TEST(Yaml, RejectsTextThatIsNotUtf8) {
  for (const std::string bad :
       {"v: \xff\n", "v: a\xc3\n", "v: \xed\xa0\x80\n", "v: \xc0\xaf\n", "\xf5\x80\x80\x80: 1\n"}) {
    const Result<json> doc = ParseYaml(bad);
    ASSERT_FALSE(doc.has_value()) << bad;
    EXPECT_NE(doc.error().message.find("not valid UTF-8"), std::string::npos)
        << doc.error().message;
  }
  EXPECT_EQ(ScalarValue("\"\xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80\""),
            "\xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80");
  // Writing never throws, even for bytes that are not UTF-8.
  EXPECT_EQ(ToYaml(json{{"k", std::string("a\xff")}}), "k: \"a\xef\xbf\xbd\"\n");
}

TEST(Yaml, RejectsNestingBeyondTheLimit) {
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  const Result<json> doc = ParseYaml(deep);
  ASSERT_FALSE(doc.has_value());
  EXPECT_NE(doc.error().message.find("nested more than"), std::string::npos);
}

// Found by tests/fuzz (operator_yaml): a few KiB of aliases to one long
// scalar expanded to gigabytes of JSON text within the node limit.
TEST(Yaml, RejectsAliasesThatRepeatTooMuchText) {
  std::string text = "a: &s " + std::string(65536, 'x') + "\nb: &b [";
  for (int i = 0; i < 32; ++i) text += i ? ", *s" : "*s";
  text += "]\nc: [";
  for (int i = 0; i < 33; ++i) text += i ? ", *b" : "*b";
  text += "]\n";
  const Result<json> doc = ParseYaml(text);
  ASSERT_FALSE(doc.has_value());
  EXPECT_NE(doc.error().message.find("MiB of scalar text"), std::string::npos)
      << doc.error().message;
}

TEST(Yaml, StreamsSkipEmptyDocuments) {
  const Result<std::vector<json>> docs =
      ParseYamlStream("---\na: 1\n---\n---\n# only a comment\n---\nb: 2\n");
  ASSERT_TRUE(docs.has_value());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0], json::parse(R"({"a": 1})"));
  EXPECT_EQ((*docs)[1], json::parse(R"({"b": 2})"));
  EXPECT_EQ(ParseYaml(""), json(nullptr));
  const Result<json> two = ParseYaml("a: 1\n---\nb: 2\n");
  ASSERT_FALSE(two.has_value());
  EXPECT_EQ(two.error().message, "expected one YAML document, found 2");
}

TEST(Yaml, EmitsBlockStyle) {
  const json value = json::parse(R"({
    "kind": "Deployment",
    "metadata": {"name": "pricing-calculation", "labels": {"app.kubernetes.io/name": "pricing-engine"}},
    "spec": {"args": ["--role", "calculation"], "ports": [{"name": "http", "containerPort": 8080}],
             "empty": {}, "none": [], "flag": true, "nothing": null, "ratio": 0.5}
  })");
  EXPECT_EQ(ToYaml(value), R"(kind: Deployment
metadata:
  labels:
    app.kubernetes.io/name: pricing-engine
  name: pricing-calculation
spec:
  args:
  - "--role"
  - calculation
  empty: {}
  flag: true
  none: []
  nothing: null
  ports:
  - containerPort: 8080
    name: http
  ratio: 0.5
)");
  EXPECT_EQ(ToYaml(json::parse(R"([[1, [2, 3]], {"a": [{"b": 1}]}])")), R"(- - 1
  - - 2
    - 3
- a:
  - b: 1
)");
  EXPECT_EQ(ToYaml(json("x")), "x\n");
  EXPECT_EQ(ToYaml(json::object()), "{}\n");
  EXPECT_EQ(ToYamlStream({json{{"a", 1}}, json{{"b", 2}}}), "---\na: 1\n---\nb: 2\n");
}

TEST(Yaml, QuotesStringsThatWouldReadBackAsSomethingElse) {
  const std::vector<std::string> strings = {"",
                                            "true",
                                            "True",
                                            "yes",
                                            "No",
                                            "on",
                                            "OFF",
                                            "y",
                                            "n",
                                            "null",
                                            "Null",
                                            "~",
                                            "8080",
                                            "0x10",
                                            "1e3",
                                            ".5",
                                            ".inf",
                                            "-a",
                                            "--role",
                                            "a: b",
                                            "a:",
                                            "#x",
                                            "x #y",
                                            "a\nb",
                                            "tab\there",
                                            "ünïcødé",
                                            "*",
                                            "&x",
                                            "!x",
                                            "%x",
                                            "@x",
                                            "`x",
                                            "[x]",
                                            "{x}",
                                            "'q'",
                                            "\"dq\"",
                                            "key with spaces",
                                            " lead",
                                            "trail ",
                                            "1:20",
                                            "500m",
                                            "1Gi",
                                            "/health/ready",
                                            "http://x:80/y",
                                            "a,b",
                                            "?x",
                                            "|x",
                                            ">x",
                                            "\\",
                                            "\x01"};
  for (const std::string& s : strings) {
    const json value = {{"k", s}, {s, "v"}};
    const std::string yaml = ToYaml(value);
    const Result<json> back = ParseYaml(yaml);
    ASSERT_TRUE(back.has_value()) << s << "\n" << yaml << "\n" << back.error().message;
    EXPECT_EQ(*back, value) << yaml;
  }
  EXPECT_EQ(ToYaml(json{{"k", "RuntimeDefault"}}), "k: RuntimeDefault\n");
  EXPECT_EQ(ToYaml(json{{"k", "on"}}), "k: \"on\"\n");
  EXPECT_EQ(ToYaml(json{{"k", "500m"}}), "k: \"500m\"\n");
}

// Characters JSON writes as they are but a YAML stream may not hold (DEL,
// the C1 controls, NEL) or reads as other than themselves (the line and
// paragraph separators, a byte order mark, non-characters) are written as
// escapes and read back as themselves. The fuzzer found U+009E written raw,
// which the reader then refused.
TEST(Yaml, ControlAndSeparatorCharactersAreEscapedAndRoundTrip) {
  const std::vector<std::string> strings = {
      "\xC2\x9E" "9a",       "a\x7F" "b",          "nel\xC2\x85" "x",  "c1\xC2\x80\xC2\x9F",
      "ls\xE2\x80\xA8" "ps\xE2\x80\xA9", "bom\xEF\xBB\xBF", "nc\xEF\xBF\xBE\xEF\xBF\xBF",
      std::string("nul\0x", 5), "\xC2\xA0nbsp and \xE2\x82\xAC kept"};
  for (const std::string& s : strings) {
    const std::string written = ToYamlStream({json{{"k", s}}});
    const auto back = ParseYamlStream(written);
    ASSERT_TRUE(back.has_value()) << written << ": " << back.error().message;
    ASSERT_EQ(back->size(), 1u);
    EXPECT_EQ((*back)[0]["k"], s) << written;
  }
  // Printable non-ASCII text stays as it is.
  EXPECT_NE(ToYamlStream({json{{"k", "\xC2\xA0nbsp and \xE2\x82\xAC kept"}}}).find("\xE2\x82\xAC"),
            std::string::npos);
}

TEST(Yaml, NumbersAndNestedValuesRoundTrip) {
  const json value = json::parse(R"({
    "int": 3, "negative": -7, "big": 18446744073709551615, "float": 31.5, "whole_float": 25.0,
    "tiny": 1e-300, "list": [[], {}, [[]], [{"a": [1, {"b": {}}]}]], "obj": {"deep": {"deeper": [null, false]}}
  })");
  const Result<json> back = ParseYaml(ToYaml(value));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, value);
  EXPECT_TRUE((*back)["whole_float"].is_number_float());
  EXPECT_TRUE((*back)["big"].is_number_unsigned());
}

}  // namespace
}  // namespace pricing::op
