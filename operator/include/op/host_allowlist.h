// Where the operator may fetch a volatility source from (docs/design.md §3.5a):
// the hosts and networks its installer allows with --volatility-allow. A
// PricingEngine's author names any URL, so without this list the operator's
// network identity would reach whatever it can: cluster-internal endpoints,
// a node's cloud metadata service.
//
// Entries:
//   market-data.example.com   that host name exactly (ASCII case ignored)
//   .example.com              every name below example.com (not itself)
//   10.20.0.0/16, fd00::/8    addresses in the network; a bare address is /32
//                             (or /128)
// A host name is allowed when it is listed, or when every address it
// resolves to is in a listed network (the caller resolves it).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "op/error.h"

namespace pricing::op {

class HostAllowList {
 public:
  // Parses `entries` (each may hold several, separated by commas). An error
  // names the entry that is neither a host name, a domain nor a network.
  static Result<HostAllowList> Parse(const std::vector<std::string>& entries);

  bool empty() const { return names_.empty() && suffixes_.empty() && networks_.empty(); }
  // Whether the host name `host` is allowed by name.
  bool AllowsName(std::string_view host) const;
  // Whether the address `ip` (dotted IPv4 or IPv6 text, no brackets) is in a
  // listed network; false for anything that is not an address.
  bool AllowsAddress(std::string_view ip) const;

 private:
  struct Network {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};
    int prefix = 0;
  };
  std::vector<std::string> names_;     // lower case
  std::vector<std::string> suffixes_;  // ".example.com", lower case
  std::vector<Network> networks_;
};

// Parses `text` as an IPv4 or IPv6 address; false when it is not one.
bool ParseIpAddress(std::string_view text, bool* v6, std::array<uint8_t, 16>* bytes);

}  // namespace pricing::op
