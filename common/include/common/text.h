// Text helpers of both programs: UTF-8 checks, JSON string literals, ASCII
// case folding and hexadecimal. No locale, no allocation beyond the result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pricing {

// U+FFFD, which stands in for bytes that are not UTF-8.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Returns the length of the valid UTF-8 sequence starting at s[i] (2..4), or
// 0 when the bytes there are not one (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF). REQUIRES: s[i] >= 0x80.
size_t Utf8SequenceLength(std::string_view s, size_t i);

// Returns true when all of `s` is well-formed UTF-8.
bool IsUtf8(std::string_view s);

// Returns the longest prefix of `s` of at most `max_bytes` bytes that does
// not end inside a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t max_bytes);

// Appends `s` to `*out` as a JSON string literal, quotes included. Escapes
// '"', '\\' and control characters (\b \f \n \r \t, others as \u00XX);
// bytes that are not valid UTF-8 are replaced by U+FFFD so the output is
// always valid JSON.
void AppendJsonString(std::string* out, std::string_view s);

// The first index from `i` on whose byte AppendJsonString cannot copy as it
// is (a control character, '"', '\\' or a byte from 0x80 up), or s.size().
size_t PlainRunEnd(std::string_view s, size_t i);

// Appends `value` in decimal, without a temporary string.
void AppendInt(std::string* out, int64_t value);

// Returns the value of the hexadecimal digit `c` (either case), or -1.
int HexDigitValue(char c);

// Returns the `n` bytes at `data` as lowercase hexadecimal, two digits a byte.
std::string HexText(const unsigned char* data, size_t n);

// Writes those 2n digits at `p` and returns the end.
char* WriteHex(char* p, const unsigned char* data, size_t n);

// Returns `s` with every byte but RFC 3986's unreserved characters (A-Z a-z
// 0-9 - . _ ~) written %XX: a URL path segment, query value or header value.
std::string PercentEncode(std::string_view s);

// Decodes the %XX escapes of `s` (and nothing else, not '+'); nullopt on a
// malformed escape.
std::optional<std::string> PercentDecode(std::string_view s);

// Returns `c` with A-Z folded to a-z and every other byte as it was (HTTP
// header names and media types; no locale).
constexpr char AsciiLowerChar(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// As AsciiLowerChar, for each byte of `s`.
std::string AsciiLower(std::string_view s);

// Returns `s` in double quotes for an error message, cut (at a character
// boundary) to `max_bytes` with "..." after it when longer.
std::string Quoted(std::string_view s, size_t max_bytes = 64);

// True when `a` and `b` are equal but for ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace pricing
