// Shell quoting for the tests of both programs, which run scripts and the
// programs themselves through /bin/sh.
#pragma once

#include <string>
#include <string_view>

namespace pricing::testing_shell {

// Returns `s` as one word for /bin/sh: in single quotes, each ' written '\''.
inline std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace pricing::testing_shell
