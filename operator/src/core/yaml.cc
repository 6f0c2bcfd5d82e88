#include "op/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <charconv>
#include <cstdint>
#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "common/text.h"

namespace pricing::op {
namespace {

using nlohmann::json;

constexpr std::string_view kTagPrefix = "tag:yaml.org,2002:";
// Limits that keep a hostile file (deep nesting, alias expansion) from
// exhausting the stack or memory.
constexpr int kMaxDepth = 200;
constexpr size_t kMaxNodes = 100'000;
constexpr size_t kMaxDocuments = 10'000;
// Aliases repeat a scalar without repeating its text, so the node limit alone
// lets a short file expand one long scalar a million times.
constexpr size_t kMaxScalarBytes = 64u << 20;

std::string At(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1) +
         ": ";
}

std::unexpected<Error> FailAt(const YAML::Node& node, std::string message) {
  return Fail("", At(node.Mark()) + std::move(message));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllOf(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}

bool IsOneOf(std::string_view s, std::initializer_list<std::string_view> options) {
  return std::find(options.begin(), options.end(), s) != options.end();
}

std::optional<json> ParseInteger(std::string_view s) {
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.starts_with("0x")) {
    base = 16;
    digits.remove_prefix(2);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) {
          return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        })) {
      return std::nullopt;
    }
  } else if (digits.starts_with("0o")) {
    base = 8;
    digits.remove_prefix(2);
    if (digits.empty() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; })) {
      return std::nullopt;
    }
  } else if (!AllOf(digits, IsDigit)) {
    return std::nullopt;
  }
  uint64_t magnitude = 0;
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec == std::errc() && end == digits.data() + digits.size()) {
    if (!negative) {
      if (magnitude <= static_cast<uint64_t>(INT64_MAX))
        return json(static_cast<int64_t>(magnitude));
      return json(magnitude);
    }
    if (magnitude <= static_cast<uint64_t>(INT64_MAX) + 1) {
      return json(static_cast<int64_t>(0 - magnitude));
    }
  }
  // Too large for 64 bits: keep the value as a float, as JSON readers would.
  double value = 0;
  if (base != 10) return std::nullopt;
  const auto [float_end, float_ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (float_ec != std::errc() || float_end != digits.data() + digits.size()) return std::nullopt;
  return json(negative ? -value : value);
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?; sets `out_of_range`
// when the text has that form but no double holds it.
std::optional<json> ParseFloat(std::string_view s, bool& out_of_range) {
  out_of_range = false;
  std::string text(s);
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
  size_t int_digits = 0;
  while (pos < text.size() && IsDigit(text[pos])) ++pos, ++int_digits;
  size_t frac_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return std::nullopt;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
    size_t exp_digits = 0;
    while (pos < text.size() && IsDigit(text[pos])) ++pos, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  std::string_view number = text;
  if (number.front() == '+') number.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec == std::errc::result_out_of_range) out_of_range = true;
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  return json(value);
}

bool IsNull(std::string_view s) { return IsOneOf(s, {"", "~", "null", "Null", "NULL"}); }
bool IsTrue(std::string_view s) { return IsOneOf(s, {"true", "True", "TRUE"}); }
bool IsFalse(std::string_view s) { return IsOneOf(s, {"false", "False", "FALSE"}); }
bool IsInfOrNan(std::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  return IsOneOf(s, {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"});
}

Result<json> ResolveScalar(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string& text = node.Scalar();
  if (!IsUtf8(text)) return FailAt(node, "text is not valid UTF-8");
  if (tag == "!") return json(text);
  if (tag == "?" || tag.empty()) {
    if (IsNull(text)) return json(nullptr);
    if (IsTrue(text)) return json(true);
    if (IsFalse(text)) return json(false);
    if (std::optional<json> i = ParseInteger(text)) return std::move(*i);
    bool out_of_range = false;
    if (std::optional<json> f = ParseFloat(text, out_of_range)) return std::move(*f);
    if (out_of_range || IsInfOrNan(text)) {
      return FailAt(node, "\"" + text + "\" cannot be represented in JSON");
    }
    return json(text);
  }
  if (!tag.starts_with(kTagPrefix)) return FailAt(node, "unsupported tag \"" + tag + "\"");
  const std::string_view type = std::string_view(tag).substr(kTagPrefix.size());
  if (type == "str") return json(text);
  if (type == "null") {
    if (IsNull(text)) return json(nullptr);
  } else if (type == "bool") {
    if (IsTrue(text)) return json(true);
    if (IsFalse(text)) return json(false);
  } else if (type == "int") {
    if (std::optional<json> i = ParseInteger(text)) return std::move(*i);
  } else if (type == "float") {
    if (std::optional<json> i = ParseInteger(text)) return json(i->get<double>());
    bool out_of_range = false;
    if (std::optional<json> f = ParseFloat(text, out_of_range)) return std::move(*f);
  } else {
    return FailAt(node, "unsupported tag \"!!" + std::string(type) + "\"");
  }
  return FailAt(node, "\"" + text + "\" is not a valid !!" + std::string(type));
}

class Converter {
 public:
  Result<json> Convert(const YAML::Node& node, int depth) {
    if (depth > kMaxDepth)
      return FailAt(node, "nested more than " + std::to_string(kMaxDepth) + " levels");
    if (++nodes_ > kMaxNodes)
      return FailAt(node, "more than " + std::to_string(kMaxNodes) + " nodes");
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar:
        if (!CountScalar(node)) return TooLarge(node);
        return ResolveScalar(node);
      case YAML::NodeType::Sequence: {
        json array = json::array();
        for (const YAML::Node& item : node) {
          Result<json> value = Convert(item, depth + 1);
          if (!value) return value;
          array.push_back(std::move(*value));
        }
        return array;
      }
      case YAML::NodeType::Map: {
        json object = json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
          const YAML::Node key = it->first;
          if (!key.IsScalar()) return FailAt(key, "mapping keys must be scalars");
          const std::string& name = key.Scalar();
          if (!CountScalar(key)) return TooLarge(key);
          if (!IsUtf8(name)) return FailAt(key, "key is not valid UTF-8");
          if (object.contains(name)) return FailAt(key, "duplicate key \"" + name + "\"");
          Result<json> value = Convert(it->second, depth + 1);
          if (!value) return value;
          object[name] = std::move(*value);
        }
        return object;
      }
    }
    return FailAt(node, "unknown node type");
  }

 private:
  // Adds the scalar's text to the total; false once that passes the limit.
  bool CountScalar(const YAML::Node& node) {
    scalar_bytes_ += node.Scalar().size();
    return scalar_bytes_ <= kMaxScalarBytes;
  }
  static std::unexpected<Error> TooLarge(const YAML::Node& node) {
    return FailAt(node, "more than " + std::to_string(kMaxScalarBytes >> 20) +
                            " MiB of scalar text (aliases included)");
  }

  size_t nodes_ = 0;
  size_t scalar_bytes_ = 0;
};

// ---- Writing ---------------------------------------------------------------

bool IsPlainSafe(const std::string& s) {
  if (s.empty()) return false;
  const char first = s.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '/')) {
    return false;
  }
  // ':' only inside (": " or a final ':' would start a mapping value).
  if (s.back() == ':') return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '.' ||
                    c == '_' || c == '/' || c == '-' || c == ':';
    if (!ok) return false;
  }
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return !IsOneOf(lower, {"true", "false", "yes", "no", "on", "off", "y", "n", "null"});
}

// A double-quoted scalar: JSON's text of `s`, with \u escapes also for the
// characters JSON writes as they are but a YAML stream may not hold, or reads
// as other than themselves: DEL and the C1 controls U+0080..U+009F (NEL
// included, a line break in YAML 1.1), the line and paragraph separators
// U+2028 and U+2029, the byte order mark U+FEFF and the non-characters
// U+FFFE and U+FFFF.
std::string DoubleQuoted(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::string text = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  const auto escape = [&](unsigned code) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(code >> shift) & 0xF];
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    const auto next = [&](size_t k) {
      return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
    };
    if (u == 0x7F) {
      escape(0x7F);
    } else if (u == 0xC2 && next(1) >= 0x80 && next(1) < 0xA0) {
      escape(next(1));
      i += 1;
    } else if (u == 0xE2 && next(1) == 0x80 && (next(2) == 0xA8 || next(2) == 0xA9)) {
      escape(0x2000 | (next(2) & 0x3F));  // U+2028, U+2029
      i += 2;
    } else if (u == 0xEF && next(1) == 0xBB && next(2) == 0xBF) {
      escape(0xFEFF);
      i += 2;
    } else if (u == 0xEF && next(1) == 0xBF && (next(2) == 0xBE || next(2) == 0xBF)) {
      escape(0xFFC0 | (next(2) & 0x3F));  // U+FFFE, U+FFFF
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string StringText(const std::string& s) {
  if (IsPlainSafe(s)) return s;
  return DoubleQuoted(s);
}

std::string ScalarText(const json& v) {
  if (v.is_string()) return StringText(v.get_ref<const std::string&>());
  if (v.is_object()) return "{}";
  if (v.is_array()) return "[]";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

void EmitSequence(const json& array, int indent, bool inline_first, std::string& out);

// Writes the members of `object`, each at column `indent`; with
// `inline_first`, the first one continues the current line.
void EmitMapping(const json& object, int indent, bool inline_first, std::string& out) {
  bool first = true;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!(first && inline_first)) out.append(static_cast<size_t>(indent), ' ');
    first = false;
    // YAML limits an implicit key to 1024 characters; a longer one is
    // written as an explicit "? key" entry, its value after ":" below it.
    const std::string key = StringText(it.key());
    const bool explicit_key = key.size() > 1000;
    if (explicit_key) {
      out += "? ";
      out += key;
      out += '\n';
      out.append(static_cast<size_t>(indent), ' ');
    } else {
      out += key;
    }
    out += ':';
    const json& value = it.value();
    if (value.is_object() && !value.empty()) {
      out += '\n';
      EmitMapping(value, indent + 2, false, out);
    } else if (value.is_array() && !value.empty()) {
      out += '\n';
      EmitSequence(value, explicit_key ? indent + 2 : indent, false, out);
    } else {
      out += ' ';
      out += ScalarText(value);
      out += '\n';
    }
  }
}

void EmitSequence(const json& array, int indent, bool inline_first, std::string& out) {
  bool first = true;
  for (const json& item : array) {
    if (!(first && inline_first)) out.append(static_cast<size_t>(indent), ' ');
    first = false;
    out += "- ";
    if (item.is_object() && !item.empty()) {
      EmitMapping(item, indent + 2, true, out);
    } else if (item.is_array() && !item.empty()) {
      EmitSequence(item, indent + 2, true, out);
    } else {
      out += ScalarText(item);
      out += '\n';
    }
  }
}

// A YAML stream is Unicode text of printable characters (YAML 1.2 §5.1):
// returns the place of the first byte that is not UTF-8, or of a control
// character other than tab, LF, CR and NEL. yaml-cpp's LoadAll read some of
// them (a NUL, a stray continuation byte) as a document's end without
// consuming them, and so made documents until memory ran out.
std::optional<std::string> UnprintableAt(std::string_view text) {
  YAML::Mark mark;  // zero-based, as yaml-cpp counts
  for (size_t i = 0; i < text.size(); ++mark.column) {
    const auto u = static_cast<unsigned char>(text[i]);
    auto at = [&](std::string what) {
      mark.pos = static_cast<int>(std::min<size_t>(i, INT_MAX));
      return At(mark) + std::move(what) +
             " (YAML allows only printable UTF-8 text, tabs and line breaks)";
    };
    if (u == '\n') {
      ++mark.line;
      mark.column = -1;
      ++i;
      continue;
    }
    size_t length = 1;
    if (u >= 0x80) {
      length = Utf8SequenceLength(text, i);
      if (length == 0) return at("a byte that is not valid UTF-8");
    }
    const auto next = length > 1 ? static_cast<unsigned char>(text[i + 1]) : 0;
    const bool c0 = u < 0x20 && u != '\t' && u != '\r';
    const bool c1 = u == 0xC2 && next < 0xA0 && next != 0x85;  // U+0080..U+009F
    if (c0 || u == 0x7F || c1) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const unsigned code = c1 ? next : u;
      return at(std::string("control character U+00") + kHex[code >> 4] + kHex[code & 0xF]);
    }
    i += length;
  }
  return std::nullopt;
}

// Notes where each document starts and nothing else: a bound on yaml-cpp's
// LoadAll, which has none of its own. Some text (",a:nin:") makes its parser
// start document after document at the same place.
class DocumentCounter : public YAML::EventHandler {
 public:
  YAML::Mark start = YAML::Mark::null_mark();
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

Result<std::vector<json>> ParseYamlStream(std::string_view text) {
  if (auto at = UnprintableAt(text)) return Fail("", std::move(*at));
  std::vector<YAML::Node> nodes;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    DocumentCounter counter;
    YAML::Mark last = YAML::Mark::null_mark();
    for (size_t documents = 0; parser.HandleNextDocument(counter);) {
      if (documents > 0 && counter.start.pos == last.pos) {
        return Fail("", At(counter.start) + "the YAML parser cannot read past this point");
      }
      if (++documents > kMaxDocuments) {
        return Fail("", At(counter.start) + "more than " + std::to_string(kMaxDocuments) +
                            " YAML documents");
      }
      last = counter.start;
    }
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return Fail("", At(e.mark) + e.msg);
  }
  std::vector<json> documents;
  Converter converter;
  try {
    for (const YAML::Node& node : nodes) {
      Result<json> doc = converter.Convert(node, 0);
      if (!doc) return std::unexpected(doc.error());
      if (!doc->is_null()) documents.push_back(std::move(*doc));
    }
  } catch (const YAML::Exception& e) {
    return Fail("", At(e.mark) + e.msg);
  }
  return documents;
}

Result<json> ParseYaml(std::string_view text) {
  Result<std::vector<json>> documents = ParseYamlStream(text);
  if (!documents) return std::unexpected(documents.error());
  if (documents->empty()) return json(nullptr);
  if (documents->size() > 1)
    return Fail("", "expected one YAML document, found " + std::to_string(documents->size()));
  return std::move(documents->front());
}

std::string ToYaml(const json& value) {
  std::string out;
  if (value.is_object() && !value.empty()) {
    EmitMapping(value, 0, false, out);
  } else if (value.is_array() && !value.empty()) {
    EmitSequence(value, 0, false, out);
  } else {
    out = ScalarText(value) + "\n";
  }
  return out;
}

std::string ToYamlStream(const std::vector<json>& documents) {
  std::string out;
  for (const json& doc : documents) {
    out += "---\n";
    out += ToYaml(doc);
  }
  return out;
}

}  // namespace pricing::op
