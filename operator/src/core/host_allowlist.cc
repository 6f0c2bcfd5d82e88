#include "op/host_allowlist.h"

#include <arpa/inet.h>

#include <charconv>

#include "common/text.h"

namespace pricing::op {
namespace {

// A DNS name: labels of letters, digits and hyphens, 1..63 bytes each, 253 at most.
bool IsHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

bool PrefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b,
                   int prefix) {
  int bits = prefix;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

}  // namespace

bool ParseIpAddress(std::string_view text, bool* v6, std::array<uint8_t, 16>* bytes) {
  if (text.empty() || text.size() > 45) return false;
  const std::string s(text);
  bytes->fill(0);
  if (::inet_pton(AF_INET, s.c_str(), bytes->data()) == 1) {
    *v6 = false;
    return true;
  }
  if (::inet_pton(AF_INET6, s.c_str(), bytes->data()) == 1) {
    *v6 = true;
    return true;
  }
  return false;
}

Result<HostAllowList> HostAllowList::Parse(const std::vector<std::string>& entries) {
  HostAllowList out;
  for (const std::string& list : entries) {
    std::string_view rest = list;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string_view entry = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
      while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
      if (entry.empty()) continue;
      const auto bad = [&](std::string why) {
        return Fail("", "--volatility-allow: " + Quoted(entry) + " " + why);
      };
      const size_t slash = entry.find('/');
      Network net;
      if (ParseIpAddress(entry.substr(0, slash), &net.v6, &net.bytes)) {
        const int max = net.v6 ? 128 : 32;
        net.prefix = max;
        if (slash != std::string_view::npos) {
          const std::string_view bits = entry.substr(slash + 1);
          const auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), net.prefix);
          if (ec != std::errc() || p != bits.data() + bits.size() || net.prefix < 0 ||
              net.prefix > max) {
            return bad("has a prefix length that is not 0.." + std::to_string(max));
          }
        }
        out.networks_.push_back(net);
      } else if (slash != std::string_view::npos) {
        return bad("is neither a host name, a .domain nor an address/prefix");
      } else if (entry.front() == '.' && IsHostName(entry.substr(1))) {
        out.suffixes_.push_back(AsciiLower(entry));
      } else if (IsHostName(entry)) {
        out.names_.push_back(AsciiLower(entry));
      } else {
        return bad("is neither a host name, a .domain nor an address/prefix");
      }
    }
  }
  return out;
}

bool HostAllowList::AllowsName(std::string_view host) const {
  const std::string name = AsciiLower(host);
  for (const std::string& n : names_) {
    if (n == name) return true;
  }
  for (const std::string& suffix : suffixes_) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
  }
  return false;
}

bool HostAllowList::AllowsAddress(std::string_view ip) const {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  if (!ParseIpAddress(ip, &v6, &bytes)) return false;
  for (const Network& net : networks_) {
    if (net.v6 == v6 && PrefixMatches(net.bytes, bytes, net.prefix)) return true;
  }
  return false;
}

}  // namespace pricing::op
